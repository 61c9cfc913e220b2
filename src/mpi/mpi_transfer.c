/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_transfer.c: `cvmpi transfer`. Rank 0 creates the destination info from the source's
 * when there is none; every rank computes the same plan (tasks aligned to both chunk grids, so
 * no object is written twice and no source chunk is read twice); tasks are claimed from the
 * scheduler, read, re-encoded by the volume layer and written; finished tasks go to the journal.
 * When such tasks cannot fit the memory budget (re-chunking with a large common multiple of the
 * chunk shapes), or the destination's shards are not boxes of chunks (hashed sharding), the job
 * runs as collective exchange rounds instead (mpi_exchange.c), journaled round by round.
 * Failures are collected and reported by rank 0 with box, rank and cause. */
#include "mpi/cv_transfer.h"
#include "mpi/cv_source_cache.h"

#include "base/json_py.h"
#include "io/store.h"
#include "shard/shard.h"

#include "mpi/cv_collective.h"
#include "mpi/cv_compress.h"
#include "mpi/cv_exchange.h"
#include "mpi/cv_hashed.h"
#include "mpi/cv_failures.h"
#include "mpi/cv_journal.h"
#include "mpi/cv_monitor.h"
#include "mpi/cv_plan.h"
#include "mpi/cv_progress.h"
#include "mpi/cv_report.h"
#include "mpi/cv_sched.h"
#include "mpi/cv_stale_temps.h"

#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t terminated;

static void on_sigterm(int sig)
{
    (void)sig;
    terminated = 1;
}

void cv_mpi_install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigterm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

bool cv_mpi_terminated(void)
{
    return terminated != 0;
}

/* ---- destination info ------------------------------------------------------------------ */

/* --sharding: one object for every scale, or a JSON array of one per scale the job writes (the
 * copied scales, then sharding_after new levels); `pos`'s, in normal form. */
static cv_status sharding_for(const cv_transfer_params *p, int pos, char **out)
{
    cJSON *root;
    CV_TRY(cv__json_parse(p->sharding, strlen(p->sharding), "--sharding", &root));
    bool many = cJSON_IsArray(root);
    cv_status rc = CV_OK;
    char *text = NULL;
    if (many && pos >= cJSON_GetArraySize(root)) {
        rc = CV_FAIL(CV_ERR_ARG,
                     "--sharding: an array of %d sharding object%s has none for scale %d",
                     cJSON_GetArraySize(root), cJSON_GetArraySize(root) == 1 ? "" : "s", pos);
    } else {
        text = cJSON_PrintUnformatted(many ? cJSON_GetArrayItem(root, pos) : root);
        rc = text ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "--sharding");
    }
    cJSON_Delete(root);
    cv_shard_spec spec;
    char what[32];
    snprintf(what, sizeof what, many ? "--sharding[%d]" : "--sharding", pos);
    size_t len;
    if (rc == CV_OK) {
        rc = cv_shard_spec_parse(text, strlen(text), what, &spec);
    }
    if (rc == CV_OK) {
        rc = cv__shard_check_write_index(&spec, what, 0, NULL);
    }
    cJSON_free(text);
    return rc == CV_OK ? cv_shard_spec_to_json(&spec, out, &len) : rc;
}

/* A --sharding array has exactly one object per scale the job writes. */
static cv_status check_sharding_count(const cv_transfer_params *p, int n_copied)
{
    if (!p->sharding) {
        return CV_OK;
    }
    cJSON *root;
    CV_TRY(cv__json_parse(p->sharding, strlen(p->sharding), "--sharding", &root));
    int n = cJSON_IsArray(root) ? cJSON_GetArraySize(root) : -1;
    cJSON_Delete(root);
    int want = n_copied + p->sharding_after;
    if (n >= 0 && n != want) {
        return CV_FAIL(CV_ERR_ARG,
                       "--sharding: an array of %d sharding object%s for %d scale%s (%d copied, %d "
                       "new; give one object for every scale, or an array of one per scale)",
                       n, n == 1 ? "" : "s", want, want == 1 ? "" : "s", n_copied,
                       p->sharding_after);
    }
    return CV_OK;
}

/* The options of the job applied to scale `mip` of `info` (a copy of the source's). */
static cv_status apply_options(cv_info *info, int mip, const cv_transfer_params *p)
{
    cv_scale *s = &info->scales[mip];
    if (p->encoding && strcmp(p->encoding, s->encoding) != 0) {
        char *enc = cv__strdup(p->encoding);
        if (!enc) {
            return CV_FAIL(CV_ERR_NOMEM, "transfer");
        }
        cv_free(s->encoding);
        s->encoding = enc;
        s->jpeg_quality = -1;
        s->png_level = -1;
        bool is_cseg = strcmp(enc, "compressed_segmentation") == 0;
        for (int d = 0; d < 3; d++) {
            s->cseg_block[d] = is_cseg ? (s->cseg_block[d] ? s->cseg_block[d] : 8) : 0;
        }
    }
    if (p->chunk_size[0]) {
        s->n_chunk_sizes = 1;
        memcpy(s->chunk_sizes[0], p->chunk_size, sizeof s->chunk_sizes[0]);
    }
    /* Sharding is chosen explicitly for a destination, never inherited. */
    cv_free(s->sharding_json);
    s->sharding_json = NULL;
    if (p->sharding) {
        /* The copied scales are mips 0.. of the source, or the one --mip/--bbox scale: the
         * position of `mip` among them picks its object of a --sharding array. */
        CV_TRY(sharding_for(p, p->mip_text || p->bbox_text ? 0 : mip, &s->sharding_json));
    } else if (p->sharded) {
        cv_shard_spec spec;
        size_t len;
        CV_TRY(cv_shard_params_for_image(s->size, s->chunk_sizes[0], s->encoding, info->dtype,
                                         p->shard_bytes, &spec));
        CV_TRY(cv_shard_spec_to_json(&spec, &s->sharding_json, &len));
    }
    return CV_OK;
}

/* The source's info with the options applied to the scales `mips` (ascending) and every other
 * scale left out: a destination declares only what the job writes. */
static cv_status derive_dst_info(const cv_info *src, const int *mips, int n_mips,
                                 const cv_transfer_params *p, cv_info **out)
{
    cv_info *info;
    CV_TRY(cv_info_copy(src, &info));
    cv_status rc = CV_OK;
    for (int i = 0; rc == CV_OK && i < n_mips; i++) {
        rc = apply_options(info, mips[i], p);
    }
    for (int m = src->n_scales - 1, k = n_mips - 1; rc == CV_OK && m >= 0; m--) {
        if (k >= 0 && mips[k] == m) {
            k--;
        } else {
            rc = cv_info_remove_scale(info, m);
        }
    }
    if (rc == CV_OK) {
        rc = cv_info_validate(info);
    }
    if (rc != CV_OK) {
        cv__err_wrap("transfer to %s", p->dst);
        cv_info_free(info);
        return rc;
    }
    *out = info;
    return CV_OK;
}

static cv_status check_compatible(const cv_info *src, int src_mip, const cv_info *dst, int dst_mip,
                                  const char *dst_url)
{
    const cv_scale *a = &src->scales[src_mip], *b = &dst->scales[dst_mip];
    if (src->dtype != dst->dtype || src->num_channels != dst->num_channels) {
        return CV_FAIL(CV_ERR_ARG, "transfer: %s holds %s x %" PRId64 ", the source %s x %" PRId64,
                       dst_url, cv_dtype_name(dst->dtype), dst->num_channels,
                       cv_dtype_name(src->dtype), src->num_channels);
    }
    if (memcmp(a->size, b->size, sizeof a->size) != 0 ||
        memcmp(a->voxel_offset, b->voxel_offset, sizeof a->voxel_offset) != 0) {
        return CV_FAIL(CV_ERR_ARG,
                       "transfer: the bounds of %s at this mip differ from the source's", dst_url);
    }
    return CV_OK;
}

/* An option that would change an existing scale of the destination cannot be honoured
 * without rewriting it: name the option, the scale and what it holds. */
static cv_status check_options(const cv_transfer_params *p, const cv_scale *want,
                               const cv_scale *have, const char *dst_url)
{
    if (p->encoding && strcmp(want->encoding, have->encoding) != 0) {
        return CV_FAIL(CV_ERR_ARG,
                       "transfer: --encoding %s conflicts with scale %s of %s, which has "
                       "encoding %s",
                       p->encoding, have->key, dst_url, have->encoding);
    }
    if (p->chunk_size[0] &&
        memcmp(have->chunk_sizes[0], p->chunk_size, sizeof p->chunk_size) != 0) {
        return CV_FAIL(CV_ERR_ARG,
                       "transfer: --chunk-size %" PRId64 ",%" PRId64 ",%" PRId64
                       " conflicts with scale %s of %s, which has chunk size %" PRId64 ",%" PRId64
                       ",%" PRId64,
                       p->chunk_size[0], p->chunk_size[1], p->chunk_size[2], have->key, dst_url,
                       have->chunk_sizes[0][0], have->chunk_sizes[0][1], have->chunk_sizes[0][2]);
    }
    const char *flag = p->sharding ? "--sharding" : "--sharded";
    if ((p->sharded || p->sharding) && !have->sharding_json) {
        return CV_FAIL(CV_ERR_ARG, "transfer: %s conflicts with scale %s of %s, which is unsharded",
                       flag, have->key, dst_url);
    }
    if (p->sharding && strcmp(want->sharding_json, have->sharding_json) != 0) {
        /* Compare the normal forms: the option's text may order or space members otherwise. */
        cv_shard_spec spec;
        char *norm = NULL;
        size_t len;
        bool same = cv_shard_spec_parse(have->sharding_json, strlen(have->sharding_json), have->key,
                                        &spec) == CV_OK &&
                    cv_shard_spec_to_json(&spec, &norm, &len) == CV_OK &&
                    strcmp(norm, want->sharding_json) == 0;
        cv_free(norm);
        cv_err_clear();
        if (!same) {
            return CV_FAIL(CV_ERR_ARG,
                           "transfer: --sharding conflicts with scale %s of %s, which has "
                           "sharding %s",
                           have->key, dst_url, have->sharding_json);
        }
    }
    return CV_OK;
}

static double voxel_volume(const cv_scale *s)
{
    return s->resolution[0] * s->resolution[1] * s->resolution[2];
}

/* Move scale `mip` of `from` into `to` (a scale the destination lacks), before the first
 * coarser scale, so the finest stays first. */
static cv_status append_scale(cv_info *to, cv_info *from, int mip)
{
    cv_scale *g = cv_realloc(to->scales, sizeof *g * (size_t)(to->n_scales + 1));
    if (!g) {
        return CV_FAIL(CV_ERR_NOMEM, "transfer: add scale");
    }
    to->scales = g;
    int at = 0;
    while (at < to->n_scales && voxel_volume(&g[at]) <= voxel_volume(&from->scales[mip])) {
        at++;
    }
    memmove(&g[at + 1], &g[at], sizeof *g * (size_t)(to->n_scales - at));
    g[at] = from->scales[mip];
    to->n_scales++;
    memset(&from->scales[mip], 0, sizeof from->scales[mip]);
    return CV_OK;
}

/* The destination's info as the job would leave it: the derived one for a new DST, else
 * DST's with the scales it lacks. Writes nothing (--dry-run). */
static cv_status planned_destination(const cv_transfer_params *p, const cv_info *si,
                                     const int *mips, int n_mips, const cv_opts *o, cv_info **out)
{
    cv_info *want = NULL, *grown = NULL;
    cv_volume *dst = NULL;
    cv_status rc = derive_dst_info(si, mips, n_mips, p, &want);
    if (rc == CV_OK) {
        rc = cv_volume_open(p->dst, o, &dst);
        if (rc == CV_ERR_NOTFOUND) {
            cv_err_clear();
            *out = want;
            return CV_OK;
        }
    }
    if (rc == CV_OK) {
        rc = cv_info_copy(cv_volume_info(dst), &grown);
    }
    for (int i = 0; rc == CV_OK && i < n_mips; i++) {
        int dm;
        if (cv_info_find_mip(grown, si->scales[mips[i]].resolution, &dm) != CV_OK) {
            cv_err_clear();
            rc = append_scale(grown, want, i);
        }
    }
    if (rc == CV_OK) {
        rc = cv_info_validate(grown);
    }
    cv_volume_close(dst);
    cv_info_free(want);
    if (rc != CV_OK) {
        cv_info_free(grown);
        return rc;
    }
    *out = grown;
    return CV_OK;
}

/* Every rank checks the destination against the source and the options; then rank 0 creates
 * it, or adds the scales it lacks. Nothing is written before every check has passed. */
static cv_status prepare_destination(const cv_transfer_params *p, cv_volume *src, const int *mips,
                                     int n_mips, const cv_opts *o)
{
    const cv_info *si = cv_volume_info(src);
    cv_info *want = NULL, *grown = NULL;
    cv_volume *dst = NULL;
    bool conflict = false;
    cv_status rc = derive_dst_info(si, mips, n_mips, p, &want);
    for (int i = 0; rc == CV_OK && i < n_mips; i++) {
        const cv_scale *s = &want->scales[i];
        rc = cv_mpi_check_level(p->compress, p->has_level, p->level, s->encoding, s->key);
        conflict = rc != CV_OK;
    }
    if (rc == CV_OK) {
        rc = cv_volume_open(p->dst, o, &dst);
        if (rc == CV_ERR_NOTFOUND) {
            cv_err_clear();
            rc = CV_OK;
        }
    }
    for (int i = 0; rc == CV_OK && dst && i < n_mips; i++) {
        const cv_info *di = cv_volume_info(dst);
        int dm;
        if (si->dtype != di->dtype || si->num_channels != di->num_channels) {
            rc = check_compatible(si, mips[i], di, 0, cv_volume_url(dst));
            break;
        }
        if (cv_info_find_mip(di, si->scales[mips[i]].resolution, &dm) != CV_OK) {
            cv_err_clear();
            if (!grown) {
                rc = cv_info_copy(di, &grown);
            }
            if (rc == CV_OK) {
                rc = append_scale(grown, want, i);
            }
            continue;
        }
        rc = check_compatible(si, mips[i], di, dm, cv_volume_url(dst));
        if (rc == CV_OK) {
            rc = check_options(p, &want->scales[i], &di->scales[dm], cv_volume_url(dst));
            conflict = rc != CV_OK;
        }
    }
    if (rc == CV_OK && grown) {
        rc = cv_info_validate(grown);
    }
    int any = conflict, all_conflict = conflict;
    if (cv_mpi_active()) {
        cv_coll_allreduce(&any, &all_conflict, 1, MPI_INT, MPI_MAX,
                          "the check for option conflicts");
    }
    rc = cv_mpi_agree(rc);
    if (rc != CV_OK && all_conflict && p->conflict) {
        *p->conflict = true;
    }
    /* Every rank has read the info before rank 0 changes it. */
    if (rc == CV_OK && cv_mpi_active()) {
        cv_coll_barrier("the reading of the destination's info");
    }
    if (rc == CV_OK && cv_mpi_rank() == 0) {
        if (!dst) {
            rc = cv_volume_create(p->dst, want, false, o, &dst);
        } else if (grown) {
            cv_info *live = cv_volume_info_mut(dst);
            cv_info tmp = *live;
            *live = *grown;
            *grown = tmp;
            rc = cv_volume_commit_info(dst);
        }
    }
    rc = cv_mpi_agree(rc);
    cv_volume_close(dst);
    cv_info_free(want);
    cv_info_free(grown);
    return rc;
}

/* Every rank opens the prepared destination at the scale of the source's `mip`. */
static cv_status open_destination(const cv_transfer_params *p, cv_volume *src, int mip,
                                  const cv_opts *o, cv_volume **out, int *dst_mip)
{
    const cv_info *si = cv_volume_info(src);
    cv_volume *dst = NULL;
    cv_status rc = cv_volume_open(p->dst, o, &dst);
    if (rc == CV_OK) {
        /* The same resolution picks the same scale in the destination. */
        rc = cv_info_find_mip(cv_volume_info(dst), si->scales[mip].resolution, dst_mip);
        if (rc == CV_OK) {
            rc = check_compatible(si, mip, cv_volume_info(dst), *dst_mip, cv_volume_url(dst));
        }
        if (rc != CV_OK) {
            cv_volume_close(dst);
            dst = NULL;
        }
    }
    rc = cv_mpi_agree(rc);
    if (rc != CV_OK) {
        cv_volume_close(dst);
        return rc;
    }
    *out = dst;
    return CV_OK;
}

/* ---- the job --------------------------------------------------------------------------- */

typedef struct job {
    const cv_transfer_params *p;
    cv_volume *src, *dst;
    int mip, dst_mip;
    cv_plan plan;
    cv_plan_params plan_params;
    cv_exchange *x;       /* non-NULL: the job runs as exchange rounds, not tasks */
    cv_hashed *hashed;    /* non-NULL: tasks spill chunks for hashed shards (cv_hashed.h) */
    int64_t shard_box[3]; /* box shards written whole by tasks: their voxels; else 0 */
    uint64_t n_tasks;     /* tasks, or exchange rounds */
    cv_journal *journal;
    cv_sched *sched;
    cv_progress progress;
    cv_failures fail;
    uint64_t tasks_done, tasks_skipped, bytes;
    bool copy; /* same chunks on both sides: tasks copy stored objects (volume_copy.c) */
    /* same chunks, box shards on DST: tasks put the chunks' encoded bytes into the shard files
     * (cv__volume_copy_sharded) */
    bool copy_shards;
    /* same chunks, hashed (or spilled) shards on DST: tasks spill the chunks' encoded bytes
     * (cv_hashed_task_stored) */
    bool copy_hashed;
} job;

static size_t job_memory(const cv_transfer_params *p, const char **source)
{
    *source = "--memory";
    return p->memory ? p->memory : cv_mpi_default_memory(source);
}

static cv_status plan_exchange(job *j, const cv_info *di, cv_exchange_kind kind, cv_bbox region)
{
    const char *source;
    cv_exchange_params xp = {
        .kind = kind,
        .src_info = cv_volume_info(j->src),
        .dst_info = di,
        .src_mip = j->mip,
        .dst_mip = j->dst_mip,
        .region = region,
        .memory = job_memory(j->p, &source),
        .threads = j->p->threads > 0 ? j->p->threads : 4,
        .ranks = cv_mpi_plan_ranks(),
        .skip_existing = j->p->skip_existing,
    };
    CV_TRY(cv_exchange_plan(&xp, &j->x));
    j->n_tasks = cv_exchange_rounds(j->x);
    j->plan.region = region;
    j->plan_params.memory = xp.memory;
    if (cv_mpi_rank() == 0) {
        CV_LOG(CV_LOG_INFO,
               "memory budget %.0f MB per rank (from %s); exchange in %" PRIu64 " rounds",
               (double)xp.memory / 1e6, source, j->n_tasks);
    }
    return CV_OK;
}

static cv_status plan_job(job *j, const cv_info *di)
{
    const cv_transfer_params *p = j->p;
    const cv_info *si = cv_volume_info(j->src);
    cv_grid dgrid = cv_info_grid(di, j->dst_mip);
    cv_bbox region = dgrid.bounds;
    if (p->bbox_text) {
        CV_TRY(cv_bbox_parse(p->bbox_text, &region));
        /* Whole destination chunks only: CloudVolume/Igneous expand to the chunk grid. */
        region = cv_grid_expand(&dgrid, region);
        if (cv_bbox_is_empty(region)) {
            return CV_FAIL(CV_ERR_BOUNDS, "transfer: --bbox %s lies outside the volume",
                           p->bbox_text);
        }
    }
    cv_plan_params *pp = &j->plan_params;
    memset(pp, 0, sizeof *pp);
    pp->region = region;
    memcpy(pp->origin, dgrid.bounds.min, sizeof pp->origin);
    memcpy(pp->align[0], si->scales[j->mip].chunk_sizes[0], sizeof pp->align[0]);
    memcpy(pp->align[1], dgrid.chunk, sizeof pp->align[1]);
    const cv_scale *ds = &di->scales[j->dst_mip];
    bool hashed = false;
    if (ds->sharding_json) {
        /* Sharded destination: tasks are whole shards, so each shard file is written once, by
         * one rank. Shards must be boxes of chunks (identity hash, as CloudVolume makes them). */
        cv_shard_spec spec;
        int64_t grid[3], mini[3], shard[3];
        cv_grid_shape(&dgrid, grid);
        CV_TRY(cv_shard_spec_parse(ds->sharding_json, strlen(ds->sharding_json), ds->key, &spec));
        const char *budget_from;
        size_t budget = job_memory(p, &budget_from);
        char what[4200];
        snprintf(what, sizeof what, "transfer: %s scale %s",
                 j->dst ? cv_volume_url(j->dst) : p->dst, ds->key);
        CV_TRY(cv__shard_check_write_index(&spec, what, budget, budget_from));
        if (cv_shard_image_shape(&spec, grid, mini, shard) != CV_OK) {
            /* Hashed shards (chunks scattered over shard files): tasks of whole chunks spill
             * them, and each shard's owner writes it once the tasks are done. */
            cv_err_clear();
            hashed = true;
            if (p->skip_existing) {
                return CV_FAIL(CV_ERR_ARG,
                               "transfer: --skip-existing with the hashed-sharded scale %s: "
                               "every task has chunks of every shard file; use --resume",
                               ds->key);
            }
        } else {
            for (int d = 0; d < 3; d++) {
                pp->align[1][d] = shard[d] * dgrid.chunk[d];
            }
        }
    }
    pp->bytes_per_voxel = cv_dtype_size(si->dtype) * (size_t)si->num_channels;
    const char *source;
    pp->memory = job_memory(p, &source);
    /* The task buffer, plus each busy chunk thread's buffers: reading a source chunk holds the
     * fetched, unpacked and decoded bytes; writing a destination chunk holds the chunk cut
     * from the task and its encoded (compressed) bytes. Measured by
     * tests/hostile/memory_plan.sh: peak RSS stays below this plus the fixed overhead. */
    pp->overhead = 1.0;
    pp->threads = p->threads > 0 ? p->threads : 4;
    pp->scratch[0] = 3.0;
    pp->scratch[1] = 2.0;
    /* Enough tasks to spread over many ranks, whatever the rank count: the plan (and so the
     * journal of a resumed job) must not depend on how many ranks run it. */
    pp->min_tasks = 64;
    cv_status rc = cv_plan_make(pp, &j->plan);
    if (rc == CV_ERR_ARG && ds->sharding_json && !hashed && !p->skip_existing) {
        /* A whole shard does not fit --memory as one task: tasks of chunks spill them and
         * each shard's owner writes it chunk by chunk, as for hashed shards (same bytes). */
        cv_err_clear();
        hashed = true;
        memcpy(pp->align[1], dgrid.chunk, sizeof pp->align[1]);
        rc = cv_plan_make(pp, &j->plan);
    }
    if (rc == CV_ERR_ARG && !ds->sharding_json &&
        memcmp(pp->align[0], pp->align[1], sizeof pp->align[0]) != 0) {
        /* Re-chunking whose common-multiple box does not fit: trade pieces between ranks. When
         * that does not fit either, say what each way needs. */
        char as_tasks[1100];
        snprintf(as_tasks, sizeof as_tasks, "%s", cv_err_last()->what);
        cv_err_clear();
        rc = plan_exchange(j, di, CV_EXCHANGE_RECHUNK, region);
        if (rc == CV_ERR_ARG) {
            char as_rounds[1100];
            snprintf(as_rounds, sizeof as_rounds, "%s", cv_err_last()->what);
            cv_err_clear();
            rc = CV_FAIL(CV_ERR_ARG,
                         "transfer: re-chunking fits --memory neither as tasks (%s) nor "
                         "as exchange rounds (%s)",
                         as_tasks, as_rounds);
        }
        return rc;
    }
    j->n_tasks = j->plan.n_tasks;
    memset(j->shard_box, 0, sizeof j->shard_box);
    if (rc == CV_OK && ds->sharding_json && !hashed) {
        memcpy(j->shard_box, pp->align[1], sizeof j->shard_box);
    }
    if (rc == CV_OK && hashed) {
        cv_hashed_params hp = {.dst_info = di,
                               .dst_mip = j->dst_mip,
                               .region = region,
                               .n_tasks = j->n_tasks,
                               .memory = pp->memory,
                               .ranks = cv_mpi_plan_ranks(),
                               .streams = cv__url_streams(p->dst),
                               .part_bytes = cv__url_part_bytes(p->dst),
                               .dst_url = p->dst};
        rc = cv_hashed_plan(&hp, &j->hashed);
    }
    if (rc == CV_OK && cv_mpi_rank() == 0) {
        CV_LOG(CV_LOG_INFO, "memory budget %.0f MB per rank (from %s)", (double)pp->memory / 1e6,
               source);
    }
    return rc;
}

/* What each rank does and what the job leaves on the store and beside it, for sizing a
 * cluster run (`--dry-run --ranks N`). */
static void print_per_rank(const job *j)
{
    double ranks = (double)cv_mpi_plan_ranks();
    cv_grid g = cv_info_grid(cv_volume_info(j->src), j->mip);
    double voxels = (double)cv_bbox_voxels(j->plan.region);
    double chunk_voxels = (double)g.chunk[0] * (double)g.chunk[1] * (double)g.chunk[2];
    double ids = (double)(j->hashed ? cv_hashed_ids(j->hashed) : j->n_tasks);
    printf("plan: per rank: about %.0f tasks, %.0f source chunks read (%.1f GB of voxels); "
           "journal %.1f MB in all (30 bytes per finished task%s)\n",
           ceil((double)j->n_tasks / ranks), ceil(voxels / chunk_voxels / ranks),
           voxels * (double)j->plan_params.bytes_per_voxel / ranks / 1e9, ids * 30.0 / 1e6,
           j->hashed ? " or shard" : "");
    if (j->hashed) {
        printf("plan: per rank: spill files of up to %.1f GB beside the journal (its share of "
               "the encoded chunks, at most their decoded size)\n",
               voxels * (double)j->plan_params.bytes_per_voxel / ranks / 1e9);
    }
}

static void print_plan(const job *j)
{
    char region[160];
    cv_bbox_format(j->plan.region, region, sizeof region);
    if (j->x) {
        printf("plan: %" PRIu64 " exchange rounds over %s at mip %d, %d rank%s\n", j->n_tasks,
               region, j->mip, cv_mpi_plan_ranks(), cv_mpi_plan_ranks() == 1 ? "" : "s");
        cv_exchange_print(j->x);
        return;
    }
    printf("plan: %" PRIu64 " tasks of %" PRId64 "x%" PRId64 "x%" PRId64 " voxels (%" PRId64
           "x%" PRId64 "x%" PRId64 " tasks) over %s at mip %d\n",
           j->n_tasks, j->plan.task_shape[0], j->plan.task_shape[1], j->plan.task_shape[2],
           j->plan.counts[0], j->plan.counts[1], j->plan.counts[2], region, j->mip);
    if (j->hashed) {
        cv_hashed_print(j->hashed);
    }
    if (j->shard_box[0] > 0) {
        /* Shards are boxes of chunks from the scale's origin; count those the region meets. */
        double shards = 1, shard_bytes = (double)j->plan_params.bytes_per_voxel, per_task = 1;
        for (int d = 0; d < 3; d++) {
            int64_t lo = j->plan.region.min[d] - j->plan_params.origin[d];
            int64_t hi = j->plan.region.max[d] - j->plan_params.origin[d];
            shards *= (double)((hi + j->shard_box[d] - 1) / j->shard_box[d] - lo / j->shard_box[d]);
            shard_bytes *= (double)j->shard_box[d];
            per_task *= (double)(j->plan.task_shape[d] / j->shard_box[d]);
        }
        printf("plan: box shards: %.0f shard file%s of %" PRId64 "x%" PRId64 "x%" PRId64
               " voxels (%.1f MB decoded each, less at the edges); a task writes %.0f whole "
               "shard%s, each file once\n",
               shards, shards == 1 ? "" : "s", j->shard_box[0], j->shard_box[1], j->shard_box[2],
               shard_bytes / 1e6, per_task, per_task == 1 ? "" : "s");
    }
    uint64_t task_bytes = (uint64_t)j->plan.task_shape[0] * (uint64_t)j->plan.task_shape[1] *
                          (uint64_t)j->plan.task_shape[2] * j->plan_params.bytes_per_voxel;
    printf("plan: %.1f MB of voxels in all, %.1f MB per task, expected peak %.1f MB per rank "
           "(budget %.1f MB), %d rank%s of %d chunk thread%s\n",
           (double)cv_bbox_voxels(j->plan.region) * (double)j->plan_params.bytes_per_voxel / 1e6,
           (double)task_bytes / 1e6, (double)cv_plan_task_bytes(&j->plan, &j->plan_params) / 1e6,
           (double)j->plan_params.memory / 1e6, cv_mpi_plan_ranks(),
           cv_mpi_plan_ranks() == 1 ? "" : "s", j->plan_params.threads,
           j->plan_params.threads == 1 ? "" : "s");
    print_per_rank(j);
}

/* Tests slow tasks (and rounds) down to interrupt a job mid-way or to see a stall reported. */
static void test_delay(void)
{
    const char *delay = getenv("CVMPI_TEST_TASK_DELAY_MS");
    long delay_ms = delay ? strtol(delay, NULL, 10) : 0;
    if (delay_ms > 0) {
        struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static cv_status run_task(job *j, uint64_t id, uint8_t *buf, size_t cap)
{
    test_delay();
    cv_bbox box = cv_plan_task_box(&j->plan, id);
    if (j->p->skip_existing) {
        uint64_t present = 0, total = 0;
        CV_TRY(cv_volume_exists(j->dst, j->dst_mip, box, &present, &total));
        if (present == total) {
            j->tasks_skipped++;
            return CV_OK;
        }
    }
    if (j->copy_shards) {
        uint64_t copied = 0;
        cv_status rc =
            cv__volume_copy_sharded(j->src, j->mip, j->dst, j->dst_mip, box, j->p->check, &copied);
        j->bytes += copied;
        return rc;
    }
    if (j->copy_hashed) {
        uint64_t copied = 0;
        cv_status rc =
            cv_hashed_task_stored(j->hashed, j->src, j->mip, j->dst, box, j->p->check, &copied);
        j->bytes += copied;
        return rc;
    }
    if (j->copy) {
        uint64_t copied = 0;
        cv_status rc =
            cv__volume_copy_chunks(j->src, j->mip, j->dst, j->dst_mip, box, j->p->check, &copied);
        j->bytes += copied;
        return rc;
    }
    size_t n = cv_volume_box_bytes(j->src, box);
    if (n > cap) {
        return CV_FAIL(CV_ERR_ARG, "task %" PRIu64 " needs %zu bytes, the buffer has %zu", id, n,
                       cap);
    }
    CV_TRY(cv_volume_read(j->src, j->mip, box, buf, n));
    if (j->hashed) {
        CV_TRY(cv_hashed_task(j->hashed, j->dst, box, buf, n));
    } else {
        CV_TRY(cv_volume_write(j->dst, j->dst_mip, box, buf, n));
    }
    j->bytes += n;
    return CV_OK;
}

static cv_status work(job *j)
{
    /* The fast path holds chunks, not the task's voxels. */
    size_t cap = j->copy || j->copy_shards || j->copy_hashed
                     ? 1
                     : (size_t)j->plan.task_shape[0] * (size_t)j->plan.task_shape[1] *
                           (size_t)j->plan.task_shape[2] * j->plan_params.bytes_per_voxel;
    uint8_t *buf = cv_malloc(cap);
    if (!buf) {
        return CV_FAIL(CV_ERR_NOMEM, "transfer: task buffer of %zu bytes", cap);
    }
    uint64_t id;
    cv_coll_phase("copying tasks");
    while (!cv_mpi_terminated() && cv_sched_next(j->sched, &id)) {
        if (j->journal && cv_journal_is_done(j->journal, id)) {
            j->tasks_skipped++;
            cv_sched_done(j->sched);
            continue;
        }
        cv_err_clear();
        uint64_t skipped = j->tasks_skipped, bytes = j->bytes;
        cv_sched_working_on(j->sched, id);
        cv_status rc = run_task(j, id, buf, cap);
        cv_sched_working_on(j->sched, UINT64_MAX);
        if (rc == CV_OK) {
            rc = cv_journal_record(j->journal, id);
        }
        if (!cv_sched_done(j->sched)) {
            /* a reissued copy of this task finished first and counts it */
            j->tasks_skipped = skipped;
            j->bytes = bytes;
            continue;
        }
        if (rc == CV_OK) {
            j->tasks_done++;
        } else {
            cv_failures_note(&j->fail, id, cv_plan_task_box(&j->plan, id), cv_err_last()->what);
            CV_LOG(CV_LOG_ERROR, "task %" PRIu64 " failed: %s", id, cv_err_last()->what);
            if (j->p->fail_fast) {
                cv_sched_abort(j->sched);
            }
        }
    }
    if (cv_mpi_terminated()) {
        cv_sched_abort(j->sched);
    }
    cv_free(buf);
    return CV_OK;
}

/* The exchange: every rank runs every round together; rank 0 journals a round once every
 * rank's writes for it have succeeded. */
static cv_status work_exchange(job *j)
{
    bool is_root = cv_mpi_rank() == 0;
    /* Whether to stop is settled in each round's final reduction; this covers the start. */
    int stop = cv_mpi_terminated(), any_stop = stop;
    if (cv_mpi_active()) {
        cv_coll_allreduce(&stop, &any_stop, 1, MPI_INT, MPI_MAX, "the check for an interruption");
    }
    for (uint64_t r = 0; !any_stop && r < j->n_tasks; r++) {
        bool skip = j->journal && cv_journal_is_done(j->journal, r);
        if (!skip && j->p->skip_existing) {
            skip = cv_exchange_round_exists(j->x, r, j->dst);
        }
        if (skip) {
            cv_exchange_drop_cache(j->x);
            j->tasks_skipped += is_root;
            if (is_root) {
                cv_sched_done(j->sched);
            }
            continue;
        }
        cv_err_clear();
        cv_coll_phase("exchange round %" PRIu64, r);
        cv_sched_working_on(j->sched, r);
        test_delay();
        cv_exchange_result res;
        /* The next round is made ready during this one's outcome when it is known to run. */
        uint64_t next = r + 1 < j->n_tasks && !j->p->skip_existing &&
                                !(j->journal && cv_journal_is_done(j->journal, r + 1))
                            ? r + 1
                            : UINT64_MAX;
        cv_status rc = cv_exchange_round(j->x, r, next, j->src, j->dst, cv_mpi_terminated(), &res);
        cv_sched_working_on(j->sched, UINT64_MAX);
        j->bytes += res.voxel_bytes;
        any_stop = res.stop;
        if (rc == CV_OK && is_root) {
            rc = cv_journal_record(j->journal, r);
        }
        if (rc == CV_OK) {
            j->tasks_done += is_root;
        } else if (res.failed_here || (is_root && !cv_mpi_active())) {
            cv_failures_note(&j->fail, r, cv_exchange_round_box(j->x, r), cv_err_last()->what);
            CV_LOG(CV_LOG_ERROR, "round %" PRIu64 " failed: %s", r, cv_err_last()->what);
        }
        if (is_root) {
            cv_sched_done(j->sched);
        }
        if (rc != CV_OK && j->p->fail_fast) {
            break; /* the outcome is agreed, so every rank stops here */
        }
    }
    if (any_stop) {
        terminated = 1; /* every rank reports the interruption */
    }
    return CV_OK;
}

/* Hashed shards: once every rank's tasks are done, the spilled chunks go to their shards'
 * owners, which write the shard files. Collective. */
static void finish_hashed(job *j)
{
    bool tasks_ok = j->fail.count == 0 && !cv_mpi_terminated() && !terminated;
    uint64_t written = 0;
    cv_err_clear();
    cv_status rc = cv_hashed_finish(j->hashed, j->dst, j->journal, tasks_ok, &written);
    if (rc != CV_OK && tasks_ok && cv_mpi_rank() == 0) {
        cv_failures_note(&j->fail, j->n_tasks, j->plan.region, cv_err_last()->what);
        CV_LOG(CV_LOG_ERROR, "shard files not written: %s", cv_err_last()->what);
    }
    uint64_t all = written;
    if (cv_mpi_active()) {
        cv_coll_allreduce(&written, &all, 1, MPI_UINT64_T, MPI_SUM, "the shard files written");
    }
    if (rc == CV_OK && cv_mpi_rank() == 0) {
        CV_LOG(CV_LOG_INFO, "hashed shards: %" PRIu64 " shard files written", all);
    }
}

static void describe_task(uint64_t id, char *buf, size_t cap, void *arg)
{
    const job *j = arg;
    cv_bbox_format(j->x ? cv_exchange_round_box(j->x, id) : cv_plan_task_box(&j->plan, id), buf,
                   cap);
}

static cv_status write_report(job *j, double seconds)
{
    cv_volume_stats in, out;
    cv_volume_get_stats(j->src, &in);
    cv_volume_get_stats(j->dst, &out);
    cv_rank_report r = {
        .tasks_done = (double)j->tasks_done,
        .tasks_skipped = (double)j->tasks_skipped,
        .tasks_failed = (double)j->fail.count,
        .voxel_bytes = (double)j->bytes,
        .chunks_read = (double)in.chunks_read,
        .chunks_written = (double)out.chunks_written,
        .chunks_deleted = (double)out.chunks_deleted,
        .chunks_missing = (double)in.chunks_missing,
        .bytes_read = (double)in.bytes_read,
        .bytes_written = (double)out.bytes_written,
        .requests =
            (double)(in.chunks_read + in.chunks_missing + out.chunks_written + out.chunks_deleted),
        .retries = 0,
        .io_seconds = in.io_seconds + out.io_seconds,
        .codec_seconds = in.codec_seconds + out.codec_seconds,
        .wall_seconds = seconds,
    };
    cv_report_set_figures(&r);
    return CV_OK;
}

static void summarize(job *j, double seconds)
{
    uint64_t sums[3] = {j->tasks_done, j->tasks_skipped, j->bytes}, total[3];
    memcpy(total, sums, sizeof total);
    if (cv_mpi_active()) {
        cv_coll_reduce(sums, total, 3, MPI_UINT64_T, MPI_SUM, 0, "the job's totals");
        /* The job took as long as its slowest rank. */
        double mine = seconds;
        cv_coll_allreduce(&mine, &seconds, 1, MPI_DOUBLE, MPI_MAX, "the job's wall time");
    }
    uint64_t n_failed;
    char *text = cv_failures_gather(&j->fail, &n_failed);
    int terminated_any = cv_mpi_terminated(), t_all = terminated_any;
    if (cv_mpi_active()) {
        cv_coll_allreduce(&terminated_any, &t_all, 1, MPI_INT, MPI_MAX,
                          "the check for an interruption");
    }
    if (cv_mpi_rank() == 0) {
        cv_progress_final(&j->progress, total[0] + total[1] + n_failed, total[2], seconds);
        cv_progress_finish(&j->progress);
        /* Chunks copied as stored keep their compression unless a level was asked for. */
        char comp[64];
        const cv_scale *ds = &cv_volume_info(j->dst)->scales[j->dst_mip];
        cv_mpi_describe_compress(j->p->compress, j->p->has_level ? j->p->level : -1, ds->encoding,
                                 comp, sizeof comp);
        bool as_stored = j->copy && !j->p->has_level;
        printf("transfer: %" PRIu64 " %s written, %" PRIu64 " skipped, %" PRIu64
               " failed of %" PRIu64 "; %.1f MB in %.1f s (%.1f MB/s) on %d rank%s; %s%s\n",
               total[0], j->x ? "exchange rounds" : "tasks", total[1], n_failed, j->n_tasks,
               (double)total[2] / 1e6, seconds, seconds > 0 ? (double)total[2] / 1e6 / seconds : 0,
               cv_mpi_size(), cv_mpi_size() == 1 ? "" : "s",
               as_stored ? "chunks copied as stored, " : "", comp);
        if (n_failed) {
            fprintf(stderr, "cvmpi: transfer: %" PRIu64 " task%s failed:\n%s", n_failed,
                    n_failed == 1 ? "" : "s", text ? text : "");
            if (n_failed > 100) {
                fprintf(stderr, "  (only the first 100 per rank are listed)\n");
            }
        }
    }
    cv_free(text);
    if (t_all) {
        CV_FAIL(CV_ERR_IO,
                "transfer interrupted: %" PRIu64 " of %" PRIu64
                " tasks done; run the same command with --resume to finish",
                total[0] + total[1], j->n_tasks);
    } else if (n_failed) {
        CV_FAIL(CV_ERR_IO,
                "transfer: %" PRIu64 " of %" PRIu64
                " tasks failed (listed above); fix the cause and rerun with --resume",
                n_failed, j->n_tasks);
    }
}

/* An exchange job's rounds and journal signature. With --resume, the geometry recorded in
 * the journal's signature is re-used whatever the rank count (rank 0 reads it, every rank
 * re-plans with it), so the journaled round numbers keep their boxes; the signature then names
 * that geometry. Collective. */
static cv_status exchange_geometry(job *j, const char *dir, char *signature, size_t cap)
{
    cv_exchange_geometry g;
    cv_exchange_geometry_of(j->x, &g);
    if (j->p->resume) {
        int64_t got[4] = {0, 0, 0, 0};
        char old[512];
        size_t base = strlen(signature);
        if (cv_mpi_rank() == 0 && cv_journal_peek_signature(dir, old, sizeof old) &&
            strncmp(old, signature, base) == 0 && cv_exchange_parse_signature(old + base, &g)) {
            got[0] = 1;
            got[1] = g.col[0];
            got[2] = g.col[1];
            got[3] = g.rows;
        }
        if (cv_mpi_active()) {
            cv_coll_bcast(got, 4, MPI_INT64_T, 0, "the journal's exchange rounds");
        }
        cv_exchange_geometry cur;
        cv_exchange_geometry_of(j->x, &cur);
        g = (cv_exchange_geometry){.col = {got[1], got[2]}, .rows = got[3]};
        if (got[0] && memcmp(&g, &cur, sizeof g) != 0) {
            CV_TRY(cv_mpi_agree(cv_exchange_use_geometry(j->x, &g)));
            j->n_tasks = cv_exchange_rounds(j->x);
            if (cv_mpi_rank() == 0) {
                CV_LOG(CV_LOG_INFO,
                       "resuming the journal's %" PRIu64 " exchange rounds (columns of %" PRId64
                       "x%" PRId64 " voxels, %" PRId64 " destination chunk row%s), planned for "
                       "another rank count or --memory",
                       j->n_tasks, g.col[0], g.col[1], g.rows, g.rows == 1 ? "" : "s");
            }
        }
    }
    char unit[128];
    cv_exchange_signature(j->x, unit, sizeof unit);
    size_t len = strlen(signature);
    snprintf(signature + len, cap - len, " %s", unit);
    return CV_OK;
}

/* One scale of the job: the source's `mip` into the prepared destination. `several`: the job
 * copies more than one scale, so each gets its own journal directory under --journal.
 * `plan_only`: plan against the destination as it is or would be, print the plan with
 * --dry-run, write nothing (so a plan that cannot be made fails before any write). */
static cv_status transfer_scale(const cv_transfer_params *p, int mip, bool several, bool plan_only)
{
    job j;
    memset(&j, 0, sizeof j);
    j.p = p;
    cv_failures_init(&j.fail);
    cv_opts so = cv_opts_default(), dopt = cv_opts_default();
    so.fill_missing = p->fill_missing;
    cv_mpi_source_cache(&so);
    so.threads = dopt.threads = p->threads > 0 ? p->threads : 4;
    dopt.compress = p->compress;
    dopt.delete_black_uploads = p->delete_black;
    dopt.fill_missing = true; /* partial chunks at region edges never happen: tasks align */

    dopt.compress_level = p->has_level ? p->level : -1;
    j.mip = mip;
    cv_status rc = cv_mpi_agree(cv_volume_open(p->src, &so, &j.src));
    if (rc == CV_OK && plan_only) {
        /* Plan against the destination as it is, or as it would be created; write nothing. */
        cv_volume *dst = NULL;
        cv_info *derived = NULL;
        rc = cv_volume_open(p->dst, &dopt, &dst);
        if (rc == CV_OK &&
            cv_info_find_mip(cv_volume_info(dst), cv_volume_info(j.src)->scales[j.mip].resolution,
                             &j.dst_mip) != CV_OK) {
            cv_volume_close(dst); /* the job would add the scale */
            dst = NULL;
            rc = CV_ERR_NOTFOUND;
        }
        if (rc == CV_ERR_NOTFOUND) {
            cv_err_clear();
            j.dst_mip = 0;
            rc = derive_dst_info(cv_volume_info(j.src), &j.mip, 1, p, &derived);
        }
        if (rc == CV_OK) {
            rc = plan_job(&j, dst ? cv_volume_info(dst) : derived);
        }
        rc = cv_mpi_agree(rc);
        if (rc == CV_OK && cv_mpi_rank() == 0 && p->dry_run) {
            print_plan(&j);
        }
        cv_exchange_free(j.x);
        cv_hashed_free(j.hashed);
        cv_info_free(derived);
        cv_volume_close(dst);
        cv_volume_close(j.src);
        cv_failures_fini(&j.fail);
        return rc;
    }
    if (rc == CV_OK) {
        rc = open_destination(p, j.src, j.mip, &dopt, &j.dst, &j.dst_mip);
    }

    if (rc == CV_OK) {
        rc = cv_mpi_agree(plan_job(&j, cv_volume_info(j.dst)));
    }
    if (rc == CV_OK && !j.x && j.hashed && !p->decode) {
        /* Hashed shards take the same chunks' encoded bytes into the spill files. */
        j.copy_hashed = cv__volume_can_copy_encoded(j.src, j.mip, j.dst, j.dst_mip, NULL, 0);
        if (cv_mpi_rank() == 0 && j.copy_hashed) {
            CV_LOG(CV_LOG_INFO, "chunks go to the shards' owners as stored where that is the "
                                "bytes encoding them gives, else decoded and encoded again");
        }
    }
    if (rc == CV_OK && !j.x && !j.hashed && !p->decode) {
        /* Same chunks on both sides: copy the stored objects, never decode them. The answer
         * depends only on the infos and options, so every rank agrees. */
        char why[64];
        j.copy = cv__volume_can_copy(j.src, j.mip, j.dst, j.dst_mip, why, sizeof why);
        /* Box shards written whole by the tasks take the same chunks' encoded bytes. */
        j.copy_shards = !j.copy && j.shard_box[0] > 0 &&
                        cv__volume_can_copy_encoded(j.src, j.mip, j.dst, j.dst_mip, NULL, 0);
        if (cv_mpi_rank() == 0 && j.copy) {
            CV_LOG(CV_LOG_INFO, "chunks are copied as stored, not decoded");
        } else if (cv_mpi_rank() == 0 && j.copy_shards) {
            CV_LOG(CV_LOG_INFO, "chunks go into the shard files as stored where that is the bytes "
                                "encoding them gives, else decoded and encoded again");
        } else if (cv_mpi_rank() == 0) {
            CV_LOG(CV_LOG_INFO, "chunks are decoded and encoded again: %s", why);
        }
    }
    char signature[512];
    char dir[4096] = "";
    if (rc == CV_OK) {
        char region[160], unit[128];
        cv_bbox_format(j.plan.region, region, sizeof region);
        if (j.x) {
            /* The job is found by what it copies; the rounds' geometry follows in the
             * signature (exchange_geometry), so a resume with another rank count finds it. */
            snprintf(unit, sizeof unit, "exchange");
        } else {
            snprintf(unit, sizeof unit, "task=%" PRId64 ",%" PRId64 ",%" PRId64 "%s",
                     j.plan.task_shape[0], j.plan.task_shape[1], j.plan.task_shape[2],
                     j.hashed ? " hashed-spill" : "");
        }
        snprintf(signature, sizeof signature, "transfer src=%s dst=%s mip=%d region=%s %s",
                 cv_volume_url(j.src), cv_volume_url(j.dst), j.mip, region, unit);
        char per_scale[4096];
        const char *journal_dir = p->journal_dir;
        if (p->journal_dir && several) {
            snprintf(per_scale, sizeof per_scale, "%s/mip-%d", p->journal_dir, j.mip);
            journal_dir = per_scale;
        }
        rc = cv_mpi_agree(
            cv_journal_dir(journal_dir, cv_volume_url(j.dst), signature, dir, sizeof dir));
        if (rc == CV_OK && j.x) {
            rc = exchange_geometry(&j, dir, signature, sizeof signature);
        }
        if (rc == CV_OK) {
            rc = cv_journal_begin(dir, signature, p->resume,
                                  j.hashed ? cv_hashed_ids(j.hashed) : j.n_tasks, &j.journal);
        }
        if (rc == CV_OK && p->resume) {
            rc = cv_mpi_remove_stale_temps(j.dst, &j.dst_mip, 1, &j.plan.region);
        }
    }
    if (rc == CV_OK && j.hashed) {
        rc = cv_hashed_start(j.hashed, dir, p->resume);
    }
    if (rc == CV_OK) {
        rc = cv_mpi_agree(cv_sched_open(j.n_tasks, p->is_static, &j.sched));
    }
    if (rc == CV_OK && !j.x) {
        cv_sched_allow_reissue(j.sched); /* tasks write whole chunks or shards */
    }
    if (rc == CV_OK) {
        uint64_t full = j.x ? cv_exchange_round_bytes(j.x)
                            : (uint64_t)j.plan.task_shape[0] * (uint64_t)j.plan.task_shape[1] *
                                  (uint64_t)j.plan.task_shape[2] * j.plan_params.bytes_per_voxel;
        cv_progress_init(&j.progress, "transfer", j.n_tasks, full,
                         cv_mpi_rank() == 0 && cv__log_level() >= CV_LOG_WARN);
        if (cv_mpi_rank() == 0 && p->resume) {
            CV_LOG(CV_LOG_INFO, "resuming: %" PRIu64 " of %" PRIu64 " tasks already done",
                   cv_journal_count_done(j.journal), j.n_tasks);
        }
        double t0 = cv_now();
        cv_monitor *mon = NULL;
        if (cv_mpi_rank() == 0) {
            mon =
                cv_monitor_start(&j.progress, j.sched,
                                 p->stall_seconds > 0 ? p->stall_seconds : 300, describe_task, &j);
        }
        if (j.x) {
            work_exchange(&j);
        } else {
            work(&j);
        }
        if (j.hashed) {
            finish_hashed(&j);
        }
        double seconds = cv_now() - t0;
        if (cv_mpi_active()) {
            cv_coll_barrier("the end of the tasks");
        }
        cv_monitor_stop(mon);
        cv_status report_rc = p->report_path ? write_report(&j, seconds) : CV_OK;
        cv_err_clear();
        summarize(&j, seconds);
        rc = cv_mpi_agree(report_rc != CV_OK ? report_rc : cv_err_last()->code);
    }
    cv_sched_close(j.sched);
    if (j.hashed && rc == CV_OK && cv_mpi_rank() == 0) {
        cv_hashed_remove(j.hashed); /* the spill files are the size of the output */
    }
    cv_journal_end(j.journal, j.journal ? dir : NULL, rc, p->keep_journal);
    cv_hashed_free(j.hashed);
    cv_exchange_free(j.x);
    cv_volume_close(j.src);
    cv_volume_close(j.dst);
    cv_failures_fini(&j.fail);
    return rc;
}

/* The scales the job copies, ascending: --mip's, mip 0 for a --bbox (a box is in one mip's
 * voxels), else every scale of the source. */
static cv_status job_mips(const cv_transfer_params *p, const cv_info *si, int **mips, int *n)
{
    *n = p->mip_text || p->bbox_text ? 1 : si->n_scales;
    *mips = cv_calloc((size_t)*n, sizeof **mips);
    if (!*mips) {
        return CV_FAIL(CV_ERR_NOMEM, "transfer");
    }
    for (int i = 0; i < *n; i++) {
        (*mips)[i] = i;
    }
    return p->mip_text ? cv_info_select_mip(si, p->mip_text, &(*mips)[0]) : CV_OK;
}

cv_status cv_mpi_transfer(const cv_transfer_params *p)
{
    cv_opts so = cv_opts_default(), dopt = cv_opts_default();
    so.fill_missing = p->fill_missing;
    cv_mpi_source_cache(&so);
    dopt.compress = p->compress;
    cv_volume *src = NULL;
    int *mips = NULL, n_mips = 0;
    cv_status rc = cv_volume_open(p->src, &so, &src);
    if (rc == CV_OK) {
        rc = job_mips(p, cv_volume_info(src), &mips, &n_mips);
    }
    if (rc == CV_OK) {
        rc = check_sharding_count(p, n_mips);
    }
    rc = cv_mpi_agree(rc);
    /* Every scale is planned before anything is written. */
    for (int i = 0; rc == CV_OK && i < n_mips; i++) {
        if (n_mips > 1 && cv_mpi_rank() == 0 && p->dry_run) {
            printf("transfer: scale %s (mip %d of %d)\n", cv_volume_info(src)->scales[mips[i]].key,
                   mips[i], n_mips);
        }
        rc = transfer_scale(p, mips[i], n_mips > 1, true);
    }
    if (rc == CV_OK && p->scales_copied) {
        *p->scales_copied = n_mips;
    }
    if (rc == CV_OK && p->last_resolution && n_mips > 0) {
        const double *r = cv_volume_info(src)->scales[mips[n_mips - 1]].resolution;
        snprintf(p->last_resolution, p->last_resolution_cap, "%.17g,%.17g,%.17g", r[0], r[1], r[2]);
    }
    cv_info *planned = NULL;
    if (rc == CV_OK && ((p->dry_run && p->planned_info) || (!p->dry_run && p->before_write))) {
        rc = cv_mpi_agree(
            planned_destination(p, cv_volume_info(src), mips, n_mips, &dopt, &planned));
    }
    if (rc == CV_OK && !p->dry_run && p->before_write) {
        rc = cv_mpi_agree(p->before_write(planned, p->before_write_arg));
    }
    if (p->dry_run && p->planned_info) {
        *p->planned_info = planned;
    } else {
        cv_info_free(planned);
    }
    if (rc == CV_OK && !p->dry_run) {
        rc = prepare_destination(p, src, mips, n_mips, &dopt);
    }
    for (int i = 0; rc == CV_OK && !p->dry_run && i < n_mips && !cv_mpi_terminated(); i++) {
        if (n_mips > 1 && cv_mpi_rank() == 0) {
            printf("transfer: scale %s (mip %d of %d)\n", cv_volume_info(src)->scales[mips[i]].key,
                   mips[i], n_mips);
            fflush(stdout);
        }
        rc = transfer_scale(p, mips[i], n_mips > 1, false);
    }
    cv_free(mips);
    cv_volume_close(src);
    return rc;
}
