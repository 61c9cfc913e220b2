/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_report.c: writing a job's per-rank report (see cv_report.h). */
#include "cv_report.h"

#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#define N_FIELDS (sizeof(cv_rank_report) / sizeof(double))

static const char *const names[N_FIELDS] = {
    "tasks_done",     "tasks_skipped",  "tasks_failed",   "voxel_bytes",   "chunks_read",
    "chunks_written", "chunks_deleted", "chunks_missing", "bytes_read",    "bytes_written",
    "requests",       "retries",        "io_seconds",     "codec_seconds", "wall_seconds",
};

static void write_fields(FILE *f, const double *v)
{
    for (size_t i = 0; i < N_FIELDS; i++) {
        fprintf(f, "%s\"%s\": %.17g", i ? ", " : "", names[i], v[i]);
    }
}

cv_status cv_report_write(const char *path, const char *job, const cv_rank_report *mine)
{
    int size = cv_mpi_size();
    double *all = cv_mpi_rank() == 0 ? cv_calloc((size_t)size, sizeof *mine) : NULL;
    if (cv_mpi_active()) {
        MPI_Gather(mine, (int)N_FIELDS, MPI_DOUBLE, all, (int)N_FIELDS, MPI_DOUBLE, 0,
                   MPI_COMM_WORLD);
    } else if (all) {
        memcpy(all, mine, sizeof *mine);
    }
    cv_status rc = CV_OK;
    if (cv_mpi_rank() == 0) {
        FILE *f = fopen(path, "w");
        if (!f || !all) {
            rc = CV_FAIL(CV_ERR_IO, "write report `%s': %s", path, strerror(errno));
        } else {
            double total[N_FIELDS] = {0};
            fprintf(f, "{\"job\": \"%s\", \"ranks\": [\n", job);
            for (int r = 0; r < size; r++) {
                const double *v = all + (size_t)r * N_FIELDS;
                fprintf(f, "  {\"rank\": %d, ", r);
                write_fields(f, v);
                fprintf(f, "}%s\n", r + 1 < size ? "," : "");
                for (size_t i = 0; i < N_FIELDS; i++) {
                    total[i] += v[i];
                }
            }
            fprintf(f, "], \"total\": {");
            write_fields(f, total);
            fprintf(f, "}}\n");
            if (fclose(f) != 0) {
                rc = CV_FAIL(CV_ERR_IO, "write report `%s': %s", path, strerror(errno));
            }
            f = NULL;
        }
        if (f) {
            fclose(f);
        }
    }
    cv_free(all);
    return cv_mpi_agree(rc);
}
