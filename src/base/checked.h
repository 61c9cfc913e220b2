/* SPDX-License-Identifier: BSD-3-Clause
 * checked.h: products and sums of sizes that report overflow instead of wrapping. Every
 * count of voxels, bytes, chunks or tasks derived from an info or a box goes through these:
 * a hostile info or --bbox must give an error, never a small wrapped number. */
#ifndef CV_CHECKED_H
#define CV_CHECKED_H

#include <stdbool.h>
#include <stdint.h>

/* *out = a * b; false (and *out = UINT64_MAX) if that does not fit in 64 bits. */
static inline bool cv__mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (__builtin_mul_overflow(a, b, out)) {
        *out = UINT64_MAX;
        return false;
    }
    return true;
}

/* *out = a + b; false (and *out = UINT64_MAX) on overflow. */
static inline bool cv__add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (__builtin_add_overflow(a, b, out)) {
        *out = UINT64_MAX;
        return false;
    }
    return true;
}

/* *out = a * b * c * d; false (and *out = UINT64_MAX) on overflow. */
static inline bool cv__mul4_u64(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t *out)
{
    return cv__mul_u64(a, b, out) && cv__mul_u64(*out, c, out) && cv__mul_u64(*out, d, out);
}

#endif
