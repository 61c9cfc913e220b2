/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_env.c: MPI start-up and shutdown, and cv_mpi_agree(), the one place where ranks settle
 * on a common outcome (MPI_MAXLOC over {failed, rank}, then the failing rank's message). */
#include "cv_mpi.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>

static bool started;

cv_status cv_mpi_init(int *argc, char ***argv)
{
    if (started) {
        return CV_OK;
    }
    int already = 0;
    MPI_Initialized(&already);
    /* Helper threads (chunk workers, rank 0's progress monitor) never call MPI. */
    int provided;
    if (!already && MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        return CV_FAIL(CV_ERR_MPI, "MPI_Init failed");
    }
    started = true;
    if (cv_mpi_size() > 1) {
        cv__log_set_rank(cv_mpi_rank());
    }
    return CV_OK;
}

void cv_mpi_finalize(void)
{
    if (started) {
        MPI_Finalize();
        started = false;
    }
}

bool cv_mpi_active(void)
{
    return started;
}

int cv_mpi_rank(void)
{
    int r = 0;
    if (started) {
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
    }
    return r;
}

int cv_mpi_size(void)
{
    int n = 1;
    if (started) {
        MPI_Comm_size(MPI_COMM_WORLD, &n);
    }
    return n;
}

cv_status cv_mpi_agree(cv_status rc)
{
    if (!started) {
        return rc;
    }
    int rank = cv_mpi_rank();
    /* MAXLOC on {failed, rank}: among equal values it keeps the lowest index, so the lowest
     * failing rank wins. */
    struct {
        int failed, rank;
    } in = {rc != CV_OK, rank}, out;
    MPI_Allreduce(&in, &out, 1, MPI_2INT, MPI_MAXLOC, MPI_COMM_WORLD);
    if (!out.failed) {
        return CV_OK;
    }
    int root = out.rank;
    cv_err e = *cv_err_last();
    if (rank == root) {
        e.code = rc;
    }
    MPI_Bcast(&e, (int)sizeof e, MPI_BYTE, root, MPI_COMM_WORLD);
    if (rank != root) {
        cv__err_set(&e);
        cv__err_wrap("rank %d", root);
    }
    return e.code;
}
