/* SPDX-License-Identifier: BSD-3-Clause
 * cli_band.c: the bands of a box that `read -o` and `write -i` go through. */
#include "cli/cli_band.h"

#include <stdint.h>

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

/* Band `i` of the box: cells of `per` from cmin, cut to the box. */
cv_bbox band_at(const cv_grid *grid, cv_bbox box, const int64_t cmin[3], const int64_t cmax[3],
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
