/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_failures.c: collecting failed tasks across ranks (see cv_failures.h). */
#include "mpi/cv_failures.h"

#include "mpi/cv_collective.h"
#include "mpi/cv_report.h"

#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

void cv_failures_init(cv_failures *f)
{
    cv__buf_init(&f->text, 0);
    f->count = 0;
}

void cv_failures_fini(cv_failures *f)
{
    cv__buf_fini(&f->text);
}

void cv_failures_note(cv_failures *f, uint64_t id, cv_bbox box, const char *why)
{
    char b[160], line[1400];
    cv_bbox_format(box, b, sizeof b);
    snprintf(line, sizeof line, "  task %" PRIu64 " box %s (rank %d): %s\n", id, b, cv_mpi_rank(),
             why);
    f->count++;
    cv_report_note_failure(id, b, why);
    if (f->count <= CV_FAILURES_LISTED) {
        cv__buf_append(&f->text, line, strlen(line));
    }
}

char *cv_failures_gather(const cv_failures *f, uint64_t *total)
{
    *total = f->count;
    if (!cv_mpi_active()) {
        return cv__strndup(f->text.data ? (const char *)f->text.data : "", f->text.len);
    }
    uint64_t count = f->count;
    cv_coll_allreduce(&count, total, 1, MPI_UINT64_T, MPI_SUM, "the failure count");
    int size = cv_mpi_size(), len = (int)f->text.len;
    bool root = cv_mpi_rank() == 0;
    int *lens = root ? cv_calloc((size_t)size, sizeof *lens) : NULL;
    int *displs = root ? cv_calloc((size_t)size, sizeof *displs) : NULL;
    cv_coll_gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, "the failure lists' lengths");
    int sum = 0;
    for (int r = 0; root && r < size; r++) {
        displs[r] = sum;
        sum += lens[r];
    }
    char *all = cv_calloc((size_t)sum + 1, 1);
    cv_coll_gatherv(f->text.data, len, MPI_CHAR, all, lens, displs, MPI_CHAR, 0,
                    "the failure lists");
    cv_free(lens);
    cv_free(displs);
    return all;
}
