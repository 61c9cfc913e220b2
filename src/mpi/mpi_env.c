/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_env.c: MPI start-up and shutdown, and cv_mpi_agree(), the one place where ranks settle
 * on a common outcome (MPI_MAXLOC over {failed, rank}, then the failing rank's message). */
#include "mpi/cv_mpi.h"

#include "mpi/cv_collective.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool started;

static long env_count(const char *name)
{
    const char *v = getenv(name);
    char *end;
    long n = v && *v ? strtol(v, &end, 10) : 0;
    return v && *v && !*end && n > 0 ? n : 0;
}

/* An srun step (not the batch shell of an sbatch allocation, which has SLURM_NTASKS but no
 * step variables) that started more than one task. */
static long slurm_step_tasks(void)
{
    return getenv("SLURM_STEPID") || getenv("SLURM_STEP_ID") ? env_count("SLURM_STEP_NUM_TASKS")
                                                             : 0;
}

/* How many processes the launcher started, as it tells them; 0 if it says nothing. The most
 * specific source wins: mpirun's own count, then PMI's, then the Slurm step's (mpirun inside
 * an allocation runs its daemons as a step of one task per node). */
static long launcher_tasks(const char **source)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        if (getenv(vars[i])) {
            *source = vars[i];
            return env_count(vars[i]);
        }
    }
    *source = "SLURM_STEP_NUM_TASKS";
    return slurm_step_tasks();
}

#define WIRING_HINT                                                                                \
    "each process would run the whole job alone; launch with `srun --mpi=pmix` (`srun "            \
    "--mpi=list` shows the plugins) or mpirun"

/* A variable that only a launcher wiring MPI sets in the processes it starts (Open MPI's
 * mpirun, PMIx and PMI servers such as srun --mpi=pmix/pmi2 and MPICH's Hydra, MVAPICH's
 * mpirun_rsh, Cray's ALPS and PALS); NULL when there is none. */
static const char *wiring_variable(void)
{
    static const char *const vars[] = {
        "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",           "PMI_RANK",    "PMI_SIZE",    "PMI_FD",
        "MPI_LOCALNRANKS",      "MV2_COMM_WORLD_SIZE", "ALPS_APP_PE", "PALS_RANKID",
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        if (getenv(vars[i])) {
            return vars[i];
        }
    }
    return NULL;
}

/* The wiring's variable, or an srun step of several tasks; NULL when no launcher ran us. */
static const char *launcher_variable(void)
{
    const char *v = wiring_variable();
    return v ? v : slurm_step_tasks() > 1 ? "SLURM_STEP_NUM_TASKS" : NULL;
}

/* CVMPI_MPI: always, never or auto (the default: MPI_Init only under a launcher, so that a
 * single process starts in milliseconds instead of MPI_Init's fraction of a second). */
static cv_status mpi_wanted(bool *want, const char **why)
{
    const char *mode = getenv("CVMPI_MPI");
    if (!mode || !*mode || strcmp(mode, "auto") == 0) {
        *why = launcher_variable();
        *want = *why != NULL;
        return CV_OK;
    }
    *why = "CVMPI_MPI";
    if (strcmp(mode, "always") == 0 || strcmp(mode, "never") == 0) {
        *want = mode[0] == 'a';
        return CV_OK;
    }
    return CV_FAIL(CV_ERR_MPI, "CVMPI_MPI=`%s' is not one of always, never, auto", mode);
}

cv_status cv_mpi_init(int *argc, char ***argv)
{
    if (started) {
        return CV_OK;
    }
    bool want = false;
    const char *why = NULL;
    cv_status rc = mpi_wanted(&want, &why);
    if (rc != CV_OK) {
        return rc;
    }
    long step = slurm_step_tasks();
    if (step > 1 && !wiring_variable()) {
        /* Refuse before MPI_Init, which would either abort without a hint or start a
         * singleton that runs every task. */
        return CV_FAIL(CV_ERR_MPI, "srun started %ld tasks without MPI wiring (no PMIx or PMI): %s",
                       step, WIRING_HINT);
    }
    const char *source = NULL;
    long expected = launcher_tasks(&source);
    if (!want) {
        if (expected > 1) {
            return CV_FAIL(CV_ERR_MPI,
                           "CVMPI_MPI=never but the launcher started %ld tasks (%s): %s", expected,
                           source, WIRING_HINT);
        }
        CV_LOG(CV_LOG_INFO,
               "MPI not started: one process, no launcher (CVMPI_MPI=always starts it)");
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
    if (cv_mpi_size() == 1 && expected > 1) {
        cv_mpi_finalize();
        return CV_FAIL(CV_ERR_MPI, "the launcher started %ld tasks (%s) but MPI sees 1 rank: %s",
                       expected, source, WIRING_HINT);
    }
    if (cv_mpi_size() > 1) {
        cv__log_set_rank(cv_mpi_rank());
    }
    CV_LOG(CV_LOG_INFO, "MPI started (%s): %d rank%s", why, cv_mpi_size(),
           cv_mpi_size() == 1 ? "" : "s");
    cv_coll__open();
    return CV_OK;
}

void cv_mpi_finalize(void)
{
    if (started) {
        cv_coll__close();
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

static int plan_ranks;

void cv_mpi_plan_for(int ranks)
{
    plan_ranks = ranks;
}

int cv_mpi_plan_ranks(void)
{
    return plan_ranks > 0 ? plan_ranks : cv_mpi_size();
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
    cv_coll_allreduce(&in, &out, 1, MPI_2INT, MPI_MAXLOC, "the check of every rank's outcome");
    if (!out.failed) {
        return CV_OK;
    }
    int root = out.rank;
    cv_err e = *cv_err_last();
    if (rank == root) {
        e.code = rc;
    }
    cv_coll_bcast(&e, (int)sizeof e, MPI_BYTE, root, "the error of a failed rank");
    if (rank != root) {
        cv__err_set(&e);
        cv__err_wrap("rank %d", root);
    }
    return e.code;
}
