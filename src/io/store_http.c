/* SPDX-License-Identifier: BSD-3-Clause
 * store_http.c: the read-only http:// and https:// backend (cloudvolume-conventions §1.2, §3):
 * GET, HEAD and Range through http.c; 404 and 403 both mean "missing", as in CloudFiles.
 * Content-Encoding is reported to store.c, which decodes it (precomputed-volume spec §6).
 * Optional basic auth from http-secret.json {"user", "password"}. */
#include "io/http.h"

#include "base/json_py.h"

#include <stdio.h>
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

static cv_status http_list(cv_store *s, const char *prefix,
                           cv_status (*fn)(const char *name, void *arg), void *arg)
{
    (void)fn;
    (void)arg;
    return CV_FAIL(CV_ERR_UNSUPPORTED, "list `%s' in %s: http(s) storage cannot be listed", prefix,
                   s->url);
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
    "http",         /* name */
    0,              /* flags: Content-Encoding, not name suffixes */
    http_open,      /* open */
    http_get,       /* get */
    http_get_range, /* get_range */
    http_put,       /* put */
    http_exists,    /* exists */
    http_del,       /* del */
    NULL,           /* del_many: one by one */
    http_list,      /* list */
    NULL,           /* list_level: from list */
    http_head,      /* head: HEAD */
    NULL,           /* list_sized: not listable */
    NULL,           /* put_pieces: read-only */
    http_close,     /* close */
};
