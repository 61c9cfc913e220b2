/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_exchange_rechunk.c: one re-chunking exchange round. Each rank works out from the plan
 * alone which ranks it sends to and receives from and how many bytes (cv__x_traffic), makes
 * its buffers and reads the source chunks it owns in the round's box (or takes them from the
 * previous round of the same column) -- both usually while the previous round's outcome
 * reduction travels, which then also says every rank is ready; otherwise one readiness
 * reduction settles that. It posts its receives, cuts the piece of each source chunk for every
 * other rank's destination chunk of the round into that chunk's owner's message (ahead, with
 * the reads, when the round was made ready during the previous one) and sends the messages,
 * then places the pieces it keeps in its own chunks while they travel. Messages are
 * received as they come (MPI_Testsome under the collective deadline): their pieces go into the
 * destination chunks, and every chunk whose voxels are all in is encoded and written while the rest
 * still travel. Source chunks that reach into the column's next round stay in memory for it, so
 * none is read twice. A rank whose reads failed sends empty messages instead: its peers see the
 * failure, keep receiving (nobody is left waiting) and write nothing more; the outcome reduction
 * settles it. */
#include "mpi/cv_exchange_int.h"

#include "mpi/cv_collective.h"

#include <inttypes.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- re-chunking round ------------------------------------------------------------------- */

typedef struct piece_head {
    int64_t box[6];
} piece_head;

/* Point-to-point messages of the exchange (MPI_COMM_WORLD; the scheduler has its own
 * communicator). Rounds never mix: a round's messages are all received before its outcome
 * reduction, which every rank passes before sending the next round's. */
#define EXCHANGE_TAG 0x4358

typedef struct rechunk_round {
    cv_exchange *x;
    uint64_t round;
    cv_volume *src, *dst;
    int src_mip, dst_mip;
    cv_bbox box;
    held *mine; /* this rank's source chunks of the round */
    size_t n_mine;
    bool on_heap;   /* free_round frees the struct too */
    bool packed;    /* the messages are packed (made ready ahead), none sent yet */
    bool collected; /* mine is listed (and those kept from the previous round taken) */
    /* this rank's destination chunks */
    uint8_t **dbuf;
    cv_bbox *dbox;
    uint64_t *filled; /* voxels in so far */
    bool *written;    /* handed to the writers */
    size_t n_dst;
    long *slot; /* the round's destination cells (x fastest) -> chunk, -1: not ours */
    int64_t dmin[3], dn[3];
    size_t *ready; /* chunks complete and not written yet */
    size_t n_ready;
    /* traffic */
    cv_x_peer *sp, *rp; /* peers sent to / received from, by rank */
    int n_sp, n_rp;
    uint8_t *send;    /* the messages, peer after peer (not ours); x->send_arena, or the
                       * shared buffer when some peer is on this node (mpi_exchange_shm.c) */
    bool send_shared; /* `send` is the shared buffer: write into it after the acks */
    size_t *send_at;  /* n_sp: start of each peer's message in `send`, then its fill */
    size_t *send_end; /* n_sp: end of each peer's message in `send` */
    bool *sent;       /* n_sp */
    int *ridx;        /* n_rreq: MPI_Testsome's indices */
    MPI_Status *rst;  /* n_rreq: and statuses */
    uint8_t **rbuf;   /* n_rp: where each peer's message goes in x->recv_arena (not ours) */
    MPI_Request *sreq, *rreq;
    int *speer, *rpeer;  /* the rank of each request */
    int *rpeer_idx;      /* the rp index of each receive request */
    size_t *rpart;       /* the part number of each receive request */
    size_t *rparts_left; /* n_rp: parts not yet in */
    bool *rp_short;      /* n_rp: a part came short (the sender failed) */
    size_t n_sreq, n_rreq;
    cv_x_notice *snotice, *rnotice; /* n_sp, n_rp: to and from peers on this node */
    MPI_Request *ack_req;           /* n_rp: acknowledgements of notices read */
    int *ack_peer;
    size_t n_ack;
} rechunk_round;

static cv_status read_source(size_t i, int tid, void *arg)
{
    (void)tid;
    rechunk_round *rr = arg;
    held *h = &rr->mine[i];
    if (!h->to_read) {
        return CV_OK; /* read ahead, or kept from the previous round */
    }
    h->to_read = false;
    return cv_volume_read(rr->src, rr->src_mip, h->box, h->data, h->n);
}

static cv_status write_dest(size_t i, int tid, void *arg)
{
    (void)tid;
    rechunk_round *rr = arg;
    size_t s = rr->ready[i];
    return cv_volume_write(rr->dst, rr->dst_mip, rr->dbox[s], rr->dbuf[s],
                           cv_volume_box_bytes(rr->dst, rr->dbox[s]));
}

static bool same_column(const cv_exchange *x, uint64_t a, uint64_t b)
{
    return a / (uint64_t)x->zrounds == b / (uint64_t)x->zrounds;
}

/* List this rank's source chunks of the round, taking those kept from the previous round. */
static cv_status collect_sources(rechunk_round *rr)
{
    cv_exchange *x = rr->x;
    uint64_t round = rr->round;
    if (x->cache_round == UINT64_MAX || x->cache_round + 1 != round ||
        !same_column(x, x->cache_round, round)) {
        cv__x_drop_kept(x);
    }
    int64_t smin[3], smax[3], c[3];
    cv_grid_cells(&x->sg, rr->box, smin, smax);
    size_t cap = (size_t)((smax[0] - smin[0]) * (smax[1] - smin[1]) * (smax[2] - smin[2]));
    rr->mine = cv_calloc(cap ? cap : 1, sizeof *rr->mine);
    if (!rr->mine) {
        return CV_FAIL(CV_ERR_NOMEM, "exchange: %zu source chunks", cap);
    }
    rr->collected = true;
    int me = cv__x_rank();
    for (c[2] = smin[2]; c[2] < smax[2]; c[2]++) {
        for (c[1] = smin[1]; c[1] < smax[1]; c[1]++) {
            for (c[0] = smin[0]; c[0] < smax[0]; c[0]++) {
                if (cv__x_owner(&x->sg, c, x->ranks) != me) {
                    continue;
                }
                held *h = &rr->mine[rr->n_mine++];
                memcpy(h->cell, c, sizeof h->cell);
                h->box = cv_grid_cell_box(&x->sg, c);
                for (size_t k = 0; k < x->n_cache; k++) {
                    if (x->cache[k].data && memcmp(x->cache[k].cell, c, sizeof c) == 0) {
                        h->data = x->cache[k].data;
                        h->n = x->cache[k].n;
                        x->cache[k].data = NULL;
                    }
                }
            }
        }
    }
    cv__x_drop_kept(x);
    return CV_OK;
}

/* Read this rank's source chunks of the round (those not in memory already). Their buffers
 * are taken here, on the calling thread; the chunk threads only read into them. */
static cv_status gather_sources(rechunk_round *rr)
{
    if (!rr->collected) {
        CV_TRY(collect_sources(rr));
    }
    cv_exchange *x = rr->x;
    for (size_t i = 0; i < rr->n_mine; i++) {
        held *h = &rr->mine[i];
        if (h->data) {
            continue;
        }
        h->n = cv_volume_box_bytes(rr->src, h->box);
        h->data = h->n <= x->src_spares.bytes ? cv__x_take_chunk(x, &x->src_spares) : NULL;
        if (!h->data) {
            return CV_FAIL(CV_ERR_NOMEM, "exchange: source chunk of %zu bytes", h->n);
        }
        h->is_fresh = true;
        h->to_read = true;
    }
    return cv__parallel_for(rr->n_mine, x->threads, read_source, rr);
}

static void pack_ahead(rechunk_round *rr);

/* Read the next round's source chunks, and pack its messages, while the ranks settle this one.
 * A failed read is forgotten (its error too): the round reads the chunk again and fails then,
 * as it would have. */
static void read_ahead(rechunk_round *rr)
{
    if (gather_sources(rr) == CV_OK) {
        pack_ahead(rr);
        return;
    }
    for (size_t i = 0; i < rr->n_mine; i++) {
        held *h = &rr->mine[i];
        if (h->is_fresh) {
            cv__x_give_chunk(rr->x, &rr->x->src_spares, h->data);
            h->data = NULL;
            h->n = 0;
            h->is_fresh = false;
            h->to_read = false;
        }
    }
    cv_err_clear();
}

/* Keep the source chunks that reach into the column's next round; free the others. */
static void keep_for_next(rechunk_round *rr, uint64_t round)
{
    cv_exchange *x = rr->x;
    bool has_next = round + 1 < x->n_rounds && same_column(x, round, round + 1);
    size_t kept = 0;
    for (size_t i = 0; i < rr->n_mine; i++) {
        held *h = &rr->mine[i];
        if (has_next && h->box.max[2] > rr->box.max[2]) {
            rr->mine[kept] = *h;
            rr->mine[kept++].is_fresh = false;
        } else {
            cv__x_give_chunk(x, &x->src_spares, h->data);
        }
    }
    if (kept) {
        x->cache = rr->mine;
        x->n_cache = kept;
        x->cache_round = round;
    } else {
        cv_free(rr->mine);
    }
    rr->mine = NULL;
    rr->n_mine = 0;
}

/* ---- buffers ---------------------------------------------------------------------------- */

/* This rank's destination chunks of the round and the map from the round's cells to them. */
static cv_status make_destinations(rechunk_round *rr)
{
    cv_exchange *x = rr->x;
    int me = cv__x_rank();
    int64_t dmax[3], c[3];
    cv_grid_cells(&x->dg, rr->box, rr->dmin, dmax);
    size_t cells = 1;
    for (int d = 0; d < 3; d++) {
        rr->dn[d] = dmax[d] - rr->dmin[d];
        cells *= (size_t)rr->dn[d];
    }
    rr->slot = cv_malloc((cells ? cells : 1) * sizeof *rr->slot);
    rr->filled = cv_calloc(cells ? cells : 1, sizeof *rr->filled);
    rr->written = cv_calloc(cells ? cells : 1, sizeof *rr->written);
    rr->ready = cv_calloc(cells ? cells : 1, sizeof *rr->ready);
    rr->dbuf = cv_calloc(cells ? cells : 1, sizeof *rr->dbuf);
    rr->dbox = cv_calloc(cells ? cells : 1, sizeof *rr->dbox);
    if (!rr->slot || !rr->filled || !rr->written || !rr->ready || !rr->dbuf || !rr->dbox) {
        return CV_FAIL(CV_ERR_NOMEM, "exchange: %zu destination chunks", cells);
    }
    size_t k = 0;
    for (c[2] = rr->dmin[2]; c[2] < dmax[2]; c[2]++) {
        for (c[1] = rr->dmin[1]; c[1] < dmax[1]; c[1]++) {
            for (c[0] = rr->dmin[0]; c[0] < dmax[0]; c[0]++, k++) {
                rr->slot[k] = -1;
                if (cv__x_owner(&x->dg, c, x->ranks) != me) {
                    continue;
                }
                cv_bbox b = cv_grid_cell_box(&x->dg, c);
                size_t nb = (size_t)cv_bbox_voxels(b) * x->bpv;
                rr->slot[k] = (long)rr->n_dst;
                rr->dbox[rr->n_dst] = b;
                rr->dbuf[rr->n_dst] =
                    nb <= x->dst_spares.bytes ? cv__x_take_chunk(x, &x->dst_spares) : NULL;
                if (!rr->dbuf[rr->n_dst++]) {
                    return CV_FAIL(CV_ERR_NOMEM, "exchange: destination chunk of %zu bytes", nb);
                }
            }
        }
    }
    return CV_OK;
}

/* The send buffer, a receive buffer per peer and the requests, all before any data moves:
 * once the ranks agree they are ready, nothing of the trade can fail for want of memory. */
static cv_status make_buffers(rechunk_round *rr)
{
    cv_exchange *x = rr->x;
    int me = cv__x_rank();
    size_t lim = x->message_limit, total = 0, n_s = 0, n_r = 0;
    rr->send_at = cv_calloc((size_t)rr->n_sp + 1, sizeof *rr->send_at);
    rr->send_end = cv_calloc((size_t)rr->n_sp + 1, sizeof *rr->send_end);
    rr->sent = cv_calloc((size_t)rr->n_sp + 1, sizeof *rr->sent);
    rr->rbuf = cv_calloc((size_t)rr->n_rp + 1, sizeof *rr->rbuf);
    rr->rparts_left = cv_calloc((size_t)rr->n_rp + 1, sizeof *rr->rparts_left);
    rr->rp_short = cv_calloc((size_t)rr->n_rp + 1, sizeof *rr->rp_short);
    if (!rr->send_at || !rr->send_end || !rr->sent || !rr->rbuf || !rr->rparts_left ||
        !rr->rp_short) {
        return CV_FAIL(CV_ERR_NOMEM, "exchange: %d peers", rr->n_sp + rr->n_rp);
    }
    /* A peer on this node gets a notice (one part) and reads the message from `send`. */
    for (int i = 0; i < rr->n_sp; i++) {
        rr->send_at[i] = total;
        if (rr->sp[i].rank != me) {
            bool near = cv__x_shm_near(x, rr->sp[i].rank);
            rr->send_shared = rr->send_shared || near;
            total += rr->sp[i].bytes;
            n_s += near ? 1 : cv__x_parts(rr->sp[i].bytes, lim);
        }
        rr->send_end[i] = total;
    }
    size_t recv_total = 0;
    for (int i = 0; i < rr->n_rp; i++) {
        if (rr->rp[i].rank != me) {
            bool near = cv__x_shm_near(x, rr->rp[i].rank);
            n_r += near ? 1 : cv__x_parts(rr->rp[i].bytes, lim);
            recv_total += near ? 0 : rr->rp[i].bytes;
        }
    }
    rr->snotice = cv_calloc((size_t)rr->n_sp + 1, sizeof *rr->snotice);
    rr->rnotice = cv_calloc((size_t)rr->n_rp + 1, sizeof *rr->rnotice);
    rr->ack_req = cv_malloc(((size_t)rr->n_rp + 1) * sizeof *rr->ack_req);
    rr->ack_peer = cv_malloc(((size_t)rr->n_rp + 1) * sizeof *rr->ack_peer);
    if (!rr->snotice || !rr->rnotice || !rr->ack_req || !rr->ack_peer) {
        return CV_FAIL(CV_ERR_NOMEM, "exchange: %d peers", rr->n_sp + rr->n_rp);
    }
    /* Both kept from round to round (cv__x_arena): no fresh pages each round. */
    rr->send = rr->send_shared ? cv__x_shm_buffer(x, total) : cv__x_arena(x, &x->send_arena, total);
    uint8_t *recv = rr->send ? cv__x_arena(x, &x->recv_arena, recv_total) : NULL;
    rr->sreq = cv_malloc((n_s ? n_s : 1) * sizeof *rr->sreq);
    rr->speer = cv_malloc((n_s ? n_s : 1) * sizeof *rr->speer);
    rr->rreq = cv_malloc((n_r ? n_r : 1) * sizeof *rr->rreq);
    rr->rpeer = cv_malloc((n_r ? n_r : 1) * sizeof *rr->rpeer);
    rr->rpeer_idx = cv_malloc((n_r ? n_r : 1) * sizeof *rr->rpeer_idx);
    rr->rpart = cv_malloc((n_r ? n_r : 1) * sizeof *rr->rpart);
    rr->ridx = cv_malloc((n_r ? n_r : 1) * sizeof *rr->ridx);
    rr->rst = cv_malloc((n_r ? n_r : 1) * sizeof *rr->rst);
    if (!rr->send || !recv || !rr->sreq || !rr->speer || !rr->rreq || !rr->rpeer ||
        !rr->rpeer_idx || !rr->rpart || !rr->ridx || !rr->rst) {
        return CV_FAIL(CV_ERR_NOMEM, "exchange: %zu bytes to send to %d peers, %zu to receive",
                       total, rr->n_sp, recv_total);
    }
    for (size_t i = 0; i < n_s; i++) {
        rr->sreq[i] = MPI_REQUEST_NULL;
    }
    for (size_t i = 0; i < n_r; i++) {
        rr->rreq[i] = MPI_REQUEST_NULL;
    }
    for (int i = 0; i < rr->n_rp; i++) {
        if (rr->rp[i].rank != me && !cv__x_shm_near(x, rr->rp[i].rank)) {
            rr->rbuf[i] = recv;
            recv += rr->rp[i].bytes;
        }
    }
    return CV_OK;
}

/* Post every receive, part by part. */
static void post_receives(rechunk_round *rr)
{
    int me = cv__x_rank();
    size_t lim = rr->x->message_limit;
    for (int i = 0; i < rr->n_rp; i++) {
        if (rr->rp[i].rank == me) {
            continue;
        }
        if (cv__x_shm_near(rr->x, rr->rp[i].rank)) {
            size_t q = rr->n_rreq++;
            rr->rpeer[q] = rr->rp[i].rank;
            rr->rpeer_idx[q] = i;
            rr->rpart[q] = 0;
            rr->rparts_left[i] = 1;
            MPI_Irecv(&rr->rnotice[i], (int)sizeof rr->rnotice[i], MPI_BYTE, rr->rp[i].rank,
                      EXCHANGE_TAG, MPI_COMM_WORLD, &rr->rreq[q]);
            continue;
        }
        size_t parts = cv__x_parts(rr->rp[i].bytes, lim);
        rr->rparts_left[i] = parts;
        for (size_t k = 0; k < parts; k++) {
            size_t q = rr->n_rreq++;
            rr->rpeer[q] = rr->rp[i].rank;
            rr->rpeer_idx[q] = i;
            rr->rpart[q] = k;
            MPI_Irecv(rr->rbuf[i] + k * lim, (int)cv__x_part_len(rr->rp[i].bytes, lim, k), MPI_BYTE,
                      rr->rp[i].rank, EXCHANGE_TAG, MPI_COMM_WORLD, &rr->rreq[q]);
        }
    }
}

/* Send peer i's message (or, when this rank failed, as many empty parts: the peer learns of
 * the failure and stops waiting). */
static void send_to(rechunk_round *rr, int i, bool failed)
{
    size_t lim = rr->x->message_limit, bytes = rr->sp[i].bytes;
    const uint8_t *msg = rr->send + rr->send_end[i] - bytes;
    rr->sent[i] = true;
    if (cv__x_shm_near(rr->x, rr->sp[i].rank)) {
        cv__x_shm_notice(rr->x, rr->sp[i].rank, (size_t)(msg - rr->send), bytes, failed,
                         &rr->snotice[i]);
        size_t q = rr->n_sreq++;
        rr->speer[q] = rr->sp[i].rank;
        MPI_Isend(&rr->snotice[i], (int)sizeof rr->snotice[i], MPI_BYTE, rr->sp[i].rank,
                  EXCHANGE_TAG, MPI_COMM_WORLD, &rr->sreq[q]);
        return;
    }
    size_t parts = cv__x_parts(bytes, lim);
    for (size_t k = 0; k < parts; k++) {
        size_t q = rr->n_sreq++;
        rr->speer[q] = rr->sp[i].rank;
        MPI_Isend(failed ? msg : msg + k * lim, failed ? 0 : (int)cv__x_part_len(bytes, lim, k),
                  MPI_BYTE, rr->sp[i].rank, EXCHANGE_TAG, MPI_COMM_WORLD, &rr->sreq[q]);
    }
}

static void free_buffers(rechunk_round *rr)
{
    cv_free(rr->rbuf); /* the messages themselves are in the exchange's arenas */
    cv_free(rr->send_at);
    cv_free(rr->send_end);
    cv_free(rr->sent);
    cv_free(rr->ridx);
    cv_free(rr->rst);
    cv_free(rr->sreq);
    cv_free(rr->speer);
    cv_free(rr->rreq);
    cv_free(rr->rpeer);
    cv_free(rr->rpeer_idx);
    cv_free(rr->rpart);
    cv_free(rr->rparts_left);
    cv_free(rr->rp_short);
    cv_free(rr->snotice);
    cv_free(rr->rnotice);
    cv_free(rr->ack_req);
    cv_free(rr->ack_peer);
    cv_free(rr->sp);
    cv_free(rr->rp);
    for (size_t i = 0; rr->dbuf && i < rr->n_dst; i++) {
        cv__x_give_chunk(rr->x, &rr->x->dst_spares, rr->dbuf[i]);
    }
    cv_free(rr->dbuf);
    cv_free(rr->dbox);
    cv_free(rr->filled);
    cv_free(rr->written);
    cv_free(rr->ready);
    cv_free(rr->slot);
}

/* ---- pieces ----------------------------------------------------------------------------- */

/* Copy a piece into the destination chunk it belongs to; a chunk whose voxels are all in
 * becomes ready to write. */
static cv_status place_piece(rechunk_round *rr, cv_bbox piece, const uint8_t *data, cv_bbox frame)
{
    cv_exchange *x = rr->x;
    int64_t cmin[3], cmax[3];
    cv_grid_cells(&x->dg, piece, cmin, cmax);
    size_t idx = 0;
    bool inside = !cv_bbox_is_empty(piece);
    for (int d = 2; inside && d >= 0; d--) {
        inside =
            cmax[d] == cmin[d] + 1 && cmin[d] >= rr->dmin[d] && cmin[d] < rr->dmin[d] + rr->dn[d];
        idx = idx * (size_t)rr->dn[d] + (size_t)(cmin[d] - rr->dmin[d]);
    }
    long slot = inside ? rr->slot[idx] : -1;
    if (slot < 0 || !rr->dbuf[slot] ||
        rr->filled[slot] + cv_bbox_voxels(piece) > cv_bbox_voxels(rr->dbox[slot])) {
        char b[160];
        cv_bbox_format(piece, b, sizeof b);
        return CV_FAIL(CV_ERR_CORRUPT, "exchange: piece %s belongs to no chunk of this rank", b);
    }
    size_t s = (size_t)slot;
    cv__copy_region(cv_dtype_size(cv_volume_info(rr->dst)->dtype),
                    cv_volume_info(rr->dst)->num_channels, data, frame, rr->dbuf[s], rr->dbox[s],
                    piece);
    rr->filled[s] += cv_bbox_voxels(piece);
    if (rr->filled[s] == cv_bbox_voxels(rr->dbox[s])) {
        rr->ready[rr->n_ready++] = s;
    }
    return CV_OK;
}

static int peer_index(const cv_x_peer *peers, int n, int rank)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (peers[mid].rank == rank) {
            return mid;
        }
        if (peers[mid].rank < rank) {
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return -1;
}

/* Cut the pieces of this rank's source chunks that lie in destination chunks of the round:
 * those for other ranks' chunks (`remote`) after a head with its box into the message for the
 * chunk's owner (which leaves as soon as its last piece is in when `send_now`), or those for
 * this rank's own chunks straight into them. */
static cv_status cut_pieces(rechunk_round *rr, bool remote, bool send_now)
{
    cv_exchange *x = rr->x;
    int me = cv__x_rank();
    size_t elem = cv_dtype_size(cv_volume_info(rr->src)->dtype);
    int64_t channels = cv_volume_info(rr->src)->num_channels;
    if (remote && rr->send_shared) {
        cv__x_shm_wait_acks(x); /* every peer is done reading the last messages */
    }
    for (size_t i = 0; i < rr->n_mine; i++) {
        const held *h = &rr->mine[i];
        cv_bbox part = cv_bbox_intersect(h->box, rr->box);
        int64_t dmin[3], dmax[3], c[3];
        cv_grid_cells(&x->dg, part, dmin, dmax);
        for (c[2] = dmin[2]; c[2] < dmax[2]; c[2]++) {
            for (c[1] = dmin[1]; c[1] < dmax[1]; c[1]++) {
                for (c[0] = dmin[0]; c[0] < dmax[0]; c[0]++) {
                    int o = cv__x_owner(&x->dg, c, x->ranks);
                    if ((o != me) != remote) {
                        continue;
                    }
                    cv_bbox piece = cv_bbox_intersect(part, cv_grid_cell_box(&x->dg, c));
                    if (!remote) {
                        CV_TRY(place_piece(rr, piece, h->data, h->box));
                        continue;
                    }
                    int p = peer_index(rr->sp, rr->n_sp, o);
                    size_t bytes = cv__x_piece_bytes(x, piece);
                    if (p < 0 || rr->send_end[p] - rr->send_at[p] < bytes) {
                        return CV_FAIL(CV_ERR_CORRUPT,
                                       "exchange: a piece for rank %d was not planned", o);
                    }
                    uint8_t *at = rr->send + rr->send_at[p];
                    piece_head ph;
                    memcpy(ph.box, piece.min, 3 * sizeof(int64_t));
                    memcpy(ph.box + 3, piece.max, 3 * sizeof(int64_t));
                    memcpy(at, &ph, sizeof ph);
                    cv__copy_region(elem, channels, h->data, h->box, at + sizeof ph, piece, piece);
                    rr->send_at[p] += bytes;
                    if (send_now && rr->send_at[p] == rr->send_end[p]) {
                        send_to(rr, p, false);
                    }
                }
            }
        }
    }
    return CV_OK;
}

/* Pack the messages of a round made ready ahead, once its source chunks are read, so that
 * they leave the moment the round starts: a peer then waits only for the time MPI takes.
 * Nothing is sent; a failure is forgotten (the round packs again and fails then). */
static void pack_ahead(rechunk_round *rr)
{
    if (cut_pieces(rr, true, false) == CV_OK) {
        rr->packed = true;
        return;
    }
    for (int p = 0; p < rr->n_sp; p++) {
        rr->send_at[p] = rr->send_end[p] - (rr->sp[p].rank == cv__x_rank() ? 0 : rr->sp[p].bytes);
    }
    cv_err_clear();
}

/* The round's trade from this rank: every message leaves first (packed ahead, or cut and sent
 * one by one as they fill), then the pieces it keeps go into its own chunks while the
 * messages travel. After a failure here the messages not yet sent leave empty. */
static cv_status pack_and_send(rechunk_round *rr)
{
    int me = cv__x_rank();
    rr->x->rounds_packed_ahead += rr->packed;
    cv_status rc = rr->packed ? CV_OK : cut_pieces(rr, true, true);
    for (int p = 0; rc == CV_OK && p < rr->n_sp; p++) {
        if (rr->sp[p].rank != me && !rr->sent[p] && rr->send_at[p] == rr->send_end[p]) {
            send_to(rr, p, false);
        }
    }
    if (rc == CV_OK) {
        rc = cut_pieces(rr, false, false);
    }
    /* Every planned message leaves, whole or (after a failure here) empty. */
    for (int p = 0; p < rr->n_sp; p++) {
        if (rr->sp[p].rank != me && !rr->sent[p]) {
            if (rc == CV_OK) {
                rc = CV_FAIL(CV_ERR_CORRUPT, "exchange: the message for rank %d came short",
                             rr->sp[p].rank);
            }
            send_to(rr, p, true);
        }
    }
    return rc;
}

/* The pieces of a message received whole. */
static cv_status unpack(rechunk_round *rr, int i, const uint8_t *msg)
{
    size_t len = rr->rp[i].bytes;
    for (size_t at = 0; at < len;) {
        piece_head ph;
        cv_bbox piece;
        if (len - at < sizeof ph) {
            return CV_FAIL(CV_ERR_CORRUPT, "exchange: a piece header cut short");
        }
        memcpy(&ph, msg + at, sizeof ph);
        memcpy(piece.min, ph.box, sizeof piece.min);
        memcpy(piece.max, ph.box + 3, sizeof piece.max);
        size_t bytes = cv_bbox_is_empty(piece) ? 0 : cv__x_piece_bytes(rr->x, piece);
        if (bytes == 0 || bytes > len - at) {
            return CV_FAIL(CV_ERR_CORRUPT, "exchange: a piece from rank %d cut short",
                           rr->rp[i].rank);
        }
        CV_TRY(place_piece(rr, piece, msg + at + sizeof ph, piece));
        at += bytes;
    }
    return CV_OK;
}

/* Encode and write the chunks whose voxels are all in. */
static cv_status write_ready_from(rechunk_round *rr, size_t first)
{
    size_t n = rr->n_ready - first;
    if (n == 0) {
        return CV_OK;
    }
    /* write_dest takes ready[i]: shift the batch to the front of the list */
    if (first > 0) {
        size_t tmp[CV_MAX_THREADS];
        memcpy(tmp, rr->ready + first, n * sizeof *tmp);
        memmove(rr->ready + n, rr->ready, first * sizeof *rr->ready);
        memcpy(rr->ready, tmp, n * sizeof *tmp);
    }
    cv_status rc = cv__parallel_for(n, rr->x->threads, write_dest, rr);
    for (size_t i = 0; i < n; i++) {
        size_t s = rr->ready[i];
        rr->written[s] = true;
        cv__x_give_chunk(rr->x, &rr->x->dst_spares, rr->dbuf[s]); /* for the chunks to come */
        rr->dbuf[s] = NULL;
    }
    memmove(rr->ready, rr->ready + n, (rr->n_ready - n) * sizeof *rr->ready);
    rr->n_ready -= n;
    return rc;
}

/* Encode and write up to one chunk per thread of those whose voxels are all in. */
static cv_status write_some(rechunk_round *rr)
{
    size_t k = rr->n_ready < (size_t)rr->x->threads ? rr->n_ready : (size_t)rr->x->threads;
    return write_ready_from(rr, rr->n_ready - k);
}

/* A notice from peer i (`got` bytes) on this node: its message is read from the peer's buffer
 * (unless this rank or a peer failed), then acknowledged whatever happened. */
static cv_status take_notice(rechunk_round *rr, int i, int got, cv_status rc, bool *peer_failed)
{
    const cv_x_notice *n = &rr->rnotice[i];
    int from = rr->rp[i].rank;
    rr->rparts_left[i] = 0;
    if ((size_t)got != sizeof *n || n->failed) {
        if (got != 0 && (size_t)got != sizeof *n && rc == CV_OK) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "exchange: a notice of %d bytes from rank %d", got, from);
        }
        rr->rp_short[i] = true;
        *peer_failed = true;
    } else if (rc == CV_OK && !*peer_failed) {
        const uint8_t *msg = NULL;
        rc = cv__x_shm_message(rr->x, from, n, rr->rp[i].bytes, &msg);
        if (rc == CV_OK) {
            rr->x->shm.messages_shared++;
            rc = unpack(rr, i, msg);
        }
    }
    rr->ack_peer[rr->n_ack] = from;
    cv__x_shm_ack(from, &rr->ack_req[rr->n_ack++]);
    return rc;
}

/* Receive every message as it comes, placing its pieces, and write the chunks they complete
 * (while `rc` is CV_OK and no peer failed) a few at a time between looks at the messages: MPI
 * moves a large message only while both ranks are in an MPI call, so a rank that wrote all
 * its chunks at once would hold up the peers sending to it. Every receive completes whatever
 * happens, so no sender is left waiting. */
static cv_status receive_all(rechunk_round *rr, cv_status rc, bool *peer_failed)
{
    size_t lim = rr->x->message_limit;
    for (;;) {
        bool writing = rc == CV_OK && !*peer_failed && rr->n_ready > 0;
        int done = MPI_UNDEFINED;
        if (rr->n_rreq > 0 && writing) {
            MPI_Testsome((int)rr->n_rreq, rr->rreq, &done, rr->ridx, rr->rst);
        } else if (rr->n_rreq > 0) {
            cv_coll_waitsome((int)rr->n_rreq, rr->rreq, rr->rpeer, &done, rr->ridx, rr->rst,
                             "the exchange of chunk data");
        }
        if (done == MPI_UNDEFINED && !writing) {
            break; /* every message is in and nothing is left to write */
        }
        for (int k = 0; k < done; k++) {
            int q = rr->ridx[k], i = rr->rpeer_idx[q], got = 0;
            MPI_Get_count(&rr->rst[k], MPI_BYTE, &got);
            if (cv__x_shm_near(rr->x, rr->rp[i].rank)) {
                rc = take_notice(rr, i, got, rc, peer_failed);
                continue;
            }
            if ((size_t)got != cv__x_part_len(rr->rp[i].bytes, lim, rr->rpart[q])) {
                if (got != 0 && rc == CV_OK) {
                    rc =
                        CV_FAIL(CV_ERR_CORRUPT, "exchange: %d bytes from rank %d, want %zu", got,
                                rr->rp[i].rank, cv__x_part_len(rr->rp[i].bytes, lim, rr->rpart[q]));
                }
                rr->rp_short[i] = true;
                *peer_failed = *peer_failed || got == 0;
            }
            if (--rr->rparts_left[i] == 0 && !rr->rp_short[i] && rc == CV_OK && !*peer_failed) {
                rc = unpack(rr, i, rr->rbuf[i]);
            }
            if (rr->rparts_left[i] == 0) {
                rr->rbuf[i] = NULL;
            }
        }
        if (rc == CV_OK && !*peer_failed) {
            rc = write_some(rr);
        }
    }
    return rc;
}

/* Tests stop a rank here, once the others may wait for its messages. */
static void test_read_delay(void)
{
    const char *delay = getenv("CVMPI_TEST_EXCHANGE_READ_DELAY_MS");
    long ms = delay ? strtol(delay, NULL, 10) : 0;
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* The round's buffers: nothing of its trade can fail for want of memory once they are made. */
static cv_status make_round(rechunk_round *rr)
{
    CV_TRY(cv__x_traffic(rr->x, rr->box, cv__x_rank(), &rr->sp, &rr->n_sp, &rr->rp, &rr->n_rp));
    CV_TRY(make_destinations(rr));
    return make_buffers(rr);
}

static void init_round(rechunk_round *rr, cv_exchange *x, uint64_t round, cv_volume *src,
                       cv_volume *dst)
{
    *rr = (rechunk_round){.x = x,
                          .round = round,
                          .src = src,
                          .dst = dst,
                          .src_mip = x->src_mip,
                          .dst_mip = x->dst_mip,
                          .box = cv_exchange_round_box(x, round)};
}

static void free_round(rechunk_round *rr)
{
    if (!rr) {
        return;
    }
    free_buffers(rr);
    for (size_t i = 0; rr->mine && i < rr->n_mine; i++) {
        cv__x_give_chunk(rr->x, &rr->x->src_spares, rr->mine[i].data);
    }
    cv_free(rr->mine);
    if (rr->on_heap) {
        cv_free(rr);
    }
}

void cv__x_drop_next(cv_exchange *x)
{
    free_round(x->next);
    x->next = NULL;
}

/* The next round made ready while this one is settled: its buffers (whether every rank could
 * make them is settled in the same reduction), then, during that reduction, its source
 * chunks. NULL when there is none to make, or this rank could not. */
static rechunk_round *make_next(cv_exchange *x, uint64_t next, cv_volume *src, cv_volume *dst)
{
    rechunk_round *nx = cv_calloc(1, sizeof *nx);
    if (!nx) {
        cv_err_clear();
        return NULL;
    }
    init_round(nx, x, next, src, dst);
    nx->on_heap = true;
    if (make_round(nx) != CV_OK) {
        free_round(nx);
        cv_err_clear();
        return NULL;
    }
    return nx;
}

cv_status cv__x_round_rechunk(cv_exchange *x, uint64_t round, uint64_t next, cv_volume *src,
                              cv_volume *dst, bool stop_here, cv_exchange_result *out)
{
    int me = cv__x_rank();
    bool ranks = cv_mpi_active() && x->ranks > 1;
    if (ranks) {
        cv__x_shm_setup(x); /* once, in the first round every rank runs */
    }
    /* The round made ready at the end of the previous one: every rank made its buffers. */
    bool ready = x->next && x->next->round == round;
    rechunk_round here, *rr = ready ? x->next : &here;
    x->next = ready ? NULL : x->next;
    cv__x_drop_next(x);
    cv_status rc = CV_OK;
    if (!ready) {
        init_round(rr, x, round, src, dst);
        rc = make_round(rr);
    }
    bool peer_failed = false;
    if (ranks) {
        if (!ready) {
            /* The one step before data moves where a rank may be unable to take part
             * (memory): then nobody sends. After it every message is sent and received
             * whatever fails. */
            int bad = rc != CV_OK, any_bad = 0;
            cv_coll_allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX,
                              "the exchange's readiness check");
            peer_failed = any_bad && rc == CV_OK;
            if (any_bad) {
                cv__x_drop_kept(x);
                goto agree;
            }
        }
        post_receives(rr);
        test_read_delay();
    }
    if (rc == CV_OK) {
        rc = gather_sources(rr);
    }
    for (size_t i = 0; rc == CV_OK && i < rr->n_mine; i++) {
        out->voxel_bytes += rr->mine[i].is_fresh ? rr->mine[i].n : 0;
    }
    if (rc == CV_OK) {
        rc = pack_and_send(rr);
    } else {
        for (int p = 0; p < rr->n_sp; p++) {
            if (rr->sp[p].rank != me) {
                send_to(rr, p, true);
            }
        }
    }
    if (rc == CV_OK) {
        keep_for_next(rr, round);
    } else {
        cv__x_drop_kept(x);
    }
    rc = receive_all(rr, rc, &peer_failed);
    if (rr->n_sreq > 0) {
        cv_coll_waitall((int)rr->n_sreq, rr->sreq, rr->speer, "the exchange of chunk data");
    }
    if (rr->n_ack > 0) {
        cv_coll_waitall((int)rr->n_ack, rr->ack_req, rr->ack_peer,
                        "the exchange's acknowledgements of shared messages");
    }
    for (size_t s = 0; rc == CV_OK && !peer_failed && s < rr->n_dst; s++) {
        if (!rr->written[s]) {
            char b[160];
            cv_bbox_format(rr->dbox[s], b, sizeof b);
            rc = CV_FAIL(CV_ERR_CORRUPT,
                         "exchange: destination chunk %s got %" PRIu64 " of its %" PRIu64 " voxels",
                         b, rr->filled[s], cv_bbox_voxels(rr->dbox[s]));
        }
    }
agree:
    /* This round's buffers go back (to the spares) before the next round's are taken, so the
     * two never add up; the next round's source chunks are read while the outcome travels. A rank
     * that failed makes nothing ahead (its error record must reach the others unchanged). */
    free_round(rr);
    rechunk_round *nx = NULL;
    if (ranks && rc == CV_OK && !peer_failed && !stop_here && next == round + 1 &&
        next < x->n_rounds) {
        nx = make_next(x, next, src, dst);
    }
    cv_x_agreement a;
    cv__x_agree_start(&a, rc, stop_here, nx != NULL);
    if (nx) {
        read_ahead(nx);
    }
    bool next_ready = false;
    rc = cv__x_agree_finish(&a, rc, out, &next_ready);
    if (rc == CV_OK && next_ready && !out->stop) {
        x->next = nx;
    } else {
        free_round(nx);
    }
    if (rc != CV_OK) {
        cv__x_drop_kept(x);
    }
    return rc;
}
