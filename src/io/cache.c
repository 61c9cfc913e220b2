/* SPDX-License-Identifier: BSD-3-Clause
 * cache.c: the local disk cache of remote objects (cache.h, docs/cache.md): CloudVolume's
 * directory layout, a sidecar per entry that proves the entry whole, freshness by the
 * sidecar's modification time, LRU by its access time, atomic inserts by rename. */
#include "io/cache.h"

#include "io/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct cv_cache {
    char *dir;  /* the layer's cache directory, absolute, no trailing '/' */
    char *base; /* the base it lies in (eviction works on the whole base) */
    cv_cache_cfg cfg;
    atomic_uint_fast64_t filed; /* bytes filed since the last eviction pass */
    atomic_bool filed_any, warned;
    pthread_mutex_t evicting;
};

static atomic_uint tmp_counter;

/* ---- sidecars ------------------------------------------------------------------------------ */

uint64_t cv__cache_hash(const void *data, size_t len)
{
    uint32_t h[4];
    cv_murmurhash3_x86_128(data, len, 0, h);
    return (uint64_t)h[0] | (uint64_t)h[1] << 32;
}

static bool parse_u64(const char **p, const char *end, int base, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;
    while (s < end && *s != ' ' && *s != '\n') {
        int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : 99;
        if (d >= base || v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) {
            return false;
        }
        v = v * (uint64_t)base + (uint64_t)d;
        s++;
    }
    if (s == *p || s - *p > 20) {
        return false;
    }
    *p = s;
    *out = v;
    return true;
}

cv_status cv__cache_entry_parse(const char *text, size_t len, const char *what, cv_cache_entry *out)
{
    static const char magic[] = "cvmpi-cache 1 ";
    memset(out, 0, sizeof *out);
    if (!text || len <= sizeof magic - 1) { /* an empty file reads into no buffer at all */
        return CV_FAIL(CV_ERR_CORRUPT, "cache sidecar `%s' is not one", what);
    }
    const char *end = text + len;
    const char *p = text;
    memset(out, 0, sizeof *out);
    bool ok = len > sizeof magic - 1 && memcmp(p, magic, sizeof magic - 1) == 0;
    p += ok ? sizeof magic - 1 : 0;
    ok = ok && parse_u64(&p, end, 10, &out->size) && out->size > 0 && p < end && *p++ == ' ';
    const char *h = p;
    ok = ok && parse_u64(&p, end, 16, &out->hash) && p - h == 16 && p < end && *p++ == ' ';
    const char *e = p;
    while (ok && p < end && *p != '\n') {
        ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-';
        p++;
    }
    size_t elen = (size_t)(p - e);
    ok = ok && elen > 0 && elen < sizeof out->encoding && p + 1 == end && *p == '\n';
    if (!ok) {
        return CV_FAIL(CV_ERR_CORRUPT, "cache sidecar `%s' is not one", what);
    }
    if (!(elen == 1 && e[0] == '-')) {
        memcpy(out->encoding, e, elen);
    }
    return CV_OK;
}

size_t cv__cache_entry_format(const cv_cache_entry *e, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "cvmpi-cache 1 %" PRIu64 " %016" PRIx64 " %s\n", e->size, e->hash,
                     e->encoding[0] ? e->encoding : "-");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* ---- where the cache lives ------------------------------------------------------------------ */

cv_status cv__cache_base(const char *base, char **out)
{
    const char *env;
    char *path;
    if (base && *base) {
        path = cv__strdup(base);
    } else if ((env = getenv("CLOUD_VOLUME_CACHE_DIR")) && *env) {
        path = cv__strdup(env);
    } else if ((env = getenv("CLOUD_VOLUME_DIR")) && *env) {
        path = cv__asprintf("%s/cache", env);
    } else if ((env = getenv("HOME")) && *env) {
        path = cv__asprintf("%s/.cloudvolume/cache", env);
    } else {
        return CV_FAIL(CV_ERR_ARG, "cache: no directory given and HOME is not set");
    }
    if (path && path[0] != '/') {
        char cwd[4096];
        char *rel = path;
        path = getcwd(cwd, sizeof cwd) ? cv__asprintf("%s/%s", cwd, rel) : NULL;
        cv_free(rel);
        if (!path) {
            return CV_FAIL(CV_ERR_IO, "cache: the working directory: %s", strerror(errno));
        }
    }
    if (!path) {
        return CV_FAIL(CV_ERR_NOMEM, "cache directory");
    }
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') {
        path[--n] = '\0';
    }
    *out = path;
    return CV_OK;
}

/* Append "/part" for each non-empty part of `text`; "." or ".." parts are refused. */
static cv_status append_parts(cv_buf *b, const char *text, const char *url)
{
    const char *p = text;
    while (p && *p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
            return CV_FAIL(CV_ERR_ARG,
                           "cache: `%s' has a `%.*s' part, which would leave the "
                           "cache directory",
                           url, (int)len, p);
        }
        if (len) {
            CV_TRY(cv__buf_append(b, "/", 1));
            CV_TRY(cv__buf_append(b, p, len));
        }
        p = e ? e + 1 : NULL;
    }
    return CV_OK;
}

cv_status cv__cache_layer_dir(const char *base, const char *url, char **out)
{
    *out = NULL;
    cv_cloudpath p;
    CV_TRY(cv__cloudpath_parse(url, &p));
    if (strcmp(p.protocol, "file") == 0 || strcmp(p.protocol, "mem") == 0) {
        cv__cloudpath_fini(&p);
        return CV_OK;
    }
    char *b = NULL;
    cv_status rc = cv__cache_base(base, &b);
    cv_buf dir;
    cv__buf_init(&dir, 0);
    if (rc == CV_OK) {
        rc = cv__buf_append(&dir, b, strlen(b));
    }
    if (rc == CV_OK) {
        rc = append_parts(&dir, p.protocol, url);
    }
    if (rc == CV_OK) {
        /* http(s): the host (and port) stands where the bucket is, as CloudVolume has it. */
        const char *host = p.host && strstr(p.host, "://") ? strstr(p.host, "://") + 3 : p.host;
        bool is_http = strncmp(p.protocol, "http", 4) == 0;
        rc = append_parts(&dir, is_http ? host : p.bucket, url);
    }
    if (rc == CV_OK) {
        rc = append_parts(&dir, p.path, url);
    }
    if (rc == CV_OK) {
        rc = cv__buf_append(&dir, "", 1);
    }
    cv_free(b);
    cv__cloudpath_fini(&p);
    if (rc != CV_OK) {
        cv__buf_fini(&dir);
        return rc;
    }
    size_t len;
    *out = (char *)cv__buf_take(&dir, &len);
    return CV_OK;
}

/* mkdir -p */
static cv_status make_dirs(const char *path)
{
    char *copy = cv__strdup(path);
    if (!copy) {
        return CV_FAIL(CV_ERR_NOMEM, "cache directory");
    }
    cv_status rc = CV_OK;
    for (char *s = copy + 1; rc == CV_OK; s++) {
        if (*s != '/' && *s != '\0') {
            continue;
        }
        char c = *s;
        *s = '\0';
        if (mkdir(copy, 0777) != 0 && errno != EEXIST) {
            rc = CV_FAIL(CV_ERR_IO, "cache directory `%s': %s", copy, strerror(errno));
        }
        *s = c;
        if (c == '\0') {
            break;
        }
    }
    cv_free(copy);
    return rc;
}

cv_status cv__cache_open(const char *url, const cv_cache_cfg *cfg, cv_cache **out)
{
    *out = NULL;
    char *dir = NULL, *base = NULL;
    CV_TRY(cv__cache_layer_dir(cfg->base, url, &dir));
    if (!dir) {
        return CV_OK;
    }
    cv_status rc = cv__cache_base(cfg->base, &base);
    if (rc == CV_OK) {
        rc = make_dirs(dir);
    }
    if (rc == CV_OK && access(dir, R_OK | W_OK | X_OK) != 0) {
        rc = CV_FAIL(CV_ERR_IO, "cache directory `%s' needs read/write permission: %s", dir,
                     strerror(errno));
    }
    cv_cache *c = rc == CV_OK ? cv_calloc(1, sizeof *c) : NULL;
    if (rc == CV_OK && !c) {
        rc = CV_FAIL(CV_ERR_NOMEM, "cache");
    }
    if (rc != CV_OK) {
        cv_free(dir);
        cv_free(base);
        return rc;
    }
    c->dir = dir;
    c->base = base;
    c->cfg = *cfg;
    c->cfg.base = NULL; /* the caller's string; c->base holds it resolved */
    pthread_mutex_init(&c->evicting, NULL);
    *out = c;
    return CV_OK;
}

void cv__cache_close(cv_cache *c)
{
    if (!c) {
        return;
    }
    if (c->cfg.max_bytes && atomic_load(&c->filed_any)) {
        if (cv__cache_evict(c->base, c->cfg.max_bytes) != CV_OK) {
            CV_LOG(CV_LOG_WARN, "cache eviction under %s: %s", c->base, cv_err_last()->what);
            cv_err_clear();
        }
    }
    pthread_mutex_destroy(&c->evicting);
    cv_free(c->dir);
    cv_free(c->base);
    cv_free(c);
}

/* ---- entries -------------------------------------------------------------------------------- */

/* Keys the cache leaves alone: they would collide with its own file names. */
static bool cacheable_key(const char *key)
{
    const char *last = strrchr(key, '/');
    last = last ? last + 1 : key;
    return strncmp(last, CV_CACHE_TMP_PREFIX, strlen(CV_CACHE_TMP_PREFIX)) != 0 &&
           !cv__str_ends_with(key, CV_CACHE_SIDECAR);
}

static bool is_info_key(const char *key)
{
    const char *last = strrchr(key, '/');
    last = last ? last + 1 : key;
    return strcmp(last, "info") == 0 || strcmp(last, "provenance") == 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Read a whole regular file of exactly `size` bytes (or, size 0, at most `cap`) into out. */
static bool read_file(const char *path, uint64_t size, size_t cap, cv_buf *out, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK); /* a FIFO must not block */
    if (fd < 0) {
        return false;
    }
    bool ok = fstat(fd, st) == 0 && S_ISREG(st->st_mode) &&
              (size ? (uint64_t)st->st_size == size : (uint64_t)st->st_size <= cap) &&
              (uint64_t)st->st_size <= SIZE_MAX;
    size_t want = ok ? (size_t)st->st_size : 0;
    out->len = 0;
    ok = ok && (!out->max || want <= out->max) && cv__buf_reserve(out, want) == CV_OK;
    while (ok && out->len < want) {
        ssize_t r = read(fd, out->data + out->len, want - out->len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        ok = r > 0;
        out->len += ok ? (size_t)r : 0;
    }
    close(fd);
    return ok;
}

cv_status cv__cache_get(cv_cache *c, const char *key, cv_buf *out, char *encoding, size_t enc_cap)
{
    double limit = is_info_key(key) ? c->cfg.info_age : c->cfg.max_age;
    if (!cacheable_key(key) || (is_info_key(key) && limit <= 0)) {
        return CV_ERR_NOTFOUND;
    }
    char *meta_path = cv__asprintf("%s/%s%s", c->dir, key, CV_CACHE_SIDECAR);
    cv_buf meta;
    cv__buf_init(&meta, 0);
    struct stat st;
    cv_cache_entry e;
    bool hit = meta_path && read_file(meta_path, 0, 256, &meta, &st) &&
               cv__cache_entry_parse((const char *)meta.data, meta.len, meta_path, &e) == CV_OK;
    cv__buf_fini(&meta);
    if (meta_path && !hit) {
        cv_err_clear();
    }
    /* Fresh while younger than the limit by the sidecar's modification time (when fetched). */
    if (hit && limit > 0) {
        double age = now_s() - ((double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec * 1e-9);
        hit = age <= limit;
    }
    const char *suffix = hit ? cv__store_encoding_suffix(e.encoding) : NULL;
    char *data_path = suffix ? cv__asprintf("%s/%s%s", c->dir, key, suffix) : NULL;
    struct stat dst;
    hit = data_path && read_file(data_path, e.size, 0, out, &dst) &&
          cv__cache_hash(out->data, out->len) == e.hash && strlen(e.encoding) < enc_cap;
    if (hit) {
        /* The sidecar's access time orders the LRU; its modification time stays the fetch's. */
        struct timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
        utimensat(AT_FDCWD, meta_path, times, 0);
        snprintf(encoding, enc_cap, "%s", e.encoding);
    } else {
        out->len = 0;
    }
    cv_free(meta_path);
    cv_free(data_path);
    return hit ? CV_OK : CV_ERR_NOTFOUND;
}

/* Write `len` bytes to a new temporary file beside `final`; its path into *tmp. */
static bool write_temp(const char *final, const void *data, size_t len, char **tmp)
{
    const char *slash = strrchr(final, '/');
    *tmp = cv__asprintf("%.*s/" CV_CACHE_TMP_PREFIX "%ld-%u-%s", (int)(slash - final), final,
                        (long)getpid(), atomic_fetch_add(&tmp_counter, 1), slash + 1);
    if (!*tmp) {
        return false;
    }
    int fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    bool ok = fd >= 0;
    const uint8_t *p = data;
    size_t done = 0;
    while (ok && done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        ok = w > 0;
        done += ok ? (size_t)w : 0;
    }
    if (fd >= 0 && close(fd) != 0) {
        ok = false;
    }
    if (!ok && fd >= 0) {
        unlink(*tmp);
    }
    return ok;
}

static void warn_once(cv_cache *c, const char *what, const char *path)
{
    if (!atomic_exchange(&c->warned, true)) {
        CV_LOG(CV_LOG_WARN, "cache: %s `%s': %s (objects are read without the cache)", what, path,
               strerror(errno));
    }
}

/* Remove the variants of `key` other than the one with `keep` as suffix (NULL: all). */
static void remove_variants(cv_cache *c, const char *key, const char *keep)
{
    static const char *const encodings[] = {"", "gzip", "br", "zstd", "xz", "bzip2"};
    for (size_t i = 0; i < sizeof encodings / sizeof encodings[0]; i++) {
        const char *suffix = cv__store_encoding_suffix(encodings[i]);
        if (suffix && !(keep && strcmp(suffix, keep) == 0)) {
            char *path = cv__asprintf("%s/%s%s", c->dir, key, suffix);
            if (path) {
                unlink(path);
            }
            cv_free(path);
        }
    }
}

void cv__cache_put(cv_cache *c, const char *key, const void *data, size_t len, const char *encoding)
{
    const char *suffix = cv__store_encoding_suffix(encoding ? encoding : "");
    cv_cache_entry e = {.size = len, .hash = len ? cv__cache_hash(data, len) : 0};
    snprintf(e.encoding, sizeof e.encoding, "%s", encoding ? encoding : "");
    char line[128];
    size_t line_len = cv__cache_entry_format(&e, line, sizeof line);
    if (len == 0 || !suffix || !line_len || !cacheable_key(key) ||
        strlen(e.encoding) != strlen(encoding ? encoding : "")) {
        return; /* empty objects read as missing; odd encodings have no name on disk */
    }
    char *data_path = cv__asprintf("%s/%s%s", c->dir, key, suffix);
    char *meta_path = cv__asprintf("%s/%s%s", c->dir, key, CV_CACHE_SIDECAR);
    char *data_tmp = NULL, *meta_tmp = NULL;
    if (!data_path || !meta_path) {
        goto done;
    }
    char *parent = cv__strdup(data_path);
    if (parent) {
        *strrchr(parent, '/') = '\0';
        if (make_dirs(parent) != CV_OK) {
            cv_err_clear();
        }
    }
    cv_free(parent);
    /* Both files are written whole under temporary names first; the sidecar goes last, so a
     * reader between the two renames sees a sidecar that disagrees with the file: a miss. */
    if (!write_temp(data_path, data, len, &data_tmp)) {
        warn_once(c, "write", data_tmp ? data_tmp : data_path);
        goto done;
    }
    if (!write_temp(meta_path, line, line_len, &meta_tmp)) {
        warn_once(c, "write", meta_tmp ? meta_tmp : meta_path);
        unlink(data_tmp);
        goto done;
    }
    if (rename(data_tmp, data_path) != 0 || rename(meta_tmp, meta_path) != 0) {
        warn_once(c, "rename into", data_path);
        unlink(data_tmp);
        unlink(meta_tmp);
        goto done;
    }
    remove_variants(c, key, suffix);
    atomic_store(&c->filed_any, true);
    uint64_t filed = atomic_fetch_add(&c->filed, len + line_len) + len + line_len;
    /* Long reads evict as they go, an eighth of the limit at a time; the rest at close. */
    if (c->cfg.max_bytes && filed >= c->cfg.max_bytes / 8 + 1 &&
        pthread_mutex_trylock(&c->evicting) == 0) {
        atomic_store(&c->filed, 0);
        if (cv__cache_evict(c->base, c->cfg.max_bytes) != CV_OK) {
            cv_err_clear();
        }
        pthread_mutex_unlock(&c->evicting);
    }
done:
    cv_free(data_path);
    cv_free(meta_path);
    cv_free(data_tmp);
    cv_free(meta_tmp);
}

void cv__cache_drop(cv_cache *c, const char *key)
{
    if (!cacheable_key(key)) {
        return;
    }
    char *meta_path = cv__asprintf("%s/%s%s", c->dir, key, CV_CACHE_SIDECAR);
    if (meta_path) {
        unlink(meta_path); /* first: without it the entry is a miss at once */
    }
    cv_free(meta_path);
    remove_variants(c, key, NULL);
}

/* ---- walking the cache: ls, du, clear, eviction --------------------------------------------- */

typedef struct cache_file {
    char *rel;   /* path relative to the walked directory */
    size_t stem; /* length of the entry's key part: rel without sidecar/encoding suffix */
    uint64_t size;
    double atime, mtime;
    bool sidecar, temp;
} cache_file;

typedef struct file_list {
    cache_file *f;
    size_t n, cap;
} file_list;

static void free_files(file_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        cv_free(l->f[i].rel);
    }
    cv_free(l->f);
}

static size_t stem_of(const char *rel, bool *sidecar)
{
    size_t n = strlen(rel);
    *sidecar = cv__str_ends_with(rel, CV_CACHE_SIDECAR);
    if (*sidecar) {
        return n - strlen(CV_CACHE_SIDECAR);
    }
    static const char *const encodings[] = {"gzip", "br", "zstd", "xz", "bzip2"};
    for (size_t i = 0; i < sizeof encodings / sizeof encodings[0]; i++) {
        const char *s = cv__store_encoding_suffix(encodings[i]);
        if (s && cv__str_ends_with(rel, s)) {
            return n - strlen(s);
        }
    }
    return n;
}

/* Every regular file under root/rel (rel "" for root itself), recursively; vanished
 * directories and files are skipped (another process may be evicting). */
static cv_status walk(const char *root, const char *rel, file_list *l, int depth)
{
    char *path = *rel ? cv__asprintf("%s/%s", root, rel) : cv__strdup(root);
    if (!path) {
        return CV_FAIL(CV_ERR_NOMEM, "cache");
    }
    DIR *d = opendir(path);
    if (!d) {
        cv_status rc = errno == ENOENT || errno == ENOTDIR
                           ? CV_OK
                           : CV_FAIL(CV_ERR_IO, "cache directory `%s': %s", path, strerror(errno));
        cv_free(path);
        return rc;
    }
    cv_status rc = depth > 64 ? CV_FAIL(CV_ERR_IO, "cache directory `%s': too deep", path) : CV_OK;
    struct dirent *de;
    while (rc == CV_OK && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        char *child = *rel ? cv__asprintf("%s/%s", rel, de->d_name) : cv__strdup(de->d_name);
        char *full = cv__asprintf("%s/%s", path, de->d_name);
        struct stat st;
        if (!child || !full) {
            rc = CV_FAIL(CV_ERR_NOMEM, "cache");
        } else if (lstat(full, &st) != 0) {
            /* vanished: fine */
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk(root, child, l, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 256;
                cache_file *grown = cv_realloc(l->f, cap * sizeof *grown);
                if (!grown) {
                    rc = CV_FAIL(CV_ERR_NOMEM, "cache");
                } else {
                    l->f = grown;
                    l->cap = cap;
                }
            }
            if (rc == CV_OK) {
                cache_file *f = &l->f[l->n++];
                f->rel = child;
                child = NULL;
                f->stem = stem_of(f->rel, &f->sidecar);
                f->temp =
                    strncmp(de->d_name, CV_CACHE_TMP_PREFIX, strlen(CV_CACHE_TMP_PREFIX)) == 0;
                f->size = (uint64_t)st.st_size;
                f->atime = (double)st.st_atim.tv_sec + (double)st.st_atim.tv_nsec * 1e-9;
                f->mtime = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec * 1e-9;
            }
        }
        cv_free(child);
        cv_free(full);
    }
    closedir(d);
    cv_free(path);
    return rc;
}

static const char *const protocol_dirs[] = {"gs", "s3", "http", "https"};

/* The files of a layer directory, or of a base's protocol trees. */
static cv_status walk_cache(const char *dir, bool is_base, file_list *l)
{
    if (!is_base) {
        return walk(dir, "", l, 0);
    }
    for (size_t i = 0; i < sizeof protocol_dirs / sizeof protocol_dirs[0]; i++) {
        CV_TRY(walk(dir, protocol_dirs[i], l, 0));
    }
    return CV_OK;
}

static int cmp_rel(const void *a, const void *b)
{
    return strcmp(((const cache_file *)a)->rel, ((const cache_file *)b)->rel);
}

cv_status cv__cache_list(const char *dir, bool is_base,
                         cv_status (*fn)(const char *rel, uint64_t size, double atime, void *arg),
                         void *arg, uint64_t *total_bytes)
{
    file_list l = {0};
    cv_status rc = walk_cache(dir, is_base, &l);
    if (rc == CV_OK && l.n > 1) {
        qsort(l.f, l.n, sizeof *l.f, cmp_rel);
    }
    uint64_t total = 0;
    for (size_t i = 0; rc == CV_OK && i < l.n; i++) {
        total += l.f[i].size;
        if (!l.f[i].sidecar && !l.f[i].temp) {
            rc = fn(l.f[i].rel, l.f[i].size, l.f[i].atime, arg);
        }
    }
    if (rc == CV_OK && total_bytes) {
        *total_bytes = total;
    }
    free_files(&l);
    return rc;
}

/* rmdir each directory of `rel` under root, deepest first, until one is not empty. */
static void remove_empty_dirs(const char *root, const char *rel)
{
    char *path = cv__asprintf("%s/%s", root, rel);
    size_t keep = strlen(root);
    for (char *slash; path && (slash = strrchr(path, '/')) && (size_t)(slash - path) > keep;) {
        *slash = '\0';
        if (rmdir(path) != 0) {
            break;
        }
    }
    cv_free(path);
}

cv_status cv__cache_clear(const char *dir, bool is_base, uint64_t *removed)
{
    file_list l = {0};
    cv_status rc = walk_cache(dir, is_base, &l);
    uint64_t n = 0;
    for (size_t i = 0; rc == CV_OK && i < l.n; i++) {
        char *full = cv__asprintf("%s/%s", dir, l.f[i].rel);
        if (!full) {
            rc = CV_FAIL(CV_ERR_NOMEM, "cache");
        } else if (unlink(full) == 0) {
            n += !l.f[i].sidecar && !l.f[i].temp;
        } else if (errno != ENOENT) {
            rc = CV_FAIL(CV_ERR_IO, "cache: remove `%s': %s", full, strerror(errno));
        }
        cv_free(full);
    }
    /* Empty directories go too, deepest first (reverse path order puts children first). */
    if (rc == CV_OK && l.n > 1) {
        qsort(l.f, l.n, sizeof *l.f, cmp_rel);
    }
    for (size_t i = l.n; rc == CV_OK && i-- > 0;) {
        remove_empty_dirs(dir, l.f[i].rel);
    }
    free_files(&l);
    if (rc == CV_OK) {
        *removed = n;
    }
    return rc;
}

typedef struct cache_entry_use {
    size_t first, count; /* the entry's files in the sorted list */
    uint64_t bytes;
    double used;
    bool has_sidecar;
} cache_entry_use;

static int cmp_stem(const void *a, const void *b)
{
    const cache_file *x = a, *y = b;
    size_t n = x->stem < y->stem ? x->stem : y->stem;
    int c = memcmp(x->rel, y->rel, n);
    if (c) {
        return c;
    }
    if (x->stem != y->stem) {
        return x->stem < y->stem ? -1 : 1;
    }
    return strcmp(x->rel, y->rel);
}

static int cmp_used(const void *a, const void *b)
{
    const cache_entry_use *x = a, *y = b;
    return x->used < y->used ? -1 : x->used > y->used ? 1 : 0;
}

cv_status cv__cache_evict(const char *base, uint64_t max_bytes)
{
    file_list l = {0};
    cv_status rc = walk_cache(base, true, &l);
    if (rc == CV_OK && l.n > 1) {
        qsort(l.f, l.n, sizeof *l.f, cmp_stem);
    }
    cache_entry_use *use = rc == CV_OK && l.n ? cv_calloc(l.n, sizeof *use) : NULL;
    if (rc == CV_OK && l.n && !use) {
        rc = CV_FAIL(CV_ERR_NOMEM, "cache eviction");
    }
    size_t n_use = 0;
    uint64_t total = 0;
    double now = now_s();
    for (size_t i = 0; rc == CV_OK && i < l.n; i++) {
        cache_file *f = &l.f[i];
        total += f->size;
        bool same = n_use && !f->temp && !l.f[use[n_use - 1].first].temp &&
                    l.f[use[n_use - 1].first].stem == f->stem &&
                    memcmp(l.f[use[n_use - 1].first].rel, f->rel, f->stem) == 0;
        if (!same) {
            use[n_use++] = (cache_entry_use){i, 0, 0, 0, false};
        }
        cache_entry_use *u = &use[n_use - 1];
        u->count++;
        u->bytes += f->size;
        /* A temporary older than an hour belongs to a killed writer: first to go. An entry's
         * sidecar carries its last use; files without one (CloudVolume's) their own. */
        double used = f->temp ? (now - f->mtime > 3600 ? 0 : now) : f->atime;
        if (f->sidecar) {
            u->used = used;
            u->has_sidecar = true;
        } else if (!u->has_sidecar) {
            u->used = used > u->used ? used : u->used;
        }
    }
    if (rc == CV_OK && n_use > 1) {
        qsort(use, n_use, sizeof *use, cmp_used);
    }
    for (size_t k = 0; rc == CV_OK && k < n_use && total > max_bytes; k++) {
        if (use[k].used >= now && l.f[use[k].first].temp) {
            continue; /* a live writer's temporary */
        }
        /* The sidecar first: without it the entry is a miss at once. */
        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = use[k].first; i < use[k].first + use[k].count; i++) {
                if (l.f[i].sidecar != (pass == 0)) {
                    continue;
                }
                char *full = cv__asprintf("%s/%s", base, l.f[i].rel);
                if (full && unlink(full) != 0 && errno != ENOENT) {
                    rc = CV_FAIL(CV_ERR_IO, "cache: remove `%s': %s", full, strerror(errno));
                }
                cv_free(full);
            }
        }
        total -= use[k].bytes;
    }
    cv_free(use);
    free_files(&l);
    return rc;
}
