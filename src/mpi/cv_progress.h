/* SPDX-License-Identifier: BSD-3-Clause
 * cv_progress.h: progress of a job as rank 0 sees it: a bar on a terminal (rank 0's stderr,
 * or under mpirun the launcher's), a plain log line every 10 s otherwise, and the last line
 * with the final summary's rate. */
#ifndef CV_PROGRESS_H
#define CV_PROGRESS_H

#include "base/cv_internal.h"

typedef struct cv_progress {
    const char *what;
    uint64_t total;
    uint64_t bytes_per_task; /* for MB/s: bytes of a full task */
    double start, last_print;
    double final_mbs; /* set by cv_progress_final, else < 0 */
    bool is_tty, enabled;
} cv_progress;

double cv_now(void);
/* --progress (1: a bar even when stderr is no terminal) / --no-progress (0: nothing). */
void cv_progress_force(int mode);
int cv_progress_forced(void); /* -1: neither given */
void cv_progress_init(cv_progress *p, const char *what, uint64_t total, uint64_t bytes_per_task,
                      bool enabled);
/* Print if enough time has passed since the last line (always when `force`). */
void cv_progress_update(cv_progress *p, uint64_t done, bool force);
/* The last line: `done` tasks, and the rate of the final summary (`bytes` in `seconds`), so
 * both agree. */
void cv_progress_final(cv_progress *p, uint64_t done, uint64_t bytes, double seconds);
void cv_progress_finish(cv_progress *p);

#endif
