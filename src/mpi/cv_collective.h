/* SPDX-License-Identifier: BSD-3-Clause
 * cv_collective.h: every collective of a job waits here, with a deadline. Each call starts
 * the non-blocking MPI-3 operation and tests it with short sleeps (a waiting rank leaves the
 * CPU to the ranks that work). A small board in a window on rank 0 holds, per rank, how many
 * collectives it has entered and left, the task and the phase it is on, and a counter bumped
 * at each of those events (and, while a rank waits, about once a second as a heartbeat). A
 * waiting rank reads the board at each heartbeat; when a rank that has not reached the
 * collective shows no progress, or one waiting in it no heartbeat, for --collective-timeout
 * seconds, it is named with its last task and phase and the job ends with MPI_Abort (exit
 * status 1).
 * `what` names the collective in that message ("the end of the exchange round").
 * The calls return the MPI status like the blocking ones they replace. When MPI was not started
 * (see cv_mpi_init) they are those of a one-rank world, without MPI calls. */
#ifndef CV_COLLECTIVE_H
#define CV_COLLECTIVE_H

#include "mpi/cv_mpi.h"

#include <mpi.h>

int cv_coll_barrier(const char *what);
int cv_coll_allreduce(const void *in, void *out, int n, MPI_Datatype type, MPI_Op op,
                      const char *what);
int cv_coll_reduce(const void *in, void *out, int n, MPI_Datatype type, MPI_Op op, int root,
                   const char *what);
int cv_coll_bcast(void *buf, int n, MPI_Datatype type, int root, const char *what);
int cv_coll_gather(const void *in, int n_in, MPI_Datatype in_type, void *out, int n_out,
                   MPI_Datatype out_type, int root, const char *what);
int cv_coll_gatherv(const void *in, int n_in, MPI_Datatype in_type, void *out, const int *counts,
                    const int *displs, MPI_Datatype out_type, int root, const char *what);
int cv_coll_alltoall(const void *in, int n_in, MPI_Datatype in_type, void *out, int n_out,
                     MPI_Datatype out_type, const char *what);
int cv_coll_alltoallv(const void *in, const int *in_counts, const int *in_displs,
                      MPI_Datatype in_type, void *out, const int *out_counts, const int *out_displs,
                      MPI_Datatype out_type, const char *what);

/* A collective in two steps, so a rank can work between them (e.g. read its next chunks):
 * cv_coll_iallreduce starts it (the rank counts as inside it from then on: the deadline runs,
 * and it beats only once it waits in cv_coll_finish), cv_coll_finish waits for it like
 * cv_coll_allreduce. `in` and `out` must stay until then. Every start needs its finish. */
typedef struct cv_coll_pending {
    MPI_Request req;
    uint64_t seq;
    double start;
    int rc;
    bool active;
} cv_coll_pending;
int cv_coll_iallreduce(const void *in, void *out, int n, MPI_Datatype type, MPI_Op op,
                       cv_coll_pending *p);
int cv_coll_finish(cv_coll_pending *p, const char *what);

/* Point-to-point waits under the same deadline: MPI_Waitsome / MPI_Waitall over `reqs` (on
 * MPI_COMM_WORLD), polled with MPI_Testsome; `peers[i]` is the rank request i waits for. A peer
 * of a request still open that shows no progress for --collective-timeout seconds is named and
 * the job aborts, as in a collective. A rank waiting here counts as waiting (not stuck) for the
 * others' deadlines and for the stall warning. */
int cv_coll_waitsome(int n, MPI_Request *reqs, const int *peers, int *outcount, int *indices,
                     MPI_Status *statuses, const char *what);
int cv_coll_waitall(int n, MPI_Request *reqs, const int *peers, const char *what);

/* What this rank does now ("exchange round 3"), shown when another rank waits for it. */
void cv_coll_phase(const char *fmt, ...) CV_PRINTF(1, 2);
/* The task this rank is on (UINT64_MAX: none); cv_sched_working_on reports it here. */
void cv_coll_task(uint64_t id);
/* Rank 0 only, from any thread, no MPI calls: whether rank `r` waits in a collective now. */
bool cv_coll_peek_waiting(int r);

/* mpi_env.c: the board, made right after MPI_Init and freed (after a last barrier) before
 * MPI_Finalize. Collective. */
void cv_coll__open(void);
void cv_coll__close(void);
/* mpi_collective_single.c: a collective of the one process when MPI was not started: copies
 * n items of `in` (from item in_displ) to `out` (at item out_displ) unless in is
 * MPI_IN_PLACE. MPI_ERR_TYPE for a datatype it does not know. */
int cv_coll__single(const void *in, int in_displ, int n, MPI_Datatype in_type, void *out,
                    int out_displ, MPI_Datatype out_type);

#endif
