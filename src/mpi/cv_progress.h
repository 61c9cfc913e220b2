/* SPDX-License-Identifier: BSD-3-Clause
 * cv_progress.h: progress of a job as rank 0 sees it: a bar on a terminal, a plain log line
 * every few seconds otherwise, and the final summary. */
#ifndef CV_PROGRESS_H
#define CV_PROGRESS_H

#include "../cv_internal.h"

typedef struct cv_progress {
    const char *what;
    uint64_t total;
    uint64_t bytes_per_task; /* for MB/s: bytes of a full task */
    double start, last_print;
    bool is_tty, enabled;
} cv_progress;

double cv_now(void);
void cv_progress_init(cv_progress *p, const char *what, uint64_t total, uint64_t bytes_per_task,
                      bool enabled);
/* Print if enough time has passed since the last line (always when `force`). */
void cv_progress_update(cv_progress *p, uint64_t done, bool force);
void cv_progress_finish(cv_progress *p);

#endif
