/* SPDX-License-Identifier: BSD-3-Clause
 * cv_report.h: the report of an MPI job (--report FILE.json): the command line, source and
 * destination, start and wall time, and per rank its tasks, chunk and byte counts, I/O versus
 * codec time, failed tasks and error. Every job gets it through one hook in main(): the CLI
 * names the file and the command's paths; the scheduler, the failure list and closed volume
 * handles feed the figures; a job with figures of its own (transfer) hands them over. */
#ifndef CV_REPORT_H
#define CV_REPORT_H

#include "mpi/cv_mpi.h"

typedef struct cv_rank_report {
    double tasks_done, tasks_skipped, tasks_failed, voxel_bytes;
    double chunks_read, chunks_written, chunks_deleted, chunks_missing;
    double bytes_read, bytes_written, requests, retries;
    double io_seconds, codec_seconds, wall_seconds;
} cv_rank_report;

/* main(): the command line, and the job's start (wall clock for the report, monotonic for its
 * duration). */
void cv_report_begin(int argc, char **argv);
/* --report FILE (NULL: none). Copied. */
void cv_report_set_path(const char *path);
const char *cv_report_path(void);
/* The command's name and positional arguments (the last two are source and destination; one
 * is both). Copied. */
void cv_report_set_args(const char *job, int n, char *const *args);
/* A job's own per-rank figures, replacing the ones gathered from counters. */
void cv_report_set_figures(const cv_rank_report *mine);
/* Counters behind the figures: a finished task (scheduler), a failed one (failure list). */
void cv_report_count_task(void);
void cv_report_note_failure(uint64_t id, const char *box, const char *why);

/* Collective when MPI is active: write the report if one was asked for, with `job_rc` this
 * rank's outcome (its error is cv_err_last()). CV_OK, or the failure to write it. */
cv_status cv_report_finish(cv_status job_rc);
/* Free what the report kept (main(), after every command). */
void cv_report_end(void);

#endif
