/* SPDX-License-Identifier: BSD-3-Clause
 * cv_downsample_job.h: `cvmpi downsample`, a whole-layer image pyramid in one MPI job: tasks read
 * the source once and make the levels that fit in memory; the levels above travel up a reduction
 * tree between ranks. Collective over MPI_COMM_WORLD (or a single process without MPI). */
#ifndef CV_DOWNSAMPLE_JOB_H
#define CV_DOWNSAMPLE_JOB_H

#include "mpi/cv_mpi.h"

typedef struct cv_downsample_params {
    const char *path;      /* the layer; new scales are added to its info */
    const char *mip_text;  /* source mip: index or resolution; NULL = 0 */
    int num_mips;          /* levels to make; 0 = igneous' default from volume and chunk sizes */
    int64_t factor[3];     /* per level; 0,0,0 = 2,2,1 */
    int method;            /* cv_downsample_method, or -1 = auto (average/mode by layer type) */
    bool sparse;           /* ignore background (0) voxels */
    const char *encoding;  /* of the new scales; NULL = scale 0's */
    int64_t chunk_size[3]; /* of the new scales; 0,0,0 = add_scale's default */
    const char *compress;  /* NULL = CloudVolume's default; "" none */
    bool has_level;        /* level: transport compression level (gzip 0-12, br 0-11) */
    int level;
    size_t memory; /* per rank; 0 = default */
    int threads;   /* chunk workers per rank */
    bool fill_missing, resume, dry_run, fail_fast, is_static;
    const char *journal_dir; /* NULL = cv_journal_dir's default */
    bool keep_journal;       /* keep the journal after a successful job */
    double stall_seconds;    /* name a rank on one task this long; 0 = 300 */
    bool *conflict;          /* or NULL: set when --level cannot apply to the new scales */
    /* Sharded new scales (cv_hashed.h per scale): `sharded` chooses parameters per scale as
     * Igneous' create_sharded_image_info with shards of about `shard_bytes` (0 = 3.5e9);
     * `sharding` is one sharding object for every new scale or a JSON array of one per scale. */
    bool sharded;
    const char *sharding;
    size_t shard_bytes;
    int sharding_first; /* a `sharding` array's object for the first new scale (transfer's array
                         * starts with the copied scales') */
    /* With dry_run: plan against this info (the layer as a transfer or import before it would
     * leave it) instead of the path's, which may not exist yet. NULL = the path's. */
    const cv_info *plan_info;
    bool check_only; /* plan against plan_info, print nothing, write nothing: a job that
                      * writes the copy first refuses a pyramid that cannot be made up front */
} cv_downsample_params;

/* Run the job. Every rank returns the same status; rank 0 has printed the plan (--dry-run) or
 * the summary and every failure. */
cv_status cv_mpi_downsample(const cv_downsample_params *p);

#endif
