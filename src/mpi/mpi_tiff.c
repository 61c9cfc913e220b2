/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_tiff.c: TIFF stacks as a source of `cvmpi import` (cv_import_source.h): one file per z
 * slice ('DIR/z_*.tif' in natural order, or @LIST.txt), or the pages of multi-page files one
 * after another along z. Samples per pixel are the channels (axes zyxc, chunky). Every rank
 * reads every page's directory first, so files that disagree in size or sample type are
 * refused, naming the file and page, before anything is written; reads are independent (each
 * rank its own z range of a round) and open one file at a time. */
#include "mpi/cv_import_source.h"
#include "mpi/cv_slab.h"
#include "mpi/cv_tiff.h"

#include "base/checked.h"
#include "base/filelist.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct tiff_source {
    cv_import_source base;
    char **paths;
    size_t n_files;
    uint32_t *pages; /* per file */
    int64_t *z0;     /* per file: its first z in the stack */
    cv_tiff_page first;
    uint64_t block_max; /* the largest decoded strip or tile of any page */
    cv_tiff *open;      /* the file read last, kept open for the next read */
    size_t open_index;
} tiff_source;

bool cv__tiff_is_spec(const char *s)
{
    static const char *const exts[] = {".tif", ".tiff", ".btf", ".tf8"};
    size_t len = strlen(s);
    if (s[0] == '@') {
        return !strstr(s, ":/"); /* @LIST.txt:/DATASET is an HDF5 stack */
    }
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t n = strlen(exts[i]);
        if (len > n && strcasecmp(s + len - n, exts[i]) == 0) {
            return true;
        }
    }
    return false;
}

static const char *page_text(const cv_tiff_page *d, char *buf, size_t cap)
{
    snprintf(buf, cap, "%ux%u %s, %u sample%s per pixel", d->width, d->height,
             cv_dtype_name(d->dtype), d->samples, d->samples == 1 ? "" : "s");
    return buf;
}

/* Every page of every file, checked against page 0 of the first. */
static cv_status tiff_describe(cv_import_source *s, const cv_import_params *p)
{
    tiff_source *t = s->state;
    if (p->axes) {
        if (p->conflict) {
            *p->conflict = true;
        }
        return CV_FAIL(CV_ERR_ARG,
                       "import: --axes is for HDF5 datasets; a TIFF stack's axes are pages or "
                       "files (z), rows (y), columns (x) and samples (channels)");
    }
    uint64_t depth = 0;
    for (size_t f = 0; f < t->n_files; f++) {
        cv_tiff *r = NULL;
        cv_status rc = cv__tiff_open(t->paths[f], &r, &t->pages[f]);
        for (uint32_t pg = 0; rc == CV_OK && pg < t->pages[f]; pg++) {
            cv_tiff_page d;
            rc = cv__tiff_page(r, pg, &d);
            if (rc != CV_OK) {
                break;
            }
            if (f == 0 && pg == 0) {
                t->first = d;
            } else if (d.width != t->first.width || d.height != t->first.height ||
                       d.samples != t->first.samples || d.dtype != t->first.dtype) {
                char a[96], b[96];
                rc = CV_FAIL(CV_ERR_ARG,
                             "%s, page %u is %s, %s page 0 is %s; every page of the "
                             "stack must agree",
                             t->paths[f], pg, page_text(&d, a, sizeof a), t->paths[0],
                             page_text(&t->first, b, sizeof b));
                break;
            }
            t->block_max = d.block_bytes > t->block_max ? d.block_bytes : t->block_max;
            if (d.compression != 1) {
                s->chunk_filtered = true;
            }
            if (f == 0 && pg == 0) {
                s->chunk[CV_AX_X] = d.block_w;
                s->chunk[CV_AX_Y] = d.block_h;
                s->chunk_noun = d.tiled ? "TIFF tiles" : "TIFF strips";
            }
        }
        cv__tiff_close(r);
        if (rc != CV_OK) {
            cv__err_wrap("import");
            return rc;
        }
        t->z0[f] = (int64_t)depth;
        depth += t->pages[f]; /* at most 2^32 files of 2^32 pages */
    }
    s->chunk[CV_AX_Z] = 1;
    s->chunk[CV_AX_C] = t->first.samples;
    s->ndims = t->first.samples > 1 ? 4 : 3;
    s->ax[0] = CV_AX_Z;
    s->ax[1] = CV_AX_Y;
    s->ax[2] = CV_AX_X;
    s->ax[3] = CV_AX_C;
    s->zdim = 0;
    s->dims[0] = depth;
    s->dims[1] = t->first.height;
    s->dims[2] = t->first.width;
    s->dims[3] = t->first.samples;
    s->dtype = t->first.dtype;
    s->n_parts = t->n_files;
    return CV_OK;
}

/* --resolution, else OME-XML PhysicalSizeX/Y/Z of the first file's first page. */
static cv_status tiff_resolution(cv_import_source *s, const cv_import_params *p, double res[3],
                                 bool *is_float)
{
    tiff_source *t = s->state;
    double ome[3] = {0, 0, 0};
    int found = 0;
    cv_tiff *r = NULL;
    uint32_t pages;
    cv_status rc = cv__tiff_open(t->paths[0], &r, &pages);
    if (rc == CV_OK) {
        rc = cv__tiff_ome_sizes(cv__tiff_description(r), t->paths[0], ome, &found);
    }
    cv__tiff_close(r);
    if (rc != CV_OK && !p->has_resolution) {
        cv__err_wrap("import");
        return rc;
    }
    if (rc != CV_OK) { /* --resolution wins over OME-XML it could not use */
        cv_err_clear();
        found = 0;
    }
    if (p->has_resolution) {
        if (found == 7 && memcmp(ome, p->resolution, sizeof ome) != 0) {
            CV_LOG(CV_LOG_INFO,
                   "import: --resolution %g,%g,%g used instead of the OME-XML physical sizes of "
                   "%s (%g,%g,%g)",
                   p->resolution[0], p->resolution[1], p->resolution[2], t->paths[0], ome[0],
                   ome[1], ome[2]);
        }
        memcpy(res, p->resolution, 3 * sizeof res[0]);
    } else if (found == 7) {
        memcpy(res, ome, sizeof ome);
    } else {
        return CV_FAIL(CV_ERR_ARG, "import: %s has %s; give --resolution X,Y,Z in nm", t->paths[0],
                       found ? "OME-XML physical sizes for only some of x, y and z (PhysicalSizeX, "
                               "PhysicalSizeY, PhysicalSizeZ)"
                             : "no OME-XML physical sizes (PhysicalSizeX/Y/Z)");
    }
    *is_float = p->has_resolution ? p->resolution_is_float : false;
    for (int d = 0; d < 3; d++) {
        *is_float = *is_float || res[d] != floor(res[d]);
    }
    return CV_OK;
}

/* The file holding stack plane z (0-based). */
static size_t file_of(const tiff_source *t, int64_t z)
{
    size_t lo = 0, hi = t->n_files;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->z0[mid] <= z) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Each plane of the piece from its page: independent reads, `collective` has nothing to do. */
static cv_status tiff_read(cv_import_source *s, cv_bbox span, cv_bbox piece, bool collective,
                           uint8_t *buf)
{
    (void)span;
    (void)collective;
    tiff_source *t = s->state;
    if (cv_bbox_is_empty(piece)) {
        return CV_OK;
    }
    size_t es = cv_dtype_size(s->dtype);
    size_t plane = (size_t)cv_bbox_voxels(piece) / (size_t)(piece.max[2] - piece.min[2]) *
                   t->first.samples * es;
    if (!buf) {
        return CV_FAIL(CV_ERR_NOMEM, "import: slab buffer of %zu bytes",
                       plane * (size_t)(piece.max[2] - piece.min[2]));
    }
    const int64_t *off = s->voxel_offset;
    uint32_t x0 = (uint32_t)(piece.min[0] - off[0]), x1 = (uint32_t)(piece.max[0] - off[0]);
    uint32_t y0 = (uint32_t)(piece.min[1] - off[1]), y1 = (uint32_t)(piece.max[1] - off[1]);
    for (int64_t z = piece.min[2]; z < piece.max[2]; z++) {
        int64_t zz = z - off[2];
        size_t f = file_of(t, zz);
        if (!t->open || t->open_index != f) {
            cv__tiff_close(t->open);
            t->open = NULL;
            uint32_t pages;
            cv_status rc = cv__tiff_open(t->paths[f], &t->open, &pages);
            if (rc == CV_OK && pages != t->pages[f]) {
                rc = CV_FAIL(CV_ERR_ARG, "%s has %u pages now, %u when the import began",
                             t->paths[f], pages, t->pages[f]);
            }
            if (rc != CV_OK) {
                cv__tiff_close(t->open);
                t->open = NULL;
                cv__err_wrap("import");
                return rc;
            }
            t->open_index = f;
        }
        cv_status rc = cv__tiff_read_window(t->open, (uint32_t)(zz - t->z0[f]), x0, y0, x1, y1,
                                            buf + (size_t)(z - piece.min[2]) * plane);
        if (rc != CV_OK) {
            cv__err_wrap("import");
            return rc;
        }
    }
    return CV_OK;
}

/* One decoded strip or tile (libtiff's raw buffer adds at most about as much). */
static double tiff_held_bytes(const cv_import_source *s, const int64_t n[3], const int64_t step[3])
{
    (void)n;
    (void)step;
    const tiff_source *t = s->state;
    return 2 * (double)t->block_max;
}

static void tiff_close(cv_import_source *s)
{
    tiff_source *t = s->state;
    cv__tiff_close(t->open);
    cv__filelist_free(t->paths, t->n_files);
    cv_free(t->pages);
    cv_free(t->z0);
    cv_free(t);
}

static const cv_import_source_ops tiff_ops = {
    .describe = tiff_describe,
    .resolution = tiff_resolution,
    .read = tiff_read,
    .held_bytes = tiff_held_bytes,
    .close = tiff_close,
};

cv_status cv__tiff_source_open(const cv_import_params *p, cv_import_source **out)
{
    tiff_source *t = cv_calloc(1, sizeof *t);
    if (!t) {
        return CV_FAIL(CV_ERR_NOMEM, "import");
    }
    t->base.ops = &tiff_ops;
    t->base.state = t;
    t->base.name = p->src;
    t->base.chunk_noun = "TIFF strips";
    *out = &t->base;
    cv_status rc = cv__filelist_expand(p->src, &t->paths, &t->n_files);
    if (rc != CV_OK) {
        cv__err_wrap("import %s", p->src);
        return rc;
    }
    if (t->n_files > UINT32_MAX) {
        return CV_FAIL(CV_ERR_ARG, "import %s: more than 2^32 files", p->src);
    }
    t->pages = cv_calloc(t->n_files, sizeof *t->pages);
    t->z0 = cv_calloc(t->n_files, sizeof *t->z0);
    if (!t->pages || !t->z0) {
        return CV_FAIL(CV_ERR_NOMEM, "import: %zu files", t->n_files);
    }
    return CV_OK;
}
