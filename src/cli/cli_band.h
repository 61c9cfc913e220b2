/* SPDX-License-Identifier: BSD-3-Clause
 * cli_band.h: the bands of a box that `read -o` and `write -i` go through with a raw or .npy
 * file: boxes of whole chunk cells, and where each band's bytes lie in the file. */
#ifndef CV_CLI_BAND_H
#define CV_CLI_BAND_H

#include "cli/cli.h"

/* `read -o` and `write -i` of raw and .npy files go band by band: boxes of whole chunk cells of
 * at most band_bytes (one cell at least), x fastest. Cells per band along x, y, z: whole rows
 * first, then whole planes, then more planes. */
#define CLI_BAND_BYTES ((size_t)16 << 20)
void cli_band_cells(const int64_t cells[3], const int64_t chunk[3], size_t voxel_bytes,
                    size_t band_bytes, int64_t out[3]);
/* The bytes of a band: CLI_BAND_BYTES, or the number in the environment variable `test_env`
 * when it is set (tests: bands of one cell, rows, planes). */
size_t cli_band_bytes(const char *test_env);
/* How many bands of `per` cells the box's `cells` make. */
size_t cli_band_count(const int64_t cells[3], const int64_t per[3]);
/* Band `i` (x fastest) of the box whose chunk cells are cmin..cmax in `grid`: bands of `per`
 * cells, cut to the box. *cells: the chunk cells it holds. */
cv_bbox cli_band_at(const cv_grid *grid, cv_bbox box, const int64_t cmin[3], const int64_t cmax[3],
                    const int64_t per[3], size_t i, size_t *cells);

/* One run of a band's bytes that is contiguous in the file: `len` bytes at `in_band` of the
 * band's buffer and at `in_box` of the box's bytes. */
typedef cv_status (*cli_band_run_fn)(void *arg, size_t in_band, uint64_t in_box, size_t len);
/* Call `run` on each run of `band`, both it and the box x fastest, channel slowest, of
 * `channels` channels of `es` bytes: the band's x-rows, or whole rows of the box (one run per
 * plane), or whole planes (one run per channel). Stops at the first failure. The box's bytes
 * were checked to fit (cv_volume_check_box), so no offset here overflows. */
cv_status cli_band_runs(cv_bbox band, cv_bbox box, int64_t channels, size_t es, cli_band_run_fn run,
                        void *arg);

#endif
