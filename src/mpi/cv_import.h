/* SPDX-License-Identifier: BSD-3-Clause
 * cv_import.h: `cvmpi import`, a source (an HDF5 dataset, or a stack of its files along z) into
 * a new layer across ranks. Collective over MPI_COMM_WORLD; every rank returns the same status
 * and rank 0 prints the summary. The formats are behind cv_import_source.h. */
#ifndef CV_IMPORT_H
#define CV_IMPORT_H

#include "mpi/cv_mpi.h"

typedef struct cv_import_params {
    const char *src;      /* FILE.h5:/DATASET, FILE_*.h5:/DATASET or @LIST.txt:/DATASET */
    const char *dst;      /* layer cloud path */
    const char *axes;     /* dataset axis order, slowest first ("zyx"); NULL = zyx or zyxc */
    const char *type;     /* NULL = segmentation for uint32/uint64, else image */
    double resolution[3]; /* nm; wins over the dataset's resolution attributes */
    bool has_resolution, resolution_is_float;
    int64_t offset[3];     /* voxel_offset */
    int64_t chunk_size[3]; /* 0,0,0 = 64,64,64 */
    const char *encoding;  /* NULL = raw */
    const char *compress;  /* NULL = CloudVolume's default; "" none */
    size_t memory;         /* per rank; 0 = default */
    int threads;           /* chunk workers per rank */
    bool resume;
    bool is_collective;      /* accepted for compatibility: slab reads are collective */
    bool is_independent;     /* each task reads its own box (dynamic schedule, no exchange) */
    bool sharded;            /* shard scale 0 as CloudVolume shards images */
    size_t shard_bytes;      /* target uncompressed shard size for sharded; 0 = 3.5e9 */
    const char *journal_dir; /* NULL = cv_journal_dir's default */
    bool keep_journal;       /* keep the journal after a successful job */
    bool dry_run;            /* print the plan (rank 0); create, read and write nothing */
    bool has_level;          /* level: transport compression level (gzip 0-12, br 0-11) */
    int level;
    bool *conflict;         /* or NULL: set when an option conflicts with an existing DST (usage) */
    cv_info **planned_info; /* or NULL: with dry_run, gets a copy of the layer's info as the
                             * import would leave it (the caller frees it) */
    /* or NULL: called on every rank before the layer is created or anything written, with
     * its info as the import derives it from the source; an error stops the job. Not with
     * dry_run. */
    cv_status (*before_write)(const cv_info *planned, void *arg);
    void *before_write_arg;
} cv_import_params;

cv_status cv_mpi_import(const cv_import_params *p);

#endif
