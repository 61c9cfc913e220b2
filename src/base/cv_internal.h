/* SPDX-License-Identifier: BSD-3-Clause
 * cv_internal.h: helpers shared inside src/ (errors, growable buffers, logging, strings,
 * a small parallel-for). Not installed; tests include it to reach cv__ functions. */
#ifndef CV_INTERNAL_H
#define CV_INTERNAL_H

#include "cvmpi.h"

#include <stdarg.h>

#if defined(__GNUC__)
#define CV_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CV_PRINTF(f, a)
#endif

/* ---- errors (err.c) ---------------------------------------------------------------------- */

/* Record a failure (first one wins on this thread) and return rc. */
cv_status cv__fail(cv_status rc, const char *file, int line, const char *fmt, ...) CV_PRINTF(4, 5);
#define CV_FAIL(rc, ...) cv__fail((rc), __FILE__, __LINE__, __VA_ARGS__)
#define CV_TRY(expr)                                                                               \
    do {                                                                                           \
        cv_status rc_ = (expr);                                                                    \
        if (rc_ != CV_OK) {                                                                        \
            return rc_;                                                                            \
        }                                                                                          \
    } while (0)
/* Prefix the recorded message with more context on the way up: "read chunk `k': <old>". */
void cv__err_wrap(const char *fmt, ...) CV_PRINTF(1, 2);
/* Set the record to exactly `e` (used to carry a worker thread's error to the caller). */
void cv__err_set(const cv_err *e);
/* Record a not-found without treating it as the thread's first failure. */
cv_status cv__notfound(const char *fmt, ...) CV_PRINTF(1, 2);

/* ---- checked geometry (geom.c) ---------------------------------------------------------- */

/* Voxels of `b` (0 if empty); false if the count does not fit in 64 bits. */
bool cv__bbox_voxels_checked(cv_bbox b, uint64_t *out);
/* Most voxels in one compressed_segmentation block (the info parser and the codec agree):
 * lookup-table offsets are 24-bit counts of 32-bit words, and a block's indices take up to a
 * word per voxel, so a larger block cannot be encoded in general; it also bounds what one
 * block makes the encoder hold (64 MiB) whatever the chunk size. */
#define CV_CSEG_MAX_BLOCK_VOXELS ((uint64_t)1 << 24)

/* ---- growable buffer (buf.c) ------------------------------------------------------------- */

typedef struct cv_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* growth beyond this is CV_ERR_CORRUPT ("too large"); 0 = no cap */
} cv_buf;

void cv__buf_init(cv_buf *b, size_t max);
void cv__buf_fini(cv_buf *b);
cv_status cv__buf_reserve(cv_buf *b, size_t total);
cv_status cv__buf_append(cv_buf *b, const void *p, size_t n);
/* Give the bytes to the caller (free with cv_free) and leave the buffer empty. */
uint8_t *cv__buf_take(cv_buf *b, size_t *len);

/* ---- logging (log.c) --------------------------------------------------------------------- */

typedef enum cv_log_level { CV_LOG_ERROR, CV_LOG_WARN, CV_LOG_INFO, CV_LOG_DEBUG } cv_log_level;
/* Level from $CV_LOG (error|warn|info|debug) unless set here; -v/-q in the CLI. */
void cv__log_set_level(cv_log_level l);
cv_log_level cv__log_level(void);
void cv__log_set_rank(int rank);
void cv__log(cv_log_level l, const char *fmt, ...) CV_PRINTF(2, 3);
#define CV_LOG(l, ...)                                                                             \
    do {                                                                                           \
        if ((l) <= cv__log_level()) {                                                              \
            cv__log((l), __VA_ARGS__);                                                             \
        }                                                                                          \
    } while (0)

/* ---- strings (str.c) --------------------------------------------------------------------- */

char *cv__strdup(const char *s); /* NULL-safe */
char *cv__strndup(const char *s, size_t n);
char *cv__asprintf(const char *fmt, ...) CV_PRINTF(1, 2);
bool cv__str_ends_with(const char *s, const char *suffix);

/* ---- parallel for (pool.c) --------------------------------------------------------------- */

#define CV_MAX_THREADS 64
/* Run fn(i, tid, arg) for i in [0, n) on `threads` threads (1 = inline); tid in [0, threads)
 * names the worker, so callers can keep per-worker scratch. Stops handing out work after the
 * first failure; that failure's error record becomes the caller's. */
cv_status cv__parallel_for(size_t n, int threads, cv_status (*fn)(size_t i, int tid, void *arg),
                           void *arg);
/* Called (from any worker thread) after each finished index of every cv__parallel_for: the
 * CLI's progress for `read`/`write` of large boxes. NULL: none. */
void cv__set_progress(void (*fn)(size_t done, size_t total));

/* ---- dtypes -------------------------------------------------------------------------------- */

/* Store `v` converted to dtype `t` at `dst` (saturating for integers). */
void cv__dtype_store(cv_dtype t, double v, void *dst);

/* ---- skeletons and meshes ------------------------------------------------------------------ */

/* True for the data types a skeleton vertex attribute may have. */
bool cv__skel_attr_dtype_ok(cv_dtype t);
/* A decimal segment id as in file names: digits only, no leading zeros, < 2^64. */
bool cv__parse_segid(const char *s, uint64_t *out);
/* Sort ids ascending and drop repeats (always CV_OK). */
cv_status cv__sort_ids(uint64_t *ids, size_t *n);
/* Write already-encoded skeletons (whole shards) into a sharded skeleton directory. */
cv_status cv__skeletons_write_encoded(cv_skeletons *k, const cv_shard_item *items, size_t n);
/* Call fn for every key of shard file `object` of `store`, reading only its indexes (ranged
 * reads). CV_ERR_CORRUPT naming the file on bad indexes. (shard_keys.c) */
cv_status cv__shard_file_keys(cv_store *store, const char *object, const cv_shard_spec *spec,
                              cv_status (*fn)(uint64_t key, void *arg), void *arg);
/* The sharding of a skeleton directory, NULL if unsharded. */
const cv_shard_spec *cv__skeletons_spec(const cv_skeletons *k);
/* CloudVolume's spatial index under `dir` of `store`: ids whose boxes meet [min, max) (nm). */
cv_status cv__spatial_query(cv_store *store, const char *dir, const double min[3],
                            const double max[3], uint64_t **ids, size_t *n);

/* ---- chunk copy fast path (volume_copy.c) ------------------------------------------------- */

/* True if the chunks of `src` at src_mip can be copied to `dst` at dst_mip as stored objects,
 * never decoded: same dtype, channels, encoding and its parameters, chunk size and bounds,
 * both unsharded, and no delete_black_uploads on dst. Otherwise `why` (if given) says why. */
bool cv__volume_can_copy(const cv_volume *src, int src_mip, const cv_volume *dst, int dst_mip,
                         char *why, size_t cap);
/* The same, but either scale may be sharded: a sharded dst takes the chunks' encoded bytes
 * into its shard files (cv__volume_copy_sharded, volume.h). */
bool cv__volume_can_copy_encoded(const cv_volume *src, int src_mip, const cv_volume *dst,
                                 int dst_mip, char *why, size_t cap);
/* Copy the chunks of the chunk-aligned `box` byte for byte (transport compression kept, or
 * changed to dst's compress option without decoding the chunk), on dst's threads. A missing
 * or empty source chunk fails naming its key, or with src's fill_missing is written as the
 * background chunk (as the decoding path does). With `check`, every chunk is also decoded
 * before it is written, so a corrupt one fails naming its key. *voxel_bytes: decoded bytes of
 * the chunks. */
cv_status cv__volume_copy_chunks(cv_volume *src, int src_mip, cv_volume *dst, int dst_mip,
                                 cv_bbox box, bool check, uint64_t *voxel_bytes);

/* ---- volumes (volume_write.c) -------------------------------------------------------------- */
/* cv_volume_write of `box` taken from a larger x,y,z,c array framed by `frame` (box inside
 * frame), so a caller holding a slab writes part of it without copying it out first. */
cv_status cv__volume_write_frame(cv_volume *v, int mip, cv_bbox box, const void *src,
                                 cv_bbox frame);

#endif /* CV_INTERNAL_H */
