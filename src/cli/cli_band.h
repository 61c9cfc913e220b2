/* SPDX-License-Identifier: BSD-3-Clause
 * cli_band.h: the bands of a box that `read -o` and `write -i` go through. */
#ifndef CV_CLI_BAND_H
#define CV_CLI_BAND_H

#include "cli/cli.h"

/* `read -o` and `write -i` of raw and .npy files go band by band: boxes of whole chunk cells of
 * at most band_bytes (one cell at least), x fastest. Cells per band along x, y, z: whole rows
 * first, then whole planes, then more planes. */
#define CLI_BAND_BYTES ((size_t)16 << 20)
void cli_band_cells(const int64_t cells[3], const int64_t chunk[3], size_t voxel_bytes,
                    size_t band_bytes, int64_t out[3]);
/* Band `i` of the box: cells of `per` from cmin, cut to the box. */
cv_bbox band_at(const cv_grid *grid, cv_bbox box, const int64_t cmin[3], const int64_t cmax[3],
                const int64_t per[3], size_t i, size_t *cells);

#endif
