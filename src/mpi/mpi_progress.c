/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_progress.c: rank 0's progress display (see cv_progress.h). */
#include "cv_progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double cv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cv_progress_init(cv_progress *p, const char *what, uint64_t total, uint64_t bytes_per_task,
                      bool enabled)
{
    p->what = what;
    p->total = total;
    p->bytes_per_task = bytes_per_task;
    p->start = cv_now();
    p->last_print = p->start;
    p->is_tty = isatty(STDERR_FILENO);
    p->enabled = enabled;
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
    double mbs = elapsed > 0 ? (double)done * (double)p->bytes_per_task / elapsed / 1e6 : 0;
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

void cv_progress_finish(cv_progress *p)
{
    if (p->enabled && p->is_tty) {
        fputc('\n', stderr);
    }
}
