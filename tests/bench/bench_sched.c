/* SPDX-License-Identifier: BSD-3-Clause
 * bench_sched.c: the task scheduler's own cost per task (cv_sched.h), with empty tasks, under
 * mpirun: each rank runs the loop of a job (next, working_on, working_on(none), done) until no
 * task is left, for the dynamic and the static schedule. Prints one TSV line per schedule:
 * ranks, tasks, wall seconds (slowest rank), microseconds of wall time per task, and rank
 * microseconds per task (wall x ranks / tasks: what the scheduler costs each rank per task it
 * runs). Usage: mpirun -n N bench_sched [--tasks N] [--quick]. Never fails on speed. */
#include "mpi/cv_sched.h"
#include "mpi/cv_progress.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double run(uint64_t n_tasks, bool is_static, uint64_t *mine)
{
    cv_sched *s = NULL;
    if (cv_mpi_agree(cv_sched_open(n_tasks, is_static, &s)) != CV_OK) {
        fprintf(stderr, "bench_sched: %s\n", cv_err_last()->what);
        exit(1);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = cv_now();
    uint64_t id, count = 0;
    while (cv_sched_next(s, &id)) {
        cv_sched_working_on(s, id);
        cv_sched_working_on(s, UINT64_MAX);
        cv_sched_done(s);
        count++;
    }
    double mine_s = cv_now() - t0, wall = 0;
    MPI_Allreduce(&mine_s, &wall, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&count, mine, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    cv_sched_close(s);
    return wall;
}

int main(int argc, char **argv)
{
    uint64_t n_tasks = 200000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            n_tasks = 2000;
        } else if (strcmp(argv[i], "--tasks") == 0 && i + 1 < argc) {
            n_tasks = strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: mpirun -n N %s [--tasks N] [--quick]\n", argv[0]);
            return 2;
        }
    }
    if (cv_mpi_init(&argc, &argv) != CV_OK) {
        fprintf(stderr, "bench_sched: %s\n", cv_err_last()->what);
        return 1;
    }
    int ranks = cv_mpi_size(), rc = 0;
    if (cv_mpi_rank() == 0) {
        printf("schedule\tranks\ttasks\twall_s\twall_us_per_task\trank_us_per_task\n");
    }
    for (int is_static = 0; is_static < 2; is_static++) {
        uint64_t ran = 0;
        double wall = run(n_tasks, is_static, &ran);
        if (cv_mpi_rank() == 0) {
            printf("%s\t%d\t%llu\t%.3f\t%.3f\t%.3f\n", is_static ? "static" : "dynamic", ranks,
                   (unsigned long long)n_tasks, wall, wall * 1e6 / (double)n_tasks,
                   wall * 1e6 * ranks / (double)n_tasks);
            if (ran != n_tasks) {
                fprintf(stderr, "bench_sched: %llu tasks ran, want %llu\n", (unsigned long long)ran,
                        (unsigned long long)n_tasks);
                rc = 1;
            }
        }
    }
    cv_mpi_finalize();
    return rc;
}
