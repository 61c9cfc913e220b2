/* SPDX-License-Identifier: BSD-3-Clause
 * cv_monitor.h: rank 0's watcher thread during a job: draws progress from the shared counters
 * whatever rank 0 itself is doing, and names a rank that has been on one task too long. It
 * reads rank 0's window memory and makes no MPI calls. */
#ifndef CV_MONITOR_H
#define CV_MONITOR_H

#include "mpi/cv_progress.h"
#include "mpi/cv_sched.h"

typedef struct cv_monitor cv_monitor;

/* `describe` writes a task's box into buf for messages. Start on rank 0 only. */
cv_monitor *cv_monitor_start(cv_progress *progress, const cv_sched *sched, double stall_seconds,
                             void (*describe)(uint64_t id, char *buf, size_t cap, void *arg),
                             void *arg);
void cv_monitor_stop(cv_monitor *m); /* NULL is fine */

#endif
