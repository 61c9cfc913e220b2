/* SPDX-License-Identifier: BSD-3-Clause
 * store.c: the scheme table and everything every backend shares: key checks, CloudFiles'
 * compression suffixes on file:// and mem:// (precomputed-volume spec §6: read the exact
 * name, then .gz .br .zstd .xz .bz2; write name+suffix and drop stale variants), and
 * decompression of what a backend returns. */
#include "io/store.h"

#include "compress/compress.h"
#include "io/cache.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CV_HAVE_CURL
#include "io/http.h" /* cv__secrets_set */
#define CV_IF_CURL(x) (x)
#else
#define CV_IF_CURL(x) NULL
#endif
#ifdef CV_HAVE_BOSS
#define CV_IF_BOSS(x) (x)
#else
#define CV_IF_BOSS(x) NULL
#endif

static const struct {
    const char *scheme;
    const cv_store_ops *ops; /* NULL: recognised, not in this build */
} schemes[] = {
    {"file", &cv_store_file},
    {"mem", &cv_store_mem},
    {"gs", CV_IF_CURL(&cv_store_gcs)},
    {"s3", CV_IF_CURL(&cv_store_s3)},
    {"http", CV_IF_CURL(&cv_store_http)},
    {"https", CV_IF_CURL(&cv_store_http)},
    {"boss", CV_IF_BOSS(&cv_store_boss)},
};

cv_status cv_secrets_set(const char *json)
{
#ifdef CV_HAVE_CURL
    return cv__secrets_set(json);
#else
    (void)json; /* no store of this build uses credentials */
    return CV_OK;
#endif
}

const char *cv__store_schemes(void)
{
#if defined(CV_HAVE_BOSS)
    return "file mem gs s3 http https boss";
#elif defined(CV_HAVE_CURL)
    return "file mem gs s3 http https";
#else
    return "file mem";
#endif
}

static const struct {
    const char *suffix, *encoding;
} suffixes[] = {
    {".gz", "gzip"}, {".br", "br"}, {".zstd", "zstd"}, {".xz", "xz"}, {".bz2", "bzip2"},
};
#define N_SUFFIXES (sizeof suffixes / sizeof suffixes[0])

cv_status cv_store_open(const char *cloudpath, cv_store **out)
{
    cv_cloudpath p;
    CV_TRY(cv__cloudpath_parse(cloudpath, &p));
    /* boss:// layers are served as precomputed ones by store_boss.c */
    if (strcmp(p.format, "precomputed") != 0 && strcmp(p.protocol, "boss") != 0) {
        cv_status rc = CV_FAIL(CV_ERR_UNSUPPORTED, "open `%s': format %s is not supported",
                               cloudpath, p.format);
        cv__cloudpath_fini(&p);
        return rc;
    }
    const cv_store_ops *ops = NULL;
    bool known = false;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        if (strcmp(schemes[i].scheme, p.protocol) == 0) {
            ops = schemes[i].ops;
            known = true;
        }
    }
    if (!ops) {
        cv_status rc =
            CV_FAIL(CV_ERR_UNSUPPORTED, "open `%s': %s:// %s", cloudpath, p.protocol,
                    known ? "needs a build with -DCV_WITH_CURL=ON" : "is not a known protocol");
        cv__cloudpath_fini(&p);
        return rc;
    }
    cv_store *s = cv_calloc(1, sizeof *s);
    if (!s) {
        cv__cloudpath_fini(&p);
        return CV_FAIL(CV_ERR_NOMEM, "open store");
    }
    s->ops = ops;
    s->url = cv__cloudpath_url(&p);
    cv_status rc = s->url ? ops->open(s, &p) : CV_FAIL(CV_ERR_NOMEM, "open store");
    cv__cloudpath_fini(&p);
    if (rc != CV_OK) {
        /* A backend may fail half way through opening: close releases what it made. */
        if (s->impl && ops->close) {
            ops->close(s);
        }
        cv_free(s->url);
        cv_free(s);
        return rc;
    }
    *out = s;
    return CV_OK;
}

void cv_store_close(cv_store *s)
{
    if (!s) {
        return;
    }
    if (s->ops->close) {
        s->ops->close(s);
    }
    cv__cache_close(s->cache);
    cv_free(s->url);
    cv_free(s);
}

cv_status cv__store_attach_cache(cv_store *s, const cv_cache_cfg *cfg)
{
    if (s->cache) {
        return CV_OK;
    }
    return cv__cache_open(s->url, cfg, &s->cache);
}

const char *cv__store_encoding_suffix(const char *encoding)
{
    if (!encoding || !*encoding || strcmp(encoding, "identity") == 0) {
        return "";
    }
    for (size_t i = 0; i < N_SUFFIXES; i++) {
        if (strcmp(suffixes[i].encoding, encoding) == 0) {
            return suffixes[i].suffix;
        }
    }
    return NULL;
}

const char *cv_store_url(const cv_store *s)
{
    return s->url;
}

bool cv__key_is_plain(const char *name)
{
    const char *p = name;
    while (true) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
            return false;
        }
        if (!e) {
            return true;
        }
        p = e + 1;
    }
}

cv_status cv__store_check_key(const cv_store *s, const char *key, char *buf, size_t cap)
{
    size_t n = strlen(key);
    if (n == 0 || n >= cap || key[0] == '/') {
        return CV_FAIL(CV_ERR_ARG, "key `%s' in %s: must be a non-empty relative path", key,
                       s->url);
    }
    /* Resolve "." and ".." part by part; refuse anything that climbs above the root. */
    size_t out = 0;
    const char *p = key;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.')) {
            /* empty or "." part: skip */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (out == 0) {
                return CV_FAIL(CV_ERR_ARG, "key `%s' escapes the layer directory %s", key, s->url);
            }
            while (out > 0 && buf[out - 1] != '/') {
                out--;
            }
            if (out > 0) {
                out--;
            }
        } else {
            if (out) {
                buf[out++] = '/';
            }
            memcpy(buf + out, p, len);
            out += len;
        }
        p += len + (e ? 1 : 0);
        if (!e) {
            break;
        }
    }
    if (out == 0) {
        return CV_FAIL(CV_ERR_ARG, "key `%s' in %s: names the layer directory itself", key, s->url);
    }
    buf[out] = '\0';
    return CV_OK;
}

#define KEY_CAP 4096

static cv_status decompress(const char *encoding, const char *key, const cv_store *s, cv_buf *in,
                            cv_buf *out)
{
    const cv_compressor *c = cv__compressor_find(encoding);
    if (!c) {
        return CV_FAIL(CV_ERR_UNSUPPORTED, "read `%s' in %s: compression %s is not supported", key,
                       s->url, encoding);
    }
    out->len = 0;
    cv_status rc = c->decompress(in->data, in->len, out);
    if (rc != CV_OK) {
        cv__err_wrap("read `%s' in %s", key, s->url);
    }
    return rc;
}

/* The stored bytes of the checked key `norm` and their encoding ("" if none). */
static cv_status get_stored(cv_store *s, const char *norm, cv_buf *out, char *encoding,
                            size_t enc_cap)
{
    encoding[0] = '\0';
    if (s->cache && cv__cache_get(s->cache, norm, out, encoding, enc_cap) == CV_OK) {
        return CV_OK;
    }
    if (!(s->ops->flags & CV_STORE_SUFFIXES)) {
        CV_TRY(s->ops->get(s, norm, out, encoding, enc_cap));
        if (strcmp(encoding, "identity") == 0) {
            encoding[0] = '\0';
        }
        if (s->cache) {
            cv__cache_put(s->cache, norm, out->data, out->len, encoding);
        }
        return CV_OK;
    }
    char name[KEY_CAP + 8];
    cv_status rc = CV_ERR_NOTFOUND;
    for (size_t i = 0; i <= N_SUFFIXES && rc == CV_ERR_NOTFOUND; i++) {
        snprintf(name, sizeof name, "%s%s", norm, i ? suffixes[i - 1].suffix : "");
        rc = s->ops->get(s, name, out, NULL, 0);
        if (rc == CV_OK && i) {
            snprintf(encoding, enc_cap, "%s", suffixes[i - 1].encoding);
        }
    }
    if (rc == CV_ERR_NOTFOUND) {
        return cv__notfound("`%s' not found in %s", norm, s->url);
    }
    return rc;
}

cv_status cv__store_get_raw(cv_store *s, const char *key, cv_buf *out, char *encoding,
                            size_t enc_cap)
{
    char norm[KEY_CAP];
    CV_TRY(cv__store_check_key(s, key, norm, sizeof norm));
    return get_stored(s, norm, out, encoding, enc_cap);
}

bool cv__store_reads_plain(const cv_store *s)
{
    return (s->ops->flags & CV_STORE_SUFFIXES) && !s->cache;
}

cv_status cv__store_get_plain(cv_store *s, const char *key, cv_buf *out)
{
    char norm[KEY_CAP];
    CV_TRY(cv__store_check_key(s, key, norm, sizeof norm));
    if (!cv__store_reads_plain(s)) {
        return CV_FAIL(CV_ERR_ARG, "read `%s' in %s: the store cannot read it as it is", norm,
                       s->url);
    }
    cv_status rc = s->ops->get(s, norm, out, NULL, 0);
    if (rc == CV_ERR_NOTFOUND) {
        return cv__notfound("`%s' not found in %s", norm, s->url);
    }
    return rc;
}

cv_status cv__store_get_into(cv_store *s, const char *key, cv_buf *out, cv_buf *scratch)
{
    char norm[KEY_CAP];
    CV_TRY(cv__store_check_key(s, key, norm, sizeof norm));
    char encoding[32] = "";
    size_t max = out->max;
    /* The stored bytes are capped too, by what a gzip or brotli stream of at most `max`
     * decoded bytes can take: an endless or oversized body is cut off as it arrives. */
    scratch->max = max == 0 ? 0 : max > SIZE_MAX / 2 ? SIZE_MAX : max + max / 256 + 1024;
    CV_TRY(get_stored(s, norm, scratch, encoding, sizeof encoding));
    if (!encoding[0] || strcmp(encoding, "identity") == 0) {
        if (max && scratch->len > max) {
            return CV_FAIL(CV_ERR_CORRUPT, "read `%s' in %s: %zu bytes, more than the %zu expected",
                           norm, s->url, scratch->len, max);
        }
        cv_buf t = *out;
        *out = *scratch;
        *scratch = t;
        out->max = max;
        scratch->max = 0;
        return CV_OK;
    }
    return decompress(encoding, norm, s, scratch, out);
}

cv_status cv_store_get(cv_store *s, const char *key, size_t max_bytes, uint8_t **data, size_t *len)
{
    cv_buf out, scratch;
    cv__buf_init(&out, max_bytes ? max_bytes : ((size_t)4 << 30));
    cv__buf_init(&scratch, 0);
    cv_status rc = cv__store_get_into(s, key, &out, &scratch);
    cv__buf_fini(&scratch);
    if (rc != CV_OK) {
        cv__buf_fini(&out);
        return rc;
    }
    *data = cv__buf_take(&out, len);
    return CV_OK;
}

cv_status cv__store_get_range_into(cv_store *s, const char *key, uint64_t offset, uint64_t len,
                                   cv_buf *out)
{
    char norm[KEY_CAP];
    CV_TRY(cv__store_check_key(s, key, norm, sizeof norm));
    if (out->max && len > out->max) {
        return CV_FAIL(CV_ERR_ARG, "read `%s' in %s: range of %" PRIu64 " bytes exceeds %zu", norm,
                       s->url, len, out->max);
    }
    cv_status rc = s->ops->get_range(s, norm, offset, len, out);
    if (rc == CV_ERR_NOTFOUND) {
        return cv__notfound("`%s' not found in %s", norm, s->url);
    }
    if (rc != CV_OK) {
        cv__err_wrap("read `%s' bytes %" PRIu64 "+%" PRIu64 " in %s", norm, offset, len, s->url);
    }
    return rc;
}

cv_status cv_store_get_range(cv_store *s, const char *key, uint64_t offset, uint64_t length,
                             uint8_t **data, size_t *len)
{
    cv_buf out;
    cv__buf_init(&out, 0);
    cv_status rc = cv__store_get_range_into(s, key, offset, length, &out);
    if (rc != CV_OK) {
        cv__buf_fini(&out);
        return rc;
    }
    *data = cv__buf_take(&out, len);
    return CV_OK;
}

/* Store bytes that are already in `encoding` (NULL or "" for none) under the checked key
 * `norm`: as a name suffix on file:// and mem://, as Content-Encoding elsewhere. */
static cv_status put_stored(cv_store *s, const char *norm, const void *data, size_t len,
                            const char *encoding, const char *content_type)
{
    if (encoding && (!*encoding || strcmp(encoding, "identity") == 0)) {
        encoding = NULL;
    }
    if (s->cache) {
        cv__cache_drop(s->cache, norm);
    }
    if (!(s->ops->flags & CV_STORE_SUFFIXES)) {
        return s->ops->put(s, norm, data, len, encoding, content_type);
    }
    char name[KEY_CAP + 8];
    const char *suffix = NULL;
    for (size_t i = 0; i < N_SUFFIXES; i++) {
        if (encoding && strcmp(suffixes[i].encoding, encoding) == 0) {
            suffix = suffixes[i].suffix;
        }
    }
    if (encoding && !suffix) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       "Content-Encoding `%s' has no file name suffix in CloudFiles' layout",
                       encoding);
    }
    if (!suffix) {
        suffix = "";
    }
    snprintf(name, sizeof name, "%s%s", norm, suffix);
    cv_status rc = s->ops->put(s, name, data, len, NULL, content_type);
    /* Drop stale variants so readers, which try the plain name first, see this one. */
    for (size_t i = 0; rc == CV_OK && i <= N_SUFFIXES; i++) {
        const char *other = i ? suffixes[i - 1].suffix : "";
        if (strcmp(other, suffix) != 0) {
            snprintf(name, sizeof name, "%s%s", norm, other);
            rc = s->ops->del(s, name);
        }
    }
    return rc;
}

cv_status cv_store_put(cv_store *s, const char *key, const void *data, size_t len,
                       const char *compress, int level, const char *content_type)
{
    char norm[KEY_CAP];
    CV_TRY(cv__store_check_key(s, key, norm, sizeof norm));
    const char *encoding = NULL;
    cv_buf packed;
    cv__buf_init(&packed, 0);
    if (compress && *compress) {
        const cv_compressor *c = cv__compressor_find(compress);
        if (!c) {
            return CV_FAIL(CV_ERR_UNSUPPORTED,
                           "write `%s' in %s: compression `%s' is not supported", norm, s->url,
                           compress);
        }
        cv_status rc = c->compress(level, data, len, &packed);
        if (rc != CV_OK) {
            cv__buf_fini(&packed);
            cv__err_wrap("write `%s' in %s", norm, s->url);
            return rc;
        }
        encoding = c->name;
        data = packed.data;
        len = packed.len;
    }
    cv_status rc = put_stored(s, norm, data, len, encoding, content_type);
    cv__buf_fini(&packed);
    if (rc != CV_OK) {
        cv__err_wrap("write `%s' in %s", norm, s->url);
    }
    return rc;
}

cv_status cv__store_put_pieces(cv_store *s, const char *key, cv_store_pieces next, void *arg,
                               const char *content_type)
{
    char norm[KEY_CAP];
    CV_TRY(cv__store_check_key(s, key, norm, sizeof norm));
    cv_status rc = CV_OK;
    if (s->cache) {
        cv__cache_drop(s->cache, norm);
    }
    if (s->ops->put_pieces) {
        rc = s->ops->put_pieces(s, norm, next, arg, content_type);
        /* Drop stale variants, as put_stored does. */
        char name[KEY_CAP + 8];
        for (size_t i = 0; rc == CV_OK && (s->ops->flags & CV_STORE_SUFFIXES) && i < N_SUFFIXES;
             i++) {
            snprintf(name, sizeof name, "%s%s", norm, suffixes[i].suffix);
            rc = s->ops->del(s, name);
        }
    } else {
        cv_buf all; /* one part as large as the object: never sent in parts */
        cv__buf_init(&all, 0);
        rc = cv__store_gather_parts(next, arg, SIZE_MAX, &all, NULL, NULL);
        if (rc == CV_OK) {
            rc = put_stored(s, norm, all.data, all.len, NULL, content_type);
        }
        cv__buf_fini(&all);
    }
    if (rc != CV_OK) {
        cv__err_wrap("write `%s' in %s", norm, s->url);
    }
    return rc;
}

bool cv__store_streams(const cv_store *s)
{
    return s->ops->put_pieces != NULL;
}

/* The backend of a scheme ("s3"), or NULL. */
static const cv_store_ops *scheme_ops(const char *scheme)
{
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        if (strcmp(schemes[i].scheme, scheme) == 0) {
            return schemes[i].ops;
        }
    }
    return NULL;
}

bool cv__url_streams(const char *url)
{
    cv_cloudpath p;
    if (cv__cloudpath_parse(url, &p) != CV_OK) {
        cv_err_clear();
        return false;
    }
    const cv_store_ops *ops = scheme_ops(p.protocol);
    cv__cloudpath_fini(&p);
    return ops && ops->put_pieces;
}

#define MIB ((size_t)1 << 20)

static atomic_bool part_warned; /* a bad CV_UPLOAD_PART_BYTES is said once */

size_t cv__store_part_bytes(const char *scheme)
{
    const cv_store_ops *ops = scheme_ops(scheme);
    if (!ops || !ops->put_pieces || strcmp(scheme, "file") == 0) {
        return 0;
    }
    size_t part = 8 * MIB;
    const char *env = getenv("CV_UPLOAD_PART_BYTES");
    if (env && *env) {
        char *end = NULL;
        unsigned long long v = strtoull(env, &end, 10);
        unsigned long long unit = *end == 'K'   ? 1024
                                  : *end == 'M' ? MIB
                                  : *end == 'G' ? 1024 * MIB
                                                : 1;
        if (unit > 1) {
            end++;
        }
        if (end != env && *end == '\0' && v > 0 && v <= 4 * 1024 * MIB / unit) {
            part = (size_t)(v * unit);
        } else if (!atomic_exchange(&part_warned, true)) {
            CV_LOG(CV_LOG_WARN, "CV_UPLOAD_PART_BYTES=%s is not a size of at most 4G: parts of 8M",
                   env);
        }
    }
    if (strcmp(scheme, "s3") == 0 && part < 5 * MIB) {
        part = 5 * MIB; /* S3 refuses smaller parts (EntityTooSmall), but for the last */
    }
    if (strcmp(scheme, "gs") == 0) {
        /* GCS takes the chunks of a resumable upload in multiples of 256 KiB. */
        part = part < 256 * 1024 ? 256 * 1024 : part / (256 * 1024) * (256 * 1024);
    }
    return part;
}

size_t cv__url_part_bytes(const char *url)
{
    cv_cloudpath p;
    if (cv__cloudpath_parse(url, &p) != CV_OK) {
        cv_err_clear();
        return 0;
    }
    size_t part = cv__store_part_bytes(p.protocol);
    cv__cloudpath_fini(&p);
    return part;
}

cv_status cv__store_gather_parts(cv_store_pieces next, void *arg, size_t part, cv_buf *buf,
                                 cv_store_part_fn send, void *ctx)
{
    cv_status rc = CV_OK;
    while (rc == CV_OK) {
        const void *piece = NULL;
        size_t n = 0;
        rc = next(arg, &piece, &n);
        if (rc != CV_OK || n == 0) {
            break;
        }
        const uint8_t *p = piece;
        while (rc == CV_OK && n > 0) {
            if (buf->len == part) { /* more follows: this part is not the last */
                rc = send(ctx, buf->data, buf->len);
                buf->len = 0;
                continue;
            }
            size_t take = part - buf->len < n ? part - buf->len : n;
            rc = cv__buf_append(buf, p, take);
            p += take;
            n -= take;
        }
    }
    return rc;
}

cv_status cv__store_put_raw(cv_store *s, const char *key, const void *data, size_t len,
                            const char *encoding, const char *content_type)
{
    char norm[KEY_CAP];
    CV_TRY(cv__store_check_key(s, key, norm, sizeof norm));
    cv_status rc = put_stored(s, norm, data, len, encoding, content_type);
    if (rc != CV_OK) {
        cv__err_wrap("write `%s' in %s", norm, s->url);
    }
    return rc;
}

cv_status cv_store_exists(cv_store *s, const char *key, bool *yes)
{
    char norm[KEY_CAP];
    CV_TRY(cv__store_check_key(s, key, norm, sizeof norm));
    if (!(s->ops->flags & CV_STORE_SUFFIXES)) {
        return s->ops->exists(s, norm, yes);
    }
    char name[KEY_CAP + 8];
    for (size_t i = 0; i <= N_SUFFIXES; i++) {
        snprintf(name, sizeof name, "%s%s", norm, i ? suffixes[i - 1].suffix : "");
        bool found = false;
        CV_TRY(s->ops->exists(s, name, &found));
        if (found) {
            *yes = true;
            return CV_OK;
        }
    }
    *yes = false;
    return CV_OK;
}

cv_status cv_store_delete(cv_store *s, const char *key)
{
    char norm[KEY_CAP];
    CV_TRY(cv__store_check_key(s, key, norm, sizeof norm));
    if (s->cache) {
        cv__cache_drop(s->cache, norm);
    }
    if (!(s->ops->flags & CV_STORE_SUFFIXES)) {
        return s->ops->del(s, norm);
    }
    char name[KEY_CAP + 8];
    for (size_t i = 0; i <= N_SUFFIXES; i++) {
        snprintf(name, sizeof name, "%s%s", norm, i ? suffixes[i - 1].suffix : "");
        CV_TRY(s->ops->del(s, name));
    }
    return CV_OK;
}

typedef struct name_list {
    char **names;
    size_t n, cap;
    bool strip;
} name_list;

static cv_status collect(const char *name, void *arg)
{
    name_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **grown = cv_realloc(l->names, sizeof *grown * cap);
        if (!grown) {
            return CV_FAIL(CV_ERR_NOMEM, "list");
        }
        l->names = grown;
        l->cap = cap;
    }
    char *copy = cv__strdup(name);
    if (!copy) {
        return CV_FAIL(CV_ERR_NOMEM, "list");
    }
    for (size_t i = 0; l->strip && i < N_SUFFIXES; i++) {
        if (cv__str_ends_with(copy, suffixes[i].suffix)) {
            copy[strlen(copy) - strlen(suffixes[i].suffix)] = '\0';
            break;
        }
    }
    l->names[l->n++] = copy;
    return CV_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every name the backend lists under `prefix` (checked and normalised into norm), sorted. With
 * is_level, one level through the backend's list_level where it has one. */
static cv_status list_sorted(cv_store *s, const char *prefix, bool is_level, char *norm,
                             name_list *l)
{
    norm[0] = '\0';
    if (prefix && *prefix) {
        CV_TRY(cv__store_check_key(s, prefix, norm, KEY_CAP - 1));
        if (cv__str_ends_with(prefix, "/")) {
            strcat(norm, "/");
        }
    }
    cv_status rc = is_level && s->ops->list_level ? s->ops->list_level(s, norm, collect, l)
                                                  : s->ops->list(s, norm, collect, l);
    if (rc == CV_OK && l->n > 1) { /* l->names is NULL when nothing was listed */
        qsort(l->names, l->n, sizeof *l->names, cmp_str);
    }
    return rc;
}

static void free_names(name_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        cv_free(l->names[i]);
    }
    cv_free(l->names);
}

cv_status cv_store_list(cv_store *s, const char *prefix,
                        cv_status (*fn)(const char *key, void *arg), void *arg)
{
    name_list l = {NULL, 0, 0, (s->ops->flags & CV_STORE_SUFFIXES) != 0};
    char norm[KEY_CAP];
    cv_status rc = list_sorted(s, prefix, false, norm, &l);
    for (size_t i = 0; rc == CV_OK && i < l.n; i++) {
        if (i == 0 || strcmp(l.names[i], l.names[i - 1]) != 0) {
            rc = fn(l.names[i], arg);
        }
    }
    free_names(&l);
    return rc;
}

cv_status cv__store_list_level(cv_store *s, const char *prefix,
                               cv_status (*fn)(const char *key, void *arg), void *arg)
{
    name_list l = {NULL, 0, 0, (s->ops->flags & CV_STORE_SUFFIXES) != 0};
    char norm[KEY_CAP];
    cv_status rc = list_sorted(s, prefix, true, norm, &l);
    size_t np = strlen(norm);
    const char *shown = NULL; /* the last name or directory handed to fn */
    size_t shown_len = 0;
    for (size_t i = 0; rc == CV_OK && i < l.n; i++) {
        char *name = l.names[i];
        /* Cut below the first '/' after the prefix: "a/b/c" under "a/" is "a/b/". Names come
         * sorted, so everything under one directory is adjacent. */
        const char *slash = strlen(name) > np ? strchr(name + np, '/') : NULL;
        size_t len = slash ? (size_t)(slash - name) + 1 : strlen(name);
        if (shown && shown_len == len && memcmp(shown, name, len) == 0) {
            continue;
        }
        char saved = name[len];
        name[len] = '\0';
        rc = fn(name, arg);
        name[len] = saved;
        shown = name;
        shown_len = len;
    }
    free_names(&l);
    return rc;
}

cv_status cv__store_copy(cv_store *src, const char *src_key, cv_store *dst, const char *dst_key,
                         const char *compress, int level, const char *content_type)
{
    cv_buf raw, plain;
    cv__buf_init(&raw, 0);
    cv__buf_init(&plain, (size_t)16 << 30);
    char encoding[32];
    cv_status rc = cv__store_get_raw(src, src_key, &raw, encoding, sizeof encoding);
    if (rc == CV_OK && compress && strcmp(compress, "gz") == 0) {
        compress = "gzip";
    }
    if (rc != CV_OK) {
        /* the error names the key and the store */
    } else if (!compress || strcmp(compress, encoding) == 0) {
        /* Same compression: the stored bytes travel as they are, never recompressed. */
        rc = cv__store_put_raw(dst, dst_key, raw.data, raw.len, encoding, content_type);
    } else {
        const cv_buf *from = &raw;
        if (encoding[0]) {
            rc = decompress(encoding, src_key, src, &raw, &plain);
            from = &plain;
        }
        if (rc == CV_OK) {
            rc = cv_store_put(dst, dst_key, from->data, from->len, compress, level, content_type);
        }
    }
    cv__buf_fini(&raw);
    cv__buf_fini(&plain);
    return rc;
}

typedef struct del_job {
    cv_store *s;
    char **names; /* checked keys */
    size_t n;
    size_t batch; /* keys per del_many request */
} del_job;

/* Keys per batched delete: the backend's limit, or fewer with CV_DELETE_BATCH (tests: many
 * batches without thousands of objects). */
static size_t del_batch_size(const cv_store *s)
{
    /* by name: in the full program the table is the remote storage module's own */
    size_t limit = strcmp(s->ops->name, "gs") == 0 ? CV_STORE_GCS_DEL_BATCH : CV_STORE_DEL_BATCH;
    const char *e = getenv("CV_DELETE_BATCH");
    long v = e ? atol(e) : 0;
    return v > 0 && (size_t)v < limit ? (size_t)v : limit;
}

static cv_status del_batch(size_t i, int tid, void *arg)
{
    (void)tid;
    const del_job *j = arg;
    size_t first = i * j->batch;
    size_t count = j->n - first < j->batch ? j->n - first : j->batch;
    cv_status rc = j->s->ops->del_many(j->s, (const char *const *)j->names + first, count);
    if (rc != CV_OK) {
        cv__err_wrap("delete %zu objects from %s", count, j->s->url);
    }
    return rc;
}

static cv_status del_one(size_t i, int tid, void *arg)
{
    (void)tid;
    const del_job *j = arg;
    return cv_store_delete(j->s, j->names[i]);
}

cv_status cv__store_delete_many(cv_store *s, const char *const *keys, size_t n, int threads)
{
    if (n == 0) {
        return CV_OK;
    }
    threads = threads < 1 ? 1 : threads;
    del_job j = {s, cv_calloc(n, sizeof(char *)), n, del_batch_size(s)};
    if (!j.names) {
        return CV_FAIL(CV_ERR_NOMEM, "delete %zu objects from %s", n, s->url);
    }
    cv_status rc = CV_OK;
    for (size_t i = 0; i < n && rc == CV_OK; i++) {
        char norm[KEY_CAP];
        rc = cv__store_check_key(s, keys[i], norm, sizeof norm);
        if (rc == CV_OK) {
            j.names[i] = cv__strdup(norm);
            rc = j.names[i] ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "delete `%s'", keys[i]);
        }
    }
    for (size_t i = 0; rc == CV_OK && s->cache && i < n; i++) {
        cv__cache_drop(s->cache, j.names[i]);
    }
    if (rc == CV_OK && s->ops->del_many) {
        size_t n_batches = (n + j.batch - 1) / j.batch;
        rc = cv__parallel_for(n_batches, threads, del_batch, &j);
    } else if (rc == CV_OK) {
        rc = cv__parallel_for(n, threads, del_one, &j);
    }
    for (size_t i = 0; i < n; i++) {
        cv_free(j.names[i]);
    }
    cv_free(j.names);
    return rc;
}

cv_status cv__store_remove_stale_temps(cv_store *s, const char *prefix, double age_s,
                                       cv_temp_filter filter, void *arg, size_t *removed)
{
    if (s->ops != &cv_store_file) {
        return CV_OK;
    }
    char norm[KEY_CAP] = "";
    if (*prefix) {
        CV_TRY(cv__store_check_key(s, prefix, norm, sizeof norm));
    }
    return cv__file_store_remove_stale(s, norm, age_s, filter, arg, removed);
}

cv_status cv__store_head(cv_store *s, const char *key, cv_store_meta *m)
{
    char norm[KEY_CAP];
    CV_TRY(cv__store_check_key(s, key, norm, sizeof norm));
    memset(m, 0, sizeof *m);
    m->size = -1;
    if (!(s->ops->flags & CV_STORE_SUFFIXES)) {
        cv_status rc = s->ops->head(s, norm, m);
        if (rc == CV_OK && strcmp(m->encoding, "identity") == 0) {
            m->encoding[0] = '\0';
        }
        return rc;
    }
    char name[KEY_CAP + 8];
    cv_status rc = CV_ERR_NOTFOUND;
    for (size_t i = 0; i <= N_SUFFIXES && rc == CV_ERR_NOTFOUND; i++) {
        snprintf(name, sizeof name, "%s%s", norm, i ? suffixes[i - 1].suffix : "");
        rc = s->ops->head(s, name, m);
        if (rc == CV_OK && i) {
            snprintf(m->encoding, sizeof m->encoding, "%s", suffixes[i - 1].encoding);
        }
    }
    if (rc == CV_ERR_NOTFOUND) {
        return cv__notfound("`%s' not found in %s", norm, s->url);
    }
    return rc;
}

typedef struct sized_entry {
    char *name;
    uint64_t size;
} sized_entry;

typedef struct sized_list {
    sized_entry *e;
    size_t n, cap;
} sized_list;

static cv_status collect_sized(const char *name, uint64_t size, void *arg)
{
    sized_list *l = arg;
    if (size == UINT64_MAX) {
        return CV_OK; /* a subdirectory: not asked for */
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        sized_entry *grown = cv_realloc(l->e, sizeof *grown * cap);
        if (!grown) {
            return CV_FAIL(CV_ERR_NOMEM, "list");
        }
        l->e = grown;
        l->cap = cap;
    }
    l->e[l->n].name = cv__strdup(name);
    if (!l->e[l->n].name) {
        return CV_FAIL(CV_ERR_NOMEM, "list");
    }
    l->e[l->n++].size = size;
    return CV_OK;
}

static int cmp_sized(const void *a, const void *b)
{
    return strcmp(((const sized_entry *)a)->name, ((const sized_entry *)b)->name);
}

typedef struct head_each {
    cv_store *s;
    cv_store_sized_fn fn;
    void *arg;
} head_each;

/* For stores whose listing has no sizes (file://, mem://): one head per name. */
static cv_status size_by_head(const char *key, void *arg)
{
    const head_each *h = arg;
    cv_store_meta m;
    CV_TRY(cv__store_head(h->s, key, &m));
    return h->fn(key, m.size < 0 ? 0 : (uint64_t)m.size, h->arg);
}

cv_status cv__store_list_sizes(cv_store *s, const char *prefix, cv_store_sized_fn fn, void *arg)
{
    if (!s->ops->list_sized) {
        head_each h = {s, fn, arg};
        return cv_store_list(s, prefix, size_by_head, &h);
    }
    char norm[KEY_CAP] = "";
    if (prefix && *prefix) {
        CV_TRY(cv__store_check_key(s, prefix, norm, KEY_CAP - 1));
        if (cv__str_ends_with(prefix, "/")) {
            strcat(norm, "/");
        }
    }
    sized_list l = {NULL, 0, 0};
    cv_status rc = s->ops->list_sized(s, norm, collect_sized, &l);
    if (rc == CV_OK && l.n > 1) {
        qsort(l.e, l.n, sizeof *l.e, cmp_sized);
    }
    for (size_t i = 0; rc == CV_OK && i < l.n; i++) {
        if (i == 0 || strcmp(l.e[i].name, l.e[i - 1].name) != 0) {
            rc = fn(l.e[i].name, l.e[i].size, arg);
        }
    }
    for (size_t i = 0; i < l.n; i++) {
        cv_free(l.e[i].name);
    }
    cv_free(l.e);
    return rc;
}
