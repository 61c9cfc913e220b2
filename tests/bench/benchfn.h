/* SPDX-License-Identifier: BSD-3-Clause
 * benchfn.h: a small benchmark harness in the style of zstd's benchfn.h. bench_time() runs a
 * function N times and keeps the fastest run (what zstd's CONTRIBUTING advises comparing);
 * bench_in_child() runs a whole measurement in a forked child, so each one gets its own
 * peak RSS (getrusage of that child) and cannot inherit another's heap. No library code. */
#ifndef CV_BENCHFN_H
#define CV_BENCHFN_H

#include <stddef.h>
#include <stdint.h>

/* One run of the code under test; returns 0 on success. */
typedef int (*bench_fn)(void *payload);

typedef struct bench_timing {
    double best_s;   /* fastest run */
    double median_s; /* median run */
    int runs;
} bench_timing;

/* Monotonic clock, seconds. */
double bench_now(void);
/* Run fn(payload) `runs` times (at least 1). Returns 0, or fn's first non-zero result. */
int bench_time(bench_fn fn, void *payload, int runs, bench_timing *out);
/* A well-mixed 64-bit value of x (murmur3's finaliser): test data that looks random. */
uint64_t bench_mix64(uint64_t x);
/* MB/s (10^6 bytes per second) for `bytes` in `seconds`. */
double bench_mbps(double bytes, double seconds);

/* Run body(arg, result) in a forked child. The child's `result` (result_size bytes) is copied
 * back through a pipe; *peak_kib receives the child's peak resident set size (ru_maxrss,
 * KiB). Returns body's status, or -1 if the child could not run or died. Call it from a
 * process that holds little memory: the child starts with the parent's resident pages. */
int bench_in_child(int (*body)(void *arg, void *result), void *arg, void *result,
                   size_t result_size, long *peak_kib);

#endif
