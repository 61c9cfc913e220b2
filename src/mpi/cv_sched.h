/* SPDX-License-Identifier: BSD-3-Clause
 * cv_sched.h: handing out task ids to ranks.
 *
 * Dynamic: ranks claim batches of consecutive tasks from a counter on rank 0 with one
 * MPI_Fetch_and_op (guided self-scheduling: about remaining / (2 x ranks) tasks, at most about
 * a second of work and 4096 tasks), so fast ranks take more tasks and no rank is a master. The
 * claim also carries this rank's finished count to rank 0 and brings back the abort flag, so a
 * task costs no blocking round trip of its own; which task a rank is on goes to rank 0 with an
 * MPI_Put that waits for local completion only, for progress and stall reports.
 *
 * Stragglers (jobs that call cv_sched_allow_reissue): once the counter is exhausted, an idle
 * rank watches the others; a rank seen on the same task for longer than max(3 x the median
 * task time, a floor of 10 s, or $CVMPI_REISSUE_AFTER seconds) gives up the unstarted tasks
 * of its batch one by one (each still runs exactly once) and then its current task, which is
 * handed out once more. Both copies write the same objects whole (atomic renames), both may
 * journal it, and cv_sched_done tells only the first to finish that it counts.
 *
 * Static: task i goes to rank i mod size (reproducible) with no one-sided communication at
 * all; --fail-fast reaches the other ranks as messages they probe for between tasks. Rank 0's
 * progress is then its own count times the rank count, and stalls are reported for rank 0. */
#ifndef CV_SCHED_H
#define CV_SCHED_H

#include "mpi/cv_mpi.h"

typedef struct cv_sched cv_sched;

/* Collective. */
cv_status cv_sched_open(uint64_t n_tasks, bool is_static, cv_sched **out);
/* Let idle ranks take over stragglers' tasks (dynamic schedule only): for jobs whose tasks
 * write the same bytes whoever runs them. Call on every rank before the first cv_sched_next. */
void cv_sched_allow_reissue(cv_sched *s);
/* The next task for this rank; false when none is left. Not collective. */
bool cv_sched_next(cv_sched *s, uint64_t *id);
/* Tell rank 0 which task this rank is on now (UINT64_MAX: none), for stall reports. */
void cv_sched_working_on(cv_sched *s, uint64_t id);
/* Rank 0 only, from any thread, no MPI calls: the task rank `r` last said it is on
 * (UINT64_MAX: none), and the number of finished tasks. */
uint64_t cv_sched_peek_task(const cv_sched *s, int r);
uint64_t cv_sched_peek_finished(const cv_sched *s);

/* Record that the task last returned by cv_sched_next finished (for progress). False when
 * another rank finished a reissued copy of it first: the caller then counts it nowhere. */
bool cv_sched_done(cv_sched *s);
/* Ask every rank to stop claiming tasks (--fail-fast, SIGTERM); seen by cv_sched_next. */
void cv_sched_abort(cv_sched *s);
/* Collective. */
void cv_sched_close(cv_sched *s);

#endif
