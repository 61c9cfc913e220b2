/* SPDX-License-Identifier: BSD-3-Clause
 * cv_verify.h: `cvmpi verify A B`, comparing the decoded content of two layers chunk by chunk
 * across ranks. Collective. */
#ifndef CV_VERIFY_H
#define CV_VERIFY_H

#include "mpi/cv_mpi.h"

typedef struct cv_verify_params {
    const char *a, *b;
    const char *mip_text;  /* index or resolution of A; B's scale has the same resolution */
    const char *bbox_text; /* NULL = the whole volume */
    bool fill_missing;     /* absent chunks read as background instead of "missing in A/B" */
    size_t memory;
    int threads;
    bool dry_run; /* print the plan (rank 0) and read no chunk */
} cv_verify_params;

/* CV_OK when the content is identical; CV_ERR_CORRUPT naming how many tasks differ otherwise
 * (rank 0 has printed the first difference of each). */
cv_status cv_mpi_verify(const cv_verify_params *p);

#endif
