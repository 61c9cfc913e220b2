/* SPDX-License-Identifier: BSD-3-Clause
 * benchfn.c: timing loops and the fork-per-measurement wrapper of benchfn.h. */
#include "benchfn.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_mbps(double bytes, double seconds)
{
    return seconds > 0 ? bytes / seconds / 1e6 : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int bench_time(bench_fn fn, void *payload, int runs, bench_timing *out)
{
    if (runs < 1) {
        runs = 1;
    }
    double *t = malloc(sizeof *t * (size_t)runs);
    if (!t) {
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < runs && rc == 0; i++) {
        double start = bench_now();
        rc = fn(payload);
        t[i] = bench_now() - start;
    }
    if (rc == 0) {
        qsort(t, (size_t)runs, sizeof *t, cmp_double);
        out->best_s = t[0];
        out->median_s = t[runs / 2];
        out->runs = runs;
    }
    free(t);
    return rc;
}

/* Write or read all n bytes of a pipe end. */
static int pipe_io(int fd, void *p, size_t n, int is_write)
{
    uint8_t *b = p;
    while (n) {
        ssize_t k = is_write ? write(fd, b, n) : read(fd, b, n);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return -1;
        }
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

int bench_in_child(int (*body)(void *arg, void *result), void *arg, void *result,
                   size_t result_size, long *peak_kib)
{
    int fds[2];
    if (pipe(fds) != 0) {
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        int rc = body(arg, result);
        int sent =
            pipe_io(fds[1], &rc, sizeof rc, 1) == 0 && pipe_io(fds[1], result, result_size, 1) == 0;
        _exit(sent ? 0 : 1);
    }
    close(fds[1]);
    int rc = -1;
    if (pipe_io(fds[0], &rc, sizeof rc, 0) != 0 || pipe_io(fds[0], result, result_size, 0) != 0) {
        rc = -1;
    }
    close(fds[0]);
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        rc = -1;
    }
    *peak_kib = ru.ru_maxrss;
    return rc;
}

uint64_t bench_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}
