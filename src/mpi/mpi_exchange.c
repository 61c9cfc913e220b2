/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_exchange.c: transfers done in collective rounds (see cv_exchange.h): planning the rounds,
 * printing the plan, each rank's traffic in a round (from the plan alone), message parts, the
 * distributed --skip-existing check and the outcome every round ends with. The rounds
 * themselves and their point-to-point trade are in mpi_exchange_rechunk.c. (Hashed shards are
 * not rounds: see cv_hashed.h.)
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
 * Every round ends with the ranks agreeing on the outcome, so a failure on one rank never
 * leaves another waiting. No MPI calls off the calling thread. */
#include "mpi/cv_exchange_int.h"

#include "base/intmath.h"
#include "mpi/cv_collective.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The smallest step from v on that is prime to n (n >= 1). */
static uint64_t prime_to(uint64_t v, uint64_t n)
{
    while (cv__gcd_i64((int64_t)v, (int64_t)n) != 1) { /* both below 2^32 */
        v++;
    }
    return v;
}

/* Cells go round the ranks in grid order (x fastest), each row starting R cells on from the
 * last and each plane P on, where R and P are the row's and the plane's length moved up to the
 * nearest numbers prime to the rank count: the rows' and the planes' starts then visit every
 * rank, so the smaller cells at the grid's upper edges, and a row's remainder past a multiple
 * of the rank count, spread over all ranks. (Plain grid order, with 2 ranks and rows of an even
 * number of cells, gave every edge cell to one rank; starting each row one rank further, as
 * before, did the same to rows of an odd number: a seventh more to write for that rank in every
 * round, which the other waited for.) With 2 ranks this is a checkerboard. */
int cv__x_owner(const cv_grid *g, const int64_t cell[3], int ranks)
{
    int64_t shape[3];
    cv_grid_shape(g, shape);
    uint64_t n = ranks > 0 ? (uint64_t)ranks : 1;
    uint64_t row = prime_to((uint64_t)shape[0] % n, n) % n;
    uint64_t plane = prime_to(row * ((uint64_t)shape[1] % n) % n, n) % n;
    uint64_t at =
        (uint64_t)cell[0] % n + (uint64_t)cell[1] % n * row % n + (uint64_t)cell[2] % n * plane % n;
    return (int)(at % n);
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
    for (int64_t k = 0; k < cv__lcm_i64(cd[2], cs[2]) / cd[2]; k++) {
        int64_t a = k * cd[2], touched = (a + len - 1) / cs[2] - a / cs[2] + 1;
        srows = touched > srows ? touched : srows;
    }
    srows = srows < sgrid[2] ? srows : sgrid[2];
    double n_src = (double)(col[0] / cs[0]) * (double)(col[1] / cs[1]) * (double)srows;
    double n_dst = (double)(col[0] / cd[0]) * (double)(col[1] / cd[1]) * (double)rows;
    double src = ceil(n_src / x->ranks) * (double)cv__x_chunk_bytes(x, &x->sg);
    double dst = ceil(n_dst / x->ranks) * (double)cv__x_chunk_bytes(x, &x->dg);
    return 2 * src + 2 * dst + 2.0 * x->threads * (double)cv__x_chunk_bytes(x, &x->dg);
}

static void set_geometry(cv_exchange *x, const int64_t col[2], int64_t rows, double peak)
{
    int64_t total_rows = ceildiv(x->region.max[2] - x->region.min[2], x->dg.chunk[2]);
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
}

static cv_status plan_rechunk(cv_exchange *x)
{
    int64_t unit[2], extent[3];
    for (int d = 0; d < 2; d++) {
        unit[d] = cv__lcm_i64(x->sg.chunk[d], x->dg.chunk[d]);
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
    set_geometry(x, col, rows, peak);
    return CV_OK;
}

cv_status cv_exchange_use_geometry(cv_exchange *x, const cv_exchange_geometry *g)
{
    int64_t extent[3], unit[2];
    for (int d = 0; d < 3; d++) {
        extent[d] = x->region.max[d] - x->region.min[d];
    }
    int64_t total_rows = ceildiv(extent[2], x->dg.chunk[2]);
    bool valid = g->rows >= 1 && g->rows <= total_rows;
    for (int d = 0; d < 2; d++) {
        unit[d] = cv__lcm_i64(x->sg.chunk[d], x->dg.chunk[d]);
        /* at most twice the region plus a unit: what planning can reach */
        valid = valid && g->col[d] >= unit[d] && g->col[d] % unit[d] == 0 &&
                g->col[d] <= 2 * (extent[d] + unit[d]);
    }
    if (!valid) {
        return CV_FAIL(CV_ERR_ARG,
                       "exchange: rounds of columns %" PRId64 "x%" PRId64 ", %" PRId64
                       " rows do not fit these chunk grids",
                       g->col[0], g->col[1], g->rows);
    }
    double peak = rechunk_peak(x, g->col, g->rows);
    if (peak > (double)x->memory) {
        return CV_FAIL(CV_ERR_ARG,
                       "exchange: the journal's rounds (columns of %" PRId64 "x%" PRId64
                       " voxels, %" PRId64 " destination chunk row%s) need about %.2f MB per rank "
                       "with %d rank%s, more than the %.2f MB memory budget (resume with more "
                       "ranks or a larger --memory, or start again without --resume)",
                       g->col[0], g->col[1], g->rows, g->rows == 1 ? "" : "s", peak / 1e6, x->ranks,
                       x->ranks == 1 ? "" : "s", (double)x->memory / 1e6);
    }
    set_geometry(x, g->col, g->rows, peak);
    return CV_OK;
}

void cv_exchange_geometry_of(const cv_exchange *x, cv_exchange_geometry *g)
{
    g->col[0] = x->col[0];
    g->col[1] = x->col[1];
    g->rows = x->rows;
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
    x->message_limit = CV_X_MESSAGE_LIMIT;
    const char *limit = getenv("CVMPI_TEST_EXCHANGE_MESSAGE_BYTES"); /* tests: many parts */
    if (limit && atol(limit) > 0) {
        x->message_limit = (size_t)atol(limit);
    }
    x->src_spares.bytes = cv__x_chunk_bytes(x, &x->sg);
    x->dst_spares.bytes = cv__x_chunk_bytes(x, &x->dg);
    x->peer_bytes = cv_calloc((size_t)x->ranks, sizeof *x->peer_bytes);
    x->touched = cv_calloc((size_t)x->ranks, sizeof *x->touched);
    cv_status rc = x->peer_bytes && x->touched ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "exchange plan");
    if (rc == CV_OK) {
        rc = plan_rechunk(x);
    }
    if (rc != CV_OK) {
        cv_exchange_free(x);
        return rc;
    }
    *out = x;
    return CV_OK;
}

void cv__x_drop_kept(cv_exchange *x)
{
    for (size_t i = 0; i < x->n_cache; i++) {
        cv__x_give_chunk(x, &x->src_spares, x->cache[i].data);
    }
    cv_free(x->cache);
    x->cache = NULL;
    x->n_cache = 0;
    x->cache_round = UINT64_MAX;
}

void cv_exchange_drop_cache(cv_exchange *x)
{
    cv__x_drop_next(x);
    cv__x_drop_kept(x);
}

uint8_t *cv__x_take_chunk(cv_exchange *x, cv_x_spares *s)
{
    x->chunk_buffers_taken++;
    if (s->n > 0) {
        return s->buf[--s->n];
    }
    uint8_t *buf = cv_malloc(s->bytes ? s->bytes : 1);
    if (buf) {
        cv__x_hold(x, s->bytes);
        x->chunk_buffers_made++;
    }
    return buf;
}

void cv__x_give_chunk(cv_exchange *x, cv_x_spares *s, uint8_t *buf)
{
    if (!buf) {
        return;
    }
    if (s->n == s->slots) {
        size_t slots = s->slots ? 2 * s->slots : 16;
        uint8_t **grown = cv_realloc(s->buf, slots * sizeof *grown);
        if (!grown) {
            cv__x_release(x, s->bytes); /* no room to keep it: it goes back now */
            cv_free(buf);
            return;
        }
        s->buf = grown;
        s->slots = slots;
    }
    s->buf[s->n++] = buf;
}

static void free_spares(cv_exchange *x, cv_x_spares *s)
{
    for (size_t i = 0; i < s->n; i++) {
        cv__x_release(x, s->bytes);
        cv_free(s->buf[i]);
    }
    cv_free(s->buf);
    s->buf = NULL;
    s->n = s->slots = 0;
}

uint8_t *cv__x_arena(cv_exchange *x, cv_x_arena *a, size_t bytes)
{
    if (bytes > a->cap || !a->data) {
        cv__x_release(x, a->cap);
        cv_free(a->data);
        a->cap = 0;
        a->data = cv_malloc(bytes ? bytes : 1);
        if (!a->data) {
            return NULL;
        }
        a->cap = bytes;
        cv__x_hold(x, bytes);
    }
    return a->data;
}

static void free_arena(cv_exchange *x, cv_x_arena *a)
{
    cv__x_release(x, a->cap);
    cv_free(a->data);
    a->data = NULL;
    a->cap = 0;
}

void cv__x_hold(cv_exchange *x, size_t bytes)
{
    size_t now = __atomic_add_fetch(&x->held, bytes, __ATOMIC_RELAXED);
    size_t peak = __atomic_load_n(&x->held_peak, __ATOMIC_RELAXED);
    while (now > peak && !__atomic_compare_exchange_n(&x->held_peak, &peak, now, true,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

void cv__x_release(cv_exchange *x, size_t bytes)
{
    __atomic_sub_fetch(&x->held, bytes, __ATOMIC_RELAXED);
}

void cv_exchange_free(cv_exchange *x)
{
    if (!x) {
        return;
    }
    cv_exchange_drop_cache(x);
    free_spares(x, &x->src_spares);
    free_spares(x, &x->dst_spares);
    free_arena(x, &x->send_arena);
    free_arena(x, &x->recv_arena);
    uint64_t shared = x->shm.messages_shared;
    cv__x_shm_free(x);
    if (getenv("CVMPI_TEST_EXCHANGE_HELD") && x->held_peak > 0) {
        /* tests: the most chunk data this rank held at once, against --memory, and how many
         * chunk buffers it allocated for the chunks it read or assembled */
        fprintf(stderr,
                "exchange: rank %d held at most %zu bytes of chunk data (budget %zu), %zu at the "
                "end; %zu chunk buffers made for %zu chunks\n",
                cv__x_rank(), x->held_peak, x->memory, x->held, x->chunk_buffers_made,
                x->chunk_buffers_taken);
        fprintf(stderr, "exchange: rank %d packed the messages of %" PRIu64 " rounds ahead\n",
                cv__x_rank(), x->rounds_packed_ahead);
        fprintf(stderr, "exchange: rank %d read %" PRIu64 " messages from the senders' memory\n",
                cv__x_rank(), shared);
    }
    cv_free(x->peer_bytes);
    cv_free(x->touched);
    cv_free(x);
}

uint64_t cv_exchange_rounds(const cv_exchange *x)
{
    return x->n_rounds;
}

cv_bbox cv_exchange_round_box(const cv_exchange *x, uint64_t round)
{
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
    snprintf(buf, cap, "rechunk column=%" PRId64 ",%" PRId64 " rows=%" PRId64, x->col[0], x->col[1],
             x->rows);
}

bool cv_exchange_parse_signature(const char *text, cv_exchange_geometry *g)
{
    const char *at = text ? strstr(text, "rechunk column=") : NULL;
    long long c0, c1, rows;
    if (!at || sscanf(at, "rechunk column=%lld,%lld rows=%lld", &c0, &c1, &rows) != 3 || c0 <= 0 ||
        c1 <= 0 || rows <= 0) {
        return false;
    }
    g->col[0] = (int64_t)c0;
    g->col[1] = (int64_t)c1;
    g->rows = (int64_t)rows;
    return true;
}

uint64_t cv_exchange_round_bytes(const cv_exchange *x)
{
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
    int64_t smin[3], smax[3], c[3], dmin[3], dmax[3];
    cv_grid_cells(&x->sg, box, smin, smax);
    cv_grid_cells(&x->dg, box, dmin, dmax);
    double n_src = (double)(smax[0] - smin[0]) * (double)(smax[1] - smin[1]) *
                   (double)(smax[2] - smin[2]),
           n_dst = (double)(dmax[0] - dmin[0]) * (double)(dmax[1] - dmin[1]) *
                   (double)(dmax[2] - dmin[2]);
    if (n_src + n_dst > 1e6) {
        /* Chunks are dealt by linear index mod ranks: in a round this large no rank holds more
         * than its whole share, rounded up, of full chunks. */
        double sb = ceil(n_src / n) * (double)cv__x_chunk_bytes(x, &x->sg),
               db = ceil(n_dst / n) * (double)cv__x_chunk_bytes(x, &x->dg);
        for (int o = 0; o < n; o++) {
            load[o].read = fmax(load[o].read, sb);
            load[o].sent = fmax(load[o].sent, sb);
            load[o].received = fmax(load[o].received, db);
            load[o].written = fmax(load[o].written, db);
        }
        return;
    }
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

/* Who trades with whom in the largest rounds: the most ranks one rank sends to and receives
 * from (itself not counted), and the most messages of a round. */
typedef struct round_links {
    int send_peers, recv_peers;
    double messages;
    bool bound; /* from chunk counts (a round too large to walk pair by pair) */
} round_links;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t l = *(const uint64_t *)a, r = *(const uint64_t *)b;
    return (l > r) - (l < r);
}

/* Destination cells one source chunk can overlap (and the other way round), at most. */
static double cells_touched(const int64_t *from, const int64_t *to)
{
    double n = 1;
    for (int d = 0; d < 3; d++) {
        n *= (double)((from[d] - 1) / to[d] + 2 < from[d] + 1 ? (from[d] - 1) / to[d] + 2
                                                              : from[d] + 1);
    }
    return n;
}

static void rechunk_round_links(const cv_exchange *x, uint64_t r, round_links *lk, int *count)
{
    cv_bbox box = cv_exchange_round_box(x, r);
    int n = x->ranks;
    int64_t smin[3], smax[3], c[3], e[3], dmin[3], dmax[3];
    cv_grid_cells(&x->sg, box, smin, smax);
    cv_grid_cells(&x->dg, box, dmin, dmax);
    double n_src = (double)(smax[0] - smin[0]) * (double)(smax[1] - smin[1]) *
                   (double)(smax[2] - smin[2]),
           n_dst = (double)(dmax[0] - dmin[0]) * (double)(dmax[1] - dmin[1]) *
                   (double)(dmax[2] - dmin[2]);
    double per_src = cells_touched(x->sg.chunk, x->dg.chunk),
           per_dst = cells_touched(x->dg.chunk, x->sg.chunk);
    uint64_t *pairs = n_src * per_src <= 4e6 ? cv_malloc((size_t)(n_src * per_src) * 8 + 8) : NULL;
    if (!pairs) {
        int sp = (int)fmin(n - 1, ceil(n_src / n) * per_src),
            rp = (int)fmin(n - 1, ceil(n_dst / n) * per_dst);
        lk->send_peers = sp > lk->send_peers ? sp : lk->send_peers;
        lk->recv_peers = rp > lk->recv_peers ? rp : lk->recv_peers;
        lk->messages = fmax(lk->messages, fmin((double)n * sp, n_src * per_src));
        lk->bound = true;
        return;
    }
    size_t np = 0;
    for (c[2] = smin[2]; c[2] < smax[2]; c[2]++) {
        for (c[1] = smin[1]; c[1] < smax[1]; c[1]++) {
            for (c[0] = smin[0]; c[0] < smax[0]; c[0]++) {
                int so = cv__x_owner(&x->sg, c, n);
                cv_bbox part = cv_bbox_intersect(cv_grid_cell_box(&x->sg, c), box);
                cv_grid_cells(&x->dg, part, dmin, dmax);
                for (e[2] = dmin[2]; e[2] < dmax[2]; e[2]++) {
                    for (e[1] = dmin[1]; e[1] < dmax[1]; e[1]++) {
                        for (e[0] = dmin[0]; e[0] < dmax[0]; e[0]++) {
                            int dd = cv__x_owner(&x->dg, e, n);
                            if (dd != so) {
                                pairs[np++] = (uint64_t)so * (uint64_t)n + (uint64_t)dd;
                            }
                        }
                    }
                }
            }
        }
    }
    qsort(pairs, np, sizeof *pairs, cmp_u64);
    size_t distinct = 0;
    memset(count, 0, 2 * (size_t)n * sizeof *count);
    for (size_t i = 0; i < np; i++) {
        if (i > 0 && pairs[i] == pairs[i - 1]) {
            continue;
        }
        distinct++;
        count[pairs[i] / (uint64_t)n]++;            /* sends */
        count[n + (int)(pairs[i] % (uint64_t)n)]++; /* receives */
    }
    for (int o = 0; o < n; o++) {
        lk->send_peers = count[o] > lk->send_peers ? count[o] : lk->send_peers;
        lk->recv_peers = count[n + o] > lk->recv_peers ? count[n + o] : lk->recv_peers;
    }
    lk->messages = fmax(lk->messages, (double)distinct);
    cv_free(pairs);
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
    printf("exchange: re-chunking %" PRId64 "x%" PRId64 "x%" PRId64 " -> %" PRId64 "x%" PRId64
           "x%" PRId64 " in %" PRIu64 " rounds: columns of %" PRId64 "x%" PRId64 " voxels (%" PRId64
           "x%" PRId64 "), %" PRId64 " destination chunk row%s (%" PRId64 " voxels) per round\n",
           x->sg.chunk[0], x->sg.chunk[1], x->sg.chunk[2], x->dg.chunk[0], x->dg.chunk[1],
           x->dg.chunk[2], x->n_rounds, x->col[0], x->col[1], x->ncol[0], x->ncol[1], x->rows,
           x->rows == 1 ? "" : "s", x->rows * x->dg.chunk[2]);
    /* Every distinct round shape occurs in the first, a middle and the last column along x and
     * y, and the first, a middle and the last round of a column; walking every round is cheap
     * next to the job itself until a plan has thousands of rounds (a petavoxel --dry-run),
     * then those 27 stand for the rest. */
    bool sampled = x->n_rounds > 4096;
    round_links lk = {0, 0, 0, false};
    int *links = cv_calloc(2 * (size_t)n, sizeof *links);
    if (!links) {
        cv_free(load);
        cv_free(cur);
        return;
    }
    if (!sampled) {
        for (uint64_t r = 0; r < x->n_rounds; r++) {
            rechunk_round_load(x, r, load, cur);
            rechunk_round_links(x, r, &lk, links);
        }
    } else {
        int64_t pick[3][3];
        const int64_t count[3] = {x->ncol[0], x->ncol[1], x->zrounds};
        for (int d = 0; d < 3; d++) {
            pick[d][0] = 0;
            pick[d][1] = count[d] / 2;
            pick[d][2] = count[d] - 1;
        }
        for (int a = 0; a < 27; a++) {
            uint64_t column =
                (uint64_t)pick[0][a % 3] + (uint64_t)x->ncol[0] * (uint64_t)pick[1][a / 3 % 3];
            uint64_t r = column * (uint64_t)x->zrounds + (uint64_t)pick[2][a / 9];
            rechunk_round_load(x, r, load, cur);
            rechunk_round_links(x, r, &lk, links);
        }
    }
    cv_free(links);
    printf("exchange: per round a rank sends to at most %d and receives from at most %d of the "
           "%d other ranks%s; %.0f point-to-point messages in the busiest round (parts of at "
           "most 1 GiB), no all-to-all; collectives per round: 1 MPI_Iallreduce (outcome and "
           "next round's readiness, while the next round's chunks are read), 3 with "
           "--skip-existing\n",
           lk.send_peers, lk.recv_peers, n - 1, lk.bound ? " (bounds from the chunk counts)" : "",
           lk.messages);
    printf("exchange: expected peak %.1f MB per rank (budget %.1f MB); per rank, MB in its "
           "largest round%s (decoded voxels; encoded chunks are smaller):\n",
           x->est_peak / 1e6, (double)x->memory / 1e6,
           sampled ? ", from 27 rounds of every shape" : "");
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

void cv__x_agree_start(cv_x_agreement *a, cv_status rc, bool stop_here, bool next_ready)
{
    /* One reduction: the lowest failing rank, whether anyone must stop and whether every
     * rank made the next round's buffers. cv_mpi_agree (which copies the failing rank's error
     * record to all) runs only when some rank failed. */
    a->in[0] = rc != CV_OK ? cv__x_rank() : INT_MAX;
    a->in[1] = stop_here ? 0 : 1;
    a->in[2] = next_ready ? 1 : 0;
    if (!cv_mpi_active()) {
        memcpy(a->all, a->in, sizeof a->all);
        return;
    }
    cv_coll_iallreduce(a->in, a->all, 3, MPI_INT, MPI_MIN, &a->pending);
}

cv_status cv__x_agree_finish(cv_x_agreement *a, cv_status rc, cv_exchange_result *out,
                             bool *next_ready)
{
    if (cv_mpi_active()) {
        cv_coll_finish(&a->pending, "the outcome of the exchange round");
    }
    out->failed_here = a->all[0] == cv__x_rank() && rc != CV_OK;
    out->stop = a->all[1] == 0;
    if (next_ready) {
        *next_ready = a->all[2] == 1;
    }
    if (!cv_mpi_active()) {
        return rc;
    }
    return a->all[0] == INT_MAX ? CV_OK : cv_mpi_agree(rc);
}

cv_status cv__x_agree(cv_status rc, bool stop_here, cv_exchange_result *out)
{
    cv_x_agreement a;
    cv__x_agree_start(&a, rc, stop_here, false);
    return cv__x_agree_finish(&a, rc, out, NULL);
}

size_t cv__x_piece_bytes(const cv_exchange *x, cv_bbox piece)
{
    return sizeof(int64_t) * 6 + (size_t)cv_bbox_voxels(piece) * x->bpv;
}

size_t cv__x_parts(size_t bytes, size_t limit)
{
    return bytes <= limit ? 1 : bytes / limit + (bytes % limit != 0);
}

size_t cv__x_part_len(size_t bytes, size_t limit, size_t i)
{
    size_t at = i * limit;
    return at >= bytes ? 0 : (bytes - at < limit ? bytes - at : limit);
}

static void add_peer(cv_exchange *x, int *n_touched, int r, size_t bytes)
{
    if (x->peer_bytes[r] == 0) {
        x->touched[(*n_touched)++] = r;
    }
    x->peer_bytes[r] += bytes;
}

static int cmp_int(const void *a, const void *b)
{
    int l = *(const int *)a, r = *(const int *)b;
    return (l > r) - (l < r);
}

/* The peers touched so far, sorted, into a new list; clears the scratch. */
static cv_status take_peers(cv_exchange *x, int n_touched, cv_x_peer **out, int *n_out)
{
    qsort(x->touched, (size_t)n_touched, sizeof *x->touched, cmp_int);
    *out = cv_calloc(n_touched ? (size_t)n_touched : 1, sizeof **out);
    for (int i = 0; i < n_touched; i++) {
        int r = x->touched[i];
        if (*out) {
            (*out)[i].rank = r;
            (*out)[i].bytes = x->peer_bytes[r];
        }
        x->peer_bytes[r] = 0;
    }
    *n_out = *out ? n_touched : 0;
    return *out ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "exchange: %d peers", n_touched);
}

/* Tally, by peer, the bytes of the pieces of this rank's cells of `mine` inside `box`: each
 * piece is a cell of `mine` cut by the box and by a cell of `other`, whose owner is the peer.
 * With mine = source grid these are the sends; with mine = destination grid, the receives. */
static void tally_pieces(cv_exchange *x, cv_bbox box, int me, const cv_grid *mine,
                         const cv_grid *other, int *n_touched)
{
    int64_t amin[3], amax[3], bmin[3], bmax[3], a[3], b[3];
    cv_grid_cells(mine, box, amin, amax);
    for (a[2] = amin[2]; a[2] < amax[2]; a[2]++) {
        for (a[1] = amin[1]; a[1] < amax[1]; a[1]++) {
            for (a[0] = amin[0]; a[0] < amax[0]; a[0]++) {
                if (cv__x_owner(mine, a, x->ranks) != me) {
                    continue;
                }
                cv_bbox part = cv_bbox_intersect(cv_grid_cell_box(mine, a), box);
                cv_grid_cells(other, part, bmin, bmax);
                for (b[2] = bmin[2]; b[2] < bmax[2]; b[2]++) {
                    for (b[1] = bmin[1]; b[1] < bmax[1]; b[1]++) {
                        for (b[0] = bmin[0]; b[0] < bmax[0]; b[0]++) {
                            cv_bbox piece = cv_bbox_intersect(part, cv_grid_cell_box(other, b));
                            add_peer(x, n_touched, cv__x_owner(other, b, x->ranks),
                                     cv__x_piece_bytes(x, piece));
                        }
                    }
                }
            }
        }
    }
}

cv_status cv__x_traffic(cv_exchange *x, cv_bbox box, int me, cv_x_peer **send, int *n_send,
                        cv_x_peer **recv, int *n_recv)
{
    *send = *recv = NULL;
    *n_send = *n_recv = 0;
    int n_touched = 0;
    tally_pieces(x, box, me, &x->sg, &x->dg, &n_touched);
    CV_TRY(take_peers(x, n_touched, send, n_send));
    n_touched = 0;
    tally_pieces(x, box, me, &x->dg, &x->sg, &n_touched);
    cv_status rc = take_peers(x, n_touched, recv, n_recv);
    if (rc != CV_OK) {
        cv_free(*send);
        *send = NULL;
        *n_send = 0;
    }
    return rc;
}

bool cv_exchange_round_exists(cv_exchange *x, uint64_t round, cv_volume *dst)
{
    /* Each rank looks at the destination chunks it owns in the round (the ones it would
     * write), then one reduction: the round exists when every rank found all of its own. */
    cv_bbox box = cv_exchange_round_box(x, round);
    int me = cv__x_rank(), mine = 1, all = 0;
    int64_t dmin[3], dmax[3], c[3];
    cv_grid_cells(&x->dg, box, dmin, dmax);
    for (c[2] = dmin[2]; mine && c[2] < dmax[2]; c[2]++) {
        for (c[1] = dmin[1]; mine && c[1] < dmax[1]; c[1]++) {
            for (c[0] = dmin[0]; mine && c[0] < dmax[0]; c[0]++) {
                if (cv__x_owner(&x->dg, c, x->ranks) != me) {
                    continue;
                }
                uint64_t present = 0, total = 0;
                cv_status rc = cv_volume_exists(dst, x->dst_mip,
                                                cv_bbox_intersect(cv_grid_cell_box(&x->dg, c), box),
                                                &present, &total);
                mine = rc == CV_OK && present == total;
                cv_err_clear();
            }
        }
    }
    if (!cv_mpi_active()) {
        return mine != 0;
    }
    cv_coll_allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, "the check of which rounds exist");
    return all != 0;
}

cv_status cv_exchange_round(cv_exchange *x, uint64_t round, uint64_t next, cv_volume *src,
                            cv_volume *dst, bool stop_here, cv_exchange_result *out)
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
    return cv__x_round_rechunk(x, round, next, src, dst, stop_here, out);
}
