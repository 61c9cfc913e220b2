/* SPDX-License-Identifier: BSD-3-Clause
 * volume.h: the cv_volume handle, shared by volume.c (open, create, info) and the files that
 * move voxels (volume_read.c, volume_write.c). */
#ifndef CV_VOLUME_H
#define CV_VOLUME_H

#include "codec/codec.h"
#include "io/store.h"

#include <stdatomic.h>

/* One chunk thread's working buffers (volume_write.c, volume_read.c: `chunk` holds the
 * decoded chunk of a read; volume_shard.c: `payloads` the thread's share of one shard's
 * chunks as the file stores them, one after another). */
typedef struct cv__write_bufs {
    cv_buf chunk, encoded, raw, packed, payloads;
} cv__write_bufs;

/* The in-memory LRU of decoded chunks (chunk_lru.c), opts.lru_bytes. */
typedef struct cv__chunk_lru cv__chunk_lru;
cv__chunk_lru *cv__chunk_lru_new(size_t max_bytes);
void cv__chunk_lru_free(cv__chunk_lru *l);
/* Copy the chunk of `mip` whose box starts at `lo` into out; false if not kept. */
bool cv__chunk_lru_get(cv__chunk_lru *l, int mip, const int64_t lo[3], cv_buf *out);
void cv__chunk_lru_put(cv__chunk_lru *l, int mip, const int64_t lo[3], const void *data,
                       size_t len);
void cv__chunk_lru_clear(cv__chunk_lru *l); /* NULL-safe */
size_t cv__chunk_lru_bytes(cv__chunk_lru *l);

struct cv_volume {
    cv_store *store;
    cv_info *info;
    cv_opts opts;
    bool readonly; /* reached through two or more redirects, as CloudVolume */
    /* Counters for cv_volume_stats(); updated by every worker thread. */
    atomic_uint_fast64_t n_read, n_written, n_deleted, n_missing;
    atomic_uint_fast64_t bytes_read, bytes_written; /* encoded, before transport compression */
    atomic_uint_fast64_t io_ns, codec_ns;
    atomic_uint_fast64_t n_requests; /* storage reads issued for chunks */
    cv_shard_reader **shard_readers; /* per mip, opened on first use (volume_shard.c) */
    int n_shard_readers;
    /* The chunk threads' buffers, kept from one cv_volume_write or cv_volume_read to the next
     * (fresh pages cost a fault each); one call at a time holds them, a concurrent call makes
     * its own (cv__volume_take_bufs, cv__volume_give_bufs). */
    cv__write_bufs *write_bufs;
    int n_write_bufs;
    atomic_bool write_bufs_busy;
    struct cv_graphene *graphene; /* the graph server of a graphene:// layer, else NULL */
    cv__chunk_lru *lru;           /* opts.lru_bytes > 0, else NULL */
};

/* Open a graphene:// layer: the server's info, the watershed layer under its data_dir
 * (graphene.c). */
cv_status cv__graphene_open(const char *cloudpath, const cv_opts *o, cv_volume **out);
void cv__graphene_free(struct cv_graphene *g);

/* The counters of every volume handle closed so far in this process, summed (a job's figures
 * for its --report without each job collecting them). */
void cv__volume_stats_closed(cv_volume_stats *out);

/* `threads` buffer sets: the volume's kept ones when no other call holds them (*kept set),
 * else fresh ones; NULL when out of memory. Handed back with cv__volume_give_bufs. */
cv__write_bufs *cv__volume_take_bufs(cv_volume *v, int threads, bool *kept);
void cv__volume_give_bufs(cv_volume *v, cv__write_bufs *b, int threads, bool kept);
/* Free the kept write buffers (cv_volume_close). */
void cv__volume_write_fini(cv_volume *v);

/* True if every element of the chunk equals the background colour. */
bool cv__all_background(const cv_volume *v, const uint8_t *p, size_t n);

/* Sharded scales (volume_shard.c). */
cv_status cv__volume_shard_reader(cv_volume *v, int mip, cv_shard_reader **out);
void cv__volume_close_shard_readers(cv_volume *v);
/* The chunk's key in the shard files: the compressed Morton code of its grid cell. */
cv_status cv__volume_chunk_code(const cv_volume *v, int mip, cv_bbox cell_box, uint64_t *code);
/* The encoded bytes of one chunk of a sharded scale into out; NOTFOUND if absent. */
cv_status cv__volume_fetch_sharded(cv_volume *v, int mip, cv_bbox cell_box, cv_buf *out,
                                   cv_buf *scratch);
/* Read `box` of a sharded scale into dst (framed by box): values that sit close together in a
 * shard file are fetched with one ranged request. */
cv_status cv__volume_read_sharded(cv_volume *v, int mip, cv_bbox box, uint8_t *dst, int threads);
/* Write `box` (inside src_frame) of a sharded scale: whole shards only, one put per shard. */
cv_status cv__volume_write_sharded(cv_volume *v, int mip, cv_bbox src_frame, cv_bbox box,
                                   const uint8_t *src, const cv_codec *codec);

/* Monotonic nanoseconds, for the counters. */
uint64_t cv__now_ns(void);
/* opts.max_bytes, or the physical memory when unset: the most one box or chunk may take. */
size_t cv__volume_max_bytes(const cv_volume *v);

/* The codec of scale `mip`; CV_ERR_UNSUPPORTED naming the encoding if not built in. */
cv_status cv__volume_codec(const cv_volume *v, int mip, const cv_codec **out);
/* The decode/encode description of the chunk covering `cell_box`. */
cv_chunk_desc cv__volume_chunk_desc(const cv_volume *v, int mip, cv_bbox cell_box);
cv_status cv__volume_check_mip(const cv_volume *v, int mip);
/* The scale and box a command's --mip and --bbox texts name: the mip as cv_info_select_mip
 * reads it (NULL: 0), the box parsed (NULL: the whole scale) and resolved against the
 * volume's bounds as cv_volume_resolve_box does. */
cv_status cv__volume_select_box(const cv_volume *v, const char *mip_text, const char *bbox_text,
                                int *mip, cv_bbox *box);
/* Fill the part `region` of an x,y,z,c array framed by `frame` with the background. */
void cv__fill_background(const cv_volume *v, uint8_t *dst, cv_bbox frame, cv_bbox region);
/* Copy `region` between two x,y,z,c arrays framed by `src_frame` and `dst_frame`. */
void cv__copy_region(size_t elem, int64_t channels, const uint8_t *src, cv_bbox src_frame,
                     uint8_t *dst, cv_bbox dst_frame, cv_bbox region);
/* Read one chunk into `out` (decoded); `scratch` is reusable working space. Returns
 * CV_ERR_NOTFOUND (recorded quietly) for an absent or zero-length chunk. */
cv_status cv__volume_fetch_chunk(cv_volume *v, int mip, cv_bbox cell_box, cv_buf *out,
                                 cv_buf *scratch, cv_buf *scratch2);
/* A whole raw chunk into the caller's array `dst` of its `n` bytes: when the chunk is stored
 * as is (not as key.gz or key.br) on a store that can say so (cv__store_reads_plain), its
 * bytes are read where they go, without the copy out of a fetch buffer (exchange rounds read
 * every source chunk so). *done false: not read so (another codec or store, sharded, a chunk
 * cache, compressed, absent or not the chunk's size); the caller reads it the usual way,
 * which reports whatever is wrong. */
cv_status cv__volume_read_plain_chunk(cv_volume *v, int mip, cv_bbox cell_box, uint8_t *dst,
                                      size_t n, bool *done);
/* Read one chunk's encoded bytes (its transport compression undone) into `out`, counted as
 * cv__volume_fetch_chunk counts them; CV_ERR_NOTFOUND (recorded quietly) if absent or empty. */
cv_status cv__volume_fetch_stored(cv_volume *v, int mip, cv_bbox cell_box, cv_buf *out,
                                  cv_buf *scratch);
/* Decode the chunk's encoded bytes `stored` into `out`: exactly the chunk's size, or an error
 * naming the chunk. */
cv_status cv__volume_decode_chunk(cv_volume *v, int mip, cv_bbox cell_box, const cv_buf *stored,
                                  cv_buf *out);
/* Write `box` (whole shards) of sharded scale `mip` of `v` from the same chunks of scale
 * `src_mip` of `src` (the caller checks cv__volume_can_copy_encoded): chunks whose stored bytes are
 * what encoding their voxels gives (cv__codec_is_canonical) go into the shard files as they
 * are, the others are decoded and encoded again: the shard files cv_volume_write of the voxels
 * would write. `check` decodes every chunk. *voxel_bytes: the decoded bytes written. */
cv_status cv__volume_copy_sharded(cv_volume *src, int src_mip, cv_volume *v, int mip, cv_bbox box,
                                  bool check, uint64_t *voxel_bytes);

#endif
