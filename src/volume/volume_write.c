/* SPDX-License-Identifier: BSD-3-Clause
 * volume_write.c: painting a box into a layer (cloudvolume-conventions §6.2). Aligned boxes
 * are split into whole chunks; with non_aligned_writes the border chunks are downloaded,
 * painted and uploaded again. Each chunk is encoded, transport-compressed (CloudVolume's
 * default per encoding) and written atomically; all-background chunks are deleted instead
 * when delete_black_uploads is set. */
#include "volume/volume.h"

#include <inttypes.h>
#include <string.h>

typedef struct write_job {
    cv_volume *v;
    int mip;
    cv_bbox src_frame; /* the caller's array */
    cv_bbox box;       /* what is written: src_frame clipped to the volume */
    const uint8_t *src;
    cv_grid grid;
    int64_t cmin[3], ccount[3];
    const cv_codec *codec;
    const char *compress;
    cv__write_bufs *bufs;
} write_job;

static void free_bufs(cv__write_bufs *b, int n)
{
    for (int t = 0; t < n; t++) {
        cv__buf_fini(&b[t].chunk);
        cv__buf_fini(&b[t].encoded);
        cv__buf_fini(&b[t].raw);
        cv__buf_fini(&b[t].packed);
        cv__buf_fini(&b[t].payloads);
    }
    cv_free(b);
}

void cv__volume_write_fini(cv_volume *v)
{
    free_bufs(v->write_bufs, v->n_write_bufs);
    v->write_bufs = NULL;
    v->n_write_bufs = 0;
}

cv__write_bufs *cv__volume_take_bufs(cv_volume *v, int threads, bool *kept)
{
    *kept = !atomic_exchange(&v->write_bufs_busy, true);
    if (!*kept) {
        return cv_calloc((size_t)threads, sizeof(cv__write_bufs));
    }
    if (v->n_write_bufs < threads) {
        cv__write_bufs *b = cv_calloc((size_t)threads, sizeof *b);
        if (!b) {
            atomic_store(&v->write_bufs_busy, false);
            *kept = false;
            return NULL;
        }
        if (v->n_write_bufs) {
            memcpy(b, v->write_bufs, (size_t)v->n_write_bufs * sizeof *b);
        }
        cv_free(v->write_bufs);
        v->write_bufs = b;
        v->n_write_bufs = threads;
    }
    return v->write_bufs;
}

void cv__volume_give_bufs(cv_volume *v, cv__write_bufs *b, int threads, bool kept)
{
    if (kept) {
        atomic_store(&v->write_bufs_busy, false);
    } else {
        free_bufs(b, threads);
    }
}

static cv_status write_one(size_t i, int tid, void *arg)
{
    write_job *j = arg;
    cv_volume *v = j->v;
    int64_t cell[3] = {j->cmin[0] + (int64_t)(i % (size_t)j->ccount[0]),
                       j->cmin[1] + (int64_t)(i / (size_t)j->ccount[0] % (size_t)j->ccount[1]),
                       j->cmin[2] + (int64_t)(i / (size_t)(j->ccount[0] * j->ccount[1]))};
    cv_bbox cbox = cv_grid_cell_box(&j->grid, cell);
    cv_bbox overlap = cv_bbox_intersect(cbox, j->box);
    size_t elem = cv_dtype_size(v->info->dtype);
    size_t nbytes = cv_volume_box_bytes(v, cbox);
    cv_buf *chunk = &j->bufs[tid].chunk;
    char key[4096];
    cv_volume_chunk_key(v, j->mip, cbox, key, sizeof key);

    const uint8_t *data = NULL; /* the chunk's voxels, as stored */
    if (cv_bbox_equal(overlap, cbox) && cv_bbox_equal(j->src_frame, cbox)) {
        /* The caller's array is this chunk (exchange rounds write each chunk so): its bytes are
         * the chunk's, used where they are. */
        data = j->src;
    } else if (!cv_bbox_equal(overlap, cbox)) {
        /* A border chunk: start from what is stored. */
        cv_status rc =
            cv__volume_fetch_chunk(v, j->mip, cbox, chunk, &j->bufs[tid].raw, &j->bufs[tid].packed);
        if (rc == CV_ERR_NOTFOUND) {
            if (!v->opts.fill_missing) {
                return CV_FAIL(CV_ERR_NOTFOUND,
                               "partial write needs chunk `%s' of %s, which is missing "
                               "(use --fill-missing)",
                               key, cv_volume_url(v));
            }
            chunk->len = 0;
            chunk->max = 0;
            CV_TRY(cv__buf_reserve(chunk, nbytes));
            chunk->len = nbytes;
            cv__fill_background(v, chunk->data, cbox, cbox);
        } else {
            CV_TRY(rc);
        }
    } else {
        chunk->len = 0;
        chunk->max = 0;
        CV_TRY(cv__buf_reserve(chunk, nbytes));
        chunk->len = nbytes;
    }
    if (!data) {
        cv__copy_region(elem, v->info->num_channels, j->src, j->src_frame, chunk->data, cbox,
                        overlap);
        data = chunk->data;
    }

    if (v->opts.delete_black_uploads && cv__all_background(v, data, nbytes)) {
        atomic_fetch_add(&v->n_deleted, 1);
        cv_status rc = cv_store_delete(v->store, key);
        if (rc != CV_OK) {
            cv__err_wrap("delete chunk `%s'", key);
        }
        return rc;
    }
    cv_chunk_desc d = cv__volume_chunk_desc(v, j->mip, cbox);
    cv_buf *enc = &j->bufs[tid].encoded;
    enc->len = 0;
    const uint8_t *out = data;
    size_t out_len = nbytes;
    uint64_t t1 = cv__now_ns();
    cv_status rc = CV_OK;
    if (j->codec != &cv_codec_raw) {
        /* The info's writer hints: jpeg_quality or png_level (-1 = the codec's default). */
        const cv_scale *sc = &v->info->scales[j->mip];
        int level = sc->jpeg_quality >= 0 ? sc->jpeg_quality : sc->png_level;
        rc = j->codec->encode(&d, level, data, nbytes, enc);
        uint64_t t0 = t1;
        t1 = cv__now_ns();
        atomic_fetch_add(&v->codec_ns, t1 - t0);
        if (rc != CV_OK) {
            cv__err_wrap("encode chunk `%s' of %s", key, cv_volume_url(v));
            return rc;
        }
        out = enc->data;
        out_len = enc->len;
    }
    /* raw is the chunk's own bytes (x fastest, little-endian): they go out without a copy. */
    rc = cv_store_put(v->store, key, out, out_len, j->compress, v->opts.compress_level,
                      j->codec->content_type);
    atomic_fetch_add(&v->io_ns, cv__now_ns() - t1);
    if (rc == CV_OK) {
        atomic_fetch_add(&v->n_written, 1);
        atomic_fetch_add(&v->bytes_written, out_len);
    }
    return rc;
}

cv_status cv_volume_write(cv_volume *v, int mip, cv_bbox box, const void *src, size_t src_len)
{
    CV_TRY(cv__volume_check_mip(v, mip));
    if (cv_bbox_is_empty(box)) {
        return CV_FAIL(CV_ERR_ARG, "write to %s: empty box", cv_volume_url(v));
    }
    size_t need;
    CV_TRY(cv_volume_check_box(v, box, &need));
    if (src_len != need) {
        return CV_FAIL(CV_ERR_ARG, "write to %s: %zu bytes of data for a box of %zu bytes",
                       cv_volume_url(v), src_len, need);
    }
    return cv__volume_write_frame(v, mip, box, src, box);
}

static cv_status write_frame(cv_volume *v, int mip, cv_bbox box, const void *src, cv_bbox frame);

cv_status cv__volume_write_frame(cv_volume *v, int mip, cv_bbox box, const void *src, cv_bbox frame)
{
    cv_status rc = write_frame(v, mip, box, src, frame);
    /* Kept decoded chunks may predate the write (or a failed part of it). */
    cv__chunk_lru_clear(v->lru);
    return rc;
}

static cv_status write_frame(cv_volume *v, int mip, cv_bbox box, const void *src, cv_bbox frame)
{
    CV_TRY(cv__volume_check_mip(v, mip));
    if (v->readonly) {
        return CV_FAIL(CV_ERR_READONLY, "write to %s: opened through redirects, read-only",
                       cv_volume_url(v));
    }
    if (cv_bbox_is_empty(box) || !cv_bbox_contains(frame, box)) {
        return CV_FAIL(CV_ERR_ARG, "write to %s: empty box, or a box outside its array",
                       cv_volume_url(v));
    }
    size_t frame_bytes;
    CV_TRY(cv_volume_check_box(v, frame, &frame_bytes));
    cv_bbox bounds = cv_info_bounds(v->info, mip);
    char rb[160], bb[160];
    cv_bbox_format(box, rb, sizeof rb);
    cv_bbox_format(bounds, bb, sizeof bb);
    if (v->opts.bounded && !v->opts.autocrop && !cv_bbox_contains(bounds, box)) {
        return CV_FAIL(CV_ERR_BOUNDS, "write to %s: box %s is outside the volume bounds %s",
                       cv_volume_url(v), rb, bb);
    }
    write_job j = {
        .v = v, .mip = mip, .src_frame = frame, .src = src, .grid = cv_info_grid(v->info, mip)};
    j.box = cv_bbox_intersect(box, bounds);
    if (cv_bbox_is_empty(j.box)) {
        return CV_FAIL(CV_ERR_BOUNDS, "write to %s: box %s lies outside the volume %s",
                       cv_volume_url(v), rb, bb);
    }
    if (!cv_grid_is_aligned(&j.grid, j.box) && !v->opts.non_aligned_writes) {
        char eb[160];
        cv_bbox_format(cv_grid_expand(&j.grid, j.box), eb, sizeof eb);
        return CV_FAIL(CV_ERR_ALIGN,
                       "write to %s: box %s is not aligned to the %" PRId64 "x%" PRId64 "x%" PRId64
                       " chunk grid (nearest aligned box %s, or --non-aligned "
                       "to read-modify-write the edge chunks)",
                       cv_volume_url(v), rb, j.grid.chunk[0], j.grid.chunk[1], j.grid.chunk[2], eb);
    }
    CV_TRY(cv__volume_codec(v, mip, &j.codec));
    if (!j.codec->encode) {
        return CV_FAIL(CV_ERR_UNSUPPORTED, "write to %s: encoding %s is read-only in this build",
                       cv_volume_url(v), j.codec->name);
    }
    if (v->info->scales[mip].sharding_json) {
        return cv__volume_write_sharded(v, mip, frame, j.box, src, j.codec);
    }
    j.compress = v->opts.compress ? v->opts.compress : j.codec->default_compress;
    int64_t cmax[3];
    cv_grid_cells(&j.grid, j.box, j.cmin, cmax);
    size_t n = 1;
    for (int d = 0; d < 3; d++) {
        j.ccount[d] = cmax[d] - j.cmin[d];
        n *= (size_t)j.ccount[d];
    }
    int threads = v->opts.threads < 1 ? 1 : v->opts.threads;
    if (threads > CV_MAX_THREADS) {
        threads = CV_MAX_THREADS;
    }
    bool kept;
    j.bufs = cv__volume_take_bufs(v, threads, &kept);
    if (!j.bufs) {
        return CV_FAIL(CV_ERR_NOMEM, "write");
    }
    cv_status rc = cv__parallel_for(n, threads, write_one, &j);
    cv__volume_give_bufs(v, j.bufs, threads, kept);
    return rc;
}
