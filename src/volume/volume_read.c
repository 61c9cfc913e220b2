/* SPDX-License-Identifier: BSD-3-Clause
 * volume_read.c: cutouts of any box at any mip (cloudvolume-conventions §6.1): the box's
 * chunks are fetched, decoded and copied in on a few threads; voxels outside the volume and
 * (with fill_missing) absent chunks get the background colour. A chunk that fails to read is
 * always an error, never zeros. */
#include "volume/volume.h"

#include <inttypes.h>
#include <string.h>

typedef struct read_job {
    cv_volume *v;
    int mip;
    cv_bbox box;
    uint8_t *dst;
    cv_grid grid;
    int64_t cmin[3], ccount[3];
    cv__write_bufs *bufs; /* `chunk`: the decoded chunk */
} read_job;

static void cell_of(const read_job *j, size_t i, int64_t cell[3])
{
    cell[0] = j->cmin[0] + (int64_t)(i % (size_t)j->ccount[0]);
    cell[1] = j->cmin[1] + (int64_t)(i / (size_t)j->ccount[0] % (size_t)j->ccount[1]);
    cell[2] = j->cmin[2] + (int64_t)(i / (size_t)(j->ccount[0] * j->ccount[1]));
}

static cv_status read_one(size_t i, int tid, void *arg)
{
    read_job *j = arg;
    cv__write_bufs *b = &j->bufs[tid];
    int64_t cell[3];
    cell_of(j, i, cell);
    cv_bbox cbox = cv_grid_cell_box(&j->grid, cell);
    cv_bbox overlap = cv_bbox_intersect(cbox, j->box);
    cv_status rc = cv__volume_fetch_chunk(j->v, j->mip, cbox, &b->chunk, &b->raw, &b->packed);
    if (rc == CV_ERR_NOTFOUND) {
        if (!j->v->opts.fill_missing) {
            char key[4096];
            cv_volume_chunk_key(j->v, j->mip, cbox, key, sizeof key);
            return CV_FAIL(CV_ERR_NOTFOUND, "chunk `%s' of %s is missing (use --fill-missing)", key,
                           cv_volume_url(j->v));
        }
        cv__fill_background(j->v, j->dst, j->box, overlap);
        return CV_OK;
    }
    CV_TRY(rc);
    cv__copy_region(cv_dtype_size(j->v->info->dtype), j->v->info->num_channels, b->chunk.data, cbox,
                    j->dst, j->box, overlap);
    return CV_OK;
}

cv_status cv_volume_read(cv_volume *v, int mip, cv_bbox box, void *dst, size_t dst_cap)
{
    CV_TRY(cv__volume_check_mip(v, mip));
    if (cv_bbox_is_empty(box)) {
        return CV_FAIL(CV_ERR_ARG, "read %s: empty box", cv_volume_url(v));
    }
    size_t need;
    CV_TRY(cv_volume_check_box(v, box, &need));
    if (dst_cap < need) {
        return CV_FAIL(CV_ERR_ARG, "read %s: buffer of %zu bytes, need %zu", cv_volume_url(v),
                       dst_cap, need);
    }
    cv_bbox bounds = cv_info_bounds(v->info, mip);
    if (v->opts.bounded && !cv_bbox_contains(bounds, box)) {
        char rb[160], bb[160];
        cv_bbox_format(box, rb, sizeof rb);
        cv_bbox_format(bounds, bb, sizeof bb);
        return CV_FAIL(CV_ERR_BOUNDS, "read %s: box %s is outside the volume bounds %s at mip %d",
                       cv_volume_url(v), rb, bb, mip);
    }
    const cv_codec *codec = NULL;
    CV_TRY(cv__volume_codec(v, mip, &codec));
    read_job j = {.v = v, .mip = mip, .box = box, .dst = dst, .grid = cv_info_grid(v->info, mip)};
    int64_t cmax[3];
    cv_grid_cells(&j.grid, box, j.cmin, cmax);
    size_t n = 1;
    for (int d = 0; d < 3; d++) {
        j.ccount[d] = cmax[d] - j.cmin[d];
        n *= (size_t)j.ccount[d];
    }
    /* Whatever lies outside the volume is never fetched: it is background. */
    if (!cv_bbox_contains(bounds, box)) {
        cv__fill_background(v, dst, box, box);
    }
    int threads = v->opts.threads < 1 ? 1 : v->opts.threads;
    if (threads > CV_MAX_THREADS) {
        threads = CV_MAX_THREADS;
    }
    if (v->info->scales[mip].sharding_json) {
        return cv__volume_read_sharded(v, mip, box, dst, threads);
    }
    if (n == 1 && cv_bbox_equal(box, cv_grid_cell_box(&j.grid, j.cmin))) {
        bool done = false;
        CV_TRY(cv__volume_read_plain_chunk(v, mip, box, dst, need, &done));
        if (done) {
            return CV_OK;
        }
    }
    bool kept;
    j.bufs = cv__volume_take_bufs(v, threads, &kept);
    if (!j.bufs) {
        return CV_FAIL(CV_ERR_NOMEM, "read");
    }
    cv_status rc = cv__parallel_for(n, threads, read_one, &j);
    cv__volume_give_bufs(v, j.bufs, threads, kept);
    return rc;
}

typedef struct exists_job {
    cv_volume *v;
    int mip;
    cv_grid grid;
    int64_t cmin[3], ccount[3];
    uint64_t *present; /* per chunk 0/1, summed afterwards */
} exists_job;

static cv_status exists_one(size_t i, int tid, void *arg)
{
    (void)tid;
    exists_job *j = arg;
    int64_t cell[3] = {j->cmin[0] + (int64_t)(i % (size_t)j->ccount[0]),
                       j->cmin[1] + (int64_t)(i / (size_t)j->ccount[0] % (size_t)j->ccount[1]),
                       j->cmin[2] + (int64_t)(i / (size_t)(j->ccount[0] * j->ccount[1]))};
    char key[4096];
    cv_volume_chunk_key(j->v, j->mip, cv_grid_cell_box(&j->grid, cell), key, sizeof key);
    bool yes = false;
    if (j->v->info->scales[j->mip].sharding_json) {
        /* Sharded: ask the shard's index (the value is read too; fine for a count). */
        cv_buf data, scratch;
        cv__buf_init(&data, 0);
        cv__buf_init(&scratch, 0);
        cv_status rc = cv__volume_fetch_sharded(j->v, j->mip, cv_grid_cell_box(&j->grid, cell),
                                                &data, &scratch);
        cv__buf_fini(&data);
        cv__buf_fini(&scratch);
        if (rc != CV_OK && rc != CV_ERR_NOTFOUND) {
            return rc;
        }
        j->present[i] = rc == CV_OK;
        return CV_OK;
    }
    CV_TRY(cv_store_exists(j->v->store, key, &yes));
    j->present[i] = yes;
    return CV_OK;
}

static cv_status for_each_chunk(cv_volume *v, int mip, cv_bbox box, uint64_t *n_present,
                                uint64_t *n_total)
{
    exists_job j = {.v = v, .mip = mip, .grid = cv_info_grid(v->info, mip)};
    int64_t cmax[3];
    cv_grid_cells(&j.grid, box, j.cmin, cmax);
    size_t n = 1;
    for (int d = 0; d < 3; d++) {
        j.ccount[d] = cmax[d] - j.cmin[d];
        n *= (size_t)j.ccount[d];
    }
    j.present = cv_calloc(n, sizeof *j.present);
    if (!j.present) {
        return CV_FAIL(CV_ERR_NOMEM, "exists");
    }
    int threads = v->opts.threads < 1 ? 1 : v->opts.threads;
    cv_status rc = cv__parallel_for(n, threads, exists_one, &j);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += j.present[i];
    }
    cv_free(j.present);
    if (rc == CV_OK && n_present) {
        *n_present = sum;
    }
    if (rc == CV_OK && n_total) {
        *n_total = n;
    }
    return rc;
}

cv_status cv_volume_exists(cv_volume *v, int mip, cv_bbox box, uint64_t *n_present,
                           uint64_t *n_total)
{
    CV_TRY(cv__volume_check_mip(v, mip));
    return for_each_chunk(v, mip, box, n_present, n_total);
}

cv_status cv_volume_delete(cv_volume *v, int mip, cv_bbox box)
{
    CV_TRY(cv__volume_check_mip(v, mip));
    if (v->readonly) {
        return CV_FAIL(CV_ERR_READONLY, "delete in %s: opened through redirects, read-only",
                       cv_volume_url(v));
    }
    if (v->info->scales[mip].sharding_json) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       "delete in %s: scale %s is sharded; rewrite whole shards "
                       "instead",
                       cv_volume_url(v), v->info->scales[mip].key);
    }
    cv_grid g = cv_info_grid(v->info, mip);
    if (!cv_grid_is_aligned(&g, box)) {
        char rb[160];
        cv_bbox_format(box, rb, sizeof rb);
        return CV_FAIL(CV_ERR_ALIGN,
                       "delete in %s: box %s is not aligned to the %" PRId64 "x%" PRId64 "x%" PRId64
                       " chunk grid",
                       cv_volume_url(v), rb, g.chunk[0], g.chunk[1], g.chunk[2]);
    }
    /* Every chunk's key, deleted in batched requests where the store has them (S3's
     * DeleteObjects takes 1000 keys per request). */
    int64_t cmin[3], cmax[3];
    cv_grid_cells(&g, box, cmin, cmax);
    size_t n = (size_t)((cmax[0] - cmin[0]) * (cmax[1] - cmin[1]) * (cmax[2] - cmin[2]));
    char **keys = cv_calloc(n ? n : 1, sizeof *keys);
    cv_status rc = keys ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "delete in %s", cv_volume_url(v));
    size_t k = 0;
    for (int64_t z = cmin[2]; z < cmax[2] && rc == CV_OK; z++) {
        for (int64_t y = cmin[1]; y < cmax[1] && rc == CV_OK; y++) {
            for (int64_t x = cmin[0]; x < cmax[0] && rc == CV_OK; x++) {
                char key[4096];
                int64_t cell[3] = {x, y, z};
                cv_volume_chunk_key(v, mip, cv_grid_cell_box(&g, cell), key, sizeof key);
                keys[k] = cv__strdup(key);
                rc = keys[k++] ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "delete in %s", cv_volume_url(v));
            }
        }
    }
    if (rc == CV_OK) {
        rc = cv__store_delete_many(v->store, (const char *const *)keys, n,
                                   v->opts.threads < 1 ? 1 : v->opts.threads);
    }
    cv__chunk_lru_clear(v->lru);
    for (size_t i = 0; keys && i < k; i++) {
        cv_free(keys[i]);
    }
    cv_free(keys);
    return rc;
}
