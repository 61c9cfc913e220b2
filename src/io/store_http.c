/* SPDX-License-Identifier: BSD-3-Clause
 * store_http.c: the read-only http:// and https:// backend (cloudvolume-conventions §1.2, §3):
 * GET, HEAD and Range through http.c; 404 and 403 both mean "missing", as in CloudFiles.
 * Listing reads directory index pages (autoindex HTML) and follows their links.
 * Content-Encoding is reported to store.c, which decodes it (precomputed-volume spec §6).
 * Optional basic auth from http-secret.json {"user", "password"}. */
#include "io/http.h"

#include "base/json_py.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 3986 path characters that need no escaping (besides the unreserved ones). */
#define PATH_KEEP "/:@!$&'()*+,;="

typedef struct http_store {
    char *base;        /* "https://host[:port]/path", no trailing '/' */
    char *user, *pass; /* basic auth or NULL */
} http_store;

static void http_close(cv_store *s)
{
    http_store *h = s->impl;
    if (h) {
        cv_free(h->base);
        cv_free(h->user);
        if (h->pass) {
            memset(h->pass, 0, strlen(h->pass));
        }
        cv_free(h->pass);
        cv_free(h);
    }
}

static cv_status load_basic_auth(http_store *h)
{
    char *text = NULL, *where = NULL;
    cv_status rc = cv__secret_read("http", NULL, &text, &where);
    if (rc == CV_ERR_NOTFOUND) {
        return CV_OK;
    }
    CV_TRY(rc);
    cJSON *o = cJSON_Parse(text);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "user");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "password");
    if (cJSON_IsString(u) && cJSON_IsString(p)) {
        h->user = cv__strdup(u->valuestring);
        h->pass = cv__strdup(p->valuestring);
        rc = h->user && h->pass ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "secrets");
    } else {
        rc = CV_FAIL(CV_ERR_ARG, "secret %s: needs string members user and password", where);
    }
    cJSON_Delete(o);
    memset(text, 0, strlen(text));
    cv_free(text);
    cv_free(where);
    return rc;
}

static cv_status http_open(cv_store *s, const cv_cloudpath *p)
{
    http_store *h = cv_calloc(1, sizeof *h);
    if (!h) {
        return CV_FAIL(CV_ERR_NOMEM, "open %s", s->url);
    }
    s->impl = h;
    char *path = cv__url_encode(p->path ? p->path : "", PATH_KEEP "%");
    h->base = path && *path ? cv__asprintf("%s/%s", p->host, path) : cv__strdup(p->host);
    cv_free(path);
    if (!h->base) {
        return CV_FAIL(CV_ERR_NOMEM, "open %s", s->url);
    }
    return load_basic_auth(h);
}

static char *object_url(const http_store *h, const char *name)
{
    char *enc = cv__url_encode(name, PATH_KEEP);
    char *url = enc ? cv__asprintf("%s/%s", h->base, enc) : NULL;
    cv_free(enc);
    return url;
}

static bool is_missing(long status)
{
    return status == 404 || status == 403 || status == 410;
}

static cv_status http_get(cv_store *s, const char *name, cv_buf *out, char *encoding,
                          size_t enc_cap)
{
    http_store *h = s->impl;
    char *url = object_url(h, name);
    if (!url) {
        return CV_FAIL(CV_ERR_NOMEM, "read");
    }
    cv_http_req rq = {.method = "GET",
                      .url = url,
                      .user = h->user,
                      .password = h->pass,
                      .flags = CV_HTTP_ACCEPT_ENCODED | CV_HTTP_FOLLOW,
                      .out = out};
    cv_http_resp rs;
    cv_status rc = cv__http_perform(&rq, &rs);
    if (rc == CV_OK && is_missing(rs.status)) {
        rc = cv__notfound("`%s' not found (HTTP %ld)", url, rs.status);
    } else if (rc == CV_OK && rs.status != 200) {
        rc = cv__http_fail_status(&rq, &rs);
    } else if (rc == CV_OK && encoding) {
        snprintf(encoding, enc_cap, "%s", rs.encoding);
    }
    cv_free(url);
    return rc;
}

static cv_status http_get_range(cv_store *s, const char *name, uint64_t offset, uint64_t len,
                                cv_buf *out)
{
    http_store *h = s->impl;
    out->len = 0;
    if (len == 0) {
        return CV_OK;
    }
    char *url = object_url(h, name);
    if (!url) {
        return CV_FAIL(CV_ERR_NOMEM, "read");
    }
    cv_http_req rq = {.method = "GET",
                      .url = url,
                      .user = h->user,
                      .password = h->pass,
                      .flags = CV_HTTP_FOLLOW,
                      .out = out};
    cv_http_resp rs;
    cv_status rc = cv__http_get_range(&rq, &rs, offset, len);
    if (rc == CV_OK && is_missing(rs.status)) {
        rc = cv__notfound("`%s' not found (HTTP %ld)", url, rs.status);
    } else if (rc == CV_OK && rs.status != 200) {
        rc = cv__http_fail_status(&rq, &rs);
    }
    cv_free(url);
    return rc;
}

static cv_status http_exists(cv_store *s, const char *name, bool *yes)
{
    http_store *h = s->impl;
    char *url = object_url(h, name);
    if (!url) {
        return CV_FAIL(CV_ERR_NOMEM, "exists");
    }
    /* Accepting gzip lets nginx's gzip_static find NAME.gz, as the GET would. */
    cv_http_req rq = {.method = "HEAD",
                      .url = url,
                      .user = h->user,
                      .password = h->pass,
                      .flags = CV_HTTP_ACCEPT_ENCODED | CV_HTTP_FOLLOW};
    cv_http_resp rs;
    cv_status rc = cv__http_perform(&rq, &rs);
    if (rc == CV_OK && (rs.status == 200 || is_missing(rs.status))) {
        *yes = rs.status == 200;
    } else if (rc == CV_OK) {
        rc = cv__http_fail_status(&rq, &rs);
    }
    cv_free(url);
    return rc;
}

static cv_status http_put(cv_store *s, const char *name, const void *p, size_t n,
                          const char *encoding, const char *content_type)
{
    (void)p;
    (void)n;
    (void)encoding;
    (void)content_type;
    (void)s;
    (void)name; /* store.c names the key and the store */
    return CV_FAIL(CV_ERR_UNSUPPORTED, "http(s) storage is read-only");
}

static cv_status http_del(cv_store *s, const char *name)
{
    return CV_FAIL(CV_ERR_UNSUPPORTED, "delete `%s' from %s: http(s) storage is read-only", name,
                   s->url);
}

/* ---- listing from directory index pages ----------------------------------------------------- */

#define INDEX_PAGE_CAP ((size_t)8 << 20) /* the largest index page read */
#define INDEX_DEPTH_MAX 64               /* directory levels walked below the store */

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static bool starts_nocase(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(end - p) < n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = p[i] >= 'A' && p[i] <= 'Z' ? (char)(p[i] + 32) : p[i];
        if (c != word[i]) {
            return false;
        }
    }
    return true;
}

static const char *find_nocase(const char *p, const char *end, const char *word)
{
    for (; p < end; p++) {
        if (starts_nocase(p, end, word)) {
            return p;
        }
    }
    return NULL;
}

/* [p, e) with HTML character references (&amp; &#NN; &#xHH; ...) decoded into out (cap
 * bytes); false if it does not fit or names something other than printable ASCII. */
static bool decode_entities(const char *p, const char *e, char *out, size_t cap)
{
    size_t n = 0;
    while (p < e) {
        char c = *p++;
        if (c == '&') {
            const char *semi = memchr(p, ';', (size_t)(e - p) < 10 ? (size_t)(e - p) : 10);
            if (!semi) {
                return false;
            }
            size_t k = (size_t)(semi - p);
            long v = -1;
            if (k == 3 && memcmp(p, "amp", 3) == 0) {
                v = '&';
            } else if (k == 2 && memcmp(p, "lt", 2) == 0) {
                v = '<';
            } else if (k == 2 && memcmp(p, "gt", 2) == 0) {
                v = '>';
            } else if (k == 4 && memcmp(p, "quot", 4) == 0) {
                v = '"';
            } else if (k == 4 && memcmp(p, "apos", 4) == 0) {
                v = '\'';
            } else if (k >= 2 && p[0] == '#') {
                bool hex = p[1] == 'x' || p[1] == 'X';
                v = 0;
                for (const char *q = p + 1 + hex; q < semi && v >= 0; q++) {
                    int d = hex ? hex_digit(*q) : (*q >= '0' && *q <= '9' ? *q - '0' : -1);
                    v = d < 0 || v > 0xffff ? -1 : v * (hex ? 16 : 10) + d;
                }
            }
            if (v < 0x20 || v >= 0x7f) {
                return false; /* index links are ASCII, anything else percent-escaped */
            }
            c = (char)v;
            p = semi + 1;
        }
        if (n + 1 >= cap) {
            return false;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return true;
}

/* Percent-escapes of `s` decoded into out (cap bytes); false if one is malformed, it does
 * not fit, or it decodes to a control byte. */
static bool decode_percent(const char *s, char *out, size_t cap)
{
    size_t m = 0;
    for (; *s; s++) {
        char c = *s;
        if (c == '%') {
            int hi = s[1] ? hex_digit(s[1]) : -1;
            int lo = hi >= 0 && s[2] ? hex_digit(s[2]) : -1;
            if (hi < 0 || lo < 0) {
                return false;
            }
            c = (char)(hi * 16 + lo);
            s += 2;
        }
        if ((unsigned char)c < 0x20 || c == 0x7f || m + 1 >= cap) {
            return false;
        }
        out[m++] = c;
    }
    out[m] = '\0';
    return true;
}

/* Whether `s` starts with a URL scheme ("http:", "mailto:"). */
static bool has_scheme(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) {
        return false;
    }
    for (s++; *s && *s != ':'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '+' || *s == '-' || *s == '.')) {
            return false;
        }
    }
    return *s == ':';
}

/* The entry an href (entities decoded) names in the directory at `dir_path` (the page's
 * URL path, percent-decoded, ending in '/'): a direct child "name" or "name/", or false for
 * anything else (parent and self links, sort links "?C=N;O=D", other hosts, other
 * directories). */
static bool child_of(const char *href, const char *host, const char *dir_path, char *out,
                     size_t cap)
{
    const char *rest = href;
    size_t nh = strlen(host);
    if (has_scheme(href) || strncmp(href, "//", 2) == 0) {
        if (strncmp(href, host, nh) != 0 || href[nh] != '/') {
            return false; /* another host, or mailto: and the like */
        }
        rest = href + nh; /* an absolute link to this very host */
    }
    if (strpbrk(rest, "?#")) {
        return false;
    }
    char path[1024];
    if (!decode_percent(rest, path, sizeof path)) {
        return false;
    }
    const char *name = path;
    if (name[0] == '/') {
        size_t nd = strlen(dir_path);
        if (strncmp(name, dir_path, nd) != 0) {
            return false;
        }
        name += nd;
    } else if (name[0] == '.' && name[1] == '/') {
        name += 2;
    }
    size_t n = strlen(name);
    const char *slash = strchr(name, '/');
    if (n == 0 || n >= cap || (slash && slash != name + n - 1) || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0 || strcmp(name, "./") == 0 || strcmp(name, "../") == 0 ||
        name[0] == '/') {
        return false;
    }
    memcpy(out, name, n + 1);
    return true;
}

typedef struct index_names {
    char **v;
    size_t n, cap;
} index_names;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

cv_status cv__http_parse_index(const char *html, size_t len, const char *page_url,
                               const char *shown, cv_status (*fn)(const char *name, void *arg),
                               void *arg)
{
    const char *end = html + len;
    /* Apache's and nginx's autoindex title their pages "Index of /dir", Python's http.server
     * "Directory listing for /dir/": any other page is not an index. */
    const char *t = find_nocase(html, end, "<title>");
    const char *te = t ? find_nocase(t, end, "</title>") : NULL;
    const char *tt = t ? t + 7 : NULL;
    while (tt && tt < te && (*tt == ' ' || *tt == '\n' || *tt == '\r' || *tt == '\t')) {
        tt++;
    }
    if (!te ||
        !(starts_nocase(tt, te, "index of ") || starts_nocase(tt, te, "directory listing for "))) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       "list `%s': the page is not a directory index (no \"Index of\" title)",
                       shown);
    }
    /* The page's host ("http://h:p") and its directory path, percent-decoded. */
    const char *after_scheme = strstr(page_url, "://");
    const char *path = after_scheme ? strchr(after_scheme + 3, '/') : NULL;
    char host[512], dir_path[2048];
    if (!path || (size_t)(path - page_url) >= sizeof host ||
        !decode_percent(path, dir_path, sizeof dir_path)) {
        return CV_FAIL(CV_ERR_ARG, "list `%s': cannot list from `%s'", shown, page_url);
    }
    memcpy(host, page_url, (size_t)(path - page_url));
    host[path - page_url] = '\0';
    index_names l = {0};
    cv_status rc = CV_OK;
    for (const char *p = html; rc == CV_OK && (p = find_nocase(p, end, "<a")) != NULL;) {
        p += 2;
        if (p >= end || !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
            continue;
        }
        const char *close = memchr(p, '>', (size_t)(end - p));
        const char *h = close ? find_nocase(p, close, "href") : NULL;
        if (!h) {
            continue;
        }
        h += 4;
        while (h < close && (*h == ' ' || *h == '\t' || *h == '\n' || *h == '\r')) {
            h++;
        }
        if (h >= close || *h != '=') {
            continue;
        }
        h++;
        while (h < close && (*h == ' ' || *h == '\t' || *h == '\n' || *h == '\r')) {
            h++;
        }
        const char *v = h, *ve;
        if (h < close && (*h == '"' || *h == '\'')) {
            v = h + 1;
            ve = memchr(v, *h, (size_t)(close - v));
        } else {
            ve = v;
            while (ve < close && *ve != ' ' && *ve != '\t' && *ve != '\n' && *ve != '\r') {
                ve++;
            }
        }
        char href[1024], name[1024];
        if (!ve || !decode_entities(v, ve, href, sizeof href) ||
            !child_of(href, host, dir_path, name, sizeof name)) {
            continue;
        }
        if (l.n == l.cap) {
            size_t cap = l.cap ? l.cap * 2 : 64;
            char **grown = cv_realloc(l.v, cap * sizeof *grown);
            if (!grown) {
                rc = CV_FAIL(CV_ERR_NOMEM, "list `%s'", shown);
                break;
            }
            l.v = grown;
            l.cap = cap;
        }
        l.v[l.n] = cv__strdup(name);
        rc = l.v[l.n++] ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "list `%s'", shown);
        p = close;
    }
    /* Fancy indexes link each entry twice (icon and name): hand out each name once. */
    if (rc == CV_OK && l.n > 1) {
        qsort(l.v, l.n, sizeof *l.v, cmp_name);
    }
    for (size_t i = 0; i < l.n && rc == CV_OK; i++) {
        if (i == 0 || strcmp(l.v[i], l.v[i - 1]) != 0) {
            rc = fn(l.v[i], arg);
        }
    }
    for (size_t i = 0; i < l.n; i++) {
        cv_free(l.v[i]);
    }
    cv_free(l.v);
    return rc;
}

typedef struct index_walk {
    http_store *h;
    cv_store *s;
    const char *prefix; /* what every name handed out starts with */
    bool is_level;      /* one level: subdirectories handed out as "dir/" */
    cv_status (*fn)(const char *name, void *arg);
    void *arg;
    const char *dir; /* of the page being read: "" or "a/b/" */
    int depth;
} index_walk;

static cv_status walk_dir(index_walk *w, const char *dir);

static cv_status on_entry(const char *name, void *arg)
{
    index_walk *w = arg;
    char *full = cv__asprintf("%s%s", w->dir, name);
    if (!full) {
        return CV_FAIL(CV_ERR_NOMEM, "list %s", w->s->url);
    }
    size_t nf = strlen(full), np = strlen(w->prefix);
    bool under = strncmp(full, w->prefix, np) == 0;
    cv_status rc = CV_OK;
    if (full[nf - 1] != '/') {
        rc = under ? w->fn(full, w->arg) : CV_OK;
    } else if (w->is_level) {
        rc = under ? w->fn(full, w->arg) : CV_OK;
    } else if (under || strncmp(w->prefix, full, nf) == 0) {
        /* The prefix may end inside this directory ("a/4_" and "a/"), or cover all of it. */
        rc = walk_dir(w, full);
    }
    cv_free(full);
    return rc;
}

/* Read the index page of `dir` and hand out what is under the walk's prefix. */
static cv_status walk_dir(index_walk *w, const char *dir)
{
    if (w->depth >= INDEX_DEPTH_MAX) {
        return CV_FAIL(CV_ERR_CORRUPT, "list %s: directories nested over %d deep at `%s'",
                       w->s->url, INDEX_DEPTH_MAX, dir);
    }
    char *enc = cv__url_encode(dir, PATH_KEEP);
    char *url = enc ? cv__asprintf("%s/%s", w->h->base, enc) : NULL;
    cv_free(enc);
    if (!url) {
        return CV_FAIL(CV_ERR_NOMEM, "list %s", w->s->url);
    }
    cv_buf page;
    cv__buf_init(&page, INDEX_PAGE_CAP);
    cv_http_req rq = {.method = "GET",
                      .url = url,
                      .user = w->h->user,
                      .password = w->h->pass,
                      .flags = CV_HTTP_FOLLOW,
                      .out = &page};
    cv_http_resp rs;
    cv_status rc = cv__http_perform(&rq, &rs);
    if (rc == CV_OK && is_missing(rs.status)) {
        const char *txt = rs.status == 404 ? " Not Found" : rs.status == 403 ? " Forbidden" : "";
        rc = CV_FAIL(CV_ERR_UNSUPPORTED,
                     "list `%s': the server gives no directory index (HTTP %ld%s)", url, rs.status,
                     txt);
    } else if (rc == CV_OK && rs.status != 200) {
        rc = cv__http_fail_status(&rq, &rs);
    } else if (rc == CV_OK && strncmp(rs.content_type, "text/html", 9) != 0) {
        rc = CV_FAIL(CV_ERR_UNSUPPORTED,
                     "list `%s': the server gives no directory index (Content-Type `%s', not "
                     "text/html)",
                     url, rs.content_type);
    } else if (rc == CV_OK && rs.encoding[0]) {
        rc = CV_FAIL(CV_ERR_UNSUPPORTED, "list `%s': the index page came %s-encoded", url,
                     rs.encoding);
    }
    if (rc == CV_OK) {
        const char *saved = w->dir;
        w->dir = dir;
        w->depth++;
        rc = cv__http_parse_index((const char *)page.data, page.len, url, url, on_entry, w);
        w->depth--;
        w->dir = saved;
    }
    cv__buf_fini(&page);
    cv_free(url);
    return rc;
}

static cv_status list_index(cv_store *s, const char *prefix, bool is_level,
                            cv_status (*fn)(const char *name, void *arg), void *arg)
{
    index_walk w = {s->impl, s, prefix, is_level, fn, arg, "", 0};
    /* Start at the deepest directory the prefix names: "a/b/4_" -> "a/b/". */
    const char *slash = strrchr(prefix, '/');
    char *dir = slash ? cv__strndup(prefix, (size_t)(slash - prefix) + 1) : cv__strdup("");
    if (!dir) {
        return CV_FAIL(CV_ERR_NOMEM, "list %s", s->url);
    }
    cv_status rc = walk_dir(&w, dir);
    cv_free(dir);
    return rc;
}

/* CloudFiles lists an http(s) directory from its Apache index page; so does this, from the
 * links of any autoindex page (Apache, nginx, Python's http.server). */
static cv_status http_list(cv_store *s, const char *prefix,
                           cv_status (*fn)(const char *name, void *arg), void *arg)
{
    return list_index(s, prefix, false, fn, arg);
}

static cv_status http_list_level(cv_store *s, const char *prefix,
                                 cv_status (*fn)(const char *name, void *arg), void *arg)
{
    return list_index(s, prefix, true, fn, arg);
}

static cv_status http_head(cv_store *s, const char *name, cv_store_meta *m)
{
    http_store *h = s->impl;
    char *url = object_url(h, name);
    if (!url) {
        return CV_FAIL(CV_ERR_NOMEM, "head");
    }
    cv_http_req rq = {.method = "HEAD",
                      .url = url,
                      .user = h->user,
                      .password = h->pass,
                      .flags = CV_HTTP_ACCEPT_ENCODED | CV_HTTP_FOLLOW};
    cv_http_resp rs;
    cv_status rc = cv__http_perform(&rq, &rs);
    if (rc == CV_OK && is_missing(rs.status)) {
        rc = cv__notfound("`%s' not found (HTTP %ld)", url, rs.status);
    } else if (rc == CV_OK && rs.status != 200) {
        rc = cv__http_fail_status(&rq, &rs);
    } else if (rc == CV_OK) {
        m->size = rs.content_length;
        snprintf(m->content_type, sizeof m->content_type, "%s", rs.content_type);
        snprintf(m->encoding, sizeof m->encoding, "%s", rs.encoding);
        snprintf(m->etag, sizeof m->etag, "%s", rs.etag);
        cv__http_time_iso(rs.last_modified, m->last_modified, sizeof m->last_modified);
        snprintf(m->cache_control, sizeof m->cache_control, "%s", rs.cache_control);
    }
    cv_free(url);
    return rc;
}

const cv_store_ops cv_store_http = {
    "http",          /* name */
    0,               /* flags: Content-Encoding, not name suffixes */
    http_open,       /* open */
    http_get,        /* get */
    http_get_range,  /* get_range */
    http_put,        /* put */
    http_exists,     /* exists */
    http_del,        /* del */
    NULL,            /* del_many: one by one */
    http_list,       /* list: index pages, recursively */
    http_list_level, /* list_level: one index page */
    http_head,       /* head: HEAD */
    NULL,            /* list_sized: list, then head */
    NULL,            /* put_pieces: read-only */
    http_close,      /* close */
};
