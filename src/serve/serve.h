/* SPDX-License-Identifier: BSD-3-Clause
 * serve.h: `cvmpi serve`, a local layer over HTTP for Neuroglancer and the built-in slice
 * viewer. serve_request.c holds the pure pieces (URL path -> file, Range, If-None-Match,
 * content types) so they can be unit-tested and fuzzed; serve_http.c runs libmicrohttpd;
 * serve_view.c answers /view (the embedded page) and /view/slice. No MPI here. */
#ifndef CV_SERVE_H
#define CV_SERVE_H

#include "base/cv_internal.h"

/* ---- the pure pieces (serve_request.c) ---------------------------------------------------- */

/* Check a decoded URL path ("/8_8_8/0-64_0-64_0-64") and turn it into a key relative to the
 * served root ("8_8_8/0-64_0-64_0-64"; "" for "/"). Refused (CV_ERR_ARG): no leading '/', a
 * "." or ".." component, a backslash or control byte, more than `cap`-1 bytes. Repeated
 * slashes collapse. Thread-safe. */
cv_status cv__serve_url_key(const char *url_path, char *key, size_t cap);

/* What %00 decodes to in cv__serve_unescape: a control byte, so the request is refused. */
#define CV_SERVE_NUL_MARK '\x01'
/* Percent-decode `s` in place (the server's unescape callback) and return its new length; %00
 * becomes CV_SERVE_NUL_MARK instead of ending the string. Pure. */
size_t cv__serve_unescape(char *s);
/* Whether `s` holds a control byte (a decoded %00 included): such a path is a bad request. */
bool cv__serve_has_control(const char *s);

/* A Range header against an object of `size` bytes (RFC 9110 §14.1.2, one range only):
 * "bytes=A-B", "bytes=A-", "bytes=-N". Returns 1 with [*off, *off + *len) for a satisfiable
 * range, 0 to send the whole object (no header, a malformed header, several ranges: a server
 * may ignore Range), -1 for an unsatisfiable one (answer 416). Thread-safe. */
int cv__serve_parse_range(const char *header, uint64_t size, uint64_t *off, uint64_t *len);

/* Whether an If-None-Match header (a list of entity tags, or "*") matches `etag` (weak
 * comparison, RFC 9110 §13.1.2). Thread-safe. */
bool cv__serve_etag_matches(const char *header, const char *etag);

/* Whether an Accept-Encoding header allows `coding` ("gzip", "br"): listed (or "*") without
 * q=0. Thread-safe. */
bool cv__serve_accepts(const char *header, const char *coding);

/* Content-Type for a key by its extension; "info"/"provenance" files are JSON. */
const char *cv__serve_content_type(const char *key);

/* ---- the server (serve_http.c) ------------------------------------------------------------ */

typedef struct cv_serve_opts {
    const char *layer;  /* local directory of the layer (file:// path or plain) */
    const char *ng_dir; /* a Neuroglancer build served at /ng/, or NULL */
    const char *bind;   /* numeric address; default "127.0.0.1" */
    int port;           /* 0: any free port */
    int threads;        /* worker threads; default 8 */
    size_t lru_bytes;   /* decoded chunks kept for the slice viewer (cv_opts.lru_bytes; 0: off) */
} cv_serve_opts;

typedef struct cv_server cv_server;

/* Open the layer, bind and listen (a clear error naming the address if the port is taken),
 * and start answering on worker threads. Not collective. */
cv_status cv__serve_start(const cv_serve_opts *o, cv_server **out);
/* The port really bound (useful with port 0) and the base URL "http://127.0.0.1:PORT/". */
int cv__serve_port(const cv_server *s);
const char *cv__serve_base_url(const cv_server *s);
/* The layer's volume, opened at start (for the state URL). */
cv_volume *cv__serve_volume(cv_server *s);
/* Stop answering, wait for the workers, free everything. NULL is a no-op. */
void cv__serve_stop(cv_server *s);

/* ---- the slice viewer (serve_view.c) ------------------------------------------------------ */

/* The embedded page (view.html). */
extern const unsigned char cv__serve_view_html[];
extern const size_t cv__serve_view_html_len;
/* Read one xy slice of `v` for GET /view/slice?mip=M&z=Z. On success *data (free with cv_free)
 * holds the voxels (x fastest, then y, channel slowest) and shape[0..2] = width, height,
 * channels. The caller serialises calls on one
 * volume. CV_ERR_ARG for bad parameters,
 * CV_ERR_BOUNDS outside the volume. Not thread-safe for one volume. */
cv_status cv__serve_slice(cv_volume *v, const char *mip_text, const char *z_text, size_t max_bytes,
                          uint8_t **data, size_t *len, int64_t shape[3]);

#endif
