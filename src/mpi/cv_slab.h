/* SPDX-License-Identifier: BSD-3-Clause
 * cv_slab.h: the slab exchange of `cvmpi import` (the design card's halo exchange). In each
 * round the ranks read one group box of the source as `size` slabs cut along one axis (the
 * source's slowest, for large contiguous file reads, or the next when the box is too thin for
 * every rank to get a plane; not aligned to any chunk), then trade the pieces
 * with MPI_Alltoallv so that every task box of the group is assembled whole, x fastest, on the
 * rank that owns it. No HDF5 here: the caller reads the slabs. */
#ifndef CV_SLAB_H
#define CV_SLAB_H

#include "mpi/cv_mpi.h"

enum { CV_AX_X = 0, CV_AX_Y = 1, CV_AX_Z = 2, CV_AX_C = 3 };

/* How a slab is laid out in memory: the source's axis order, slowest first (CV_AX_* ids);
 * a 3-D source has no CV_AX_C and one channel. */
typedef struct cv_slab_layout {
    int ndims;
    int ax[4];
    int64_t channels;
    size_t elem_size;
} cv_slab_layout;

/* Strides (in elements) of axes x,y,z,c in a C-order array of the source's axis order whose
 * extents per axis are n; axes the source lacks get stride 0. Pure. */
void cv__slab_strides(const cv_slab_layout *l, const int64_t n[4], int64_t st[4]);
/* Strides of the volume layout: x fastest, then y, z, channel slowest. Pure. */
void cv__slab_xfast_strides(const int64_t n[4], int64_t st[4]);
/* Copy n (x,y,z,c) elements of `es` bytes between two layouts given by their strides. */
void cv__slab_permute(const uint8_t *src, const int64_t ss[4], uint8_t *dst, const int64_t ds[4],
                      const int64_t n[4], size_t es);

/* Piece `r` of `size` of `group`, cut along volume axis `axis` (0..2) into near-equal
 * thicknesses (the first extent % size pieces one thicker). May be empty. Pure. */
cv_bbox cv__slab_piece(cv_bbox group, int axis, int r, int size);

/* One round: task boxes (inside `group`) and the rank that owns each. */
typedef struct cv_slab_round {
    cv_bbox group;
    int axis;             /* volume axis the group is cut along */
    const cv_bbox *boxes; /* n task boxes */
    const int *owner;     /* n owning ranks */
    size_t n;
    /* NULL, or per task: the owner writes it straight from its slab (the task lies inside the
     * owner's piece and the slab is x fastest): no buffer, no copy, bufs[i] stays NULL. */
    const bool *in_slab;
    /* > 1: cut the group at multiples of align_step from align_origin along `axis` (the
     * source's chunks), when it spans at least one such cell per rank, so that no two ranks
     * read one source chunk; else (0, 1, or fewer cells than ranks) cv__slab_piece's cut. */
    int64_t align_origin, align_step;
} cv_slab_round;

/* Rank r's piece of a round: cv__slab_piece, or aligned to the round's align_step. Pure. */
cv_bbox cv__slab_round_piece(const cv_slab_round *rd, int r, int size);

/* True when a slab in layout `l` is already x fastest, channel slowest (the volume layout):
 * a task inside a rank's piece can then be written from the slab as it is. Pure. */
bool cv__slab_is_xfast(const cv_slab_layout *l);

/* Buffers a job keeps from round to round (grown as needed; freed by the _fini). */
typedef struct cv_slab_scratch {
    uint8_t *slab, *send, *recv, *tasks;
    size_t slab_cap, send_cap, recv_cap, tasks_cap;
} cv_slab_scratch;

/* Make *p (of *cap bytes) hold at least n bytes; false when out of memory (*p unchanged). */
bool cv__slab_reserve(uint8_t **p, size_t *cap, size_t n);
void cv__slab_scratch_fini(cv_slab_scratch *s);

/* Trade pieces: sc->slab holds this rank's piece (cv__slab_round_piece(round, rank, size)) in
 * the layout `l`. On success bufs[i], for every i with owner[i] == rank, points into sc->tasks
 * at box i in x-fastest order, channel slowest (valid until the next exchange); other entries
 * are NULL. The parts of the piece this rank owns go straight from the slab into its buffers;
 * the rest travel. Memory: the slab, what this rank sends and receives, its task buffers.
 * Collective over MPI_COMM_WORLD (a plain copy without MPI); every rank returns the same
 * status. Errors: an exchanged piece over INT_MAX bytes, out of memory. */
cv_status cv__slab_exchange(const cv_slab_layout *l, const cv_slab_round *round,
                            cv_slab_scratch *sc, uint8_t **bufs);

#endif
