/* SPDX-License-Identifier: BSD-3-Clause
 * cache.h: the local disk cache of remote objects, CloudVolume's `cache=` (docs/cache.md).
 * A store with a cache attached serves whole-object reads from
 * BASE/PROTOCOL/BUCKET/PATH/KEY while they are fresh, and files what it fetches there with the
 * bytes and compression as fetched (KEY, KEY.gz, KEY.br, as CloudFiles names them on disk)
 * beside a sidecar KEY.cvmeta holding their size and hash. Entries appear by rename, so
 * concurrent processes never see a partial one; a sidecar that disagrees with its file makes
 * the entry a miss. No MPI here. */
#ifndef CV_CACHE_H
#define CV_CACHE_H

#include "base/cv_internal.h"

typedef struct cv_cache cv_cache;

/* What a cache serves and keeps (the cache fields of cv_opts). */
typedef struct cv_cache_cfg {
    const char *base;   /* NULL or "": CLOUD_VOLUME_CACHE_DIR, else ~/.cloudvolume/cache */
    double max_age;     /* seconds an object is served from the cache; <= 0: no limit */
    double info_age;    /* the same for `info`/`provenance` files; <= 0: fetched every time */
    uint64_t max_bytes; /* the base directory's size limit (LRU eviction); 0: none */
} cv_cache_cfg;

#define CV_CACHE_SIDECAR ".cvmeta"
#define CV_CACHE_TMP_PREFIX ".cvmpi-cache-tmp-"

/* A sidecar's contents: "cvmpi-cache 1 SIZE HASH ENCODING\n", HASH 16 hex digits (the low 64
 * bits of MurmurHash3_x86_128 of the file), ENCODING "-" for none. */
typedef struct cv_cache_entry {
    uint64_t size; /* > 0: empty objects are never cached */
    uint64_t hash;
    char encoding[16]; /* "" none, "gzip", "br", ... */
} cv_cache_entry;

/* Parse a sidecar (CV_ERR_CORRUPT naming `what` when it is not one). */
cv_status cv__cache_entry_parse(const char *text, size_t len, const char *what,
                                cv_cache_entry *out);
/* Format one; returns its length (< cap) or 0 if it does not fit. */
size_t cv__cache_entry_format(const cv_cache_entry *e, char *buf, size_t cap);
uint64_t cv__cache_hash(const void *data, size_t len);

/* The absolute cache base: `base` if given, else $CLOUD_VOLUME_CACHE_DIR, else
 * $CLOUD_VOLUME_DIR/cache, else $HOME/.cloudvolume/cache. Free with cv_free. */
cv_status cv__cache_base(const char *base, char **out);
/* The cache directory of the layer at cloud path `url` under `base` (as cv__cache_base takes
 * it): BASE/PROTOCOL/BUCKET/PATH, BASE/http/HOST:PORT/PATH for http(s). *out is NULL for
 * file:// and mem:// (never cached). CV_ERR_ARG for a path with a "." or ".." part. */
cv_status cv__cache_layer_dir(const char *base, const char *url, char **out);

/* A cache for objects of the store at `url` (NULL in *out for file:// and mem://). Creates
 * the directory; CV_ERR_IO if it cannot be written. */
cv_status cv__cache_open(const char *url, const cv_cache_cfg *cfg, cv_cache **out);
/* Runs the eviction pass when a limit is set and this cache filed anything. */
void cv__cache_close(cv_cache *c);
/* The cached object `key` (a checked store key) into out and its encoding: CV_OK on a fresh,
 * whole entry; CV_ERR_NOTFOUND (no error recorded) otherwise. out->max is respected. */
cv_status cv__cache_get(cv_cache *c, const char *key, cv_buf *out, char *encoding, size_t enc_cap);
/* File an object as fetched (best effort: a failure is one warning per cache). */
void cv__cache_put(cv_cache *c, const char *key, const void *data, size_t len,
                   const char *encoding);
/* Forget `key` (the object was written or deleted through this store). */
void cv__cache_drop(cv_cache *c, const char *key);

/* The cached objects under `dir` (a base, is_base: its gs/s3/http/https trees; or a layer
 * directory): fn gets each data file's path
 * relative to `dir`, its size and its last access (seconds), sorted by path. Sidecars and
 * temporaries are not listed but are counted in *total_bytes (may be NULL). */
cv_status cv__cache_list(const char *dir, bool is_base,
                         cv_status (*fn)(const char *rel, uint64_t size, double atime, void *arg),
                         void *arg, uint64_t *total_bytes);
/* Remove every file of the cache under `dir` (the layer directory, or under a base its
 * gs/s3/http/https trees only); *removed counts the cached objects. */
cv_status cv__cache_clear(const char *dir, bool is_base, uint64_t *removed);
/* Evict least recently used entries under `base` until it holds at most max_bytes. */
cv_status cv__cache_evict(const char *base, uint64_t max_bytes);

#endif
