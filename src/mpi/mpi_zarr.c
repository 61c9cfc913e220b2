/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_zarr.c: a zarr v2 array as a source of `cvmpi import` (cv_import_source.h): zarr://PATH
 * (or zarr://file://PATH), PATH the directory holding .zarray; or an N5 dataset, n5://PATH with
 * attributes.json (its axes, listed x first, reversed). Axes as for HDF5 (zyx, zyxc; --axes
 * overrides). The storage chunks are the source's chunk grid: a read decodes each chunk
 * it overlaps once, one at a time into one buffer, and copies the overlap out; a chunk file
 * that does not exist is fill_value. Reads are independent (`collective` is not needed).
 * A remote array (zarr://s3://..., zarr://gs://..., zarr://https://..., n5:// the same) is
 * read through the object stores (io/store.h): the metadata and each chunk one GET. */
#include "mpi/cv_import_source.h"
#include "mpi/cv_slab.h"
#include "mpi/cv_zarr.h"

#include "base/checked.h"
#include "io/store.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZARRAY_MAX (1 << 20) /* a .zarray is a few hundred bytes */

typedef struct zarr_source {
    cv_import_source base;
    char *dir;        /* the array's directory (or URL) */
    cv_store *store;  /* a remote array's store, rooted at it; NULL: local files */
    cv_buf got, tmp;  /* a remote object, and its transport-compressed bytes */
    bool n5;          /* n5://: attributes.json and N5 blocks */
    uint64_t decoded; /* chunks loaded (decoded or filled): -v logs it at close */
    cv_zarr_meta meta;
    uint8_t *chunk;  /* one decoded chunk */
    uint8_t *block;  /* N5: one block before it is placed in `chunk` */
    uint8_t *stored; /* its stored bytes */
    size_t stored_cap;
    char path[4200]; /* the chunk file being read (errors name it) */
} zarr_source;

bool cv__zarr_is_spec(const char *src)
{
    return strncmp(src, "zarr://", 7) == 0 || strncmp(src, "n5://", 5) == 0;
}

/* All of `fd` (at most `max` bytes, else CV_ERR_CORRUPT) into *buf (grown as needed). */
static cv_status read_whole(int fd, const char *path, uint64_t max, uint8_t **buf, size_t *cap,
                            size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return CV_FAIL(CV_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return CV_FAIL(CV_ERR_ARG, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s has %llu bytes, more than the %llu it can hold", path,
                       (unsigned long long)st.st_size, (unsigned long long)max);
    }
    size_t n = (size_t)st.st_size;
    if (n + 1 > *cap) {
        uint8_t *b = cv_malloc(n + 1);
        if (!b) {
            return CV_FAIL(CV_ERR_NOMEM, "%s: %zu bytes", path, n + 1);
        }
        cv_free(*buf);
        *buf = b;
        *cap = n + 1;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, *buf + got, n - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return CV_FAIL(CV_ERR_IO, "reading %s: %s", path, strerror(errno));
        }
        if (r == 0) {
            return CV_FAIL(CV_ERR_CORRUPT, "%s ends at byte %zu, before its %zu bytes", path, got,
                           n);
        }
        got += (size_t)r;
    }
    (*buf)[n] = 0;
    *len = n;
    return CV_OK;
}

/* Remote object `key` (at most `max` bytes once decompressed) into z->stored; NOTFOUND
 * quietly when it does not exist. */
static cv_status get_object(zarr_source *z, const char *key, uint64_t max, size_t *len)
{
    z->got.max = (size_t)max;
    z->got.len = 0;
    cv_status rc = cv__store_get_into(z->store, key, &z->got, &z->tmp);
    if (rc != CV_OK) {
        return rc;
    }
    if (z->got.len + 1 > z->stored_cap) {
        uint8_t *b = cv_malloc(z->got.len + 1);
        if (!b) {
            return CV_FAIL(CV_ERR_NOMEM, "%s: %zu bytes", z->path, z->got.len + 1);
        }
        cv_free(z->stored);
        z->stored = b;
        z->stored_cap = z->got.len + 1;
    }
    memcpy(z->stored, z->got.data, z->got.len);
    z->stored[z->got.len] = 0;
    *len = z->got.len;
    return CV_OK;
}

static cv_status zarr_describe(cv_import_source *s, const cv_import_params *p)
{
    zarr_source *z = s->state;
    bool n5 = z->n5;
    const char *meta = n5 ? "attributes.json" : ".zarray";
    snprintf(z->path, sizeof z->path, "%s/%s", z->dir, meta);
    size_t len = 0;
    cv_status rc;
    if (z->store) {
        rc = get_object(z, meta, ZARRAY_MAX, &len);
        if (rc == CV_ERR_NOTFOUND) {
            return CV_FAIL(CV_ERR_NOTFOUND, "import: %s not found (is %s a %s?)", z->path, z->dir,
                           n5 ? "N5 dataset" : "zarr v2 array");
        }
    } else {
        int fd = open(z->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return CV_FAIL(errno == ENOENT ? CV_ERR_NOTFOUND : CV_ERR_IO,
                           "import: %s: %s (is %s a zarr v2 array?)", z->path, strerror(errno),
                           z->dir);
        }
        rc = read_whole(fd, z->path, ZARRAY_MAX, &z->stored, &z->stored_cap, &len);
        close(fd);
    }
    if (rc == CV_OK) {
        rc = n5 ? cv__n5_parse((const char *)z->stored, len, z->path, &z->meta)
                : cv__zarr_parse((const char *)z->stored, len, z->path, &z->meta);
    }
    if (rc != CV_OK) {
        cv__err_wrap("import");
        return rc;
    }
    const cv_zarr_meta *m = &z->meta;
    if (m->ndims != 3 && m->ndims != 4) {
        return CV_FAIL(CV_ERR_ARG,
                       "import: %s has %d dimensions; want 3 (z,y,x) or 4 (with channels)", z->path,
                       m->ndims);
    }
    const char *axes = p->axes ? p->axes : m->ndims == 3 ? "zyx" : "zyxc";
    CV_TRY(cv__import_parse_axes(axes, m->ndims, z->dir, s->ax));
    s->ndims = m->ndims;
    for (int i = 0; i < m->ndims; i++) {
        s->dims[i] = m->shape[i];
        s->chunk[s->ax[i]] = (int64_t)m->chunks[i];
        s->zdim = s->ax[i] == CV_AX_Z ? i : s->zdim;
        if (m->shape[i] > (uint64_t)INT64_MAX / 2) {
            return CV_FAIL(CV_ERR_ARG, "import: %s: shape[%d] is too large", z->path, i);
        }
    }
    s->dtype = m->dtype;
    s->n_parts = 1;
    s->chunk_filtered = true; /* whole chunks are read and decoded, compressed or not */
    s->align_reads = true;
    return CV_OK;
}

/* zarr has no standard place for the voxel size: --resolution. */
static cv_status zarr_resolution(cv_import_source *s, const cv_import_params *p, double res[3],
                                 bool *is_float)
{
    zarr_source *z = s->state;
    if (!p->has_resolution) {
        return CV_FAIL(CV_ERR_ARG,
                       "import: %s %s has no resolution cvmpi reads; give --resolution "
                       "X,Y,Z in nm",
                       z->meta.n5 ? "N5 dataset" : "zarr array", z->dir);
    }
    memcpy(res, p->resolution, 3 * sizeof res[0]);
    *is_float = p->resolution_is_float;
    for (int d = 0; d < 3; d++) {
        *is_float = *is_float || res[d] != floor(res[d]);
    }
    return CV_OK;
}

/* Chunk `idx` decoded into z->chunk: its file, or fill_value when it was never written. */
static cv_status load_chunk(zarr_source *z, const uint64_t idx[4])
{
    const cv_zarr_meta *m = &z->meta;
    char key[128];
    if (!cv__zarr_chunk_key(m, idx, key, sizeof key)) {
        return CV_FAIL(CV_ERR_ARG, "import: chunk key too long");
    }
    snprintf(z->path, sizeof z->path, "%s/%s", z->dir, key);
    z->decoded++;
    size_t len = 0;
    cv_status rc;
    if (z->store) {
        rc = get_object(z, key, cv__zarr_stored_max(m), &len);
        if (rc == CV_ERR_NOTFOUND) {
            cv_err_clear();
            cv__zarr_fill(m, z->chunk);
            return CV_OK;
        }
    } else {
        int fd = open(z->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            cv__zarr_fill(m, z->chunk);
            return CV_OK;
        }
        if (fd < 0) {
            return CV_FAIL(CV_ERR_IO, "import: %s: %s", z->path, strerror(errno));
        }
        rc = read_whole(fd, z->path, cv__zarr_stored_max(m), &z->stored, &z->stored_cap, &len);
        close(fd);
    }
    if (rc == CV_OK) {
        rc = cv__zarr_decode(m, z->stored, len, z->chunk, z->block, z->path);
    }
    if (rc != CV_OK) {
        cv__err_wrap("import");
    }
    return rc;
}

/* The part of the loaded chunk at `idx` inside [lo, hi) into buf (C order over hi - lo). */
static void copy_chunk(const zarr_source *z, const uint64_t idx[4], const uint64_t lo[4],
                       const uint64_t hi[4], uint8_t *buf)
{
    const cv_zarr_meta *m = &z->meta;
    size_t es = m->itemsize;
    uint64_t cst[4], dst[4], a[4], b[4], pos[4];
    cv__zarr_chunk_strides(m, cst);
    uint64_t s = 1;
    for (int i = 3; i >= 0; i--) {
        dst[i] = s;
        s *= hi[i] - lo[i];
        uint64_t o = idx[i] * m->chunks[i];
        a[i] = lo[i] > o ? lo[i] : o;
        b[i] = hi[i] < o + m->chunks[i] ? hi[i] : o + m->chunks[i];
        pos[i] = a[i];
    }
    int last = m->ndims - 1; /* runs along the array's last axis; the rest are walked */
    uint64_t run = b[last] - a[last];
    for (;;) {
        uint64_t so = 0, d = 0;
        for (int i = 0; i < 4; i++) {
            so += (pos[i] - idx[i] * m->chunks[i]) * cst[i];
            d += (pos[i] - lo[i]) * dst[i];
        }
        if (cst[last] == 1) {
            memcpy(buf + d * es, z->chunk + so * es, (size_t)(run * es));
        } else {
            for (uint64_t k = 0; k < run; k++) {
                memcpy(buf + (d + k) * es, z->chunk + (so + k * cst[last]) * es, es);
            }
        }
        int i = last - 1;
        while (i >= 0 && ++pos[i] == b[i]) {
            pos[i] = a[i];
            i--;
        }
        if (i < 0) {
            return;
        }
    }
}

static cv_status zarr_read(cv_import_source *s, cv_bbox span, cv_bbox piece, bool collective,
                           uint8_t *buf)
{
    (void)span;
    (void)collective;
    zarr_source *z = s->state;
    const cv_zarr_meta *m = &z->meta;
    if (cv_bbox_is_empty(piece)) {
        return CV_OK;
    }
    uint64_t lo[4] = {0, 0, 0, 0}, hi[4] = {1, 1, 1, 1};
    size_t bytes = m->itemsize;
    for (int i = 0; i < m->ndims; i++) {
        int a = s->ax[i];
        lo[i] = a == CV_AX_C ? 0 : (uint64_t)(piece.min[a] - s->voxel_offset[a]);
        hi[i] = a == CV_AX_C ? m->shape[i] : (uint64_t)(piece.max[a] - s->voxel_offset[a]);
        bytes *= (size_t)(hi[i] - lo[i]);
    }
    if (!buf) {
        return CV_FAIL(CV_ERR_NOMEM, "import: slab buffer of %zu bytes", bytes);
    }
    if (m->n5 && !z->block && !(z->block = cv_malloc((size_t)m->chunk_bytes))) {
        return CV_FAIL(CV_ERR_NOMEM, "import: an N5 block of %llu bytes",
                       (unsigned long long)m->chunk_bytes);
    }
    if (!z->chunk && !(z->chunk = cv_malloc((size_t)m->chunk_bytes))) {
        return CV_FAIL(CV_ERR_NOMEM, "import: a zarr chunk of %llu bytes",
                       (unsigned long long)m->chunk_bytes);
    }
    uint64_t c0[4], c1[4], idx[4];
    for (int i = 0; i < 4; i++) {
        c0[i] = lo[i] / m->chunks[i];
        c1[i] = (hi[i] - 1) / m->chunks[i] + 1;
        idx[i] = c0[i];
    }
    for (;;) {
        CV_TRY(load_chunk(z, idx));
        copy_chunk(z, idx, lo, hi, buf);
        int i = 3;
        while (i >= 0 && ++idx[i] == c1[i]) {
            idx[i] = c0[i];
            i--;
        }
        if (i < 0) {
            return CV_OK;
        }
    }
}

/* One decoded chunk and its stored bytes (N5: and the block), whatever the read. */
static double zarr_held_bytes(const cv_import_source *s, const int64_t n[3], const int64_t step[3])
{
    (void)n;
    (void)step;
    const zarr_source *z = s->state;
    return (double)z->meta.chunk_bytes * (z->meta.n5 ? 2 : 1) +
           (double)cv__zarr_stored_max(&z->meta);
}

static void zarr_close(cv_import_source *s)
{
    zarr_source *z = s->state;
    if (z->dir) {
        CV_LOG(CV_LOG_INFO, "import: %s: %llu %s loaded on this rank", z->dir,
               (unsigned long long)z->decoded, z->n5 ? "N5 blocks" : "zarr chunks");
    }
    if (z->store) {
        cv_store_close(z->store);
    }
    cv__buf_fini(&z->got);
    cv__buf_fini(&z->tmp);
    cv_free(z->dir);
    cv_free(z->chunk);
    cv_free(z->block);
    cv_free(z->stored);
    cv_free(z);
}

static const cv_import_source_ops zarr_ops = {
    .describe = zarr_describe,
    .resolution = zarr_resolution,
    .read = zarr_read,
    .held_bytes = zarr_held_bytes,
    .close = zarr_close,
};

cv_status cv__zarr_source_open(const cv_import_params *p, cv_import_source **out)
{
    zarr_source *z = cv_calloc(1, sizeof *z);
    if (!z) {
        return CV_FAIL(CV_ERR_NOMEM, "import");
    }
    z->base.ops = &zarr_ops;
    z->base.state = z;
    z->base.name = p->src;
    bool n5 = strncmp(p->src, "n5://", 5) == 0;
    z->base.chunk_noun = n5 ? "N5 blocks" : "zarr chunks";
    *out = &z->base;
    const char *path = p->src + (n5 ? 5 : 7);
    cv__buf_init(&z->got, 0);
    cv__buf_init(&z->tmp, 0);
    if (strncmp(path, "file://", 7) == 0) {
        path += 7;
    } else if (strstr(path, "://")) {
        /* remote: the store rooted at the array (its own errors name the scheme) */
        z->n5 = n5;
        z->dir = cv__strdup(path);
        if (!z->dir) {
            return CV_FAIL(CV_ERR_NOMEM, "import");
        }
        z->base.name = z->dir;
        cv_status rc = cv_store_open(path, &z->store);
        if (rc != CV_OK) {
            cv__err_wrap("import %s", p->src);
        }
        return rc;
    }
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') {
        len--;
    }
    if (len == 0 || len > 4000) {
        return CV_FAIL(CV_ERR_ARG, "import %s: want the directory of the array", p->src);
    }
    z->dir = cv__strndup(path, len);
    if (!z->dir) {
        return CV_FAIL(CV_ERR_NOMEM, "import");
    }
    z->n5 = n5;
    z->base.name = z->dir;
    return CV_OK;
}
