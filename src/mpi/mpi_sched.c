/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_sched.c: the task scheduler (see cv_sched.h). Without MPI (a plain `cvmpi` run) it is a
 * local counter. */
#include "mpi/cv_sched.h"

#include "mpi/cv_collective.h"
#include "mpi/cv_report.h"

#include <mpi.h>

struct cv_sched {
    uint64_t n_tasks;
    bool is_static;
    uint64_t next_static; /* this rank's next candidate under static scheduling */
    uint64_t local[3];    /* claimed, finished, aborted: used without MPI */
    bool have_win;
    MPI_Win win;
    uint64_t *base; /* rank 0: [claimed, finished, aborted, task of rank 0, of rank 1, ...] */
};

cv_status cv_sched_open(uint64_t n_tasks, bool is_static, cv_sched **out)
{
    cv_sched *s = cv_calloc(1, sizeof *s);
    if (!s) {
        return CV_FAIL(CV_ERR_NOMEM, "scheduler");
    }
    s->n_tasks = n_tasks;
    s->is_static = is_static;
    s->next_static = (uint64_t)cv_mpi_rank();
    if (cv_mpi_active()) {
        MPI_Aint slots = 3 + (MPI_Aint)cv_mpi_size();
        MPI_Aint size = cv_mpi_rank() == 0 ? slots * (MPI_Aint)sizeof(uint64_t) : 0;
        if (MPI_Win_allocate(size, sizeof(uint64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &s->base,
                             &s->win) != MPI_SUCCESS) {
            cv_free(s);
            return CV_FAIL(CV_ERR_MPI, "scheduler: MPI_Win_allocate failed");
        }
        if (cv_mpi_rank() == 0) {
            for (MPI_Aint i = 0; i < slots; i++) {
                s->base[i] = i < 3 ? 0 : UINT64_MAX;
            }
        }
        cv_coll_barrier("the start of the tasks");
        MPI_Win_lock_all(MPI_MODE_NOCHECK, s->win);
        s->have_win = true;
    }
    *out = s;
    return CV_OK;
}

static uint64_t fetch_add(cv_sched *s, int slot, uint64_t add)
{
    if (!s->have_win) {
        uint64_t old = s->local[slot];
        s->local[slot] += add;
        return old;
    }
    uint64_t old = 0;
    MPI_Fetch_and_op(&add, &old, MPI_UINT64_T, 0, slot, add ? MPI_SUM : MPI_NO_OP, s->win);
    MPI_Win_flush(0, s->win);
    return old;
}

bool cv_sched_next(cv_sched *s, uint64_t *id)
{
    if (cv_sched_aborted(s)) {
        return false;
    }
    if (s->is_static) {
        if (s->next_static >= s->n_tasks) {
            return false;
        }
        *id = s->next_static;
        s->next_static += (uint64_t)cv_mpi_size();
        return true;
    }
    uint64_t got = fetch_add(s, 0, 1);
    if (got >= s->n_tasks) {
        return false;
    }
    *id = got;
    return true;
}

void cv_sched_working_on(cv_sched *s, uint64_t id)
{
    cv_coll_task(id);
    if (!s->have_win) {
        return;
    }
    uint64_t old;
    MPI_Fetch_and_op(&id, &old, MPI_UINT64_T, 0, 3 + cv_mpi_rank(), MPI_REPLACE, s->win);
    MPI_Win_flush(0, s->win);
}

uint64_t cv_sched_peek_task(const cv_sched *s, int r)
{
    if (!s->have_win) {
        return UINT64_MAX;
    }
    return __atomic_load_n(&s->base[3 + r], __ATOMIC_RELAXED);
}

uint64_t cv_sched_peek_finished(const cv_sched *s)
{
    if (!s->have_win) {
        return s->local[1];
    }
    return __atomic_load_n(&s->base[1], __ATOMIC_RELAXED);
}

void cv_sched_done(cv_sched *s)
{
    cv_report_count_task();
    fetch_add(s, 1, 1);
}

uint64_t cv_sched_finished(cv_sched *s)
{
    return fetch_add(s, 1, 0);
}

void cv_sched_abort(cv_sched *s)
{
    fetch_add(s, 2, 1);
}

bool cv_sched_aborted(cv_sched *s)
{
    return fetch_add(s, 2, 0) != 0;
}

void cv_sched_close(cv_sched *s)
{
    if (!s) {
        return;
    }
    if (s->have_win) {
        cv_coll_barrier("the end of the tasks"); /* MPI_Win_free waits without a deadline */
        MPI_Win_unlock_all(s->win);
        MPI_Win_free(&s->win);
    }
    cv_free(s);
}
