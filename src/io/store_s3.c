/* SPDX-License-Identifier: BSD-3-Clause
 * store_s3.c: the s3:// backend (cloudvolume-conventions §1.2, §2, §3): path-style requests to
 * https://s3.amazonaws.com, an explicit endpoint (s3://http(s)://HOST[:PORT]/BUCKET/...) or an
 * alias's host, signed with AWS Signature V4 by libcurl (CURLOPT_AWS_SIGV4), never by hand.
 * GET/PUT/HEAD/DELETE and ListObjectsV2 with pagination; uploads carry Content-Encoding,
 * Content-MD5 and x-amz-content-sha256; downloads are checked against an MD5 ETag. A bucket
 * in another region than the one configured is found from S3's x-amz-bucket-region answer, as
 * boto3 does. */
#include "io/http.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct s3_store {
    pthread_mutex_t lock; /* guards endpoint and sigv4, which region discovery changes */
    char endpoint[256];   /* "https://s3.amazonaws.com", no trailing '/' */
    char sigv4[96];       /* "aws:amz:us-east-1:s3", "" when anonymous */
    bool is_aws;          /* the default endpoint: a region change moves to s3.REGION... */
    char *bucket;
    char *prefix; /* "" or "dataset/layer/" */
    char *url;    /* the store's cloud path, for messages */
    const char *acl;
    int max_keys; /* ListObjectsV2 page size (CV_S3_MAX_KEYS, default 1000) */
    cv_aws_creds creds;
} s3_store;

static void s3_close(cv_store *s)
{
    s3_store *t = s->impl;
    if (t) {
        pthread_mutex_destroy(&t->lock);
        cv_free(t->bucket);
        cv_free(t->prefix);
        memset(&t->creds, 0, sizeof t->creds);
        cv_free(t);
    }
}

static cv_status s3_open(cv_store *s, const cv_cloudpath *p)
{
    s3_store *t = cv_calloc(1, sizeof *t);
    if (!t) {
        return CV_FAIL(CV_ERR_NOMEM, "open %s", s->url);
    }
    s->impl = t;
    pthread_mutex_init(&t->lock, NULL);
    t->url = s->url;
    /* Plain s3:// may be pointed elsewhere the way the AWS SDKs allow. */
    const char *ep = p->host;
    if (!ep) {
        ep = getenv("AWS_ENDPOINT_URL_S3");
    }
    if (!ep || !*ep) {
        ep = getenv("AWS_ENDPOINT_URL");
    }
    if (!ep || !*ep) {
        ep = "https://s3.amazonaws.com";
        t->is_aws = true;
    }
    if (strlen(ep) >= sizeof t->endpoint) {
        return CV_FAIL(CV_ERR_ARG, "open %s: endpoint too long", s->url);
    }
    snprintf(t->endpoint, sizeof t->endpoint, "%s", ep);
    size_t n_ep = strlen(t->endpoint);
    while (n_ep > 0 && t->endpoint[n_ep - 1] == '/') {
        t->endpoint[--n_ep] = '\0';
    }
    t->bucket = cv__strdup(p->bucket);
    t->prefix = p->path && *p->path ? cv__asprintf("%s/", p->path) : cv__strdup("");
    if (!t->bucket || !t->prefix) {
        return CV_FAIL(CV_ERR_NOMEM, "open %s", s->url);
    }
    /* CloudFiles: credentials are named after the alias, or "aws". */
    const char *service = p->alias[0] ? p->alias : "aws";
    cv_status rc = cv__aws_creds(service, p->bucket, &t->creds);
    if (rc != CV_OK) {
        cv__err_wrap("open %s", s->url);
        return rc;
    }
    if (!t->creds.is_anonymous) {
        snprintf(t->sigv4, sizeof t->sigv4, "aws:amz:%s:s3", t->creds.region);
    }
    /* CloudFiles' per-alias ACLs; bucket-owner-full-control otherwise. */
    t->acl = strcmp(p->alias, "tigerdata") == 0 ? "private"
             : strcmp(p->alias, "nokura") == 0  ? "public-read"
                                                : "bucket-owner-full-control";
    const char *mk = getenv("CV_S3_MAX_KEYS");
    t->max_keys = mk && atoi(mk) > 0 && atoi(mk) <= 1000 ? atoi(mk) : 1000;
    return CV_OK;
}

/* /bucket/prefix+name, each byte outside unreserved and '/' percent-encoded: the form S3 and
 * SigV4 agree on. */
static char *object_path(const s3_store *t, const char *name)
{
    char *key = cv__asprintf("%s%s", t->prefix, name);
    char *enc = key ? cv__url_encode(key, "/") : NULL;
    char *path = enc ? cv__asprintf("/%s/%s", t->bucket, enc) : NULL;
    cv_free(key);
    cv_free(enc);
    return path;
}

/* One request: the header lines every request carries, and where it goes. */
typedef struct s3_call {
    s3_store *t;
    char *path;  /* "/bucket/key" or "/bucket?query", encoded */
    char *url;   /* endpoint + path, set by run() */
    char *shown; /* the object's cloud path for messages */
    char sigv4[96];
    char sha_line[100];
    char token_line[4200];
    const char *hdr[12];
    size_t n_hdr;
    cv_http_req rq;
} s3_call;

/* `path` is taken over. */
static cv_status call_init(s3_call *c, s3_store *t, const char *method, char *path,
                           const char *name, const void *body, size_t n, cv_buf *out)
{
    memset(c, 0, sizeof *c);
    c->t = t;
    c->path = path;
    c->shown = cv__asprintf("%s/%s", t->url, name);
    if (!c->path || !c->shown) {
        cv_free(c->path);
        cv_free(c->shown);
        return CV_FAIL(CV_ERR_NOMEM, "%s", method);
    }
    if (t->creds.is_anonymous) {
        /* Unsigned requests: public buckets. */
    } else {
        /* curl signs the value given here as the payload hash; S3 checks it against the body. */
        char hex[65];
        if (n) {
            cv__sha256_hex(body, n, hex);
        }
        snprintf(c->sha_line, sizeof c->sha_line, "x-amz-content-sha256: %s",
                 n ? hex : EMPTY_SHA256);
        c->hdr[c->n_hdr++] = c->sha_line;
        if (t->creds.token[0]) {
            snprintf(c->token_line, sizeof c->token_line, "x-amz-security-token: %s",
                     t->creds.token);
            c->hdr[c->n_hdr++] = c->token_line;
        }
    }
    cv_http_req rq = {.method = method,
                      .shown = c->shown,
                      .headers = c->hdr,
                      .body = body,
                      .body_len = n,
                      .out = out};
    c->rq = rq;
    return CV_OK;
}

static void call_fini(s3_call *c)
{
    cv_free(c->path);
    cv_free(c->url);
    cv_free(c->shown);
    memset(c->token_line, 0, sizeof c->token_line);
}

/* Perform the call (a ranged GET when is_range). When S3 answers that the bucket lives in
 * another region (x-amz-bucket-region on a 301 or 400), sign for that region from now on, move
 * to its endpoint if this is AWS itself, and try once more. */
static cv_status run(s3_call *c, cv_http_resp *rs, bool is_range, uint64_t off, uint64_t len)
{
    s3_store *t = c->t;
    char used_ep[sizeof t->endpoint];
    for (int pass = 0; pass < 2; pass++) {
        pthread_mutex_lock(&t->lock);
        snprintf(c->sigv4, sizeof c->sigv4, "%s", t->sigv4);
        snprintf(used_ep, sizeof used_ep, "%s", t->endpoint);
        cv_free(c->url);
        c->url = cv__asprintf("%s%s", t->endpoint, c->path);
        pthread_mutex_unlock(&t->lock);
        if (!c->url) {
            return CV_FAIL(CV_ERR_NOMEM, "%s", c->rq.method);
        }
        c->rq.url = c->url;
        if (c->sigv4[0]) {
            c->rq.aws_sigv4 = c->sigv4;
            c->rq.user = t->creds.key_id;
            c->rq.password = t->creds.secret;
        }
        c->hdr[c->n_hdr] = NULL;
        CV_TRY(is_range ? cv__http_get_range(&c->rq, rs, off, len) : cv__http_perform(&c->rq, rs));
        if ((rs->status != 301 && rs->status != 400) || !rs->bucket_region[0] || pass > 0 ||
            strlen(rs->bucket_region) > 32) {
            return CV_OK;
        }
        char sig[96] = "", ep[256];
        if (c->sigv4[0]) { /* anonymous requests stay unsigned */
            snprintf(sig, sizeof sig, "aws:amz:%s:s3", rs->bucket_region);
        }
        snprintf(ep, sizeof ep, "https://s3.%s.amazonaws.com", rs->bucket_region);
        pthread_mutex_lock(&t->lock);
        bool is_new_sig = sig[0] && strcmp(sig, t->sigv4) != 0;
        bool is_new_ep = t->is_aws && strcmp(ep, t->endpoint) != 0;
        if (is_new_sig) {
            snprintf(t->sigv4, sizeof t->sigv4, "%s", sig);
        }
        if (is_new_ep) {
            snprintf(t->endpoint, sizeof t->endpoint, "%s", ep);
        }
        /* Another thread may have moved the store already: retry if this call was stale. */
        bool is_stale = strcmp(c->sigv4, t->sigv4) != 0 || strcmp(used_ep, t->endpoint) != 0;
        pthread_mutex_unlock(&t->lock);
        if (is_new_sig || is_new_ep) {
            CV_LOG(CV_LOG_INFO, "bucket %s is in region %s", t->bucket, rs->bucket_region);
        }
        if (!is_stale) {
            return CV_OK;
        }
    }
    return CV_OK;
}

static cv_status s3_get(cv_store *s, const char *name, cv_buf *out, char *encoding, size_t enc_cap)
{
    s3_call c;
    s3_store *t = s->impl;
    CV_TRY(call_init(&c, t, "GET", object_path(t, name), name, NULL, 0, out));
    c.rq.flags = CV_HTTP_VERIFY_ETAG;
    cv_http_resp rs;
    cv_status rc = run(&c, &rs, false, 0, 0);
    if (rc == CV_OK && rs.status == 404) {
        rc = cv__notfound("`%s' not found", c.shown);
    } else if (rc == CV_OK && rs.status != 200) {
        rc = cv__http_fail_status(&c.rq, &rs);
    } else if (rc == CV_OK && encoding) {
        snprintf(encoding, enc_cap, "%s", rs.encoding);
    }
    call_fini(&c);
    return rc;
}

static cv_status s3_get_range(cv_store *s, const char *name, uint64_t offset, uint64_t len,
                              cv_buf *out)
{
    out->len = 0;
    if (len == 0) {
        return CV_OK;
    }
    s3_call c;
    s3_store *t = s->impl;
    CV_TRY(call_init(&c, t, "GET", object_path(t, name), name, NULL, 0, out));
    cv_http_resp rs;
    cv_status rc = run(&c, &rs, true, offset, len);
    if (rc == CV_OK && rs.status == 404) {
        rc = cv__notfound("`%s' not found", c.shown);
    } else if (rc == CV_OK && rs.status != 200) {
        rc = cv__http_fail_status(&c.rq, &rs);
    }
    call_fini(&c);
    return rc;
}

static cv_status s3_put(cv_store *s, const char *name, const void *p, size_t n,
                        const char *encoding, const char *content_type)
{
    s3_store *t = s->impl;
    s3_call c;
    CV_TRY(call_init(&c, t, "PUT", object_path(t, name), name, p, n, NULL));
    char type_line[160], enc_line[64], md5_line[64], acl_line[80];
    snprintf(type_line, sizeof type_line, "Content-Type: %s",
             content_type && *content_type ? content_type : "application/octet-stream");
    c.hdr[c.n_hdr++] = type_line;
    if (encoding && *encoding) {
        /* CloudFiles names bzip2 "bzip2" on S3 (cloudvolume-conventions §3). */
        snprintf(enc_line, sizeof enc_line, "Content-Encoding: %s", encoding);
        c.hdr[c.n_hdr++] = enc_line;
    }
    uint8_t md5[16];
    char b64[32];
    cv__md5(p, n, md5);
    cv__base64(md5, 16, b64);
    snprintf(md5_line, sizeof md5_line, "Content-MD5: %s", b64);
    c.hdr[c.n_hdr++] = md5_line;
    if (!t->creds.is_anonymous) {
        snprintf(acl_line, sizeof acl_line, "x-amz-acl: %s", t->acl);
        c.hdr[c.n_hdr++] = acl_line;
    }
    cv_http_resp rs;
    cv_status rc = run(&c, &rs, false, 0, 0);
    if (rc == CV_OK && rs.status != 200) {
        rc = cv__http_fail_status(&c.rq, &rs);
    }
    call_fini(&c);
    return rc;
}

static cv_status s3_exists(cv_store *s, const char *name, bool *yes)
{
    s3_call c;
    s3_store *t = s->impl;
    CV_TRY(call_init(&c, t, "HEAD", object_path(t, name), name, NULL, 0, NULL));
    cv_http_resp rs;
    cv_status rc = run(&c, &rs, false, 0, 0);
    if (rc == CV_OK && (rs.status == 200 || rs.status == 404)) {
        *yes = rs.status == 200;
    } else if (rc == CV_OK) {
        rc = cv__http_fail_status(&c.rq, &rs);
    }
    call_fini(&c);
    return rc;
}

static cv_status s3_del(cv_store *s, const char *name)
{
    s3_call c;
    s3_store *t = s->impl;
    CV_TRY(call_init(&c, t, "DELETE", object_path(t, name), name, NULL, 0, NULL));
    cv_http_resp rs;
    cv_status rc = run(&c, &rs, false, 0, 0);
    if (rc == CV_OK && rs.status != 204 && rs.status != 200 && rs.status != 404) {
        rc = cv__http_fail_status(&c.rq, &rs);
    }
    call_fini(&c);
    return rc;
}

/* ---- ListObjectsV2 ------------------------------------------------------------------------- */

/* Decode XML text [p, end) into dst (the five named entities and numeric references). */
static cv_status xml_text(const char *p, const char *end, char **dst)
{
    char *out = cv_malloc((size_t)(end - p) + 1);
    if (!out) {
        return CV_FAIL(CV_ERR_NOMEM, "list");
    }
    static const struct {
        const char *name;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    char *o = out;
    while (p < end) {
        bool done = false;
        if (*p == '&') {
            for (size_t i = 0; i < sizeof ents / sizeof ents[0] && !done; i++) {
                size_t n = strlen(ents[i].name);
                if ((size_t)(end - p) >= n && memcmp(p, ents[i].name, n) == 0) {
                    *o++ = ents[i].c;
                    p += n;
                    done = true;
                }
            }
            if (!done && p + 2 < end && p[1] == '#') {
                const char *semi = memchr(p, ';', (size_t)(end - p));
                char *stop;
                unsigned long v =
                    p[2] == 'x' ? strtoul(p + 3, &stop, 16) : strtoul(p + 2, &stop, 10);
                if (semi && stop == semi && v > 0) {
                    /* UTF-8 encode the code point. */
                    if (v < 0x80) {
                        *o++ = (char)v;
                    } else if (v < 0x800) {
                        *o++ = (char)(0xC0 | (v >> 6));
                        *o++ = (char)(0x80 | (v & 0x3F));
                    } else if (v < 0x10000) {
                        *o++ = (char)(0xE0 | (v >> 12));
                        *o++ = (char)(0x80 | ((v >> 6) & 0x3F));
                        *o++ = (char)(0x80 | (v & 0x3F));
                    } else {
                        *o++ = (char)(0xF0 | (v >> 18));
                        *o++ = (char)(0x80 | ((v >> 12) & 0x3F));
                        *o++ = (char)(0x80 | ((v >> 6) & 0x3F));
                        *o++ = (char)(0x80 | (v & 0x3F));
                    }
                    p = semi + 1;
                    done = true;
                }
            }
        }
        if (!done) {
            *o++ = *p++;
        }
    }
    *o = '\0';
    *dst = out;
    return CV_OK;
}

/* The text of the first <tag>...</tag> in [p, end), or NULL. */
static const char *xml_find(const char *p, const char *end, const char *tag, const char **stop)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    size_t no = strlen(open), nc = strlen(close);
    for (const char *q = p; q + no <= end; q++) {
        if (memcmp(q, open, no) == 0) {
            const char *body = q + no;
            for (const char *r = body; r + nc <= end; r++) {
                if (memcmp(r, close, nc) == 0) {
                    *stop = r;
                    return body;
                }
            }
            return NULL;
        }
    }
    return NULL;
}

/* Whether [p, end) contains `needle`. */
static bool has_text(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *q = p; q + n <= end; q++) {
        if (memcmp(q, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

/* A decimal byte count, all digits, no overflow. */
static bool parse_size(const char *p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    if (p == end || end - p > 20) {
        return false;
    }
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return true;
}

/* One ListObjectsV2 page: objects with their <Size> (with `need_size` a missing or bad one is
 * an error; without, the size handed out is UINT64_MAX), subdirectories with UINT64_MAX. */
static cv_status parse_page(const char *xml, size_t len, const char *strip, const char *shown,
                            bool need_size, cv_store_sized_fn fn, void *arg, char **token)
{
    const char *p = xml, *end = xml + len;
    *token = NULL;
    if (!has_text(p, end, "<ListBucketResult")) {
        return CV_FAIL(CV_ERR_CORRUPT, "list `%s': not a ListBucketResult", shown);
    }
    size_t np = strlen(strip);
    const char *cend;
    const char *contents;
    while ((contents = xml_find(p, end, "Contents", &cend)) != NULL) {
        const char *kend, *send;
        const char *key = xml_find(contents, cend, "Key", &kend);
        if (key) {
            char *name;
            CV_TRY(xml_text(key, kend, &name));
            cv_status rc = CV_OK;
            if (strncmp(name, strip, np) == 0 && name[np]) {
                uint64_t size = UINT64_MAX;
                const char *size_text = need_size ? xml_find(contents, cend, "Size", &send) : NULL;
                if (need_size && (!size_text || !parse_size(size_text, send, &size))) {
                    rc = CV_FAIL(CV_ERR_CORRUPT, "list `%s': an object without a valid <Size>",
                                 shown);
                } else {
                    rc = fn(name + np, size, arg);
                }
            }
            cv_free(name);
            CV_TRY(rc);
        }
        p = cend;
    }
    /* With delimiter=/ the subdirectories come as <CommonPrefixes><Prefix>a/b/</Prefix>. */
    p = xml;
    while ((contents = xml_find(p, end, "CommonPrefixes", &cend)) != NULL) {
        const char *kend;
        const char *key = xml_find(contents, cend, "Prefix", &kend);
        if (key) {
            char *name;
            CV_TRY(xml_text(key, kend, &name));
            cv_status rc = CV_OK;
            if (strncmp(name, strip, np) == 0 && name[np]) {
                rc = fn(name + np, UINT64_MAX, arg);
            }
            cv_free(name);
            CV_TRY(rc);
        }
        p = cend;
    }
    const char *tend;
    const char *trunc = xml_find(xml, end, "IsTruncated", &tend);
    if (trunc && tend - trunc == 4 && memcmp(trunc, "true", 4) == 0) {
        const char *nend;
        const char *next = xml_find(xml, end, "NextContinuationToken", &nend);
        if (!next || next == nend) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           "list `%s': truncated page without a continuation "
                           "token",
                           shown);
        }
        CV_TRY(xml_text(next, nend, token));
        if (!**token) {
            cv_free(*token);
            *token = NULL;
            return CV_FAIL(CV_ERR_CORRUPT, "list `%s': empty continuation token", shown);
        }
    }
    return CV_OK;
}

/* The listing callers that need names only. */
typedef struct names_only {
    cv_status (*fn)(const char *name, void *arg);
    void *arg;
} names_only;

static cv_status drop_size(const char *name, uint64_t size, void *arg)
{
    (void)size;
    const names_only *n = arg;
    return n->fn(name, n->arg);
}

cv_status cv__s3_parse_list(const char *xml, size_t len, const char *strip, const char *shown,
                            cv_status (*fn)(const char *name, void *arg), void *arg, char **token)
{
    names_only n = {fn, arg};
    return parse_page(xml, len, strip, shown, false, drop_size, &n, token);
}

cv_status cv__s3_parse_list_sized(const char *xml, size_t len, const char *strip, const char *shown,
                                  cv_store_sized_fn fn, void *arg, char **token)
{
    return parse_page(xml, len, strip, shown, true, fn, arg, token);
}

static cv_status list_pages(cv_store *s, const char *prefix, bool is_level, bool need_size,
                            cv_store_sized_fn fn, void *arg)
{
    s3_store *t = s->impl;
    char *full = cv__asprintf("%s%s", t->prefix, prefix);
    char *enc_prefix = full ? cv__url_encode(full, NULL) : NULL;
    cv_free(full);
    if (!enc_prefix) {
        return CV_FAIL(CV_ERR_NOMEM, "list");
    }
    cv_buf page;
    cv__buf_init(&page, (size_t)64 << 20);
    char *token = NULL;
    cv_status rc = CV_OK;
    do {
        /* curl signs the query as written: parameters sorted by name, values encoded. */
        char *enc_token = token ? cv__url_encode(token, NULL) : NULL;
        char *qs = cv__asprintf("%s%s%s%slist-type=2&max-keys=%d&prefix=%s",
                                token ? "continuation-token=" : "", token ? enc_token : "",
                                token ? "&" : "", is_level ? "delimiter=%2F&" : "", t->max_keys,
                                enc_prefix);
        cv_free(enc_token);
        s3_call c;
        char *path = qs ? cv__asprintf("/%s?%s", t->bucket, qs) : NULL;
        cv_free(qs);
        rc = call_init(&c, t, "GET", path, prefix, NULL, 0, &page);
        if (rc != CV_OK) {
            break;
        }
        cv_http_resp rs;
        rc = run(&c, &rs, false, 0, 0);
        if (rc == CV_OK && rs.status != 200) {
            rc = cv__http_fail_status(&c.rq, &rs);
        }
        cv_free(token);
        token = NULL;
        if (rc == CV_OK) {
            rc = parse_page((const char *)page.data, page.len, t->prefix, c.shown, need_size, fn,
                            arg, &token);
        }
        call_fini(&c);
    } while (rc == CV_OK && token);
    cv_free(token);
    cv_free(enc_prefix);
    cv__buf_fini(&page);
    return rc;
}

/* ---- DeleteObjects -------------------------------------------------------------------------- */

/* Append `s` with XML's five special characters escaped. */
static cv_status xml_escape_into(cv_buf *b, const char *s)
{
    for (; *s; s++) {
        const char *e = *s == '&'    ? "&amp;"
                        : *s == '<'  ? "&lt;"
                        : *s == '>'  ? "&gt;"
                        : *s == '"'  ? "&quot;"
                        : *s == '\'' ? "&apos;"
                                     : NULL;
        CV_TRY(e ? cv__buf_append(b, e, strlen(e)) : cv__buf_append(b, s, 1));
    }
    return CV_OK;
}

cv_status cv__s3_check_delete_result(const char *xml, size_t len, const char *url)
{
    const char *eend = NULL;
    const char *err = len ? xml_find(xml, xml + len, "Error", &eend) : NULL;
    if (!err) {
        return CV_OK;
    }
    const char *kend, *cend;
    const char *key = xml_find(err, eend, "Key", &kend);
    const char *code = xml_find(err, eend, "Code", &cend);
    char *k = NULL;
    if (key && xml_text(key, kend, &k) != CV_OK) {
        cv_err_clear();
        k = NULL;
    }
    /* Both come from the server: keep the message one printable line. */
    char code_text[65] = "refused";
    if (code) {
        size_t n = (size_t)(cend - code) < sizeof code_text - 1 ? (size_t)(cend - code)
                                                                : sizeof code_text - 1;
        for (size_t i = 0; i < n; i++) {
            code_text[i] = isprint((unsigned char)code[i]) ? code[i] : '?';
        }
        code_text[n] = '\0';
    }
    for (char *c = k; c && *c; c++) {
        if (!isprint((unsigned char)*c)) {
            *c = '?';
        }
    }
    cv_status rc = CV_FAIL(CV_ERR_IO, "delete `%s' in %s: %s", k ? k : "?", url, code_text);
    cv_free(k);
    return rc;
}

/* One DeleteObjects request (POST /bucket?delete, at most 1000 keys, Quiet mode so only
 * failures are answered); S3 requires its Content-MD5. A key S3 could not delete is an error
 * naming it and S3's code. */
static cv_status s3_del_many(cv_store *s, const char *const *names, size_t n)
{
    s3_store *t = s->impl;
    if (n == 0) {
        return CV_OK;
    }
    cv_buf body, answer;
    cv__buf_init(&body, 0);
    cv__buf_init(&answer, (size_t)16 << 20);
    static const char head[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete xmlns=\""
                               "http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>";
    cv_status rc = cv__buf_append(&body, head, strlen(head));
    for (size_t i = 0; i < n && rc == CV_OK; i++) {
        rc = cv__buf_append(&body, "<Object><Key>", 13);
        if (rc == CV_OK) {
            rc = xml_escape_into(&body, t->prefix);
        }
        if (rc == CV_OK) {
            rc = xml_escape_into(&body, names[i]);
        }
        if (rc == CV_OK) {
            rc = cv__buf_append(&body, "</Key></Object>", 15);
        }
    }
    if (rc == CV_OK) {
        rc = cv__buf_append(&body, "</Delete>", 9);
    }
    if (rc != CV_OK) {
        cv__buf_fini(&body);
        cv__buf_fini(&answer);
        return CV_FAIL(CV_ERR_NOMEM, "delete %zu objects from %s", n, t->url);
    }
    s3_call c;
    /* "delete=": the canonical form of the bare "delete" parameter, which curl signs as is. */
    rc = call_init(&c, t, "POST", cv__asprintf("/%s?delete=", t->bucket), names[0], body.data,
                   body.len, &answer);
    if (rc == CV_OK) {
        char md5_line[64], type_line[] = "Content-Type: application/xml";
        uint8_t md5[16];
        char b64[32];
        cv__md5(body.data, body.len, md5);
        cv__base64(md5, 16, b64);
        snprintf(md5_line, sizeof md5_line, "Content-MD5: %s", b64);
        c.hdr[c.n_hdr++] = md5_line;
        c.hdr[c.n_hdr++] = type_line;
        cv_http_resp rs;
        rc = run(&c, &rs, false, 0, 0);
        if (rc == CV_OK && rs.status != 200) {
            rc = cv__http_fail_status(&c.rq, &rs);
        }
        if (rc == CV_OK) {
            rc = cv__s3_check_delete_result((const char *)answer.data, answer.len, t->url);
        }
        call_fini(&c);
    }
    cv__buf_fini(&body);
    cv__buf_fini(&answer);
    return rc;
}

static cv_status s3_list(cv_store *s, const char *prefix,
                         cv_status (*fn)(const char *name, void *arg), void *arg)
{
    names_only n = {fn, arg};
    return list_pages(s, prefix, false, false, drop_size, &n);
}

static cv_status s3_list_level(cv_store *s, const char *prefix,
                               cv_status (*fn)(const char *name, void *arg), void *arg)
{
    names_only n = {fn, arg};
    return list_pages(s, prefix, true, false, drop_size, &n);
}

static cv_status s3_list_sized(cv_store *s, const char *prefix, cv_store_sized_fn fn, void *arg)
{
    return list_pages(s, prefix, false, true, fn, arg);
}

/* HeadObject: the headers S3 answers with. */
static cv_status s3_head(cv_store *s, const char *name, cv_store_meta *m)
{
    s3_call c;
    s3_store *t = s->impl;
    CV_TRY(call_init(&c, t, "HEAD", object_path(t, name), name, NULL, 0, NULL));
    cv_http_resp rs;
    cv_status rc = run(&c, &rs, false, 0, 0);
    if (rc == CV_OK && rs.status == 404) {
        rc = cv__notfound("`%s' not found", c.shown);
    } else if (rc == CV_OK && rs.status != 200) {
        rc = cv__http_fail_status(&c.rq, &rs);
    } else if (rc == CV_OK) {
        m->size = rs.content_length;
        snprintf(m->content_type, sizeof m->content_type, "%s", rs.content_type);
        snprintf(m->encoding, sizeof m->encoding, "%s", rs.encoding);
        snprintf(m->etag, sizeof m->etag, "%s", rs.etag);
        cv__http_time_iso(rs.last_modified, m->last_modified, sizeof m->last_modified);
        snprintf(m->cache_control, sizeof m->cache_control, "%s", rs.cache_control);
        /* S3 leaves out x-amz-storage-class for STANDARD objects. */
        snprintf(m->storage_class, sizeof m->storage_class, "%s",
                 rs.storage_class[0] ? rs.storage_class : "STANDARD");
    }
    call_fini(&c);
    return rc;
}

/* ---- multipart upload (cv__store_put_pieces) -------------------------------------------- */

#define S3_MAX_PARTS 10000 /* S3's limit on the parts of one upload */

/* One multipart upload: its id and the ETag of each part sent, for CompleteMultipartUpload. */
typedef struct s3_upload {
    s3_store *t;
    const char *name;
    const char *content_type;
    char *id; /* UploadId, or NULL before CreateMultipartUpload */
    char (*etags)[136];
    size_t n_parts, cap;
} s3_upload;

/* object_path plus "?query". */
static char *object_query(const s3_store *t, const char *name, const char *query)
{
    char *path = object_path(t, name);
    char *with = path ? cv__asprintf("%s?%s", path, query) : NULL;
    cv_free(path);
    return with;
}

/* CreateMultipartUpload: the object's Content-Type and ACL go here, as a PUT sends them. */
static cv_status mp_create(s3_upload *u)
{
    s3_store *t = u->t;
    cv_buf answer;
    cv__buf_init(&answer, (size_t)1 << 20);
    s3_call c;
    /* "uploads=": the canonical form of the bare "uploads" parameter, which curl signs as is. */
    cv_status rc =
        call_init(&c, t, "POST", object_query(t, u->name, "uploads="), u->name, NULL, 0, &answer);
    if (rc != CV_OK) {
        cv__buf_fini(&answer);
        return rc;
    }
    char type_line[160], acl_line[80];
    snprintf(type_line, sizeof type_line, "Content-Type: %s",
             u->content_type && *u->content_type ? u->content_type : "application/octet-stream");
    c.hdr[c.n_hdr++] = type_line;
    if (!t->creds.is_anonymous) {
        snprintf(acl_line, sizeof acl_line, "x-amz-acl: %s", t->acl);
        c.hdr[c.n_hdr++] = acl_line;
    }
    cv_http_resp rs;
    rc = run(&c, &rs, false, 0, 0);
    if (rc == CV_OK && rs.status != 200) {
        rc = cv__http_fail_status(&c.rq, &rs);
    }
    const char *end = NULL;
    const char *id = rc == CV_OK
                         ? xml_find((const char *)answer.data,
                                    (const char *)answer.data + answer.len, "UploadId", &end)
                         : NULL;
    if (rc == CV_OK && (!id || id == end)) {
        rc = CV_FAIL(CV_ERR_IO, "POST `%s?uploads': the answer has no UploadId", c.shown);
    }
    if (rc == CV_OK) {
        rc = xml_text(id, end, &u->id);
    }
    call_fini(&c);
    cv__buf_fini(&answer);
    return rc;
}

/* UploadPart number u->n_parts + 1, with its Content-MD5; keeps the ETag S3 answers. */
static cv_status mp_part(s3_upload *u, const void *p, size_t n)
{
    s3_store *t = u->t;
    if (u->n_parts == S3_MAX_PARTS) {
        return CV_FAIL(CV_ERR_ARG,
                       "write `%s/%s': more than %d parts of %zu bytes (raise "
                       "CV_UPLOAD_PART_BYTES)",
                       t->url, u->name, S3_MAX_PARTS, n);
    }
    if (u->n_parts == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 16;
        char(*grown)[136] = cv_realloc(u->etags, cap * sizeof *grown);
        if (!grown) {
            return CV_FAIL(CV_ERR_NOMEM, "write `%s/%s': %zu parts", t->url, u->name, cap);
        }
        u->etags = grown;
        u->cap = cap;
    }
    char *enc_id = cv__url_encode(u->id, NULL);
    char *query =
        enc_id ? cv__asprintf("partNumber=%zu&uploadId=%s", u->n_parts + 1, enc_id) : NULL;
    cv_free(enc_id);
    s3_call c;
    cv_status rc =
        query ? call_init(&c, t, "PUT", object_query(t, u->name, query), u->name, p, n, NULL)
              : CV_FAIL(CV_ERR_NOMEM, "write");
    cv_free(query);
    CV_TRY(rc);
    char md5_line[64];
    uint8_t md5[16];
    char b64[32];
    cv__md5(p, n, md5);
    cv__base64(md5, 16, b64);
    snprintf(md5_line, sizeof md5_line, "Content-MD5: %s", b64);
    c.hdr[c.n_hdr++] = md5_line;
    cv_http_resp rs;
    rc = run(&c, &rs, false, 0, 0);
    if (rc == CV_OK && rs.status != 200) {
        rc = cv__http_fail_status(&c.rq, &rs);
    }
    if (rc == CV_OK && (!rs.etag[0] || strlen(rs.etag) >= sizeof u->etags[0] - 1)) {
        rc = CV_FAIL(CV_ERR_IO, "PUT `%s' part %zu: the answer has no ETag", c.shown,
                     u->n_parts + 1);
    }
    if (rc == CV_OK) {
        snprintf(u->etags[u->n_parts++], sizeof u->etags[0], "%s", rs.etag);
    } else {
        cv__err_wrap("part %zu of a multipart upload", u->n_parts + 1);
    }
    call_fini(&c);
    return rc;
}

/* CompleteMultipartUpload with the parts' numbers and ETags. S3 may answer 200 and still
 * fail: an <Error> in the body is a failure. */
static cv_status mp_complete(s3_upload *u)
{
    s3_store *t = u->t;
    cv_buf body, answer;
    cv__buf_init(&body, 0);
    cv__buf_init(&answer, (size_t)1 << 20);
    static const char head[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                               "<CompleteMultipartUpload xmlns=\""
                               "http://s3.amazonaws.com/doc/2006-03-01/\">";
    cv_status rc = cv__buf_append(&body, head, strlen(head));
    for (size_t i = 0; rc == CV_OK && i < u->n_parts; i++) {
        char num[64];
        snprintf(num, sizeof num, "<Part><PartNumber>%zu</PartNumber><ETag>", i + 1);
        rc = cv__buf_append(&body, num, strlen(num));
        if (rc == CV_OK) {
            rc = xml_escape_into(&body, u->etags[i]);
        }
        if (rc == CV_OK) {
            rc = cv__buf_append(&body, "</ETag></Part>", 14);
        }
    }
    if (rc == CV_OK) {
        rc = cv__buf_append(&body, "</CompleteMultipartUpload>", 26);
    }
    char *enc_id = rc == CV_OK ? cv__url_encode(u->id, NULL) : NULL;
    char *query = enc_id ? cv__asprintf("uploadId=%s", enc_id) : NULL;
    cv_free(enc_id);
    s3_call c;
    if (rc == CV_OK) {
        rc = query ? call_init(&c, t, "POST", object_query(t, u->name, query), u->name, body.data,
                               body.len, &answer)
                   : CV_FAIL(CV_ERR_NOMEM, "write");
    }
    cv_free(query);
    if (rc == CV_OK) {
        char type_line[] = "Content-Type: application/xml";
        c.hdr[c.n_hdr++] = type_line;
        cv_http_resp rs;
        rc = run(&c, &rs, false, 0, 0);
        if (rc == CV_OK && rs.status != 200) {
            rc = cv__http_fail_status(&c.rq, &rs);
        }
        const char *end = NULL;
        const char *code = rc == CV_OK
                               ? xml_find((const char *)answer.data,
                                          (const char *)answer.data + answer.len, "Code", &end)
                               : NULL;
        if (code) {
            int n = (int)(end - code) < 64 ? (int)(end - code) : 64;
            for (int i = 0; i < n; i++) {
                if (!isprint((unsigned char)code[i])) {
                    n = i;
                }
            }
            rc = CV_FAIL(CV_ERR_IO, "POST `%s?uploadId': %.*s", c.shown, n, code);
        }
        call_fini(&c);
    }
    cv__buf_fini(&body);
    cv__buf_fini(&answer);
    return rc;
}

/* AbortMultipartUpload: S3 drops the parts; no object appears. */
static void mp_abort(s3_upload *u)
{
    s3_store *t = u->t;
    char *enc_id = cv__url_encode(u->id, NULL);
    char *query = enc_id ? cv__asprintf("uploadId=%s", enc_id) : NULL;
    cv_free(enc_id);
    s3_call c;
    if (!query || call_init(&c, t, "DELETE", object_query(t, u->name, query), u->name, NULL, 0,
                            NULL) != CV_OK) {
        cv_free(query);
        CV_LOG(CV_LOG_WARN, "could not abort the multipart upload of `%s/%s'", t->url, u->name);
        return;
    }
    cv_free(query);
    cv_http_resp rs;
    /* The failure being reported is the one that matters; this one is only logged. */
    cv_err saved = *cv_err_last();
    cv_err_clear();
    cv_status rc = run(&c, &rs, false, 0, 0);
    if (rc == CV_OK && rs.status != 204 && rs.status != 200 && rs.status != 404) {
        rc = cv__http_fail_status(&c.rq, &rs);
    }
    if (rc != CV_OK) {
        CV_LOG(CV_LOG_WARN, "abort the multipart upload: %s", cv_err_last()->what);
    }
    cv__err_set(&saved);
    call_fini(&c);
}

/* A full part of a multipart upload, the upload created with the first. */
static cv_status s3_send_part(void *ctx, const uint8_t *data, size_t len)
{
    s3_upload *u = ctx;
    CV_TRY(u->id ? CV_OK : mp_create(u));
    return mp_part(u, data, len);
}

/* Up to one part in memory: an object no larger than a part is one PUT (the bytes and headers
 * of s3_put); a larger one a multipart upload of parts of exactly that size but the last. */
static cv_status s3_put_pieces(cv_store *s, const char *name, cv_store_pieces next, void *arg,
                               const char *content_type)
{
    s3_store *t = s->impl;
    size_t part = cv__store_part_bytes("s3");
    s3_upload u = {.t = t, .name = name, .content_type = content_type};
    cv_buf buf; /* grows with the object, up to one part */
    cv__buf_init(&buf, part);
    cv_status rc = cv__store_gather_parts(next, arg, part, &buf, s3_send_part, &u);
    if (rc == CV_OK && !u.id) {
        rc = s3_put(s, name, buf.data, buf.len, NULL, content_type);
    } else if (rc == CV_OK) {
        rc = mp_part(&u, buf.data, buf.len);
        if (rc == CV_OK) {
            rc = mp_complete(&u);
        }
    }
    if (rc != CV_OK && u.id) {
        mp_abort(&u);
    }
    cv__buf_fini(&buf);
    cv_free(u.id);
    cv_free(u.etags);
    return rc;
}

const cv_store_ops cv_store_s3 = {
    "s3",          /* name */
    0,             /* flags: Content-Encoding, not name suffixes */
    s3_open,       /* open */
    s3_get,        /* get */
    s3_get_range,  /* get_range */
    s3_put,        /* put */
    s3_exists,     /* exists */
    s3_del,        /* del */
    s3_del_many,   /* del_many: DeleteObjects */
    s3_list,       /* list */
    s3_list_level, /* list_level: delimiter=/ */
    s3_head,       /* head: HeadObject */
    s3_list_sized, /* list_sized: ListObjectsV2 <Size> */
    s3_put_pieces, /* put_pieces: multipart upload */
    s3_close,      /* close */
};
