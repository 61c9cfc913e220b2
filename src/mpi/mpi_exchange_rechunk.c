/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_exchange_rechunk.c: one re-chunking exchange round. Each rank reads the source chunks it
 * owns in the round's box (or takes them from the previous round of the same column), cuts the
 * piece of each for every destination chunk of the round, sends it with its box to that
 * chunk's owner, then assembles its destination chunks whole and writes them. Source chunks
 * that reach into the column's next round stay in memory for it, so none is read twice. */
#include "mpi/cv_exchange_int.h"

#include <inttypes.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- re-chunking round ------------------------------------------------------------------- */

typedef struct piece_head {
    int64_t box[6];
} piece_head;

typedef struct rechunk_round {
    cv_exchange *x;
    cv_volume *src, *dst;
    int src_mip, dst_mip;
    held *mine; /* this rank's source chunks of the round */
    size_t n_mine;
    uint8_t **dbuf; /* this rank's destination chunks */
    cv_bbox *dbox;
    size_t n_dst;
} rechunk_round;

static cv_status read_source(size_t i, int tid, void *arg)
{
    (void)tid;
    rechunk_round *rr = arg;
    held *h = &rr->mine[i];
    if (h->data) {
        return CV_OK; /* kept from the previous round */
    }
    h->is_fresh = true;
    h->n = cv_volume_box_bytes(rr->src, h->box);
    h->data = cv_malloc(h->n ? h->n : 1);
    if (!h->data) {
        return CV_FAIL(CV_ERR_NOMEM, "exchange: source chunk of %zu bytes", h->n);
    }
    return cv_volume_read(rr->src, rr->src_mip, h->box, h->data, h->n);
}

static cv_status write_dest(size_t i, int tid, void *arg)
{
    (void)tid;
    rechunk_round *rr = arg;
    return cv_volume_write(rr->dst, rr->dst_mip, rr->dbox[i], rr->dbuf[i],
                           cv_volume_box_bytes(rr->dst, rr->dbox[i]));
}

static bool same_column(const cv_exchange *x, uint64_t a, uint64_t b)
{
    return a / (uint64_t)x->zrounds == b / (uint64_t)x->zrounds;
}

/* Read (or take from the cache) this rank's source chunks of the round. */
static cv_status gather_sources(rechunk_round *rr, uint64_t round, cv_bbox box)
{
    cv_exchange *x = rr->x;
    if (x->cache_round == UINT64_MAX || x->cache_round + 1 != round ||
        !same_column(x, x->cache_round, round)) {
        cv_exchange_drop_cache(x);
    }
    int64_t smin[3], smax[3], c[3];
    cv_grid_cells(&x->sg, box, smin, smax);
    size_t cap = (size_t)((smax[0] - smin[0]) * (smax[1] - smin[1]) * (smax[2] - smin[2]));
    rr->mine = cv_calloc(cap ? cap : 1, sizeof *rr->mine);
    if (!rr->mine) {
        return CV_FAIL(CV_ERR_NOMEM, "exchange: %zu source chunks", cap);
    }
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
    cv_exchange_drop_cache(x);
    return cv__parallel_for(rr->n_mine, x->threads, read_source, rr);
}

/* Cut every piece of this rank's source chunks that lies in a destination chunk of the round,
 * grouped by the destination chunk's owner: a piece_head then the voxels (x fastest). */
static cv_status pack_pieces(rechunk_round *rr, cv_bbox box, uint8_t **out, size_t *counts)
{
    cv_exchange *x = rr->x;
    int n = x->ranks;
    size_t elem = cv_dtype_size(cv_volume_info(rr->src)->dtype);
    int64_t channels = cv_volume_info(rr->src)->num_channels;
    memset(counts, 0, (size_t)n * sizeof *counts);
    for (int pass = 0; pass < 2; pass++) {
        size_t *at = NULL;
        if (pass == 1) {
            size_t total = 0;
            at = cv_calloc((size_t)n, sizeof *at);
            for (int r = 0; at && r < n; r++) {
                at[r] = total;
                total += counts[r];
            }
            *out = at ? cv_malloc(total ? total : 1) : NULL;
            if (!*out) {
                cv_free(at);
                return CV_FAIL(CV_ERR_NOMEM, "exchange: %zu bytes to send", total);
            }
        }
        for (size_t i = 0; i < rr->n_mine; i++) {
            const held *h = &rr->mine[i];
            cv_bbox part = cv_bbox_intersect(h->box, box);
            int64_t dmin[3], dmax[3], c[3];
            cv_grid_cells(&x->dg, part, dmin, dmax);
            for (c[2] = dmin[2]; c[2] < dmax[2]; c[2]++) {
                for (c[1] = dmin[1]; c[1] < dmax[1]; c[1]++) {
                    for (c[0] = dmin[0]; c[0] < dmax[0]; c[0]++) {
                        cv_bbox piece = cv_bbox_intersect(part, cv_grid_cell_box(&x->dg, c));
                        int o = cv__x_owner(&x->dg, c, n);
                        size_t bytes = (size_t)cv_bbox_voxels(piece) * x->bpv;
                        if (pass == 0) {
                            counts[o] += sizeof(piece_head) + bytes;
                            continue;
                        }
                        piece_head ph;
                        memcpy(ph.box, piece.min, 3 * sizeof(int64_t));
                        memcpy(ph.box + 3, piece.max, 3 * sizeof(int64_t));
                        memcpy(*out + at[o], &ph, sizeof ph);
                        cv__copy_region(elem, channels, h->data, h->box, *out + at[o] + sizeof ph,
                                        piece, piece);
                        at[o] += sizeof ph + bytes;
                    }
                }
            }
        }
        cv_free(at);
    }
    return CV_OK;
}

/* Keep the source chunks that reach into the column's next round; free the others. */
static void keep_for_next(rechunk_round *rr, uint64_t round, cv_bbox box)
{
    cv_exchange *x = rr->x;
    bool has_next = round + 1 < x->n_rounds && same_column(x, round, round + 1);
    size_t kept = 0;
    for (size_t i = 0; i < rr->n_mine; i++) {
        held *h = &rr->mine[i];
        if (has_next && h->box.max[2] > box.max[2]) {
            rr->mine[kept] = *h;
            rr->mine[kept++].is_fresh = false;
        } else {
            cv_free(h->data);
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

/* Make this rank's destination chunks of the round from the pieces received. */
static cv_status assemble(rechunk_round *rr, cv_bbox box, const uint8_t *recv, size_t len)
{
    cv_exchange *x = rr->x;
    int me = cv__x_rank();
    int64_t dmin[3], dmax[3], c[3], dn[3];
    cv_grid_cells(&x->dg, box, dmin, dmax);
    size_t cells = 1;
    for (int d = 0; d < 3; d++) {
        dn[d] = dmax[d] - dmin[d];
        cells *= (size_t)dn[d];
    }
    long *slot = cv_malloc(cells * sizeof *slot);
    uint64_t *filled = cv_calloc(cells, sizeof *filled);
    rr->dbuf = cv_calloc(cells, sizeof *rr->dbuf);
    rr->dbox = cv_calloc(cells, sizeof *rr->dbox);
    if (!slot || !filled || !rr->dbuf || !rr->dbox) {
        cv_free(slot);
        cv_free(filled);
        return CV_FAIL(CV_ERR_NOMEM, "exchange: %zu destination chunks", cells);
    }
    cv_status rc = CV_OK;
    size_t k = 0;
    for (c[2] = dmin[2]; c[2] < dmax[2]; c[2]++) {
        for (c[1] = dmin[1]; c[1] < dmax[1]; c[1]++) {
            for (c[0] = dmin[0]; c[0] < dmax[0]; c[0]++, k++) {
                slot[k] = -1;
                if (cv__x_owner(&x->dg, c, x->ranks) != me || rc != CV_OK) {
                    continue;
                }
                cv_bbox b = cv_grid_cell_box(&x->dg, c);
                size_t nb = (size_t)cv_bbox_voxels(b) * x->bpv;
                slot[k] = (long)rr->n_dst;
                rr->dbox[rr->n_dst] = b;
                rr->dbuf[rr->n_dst] = cv_malloc(nb ? nb : 1);
                if (!rr->dbuf[rr->n_dst]) {
                    rc = CV_FAIL(CV_ERR_NOMEM, "exchange: destination chunk of %zu bytes", nb);
                }
                rr->n_dst++;
            }
        }
    }
    size_t elem = cv_dtype_size(cv_volume_info(rr->dst)->dtype);
    int64_t channels = cv_volume_info(rr->dst)->num_channels;
    for (size_t at = 0; rc == CV_OK && at < len;) {
        piece_head ph;
        cv_bbox piece;
        if (len - at < sizeof ph) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "exchange: a piece header cut short");
            break;
        }
        memcpy(&ph, recv + at, sizeof ph);
        memcpy(piece.min, ph.box, sizeof piece.min);
        memcpy(piece.max, ph.box + 3, sizeof piece.max);
        size_t bytes = (size_t)cv_bbox_voxels(piece) * x->bpv;
        int64_t cmin[3], cmax[3];
        cv_grid_cells(&x->dg, piece, cmin, cmax);
        size_t idx = 0;
        bool inside = !cv_bbox_is_empty(piece) && bytes <= len - at - sizeof ph;
        for (int d = 2; inside && d >= 0; d--) {
            inside = cmax[d] == cmin[d] + 1 && cmin[d] >= dmin[d] && cmin[d] < dmax[d];
            idx = idx * (size_t)dn[d] + (size_t)(cmin[d] - dmin[d]);
        }
        if (!inside || slot[idx] < 0) {
            char b[160];
            cv_bbox_format(piece, b, sizeof b);
            rc = CV_FAIL(CV_ERR_CORRUPT, "exchange: piece %s belongs to no chunk of this rank", b);
            break;
        }
        size_t s = (size_t)slot[idx];
        cv__copy_region(elem, channels, recv + at + sizeof ph, piece, rr->dbuf[s], rr->dbox[s],
                        piece);
        filled[s] += cv_bbox_voxels(piece);
        at += sizeof ph + bytes;
    }
    for (size_t s = 0; rc == CV_OK && s < rr->n_dst; s++) {
        if (filled[s] != cv_bbox_voxels(rr->dbox[s])) {
            char b[160];
            cv_bbox_format(rr->dbox[s], b, sizeof b);
            rc = CV_FAIL(CV_ERR_CORRUPT,
                         "exchange: destination chunk %s got %" PRIu64 " of its %" PRIu64 " voxels",
                         b, filled[s], cv_bbox_voxels(rr->dbox[s]));
        }
    }
    cv_free(slot);
    cv_free(filled);
    return rc;
}

cv_status cv__x_round_rechunk(cv_exchange *x, uint64_t round, cv_volume *src, cv_volume *dst,
                              bool stop_here, cv_exchange_result *out)
{
    cv_bbox box = cv_exchange_round_box(x, round);
    rechunk_round rr = {
        .x = x, .src = src, .dst = dst, .src_mip = x->src_mip, .dst_mip = x->dst_mip};
    cv_status rc = gather_sources(&rr, round, box);
    uint8_t *send = NULL, *recv = NULL;
    size_t recv_len = 0;
    size_t *counts = cv_calloc((size_t)x->ranks, sizeof *counts);
    if (rc == CV_OK && !counts) {
        rc = CV_FAIL(CV_ERR_NOMEM, "exchange");
    }
    if (rc == CV_OK) {
        rc = pack_pieces(&rr, box, &send, counts);
    }
    for (size_t i = 0; rc == CV_OK && i < rr.n_mine; i++) {
        out->voxel_bytes += rr.mine[i].is_fresh ? rr.mine[i].n : 0;
    }
    if (rc == CV_OK) {
        keep_for_next(&rr, round, box);
    } else {
        for (size_t i = 0; i < rr.n_mine; i++) {
            cv_free(rr.mine[i].data);
        }
        cv_free(rr.mine);
        cv_exchange_drop_cache(x);
    }
    /* Nothing is traded unless every rank has its pieces; then the outcome is agreed once. */
    bool peer_failed = false;
    rc = cv__x_trade(x, rc, send, counts, &recv, &recv_len, &peer_failed);
    cv_free(send);
    if (rc == CV_OK && !peer_failed) {
        rc = assemble(&rr, box, recv, recv_len);
    }
    cv_free(recv);
    if (rc == CV_OK && !peer_failed) {
        rc = cv__parallel_for(rr.n_dst, x->threads, write_dest, &rr);
    }
    rc = cv__x_agree(rc, stop_here, out);
    cv_free(counts);
    for (size_t i = 0; i < rr.n_dst; i++) {
        cv_free(rr.dbuf[i]);
    }
    cv_free(rr.dbuf);
    cv_free(rr.dbox);
    if (rc != CV_OK) {
        cv_exchange_drop_cache(x);
    }
    return rc;
}
