/* SPDX-License-Identifier: BSD-3-Clause
 * cv_report.h: the per-rank numbers of a job (--report FILE.json): tasks, voxel bytes, chunk
 * and byte counts, I/O versus codec time. */
#ifndef CV_REPORT_H
#define CV_REPORT_H

#include "cv_mpi.h"

typedef struct cv_rank_report {
    double tasks_done, tasks_skipped, tasks_failed, voxel_bytes;
    double chunks_read, chunks_written, chunks_deleted, chunks_missing;
    double bytes_read, bytes_written, requests, retries;
    double io_seconds, codec_seconds, wall_seconds;
} cv_rank_report;

/* Collective: gather every rank's report on rank 0, which writes `path` as JSON
 * {"job": ..., "ranks": [{...}, ...], "total": {...}}. */
cv_status cv_report_write(const char *path, const char *job, const cv_rank_report *mine);

#endif
