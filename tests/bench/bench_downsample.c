/* SPDX-License-Identifier: BSD-3-Clause
 * bench_downsample.c: the downsampling kernels on one 256^3 block in memory (cvmpi.h
 * cv_downsample, cv_downsample_pyramid): uint8 average (2x2x1, 2x2x2, and a 5-level pyramid
 * with carried sums) and uint64 mode (countless 2x2x1, 2x2x2), in M voxels/s of input. The
 * same-run baseline is memcpy of the same input bytes. Data: a smooth uint8 image with noise,
 * and uint64 labels in small blocks (so mode has real ties). One TSV line per measurement,
 * fastest of N runs. `--quick` runs 64^3 once for CTest. Never fails on speed. */
#include "benchfn.h"
#include "cvmpi.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BENCH_GIT_REV
#define BENCH_GIT_REV "unknown"
#endif

typedef struct job {
    cv_dtype t;
    const void *src;
    void *dst;
    size_t bytes;
    int64_t shape[3], f[3];
    cv_downsample_method m;
    int levels;
    void *lv[8];
} job;

static int run_kernel(void *arg)
{
    job *j = arg;
    int64_t os[3];
    return cv_downsample(j->t, 1, j->src, j->shape, j->f, j->m, false, j->dst, os) != CV_OK;
}

static int run_pyramid(void *arg)
{
    job *j = arg;
    int64_t os[8][3];
    return cv_downsample_pyramid(j->t, 1, j->src, j->shape, j->f, j->m, false, j->levels, j->lv,
                                 os) != CV_OK;
}

static int run_memcpy(void *arg)
{
    job *j = arg;
    memcpy(j->dst, j->src, j->bytes);
    return ((volatile uint8_t *)j->dst)[j->bytes / 2] == 0x5a && j->bytes == 3;
}

static void report(const char *name, const char *dtype, double voxels, double bytes,
                   const bench_timing *t, double memcpy_mvox)
{
    double mvox = voxels / t->best_s / 1e6;
    printf("%s\tdownsample\t%s\t%s\t%.0f Mvox/s\t%.0f MB/s\t%.2fx memcpy\n", BENCH_GIT_REV, name,
           dtype, mvox, bytes / t->best_s / 1e6, memcpy_mvox > 0 ? mvox / memcpy_mvox : 0);
}

int main(int argc, char **argv)
{
    int64_t edge = 256;
    int runs = 7;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            edge = 64;
            runs = 1;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--quick] [--runs N]\n", argv[0]);
            return 2;
        }
    }
    size_t n = (size_t)(edge * edge * edge);
    uint8_t *img = cv_malloc(n), *img_out = cv_malloc(n);
    uint64_t *seg = cv_malloc(n * 8), *seg_out = cv_malloc(n * 8);
    if (!img || !img_out || !seg || !seg_out) {
        fprintf(stderr, "bench_downsample: out of memory\n");
        return 1;
    }
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        int64_t x = (int64_t)i % edge, y = (int64_t)i / edge % edge, z = (int64_t)i / edge / edge;
        img[i] = (uint8_t)(((x + y / 2 + z / 3) % 64) + ((y * 3 + z * 5) / 7) % 96 + (s & 7));
        uint64_t label = (uint64_t)((x / 5) + (y / 4) * 61 + (z / 3) * 3721) % 1000 + 1;
        seg[i] = (s % 11 == 0) ? label + 1 : label;
    }
    printf("# rev\tbench\tkernel\tdtype\tinput voxels/s\tinput MB/s\tvs memcpy (%" PRId64
           "^3 block, fastest of %d)\n",
           edge, runs);
    bench_timing t;
    job j = {CV_UINT8, img, img_out, n, {edge, edge, edge}, {2, 2, 1}, CV_DS_AVERAGE, 1, {0}};
    bench_time(run_memcpy, &j, runs, &t);
    double mc8 = (double)n / t.best_s / 1e6;
    report("memcpy", "uint8", (double)n, (double)n, &t, mc8);
    job j64 = j;
    j64.t = CV_UINT64;
    j64.src = seg;
    j64.dst = seg_out;
    j64.bytes = n * 8;
    bench_time(run_memcpy, &j64, runs, &t);
    double mc64 = (double)n / t.best_s / 1e6;
    report("memcpy", "uint64", (double)n, (double)n * 8, &t, mc64);

    int rc = bench_time(run_kernel, &j, runs, &t);
    report("average_2x2x1", "uint8", (double)n, (double)n, &t, mc8);
    j.f[2] = 2;
    rc |= bench_time(run_kernel, &j, runs, &t);
    report("average_2x2x2", "uint8", (double)n, (double)n, &t, mc8);
    j.f[2] = 1;
    j.levels = 5;
    size_t lv_bytes = n / 4 + 64;
    for (int k = 0; k < j.levels; k++) {
        j.lv[k] = cv_malloc(lv_bytes);
        lv_bytes = lv_bytes / 4 + 64;
    }
    rc |= bench_time(run_pyramid, &j, runs, &t);
    report("average_2x2x1_5_levels", "uint8", (double)n, (double)n, &t, mc8);
    for (int k = 0; k < j.levels; k++) {
        cv_free(j.lv[k]);
    }
    j64.m = CV_DS_MODE;
    rc |= bench_time(run_kernel, &j64, runs, &t);
    report("mode_2x2x1", "uint64", (double)n, (double)n * 8, &t, mc64);
    j64.f[2] = 2;
    rc |= bench_time(run_kernel, &j64, runs, &t);
    report("mode_2x2x2", "uint64", (double)n, (double)n * 8, &t, mc64);
    cv_free(img);
    cv_free(img_out);
    cv_free(seg);
    cv_free(seg_out);
    if (rc) {
        fprintf(stderr, "bench_downsample: a kernel failed\n");
        return 1;
    }
    return 0;
}
