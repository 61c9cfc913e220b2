/* SPDX-License-Identifier: BSD-3-Clause
 * shard.h: internals of the sharded format (precomputed-sharded §3) shared by shard.c (spec,
 * indexes, reader, cache) and shard_write.c (building shard files, parameter choice), and
 * reachable from tests. No MPI here. */
#ifndef CV_SHARD_H
#define CV_SHARD_H

#include "base/cv_internal.h"

/* Decoded minishard indexes larger than this are refused as corrupt (about 5.6 million
 * entries in one minishard; CloudVolume aims at 1365..4000). Also the decompression cap. */
#define CV_SHARD_MAX_MINISHARD_INDEX ((uint64_t)128 << 20)

/* Longest object key of a shard file (prefix + "/" + name). */
#define CV_SHARD_KEY_MAX 4096

/* Bytes of the shard index: 16 << minishard_bits. */
uint64_t cv__shard_index_bytes(const cv_shard_spec *s);

/* Largest shard index a writer builds: 2^24 minishards (256 MiB), thousands of times what
 * CloudVolume picks (8 KiB). A writer holds a shard's whole index, which goes out in every
 * shard file; readers fetch index entries by offset and need no limit. */
#define CV_SHARD_MAX_WRITE_MINISHARD_BITS 24
#define CV_SHARD_MAX_WRITE_INDEX ((uint64_t)16 << CV_SHARD_MAX_WRITE_MINISHARD_BITS)

/* CV_ERR_INFO, one line starting with `what' (the info's scale, or the --sharding argument),
 * when the shard index a writer must hold is above CV_SHARD_MAX_WRITE_INDEX or, when
 * `budget` is not 0, above that memory budget per rank (from `budget_name`, e.g. "--memory"). */
cv_status cv__shard_check_write_index(const cv_shard_spec *s, const char *what, uint64_t budget,
                                      const char *budget_name);
/* All-ones in the low `bits` bits (64 gives all ones). */
uint64_t cv__mask64(int bits);

/* Object key "<prefix>/<hex>.shard" of shard `shard` (just the name for an empty prefix;
 * slashes around the prefix are dropped). CV_ERR_ARG if it does not fit in `cap`. */
cv_status cv__shard_object_key(const char *prefix, const cv_shard_spec *s, uint64_t shard,
                               char *buf, size_t cap);

/* One entry of a minishard index after delta decoding: byte range relative to the end of the
 * shard index. */
typedef struct cv_shard_entry {
    uint64_t key;
    uint64_t start;
    uint64_t end;
} cv_shard_entry;

/* Decode a raw (already un-gzipped) minishard index of `n` bytes: length a multiple of 24,
 * offsets delta-decoded, every range checked for wrap-around and for fitting, after the shard
 * index of `index_bytes`, below 2^63. On success *out (free with cv_free) has *count entries
 * in index order. Errors are CV_ERR_CORRUPT with the cause only; callers wrap in the file. */
cv_status cv__minishard_index_decode(const uint8_t *p, size_t n, uint64_t index_bytes,
                                     cv_shard_entry **out, size_t *count);

/* Like cv_shard_reader_get(), into caller-owned buffers for hot loops: the value ends up in
 * `out` (out->max caps its decoded size, 0 = 4 GiB); `scratch` holds encoded bytes. */
cv_status cv__shard_reader_get_into(cv_shard_reader *r, uint64_t key, cv_buf *out, cv_buf *scratch);

/* Where `key`'s stored value lies: the shard object's key (relative to the store, written into
 * `object`) and the byte range [*offset, *offset + *length). Uses only the (cached) indexes.
 * CV_ERR_NOTFOUND (quietly) if absent. Lets callers read neighbouring values in one request. */
cv_status cv__shard_reader_locate(cv_shard_reader *r, uint64_t key, char *object, size_t cap,
                                  uint64_t *offset, uint64_t *length);
/* Decode `key`'s stored bytes (as read from the range above) per the data_encoding into out
 * (out->max caps; 0 = 4 GiB). */
cv_status cv__shard_reader_decode(cv_shard_reader *r, uint64_t key, const uint8_t *raw, size_t n,
                                  cv_buf *out);
/* The value of `key` from its stored bytes `raw`: with data_encoding raw, `raw` itself (no
 * copy), else decoded into `out` as cv__shard_reader_decode does; a raw value larger than
 * out->max is refused as there. */
cv_status cv__shard_reader_value(cv_shard_reader *r, uint64_t key, const uint8_t *raw, size_t n,
                                 cv_buf *out, const uint8_t **value, size_t *len);

/* One entry of a shard file as cv__shard_file_scan hands it out: where its stored bytes lie. */
typedef struct cv_shard_file_entry {
    uint64_t minishard;
    uint64_t key;
    uint64_t offset; /* of the stored bytes, from the start of the file */
    uint64_t length; /* stored bytes (data_encoding applied) */
} cv_shard_file_entry;

/* Bytes of the shard index read at a time by cv__shard_file_scan. */
#define CV_SHARD_SCAN_PIECE ((uint64_t)1 << 20)

/* Every entry of shard file `key` of `store`, which has `file_size` bytes (from a listing or
 * cv__store_head), in index order, by ranged reads only: the shard index in pieces of
 * CV_SHARD_SCAN_PIECE bytes, then the index of each non-empty minishard (decoded per
 * minishard_index_encoding). Every range is checked against `file_size`, overflow-safe; a
 * corrupt file is CV_ERR_CORRUPT naming the file and the minishard. Memory: a piece of the
 * shard index and one minishard index, whatever the file's or the shard index's size. The
 * index cache is left alone (a listing would only flush it). NOTFOUND if the file is absent
 * uncompressed. */
cv_status cv__shard_file_scan(cv_store *store, const char *key, const cv_shard_spec *spec,
                              uint64_t file_size,
                              cv_status (*fn)(const cv_shard_file_entry *e, void *arg), void *arg);
/* The value of an entry cv__shard_file_scan handed out: its stored bytes read by one ranged
 * read into `scratch` (data_encoding gzip) or `out` (raw), decoded into `out` (out->max caps
 * the decoded size; 0 = 4 GiB). Errors name the file and the key. */
cv_status cv__shard_file_read_entry(cv_store *store, const char *key, const cv_shard_spec *spec,
                                    const cv_shard_file_entry *e, cv_buf *out, cv_buf *scratch);

/* cv_shard_build() in CloudVolume's layout where the index entry of item i covers only its
 * last tails[i] bytes and the bytes before them sit just before in the file: multi-resolution
 * meshes, whose entry is the manifest with the fragment data ahead of it (CloudVolume's
 * synthesize_shard_file with data_offset; precomputed-sharded §5). data_encoding must be
 * raw. */
cv_status cv__shard_build_tail(const cv_shard_spec *s, const cv_shard_item *items,
                               const size_t *tails, size_t n, uint64_t *shard, uint8_t **data,
                               size_t *len);
/* One shard file in CloudVolume's layout (as cv_shard_build writes it) laid out from its
 * items' keys and lengths alone, for writing a shard larger than memory piece by piece: the
 * file is `head` (the shard index), then the payloads of items order[0], order[1], ... (n of
 * them) exactly as given (data_encoding is not applied: give stored bytes), then `tail` (the
 * minishard indexes, gzipped at `level` when minishard_index_encoding is gzip). Items' data
 * may be NULL. Same errors as cv_shard_build. */
cv_status cv__shard_plan_file(const cv_shard_spec *s, const cv_shard_item *items, size_t n,
                              int level, size_t *order, cv_buf *head, cv_buf *tail);

/* Drop cached indexes of object `key` of the store at `url`. */
void cv__shard_cache_invalidate(const char *url, const char *key);

typedef struct cv_shard_counters {
    uint64_t ranged_reads; /* byte-range requests issued by readers */
    uint64_t cache_hits;   /* index look-ups answered from the cache */
    uint64_t cache_misses;
    uint64_t cache_entries; /* now */
    uint64_t cache_bytes;   /* now */
} cv_shard_counters;

/* Process-wide counters, for tests and debug logs. */
void cv__shard_counters(cv_shard_counters *c);

#endif
