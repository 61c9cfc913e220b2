/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_exchange.c: transfers done in collective rounds with MPI_Alltoallv (see cv_exchange.h).
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
#include "cv_exchange.h"

#include "../shard.h"
#include "../volume.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per-peer byte counts of MPI_Alltoallv are ints: keep a rank's share of a round below this. */
#define MAX_SHARE ((double)(1u << 30))
/* Hashed shards: how many destination chunks the plan may walk, and the largest shard_bits. */
#define MAX_HASHED_CHUNKS ((uint64_t)1 << 26)
#define MAX_HASHED_SHARD_BITS 22

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
    /* hashed shards */
    cv_shard_spec spec;
    int64_t dshape[3], unit[3], nunit[3];
    uint32_t *shard_chunks; /* chunks of the region in each shard */
    uint64_t *bounds;       /* round r holds shards [bounds[r], bounds[r + 1]) */
    uint64_t max_round_shards;
    /* source chunks kept for the next round (re-chunking) */
    held *cache;
    size_t n_cache;
    uint64_t cache_round;
};

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

static size_t chunk_bytes(const cv_exchange *x, const cv_grid *g)
{
    return (size_t)g->chunk[0] * (size_t)g->chunk[1] * (size_t)g->chunk[2] * x->bpv;
}

static int owner_of(const cv_grid *g, const int64_t cell[3], int ranks)
{
    int64_t shape[3];
    cv_grid_shape(g, shape);
    uint64_t lin =
        (uint64_t)cell[0] +
        (uint64_t)shape[0] * ((uint64_t)cell[1] + (uint64_t)shape[1] * (uint64_t)cell[2]);
    return (int)(lin % (uint64_t)ranks);
}

static int my_rank(void)
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
    int64_t srows = ceildiv(rows * cd[2], cs[2]) + 1;
    srows = srows < sgrid[2] ? srows : sgrid[2];
    double n_src = (double)(col[0] / cs[0]) * (double)(col[1] / cs[1]) * (double)srows;
    double n_dst = (double)(col[0] / cd[0]) * (double)(col[1] / cd[1]) * (double)rows;
    double src = ceil(n_src / x->ranks) * (double)chunk_bytes(x, &x->sg);
    double dst = ceil(n_dst / x->ranks) * (double)chunk_bytes(x, &x->dg);
    if (src > MAX_SHARE || dst > MAX_SHARE) {
        return 1e300;
    }
    return 2 * src + 2 * dst + 2.0 * x->threads * (double)chunk_bytes(x, &x->dg);
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

static cv_status cell_shard(const cv_exchange *x, const int64_t cell[3], uint64_t *code,
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
                CV_TRY(cell_shard(x, c, &code, &shard));
                x->shard_chunks[shard]++;
            }
        }
    }
    /* Rounds: shards in increasing order, as many as fit. A shard owner holds the chunks of
     * its shards (counted at their decoded size, an upper bound for any lossless encoding
     * plus the shard file being built) and about as much again to send; readers hold one read
     * unit and one chunk per thread. */
    double unit_bytes = (double)x->unit[0] * (double)x->unit[1] * (double)x->unit[2] * x->bpv;
    double cb = (double)chunk_bytes(x, &x->dg);
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
    x->threads = p->threads > 0 ? p->threads : 1;
    x->memory = p->memory;
    x->skip_existing = p->skip_existing;
    x->bpv = cv_dtype_size(p->src_info->dtype) * (size_t)p->src_info->num_channels;
    x->sg = cv_info_grid(p->src_info, p->src_mip);
    x->dg = cv_info_grid(p->dst_info, p->dst_mip);
    x->region = p->region;
    x->src_mip = p->src_mip;
    x->dst_mip = p->dst_mip;
    x->cache_round = UINT64_MAX;
    cv_status rc =
        p->kind == CV_EXCHANGE_SHARDS ? plan_shards(x, p->dst_info, p->dst_mip) : plan_rechunk(x);
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
                int o = owner_of(&x->sg, c, n);
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
                int o = owner_of(&x->dg, c, n);
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
        double cb = (double)chunk_bytes(x, &x->dg);
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
static cv_status agree(cv_status rc, bool *failed_here)
{
    if (!cv_mpi_active()) {
        *failed_here = rc != CV_OK;
        return rc;
    }
    int me = rc != CV_OK ? cv_mpi_rank() : INT_MAX, lowest = INT_MAX;
    MPI_Allreduce(&me, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    *failed_here = lowest == cv_mpi_rank();
    return cv_mpi_agree(rc);
}

/* Send send[displ[r] .. + counts[r]) to each rank r; *recv (free with cv_free) gets what the
 * others sent, rank by rank. Both phases run whatever `rc`; on a local failure the rank sends
 * nothing. Returns the first local failure. */
static cv_status trade(const uint8_t *send, const size_t *counts, uint8_t **recv, size_t *recv_len)
{
    int n = cv_mpi_size();
    *recv = NULL;
    *recv_len = 0;
    if (!cv_mpi_active() || n == 1) {
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
    int *sc = cv_calloc(4 * (size_t)n, sizeof *sc);
    if (!sc) {
        return CV_FAIL(CV_ERR_NOMEM, "exchange counts");
    }
    int *sd = sc + n, *rcn = sc + 2 * n, *rd = sc + 3 * n;
    long long off = 0;
    for (int r = 0; r < n; r++) {
        sc[r] = (int)counts[r];
        sd[r] = (int)off;
        off += (long long)counts[r];
    }
    MPI_Alltoall(sc, 1, MPI_INT, rcn, 1, MPI_INT, MPI_COMM_WORLD);
    long long total = 0;
    for (int r = 0; r < n; r++) {
        rd[r] = (int)total;
        total += rcn[r];
    }
    cv_status rc = CV_OK;
    uint8_t *r = NULL;
    if (total > INT_MAX) {
        rc = CV_FAIL(CV_ERR_ARG,
                     "exchange: %lld bytes to receive in one round, more than MPI "
                     "counts allow (lower --memory)",
                     total);
        memset(rcn, 0, (size_t)n * sizeof *rcn);
        memset(rd, 0, (size_t)n * sizeof *rd);
        total = 0;
    }
    r = cv_malloc(total ? (size_t)total : 1);
    if (!r) {
        /* Still take part; what arrives is dropped into nothing (counts zeroed). */
        rc = CV_FAIL(CV_ERR_NOMEM, "exchange: %lld bytes to receive", total);
        memset(rcn, 0, (size_t)n * sizeof *rcn);
        memset(rd, 0, (size_t)n * sizeof *rd);
        total = 0;
    }
    /* A receiver that zeroed its counts makes senders' counts mismatch; agree first so
     * everybody skips the data phase together. */
    int bad = rc != CV_OK, any_bad = 0;
    MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any_bad) {
        cv_free(sc);
        cv_free(r);
        return rc != CV_OK ? rc : CV_FAIL(CV_ERR_NOMEM, "exchange: another rank cannot receive");
    }
    int mrc = MPI_Alltoallv(send, sc, sd, MPI_BYTE, r, rcn, rd, MPI_BYTE, MPI_COMM_WORLD);
    cv_free(sc);
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
    if (x->kind == CV_EXCHANGE_RECHUNK && my_rank() == 0) {
        uint64_t present = 0, total = 0;
        cv_status rc =
            cv_volume_exists(dst, x->dst_mip, cv_exchange_round_box(x, round), &present, &total);
        all = rc == CV_OK && present == total;
        cv_err_clear();
    }
    if (cv_mpi_active()) {
        MPI_Bcast(&all, 1, MPI_INT, 0, MPI_COMM_WORLD);
    }
    return all != 0;
}

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
    int me = my_rank();
    for (c[2] = smin[2]; c[2] < smax[2]; c[2]++) {
        for (c[1] = smin[1]; c[1] < smax[1]; c[1]++) {
            for (c[0] = smin[0]; c[0] < smax[0]; c[0]++) {
                if (owner_of(&x->sg, c, x->ranks) != me) {
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
                        int o = owner_of(&x->dg, c, n);
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
    int me = my_rank();
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
                if (owner_of(&x->dg, c, x->ranks) != me || rc != CV_OK) {
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

static cv_status round_rechunk(cv_exchange *x, uint64_t round, cv_volume *src, cv_volume *dst,
                               int src_mip, int dst_mip, bool *failed_here, uint64_t *bytes)
{
    cv_bbox box = cv_exchange_round_box(x, round);
    rechunk_round rr = {.x = x, .src = src, .dst = dst, .src_mip = src_mip, .dst_mip = dst_mip};
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
        *bytes += rr.mine[i].is_fresh ? rr.mine[i].n : 0;
    }
    /* Nothing is traded unless every rank has its pieces. */
    rc = agree(rc, failed_here);
    if (rc == CV_OK) {
        keep_for_next(&rr, round, box);
        rc = trade(send, counts, &recv, &recv_len);
        cv_free(send);
        send = NULL;
        if (rc == CV_OK) {
            rc = assemble(&rr, box, recv, recv_len);
        }
        cv_free(recv);
        if (rc == CV_OK) {
            rc = cv__parallel_for(rr.n_dst, x->threads, write_dest, &rr);
        }
        rc = agree(rc, failed_here);
    } else {
        for (size_t i = 0; i < rr.n_mine; i++) {
            cv_free(rr.mine[i].data);
        }
        cv_free(rr.mine);
        cv_exchange_drop_cache(x);
    }
    cv_free(send);
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
                CV_TRY(cell_shard(x, c, &code, &shard));
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
                cv_status rc = cell_shard(x, c, &code, &shard);
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
    int me = my_rank();
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
    int me = my_rank();
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

static cv_status round_shards(cv_exchange *x, uint64_t round, cv_volume *src, cv_volume *dst,
                              int src_mip, int dst_mip, bool *failed_here, uint64_t *bytes)
{
    shard_round sr = {.x = x, .src = src, .dst = dst, .src_mip = src_mip, .dst_mip = dst_mip};
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
        *bytes += sr.voxel_bytes[t < CV_MAX_THREADS ? t : 0];
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
    rc = agree(rc, failed_here);
    if (rc == CV_OK) {
        rc = trade(send, counts, &recv, &recv_len);
        cv_free(send);
        send = NULL;
        if (rc == CV_OK) {
            rc = write_shards(&sr, recv, recv_len);
        }
        cv_free(recv);
        rc = agree(rc, failed_here);
    }
    cv_free(send);
    cv_free(counts);
    return rc;
}

cv_status cv_exchange_round(cv_exchange *x, uint64_t round, cv_volume *src, cv_volume *dst,
                            bool *failed_here, uint64_t *voxel_bytes)
{
    *failed_here = false;
    *voxel_bytes = 0;
    if (round >= x->n_rounds) {
        return agree(CV_FAIL(CV_ERR_ARG, "exchange: no round %" PRIu64, round), failed_here);
    }
    if (x->ranks != (cv_mpi_active() ? cv_mpi_size() : 1)) {
        return agree(CV_FAIL(CV_ERR_ARG, "exchange: planned for %d ranks", x->ranks), failed_here);
    }
    if (x->kind == CV_EXCHANGE_SHARDS) {
        return round_shards(x, round, src, dst, x->src_mip, x->dst_mip, failed_here, voxel_bytes);
    }
    return round_rechunk(x, round, src, dst, x->src_mip, x->dst_mip, failed_here, voxel_bytes);
}
