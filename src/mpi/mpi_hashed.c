/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_hashed.c: transfers into hashed-sharded scales through spill files (see cv_hashed.h). */
#include "mpi/cv_hashed.h"

#include "mpi/cv_collective.h"
#include "mpi/cv_mpi.h"
#include "mpi/cv_tree_exchange.h"
#include "compress/compress.h"
#include "io/store.h"
#include "shard/shard.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Journal ids are one per shard: 2^30 shards is a 128 MiB bitmap on every rank. */
#define MAX_SHARD_BITS 30

/* A task's chunk on one encoding thread (cv_hashed_task). */
typedef struct chunk_slot {
    cv_buf chunk, encoded; /* the chunk cut out, then its stored bytes in `encoded` */
    int64_t cell[3];
    uint64_t code;
    bool black; /* dropped (--delete-black) */
} chunk_slot;

struct cv_hashed {
    cv_hashed_params p;
    cv_shard_spec spec;
    const char *key; /* the scale's key (the shard files' prefix) */
    int64_t dshape[3];
    int morton_bits[3];
    uint64_t n_chunks, n_shards;
    /* A --bbox job: shards straddling the region keep their chunks outside it (owners
     * read-modify-write them); cells of the region are region_lo..region_hi. */
    bool partial;
    int64_t region_lo[3], region_hi[3];
    double chunk_bytes;   /* one decoded destination chunk */
    double largest;       /* chunks in the largest shard, at most */
    double shard_bytes;   /* the largest shard expected, decoded */
    double writer_bytes;  /* an owner writing that shard */
    double index_bytes;   /* the exchange's indexes on one rank */
    size_t round_bytes;   /* each exchange round, each way */
    char dir[4200];       /* <journal>/hashed */
    int max_ranks;        /* the most ranks any run of the job had */
    cv_state_file *spill; /* this rank's records */
    chunk_slot *slots;    /* per thread: a chunk cut out of a task and its encoding */
    int threads;
    const cv_codec *codec;
    int level;
};

/* The largest shard's chunk count. Identity hash: a shard holds the codes sharing their bits
 * above preshift + minishard (and, when shard_bits leaves high bits out, every code equal in
 * its shard bits), so at most 2^max(preshift + minishard, code bits - shard bits) of them; a
 * grid that is not a power of two fills the first shards and leaves others short. Murmurhash:
 * n_chunks in n_shards bins, with a wide margin: the mean plus 6 standard deviations of the
 * (binomial) count, plus one. */
static double largest_shard_chunks(const cv_hashed *h)
{
    double n_chunks = (double)h->n_chunks;
    if (h->spec.hash == CV_SHARD_HASH_IDENTITY) {
        int code_bits = h->morton_bits[0] + h->morton_bits[1] + h->morton_bits[2];
        int inner = h->spec.preshift_bits + h->spec.minishard_bits;
        int bits = inner > code_bits - h->spec.shard_bits ? inner : code_bits - h->spec.shard_bits;
        return fmin(n_chunks, ldexp(1.0, bits));
    }
    double mean = n_chunks / (double)h->n_shards;
    return fmin(n_chunks, ceil(mean + 6.0 * sqrt(mean) + 1.0));
}

/* How many of the low n bits of a compressed Morton code each axis gives. */
static void low_code_bits(const cv_hashed *h, int n, int per_axis[3])
{
    per_axis[0] = per_axis[1] = per_axis[2] = 0;
    for (int i = 0, j = 0; j < n && i < 64; i++) {
        for (int d = 0; d < 3 && j < n; d++) {
            if (i < h->morton_bits[d]) {
                per_axis[d]++;
                j++;
            }
        }
    }
}

/* The shard files the scale's chunks fill. Identity hash: the code's low preshift + minishard
 * bits take the low k[d] bits of each cell coordinate (compressed Morton order) and the shard
 * bits the next m[d], so the shards present are those coordinate bit fields' combinations,
 * axis by axis: exact. Murmurhash: the expected count of the n_shards bins hit by the
 * distinct codes after preshift (counted the same way). */
static double shard_files(const cv_hashed *h)
{
    if (h->spec.hash != CV_SHARD_HASH_IDENTITY) {
        int k[3];
        low_code_bits(h, h->spec.preshift_bits, k);
        double keys = 1, n = (double)h->n_shards; /* the codes after preshift are hashed */
        for (int d = 0; d < 3; d++) {
            keys *= ceil(ldexp((double)h->dshape[d], -k[d]));
        }
        return n == 1 ? 1 : n * -expm1(keys * log1p(-1.0 / n));
    }
    int inner = h->spec.preshift_bits + h->spec.minishard_bits, k[3], upto[3];
    low_code_bits(h, inner, k);
    low_code_bits(h, inner + h->spec.shard_bits, upto);
    double files = 1;
    for (int d = 0; d < 3; d++) {
        double above = ceil(ldexp((double)h->dshape[d], -k[d]));
        files *= fmin(above, ldexp(1.0, upto[d] - k[d]));
    }
    return files;
}

static const char *job_name(const cv_hashed *h)
{
    return h->p.what ? h->p.what : "transfer to sharded scale";
}

cv_status cv_hashed_plan(const cv_hashed_params *p, cv_hashed **out)
{
    *out = NULL;
    const cv_scale *ds = &p->dst_info->scales[p->dst_mip];
    cv_hashed *h = cv_calloc(1, sizeof *h);
    if (!h) {
        return CV_FAIL(CV_ERR_NOMEM, "hashed-shard plan");
    }
    h->p = *p;
    h->key = ds->key;
    cv_status rc =
        cv_shard_spec_parse(ds->sharding_json, strlen(ds->sharding_json), ds->key, &h->spec);
    cv_grid g = cv_info_grid(p->dst_info, p->dst_mip);
    h->partial = !cv_bbox_equal(p->region, g.bounds);
    cv_grid_cells(&g, p->region, h->region_lo, h->region_hi);
    if (rc == CV_OK) {
        char what[4200];
        snprintf(what, sizeof what, "%s %s", job_name(h), ds->key);
        rc = cv__shard_check_write_index(&h->spec, what, 0, NULL);
    }
    if (rc == CV_OK && h->spec.shard_bits > MAX_SHARD_BITS) {
        rc = CV_FAIL(CV_ERR_UNSUPPORTED,
                     "%s %s: shard_bits %d; at most %d are supported "
                     "when chunks are scattered over shards (one journal entry per shard)",
                     job_name(h), ds->key, h->spec.shard_bits, MAX_SHARD_BITS);
    }
    if (rc != CV_OK) {
        cv_free(h);
        return rc;
    }
    cv_grid_shape(&g, h->dshape);
    cv_morton_bits(h->dshape, h->morton_bits);
    h->n_chunks = (uint64_t)h->dshape[0] * (uint64_t)h->dshape[1] * (uint64_t)h->dshape[2];
    h->n_shards = (uint64_t)1 << h->spec.shard_bits;
    h->chunk_bytes = (double)g.chunk[0] * (double)g.chunk[1] * (double)g.chunk[2] *
                     (double)cv_dtype_size(p->dst_info->dtype) * (double)p->dst_info->num_channels;
    h->largest = largest_shard_chunks(h);
    h->shard_bytes = h->largest * h->chunk_bytes;
    /* A rank sends about its share of the chunks and receives those of its shards; both
     * indexes grow by doubling. */
    double ranks = (double)(p->ranks > 0 ? p->ranks : 1);
    double share = ceil((double)h->n_chunks / ranks) + 6.0 * sqrt((double)h->n_chunks / ranks);
    h->index_bytes = 2.0 * share * (double)(sizeof(cv_tree_send) + sizeof(cv_state_rec));
    /* Writing a shard streamed holds per chunk its item, entry, record pointer, place and
     * slot and minishard index entry (160 bytes), the shard index, and a chunk read back
     * (with its gzip margin), plus on s3:// and gs:// the upload's part. Otherwise it holds
     * the shard's stored chunks (about their decoded size at most) and the file built from
     * them, plus a chunk's slack. */
    double writer = p->streams && !h->partial
                        ? 160.0 * h->largest + (double)cv__shard_index_bytes(&h->spec) +
                              2.0 * h->chunk_bytes + (double)p->part_bytes
                        : 2.0 * h->shard_bytes + 2.0 * h->chunk_bytes;
    h->writer_bytes = writer;
    double wire = (double)cv_tree_wire_bytes((size_t)(2.0 * h->chunk_bytes) + 4096);
    double left = ((double)p->memory - h->index_bytes) / 2.0;
    double round = fmin(left, fmax(64.0 * 1048576.0, 16.0 * wire));
    if (writer + h->index_bytes > (double)p->memory || round < wire) {
        double need = fmax(writer, 2.0 * wire) + h->index_bytes;
        if (p->streams && !h->partial && p->part_bytes) {
            CV_FAIL(CV_ERR_ARG,
                    "%s %s: a shard owner needs about %.2f MB (the index of a shard of up to "
                    "%.0f chunks, an upload part of %.2f MB and %.2f MB of exchange index), more "
                    "than the %.2f MB memory budget (raise --memory, use more ranks or a smaller "
                    "CV_UPLOAD_PART_BYTES)",
                    job_name(h), ds->key, need / 1e6, h->largest, (double)p->part_bytes / 1e6,
                    h->index_bytes / 1e6, (double)p->memory / 1e6);
        } else if (p->streams && !h->partial) {
            CV_FAIL(CV_ERR_ARG,
                    "%s %s: a shard owner needs about %.2f MB (the index of a shard of up to "
                    "%.0f chunks and %.2f MB of exchange index), more than the %.2f MB memory "
                    "budget (raise --memory or use more ranks)",
                    job_name(h), ds->key, need / 1e6, h->largest, h->index_bytes / 1e6,
                    (double)p->memory / 1e6);
        } else if (!h->partial && writer > 2.0 * wire) {
            /* Only file://, s3:// and gs:// write a file piece by piece: elsewhere the shard
             * is the limit. */
            char scheme[16] = "this store";
            const char *colon = p->dst_url ? strstr(p->dst_url, "://") : NULL;
            if (colon && colon - p->dst_url < 10) {
                snprintf(scheme, sizeof scheme, "%.*s://", (int)(colon - p->dst_url), p->dst_url);
            }
            CV_FAIL(CV_ERR_ARG,
                    "%s %s: a shard of up to %.0f chunks is %.2f MB decoded; on %s a shard file "
                    "is put in one request, so its owner holds it whole, twice: about %.2f MB "
                    "with %.2f MB of exchange index, over the %.2f MB memory budget (raise "
                    "--memory or use smaller shards: a lower --shard-bytes, or more shard_bits "
                    "in --sharding; file://, s3:// and gs:// write shards chunk by chunk)",
                    job_name(h), ds->key, h->largest, h->shard_bytes / 1e6, scheme, need / 1e6,
                    h->index_bytes / 1e6, (double)p->memory / 1e6);
        } else {
            CV_FAIL(CV_ERR_ARG,
                    "%s %s: a shard owner needs about %.2f MB (a shard of up "
                    "to %.0f chunks, %.2f MB decoded, and %.2f MB of exchange index), more than "
                    "the %.2f MB memory budget (raise --memory, use more ranks or more "
                    "shard_bits)",
                    job_name(h), ds->key, need / 1e6, h->largest, h->shard_bytes / 1e6,
                    h->index_bytes / 1e6, (double)p->memory / 1e6);
        }
        cv_free(h);
        return CV_ERR_ARG;
    }
    h->round_bytes = (size_t)round;
    *out = h;
    return CV_OK;
}

void cv_hashed_free(cv_hashed *h)
{
    if (!h) {
        return;
    }
    cv_state_close(h->spill);
    for (int t = 0; h->slots && t < h->threads; t++) {
        cv__buf_fini(&h->slots[t].chunk);
        cv__buf_fini(&h->slots[t].encoded);
    }
    cv_free(h->slots);
    cv_free(h);
}

uint64_t cv_hashed_ids(const cv_hashed *h)
{
    return h->p.n_tasks + h->n_shards;
}

void cv_hashed_print(const cv_hashed *h)
{
    printf("plan: hashed shards (%s): %" PRIu64 " chunks in %" PRIu64
           " shard files, up to about %.0f chunks (%.1f MB decoded) each; chunks are encoded "
           "by the tasks, spilled beside the journal and sent to their shards' owners in rounds "
           "of up to %.1f MB each way\n",
           h->spec.hash == CV_SHARD_HASH_IDENTITY ? "identity" : "murmurhash3_x86_128", h->n_chunks,
           h->n_shards, h->largest, h->shard_bytes / 1e6, (double)h->round_bytes / 1e6);
    printf("plan: a shard owner's peak about %.1f MB (budget %.1f MB)\n",
           (h->writer_bytes + h->index_bytes) / 1e6, (double)h->p.memory / 1e6);
    if (h->p.streams && !h->partial && h->p.part_bytes) {
        printf("plan: shard files are laid out from their chunks' sizes and uploaded chunk by "
               "chunk in parts of %.2f MB: an owner holds one chunk and one part of a shard, not "
               "the shard\n",
               (double)h->p.part_bytes / 1e6);
    } else if (h->p.streams && !h->partial) {
        printf("plan: shard files are laid out from their chunks' sizes and written chunk by "
               "chunk: an owner holds one chunk of a shard, not the shard\n");
    }
    if (h->partial) {
        printf("plan: --bbox: each shard file with a chunk in the box is read, keeps its chunks "
               "outside the box and is written whole again\n");
    }
}

void cv_hashed_get_figures(const cv_hashed *h, cv_hashed_figures *out)
{
    out->n_chunks = h->n_chunks;
    out->n_shards = h->n_shards;
    out->largest_chunks = h->largest;
    out->shard_bytes = h->shard_bytes;
    out->owner_peak = h->writer_bytes + h->index_bytes;
    out->round_bytes = h->round_bytes;
    out->exchange_peak = h->index_bytes + 2.0 * (double)h->round_bytes;
    out->n_files = shard_files(h);
    out->files_exact = h->spec.hash == CV_SHARD_HASH_IDENTITY;
    out->region_bytes = (double)cv_bbox_voxels(h->p.region) *
                        (double)cv_dtype_size(h->p.dst_info->dtype) *
                        (double)h->p.dst_info->num_channels;
    out->streams = h->p.streams && !h->partial;
    out->part_bytes = out->streams ? h->p.part_bytes : 0;
}

/* ---- spill files ----------------------------------------------------------------------- */

static void spill_path(const cv_hashed *h, const char *kind, int rank, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s-r%d.state", h->dir, kind, rank);
}

cv_status cv_hashed_start(cv_hashed *h, const char *dir, bool resume)
{
    snprintf(h->dir, sizeof h->dir, "%s/%s", dir, h->p.subdir ? h->p.subdir : "hashed");
    cv_status rc = CV_OK;
    if (cv_mpi_rank() == 0) {
        if (!resume) {
            cv_state_remove_dir(h->dir);
        }
        if (mkdir(h->dir, 0777) != 0 && errno != EEXIST) {
            rc = CV_FAIL(CV_ERR_IO, "create `%s': %s", h->dir, strerror(errno));
        } else {
            rc = cv_state_note_ranks(h->dir, cv_mpi_size(), &h->max_ranks);
        }
    }
    CV_TRY(cv_mpi_agree(rc));
    if (cv_mpi_active()) {
        cv_coll_bcast(&h->max_ranks, 1, MPI_INT, 0, "the spill files' rank count");
    }
    char path[4300];
    spill_path(h, "spill", cv_mpi_rank(), path, sizeof path);
    return cv_mpi_agree(cv_state_open(path, false, &h->spill));
}

/* A task's chunks are cut out, encoded and gzipped on the volume's threads, a batch of one
 * chunk per thread at a time (chunk_slot), then appended to the spill file in z, y, x order. */
typedef struct task_batch {
    cv_hashed *h;
    cv_volume *dst;
    cv_bbox box;
    const void *voxels;
    cv_grid grid;
    cv_volume *from; /* set: the chunks come as stored from this volume's scale from_mip */
    int from_mip;
    bool check;
    uint64_t voxel_bytes;
} task_batch;

/* Gzip slot->encoded in place when the shards' data_encoding is gzip (the chunk buffer is
 * free by then and takes the gzip). Copied back rather than swapped: a swap leaves the chunk
 * buffer the encoding's size, so the next chunk's cut-out regrows it onto fresh pages. */
static cv_status gzip_slot(const cv_hashed *h, const cv_volume *dst, chunk_slot *sl)
{
    if (h->spec.data_encoding != CV_SHARD_GZIP) {
        return CV_OK;
    }
    sl->chunk.len = 0;
    sl->chunk.max = 0;
    CV_TRY(cv_compress_gzip.compress(dst->opts.compress_level, sl->encoded.data, sl->encoded.len,
                                     &sl->chunk));
    sl->encoded.len = 0;
    return cv__buf_append(&sl->encoded, sl->chunk.data, sl->chunk.len);
}

/* An encoding failure names the chunk's key in DST. */
static cv_status encode_outcome(const cv_hashed *h, const cv_volume *dst, cv_bbox cb,
                                const chunk_slot *sl, cv_status rc)
{
    if (rc != CV_OK) {
        char key[256];
        cv_volume_chunk_key(dst, h->p.dst_mip, cb, key, sizeof key);
        cv__err_wrap("encode chunk `%s' (key %" PRIu64 ")", key, sl->code);
    }
    return rc;
}

/* Slot i's chunk as its shard file stores it, into slot->encoded: encoded and, when the
 * shards' data_encoding is gzip, gzipped here rather than by the owner, so the spill files,
 * the exchange and the inbox carry the compressed bytes and the owner only assembles. gzip at
 * one level is deterministic: the shard file's bytes are those of gzipping at write time. raw
 * is the chunk's own bytes (no copy); the chunk buffer is free again once encoded, so the gzip
 * of another codec's output goes there and is copied back. */
static cv_status stored_one(size_t i, int tid, void *arg)
{
    (void)tid;
    task_batch *t = arg;
    cv_hashed *h = t->h;
    cv_volume *dst = t->dst;
    chunk_slot *sl = &h->slots[i];
    cv_bbox cb = cv_grid_cell_box(&t->grid, sl->cell);
    size_t nb = cv_volume_box_bytes(dst, cb);
    sl->chunk.len = 0;
    CV_TRY(cv__buf_reserve(&sl->chunk, nb));
    cv__copy_region(cv_dtype_size(cv_volume_info(dst)->dtype), cv_volume_info(dst)->num_channels,
                    t->voxels, t->box, sl->chunk.data, cb, cb);
    sl->chunk.len = nb;
    sl->black = dst->opts.delete_black_uploads && cv__all_background(dst, sl->chunk.data, nb);
    if (sl->black) {
        return CV_OK;
    }
    cv_chunk_desc d = cv__volume_chunk_desc(dst, h->p.dst_mip, cb);
    uint64_t t0 = cv__now_ns();
    bool gzip = h->spec.data_encoding == CV_SHARD_GZIP;
    cv_status rc = CV_OK;
    sl->encoded.len = 0;
    if (h->codec == &cv_codec_raw && gzip) {
        rc = cv_compress_gzip.compress(dst->opts.compress_level, sl->chunk.data, nb, &sl->encoded);
    } else {
        rc = h->codec->encode(&d, h->level, sl->chunk.data, nb, &sl->encoded);
        if (rc == CV_OK) {
            rc = gzip_slot(h, dst, sl);
        }
    }
    atomic_fetch_add(&dst->codec_ns, cv__now_ns() - t0);
    return encode_outcome(h, dst, cb, sl, rc);
}

/* Slot i's chunk as its shard file stores it, from the source's stored bytes: as they are
 * when they are what encoding the voxels gives, else decoded and encoded again (a missing
 * chunk with fill_missing: the background, encoded), then gzipped when the shards are. */
static cv_status stored_from_source(size_t i, int tid, void *arg)
{
    (void)tid;
    task_batch *t = arg;
    cv_hashed *h = t->h;
    cv_volume *dst = t->dst, *src = t->from;
    chunk_slot *sl = &h->slots[i];
    cv_bbox cb = cv_grid_cell_box(&t->grid, sl->cell);
    size_t nb = cv_volume_box_bytes(dst, cb);
    sl->black = false; /* --delete-black needs the voxels: never this path */
    sl->encoded.len = sl->chunk.len = 0;
    sl->encoded.max = sl->chunk.max = 0;
    cv_status rc = cv__volume_fetch_stored(src, t->from_mip, cb, &sl->encoded, &sl->chunk);
    sl->chunk.max = 0;
    cv_chunk_desc d = cv__volume_chunk_desc(dst, h->p.dst_mip, cb);
    bool canonical = false;
    if (rc == CV_ERR_NOTFOUND) {
        if (!src->opts.fill_missing) {
            char key[4096];
            cv_volume_chunk_key(src, t->from_mip, cb, key, sizeof key);
            return CV_FAIL(CV_ERR_NOTFOUND, "chunk `%s' of %s is missing (use --fill-missing)", key,
                           cv_volume_url(src));
        }
        cv_err_clear();
        sl->chunk.len = 0;
        CV_TRY(cv__buf_reserve(&sl->chunk, nb));
        sl->chunk.len = nb;
        cv__fill_background(src, sl->chunk.data, cb, cb);
    } else {
        CV_TRY(rc);
        canonical = cv__codec_is_canonical(h->codec, &d, sl->encoded.data, sl->encoded.len);
        if (!canonical || t->check) {
            sl->chunk.len = 0;
            CV_TRY(cv__volume_decode_chunk(src, t->from_mip, cb, &sl->encoded, &sl->chunk));
            sl->chunk.max = 0;
        }
    }
    uint64_t t0 = cv__now_ns();
    if (!canonical) {
        sl->encoded.len = 0;
        sl->encoded.max = 0;
        rc = h->codec->encode(&d, h->level, sl->chunk.data, sl->chunk.len, &sl->encoded);
    }
    if (rc == CV_OK) {
        rc = gzip_slot(h, dst, sl);
    }
    atomic_fetch_add(&dst->codec_ns, cv__now_ns() - t0);
    return encode_outcome(h, dst, cb, sl, rc);
}

/* Encode slots [0, n) on the threads, then append them in order. */
static cv_status spill_batch(task_batch *t, size_t n)
{
    cv_hashed *h = t->h;
    CV_TRY(cv__parallel_for(n, h->threads, t->from ? stored_from_source : stored_one, t));
    for (size_t i = 0; t->from && i < n; i++) {
        t->voxel_bytes += cv_volume_box_bytes(t->dst, cv_grid_cell_box(&t->grid, h->slots[i].cell));
    }
    for (size_t i = 0; i < n; i++) {
        const chunk_slot *sl = &h->slots[i];
        if (sl->black) {
            /* Absent keys read as background, as the single-process writer leaves them; in a
             * --bbox job an empty record tells the owner to drop the chunk from a shard it
             * rewrites. */
            if (h->partial) {
                CV_TRY(cv_state_append(h->spill, sl->code, NULL, 0, NULL));
            }
            continue;
        }
        CV_TRY(cv_state_append(h->spill, sl->code, sl->encoded.data, sl->encoded.len, NULL));
    }
    return CV_OK;
}

static cv_status spill_task(cv_hashed *h, task_batch *t);

/* The scale's codec and the threads' chunk slots, on the first task. */
static cv_status task_setup(cv_hashed *h, cv_volume *dst)
{
    int mip = h->p.dst_mip;
    if (!h->codec) {
        const cv_scale *sc = &cv_volume_info(dst)->scales[mip];
        h->level = sc->jpeg_quality >= 0 ? sc->jpeg_quality : sc->png_level;
        CV_TRY(cv__volume_codec(dst, mip, &h->codec));
        if (!h->codec->encode) {
            return CV_FAIL(CV_ERR_UNSUPPORTED, "encoding %s is read-only in this build",
                           h->codec->name);
        }
        int threads = dst->opts.threads < 1 ? 1 : dst->opts.threads;
        h->threads = threads > CV_MAX_THREADS ? CV_MAX_THREADS : threads;
        h->slots = cv_calloc((size_t)h->threads, sizeof *h->slots);
        if (!h->slots) {
            return CV_FAIL(CV_ERR_NOMEM, "hashed shards: chunk buffers");
        }
    }
    return CV_OK;
}

/* The threads' chunk buffers live for the task only, as the write workers' buffers that plans
 * count beside a task (a job keeps one sink per sharded level). */
static void task_done(cv_hashed *h)
{
    for (int t = 0; t < h->threads; t++) {
        cv__buf_fini(&h->slots[t].chunk);
        cv__buf_fini(&h->slots[t].encoded);
    }
}

cv_status cv_hashed_task(cv_hashed *h, cv_volume *dst, cv_bbox box, const void *voxels, size_t n)
{
    CV_TRY(task_setup(h, dst));
    if (n != cv_volume_box_bytes(dst, box)) {
        return CV_FAIL(CV_ERR_ARG, "hashed shards: a task of %zu bytes for a box of %zu", n,
                       cv_volume_box_bytes(dst, box));
    }
    task_batch t = {.h = h,
                    .dst = dst,
                    .box = box,
                    .voxels = voxels,
                    .grid = cv_info_grid(cv_volume_info(dst), h->p.dst_mip)};
    cv_status rc = spill_task(h, &t);
    task_done(h);
    return rc;
}

cv_status cv_hashed_task_stored(cv_hashed *h, cv_volume *src, int src_mip, cv_volume *dst,
                                cv_bbox box, bool check, uint64_t *voxel_bytes)
{
    *voxel_bytes = 0;
    CV_TRY(task_setup(h, dst));
    task_batch t = {.h = h,
                    .dst = dst,
                    .box = box,
                    .grid = cv_info_grid(cv_volume_info(dst), h->p.dst_mip),
                    .from = src,
                    .from_mip = src_mip,
                    .check = check};
    cv_status rc = spill_task(h, &t);
    task_done(h);
    *voxel_bytes = t.voxel_bytes;
    return rc;
}

static cv_status spill_task(cv_hashed *h, task_batch *t)
{
    int64_t lo[3], hi[3], c[3];
    cv_grid_cells(&t->grid, t->box, lo, hi);
    size_t k = 0;
    for (c[2] = lo[2]; c[2] < hi[2]; c[2]++) {
        for (c[1] = lo[1]; c[1] < hi[1]; c[1]++) {
            for (c[0] = lo[0]; c[0] < hi[0]; c[0]++) {
                chunk_slot *sl = &h->slots[k];
                memcpy(sl->cell, c, sizeof sl->cell);
                CV_TRY(cv_morton_code(h->dshape, c, &sl->code));
                if (++k == (size_t)h->threads) {
                    CV_TRY(spill_batch(t, k));
                    k = 0;
                }
            }
        }
    }
    return k ? spill_batch(t, k) : CV_OK;
}

/* ---- the exchange and the shard files --------------------------------------------------- */

static uint64_t shard_of(const cv_hashed *h, uint64_t code)
{
    uint64_t shard, mini;
    cv_shard_locate(&h->spec, code, &shard, &mini);
    return shard;
}

/* The records of this rank's share of the spill files (ranks r, r + P, ... of every run),
 * each bound for its shard's owner unless the journal lists the shard as written. */
static cv_status list_sends(cv_hashed *h, const cv_journal *journal, char ***paths, size_t *n_paths,
                            cv_tree_send **out, size_t *n_out, size_t *largest)
{
    int size = cv_mpi_size();
    size_t count = 0;
    for (int q = cv_mpi_rank(); q < h->max_ranks; q += size) {
        count++;
    }
    *paths = cv_calloc(count ? count : 1, sizeof **paths);
    if (!*paths) {
        return CV_FAIL(CV_ERR_NOMEM, "hashed shards: spill file list");
    }
    cv_state_rec *recs = NULL;
    size_t n = 0, cap = 0;
    cv_status rc = CV_OK;
    for (int q = cv_mpi_rank(); rc == CV_OK && q < h->max_ranks; q += size) {
        char path[4300];
        spill_path(h, "spill", q, path, sizeof path);
        (*paths)[*n_paths] = cv__strdup(path);
        rc = (*paths)[*n_paths] ? cv_state_scan(path, (uint32_t)*n_paths, &recs, &n, &cap)
                                : CV_FAIL(CV_ERR_NOMEM, "hashed shards: spill file list");
        ++*n_paths;
    }
    cv_tree_send *sends = rc == CV_OK ? cv_calloc(n ? n : 1, sizeof *sends) : NULL;
    if (rc == CV_OK && !sends) {
        rc = CV_FAIL(CV_ERR_NOMEM, "hashed shards: %zu records", n);
    }
    size_t kept = 0;
    *largest = 0;
    for (size_t i = 0; rc == CV_OK && i < n; i++) {
        if (recs[i].idx >=
            ((uint64_t)1 << (h->morton_bits[0] + h->morton_bits[1] + h->morton_bits[2]))) {
            rc = CV_FAIL(CV_ERR_CORRUPT,
                         "`%s': a record for chunk code %" PRIu64
                         ", which the scale does not have (rerun without --resume)",
                         (*paths)[recs[i].file], recs[i].idx);
            break;
        }
        uint64_t shard = shard_of(h, recs[i].idx);
        if (!cv_journal_is_done(journal, h->p.n_tasks + shard)) {
            sends[kept++] = (cv_tree_send){recs[i], (int)(shard % (uint64_t)size)};
            *largest = recs[i].bytes > *largest ? (size_t)recs[i].bytes : *largest;
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

typedef struct shard_entry {
    uint64_t shard;
    uint64_t cell[3];
    const cv_state_rec *rec;
} shard_entry;

/* Shard, then z, y, x: the single-process writer's order within a shard file. */
static int by_shard_zyx(const void *a, const void *b)
{
    const shard_entry *p = a, *q = b;
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

/* ---- read-modify-write of straddling shards (--bbox) ------------------------------------ */

/* The chunks of an existing shard file that stay: those outside the job's region. */
typedef struct kept_chunks {
    const cv_hashed *h;
    uint64_t shard;
    const char *name; /* the shard file, for errors */
    shard_entry *e;   /* rec points into recs */
    cv_state_rec *recs;
    uint8_t *data;
    size_t n, cap, bytes, data_cap;
    bool check_only;
    int level; /* gzip level of the shards' data */
    cv_buf gz; /* a kept chunk gzipped */
} kept_chunks;

static bool in_region(const cv_hashed *h, const uint64_t cell[3])
{
    for (int d = 0; d < 3; d++) {
        if ((int64_t)cell[d] < h->region_lo[d] || (int64_t)cell[d] >= h->region_hi[d]) {
            return false;
        }
    }
    return true;
}

static cv_status keep_chunk(uint64_t key, const uint8_t *data, size_t n, void *arg)
{
    kept_chunks *k = arg;
    const cv_hashed *h = k->h;
    int bits = h->morton_bits[0] + h->morton_bits[1] + h->morton_bits[2];
    uint64_t cell[3];
    if (bits < 64 && key >> bits) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "shard file `%s' holds chunk %" PRIu64 ", which the scale does not have",
                       k->name, key);
    }
    if (shard_of(h, key) != k->shard) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "shard file `%s' holds chunk %" PRIu64 ", which belongs to another shard",
                       k->name, key);
    }
    cv_morton_decode(h->morton_bits, key, cell);
    if (k->check_only || in_region(h, cell)) {
        return CV_OK; /* replaced (or dropped) by the job's own chunks */
    }
    if (h->spec.data_encoding == CV_SHARD_GZIP) {
        /* kept as the job's own chunks travel: gzipped again at the job's level */
        k->gz.len = 0;
        CV_TRY(cv_compress_gzip.compress(k->level, data, n, &k->gz));
        data = k->gz.data;
        n = k->gz.len;
    }
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 64;
        shard_entry *e = cv_realloc(k->e, cap * sizeof *e);
        if (e) {
            k->e = e;
        }
        cv_state_rec *r = cv_realloc(k->recs, cap * sizeof *r);
        if (r) {
            k->recs = r;
        }
        if (!e || !r) {
            return CV_FAIL(CV_ERR_NOMEM, "shard file `%s': %zu chunks", k->name, cap);
        }
        k->cap = cap;
    }
    if (k->bytes + n > k->data_cap) {
        size_t cap = k->data_cap ? k->data_cap : 65536;
        while (cap < k->bytes + n) {
            cap *= 2;
        }
        uint8_t *d = cv_realloc(k->data, cap);
        if (!d) {
            return CV_FAIL(CV_ERR_NOMEM, "shard file `%s': %zu bytes", k->name, cap);
        }
        k->data = d;
        k->data_cap = cap;
    }
    memcpy(k->data + k->bytes, data, n);
    /* offset: into k->data, resolved to pointers once every chunk is in */
    k->recs[k->n] = (cv_state_rec){.idx = key, .offset = k->bytes, .bytes = n};
    k->e[k->n] = (shard_entry){.shard = k->shard, .cell = {cell[0], cell[1], cell[2]}};
    k->n++;
    k->bytes += n;
    return CV_OK;
}

static void kept_fini(kept_chunks *k)
{
    cv_free(k->e);
    cv_free(k->recs);
    cv_free(k->data);
    cv__buf_fini(&k->gz);
}

/* Read shard `shard`'s existing file, if any, and keep its chunks outside the region (none
 * with check_only: the file's indexes and chunks are only checked). *existed tells whether
 * there was a file. */
static cv_status read_existing(const cv_hashed *h, cv_volume *dst, uint64_t shard, bool check_only,
                               kept_chunks *k, bool *existed)
{
    char key[CV_SHARD_KEY_MAX], name[CV_SHARD_KEY_MAX + 300];
    memset(k, 0, sizeof *k);
    *existed = false;
    CV_TRY(cv__shard_object_key(h->key, &h->spec, shard, key, sizeof key));
    snprintf(name, sizeof name, "%s/%s", cv_volume_url(dst), key);
    k->h = h;
    k->shard = shard;
    k->name = name;
    k->check_only = check_only;
    k->level = dst->opts.compress_level;
    uint8_t *file = NULL;
    size_t len = 0;
    cv_status rc = cv_store_get(dst->store, key, 0, &file, &len);
    if (rc == CV_ERR_NOTFOUND) {
        cv_err_clear();
        return CV_OK;
    }
    if (rc != CV_OK) {
        cv__err_wrap("read shard file `%s' to update it", name);
        return rc;
    }
    *existed = true;
    rc = cv_shard_decode(&h->spec, file, len, name, 0, keep_chunk, k);
    cv_free(file);
    if (rc != CV_OK) {
        cv__err_wrap("an existing shard file, whose chunks outside --bbox must be kept, is "
                     "damaged");
        kept_fini(k);
        memset(k, 0, sizeof *k);
    }
    k->name = NULL;
    return rc;
}

/* A spilled chunk's size before the tasks gzipped it, for the report's bytes_written (the
 * encoded chunks, as unsharded writes count them): gzip's trailer keeps it, mod 2^32. */
static size_t encoded_bytes(const cv_hashed *h, const uint8_t *p, size_t n)
{
    if (h->spec.data_encoding != CV_SHARD_GZIP || n < 4) {
        return n;
    }
    return (size_t)p[n - 4] | (size_t)p[n - 3] << 8 | (size_t)p[n - 2] << 16 |
           (size_t)p[n - 1] << 24;
}

/* A shard file handed to the store piece by piece (cv__store_put_pieces): its index, each
 * payload in file order (read from the inbox one at a time, or a kept chunk), its minishard
 * indexes. */
typedef struct shard_pieces {
    const cv_hashed *h;
    const cv_state_file *inbox;
    const cv_shard_item *items;
    const cv_state_rec *const *recs; /* per item: its inbox record, NULL for a kept chunk */
    const size_t *order;
    size_t m, next; /* pieces handed out: head, then items, then tail */
    cv_buf head, tail, payload;
    size_t encoded; /* the chunks' encoded bytes, for the report */
} shard_pieces;

static cv_status next_piece(void *arg, const void **p, size_t *n)
{
    shard_pieces *sp = arg;
    size_t at = sp->next++;
    *n = 0;
    if (at == 0) {
        *p = sp->head.data;
        *n = sp->head.len;
    } else if (at <= sp->m) {
        size_t i = sp->order[at - 1];
        const cv_state_rec *rec = sp->recs[i];
        if (!rec) {
            *p = sp->items[i].data;
            *n = sp->items[i].len;
            return CV_OK;
        }
        sp->payload.len = 0;
        CV_TRY(cv__buf_reserve(&sp->payload, (size_t)rec->bytes));
        CV_TRY(cv_state_read_own(sp->inbox, rec, sp->payload.data));
        sp->payload.len = (size_t)rec->bytes;
        sp->encoded += encoded_bytes(sp->h, sp->payload.data, sp->payload.len);
        *p = sp->payload.data;
        *n = sp->payload.len;
    } else if (at == sp->m + 1) {
        *p = sp->tail.data;
        *n = sp->tail.len;
    }
    return CV_OK;
}

/* Write shard entries[a..b) (one shard) whole from the inbox; in a --bbox job with the chunks
 * of its existing file that lie outside the region. The file is laid out from the records'
 * sizes first (cv__shard_plan_file), then written payload by payload, so an owner holds one
 * chunk of it at a time (file://; s3:// and gs:// add an upload part; mem:// gets the file in
 * one put). Empty records
 * (black chunks with --delete-black) write nothing; a shard left with no chunk has no file,
 * as the single-process writer leaves it. */
static cv_status write_shard(cv_hashed *h, cv_volume *dst, const cv_state_file *inbox,
                             const shard_entry *e, size_t n)
{
    kept_chunks kept;
    bool existed = false;
    memset(&kept, 0, sizeof kept);
    cv_status rc = h->partial ? read_existing(h, dst, e[0].shard, false, &kept, &existed) : CV_OK;
    size_t total = n + kept.n;
    cv_shard_item *items = rc == CV_OK ? cv_malloc((total ? total : 1) * sizeof *items) : NULL;
    shard_entry *all = rc == CV_OK ? cv_malloc((total ? total : 1) * sizeof *all) : NULL;
    const cv_state_rec **recs = rc == CV_OK ? cv_malloc((total ? total : 1) * sizeof *recs) : NULL;
    size_t *order = rc == CV_OK ? cv_malloc((total ? total : 1) * sizeof *order) : NULL;
    if (rc == CV_OK && !(items && all && recs && order)) {
        rc = CV_FAIL(CV_ERR_NOMEM, "hashed shards: %zu chunks", total);
    }
    size_t m = 0;
    for (size_t k = 0; rc == CV_OK && k < n; k++) {
        if (e[k].rec->bytes > 0) {
            all[m] = e[k];
            all[m].rec = (const cv_state_rec *)(uintptr_t)m; /* carry the item's index */
            recs[m] = e[k].rec;
            items[m++] = (cv_shard_item){e[k].rec->idx, NULL, (size_t)e[k].rec->bytes};
        }
    }
    if (rc == CV_OK && kept.n) {
        /* Merge in z, y, x order: the single-process writer's order within a shard file. */
        for (size_t k = 0; k < kept.n; k++) {
            all[m] = kept.e[k];
            all[m].rec = (const cv_state_rec *)(uintptr_t)m;
            recs[m] = NULL;
            items[m++] = (cv_shard_item){kept.recs[k].idx, kept.data + kept.recs[k].offset,
                                         (size_t)kept.recs[k].bytes};
        }
        cv_shard_item *sorted = cv_malloc(m * sizeof *sorted);
        const cv_state_rec **sorted_recs = cv_malloc(m * sizeof *sorted_recs);
        if (!sorted || !sorted_recs) {
            rc = CV_FAIL(CV_ERR_NOMEM, "hashed shards: %zu chunks", m);
        } else {
            qsort(all, m, sizeof *all, by_shard_zyx);
            for (size_t k = 0; k < m; k++) {
                sorted[k] = items[(size_t)(uintptr_t)all[k].rec];
                sorted_recs[k] = recs[(size_t)(uintptr_t)all[k].rec];
            }
            memcpy(items, sorted, m * sizeof *items);
            memcpy(recs, sorted_recs, m * sizeof *recs);
        }
        cv_free(sorted);
        cv_free(sorted_recs);
    }
    /* The payloads are stored bytes already (gzipped by the tasks, stored_bytes); the file
     * does not record data_encoding, so laying it out as raw gives its bytes. */
    cv_shard_spec as_stored = h->spec;
    as_stored.data_encoding = CV_SHARD_RAW;
    shard_pieces sp = {
        .h = h, .inbox = inbox, .items = items, .recs = recs, .order = order, .m = m};
    char key[CV_SHARD_KEY_MAX];
    if (rc == CV_OK) {
        rc = cv__shard_object_key(h->key, &h->spec, e[0].shard, key, sizeof key);
    }
    uint64_t t0 = cv__now_ns();
    if (rc == CV_OK && m > 0) {
        rc = cv__shard_plan_file(&as_stored, items, m, dst->opts.compress_level, order, &sp.head,
                                 &sp.tail);
        if (rc == CV_OK) {
            rc = cv__store_put_pieces(dst->store, key, next_piece, &sp, "application/octet-stream");
            cv__shard_cache_invalidate(cv_store_url(dst->store), key);
        }
    } else if (rc == CV_OK && existed) {
        rc = cv_store_delete(dst->store, key);
    }
    atomic_fetch_add(&dst->io_ns, cv__now_ns() - t0);
    if (rc == CV_OK) {
        atomic_fetch_add(&dst->n_written, m);
        atomic_fetch_add(&dst->bytes_written, sp.encoded);
    } else {
        char name[40];
        cv_shard_file_name(&h->spec, e[0].shard, name, sizeof name);
        cv__err_wrap("write shard %s of %s", name, cv_volume_url(dst));
    }
    cv__buf_fini(&sp.head);
    cv__buf_fini(&sp.tail);
    cv__buf_fini(&sp.payload);
    kept_fini(&kept);
    cv_free(order);
    cv_free(recs);
    cv_free(all);
    cv_free(items);
    return rc;
}

/* This rank's received chunks as entries sorted by shard, then z, y, x (the first copy of a
 * chunk that arrived twice: a task redone after a crash between its spill and its journal
 * entry is the same bytes). */
static cv_status owned_entries(const cv_hashed *h, const cv_state_rec *got, size_t n_got,
                               shard_entry **out, size_t *n_out)
{
    shard_entry *e = cv_malloc((n_got ? n_got : 1) * sizeof *e);
    if (!e) {
        return CV_FAIL(CV_ERR_NOMEM, "hashed shards: %zu chunks received", n_got);
    }
    size_t n = 0;
    for (size_t i = 0; i < n_got; i++) {
        if (i > 0 && got[i].idx == got[i - 1].idx) {
            continue; /* got is sorted by code */
        }
        e[n].shard = shard_of(h, got[i].idx);
        cv_morton_decode(h->morton_bits, got[i].idx, e[n].cell);
        e[n].rec = &got[i];
        n++;
    }
    if (n) {
        qsort(e, n, sizeof *e, by_shard_zyx);
    }
    for (size_t a = 0; a < n; a++) {
        if ((int)(e[a].shard % (uint64_t)cv_mpi_size()) != cv_mpi_rank()) {
            uint64_t idx = e[a].rec->idx;
            cv_free(e);
            return CV_FAIL(CV_ERR_CORRUPT,
                           "hashed shards: chunk %" PRIu64 " sent to the wrong rank", idx);
        }
    }
    *out = e;
    *n_out = n;
    return CV_OK;
}

/* Before a --bbox job writes any shard: every existing file it will rewrite can be read and
 * decoded, so a damaged one stops the job with nothing written. */
static cv_status check_existing(const cv_hashed *h, cv_volume *dst, const shard_entry *e, size_t n)
{
    for (size_t a = 0; a < n;) {
        size_t b = a;
        while (b < n && e[b].shard == e[a].shard) {
            b++;
        }
        kept_chunks k;
        bool existed;
        CV_TRY(read_existing(h, dst, e[a].shard, true, &k, &existed));
        kept_fini(&k);
        a = b;
    }
    return CV_OK;
}

/* Every shard this rank owns that has chunks and is not journaled, one at a time. */
static cv_status write_owned(cv_hashed *h, cv_volume *dst, cv_journal *journal,
                             const cv_state_file *inbox, const shard_entry *e, size_t n,
                             uint64_t *written)
{
    cv_status rc = CV_OK;
    for (size_t a = 0; rc == CV_OK && a < n;) {
        size_t b = a;
        while (b < n && e[b].shard == e[a].shard) {
            b++;
        }
        rc = write_shard(h, dst, inbox, e + a, b - a);
        if (rc == CV_OK) {
            rc = cv_journal_record(journal, h->p.n_tasks + e[a].shard);
            ++*written;
        }
        a = b;
    }
    return rc;
}

cv_status cv_hashed_finish(cv_hashed *h, cv_volume *dst, cv_journal *journal, bool tasks_ok,
                           uint64_t *written)
{
    *written = 0;
    /* No shard is written unless every task's chunks are in the spill files. */
    cv_status rc =
        tasks_ok ? CV_OK : CV_FAIL(CV_ERR_IO, "hashed shards: not written, tasks failed");
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK) {
        rc = cv_state_close(h->spill);
        h->spill = NULL;
        rc = cv_mpi_agree(rc);
    }
    if (rc != CV_OK) {
        return rc;
    }
    if (cv_mpi_active()) {
        cv_coll_barrier("the end of the spilling tasks"); /* spill files whole before reads */
    }
    char **paths = NULL, in_path[4300];
    size_t n_paths = 0, n_sends = 0, largest = 0;
    cv_tree_send *sends = NULL;
    rc = list_sends(h, journal, &paths, &n_paths, &sends, &n_sends, &largest);
    /* Rounds are sized by the largest record any rank holds. */
    uint64_t most = largest;
    if (cv_mpi_active()) {
        cv_coll_allreduce(MPI_IN_PLACE, &most, 1, MPI_UINT64_T, MPI_MAX,
                          "the largest spilled chunk");
    }
    if (rc == CV_OK && cv_tree_wire_bytes((size_t)most) > h->round_bytes) {
        rc = CV_FAIL(CV_ERR_ARG,
                     "hashed shards: an encoded chunk of %" PRIu64
                     " bytes does not fit an exchange round of %zu (raise --memory)",
                     most, h->round_bytes);
    }
    cv_state_file *inbox = NULL;
    spill_path(h, "inbox", cv_mpi_rank(), in_path, sizeof in_path);
    if (rc == CV_OK) {
        rc = cv_state_open(in_path, true, &inbox);
    }
    cv_state_rec *got = NULL;
    size_t n_got = 0;
    cv_status ex = cv_tree_exchange(sends, rc == CV_OK ? n_sends : 0, paths, n_paths,
                                    (size_t)(most ? most : 1), h->round_bytes, inbox, &got, &n_got);
    rc = rc == CV_OK ? ex : rc;
    cv_free(sends);
    for (size_t i = 0; i < n_paths; i++) {
        cv_free(paths[i]);
    }
    cv_free(paths);
    rc = cv_mpi_agree(rc);
    shard_entry *e = NULL;
    size_t n_e = 0;
    if (rc == CV_OK) {
        rc = cv_mpi_agree(owned_entries(h, got, n_got, &e, &n_e));
    }
    if (rc == CV_OK && h->partial) {
        rc = cv_mpi_agree(check_existing(h, dst, e, n_e));
    }
    if (rc == CV_OK) {
        /* Each owner writes on its own; failures are agreed afterwards. */
        rc = cv_mpi_agree(write_owned(h, dst, journal, inbox, e, n_e, written));
    }
    cv_free(e);
    cv_free(got);
    cv_state_close(inbox);
    unlink(in_path);
    return rc;
}

void cv_hashed_remove(const cv_hashed *h)
{
    cv_state_remove_dir(h->dir);
}
