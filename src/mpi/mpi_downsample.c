/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_downsample.c: `cvmpi downsample` across ranks (cloudvolume-conventions §7.2-7.4). Every
 * rank adds the new scales to its copy of the info as add_scale does (rank 0 commits it) and
 * computes the same plan: stage 0 tasks read chunk-aligned blocks of the source once and make
 * as many levels as fit in --memory; each later stage is a level of a reduction tree whose
 * nodes cover prod(factor)^k children: the children's small top-level state (voxels, or carried
 * sums) is sent to the rank owning the node (MPI_Alltoallv; owners are chosen at each stage from
 * the ranks' throughput and where the states are, cv_tree_sched.h), which assembles it and
 * makes the next levels, so nothing above the tasks is read back from storage. A node's top state
 * goes to its rank's state file (cv_tree_state.h) and the node to the journal, so --resume redoes
 * neither; the exchange reads the files back in rounds bounded by --memory.
 *
 * Sharded new scales (--sharded, --sharding): wherever a task or a tree node would write a
 * level's chunks, it encodes them into that level's spill file instead (cv_hashed.h, one spill
 * directory per level beside the journal); after the tree's last stage each level's records go
 * to their shards' owners, which write every shard file once, whole. Journal ids: tasks, tree
 * nodes, then each level's shards. */
#include "mpi/cv_collective.h"
#include "mpi/cv_compress.h"
#include "mpi/cv_downsample_job.h"

#include "base/json_py.h"
#include "base/intmath.h"
#include "mpi/cv_failures.h"
#include "io/store.h"
#include "shard/shard.h"
#include "mpi/cv_hashed.h"
#include "mpi/cv_journal.h"
#include "mpi/cv_monitor.h"
#include "mpi/cv_progress.h"
#include "mpi/cv_sched.h"
#include "mpi/cv_stale_temps.h"
#include "mpi/cv_transfer.h"
#include "mpi/cv_tree_exchange.h"
#include "mpi/cv_tree_sched.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_LEVELS 32

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* One stage of the plan: nodes that take the state of level `lo` of their box and make levels
 * lo+1..hi. Stage 0's nodes are the tasks reading the source (lo = 0). */
typedef struct stage {
    int lo, hi;
    int64_t block[3];  /* node box at the source mip, on a lattice from the region's corner */
    int64_t counts[3]; /* nodes per axis */
    int64_t ratio[3];  /* children per axis (stage > 0) */
    uint64_t n, first_id;
} stage;

typedef struct job {
    const cv_downsample_params *p;
    cv_volume *v;
    int mip, n_levels;
    cv_downsample_method method;
    int64_t f[3];
    int64_t pow_f[MAX_LEVELS + 1][3];
    int level_mip[MAX_LEVELS + 1];
    cv_bbox region;
    cv_dtype dtype;
    int64_t channels;
    size_t esz, memory;
    const char *memory_source;
    stage st[MAX_LEVELS + 1];
    int n_stages;
    uint64_t n_ids;
    size_t task_bytes; /* one task's source voxels: the buffer every rank allocates */
    cv_journal *journal;
    cv_sched *sched;
    cv_progress progress;
    cv_failures fail;
    char dir[4096], tree_dir[4200];
    uint64_t done, skipped, tree_done, tree_skipped;
    cv_state_file *out; /* this rank's states of the stage it is making */
    int max_ranks;      /* the most ranks any run of the job had: whose state files exist */
    size_t round_bytes[MAX_LEVELS + 1]; /* the exchange before stage s: bytes each way */
    cv_hashed *sink[MAX_LEVELS + 1];    /* sharded level k: its spilled chunks; else NULL */
    double shard_ids;                   /* journal ids of every level's shards */
    double sink_bytes;                  /* the sinks' chunk buffers, kept the whole job */
    uint32_t sharding_hash;             /* of every new scale's sharding, for the journal */
    char sink_dir[MAX_LEVELS + 1][16];  /* level k's spill directory under the journal's */
    uint64_t shards_written;            /* by every rank (finish_sinks) */
    double busy_seconds, busy_bytes;    /* this rank's tasks and nodes so far: its throughput */
    int *own_order;                     /* the current tree stage's owner table: ranks by slot, */
    uint64_t *own_bound;                /* slot k makes nodes own_bound[k]..own_bound[k+1]-1 */
    int own_slot;                       /* this rank's slot */
    uint64_t own_count;                 /* and its unfinished nodes */
} job;

/* ---- geometry of the plan ------------------------------------------------------------- */

static cv_bbox node_box(const job *j, int s, uint64_t idx)
{
    const stage *st = &j->st[s];
    int64_t i[3] = {(int64_t)(idx % (uint64_t)st->counts[0]),
                    (int64_t)(idx / (uint64_t)st->counts[0] % (uint64_t)st->counts[1]),
                    (int64_t)(idx / (uint64_t)(st->counts[0] * st->counts[1]))};
    cv_bbox b;
    for (int d = 0; d < 3; d++) {
        b.min[d] = j->region.min[d] + i[d] * st->block[d];
        b.max[d] = b.min[d] + st->block[d];
        if (b.max[d] > j->region.max[d]) {
            b.max[d] = j->region.max[d];
        }
    }
    return b;
}

/* Shape of a box's pyramid at `level`: ceil(extent / factor^level). */
static void level_shape(const job *j, cv_bbox b, int level, int64_t out[3])
{
    for (int d = 0; d < 3; d++) {
        out[d] = ceil_div(b.max[d] - b.min[d], j->pow_f[level][d]);
    }
}

static size_t state_voxel_bytes(const job *j, int level)
{
    return cv_downsample_state_size(j->dtype, j->method, j->p->sparse, j->f, level) *
           (size_t)j->channels;
}

static size_t state_bytes(const job *j, cv_bbox b, int level)
{
    int64_t s[3];
    level_shape(j, b, level, s);
    return (size_t)(s[0] * s[1] * s[2]) * state_voxel_bytes(j, level);
}

/* A node box of `block` voxels clipped to the region (at the origin). */
static cv_bbox clipped(const job *j, const int64_t block[3])
{
    int64_t b[3];
    for (int d = 0; d < 3; d++) {
        int64_t e = j->region.max[d] - j->region.min[d];
        b[d] = block[d] < e ? block[d] : e;
    }
    return cv_bbox_make(0, 0, 0, b[0], b[1], b[2]);
}

/* The chunk workers' buffers beside a node's arrays. Reading (stage 0), each of up to
 * --threads workers holds a chunk five times: fetched, decoded, copied out, and the freed
 * buffers the allocator keeps in the worker's arena. Writing a level, three times (cut out,
 * encoded, kept). Reading and writing come one after the other. */
static double worker_bytes(const job *j, cv_bbox box, int lo, int hi)
{
    const cv_info *info = cv_volume_info(j->v);
    double threads = (double)(j->p->threads > 0 ? j->p->threads : 4), most = 0;
    for (int k = lo == 0 ? 0 : lo + 1; k <= hi; k++) {
        const int64_t *c = info->scales[j->level_mip[k]].chunk_sizes[0];
        int64_t e[3];
        level_shape(j, box, k, e);
        double chunks = 1, bytes = (double)j->channels * (double)j->esz;
        for (int d = 0; d < 3; d++) {
            chunks *= (double)ceil_div(e[d], c[d]);
            bytes *= (double)(c[d] < e[d] ? c[d] : e[d]);
        }
        double busy = fmin(chunks, threads) * bytes * (k == 0 ? 5.0 : 3.0);
        most = fmax(most, busy);
    }
    return most;
}

/* Memory a node of `block` voxels (clipped to the region) needs for levels lo+1..hi: its input
 * state, every level it writes, its output state, the kernels' temporaries (two arrays of
 * 32-bit sums of the first level, one channel) and the chunk workers' buffers. */
static double node_need(const job *j, const int64_t block[3], int lo, int hi)
{
    cv_bbox box = clipped(j, block);
    double need = (double)state_bytes(j, box, lo);
    for (int k = lo + 1; k <= hi; k++) {
        int64_t s[3];
        level_shape(j, box, k, s);
        need += (double)s[0] * (double)s[1] * (double)s[2] * (double)j->channels * (double)j->esz;
    }
    need += (double)state_bytes(j, box, hi);
    int64_t s1[3];
    level_shape(j, box, lo + 1, s1);
    /* The kernels carry sums slab by slab along z: a plane for 2x2x1, 2^(levels-1) planes of
     * the first level for 2x2x2. */
    double planes = j->f[2] == 1 ? 1.0 : fmin((double)s1[2], ldexp(1.0, hi - lo - 1));
    need += 2.0 * (double)s1[0] * (double)s1[1] * planes * 4.0;
    bool f22 = j->f[0] == 2 && j->f[1] == 2 && j->f[2] <= 2;
    if (!f22 && j->esz < 4 && state_voxel_bytes(j, lo + 1) == 4 * (size_t)j->channels) {
        /* carried float32 (numpy path): the input as float32, and two float32 levels */
        int64_t s0[3];
        level_shape(j, box, lo, s0);
        need += ((double)s0[0] * (double)s0[1] * (double)s0[2] +
                 2.0 * (double)s1[0] * (double)s1[1] * (double)s1[2]) *
                (double)j->channels * 4.0;
    }
    return need + worker_bytes(j, box, lo, hi);
}

/* The largest top state of stage s's nodes: one record of the exchange after it. */
static size_t max_record(const job *j, int s)
{
    return state_bytes(j, clipped(j, j->st[s].block), j->st[s].hi);
}

/* What a rank keeps whatever it does: the journal's bitmap of finished tasks, nodes and
 * shards, and with sharded levels each level's buffers for one chunk and its encoding. */
static double fixed_bytes(const job *j)
{
    return ((double)j->n_ids + j->shard_ids) / 8.0 + j->sink_bytes;
}

/* The exchange into stage s: the index of the records a rank sends (its share of stage s-1's
 * nodes) and receives (its nodes' children), as growing arrays (up to twice their count). */
static double index_bytes(const job *j, int s)
{
    double ranks = (double)cv_mpi_plan_ranks();
    const stage *st = &j->st[s];
    double sends = ceil((double)j->st[s - 1].n / ranks),
           recvs =
               ceil((double)st->n / ranks) * (double)(st->ratio[0] * st->ratio[1] * st->ratio[2]);
    return 2.0 * (sends * (double)sizeof(cv_tree_send) + recvs * (double)sizeof(cv_state_rec));
}

/* Peak memory of a rank in each phase: running tasks; exchanging into a tree stage (the
 * indexes and a round's send and receive buffers); making a stage's nodes (one node's arrays
 * and one child's state read back from the inbox). */
static void plan_peak(const job *j, double *tasks, double *exchange, double *nodes)
{
    *tasks = fixed_bytes(j) + node_need(j, j->st[0].block, j->st[0].lo, j->st[0].hi);
    *exchange = *nodes = 0;
    for (int s = 1; s < j->n_stages; s++) {
        double keep = fixed_bytes(j) + index_bytes(j, s);
        *exchange = fmax(*exchange, keep + 2.0 * (double)j->round_bytes[s]);
        *nodes = fmax(*nodes, keep + node_need(j, j->st[s].block, j->st[s].lo, j->st[s].hi) +
                                  (double)max_record(j, s - 1));
    }
}

/* Each exchange round moves at most this many bytes each way: enough for a few dozen records
 * (and at least 64 MiB, to keep rounds few) but no more than a rank can have to move, within
 * what the budget leaves beside the indexes. */
static cv_status plan_rounds(job *j)
{
    for (int s = 1; s < j->n_stages; s++) {
        double wire = (double)cv_tree_wire_bytes(max_record(j, s - 1));
        double left = ((double)j->memory - fixed_bytes(j) - index_bytes(j, s)) / 2.0;
        double want = fmin(fmax(64.0 * 1048576.0, 16.0 * wire), 1073741824.0);
        /* no more than all a rank can have to send or receive */
        double ranks = (double)cv_mpi_plan_ranks(),
               ratio = (double)(j->st[s].ratio[0] * j->st[s].ratio[1] * j->st[s].ratio[2]);
        double all = fmax(ceil((double)j->st[s - 1].n / ranks),
                          fmin(ceil((double)j->st[s].n / ranks) * ratio, (double)j->st[s - 1].n));
        double round = fmin(left, fmin(want, all * wire));
        if (round < wire) {
            return CV_FAIL(CV_ERR_ARG,
                           "downsample: the exchange into tree stage %d needs about %.2f MB per "
                           "rank (a %.2f MB node state each way and %.2f MB of index), more than "
                           "--memory %.2f MB (raise --memory or use more ranks)",
                           s, (2.0 * wire + fixed_bytes(j) + index_bytes(j, s)) / 1e6, wire / 1e6,
                           index_bytes(j, s) / 1e6, (double)j->memory / 1e6);
        }
        j->round_bytes[s] = (size_t)round;
    }
    return CV_OK;
}

/* A node box making levels lo+1..lo+n must be a multiple of chunk_k x factor^k for each level k
 * it writes, so each of its writes is whole chunks; `base` (the children's block, or the
 * source chunk for tasks) keeps the stages nested. */
static void aligned_block(const job *j, const int64_t base[3], int lo, int n, int64_t out[3])
{
    const cv_info *info = cv_volume_info(j->v);
    for (int d = 0; d < 3; d++) {
        int64_t b = base[d];
        for (int k = lo + 1; k <= lo + n; k++) {
            b = cv__lcm_i64(b, info->scales[j->level_mip[k]].chunk_sizes[0][d] * j->pow_f[k][d]);
        }
        out[d] = b;
    }
}

static cv_status plan_stages(job *j)
{
    const cv_info *info = cv_volume_info(j->v);
    int64_t base[3];
    memcpy(base, info->scales[j->mip].chunk_sizes[0], sizeof base);
    int lo = 0;
    j->n_stages = 0;
    j->n_ids = 0;
    while (lo < j->n_levels) {
        stage *st = &j->st[j->n_stages];
        int best = 0;
        int64_t blk[3];
        for (int n = j->n_levels - lo; n >= 1 && !best; n--) {
            int64_t grown[3];
            for (int d = 0; d < 3; d++) {
                grown[d] = lo == 0 ? base[d] : base[d] * (j->pow_f[lo + n][d] / j->pow_f[lo][d]);
            }
            aligned_block(j, grown, lo, n, blk);
            /* a tree node also reads one child's state back at a time */
            double child = lo == 0 ? 0 : (double)state_bytes(j, clipped(j, base), lo);
            if (fixed_bytes(j) + node_need(j, blk, lo, lo + n) + child <= (double)j->memory) {
                best = n;
            }
        }
        if (!best) {
            aligned_block(j, base, lo, 1, blk);
            return CV_FAIL(CV_ERR_ARG,
                           "downsample: making level %d needs blocks of %" PRId64 "x%" PRId64
                           "x%" PRId64 " voxels and %.0f bytes, more than --memory %zu",
                           lo + 1, blk[0], blk[1], blk[2], node_need(j, blk, lo, lo + 1),
                           j->memory);
        }
        st->lo = lo;
        st->hi = lo + best;
        memcpy(st->block, blk, sizeof blk);
        st->n = 1;
        for (int d = 0; d < 3; d++) {
            st->counts[d] = ceil_div(j->region.max[d] - j->region.min[d], blk[d]);
            st->ratio[d] = blk[d] / base[d];
            st->n *= (uint64_t)st->counts[d];
        }
        st->first_id = j->n_ids;
        j->n_ids += st->n;
        memcpy(base, blk, sizeof base);
        lo = st->hi;
        j->n_stages++;
    }
    CV_TRY(plan_rounds(j));
    double tasks, exchange, nodes;
    plan_peak(j, &tasks, &exchange, &nodes);
    double peak = fmax(tasks, fmax(exchange, nodes));
    if (peak > (double)j->memory) {
        return CV_FAIL(CV_ERR_ARG,
                       "downsample: a rank needs about %.2f MB (tasks %.2f MB, tree exchange "
                       "%.2f MB, tree nodes %.2f MB), more than --memory %.2f MB (raise --memory "
                       "or use more ranks)",
                       peak / 1e6, tasks / 1e6, exchange / 1e6, nodes / 1e6,
                       (double)j->memory / 1e6);
    }
    /* A task is a stage-0 block clipped to the region: its bytes are the task buffer. */
    cv_bbox task = j->region;
    for (int d = 0; d < 3; d++) {
        if (j->st[0].block[d] < task.max[d] - task.min[d]) {
            task.max[d] = task.min[d] + j->st[0].block[d];
        }
    }
    return cv_volume_check_box(j->v, task, &j->task_bytes);
}

static uint64_t parent_of(const job *j, int s, uint64_t child)
{
    const stage *c = &j->st[s - 1], *p = &j->st[s];
    int64_t i[3] = {(int64_t)(child % (uint64_t)c->counts[0]),
                    (int64_t)(child / (uint64_t)c->counts[0] % (uint64_t)c->counts[1]),
                    (int64_t)(child / (uint64_t)(c->counts[0] * c->counts[1]))};
    return (uint64_t)(i[0] / p->ratio[0]) +
           (uint64_t)p->counts[0] * ((uint64_t)(i[1] / p->ratio[1]) +
                                     (uint64_t)p->counts[1] * (uint64_t)(i[2] / p->ratio[2]));
}

/* The rank making node idx of the current tree stage: the slot whose range holds it. */
static int owner_of(const job *j, uint64_t idx)
{
    int lo = 0, hi = cv_mpi_size() - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (j->own_bound[mid + 1] > idx) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return j->own_order[lo];
}

/* ---- node state files ------------------------------------------------------------------ */

/* <tree>/s<stage>-r<rank>.state: the top states rank `rank` (of whichever run) made in stage s;
 * <tree>/in<stage>-r<rank>.state: what the rank received for stage s. */
static void state_file_path(const job *j, const char *kind, int s, int rank, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s%d-r%d.state", j->tree_dir, kind, s, rank);
}

/* Open this rank's file for the states of stage s, appending to what a stopped run of the
 * same rank left. */
static cv_status open_stage_output(job *j, int s)
{
    CV_TRY(cv_state_close(j->out));
    j->out = NULL;
    if (s + 1 >= j->n_stages) {
        return CV_OK;
    }
    char path[4400];
    state_file_path(j, "s", s, cv_mpi_rank(), path, sizeof path);
    return cv_state_open(path, false, &j->out);
}

/* ---- one node -------------------------------------------------------------------------- */

/* Make levels lo+1..hi of `box` from `in` (the state of level lo), write them, and return the
 * top state in *top (allocated) when a later stage needs it. */
static cv_status make_levels(job *j, int s, cv_bbox box, const void *in, uint8_t **top)
{
    const stage *st = &j->st[s];
    int n = st->hi - st->lo;
    void *lv[MAX_LEVELS] = {0};
    int64_t shp[MAX_LEVELS][3];
    bool need_top = s + 1 < j->n_stages;
    uint8_t *out_state = need_top ? cv_malloc(state_bytes(j, box, st->hi)) : NULL;
    cv_status rc = need_top && !out_state ? CV_FAIL(CV_ERR_NOMEM, "downsample: state") : CV_OK;
    for (int k = 0; k < n && rc == CV_OK; k++) {
        int64_t s3[3];
        level_shape(j, box, st->lo + k + 1, s3);
        lv[k] = cv_malloc((size_t)(s3[0] * s3[1] * s3[2] * j->channels) * j->esz);
        if (!lv[k]) {
            rc = CV_FAIL(CV_ERR_NOMEM, "downsample: level %d of a task", st->lo + k + 1);
        }
    }
    int64_t in_shape[3];
    level_shape(j, box, st->lo, in_shape);
    if (rc == CV_OK) {
        rc = cv_downsample_levels(j->dtype, j->channels, in, in_shape, j->f, j->method,
                                  j->p->sparse, st->lo, n, lv, shp, out_state);
    }
    const cv_info *info = cv_volume_info(j->v);
    for (int k = 0; k < n && rc == CV_OK; k++) {
        int level = st->lo + k + 1;
        const cv_scale *sc = &info->scales[j->level_mip[level]];
        int64_t o[3];
        for (int d = 0; d < 3; d++) {
            o[d] = sc->voxel_offset[d] + (box.min[d] - j->region.min[d]) / j->pow_f[level][d];
        }
        cv_bbox ob =
            cv_bbox_make(o[0], o[1], o[2], o[0] + shp[k][0], o[1] + shp[k][1], o[2] + shp[k][2]);
        rc = j->sink[level]
                 ? cv_hashed_task(j->sink[level], j->v, ob, lv[k], cv_volume_box_bytes(j->v, ob))
                 : cv_volume_write(j->v, j->level_mip[level], ob, lv[k],
                                   cv_volume_box_bytes(j->v, ob));
    }
    for (int k = 0; k < n; k++) {
        cv_free(lv[k]);
    }
    if (rc != CV_OK) {
        cv_free(out_state);
        return rc;
    }
    *top = out_state;
    return CV_OK;
}

/* Finish node `idx` of stage `s` from its input state: levels, its top state appended to
 * this rank's state file for the next stage, then the journal entry. */
static cv_status finish_node(job *j, int s, uint64_t idx, cv_bbox box, const void *in)
{
    uint8_t *top = NULL;
    CV_TRY(make_levels(j, s, box, in, &top));
    cv_status rc = CV_OK;
    if (top) {
        rc = cv_state_append(j->out, idx, top, state_bytes(j, box, j->st[s].hi), NULL);
        cv_free(top);
    }
    if (rc == CV_OK) {
        rc = cv_journal_record(j->journal, j->st[s].first_id + idx);
    }
    return rc;
}

static void test_delay_of(const char *var)
{
    /* Tests slow tasks (or the shard writes) down to interrupt a job mid-way, or, with
     * CVMPI_TEST_SLOW_RANK, one rank's only: a straggler for the tree's scheduling. */
    const char *slow = getenv("CVMPI_TEST_SLOW_RANK");
    if (slow && *slow && strtol(slow, NULL, 10) != cv_mpi_rank()) {
        return;
    }
    const char *delay = getenv(var);
    long ms = delay ? strtol(delay, NULL, 10) : 0;
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void test_delay(void)
{
    test_delay_of("CVMPI_TEST_TASK_DELAY_MS");
}

static cv_status run_task(job *j, uint64_t idx, uint8_t *buf, size_t cap)
{
    double t0 = cv_now();
    test_delay();
    cv_bbox box = node_box(j, 0, idx);
    size_t n = cv_volume_box_bytes(j->v, box);
    if (n > cap) {
        return CV_FAIL(CV_ERR_ARG, "task %" PRIu64 " needs %zu bytes, the buffer has %zu", idx, n,
                       cap);
    }
    cv_status rc = cv_volume_read(j->v, j->mip, box, buf, n);
    if (rc == CV_OK) {
        rc = finish_node(j, 0, idx, box, buf);
    }
    j->busy_seconds += cv_now() - t0;
    j->busy_bytes += (double)n;
    return rc;
}

static void note_failure(job *j, int s, uint64_t idx)
{
    cv_failures_note(&j->fail, j->st[s].first_id + idx, node_box(j, s, idx), cv_err_last()->what);
    CV_LOG(CV_LOG_ERROR, "task %" PRIu64 " failed: %s", j->st[s].first_id + idx,
           cv_err_last()->what);
}

static void work_tasks(job *j)
{
    size_t cap = j->task_bytes;
    uint8_t *buf = cv_malloc(cap);
    if (!buf) {
        CV_FAIL(CV_ERR_NOMEM, "downsample: task buffer of %zu bytes", cap);
        cv_failures_note(&j->fail, 0, j->region, cv_err_last()->what);
        cv_sched_abort(j->sched);
        return;
    }
    uint64_t idx;
    cv_coll_phase("downsampling tasks");
    while (!cv_mpi_terminated() && cv_sched_next(j->sched, &idx)) {
        if (cv_journal_is_done(j->journal, idx)) {
            j->skipped++;
            cv_sched_done(j->sched);
            continue;
        }
        cv_err_clear();
        cv_sched_working_on(j->sched, idx);
        cv_status rc = run_task(j, idx, buf, cap);
        cv_sched_working_on(j->sched, UINT64_MAX);
        if (!cv_sched_done(j->sched)) {
            continue; /* a reissued copy of this task finished first and counts it */
        }
        if (rc == CV_OK) {
            j->done++;
        } else {
            note_failure(j, 0, idx);
            if (j->p->fail_fast) {
                cv_sched_abort(j->sched);
            }
        }
    }
    if (cv_mpi_terminated()) {
        cv_sched_abort(j->sched);
    }
    cv_free(buf);
}

/* ---- the reduction tree ---------------------------------------------------------------- */

/* The state files of stage s-1 this rank reads: those of ranks rank, rank + P, ... of every
 * run so far, so a resumed run with fewer ranks reads the files of the ranks it lacks too. */
static cv_status list_inputs(const job *j, int s, char ***paths, size_t *n)
{
    int size = cv_mpi_size();
    size_t count = 0;
    for (int q = cv_mpi_rank(); q < j->max_ranks; q += size) {
        count++;
    }
    *n = 0;
    *paths = cv_calloc(count ? count : 1, sizeof **paths);
    if (!*paths) {
        return CV_FAIL(CV_ERR_NOMEM, "downsample: state file list");
    }
    for (int q = cv_mpi_rank(); q < j->max_ranks; q += size) {
        char path[4400];
        state_file_path(j, "s", s - 1, q, path, sizeof path);
        if (!((*paths)[(*n)++] = cv__strdup(path))) {
            return CV_FAIL(CV_ERR_NOMEM, "downsample: state file list");
        }
    }
    return CV_OK;
}

static void free_paths(char **paths, size_t n)
{
    for (size_t i = 0; paths && i < n; i++) {
        cv_free(paths[i]);
    }
    cv_free(paths);
}

/* The records of this rank's input files whose parents the journal does not list as done
 * (their destinations are set once the stage's owners are known), and in *mine the bytes of
 * those states and where their parents are. */
static cv_status list_sends(const job *j, int s, char *const *paths, size_t n_paths,
                            cv_tree_send **out, size_t *n_out, cv_tree_figures *mine)
{
    cv_state_rec *recs = NULL;
    size_t n = 0, cap = 0;
    cv_status rc = CV_OK;
    for (size_t i = 0; rc == CV_OK && i < n_paths; i++) {
        rc = cv_state_scan(paths[i], (uint32_t)i, &recs, &n, &cap);
    }
    cv_tree_send *sends = rc == CV_OK ? cv_calloc(n ? n : 1, sizeof *sends) : NULL;
    if (rc == CV_OK && !sends) {
        rc = CV_FAIL(CV_ERR_NOMEM, "downsample: %zu tree records", n);
    }
    size_t kept = 0;
    for (size_t i = 0; rc == CV_OK && i < n; i++) {
        const cv_state_rec *r = &recs[i];
        if (r->idx >= j->st[s - 1].n ||
            r->bytes != state_bytes(j, node_box(j, s - 1, r->idx), j->st[s - 1].hi)) {
            rc = CV_FAIL(CV_ERR_CORRUPT,
                         "`%s': a state of %" PRIu64 " bytes for node %" PRIu64
                         ", which stage %d does not have (rerun without --resume)",
                         paths[r->file], r->bytes, r->idx, s - 1);
            break;
        }
        uint64_t parent = parent_of(j, s, r->idx);
        if (!cv_journal_is_done(j->journal, j->st[s].first_id + parent)) {
            sends[kept++] = (cv_tree_send){*r, -1};
            mine->held += (double)r->bytes;
            mine->held_at += (double)parent * (double)r->bytes;
        }
    }
    cv_free(recs);
    if (rc != CV_OK) {
        cv_free(sends);
        return rc;
    }
    *out = sends;
    *n_out = kept;
    return CV_OK;
}

/* The most unfinished nodes of stage s a rank may make: the planned even share plus, at most
 * doubling it, as many as the extra index entries of fit in what the plan leaves: while the
 * nodes run, the memory beside their peak; in this stage's exchange (the children received)
 * and the next one's (the states sent), what the round buffers can give up (exchange_round). */
static uint64_t node_cap(const job *j, int s, uint64_t undone, int size)
{
    uint64_t share = undone / (uint64_t)size + (undone % (uint64_t)size != 0);
    if (size == 1) {
        return undone;
    }
    const stage *st = &j->st[s];
    double ratio = (double)(st->ratio[0] * st->ratio[1] * st->ratio[2]);
    double rec = 2.0 * ratio * (double)sizeof(cv_state_rec); /* per node, grown twice */
    double nodes = fixed_bytes(j) + index_bytes(j, s) + node_need(j, st->block, st->lo, st->hi) +
                   (double)max_record(j, s - 1);
    double extra = fmax(0.0, (double)j->memory - nodes) / rec;
    double wire = (double)cv_tree_wire_bytes(max_record(j, s - 1));
    extra = fmin(extra, 2.0 * fmax(0.0, (double)j->round_bytes[s] - wire) / rec);
    if (s + 1 < j->n_stages) {
        double next = (double)cv_tree_wire_bytes(max_record(j, s));
        extra = fmin(extra, 2.0 * fmax(0.0, (double)j->round_bytes[s + 1] - next) /
                                (2.0 * (double)sizeof(cv_tree_send)));
    }
    extra = fmin(extra, (double)share);
    return share + (uint64_t)extra;
}

/* The round size of the exchange into stage s on this rank: what the plan gave, less what this
 * rank's indexes take beyond the plan's (it sends or receives more than an even share). */
static size_t exchange_round(const job *j, int s, size_t n_sends)
{
    const stage *st = &j->st[s];
    double ratio = (double)(st->ratio[0] * st->ratio[1] * st->ratio[2]);
    double index = 2.0 * ((double)n_sends * (double)sizeof(cv_tree_send) +
                          (double)j->own_count * ratio * (double)sizeof(cv_state_rec));
    double over = index - index_bytes(j, s), round = (double)j->round_bytes[s];
    double wire = (double)cv_tree_wire_bytes(max_record(j, s - 1));
    return over > 0 ? (size_t)fmax(wire, round - over / 2.0) : j->round_bytes[s];
}

/* Stage s's owner table from every rank's figures (`mine`: this rank's held states; the
 * throughput is added here), the same on every rank: counts by throughput, ranges laid out by
 * where the states are (cv_tree_sched.h), then cut at the journal's unfinished nodes so a
 * resumed stage is shared as evenly. Collective. */
static cv_status plan_owners(job *j, int s, cv_tree_figures mine)
{
    int size = cv_mpi_size();
    cv_free(j->own_order);
    cv_free(j->own_bound);
    j->own_order = cv_calloc((size_t)size, sizeof *j->own_order);
    j->own_bound = cv_calloc((size_t)size + 1, sizeof *j->own_bound);
    uint64_t *count = cv_calloc((size_t)size, sizeof *count);
    cv_tree_figures *all = cv_calloc((size_t)size, sizeof *all);
    cv_status rc = j->own_order && j->own_bound && count && all
                       ? CV_OK
                       : CV_FAIL(CV_ERR_NOMEM, "downsample: the owner table of %d ranks", size);
    rc = cv_mpi_agree(rc);
    if (rc != CV_OK) {
        cv_free(count);
        cv_free(all);
        return rc;
    }
    /* --schedule static: even shares, whatever the timing */
    mine.seconds = j->p->is_static ? 0 : j->busy_seconds;
    mine.bytes = j->p->is_static ? 0 : j->busy_bytes;
    all[0] = mine;
    if (cv_mpi_active()) {
        cv_coll_gather(&mine, 4, MPI_DOUBLE, all, 4, MPI_DOUBLE, 0, "the ranks' throughput");
        cv_coll_bcast(all, 4 * size, MPI_DOUBLE, 0, "the ranks' throughput");
    }
    const stage *st = &j->st[s];
    uint64_t undone = 0;
    for (uint64_t idx = 0; idx < st->n; idx++) {
        undone += !cv_journal_is_done(j->journal, st->first_id + idx);
    }
    cv_tree_sched_plan(all, size, undone, node_cap(j, s, undone, size), j->own_order, count);
    uint64_t idx = 0;
    for (int k = 0; k < size; k++) {
        for (uint64_t need = count[k]; need > 0 && idx < st->n; idx++) {
            need -= !cv_journal_is_done(j->journal, st->first_id + idx);
        }
        j->own_bound[k + 1] = k + 1 == size ? st->n : idx;
        if (j->own_order[k] == cv_mpi_rank()) {
            j->own_slot = k;
            j->own_count = count[k];
        }
    }
    if (cv_mpi_rank() == 0 && size > 1) {
        /* per rank, up to 16 ranks: its nodes and its throughput relative to the mean */
        char text[16 * 48] = "", *at = text;
        uint64_t least = UINT64_MAX, most = 0;
        double mean = 0;
        for (int r = 0; r < size; r++) {
            mean += all[r].seconds > 0 ? all[r].bytes / all[r].seconds / size : 0;
        }
        for (int r = 0; r < size; r++) {
            int k = 0;
            while (j->own_order[k] != r) {
                k++;
            }
            least = count[k] < least ? count[k] : least;
            most = count[k] > most ? count[k] : most;
            if (size <= 16) {
                double speed = all[r].seconds > 0 ? all[r].bytes / all[r].seconds : 0;
                at += snprintf(at, sizeof text - (size_t)(at - text), "%s%" PRIu64 " (%.2f)",
                               r ? ", " : "", count[k], mean > 0 ? speed / mean : 1.0);
            }
        }
        if (size > 16) {
            snprintf(text, sizeof text, "from %" PRIu64 " to %" PRIu64, least, most);
        }
        CV_LOG(CV_LOG_INFO,
               "tree stage %d: %" PRIu64 " unfinished nodes by rank (throughput relative to the "
               "mean): %s",
               s, undone, text);
    }
    cv_free(count);
    cv_free(all);
    return CV_OK;
}

/* Send every state of stage s-1 to the rank owning its parent in stage s, once the owners are
 * planned; what this rank gets is in *inbox, located by *got (sorted by child). Collective. */
static cv_status exchange(job *j, int s, cv_state_file **inbox, cv_state_rec **got, size_t *n_got)
{
    char **paths = NULL, in_path[4400];
    size_t n_paths = 0, n_sends = 0;
    cv_tree_send *sends = NULL;
    cv_tree_figures mine = {0};
    cv_status rc = list_inputs(j, s, &paths, &n_paths);
    if (rc == CV_OK) {
        rc = list_sends(j, s, paths, n_paths, &sends, &n_sends, &mine);
    }
    cv_status planned = plan_owners(j, s, mine);
    if (planned != CV_OK) {
        cv_free(sends);
        free_paths(paths, n_paths);
        return planned; /* on every rank */
    }
    double moved[2] = {0, 0}, all_moved[2] = {0, 0}; /* bytes kept on this rank, and in all */
    for (size_t i = 0; rc == CV_OK && i < n_sends; i++) {
        sends[i].dest = owner_of(j, parent_of(j, s, sends[i].rec.idx));
        moved[0] += sends[i].dest == cv_mpi_rank() ? (double)sends[i].rec.bytes : 0;
        moved[1] += (double)sends[i].rec.bytes;
    }
    if (cv_mpi_active()) {
        cv_coll_reduce(moved, all_moved, 2, MPI_DOUBLE, MPI_SUM, 0, "the tree states kept");
    }
    if (cv_mpi_rank() == 0 && cv_mpi_size() > 1 && all_moved[1] > 0) {
        CV_LOG(CV_LOG_INFO, "tree stage %d: %.0f%% of %.1f MB of child states stay on their rank",
               s, 100.0 * all_moved[0] / all_moved[1], all_moved[1] / 1e6);
    }
    state_file_path(j, "in", s, cv_mpi_rank(), in_path, sizeof in_path);
    if (rc == CV_OK) {
        rc = cv_state_open(in_path, true, inbox);
    }
    /* Every rank takes part in the rounds, whatever failed here. */
    cv_status ex =
        cv_tree_exchange(sends, rc == CV_OK ? n_sends : 0, paths, n_paths, max_record(j, s - 1),
                         exchange_round(j, s, n_sends), *inbox, got, n_got);
    rc = rc == CV_OK ? ex : rc;
    cv_free(sends);
    free_paths(paths, n_paths);
    return cv_mpi_agree(rc);
}

static const cv_state_rec *find_child(const cv_state_rec *got, size_t n, uint64_t idx)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (got[mid].idx < idx) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && got[lo].idx == idx ? &got[lo] : NULL;
}

/* Copy a child's state (shape cs) into its parent's (shape ps) at offset `off`, channel by
 * channel (x fastest, channel slowest). */
static void place(uint8_t *dst, const int64_t ps[3], const uint8_t *src, const int64_t cs[3],
                  const int64_t off[3], int64_t channels, size_t vb)
{
    for (int64_t c = 0; c < channels; c++) {
        for (int64_t z = 0; z < cs[2]; z++) {
            for (int64_t y = 0; y < cs[1]; y++) {
                const uint8_t *from = src + (size_t)(((c * cs[2] + z) * cs[1] + y) * cs[0]) * vb;
                uint8_t *to =
                    dst +
                    (size_t)((((c * ps[2] + z + off[2]) * ps[1] + y + off[1]) * ps[0]) + off[0]) *
                        vb;
                memcpy(to, from, (size_t)cs[0] * vb);
            }
        }
    }
}

/* Node idx of stage s: gather its children's states from the inbox, then finish it. */
static cv_status run_node(job *j, int s, uint64_t idx, const cv_state_file *inbox,
                          const cv_state_rec *got, size_t n_got)
{
    test_delay();
    test_delay_of("CVMPI_TEST_NODE_DELAY_MS");
    const stage *st = &j->st[s], *cs = &j->st[s - 1];
    cv_bbox box = node_box(j, s, idx);
    int64_t ps[3];
    level_shape(j, box, st->lo, ps);
    size_t vb = cv_downsample_state_size(j->dtype, j->method, j->p->sparse, j->f, st->lo);
    size_t child_max = max_record(j, s - 1);
    uint8_t *in = cv_malloc(state_bytes(j, box, st->lo));
    uint8_t *child = cv_malloc(child_max ? child_max : 1);
    if (!in || !child) {
        cv_free(in);
        cv_free(child);
        return CV_FAIL(CV_ERR_NOMEM, "downsample: tree node of %zu bytes",
                       state_bytes(j, box, st->lo));
    }
    int64_t i[3] = {(int64_t)(idx % (uint64_t)st->counts[0]),
                    (int64_t)(idx / (uint64_t)st->counts[0] % (uint64_t)st->counts[1]),
                    (int64_t)(idx / (uint64_t)(st->counts[0] * st->counts[1]))};
    cv_status rc = CV_OK;
    for (int64_t cz = i[2] * st->ratio[2]; rc == CV_OK && cz < (i[2] + 1) * st->ratio[2]; cz++) {
        for (int64_t cy = i[1] * st->ratio[1]; rc == CV_OK && cy < (i[1] + 1) * st->ratio[1];
             cy++) {
            for (int64_t cx = i[0] * st->ratio[0]; rc == CV_OK && cx < (i[0] + 1) * st->ratio[0];
                 cx++) {
                if (cx >= cs->counts[0] || cy >= cs->counts[1] || cz >= cs->counts[2]) {
                    continue;
                }
                uint64_t c = (uint64_t)(cx + cs->counts[0] * (cy + cs->counts[1] * cz));
                cv_bbox cb = node_box(j, s - 1, c);
                const cv_state_rec *rec = find_child(got, n_got, c);
                if (!rec) {
                    rc = CV_FAIL(CV_ERR_IO, "downsample: input task %" PRIu64 " did not finish",
                                 cs->first_id + c);
                    break;
                }
                rc = cv_state_read_own(inbox, rec, child);
                if (rc == CV_OK) {
                    int64_t csh[3], off[3];
                    level_shape(j, cb, st->lo, csh);
                    for (int d = 0; d < 3; d++) {
                        off[d] = (cb.min[d] - box.min[d]) / j->pow_f[st->lo][d];
                    }
                    place(in, ps, child, csh, off, j->channels, vb);
                }
            }
        }
    }
    cv_free(child);
    if (rc == CV_OK) {
        rc = finish_node(j, s, idx, box, in);
    }
    cv_free(in);
    return rc;
}

static bool any_terminated(void)
{
    int mine = cv_mpi_terminated(), all = mine;
    if (cv_mpi_active()) {
        cv_coll_allreduce(&mine, &all, 1, MPI_INT, MPI_MAX, "the check for an interruption");
    }
    return all != 0;
}

static bool any_aborted(job *j)
{
    int mine = j->p->fail_fast && j->fail.count > 0, all = mine;
    if (cv_mpi_active()) {
        cv_coll_allreduce(&mine, &all, 1, MPI_INT, MPI_MAX, "the check for --fail-fast");
    }
    return all != 0;
}

/* Stages 1.. : exchange, then each rank finishes the nodes it owns. Collective. */
static cv_status work_tree(job *j)
{
    for (int s = 1; s < j->n_stages; s++) {
        if (any_terminated() || any_aborted(j)) {
            return CV_OK;
        }
        /* Every rank's states of the stage before are on disk before any rank reads them. */
        cv_status rc = cv_mpi_agree(cv_state_close(j->out));
        j->out = NULL;
        if (cv_mpi_active()) {
            cv_coll_barrier("the end of a tree stage");
        }
        cv_coll_phase("tree stage %d", s);
        cv_state_file *inbox = NULL;
        cv_state_rec *got = NULL;
        size_t n_got = 0;
        if (rc == CV_OK) {
            rc = exchange(j, s, &inbox, &got, &n_got);
        }
        if (rc == CV_OK) {
            rc = cv_mpi_agree(open_stage_output(j, s));
        }
        if (rc != CV_OK) {
            cv_state_close(inbox);
            cv_free(got);
            return rc;
        }
        if (cv_mpi_rank() == 0) {
            CV_LOG(CV_LOG_INFO,
                   "tree stage %d: %" PRIu64 " nodes make levels %d..%d from %" PRId64
                   " children each",
                   s, j->st[s].n, j->st[s].lo + 1, j->st[s].hi,
                   j->st[s].ratio[0] * j->st[s].ratio[1] * j->st[s].ratio[2]);
        }
        for (uint64_t idx = j->own_bound[j->own_slot];
             idx < j->own_bound[j->own_slot + 1] && !cv_mpi_terminated(); idx++) {
            if (cv_journal_is_done(j->journal, j->st[s].first_id + idx)) {
                j->tree_skipped++;
                continue;
            }
            cv_err_clear();
            cv_coll_task(j->st[s].first_id + idx);
            double t0 = cv_now();
            cv_status done = run_node(j, s, idx, inbox, got, n_got);
            j->busy_seconds += cv_now() - t0;
            j->busy_bytes += (double)state_bytes(j, node_box(j, s, idx), j->st[s].lo);
            if (done == CV_OK) {
                j->tree_done++;
            } else {
                note_failure(j, s, idx);
            }
            cv_coll_task(UINT64_MAX);
        }
        /* The inbox is only needed until the stage's nodes are made. */
        char in_path[4400];
        state_file_path(j, "in", s, cv_mpi_rank(), in_path, sizeof in_path);
        cv_state_close(inbox);
        unlink(in_path);
        cv_free(got);
    }
    return CV_OK;
}

/* ---- setup ----------------------------------------------------------------------------- */

/* igneous compute_factors: over the downsampled axes, log(size/chunk)/log(factor) + 1e-4. */
static int default_num_mips(const cv_scale *s, const int64_t f[3])
{
    double n = INFINITY;
    for (int i = 0; i < 3; i++) {
        if (f[i] > 1) {
            double v = log((double)s->size[i] / (double)s->chunk_sizes[0][i]) / log((double)f[i]);
            n = fmin(n, v + 1e-4);
        }
    }
    return isfinite(n) && n >= 1.0 ? (int)n : 1;
}

/* Levels stop where an axis would shrink to 0 voxels: add_scale's size is ceil(size0 / f^k),
 * which never reaches 0 but stops shrinking once f^k > size0 (floor(size0 / f^k) == 0), so
 * those levels would only repeat the last one over ever larger tasks. */
static cv_status limit_levels(job *j, const cv_info *info)
{
    const cv_scale *s0 = &info->scales[0], *src = &info->scales[j->mip];
    int max = 0;
    for (int k = 1; k <= j->n_levels; k++) {
        bool fits = true;
        for (int d = 0; d < 3; d++) {
            /* the factor of level k relative to scale 0, as add_scale takes it */
            double total = src->resolution[d] / s0->resolution[d] * pow((double)j->f[d], k);
            fits = fits && (j->f[d] == 1 || total <= (double)s0->size[d]);
        }
        if (!fits) {
            break;
        }
        max = k;
    }
    if (max == 0) {
        return CV_FAIL(CV_ERR_ARG,
                       "downsample: mip %d of size %" PRId64 "x%" PRId64 "x%" PRId64
                       " cannot shrink by factor %" PRId64 ",%" PRId64 ",%" PRId64,
                       j->mip, src->size[0], src->size[1], src->size[2], j->f[0], j->f[1], j->f[2]);
    }
    if (max < j->n_levels && !j->p->check_only) {
        CV_LOG(CV_LOG_WARN,
               "downsample: --num-mips %d stops at %d level%s: mip %d of size %" PRId64 "x%" PRId64
               "x%" PRId64 " reaches 0 voxels along an axis after %d factor %" PRId64 ",%" PRId64
               ",%" PRId64 " steps",
               j->n_levels, max, max == 1 ? "" : "s", j->mip, src->size[0], src->size[1],
               src->size[2], max + 1, j->f[0], j->f[1], j->f[2]);
    }
    j->n_levels = max < j->n_levels ? max : j->n_levels;
    return CV_OK;
}

/* ---- sharded levels ------------------------------------------------------------------- */

/* FNV-1a, to tell the journal of a job with other shardings apart. */
static uint32_t fnv1a(uint32_t h, const char *text)
{
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        h = (h ^ *c) * 16777619u;
    }
    return h;
}

/* Each new scale's sharding from --sharded (chosen per scale from its own size, as Igneous'
 * create_sharded_image_info) or --sharding (one object for every scale, or one per scale). */
static cv_status set_sharding(job *j)
{
    const cv_downsample_params *p = j->p;
    if (!p->sharded && !p->sharding) {
        return CV_OK;
    }
    cv_info *info = cv_volume_info_mut(j->v);
    cJSON *root = NULL;
    if (p->sharding) {
        CV_TRY(cv__json_parse(p->sharding, strlen(p->sharding), "--sharding", &root));
        int n = cJSON_IsArray(root) ? cJSON_GetArraySize(root) : 1;
        int first = p->sharding_first;
        if (cJSON_IsArray(root) && first > 0 && n != first + j->n_levels) {
            cJSON_Delete(root);
            return CV_FAIL(CV_ERR_ARG,
                           "--sharding: an array of %d sharding object%s for %d scales (%d copied, "
                           "%d new; give one object for every scale, or an array of one per scale)",
                           n, n == 1 ? "" : "s", first + j->n_levels, first, j->n_levels);
        }
        if (cJSON_IsArray(root) && n != first + j->n_levels) {
            cJSON_Delete(root);
            return CV_FAIL(CV_ERR_ARG,
                           "--sharding: an array of %d sharding object%s for %d new scale%s (give "
                           "one object for every scale, or an array of one per scale)",
                           n, n == 1 ? "" : "s", j->n_levels, j->n_levels == 1 ? "" : "s");
        }
    }
    j->sharding_hash = 2166136261u;
    cv_status rc = CV_OK;
    for (int k = 1; rc == CV_OK && k <= j->n_levels; k++) {
        cv_scale *sc = &info->scales[j->level_mip[k]];
        cv_shard_spec spec;
        if (!root) {
            rc = cv_shard_params_for_image(sc->size, sc->chunk_sizes[0], sc->encoding, info->dtype,
                                           p->shard_bytes, &spec);
            if (rc != CV_OK) {
                cv__err_wrap("--sharded: scale %s", sc->key);
            }
        } else {
            bool many = cJSON_IsArray(root);
            int at = p->sharding_first + k - 1;
            char *text = cJSON_PrintUnformatted(many ? cJSON_GetArrayItem(root, at) : root);
            char what[32];
            snprintf(what, sizeof what, many ? "--sharding[%d]" : "--sharding", at);
            rc = text ? cv_shard_spec_parse(text, strlen(text), what, &spec)
                      : CV_FAIL(CV_ERR_NOMEM, "--sharding");
            if (rc == CV_OK) {
                rc = cv__shard_check_write_index(&spec, what, 0, NULL);
            }
            cJSON_free(text);
        }
        char *json = NULL;
        size_t len;
        if (rc == CV_OK) {
            rc = cv_shard_spec_to_json(&spec, &json, &len);
        }
        if (rc == CV_OK) {
            cv_free(sc->sharding_json);
            sc->sharding_json = json;
            j->sharding_hash = fnv1a(j->sharding_hash, json);
        }
    }
    cJSON_Delete(root);
    return rc;
}

/* A spill sink per sharded level, its shards journal ids from `first_id` on, within `memory`
 * per rank. Also sets what the sinks keep (fixed_bytes). Not collective. */
static cv_status plan_sinks(job *j, uint64_t first_id, double memory)
{
    const cv_info *info = cv_volume_info(j->v);
    uint64_t id = first_id;
    j->sink_bytes = 0;
    for (int k = 1; k <= j->n_levels; k++) {
        cv_hashed_free(j->sink[k]);
        j->sink[k] = NULL;
        const cv_scale *sc = &info->scales[j->level_mip[k]];
        if (!sc->sharding_json) {
            continue;
        }
        snprintf(j->sink_dir[k], sizeof j->sink_dir[k], "shards%d", k);
        cv_hashed_params hp = {.dst_info = info,
                               .dst_mip = j->level_mip[k],
                               .region = cv_info_grid(info, j->level_mip[k]).bounds,
                               .n_tasks = id,
                               .memory = memory > 1 ? (size_t)memory : 1,
                               .ranks = cv_mpi_plan_ranks(),
                               .subdir = j->sink_dir[k],
                               .what = "downsample to sharded scale",
                               .streams = cv__store_streams(j->v->store),
                               .part_bytes = cv__url_part_bytes(cv_volume_url(j->v)),
                               .dst_url = cv_volume_url(j->v)};
        CV_TRY(cv_hashed_plan(&hp, &j->sink[k]));
        id = cv_hashed_ids(j->sink[k]);
        /* a chunk cut out of a level and its encoding (compressed_segmentation of many
         * labels can outgrow the chunk) */
        const int64_t *c = sc->chunk_sizes[0];
        j->sink_bytes +=
            3.0 * (double)c[0] * (double)c[1] * (double)c[2] * (double)j->channels * (double)j->esz;
    }
    j->shard_ids = (double)(id - first_id);
    return CV_OK;
}

/* A rank's peak while the shards are exchanged and written, level after level. */
static double shards_peak(const job *j)
{
    double most = 0;
    for (int k = 1; k <= j->n_levels; k++) {
        if (j->sink[k]) {
            cv_hashed_figures f;
            cv_hashed_get_figures(j->sink[k], &f);
            most = fmax(most, fixed_bytes(j) + fmax(f.owner_peak, f.exchange_peak));
        }
    }
    return most;
}

/* Collective, once every task and tree node is done: each level's spilled chunks go to their
 * shards' owners, which write the shard files. */
static void finish_sinks(job *j)
{
    /* After a failure or an interruption the spill files wait for --resume. */
    int bad = j->fail.count > 0 || cv_mpi_terminated(), any = bad;
    if (cv_mpi_active()) {
        cv_coll_allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, "the check before writing shards");
    }
    if (any) {
        return;
    }
    bool tasks_ok = true;
    uint64_t written = 0;
    cv_status rc = CV_OK;
    for (int k = 1; rc == CV_OK && k <= j->n_levels; k++) {
        if (!j->sink[k]) {
            continue;
        }
        uint64_t level_written = 0;
        test_delay_of("CVMPI_TEST_SHARD_DELAY_MS");
        if (any_terminated()) {
            break; /* the levels left wait for --resume */
        }
        cv_err_clear();
        rc = cv_hashed_finish(j->sink[k], j->v, j->journal, tasks_ok, &level_written);
        written += level_written;
        if (rc != CV_OK && tasks_ok && cv_mpi_rank() == 0) {
            cv_failures_note(&j->fail, j->n_ids, j->region, cv_err_last()->what);
            CV_LOG(CV_LOG_ERROR, "shard files of mip %d not written: %s", j->level_mip[k],
                   cv_err_last()->what);
        }
    }
    uint64_t all = written;
    if (cv_mpi_active()) {
        cv_coll_allreduce(&written, &all, 1, MPI_UINT64_T, MPI_SUM, "the shard files written");
    }
    j->shards_written = all;
}

/* Add the scales to this rank's copy of the info, as add_scale does (every rank computes the
 * same info; rank 0 commits it unless dry_run). */
static cv_status add_scales(job *j)
{
    const cv_downsample_params *p = j->p;
    cv_info *info = cv_volume_info_mut(j->v);
    CV_TRY(cv_info_select_mip(info, p->mip_text ? p->mip_text : "0", &j->mip));
    const cv_scale src = info->scales[j->mip];
    j->n_levels = p->num_mips ? p->num_mips : default_num_mips(&src, j->f);
    if (j->n_levels > MAX_LEVELS) {
        return CV_FAIL(CV_ERR_ARG, "--num-mips %d is too many", j->n_levels);
    }
    CV_TRY(limit_levels(j, info));
    j->method = (cv_downsample_method)p->method;
    if (p->method < 0) {
        /* igneous' AUTO: images average, segmentation takes the mode, anything else strides */
        j->method = strcmp(info->type, "image") == 0          ? CV_DS_AVERAGE
                    : strcmp(info->type, "segmentation") == 0 ? CV_DS_MODE
                                                              : CV_DS_STRIDING;
    }
    int64_t base[3];
    for (int d = 0; d < 3; d++) {
        base[d] = (int64_t)llround(src.resolution[d] / info->scales[0].resolution[d]);
        j->pow_f[0][d] = 1;
        for (int k = 1; k <= j->n_levels; k++) {
            j->pow_f[k][d] = j->pow_f[k - 1][d] * j->f[d];
            if (j->pow_f[k][d] > (INT64_C(1) << 40)) {
                return CV_FAIL(CV_ERR_ARG, "downsample: factor^%d too large", k);
            }
        }
    }
    j->level_mip[0] = j->mip;
    for (int k = 1; k <= j->n_levels; k++) {
        int64_t f0[3] = {base[0] * j->pow_f[k][0], base[1] * j->pow_f[k][1],
                         base[2] * j->pow_f[k][2]};
        CV_TRY(cv_info_add_scale(info, f0, p->chunk_size[0] ? p->chunk_size : NULL, p->encoding,
                                 &j->level_mip[k]));
    }
    CV_TRY(set_sharding(j));
    CV_TRY(cv_info_validate(info));
    j->region = cv_info_bounds(info, j->mip);
    j->dtype = info->dtype;
    j->channels = info->num_channels;
    j->esz = cv_dtype_size(info->dtype);
    return CV_OK;
}

/* Per sharded level: its sharding, shards and the memory a rank needs to write them. */
static void print_shard_plan(const job *j)
{
    const cv_info *info = cv_volume_info(j->v);
    double files = 0;
    bool exact = true;
    for (int k = 1; k <= j->n_levels; k++) {
        if (!j->sink[k]) {
            continue;
        }
        const cv_scale *sc = &info->scales[j->level_mip[k]];
        cv_shard_spec spec;
        if (cv_shard_spec_parse(sc->sharding_json, strlen(sc->sharding_json), sc->key, &spec) !=
            CV_OK) {
            continue; /* checked by the plan */
        }
        cv_hashed_figures f;
        cv_hashed_get_figures(j->sink[k], &f);
        files += f.n_files;
        exact = exact && f.files_exact;
        char how[96];
        if (!f.streams) {
            snprintf(how, sizeof how,
                     "a shard held whole, twice: the store takes a file in one "
                     "request");
        } else if (f.part_bytes) {
            snprintf(how, sizeof how, "a shard uploaded chunk by chunk in parts of %.2f MB",
                     (double)f.part_bytes / 1e6);
        } else {
            snprintf(how, sizeof how, "a shard written chunk by chunk");
        }
        printf("plan: mip %d (%s) sharded: hash %s, preshift %d, minishard %d, shard %d bits; "
               "%" PRIu64 " chunks in %s%.0f shard file%s (the objects written); per shard %.2f MB "
               "decoded on average, the largest up to %.2f MB (%.0f chunks); %.1f MB per rank to "
               "exchange and write them (%s)\n",
               j->level_mip[k], sc->key,
               spec.hash == CV_SHARD_HASH_IDENTITY ? "identity" : "murmurhash3_x86_128",
               spec.preshift_bits, spec.minishard_bits, spec.shard_bits, f.n_chunks,
               f.files_exact ? "" : "about ", f.n_files, f.n_files == 1 ? "" : "s",
               f.region_bytes / fmax(f.n_files, 1) / 1e6, f.shard_bytes / 1e6, f.largest_chunks,
               (fixed_bytes(j) + fmax(f.owner_peak, f.exchange_peak)) / 1e6, how);
    }
    if (j->shard_ids > 0) {
        printf("plan: sharded levels: chunks encoded by the tasks and tree nodes, spilled beside "
               "the journal, then sent to their shards' owners level by level; peak %.1f MB per "
               "rank (budget %.1f MB)\n",
               shards_peak(j) / 1e6, (double)j->memory / 1e6);
        printf("plan: the new levels write %s%.0f shard file%s in all (no chunk files)\n",
               exact ? "" : "about ", files, files == 1 ? "" : "s");
    }
}

static void print_plan(const job *j)
{
    const cv_info *info = cv_volume_info(j->v);
    char region[160];
    cv_bbox_format(j->region, region, sizeof region);
    static const char *const names[] = {"average", "mode", "min", "max", "striding"};
    printf("plan: mip %d %s -> mips %d..%d, factor %" PRId64 ",%" PRId64 ",%" PRId64
           ", %s%s, %d rank%s\n",
           j->mip, region, j->level_mip[1], j->level_mip[j->n_levels], j->f[0], j->f[1], j->f[2],
           names[j->method], j->p->sparse ? " (sparse)" : "", cv_mpi_plan_ranks(),
           cv_mpi_plan_ranks() == 1 ? "" : "s");
    for (int s = 0; s < j->n_stages; s++) {
        const stage *st = &j->st[s];
        int64_t full[3], b[3];
        for (int d = 0; d < 3; d++) {
            int64_t e = j->region.max[d] - j->region.min[d];
            b[d] = st->block[d] < e ? st->block[d] : e;
        }
        level_shape(j, cv_bbox_make(0, 0, 0, b[0], b[1], b[2]), st->lo, full);
        double in_bytes = (double)full[0] * (double)full[1] * (double)full[2] *
                          (double)state_voxel_bytes(j, st->lo);
        if (s == 0) {
            printf("plan: stage 0: %" PRIu64 " tasks of %" PRId64 "x%" PRId64 "x%" PRId64
                   " voxels read from mip %d, levels 1..%d made in memory, %.1f MB per task "
                   "(peak %.1f MB, budget %.1f MB)\n",
                   st->n, b[0], b[1], b[2], j->mip, st->hi, in_bytes / 1e6,
                   (fixed_bytes(j) + node_need(j, st->block, st->lo, st->hi)) / 1e6,
                   (double)j->memory / 1e6);
        } else {
            printf("plan: stage %d (reduction tree): %" PRIu64 " node%s of %" PRId64 "x%" PRId64
                   "x%" PRId64 " voxels at level %d from up to %" PRId64
                   " children each, levels %d..%d, %.1f MB of state per node\n",
                   s, st->n, st->n == 1 ? "" : "s", full[0], full[1], full[2], st->lo,
                   st->ratio[0] * st->ratio[1] * st->ratio[2], st->lo + 1, st->hi, in_bytes / 1e6);
        }
    }
    double src_bytes = (double)cv_bbox_voxels(j->region) * (double)j->channels * (double)j->esz;
    double tree_bytes = 0;
    for (int s = 1; s < j->n_stages; s++) {
        tree_bytes += (double)state_bytes(j, j->region, j->st[s].lo);
    }
    double out_bytes = 0;
    for (int k = 1; k <= j->n_levels; k++) {
        int64_t s3[3];
        level_shape(j, j->region, k, s3);
        out_bytes +=
            (double)s3[0] * (double)s3[1] * (double)s3[2] * (double)j->channels * (double)j->esz;
    }
    printf("plan: %.1f MB of source voxels read once, %.1f MB sent up the tree, %.1f MB of new "
           "levels written (%s)\n",
           src_bytes / 1e6, tree_bytes / 1e6, out_bytes / 1e6,
           info->scales[j->level_mip[1]].encoding);
    double tasks, exchange, nodes;
    plan_peak(j, &tasks, &exchange, &nodes);
    if (j->n_stages > 1) {
        size_t most = 0;
        for (int s = 1; s < j->n_stages; s++) {
            most = j->round_bytes[s] > most ? j->round_bytes[s] : most;
        }
        printf("plan: tree states kept in files beside the journal between stages, exchanged in "
               "rounds of up to %.1f MB each way\n",
               (double)most / 1e6);
    }
    double ranks = (double)cv_mpi_plan_ranks(), nodes_all = 0;
    for (int s = 1; s < j->n_stages; s++) {
        nodes_all += (double)j->st[s].n;
    }
    printf("plan: per rank: about %.0f tasks and %.0f tree nodes; tree state files up to %.1f GB "
           "beside the journal; journal %.1f MB in all (30 bytes per task or node)\n",
           ceil((double)j->st[0].n / ranks), ceil(nodes_all / ranks), tree_bytes / ranks / 1e9,
           (double)j->n_ids * 30.0 / 1e6);
    if (j->n_stages > 1 && ranks > 1) {
        char caps[MAX_LEVELS * 24] = "";
        for (int s = 1, at = 0; s < j->n_stages; s++) {
            at += snprintf(caps + at, sizeof caps - (size_t)at, "%s%" PRIu64, s > 1 ? ", " : "",
                           node_cap(j, s, j->st[s].n, cv_mpi_plan_ranks()));
        }
        printf("plan: tree nodes dealt at each stage by the ranks' measured throughput, in "
               "ranges placed where their children's states are: at most %s per rank (stage "
               "1..%d)\n",
               caps, j->n_stages - 1);
    }
    printf("plan: expected peak %.1f MB per rank (tasks %.1f MB, tree exchange %.1f MB, tree "
           "nodes %.1f MB; budget %.1f MB)\n",
           fmax(tasks, fmax(exchange, nodes)) / 1e6, tasks / 1e6, exchange / 1e6, nodes / 1e6,
           (double)j->memory / 1e6);
    print_shard_plan(j);
}

static void describe_task(uint64_t id, char *buf, size_t cap, void *arg)
{
    const job *j = arg;
    cv_bbox_format(node_box(j, 0, id), buf, cap);
}

static void summarize(job *j, double seconds)
{
    cv_volume_stats vs;
    cv_volume_get_stats(j->v, &vs);
    uint64_t sums[6] = {j->done,         j->skipped,     j->tree_done,
                        j->tree_skipped, vs.chunks_read, vs.bytes_read},
             total[6];
    memcpy(total, sums, sizeof total);
    if (cv_mpi_active()) {
        cv_coll_reduce(sums, total, 6, MPI_UINT64_T, MPI_SUM, 0, "the job's totals");
        double mine = seconds;
        cv_coll_allreduce(&mine, &seconds, 1, MPI_DOUBLE, MPI_MAX, "the job's wall time");
    }
    uint64_t n_failed;
    char *text = cv_failures_gather(&j->fail, &n_failed);
    bool terminated = any_terminated();
    if (cv_mpi_rank() == 0) {
        cv_progress_update(&j->progress, total[0] + total[1], true);
        cv_progress_finish(&j->progress);
        cv_grid g = cv_info_grid(cv_volume_info(j->v), j->mip);
        char comp[64];
        cv_mpi_describe_compress(j->p->compress, j->p->has_level ? j->p->level : -1,
                                 cv_volume_info(j->v)->scales[j->level_mip[1]].encoding, comp,
                                 sizeof comp);
        int64_t gs[3];
        cv_grid_shape(&g, gs);
        printf("downsampled mip %d to mips %d..%d: %" PRIu64 " tasks and %" PRIu64
               " tree nodes done, %" PRIu64 " skipped, %" PRIu64 " failed; read %" PRIu64
               " of %" PRId64 " source chunks (%" PRIu64 " bytes) in %.1f s on %d rank%s; %s\n",
               j->mip, j->level_mip[1], j->level_mip[j->n_levels], total[0], total[2],
               total[1] + total[3], n_failed, total[4], gs[0] * gs[1] * gs[2], total[5], seconds,
               cv_mpi_size(), cv_mpi_size() == 1 ? "" : "s", comp);
        if (j->shards_written) {
            printf("wrote %" PRIu64 " shard file%s of mips %d..%d\n", j->shards_written,
                   j->shards_written == 1 ? "" : "s", j->level_mip[1], j->level_mip[j->n_levels]);
        }
        if (n_failed) {
            fprintf(stderr, "cvmpi: downsample: %" PRIu64 " task%s failed:\n%s", n_failed,
                    n_failed == 1 ? "" : "s", text ? text : "");
        }
    }
    cv_free(text);
    if (terminated) {
        CV_FAIL(CV_ERR_IO, "downsample interrupted: run the same command with --resume to "
                           "finish");
    } else if (n_failed) {
        CV_FAIL(CV_ERR_IO,
                "downsample: %" PRIu64 " of %" PRIu64
                " tasks failed (listed above); fix the cause and rerun with --resume",
                n_failed, j->n_ids);
    }
}

static cv_status open_journal(job *j)
{
    const cv_downsample_params *p = j->p;
    char signature[768], region[160];
    cv_bbox_format(j->region, region, sizeof region);
    int n = snprintf(signature, sizeof signature,
                     "downsample path=%s mip=%d region=%s levels=%d factor=%" PRId64 ",%" PRId64
                     ",%" PRId64 " method=%d sparse=%d tree=files",
                     cv_volume_url(j->v), j->mip, region, j->n_levels, j->f[0], j->f[1], j->f[2],
                     (int)j->method, (int)p->sparse);
    for (int s = 0; s < j->n_stages && n > 0 && (size_t)n < sizeof signature - 64; s++) {
        n += snprintf(signature + n, sizeof signature - (size_t)n,
                      " stage=%d..%d:%" PRId64 ",%" PRId64 ",%" PRId64, j->st[s].lo, j->st[s].hi,
                      j->st[s].block[0], j->st[s].block[1], j->st[s].block[2]);
    }
    if (j->shard_ids > 0 && n > 0 && (size_t)n < sizeof signature - 64) {
        snprintf(signature + n, sizeof signature - (size_t)n, " sharding=%08" PRIx32 ":%.0f",
                 j->sharding_hash, j->shard_ids);
    }
    CV_TRY(cv_mpi_agree(
        cv_journal_dir(p->journal_dir, cv_volume_url(j->v), signature, j->dir, sizeof j->dir)));
    snprintf(j->tree_dir, sizeof j->tree_dir, "%s/tree", j->dir);
    if (cv_mpi_rank() == 0 && !p->resume) {
        cv_journal_remove(j->dir);
    }
    if (cv_mpi_active()) {
        cv_coll_barrier("the removal of an old journal");
    }
    CV_TRY(cv_mpi_agree(cv_journal_open(j->dir, signature, cv_mpi_rank(), p->resume,
                                        j->n_ids + (uint64_t)j->shard_ids, &j->journal)));
    cv_status rc = CV_OK;
    if (cv_mpi_rank() == 0 && j->n_stages > 1) {
        if (!p->resume) {
            cv_state_remove_dir(j->tree_dir);
        }
        if (mkdir(j->tree_dir, 0777) != 0 && errno != EEXIST) {
            rc = CV_FAIL(CV_ERR_IO, "create `%s': %s", j->tree_dir, strerror(errno));
        } else {
            rc = cv_state_note_ranks(j->tree_dir, cv_mpi_size(), &j->max_ranks);
        }
    }
    CV_TRY(cv_mpi_agree(rc));
    if (cv_mpi_active()) {
        cv_coll_bcast(&j->max_ranks, 1, MPI_INT, 0, "the journals' rank count");
    }
    /* Every rank has read its share of the journal before any rank creates its own file. */
    if (cv_mpi_active()) {
        cv_coll_barrier("the reading of every journal");
    }
    return cv_mpi_agree(cv_journal_start(j->journal));
}

cv_status cv_mpi_downsample(const cv_downsample_params *p)
{
    job j;
    memset(&j, 0, sizeof j);
    j.p = p;
    cv_failures_init(&j.fail);
    for (int d = 0; d < 3; d++) {
        j.f[d] = p->factor[0] ? p->factor[d] : (d < 2 ? 2 : 1);
    }
    cv_opts o = cv_opts_default();
    o.fill_missing = p->fill_missing;
    o.threads = p->threads > 0 ? p->threads : 4;
    o.compress = p->compress;
    o.compress_level = p->has_level ? p->level : -1;
    j.memory_source = "--memory";
    j.memory = p->memory ? p->memory : cv_mpi_default_memory(&j.memory_source);

    bool plan_only = p->dry_run || p->check_only;
    cv_status rc = plan_only && p->plan_info ? cv_volume_open_info(p->path, p->plan_info, &o, &j.v)
                                             : cv_volume_open(p->path, &o, &j.v);
    if (rc == CV_OK) {
        rc = add_scales(&j);
    }
    if (rc == CV_OK) {
        /* first to check the shardings and count their journal ids and buffers */
        rc = plan_sinks(&j, 0, (double)j.memory);
    }
    if (rc == CV_OK) {
        rc = plan_stages(&j);
    }
    if (rc == CV_OK) {
        /* then with the ids after the tree's and the memory the job keeps beside them */
        rc = plan_sinks(&j, j.n_ids, (double)j.memory - fixed_bytes(&j));
    }
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK && j.n_levels > 0) {
        const cv_scale *top = &cv_volume_info(j.v)->scales[j.level_mip[1]];
        rc = cv_mpi_agree(
            cv_mpi_check_level(p->compress, p->has_level, p->level, top->encoding, top->key));
        if (rc != CV_OK && p->conflict) {
            *p->conflict = true;
        }
    }
    if (rc == CV_OK && plan_only) {
        if (cv_mpi_rank() == 0 && p->dry_run) {
            print_plan(&j);
        }
        goto done;
    }
    if (rc == CV_OK) {
        rc = cv_mpi_agree(cv_mpi_rank() == 0 ? cv_volume_commit_info(j.v) : CV_OK);
    }
    if (rc == CV_OK) {
        rc = open_journal(&j);
    }
    for (int k = 1; rc == CV_OK && k <= j.n_levels; k++) {
        if (j.sink[k]) {
            rc = cv_hashed_start(j.sink[k], j.dir, p->resume);
        }
    }
    if (rc == CV_OK && p->resume) {
        rc = cv_mpi_remove_stale_temps(j.v, &j.level_mip[1], j.n_levels, NULL);
    }
    if (rc == CV_OK) {
        rc = cv_mpi_agree(cv_sched_open(j.st[0].n, p->is_static, &j.sched));
    }
    if (rc == CV_OK) {
        /* a task's levels are whole chunks; a duplicate state record is read once */
        cv_sched_allow_reissue(j.sched);
    }
    if (rc == CV_OK) {
        rc = cv_mpi_agree(open_stage_output(&j, 0));
    }
    if (rc == CV_OK) {
        if (cv_mpi_rank() == 0) {
            CV_LOG(CV_LOG_INFO, "memory budget %.0f MB per rank (from %s)", (double)j.memory / 1e6,
                   j.memory_source);
            if (p->resume) {
                CV_LOG(CV_LOG_INFO, "resuming: %" PRIu64 " of %" PRIu64 " tasks already done",
                       cv_journal_count_done(j.journal), j.n_ids);
            }
        }
        size_t full = (size_t)j.st[0].block[0] * (size_t)j.st[0].block[1] *
                      (size_t)j.st[0].block[2] * (size_t)j.channels * j.esz;
        cv_progress_init(&j.progress, "downsample", j.st[0].n, full,
                         cv_mpi_rank() == 0 && cv__log_level() >= CV_LOG_WARN);
        double t0 = cv_now();
        cv_monitor *mon = NULL;
        if (cv_mpi_rank() == 0) {
            mon =
                cv_monitor_start(&j.progress, j.sched,
                                 p->stall_seconds > 0 ? p->stall_seconds : 300, describe_task, &j);
        }
        work_tasks(&j);
        if (cv_mpi_active()) {
            cv_coll_barrier("the end of the tasks");
        }
        cv_monitor_stop(mon);
        rc = work_tree(&j);
        if (rc == CV_OK) {
            finish_sinks(&j);
        }
        double seconds = cv_now() - t0;
        if (rc == CV_OK) {
            cv_err_clear();
            summarize(&j, seconds);
            rc = cv_mpi_agree(cv_err_last()->code);
        }
        if (rc == CV_OK && cv_mpi_rank() == 0) {
            cv_state_remove_dir(j.tree_dir);
            for (int k = 1; k <= j.n_levels; k++) {
                if (j.sink[k]) {
                    cv_hashed_remove(j.sink[k]); /* the spill files are the size of the level */
                }
            }
        }
    }
done:
    for (int k = 1; k <= MAX_LEVELS; k++) {
        cv_hashed_free(j.sink[k]);
    }
    cv_state_close(j.out);
    cv_free(j.own_order);
    cv_free(j.own_bound);
    cv_sched_close(j.sched);
    cv_journal_end(j.journal, j.journal ? j.dir : NULL, rc, p->keep_journal);
    cv_volume_close(j.v);
    cv_failures_fini(&j.fail);
    return rc;
}
