/* SPDX-License-Identifier: BSD-3-Clause
 * cv_failures.h: failed tasks of a job: each rank notes its own (task, box, rank, cause), and
 * rank 0 gathers them for the final report. */
#ifndef CV_FAILURES_H
#define CV_FAILURES_H

#include "mpi/cv_mpi.h"

typedef struct cv_failures {
    cv_buf text; /* one line per failed task, at most CV_FAILURES_LISTED */
    uint64_t count;
} cv_failures;

#define CV_FAILURES_LISTED 100

void cv_failures_init(cv_failures *f);
void cv_failures_fini(cv_failures *f);
/* Note task `id` with `box` as failed because of `why` (usually cv_err_last()->what). */
void cv_failures_note(cv_failures *f, uint64_t id, cv_bbox box, const char *why);
/* Collective: the number failed on all ranks, and on rank 0 every rank's lines (free with
 * cv_free; other ranks get an empty string). */
char *cv_failures_gather(const cv_failures *f, uint64_t *total);

#endif
