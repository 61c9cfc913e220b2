/* SPDX-License-Identifier: BSD-3-Clause
 * cv_dcp.h: `cvmpi cp -r`, the copy of every object under a prefix to another store, on the
 * threads of one process or across MPI ranks (a dcp for object stores). Rank 0 lists the
 * source once (and, with --resume, the destination) and broadcasts the names to copy; rank r
 * copies the names whose place in that sorted list is r modulo the rank count, so each object
 * is copied exactly once. Resuming skips the objects already at the destination with the size
 * they have at the source (objects are written whole: a killed copy leaves none half written). */
#ifndef CV_DCP_H
#define CV_DCP_H

#include "base/cv_internal.h"

typedef struct cv_dcp_opts {
    const char *src, *dst; /* the two prefixes, as cloud paths */
    const char *compress;  /* NULL: as stored; "": uncompressed; "gzip"/"br" */
    int level;             /* compression level, -1 default */
    int threads;           /* copies in flight per rank */
    bool resume;
    /* The Content-Type an object named `name` is stored with. */
    const char *(*content_type)(const char *name);
} cv_dcp_opts;

typedef struct cv_dcp_result {
    uint64_t copied, skipped; /* objects, over every rank */
    uint64_t bytes;           /* stored bytes read from the source for the copied objects */
} cv_dcp_result;

/* Collective. Every rank gets the same status (the lowest failing rank's error record, which
 * names the object) and result. */
cv_status cv_dcp_run(const cv_dcp_opts *o, cv_dcp_result *out);

#endif
