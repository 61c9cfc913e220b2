/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_progress.c: rank 0's progress display (see cv_progress.h). */
#include "mpi/cv_progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double cv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int forced = -1;

void cv_progress_force(int mode)
{
    forced = mode;
}

int cv_progress_forced(void)
{
    return forced;
}

/* mpirun hands a rank's stderr to itself through a pipe and writes it to its own stderr: the
 * bar belongs there when that is a terminal. A local rank's parent is mpirun. */
static bool launcher_stderr_is_tty(void)
{
    if (!getenv("OMPI_COMM_WORLD_SIZE")) {
        return false;
    }
    char link[64], target[256];
    snprintf(link, sizeof link, "/proc/%ld/fd/2", (long)getppid());
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) {
        return false;
    }
    target[n] = '\0';
    return strncmp(target, "/dev/pts/", 9) == 0 || strncmp(target, "/dev/tty", 8) == 0;
}

void cv_progress_init(cv_progress *p, const char *what, uint64_t total, uint64_t bytes_per_task,
                      bool enabled)
{
    p->what = what;
    p->total = total;
    p->bytes_per_task = bytes_per_task;
    p->start = cv_now();
    p->last_print = p->start;
    p->final_mbs = -1;
    p->enabled = enabled && forced != 0;
    p->is_tty = p->enabled && (forced == 1 || isatty(STDERR_FILENO) || launcher_stderr_is_tty());
}

static void format_eta(double seconds, char *buf, size_t cap)
{
    long s = seconds > 0 && seconds < 1e8 ? (long)seconds : 0;
    snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
}

void cv_progress_update(cv_progress *p, uint64_t done, bool force)
{
    if (!p->enabled) {
        return;
    }
    double now = cv_now();
    double every = p->is_tty ? 0.5 : 10.0;
    if (!force && now - p->last_print < every) {
        return;
    }
    p->last_print = now;
    double elapsed = now - p->start;
    double mbs = p->final_mbs >= 0 ? p->final_mbs
                 : elapsed > 0     ? (double)done * (double)p->bytes_per_task / elapsed / 1e6
                                   : 0;
    double eta = done ? elapsed * (double)(p->total - done) / (double)done : 0;
    char eta_text[32];
    format_eta(eta, eta_text, sizeof eta_text);
    double frac = p->total ? (double)done / (double)p->total : 1;
    if (p->is_tty) {
        char bar[31];
        int filled = (int)(frac * 30);
        for (int i = 0; i < 30; i++) {
            bar[i] = i < filled ? '#' : '.';
        }
        bar[30] = '\0';
        fprintf(stderr, "\r%s [%s] %llu/%llu tasks %5.1f%% %8.1f MB/s ETA %s ", p->what, bar,
                (unsigned long long)done, (unsigned long long)p->total, frac * 100, mbs, eta_text);
    } else {
        fprintf(stderr, "cvmpi: %s: %llu/%llu tasks (%.1f%%), %.1f MB/s, ETA %s\n", p->what,
                (unsigned long long)done, (unsigned long long)p->total, frac * 100, mbs, eta_text);
    }
    fflush(stderr);
}

void cv_progress_final(cv_progress *p, uint64_t done, uint64_t bytes, double seconds)
{
    p->final_mbs = seconds > 0 ? (double)bytes / 1e6 / seconds : 0;
    cv_progress_update(p, done, true);
}

void cv_progress_finish(cv_progress *p)
{
    if (p->enabled && p->is_tty) {
        fputc('\n', stderr);
    }
}
