/* SPDX-License-Identifier: BSD-3-Clause
 * volume_copy.c: the chunk copy fast path (CloudVolume's transfer_to without re-encoding).
 * When two unsharded scales share encoding, encoding parameters, chunk size and bounds, the
 * chunks of a box are copied as stored objects: the bytes travel with their transport
 * compression (NAME.gz stays NAME.gz, as CloudFiles' transfer does) and are never decoded.
 * Only when the destination asks for another transport compression is the compression undone
 * and redone; the chunk encoding never is. Cheap checks still catch a truncated or foreign
 * raw chunk (its length, or the gzip header and trailer), so a corrupt source is reported
 * with its key instead of being copied; with `check` every chunk is decoded as well, before it
 * is written (its bytes are in memory anyway). A missing source chunk read with fill_missing
 * becomes the background chunk the decoding path would write. */
#include "compress/compress.h"
#include "volume/volume.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Whether two scales of the same encoding have the same zfpc parameters (chunks of different
 * ones differ); members the parser cannot read count as different. */
static bool same_zfpc_params(const cv_scale *a, const cv_scale *b)
{
#ifdef CV_HAVE_ZFP
    cv_zfpc_params pa, pb;
    if (cv__zfpc_params_parse(a->extra_json, &pa) != CV_OK ||
        cv__zfpc_params_parse(b->extra_json, &pb) != CV_OK) {
        cv_err_clear();
        return false;
    }
    return pa.rate == pb.rate && pa.precision == pb.precision && pa.tolerance == pb.tolerance &&
           memcmp(pa.correlated, pb.correlated, sizeof pa.correlated) == 0;
#else
    return (!a->extra_json && !b->extra_json) ||
           (a->extra_json && b->extra_json && strcmp(a->extra_json, b->extra_json) == 0);
#endif
}

static bool can_copy(const cv_volume *src, int src_mip, const cv_volume *dst, int dst_mip,
                     bool sharded_ok, char *why, size_t cap)
{
    const cv_info *si = src->info, *di = dst->info;
    const cv_scale *a = &si->scales[src_mip], *b = &di->scales[dst_mip];
    const char *no = NULL;
    if (si->dtype != di->dtype || si->num_channels != di->num_channels) {
        no = "data types differ";
    } else if (strcmp(a->encoding, b->encoding) != 0) {
        no = "encodings differ";
    } else if (memcmp(a->cseg_block, b->cseg_block, sizeof a->cseg_block) != 0 ||
               a->jpeg_quality != b->jpeg_quality || a->png_level != b->png_level ||
               (strcmp(a->encoding, "zfpc") == 0 && !same_zfpc_params(a, b))) {
        no = "encoding parameters differ";
    } else if (memcmp(a->chunk_sizes[0], b->chunk_sizes[0], sizeof a->chunk_sizes[0]) != 0) {
        no = "chunk sizes differ";
    } else if (memcmp(a->size, b->size, sizeof a->size) != 0 ||
               memcmp(a->voxel_offset, b->voxel_offset, sizeof a->voxel_offset) != 0) {
        no = "bounds differ";
    } else if (!sharded_ok && (a->sharding_json || b->sharding_json)) {
        no = "sharded";
    } else if (dst->opts.delete_black_uploads) {
        no = "--delete-black needs the voxels";
    } else if (dst->readonly) {
        no = "the destination is read-only";
    }
    if (why && cap) {
        snprintf(why, cap, "%s", no ? no : "");
    }
    return no == NULL;
}

bool cv__volume_can_copy(const cv_volume *src, int src_mip, const cv_volume *dst, int dst_mip,
                         char *why, size_t cap)
{
    return can_copy(src, src_mip, dst, dst_mip, false, why, cap);
}

bool cv__volume_can_copy_encoded(const cv_volume *src, int src_mip, const cv_volume *dst,
                                 int dst_mip, char *why, size_t cap)
{
    return can_copy(src, src_mip, dst, dst_mip, true, why, cap);
}

typedef struct copy_job {
    cv_volume *src, *dst;
    int src_mip, dst_mip;
    cv_grid grid;
    int64_t cmin[3], ccount[3];
    const char *compress; /* the destination's transport compression: "" none, "gzip", "br" */
    const char *content_type;
    const cv_codec *codec;
    bool is_raw; /* raw encoding: the decoded length is known, so stored bytes can be checked */
    bool check;  /* decode every chunk before writing it */
    struct {
        cv_buf stored, plain, decoded;
    } * bufs;
    atomic_uint_fast64_t voxel_bytes;
} copy_job;

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A raw chunk of `want` decoded bytes stored with `encoding`: the checks that cost nothing. */
static cv_status check_raw(const cv_buf *b, const char *encoding, size_t want)
{
    if (!encoding[0]) {
        if (b->len != want) {
            return CV_FAIL(CV_ERR_CORRUPT, "raw: %zu bytes, want %zu", b->len, want);
        }
    } else if (strcmp(encoding, "gzip") == 0) {
        if (b->len < 18 || b->data[0] != 0x1f || b->data[1] != 0x8b) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           "the .gz file is truncated or corrupt (%zu bytes, not "
                           "a gzip stream)",
                           b->len);
        }
        /* The trailer's size field of a cut-off stream is whatever bytes ended up last. */
        if (le32(b->data + b->len - 4) != (uint32_t)want) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           "the .gz file is truncated or corrupt (%zu bytes; its trailer does "
                           "not give the chunk's %zu bytes)",
                           b->len, want);
        }
    }
    return CV_OK;
}

/* A missing source chunk read with fill_missing: the background chunk the decoding path
 * would write, encoded and compressed as it would be. */
static cv_status put_background(copy_job *j, int tid, cv_bbox cbox, const char *dkey, size_t want)
{
    cv_volume *dst = j->dst;
    if (!j->codec->encode) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       "write chunk `%s' of %s: encoding %s is read-only in this build", dkey,
                       cv_volume_url(dst), j->codec->name);
    }
    cv_buf *chunk = &j->bufs[tid].plain, *enc = &j->bufs[tid].stored;
    chunk->len = enc->len = 0;
    chunk->max = enc->max = 0;
    CV_TRY(cv__buf_reserve(chunk, want));
    chunk->len = want;
    cv__fill_background(j->src, chunk->data, cbox, cbox);
    cv_chunk_desc d = cv__volume_chunk_desc(dst, j->dst_mip, cbox);
    const cv_scale *sc = &dst->info->scales[j->dst_mip];
    int level = sc->jpeg_quality >= 0 ? sc->jpeg_quality : sc->png_level;
    uint64_t t0 = cv__now_ns();
    cv_status rc = j->codec->encode(&d, level, chunk->data, want, enc);
    uint64_t t1 = cv__now_ns();
    atomic_fetch_add(&dst->codec_ns, t1 - t0);
    if (rc != CV_OK) {
        cv__err_wrap("encode chunk `%s' of %s", dkey, cv_volume_url(dst));
        return rc;
    }
    rc = cv_store_put(dst->store, dkey, enc->data, enc->len, j->compress, dst->opts.compress_level,
                      j->content_type);
    atomic_fetch_add(&dst->io_ns, cv__now_ns() - t1);
    if (rc == CV_OK) {
        atomic_fetch_add(&dst->n_written, 1);
        atomic_fetch_add(&dst->bytes_written, enc->len);
        atomic_fetch_add(&j->voxel_bytes, want);
    }
    return rc;
}

/* --check: undo the transport compression (unless `plain` already holds it) and decode the
 * chunk; it must decode to exactly `want` bytes. */
static cv_status check_decodes(copy_job *j, int tid, cv_bbox cbox, const cv_buf *stored,
                               const char *encoding, bool have_plain, size_t want)
{
    cv_buf *plain = &j->bufs[tid].plain, *decoded = &j->bufs[tid].decoded;
    const cv_buf *bytes = stored;
    if (have_plain) {
        bytes = plain;
    } else if (encoding[0]) {
        const cv_compressor *c = cv__compressor_find(encoding);
        if (!c) {
            return CV_FAIL(CV_ERR_UNSUPPORTED, "compression %s is not supported", encoding);
        }
        plain->len = 0;
        plain->max = j->is_raw ? want : want * 2 + (1 << 20);
        CV_TRY(c->decompress(stored->data, stored->len, plain));
        bytes = plain;
    }
    if (j->is_raw) {
        return bytes->len == want
                   ? CV_OK
                   : CV_FAIL(CV_ERR_CORRUPT, "raw: %zu bytes, want %zu", bytes->len, want);
    }
    cv_chunk_desc d = cv__volume_chunk_desc(j->src, j->src_mip, cbox);
    decoded->len = 0;
    decoded->max = want;
    CV_TRY(j->codec->decode(&d, bytes->data, bytes->len, decoded));
    if (decoded->len != want) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: decoded to %zu bytes, want %zu", j->codec->name,
                       decoded->len, want);
    }
    return CV_OK;
}

static cv_status copy_one(size_t i, int tid, void *arg)
{
    copy_job *j = arg;
    cv_volume *src = j->src, *dst = j->dst;
    int64_t cell[3] = {j->cmin[0] + (int64_t)(i % (size_t)j->ccount[0]),
                       j->cmin[1] + (int64_t)(i / (size_t)j->ccount[0] % (size_t)j->ccount[1]),
                       j->cmin[2] + (int64_t)(i / (size_t)(j->ccount[0] * j->ccount[1]))};
    cv_bbox cbox = cv_grid_cell_box(&j->grid, cell);
    char key[4096], dkey[4096];
    cv_volume_chunk_key(src, j->src_mip, cbox, key, sizeof key);
    cv_volume_chunk_key(dst, j->dst_mip, cbox, dkey, sizeof dkey);
    size_t want = cv_volume_box_bytes(src, cbox);
    cv_buf *stored = &j->bufs[tid].stored;
    /* An encoded chunk is never far larger than its voxels; the cap stops bombs early. */
    stored->max = want * 2 + (1 << 20);
    char encoding[32];
    uint64_t t0 = cv__now_ns();
    cv_status rc = cv__store_get_raw(src->store, key, stored, encoding, sizeof encoding);
    uint64_t t1 = cv__now_ns();
    atomic_fetch_add(&src->io_ns, t1 - t0);
    atomic_fetch_add(&src->n_requests, 1);
    if (rc == CV_OK && stored->len == 0) {
        rc = cv__notfound("chunk `%s' of %s is empty", key, cv_store_url(src->store));
    }
    if (rc == CV_ERR_NOTFOUND) {
        atomic_fetch_add(&src->n_missing, 1);
        if (src->opts.fill_missing) {
            cv_err_clear();
            return put_background(j, tid, cbox, dkey, want);
        }
        return CV_FAIL(CV_ERR_NOTFOUND, "chunk `%s' of %s is missing (use --fill-missing)", key,
                       cv_volume_url(src));
    }
    if (rc == CV_OK && j->is_raw) {
        rc = check_raw(stored, encoding, want);
    }
    if (rc != CV_OK) {
        cv__err_wrap("read chunk `%s' of %s", key, cv_store_url(src->store));
        return rc;
    }
    atomic_fetch_add(&src->n_read, 1);
    atomic_fetch_add(&src->bytes_read, stored->len);
    const cv_buf *out = stored;
    const char *out_encoding = encoding;
    if (strcmp(encoding, j->compress) != 0 || (j->compress[0] && dst->opts.compress_level >= 0)) {
        /* Another transport compression (or an explicit level): undo the stored one, keep the
         * chunk's encoding. */
        cv_buf *plain = &j->bufs[tid].plain;
        plain->len = 0;
        plain->max = j->is_raw ? want : want * 2 + (1 << 20);
        if (encoding[0]) {
            const cv_compressor *c = cv__compressor_find(encoding);
            if (!c) {
                return CV_FAIL(CV_ERR_UNSUPPORTED,
                               "read chunk `%s' of %s: compression %s is not supported", key,
                               cv_store_url(src->store), encoding);
            }
            rc = c->decompress(stored->data, stored->len, plain);
            if (rc == CV_OK && j->is_raw && plain->len != want) {
                rc = CV_FAIL(CV_ERR_CORRUPT, "raw: %zu bytes, want %zu", plain->len, want);
            }
            if (rc != CV_OK) {
                cv__err_wrap("read chunk `%s' of %s", key, cv_store_url(src->store));
                return rc;
            }
            out = plain;
        }
        out_encoding = NULL; /* cv_store_put compresses */
    }
    if (j->check) {
        rc = check_decodes(j, tid, cbox, stored, encoding, out == &j->bufs[tid].plain, want);
        if (rc != CV_OK) {
            cv__err_wrap("read chunk `%s' of %s", key, cv_store_url(src->store));
            return rc;
        }
    }
    uint64_t t2 = cv__now_ns();
    atomic_fetch_add(&src->codec_ns, t2 - t1);
    if (out_encoding) {
        rc =
            cv__store_put_raw(dst->store, dkey, out->data, out->len, out_encoding, j->content_type);
    } else {
        rc = cv_store_put(dst->store, dkey, out->data, out->len, j->compress,
                          dst->opts.compress_level, j->content_type);
    }
    atomic_fetch_add(&dst->io_ns, cv__now_ns() - t2);
    if (rc != CV_OK) {
        return rc;
    }
    atomic_fetch_add(&dst->n_written, 1);
    atomic_fetch_add(&dst->bytes_written, out->len);
    atomic_fetch_add(&j->voxel_bytes, want);
    return CV_OK;
}

cv_status cv__volume_copy_chunks(cv_volume *src, int src_mip, cv_volume *dst, int dst_mip,
                                 cv_bbox box, bool check, uint64_t *voxel_bytes)
{
    *voxel_bytes = 0;
    CV_TRY(cv__volume_check_mip(src, src_mip));
    CV_TRY(cv__volume_check_mip(dst, dst_mip));
    char why[64];
    if (!cv__volume_can_copy(src, src_mip, dst, dst_mip, why, sizeof why)) {
        return CV_FAIL(CV_ERR_ARG, "copy chunks from %s to %s: %s", cv_volume_url(src),
                       cv_volume_url(dst), why);
    }
    copy_job j = {.src = src,
                  .dst = dst,
                  .src_mip = src_mip,
                  .dst_mip = dst_mip,
                  .grid = cv_info_grid(src->info, src_mip)};
    cv_bbox region = cv_bbox_intersect(box, j.grid.bounds);
    if (cv_bbox_is_empty(region)) {
        return CV_OK;
    }
    if (!cv_grid_is_aligned(&j.grid, region)) {
        char rb[160];
        cv_bbox_format(region, rb, sizeof rb);
        return CV_FAIL(CV_ERR_ALIGN, "copy chunks from %s: box %s is not chunk aligned",
                       cv_volume_url(src), rb);
    }
    const cv_codec *codec = NULL;
    CV_TRY(cv__volume_codec(dst, dst_mip, &codec));
    j.codec = codec;
    j.is_raw = codec == &cv_codec_raw;
    j.check = check;
    j.content_type = codec->content_type;
    const char *compress = dst->opts.compress ? dst->opts.compress : codec->default_compress;
    if (!compress || strcmp(compress, "gz") == 0) {
        compress = compress ? "gzip" : "";
    }
    j.compress = compress;
    int64_t cmax[3];
    cv_grid_cells(&j.grid, region, j.cmin, cmax);
    size_t n = 1;
    for (int d = 0; d < 3; d++) {
        j.ccount[d] = cmax[d] - j.cmin[d];
        n *= (size_t)j.ccount[d];
    }
    int threads = dst->opts.threads < 1 ? 1 : dst->opts.threads;
    if (threads > CV_MAX_THREADS) {
        threads = CV_MAX_THREADS;
    }
    j.bufs = cv_calloc((size_t)threads, sizeof *j.bufs);
    if (!j.bufs) {
        return CV_FAIL(CV_ERR_NOMEM, "copy chunks");
    }
    atomic_init(&j.voxel_bytes, 0);
    cv_status rc = cv__parallel_for(n, threads, copy_one, &j);
    for (int t = 0; t < threads; t++) {
        cv__buf_fini(&j.bufs[t].stored);
        cv__buf_fini(&j.bufs[t].plain);
        cv__buf_fini(&j.bufs[t].decoded);
    }
    cv_free(j.bufs);
    *voxel_bytes = atomic_load(&j.voxel_bytes);
    return rc;
}
