/* SPDX-License-Identifier: BSD-3-Clause
 * bench_journal_resume.c [--records N] [--files F] [--dir DIR]: the cost of --resume's journal
 * load under mpirun. Rank 0 writes N finished-task records (default 10^7) spread over F rank
 * files (default 8, task i in file i mod F) in the journal's exact format, as F ranks of an
 * earlier run leave them; then every rank times cv_journal_begin(resume) and counts the bytes
 * it read (rchar of /proc/self/io). Prints one TSV line: ranks, the slowest rank's seconds, the
 * most MB one rank read, and the tasks found done (must be N). Fails if that count is wrong. */
#include "mpi/cv_journal.h"
#include "mpi/cv_mpi.h"

#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIGNATURE "bench journal resume"

static uint32_t record_checksum(const char *digits)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 20; i++) {
        h = (h ^ (uint8_t)digits[i]) * 16777619u;
    }
    return h;
}

static int write_files(const char *dir, uint64_t records, int files)
{
    mkdir(dir, 0777);
    for (int f = 0; f < files; f++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/rank-%d.log", dir, f);
        FILE *out = fopen(path, "w");
        if (!out) {
            perror(path);
            return 1;
        }
        setvbuf(out, NULL, _IOFBF, 1 << 20);
        fprintf(out, "cvmpi-journal 2 %s\n", SIGNATURE);
        for (uint64_t id = (uint64_t)f; id < records; id += (uint64_t)files) {
            char line[32];
            snprintf(line, sizeof line, "%020" PRIu64 " ", id);
            fprintf(out, "%s%08" PRIx32 "\n", line, record_checksum(line));
        }
        if (fclose(out) != 0) {
            perror(path);
            return 1;
        }
    }
    return 0;
}

static uint64_t bytes_read_so_far(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    uint64_t v = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "rchar: %" SCNu64, &v) == 1) {
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    return v;
}

int main(int argc, char **argv)
{
    uint64_t records = 10000000;
    int files = 8;
    const char *parent = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--records") == 0 && i + 1 < argc) {
            records = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--files") == 0 && i + 1 < argc) {
            files = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            parent = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--records N] [--files F] [--dir DIR]\n", argv[0]);
            return 2;
        }
    }
    if (files < 1 || records < 1 || cv_mpi_init(&argc, &argv) != CV_OK) {
        fprintf(stderr, "bench_journal_resume: bad arguments or no MPI\n");
        return 2;
    }
    int rank = cv_mpi_rank(), size = cv_mpi_size();
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/cvmpi-bench-journal-%d", parent, size);
    int rc = rank == 0 ? write_files(dir, records, files) : 0;
    MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rc != 0) {
        cv_mpi_finalize();
        return 1;
    }
    MPI_Barrier(MPI_COMM_WORLD);
    uint64_t read0 = bytes_read_so_far();
    double t0 = MPI_Wtime();
    cv_journal *j = NULL;
    cv_status st = cv_journal_begin(dir, SIGNATURE, true, records, &j);
    double mine[2] = {MPI_Wtime() - t0, (double)(bytes_read_so_far() - read0) / 1e6}, most[2];
    MPI_Reduce(mine, most, 2, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    uint64_t done = st == CV_OK ? cv_journal_count_done(j) : 0;
    cv_journal_close(j);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        cv_journal_remove(dir);
        printf("%d\t%.3f\t%.1f\t%" PRIu64 "\n", size, most[0], most[1], done);
        if (st != CV_OK || done != records) {
            fprintf(stderr, "bench_journal_resume: %" PRIu64 " tasks done, want %" PRIu64 "\n",
                    done, records);
            rc = 1;
        }
    }
    cv_mpi_finalize();
    return rc;
}
