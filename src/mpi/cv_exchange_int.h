/* SPDX-License-Identifier: BSD-3-Clause
 * cv_exchange_int.h: internals shared by the exchange files: mpi_exchange.c (planning, the
 * plan printout, agreement and the MPI_Alltoallv trade) and mpi_exchange_rechunk.c (a
 * re-chunking round). Not for other callers. */
#ifndef CV_EXCHANGE_INT_H
#define CV_EXCHANGE_INT_H

#include "mpi/cv_exchange.h"

#include "volume/volume.h"

/* Per-peer byte counts of MPI_Alltoallv are ints: keep a rank's share of a round below this. */
#define MAX_SHARE ((double)(1u << 30))

typedef struct held {
    int64_t cell[3];
    cv_bbox box;
    uint8_t *data;
    size_t n;
    bool is_fresh; /* read in this round (not kept from the previous one) */
} held;

struct cv_exchange {
    cv_exchange_kind kind;
    int ranks, threads, src_mip, dst_mip;
    size_t memory, bpv;
    bool skip_existing;
    cv_grid sg, dg;
    cv_bbox region;
    uint64_t n_rounds;
    double est_peak; /* bytes per rank in the largest round, as planned */
    /* re-chunking */
    int64_t col[2], col_first[2], ncol[2], rows, zrounds;
    /* source chunks kept for the next round (re-chunking) */
    held *cache;
    size_t n_cache;
    uint64_t cache_round;
    int *ints; /* 4 x ranks: MPI counts and displacements of a trade */
};

/* Bytes of one full chunk of grid g (all channels). */
size_t cv__x_chunk_bytes(const cv_exchange *x, const cv_grid *g);
/* The rank that owns chunk `cell` of grid g: its linear grid index mod ranks. */
int cv__x_owner(const cv_grid *g, const int64_t cell[3], int ranks);
/* This rank (0 without MPI). */
int cv__x_rank(void);
/* Settle a round's outcome on every rank with one reduction (cv_mpi_agree only on failure):
 * failed_here on the lowest failing rank only, stop on every rank if any passed stop_here.
 * Collective. */
cv_status cv__x_agree(cv_status rc, bool stop_here, cv_exchange_result *out);
/* Send counts[r] bytes (packed rank after rank in `send`) to each rank r; *recv (free with
 * cv_free) gets what the others sent. `local` is this rank's status so far: if any rank failed
 * before the trade or cannot take part in it, nobody sends data: that rank returns its error,
 * the others CV_OK with *peer_failed. `counts` may be NULL when `local` failed. Collective. */
cv_status cv__x_trade(cv_exchange *x, cv_status local, const uint8_t *send, const size_t *counts,
                      uint8_t **recv, size_t *recv_len, bool *peer_failed);
/* One re-chunking round (see cv_exchange_round). Collective. */
cv_status cv__x_round_rechunk(cv_exchange *x, uint64_t round, cv_volume *src, cv_volume *dst,
                              bool stop_here, cv_exchange_result *out);

#endif
