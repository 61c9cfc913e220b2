/* SPDX-License-Identifier: BSD-3-Clause
 * store_gcs.c: the gs:// backend on the Cloud Storage JSON API (cloudvolume-conventions §1.2,
 * §2, §3): media download (Range too), multipart upload with contentEncoding and md5Hash,
 * metadata GET for exists, DELETE, and listing with pageToken pagination. Credentials: a
 * service-account key (google-secret.json, bucket-prefixed variant, the secrets option,
 * GOOGLE_APPLICATION_CREDENTIALS) whose RS256-signed JWT is exchanged at its token_uri for a
 * bearer token, refreshed before it expires; anonymous otherwise. CV_GCS_ENDPOINT or
 * STORAGE_EMULATOR_HOST replace https://storage.googleapis.com (tests, emulators). */
#include "io/http.h"

#include "base/json_py.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#define SCOPE "https://www.googleapis.com/auth/devstorage.full_control"

/* One service account and its current token, shared by every store that uses it. */
typedef struct gcs_account {
    char *email, *token_uri, *key_id;
    EVP_PKEY *key;
    pthread_mutex_t lock;
    char token[4096];
    time_t expires;  /* 0: no token yet */
    time_t lifetime; /* of the current token, seconds */
    struct gcs_account *next;
} gcs_account;

static pthread_mutex_t accounts_lock = PTHREAD_MUTEX_INITIALIZER;
static gcs_account *accounts;

typedef struct gcs_store {
    char *endpoint; /* no trailing '/' */
    char *bucket;
    char *prefix; /* "" or "dataset/layer/" */
    const char *url;
    int max_results;
    gcs_account *account; /* NULL: anonymous */
} gcs_store;

/* ---- credentials --------------------------------------------------------------------------- */

static const char *json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Find or make the account described by service-account JSON `text` (from `where`). */
static cv_status account_from_json(const char *text, const char *where, gcs_account **out)
{
    cJSON *o = cJSON_Parse(text);
    const char *type = json_str(o, "type");
    const char *email = json_str(o, "client_email");
    const char *pem = json_str(o, "private_key");
    const char *uri = json_str(o, "token_uri");
    const char *kid = json_str(o, "private_key_id");
    cv_status rc = CV_OK;
    if (!cJSON_IsObject(o)) {
        rc = CV_FAIL(CV_ERR_ARG, "secret %s: not a JSON object", where);
    } else if (type && strcmp(type, "service_account") != 0) {
        rc = CV_FAIL(CV_ERR_UNSUPPORTED,
                     "secret %s: credentials of type \"%s\" are not "
                     "supported, only service_account keys",
                     where, type);
    } else if (!email || !pem) {
        rc = CV_FAIL(CV_ERR_ARG, "secret %s: needs client_email and private_key", where);
    }
    if (rc != CV_OK) {
        cJSON_Delete(o);
        return rc;
    }
    if (!uri) {
        uri = "https://oauth2.googleapis.com/token";
    }
    pthread_mutex_lock(&accounts_lock);
    gcs_account *a = accounts;
    while (a && !(strcmp(a->email, email) == 0 && strcmp(a->token_uri, uri) == 0)) {
        a = a->next;
    }
    if (!a) {
        BIO *bio = BIO_new_mem_buf(pem, -1);
        EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        if (!key || EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
            EVP_PKEY_free(key);
            rc = CV_FAIL(CV_ERR_ARG, "secret %s: private_key is not an RSA key in PEM form", where);
        } else {
            a = cv_calloc(1, sizeof *a);
            if (a) {
                a->email = cv__strdup(email);
                a->token_uri = cv__strdup(uri);
                a->key_id = cv__strdup(kid ? kid : "");
                a->key = key;
                pthread_mutex_init(&a->lock, NULL);
            }
            if (!a || !a->email || !a->token_uri || !a->key_id) {
                rc = CV_FAIL(CV_ERR_NOMEM, "secrets");
                if (a) {
                    cv_free(a->email);
                    cv_free(a->token_uri);
                    cv_free(a->key_id);
                    cv_free(a);
                }
                EVP_PKEY_free(key);
                a = NULL;
            } else {
                a->next = accounts;
                accounts = a;
            }
        }
    }
    pthread_mutex_unlock(&accounts_lock);
    cJSON_Delete(o);
    if (rc == CV_OK) {
        *out = a;
    }
    return rc;
}

static cv_status find_account(const char *bucket, gcs_account **out)
{
    char *text = NULL, *where = NULL;
    cv_status rc = cv__secret_read("google", bucket, &text, &where);
    if (rc == CV_ERR_NOTFOUND) {
        /* Google's application-default credentials, when they are a key file. */
        const char *adc = getenv("GOOGLE_APPLICATION_CREDENTIALS");
        if (!adc || !*adc) {
            *out = NULL;
            return CV_OK;
        }
        FILE *f = fopen(adc, "rb");
        if (!f) {
            return CV_FAIL(CV_ERR_IO, "read GOOGLE_APPLICATION_CREDENTIALS `%s'", adc);
        }
        cv_buf b;
        cv__buf_init(&b, 1 << 20);
        char chunk[4096];
        size_t n;
        rc = CV_OK;
        while (rc == CV_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
            rc = cv__buf_append(&b, chunk, n);
        }
        fclose(f);
        if (rc == CV_OK) {
            rc = cv__buf_append(&b, "", 1);
        }
        if (rc != CV_OK) {
            cv__buf_fini(&b);
            return rc;
        }
        size_t len;
        text = (char *)cv__buf_take(&b, &len);
        where = cv__strdup(adc);
    } else if (rc != CV_OK) {
        return rc;
    }
    rc = where ? account_from_json(text, where, out) : CV_FAIL(CV_ERR_NOMEM, "secrets");
    memset(text, 0, strlen(text));
    cv_free(text);
    cv_free(where);
    return rc;
}

/* header.claims.signature, base64url, RS256 (RFC 7515/7519). Free with cv_free. */
static cv_status make_jwt(const gcs_account *a, time_t now, char **out)
{
    cJSON *hdr = cJSON_CreateObject();
    cJSON *claims = cJSON_CreateObject();
    cJSON_AddStringToObject(hdr, "alg", "RS256");
    cJSON_AddStringToObject(hdr, "typ", "JWT");
    if (a->key_id[0]) {
        cJSON_AddStringToObject(hdr, "kid", a->key_id);
    }
    cJSON_AddStringToObject(claims, "iss", a->email);
    cJSON_AddStringToObject(claims, "scope", SCOPE);
    cJSON_AddStringToObject(claims, "aud", a->token_uri);
    cJSON_AddNumberToObject(claims, "iat", (double)now);
    cJSON_AddNumberToObject(claims, "exp", (double)now + 3600);
    char *h = cJSON_PrintUnformatted(hdr);
    char *c = cJSON_PrintUnformatted(claims);
    cJSON_Delete(hdr);
    cJSON_Delete(claims);
    size_t nh = h ? strlen(h) : 0, nc = c ? strlen(c) : 0;
    size_t sig_cap = (size_t)EVP_PKEY_get_size(a->key);
    size_t cap = 4 * ((nh + 2) / 3) + 4 * ((nc + 2) / 3) + 4 * ((sig_cap + 2) / 3) + 8;
    char *jwt = h && c ? cv_malloc(cap) : NULL;
    uint8_t *sig = cv_malloc(sig_cap);
    cv_status rc = jwt && sig ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "JWT");
    if (rc == CV_OK) {
        cv__base64url(h, nh, jwt);
        size_t n = strlen(jwt);
        jwt[n++] = '.';
        cv__base64url(c, nc, jwt + n);
        size_t signed_len = strlen(jwt);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        size_t sig_len = sig_cap;
        if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, a->key) != 1 ||
            EVP_DigestSign(ctx, sig, &sig_len, (const uint8_t *)jwt, signed_len) != 1) {
            rc = CV_FAIL(CV_ERR_IO, "sign a JWT for %s: OpenSSL failed", a->email);
        } else {
            jwt[signed_len] = '.';
            cv__base64url(sig, sig_len, jwt + signed_len + 1);
        }
        EVP_MD_CTX_free(ctx);
    }
    cJSON_free(h);
    cJSON_free(c);
    cv_free(sig);
    if (rc != CV_OK) {
        cv_free(jwt);
        return rc;
    }
    *out = jwt;
    return CV_OK;
}

/* Exchange a fresh JWT for an access token; caller holds a->lock. */
static cv_status refresh_token(gcs_account *a)
{
    time_t now = time(NULL);
    char *jwt;
    CV_TRY(make_jwt(a, now, &jwt));
    char *body = cv__asprintf("grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3A"
                              "jwt-bearer&assertion=%s",
                              jwt);
    cv_free(jwt);
    if (!body) {
        return CV_FAIL(CV_ERR_NOMEM, "token request");
    }
    cv_buf out;
    cv__buf_init(&out, 1 << 20);
    const char *hdr[] = {"Content-Type: application/x-www-form-urlencoded",
                         "Accept: application/json", NULL};
    cv_http_req rq = {.method = "POST",
                      .url = a->token_uri,
                      .headers = hdr,
                      .body = body,
                      .body_len = strlen(body),
                      .out = &out};
    cv_http_resp rs;
    cv_status rc = cv__http_perform(&rq, &rs);
    memset(body, 0, strlen(body));
    cv_free(body);
    if (rc == CV_OK && rs.status != 200) {
        rc = cv__http_fail_status(&rq, &rs);
    }
    if (rc == CV_OK) {
        rc = cv__buf_append(&out, "", 1);
    }
    if (rc == CV_OK) {
        cJSON *o = cJSON_Parse((const char *)out.data);
        const char *tok = json_str(o, "access_token");
        const cJSON *exp = cJSON_GetObjectItemCaseSensitive(o, "expires_in");
        if (!tok || strlen(tok) >= sizeof a->token) {
            rc = CV_FAIL(CV_ERR_IO, "POST `%s': the answer has no access_token", a->token_uri);
        } else {
            snprintf(a->token, sizeof a->token, "%s", tok);
            double life = cJSON_IsNumber(exp) && exp->valuedouble > 0 ? exp->valuedouble : 3600;
            a->expires = now + (time_t)life;
            a->lifetime = (time_t)life;
            CV_LOG(CV_LOG_DEBUG, "access token for %s valid for %.0f s", a->email, life);
        }
        cJSON_Delete(o);
    }
    if (out.data) {
        memset(out.data, 0, out.len);
    }
    cv__buf_fini(&out);
    if (rc != CV_OK) {
        cv__err_wrap("get an access token for %s", a->email);
    }
    return rc;
}

/* "Authorization: Bearer ..." for `a` into line, refreshing the token before it expires
 * (five minutes ahead, or half its lifetime when that is shorter). `stale` forces a refresh
 * (after a 401). Requests wait here while one thread refreshes. */
static cv_status auth_line(gcs_account *a, bool stale, char *line, size_t cap)
{
    pthread_mutex_lock(&a->lock);
    time_t now = time(NULL);
    time_t margin = a->lifetime / 2 < 300 ? a->lifetime / 2 : 300;
    cv_status rc = CV_OK;
    if (stale || !a->expires || now >= a->expires - margin) {
        rc = refresh_token(a);
    }
    if (rc == CV_OK) {
        snprintf(line, cap, "Authorization: Bearer %s", a->token);
    }
    pthread_mutex_unlock(&a->lock);
    return rc;
}

/* ---- the store ----------------------------------------------------------------------------- */

static void gcs_close(cv_store *s)
{
    gcs_store *g = s->impl;
    if (g) {
        cv_free(g->endpoint);
        cv_free(g->bucket);
        cv_free(g->prefix);
        cv_free(g);
    }
}

static cv_status gcs_open(cv_store *s, const cv_cloudpath *p)
{
    gcs_store *g = cv_calloc(1, sizeof *g);
    if (!g) {
        return CV_FAIL(CV_ERR_NOMEM, "open %s", s->url);
    }
    s->impl = g;
    g->url = s->url;
    const char *ep = getenv("CV_GCS_ENDPOINT");
    const char *emu = getenv("STORAGE_EMULATOR_HOST");
    if (ep && *ep) {
        g->endpoint = cv__strdup(ep);
    } else if (emu && *emu) {
        g->endpoint = strstr(emu, "://") ? cv__strdup(emu) : cv__asprintf("http://%s", emu);
    } else {
        g->endpoint = cv__strdup("https://storage.googleapis.com");
    }
    if (g->endpoint) {
        size_t n = strlen(g->endpoint);
        while (n > 0 && g->endpoint[n - 1] == '/') {
            g->endpoint[--n] = '\0';
        }
    }
    g->bucket = cv__strdup(p->bucket);
    g->prefix = p->path && *p->path ? cv__asprintf("%s/", p->path) : cv__strdup("");
    if (!g->endpoint || !g->bucket || !g->prefix) {
        return CV_FAIL(CV_ERR_NOMEM, "open %s", s->url);
    }
    const char *mr = getenv("CV_GCS_MAX_RESULTS");
    g->max_results = mr && atoi(mr) > 0 && atoi(mr) <= 5000 ? atoi(mr) : 1000;
    cv_status rc = find_account(p->bucket, &g->account);
    if (rc != CV_OK) {
        cv__err_wrap("open %s", s->url);
    }
    return rc;
}

typedef struct gcs_call {
    char *url, *shown;
    char auth[4200];
    const char *hdr[8];
    size_t n_hdr;
    cv_http_req rq;
} gcs_call;

/* `url` is taken over. */
static cv_status call_init(gcs_call *c, const gcs_store *g, const char *method, char *url,
                           const char *name, cv_buf *out)
{
    memset(c, 0, sizeof *c);
    c->url = url;
    c->shown = cv__asprintf("%s/%s", g->url, name);
    if (!c->url || !c->shown) {
        cv_free(c->url);
        cv_free(c->shown);
        return CV_FAIL(CV_ERR_NOMEM, "%s", method);
    }
    cv_http_req rq = {
        .method = method, .url = c->url, .shown = c->shown, .headers = c->hdr, .out = out};
    c->rq = rq;
    return CV_OK;
}

static void call_fini(gcs_call *c)
{
    cv_free(c->url);
    cv_free(c->shown);
    memset(c->auth, 0, sizeof c->auth);
}

/* Run a call with the bearer token; once more with a new token if the server says 401. */
static cv_status run(gcs_call *c, const gcs_store *g, cv_http_resp *rs, bool is_range, uint64_t off,
                     uint64_t len)
{
    size_t base = c->n_hdr;
    for (int pass = 0; pass < 2; pass++) {
        c->n_hdr = base;
        if (g->account) {
            CV_TRY(auth_line(g->account, pass > 0, c->auth, sizeof c->auth));
            c->hdr[c->n_hdr++] = c->auth;
        }
        c->hdr[c->n_hdr] = NULL;
        CV_TRY(is_range ? cv__http_get_range(&c->rq, rs, off, len) : cv__http_perform(&c->rq, rs));
        if (rs->status != 401 || !g->account) {
            break;
        }
    }
    return CV_OK;
}

static char *media_url(const gcs_store *g, const char *name, const char *query)
{
    char *key = cv__asprintf("%s%s", g->prefix, name);
    char *enc = key ? cv__url_encode(key, NULL) : NULL;
    char *url =
        enc ? cv__asprintf("%s/storage/v1/b/%s/o/%s?%s", g->endpoint, g->bucket, enc, query) : NULL;
    cv_free(key);
    cv_free(enc);
    return url;
}

static cv_status gcs_get(cv_store *s, const char *name, cv_buf *out, char *encoding, size_t enc_cap)
{
    gcs_store *g = s->impl;
    gcs_call c;
    CV_TRY(call_init(&c, g, "GET", media_url(g, name, "alt=media"), name, out));
    /* Accept gzip so GCS sends stored bytes instead of transcoding; both are read right. */
    c.rq.flags = CV_HTTP_ACCEPT_ENCODED | CV_HTTP_VERIFY_GOOG;
    cv_http_resp rs;
    cv_status rc = run(&c, g, &rs, false, 0, 0);
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

static cv_status gcs_get_range(cv_store *s, const char *name, uint64_t offset, uint64_t len,
                               cv_buf *out)
{
    gcs_store *g = s->impl;
    out->len = 0;
    if (len == 0) {
        return CV_OK;
    }
    gcs_call c;
    CV_TRY(call_init(&c, g, "GET", media_url(g, name, "alt=media"), name, out));
    cv_http_resp rs;
    cv_status rc = run(&c, g, &rs, true, offset, len);
    if (rc == CV_OK && rs.status == 404) {
        rc = cv__notfound("`%s' not found", c.shown);
    } else if (rc == CV_OK && rs.status != 200) {
        rc = cv__http_fail_status(&c.rq, &rs);
    }
    call_fini(&c);
    return rc;
}

static cv_status gcs_put(cv_store *s, const char *name, const void *p, size_t n,
                         const char *encoding, const char *content_type)
{
    gcs_store *g = s->impl;
    const char *ctype = content_type && *content_type ? content_type : "application/octet-stream";
    uint8_t md5[16];
    char md5_b64[32];
    cv__md5(p, n, md5);
    cv__base64(md5, 16, md5_b64);
    cJSON *meta = cJSON_CreateObject();
    char *key = cv__asprintf("%s%s", g->prefix, name);
    if (!meta || !key) {
        cJSON_Delete(meta);
        cv_free(key);
        return CV_FAIL(CV_ERR_NOMEM, "write");
    }
    cJSON_AddStringToObject(meta, "name", key);
    cJSON_AddStringToObject(meta, "contentType", ctype);
    if (encoding && *encoding) {
        /* CloudFiles names bzip2 "bz2" on GCS (cloudvolume-conventions §3). */
        cJSON_AddStringToObject(meta, "contentEncoding",
                                strcmp(encoding, "bzip2") == 0 ? "bz2" : encoding);
    }
    cJSON_AddStringToObject(meta, "md5Hash", md5_b64); /* GCS refuses a body that differs */
    char *meta_text = cJSON_PrintUnformatted(meta);
    cJSON_Delete(meta);
    cv_free(key);
    /* multipart/related: the metadata part, then the media part. The boundary is made from
     * the data's MD5, and changed in the unlikely case that the data contains it. */
    char boundary[64];
    snprintf(boundary, sizeof boundary, "cvmpi_%02x%02x%02x%02x%02x%02x%02x%02x", md5[0], md5[1],
             md5[2], md5[3], md5[4], md5[5], md5[6], md5[7]);
    for (int k = 0; n >= strlen(boundary) && k < 100; k++) {
        bool clash = false;
        size_t nb = strlen(boundary);
        for (size_t i = 0; i + nb <= n && !clash; i++) {
            clash = memcmp((const uint8_t *)p + i, boundary, nb) == 0;
        }
        if (!clash) {
            break;
        }
        snprintf(boundary + 22, sizeof boundary - 22, "_%d", k);
    }
    cv_buf body;
    cv__buf_init(&body, 0);
    char *head = meta_text ? cv__asprintf("--%s\r\nContent-Type: application/json; "
                                          "charset=UTF-8\r\n\r\n%s\r\n--%s\r\nContent-Type: "
                                          "%s\r\n\r\n",
                                          boundary, meta_text, boundary, ctype)
                           : NULL;
    char *tail = cv__asprintf("\r\n--%s--\r\n", boundary);
    cJSON_free(meta_text);
    cv_status rc = head && tail ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "write");
    if (rc == CV_OK) {
        rc = cv__buf_append(&body, head, strlen(head));
    }
    if (rc == CV_OK) {
        rc = cv__buf_append(&body, p, n);
    }
    if (rc == CV_OK) {
        rc = cv__buf_append(&body, tail, strlen(tail));
    }
    cv_free(head);
    cv_free(tail);
    char type_line[128];
    snprintf(type_line, sizeof type_line, "Content-Type: multipart/related; boundary=%s", boundary);
    gcs_call c;
    if (rc == CV_OK) {
        rc = call_init(&c, g, "POST",
                       cv__asprintf("%s/upload/storage/v1/b/%s/o?uploadType=multipart", g->endpoint,
                                    g->bucket),
                       name, NULL);
    }
    if (rc == CV_OK) {
        c.hdr[c.n_hdr++] = type_line;
        c.rq.body = body.data;
        c.rq.body_len = body.len;
        cv_http_resp rs;
        rc = run(&c, g, &rs, false, 0, 0);
        if (rc == CV_OK && rs.status != 200) {
            rc = cv__http_fail_status(&c.rq, &rs);
        }
        call_fini(&c);
    }
    cv__buf_fini(&body);
    return rc;
}

static cv_status gcs_exists(cv_store *s, const char *name, bool *yes)
{
    gcs_store *g = s->impl;
    gcs_call c;
    CV_TRY(call_init(&c, g, "GET", media_url(g, name, "fields=name"), name, NULL));
    cv_http_resp rs;
    cv_status rc = run(&c, g, &rs, false, 0, 0);
    if (rc == CV_OK && (rs.status == 200 || rs.status == 404)) {
        *yes = rs.status == 200;
    } else if (rc == CV_OK) {
        rc = cv__http_fail_status(&c.rq, &rs);
    }
    call_fini(&c);
    return rc;
}

static cv_status gcs_del(cv_store *s, const char *name)
{
    gcs_store *g = s->impl;
    gcs_call c;
    char *key = cv__asprintf("%s%s", g->prefix, name);
    char *enc = key ? cv__url_encode(key, NULL) : NULL;
    char *url = enc ? cv__asprintf("%s/storage/v1/b/%s/o/%s", g->endpoint, g->bucket, enc) : NULL;
    cv_free(key);
    cv_free(enc);
    CV_TRY(call_init(&c, g, "DELETE", url, name, NULL));
    cv_http_resp rs;
    cv_status rc = run(&c, g, &rs, false, 0, 0);
    if (rc == CV_OK && rs.status != 204 && rs.status != 200 && rs.status != 404) {
        rc = cv__http_fail_status(&c.rq, &rs);
    }
    call_fini(&c);
    return rc;
}

/* ---- batch delete (POST /batch/storage/v1, multipart/mixed) -------------------------------- */

#define BATCH_BOUNDARY "cvmpi_batch_boundary" /* only ever at a line start we write */
#define BATCH_ANSWER_CAP ((size_t)4 << 20)    /* 100 short sub-responses need far less */
#define BOUNDARY_MAX 70                       /* RFC 2046 */

static bool starts_nocase(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(end - p) < n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if ((c >= 'A' && c <= 'Z' ? (char)(c + 32) : c) != word[i]) {
            return false;
        }
    }
    return true;
}

/* The boundary parameter of a multipart Content-Type into out; false if it has none. */
static bool boundary_of(const char *ctype, char *out, size_t cap)
{
    const char *end = ctype + strlen(ctype);
    for (const char *p = ctype; p < end; p++) {
        if (!starts_nocase(p, end, "boundary=")) {
            continue;
        }
        p += 9;
        bool quoted = *p == '"';
        p += quoted;
        size_t n = 0;
        while (p + n < end && (quoted ? p[n] != '"' : p[n] != ';' && p[n] != ' ' && p[n] != '\t')) {
            n++;
        }
        if (n == 0 || n > BOUNDARY_MAX || n >= cap || (quoted && p + n == end)) {
            return false;
        }
        memcpy(out, p, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

/* The line at p: its end without "\r\n" or "\n", and where the next line starts (NULL if the
 * line is not ended). */
static const char *line_at(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    *next = nl ? nl + 1 : NULL;
    const char *e = nl ? nl : end;
    return e > p && e[-1] == '\r' ? e - 1 : e;
}

/* The next delimiter line "--boundary..." that starts a line after `from` ('\n' at or after
 * it); *content_end is where the part before it ends (its line break belongs to the
 * delimiter). NULL if there is none. */
static const char *next_delim(const char *from, const char *end, const char *b, size_t nb,
                              const char **content_end)
{
    for (const char *q = from; q < end; q++) {
        q = memchr(q, '\n', (size_t)(end - q));
        if (!q) {
            return NULL;
        }
        if ((size_t)(end - q - 1) >= nb + 2 && q[1] == '-' && q[2] == '-' &&
            memcmp(q + 3, b, nb) == 0) {
            *content_end = q > from && q[-1] == '\r' ? q - 1 : q;
            return q + 1;
        }
    }
    return NULL;
}

/* One part [p, end): MIME headers (Content-ID), a blank line, then an HTTP response. */
static cv_status batch_part(const char *p, const char *end, size_t position, size_t n, bool *seen,
                            const char *shown, cv_gcs_batch_fn fn, void *arg)
{
    size_t index = position;
    const char *next;
    for (;;) {
        const char *e = p < end ? line_at(p, end, &next) : NULL;
        if (!e || (e != p && !next)) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           "POST `%s': a batch answer part has no blank line after its headers",
                           shown);
        }
        if (e == p) {
            p = next ? next : end;
            break;
        }
        if (starts_nocase(p, e, "content-id:")) {
            /* "<response-ID+K>": K - 1 is the sub-request's index. */
            const char *plus = NULL;
            for (const char *q = p; q < e; q++) {
                plus = *q == '+' ? q : plus;
            }
            size_t k = 0, digits = 0;
            for (const char *q = plus ? plus + 1 : e; q < e && *q >= '0' && *q <= '9'; q++) {
                k = digits < 9 ? k * 10 + (size_t)(*q - '0') : k;
                digits++;
            }
            if (digits > 0) {
                index = digits < 10 && k > 0 ? k - 1 : SIZE_MAX; /* else out of range below */
            }
        }
        p = next;
    }
    /* "HTTP/1.1 204 No Content" */
    const char *e = line_at(p, end, &next);
    long status = 0;
    if (e - p >= 12 && memcmp(p, "HTTP/", 5) == 0) {
        const char *sp = memchr(p, ' ', (size_t)(e - p));
        if (sp && e - sp >= 4 && sp[1] >= '1' && sp[1] <= '5' && sp[2] >= '0' && sp[2] <= '9' &&
            sp[3] >= '0' && sp[3] <= '9' && (e - sp == 4 || sp[4] == ' ')) {
            status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
        }
    }
    if (status == 0) {
        return CV_FAIL(CV_ERR_CORRUPT, "POST `%s': a batch answer part has no HTTP status line",
                       shown);
    }
    if (index >= n || seen[index]) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "POST `%s': the batch answer names a request out of range or twice", shown);
    }
    seen[index] = true;
    /* The sub-response's headers, then its body (none if the headers are not ended). */
    const char *body = end;
    for (p = next; p && p < end;) {
        e = line_at(p, end, &next);
        if (e == p) {
            body = next ? next : end;
            break;
        }
        p = next;
    }
    return fn(index, status, body, (size_t)(end - body), arg);
}

cv_status cv__gcs_parse_batch(const char *text, size_t len, const char *content_type, size_t n,
                              const char *shown, cv_gcs_batch_fn fn, void *arg)
{
    char b[BOUNDARY_MAX + 1];
    if (!content_type ||
        !starts_nocase(content_type, content_type + strlen(content_type), "multipart/mixed") ||
        !boundary_of(content_type, b, sizeof b)) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "POST `%s': the batch answer is not multipart/mixed with a boundary", shown);
    }
    size_t nb = strlen(b);
    const char *end = text + len, *cend;
    const char *d =
        len >= nb + 2 && text[0] == '-' && text[1] == '-' && memcmp(text + 2, b, nb) == 0
            ? text
            : next_delim(text, end, b, nb, &cend);
    if (!d) {
        return CV_FAIL(CV_ERR_CORRUPT, "POST `%s': the batch answer has no `--%s' line", shown, b);
    }
    bool *seen = cv_calloc(n ? n : 1, sizeof *seen);
    if (!seen) {
        return CV_FAIL(CV_ERR_NOMEM, "POST `%s': the batch answer", shown);
    }
    cv_status rc = CV_OK;
    for (size_t parts = 0; rc == CV_OK; parts++) {
        const char *after = d + 2 + nb;
        if (end - after >= 2 && after[0] == '-' && after[1] == '-') {
            break; /* the close delimiter */
        }
        const char *start;
        (void)line_at(after, end, &start);
        const char *nd = start ? next_delim(start - 1, end, b, nb, &cend) : NULL;
        if (!nd) {
            rc =
                CV_FAIL(CV_ERR_CORRUPT,
                        "POST `%s': the batch answer is truncated (no closing `--%s--')", shown, b);
        } else if (parts >= n) {
            rc = CV_FAIL(CV_ERR_CORRUPT,
                         "POST `%s': the batch answer has more parts than the %zu requests", shown,
                         n);
        } else {
            rc = batch_part(start, cend > start ? cend : start, parts, n, seen, shown, fn, arg);
        }
        d = nd;
    }
    cv_free(seen);
    return rc;
}

/* What one batch did to each of its keys. */
typedef struct batch_result {
    long *status;         /* per sub-request; 0: not answered */
    char (*message)[128]; /* GCS's error "message", printable, or "" */
} batch_result;

static cv_status note_answer(size_t index, long status, const char *body, size_t len, void *arg)
{
    batch_result *r = arg;
    r->status[index] = status;
    r->message[index][0] = '\0';
    if (status >= 200 && status < 300) {
        return CV_OK;
    }
    cJSON *o = cJSON_ParseWithLength(body, len < 65536 ? len : 0);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "error");
    const char *msg = json_str(err, "message");
    if (msg) {
        size_t i = 0;
        for (; msg[i] && i < sizeof r->message[index] - 1; i++) {
            r->message[index][i] = msg[i] >= 0x20 && msg[i] < 0x7f ? msg[i] : '?';
        }
        r->message[index][i] = '\0';
    }
    cJSON_Delete(o);
    return CV_OK;
}

/* One POST of DELETE sub-requests for names[idx[0..m)]; statuses and messages into r. */
static cv_status post_batch(gcs_store *g, const char *const *names, const size_t *idx, size_t m,
                            batch_result *r)
{
    cv_buf body, answer;
    cv__buf_init(&body, 0);
    cv__buf_init(&answer, BATCH_ANSWER_CAP);
    cv_status rc = CV_OK;
    for (size_t k = 0; k < m && rc == CV_OK; k++) {
        char *key = cv__asprintf("%s%s", g->prefix, names[idx[k]]);
        char *enc = key ? cv__url_encode(key, NULL) : NULL;
        char *part = enc ? cv__asprintf("--" BATCH_BOUNDARY "\r\nContent-Type: application/http\r\n"
                                        "Content-Transfer-Encoding: binary\r\n"
                                        "Content-ID: <cvmpi+%zu>\r\n\r\n"
                                        "DELETE /storage/v1/b/%s/o/%s HTTP/1.1\r\n\r\n\r\n",
                                        k + 1, g->bucket, enc)
                         : NULL;
        rc = part ? cv__buf_append(&body, part, strlen(part)) : CV_FAIL(CV_ERR_NOMEM, "delete");
        cv_free(key);
        cv_free(enc);
        cv_free(part);
    }
    if (rc == CV_OK) {
        rc = cv__buf_append(&body, "--" BATCH_BOUNDARY "--\r\n", strlen(BATCH_BOUNDARY) + 6);
    }
    gcs_call c;
    bool called = false;
    if (rc == CV_OK) {
        rc =
            call_init(&c, g, "POST", cv__asprintf("%s/batch/storage/v1", g->endpoint), "", &answer);
        called = rc == CV_OK;
    }
    if (rc == CV_OK) {
        /* The outer request is the whole bucket path, not one of its keys. */
        cv_free(c.shown);
        c.shown = cv__strdup(g->url);
        c.rq.shown = c.shown;
        rc = c.shown ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "delete");
    }
    if (rc == CV_OK) {
        static const char type_line[] = "Content-Type: multipart/mixed; boundary=" BATCH_BOUNDARY;
        c.hdr[c.n_hdr++] = type_line;
        c.rq.body = body.data;
        c.rq.body_len = body.len;
        cv_http_resp rs;
        rc = run(&c, g, &rs, false, 0, 0);
        if (rc == CV_OK && rs.status != 200) {
            rc = cv__http_fail_status(&c.rq, &rs);
        }
        if (rc == CV_OK) {
            rc = cv__gcs_parse_batch((const char *)answer.data, answer.len, rs.content_type, m,
                                     g->url, note_answer, r);
        }
    }
    if (called) {
        call_fini(&c);
    }
    cv__buf_fini(&body);
    cv__buf_fini(&answer);
    return rc;
}

/* "DELETE `gs://b/p/KEY': HTTP 403 Forbidden (message)" for a key GCS would not delete. */
static void key_failure(const gcs_store *g, const char *name, long status, const char *message,
                        char *out, size_t cap)
{
    const char *txt = cv__http_status_text(status);
    if (status == 0) {
        snprintf(out, cap, "DELETE `%s/%s': no answer in the batch", g->url, name);
    } else {
        snprintf(out, cap, "DELETE `%s/%s': HTTP %ld%s%s%s%s%s", g->url, name, status,
                 *txt ? " " : "", txt, *message ? " (" : "", message, *message ? ")" : "");
    }
}

/* Up to CV_STORE_GCS_DEL_BATCH deletes in one batch request, as CloudFiles does through
 * google-cloud-storage. 404 means already deleted; keys answered with a retryable status
 * (or not at all) go again in a smaller batch after the backoff of cv__http_perform(); any
 * other status fails the key: each is logged, the first is the error. */
static cv_status gcs_del_many(cv_store *s, const char *const *names, size_t n)
{
    gcs_store *g = s->impl;
    if (n == 0) {
        return CV_OK;
    }
    size_t *idx = cv_calloc(n, sizeof *idx);
    size_t *failed = cv_calloc(n, sizeof *failed);
    batch_result r = {cv_calloc(n, sizeof *r.status), cv_calloc(n, sizeof *r.message)};
    long *last = cv_calloc(n, sizeof *last);
    char(*last_msg)[128] = cv_calloc(n, sizeof *last_msg);
    cv_status rc = idx && failed && r.status && r.message && last && last_msg
                       ? CV_OK
                       : CV_FAIL(CV_ERR_NOMEM, "delete %zu objects from %s", n, g->url);
    size_t m = n, n_failed = 0;
    for (size_t i = 0; i < n && rc == CV_OK; i++) {
        idx[i] = i;
    }
    for (int attempt = 1; rc == CV_OK && m > 0; attempt++) {
        memset(r.status, 0, m * sizeof *r.status);
        rc = post_batch(g, names, idx, m, &r);
        size_t again = 0;
        for (size_t k = 0; k < m && rc == CV_OK; k++) {
            long st = r.status[k];
            last[idx[k]] = st;
            memcpy(last_msg[idx[k]], r.message[k], sizeof last_msg[0]);
            if ((st >= 200 && st < 300) || st == 404) {
                continue;
            }
            if (st == 0 || cv__http_status_retryable(st)) {
                idx[again++] = idx[k];
            } else {
                failed[n_failed++] = idx[k];
            }
        }
        m = rc == CV_OK ? again : 0;
        if (m > 0) {
            char what[600];
            key_failure(g, names[idx[0]], last[idx[0]], last_msg[idx[0]], what, sizeof what);
            if (m > 1) {
                size_t len = strlen(what);
                snprintf(what + len, sizeof what - len, " (and %zu more key%s)", m - 1,
                         m > 2 ? "s" : "");
            }
            if (!cv__http_retry_wait(attempt, what)) {
                for (size_t k = 0; k < m; k++) {
                    failed[n_failed++] = idx[k];
                }
                m = 0;
            }
        }
    }
    if (rc == CV_OK && n_failed > 0) {
        char line[600];
        for (size_t k = 1; k < n_failed; k++) {
            key_failure(g, names[failed[k]], last[failed[k]], last_msg[failed[k]], line,
                        sizeof line);
            CV_LOG(CV_LOG_ERROR, "%s", line);
        }
        key_failure(g, names[failed[0]], last[failed[0]], last_msg[failed[0]], line, sizeof line);
        rc = n_failed > 1 ? CV_FAIL(CV_ERR_IO, "%s (and %zu more key%s failed)", line, n_failed - 1,
                                    n_failed > 2 ? "s" : "")
                          : CV_FAIL(CV_ERR_IO, "%s", line);
    }
    cv_free(idx);
    cv_free(failed);
    cv_free(r.status);
    cv_free(r.message);
    cv_free(last);
    cv_free(last_msg);
    return rc;
}

/* GCS sends sizes as decimal strings ("size": "123"). */
static bool size_of(const cJSON *o, uint64_t *out)
{
    const char *t = json_str(o, "size");
    if (!t || !*t || strlen(t) > 20) {
        return false;
    }
    uint64_t v = 0;
    for (; *t; t++) {
        if (*t < '0' || *t > '9' || v > (UINT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(*t - '0');
    }
    *out = v;
    return true;
}

/* One objects.list page: objects with their "size" (with `need_size` a missing or bad one is
 * an error; without, UINT64_MAX is handed out), subdirectories with UINT64_MAX. */
static cv_status parse_page(const char *json, size_t len, const char *strip, const char *shown,
                            bool need_size, cv_store_sized_fn fn, void *arg, char **token)
{
    *token = NULL;
    cJSON *o = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return CV_FAIL(CV_ERR_CORRUPT, "list `%s': the answer is not a JSON object", shown);
    }
    size_t np = strlen(strip);
    cv_status rc = CV_OK;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(o, "items");
    if (items && !cJSON_IsArray(items)) {
        rc = CV_FAIL(CV_ERR_CORRUPT, "list `%s': \"items\" is not an array", shown);
    }
    const cJSON *list = rc == CV_OK ? items : NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, list)
    {
        const char *name = json_str(it, "name");
        if (rc == CV_OK && name && strncmp(name, strip, np) == 0 && name[np]) {
            uint64_t size = UINT64_MAX;
            if (need_size && !size_of(it, &size)) {
                rc =
                    CV_FAIL(CV_ERR_CORRUPT, "list `%s': an object without a valid \"size\"", shown);
            } else {
                rc = fn(name + np, size, arg);
            }
        }
    }
    /* With delimiter=/ the subdirectories come as "prefixes": ["a/b/", ...]. */
    const cJSON *prefixes = rc == CV_OK ? cJSON_GetObjectItemCaseSensitive(o, "prefixes") : NULL;
    const cJSON *dirs = cJSON_IsArray(prefixes) ? prefixes : NULL;
    const cJSON *pre;
    cJSON_ArrayForEach(pre, dirs)
    {
        const char *name = cJSON_IsString(pre) ? pre->valuestring : NULL;
        if (rc == CV_OK && name && strncmp(name, strip, np) == 0 && name[np]) {
            rc = fn(name + np, UINT64_MAX, arg);
        }
    }
    const char *next = rc == CV_OK ? json_str(o, "nextPageToken") : NULL;
    if (next && *next) {
        *token = cv__strdup(next);
        if (!*token) {
            rc = CV_FAIL(CV_ERR_NOMEM, "list");
        }
    }
    cJSON_Delete(o);
    return rc;
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

cv_status cv__gcs_parse_list(const char *json, size_t len, const char *strip, const char *shown,
                             cv_status (*fn)(const char *name, void *arg), void *arg, char **token)
{
    names_only n = {fn, arg};
    return parse_page(json, len, strip, shown, false, drop_size, &n, token);
}

cv_status cv__gcs_parse_list_sized(const char *json, size_t len, const char *strip,
                                   const char *shown, cv_store_sized_fn fn, void *arg, char **token)
{
    return parse_page(json, len, strip, shown, true, fn, arg, token);
}

cv_status cv__gcs_parse_meta(const char *json, size_t len, const char *shown, cv_store_meta *m)
{
    cJSON *o = cJSON_ParseWithLength(json, len);
    uint64_t size = 0;
    if (!cJSON_IsObject(o) || !size_of(o, &size) || size > INT64_MAX) {
        cJSON_Delete(o);
        return CV_FAIL(CV_ERR_CORRUPT, "head `%s': the answer is not an object resource", shown);
    }
    m->size = (int64_t)size;
    static const struct {
        const char *field;
        size_t at, cap;
    } texts[] = {
        {"contentType", offsetof(cv_store_meta, content_type), sizeof m->content_type},
        {"contentEncoding", offsetof(cv_store_meta, encoding), sizeof m->encoding},
        {"etag", offsetof(cv_store_meta, etag), sizeof m->etag},
        {"md5Hash", offsetof(cv_store_meta, md5), sizeof m->md5},
        {"cacheControl", offsetof(cv_store_meta, cache_control), sizeof m->cache_control},
        {"storageClass", offsetof(cv_store_meta, storage_class), sizeof m->storage_class},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const char *v = json_str(o, texts[i].field);
        snprintf((char *)m + texts[i].at, texts[i].cap, "%s", v ? v : "");
    }
    const char *updated = json_str(o, "updated");
    cv__http_time_iso(updated ? updated : "", m->last_modified, sizeof m->last_modified);
    cJSON_Delete(o);
    return CV_OK;
}

static cv_status list_pages(cv_store *s, const char *prefix, bool is_level, bool need_size,
                            cv_store_sized_fn fn, void *arg)
{
    gcs_store *g = s->impl;
    char *full = cv__asprintf("%s%s", g->prefix, prefix);
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
        char *enc_token = token ? cv__url_encode(token, NULL) : NULL;
        char *url = cv__asprintf("%s/storage/v1/b/%s/o?prefix=%s&maxResults=%d%s%s%s"
                                 "&fields=items(name%s),prefixes,nextPageToken",
                                 g->endpoint, g->bucket, enc_prefix, g->max_results,
                                 token ? "&pageToken=" : "", token ? enc_token : "",
                                 is_level ? "&delimiter=%2F" : "", need_size ? ",size" : "");
        cv_free(enc_token);
        cv_free(token);
        token = NULL;
        gcs_call c;
        rc = call_init(&c, g, "GET", url, prefix, &page);
        if (rc != CV_OK) {
            break;
        }
        cv_http_resp rs;
        rc = run(&c, g, &rs, false, 0, 0);
        if (rc == CV_OK && rs.status != 200) {
            rc = cv__http_fail_status(&c.rq, &rs);
        }
        if (rc == CV_OK) {
            rc = parse_page((const char *)page.data, page.len, g->prefix, c.shown, need_size, fn,
                            arg, &token);
        }
        call_fini(&c);
    } while (rc == CV_OK && token);
    cv_free(token);
    cv_free(enc_prefix);
    cv__buf_fini(&page);
    return rc;
}

static cv_status gcs_list(cv_store *s, const char *prefix,
                          cv_status (*fn)(const char *name, void *arg), void *arg)
{
    names_only n = {fn, arg};
    return list_pages(s, prefix, false, false, drop_size, &n);
}

static cv_status gcs_list_level(cv_store *s, const char *prefix,
                                cv_status (*fn)(const char *name, void *arg), void *arg)
{
    names_only n = {fn, arg};
    return list_pages(s, prefix, true, false, drop_size, &n);
}

static cv_status gcs_list_sized(cv_store *s, const char *prefix, cv_store_sized_fn fn, void *arg)
{
    return list_pages(s, prefix, false, true, fn, arg);
}

/* objects.get without alt=media: the object resource. */
static cv_status gcs_head(cv_store *s, const char *name, cv_store_meta *m)
{
    gcs_store *g = s->impl;
    gcs_call c;
    cv_buf answer;
    cv__buf_init(&answer, (size_t)1 << 20);
    cv_status rc = call_init(&c, g, "GET", media_url(g, name, "alt=json"), name, &answer);
    if (rc != CV_OK) {
        cv__buf_fini(&answer);
        return rc;
    }
    cv_http_resp rs;
    rc = run(&c, g, &rs, false, 0, 0);
    if (rc == CV_OK && rs.status == 404) {
        rc = cv__notfound("`%s' not found", c.shown);
    } else if (rc == CV_OK && rs.status != 200) {
        rc = cv__http_fail_status(&c.rq, &rs);
    } else if (rc == CV_OK) {
        rc = cv__gcs_parse_meta((const char *)answer.data, answer.len, c.shown, m);
    }
    call_fini(&c);
    cv__buf_fini(&answer);
    return rc;
}

/* ---- resumable upload (cv__store_put_pieces) --------------------------------------------- */

/* One resumable upload session: where it is, how many bytes the server holds, and the MD5 of
 * all bytes sent (checked against the object GCS makes). */
typedef struct gcs_upload {
    gcs_store *g;
    const char *name;
    const char *content_type;
    char *session; /* the session URI, or NULL before it starts */
    uint64_t kept; /* bytes the server has */
    bool made;     /* the last chunk made the object */
    EVP_MD_CTX *md5;
} gcs_upload;

/* POST uploadType=resumable with the object's metadata: the answer's Location is the session.
 * It must lie under the endpoint: the bearer token goes there with every chunk. */
static cv_status up_start(gcs_upload *u)
{
    gcs_store *g = u->g;
    const char *ctype =
        u->content_type && *u->content_type ? u->content_type : "application/octet-stream";
    cJSON *meta = cJSON_CreateObject();
    char *key = cv__asprintf("%s%s", g->prefix, u->name);
    if (meta && key) {
        cJSON_AddStringToObject(meta, "name", key);
        cJSON_AddStringToObject(meta, "contentType", ctype);
    }
    char *meta_text = meta && key ? cJSON_PrintUnformatted(meta) : NULL;
    cJSON_Delete(meta);
    cv_free(key);
    if (!meta_text) {
        return CV_FAIL(CV_ERR_NOMEM, "write");
    }
    gcs_call c;
    cv_status rc = call_init(
        &c, g, "POST",
        cv__asprintf("%s/upload/storage/v1/b/%s/o?uploadType=resumable", g->endpoint, g->bucket),
        u->name, NULL);
    if (rc != CV_OK) {
        cJSON_free(meta_text);
        return rc;
    }
    char type_line[160];
    snprintf(type_line, sizeof type_line, "X-Upload-Content-Type: %s", ctype);
    c.hdr[c.n_hdr++] = "Content-Type: application/json; charset=UTF-8";
    c.hdr[c.n_hdr++] = type_line;
    c.rq.body = meta_text;
    c.rq.body_len = strlen(meta_text);
    cv_http_resp rs;
    rc = run(&c, g, &rs, false, 0, 0);
    if (rc == CV_OK && rs.status != 200 && rs.status != 201) {
        rc = cv__http_fail_status(&c.rq, &rs);
    }
    size_t n_ep = strlen(g->endpoint);
    if (rc == CV_OK && (strncmp(rs.location, g->endpoint, n_ep) != 0 || rs.location[n_ep] != '/' ||
                        strlen(rs.location) >= sizeof rs.location - 1)) {
        rc = CV_FAIL(CV_ERR_IO, "POST `%s' (resumable upload): no session URI under %s", c.shown,
                     g->endpoint);
    }
    if (rc == CV_OK) {
        u->session = cv__strdup(rs.location);
        rc = u->session ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "write");
    }
    call_fini(&c);
    cJSON_free(meta_text);
    return rc;
}

/* The bytes a 308 says the server holds: "bytes=0-N" is N + 1, no Range none. */
static bool kept_bytes(const char *range, uint64_t *kept)
{
    uint64_t last;
    char tail;
    if (!range[0]) {
        *kept = 0;
        return true;
    }
    if (sscanf(range, "bytes=0-%" SCNu64 "%c", &last, &tail) != 1 || last == UINT64_MAX) {
        return false;
    }
    *kept = last + 1;
    return true;
}

/* PUT the next chunk (n bytes, a multiple of 256 KiB unless `last`) to the session with its
 * Content-Range. A server that kept less than it was sent (its 308's Range) gets the rest
 * again. The final answer is the object: its md5Hash must be that of every byte sent. */
static cv_status up_chunk(gcs_upload *u, const uint8_t *p, size_t n, bool last)
{
    gcs_store *g = u->g;
    uint64_t start = u->kept, end = u->kept + n; /* this chunk is [start, end) of the object */
    cv_buf answer;
    cv__buf_init(&answer, (size_t)1 << 20);
    cv_status rc = CV_OK;
    for (int stalls = 0; rc == CV_OK && u->kept < end;) {
        char range_line[96];
        if (last) {
            snprintf(range_line, sizeof range_line,
                     "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, u->kept, end - 1,
                     end);
        } else {
            snprintf(range_line, sizeof range_line,
                     "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/*", u->kept, end - 1);
        }
        gcs_call c;
        rc = call_init(&c, g, "PUT", cv__strdup(u->session), u->name, &answer);
        if (rc != CV_OK) {
            break;
        }
        c.hdr[c.n_hdr++] = range_line;
        c.rq.body = p + (u->kept - start);
        c.rq.body_len = (size_t)(end - u->kept);
        cv_http_resp rs;
        rc = run(&c, g, &rs, false, 0, 0);
        uint64_t kept = 0;
        if (rc == CV_OK && (rs.status == 200 || rs.status == 201) && last) {
            u->kept = end;
            u->made = true;
            cv_store_meta m;
            uint8_t md5[16];
            char want[32];
            unsigned md5_len = 0;
            EVP_DigestFinal_ex(u->md5, md5, &md5_len);
            cv__base64(md5, 16, want);
            rc = cv__gcs_parse_meta((const char *)answer.data, answer.len, c.shown, &m);
            if (rc == CV_OK && (m.size != (int64_t)end || (m.md5[0] && strcmp(m.md5, want) != 0))) {
                rc = CV_FAIL(CV_ERR_CORRUPT,
                             "PUT `%s' (resumable upload): the object made is not the %" PRIu64
                             " bytes sent",
                             c.shown, end);
            }
        } else if (rc == CV_OK && rs.status == 308 && kept_bytes(rs.range, &kept) &&
                   kept >= u->kept && kept <= end && !(last && kept == end)) {
            stalls = kept == u->kept ? stalls + 1 : 0;
            u->kept = kept;
            if (stalls == 3) {
                rc = CV_FAIL(CV_ERR_IO, "PUT `%s' (resumable upload): no progress at byte %" PRIu64,
                             c.shown, kept);
            }
        } else if (rc == CV_OK) {
            rc = cv__http_fail_status(&c.rq, &rs);
        }
        call_fini(&c);
    }
    cv__buf_fini(&answer);
    return rc;
}

/* DELETE the session: GCS drops what it holds (answering 499); no object appears. */
static void up_cancel(gcs_upload *u)
{
    gcs_call c;
    cv_err saved = *cv_err_last();
    cv_err_clear();
    cv_status rc = call_init(&c, u->g, "DELETE", cv__strdup(u->session), u->name, NULL);
    if (rc == CV_OK) {
        cv_http_resp rs;
        rc = run(&c, u->g, &rs, false, 0, 0);
        if (rc == CV_OK && rs.status != 499 && rs.status != 204 && rs.status != 200 &&
            rs.status != 404 && rs.status != 410) {
            rc = cv__http_fail_status(&c.rq, &rs);
        }
        call_fini(&c);
    }
    if (rc != CV_OK) {
        CV_LOG(CV_LOG_WARN, "cancel the resumable upload: %s", cv_err_last()->what);
    }
    cv__err_set(&saved);
}

/* A full chunk of a resumable upload, the session started with the first. */
static cv_status gcs_send_chunk(void *ctx, const uint8_t *data, size_t len)
{
    gcs_upload *u = ctx;
    CV_TRY(u->session ? CV_OK : up_start(u));
    EVP_DigestUpdate(u->md5, data, len);
    return up_chunk(u, data, len, false);
}

/* Up to one part in memory: an object no larger than a part is one multipart POST (gcs_put,
 * with its md5Hash); a larger one a resumable upload in chunks of exactly that size but the
 * last. */
static cv_status gcs_put_pieces(cv_store *s, const char *name, cv_store_pieces next, void *arg,
                                const char *content_type)
{
    gcs_store *g = s->impl;
    size_t part = cv__store_part_bytes("gs");
    gcs_upload u = {.g = g, .name = name, .content_type = content_type, .md5 = EVP_MD_CTX_new()};
    cv_buf buf; /* grows with the object, up to one part */
    cv__buf_init(&buf, part);
    cv_status rc = u.md5 && EVP_DigestInit_ex(u.md5, EVP_md5(), NULL) == 1
                       ? CV_OK
                       : CV_FAIL(CV_ERR_NOMEM, "write `%s/%s'", g->url, name);
    if (rc == CV_OK) {
        rc = cv__store_gather_parts(next, arg, part, &buf, gcs_send_chunk, &u);
    }
    if (rc == CV_OK && !u.session) {
        rc = gcs_put(s, name, buf.data, buf.len, NULL, content_type);
    } else if (rc == CV_OK) {
        EVP_DigestUpdate(u.md5, buf.data, buf.len);
        rc = up_chunk(&u, buf.data, buf.len, true);
    }
    if (rc != CV_OK && u.made) {
        /* An object that is not what was sent does not stay. */
        cv_err saved = *cv_err_last();
        cv_err_clear();
        if (gcs_del(s, name) != CV_OK) {
            CV_LOG(CV_LOG_WARN, "%s", cv_err_last()->what);
        }
        cv__err_set(&saved);
    } else if (rc != CV_OK && u.session) {
        up_cancel(&u);
    }
    cv__buf_fini(&buf);
    cv_free(u.session);
    EVP_MD_CTX_free(u.md5);
    return rc;
}

const cv_store_ops cv_store_gcs = {
    "gs",           /* name */
    0,              /* flags: Content-Encoding, not name suffixes */
    gcs_open,       /* open */
    gcs_get,        /* get */
    gcs_get_range,  /* get_range */
    gcs_put,        /* put */
    gcs_exists,     /* exists */
    gcs_del,        /* del */
    gcs_del_many,   /* del_many: JSON API batches of 100 */
    gcs_list,       /* list */
    gcs_list_level, /* list_level: delimiter=/ */
    gcs_head,       /* head: the object resource */
    gcs_list_sized, /* list_sized: objects.list "size" */
    gcs_put_pieces, /* put_pieces: resumable upload */
    gcs_close,      /* close */
};
