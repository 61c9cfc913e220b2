/* SPDX-License-Identifier: BSD-3-Clause
 * bench_downsample.c: the downsampling kernels on one 256^3 block in memory (cvmpi.h
 * cv_downsample, cv_downsample_pyramid): uint8 average (2x2x1, 2x2x2, and a 5-level 2x2x1
 * pyramid with carried sums) and uint64 mode (countless 2x2x1, 2x2x2), in M voxels/s of input.
 * The same-run baselines are memcpy of the same input bytes and, when CV_BENCH_REF_DIR names a
 * directory holding it, a reference program (not part of cvmpi) on the same block:
 *   downsample_ref IN OUT uint8|uint64 avg|mode X Y Z FX FY FZ LEVELS RUNS
 * tinybrain's kernels called as its downsample_with_averaging / downsample_segmentation call
 * them (LEVELS > 1: num_mips, one call making every level). It reads the raw block (x fastest)
 * from IN, writes levels 1..LEVELS concatenated to OUT and prints "BEST_S", the fastest of RUNS
 * calls (output buffers allocated once, as here). Its output must equal cvmpi's byte for byte
 * for every kernel here (a difference fails the benchmark): the 8-bit averages are tinybrain's
 * integer arithmetic, the pyramid its carried sums, and both mode rules its tie rules (2x2x1:
 * a==b or a==c: a, b==c: b, else d; 2x2x2: the first four equal: the first, the last four
 * equal: the fifth, else the first value counted 4 times or more, else the first with the
 * strictly highest count); the block's sides are even, so no edge rule enters. cvmpi and the
 * reference take turns (3 rounds: cvmpi, reference, cvmpi, ...); each side's figure is the median
 * over the rounds of the fastest of N runs; ratio = cvmpi / reference. Without the reference only
 * cvmpi is measured. Data: a smooth uint8 image with noise, and uint64 labels in small blocks (so
 * mode has real ties). One TSV line per measurement. `--quick` runs 64^3, one round of one run, for
 * CTest. Never fails on speed. */
#include "benchfn.h"
#include "cvmpi.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef BENCH_GIT_REV
#define BENCH_GIT_REV "unknown"
#endif

#define ROUNDS 3 /* cvmpi, reference, cvmpi, ...: a change of load reaches both */
#define MAX_LEVELS 8

typedef struct job {
    cv_dtype t;
    const void *src;
    void *dst;
    size_t bytes;
    int64_t shape[3], f[3];
    cv_downsample_method m;
    int levels;
    void *lv[MAX_LEVELS];
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
    int64_t os[MAX_LEVELS][3];
    return cv_downsample_pyramid(j->t, 1, j->src, j->shape, j->f, j->m, false, j->levels, j->lv,
                                 os) != CV_OK;
}

static int run_memcpy(void *arg)
{
    job *j = arg;
    memcpy(j->dst, j->src, j->bytes);
    return ((volatile uint8_t *)j->dst)[j->bytes / 2] == 0x5a && j->bytes == 3;
}

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(p, 1, n, f) != n;
    if (f && fclose(f) != 0) {
        bad = 1;
    }
    return bad;
}

/* The reference program and the block written once for it (one file per dtype). */
typedef struct ref_ctx {
    char prog[1024];
    char in_u8[1024], in_u64[1024], out[1024];
    bool have;
} ref_ctx;

/* The output levels of a job: pointers and byte sizes (one level for cv_downsample). */
static int job_levels(const job *j, const void *lv[], size_t len[])
{
    const int n = j->levels > 1 ? j->levels : 1;
    int64_t shape[3] = {j->shape[0], j->shape[1], j->shape[2]};
    for (int k = 0; k < n; k++) {
        cv_downsample_shape(shape, j->f, shape);
        lv[k] = j->levels > 1 ? j->lv[k] : j->dst;
        len[k] = (size_t)(shape[0] * shape[1] * shape[2]) * cv_dtype_size(j->t);
    }
    return n;
}

/* 1 if `path` holds exactly the job's output levels, concatenated. */
static int same_as_file(const char *path, const job *j)
{
    const void *lv[MAX_LEVELS];
    size_t len[MAX_LEVELS], total = 0;
    const int n = job_levels(j, lv, len);
    for (int k = 0; k < n; k++) {
        total += len[k];
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        return 0;
    }
    uint8_t *buf = malloc(total + 1);
    size_t got = buf ? fread(buf, 1, total + 1, f) : 0;
    int same = buf && got == total;
    for (size_t k = 0, off = 0; same && k < (size_t)n; off += len[k], k++) {
        same = memcmp(buf + off, lv[k], len[k]) == 0;
    }
    fclose(f);
    free(buf);
    return same;
}

/* One reference run; 0 if it ran and printed its time, *same = its output equals cvmpi's
 * (already in the job's buffers). */
static int run_reference(const ref_ctx *r, const job *j, int runs, double *best_s, int *same)
{
    char cmd[4096];
    const bool u8 = j->t == CV_UINT8;
    snprintf(cmd, sizeof cmd,
             "'%s' '%s' '%s' %s %s %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
             " %" PRId64 " %d %d",
             r->prog, u8 ? r->in_u8 : r->in_u64, r->out, cv_dtype_name(j->t),
             j->m == CV_DS_AVERAGE ? "avg" : "mode", j->shape[0], j->shape[1], j->shape[2], j->f[0],
             j->f[1], j->f[2], j->levels > 1 ? j->levels : 1, runs);
    FILE *p = popen(cmd, "r");
    int rc = 1;
    if (p) {
        rc = fscanf(p, "%lf", best_s) == 1 ? 0 : 1;
        rc |= pclose(p) != 0;
    }
    *same = rc == 0 && same_as_file(r->out, j);
    unlink(r->out);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* Measure one kernel (cvmpi, then the reference, `rounds` times) and print its line. Returns 0,
 * 1 if cvmpi's kernel failed, 2 if the reference's output differs from cvmpi's. */
static int measure(const char *name, bench_fn fn, job *j, int rounds, int runs, const ref_ctx *r,
                   double memcpy_mvox)
{
    double cv_s[ROUNDS], ref_s[ROUNDS];
    int have_ref = r->have, same = 1;
    for (int round = 0; round < rounds; round++) {
        bench_timing t;
        if (bench_time(fn, j, runs, &t) != 0) {
            fprintf(stderr, "bench_downsample: %s failed: %s\n", name, cv_err_last()->what);
            return 1;
        }
        cv_s[round] = t.best_s;
        int same_now = 0;
        if (have_ref && run_reference(r, j, runs, &ref_s[round], &same_now) != 0) {
            fprintf(stderr, "bench_downsample: %s: the reference %s failed; cvmpi only\n", name,
                    r->prog);
            have_ref = 0;
        }
        same &= same_now;
    }
    const double n = (double)(j->shape[0] * j->shape[1] * j->shape[2]);
    const double best_s = median(cv_s, rounds), mvox = n / best_s / 1e6;
    printf("%s\tdownsample\t%s\t%s\t%.0f Mvox/s\t%.0f MB/s\t%.2fx memcpy", BENCH_GIT_REV, name,
           cv_dtype_name(j->t), mvox, n * (double)cv_dtype_size(j->t) / best_s / 1e6,
           memcpy_mvox > 0 ? mvox / memcpy_mvox : 0);
    if (!have_ref) {
        printf("\t-\t-\t-\n");
        return 0;
    }
    const double ref_mvox = n / median(ref_s, rounds) / 1e6;
    printf("\t%.0f Mvox/s\t%.2fx\t%s\n", ref_mvox, mvox / ref_mvox, same ? "yes" : "NO");
    return same ? 0 : 2;
}

static void report_memcpy(const char *dtype, double voxels, double bytes, double best_s)
{
    printf("%s\tdownsample\tmemcpy\t%s\t%.0f Mvox/s\t%.0f MB/s\t1.00x memcpy\t-\t-\t-\n",
           BENCH_GIT_REV, dtype, voxels / best_s / 1e6, bytes / best_s / 1e6);
}

/* Find the reference program and write the block for it; r->have = 0 without one. */
static void ref_setup(ref_ctx *r, const uint8_t *img, const uint64_t *seg, size_t n)
{
    const char *dir = getenv("CV_BENCH_REF_DIR");
    r->have = false;
    if (!dir) {
        return;
    }
    snprintf(r->prog, sizeof r->prog, "%s/downsample_ref", dir);
    if (access(r->prog, X_OK) != 0) {
        fprintf(stderr, "bench_downsample: no program %s; cvmpi only\n", r->prog);
        return;
    }
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(r->in_u8, sizeof r->in_u8, "%s/bench_downsample.%ld.uint8", tmp, (long)getpid());
    snprintf(r->in_u64, sizeof r->in_u64, "%s/bench_downsample.%ld.uint64", tmp, (long)getpid());
    snprintf(r->out, sizeof r->out, "%s/bench_downsample.%ld.out", tmp, (long)getpid());
    if (write_file(r->in_u8, img, n) != 0 || write_file(r->in_u64, seg, n * 8) != 0) {
        fprintf(stderr, "bench_downsample: cannot write the block under %s; cvmpi only\n", tmp);
        unlink(r->in_u8);
        unlink(r->in_u64);
        return;
    }
    r->have = true;
}

int main(int argc, char **argv)
{
    int64_t edge = 256;
    int runs = 7, rounds = ROUNDS;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            edge = 64;
            runs = 1;
            rounds = 1;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0) {
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
    ref_ctx ref;
    ref_setup(&ref, img, seg, n);
    printf("# %" PRId64
           "^3 block, median of %d round(s) of the fastest of %d runs; reference: %s\n",
           edge, rounds, runs, ref.have ? ref.prog : "none, cvmpi only");
    printf("# rev\tbench\tkernel\tdtype\tinput voxels/s\tinput MB/s\tvs memcpy\t"
           "reference voxels/s\tcvmpi/reference\tsame bytes\n");
    bench_timing t;
    job j = {CV_UINT8, img, img_out, n, {edge, edge, edge}, {2, 2, 1}, CV_DS_AVERAGE, 1, {0}};
    bench_time(run_memcpy, &j, runs, &t);
    double mc8 = (double)n / t.best_s / 1e6;
    report_memcpy("uint8", (double)n, (double)n, t.best_s);
    job j64 = j;
    j64.t = CV_UINT64;
    j64.src = seg;
    j64.dst = seg_out;
    j64.bytes = n * 8;
    bench_time(run_memcpy, &j64, runs, &t);
    double mc64 = (double)n / t.best_s / 1e6;
    report_memcpy("uint64", (double)n, (double)n * 8, t.best_s);

    int rc = measure("average_2x2x1", run_kernel, &j, rounds, runs, &ref, mc8);
    j.f[2] = 2;
    rc |= measure("average_2x2x2", run_kernel, &j, rounds, runs, &ref, mc8);
    j.f[2] = 1;
    j.levels = 5;
    size_t lv_bytes = n / 4 + 64;
    for (int k = 0; k < j.levels; k++) {
        j.lv[k] = cv_malloc(lv_bytes);
        rc |= j.lv[k] == NULL;
        if (j.lv[k]) {
            memset(j.lv[k], 0, lv_bytes); /* fault the pages in, as the reference's buffers */
        }
        lv_bytes = lv_bytes / 4 + 64;
    }
    if (rc == 0) {
        rc |= measure("average_2x2x1_5_levels", run_pyramid, &j, rounds, runs, &ref, mc8);
    }
    for (int k = 0; k < j.levels; k++) {
        cv_free(j.lv[k]);
    }
    j64.m = CV_DS_MODE;
    rc |= measure("mode_2x2x1", run_kernel, &j64, rounds, runs, &ref, mc64);
    j64.f[2] = 2;
    rc |= measure("mode_2x2x2", run_kernel, &j64, rounds, runs, &ref, mc64);
    if (ref.have) {
        unlink(ref.in_u8);
        unlink(ref.in_u64);
    }
    cv_free(img);
    cv_free(img_out);
    cv_free(seg);
    cv_free(seg_out);
    if (rc & 1) {
        fprintf(stderr, "bench_downsample: a kernel failed\n");
    }
    if (rc & 2) {
        fprintf(stderr, "bench_downsample: the reference's output differs from cvmpi's\n");
    }
    return rc ? 1 : 0;
}
