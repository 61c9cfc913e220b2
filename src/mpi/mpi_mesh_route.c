/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_mesh_route.c: fragments to their shard's owner, held, then built into shard files
 * (cv_mesh_route.h). A fragment travels as a record: label, tile, length (uint64 each), the
 * legacy fragment bytes (cv_mesh_fragment_encode: the float32 positions as the legacy files
 * hold them, so the meshes built are those `mesh merge-sharded` builds from the files), padded
 * to 8 bytes. Each exchange round is one MPI_Alltoall of sizes and one MPI_Alltoallv. */
#include "mpi/cv_mesh_route.h"

#include "mpi/cv_collective.h"
#include "mpi/cv_mpi.h"

#include <inttypes.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cv_mesh_route {
    cv_shard_spec spec;
    size_t budget;
    cv_journal *journal;
    int rank, size;
    cv_buf *out; /* [size]: records queued for each rank */
    cv_buf held; /* records received for this rank's shards */
    uint64_t fragments, sent, peak;
};

#define HEADER 24

cv_status cv_mesh_route_new(const cv_shard_spec *spec, size_t budget, cv_journal *journal,
                            cv_mesh_route **out)
{
    cv_mesh_route *r = cv_calloc(1, sizeof *r);
    int size = cv_mpi_size();
    cv_buf *bufs = cv_calloc((size_t)size, sizeof *bufs);
    if (!r || !bufs) {
        cv_free(r);
        cv_free(bufs);
        return CV_FAIL(CV_ERR_NOMEM, "mesh forge: fragment queues");
    }
    r->spec = *spec;
    r->budget = budget;
    r->journal = journal;
    r->rank = cv_mpi_rank();
    r->size = size;
    r->out = bufs;
    for (int i = 0; i < size; i++) {
        cv__buf_init(&r->out[i], 0);
    }
    /* capped, so that its doubling growth never allocates past the budget */
    cv__buf_init(&r->held, budget < SIZE_MAX - 8 ? budget + 8 : 0);
    *out = r;
    return CV_OK;
}

void cv_mesh_route_free(cv_mesh_route *r)
{
    if (!r) {
        return;
    }
    for (int i = 0; i < r->size; i++) {
        cv__buf_fini(&r->out[i]);
    }
    cv_free(r->out);
    cv__buf_fini(&r->held);
    cv_free(r);
}

static uint64_t shard_of(const cv_mesh_route *r, uint64_t id)
{
    uint64_t shard, mini;
    cv_shard_locate(&r->spec, id, &shard, &mini);
    return shard;
}

cv_status cv_mesh_route_add(cv_mesh_route *r, uint64_t id, uint64_t tile, const cv_mesh *m)
{
    uint64_t shard = shard_of(r, id);
    if (r->journal && cv_journal_is_done(r->journal, shard)) {
        return CV_OK; /* a resumed job wrote this shard */
    }
    uint8_t *data;
    size_t len;
    CV_TRY(cv_mesh_fragment_encode(m, &data, &len));
    cv_buf *b = &r->out[shard % (uint64_t)r->size];
    size_t padded = (len + 7) & ~(size_t)7;
    uint64_t head[3] = {id, tile, len};
    cv_status rc = cv__buf_reserve(b, b->len + HEADER + padded);
    if (rc == CV_OK) {
        memcpy(b->data + b->len, head, HEADER);
        memcpy(b->data + b->len + HEADER, data, len);
        memset(b->data + b->len + HEADER + len, 0, padded - len);
        b->len += HEADER + padded;
        r->fragments++;
    }
    cv_free(data);
    return rc;
}

cv_status cv_mesh_route_exchange(cv_mesh_route *r, const char *what)
{
    size_t n = (size_t)r->size;
    uint64_t *sc = cv_calloc(n, 8), *rcnt = cv_calloc(n, 8);
    int *isc = cv_calloc(n, sizeof *isc), *ircnt = cv_calloc(n, sizeof *ircnt);
    int *sd = cv_calloc(n, sizeof *sd), *rd = cv_calloc(n, sizeof *rd);
    cv_buf send;
    cv__buf_init(&send, 0);
    cv_status rc = sc && rcnt && isc && ircnt && sd && rd
                       ? CV_OK
                       : CV_FAIL(CV_ERR_NOMEM, "mesh forge: fragment exchange");
    for (size_t i = 0; rc == CV_OK && i < n; i++) {
        sc[i] = r->out[i].len;
        if (send.len + sc[i] > INT_MAX) {
            rc = CV_FAIL(CV_ERR_UNSUPPORTED,
                         "mesh forge --sharded: rank %d has more than 2 GiB of fragments to send "
                         "after %s; give a smaller --memory (smaller tiles)",
                         r->rank, what);
            break;
        }
        sd[i] = (int)send.len;
        isc[i] = (int)sc[i];
        rc = cv__buf_append(&send, r->out[i].data ? r->out[i].data : (const void *)"", sc[i]);
        if (i != (size_t)r->rank) {
            r->sent += sc[i];
        }
        r->out[i].len = 0;
    }
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK && cv_coll_alltoall(sc, 1, MPI_UINT64_T, rcnt, 1, MPI_UINT64_T,
                                        "the fragment sizes") != MPI_SUCCESS) {
        rc = CV_FAIL(CV_ERR_MPI, "mesh forge: fragment sizes");
    }
    uint64_t incoming = 0;
    for (size_t i = 0; rc == CV_OK && i < n; i++) {
        rd[i] = (int)incoming;
        ircnt[i] = (int)rcnt[i];
        incoming += rcnt[i];
        if (incoming > INT_MAX) {
            rc = CV_FAIL(CV_ERR_UNSUPPORTED,
                         "mesh forge --sharded: rank %d would receive more than 2 GiB of "
                         "fragments after %s; give a smaller --memory (smaller tiles)",
                         r->rank, what);
        }
    }
    if (rc == CV_OK && r->held.len + incoming > r->budget) {
        rc = CV_FAIL(CV_ERR_NOMEM,
                     "mesh forge --sharded: rank %d would hold %" PRIu64 " bytes of fragments "
                     "for its shards after %s, more than --memory %zu bytes; run more ranks, give "
                     "a larger --memory, or mesh with --legacy and then `mesh merge-sharded'",
                     r->rank, (uint64_t)r->held.len + incoming, what, r->budget);
    }
    if (rc == CV_OK) {
        rc = cv__buf_reserve(&r->held, r->held.len + (size_t)incoming + 8);
    }
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK && cv_coll_alltoallv(send.data ? send.data : (void *)sc, isc, sd, MPI_BYTE,
                                         r->held.data + r->held.len, ircnt, rd, MPI_BYTE,
                                         "the fragment exchange") != MPI_SUCCESS) {
        rc = CV_FAIL(CV_ERR_MPI, "mesh forge: fragment exchange");
    }
    if (rc == CV_OK) {
        r->held.len += (size_t)incoming;
        r->peak = r->held.len > r->peak ? r->held.len : r->peak;
    }
    cv__buf_fini(&send);
    cv_free(sc);
    cv_free(rcnt);
    cv_free(isc);
    cv_free(ircnt);
    cv_free(sd);
    cv_free(rd);
    return rc;
}

/* ---- building the shards ----------------------------------------------------------------- */

typedef struct entry {
    uint64_t shard, label, tile;
    size_t at, len; /* the fragment bytes in held */
} entry;

static int by_shard_label_tile(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->shard != y->shard) {
        return x->shard < y->shard ? -1 : 1;
    }
    if (x->label != y->label) {
        return x->label < y->label ? -1 : 1;
    }
    return x->tile < y->tile ? -1 : x->tile > y->tile;
}

typedef struct shard_pieces {
    const cv_mesh_route *r;
    const entry *e;
    size_t n, next; /* the shard's entries; the first not yet used */
} shard_pieces;

/* The label's fragments (the next run of entries) concatenated in tile order. */
static cv_status route_pieces(void *arg, uint64_t id, cv_mesh **raw)
{
    shard_pieces *s = arg;
    while (s->next < s->n && s->e[s->next].label != id) {
        s->next++;
    }
    size_t a = s->next, b = a;
    while (b < s->n && s->e[b].label == id) {
        b++;
    }
    s->next = b;
    cv_mesh **parts = cv_calloc(b - a + 1, sizeof *parts);
    cv_status rc = parts ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh %" PRIu64, id);
    for (size_t i = a; rc == CV_OK && i < b; i++) {
        char what[96];
        snprintf(what, sizeof what, "mesh %" PRIu64 "'s fragment of tile %" PRIu64, id,
                 s->e[i].tile);
        rc =
            cv_mesh_fragment_decode(s->r->held.data + s->e[i].at, s->e[i].len, what, &parts[i - a]);
    }
    if (rc == CV_OK) {
        rc = cv_mesh_concat((const cv_mesh *const *)parts, b - a, raw);
    }
    if (rc == CV_OK) {
        (*raw)->id = id;
    }
    for (size_t i = 0; parts && i < b - a; i++) {
        cv_mesh_free(parts[i]);
    }
    cv_free(parts);
    return rc;
}

cv_status cv_mesh_route_write(cv_mesh_route *r, cv_meshes *k, const cv_multires_opts *mo,
                              cv_mesh_merge_stats *acc)
{
    size_t n = 0, cap = 64;
    entry *e = cv_malloc(cap * sizeof *e);
    cv_status rc = e ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh forge: fragment index");
    for (size_t at = 0; rc == CV_OK && at < r->held.len;) {
        uint64_t head[3];
        if (r->held.len - at < HEADER) {
            rc = CV_FAIL(CV_ERR_MPI, "mesh forge: a torn fragment record at byte %zu", at);
            break;
        }
        memcpy(head, r->held.data + at, HEADER);
        size_t padded = (size_t)((head[2] + 7) & ~(uint64_t)7);
        if (head[2] > r->held.len - at - HEADER || padded > r->held.len - at - HEADER) {
            rc = CV_FAIL(CV_ERR_MPI, "mesh forge: a torn fragment record at byte %zu", at);
            break;
        }
        if (n == cap) {
            entry *grown = cv_realloc(e, 2 * cap * sizeof *e);
            if (!grown) {
                rc = CV_FAIL(CV_ERR_NOMEM, "mesh forge: fragment index of %zu", n);
                break;
            }
            e = grown;
            cap *= 2;
        }
        e[n++] = (entry){shard_of(r, head[0]), head[0], head[1], at + HEADER, (size_t)head[2]};
        at += HEADER + padded;
    }
    if (rc == CV_OK && n > 1) {
        qsort(e, n, sizeof *e, by_shard_label_tile);
    }
    uint64_t *ids = rc == CV_OK ? cv_malloc(n * sizeof *ids + 1) : NULL;
    if (rc == CV_OK && !ids) {
        rc = CV_FAIL(CV_ERR_NOMEM, "mesh forge: labels of %zu fragments", n);
    }
    for (size_t a = 0; rc == CV_OK && a < n;) {
        size_t b = a, n_ids = 0;
        while (b < n && e[b].shard == e[a].shard) {
            if (b == a || e[b].label != e[b - 1].label) {
                ids[n_ids++] = e[b].label;
            }
            b++;
        }
        shard_pieces sp = {r, e + a, b - a, 0};
        rc = cv_mesh_merge_write_shard(k, &r->spec, mo, ids, n_ids, route_pieces, &sp, acc);
        if (rc == CV_OK && r->journal) {
            rc = cv_journal_record(r->journal, e[a].shard);
        }
        if (rc != CV_OK) {
            cv__err_wrap("shard %" PRIx64, e[a].shard);
        }
        a = b;
    }
    cv_free(ids);
    cv_free(e);
    return rc;
}

cv_status cv_mesh_route_stats_get(const cv_mesh_route *r, cv_mesh_route_stats *st)
{
    uint64_t local[2] = {r->fragments, r->sent}, global[2] = {0, 0};
    uint64_t peak = r->peak, max_peak = peak;
    if (cv_coll_allreduce(local, global, 2, MPI_UINT64_T, MPI_SUM, "the fragment totals") !=
            MPI_SUCCESS ||
        cv_coll_allreduce(&peak, &max_peak, 1, MPI_UINT64_T, MPI_MAX, "the fragments held") !=
            MPI_SUCCESS) {
        return CV_FAIL(CV_ERR_MPI, "mesh forge: fragment totals");
    }
    st->fragments = global[0];
    st->sent_bytes = global[1];
    st->held_peak = max_peak;
    st->shards_before = r->journal ? cv_journal_count_done(r->journal) : 0;
    return CV_OK;
}
