/* SPDX-License-Identifier: BSD-3-Clause
 * cv_h5.h: `cvmpi export`, a layer to an HDF5 dataset across ranks with parallel HDF5 (MPI-IO),
 * and HDF5 cutouts for `read`/`write` (import is cv_import.h). Only mpi_h5.c includes <hdf5.h>.
 * Export is collective over MPI_COMM_WORLD; every rank returns the same status and rank 0
 * prints the summary. */
#ifndef CV_H5_H
#define CV_H5_H

#include "mpi/cv_import.h"

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
    bool bigtiff;            /* TIFF: BigTIFF whatever the size */
    const char *compressor;  /* zarr: "gzip" (NULL), "blosc" or "raw" */
    bool resume;             /* zarr: skip the tasks the journal says are done */
    const char *journal_dir; /* zarr: NULL = the default place (cv_journal_dir) */
    bool keep_journal;
} cv_export_params;

cv_status cv_mpi_export(const cv_export_params *p);
/* `cvmpi export SRC FILE.tif` or 'DIR/z_*.tif' (mpi_export_tiff.c): p->axes, chunked and gzip
 * must be unset. Collective. */
cv_status cv_mpi_export_tiff(const cv_export_params *p);
/* `cvmpi export SRC zarr://OUT` (mpi_export_zarr.c): p->axes and chunked must be unset.
 * Collective. */
cv_status cv_mpi_export_zarr(const cv_export_params *p);
/* Whether an export destination is a zarr array: it starts with zarr://. Pure. */
bool cv__zarr_is_output(const char *dst);
/* Whether an export destination is TIFF: it ends in .tif or .tiff (any case). Pure. */
bool cv__tiff_is_output(const char *dst);

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
