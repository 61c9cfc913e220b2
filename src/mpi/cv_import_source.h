/* SPDX-License-Identifier: BSD-3-Clause
 * cv_import_source.h: what `cvmpi import` (mpi_import.c: rounds, slab exchange, resume,
 * --memory, --sharded) needs of an input format. A format fills a cv_import_source with the
 * source's shape, element type and storage chunks, and reads boxes of it; the import machinery
 * knows nothing else of the format. Every rank opens the same source and must get the same
 * description (the import agrees on every status). */
#ifndef CV_IMPORT_SOURCE_H
#define CV_IMPORT_SOURCE_H

#include "mpi/cv_import.h"

typedef struct cv_import_source cv_import_source;

typedef struct cv_import_source_ops {
    /* Fill ndims, ax, dims, zdim, dtype and n_parts (the parts of a stack checked against
     * the first: all but z must agree), and chunk/chunk_filtered. */
    cv_status (*describe)(cv_import_source *s, const cv_import_params *p);
    /* The resolution (x,y,z nm): --resolution wins; else the source's own metadata; else an
     * error naming the source and asking for --resolution (never a silent 1,1,1). */
    cv_status (*resolution)(cv_import_source *s, const cv_import_params *p, double res[3],
                            bool *is_float);
    /* Read `piece` (layer coordinates: the source's origin is at voxel_offset; all channels)
     * into buf in the source's own layout (C order of its axes `ax`, over the piece's
     * extents). `span` is the box every rank reads this round (all pass the same span when
     * `collective`, and each may pass an empty piece); buf == NULL (no memory) still takes
     * part in collective calls and fails afterwards. Errors name the file and the place. */
    cv_status (*read)(cv_import_source *s, cv_bbox span, cv_bbox piece, bool collective,
                      uint8_t *buf);
    /* Optional: the bytes a read of n voxels (x,y,z; starting on a multiple of step[d] from
     * the origin where step[d] > 0) holds beyond `buf` (decoded chunks). NULL = every
     * filtered chunk the read touches, decoded, plus one (see chunk, n_parts). */
    double (*held_bytes)(const cv_import_source *s, const int64_t n[3], const int64_t step[3]);
    /* Optional: true with *addr and *path when the whole source is one array of its dtype in
     * the source's axis order, stored as is at byte *addr of the file *path (each rank then
     * reads the box of its own tasks with pread: no slab round, no exchange). Local: no
     * collective calls. */
    bool (*direct)(cv_import_source *s, uint64_t *addr, const char **path);
    /* Release everything (collective where open was). Safe on a source that failed to open or
     * describe. */
    void (*close)(cv_import_source *s);
} cv_import_source_ops;

struct cv_import_source {
    const cv_import_source_ops *ops;
    void *state;             /* the format's own */
    const char *name;        /* what errors call the source's data (an HDF5 dataset's name) */
    int ndims;               /* 3, or 4 with channels */
    int ax[4];               /* the source's axes, slowest first (CV_AX_* of cv_slab.h) */
    int zdim;                /* index of z in ax */
    uint64_t dims[4];        /* extents in the order of ax; z is the whole stack's */
    cv_dtype dtype;          /* the layer's dtype; reads deliver it */
    size_t n_parts;          /* pieces (files) along z; each may add a chunk to a read's cost */
    int64_t chunk[4];        /* storage chunk grid along x,y,z,c (0 = contiguous, none) */
    bool chunk_filtered;     /* chunks are compressed: reading decodes whole chunks */
    const char *chunk_noun;  /* how --memory errors name the chunks ("compressed HDF5 chunks") */
    bool align_reads;        /* cut a round's slabs at chunk[] boundaries (each chunk is read by
                                one rank per round) where the round spans a chunk per rank */
    int64_t voxel_offset[3]; /* set by the import before reads: the layer's voxel_offset */
};

/* Open the source `p->src` names. On failure *out, when set, still needs closing.
 * HDF5: FILE.h5:/DATASET, a stack of such files or an @LIST.txt:/DATASET. Collective. */
cv_status cv__h5_source_open(const cv_import_params *p, cv_import_source **out);
/* TIFF: FILE.tif (pages along z), a glob of TIFF files or an @LIST.txt of them. */
cv_status cv__tiff_source_open(const cv_import_params *p, cv_import_source **out);
/* Whether `src` names a TIFF source: ends in .tif, .tiff, .btf or .tf8 (any case), or is a
 * list @LIST without :/DATASET. Pure. */
bool cv__tiff_is_spec(const char *src);
/* zarr v2: zarr://PATH or zarr://file://PATH, PATH the array's directory (with .zarray). */
cv_status cv__zarr_source_open(const cv_import_params *p, cv_import_source **out);
/* Whether `src` names a zarr array (starts with zarr://). Pure. */
bool cv__zarr_is_spec(const char *src);
/* --axes letters, slowest first, to CV_AX_* ids for a source of `rank` dimensions: x, y and z
 * once each, c at most once; errors name `dset` (HDF5's and zarr's default: zyx, zyxc). */
cv_status cv__import_parse_axes(const char *axes, int rank, const char *dset, int ax[4]);

#endif
