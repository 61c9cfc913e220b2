/* SPDX-License-Identifier: BSD-3-Clause
 * store.h: the storage backend interface (one table of operations per scheme) and cloud path
 * parsing (cloudvolume-conventions §1). Backends see plain object names; CloudFiles'
 * compression suffixes, key checks and decompression live once, in store.c. No MPI here. */
#ifndef CV_STORE_H
#define CV_STORE_H

#include "base/cv_internal.h"

/* A parsed cloud path, CloudFiles' extract(). */
typedef struct cv_cloudpath {
    char format[16];   /* "precomputed", "zarr2", ... */
    char protocol[16]; /* "file", "mem", "gs", "s3", "http", "https", "boss" */
    char *host;        /* "https://s3.example.com" for explicit endpoints and http(s); or NULL */
    char *bucket;      /* gs/s3/mem; NULL otherwise */
    char *path;        /* file: absolute path; else the part after the bucket/host */
    char alias[32];    /* "matrix" for matrix://..., else "" */
} cv_cloudpath;

cv_status cv__cloudpath_parse(const char *text, cv_cloudpath *out);
void cv__cloudpath_fini(cv_cloudpath *p);
/* Split the cloud path of one object into its directory's normalised URL (a store can be
 * opened there) and the last part of its path: "s3://b/d/obj" -> "s3://b/d", "obj". A path
 * with nothing after the bucket or host is CV_ERR_ARG. Free both with cv_free. */
cv_status cv__cloudpath_split(const char *text, char **dir_url, char **name);
/* Normalised URL text: "file:///abs/dir", "mem://bucket/p", "gs://bucket/p". */
char *cv__cloudpath_url(const cv_cloudpath *p);

enum {
    CV_STORE_SUFFIXES = 1 << 0, /* compression is stored as .gz/.br name suffixes */
};

#define CV_STORE_DEL_BATCH 1000    /* S3 DeleteObjects takes at most 1000 keys */
#define CV_STORE_GCS_DEL_BATCH 100 /* a GCS JSON API batch takes at most 100 calls */

/* An object's metadata as its store reports it (cvmpi head, du); "" or -1 where the store has
 * none. Sizes are of the stored bytes (compressed, if the object is). */
typedef struct cv_store_meta {
    int64_t size;
    char content_type[128];
    char encoding[32];      /* Content-Encoding, or the .gz/.br suffix on file:// and mem:// */
    char etag[136];         /* as the server sends it (S3: quoted) */
    char md5[48];           /* base64 MD5 where the store keeps one (GCS md5Hash) */
    char last_modified[40]; /* ISO 8601 UTC, "2026-12-05T19:49:35Z" */
    char cache_control[128];
    char storage_class[40];
} cv_store_meta;

/* Hands out one listed object with its stored size (UINT64_MAX for a subdirectory). */
typedef cv_status (*cv_store_sized_fn)(const char *name, uint64_t size, void *arg);

/* Hands out the next piece of an object being written; *n = 0 ends it. */
typedef cv_status (*cv_store_pieces)(void *arg, const void **piece, size_t *n);

typedef struct cv_store_ops {
    const char *name;
    unsigned flags;
    /* On failure, close() is called if s->impl was set, so a backend may fail half way. */
    cv_status (*open)(cv_store *s, const cv_cloudpath *p);
    /* Read a whole object into out (replacing its contents). CV_ERR_NOTFOUND via
     * cv__notfound() if absent. Backends without suffixes report the Content-Encoding in
     * `encoding` ("" if none). */
    cv_status (*get)(cv_store *s, const char *name, cv_buf *out, char *encoding, size_t enc_cap);
    /* Read bytes [offset, offset+len) of an object into out (replacing its contents); fewer
     * bytes only at the end of the object. NOTFOUND as for get. No decompression: ranged
     * objects (shard files) are stored uncompressed. */
    cv_status (*get_range)(cv_store *s, const char *name, uint64_t offset, uint64_t len,
                           cv_buf *out);
    cv_status (*put)(cv_store *s, const char *name, const void *p, size_t n, const char *encoding,
                     const char *content_type);
    cv_status (*exists)(cv_store *s, const char *name, bool *yes);
    cv_status (*del)(cv_store *s, const char *name); /* absent is fine */
    /* Delete up to CV_STORE_DEL_BATCH names in one request (S3 DeleteObjects; GCS batches of
     * CV_STORE_GCS_DEL_BATCH); absent names are fine. NULL: store.c deletes them one by one. */
    cv_status (*del_many)(cv_store *s, const char *const *names, size_t n);
    /* Every object name under `prefix`, any order, each once. */
    cv_status (*list)(cv_store *s, const char *prefix, cv_status (*fn)(const char *name, void *arg),
                      void *arg);
    /* One level under `prefix` (a directory, "" or ending in '/'): the objects directly in it,
     * and each subdirectory once as "prefix/sub/" (S3/GCS delimiter=/). NULL: store.c derives
     * it from list. */
    cv_status (*list_level)(cv_store *s, const char *prefix,
                            cv_status (*fn)(const char *name, void *arg), void *arg);
    /* Metadata of the object stored under exactly `name`; NOTFOUND (quietly) if absent. */
    cv_status (*head)(cv_store *s, const char *name, cv_store_meta *m);
    /* As list, with each object's stored size from the listing itself (S3 <Size>, GCS size).
     * NULL: store.c asks head for each name. */
    cv_status (*list_sized)(cv_store *s, const char *prefix, cv_store_sized_fn fn, void *arg);
    /* Write an uncompressed object from the pieces `next` hands out (cv_store_pieces)
     * holding at most one part (cv__store_part_bytes) besides the piece: a temporary file on
     * file://, a multipart upload on S3, a resumable upload on GCS; an object no larger than
     * a part goes out as put would send it. On failure nothing is left under `name` (the
     * upload is aborted). NULL: store.c collects the pieces and calls put. */
    cv_status (*put_pieces)(cv_store *s, const char *name, cv_store_pieces next, void *arg,
                            const char *content_type);
    void (*close)(cv_store *s);
} cv_store_ops;

struct cv_store {
    const cv_store_ops *ops;
    char *url;
    void *impl;             /* the backend's own state */
    struct cv_cache *cache; /* the local disk cache of whole-object reads, or NULL (cache.h) */
};

extern const cv_store_ops cv_store_file;
extern const cv_store_ops cv_store_mem;
#ifdef CV_HAVE_CURL
extern const cv_store_ops cv_store_http; /* store_http.c: http:// and https://, read-only */
extern const cv_store_ops cv_store_s3;   /* store_s3.c */
extern const cv_store_ops cv_store_gcs;  /* store_gcs.c: gs:// */
#endif
#ifdef CV_HAVE_BOSS
extern const cv_store_ops cv_store_boss; /* store_boss.c: boss://, read-only */
#endif
/* The schemes this build can open, space-separated ("file mem gs s3 http https"). */
const char *cv__store_schemes(void);

/* Get into caller-owned buffers, for hot loops: the object ends up in `out`; `scratch` holds
 * the compressed bytes meanwhile. out->max caps the decoded size. */
cv_status cv__store_get_into(cv_store *s, const char *key, cv_buf *out, cv_buf *scratch);
/* Ranged read into a caller-owned buffer; the object must be stored uncompressed (a range of
 * a .gz/.br variant would be compressed bytes, so only the exact name is read). */
cv_status cv__store_get_range_into(cv_store *s, const char *key, uint64_t offset, uint64_t len,
                                   cv_buf *out);
/* Whether cv__store_get_plain can read `s`'s objects: stores naming compressed objects by
 * suffix (file://, mem://) that keep no cache. */
bool cv__store_reads_plain(const cv_store *s);
/* The object stored under `key` itself, not a compressed form of it (key.gz, key.br), into
 * `out` as it is: out may wrap a caller's array (cap = max = its size: reading never grows
 * it, a larger object is CV_ERR_CORRUPT). NOTFOUND (quietly) when there is none. Only for
 * stores cv__store_reads_plain accepts. */
cv_status cv__store_get_plain(cv_store *s, const char *key, cv_buf *out);
/* The object as stored: its bytes (not decompressed) into `out` and its encoding ("gzip",
 * "br", ... or "" for none) into `encoding`. NOTFOUND (quietly) if absent. For copies that keep
 * an object's compression (cvmpi cp). */
cv_status cv__store_get_raw(cv_store *s, const char *key, cv_buf *out, char *encoding,
                            size_t enc_cap);
/* Store bytes already compressed with `encoding` (NULL or "" for none) as they are: a name
 * suffix on file:// and mem:// (stale variants dropped), Content-Encoding elsewhere. */
cv_status cv__store_put_raw(cv_store *s, const char *key, const void *data, size_t len,
                            const char *encoding, const char *content_type);
/* Write object `key`, uncompressed, from the pieces `next` hands out, for objects larger
 * than memory: a file:// store writes them to a temporary file renamed into place at the end,
 * s3:// and gs:// send them in parts of cv__store_part_bytes (a multipart or resumable upload,
 * aborted on failure): readers see the whole object or none. Other stores (mem://) collect
 * the pieces and put the object with one request (cv__store_streams says which). */
cv_status cv__store_put_pieces(cv_store *s, const char *key, cv_store_pieces next, void *arg,
                               const char *content_type);
/* Whether cv__store_put_pieces holds no more than a piece and a part at a time in this store,
 * or in the store at `url` (false for a URL that does not parse). */
bool cv__store_streams(const cv_store *s);
bool cv__url_streams(const char *url);
/* The bytes a streamed write (cv__store_put_pieces) holds besides a piece: the part size of
 * an upload in parts on s3:// and gs://, 0 on file:// and where nothing streams. From
 * CV_UPLOAD_PART_BYTES (bytes, or with a K/M/G suffix, at most 4G; default 8M), raised to
 * S3's 5 MiB minimum and rounded down to a multiple of GCS's 256 KiB. `scheme`: "s3", "gs"... */
size_t cv__store_part_bytes(const char *scheme);
size_t cv__url_part_bytes(const char *url);
/* The part loop of an upload in parts (s3:// multipart, gs:// resumable): gathers the pieces
 * `next` hands out into `buf`, calling `send(ctx, part bytes)` for each full part that more
 * bytes follow; on return `buf` holds the last part (all of an object no larger than a part,
 * which then needs no upload in parts: `send` was never called). */
typedef cv_status (*cv_store_part_fn)(void *ctx, const uint8_t *data, size_t len);
cv_status cv__store_gather_parts(cv_store_pieces next, void *arg, size_t part, cv_buf *buf,
                                 cv_store_part_fn send, void *ctx);
/* store_file.c's part of cv__store_put_pieces (`name` checked). */
cv_status cv__file_put_pieces(cv_store *s, const char *name, cv_store_pieces next, void *arg);
/* Copy one object between stores (cvmpi cp). `compress` NULL keeps the stored bytes and their
 * encoding as they are; "" stores it uncompressed; "gzip"/"br" recompress only if the stored
 * encoding differs. `content_type` applies where stores keep one. */
cv_status cv__store_copy(cv_store *src, const char *src_key, cv_store *dst, const char *dst_key,
                         const char *compress, int level, const char *content_type);
/* Delete every variant of each of `n` keys, in batched requests where the backend has them
 * (S3 DeleteObjects, 1000 keys each; GCS batch requests, 100 each), with up to `threads` requests
 * at once. Absent keys are fine. */
cv_status cv__store_delete_many(cv_store *s, const char *const *keys, size_t n, int threads);
/* One level of a listing, sorted, each name once: the keys under `prefix` with no further '/',
 * and "dir/" for each subdirectory (cvmpi ls). `prefix` is "" or a key prefix such as "a/" or
 * "a/4_". Uses the backend's delimiter listing where it has one. */
cv_status cv__store_list_level(cv_store *s, const char *prefix,
                               cv_status (*fn)(const char *key, void *arg), void *arg);
/* The metadata of object `key` (on file:// and mem:// the first stored variant: NAME, NAME.gz,
 * ..., its suffix as the encoding). NOTFOUND (quietly) if absent. For cvmpi head. */
cv_status cv__store_head(cv_store *s, const char *key, cv_store_meta *m);
/* Every object under `prefix` ("" or a key prefix) with its stored size, sorted by name, each
 * once (file:// and mem:// names without their compression suffix), from the listing where
 * the service gives sizes, else from cv__store_head. For cvmpi du and cp -r --resume. */
cv_status cv__store_list_sizes(cv_store *s, const char *prefix, cv_store_sized_fn fn, void *arg);

/* Which temporaries to remove: `object` is the name (without directory) of the object the
 * temporary was being written as, e.g. "0-64_0-64_0-64.gz". */
typedef bool (*cv_temp_filter)(const char *object, void *arg);
/* Remove the temporary files an interrupted writer (kill -9) left under the directory key
 * `prefix` ("" or "a/b"): file:// writes each object as a `.cvmpi-tmp-*` file renamed into
 * place, and one older than `age_s` seconds belongs to no live write (age_s 0: every one, for
 * a caller that knows no write is running). `filter` (or NULL for all) picks them by the
 * object they stood for. Other stores write objects whole and have none. Adds the count to
 * *removed. For `cvmpi delete` and for resuming a job. */
cv_status cv__store_remove_stale_temps(cv_store *s, const char *prefix, double age_s,
                                       cv_temp_filter filter, void *arg, size_t *removed);
/* store_file.c's part of cv__store_remove_stale_temps. */
cv_status cv__file_store_remove_stale(cv_store *s, const char *prefix, double age_s,
                                      cv_temp_filter filter, void *arg, size_t *removed);

/* Serve whole-object reads of `s` from a local disk cache configured by `cfg` (io/cache.h);
 * nothing for file:// and mem://. Writes and deletes through `s` drop the cached entry. */
struct cv_cache_cfg;
cv_status cv__store_attach_cache(cv_store *s, const struct cv_cache_cfg *cfg);
/* CloudFiles' file name suffix of a Content-Encoding ("" for none, ".gz" for gzip, ...), or
 * NULL when it has none. */
const char *cv__store_encoding_suffix(const char *encoding);

/* Check a key: relative, no empty parts, ".." may not climb above the store root. Writes the
 * normalised key into buf. */
cv_status cv__store_check_key(const cv_store *s, const char *key, char *buf, size_t cap);

/* A listed name that names the same object in every store: no empty, "." or ".." part (another
 * store would resolve those differently, or climb out of a directory). */
bool cv__key_is_plain(const char *name);

#endif
