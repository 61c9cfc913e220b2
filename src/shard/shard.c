/* SPDX-License-Identifier: BSD-3-Clause
 * shard.c: reading the sharded format neuroglancer_uint64_sharded_v1 (precomputed-sharded
 * §1-§3, https://github.com/google/neuroglancer/blob/master/src/datasource/precomputed/
 * sharded.md): the "sharding" JSON object, key -> (shard, minishard), shard index and
 * delta-coded minishard indexes with every offset checked, a reader that uses byte-range
 * requests only, and a bounded process-wide cache of decoded indexes. Writing lives in
 * shard_write.c. No MPI here. */
#include "shard/shard.h"

#include "compress/compress.h"
#include "io/store.h"
#include "base/json_py.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SHARD_TYPE "neuroglancer_uint64_sharded_v1"
#define DEFAULT_MAX ((size_t)4 << 30)
/* Ranges longer than this are first probed at their last byte, so a corrupt length never
 * allocates more than the file really has. */
#define PROBE_MIN ((uint64_t)1 << 20)
/* Shard index entries per cached block: 8 KiB, the whole index of CloudVolume's defaults. */
#define BLOCK_ENTRIES 512u
#define CACHE_BUCKETS 4096u
#define CACHE_MAX_ENTRIES 4096u
#define CACHE_MAX_BYTES ((size_t)64 << 20)

/* ---- spec ---------------------------------------------------------------------------------- */

uint64_t cv__mask64(int bits)
{
    return bits >= 64 ? UINT64_MAX : (((uint64_t)1 << bits) - 1);
}

uint64_t cv__shard_index_bytes(const cv_shard_spec *s)
{
    return (uint64_t)16 << s->minishard_bits;
}

/* A power-of-two byte count as "64 GiB", "256 MiB", "8 KiB", "16 bytes". */
static void format_pow2_bytes(uint64_t n, char *buf, size_t cap)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (u < 6 && n >= 1024 && n % 1024 == 0) {
        n /= 1024;
        u++;
    }
    snprintf(buf, cap, "%" PRIu64 " %s", n, units[u]);
}

cv_status cv__shard_check_write_index(const cv_shard_spec *s, const char *what, uint64_t budget,
                                      const char *budget_name)
{
    uint64_t bytes = cv__shard_index_bytes(s);
    bool over_budget = budget && bytes > budget;
    if (bytes <= CV_SHARD_MAX_WRITE_INDEX && !over_budget) {
        return CV_OK;
    }
    char size[32], limit[32];
    format_pow2_bytes(bytes, size, sizeof size);
    if (over_budget && budget < CV_SHARD_MAX_WRITE_INDEX) {
        return CV_FAIL(CV_ERR_INFO,
                       "%s: sharding minishard_bits %d makes a %s shard index per shard file, "
                       "which its writer holds: more than the memory budget of %.2f MB per rank "
                       "(from %s)",
                       what, s->minishard_bits, size, (double)budget / 1e6,
                       budget_name ? budget_name : "--memory");
    }
    format_pow2_bytes(CV_SHARD_MAX_WRITE_INDEX, limit, sizeof limit);
    return CV_FAIL(CV_ERR_INFO,
                   "%s: sharding minishard_bits %d makes a %s shard index per shard file (writing "
                   "allows at most %s, minishard_bits %d)",
                   what, s->minishard_bits, size, limit, CV_SHARD_MAX_WRITE_MINISHARD_BITS);
}

cv_status cv_shard_spec_validate(const cv_shard_spec *s)
{
    if (s->preshift_bits < 0 || s->preshift_bits > 64) {
        return CV_FAIL(CV_ERR_INFO, "sharding: `preshift_bits' must be 0..64, got %d",
                       s->preshift_bits);
    }
    if (s->minishard_bits < 0 || s->minishard_bits > 32) {
        return CV_FAIL(CV_ERR_INFO, "sharding: `minishard_bits' must be 0..32, got %d",
                       s->minishard_bits);
    }
    if (s->shard_bits < 0 || s->shard_bits > 64 - s->minishard_bits) {
        return CV_FAIL(CV_ERR_INFO,
                       "sharding: `shard_bits' must be 0..%d (minishard_bits + shard_bits <= 64), "
                       "got %d",
                       64 - s->minishard_bits, s->shard_bits);
    }
    if (s->hash != CV_SHARD_HASH_IDENTITY && s->hash != CV_SHARD_HASH_MURMURHASH3_X86_128) {
        return CV_FAIL(CV_ERR_INFO, "sharding: `hash' %d is not a known hash", (int)s->hash);
    }
    if (s->minishard_index_encoding != CV_SHARD_RAW &&
        s->minishard_index_encoding != CV_SHARD_GZIP) {
        return CV_FAIL(CV_ERR_INFO, "sharding: `minishard_index_encoding' %d is not raw or gzip",
                       (int)s->minishard_index_encoding);
    }
    if (s->data_encoding != CV_SHARD_RAW && s->data_encoding != CV_SHARD_GZIP) {
        return CV_FAIL(CV_ERR_INFO, "sharding: `data_encoding' %d is not raw or gzip",
                       (int)s->data_encoding);
    }
    return CV_OK;
}

static cv_status get_bits(const cJSON *root, const char *what, const char *name, int max, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v) {
        return CV_FAIL(CV_ERR_INFO, "%s: `%s' is missing", what, name);
    }
    if (!cv__json_is_int(v) || v->valuedouble < 0 || v->valuedouble > max) {
        char *text = cJSON_PrintUnformatted(v);
        cv_status rc = CV_FAIL(CV_ERR_INFO, "%s: `%s' must be an integer 0..%d, got %s", what, name,
                               max, text ? text : "?");
        cJSON_free(text);
        return rc;
    }
    *out = (int)v->valuedouble;
    return CV_OK;
}

static cv_status get_encoding(const cJSON *root, const char *what, const char *name,
                              cv_shard_encoding *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v) {
        *out = CV_SHARD_RAW; /* NG, TS and CV all default to raw */
        return CV_OK;
    }
    if (cJSON_IsString(v) && strcasecmp(v->valuestring, "raw") == 0) {
        *out = CV_SHARD_RAW;
    } else if (cJSON_IsString(v) && strcasecmp(v->valuestring, "gzip") == 0) {
        *out = CV_SHARD_GZIP;
    } else {
        char *text = cJSON_PrintUnformatted(v);
        cv_status rc = CV_FAIL(CV_ERR_INFO, "%s: `%s' must be \"raw\" or \"gzip\", got %s", what,
                               name, text ? text : "?");
        cJSON_free(text);
        return rc;
    }
    return CV_OK;
}

static cv_status spec_from_json(const cJSON *root, const char *what, cv_shard_spec *s)
{
    if (!cJSON_IsObject(root)) {
        return CV_FAIL(CV_ERR_INFO, "%s: not a JSON object", what);
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "@type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, SHARD_TYPE) != 0) {
        char *text = type ? cJSON_PrintUnformatted(type) : NULL;
        cv_status rc = CV_FAIL(CV_ERR_INFO, "%s: `@type' must be \"" SHARD_TYPE "\", got %s", what,
                               text ? text : "nothing");
        cJSON_free(text);
        return rc;
    }
    CV_TRY(get_bits(root, what, "preshift_bits", 64, &s->preshift_bits));
    CV_TRY(get_bits(root, what, "minishard_bits", 32, &s->minishard_bits));
    CV_TRY(get_bits(root, what, "shard_bits", 64, &s->shard_bits));
    if (s->minishard_bits + s->shard_bits > 64) {
        return CV_FAIL(CV_ERR_INFO, "%s: `shard_bits' %d + `minishard_bits' %d must not exceed 64",
                       what, s->shard_bits, s->minishard_bits);
    }
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(root, "hash");
    if (!hash) {
        return CV_FAIL(CV_ERR_INFO, "%s: `hash' is missing", what);
    }
    if (cJSON_IsString(hash) && strcasecmp(hash->valuestring, "identity") == 0) {
        s->hash = CV_SHARD_HASH_IDENTITY;
    } else if (cJSON_IsString(hash) && strcasecmp(hash->valuestring, "murmurhash3_x86_128") == 0) {
        s->hash = CV_SHARD_HASH_MURMURHASH3_X86_128;
    } else {
        char *text = cJSON_PrintUnformatted(hash);
        cv_status rc = CV_FAIL(CV_ERR_INFO,
                               "%s: `hash' must be \"identity\" or \"murmurhash3_x86_128\", got %s",
                               what, text ? text : "?");
        cJSON_free(text);
        return rc;
    }
    CV_TRY(get_encoding(root, what, "minishard_index_encoding", &s->minishard_index_encoding));
    CV_TRY(get_encoding(root, what, "data_encoding", &s->data_encoding));
    return CV_OK;
}

cv_status cv_shard_spec_parse(const char *json, size_t len, const char *what, cv_shard_spec *out)
{
    if (!what) {
        what = "sharding";
    }
    cJSON *root = NULL;
    CV_TRY(cv__json_parse(json, len, what, &root));
    cv_shard_spec s;
    memset(&s, 0, sizeof s);
    cv_status rc = spec_from_json(root, what, &s);
    cJSON_Delete(root);
    if (rc == CV_OK) {
        *out = s;
    }
    return rc;
}

cv_status cv_shard_spec_to_json(const cv_shard_spec *s, char **out, size_t *len)
{
    CV_TRY(cv_shard_spec_validate(s));
    static const char *const enc[] = {"raw", "gzip"};
    char *text = cv__asprintf(
        "{\"@type\": \"" SHARD_TYPE "\", \"data_encoding\": \"%s\", \"hash\": \"%s\", "
        "\"minishard_bits\": %d, \"minishard_index_encoding\": \"%s\", \"preshift_bits\": %d, "
        "\"shard_bits\": %d}",
        enc[s->data_encoding],
        s->hash == CV_SHARD_HASH_IDENTITY ? "identity" : "murmurhash3_x86_128", s->minishard_bits,
        enc[s->minishard_index_encoding], s->preshift_bits, s->shard_bits);
    if (!text) {
        return CV_FAIL(CV_ERR_NOMEM, "format sharding JSON");
    }
    *out = text;
    *len = strlen(text);
    return CV_OK;
}

void cv_shard_locate(const cv_shard_spec *s, uint64_t key, uint64_t *shard, uint64_t *minishard)
{
    uint64_t x = s->preshift_bits >= 64 ? 0 : key >> s->preshift_bits;
    uint64_t h = s->hash == CV_SHARD_HASH_MURMURHASH3_X86_128 ? cv_murmurhash3_u64(x, 0) : x;
    *minishard = h & cv__mask64(s->minishard_bits);
    *shard = (s->minishard_bits >= 64 ? 0 : h >> s->minishard_bits) & cv__mask64(s->shard_bits);
}

int cv_shard_file_name(const cv_shard_spec *s, uint64_t shard, char *buf, size_t cap)
{
    int width = (s->shard_bits + 3) / 4;
    return snprintf(buf, cap, "%0*" PRIx64 ".shard", width, shard);
}

/* ---- index parsing --------------------------------------------------------------------- */

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

cv_status cv__minishard_index_decode(const uint8_t *p, size_t n, uint64_t index_bytes,
                                     cv_shard_entry **out, size_t *count)
{
    if (n % 24 != 0) {
        return CV_FAIL(CV_ERR_CORRUPT, "invalid minishard index length %zu (not a multiple of 24)",
                       n);
    }
    size_t k = n / 24;
    /* Absolute ends must stay below 2^63: no file is larger, and off_t must hold them. */
    uint64_t limit = (uint64_t)INT64_MAX - index_bytes;
    cv_shard_entry *e = cv_malloc(k * sizeof *e);
    if (!e) {
        return CV_FAIL(CV_ERR_NOMEM, "allocate a minishard index of %zu entries", k);
    }
    uint64_t key = 0, prev_end = 0;
    for (size_t i = 0; i < k; i++) {
        uint64_t d_key = load64(p + 8 * i);
        uint64_t d_start = load64(p + 8 * (k + i));
        uint64_t size = load64(p + 8 * (2 * k + i));
        key += d_key; /* ids wrap mod 2^64: a "negative" delta is allowed (unsorted index) */
        uint64_t start = prev_end + d_start;
        if (start < prev_end) {
            cv_free(e);
            return CV_FAIL(CV_ERR_CORRUPT,
                           "minishard index entry %zu (key %" PRIu64 "): offset delta %" PRIu64
                           " wraps around (a negative or overlapping range)",
                           i, key, d_start);
        }
        uint64_t end = start + size;
        if (end < start || end > limit) {
            cv_free(e);
            return CV_FAIL(CV_ERR_CORRUPT,
                           "minishard index entry %zu (key %" PRIu64 "): range [%" PRIu64
                           ", %" PRIu64 " + %" PRIu64 ") lies beyond any possible file end",
                           i, key, start, start, size);
        }
        e[i].key = key;
        e[i].start = start;
        e[i].end = end;
        prev_end = end;
    }
    *out = e;
    *count = k;
    return CV_OK;
}

/* Stable merge sort by key, so that among equal keys the first in index order wins, as in
 * Neuroglancer's linear scan. */
static cv_status sort_entries(cv_shard_entry *e, size_t n)
{
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++) {
        sorted = e[i - 1].key <= e[i].key;
    }
    if (sorted) {
        return CV_OK;
    }
    cv_shard_entry *tmp = cv_malloc(n * sizeof *tmp);
    if (!tmp) {
        return CV_FAIL(CV_ERR_NOMEM, "sort a minishard index of %zu entries", n);
    }
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) {
                tmp[o++] = e[b].key < e[a].key ? e[b++] : e[a++];
            }
            while (a < mid) {
                tmp[o++] = e[a++];
            }
            while (b < hi) {
                tmp[o++] = e[b++];
            }
        }
        memcpy(e, tmp, n * sizeof *e);
    }
    cv_free(tmp);
    return CV_OK;
}

/* First entry with this key in a sorted index, or NULL. */
static const cv_shard_entry *find_entry(const cv_shard_entry *e, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e[mid].key < key) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && e[lo].key == key ? &e[lo] : NULL;
}

/* ---- the process-wide cache -------------------------------------------------------------- */

enum { KIND_BLOCK = 1, KIND_MINISHARD = 2 };

typedef struct cache_ent {
    struct cache_ent *chain;         /* next in the hash bucket */
    struct cache_ent *newer, *older; /* LRU list */
    uint64_t hash;
    uint64_t num; /* block number or minishard number */
    int kind;
    size_t bytes;
    size_t n;                /* pairs in a block, entries in a minishard */
    uint64_t *pairs;         /* KIND_BLOCK: start, end per shard index entry */
    cv_shard_entry *entries; /* KIND_MINISHARD: sorted by key */
    char *file;              /* "<store url>/<object key>" */
} cache_ent;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    cache_ent *buckets[CACHE_BUCKETS];
    cache_ent *newest, *oldest;
    size_t n, bytes;
} cache;
static atomic_uint_fast64_t n_reads, n_hits, n_misses;

static uint64_t ent_hash(const char *file, int kind, uint64_t num)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (const char *p = file; *p; p++) {
        h = (h ^ (uint8_t)*p) * 0x100000001b3u;
    }
    h = (h ^ (uint64_t)kind) * 0x100000001b3u;
    for (int i = 0; i < 8; i++) {
        h = (h ^ ((num >> (8 * i)) & 0xffu)) * 0x100000001b3u;
    }
    return h;
}

/* Caller holds the lock. The link that points at the entry, or NULL. */
static cache_ent **cache_find(uint64_t hash, const char *file, int kind, uint64_t num)
{
    for (cache_ent **l = &cache.buckets[hash % CACHE_BUCKETS]; *l; l = &(*l)->chain) {
        cache_ent *e = *l;
        if (e->hash == hash && e->kind == kind && e->num == num && strcmp(e->file, file) == 0) {
            return l;
        }
    }
    return NULL;
}

static void lru_unlink(cache_ent *e)
{
    if (e->newer) {
        e->newer->older = e->older;
    } else {
        cache.newest = e->older;
    }
    if (e->older) {
        e->older->newer = e->newer;
    } else {
        cache.oldest = e->newer;
    }
    e->newer = e->older = NULL;
}

static void lru_push(cache_ent *e)
{
    e->older = cache.newest;
    e->newer = NULL;
    if (cache.newest) {
        cache.newest->newer = e;
    } else {
        cache.oldest = e;
    }
    cache.newest = e;
}

static void ent_free(cache_ent *e)
{
    if (e) {
        cv_free(e->pairs);
        cv_free(e->entries);
        cv_free(e->file);
        cv_free(e);
    }
}

/* Caller holds the lock. */
static void cache_remove(cache_ent *e)
{
    cache_ent **l = cache_find(e->hash, e->file, e->kind, e->num);
    if (l) {
        *l = e->chain;
    }
    lru_unlink(e);
    cache.n--;
    cache.bytes -= e->bytes;
    ent_free(e);
}

static cache_ent *ent_new(const char *file, int kind, uint64_t num)
{
    cache_ent *e = cv_calloc(1, sizeof *e);
    if (!e) {
        return NULL;
    }
    e->file = cv__strdup(file);
    if (!e->file) {
        cv_free(e);
        return NULL;
    }
    e->kind = kind;
    e->num = num;
    e->hash = ent_hash(file, kind, num);
    return e;
}

/* Takes ownership of e. Another thread may have loaded the same entry meanwhile: keep one. */
static void cache_insert(cache_ent *e)
{
    e->bytes += sizeof *e + strlen(e->file) + 1;
    if (e->bytes > CACHE_MAX_BYTES / 4) {
        ent_free(e); /* too large to be worth evicting everything else for */
        return;
    }
    pthread_mutex_lock(&cache_lock);
    if (cache_find(e->hash, e->file, e->kind, e->num)) {
        pthread_mutex_unlock(&cache_lock);
        ent_free(e);
        return;
    }
    cache_ent **bucket = &cache.buckets[e->hash % CACHE_BUCKETS];
    e->chain = *bucket;
    *bucket = e;
    lru_push(e);
    cache.n++;
    cache.bytes += e->bytes;
    while (cache.oldest && (cache.n > CACHE_MAX_ENTRIES || cache.bytes > CACHE_MAX_BYTES)) {
        cache_remove(cache.oldest);
    }
    pthread_mutex_unlock(&cache_lock);
}

/* Caller holds the lock: look up and mark as recently used. */
static cache_ent *cache_get_locked(const char *file, int kind, uint64_t num)
{
    cache_ent **l = cache_find(ent_hash(file, kind, num), file, kind, num);
    if (!l) {
        atomic_fetch_add(&n_misses, 1);
        return NULL;
    }
    atomic_fetch_add(&n_hits, 1);
    lru_unlink(*l);
    lru_push(*l);
    return *l;
}

static bool cache_block_get(const char *file, uint64_t block, uint64_t idx, uint64_t pair[2])
{
    pthread_mutex_lock(&cache_lock);
    cache_ent *e = cache_get_locked(file, KIND_BLOCK, block);
    bool found = e && idx < e->n;
    if (found) {
        pair[0] = e->pairs[2 * idx];
        pair[1] = e->pairs[2 * idx + 1];
    }
    pthread_mutex_unlock(&cache_lock);
    return found;
}

static bool cache_minishard_find(const char *file, uint64_t m, uint64_t key, bool *present,
                                 cv_shard_entry *hit)
{
    pthread_mutex_lock(&cache_lock);
    cache_ent *e = cache_get_locked(file, KIND_MINISHARD, m);
    if (e) {
        const cv_shard_entry *x = find_entry(e->entries, e->n, key);
        *present = x != NULL;
        if (x) {
            *hit = *x;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    return e != NULL;
}

void cv__shard_cache_invalidate(const char *url, const char *key)
{
    char *file = cv__asprintf("%s/%s", url, key);
    pthread_mutex_lock(&cache_lock);
    cache_ent *e = cache.oldest;
    while (e) {
        cache_ent *next = e->newer;
        if (!file || strcmp(e->file, file) == 0) { /* out of memory: drop everything */
            cache_remove(e);
        }
        e = next;
    }
    pthread_mutex_unlock(&cache_lock);
    cv_free(file);
}

void cv_shard_cache_clear(void)
{
    pthread_mutex_lock(&cache_lock);
    while (cache.oldest) {
        cache_remove(cache.oldest);
    }
    pthread_mutex_unlock(&cache_lock);
}

void cv__shard_counters(cv_shard_counters *c)
{
    c->ranged_reads = atomic_load(&n_reads);
    c->cache_hits = atomic_load(&n_hits);
    c->cache_misses = atomic_load(&n_misses);
    pthread_mutex_lock(&cache_lock);
    c->cache_entries = cache.n;
    c->cache_bytes = cache.bytes;
    pthread_mutex_unlock(&cache_lock);
}

/* ---- one shard file: reads and messages -------------------------------------------------- */

typedef struct shard_file {
    cv_store *store; /* NULL when the whole file is in memory (cv_shard_decode) */
    const cv_shard_spec *spec;
    uint64_t index_bytes;       /* I: where the data section starts */
    char key[CV_SHARD_KEY_MAX]; /* object key in the store, or the caller's name */
    char *id;                   /* cache id "<url>/<key>" */
} shard_file;

static cv_status corrupt(const shard_file *f, const char *fmt, ...) CV_PRINTF(2, 3);
static cv_status corrupt(const shard_file *f, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (f->store) {
        return CV_FAIL(CV_ERR_CORRUPT, "shard `%s' in %s: %s", f->key, cv_store_url(f->store), msg);
    }
    return CV_FAIL(CV_ERR_CORRUPT, "shard `%s': %s", f->key, msg);
}

/* Put the shard file in front of a message recorded by a lower layer (gzip, index decoder). */
static void wrap(const shard_file *f, const char *part)
{
    if (f->store) {
        cv__err_wrap("shard `%s' in %s: %s", f->key, cv_store_url(f->store), part);
    } else {
        cv__err_wrap("shard `%s': %s", f->key, part);
    }
}

/* The shard files already warned about (capped: a warning per file, not per chunk). */
#define ZLIB_WARN_MAX 256
static pthread_mutex_t zlib_lock = PTHREAD_MUTEX_INITIALIZER;
static char *zlib_warned[ZLIB_WARN_MAX];
static size_t n_zlib_warned;

static void warn_zlib_once(const shard_file *f)
{
    const char *url = f->store ? cv_store_url(f->store) : "";
    char *name = cv__asprintf("%s%s%s", url, *url ? "/" : "", f->key);
    if (!name) {
        return;
    }
    bool is_new = true;
    pthread_mutex_lock(&zlib_lock);
    for (size_t i = 0; i < n_zlib_warned && is_new; i++) {
        is_new = strcmp(zlib_warned[i], name) != 0;
    }
    if (is_new && n_zlib_warned < ZLIB_WARN_MAX) {
        zlib_warned[n_zlib_warned++] = name;
        name = NULL;
    } else {
        is_new = false;
    }
    pthread_mutex_unlock(&zlib_lock);
    cv_free(name);
    if (is_new) {
        CV_LOG(CV_LOG_WARN,
               "shard `%s%s%s' holds zlib streams where its sharding says gzip (as "
               "neuroglancer-scripts writes them): read as zlib; CloudVolume and current "
               "Neuroglancer refuse them",
               url, *url ? "/" : "", f->key);
    }
}

/* "gzip" in a sharding spec: gzip, or the zlib streams neuroglancer-scripts writes, which
 * Neuroglancer's pako-based decoder read too (pako.inflate takes both). */
static cv_status shard_gunzip(const shard_file *f, const uint8_t *p, size_t n, cv_buf *out)
{
    if (cv__is_zlib_stream(p, n)) {
        warn_zlib_once(f);
        return cv__zlib_decompress(p, n, out);
    }
    return cv_compress_gzip.decompress(p, n, out);
}

static cv_status range_read(const shard_file *f, uint64_t off, uint64_t len, cv_buf *out)
{
    atomic_fetch_add(&n_reads, 1);
    size_t max = out->max;
    out->max = 0; /* callers check lengths before reading */
    cv_status rc = cv__store_get_range_into(f->store, f->key, off, len, out);
    out->max = max;
    return rc;
}

/* Read exactly [off, off + len) of the shard file, or fail as corrupt naming `part` if the
 * file ends earlier. NOTFOUND if the file is absent. */
static cv_status read_exact(const shard_file *f, uint64_t off, uint64_t len, const char *part,
                            cv_buf *out)
{
    out->len = 0;
    if (len == 0) {
        return CV_OK;
    }
    if (len > PROBE_MIN) {
        CV_TRY(range_read(f, off + len - 1, 1, out));
        if (out->len != 1) {
            return corrupt(f,
                           "%s at bytes [%" PRIu64 ", %" PRIu64 ") lies past the end of the file",
                           part, off, off + len);
        }
    }
    CV_TRY(range_read(f, off, len, out));
    if (out->len != len) {
        if (out->len == 0) {
            return corrupt(f,
                           "%s at bytes [%" PRIu64 ", %" PRIu64 ") lies past the end of the file "
                           "(which ends before byte %" PRIu64 ")",
                           part, off, off + len, off);
        }
        return corrupt(f,
                       "%s at bytes [%" PRIu64 ", %" PRIu64 ") lies past the end of the file "
                       "(%" PRIu64 " bytes)",
                       part, off, off + len, off + (uint64_t)out->len);
    }
    return CV_OK;
}

/* The shard index entry of minishard m: its index's byte range relative to I. */
static cv_status index_entry(const shard_file *f, uint64_t m, uint64_t pair[2])
{
    uint64_t block = m / BLOCK_ENTRIES, idx = m % BLOCK_ENTRIES;
    if (cache_block_get(f->id, block, idx, pair)) {
        return CV_OK;
    }
    uint64_t off = block * BLOCK_ENTRIES * 16;
    uint64_t want =
        f->index_bytes - off < BLOCK_ENTRIES * 16 ? f->index_bytes - off : BLOCK_ENTRIES * 16;
    cv_buf b;
    cv__buf_init(&b, 0);
    cv_status rc = range_read(f, off, want, &b);
    if (rc == CV_OK && b.len != want) {
        if (b.len == 0 && off > 0) {
            rc = corrupt(f,
                         "truncated shard index: the file ends before byte %" PRIu64
                         " but the index has %" PRIu64 " bytes",
                         off, f->index_bytes);
        } else {
            rc = corrupt(f,
                         "truncated shard index: the file has %" PRIu64
                         " bytes but the index has %" PRIu64,
                         off + (uint64_t)b.len, f->index_bytes);
        }
    }
    cache_ent *e = NULL;
    if (rc == CV_OK) {
        e = ent_new(f->id, KIND_BLOCK, block);
        if (e) {
            e->n = want / 16;
            e->pairs = cv_malloc(2 * e->n * sizeof *e->pairs);
        }
        if (!e || !e->pairs) {
            rc = CV_FAIL(CV_ERR_NOMEM, "cache a shard index");
        }
    }
    if (rc == CV_OK) {
        for (size_t i = 0; i < 2 * e->n; i++) {
            e->pairs[i] = load64(b.data + 8 * i);
        }
        e->bytes = 2 * e->n * sizeof *e->pairs;
        pair[0] = e->pairs[2 * idx];
        pair[1] = e->pairs[2 * idx + 1];
        cache_insert(e);
        e = NULL;
    }
    ent_free(e);
    cv__buf_fini(&b);
    return rc;
}

/* Check a shard index entry [start, end) against what any file could hold. */
static cv_status check_index_range(const shard_file *f, uint64_t m, const uint64_t pair[2])
{
    if (pair[1] < pair[0]) {
        return corrupt(f,
                       "minishard %" PRIu64 " index range [%" PRIu64 ", %" PRIu64 ") is negative",
                       m, pair[0], pair[1]);
    }
    if (pair[1] > (uint64_t)INT64_MAX - f->index_bytes) {
        return corrupt(f,
                       "minishard %" PRIu64 " index range [%" PRIu64 ", %" PRIu64
                       ") lies past the end of any possible file",
                       m, pair[0], pair[1]);
    }
    if (pair[1] - pair[0] > CV_SHARD_MAX_MINISHARD_INDEX) {
        return corrupt(f,
                       "minishard %" PRIu64 " index of %" PRIu64
                       " bytes is larger than the %" PRIu64 " bytes allowed",
                       m, pair[1] - pair[0], CV_SHARD_MAX_MINISHARD_INDEX);
    }
    return CV_OK;
}

/* Turn the encoded bytes of minishard m's index into sorted entries. */
static cv_status decode_minishard(const shard_file *f, uint64_t m, const uint8_t *p, size_t n,
                                  cv_shard_entry **entries, size_t *count, bool sort)
{
    char part[64];
    snprintf(part, sizeof part, "minishard %" PRIu64 " index", m);
    cv_buf dec;
    cv__buf_init(&dec, (size_t)CV_SHARD_MAX_MINISHARD_INDEX);
    cv_status rc = CV_OK;
    if (f->spec->minishard_index_encoding == CV_SHARD_GZIP) {
        rc = shard_gunzip(f, p, n, &dec);
        p = dec.data;
        n = dec.len;
    }
    if (rc == CV_OK) {
        rc = cv__minishard_index_decode(p, n, f->index_bytes, entries, count);
    }
    if (rc == CV_OK && sort) {
        rc = sort_entries(*entries, *count);
        if (rc != CV_OK) {
            cv_free(*entries);
        }
    }
    if (rc != CV_OK) {
        wrap(f, part);
    }
    cv__buf_fini(&dec);
    return rc;
}

/* Find `key` in minishard m, whose index lies at [pair[0], pair[1]) relative to I. */
static cv_status minishard_lookup(const shard_file *f, uint64_t m, const uint64_t pair[2],
                                  uint64_t key, cv_shard_entry *hit)
{
    bool present = false;
    if (!cache_minishard_find(f->id, m, key, &present, hit)) {
        char part[64];
        snprintf(part, sizeof part, "minishard %" PRIu64 " index", m);
        cv_buf enc;
        cv__buf_init(&enc, 0);
        cv_shard_entry *entries = NULL;
        size_t count = 0;
        cv_status rc = read_exact(f, f->index_bytes + pair[0], pair[1] - pair[0], part, &enc);
        if (rc == CV_OK) {
            rc = decode_minishard(f, m, enc.data, enc.len, &entries, &count, true);
        }
        cv__buf_fini(&enc);
        CV_TRY(rc);
        const cv_shard_entry *x = find_entry(entries, count, key);
        present = x != NULL;
        if (x) {
            *hit = *x;
        }
        cache_ent *e = ent_new(f->id, KIND_MINISHARD, m);
        if (e) {
            e->entries = entries;
            e->n = count;
            e->bytes = count * sizeof *entries;
            cache_insert(e);
        } else {
            cv_free(entries); /* not cached; the answer stands */
        }
    }
    if (!present) {
        return cv__notfound("key %" PRIu64 " not found in shard `%s' of %s", key, f->key,
                            cv_store_url(f->store));
    }
    return CV_OK;
}

/* Longest gzip stream that can decode to at most `max` bytes: deflate never grows data by more
 * than a few bytes per 16 KiB block, plus the gzip header and trailer. */
static uint64_t gzip_bound(size_t max)
{
    return (uint64_t)max + max / 64 + 1024;
}

/* ---- the reader ---------------------------------------------------------------------------- */

struct cv_shard_reader {
    cv_store *store;
    char *prefix; /* "" or "dir/" */
    cv_shard_spec spec;
};

cv_status cv__shard_object_key(const char *prefix, const cv_shard_spec *s, uint64_t shard,
                               char *buf, size_t cap)
{
    char name[40];
    cv_shard_file_name(s, shard, name, sizeof name);
    while (prefix && *prefix == '/') {
        prefix++;
    }
    size_t plen = prefix ? strlen(prefix) : 0;
    while (plen && prefix[plen - 1] == '/') {
        plen--;
    }
    int n = plen ? snprintf(buf, cap, "%.*s/%s", (int)plen, prefix, name)
                 : snprintf(buf, cap, "%s", name);
    if (n < 0 || (size_t)n >= cap) {
        return CV_FAIL(CV_ERR_ARG, "shard prefix `%s' is too long", prefix);
    }
    return CV_OK;
}

cv_status cv_shard_reader_open(cv_store *store, const char *prefix, const char *sharding_json,
                               cv_shard_reader **out)
{
    if (!store || !sharding_json) {
        return CV_FAIL(CV_ERR_ARG, "open shard reader: no store or sharding spec");
    }
    char *what = cv__asprintf("sharding of %s%s%s", cv_store_url(store),
                              prefix && *prefix ? "/" : "", prefix ? prefix : "");
    if (!what) {
        return CV_FAIL(CV_ERR_NOMEM, "open shard reader");
    }
    cv_shard_spec spec;
    cv_status rc = cv_shard_spec_parse(sharding_json, strlen(sharding_json), what, &spec);
    cv_free(what);
    CV_TRY(rc);
    cv_shard_reader *r = cv_calloc(1, sizeof *r);
    if (!r) {
        return CV_FAIL(CV_ERR_NOMEM, "open shard reader");
    }
    r->store = store;
    r->spec = spec;
    r->prefix = cv__strdup(prefix ? prefix : "");
    if (!r->prefix) {
        cv_free(r);
        return CV_FAIL(CV_ERR_NOMEM, "open shard reader");
    }
    *out = r;
    return CV_OK;
}

void cv_shard_reader_close(cv_shard_reader *r)
{
    if (r) {
        cv_free(r->prefix);
        cv_free(r);
    }
}

const cv_shard_spec *cv_shard_reader_spec(const cv_shard_reader *r)
{
    return &r->spec;
}

/* Where key's value lies in the shard file: [*off, *off + *len) from the file's start. */
static cv_status locate_value(const shard_file *f, uint64_t key, uint64_t *off, uint64_t *len)
{
    uint64_t shard, m;
    cv_shard_locate(f->spec, key, &shard, &m);
    uint64_t pair[2];
    cv_status rc = index_entry(f, m, pair);
    if (rc == CV_ERR_NOTFOUND) {
        return cv__notfound("key %" PRIu64 ": shard `%s' not found in %s", key, f->key,
                            cv_store_url(f->store));
    }
    CV_TRY(rc);
    if (pair[0] == pair[1]) {
        return cv__notfound("key %" PRIu64 " not found in shard `%s' of %s (empty minishard)", key,
                            f->key, cv_store_url(f->store));
    }
    CV_TRY(check_index_range(f, m, pair));
    cv_shard_entry hit = {0, 0, 0};
    CV_TRY(minishard_lookup(f, m, pair, key, &hit));
    *off = f->index_bytes + hit.start;
    *len = hit.end - hit.start;
    return CV_OK;
}

/* The stored bytes of key's value (`raw`, n bytes) decoded per data_encoding into out. */
static cv_status decode_value(const shard_file *f, uint64_t key, const uint8_t *raw, size_t n,
                              cv_buf *out)
{
    char part[64];
    snprintf(part, sizeof part, "chunk %" PRIu64, key);
    out->len = 0;
    if (f->spec->data_encoding == CV_SHARD_RAW) {
        if (n > out->max) {
            return corrupt(f, "%s of %zu bytes is larger than the %zu bytes allowed", part, n,
                           out->max);
        }
        return cv__buf_append(out, raw, n);
    }
    if (n > gzip_bound(out->max)) {
        return corrupt(f, "%s of %zu gzip bytes cannot decode to at most %zu bytes", part, n,
                       out->max);
    }
    cv_status rc = shard_gunzip(f, raw, n, out);
    if (rc != CV_OK) {
        wrap(f, part);
    }
    return rc;
}

/* Key's stored bytes at [off, off + len) of the file, read by one range (into scratch for
 * gzip) and decoded into out, whose max must be set. */
static cv_status read_stored_value(const shard_file *f, uint64_t key, uint64_t off, uint64_t len,
                                   cv_buf *out, cv_buf *scratch)
{
    char part[64];
    snprintf(part, sizeof part, "chunk %" PRIu64, key);
    if (f->spec->data_encoding == CV_SHARD_RAW) {
        if (len > out->max) {
            return corrupt(f, "%s of %" PRIu64 " bytes is larger than the %zu bytes allowed", part,
                           len, out->max);
        }
        return read_exact(f, off, len, part, out);
    }
    if (len > gzip_bound(out->max)) {
        return corrupt(f, "%s of %" PRIu64 " gzip bytes cannot decode to at most %zu bytes", part,
                       len, out->max);
    }
    CV_TRY(read_exact(f, off, len, part, scratch));
    return decode_value(f, key, scratch->data, scratch->len, out);
}

static cv_status read_value(const shard_file *f, uint64_t key, cv_buf *out, cv_buf *scratch)
{
    uint64_t off, len;
    CV_TRY(locate_value(f, key, &off, &len));
    return read_stored_value(f, key, off, len, out, scratch);
}

/* A shard_file view of the shard holding `key` (f->id allocated: free it). */
static cv_status open_file_of(cv_shard_reader *r, uint64_t key, shard_file *f)
{
    uint64_t shard, m;
    cv_shard_locate(&r->spec, key, &shard, &m);
    f->store = r->store;
    f->spec = &r->spec;
    f->index_bytes = cv__shard_index_bytes(&r->spec);
    CV_TRY(cv__shard_object_key(r->prefix, &r->spec, shard, f->key, sizeof f->key));
    f->id = cv__asprintf("%s/%s", cv_store_url(r->store), f->key);
    return f->id ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "read key %" PRIu64, key);
}

cv_status cv__shard_reader_locate(cv_shard_reader *r, uint64_t key, char *object, size_t cap,
                                  uint64_t *offset, uint64_t *length)
{
    shard_file f;
    CV_TRY(open_file_of(r, key, &f));
    cv_status rc = locate_value(&f, key, offset, length);
    if (rc == CV_OK) {
        snprintf(object, cap, "%s", f.key);
    }
    cv_free(f.id);
    return rc;
}

cv_status cv__shard_reader_decode(cv_shard_reader *r, uint64_t key, const uint8_t *raw, size_t n,
                                  cv_buf *out)
{
    shard_file f;
    CV_TRY(open_file_of(r, key, &f));
    size_t max = out->max;
    out->max = max ? max : DEFAULT_MAX;
    cv_status rc = decode_value(&f, key, raw, n, out);
    out->max = max;
    cv_free(f.id);
    return rc;
}

cv_status cv__shard_reader_value(cv_shard_reader *r, uint64_t key, const uint8_t *raw, size_t n,
                                 cv_buf *out, const uint8_t **value, size_t *len)
{
    size_t max = out->max ? out->max : DEFAULT_MAX;
    if (r->spec.data_encoding == CV_SHARD_RAW && n <= max) {
        *value = raw; /* stored as it is: no copy */
        *len = n;
        return CV_OK;
    }
    CV_TRY(cv__shard_reader_decode(r, key, raw, n, out));
    *value = out->data;
    *len = out->len;
    return CV_OK;
}

cv_status cv__shard_reader_get_into(cv_shard_reader *r, uint64_t key, cv_buf *out, cv_buf *scratch)
{
    shard_file f;
    CV_TRY(open_file_of(r, key, &f));
    size_t max = out->max;
    out->max = max ? max : DEFAULT_MAX;
    cv_status rc = read_value(&f, key, out, scratch);
    out->max = max;
    cv_free(f.id);
    return rc;
}

cv_status cv_shard_reader_get(cv_shard_reader *r, uint64_t key, size_t max_bytes, uint8_t **data,
                              size_t *len)
{
    cv_buf out, scratch;
    cv__buf_init(&out, max_bytes);
    cv__buf_init(&scratch, 0);
    cv_status rc = cv__shard_reader_get_into(r, key, &out, &scratch);
    cv__buf_fini(&scratch);
    if (rc != CV_OK) {
        cv__buf_fini(&out);
        return rc;
    }
    *data = cv__buf_take(&out, len);
    return CV_OK;
}

/* ---- one shard file, entry by entry (cvmpi shard ls) ---------------------------------------- */

/* Minishard m's index [pair[0], pair[1]) (relative to I) inside a file of file_size bytes,
 * which holds at least the shard index. */
static cv_status check_minishard_in_file(const shard_file *f, uint64_t m, const uint64_t pair[2],
                                         uint64_t file_size)
{
    CV_TRY(check_index_range(f, m, pair)); /* so I + pair[1] cannot wrap */
    if (pair[1] > file_size - f->index_bytes) {
        return corrupt(f,
                       "minishard %" PRIu64 " index at bytes [%" PRIu64 ", %" PRIu64
                       ") lies past the end of the file (%" PRIu64 " bytes)",
                       m, f->index_bytes + pair[0], f->index_bytes + pair[1], file_size);
    }
    return CV_OK;
}

/* An entry of minishard m (decoded: its end stays below 2^63 - I) inside the file. */
static cv_status check_entry_in_file(const shard_file *f, uint64_t m, const cv_shard_entry *e,
                                     uint64_t file_size)
{
    if (e->end > file_size - f->index_bytes) {
        return corrupt(f,
                       "minishard %" PRIu64 ": chunk %" PRIu64 " at bytes [%" PRIu64 ", %" PRIu64
                       ") lies past the end of the file (%" PRIu64 " bytes)",
                       m, e->key, f->index_bytes + e->start, f->index_bytes + e->end, file_size);
    }
    return CV_OK;
}

static cv_status truncated_index(const shard_file *f, uint64_t file_size)
{
    return corrupt(
        f, "truncated shard index: the file has %" PRIu64 " bytes but the index has %" PRIu64,
        file_size, f->index_bytes);
}

/* Hand out the entries of minishard m, whose index is at [pair[0], pair[1]) relative to I. */
static cv_status scan_minishard(const shard_file *f, uint64_t m, const uint64_t pair[2],
                                uint64_t file_size, cv_buf *enc,
                                cv_status (*fn)(const cv_shard_file_entry *e, void *arg), void *arg)
{
    CV_TRY(check_minishard_in_file(f, m, pair, file_size));
    char part[64];
    snprintf(part, sizeof part, "minishard %" PRIu64 " index", m);
    CV_TRY(read_exact(f, f->index_bytes + pair[0], pair[1] - pair[0], part, enc));
    cv_shard_entry *entries = NULL;
    size_t count = 0;
    CV_TRY(decode_minishard(f, m, enc->data, enc->len, &entries, &count, false));
    cv_status rc = CV_OK;
    for (size_t i = 0; rc == CV_OK && i < count; i++) {
        rc = check_entry_in_file(f, m, &entries[i], file_size);
        if (rc == CV_OK) {
            cv_shard_file_entry e = {m, entries[i].key, f->index_bytes + entries[i].start,
                                     entries[i].end - entries[i].start};
            rc = fn(&e, arg);
        }
    }
    cv_free(entries);
    return rc;
}

static void file_view(cv_store *store, const char *key, const cv_shard_spec *spec, shard_file *f)
{
    f->store = store;
    f->spec = spec;
    f->index_bytes = cv__shard_index_bytes(spec);
    f->id = NULL; /* never cached */
    snprintf(f->key, sizeof f->key, "%s", key);
}

cv_status cv__shard_file_scan(cv_store *store, const char *key, const cv_shard_spec *spec,
                              uint64_t file_size,
                              cv_status (*fn)(const cv_shard_file_entry *e, void *arg), void *arg)
{
    CV_TRY(cv_shard_spec_validate(spec));
    shard_file view, *f = &view;
    file_view(store, key, spec, f);
    cv_buf piece, enc;
    cv__buf_init(&piece, 0);
    cv__buf_init(&enc, 0);
    cv_status rc = file_size < f->index_bytes ? truncated_index(f, file_size) : CV_OK;
    /* The shard index a piece at a time: a 64 GiB index (minishard_bits 32) never sits in
     * memory, and its empty minishards cost one comparison each. */
    for (uint64_t off = 0; rc == CV_OK && off < f->index_bytes; off += CV_SHARD_SCAN_PIECE) {
        uint64_t want =
            f->index_bytes - off < CV_SHARD_SCAN_PIECE ? f->index_bytes - off : CV_SHARD_SCAN_PIECE;
        rc = read_exact(f, off, want, "shard index", &piece);
        for (uint64_t i = 0; rc == CV_OK && i < want / 16; i++) {
            uint64_t pair[2] = {load64(piece.data + 16 * i), load64(piece.data + 16 * i + 8)};
            if (pair[0] != pair[1]) {
                rc = scan_minishard(f, off / 16 + i, pair, file_size, &enc, fn, arg);
            }
        }
    }
    cv__buf_fini(&piece);
    cv__buf_fini(&enc);
    return rc;
}

cv_status cv__shard_file_read_entry(cv_store *store, const char *key, const cv_shard_spec *spec,
                                    const cv_shard_file_entry *e, cv_buf *out, cv_buf *scratch)
{
    shard_file view, *f = &view;
    file_view(store, key, spec, f);
    size_t max = out->max;
    out->max = max ? max : DEFAULT_MAX;
    cv_status rc = read_stored_value(f, e->key, e->offset, e->length, out, scratch);
    out->max = max;
    return rc;
}

/* ---- a whole shard file in memory ---------------------------------------------------------- */

cv_status cv_shard_decode(const cv_shard_spec *s, const uint8_t *file, size_t len, const char *what,
                          size_t max_bytes,
                          cv_status (*fn)(uint64_t key, const uint8_t *data, size_t n, void *arg),
                          void *arg)
{
    CV_TRY(cv_shard_spec_validate(s));
    shard_file f;
    f.store = NULL;
    f.spec = s;
    f.index_bytes = cv__shard_index_bytes(s);
    f.id = NULL;
    snprintf(f.key, sizeof f.key, "%s", what ? what : "(memory)");
    if (len < f.index_bytes) {
        return truncated_index(&f, len);
    }
    uint64_t n_minishards = (uint64_t)1 << s->minishard_bits;
    cv_buf dec;
    cv__buf_init(&dec, max_bytes ? max_bytes : DEFAULT_MAX);
    cv_status rc = CV_OK;
    for (uint64_t m = 0; rc == CV_OK && m < n_minishards; m++) {
        uint64_t pair[2] = {load64(file + 16 * m), load64(file + 16 * m + 8)};
        if (pair[0] == pair[1]) {
            continue;
        }
        rc = check_minishard_in_file(&f, m, pair, len);
        cv_shard_entry *entries = NULL;
        size_t count = 0;
        if (rc == CV_OK) {
            rc = decode_minishard(&f, m, file + f.index_bytes + pair[0], pair[1] - pair[0],
                                  &entries, &count, false);
        }
        for (size_t i = 0; rc == CV_OK && i < count; i++) {
            const cv_shard_entry *e = &entries[i];
            rc = check_entry_in_file(&f, m, e, len);
            if (rc != CV_OK) {
                break;
            }
            const uint8_t *p = file + f.index_bytes + e->start;
            size_t n = (size_t)(e->end - e->start);
            if (s->data_encoding == CV_SHARD_GZIP) {
                if (n > gzip_bound(dec.max)) {
                    rc = corrupt(&f,
                                 "chunk %" PRIu64 " of %zu gzip bytes cannot decode to at most "
                                 "%zu bytes",
                                 e->key, n, dec.max);
                    break;
                }
                dec.len = 0;
                rc = shard_gunzip(&f, p, n, &dec);
                if (rc != CV_OK) {
                    char part[64];
                    snprintf(part, sizeof part, "chunk %" PRIu64, e->key);
                    wrap(&f, part);
                    break;
                }
                p = dec.data;
                n = dec.len;
            } else if (dec.max && n > dec.max) {
                rc = corrupt(&f, "chunk %" PRIu64 " of %zu bytes is larger than the %zu allowed",
                             e->key, n, dec.max);
                break;
            }
            rc = fn(e->key, p, n, arg);
        }
        cv_free(entries);
    }
    cv__buf_fini(&dec);
    return rc;
}
