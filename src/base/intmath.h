/* SPDX-License-Identifier: BSD-3-Clause
 * intmath.h: greatest common divisors and least common multiples of chunk sizes and steps, for
 * the grids that two chunk shapes share (plans, exchange rounds, downsampling, import). */
#ifndef CV_INTMATH_H
#define CV_INTMATH_H

#include <stdint.h>

/* The greatest common divisor of a and b (both >= 0; gcd(a, 0) = a). */
static inline int64_t cv__gcd_i64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* The least common multiple of a and b (both > 0; sizes small enough that it fits). */
static inline int64_t cv__lcm_i64(int64_t a, int64_t b)
{
    return a / cv__gcd_i64(a, b) * b;
}

#endif
