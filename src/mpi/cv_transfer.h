/* SPDX-License-Identifier: BSD-3-Clause
 * cv_transfer.h: `cvmpi transfer`, copying (and re-encoding) one mip of a layer to another
 * across ranks. Collective over MPI_COMM_WORLD (or a single process without MPI). */
#ifndef CV_TRANSFER_H
#define CV_TRANSFER_H

#include "mpi/cv_mpi.h"

typedef struct cv_transfer_params {
    const char *src, *dst;
    const char *mip_text;  /* index or resolution; NULL = every scale (mip 0 with bbox_text) */
    const char *bbox_text; /* NULL = the whole volume */
    const char *encoding;  /* NULL = the source's */
    const char *compress;  /* NULL = CloudVolume's default; "" none */
    bool has_level;        /* level: transport compression level (gzip 0-12, br 0-11) */
    int level;
    int64_t chunk_size[3]; /* 0,0,0 = the source's */
    bool fill_missing, delete_black, skip_existing, resume, fail_fast, dry_run, is_static;
    size_t memory;           /* per rank; 0 = default */
    int threads;             /* chunk workers per rank */
    bool sharded;            /* new destinations: shard the mip as CloudVolume does images */
    const char *sharding;    /* new destinations: this sharding JSON, or an array of one per
                              * scale written: the copied ones, then sharding_after more */
    int sharding_after;      /* --sharding array: objects for the new levels (--downsample) */
    size_t shard_bytes;      /* target uncompressed shard size for --sharded; 0 = 3.5e9 */
    const char *journal_dir; /* NULL = cv_journal_dir's default */
    bool keep_journal;       /* keep the journal after a successful job */
    bool check;              /* copy path: decode every copied chunk before writing it */
    const char *report_path; /* --report FILE.json, or NULL */
    double stall_seconds;    /* name a rank on one task this long; 0 = 300 */
    bool decode;             /* never copy stored chunks as they are: decode and encode all */
    bool *conflict;        /* or NULL: set when an option conflicts with the destination (usage) */
    char *last_resolution; /* or NULL: gets the resolution "X,Y,Z" of the last scale copied */
    size_t last_resolution_cap;
    int *scales_copied; /* or NULL: gets the number of scales copied */
    /* or NULL: with dry_run, gets the destination's info as the job would leave it (the
     * caller frees it), for planning what follows (--downsample) */
    cv_info **planned_info;
    /* or NULL: called on every rank once every scale is planned, before anything is written,
     * with the destination's info as the job would leave it (last_resolution and
     * scales_copied are set by then); an error stops the job (--downsample plans its pyramid
     * here). Not with dry_run. */
    cv_status (*before_write)(const cv_info *planned, void *arg);
    void *before_write_arg;
} cv_transfer_params;

/* Run the job: one scale (mip_text) or every scale of the source, one after another. DST's
 * info never declares a scale the job did not write that was not there before: a new DST gets
 * the copied scales, an existing one gains the missing ones. Options that contradict an existing
 * scale of DST (encoding, chunk size, sharding) fail before anything is written, with *conflict
 * set. Every rank returns the same status; rank 0 has printed the summary and every failure. */
cv_status cv_mpi_transfer(const cv_transfer_params *p);
/* Set by the SIGTERM handler: ranks stop claiming tasks, flush the journal and exit. */
void cv_mpi_install_signal_handlers(void);
bool cv_mpi_terminated(void);

#endif
