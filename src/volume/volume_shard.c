/* SPDX-License-Identifier: BSD-3-Clause
 * volume_shard.c: sharded scales (precomputed-sharded spec; cloudvolume-conventions §6.2 item
 * 7). A chunk's key is the compressed Morton code of its grid cell; reads go through a shard
 * reader (ranged reads, cached indexes); a write must hold every chunk of each shard it touches,
 * and each shard file is built in memory and written whole, once. */
#include "compress/compress.h"
#include "shard/shard.h"
#include "volume/volume.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t readers_lock = PTHREAD_MUTEX_INITIALIZER;

cv_status cv__volume_shard_reader(cv_volume *v, int mip, cv_shard_reader **out)
{
    const cv_scale *s = &v->info->scales[mip];
    pthread_mutex_lock(&readers_lock);
    cv_status rc = CV_OK;
    if (!v->shard_readers) {
        v->shard_readers = cv_calloc((size_t)v->info->n_scales, sizeof *v->shard_readers);
        v->n_shard_readers = v->info->n_scales;
        rc = v->shard_readers ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "shard readers");
    }
    if (rc == CV_OK && mip >= v->n_shard_readers) {
        rc = CV_FAIL(CV_ERR_ARG, "scale %d was added after the volume was opened", mip);
    }
    if (rc == CV_OK && !v->shard_readers[mip]) {
        rc = cv_shard_reader_open(v->store, s->key, s->sharding_json, &v->shard_readers[mip]);
        if (rc != CV_OK) {
            cv__err_wrap("%s scale %s", cv_store_url(v->store), s->key);
        }
    }
    if (rc == CV_OK) {
        *out = v->shard_readers[mip];
    }
    pthread_mutex_unlock(&readers_lock);
    return rc;
}

void cv__volume_close_shard_readers(cv_volume *v)
{
    for (int i = 0; i < v->n_shard_readers; i++) {
        cv_shard_reader_close(v->shard_readers[i]);
    }
    cv_free(v->shard_readers);
    v->shard_readers = NULL;
    v->n_shard_readers = 0;
}

cv_status cv__volume_chunk_code(const cv_volume *v, int mip, cv_bbox cell_box, uint64_t *code)
{
    cv_grid g = cv_info_grid(v->info, mip);
    int64_t shape[3], cell[3];
    cv_grid_shape(&g, shape);
    for (int d = 0; d < 3; d++) {
        cell[d] = (cell_box.min[d] - g.bounds.min[d]) / g.chunk[d];
    }
    return cv_morton_code(shape, cell, code);
}

cv_status cv__volume_fetch_sharded(cv_volume *v, int mip, cv_bbox cell_box, cv_buf *out,
                                   cv_buf *scratch)
{
    cv_shard_reader *r;
    CV_TRY(cv__volume_shard_reader(v, mip, &r));
    uint64_t code;
    CV_TRY(cv__volume_chunk_code(v, mip, cell_box, &code));
    return cv__shard_reader_get_into(r, code, out, scratch);
}

/* ---- writing --------------------------------------------------------------------------- */

typedef struct cell_ref {
    uint64_t shard, code;
    int64_t cell[3];
} cell_ref;

static int by_shard_then_cell(const void *a, const void *b)
{
    const cell_ref *x = a, *y = b;
    if (x->shard != y->shard) {
        return x->shard < y->shard ? -1 : 1;
    }
    for (int d = 2; d >= 0; d--) { /* z, then y, then x: x fastest */
        if (x->cell[d] != y->cell[d]) {
            return x->cell[d] < y->cell[d] ? -1 : 1;
        }
    }
    return 0;
}

/* How many chunks of the whole volume fall in `shard`. */
static cv_status chunks_in_shard(const cv_shard_spec *spec, const int64_t shape[3], uint64_t shard,
                                 uint64_t *count)
{
    int64_t mini[3], sc[3];
    cv_err saved = *cv_err_last();
    if (cv_shard_image_shape(spec, shape, mini, sc) == CV_OK) {
        /* Spatial shards: boxes of sc chunks on a lattice; find ours through its first cell. */
        int bits[3];
        cv_morton_bits(shape, bits);
        int inner = spec->preshift_bits + spec->minishard_bits;
        uint64_t first_code = inner < 64 ? shard << inner : 0; /* shard is 0 when inner >= 64 */
        uint64_t cell[3];
        cv_morton_decode(bits, first_code, cell);
        uint64_t n = 1;
        for (int d = 0; d < 3; d++) {
            int64_t lo = (int64_t)cell[d] / sc[d] * sc[d];
            int64_t hi = lo + sc[d] < shape[d] ? lo + sc[d] : shape[d];
            n *= hi > lo ? (uint64_t)(hi - lo) : 0;
        }
        *count = n;
        return CV_OK;
    }
    cv__err_set(&saved);
    /* Hashed shards: count by walking the grid (bounded). */
    uint64_t cells = (uint64_t)shape[0] * (uint64_t)shape[1] * (uint64_t)shape[2];
    if (cells > ((uint64_t)1 << 26)) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       "writing part of a hashed sharded volume of %" PRIu64 " chunks is not "
                       "supported; write the whole volume",
                       cells);
    }
    uint64_t n = 0;
    for (int64_t z = 0; z < shape[2]; z++) {
        for (int64_t y = 0; y < shape[1]; y++) {
            for (int64_t x = 0; x < shape[0]; x++) {
                int64_t c[3] = {x, y, z};
                uint64_t code, s, m;
                CV_TRY(cv_morton_code(shape, c, &code));
                cv_shard_locate(spec, code, &s, &m);
                n += s == shard;
            }
        }
    }
    *count = n;
    return CV_OK;
}

/* One shard's chunks encoded on the volume's threads, each as the shard file stores it. */
typedef struct shard_encode {
    cv_volume *v;
    int mip;
    const uint8_t *src;
    cv_bbox src_frame;
    cv_grid grid;
    const cv_codec *codec;
    bool gzip;
    int level;
    const cell_ref *cells;
    cv_shard_item *items;
    bool *present; /* false: a background chunk left out (delete_black) */
    /* item i's bytes: payloads[where[i].tid] from where[i].off (the buffers move as they grow,
     * so the items point into them once the shard's chunks are all encoded) */
    struct payload_at {
        int tid;
        size_t off;
    } * where;
    cv_volume *from; /* set: the chunks come encoded from this volume's scale from_mip */
    int from_mip;
    bool check; /* with `from`: decode every chunk */
    atomic_uint_fast64_t voxel_bytes;
    cv__write_bufs *bufs; /* chunk, encoded, raw: the gzip, packed: a chunk encoded again */
} shard_encode;

/* The chunk at `cbox` encoded as the shard stores it (before data_encoding), from j->from: its
 * stored bytes when they are what encoding its voxels gives, else its voxels encoded again, as
 * cv_volume_read then cv_volume_write would. */
static cv_status encoded_from_source(shard_encode *j, int tid, cv_bbox cbox, size_t nbytes,
                                     const cv_buf **stored)
{
    cv_volume *v = j->v, *src = j->from;
    cv_buf *chunk = &j->bufs[tid].chunk, *fetched = &j->bufs[tid].encoded;
    cv_buf *enc = &j->bufs[tid].packed;
    fetched->len = 0;
    cv_status rc = cv__volume_fetch_stored(src, j->from_mip, cbox, fetched, &j->bufs[tid].raw);
    j->bufs[tid].raw.max = 0; /* it takes the gzip next */
    cv_chunk_desc d = cv__volume_chunk_desc(v, j->mip, cbox);
    if (rc == CV_ERR_NOTFOUND) {
        if (!src->opts.fill_missing) {
            char key[4096];
            cv_volume_chunk_key(src, j->from_mip, cbox, key, sizeof key);
            return CV_FAIL(CV_ERR_NOTFOUND, "chunk `%s' of %s is missing (use --fill-missing)", key,
                           cv_volume_url(src));
        }
        cv_err_clear();
        chunk->len = 0;
        CV_TRY(cv__buf_reserve(chunk, nbytes));
        chunk->len = nbytes;
        cv__fill_background(src, chunk->data, cbox, cbox);
    } else {
        CV_TRY(rc);
        bool canonical = cv__codec_is_canonical(j->codec, &d, fetched->data, fetched->len);
        if (canonical && !j->check) {
            *stored = fetched;
            return CV_OK;
        }
        chunk->max = 0;
        CV_TRY(cv__volume_decode_chunk(src, j->from_mip, cbox, fetched, chunk));
        chunk->max = 0;
        if (canonical) {
            *stored = fetched;
            return CV_OK;
        }
    }
    enc->len = 0;
    CV_TRY(j->codec->encode(&d, j->level, chunk->data, chunk->len, enc));
    *stored = enc;
    return CV_OK;
}

/* Room for `n` more bytes (or their gzip) in a payloads buffer: grown by a quarter over what
 * is needed, not doubled, as it holds a shard's share of chunks for the rest of the job. */
static cv_status grow_payloads(cv_buf *b, size_t n)
{
    size_t room = n + n / 16 + 4096; /* above gzip's bound for n bytes */
    if (room < n || b->len > SIZE_MAX / 2 - room) {
        return CV_FAIL(CV_ERR_NOMEM, "sharded write: %zu bytes", n);
    }
    size_t need = b->len + room;
    if (need <= b->cap) {
        return CV_OK;
    }
    size_t cap = need + need / 4;
    uint8_t *p = cv_realloc(b->data, cap);
    if (!p) {
        return CV_FAIL(CV_ERR_NOMEM, "sharded write: %zu bytes", cap);
    }
    b->data = p;
    b->cap = cap;
    return CV_OK;
}

static cv_status encode_one(size_t i, int tid, void *arg)
{
    shard_encode *j = arg;
    cv_volume *v = j->v;
    cv_bbox cbox = cv_grid_cell_box(&j->grid, j->cells[i].cell);
    size_t nbytes = cv_volume_box_bytes(v, cbox);
    cv_buf *enc = &j->bufs[tid].encoded;
    const cv_buf *stored = enc;
    if (j->from) {
        CV_TRY(encoded_from_source(j, tid, cbox, nbytes, &stored));
        atomic_fetch_add(&j->voxel_bytes, nbytes);
    }
    cv_buf *chunk = &j->bufs[tid].chunk;
    if (!j->from) {
        chunk->len = 0;
        CV_TRY(cv__buf_reserve(chunk, nbytes));
        chunk->len = nbytes;
        cv__copy_region(cv_dtype_size(v->info->dtype), v->info->num_channels, j->src, j->src_frame,
                        chunk->data, cbox, cbox);
    }
    if (!j->from && v->opts.delete_black_uploads && cv__all_background(v, chunk->data, nbytes)) {
        return CV_OK; /* absent keys read as missing, i.e. background with fill_missing */
    }
    cv_chunk_desc d = cv__volume_chunk_desc(v, j->mip, cbox);
    if (j->from) {
        /* already encoded */
    } else if (j->codec == &cv_codec_raw) {
        /* raw is the chunk's own bytes: no encode copy */
        stored = chunk;
    } else {
        enc->len = 0;
        CV_TRY(j->codec->encode(&d, j->level, chunk->data, nbytes, enc));
    }
    /* The thread's payloads buffer is kept from shard to shard (and call to call): no fresh
     * pages, no allocation per chunk; gzip writes into it directly. */
    cv_buf *out = &j->bufs[tid].payloads;
    size_t at = out->len;
    CV_TRY(grow_payloads(out, stored->len));
    if (j->gzip) {
        CV_TRY(cv_compress_gzip.compress(v->opts.compress_level, stored->data, stored->len, out));
    } else {
        memcpy(out->data + at, stored->data, stored->len);
        out->len += stored->len;
    }
    j->where[i] = (struct payload_at){tid, at};
    j->items[i] = (cv_shard_item){j->cells[i].code, NULL, out->len - at};
    j->present[i] = true;
    return CV_OK;
}

/* One shard file from its items (all of one shard, payloads as stored). On a store that writes
 * a file piece by piece (file://) the file goes out as its index, the payloads where they lie
 * and the minishard indexes, the same bytes as cv_shard_write builds, without a copy of the
 * whole file in memory. */
typedef struct shard_out {
    const cv_buf *head, *tail;
    const cv_shard_item *items;
    const size_t *order;
    size_t n, next;
} shard_out;

static cv_status shard_piece(void *arg, const void **p, size_t *n)
{
    shard_out *o = arg;
    size_t at = o->next++;
    *n = 0;
    if (at == 0) {
        *p = o->head->data;
        *n = o->head->len;
    } else if (at <= o->n) {
        *p = o->items[o->order[at - 1]].data;
        *n = o->items[o->order[at - 1]].len;
    } else if (at == o->n + 1) {
        *p = o->tail->data;
        *n = o->tail->len;
    }
    return CV_OK;
}

static cv_status put_shard(cv_volume *v, const char *prefix, const cv_shard_spec *spec,
                           uint64_t shard, const cv_shard_item *items, size_t n)
{
    if (!cv__store_streams(v->store) || spec->data_encoding != CV_SHARD_RAW) {
        return cv_shard_write(v->store, prefix, spec, items, n, CV_SHARD_LAYOUT_CLOUDVOLUME,
                              v->opts.compress_level);
    }
    char key[CV_SHARD_KEY_MAX];
    CV_TRY(cv__shard_object_key(prefix, spec, shard, key, sizeof key));
    size_t *order = cv_malloc(n * sizeof *order);
    if (!order) {
        return CV_FAIL(CV_ERR_NOMEM, "write shard `%s': %zu chunks", key, n);
    }
    cv_buf head, tail;
    cv__buf_init(&head, 0);
    cv__buf_init(&tail, 0);
    cv_status rc = cv__shard_plan_file(spec, items, n, v->opts.compress_level, order, &head, &tail);
    if (rc == CV_OK) {
        shard_out o = {.head = &head, .tail = &tail, .items = items, .order = order, .n = n};
        rc = cv__store_put_pieces(v->store, key, shard_piece, &o, "application/octet-stream");
        cv__shard_cache_invalidate(cv_store_url(v->store), key);
    }
    cv__buf_fini(&head);
    cv__buf_fini(&tail);
    cv_free(order);
    return rc;
}

/* The shard files of `box`, their chunks from the voxels `src` (framed by src_frame) or, with
 * `from`, from that volume's scale from_mip as stored. */
static cv_status write_sharded(cv_volume *v, int mip, cv_bbox src_frame, cv_bbox box,
                               const uint8_t *src, const cv_codec *codec, cv_volume *from,
                               int from_mip, bool check, uint64_t *voxel_bytes)
{
    const cv_scale *sc = &v->info->scales[mip];
    cv_shard_spec spec;
    CV_TRY(cv_shard_spec_parse(sc->sharding_json, strlen(sc->sharding_json), sc->key, &spec));
    char what[CV_SHARD_KEY_MAX + 64];
    snprintf(what, sizeof what, "info `%s/info' scale %s", cv_store_url(v->store), sc->key);
    CV_TRY(cv__shard_check_write_index(&spec, what, 0, NULL));
    cv_grid g = cv_info_grid(v->info, mip);
    if (!cv_grid_is_aligned(&g, box)) {
        return CV_FAIL(CV_ERR_ALIGN,
                       "write to sharded scale %s of %s: the box must cover whole "
                       "chunks (and whole shards)",
                       sc->key, cv_store_url(v->store));
    }
    int64_t shape[3], cmin[3], cmax[3];
    cv_grid_shape(&g, shape);
    cv_grid_cells(&g, box, cmin, cmax);
    size_t n = (size_t)((cmax[0] - cmin[0]) * (cmax[1] - cmin[1]) * (cmax[2] - cmin[2]));
    cell_ref *cells = cv_calloc(n ? n : 1, sizeof *cells);
    if (!cells) {
        return CV_FAIL(CV_ERR_NOMEM, "sharded write");
    }
    size_t k = 0;
    cv_status rc = CV_OK;
    for (int64_t z = cmin[2]; z < cmax[2] && rc == CV_OK; z++) {
        for (int64_t y = cmin[1]; y < cmax[1] && rc == CV_OK; y++) {
            for (int64_t x = cmin[0]; x < cmax[0] && rc == CV_OK; x++) {
                cell_ref *c = &cells[k++];
                c->cell[0] = x;
                c->cell[1] = y;
                c->cell[2] = z;
                rc = cv_morton_code(shape, c->cell, &c->code);
                uint64_t mini;
                cv_shard_locate(&spec, c->code, &c->shard, &mini);
            }
        }
    }
    if (rc == CV_OK) {
        qsort(cells, n, sizeof *cells, by_shard_then_cell);
    }
    int threads = v->opts.threads < 1 ? 1 : v->opts.threads;
    if (threads > CV_MAX_THREADS) {
        threads = CV_MAX_THREADS;
    }
    shard_encode j = {.v = v,
                      .mip = mip,
                      .src = src,
                      .src_frame = src_frame,
                      .grid = g,
                      .codec = codec,
                      .gzip = spec.data_encoding == CV_SHARD_GZIP,
                      .level = sc->jpeg_quality >= 0 ? sc->jpeg_quality : sc->png_level,
                      .from = from,
                      .from_mip = from_mip,
                      .check = check};
    bool kept = false;
    j.bufs = cv__volume_take_bufs(v, threads, &kept);
    atomic_init(&j.voxel_bytes, 0);
    if (rc == CV_OK && !j.bufs) {
        rc = CV_FAIL(CV_ERR_NOMEM, "sharded write");
    }
    /* The payloads are gzipped by the threads already: the file does not record
     * data_encoding, so building with raw gives its bytes. */
    cv_shard_spec as_stored = spec;
    as_stored.data_encoding = CV_SHARD_RAW;
    for (size_t first = 0; rc == CV_OK && first < n;) {
        size_t last = first;
        while (last < n && cells[last].shard == cells[first].shard) {
            last++;
        }
        uint64_t want = 0;
        rc = chunks_in_shard(&spec, shape, cells[first].shard, &want);
        if (rc == CV_OK && want != last - first) {
            char name[64];
            cv_shard_file_name(&spec, cells[first].shard, name, sizeof name);
            rc = CV_FAIL(CV_ERR_ALIGN,
                         "write to sharded scale %s of %s: the box holds %zu of the %" PRIu64
                         " chunks of shard %s; sharded writes must cover whole shards",
                         sc->key, cv_store_url(v->store), last - first, want, name);
        }
        j.cells = cells + first;
        j.items = rc == CV_OK ? cv_calloc(last - first, sizeof *j.items) : NULL;
        j.where = rc == CV_OK ? cv_calloc(last - first, sizeof *j.where) : NULL;
        j.present = rc == CV_OK ? cv_calloc(last - first, sizeof *j.present) : NULL;
        if (rc == CV_OK && (!j.items || !j.where || !j.present)) {
            rc = CV_FAIL(CV_ERR_NOMEM, "sharded write");
        }
        for (int t = 0; rc == CV_OK && t < threads; t++) {
            /* kept buffers carry the limits of their last use */
            cv_buf *b[] = {&j.bufs[t].chunk, &j.bufs[t].encoded, &j.bufs[t].raw, &j.bufs[t].packed,
                           &j.bufs[t].payloads};
            for (size_t m = 0; m < sizeof b / sizeof *b; m++) {
                b[m]->len = 0;
                b[m]->max = 0;
            }
        }
        if (rc == CV_OK) {
            rc = cv__parallel_for(last - first, threads, encode_one, &j);
        }
        /* in z, y, x order, the background chunks left out */
        size_t n_items = 0;
        for (size_t i = 0; rc == CV_OK && i < last - first; i++) {
            if (j.present[i]) {
                j.items[i].data = j.bufs[j.where[i].tid].payloads.data + j.where[i].off;
                j.items[n_items++] = j.items[i];
            }
        }
        if (rc == CV_OK && n_items == 0) {
            /* Everything was background: no shard file at all. */
            char key[CV_SHARD_KEY_MAX];
            rc = cv__shard_object_key(sc->key, &spec, cells[first].shard, key, sizeof key);
            if (rc == CV_OK) {
                rc = cv_store_delete(v->store, key);
                cv__shard_cache_invalidate(cv_store_url(v->store), key);
            }
        } else if (rc == CV_OK) {
            rc = put_shard(v, sc->key, &as_stored, cells[first].shard, j.items, n_items);
        }
        cv_free(j.where);
        cv_free(j.items);
        cv_free(j.present);
        j.where = NULL;
        j.items = NULL;
        j.present = NULL;
        first = last;
    }
    if (j.bufs) {
        cv__volume_give_bufs(v, j.bufs, threads, kept);
    }
    cv_free(cells);
    if (voxel_bytes) {
        *voxel_bytes = atomic_load(&j.voxel_bytes);
    }
    return rc;
}

cv_status cv__volume_write_sharded(cv_volume *v, int mip, cv_bbox src_frame, cv_bbox box,
                                   const uint8_t *src, const cv_codec *codec)
{
    return write_sharded(v, mip, src_frame, box, src, codec, NULL, 0, false, NULL);
}

cv_status cv__volume_copy_sharded(cv_volume *src, int src_mip, cv_volume *v, int mip, cv_bbox box,
                                  bool check, uint64_t *voxel_bytes)
{
    *voxel_bytes = 0;
    CV_TRY(cv__volume_check_mip(src, src_mip));
    CV_TRY(cv__volume_check_mip(v, mip));
    /* cv__volume_can_copy_encoded is the caller's (it would link the zfp parameters into
     * everything that writes shards) */
    if (!v->info->scales[mip].sharding_json) {
        return CV_FAIL(CV_ERR_ARG, "copy chunks from %s into the shards of %s: unsharded",
                       cv_volume_url(src), cv_volume_url(v));
    }
    cv_bbox region = cv_bbox_intersect(box, cv_info_bounds(v->info, mip));
    if (cv_bbox_is_empty(region)) {
        return CV_OK;
    }
    const cv_codec *codec = NULL;
    CV_TRY(cv__volume_codec(v, mip, &codec));
    if (!codec->encode) {
        return CV_FAIL(CV_ERR_UNSUPPORTED, "write to %s: encoding %s is read-only in this build",
                       cv_volume_url(v), codec->name);
    }
    cv_bbox none = {{0, 0, 0}, {0, 0, 0}};
    return write_sharded(v, mip, none, region, NULL, codec, src, src_mip, check, voxel_bytes);
}

/* ---- reading many chunks: neighbouring values of a shard in one ranged request ----------- */

enum {
    COALESCE_GAP = 64 << 10, /* read through holes up to this size rather than split */
    COALESCE_MAX = 16 << 20, /* but keep one request below this */
};

typedef struct value_ref {
    int64_t cell[3];
    uint64_t code, shard, off, len;
    bool found;
} value_ref;

typedef struct value_run {
    size_t first, count; /* refs[first .. first+count) */
    uint64_t off, len;
} value_run;

typedef struct sharded_read {
    cv_volume *v;
    int mip;
    cv_bbox box;
    uint8_t *dst;
    cv_grid grid;
    int64_t shape[3], cmin[3], ccount[3];
    cv_shard_reader *reader;
    const cv_codec *codec;
    value_ref *refs;
    value_run *runs;
    /* per thread: `raw` the run's bytes, `encoded` a value ungzipped, `chunk` decoded; the
     * volume's kept buffers, so that reads of a chunk or two do not fault in fresh pages */
    cv__write_bufs *bufs;
} sharded_read;

static cv_status locate_one(size_t i, int tid, void *arg)
{
    (void)tid;
    sharded_read *j = arg;
    value_ref *r = &j->refs[i];
    r->cell[0] = j->cmin[0] + (int64_t)(i % (size_t)j->ccount[0]);
    r->cell[1] = j->cmin[1] + (int64_t)(i / (size_t)j->ccount[0] % (size_t)j->ccount[1]);
    r->cell[2] = j->cmin[2] + (int64_t)(i / (size_t)(j->ccount[0] * j->ccount[1]));
    CV_TRY(cv_morton_code(j->shape, r->cell, &r->code));
    uint64_t mini;
    cv_shard_locate(cv_shard_reader_spec(j->reader), r->code, &r->shard, &mini);
    char object[CV_SHARD_KEY_MAX];
    cv_status rc =
        cv__shard_reader_locate(j->reader, r->code, object, sizeof object, &r->off, &r->len);
    r->found = rc == CV_OK;
    if (rc == CV_ERR_NOTFOUND) {
        atomic_fetch_add(&j->v->n_missing, 1);
        return CV_OK;
    }
    return rc;
}

static int by_file_offset(const void *a, const void *b)
{
    const value_ref *x = a, *y = b;
    if (x->found != y->found) {
        return x->found ? -1 : 1; /* missing ones last */
    }
    if (x->shard != y->shard) {
        return x->shard < y->shard ? -1 : 1;
    }
    return x->off < y->off ? -1 : x->off > y->off;
}

static cv_status read_run(size_t i, int tid, void *arg)
{
    sharded_read *j = arg;
    cv_volume *v = j->v;
    const value_run *run = &j->runs[i];
    const cv_scale *sc = &v->info->scales[j->mip];
    char object[CV_SHARD_KEY_MAX];
    CV_TRY(cv__shard_object_key(sc->key, cv_shard_reader_spec(j->reader), j->refs[run->first].shard,
                                object, sizeof object));
    cv_buf *range = &j->bufs[tid].raw;
    range->max = 0;
    uint64_t t0 = cv__now_ns();
    cv_status rc = cv__store_get_range_into(v->store, object, run->off, run->len, range);
    atomic_fetch_add(&v->io_ns, cv__now_ns() - t0);
    atomic_fetch_add(&v->n_requests, 1);
    if (rc == CV_OK && range->len != run->len) {
        rc = CV_FAIL(CV_ERR_CORRUPT,
                     "shard `%s' of %s ends at byte %" PRIu64 ", before the chunks "
                     "its index lists (up to byte %" PRIu64 ")",
                     object, cv_store_url(v->store), run->off + range->len, run->off + run->len);
    }
    size_t elem = cv_dtype_size(v->info->dtype);
    for (size_t k = 0; rc == CV_OK && k < run->count; k++) {
        const value_ref *r = &j->refs[run->first + k];
        cv_bbox cbox = cv_grid_cell_box(&j->grid, r->cell);
        cv_chunk_desc d = cv__volume_chunk_desc(v, j->mip, cbox);
        size_t want = cv__chunk_desc_bytes(&d);
        cv_buf *value = &j->bufs[tid].encoded, *chunk = &j->bufs[tid].chunk;
        value->max = want * 2 + (1 << 20);
        uint64_t t1 = cv__now_ns();
        const uint8_t *payload = NULL;
        size_t payload_len = 0;
        rc = cv__shard_reader_value(j->reader, r->code, range->data + (r->off - run->off),
                                    (size_t)r->len, value, &payload, &payload_len);
        if (rc == CV_OK && payload_len == 0) {
            rc = CV_FAIL(CV_ERR_NOTFOUND, "chunk %" PRIu64 " of shard `%s' is empty", r->code,
                         object);
        }
        /* raw values of the chunk's size are its voxels where they lie: no decoding copy */
        const uint8_t *voxels = payload;
        if (rc == CV_OK && !(j->codec == &cv_codec_raw && payload_len == want)) {
            chunk->len = 0;
            chunk->max = want;
            rc = j->codec->decode(&d, payload, payload_len, chunk);
            voxels = chunk->data;
            if (rc == CV_OK && chunk->len != want) {
                rc = CV_FAIL(CV_ERR_CORRUPT, "%s: decoded to %zu bytes, want %zu", j->codec->name,
                             chunk->len, want);
            }
        }
        atomic_fetch_add(&v->codec_ns, cv__now_ns() - t1);
        if (rc != CV_OK) {
            char name[160];
            cv_chunk_name_format(cbox, name, sizeof name);
            cv__err_wrap("read chunk %s (key %" PRIu64 ") of %s", name, r->code,
                         cv_store_url(v->store));
            break;
        }
        atomic_fetch_add(&v->n_read, 1);
        atomic_fetch_add(&v->bytes_read, payload_len);
        cv__copy_region(elem, v->info->num_channels, voxels, cbox, j->dst, j->box,
                        cv_bbox_intersect(cbox, j->box));
    }
    return rc;
}

cv_status cv__volume_read_sharded(cv_volume *v, int mip, cv_bbox box, uint8_t *dst, int threads)
{
    sharded_read j = {
        .v = v, .mip = mip, .box = box, .dst = dst, .grid = cv_info_grid(v->info, mip)};
    CV_TRY(cv__volume_shard_reader(v, mip, &j.reader));
    CV_TRY(cv__volume_codec(v, mip, &j.codec));
    cv_grid_shape(&j.grid, j.shape);
    int64_t cmax[3];
    cv_grid_cells(&j.grid, box, j.cmin, cmax);
    size_t n = 1;
    for (int d = 0; d < 3; d++) {
        j.ccount[d] = cmax[d] - j.cmin[d];
        n *= (size_t)j.ccount[d];
    }
    j.refs = cv_calloc(n ? n : 1, sizeof *j.refs);
    j.runs = cv_calloc(n ? n : 1, sizeof *j.runs);
    bool kept;
    j.bufs = cv__volume_take_bufs(v, threads, &kept);
    cv_status rc = j.refs && j.runs && j.bufs ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "sharded read");
    /* 1. Where every value lies (indexes only, cached per process). */
    if (rc == CV_OK) {
        rc = cv__parallel_for(n, threads, locate_one, &j);
    }
    size_t n_found = 0;
    for (size_t i = 0; rc == CV_OK && i < n; i++) {
        if (j.refs[i].found) {
            n_found++;
            continue;
        }
        cv_bbox cbox = cv_grid_cell_box(&j.grid, j.refs[i].cell);
        if (!v->opts.fill_missing) {
            char key[4096];
            cv_volume_chunk_key(v, mip, cbox, key, sizeof key);
            rc = CV_FAIL(CV_ERR_NOTFOUND,
                         "chunk `%s' (key %" PRIu64 ") of %s is missing (use "
                         "--fill-missing)",
                         key, j.refs[i].code, cv_volume_url(v));
        } else {
            cv__fill_background(v, dst, box, cv_bbox_intersect(cbox, box));
        }
    }
    /* 2. Neighbours in a file become one request. */
    size_t n_runs = 0;
    if (rc == CV_OK) {
        qsort(j.refs, n, sizeof *j.refs, by_file_offset);
        for (size_t i = 0; i < n_found; i++) {
            value_run *last = n_runs ? &j.runs[n_runs - 1] : NULL;
            const value_ref *r = &j.refs[i];
            if (last && j.refs[last->first].shard == r->shard && r->off >= last->off &&
                r->off <= last->off + last->len + COALESCE_GAP &&
                r->off + r->len - last->off <= COALESCE_MAX) {
                uint64_t end = r->off + r->len;
                if (end > last->off + last->len) {
                    last->len = end - last->off;
                }
                last->count++;
                continue;
            }
            j.runs[n_runs++] = (value_run){i, 1, r->off, r->len};
        }
        /* 3. Read, decode and place them. */
        rc = cv__parallel_for(n_runs, threads, read_run, &j);
    }
    if (j.bufs) {
        cv__volume_give_bufs(v, j.bufs, threads, kept);
    }
    cv_free(j.runs);
    cv_free(j.refs);
    return rc;
}
