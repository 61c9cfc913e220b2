/* SPDX-License-Identifier: BSD-3-Clause
 * serve_http.c: the HTTP server behind `cvmpi serve` (libmicrohttpd, a pool of worker
 * threads). Answers GET/HEAD/OPTIONS with CORS for any origin: the layer's files (a key stored
 * as KEY.gz/KEY.br is sent under KEY with Content-Encoding, or decoded for clients that do not
 * accept it), single byte ranges (206) for shard files, ETag/If-None-Match (304), the slice
 * viewer at /view and an optional Neuroglancer build at /ng/. Nothing outside the served
 * directories is reachable: "." and ".." components are refused, and every file's real path
 * (symlinks resolved) must lie inside the served directory. No MPI here. */
#include "serve/serve.h"

#include "io/store.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* A slice bigger than this is refused (the page then asks for a coarser mip). */
#define SLICE_MAX_BYTES ((size_t)256 << 20)
/* Objects decoded for clients without gzip/br support are capped at this size. */
#define DECODE_MAX_BYTES ((size_t)1 << 30)

struct cv_server {
    struct MHD_Daemon *daemon;
    char *root;    /* real path of the layer directory */
    char *ng_root; /* real path of the Neuroglancer build, or NULL */
    cv_volume *vol;
    pthread_mutex_t vol_lock; /* slice reads share one volume handle */
    int port;
    char base_url[128];
};

static const char expose_headers[] =
    "Content-Length, Content-Range, Content-Encoding, Content-Type, ETag, Accept-Ranges, "
    "X-Cvmpi-Shape, X-Cvmpi-Dtype";

static void add_common_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(r, "Access-Control-Expose-Headers", expose_headers);
    /* Browsers revalidate every time (a cheap 304), so a rewritten layer is seen at once. */
    MHD_add_response_header(r, "Cache-Control", "no-cache");
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
    if (!r) {
        return MHD_NO;
    }
    add_common_headers(r);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_buffer(struct MHD_Connection *c, unsigned status, void *data,
                                    size_t len, const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, data, cv_free);
    if (!r) {
        cv_free(data);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    return queue(c, status, r);
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    CV_PRINTF(3, 4);
static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof msg - 1 ? (size_t)n : sizeof msg - 2;
    msg[len++] = '\n';
    struct MHD_Response *r = MHD_create_response_from_buffer(len, msg, MHD_RESPMEM_MUST_COPY);
    if (r) {
        MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    }
    return queue(c, status, r);
}

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* Whether real path `p` is `root` or lies below it. */
static bool is_inside(const char *p, const char *root)
{
    size_t n = strlen(root);
    return strncmp(p, root, n) == 0 && (p[n] == '\0' || p[n] == '/' || strcmp(root, "/") == 0);
}

typedef enum { FOUND, ABSENT, OUTSIDE, DENIED } lookup;

/* Open root/key+suffix if it is a regular file whose real path lies inside root. */
static lookup open_inside(const char *root, const char *key, const char *suffix, int *fd,
                          struct stat *st)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s%s%s%s", root, *key ? "/" : "", key, suffix);
    if (n < 0 || (size_t)n >= sizeof path) {
        return ABSENT;
    }
    char *real = realpath(path, NULL);
    if (!real) {
        return errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG ? ABSENT : DENIED;
    }
    bool inside = is_inside(real, root);
    /* O_NOFOLLOW: the name was resolved above; a symlink put in its place since is refused */
    int f = inside ? open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    free(real); /* realpath allocates with malloc */
    if (!inside) {
        return OUTSIDE;
    }
    if (f < 0) {
        return errno == ENOENT ? ABSENT : DENIED;
    }
    if (fstat(f, st) != 0) {
        close(f);
        return DENIED;
    }
    if (!S_ISREG(st->st_mode)) {
        bool is_dir = S_ISDIR(st->st_mode);
        close(f);
        return is_dir ? ABSENT : DENIED;
    }
    *fd = f;
    return FOUND;
}

/* The whole object, decoded, for a client that does not accept its transport compression. */
static enum MHD_Result reply_decoded(cv_server *s, struct MHD_Connection *c, const char *key,
                                     const char *etag)
{
    uint8_t *data;
    size_t len;
    cv_store *store = NULL; /* one per request: stores are thread-safe only for distinct ones */
    cv_status rc = cv_store_open(s->root, &store);
    if (rc == CV_OK) {
        rc = cv_store_get(store, key, DECODE_MAX_BYTES, &data, &len);
    }
    cv_store_close(store);
    if (rc != CV_OK) {
        return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "decode `%s': %s", key,
                          cv_err_last()->what);
    }
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, data, cv_free);
    if (!r) {
        cv_free(data);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", cv__serve_content_type(key));
    MHD_add_response_header(r, "ETag", etag);
    MHD_add_response_header(r, "Vary", "Accept-Encoding");
    return queue(c, MHD_HTTP_OK, r);
}

/* A file under `root` (the layer or the Neuroglancer build) by key. */
static enum MHD_Result serve_file(cv_server *s, struct MHD_Connection *c, const char *root,
                                  const char *key, bool is_layer)
{
    static const struct {
        const char *suffix, *coding;
    } variants[] = {{"", NULL}, {".gz", "gzip"}, {".br", "br"}};
    int fd = -1;
    struct stat st;
    const char *coding = NULL;
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        if (i > 0 && !is_layer) {
            break; /* suffixes are a layer convention (CloudFiles) */
        }
        lookup l = open_inside(root, key, variants[i].suffix, &fd, &st);
        if (l == OUTSIDE) {
            return reply_text(c, MHD_HTTP_FORBIDDEN,
                              "refused: `/%s' leads outside the served "
                              "directory",
                              key);
        }
        if (l == DENIED) {
            return reply_text(c, MHD_HTTP_FORBIDDEN, "refused: `/%s' is not a readable file", key);
        }
        if (l == FOUND) {
            coding = variants[i].coding;
            break;
        }
    }
    if (fd < 0) {
        return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: `/%s'", key);
    }

    /* The entity tag names this version of this representation. */
    char etag[96];
    bool decode = coding && !cv__serve_accepts(header(c, "Accept-Encoding"), coding);
    snprintf(etag, sizeof etag, "\"%llx-%llx-%llx.%09ld%s\"", (unsigned long long)st.st_ino,
             (unsigned long long)st.st_size, (unsigned long long)st.st_mtim.tv_sec,
             (long)st.st_mtim.tv_nsec,
             decode   ? "-identity"
             : coding ? "-encoded"
                      : "");
    if (cv__serve_etag_matches(header(c, "If-None-Match"), etag)) {
        close(fd);
        struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (r) {
            MHD_add_response_header(r, "ETag", etag);
        }
        return queue(c, MHD_HTTP_NOT_MODIFIED, r);
    }
    if (decode) {
        close(fd);
        return reply_decoded(s, c, key, etag);
    }

    uint64_t size = (uint64_t)st.st_size, off = 0, len = size;
    unsigned status = MHD_HTTP_OK;
    char content_range[80] = "";
    if (!coding) { /* ranges of compressed bytes are of no use: the whole object then */
        int r = cv__serve_parse_range(header(c, "Range"), size, &off, &len);
        if (r < 0) {
            close(fd);
            struct MHD_Response *resp =
                MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
            snprintf(content_range, sizeof content_range, "bytes */%llu", (unsigned long long)size);
            if (resp) {
                MHD_add_response_header(resp, "Content-Range", content_range);
            }
            return queue(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, resp);
        }
        if (r > 0) {
            status = MHD_HTTP_PARTIAL_CONTENT;
            snprintf(content_range, sizeof content_range, "bytes %llu-%llu/%llu",
                     (unsigned long long)off, (unsigned long long)(off + len - 1),
                     (unsigned long long)size);
        }
    }
    /* The response owns fd from here on (closed when it is destroyed). */
    struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(len, fd, off);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", cv__serve_content_type(key));
    MHD_add_response_header(r, "ETag", etag);
    if (coding) {
        MHD_add_response_header(r, "Content-Encoding", coding);
        MHD_add_response_header(r, "Vary", "Accept-Encoding");
    } else {
        MHD_add_response_header(r, "Accept-Ranges", "bytes");
    }
    if (content_range[0]) {
        MHD_add_response_header(r, "Content-Range", content_range);
    }
    return queue(c, status, r);
}

static enum MHD_Result serve_slice(cv_server *s, struct MHD_Connection *c)
{
    const char *mip = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "mip");
    const char *z = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "z");
    uint8_t *data = NULL;
    size_t len = 0;
    int64_t shape[3];
    pthread_mutex_lock(&s->vol_lock);
    cv_status rc = cv__serve_slice(s->vol, mip, z, SLICE_MAX_BYTES, &data, &len, shape);
    pthread_mutex_unlock(&s->vol_lock);
    if (rc != CV_OK) {
        unsigned status = rc == CV_ERR_ARG || rc == CV_ERR_BOUNDS ? MHD_HTTP_BAD_REQUEST
                                                                  : MHD_HTTP_INTERNAL_SERVER_ERROR;
        return reply_text(c, status, "slice: %s", cv_err_last()->what);
    }
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, data, cv_free);
    if (!r) {
        cv_free(data);
        return MHD_NO;
    }
    char text[96];
    snprintf(text, sizeof text, "%lld,%lld,%lld", (long long)shape[0], (long long)shape[1],
             (long long)shape[2]);
    MHD_add_response_header(r, "X-Cvmpi-Shape", text);
    MHD_add_response_header(r, "X-Cvmpi-Dtype", cv_dtype_name(cv_volume_info(s->vol)->dtype));
    MHD_add_response_header(r, "Content-Type", "application/octet-stream");
    return queue(c, MHD_HTTP_OK, r);
}

static enum MHD_Result serve_index(cv_server *s, struct MHD_Connection *c)
{
    char *html = cv__asprintf(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>cvmpi serve</title></head>"
        "<body><h1>cvmpi serve</h1><p>Layer: <code>%s</code></p><ul>"
        "<li><a href=\"info\">info</a></li><li><a href=\"view\">slice viewer</a></li>%s</ul>"
        "<p>Neuroglancer source: <code>precomputed://%s</code></p></body></html>\n",
        s->root, s->ng_root ? "<li><a href=\"ng/\">Neuroglancer</a></li>" : "", s->base_url);
    if (!html) {
        return MHD_NO;
    }
    return reply_buffer(c, MHD_HTTP_OK, html, strlen(html), "text/html; charset=utf-8");
}

static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return cv__serve_unescape(s);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_cls)
{
    static int first_call_marker;
    cv_server *s = cls;
    (void)version;
    (void)upload;
    if (*req_cls == NULL) { /* headers only so far; answer on the next call */
        *req_cls = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* a body is ignored */
        return MHD_YES;
    }
    cv_err_clear();
    CV_LOG(CV_LOG_DEBUG, "serve: %s %s", method, url);
    if (strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0) { /* CORS preflight */
        struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (r) {
            const char *want = header(c, "Access-Control-Request-Headers");
            MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
            MHD_add_response_header(r, "Access-Control-Allow-Headers", want ? want : "*");
            MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
        }
        return queue(c, MHD_HTTP_NO_CONTENT, r);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (r) {
            MHD_add_response_header(r, "Allow", "GET, HEAD, OPTIONS");
        }
        return queue(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
    }
    char key[PATH_MAX];
    if (cv__serve_has_control(url)) {
        return reply_text(c, MHD_HTTP_BAD_REQUEST, "refused: the path has a NUL or control byte");
    }
    if (cv__serve_url_key(url, key, sizeof key) != CV_OK) {
        return reply_text(c, MHD_HTTP_FORBIDDEN, "refused: %s", cv_err_last()->what);
    }
    if (strcmp(key, "view") == 0) {
        if (url[strlen(url) - 1] == '/') { /* the page's relative links need /view */
            struct MHD_Response *r =
                MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
            if (r) {
                MHD_add_response_header(r, "Location", "/view");
            }
            return queue(c, MHD_HTTP_MOVED_PERMANENTLY, r);
        }
        struct MHD_Response *r = MHD_create_response_from_buffer(
            cv__serve_view_html_len, (void *)(uintptr_t)cv__serve_view_html,
            MHD_RESPMEM_PERSISTENT);
        if (r) {
            MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
        }
        return queue(c, MHD_HTTP_OK, r);
    }
    if (strcmp(key, "view/slice") == 0) {
        return serve_slice(s, c);
    }
    if (s->ng_root && strncmp(key, "ng", 2) == 0 && (key[2] == '\0' || key[2] == '/')) {
        if (key[2] == '\0' && url[strlen(url) - 1] != '/') { /* relative asset URLs need /ng/ */
            struct MHD_Response *r =
                MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
            if (r) {
                MHD_add_response_header(r, "Location", "/ng/");
            }
            return queue(c, MHD_HTTP_MOVED_PERMANENTLY, r);
        }
        return serve_file(s, c, s->ng_root, key[2] ? key + 3 : "index.html", false);
    }
    if (key[0] == '\0') {
        return serve_index(s, c);
    }
    return serve_file(s, c, s->root, key, true);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) CV_PRINTF(2, 0);
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n') {
        msg[--n] = '\0';
    }
    CV_LOG(CV_LOG_INFO, "serve: libmicrohttpd: %s", msg);
}

/* A listening TCP socket on bind:port (numeric address, IPv4 or IPv6). */
static cv_status listen_on(const char *bind_addr, int port, int *fd_out, bool *is_ipv6)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    int gai = getaddrinfo(bind_addr, port_text, &hints, &ai);
    if (gai != 0) {
        return CV_FAIL(CV_ERR_ARG, "serve: bind address `%s' is not a numeric IP address: %s",
                       bind_addr, gai_strerror(gai));
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        return CV_FAIL(CV_ERR_IO, "serve: socket: %s", strerror(errno));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        freeaddrinfo(ai);
        return CV_FAIL(CV_ERR_IO, "serve: cannot listen on %s port %d: %s%s", bind_addr, port,
                       strerror(e),
                       e == EADDRINUSE ? " (another server uses it: choose --port)" : "");
    }
    *is_ipv6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    *fd_out = fd;
    return CV_OK;
}

/* Real path of a local directory given as a path or file:// URL. */
static cv_status local_dir(const char *what, const char *text, char **out)
{
    cv_cloudpath p;
    CV_TRY(cv__cloudpath_parse(text, &p));
    bool local = strcmp(p.protocol, "file") == 0;
    char *real = local ? realpath(p.path, NULL) : NULL;
    int e = errno;
    cv__cloudpath_fini(&p);
    if (!local) {
        return CV_FAIL(CV_ERR_UNSUPPORTED, "serve: %s `%s' is not a local directory", what, text);
    }
    struct stat st;
    if (!real || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        free(real);
        return CV_FAIL(CV_ERR_NOTFOUND, "serve: %s `%s' is not a directory%s%s", what, text,
                       real ? "" : ": ", real ? "" : strerror(e));
    }
    *out = cv__strdup(real);
    free(real);
    return *out ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "serve: out of memory");
}

cv_status cv__serve_start(const cv_serve_opts *o, cv_server **out)
{
    cv_server *s = cv_calloc(1, sizeof *s);
    if (!s) {
        return CV_FAIL(CV_ERR_NOMEM, "serve: out of memory");
    }
    pthread_mutex_init(&s->vol_lock, NULL);
    cv_status rc = local_dir("layer", o->layer, &s->root);
    if (rc == CV_OK && o->ng_dir) {
        rc = local_dir("Neuroglancer directory", o->ng_dir, &s->ng_root);
    }
    if (rc == CV_OK) {
        cv_opts vo = cv_opts_default();
        vo.fill_missing = true; /* the viewer shows absent chunks as background */
        vo.threads = 4;
        vo.lru_bytes = o->lru_bytes;
        rc = cv_volume_open(s->root, &vo, &s->vol);
    }
    const char *bind_addr = o->bind ? o->bind : "127.0.0.1";
    int fd = -1;
    bool is_ipv6 = false;
    if (rc == CV_OK) {
        rc = listen_on(bind_addr, o->port, &fd, &is_ipv6);
    }
    if (rc != CV_OK) {
        cv__serve_stop(s);
        return rc;
    }
    struct sockaddr_storage sa;
    socklen_t sa_len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sa_len);
    s->port = ntohs(is_ipv6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                            : ((struct sockaddr_in *)&sa)->sin_port);
    /* The URL names an address a browser on this machine can reach. */
    const char *host = bind_addr;
    if (strcmp(bind_addr, "0.0.0.0") == 0) {
        host = "127.0.0.1";
    } else if (strcmp(bind_addr, "::") == 0) {
        host = "::1";
    }
    if (is_ipv6) {
        snprintf(s->base_url, sizeof s->base_url, "http://[%s]:%d/", host, s->port);
    } else {
        snprintf(s->base_url, sizeof s->base_url, "http://%s:%d/", host, s->port);
    }

    unsigned threads = o->threads > 0 ? (unsigned)o->threads : 8;
    s->daemon = MHD_start_daemon(
        MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | (is_ipv6 ? MHD_USE_IPv6 : 0), 0, NULL,
        NULL, answer, s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
    if (!s->daemon) {
        close(fd);
        cv__serve_stop(s);
        return CV_FAIL(CV_ERR_IO, "serve: libmicrohttpd could not start on %s port %d", bind_addr,
                       s->port);
    }
    *out = s;
    return CV_OK;
}

int cv__serve_port(const cv_server *s)
{
    return s->port;
}

const char *cv__serve_base_url(const cv_server *s)
{
    return s->base_url;
}

cv_volume *cv__serve_volume(cv_server *s)
{
    return s->vol;
}

void cv__serve_stop(cv_server *s)
{
    if (!s) {
        return;
    }
    if (s->daemon) {
        MHD_stop_daemon(s->daemon); /* waits for the workers; closes the listening socket */
    }
    cv_volume_close(s->vol);
    pthread_mutex_destroy(&s->vol_lock);
    cv_free(s->root);
    cv_free(s->ng_root);
    cv_free(s);
}
