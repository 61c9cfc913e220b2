/* SPDX-License-Identifier: BSD-3-Clause
 * cli_band.c: the bands of a box that `read -o` and `write -i` go through with a raw or .npy
 * file (cli_band.h). */
#include "cli/cli_band.h"

#include <stdint.h>
#include <stdlib.h>

void cli_band_cells(const int64_t cells[3], const int64_t chunk[3], size_t voxel_bytes,
                    size_t band_bytes, int64_t out[3])
{
    out[0] = out[1] = out[2] = 1;
    /* Chunks may be up to 2^31 - 1 a side: a product past SIZE_MAX saturates (one cell). */
    size_t cell_bytes = voxel_bytes ? voxel_bytes : 1;
    for (int d = 0; d < 3; d++) {
        if (__builtin_mul_overflow(cell_bytes, (size_t)chunk[d], &cell_bytes)) {
            cell_bytes = SIZE_MAX;
        }
    }
    for (int d = 0; d < 3; d++) {
        size_t bytes = cell_bytes;
        for (int e = 0; e < d; e++) {
            if (__builtin_mul_overflow(bytes, (size_t)out[e], &bytes)) {
                bytes = SIZE_MAX;
            }
        }
        int64_t fit = (int64_t)(band_bytes / bytes);
        out[d] = fit < 1 ? 1 : fit > cells[d] ? cells[d] : fit;
        if (out[d] < cells[d]) {
            return;
        }
    }
}

size_t cli_band_bytes(const char *test_env)
{
    const char *test = getenv(test_env);
    return test && *test ? (size_t)strtoull(test, NULL, 10) : CLI_BAND_BYTES;
}

size_t cli_band_count(const int64_t cells[3], const int64_t per[3])
{
    size_t n = 1;
    for (int d = 0; d < 3; d++) {
        n *= (size_t)((cells[d] + per[d] - 1) / per[d]);
    }
    return n;
}

cv_bbox cli_band_at(const cv_grid *grid, cv_bbox box, const int64_t cmin[3], const int64_t cmax[3],
                    const int64_t per[3], size_t i, size_t *cells)
{
    int64_t count[3], idx[3];
    for (int d = 0; d < 3; d++) {
        count[d] = (cmax[d] - cmin[d] + per[d] - 1) / per[d];
    }
    idx[0] = (int64_t)i % count[0];
    idx[1] = (int64_t)i / count[0] % count[1];
    idx[2] = (int64_t)i / count[0] / count[1];
    cv_bbox band;
    *cells = 1;
    for (int d = 0; d < 3; d++) {
        int64_t c0 = cmin[d] + idx[d] * per[d];
        int64_t c1 = c0 + per[d] < cmax[d] ? c0 + per[d] : cmax[d];
        int64_t lo = grid->bounds.min[d] + c0 * grid->chunk[d];
        int64_t hi = grid->bounds.min[d] + c1 * grid->chunk[d];
        band.min[d] = lo > box.min[d] ? lo : box.min[d];
        band.max[d] = hi < box.max[d] ? hi : box.max[d];
        *cells *= (size_t)(c1 - c0);
    }
    return band;
}

cv_status cli_band_runs(cv_bbox band, cv_bbox box, int64_t channels, size_t es, cli_band_run_fn run,
                        void *arg)
{
    int64_t b[3], n[3];
    for (int d = 0; d < 3; d++) {
        b[d] = band.max[d] - band.min[d];
        n[d] = box.max[d] - box.min[d];
    }
    bool whole_x = b[0] == n[0], whole_xy = whole_x && b[1] == n[1];
    int64_t ny = whole_x ? 1 : b[1], nz = whole_xy ? 1 : b[2];
    size_t len = (size_t)(b[0] * (whole_x ? b[1] : 1) * (whole_xy ? b[2] : 1)) * es;
    int64_t x0 = band.min[0] - box.min[0], y0 = band.min[1] - box.min[1],
            z0 = band.min[2] - box.min[2];
    for (int64_t c = 0; c < channels; c++) {
        for (int64_t z = 0; z < nz; z++) {
            for (int64_t y = 0; y < ny; y++) {
                size_t in_band = (size_t)(((c * b[2] + z) * b[1] + y) * b[0]) * es;
                uint64_t in_box =
                    (uint64_t)(((c * n[2] + z0 + z) * n[1] + y0 + y) * n[0] + x0) * es;
                CV_TRY(run(arg, in_band, in_box, len));
            }
        }
    }
    return CV_OK;
}
