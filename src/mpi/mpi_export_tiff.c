/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_export_tiff.c: `cvmpi export SRC out.tif` and `SRC 'out/z_*.tif'`: one mip (or a box) of
 * a layer as TIFF. With `*` in the name, one file per z slice (`*` becomes the slice's z voxel
 * coordinate): the ranks take runs of slices one chunk deep round-robin, read each run with
 * one volume read and write its files, each appearing whole (tiff_io.c). Without `*`, one
 * multi-page file (BigTIFF past 4 GB): TIFF pages are written in order, so rank 0 writes it
 * alone, a run at a time. Collective over MPI_COMM_WORLD; every rank returns the same status. */
#include "mpi/cv_collective.h"
#include "mpi/cv_source_cache.h"
#include "mpi/cv_h5.h"
#include "mpi/cv_progress.h"
#include "mpi/cv_tiff.h"

#include "base/checked.h"
#include "volume/volume.h"

#include <errno.h>
#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

bool cv__tiff_is_output(const char *s)
{
    size_t n = strlen(s);
    return (n > 4 && strcasecmp(s + n - 4, ".tif") == 0) ||
           (n > 5 && strcasecmp(s + n - 5, ".tiff") == 0);
}

/* `pattern` with its `*` replaced by z. */
static char *slice_name(const char *pattern, int64_t z)
{
    const char *star = strchr(pattern, '*');
    return cv__asprintf("%.*s%" PRId64 "%s", (int)(star - pattern), pattern, z, star + 1);
}

/* One run of planes [z0, z1) of the box: read, then written as files or appended as pages. */
static cv_status export_run(cv_volume *v, int mip, cv_bbox box, int64_t z0, int64_t z1,
                            const cv_tiff_cutout *whole, const char *pattern, cv_tiff_writer *w,
                            uint8_t *buf, size_t cap, uint64_t *bytes)
{
    cv_bbox run = box;
    run.min[2] = z0;
    run.max[2] = z1;
    size_t n = cv_volume_box_bytes(v, run);
    if (n > cap) {
        return CV_FAIL(CV_ERR_NOMEM, "export: a run of %zu bytes", n);
    }
    CV_TRY(cv_volume_read(v, mip, run, buf, n));
    *bytes += n;
    if (w) {
        return cv__tiff_writer_pages(w, buf, z1 - z0);
    }
    /* one file per plane: each plane's channels are nz planes apart in buf */
    cv_tiff_cutout one = *whole;
    one.shape[2] = 1;
    size_t plane = (size_t)whole->shape[0] * (size_t)whole->shape[1] * cv_dtype_size(whole->dtype);
    size_t channels = (size_t)whole->shape[3], nz = (size_t)(z1 - z0);
    uint8_t *tmp = channels > 1 ? cv_malloc(plane * channels) : NULL;
    if (channels > 1 && !tmp) {
        return CV_FAIL(CV_ERR_NOMEM, "export: a plane of %zu bytes", plane * channels);
    }
    cv_status rc = CV_OK;
    for (size_t z = 0; rc == CV_OK && z < nz; z++) {
        const uint8_t *src = buf + z * plane;
        if (tmp) {
            for (size_t k = 0; k < channels; k++) {
                memcpy(tmp + k * plane, buf + (k * nz + z) * plane, plane);
            }
            src = tmp;
        }
        char *name = slice_name(pattern, z0 + (int64_t)z);
        rc = name ? cv__tiff_write(name, &one, src) : CV_FAIL(CV_ERR_NOMEM, "export");
        cv_free(name);
    }
    cv_free(tmp);
    return rc;
}

cv_status cv_mpi_export_tiff(const cv_export_params *p)
{
    cv_opts o = cv_opts_default();
    o.threads = p->threads > 0 ? p->threads : 4;
    o.fill_missing = p->fill_missing;
    cv_mpi_source_cache(&o);
    cv_volume *v = NULL;
    int mip = 0;
    cv_bbox box = {{0, 0, 0}, {0, 0, 0}};
    bool per_slice = strchr(p->dst, '*') != NULL;
    cv_status rc = cv_volume_open(p->src, &o, &v);
    const cv_info *info = rc == CV_OK ? cv_volume_info(v) : NULL;
    if (rc == CV_OK) {
        rc = cv__volume_select_box(v, p->mip_text, p->bbox_text, &mip, &box);
    }
    if (rc == CV_OK && per_slice && strchr(strchr(p->dst, '*') + 1, '*')) {
        rc = CV_FAIL(CV_ERR_ARG, "export: `%s' has more than one *", p->dst);
    }
    /* runs of planes one chunk deep (fewer if --memory says so), aligned to the chunk grid */
    cv_tiff_cutout whole = {.bigtiff = p->bigtiff};
    int64_t depth = 1;
    size_t cap = 0;
    if (rc == CV_OK) {
        whole.dtype = info->dtype;
        for (int d = 0; d < 3; d++) {
            whole.shape[d] = box.max[d] - box.min[d];
        }
        whole.shape[3] = info->num_channels;
        memcpy(whole.resolution, info->scales[mip].resolution, sizeof whole.resolution);
        cv_grid grid = cv_info_grid(info, mip);
        const char *source = "--memory";
        size_t memory = p->memory ? p->memory : cv_mpi_default_memory(&source);
        uint64_t plane = cv_dtype_size(info->dtype) * (uint64_t)info->num_channels;
        if (!cv__mul_u64(plane, (uint64_t)whole.shape[0], &plane) ||
            !cv__mul_u64(plane, (uint64_t)whole.shape[1], &plane) || plane > memory / 3) {
            rc = CV_FAIL(CV_ERR_ARG,
                         "export: one z plane of the box (with the volume read's chunk buffers) "
                         "needs more than the %.2f MB memory budget (raise --memory)",
                         (double)memory / 1e6);
        } else {
            depth = grid.chunk[2];
            while (depth > 1 && (double)plane * (double)depth * 3 > (double)memory) {
                depth /= 2;
            }
            cap = (size_t)(plane * (uint64_t)depth);
        }
    }
    rc = cv_mpi_agree(rc);
    if (rc != CV_OK) {
        cv_volume_close(v);
        return rc;
    }
    int rank = cv_mpi_rank(), size = cv_mpi_active() ? cv_mpi_size() : 1;
    cv_grid grid = cv_info_grid(info, mip);
    int64_t origin = grid.bounds.min[2];
    int64_t first = box.min[2] - ((box.min[2] - origin) % depth);
    int64_t runs = (box.max[2] - first + depth - 1) / depth;
    uint8_t *buf = cv_malloc(cap ? cap : 1);
    uint64_t bytes = 0, files = 0;
    double t0 = cv_now();
    cv_tiff_writer *w = NULL;
    rc = buf ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "export: %zu bytes", cap);
    if (rc == CV_OK && !per_slice && rank == 0) {
        rc = cv__tiff_writer_open(p->dst, &whole, &w);
    }
    for (int64_t r = 0; rc == CV_OK && r < runs; r++) {
        if ((per_slice && r % size != rank) || (!per_slice && rank != 0)) {
            continue;
        }
        int64_t z0 = first + r * depth, z1 = z0 + depth;
        z0 = z0 > box.min[2] ? z0 : box.min[2];
        z1 = z1 < box.max[2] ? z1 : box.max[2];
        rc = export_run(v, mip, box, z0, z1, &whole, p->dst, w, buf, cap, &bytes);
        files += per_slice ? (uint64_t)(z1 - z0) : 0;
    }
    if (w) {
        cv_status crc = cv__tiff_writer_close(w, rc == CV_OK);
        rc = rc == CV_OK ? crc : rc;
        files += rc == CV_OK;
    }
    if (rc != CV_OK) {
        cv__err_wrap("export %s", p->dst);
    }
    cv_free(buf);
    rc = cv_mpi_agree(rc);
    double seconds = cv_now() - t0;
    uint64_t total[2] = {bytes, files};
    if (cv_mpi_active()) {
        cv_coll_allreduce(MPI_IN_PLACE, total, 2, MPI_UINT64_T, MPI_SUM, "the job's totals");
        cv_coll_allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX, "the job's wall time");
    }
    if (rc == CV_OK && rank == 0) {
        printf("export: %" PRIu64 " TIFF file%s (%" PRId64 " page%s) written to %s; %.1f MB in "
               "%.1f s (%.1f MB/s) on %d rank%s\n",
               total[1], total[1] == 1 ? "" : "s", whole.shape[2], whole.shape[2] == 1 ? "" : "s",
               p->dst, (double)total[0] / 1e6, seconds,
               seconds > 0 ? (double)total[0] / 1e6 / seconds : 0, size, size == 1 ? "" : "s");
    }
    cv_volume_close(v);
    return rc;
}
