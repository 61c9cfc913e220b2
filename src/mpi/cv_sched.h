/* SPDX-License-Identifier: BSD-3-Clause
 * cv_sched.h: handing out task ids to ranks. Dynamic: a shared counter on rank 0 claimed with
 * MPI_Fetch_and_op, so fast ranks take more tasks and no rank is a master. Static: task i goes
 * to rank i mod size (reproducible). A second counter counts finished tasks for progress. */
#ifndef CV_SCHED_H
#define CV_SCHED_H

#include "mpi/cv_mpi.h"

typedef struct cv_sched cv_sched;

/* Collective. */
cv_status cv_sched_open(uint64_t n_tasks, bool is_static, cv_sched **out);
/* The next task for this rank; false when none is left. Not collective. */
bool cv_sched_next(cv_sched *s, uint64_t *id);
/* Tell rank 0 which task this rank is on now (UINT64_MAX: none), for stall reports. */
void cv_sched_working_on(cv_sched *s, uint64_t id);
/* Rank 0 only, from any thread, no MPI calls: the task rank `r` last said it is on
 * (UINT64_MAX: none), and the number of finished tasks. */
uint64_t cv_sched_peek_task(const cv_sched *s, int r);
uint64_t cv_sched_peek_finished(const cv_sched *s);

/* Record one more finished task (for progress). */
void cv_sched_done(cv_sched *s);
/* Tasks finished by all ranks so far (approximate while running). */
uint64_t cv_sched_finished(cv_sched *s);
/* Ask every rank to stop claiming tasks (--fail-fast, SIGTERM); seen by cv_sched_next. */
void cv_sched_abort(cv_sched *s);
bool cv_sched_aborted(cv_sched *s);
/* Collective. */
void cv_sched_close(cv_sched *s);

#endif
