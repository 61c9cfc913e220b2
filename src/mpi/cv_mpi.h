/* SPDX-License-Identifier: BSD-3-Clause
 * cv_mpi.h: the MPI layer of the cvmpi tool (the library below it has no MPI). MPI is
 * initialised only by commands that run across ranks, and by those only under a launcher (or
 * CVMPI_MPI=always), so single-process runs start fast and run anywhere: rank 0 of 1, with the
 * collectives as local copies. */
#ifndef CV_MPI_H
#define CV_MPI_H

#include "base/cv_internal.h"

/* MPI_Init (once) when a launcher started this process or CVMPI_MPI=always (never: not at all;
 * auto: the default); sets the log rank. Collective over MPI_COMM_WORLD. */
cv_status cv_mpi_init(int *argc, char ***argv);
/* MPI_Finalize if cv_mpi_init ran. */
void cv_mpi_finalize(void);
bool cv_mpi_active(void);
int cv_mpi_rank(void);
int cv_mpi_size(void);
/* The rank count plans are made for: the job's, or N from `--dry-run --ranks N` (set before
 * planning; only plans and their printouts use it, never a running job). */
void cv_mpi_plan_for(int ranks);
int cv_mpi_plan_ranks(void);
/* Every rank passes its own status; all get the same answer. When some rank failed, the
 * lowest failing rank's error record is copied to every rank. Collective. */
cv_status cv_mpi_agree(cv_status rc);

/* How long a rank waits in a collective for ranks that show no progress before the job is
 * aborted naming them (see cv_collective.h); 0 waits forever. Default 600 s. */
void cv_mpi_set_collective_timeout(double seconds);
/* The job's name and what to do after such an abort, for that message. */
void cv_mpi_set_job(const char *name, const char *resume_hint);

/* Memory one rank may use by default (see mpi_memory.c); *source names where it came from. */
size_t cv_mpi_default_memory(const char **source);

#endif
