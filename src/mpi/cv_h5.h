/* SPDX-License-Identifier: BSD-3-Clause
 * cv_h5.h: `cvmpi import` and `cvmpi export`, HDF5 datasets to and from layers across ranks with
 * parallel HDF5 (MPI-IO). Only mpi_h5.c includes <hdf5.h>. Both are collective over
 * MPI_COMM_WORLD; every rank returns the same status and rank 0 prints the summary. */
#ifndef CV_H5_H
#define CV_H5_H

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
    bool *conflict; /* or NULL: set when an option conflicts with an existing DST (usage) */
} cv_import_params;

typedef struct cv_export_params {
    const char *src;       /* layer cloud path */
    const char *dst;       /* FILE.h5:/DATASET */
    const char *mip_text;  /* NULL = 0 */
    const char *bbox_text; /* NULL = the whole volume */
    const char *axes;      /* NULL = zyx (zyxc with channels) */
    int64_t chunked[3];    /* HDF5 chunk shape in x,y,z; 0,0,0 = contiguous (unless gzip) */
    int gzip;              /* deflate level 1..9; 0 = none */
    size_t memory;
    int threads;
    bool fill_missing;
} cv_export_params;

cv_status cv_mpi_import(const cv_import_params *p);
cv_status cv_mpi_export(const cv_export_params *p);

/* A cutout for cv_h5_write_cutout: what export records in the attributes. */
typedef struct cv_h5_cutout {
    cv_dtype dtype;
    int64_t channels;
    cv_bbox box;          /* absolute voxels of the mip; its min is voxel_offset */
    double resolution[3]; /* nm of the mip */
    const char *source;   /* the layer's URL */
} cv_h5_cutout;

/* Whether `s` names an HDF5 dataset, FILE.h5:/DATASET (also .hdf5, .hdf, .he5). Pure. */
bool cv_h5_is_spec(const char *s);
/* Write `data` (x fastest, channel slowest) as a new dataset in axis order zyx (zyxc with
 * channels) with the attributes export writes. A new file appears whole or not at all; in an
 * existing file a failed dataset is removed again. Single process, not collective. */
cv_status cv_h5_write_cutout(const char *spec, const cv_h5_cutout *c, const void *data);

/* Read the dataset `spec` (FILE.h5:/DATASET) into `data` (x fastest, channel slowest) for a
 * box of `shape` voxels (x,y,z) and `channels`: dtype and dims must match, in axis order
 * `axes` ("zyx", the default for NULL, or "xyz"; zyxc/xyzc with channels). A dataset whose
 * dims are the box transposed is refused naming the other --axes. Single process. */
cv_status cv_h5_read_cutout(const char *spec, cv_dtype dtype, int64_t channels,
                            const int64_t shape[3], const char *axes, void *data);

#endif
