/* SPDX-License-Identifier: BSD-3-Clause
 * morton.c: compressed Morton codes of chunk grid positions, the chunk ids of sharded volume
 * scales (precomputed-sharded §4; Neuroglancer volume.md "Compressed morton code"): bits are
 * interleaved LSB first cycling x, y, z, and an axis drops out once its ceil(log2(G)) bits
 * are used, so grids with unequal sides waste no bits. Pure functions, no I/O. */
#include "base/cv_internal.h"

#include <inttypes.h>

/* Bits needed to write 0..v: the bit length of v. */
static int bit_length(uint64_t v)
{
    int n = 0;
    while (v) {
        n++;
        v >>= 1;
    }
    return n;
}

void cv_morton_bits(const int64_t grid_shape[3], int bits[3])
{
    for (int d = 0; d < 3; d++) {
        bits[d] = grid_shape[d] > 1 ? bit_length((uint64_t)grid_shape[d] - 1) : 0;
    }
}

uint64_t cv_morton_encode(const int bits[3], const uint64_t cell[3])
{
    int max_bits = bits[0] > bits[1] ? bits[0] : bits[1];
    max_bits = max_bits > bits[2] ? max_bits : bits[2];
    uint64_t code = 0;
    int j = 0;
    for (int i = 0; i < max_bits && j < 64; i++) {
        for (int d = 0; d < 3 && j < 64; d++) {
            if (i < bits[d]) {
                code |= ((cell[d] >> i) & 1u) << j;
                j++;
            }
        }
    }
    return code;
}

void cv_morton_decode(const int bits[3], uint64_t code, uint64_t cell[3])
{
    int max_bits = bits[0] > bits[1] ? bits[0] : bits[1];
    max_bits = max_bits > bits[2] ? max_bits : bits[2];
    cell[0] = cell[1] = cell[2] = 0;
    int j = 0;
    for (int i = 0; i < max_bits && j < 64; i++) {
        for (int d = 0; d < 3 && j < 64; d++) {
            if (i < bits[d]) {
                cell[d] |= ((code >> j) & 1u) << i;
                j++;
            }
        }
    }
}

static cv_status check_grid(const int64_t grid_shape[3], int bits[3])
{
    for (int d = 0; d < 3; d++) {
        if (grid_shape[d] < 1) {
            return CV_FAIL(CV_ERR_ARG,
                           "morton code: grid shape %" PRId64 ",%" PRId64 ",%" PRId64
                           " has an empty axis",
                           grid_shape[0], grid_shape[1], grid_shape[2]);
        }
    }
    cv_morton_bits(grid_shape, bits);
    if (bits[0] + bits[1] + bits[2] > 64) {
        return CV_FAIL(CV_ERR_ARG,
                       "morton code: grid %" PRId64 "x%" PRId64 "x%" PRId64 " needs %d bits, more "
                       "than 64",
                       grid_shape[0], grid_shape[1], grid_shape[2], bits[0] + bits[1] + bits[2]);
    }
    return CV_OK;
}

cv_status cv_morton_code(const int64_t grid_shape[3], const int64_t cell[3], uint64_t *code)
{
    int bits[3];
    CV_TRY(check_grid(grid_shape, bits));
    uint64_t c[3];
    for (int d = 0; d < 3; d++) {
        if (cell[d] < 0 || cell[d] >= grid_shape[d]) {
            return CV_FAIL(CV_ERR_ARG,
                           "morton code: cell %" PRId64 ",%" PRId64 ",%" PRId64
                           " lies outside the %" PRId64 "x%" PRId64 "x%" PRId64 " grid",
                           cell[0], cell[1], cell[2], grid_shape[0], grid_shape[1], grid_shape[2]);
        }
        c[d] = (uint64_t)cell[d];
    }
    *code = cv_morton_encode(bits, c);
    return CV_OK;
}

cv_status cv_morton_cell(const int64_t grid_shape[3], uint64_t code, int64_t cell[3])
{
    int bits[3];
    CV_TRY(check_grid(grid_shape, bits));
    int total = bits[0] + bits[1] + bits[2];
    uint64_t c[3];
    cv_morton_decode(bits, code, c);
    bool inside = total == 64 || (code >> total) == 0;
    for (int d = 0; d < 3; d++) {
        inside = inside && c[d] < (uint64_t)grid_shape[d];
    }
    if (!inside) {
        return CV_FAIL(CV_ERR_ARG,
                       "morton code %" PRIu64 " lies outside the %" PRId64 "x%" PRId64 "x%" PRId64
                       " grid",
                       code, grid_shape[0], grid_shape[1], grid_shape[2]);
    }
    for (int d = 0; d < 3; d++) {
        cell[d] = (int64_t)c[d];
    }
    return CV_OK;
}
