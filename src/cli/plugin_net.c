/* SPDX-License-Identifier: BSD-3-Clause
 * plugin_net.c: the full program's side of the remote storage module (libcvmpi-net.so, built
 * from io/http.c, secrets.c and the http/s3/gcs/boss stores; plugin.h). The store tables here
 * load the module when a store of theirs is opened and hand the store over to the module's own
 * table; the other functions forward. --timeout and --retries, given before any store is
 * opened, are kept until the module is loaded. */
#include "cli/plugin.h"
#include "io/http.h"
#include "io/store.h"

#include <pthread.h>

static pthread_mutex_t limits_lock = PTHREAD_MUTEX_INITIALIZER;
static bool limits_given, limits_applied;
static long limits_timeout;
static int limits_retries = -1;

/* The module's `symbol`, with the kept --timeout/--retries applied on the first load. */
static void *net_symbol(const char *symbol)
{
    void *sym = cli_module_symbol(CLI_MODULE_NET, symbol);
    if (!sym) {
        return NULL;
    }
    pthread_mutex_lock(&limits_lock);
    if (limits_given && !limits_applied) {
        void (*set)(long, int) =
            (void (*)(long, int))cli_module_symbol(CLI_MODULE_NET, "cv__http_set_limits");
        if (set) {
            set(limits_timeout, limits_retries);
        }
    }
    limits_applied = true;
    pthread_mutex_unlock(&limits_lock);
    return sym;
}

void cv__http_set_limits(long stall_timeout_s, int retries)
{
    pthread_mutex_lock(&limits_lock);
    bool now = limits_applied;
    if (!now) {
        limits_given = true;
        limits_timeout = stall_timeout_s > 0 ? stall_timeout_s : limits_timeout;
        limits_retries = retries >= 0 ? retries : limits_retries;
    }
    pthread_mutex_unlock(&limits_lock);
    if (now) {
        void (*set)(long, int) = (void (*)(long, int))net_symbol("cv__http_set_limits");
        if (set) {
            set(stall_timeout_s, retries);
        }
    }
}

cv_status cv__secrets_set(const char *json)
{
    cv_status (*set)(const char *) = (cv_status(*)(const char *))net_symbol("cv__secrets_set");
    return set ? set(json) : CV_ERR_UNSUPPORTED;
}

cv_status cv__cave_token(const char *fqdn, char **token, char **where)
{
    cv_status (*get)(const char *, char **, char **) =
        (cv_status(*)(const char *, char **, char **))net_symbol("cv__cave_token");
    return get ? get(fqdn, token, where) : CV_ERR_UNSUPPORTED;
}

cv_status cv__http_perform(const cv_http_req *rq, cv_http_resp *rs)
{
    cv_status (*perform)(const cv_http_req *, cv_http_resp *) =
        (cv_status(*)(const cv_http_req *, cv_http_resp *))net_symbol("cv__http_perform");
    return perform ? perform(rq, rs) : CV_ERR_UNSUPPORTED;
}

cv_status cv__http_fail_status(const cv_http_req *rq, const cv_http_resp *rs)
{
    cv_status (*fail)(const cv_http_req *, const cv_http_resp *) =
        (cv_status(*)(const cv_http_req *, const cv_http_resp *))net_symbol("cv__http_fail_status");
    return fail ? fail(rq, rs) : CV_ERR_UNSUPPORTED;
}

/* Open through the module's table `name`, which then serves the store (s->ops). */
static cv_status open_with(cv_store *s, const cv_cloudpath *p, const char *name)
{
    const cv_store_ops *ops = net_symbol(name);
    if (!ops) {
        return CV_ERR_UNSUPPORTED;
    }
    s->ops = ops;
    return ops->open(s, p);
}

static void close_forward(cv_store *s)
{
    /* store.c closes a store whose open failed half way through the table it opened with */
    if (s->ops->close && s->ops->close != close_forward) {
        s->ops->close(s);
    }
}

/* Never reached through these tables (an opened store serves from the module's); present so
 * that asking a scheme whether it streams (cv__url_streams, cv__store_part_bytes) before any
 * store is opened gets the module's answer: s3 and gs upload in parts. */
static cv_status put_pieces_forward(cv_store *s, const char *name, cv_store_pieces next, void *arg,
                                    const char *content_type)
{
    if (!s->ops->put_pieces || s->ops->put_pieces == put_pieces_forward) {
        return CV_ERR_UNSUPPORTED;
    }
    return s->ops->put_pieces(s, name, next, arg, content_type);
}

static cv_status open_http(cv_store *s, const cv_cloudpath *p)
{
    return open_with(s, p, "cv_store_http");
}
static cv_status open_s3(cv_store *s, const cv_cloudpath *p)
{
    return open_with(s, p, "cv_store_s3");
}
static cv_status open_gcs(cv_store *s, const cv_cloudpath *p)
{
    return open_with(s, p, "cv_store_gcs");
}

const cv_store_ops cv_store_http = {.name = "http", .open = open_http, .close = close_forward};
const cv_store_ops cv_store_s3 = {
    .name = "s3", .open = open_s3, .put_pieces = put_pieces_forward, .close = close_forward};
const cv_store_ops cv_store_gcs = {
    .name = "gs", .open = open_gcs, .put_pieces = put_pieces_forward, .close = close_forward};
#ifdef CV_HAVE_BOSS
static cv_status open_boss(cv_store *s, const cv_cloudpath *p)
{
    return open_with(s, p, "cv_store_boss");
}
const cv_store_ops cv_store_boss = {.name = "boss", .open = open_boss, .close = close_forward};
#endif
