/* SPDX-License-Identifier: BSD-3-Clause
 * http.h: the HTTP client the cloud backends share (store_http.c, store_s3.c, store_gcs.c;
 * issue 5, cloudvolume-conventions §3), plus the digests, encodings and secrets they need.
 * libcurl stays inside http.c. Retries live only in cv__http_perform(). No MPI here. */
#ifndef CV_HTTP_H
#define CV_HTTP_H

#include "io/store.h"

/* ---- requests ------------------------------------------------------------------------------ */

enum {
    CV_HTTP_ACCEPT_ENCODED = 1 << 0, /* send Accept-Encoding: gzip, br; bodies stay encoded */
    CV_HTTP_FOLLOW = 1 << 1,         /* follow redirects (read-only http(s) stores) */
    CV_HTTP_VERIFY_ETAG = 1 << 2,    /* a 32-hex-digit ETag is the MD5 of the body (S3) */
    CV_HTTP_VERIFY_GOOG = 1 << 3,    /* x-goog-hash md5/crc32c cover the body (GCS) */
};

typedef struct cv_http_req {
    const char *method;         /* "GET", "HEAD", "PUT", "POST", "DELETE" */
    const char *url;            /* complete and percent-encoded */
    const char *shown;          /* the object as error messages name it; NULL: url */
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    const void *body;           /* PUT/POST payload (may be NULL with body_len 0) */
    size_t body_len;
    const char *aws_sigv4;       /* "aws:amz:REGION:s3" signs with user/password; or NULL */
    const char *user, *password; /* SigV4 key pair, or HTTP basic auth without aws_sigv4 */
    unsigned flags;              /* CV_HTTP_* */
    cv_buf *out;                 /* 2xx body (replaced on each attempt); NULL: discard */
    size_t stop_after;           /* 0, or: end a 200 transfer once this many bytes are in */
    size_t partial_max;          /* 0, or: the most bytes a 206 (partial) answer may carry */
} cv_http_req;

typedef struct cv_http_resp {
    long status;            /* final HTTP status */
    char encoding[32];      /* Content-Encoding, lowercased; "" if none or identity */
    char content_range[96]; /* Content-Range, "" if none */
    char content_type[96];
    char error_code[128];   /* S3 <Code> or GCS "message" of an error body, or "" */
    char bucket_region[64]; /* S3's x-amz-bucket-region, or "" */
    /* For HEAD (cvmpi head): the headers as sent, "" if absent; content_length -1 if absent. */
    char etag[136];
    char last_modified[40];
    char cache_control[128];
    char storage_class[40]; /* x-amz-storage-class */
    int64_t content_length;
    int attempts;
    /* For resumable uploads (GCS): Location (the session URI) and a 308's Range ("bytes=0-N",
     * what the server kept), "" if absent. */
    char location[2048];
    char range[64];
} cv_http_resp;

/* cv__http_perform() :
 * Run a request, retrying 408, 429, 5xx, connection failures, timeouts, resets, truncated
 * bodies and digest mismatches with exponential backoff and full jitter (CV_HTTP_RETRIES,
 * default 8 retries; CV_HTTP_BACKOFF_MS, default 100 ms, capped at 20 s; Retry-After is
 * honoured). Other statuses, 403 and 404 included, come back at once with CV_OK: callers
 * decide what they mean. The number of requests in flight in the process backs off on 429/503
 * and recovers (additive increase, multiplicative decrease; CV_HTTP_MAX_INFLIGHT, default 64).
 * TLS is verified; CV_CA_BUNDLE or CURL_CA_BUNDLE name a CA file. Nothing secret is logged.
 * A body over rq->out->max (a declared Content-Length over it fails at once) is CV_ERR_CORRUPT
 * without a retry; callers cap every body by what the object can be.
 * Thread-safe. @return CV_OK with rs filled, or CV_ERR_IO / CV_ERR_CORRUPT naming the method,
 * rq->shown and the last status once retries are exhausted. */
cv_status cv__http_perform(const cv_http_req *rq, cv_http_resp *rs);

/* Override CV_HTTP_TIMEOUT (seconds without a byte before an attempt is abandoned; > 0) and
 * CV_HTTP_RETRIES (>= 0); a negative or zero value keeps the current one. For the CLI's
 * --timeout and --retries; call before requests start. */
void cv__http_set_limits(long stall_timeout_s, int retries);

/* cv__http_get_range() :
 * GET bytes [off, off+len) of rq->url into rq->out (rq->headers get a Range line): a 206 is
 * checked against its Content-Range, a 200 (a server ignoring Range) is cut down to the range,
 * a 416 gives no bytes; all three end with rs->status 200. Other statuses come back in rs with
 * CV_OK for the caller to judge. A Content-Encoding on the answer is CV_ERR_UNSUPPORTED: ranges of
 * compressed objects are compressed bytes (precomputed-volume spec §6). Thread-safe. */
cv_status cv__http_get_range(const cv_http_req *rq, cv_http_resp *rs, uint64_t off, uint64_t len);

/* Whether cv__http_perform() retries a final status (408, 429, 5xx), for callers that retry
 * parts of an answer themselves (GCS batch sub-responses). */
bool cv__http_status_retryable(long status);
/* "Forbidden" for 403, ...; "" for a status without a name here. */
const char *cv__http_status_text(long status);
/* Before retry `attempt_no` (1, 2, ...) of something that failed as `what` says: false when
 * CV_HTTP_RETRIES are used up, else log a warning and sleep the backoff of cv__http_perform()
 * (exponential from CV_HTTP_BACKOFF_MS, full jitter, capped) and return true. */
bool cv__http_retry_wait(int attempt_no, const char *what);

/* Record the error for a final status the caller does not accept:
 * "GET `s3://b/k': HTTP 403 Forbidden (SignatureDoesNotMatch)". Returns CV_ERR_IO. */
cv_status cv__http_fail_status(const cv_http_req *rq, const cv_http_resp *rs);

/* Percent-encode `s`, keeping RFC 3986 unreserved characters and those in `keep`. Free with
 * cv_free; NULL on allocation failure. */
char *cv__url_encode(const char *s, const char *keep);

/* Free idle connections and the shared caches (tests use it before leak checks). Not
 * thread-safe: no request may be running. */
void cv__http_cleanup(void);

/* ---- listing pages (store_s3.c, store_gcs.c; fuzzed by fuzz_s3_list, fuzz_gcs_list) ------- */

/* Call fn for every object name of one listing page whose name starts with `strip` and is
 * longer, with `strip` removed: an S3 ListObjectsV2 XML answer (<Contents><Key>, XML entities
 * decoded) or a GCS JSON API objects.list answer ("items"[]."name"). *token is set to the next
 * page's continuation token (free with cv_free) or NULL on the last page. `shown` names the
 * listing in errors. CV_ERR_CORRUPT for a page that is not such an answer (or, for S3, is
 * truncated without a token); fn's error stops the parse and is returned. Thread-safe. */
cv_status cv__s3_parse_list(const char *xml, size_t len, const char *strip, const char *shown,
                            cv_status (*fn)(const char *name, void *arg), void *arg, char **token);
/* The answer to an S3 DeleteObjects request (Quiet mode: only failures are listed): CV_OK, or
 * CV_ERR_IO naming the first key S3 did not delete and its <Code>. */
cv_status cv__s3_check_delete_result(const char *xml, size_t len, const char *url);
cv_status cv__gcs_parse_list(const char *json, size_t len, const char *strip, const char *shown,
                             cv_status (*fn)(const char *name, void *arg), void *arg, char **token);
/* As the two above, with each object's size (<Size>, "size"): an object entry without a valid
 * size is CV_ERR_CORRUPT; subdirectories (delimiter listings) come with UINT64_MAX. */
cv_status cv__s3_parse_list_sized(const char *xml, size_t len, const char *strip, const char *shown,
                                  cv_store_sized_fn fn, void *arg, char **token);
cv_status cv__gcs_parse_list_sized(const char *json, size_t len, const char *strip,
                                   const char *shown, cv_store_sized_fn fn, void *arg,
                                   char **token);
/* A GCS JSON API object resource (GET .../o/NAME) into `m`; CV_ERR_CORRUPT naming `shown` for
 * an answer that is not one (no valid "size"). Fuzzed by fuzz_gcs_list. */
cv_status cv__gcs_parse_meta(const char *json, size_t len, const char *shown, cv_store_meta *m);
/* One answer to a GCS JSON API batch request (POST /batch/storage/v1): the multipart/mixed
 * body `text` of `len` bytes (not NUL-terminated), whose boundary is taken from
 * `content_type`, answers `n` sub-requests. fn gets each part's sub-request index (from its
 * Content-ID "<...+K>", K = index + 1, or else its position), the sub-response's HTTP status
 * and body. CV_ERR_CORRUPT naming `shown` for an answer that is not such a body (no boundary,
 * truncated, no closing delimiter, more than `n` parts, an index out of range or twice, a
 * part without an HTTP status line); fn's error stops the parse and is returned. Parts never
 * answered are the caller's to notice. Thread-safe; fuzzed by fuzz_gcs_batch. */
typedef cv_status (*cv_gcs_batch_fn)(size_t index, long status, const char *body, size_t len,
                                     void *arg);
cv_status cv__gcs_parse_batch(const char *text, size_t len, const char *content_type, size_t n,
                              const char *shown, cv_gcs_batch_fn fn, void *arg);
/* One directory index page (Apache's or nginx's autoindex, Python's http.server: a <title>
 * starting "Index of " or "Directory listing for ") at `page_url` (ending in '/'): fn gets each
 * entry it links to once, sorted, percent- and entity-decoded, "name" for an object and
 * "name/" for a subdirectory. Links to the parent or the page itself, to other hosts, other
 * directories or with a query are skipped; so are links that decode to a control byte.
 * CV_ERR_UNSUPPORTED naming `shown` for a page that is not an index; fn's error stops the parse
 * and is returned. Thread-safe; fuzzed by fuzz_http_index. */
cv_status cv__http_parse_index(const char *html, size_t len, const char *page_url,
                               const char *shown, cv_status (*fn)(const char *name, void *arg),
                               void *arg);
/* An HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT") or RFC 3339 time ("1994-11-06T08:49:37.5Z")
 * as ISO 8601 UTC "1994-11-06T08:49:37Z" into out (cap >= 21); "" if it is neither. */
void cv__http_time_iso(const char *text, char *out, size_t cap);

/* ---- digests and encodings (OpenSSL) ------------------------------------------------------ */

void cv__md5(const void *p, size_t n, uint8_t out[16]);
void cv__sha256_hex(const void *p, size_t n, char out[65]);
/* Standard base64 with padding; out needs 4 * ceil(n / 3) + 1 bytes. */
void cv__base64(const void *p, size_t n, char *out);
/* base64url without padding (JWT); out needs 4 * ceil(n / 3) + 1 bytes. */
void cv__base64url(const void *p, size_t n, char *out);
uint32_t cv__crc32c(uint32_t crc, const void *p, size_t n);

/* ---- secrets (secrets.c; cloudvolume-conventions §2) ------------------------------------- */

/* cv__secret_read() :
 * The text of CloudFiles' secret file for `service` ("aws", "google", "http", an alias name)
 * and `bucket` (may be NULL): "<bucket>-<service>-secret.json" then "<service>-secret.json",
 * each looked for in $CLOUD_VOLUME_DIR/secrets (~/.cloudvolume/secrets), /, and
 * $CLOUD_FILES_DIR/secrets (~/.cloudfiles/secrets). Results are cached per service and bucket
 * for the process lifetime. Secrets given to cv__secrets_set() win over files.
 * *text (free with cv_free) and *where (a path or "secrets option", may be NULL) are set on
 * success. CV_ERR_NOTFOUND (quietly) if there is none. Thread-safe. */
cv_status cv__secret_read(const char *service, const char *bucket, char **text, char **where);

/* Use `json` (CloudFiles' `secrets` option: a JSON object as text) for every service from now
 * on; NULL restores the file lookup. Not thread-safe against running requests. */
cv_status cv__secrets_set(const char *json);

/* cv__cave_token() :
 * The graphene (CAVE) token as CloudVolume finds it: the secrets option's "token", else the
 * first of {fqdn}-cave-secret.json, cave-secret.json, chunkedgraph-secret.json ({"token": ...})
 * in $CLOUD_VOLUME_DIR/secrets (~/.cloudvolume/secrets), ~/.neuroglancer/secrets, /secrets.
 * The token must be hexadecimal or base64, as CloudVolume checks. CV_ERR_ARG naming the
 * files (never the token) when there is none. *token: free with cv_free; *where (may be NULL):
 * the file. Thread-safe. */
cv_status cv__cave_token(const char *fqdn, char **token, char **where);

typedef struct cv_aws_creds {
    char key_id[128];
    char secret[256];
    char token[4096];  /* AWS_SESSION_TOKEN or "" */
    char region[64];   /* never empty: us-east-1 by default */
    bool is_anonymous; /* no credentials found: unsigned requests */
} cv_aws_creds;

/* S3 credentials for `bucket` through `service` ("aws", or the alias name): the secret files,
 * then AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN, AWS_DEFAULT_REGION or
 * AWS_REGION) from the environment, else anonymous. Thread-safe. */
cv_status cv__aws_creds(const char *service, const char *bucket, cv_aws_creds *out);

#endif
