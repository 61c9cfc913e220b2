/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_exchange.c: transfers done in collective rounds with MPI_Alltoallv (see cv_exchange.h):
 * planning the rounds, printing the plan, and the agreement and trade every round ends with.
 * The rounds themselves are in mpi_exchange_rechunk.c and mpi_exchange_shards.c.
 *
 * Re-chunking: the region is cut into COLUMNS in x and y whose width is a multiple of both
 * chunk shapes (so no source chunk belongs to two columns), and each column into rounds of a
 * few destination chunk rows along z. Source chunk (cell c) is owned by rank (linear index of
 * c) mod N, destination chunks likewise on their grid. In a round each rank reads its source
 * chunks, cuts every piece that falls in a destination chunk of the round, and sends it with
 * its box to that chunk's owner; owners assemble whole chunks and write them. A source chunk
 * that also reaches into the column's next round stays in memory on its owner, so it is read
 * only once (on --resume, a skipped round leaves nothing kept and it is read again).
 *
 * Hashed shards: a round is a range of shard numbers. Ranks read the boxes (on the lattice of
 * the least common multiple of both chunk shapes) holding chunks of those shards, encode the
 * chunks and send (Morton code, bytes) to the shard's owner (shard mod N), which sorts them as
 * the single-process writer does (z, y, x) and writes each shard file whole with
 * cv_shard_write. With equal chunk grids every source chunk is read once; when re-chunking
 * into hashed shards a source box may be read once per round.
 *
 * Every round ends with the ranks agreeing on the outcome, so a failure on one rank never
 * leaves another waiting in a collective. No MPI calls off the calling thread. */
#include "mpi/cv_exchange_int.h"

#include "mpi/cv_collective.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int64_t lcm64(int64_t a, int64_t b)
{
    return a / gcd64(a, b) * b;
}

static int64_t floordiv(int64_t a, int64_t d)
{
    int64_t q = a / d;
    return (a % d != 0 && a < 0) ? q - 1 : q;
}

static int64_t ceildiv(int64_t a, int64_t d)
{
    return (a + d - 1) / d;
}

size_t cv__x_chunk_bytes(const cv_exchange *x, const cv_grid *g)
{
    return (size_t)g->chunk[0] * (size_t)g->chunk[1] * (size_t)g->chunk[2] * x->bpv;
}

int cv__x_owner(const cv_grid *g, const int64_t cell[3], int ranks)
{
    int64_t shape[3];
    cv_grid_shape(g, shape);
    uint64_t lin =
        (uint64_t)cell[0] +
        (uint64_t)shape[0] * ((uint64_t)cell[1] + (uint64_t)shape[1] * (uint64_t)cell[2]);
    return (int)(lin % (uint64_t)ranks);
}

int cv__x_rank(void)
{
    return cv_mpi_active() ? cv_mpi_rank() : 0;
}

/* ---- planning: re-chunking ------------------------------------------------------------------ */

/* Memory one rank needs for a round of columns col[0] x col[1] and `rows` destination rows:
 * its share of the source chunks (decoded, then again as pieces to send) and of the
 * destination chunks (received pieces, then assembled), plus encoder scratch per thread. */
static double rechunk_peak(const cv_exchange *x, const int64_t col[2], int64_t rows)
{
    const int64_t *cs = x->sg.chunk, *cd = x->dg.chunk;
    int64_t sgrid[3];
    cv_grid_shape(&x->sg, sgrid);
    /* Source chunk rows a round of `rows` destination rows can touch: rounds start on the
     * destination grid, so try every offset of it against the source grid. */
    int64_t len = rows * cd[2], srows = 0;
    for (int64_t k = 0; k < lcm64(cd[2], cs[2]) / cd[2]; k++) {
        int64_t a = k * cd[2], touched = (a + len - 1) / cs[2] - a / cs[2] + 1;
        srows = touched > srows ? touched : srows;
    }
    srows = srows < sgrid[2] ? srows : sgrid[2];
    double n_src = (double)(col[0] / cs[0]) * (double)(col[1] / cs[1]) * (double)srows;
    double n_dst = (double)(col[0] / cd[0]) * (double)(col[1] / cd[1]) * (double)rows;
    double src = ceil(n_src / x->ranks) * (double)cv__x_chunk_bytes(x, &x->sg);
    double dst = ceil(n_dst / x->ranks) * (double)cv__x_chunk_bytes(x, &x->dg);
    if (src > MAX_SHARE || dst > MAX_SHARE) {
        return 1e300;
    }
    return 2 * src + 2 * dst + 2.0 * x->threads * (double)cv__x_chunk_bytes(x, &x->dg);
}

static cv_status plan_rechunk(cv_exchange *x)
{
    int64_t unit[2], extent[3];
    for (int d = 0; d < 2; d++) {
        unit[d] = lcm64(x->sg.chunk[d], x->dg.chunk[d]);
    }
    for (int d = 0; d < 3; d++) {
        extent[d] = x->region.max[d] - x->region.min[d];
    }
    int64_t total_rows = ceildiv(extent[2], x->dg.chunk[2]);
    int64_t col[2] = {unit[0], unit[1]}, rows = 1;
    double peak = rechunk_peak(x, col, rows);
    if (peak > (double)x->memory) {
        return CV_FAIL(CV_ERR_ARG,
                       "exchange: one round (a column of %" PRId64 "x%" PRId64
                       " voxels, one destination chunk row) needs about %.2f MB per rank with %d "
                       "rank%s, more than the %.2f MB memory budget (raise --memory or use more "
                       "ranks)",
                       col[0], col[1], peak / 1e6, x->ranks, x->ranks == 1 ? "" : "s",
                       (double)x->memory / 1e6);
    }
    /* Grow the round while it fits: double the smallest extent that does not yet cover the
     * region (wider columns spread a round over more ranks; more rows keep fewer source
     * chunks twice in memory). */
    for (;;) {
        int64_t ext[3] = {col[0], col[1], rows * x->dg.chunk[2]};
        int best = -1;
        for (int d = 0; d < 3; d++) {
            bool covers = d < 2 ? col[d] >= extent[d] + unit[d] : rows >= total_rows;
            if (!covers && (best < 0 || ext[d] < ext[best])) {
                best = d;
            }
        }
        if (best < 0) {
            break;
        }
        int64_t c2[2] = {col[0], col[1]}, r2 = rows;
        if (best < 2) {
            c2[best] *= 2;
        } else {
            r2 = rows * 2 < total_rows ? rows * 2 : total_rows;
        }
        double p2 = rechunk_peak(x, c2, r2);
        if (p2 > (double)x->memory) {
            break;
        }
        col[0] = c2[0];
        col[1] = c2[1];
        rows = r2;
        peak = p2;
    }
    const int64_t *o = x->dg.bounds.min;
    for (int d = 0; d < 2; d++) {
        x->col[d] = col[d];
        int64_t first = floordiv(x->region.min[d] - o[d], col[d]);
        int64_t last = floordiv(x->region.max[d] - 1 - o[d], col[d]);
        x->col_first[d] = o[d] + first * col[d];
        x->ncol[d] = last - first + 1;
    }
    x->rows = rows;
    x->zrounds = ceildiv(total_rows, rows);
    x->n_rounds = (uint64_t)x->ncol[0] * (uint64_t)x->ncol[1] * (uint64_t)x->zrounds;
    x->est_peak = peak;
    return CV_OK;
}

/* ---- planning: hashed shards ---------------------------------------------------------------- */

cv_status cv__x_cell_shard(const cv_exchange *x, const int64_t cell[3], uint64_t *code,
                           uint64_t *shard)
{
    CV_TRY(cv_morton_code(x->dshape, cell, code));
    uint64_t mini;
    cv_shard_locate(&x->spec, *code, shard, &mini);
    return CV_OK;
}

static cv_status plan_shards(cv_exchange *x, const cv_info *di, int dst_mip)
{
    const cv_scale *ds = &di->scales[dst_mip];
    CV_TRY(cv_shard_spec_parse(ds->sharding_json, strlen(ds->sharding_json), ds->key, &x->spec));
    if (!cv_bbox_equal(x->region, x->dg.bounds)) {
        return CV_FAIL(CV_ERR_ARG,
                       "transfer to sharded scale %s: its shards are not boxes of chunks (hash "
                       "%s), so every shard file spans the whole volume: transfer the whole "
                       "volume (no --bbox)",
                       ds->key,
                       x->spec.hash == CV_SHARD_HASH_IDENTITY ? "identity" : "murmurhash3_x86_128");
    }
    if (x->spec.shard_bits > MAX_HASHED_SHARD_BITS) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       "transfer to sharded scale %s: shard_bits %d; at most %d are supported "
                       "when chunks are scattered over shards",
                       ds->key, x->spec.shard_bits, MAX_HASHED_SHARD_BITS);
    }
    cv_grid_shape(&x->dg, x->dshape);
    uint64_t n_chunks = (uint64_t)x->dshape[0] * (uint64_t)x->dshape[1] * (uint64_t)x->dshape[2];
    if (n_chunks > MAX_HASHED_CHUNKS) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       "transfer to sharded scale %s: %" PRIu64 " chunks scattered over shards; "
                       "at most %" PRIu64 " are supported",
                       ds->key, n_chunks, MAX_HASHED_CHUNKS);
    }
    for (int d = 0; d < 3; d++) {
        x->unit[d] = lcm64(x->sg.chunk[d], x->dg.chunk[d]);
        x->nunit[d] = ceildiv(x->dg.bounds.max[d] - x->dg.bounds.min[d], x->unit[d]);
    }
    size_t n_shards = (size_t)1 << x->spec.shard_bits;
    x->shard_chunks = cv_calloc(n_shards, sizeof *x->shard_chunks);
    if (!x->shard_chunks) {
        return CV_FAIL(CV_ERR_NOMEM, "exchange plan: %zu shards", n_shards);
    }
    int64_t c[3];
    for (c[2] = 0; c[2] < x->dshape[2]; c[2]++) {
        for (c[1] = 0; c[1] < x->dshape[1]; c[1]++) {
            for (c[0] = 0; c[0] < x->dshape[0]; c[0]++) {
                uint64_t code, shard;
                CV_TRY(cv__x_cell_shard(x, c, &code, &shard));
                x->shard_chunks[shard]++;
            }
        }
    }
    /* Rounds: shards in increasing order, as many as fit. A shard owner holds the chunks of
     * its shards (counted at their decoded size, an upper bound for any lossless encoding
     * plus the shard file being built) and about as much again to send; readers hold one read
     * unit and one chunk per thread. */
    double unit_bytes = (double)x->unit[0] * (double)x->unit[1] * (double)x->unit[2] * x->bpv;
    double cb = (double)cv__x_chunk_bytes(x, &x->dg);
    double reader = x->threads * (unit_bytes + 2 * cb);
    double *acc = cv_calloc((size_t)x->ranks, sizeof *acc);
    x->bounds = cv_calloc(n_shards + 1, sizeof *x->bounds);
    if (!acc || !x->bounds) {
        cv_free(acc);
        return CV_FAIL(CV_ERR_NOMEM, "exchange plan");
    }
    uint64_t n_rounds = 0, in_round = 0;
    double peak = 0, round_max = 0;
    x->bounds[0] = 0;
    for (uint64_t s = 0; s < n_shards; s++) {
        double bytes = (double)x->shard_chunks[s] * cb;
        int o = (int)(s % (uint64_t)x->ranks);
        double need = 3 * (acc[o] + bytes) + reader;
        if (3 * bytes + reader > (double)x->memory || bytes > MAX_SHARE) {
            char name[40];
            cv_shard_file_name(&x->spec, s, name, sizeof name);
            cv_free(acc);
            return CV_FAIL(CV_ERR_ARG,
                           "exchange: shard %s holds %" PRIu32 " chunks (%.2f MB decoded); its "
                           "owner needs about %.2f MB, more than the %.2f MB memory budget "
                           "(raise --memory, or use more shard_bits)",
                           name, x->shard_chunks[s], bytes / 1e6, (3 * bytes + reader) / 1e6,
                           (double)x->memory / 1e6);
        }
        if (in_round > 0 && (need > (double)x->memory || acc[o] + bytes > MAX_SHARE)) {
            x->bounds[++n_rounds] = s;
            memset(acc, 0, (size_t)x->ranks * sizeof *acc);
            round_max = 0;
            in_round = 0;
        }
        acc[o] += bytes;
        in_round++;
        round_max = acc[o] > round_max ? acc[o] : round_max;
        peak = 3 * round_max + reader > peak ? 3 * round_max + reader : peak;
        x->max_round_shards = in_round > x->max_round_shards ? in_round : x->max_round_shards;
    }
    x->bounds[++n_rounds] = n_shards;
    cv_free(acc);
    x->n_rounds = n_rounds;
    x->est_peak = peak;
    return CV_OK;
}

cv_status cv_exchange_plan(const cv_exchange_params *p, cv_exchange **out)
{
    cv_exchange *x = cv_calloc(1, sizeof *x);
    if (!x) {
        return CV_FAIL(CV_ERR_NOMEM, "exchange plan");
    }
    x->kind = p->kind;
    x->ranks = p->ranks > 0 ? p->ranks : 1;
    x->threads = p->threads < 1 ? 1 : (p->threads > CV_MAX_THREADS ? CV_MAX_THREADS : p->threads);
    x->memory = p->memory;
    x->skip_existing = p->skip_existing;
    x->bpv = cv_dtype_size(p->src_info->dtype) * (size_t)p->src_info->num_channels;
    x->sg = cv_info_grid(p->src_info, p->src_mip);
    x->dg = cv_info_grid(p->dst_info, p->dst_mip);
    x->region = p->region;
    x->src_mip = p->src_mip;
    x->dst_mip = p->dst_mip;
    x->cache_round = UINT64_MAX;
    x->ints = cv_calloc(4 * (size_t)x->ranks, sizeof *x->ints);
    cv_status rc = x->ints ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "exchange plan");
    if (rc == CV_OK) {
        rc = p->kind == CV_EXCHANGE_SHARDS ? plan_shards(x, p->dst_info, p->dst_mip)
                                           : plan_rechunk(x);
    }
    if (rc != CV_OK) {
        cv_exchange_free(x);
        return rc;
    }
    *out = x;
    return CV_OK;
}

void cv_exchange_drop_cache(cv_exchange *x)
{
    for (size_t i = 0; i < x->n_cache; i++) {
        cv_free(x->cache[i].data);
    }
    cv_free(x->cache);
    x->cache = NULL;
    x->n_cache = 0;
    x->cache_round = UINT64_MAX;
}

void cv_exchange_free(cv_exchange *x)
{
    if (!x) {
        return;
    }
    cv_exchange_drop_cache(x);
    cv_free(x->shard_chunks);
    cv_free(x->bounds);
    cv_free(x->ints);
    cv_free(x);
}

uint64_t cv_exchange_rounds(const cv_exchange *x)
{
    return x->n_rounds;
}

cv_bbox cv_exchange_round_box(const cv_exchange *x, uint64_t round)
{
    if (x->kind == CV_EXCHANGE_SHARDS) {
        return x->region;
    }
    uint64_t column = round / (uint64_t)x->zrounds;
    int64_t j = (int64_t)(round % (uint64_t)x->zrounds);
    int64_t c[2] = {(int64_t)(column % (uint64_t)x->ncol[0]),
                    (int64_t)(column / (uint64_t)x->ncol[0])};
    cv_bbox b;
    for (int d = 0; d < 2; d++) {
        b.min[d] = x->col_first[d] + c[d] * x->col[d];
        b.max[d] = b.min[d] + x->col[d];
    }
    b.min[2] = x->region.min[2] + j * x->rows * x->dg.chunk[2];
    b.max[2] = b.min[2] + x->rows * x->dg.chunk[2];
    return cv_bbox_intersect(b, x->region);
}

void cv_exchange_signature(const cv_exchange *x, char *buf, size_t cap)
{
    if (x->kind == CV_EXCHANGE_SHARDS) {
        snprintf(buf, cap, "shards ranks=%d rounds=%" PRIu64, x->ranks, x->n_rounds);
    } else {
        snprintf(buf, cap, "rechunk ranks=%d column=%" PRId64 ",%" PRId64 " rows=%" PRId64,
                 x->ranks, x->col[0], x->col[1], x->rows);
    }
}

uint64_t cv_exchange_round_bytes(const cv_exchange *x)
{
    if (x->kind == CV_EXCHANGE_SHARDS) {
        return (uint64_t)cv_bbox_voxels(x->region) * x->bpv / (x->n_rounds ? x->n_rounds : 1);
    }
    return (uint64_t)x->col[0] * (uint64_t)x->col[1] * (uint64_t)(x->rows * x->dg.chunk[2]) *
           x->bpv;
}

/* ---- printing the plan ------------------------------------------------------------------ */

typedef struct rank_load {
    double read, sent, received, written; /* bytes in the largest round (by each measure) */
} rank_load;

/* What each rank does in round r of a re-chunking plan (adds the maxima into load[]). */
static void rechunk_round_load(const cv_exchange *x, uint64_t r, rank_load *load, double *cur)
{
    cv_bbox box = cv_exchange_round_box(x, r);
    int n = x->ranks;
    memset(cur, 0, 4 * (size_t)n * sizeof *cur);
    int64_t smin[3], smax[3], c[3];
    cv_grid_cells(&x->sg, box, smin, smax);
    for (c[2] = smin[2]; c[2] < smax[2]; c[2]++) {
        for (c[1] = smin[1]; c[1] < smax[1]; c[1]++) {
            for (c[0] = smin[0]; c[0] < smax[0]; c[0]++) {
                cv_bbox sb = cv_grid_cell_box(&x->sg, c);
                int o = cv__x_owner(&x->sg, c, n);
                cur[4 * o] += (double)cv_bbox_voxels(sb) * (double)x->bpv;
                cur[4 * o + 1] +=
                    (double)cv_bbox_voxels(cv_bbox_intersect(sb, box)) * (double)x->bpv;
            }
        }
    }
    int64_t dmin[3], dmax[3];
    cv_grid_cells(&x->dg, box, dmin, dmax);
    for (c[2] = dmin[2]; c[2] < dmax[2]; c[2]++) {
        for (c[1] = dmin[1]; c[1] < dmax[1]; c[1]++) {
            for (c[0] = dmin[0]; c[0] < dmax[0]; c[0]++) {
                int o = cv__x_owner(&x->dg, c, n);
                double b = (double)cv_bbox_voxels(cv_grid_cell_box(&x->dg, c)) * (double)x->bpv;
                cur[4 * o + 2] += b;
                cur[4 * o + 3] += b;
            }
        }
    }
    for (int o = 0; o < n; o++) {
        load[o].read = cur[4 * o] > load[o].read ? cur[4 * o] : load[o].read;
        load[o].sent = cur[4 * o + 1] > load[o].sent ? cur[4 * o + 1] : load[o].sent;
        load[o].received = cur[4 * o + 2] > load[o].received ? cur[4 * o + 2] : load[o].received;
        load[o].written = cur[4 * o + 3] > load[o].written ? cur[4 * o + 3] : load[o].written;
    }
}

void cv_exchange_print(const cv_exchange *x)
{
    int n = x->ranks;
    rank_load *load = cv_calloc((size_t)n, sizeof *load);
    double *cur = cv_calloc(4 * (size_t)n, sizeof *cur);
    if (!load || !cur) {
        cv_free(load);
        cv_free(cur);
        return;
    }
    if (x->kind == CV_EXCHANGE_RECHUNK) {
        printf("exchange: re-chunking %" PRId64 "x%" PRId64 "x%" PRId64 " -> %" PRId64 "x%" PRId64
               "x%" PRId64 " in %" PRIu64 " rounds: columns of %" PRId64 "x%" PRId64
               " voxels (%" PRId64 "x%" PRId64 "), %" PRId64 " destination chunk row%s (%" PRId64
               " voxels) per round\n",
               x->sg.chunk[0], x->sg.chunk[1], x->sg.chunk[2], x->dg.chunk[0], x->dg.chunk[1],
               x->dg.chunk[2], x->n_rounds, x->col[0], x->col[1], x->ncol[0], x->ncol[1], x->rows,
               x->rows == 1 ? "" : "s", x->rows * x->dg.chunk[2]);
        /* Every distinct round shape occurs in the first column and the last ones; walking
         * all rounds is cheap next to the job itself. */
        for (uint64_t r = 0; r < x->n_rounds; r++) {
            rechunk_round_load(x, r, load, cur);
        }
    } else {
        uint64_t used = 0, chunks = 0;
        size_t n_shards = (size_t)1 << x->spec.shard_bits;
        for (size_t s = 0; s < n_shards; s++) {
            used += x->shard_chunks[s] > 0;
            chunks += x->shard_chunks[s];
        }
        printf("exchange: %" PRIu64 " chunks hashed (%s) into %" PRIu64 " of %zu shard files, "
               "written in %" PRIu64 " round%s of up to %" PRIu64
               " shards; each shard by rank (shard mod %d); read units of %" PRId64 "x%" PRId64
               "x%" PRId64 " voxels\n",
               chunks, x->spec.hash == CV_SHARD_HASH_IDENTITY ? "identity" : "murmurhash3_x86_128",
               used, n_shards, x->n_rounds, x->n_rounds == 1 ? "" : "s", x->max_round_shards, n,
               x->unit[0], x->unit[1], x->unit[2]);
        double cb = (double)cv__x_chunk_bytes(x, &x->dg);
        for (uint64_t r = 0; r < x->n_rounds; r++) {
            memset(cur, 0, 4 * (size_t)n * sizeof *cur);
            double total = 0;
            for (uint64_t s = x->bounds[r]; s < x->bounds[r + 1]; s++) {
                cur[4 * (s % (uint64_t)n) + 2] += x->shard_chunks[s] * cb;
                total += x->shard_chunks[s] * cb;
            }
            for (int o = 0; o < n; o++) {
                /* Readers: an even share of the round's boxes, at least the chunks' bytes. */
                double share = total / n;
                load[o].read = share > load[o].read ? share : load[o].read;
                load[o].sent = share > load[o].sent ? share : load[o].sent;
                load[o].received =
                    cur[4 * o + 2] > load[o].received ? cur[4 * o + 2] : load[o].received;
                load[o].written = load[o].received;
            }
        }
    }
    printf("exchange: expected peak %.1f MB per rank (budget %.1f MB); per rank, MB in its "
           "largest round (decoded voxels; encoded chunks are smaller):\n",
           x->est_peak / 1e6, (double)x->memory / 1e6);
    int shown = n < 16 ? n : 16;
    for (int o = 0; o < shown; o++) {
        printf("exchange:   rank %d: reads %.2f, sends %.2f, receives %.2f, writes %.2f\n", o,
               load[o].read / 1e6, load[o].sent / 1e6, load[o].received / 1e6,
               load[o].written / 1e6);
    }
    if (shown < n) {
        printf("exchange:   (%d more ranks)\n", n - shown);
    }
    cv_free(load);
    cv_free(cur);
}

/* ---- running a round: agreement and the trade ------------------------------------------- */

/* Settle a round's outcome on every rank; *failed_here on the lowest failing rank only. */
cv_status cv__x_agree(cv_status rc, bool stop_here, cv_exchange_result *out)
{
    if (!cv_mpi_active()) {
        out->failed_here = rc != CV_OK;
        out->stop = stop_here;
        return rc;
    }
    /* One reduction: the lowest failing rank and whether anyone must stop. cv_mpi_agree (which
     * copies that rank's error record to all) runs only when some rank failed. */
    int in[2] = {rc != CV_OK ? cv_mpi_rank() : INT_MAX, stop_here ? 0 : 1}, all[2];
    cv_coll_allreduce(in, all, 2, MPI_INT, MPI_MIN, "the outcome of the exchange round");
    out->failed_here = all[0] == cv_mpi_rank();
    out->stop = all[1] == 0;
    return all[0] == INT_MAX ? CV_OK : cv_mpi_agree(rc);
}

cv_status cv__x_trade(cv_exchange *x, cv_status local, const uint8_t *send, const size_t *counts,
                      uint8_t **recv, size_t *recv_len, bool *peer_failed)
{
    int n = x->ranks;
    *recv = NULL;
    *recv_len = 0;
    *peer_failed = false;
    if (!cv_mpi_active() || n == 1) {
        CV_TRY(local);
        size_t len = counts[0];
        uint8_t *r = cv_malloc(len ? len : 1);
        if (!r) {
            return CV_FAIL(CV_ERR_NOMEM, "exchange: %zu bytes to receive", len);
        }
        memcpy(r, send, len);
        *recv = r;
        *recv_len = len;
        return CV_OK;
    }
    /* Count arrays were allocated with the plan, so every rank can always take part. */
    int *sc = x->ints, *sd = sc + n, *rcn = sc + 2 * n, *rd = sc + 3 * n;
    cv_status rc = local;
    size_t off = 0;
    for (int r = 0; rc == CV_OK && r < n; r++) {
        off += counts[r];
    }
    if (rc == CV_OK && off > INT_MAX) {
        rc = CV_FAIL(CV_ERR_ARG,
                     "exchange: %zu bytes to send in one round, more than MPI counts allow "
                     "(lower --memory)",
                     off);
    }
    off = 0;
    for (int r = 0; r < n; r++) {
        sc[r] = rc == CV_OK ? (int)counts[r] : 0;
        sd[r] = rc == CV_OK ? (int)off : 0;
        off += rc == CV_OK ? counts[r] : 0;
    }
    cv_coll_alltoall(sc, 1, MPI_INT, rcn, 1, MPI_INT, "the exchange's byte counts");
    long long total = 0;
    for (int r = 0; r < n; r++) {
        rd[r] = (int)total;
        total += rcn[r];
    }
    uint8_t *r = NULL;
    if (rc == CV_OK && total > INT_MAX) {
        rc = CV_FAIL(CV_ERR_ARG,
                     "exchange: %lld bytes to receive in one round, more than MPI counts allow "
                     "(lower --memory)",
                     total);
    }
    if (rc == CV_OK) {
        r = cv_malloc(total ? (size_t)total : 1);
        if (!r) {
            rc = CV_FAIL(CV_ERR_NOMEM, "exchange: %lld bytes to receive", total);
        }
    }
    /* Nobody sends data unless every rank is ready to (a failed rank's counts are zero, so
     * the others' receive counts would not match its sends otherwise). */
    int bad = rc != CV_OK, any_bad = 0;
    cv_coll_allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, "the exchange's readiness check");
    if (any_bad) {
        cv_free(r);
        *peer_failed = rc == CV_OK;
        return rc;
    }
    int mrc = cv_coll_alltoallv(send, sc, sd, MPI_BYTE, r, rcn, rd, MPI_BYTE,
                                "the exchange of chunk data");
    if (mrc != MPI_SUCCESS) {
        cv_free(r);
        return CV_FAIL(CV_ERR_MPI, "exchange: MPI_Alltoallv failed");
    }
    *recv = r;
    *recv_len = (size_t)total;
    return CV_OK;
}

bool cv_exchange_round_exists(cv_exchange *x, uint64_t round, cv_volume *dst)
{
    int all = 0;
    if (x->kind == CV_EXCHANGE_RECHUNK && cv__x_rank() == 0) {
        uint64_t present = 0, total = 0;
        cv_status rc =
            cv_volume_exists(dst, x->dst_mip, cv_exchange_round_box(x, round), &present, &total);
        all = rc == CV_OK && present == total;
        cv_err_clear();
    }
    if (cv_mpi_active()) {
        cv_coll_bcast(&all, 1, MPI_INT, 0, "the check of which rounds exist");
    }
    return all != 0;
}

cv_status cv_exchange_round(cv_exchange *x, uint64_t round, cv_volume *src, cv_volume *dst,
                            bool stop_here, cv_exchange_result *out)
{
    memset(out, 0, sizeof *out);
    if (round >= x->n_rounds) {
        return cv__x_agree(CV_FAIL(CV_ERR_ARG, "exchange: no round %" PRIu64, round), stop_here,
                           out);
    }
    if (x->ranks != (cv_mpi_active() ? cv_mpi_size() : 1)) {
        return cv__x_agree(CV_FAIL(CV_ERR_ARG, "exchange: planned for %d ranks", x->ranks),
                           stop_here, out);
    }
    if (x->kind == CV_EXCHANGE_SHARDS) {
        return cv__x_round_shards(x, round, src, dst, stop_here, out);
    }
    return cv__x_round_rechunk(x, round, src, dst, stop_here, out);
}
