/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_exchange_shards.c: one hashed-shard exchange round (shards [lo, hi)). Ranks read the
 * boxes holding chunks of those shards, encode each chunk where it was read and send (Morton
 * code, bytes) to the shard's owner (shard mod ranks), which sorts them z, y, x as the
 * single-process writer does and writes each shard file whole, once, with cv_shard_write. */
#include "mpi/cv_exchange_int.h"

#include <inttypes.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashed-shard round ------------------------------------------------------------------- */

typedef struct record_head {
    uint64_t code, len;
} record_head;

typedef struct shard_round {
    cv_exchange *x;
    cv_volume *src, *dst;
    int src_mip, dst_mip;
    uint64_t lo, hi; /* shards [lo, hi) */
    uint64_t *units; /* linear indices of this rank's read units */
    cv_buf *out;     /* per unit: records of its encoded chunks */
    const cv_codec *codec;
    int level;
    struct {
        cv_buf box, chunk;
    } * bufs; /* per thread */
    uint64_t voxel_bytes[CV_MAX_THREADS];
} shard_round;

static cv_bbox unit_box(const cv_exchange *x, uint64_t u)
{
    int64_t c[3] = {(int64_t)(u % (uint64_t)x->nunit[0]),
                    (int64_t)(u / (uint64_t)x->nunit[0] % (uint64_t)x->nunit[1]),
                    (int64_t)(u / ((uint64_t)x->nunit[0] * (uint64_t)x->nunit[1]))};
    cv_bbox b;
    for (int d = 0; d < 3; d++) {
        b.min[d] = x->dg.bounds.min[d] + c[d] * x->unit[d];
        b.max[d] = b.min[d] + x->unit[d];
    }
    return cv_bbox_intersect(b, x->dg.bounds);
}

static cv_status encode_unit(size_t i, int tid, void *arg)
{
    shard_round *sr = arg;
    cv_exchange *x = sr->x;
    cv_volume *dst = sr->dst;
    cv_bbox ub = unit_box(x, sr->units[i]);
    cv_buf *in = &sr->bufs[tid].box, *chunk = &sr->bufs[tid].chunk, *out = &sr->out[i];
    size_t n = cv_volume_box_bytes(sr->src, ub);
    in->len = 0;
    CV_TRY(cv__buf_reserve(in, n));
    CV_TRY(cv_volume_read(sr->src, sr->src_mip, ub, in->data, n));
    sr->voxel_bytes[tid] += n;
    size_t elem = cv_dtype_size(cv_volume_info(dst)->dtype);
    int64_t channels = cv_volume_info(dst)->num_channels;
    int64_t dmin[3], dmax[3], c[3];
    cv_grid_cells(&x->dg, ub, dmin, dmax);
    for (c[2] = dmin[2]; c[2] < dmax[2]; c[2]++) {
        for (c[1] = dmin[1]; c[1] < dmax[1]; c[1]++) {
            for (c[0] = dmin[0]; c[0] < dmax[0]; c[0]++) {
                uint64_t code, shard;
                CV_TRY(cv__x_cell_shard(x, c, &code, &shard));
                if (shard < sr->lo || shard >= sr->hi) {
                    continue;
                }
                cv_bbox cb = cv_grid_cell_box(&x->dg, c);
                size_t nb = cv_volume_box_bytes(dst, cb);
                chunk->len = 0;
                CV_TRY(cv__buf_reserve(chunk, nb));
                cv__copy_region(elem, channels, in->data, ub, chunk->data, cb, cb);
                if (dst->opts.delete_black_uploads && cv__all_background(dst, chunk->data, nb)) {
                    continue; /* absent keys read as background, as the single-process writer */
                }
                size_t head_at = out->len;
                record_head rh = {code, 0};
                CV_TRY(cv__buf_append(out, &rh, sizeof rh));
                cv_chunk_desc d = cv__volume_chunk_desc(dst, sr->dst_mip, cb);
                uint64_t t0 = cv__now_ns();
                cv_status rc = sr->codec->encode(&d, sr->level, chunk->data, nb, out);
                atomic_fetch_add(&dst->codec_ns, cv__now_ns() - t0);
                if (rc != CV_OK) {
                    char key[256];
                    cv_volume_chunk_key(dst, sr->dst_mip, cb, key, sizeof key);
                    cv__err_wrap("encode chunk `%s' (key %" PRIu64 ")", key, code);
                    return rc;
                }
                rh.len = out->len - head_at - sizeof rh;
                memcpy(out->data + head_at, &rh, sizeof rh);
            }
        }
    }
    return CV_OK;
}

typedef struct item_ref {
    uint64_t shard, code;
    int64_t cell[3];
    const uint8_t *data;
    size_t len;
} item_ref;

static int by_shard_zyx(const void *a, const void *b)
{
    const item_ref *p = a, *q = b;
    if (p->shard != q->shard) {
        return p->shard < q->shard ? -1 : 1;
    }
    for (int d = 2; d >= 0; d--) {
        if (p->cell[d] != q->cell[d]) {
            return p->cell[d] < q->cell[d] ? -1 : 1;
        }
    }
    return 0;
}

typedef struct shard_writes {
    shard_round *sr;
    uint64_t *shards; /* this rank's shards of the round */
    size_t *first;    /* items of shard i: refs[first[i] .. first[i + 1]) */
    item_ref *refs;
} shard_writes;

static cv_status write_shard(size_t i, int tid, void *arg)
{
    (void)tid;
    shard_writes *w = arg;
    shard_round *sr = w->sr;
    cv_exchange *x = sr->x;
    cv_volume *dst = sr->dst;
    const cv_scale *sc = &cv_volume_info(dst)->scales[sr->dst_mip];
    uint64_t shard = w->shards[i];
    size_t a = w->first[i], b = w->first[i + 1], n = b - a;
    char name[40];
    cv_shard_file_name(&x->spec, shard, name, sizeof name);
    if (!dst->opts.delete_black_uploads && n != x->shard_chunks[shard]) {
        return CV_FAIL(CV_ERR_CORRUPT, "exchange: shard %s of %s got %zu of its %" PRIu32 " chunks",
                       name, cv_volume_url(dst), n, x->shard_chunks[shard]);
    }
    uint64_t t0 = cv__now_ns();
    cv_status rc = CV_OK;
    if (n == 0) {
        /* Every chunk was background: no shard file at all. */
        char key[CV_SHARD_KEY_MAX];
        rc = cv__shard_object_key(sc->key, &x->spec, shard, key, sizeof key);
        if (rc == CV_OK) {
            rc = cv_store_delete(dst->store, key);
            cv__shard_cache_invalidate(cv_store_url(dst->store), key);
        }
    } else {
        cv_shard_item *items = cv_malloc(n * sizeof *items);
        if (!items) {
            return CV_FAIL(CV_ERR_NOMEM, "exchange: shard %s", name);
        }
        size_t bytes = 0;
        for (size_t k = 0; k < n; k++) {
            items[k].key = w->refs[a + k].code;
            items[k].data = w->refs[a + k].data;
            items[k].len = w->refs[a + k].len;
            bytes += items[k].len;
        }
        rc = cv_shard_write(dst->store, sc->key, &x->spec, items, n, CV_SHARD_LAYOUT_CLOUDVOLUME,
                            dst->opts.compress_level);
        cv_free(items);
        if (rc == CV_OK) {
            atomic_fetch_add(&dst->n_written, n);
            atomic_fetch_add(&dst->bytes_written, bytes);
        } else {
            cv__err_wrap("write shard %s of %s", name, cv_volume_url(dst));
        }
    }
    atomic_fetch_add(&dst->io_ns, cv__now_ns() - t0);
    return rc;
}

/* This rank's read units of the round: every unit holding a chunk of shards [lo, hi), dealt
 * out in order. */
static cv_status units_of_round(shard_round *sr, size_t *n_units)
{
    cv_exchange *x = sr->x;
    uint64_t total = (uint64_t)x->nunit[0] * (uint64_t)x->nunit[1] * (uint64_t)x->nunit[2];
    uint8_t *need = cv_calloc((size_t)(total + 7) / 8, 1);
    if (!need) {
        return CV_FAIL(CV_ERR_NOMEM, "exchange: %" PRIu64 " read units", total);
    }
    int64_t c[3];
    for (c[2] = 0; c[2] < x->dshape[2]; c[2]++) {
        for (c[1] = 0; c[1] < x->dshape[1]; c[1]++) {
            for (c[0] = 0; c[0] < x->dshape[0]; c[0]++) {
                uint64_t code, shard;
                cv_status rc = cv__x_cell_shard(x, c, &code, &shard);
                if (rc != CV_OK) {
                    cv_free(need);
                    return rc;
                }
                if (shard >= sr->lo && shard < sr->hi) {
                    uint64_t u = 0;
                    for (int d = 2; d >= 0; d--) {
                        u = u * (uint64_t)x->nunit[d] +
                            (uint64_t)(c[d] * x->dg.chunk[d] / x->unit[d]);
                    }
                    need[u / 8] |= (uint8_t)(1u << (u % 8));
                }
            }
        }
    }
    size_t k = 0, mine = 0;
    int me = cv__x_rank();
    for (uint64_t u = 0; u < total; u++) {
        if (need[u / 8] & (1u << (u % 8))) {
            mine += (int)(k++ % (size_t)x->ranks) == me;
        }
    }
    sr->units = cv_malloc((mine ? mine : 1) * sizeof *sr->units);
    if (!sr->units) {
        cv_free(need);
        return CV_FAIL(CV_ERR_NOMEM, "exchange: %zu read units", mine);
    }
    k = 0;
    size_t m = 0;
    for (uint64_t u = 0; u < total; u++) {
        if ((need[u / 8] & (1u << (u % 8))) && (int)(k++ % (size_t)x->ranks) == me) {
            sr->units[m++] = u;
        }
    }
    cv_free(need);
    *n_units = m;
    return CV_OK;
}

/* Send every record to the owner of its shard. */
static cv_status pack_records(shard_round *sr, size_t n_units, uint8_t **send, size_t *counts)
{
    int n = sr->x->ranks;
    memset(counts, 0, (size_t)n * sizeof *counts);
    size_t *at = cv_calloc((size_t)n, sizeof *at);
    if (!at) {
        return CV_FAIL(CV_ERR_NOMEM, "exchange");
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            size_t total = 0;
            for (int r = 0; r < n; r++) {
                at[r] = total;
                total += counts[r];
            }
            *send = cv_malloc(total ? total : 1);
            if (!*send) {
                cv_free(at);
                return CV_FAIL(CV_ERR_NOMEM, "exchange: %zu bytes to send", total);
            }
        }
        for (size_t i = 0; i < n_units; i++) {
            const cv_buf *b = &sr->out[i];
            for (size_t p = 0; p < b->len;) {
                record_head rh;
                memcpy(&rh, b->data + p, sizeof rh);
                uint64_t shard, mini;
                cv_shard_locate(&sr->x->spec, rh.code, &shard, &mini);
                int o = (int)(shard % (uint64_t)n);
                size_t len = sizeof rh + (size_t)rh.len;
                if (pass == 0) {
                    counts[o] += len;
                } else {
                    memcpy(*send + at[o], b->data + p, len);
                    at[o] += len;
                }
                p += len;
            }
        }
    }
    cv_free(at);
    return CV_OK;
}

/* Write this rank's shards of the round from the records received. */
static cv_status write_shards(shard_round *sr, const uint8_t *recv, size_t len)
{
    cv_exchange *x = sr->x;
    size_t n_refs = 0;
    for (size_t p = 0; p + sizeof(record_head) <= len;) {
        record_head rh;
        memcpy(&rh, recv + p, sizeof rh);
        if (rh.len > len - p - sizeof rh) {
            return CV_FAIL(CV_ERR_CORRUPT, "exchange: a chunk record cut short");
        }
        p += sizeof rh + (size_t)rh.len;
        n_refs++;
    }
    int me = cv__x_rank();
    size_t n_shards = 0;
    for (uint64_t s = sr->lo; s < sr->hi; s++) {
        n_shards += x->shard_chunks[s] > 0 && (int)(s % (uint64_t)x->ranks) == me;
    }
    shard_writes w = {.sr = sr};
    w.refs = cv_malloc((n_refs ? n_refs : 1) * sizeof *w.refs);
    w.shards = cv_malloc((n_shards ? n_shards : 1) * sizeof *w.shards);
    w.first = cv_malloc((n_shards + 1) * sizeof *w.first);
    cv_status rc = CV_OK;
    if (!w.refs || !w.shards || !w.first) {
        rc = CV_FAIL(CV_ERR_NOMEM, "exchange: %zu chunks received", n_refs);
    }
    int bits[3];
    cv_morton_bits(x->dshape, bits);
    size_t k = 0;
    for (size_t p = 0; rc == CV_OK && k < n_refs; k++) {
        record_head rh;
        memcpy(&rh, recv + p, sizeof rh);
        item_ref *r = &w.refs[k];
        uint64_t mini, cell[3];
        cv_shard_locate(&x->spec, rh.code, &r->shard, &mini);
        cv_morton_decode(bits, rh.code, cell);
        for (int d = 0; d < 3; d++) {
            r->cell[d] = (int64_t)cell[d];
        }
        r->code = rh.code;
        r->data = recv + p + sizeof rh;
        r->len = (size_t)rh.len;
        if (r->shard < sr->lo || r->shard >= sr->hi || (int)(r->shard % (uint64_t)x->ranks) != me) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "exchange: chunk %" PRIu64 " sent to the wrong rank",
                         rh.code);
        }
        p += sizeof rh + (size_t)rh.len;
    }
    if (rc == CV_OK) {
        qsort(w.refs, n_refs, sizeof *w.refs, by_shard_zyx);
        size_t i = 0, at = 0;
        for (uint64_t s = sr->lo; s < sr->hi; s++) {
            if (x->shard_chunks[s] == 0 || (int)(s % (uint64_t)x->ranks) != me) {
                continue;
            }
            w.shards[i] = s;
            w.first[i] = at;
            while (at < n_refs && w.refs[at].shard == s) {
                at++;
            }
            i++;
        }
        w.first[n_shards] = at;
        rc = cv__parallel_for(n_shards, x->threads, write_shard, &w);
    }
    cv_free(w.refs);
    cv_free(w.shards);
    cv_free(w.first);
    return rc;
}

cv_status cv__x_round_shards(cv_exchange *x, uint64_t round, cv_volume *src, cv_volume *dst,
                             bool stop_here, cv_exchange_result *out)
{
    int dst_mip = x->dst_mip;
    shard_round sr = {.x = x, .src = src, .dst = dst, .src_mip = x->src_mip, .dst_mip = dst_mip};
    sr.lo = x->bounds[round];
    sr.hi = x->bounds[round + 1];
    const cv_scale *sc = &cv_volume_info(dst)->scales[dst_mip];
    sr.level = sc->jpeg_quality >= 0 ? sc->jpeg_quality : sc->png_level;
    size_t n_units = 0;
    cv_status rc = cv__volume_codec(dst, dst_mip, &sr.codec);
    if (rc == CV_OK && !sr.codec->encode) {
        rc = CV_FAIL(CV_ERR_UNSUPPORTED, "exchange: encoding %s is read-only in this build",
                     sr.codec->name);
    }
    if (rc == CV_OK) {
        rc = units_of_round(&sr, &n_units);
    }
    if (rc == CV_OK) {
        sr.out = cv_calloc(n_units ? n_units : 1, sizeof *sr.out);
        sr.bufs = cv_calloc((size_t)x->threads, sizeof *sr.bufs);
        if (!sr.out || !sr.bufs) {
            rc = CV_FAIL(CV_ERR_NOMEM, "exchange");
        }
    }
    if (rc == CV_OK) {
        rc = cv__parallel_for(n_units, x->threads, encode_unit, &sr);
    }
    for (int t = 0; sr.bufs && t < x->threads; t++) {
        cv__buf_fini(&sr.bufs[t].box);
        cv__buf_fini(&sr.bufs[t].chunk);
        out->voxel_bytes += sr.voxel_bytes[t];
    }
    cv_free(sr.bufs);
    uint8_t *send = NULL, *recv = NULL;
    size_t recv_len = 0;
    size_t *counts = cv_calloc((size_t)x->ranks, sizeof *counts);
    if (rc == CV_OK && !counts) {
        rc = CV_FAIL(CV_ERR_NOMEM, "exchange");
    }
    if (rc == CV_OK) {
        rc = pack_records(&sr, n_units, &send, counts);
    }
    for (size_t i = 0; sr.out && i < n_units; i++) {
        cv__buf_fini(&sr.out[i]);
    }
    cv_free(sr.out);
    cv_free(sr.units);
    /* Nothing is traded unless every rank has its chunks; then the outcome is agreed once. */
    bool peer_failed = false;
    rc = cv__x_trade(x, rc, send, counts, &recv, &recv_len, &peer_failed);
    cv_free(send);
    if (rc == CV_OK && !peer_failed) {
        rc = write_shards(&sr, recv, recv_len);
    }
    cv_free(recv);
    cv_free(counts);
    return cv__x_agree(rc, stop_here, out);
}
