/* SPDX-License-Identifier: BSD-3-Clause
 * http.c: the one HTTP client of the cloud backends (issue 5; cloudvolume-conventions §3) on
 * libcurl. Every transfer runs on one engine thread and one curl multi handle, whose
 * connection cache all requests share (connections kept alive, HTTP/2 multiplexed where the
 * server offers it); callers block until their transfer ends. DNS and TLS sessions are shared. The
 * only retry loop of the cloud stores is here. Bodies are never decoded here: store.c removes
 * Content-Encoding once. No MPI here, and credentials, signatures and tokens never reach a log line
 * or an error message. */
#include "io/http.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_IDLE 128
#define ERR_BODY_CAP 4096

static struct {
    int retries;
    double backoff, backoff_max; /* seconds */
    long connect_timeout, stall_timeout;
    int max_inflight;
    const char *ca_bundle;
    CURLSH *share;
    bool ok;
} cfg;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static CURL *idle[MAX_IDLE];
static int n_idle;

/* The transfer engine: one thread drives every transfer of the process on one curl multi
 * handle, so all requests share its connection cache (kept-alive connections, HTTP/2
 * multiplexing where the server offers it). Callers hand it a ready easy handle and wait. */
typedef struct eng_job {
    CURL *h;
    CURLcode result;
    bool is_done;
    struct eng_job *next;
} eng_job;

static pthread_mutex_t eng_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t eng_cond = PTHREAD_COND_INITIALIZER;
static CURLM *eng_multi;
static pthread_t eng_thread;
static bool eng_running, eng_stop;
static eng_job *eng_queue; /* submitted, not yet added to the multi handle */

/* AIMD window over the requests in flight in this process. */
static pthread_mutex_t lim_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lim_cond = PTHREAD_COND_INITIALIZER;
static double lim_window;
static int lim_inflight;
static double lim_last_cut;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long env_long(const char *name, long dflt, long lo, long hi)
{
    const char *e = getenv(name);
    if (!e || !*e) {
        return dflt;
    }
    char *end;
    long v = strtol(e, &end, 10);
    if (*end || v < lo || v > hi) {
        CV_LOG(CV_LOG_WARN, "ignoring %s=%s (want %ld..%ld)", name, e, lo, hi);
        return dflt;
    }
    return v;
}

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
    (void)h;
    (void)a;
    (void)u;
    pthread_mutex_lock(&share_locks[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
    (void)h;
    (void)u;
    pthread_mutex_unlock(&share_locks[d]);
}

static void init(void)
{
    cfg.retries = (int)env_long("CV_HTTP_RETRIES", 8, 0, 100);
    cfg.backoff = (double)env_long("CV_HTTP_BACKOFF_MS", 100, 0, 600000) / 1000.0;
    cfg.backoff_max = (double)env_long("CV_HTTP_BACKOFF_MAX_MS", 20000, 0, 3600000) / 1000.0;
    cfg.connect_timeout = env_long("CV_HTTP_CONNECT_TIMEOUT", 10, 1, 3600);
    cfg.stall_timeout = env_long("CV_HTTP_TIMEOUT", 60, 1, 86400);
    cfg.max_inflight = (int)env_long("CV_HTTP_MAX_INFLIGHT", 64, 1, 4096);
    lim_window = cfg.max_inflight;
    cfg.ca_bundle = getenv("CV_CA_BUNDLE");
    if (!cfg.ca_bundle || !*cfg.ca_bundle) {
        cfg.ca_bundle = getenv("CURL_CA_BUNDLE");
    }
    if (cfg.ca_bundle && !*cfg.ca_bundle) {
        cfg.ca_bundle = NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return;
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        pthread_mutex_init(&share_locks[i], NULL);
    }
    /* Connections live in the engine's multi handle; DNS answers and TLS sessions are shared
     * with the transfers that run without it. */
    cfg.share = curl_share_init();
    if (cfg.share) {
        curl_share_setopt(cfg.share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(cfg.share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(cfg.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(cfg.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
    cfg.ok = true;
}

static void *eng_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&eng_lock);
        bool stop = eng_stop;
        eng_job *q = eng_queue;
        eng_queue = NULL;
        pthread_mutex_unlock(&eng_lock);
        for (eng_job *next; q; q = next) {
            next = q->next; /* a finished job belongs to its waiting caller again */
            curl_easy_setopt(q->h, CURLOPT_PRIVATE, q);
            CURLMcode mc = curl_multi_add_handle(eng_multi, q->h);
            if (mc != CURLM_OK) {
                pthread_mutex_lock(&eng_lock);
                q->result = CURLE_OUT_OF_MEMORY;
                q->is_done = true;
                pthread_cond_broadcast(&eng_cond);
                pthread_mutex_unlock(&eng_lock);
            }
        }
        int running = 0;
        curl_multi_perform(eng_multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(eng_multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE) {
                continue;
            }
            CURL *h = m->easy_handle;
            CURLcode result = m->data.result;
            eng_job *j = NULL;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&j);
            curl_multi_remove_handle(eng_multi, h);
            pthread_mutex_lock(&eng_lock);
            j->result = result;
            j->is_done = true;
            pthread_cond_broadcast(&eng_cond);
            pthread_mutex_unlock(&eng_lock);
        }
        if (stop && running == 0) {
            return NULL;
        }
        curl_multi_poll(eng_multi, NULL, 0, 1000, NULL);
    }
}

/* Run the transfer of a set-up easy handle on the engine; like curl_easy_perform. */
static CURLcode eng_perform(CURL *h)
{
    eng_job j = {h, CURLE_OK, false, NULL};
    pthread_mutex_lock(&eng_lock);
    if (!eng_running) {
        eng_multi = curl_multi_init();
        if (eng_multi) {
            curl_multi_setopt(eng_multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
            curl_multi_setopt(eng_multi, CURLMOPT_MAXCONNECTS, (long)MAX_IDLE);
            eng_stop = false;
            if (pthread_create(&eng_thread, NULL, eng_main, NULL) == 0) {
                eng_running = true;
            } else {
                curl_multi_cleanup(eng_multi);
                eng_multi = NULL;
            }
        }
        if (!eng_running) {
            pthread_mutex_unlock(&eng_lock);
            return curl_easy_perform(h); /* no engine: this thread does the transfer */
        }
    }
    j.next = eng_queue;
    eng_queue = &j;
    pthread_mutex_unlock(&eng_lock);
    curl_multi_wakeup(eng_multi);
    pthread_mutex_lock(&eng_lock);
    while (!j.is_done) {
        pthread_cond_wait(&eng_cond, &eng_lock);
    }
    pthread_mutex_unlock(&eng_lock);
    return j.result;
}

void cv__http_cleanup(void)
{
    pthread_mutex_lock(&eng_lock);
    bool running = eng_running;
    eng_stop = true;
    pthread_mutex_unlock(&eng_lock);
    if (running) {
        curl_multi_wakeup(eng_multi);
        pthread_join(eng_thread, NULL);
        curl_multi_cleanup(eng_multi);
        eng_multi = NULL;
        eng_running = false;
    }
    pthread_mutex_lock(&pool_lock);
    for (int i = 0; i < n_idle; i++) {
        curl_easy_cleanup(idle[i]);
    }
    n_idle = 0;
    pthread_mutex_unlock(&pool_lock);
}

static CURL *take_handle(void)
{
    CURL *h = NULL;
    pthread_mutex_lock(&pool_lock);
    if (n_idle > 0) {
        h = idle[--n_idle];
    }
    pthread_mutex_unlock(&pool_lock);
    if (h) {
        curl_easy_reset(h); /* keeps the handle's open connections */
        return h;
    }
    return curl_easy_init();
}

static void give_handle(CURL *h)
{
    pthread_mutex_lock(&pool_lock);
    if (n_idle < MAX_IDLE) {
        idle[n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&pool_lock);
    if (h) {
        curl_easy_cleanup(h);
    }
}

static void lim_acquire(void)
{
    pthread_mutex_lock(&lim_lock);
    while (lim_inflight >= (int)lim_window) {
        pthread_cond_wait(&lim_cond, &lim_lock);
    }
    lim_inflight++;
    pthread_mutex_unlock(&lim_lock);
}

static void lim_release(bool slow_down)
{
    pthread_mutex_lock(&lim_lock);
    lim_inflight--;
    if (slow_down) {
        /* One cut per burst of refusals: those already in flight were sent at the old rate. */
        double t = now_s();
        if (t - lim_last_cut > 0.5) {
            lim_window = lim_window / 2 < 1 ? 1 : lim_window / 2;
            lim_last_cut = t;
            CV_LOG(CV_LOG_INFO, "server asks to slow down: %d requests in flight at most",
                   (int)lim_window);
        }
    } else if (lim_window < cfg.max_inflight) {
        lim_window += 1.0 / lim_window;
        if (lim_window > cfg.max_inflight) {
            lim_window = cfg.max_inflight;
        }
    }
    pthread_cond_broadcast(&lim_cond);
    pthread_mutex_unlock(&lim_lock);
}

/* Uniform in [0, 1), per thread (xorshift64*); jitter only, nothing secret depends on it. */
static double jitter(void)
{
    static _Thread_local uint64_t state;
    if (!state) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)&state ^ (uint64_t)ts.tv_sec;
        state |= 1;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (double)((state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void sleep_s(double s)
{
    if (s <= 0) {
        return;
    }
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

char *cv__url_encode(const char *s, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = cv_malloc(3 * n + 1);
    if (!out) {
        return NULL;
    }
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
            (keep && strchr(keep, *p))) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* ---- digests ------------------------------------------------------------------------------- */

void cv__md5(const void *p, size_t n, uint8_t out[16])
{
    unsigned int len = 16;
    EVP_Digest(p, n, out, &len, EVP_md5(), NULL);
}

void cv__sha256_hex(const void *p, size_t n, char out[65])
{
    uint8_t d[32];
    unsigned int len = 32;
    EVP_Digest(p, n, d, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    }
}

void cv__base64(const void *p, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

void cv__base64url(const void *p, size_t n, char *out)
{
    cv__base64(p, n, out);
    char *o = out;
    for (char *c = out; *c; c++) {
        if (*c == '=') {
            continue;
        }
        *o++ = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    }
    *o = '\0';
}

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1; /* Castagnoli, reflected */
        }
        crc_table[i] = c;
    }
}

uint32_t cv__crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc = crc_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

/* ---- one attempt --------------------------------------------------------------------------- */

typedef struct attempt {
    CURL *h;
    cv_buf *out;
    cv_buf err_body;
    bool too_big;       /* out->max exceeded: not worth a retry */
    size_t stop_after;  /* rq->stop_after */
    size_t partial_max; /* rq->partial_max */
    bool enough;        /* stop_after bytes arrived and the transfer was ended there */
    bool checked_length;
} attempt;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    attempt *a = arg;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
        if (!a->out) {
            return len;
        }
        if (!a->checked_length) {
            /* A declared length over the cap fails before a byte is buffered. */
            a->checked_length = true;
            curl_off_t declared = -1;
            curl_easy_getinfo(a->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &declared);
            if (a->out->max && declared > 0 && (uint64_t)declared > a->out->max) {
                a->too_big = true;
                return 0;
            }
        }
        if (status == 206 && a->partial_max && a->out->len + len > a->partial_max) {
            a->too_big = true; /* more than the range asked for */
            return 0;
        }
        if (status == 200 && a->stop_after && a->out->len + len >= a->stop_after) {
            /* The bytes wanted are in (a server ignoring Range): end the transfer here. */
            size_t keep = a->stop_after - a->out->len;
            a->enough = cv__buf_append(a->out, p, keep) == CV_OK;
            return a->enough && keep == len ? len : 0;
        }
        if (a->out->max && a->out->len + len > a->out->max) {
            a->too_big = true;
            return 0;
        }
        return cv__buf_append(a->out, p, len) == CV_OK ? len : 0;
    }
    if (a->err_body.len < ERR_BODY_CAP) {
        size_t room = ERR_BODY_CAP - a->err_body.len;
        (void)cv__buf_append(&a->err_body, p, len < room ? len : room);
    }
    return len;
}

static void header_value(CURL *h, const char *name, char *dst, size_t cap)
{
    struct curl_header *hd = NULL;
    dst[0] = '\0';
    if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hd) == CURLHE_OK && hd && hd->value) {
        snprintf(dst, cap, "%s", hd->value);
    }
}

static void lowercase(char *s)
{
    for (; *s; s++) {
        *s = (char)tolower((unsigned char)*s);
    }
}

/* The string value of JSON member `name` in text, copied printable into dst; or false. */
static bool json_member(const char *text, const char *name, char *dst, size_t cap)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", name);
    const char *m = strstr(text, quoted);
    m = m ? m + strlen(quoted) : NULL;
    while (m && (*m == ' ' || *m == ':')) {
        m++;
    }
    const char *end = m && *m == '"' ? strchr(m + 1, '"') : NULL;
    if (!end) {
        return false;
    }
    m++;
    size_t len = (size_t)(end - m) < cap - 1 ? (size_t)(end - m) : cap - 1;
    for (size_t i = 0; i < len; i++) {
        dst[i] = isprint((unsigned char)m[i]) ? m[i] : '?';
    }
    dst[len] = '\0';
    return true;
}

/* What an error body says: S3's <Code>, GCS's "message", or OAuth2's "error" and
 * "error_description". */
static void error_code(const cv_buf *b, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (!b->len) {
        return;
    }
    char text[ERR_BODY_CAP + 1];
    size_t n = b->len < ERR_BODY_CAP ? b->len : ERR_BODY_CAP;
    memcpy(text, b->data, n);
    text[n] = '\0';
    const char *start = strstr(text, "<Code>");
    const char *end = start ? strstr(start, "</Code>") : NULL;
    if (start && end) {
        start += 6;
        size_t len = (size_t)(end - start) < cap - 1 ? (size_t)(end - start) : cap - 1;
        for (size_t i = 0; i < len; i++) {
            dst[i] = isprint((unsigned char)start[i]) ? start[i] : '?';
        }
        dst[len] = '\0';
        return;
    }
    if (json_member(text, "message", dst, cap)) {
        return;
    }
    char err[64] = "", desc[128] = "";
    bool has_err = json_member(text, "error", err, sizeof err);
    bool has_desc = json_member(text, "error_description", desc, sizeof desc);
    snprintf(dst, cap, "%s%s%s", err, has_err && has_desc ? ": " : "", desc);
}

static bool hex_eq_digest(const char *hex, const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1 || v != d[i]) {
            return false;
        }
    }
    return true;
}

/* Compare the body with the digests the server sent; a message in `why` if they differ. */
static bool body_matches(CURL *h, const cv_http_req *rq, const cv_http_resp *rs, const cv_buf *b,
                         char *why, size_t cap)
{
    if (!b || rs->status != 200) {
        return true;
    }
    if (rq->flags & CV_HTTP_VERIFY_ETAG) {
        char etag[128], sse[64];
        header_value(h, "ETag", etag, sizeof etag);
        header_value(h, "x-amz-server-side-encryption", sse, sizeof sse);
        const char *e = etag[0] == '"' ? etag + 1 : etag;
        size_t n = strcspn(e, "\"");
        bool is_md5 = n == 32 && strspn(e, "0123456789abcdefABCDEF") >= 32;
        /* SSE-KMS and SSE-C objects have ETags that are not the MD5 of the body. */
        char ssec[64];
        header_value(h, "x-amz-server-side-encryption-customer-algorithm", ssec, sizeof ssec);
        if (is_md5 && strcmp(sse, "aws:kms") != 0 && !ssec[0]) {
            uint8_t d[16];
            cv__md5(b->data, b->len, d);
            if (!hex_eq_digest(e, d, 16)) {
                snprintf(why, cap, "body of %zu bytes does not match its ETag MD5", b->len);
                return false;
            }
        }
    }
    if (rq->flags & CV_HTTP_VERIFY_GOOG) {
        char hash[256], stored[64];
        header_value(h, "x-goog-hash", hash, sizeof hash);
        header_value(h, "x-goog-stored-content-encoding", stored, sizeof stored);
        lowercase(stored);
        if (strcmp(stored, "identity") == 0) {
            stored[0] = '\0';
        }
        /* A transcoded body (stored gzip, sent plain) is not what the hashes cover. */
        if (strcmp(stored, rs->encoding) != 0) {
            return true;
        }
        char *md5 = strstr(hash, "md5=");
        char *crc = strstr(hash, "crc32c=");
        if (md5) {
            uint8_t d[16];
            char want[32];
            cv__md5(b->data, b->len, d);
            cv__base64(d, 16, want);
            if (strncmp(md5 + 4, want, strlen(want)) != 0) {
                snprintf(why, cap, "body of %zu bytes does not match its x-goog-hash MD5", b->len);
                return false;
            }
        } else if (crc) {
            uint32_t c = cv__crc32c(0, b->data, b->len);
            uint8_t be[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
            char want[16];
            cv__base64(be, 4, want);
            if (strncmp(crc + 7, want, strlen(want)) != 0) {
                snprintf(why, cap, "body of %zu bytes does not match its x-goog-hash crc32c",
                         b->len);
                return false;
            }
        }
    }
    return true;
}

static bool retryable_curl(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP3:
        return true;
    default:
        return false;
    }
}

static bool retryable_status(long s)
{
    return s == 408 || s == 429 || (s >= 500 && s <= 599);
}

static const char *status_text(long s)
{
    switch (s) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 416:
        return "Range Not Satisfiable";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "";
    }
}

static const char *shown(const cv_http_req *rq)
{
    return rq->shown ? rq->shown : rq->url;
}

cv_status cv__http_fail_status(const cv_http_req *rq, const cv_http_resp *rs)
{
    const char *txt = status_text(rs->status);
    return CV_FAIL(CV_ERR_IO, "%s `%s': HTTP %ld%s%s%s%s%s", rq->method, shown(rq), rs->status,
                   *txt ? " " : "", txt, rs->error_code[0] ? " (" : "", rs->error_code,
                   rs->error_code[0] ? ")" : "");
}

static struct curl_slist *build_headers(const cv_http_req *rq, bool *ok)
{
    struct curl_slist *list = NULL, *t;
    *ok = true;
    for (size_t i = 0; rq->headers && rq->headers[i]; i++) {
        t = curl_slist_append(list, rq->headers[i]);
        if (!t) {
            *ok = false;
            return list;
        }
        list = t;
    }
    /* Ask for stored bytes as they are; store.c decodes them once. Without this header curl
     * sends none, and servers (nginx gzip_static, GCS) then send identity. */
    /* No "Expect:" line to suppress 100-continue: curl 7.88's SigV4 would sign it. */
    if (rq->flags & CV_HTTP_ACCEPT_ENCODED) {
        t = curl_slist_append(list, "Accept-Encoding: gzip, br");
        if (!t) {
            *ok = false;
            return list;
        }
        list = t;
    }
    return list;
}

static void setup(CURL *h, const cv_http_req *rq, struct curl_slist *hdrs, attempt *a, char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_URL, rq->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Wait for a connection that may multiplex (HTTP/2) rather than open one more. */
    curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, cfg.connect_timeout);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, cfg.stall_timeout);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (cfg.ca_bundle) {
        curl_easy_setopt(h, CURLOPT_CAINFO, cfg.ca_bundle);
    }
    if (cfg.share) {
        curl_easy_setopt(h, CURLOPT_SHARE, cfg.share);
    }
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cvmpi");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    if (rq->flags & CV_HTTP_FOLLOW) {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    }
    if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(rq->method, "GET") != 0 || rq->body) {
        /* A GET with a body (graphene's manifest request) stays a GET. */
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    }
    if (rq->body || strcmp(rq->method, "PUT") == 0 || strcmp(rq->method, "POST") == 0) {
        /* POSTFIELDS also lets curl's SigV4 hash the payload it sends. */
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
    }
    if (rq->aws_sigv4) {
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, rq->aws_sigv4);
        curl_easy_setopt(h, CURLOPT_USERNAME, rq->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, rq->password);
    } else if (rq->user) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, rq->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, rq->password ? rq->password : "");
    }
}

void cv__http_set_limits(long stall_timeout_s, int retries)
{
    pthread_once(&init_once, init);
    if (stall_timeout_s > 0) {
        cfg.stall_timeout = stall_timeout_s;
    }
    if (retries >= 0) {
        cfg.retries = retries;
    }
}

void cv__http_time_iso(const char *text, char *out, size_t cap)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    char mon[4] = "";
    int used = 0;
    out[0] = '\0';
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) == 6) {
        /* RFC 3339 (GCS "updated"): fractions and the zone letter dropped, GCS sends UTC */
    } else if (sscanf(text, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT%n", &d, mon, &y, &h, &mi, &sec,
                      &used) == 6 &&
               used > 0 && strlen(mon) == 3) {
        const char *at = strstr(months, mon);
        mo = at && (at - months) % 3 == 0 ? (int)(at - months) / 3 + 1 : 0;
    } else {
        return;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1 ||
        y > 9999 || h < 0 || mi < 0 || sec < 0) {
        return;
    }
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, sec);
}

cv_status cv__http_perform(const cv_http_req *rq, cv_http_resp *rs)
{
    pthread_once(&init_once, init);
    if (!cfg.ok) {
        return CV_FAIL(CV_ERR_IO, "%s `%s': libcurl did not initialise", rq->method, shown(rq));
    }
    memset(rs, 0, sizeof *rs);
    bool ok;
    struct curl_slist *hdrs = build_headers(rq, &ok);
    if (!ok) {
        curl_slist_free_all(hdrs);
        return CV_FAIL(CV_ERR_NOMEM, "%s `%s'", rq->method, shown(rq));
    }
    char last[CURL_ERROR_SIZE + 128] = "";
    cv_status final = CV_ERR_IO;
    double started = now_s(); /* the object's time over all attempts, for the message */
    bool done = false;
    int attempt_no = 0;
    while (!done) {
        attempt_no++;
        CURL *h = take_handle();
        if (!h) {
            curl_slist_free_all(hdrs);
            return CV_FAIL(CV_ERR_NOMEM, "%s `%s': no curl handle", rq->method, shown(rq));
        }
        attempt a = {
            .h = h, .out = rq->out, .stop_after = rq->stop_after, .partial_max = rq->partial_max};
        if (rq->out) {
            rq->out->len = 0;
        }
        char errbuf[CURL_ERROR_SIZE] = "";
        setup(h, rq, hdrs, &a, errbuf);
        lim_acquire();
        double t0 = now_s();
        CURLcode cc = eng_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        rs->status = status;
        rs->attempts = attempt_no;
        bool retry = false, slow_down = false;
        double wait_hint = 0;
        if (cc == CURLE_WRITE_ERROR && a.enough) {
            cc = CURLE_OK; /* ended on purpose once stop_after bytes were in */
        }
        if (cc != CURLE_OK) {
            if (a.too_big) {
                snprintf(last, sizeof last, "body larger than the %zu bytes expected",
                         rq->out->max);
                final = CV_ERR_CORRUPT;
                done = true;
            } else {
                snprintf(last, sizeof last, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
                retry = retryable_curl(cc);
                final = CV_ERR_IO;
                done = !retry;
            }
        } else {
            header_value(h, "Content-Encoding", rs->encoding, sizeof rs->encoding);
            lowercase(rs->encoding);
            if (strcmp(rs->encoding, "identity") == 0) {
                rs->encoding[0] = '\0';
            }
            header_value(h, "Content-Range", rs->content_range, sizeof rs->content_range);
            header_value(h, "Content-Type", rs->content_type, sizeof rs->content_type);
            header_value(h, "x-amz-bucket-region", rs->bucket_region, sizeof rs->bucket_region);
            header_value(h, "ETag", rs->etag, sizeof rs->etag);
            header_value(h, "Last-Modified", rs->last_modified, sizeof rs->last_modified);
            header_value(h, "Cache-Control", rs->cache_control, sizeof rs->cache_control);
            header_value(h, "x-amz-storage-class", rs->storage_class, sizeof rs->storage_class);
            header_value(h, "Location", rs->location, sizeof rs->location);
            header_value(h, "Range", rs->range, sizeof rs->range);
            char length[32];
            header_value(h, "Content-Length", length, sizeof length);
            char *stop = NULL;
            long long n_len =
                length[0] && isdigit((unsigned char)length[0]) ? strtoll(length, &stop, 10) : -1;
            rs->content_length = stop && *stop == '\0' && n_len >= 0 ? (int64_t)n_len : -1;
            error_code(&a.err_body, rs->error_code, sizeof rs->error_code);
            if (retryable_status(status)) {
                const char *txt = status_text(status);
                snprintf(last, sizeof last, "HTTP %ld%s%s%s%s%s", status, *txt ? " " : "", txt,
                         rs->error_code[0] ? " (" : "", rs->error_code,
                         rs->error_code[0] ? ")" : "");
                retry = true;
                slow_down = status == 429 || status == 503;
                char ra[32];
                header_value(h, "Retry-After", ra, sizeof ra);
                if (ra[0] && isdigit((unsigned char)ra[0])) {
                    wait_hint = atof(ra);
                }
                final = CV_ERR_IO;
            } else {
                char why[160];
                if (!body_matches(h, rq, rs, rq->out, why, sizeof why)) {
                    snprintf(last, sizeof last, "%s", why);
                    retry = true;
                    final = CV_ERR_CORRUPT;
                } else {
                    final = CV_OK;
                    done = true;
                }
            }
        }
        lim_release(slow_down);
        CV_LOG(CV_LOG_DEBUG, "%s %s: %ld in %.3f s (attempt %d)", rq->method, shown(rq), status,
               now_s() - t0, attempt_no);
        cv__buf_fini(&a.err_body);
        if (cc == CURLE_OK || retry) {
            give_handle(h);
        } else {
            curl_easy_cleanup(h); /* e.g. a TLS failure: do not keep its state */
        }
        if (retry && attempt_no > cfg.retries) {
            done = true;
        } else if (retry) {
            double cap = cfg.backoff * pow(2.0, attempt_no - 1);
            if (cap > cfg.backoff_max) {
                cap = cfg.backoff_max;
            }
            double delay = cap * jitter(); /* "full jitter" */
            if (wait_hint > delay) {
                delay = wait_hint < cfg.backoff_max ? wait_hint : cfg.backoff_max;
            }
            CV_LOG(CV_LOG_WARN, "%s `%s': %s; retry %d of %d in %.2f s", rq->method, shown(rq),
                   last, attempt_no, cfg.retries, delay);
            sleep_s(delay);
        }
    }
    curl_slist_free_all(hdrs);
    if (final == CV_OK) {
        return CV_OK;
    }
    if (attempt_no > 1) {
        return CV_FAIL(final, "%s `%s': %s (gave up after %d attempts in %.1f s)", rq->method,
                       shown(rq), last, attempt_no, now_s() - started);
    }
    return CV_FAIL(final, "%s `%s': %s", rq->method, shown(rq), last);
}

const char *cv__http_status_text(long status)
{
    return status_text(status);
}

bool cv__http_status_retryable(long status)
{
    return retryable_status(status);
}

bool cv__http_retry_wait(int attempt_no, const char *what)
{
    pthread_once(&init_once, init);
    if (attempt_no > cfg.retries) {
        return false;
    }
    double cap = cfg.backoff * pow(2.0, attempt_no - 1);
    if (cap > cfg.backoff_max) {
        cap = cfg.backoff_max;
    }
    double delay = cap * jitter();
    CV_LOG(CV_LOG_WARN, "%s; retry %d of %d in %.2f s", what, attempt_no, cfg.retries, delay);
    sleep_s(delay);
    return true;
}

cv_status cv__http_get_range(const cv_http_req *rq, cv_http_resp *rs, uint64_t off, uint64_t len)
{
    size_t n_hdr = 0;
    while (rq->headers && rq->headers[n_hdr]) {
        n_hdr++;
    }
    const char **hdrs = cv_calloc(n_hdr + 2, sizeof *hdrs);
    if (!hdrs) {
        return CV_FAIL(CV_ERR_NOMEM, "%s `%s'", rq->method, shown(rq));
    }
    char range[64];
    snprintf(range, sizeof range, "Range: bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
    for (size_t i = 0; i < n_hdr; i++) {
        hdrs[i] = rq->headers[i];
    }
    hdrs[n_hdr] = range;
    cv_http_req r = *rq;
    r.headers = hdrs;
    r.flags &= ~(unsigned)(CV_HTTP_ACCEPT_ENCODED | CV_HTTP_VERIFY_ETAG | CV_HTTP_VERIFY_GOOG);
    /* A server that ignores Range sends the whole object: take its first off + len bytes,
     * then cut; the rest is never read. */
    size_t max = rq->out->max;
    rq->out->max = 0;
    r.stop_after = off + len < off || off + len > SIZE_MAX ? SIZE_MAX : (size_t)(off + len);
    r.partial_max = len > SIZE_MAX ? SIZE_MAX : (size_t)len;
    cv_status rc = cv__http_perform(&r, rs);
    rq->out->max = max;
    cv_free(hdrs);
    CV_TRY(rc);
    if (rs->status == 416) { /* the range starts at or after the end */
        rq->out->len = 0;
        rs->status = 200;
        return CV_OK;
    }
    if (rs->status != 200 && rs->status != 206) {
        return CV_OK;
    }
    if (rs->encoding[0]) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       "GET `%s' bytes %" PRIu64 "+%" PRIu64
                       ": the object is stored with Content-Encoding %s",
                       shown(rq), off, len, rs->encoding);
    }
    cv_buf *b = rq->out;
    if (rs->status == 206) {
        uint64_t first, last;
        if (sscanf(rs->content_range, "bytes %" SCNu64 "-%" SCNu64, &first, &last) != 2 ||
            first != off || last < first || last - first + 1 != b->len || b->len > len) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           "GET `%s' bytes %" PRIu64 "+%" PRIu64
                           ": answer covers `%s' with %zu bytes",
                           shown(rq), off, len, rs->content_range, b->len);
        }
        rs->status = 200;
        return CV_OK;
    }
    size_t keep = off >= b->len ? 0 : (size_t)(b->len - off < len ? b->len - off : len);
    if (keep) {
        memmove(b->data, b->data + off, keep);
    }
    b->len = keep;
    if (max && keep > max) {
        return CV_FAIL(CV_ERR_CORRUPT, "GET `%s': %zu bytes, more than %zu", shown(rq), keep, max);
    }
    return CV_OK;
}
