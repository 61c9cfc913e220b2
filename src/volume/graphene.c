/* SPDX-License-Identifier: BSD-3-Clause
 * graphene.c: graphene:// layers as CloudVolume's CloudVolumeGraphene (graphene-boss-zfpc spec
 * §1): the info from the server with the Bearer token, the watershed layer under data_dir
 * opened read-only, roots (roots_binary, or the 1.0 API's one request per id) and leaves, and
 * reads agglomerated or restricted to root ids. Requests go through http.c, whose retries are
 * the only ones. */
#include "volume/graphene.h"

#include "volume/volume.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The front (main_front.c) runs `info` of local layers only: no HTTP client there. */
#if defined(CV_HAVE_CURL) && !defined(CV_CLI_FRONT)
#define CV_GRAPHENE_HTTP 1
#endif

#ifdef CV_GRAPHENE_HTTP
#include "compress/compress.h"
#include "io/http.h"
#endif

/* CloudVolume's batch of ids per roots request, and the body size above which it gzips. */
#define ROOTS_BATCH 250000
#define ROOTS_GZIP_BYTES 1000000

/* Answers larger than this are refused: an info or manifest is small, and id arrays are
 * bounded by this too (a leaves answer of 64 MiB is 8 million ids). */
#define ANSWER_MAX ((size_t)256 << 20)

void cv__graphene_free(cv_graphene *g)
{
    if (!g) {
        return;
    }
    cv__graphene_meta_fini(&g->meta);
    if (g->auth_header) {
        memset(g->auth_header, 0, strlen(g->auth_header));
    }
    cv_free(g->auth_header);
    cv_free(g);
}

bool cv_volume_is_graphene(const cv_volume *v)
{
    return v && v->graphene;
}

static cv_status need_graphene(const cv_volume *v, const char *what)
{
    if (!v->graphene) {
        return CV_FAIL(CV_ERR_ARG, "%s: %s is not a graphene:// layer", what,
                       cv_store_url(v->store));
    }
    return CV_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Index of `key` in sorted a[0..n), or n. */
static size_t find_u64(const uint64_t *a, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < key) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && a[lo] == key ? lo : n;
}

/* The distinct values of vox[0..n), sorted (runs of equal voxels are skipped first). */
static cv_status unique_labels(const uint64_t *vox, size_t n, uint64_t **out, size_t *count)
{
    uint64_t *u = cv_malloc((n ? n : 1) * sizeof *u);
    if (!u) {
        return CV_FAIL(CV_ERR_NOMEM, "graphene: labels of %zu voxels", n);
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m == 0 || u[m - 1] != vox[i]) {
            u[m++] = vox[i];
        }
    }
    qsort(u, m, sizeof *u, cmp_u64);
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (k == 0 || u[k - 1] != u[i]) {
            u[k++] = u[i];
        }
    }
    *out = u;
    *count = k;
    return CV_OK;
}

#ifdef CV_GRAPHENE_HTTP

cv_status cv__graphene_request(const cv_graphene *g, const char *method, const char *url,
                               const void *body, size_t body_len, const char *const *headers,
                               cv_buf *out)
{
    enum { MAX_HEADERS = 8 };
    const char *lines[MAX_HEADERS + 3];
    size_t k = 0;
    lines[k++] = g->auth_header;
    bool asks_encoding = false;
    for (size_t i = 0; headers && headers[i] && k < MAX_HEADERS; i++) {
        asks_encoding |= strncmp(headers[i], "Accept-Encoding:", 16) == 0;
        lines[k++] = headers[i];
    }
    if (!asks_encoding) {
        lines[k++] = "Accept-Encoding: gzip";
    }
    lines[k] = NULL;
    cv_buf raw;
    cv__buf_init(&raw, ANSWER_MAX);
    cv_http_req rq = {.method = method,
                      .url = url,
                      .headers = lines,
                      .body = body,
                      .body_len = body_len,
                      .flags = CV_HTTP_FOLLOW,
                      .out = &raw};
    cv_http_resp rs;
    cv_status rc = cv__http_perform(&rq, &rs);
    if (rc == CV_OK && (rs.status < 200 || rs.status > 299)) {
        rc = cv__http_fail_status(&rq, &rs);
    }
    if (rc == CV_OK) {
        out->len = 0;
        if (!rs.encoding[0]) {
            rc = cv__buf_append(out, raw.data, raw.len);
        } else {
            const cv_compressor *c = cv__compressor_find(rs.encoding);
            rc = c ? c->decompress(raw.data, raw.len, out)
                   : CV_FAIL(CV_ERR_UNSUPPORTED, "%s `%s': Content-Encoding %s is not supported",
                             method, url, rs.encoding);
            if (rc != CV_OK && c) {
                cv__err_wrap("%s `%s': %s body", method, url, rs.encoding);
            }
        }
    }
    cv__buf_fini(&raw);
    return rc;
}

/* The server's URL for `route` under the API the requests use: v1 whenever the server
 * supports it (roots and leaves), else 1.0. `modality` NULL: the URL's. */
static char *api_url(const cv_graphene *g, const char *modality, int api, const char *route)
{
    const cv_graphene_url *u = &g->url;
    const char *mod = modality ? modality : u->modality;
    if (api == CV_GRAPHENE_API_V1) {
        return cv__asprintf("%s/%s/api/v1/table/%s/%s", u->base, mod, u->dataset, route);
    }
    return cv__asprintf("%s/%s/1.0/%s/%s", u->base, mod, u->dataset, route);
}

static cv_status open_graphene(const char *cloudpath, const cv_opts *o, cv_volume **out)
{
    cv_graphene *g = cv_calloc(1, sizeof *g);
    if (!g) {
        return CV_FAIL(CV_ERR_NOMEM, "open %s", cloudpath);
    }
    cv_status rc = cv__graphene_parse_url(cloudpath, &g->url);
    char *token = NULL;
    if (rc == CV_OK) {
        /* As CloudVolume: no token, no request. */
        rc = cv__cave_token(g->url.fqdn, &token, NULL);
    }
    if (rc == CV_OK) {
        g->auth_header = cv__asprintf("Authorization: Bearer %s", token);
        memset(token, 0, strlen(token));
        cv_free(token);
        rc = g->auth_header ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "open %s", cloudpath);
    }
    char *url = NULL;
    cv_buf body;
    cv__buf_init(&body, 64 << 20);
    if (rc == CV_OK) {
        url = cv__asprintf("%s/%s/table/%s/info", g->url.base, g->url.modality, g->url.dataset);
        rc = url ? cv__graphene_request(g, "GET", url, NULL, 0, NULL, &body)
                 : CV_FAIL(CV_ERR_NOMEM, "open %s", cloudpath);
    }
    cv_info *info = NULL;
    if (rc == CV_OK) {
        rc = cv__graphene_parse_meta((const char *)body.data, body.len, url, &g->meta);
    }
    if (rc == CV_OK) {
        rc = cv_info_parse((const char *)body.data, body.len, url, &info);
    }
    cv__buf_fini(&body);
    cv_free(url);
    if (rc == CV_OK) {
        /* The URL's version, "table" resolving to the newest the server offers. */
        bool v1 = g->meta.api_versions & (1u << CV_GRAPHENE_API_V1);
        bool legacy = g->meta.api_versions & (1u << CV_GRAPHENE_API_LEGACY);
        const char *ver = g->url.version;
        g->api = strcmp(ver, "v1") == 0    ? CV_GRAPHENE_API_V1
                 : strcmp(ver, "1.0") == 0 ? CV_GRAPHENE_API_LEGACY
                 : v1                      ? CV_GRAPHENE_API_V1
                                           : CV_GRAPHENE_API_LEGACY;
        if (!v1 && !legacy) {
            rc = CV_FAIL(CV_ERR_INFO, "graphene server %s supports no API version", g->url.base);
        }
    }
    cv_volume *v = NULL;
    if (rc == CV_OK) {
        rc = cv_volume_open_info(g->meta.data_dir, info, o, &v);
        if (rc != CV_OK) {
            cv__err_wrap("open the watershed layer of %s", cloudpath);
        }
    }
    cv_info_free(info);
    if (rc != CV_OK) {
        cv__graphene_free(g);
        return rc;
    }
    v->graphene = g;
    v->readonly = true;
    *out = v;
    return CV_OK;
}

cv_status cv__graphene_open(const char *cloudpath, const cv_opts *o, cv_volume **out)
{
    return open_graphene(cloudpath, o, out);
}

/* "?stop_layer=L&timestamp=T", either part only when set, in the order of CloudVolume's
 * params dict; "" for neither. */
static void roots_query(const int *stop, const int64_t *ts, char *buf, size_t cap)
{
    int k = 0;
    buf[0] = '\0';
    if (stop) {
        k = snprintf(buf, cap, "?stop_layer=%d", *stop);
    }
    if (ts) {
        snprintf(buf + k, cap - (size_t)k, "%stimestamp=%" PRId64, k ? "&" : "?", *ts);
    }
}

/* Roots (or parents at *stop) of the sorted ids[0..n) (none 0 or already there) through
 * roots_binary. */
static cv_status roots_v1(cv_graphene *g, const uint64_t *ids, size_t n, const int64_t *ts,
                          const int *stop, uint64_t *roots)
{
    char query[96];
    roots_query(stop, ts, query, sizeof query);
    char *route = cv__asprintf("roots_binary%s", query);
    char *url = route ? api_url(g, NULL, CV_GRAPHENE_API_V1, route) : NULL;
    cv_free(route);
    if (!url) {
        return CV_FAIL(CV_ERR_NOMEM, "graphene roots");
    }
    bool gzip = n * 8 > ROOTS_GZIP_BYTES;
    const char *gz_headers[] = {"Content-Type:", "Expect:", "Content-Encoding: gzip",
                                "Accept-Encoding: gzip;q=1, identity;q=0.1", NULL};
    const char *plain_headers[] = {"Content-Type:", "Expect:", "Accept-Encoding: identity", NULL};
    size_t per = ROOTS_BATCH;
    uint8_t *le = cv_malloc(8 * (n < per ? n : per) + 1);
    cv_buf packed, answer;
    cv__buf_init(&packed, 0);
    cv__buf_init(&answer, ANSWER_MAX);
    cv_status rc = le ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "graphene roots");
    for (size_t at = 0; at < n && rc == CV_OK; at += per) {
        size_t m = n - at < per ? n - at : per;
        for (size_t i = 0; i < m; i++) {
            for (int b = 0; b < 8; b++) {
                le[8 * i + (size_t)b] = (uint8_t)(ids[at + i] >> (8 * b));
            }
        }
        const void *body = le;
        size_t body_len = 8 * m;
        if (gzip) {
            packed.len = 0;
            rc = cv_compress_gzip.compress(-1, le, 8 * m, &packed);
            body = packed.data;
            body_len = packed.len;
        }
        if (rc == CV_OK) {
            rc = cv__graphene_request(g, "POST", url, body, body_len,
                                      gzip ? gz_headers : plain_headers, &answer);
        }
        if (rc == CV_OK) {
            rc = cv__graphene_parse_roots(answer.data, answer.len, m, url, roots + at);
        }
    }
    cv__buf_fini(&packed);
    cv__buf_fini(&answer);
    cv_free(le);
    cv_free(url);
    return rc;
}

/* The 1.0 API: one GET per id with a JSON body, the root in the answer's first 8 bytes. */
static cv_status roots_legacy(cv_graphene *g, const uint64_t *ids, size_t n, const int64_t *ts,
                              uint64_t *roots)
{
    char body[64];
    if (ts) {
        snprintf(body, sizeof body, "{\"timestamp\": %" PRId64 "}", *ts);
    } else {
        snprintf(body, sizeof body, "{}");
    }
    const char *headers[] = {"Content-Type: application/json", NULL};
    cv_buf answer;
    cv__buf_init(&answer, ANSWER_MAX);
    cv_status rc = CV_OK;
    for (size_t i = 0; i < n && rc == CV_OK; i++) {
        char route[64];
        snprintf(route, sizeof route, "graph/%" PRIu64 "/root", ids[i]);
        char *url = api_url(g, NULL, CV_GRAPHENE_API_LEGACY, route);
        rc = url ? cv__graphene_request(g, "GET", url, body, strlen(body), headers, &answer)
                 : CV_FAIL(CV_ERR_NOMEM, "graphene roots");
        if (rc == CV_OK && answer.len < 8) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "%s: %zu bytes, want at least 8 (a uint64 root)", url,
                         answer.len);
        }
        if (rc == CV_OK) {
            rc = cv__graphene_parse_roots(answer.data, 8, 1, url, roots + i);
        }
        cv_free(url);
    }
    cv__buf_fini(&answer);
    return rc;
}

/* Roots (or parents at *stop) of sorted unique labels[0..n): 0 -> 0, ids at the stop layer or
 * the top layer -> themselves, the rest asked. */
static cv_status roots_sorted(cv_graphene *g, const uint64_t *labels, size_t n, const int64_t *ts,
                              const int *stop, uint64_t *roots)
{
    uint64_t *ask = cv_malloc((n ? n : 1) * sizeof *ask);
    uint64_t *got = cv_malloc((n ? n : 1) * sizeof *got);
    cv_status rc = ask && got ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "graphene roots of %zu ids", n);
    size_t m = 0;
    for (size_t i = 0; i < n && rc == CV_OK; i++) {
        int layer = labels[i] ? cv__graphene_layer(&g->meta, labels[i]) : 0;
        if (labels[i] == 0 || layer == g->meta.n_layers || (stop && layer == *stop)) {
            roots[i] = labels[i];
        } else {
            ask[m++] = labels[i];
        }
    }
    bool v1 = g->meta.api_versions & (1u << CV_GRAPHENE_API_V1);
    if (rc == CV_OK && m > 0 && !v1 && stop) {
        /* CloudVolume's 1.0 roots drop stop_layer and answer roots: refused instead. */
        rc = CV_FAIL(CV_ERR_UNSUPPORTED,
                     "graphene server %s: API 1.0 does not support stop_layer (its "
                     "supported_api_versions lack 1, v1)",
                     g->url.base);
    }
    if (rc == CV_OK && m > 0) {
        rc = v1 ? roots_v1(g, ask, m, ts, stop, got) : roots_legacy(g, ask, m, ts, got);
    }
    for (size_t i = 0, j = 0; i < n && j < m && rc == CV_OK; i++) {
        if (labels[i] == ask[j]) {
            roots[i] = got[j++];
        }
    }
    cv_free(ask);
    cv_free(got);
    return rc;
}

cv_status cv_graphene_roots(cv_volume *v, const uint64_t *ids, size_t n, const int64_t *timestamp,
                            uint64_t *roots)
{
    CV_TRY(need_graphene(v, "roots"));
    uint64_t *labels;
    size_t m;
    CV_TRY(unique_labels(ids, n, &labels, &m));
    uint64_t *mapped = cv_malloc((m ? m : 1) * sizeof *mapped);
    cv_status rc = mapped ? roots_sorted(v->graphene, labels, m, timestamp, NULL, mapped)
                          : CV_FAIL(CV_ERR_NOMEM, "graphene roots");
    for (size_t i = 0; i < n && rc == CV_OK; i++) {
        roots[i] = mapped[find_u64(labels, m, ids[i])];
    }
    cv_free(mapped);
    cv_free(labels);
    return rc;
}

cv_status cv_graphene_leaves(cv_volume *v, uint64_t root, cv_bbox b, uint64_t **leaves, size_t *n)
{
    CV_TRY(need_graphene(v, "leaves"));
    cv_graphene *g = v->graphene;
    /* Bbox.to_filename(): x0-x1_y0-y1_z0-z1. */
    char bounds[160];
    snprintf(bounds, sizeof bounds,
             "%" PRId64 "-%" PRId64 "_%" PRId64 "-%" PRId64 "_%" PRId64 "-%" PRId64, b.min[0],
             b.max[0], b.min[1], b.max[1], b.min[2], b.max[2]);
    bool v1 = g->meta.api_versions & (1u << CV_GRAPHENE_API_V1);
    char route[256];
    snprintf(route, sizeof route,
             v1 ? "node/%" PRIu64 "/leaves?bounds=%s" : "segment/%" PRIu64 "/leaves?bounds=%s",
             root, bounds);
    char *url = api_url(g, NULL, v1 ? CV_GRAPHENE_API_V1 : CV_GRAPHENE_API_LEGACY, route);
    if (!url) {
        return CV_FAIL(CV_ERR_NOMEM, "graphene leaves");
    }
    cv_buf answer;
    cv__buf_init(&answer, ANSWER_MAX);
    cv_status rc;
    if (v1) {
        rc = cv__graphene_request(g, "GET", url, NULL, 0, NULL, &answer);
        if (rc == CV_OK) {
            rc = cv__graphene_parse_ids((const char *)answer.data, answer.len, "leaf_ids", true,
                                        url, leaves, n);
        }
    } else {
        char body[40];
        snprintf(body, sizeof body, "[%" PRIu64 "]", root);
        const char *headers[] = {"Content-Type: application/json", NULL};
        rc = cv__graphene_request(g, "POST", url, body, strlen(body), headers, &answer);
        if (rc == CV_OK && answer.len % 8 != 0) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "%s: %zu bytes is not a whole number of uint64 leaves",
                         url, answer.len);
        }
        size_t count = answer.len / 8;
        uint64_t *list = rc == CV_OK ? cv_malloc((count ? count : 1) * 8) : NULL;
        if (rc == CV_OK && !list) {
            rc = CV_FAIL(CV_ERR_NOMEM, "graphene leaves");
        }
        if (rc == CV_OK) {
            rc = cv__graphene_parse_roots(answer.data, answer.len, count, url, list);
        }
        if (rc == CV_OK) {
            *leaves = list;
            *n = count;
        } else {
            cv_free(list);
        }
    }
    cv__buf_fini(&answer);
    cv_free(url);
    return rc;
}

cv_status cv_graphene_chunk_mappings(cv_volume *v, uint64_t l2_id, const int64_t *timestamp,
                                     uint64_t **pairs, size_t *n_pairs)
{
    CV_TRY(need_graphene(v, "l2 chunk children"));
    cv_graphene *g = v->graphene;
    if (!(g->meta.api_versions & (1u << CV_GRAPHENE_API_V1))) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       "l2 chunk children: graphene server %s lacks the v1 API (its "
                       "supported_api_versions)",
                       g->url.base);
    }
    int layer = cv__graphene_layer(&g->meta, l2_id);
    if (layer != 2) {
        return CV_FAIL(CV_ERR_ARG, "l2 chunk children of %" PRIu64 ": layer %d, want a layer 2 id",
                       l2_id, layer);
    }
    int bits = g->meta.l2_spatial_bits;
    if (bits < 0) {
        return CV_FAIL(CV_ERR_INFO,
                       "l2 chunk children: the graphene info of %s has no usable "
                       "\"graph\".\"spatial_bit_masks\".\"2\" (an integer 0..%d)",
                       g->url.base, (64 - g->meta.n_bits_for_layer_id) / 3);
    }
    /* decode_chunk_id: the segid bits (below the layer and three coordinates) zeroed. */
    int segid_bits = 64 - g->meta.n_bits_for_layer_id - 3 * bits;
    uint64_t chunk_id = segid_bits >= 64 ? 0 : l2_id & ~((UINT64_C(1) << segid_bits) - 1);
    char route[128];
    int k = snprintf(route, sizeof route, "l2_chunk_children_binary/%" PRIu64 "?as_array=True",
                     chunk_id);
    if (timestamp) {
        snprintf(route + k, sizeof route - (size_t)k, "&timestamp=%" PRId64, *timestamp);
    }
    char *url = api_url(g, NULL, CV_GRAPHENE_API_V1, route);
    if (!url) {
        return CV_FAIL(CV_ERR_NOMEM, "graphene l2 chunk children");
    }
    cv_buf answer;
    cv__buf_init(&answer, ANSWER_MAX);
    cv_status rc = cv__graphene_request(g, "GET", url, NULL, 0, NULL, &answer);
    if (rc == CV_OK) {
        rc = cv__graphene_parse_pairs(answer.data, answer.len, url, pairs, n_pairs);
    }
    cv__buf_fini(&answer);
    cv_free(url);
    return rc;
}

#else /* !CV_GRAPHENE_HTTP */

static cv_status roots_sorted(cv_graphene *g, const uint64_t *labels, size_t n, const int64_t *ts,
                              const int *stop, uint64_t *roots)
{
    (void)g;
    (void)labels;
    (void)n;
    (void)ts;
    (void)stop;
    (void)roots;
    return CV_FAIL(CV_ERR_UNSUPPORTED, "graphene roots: this build has no HTTP client (libcurl)");
}

cv_status cv__graphene_request(const cv_graphene *g, const char *method, const char *url,
                               const void *body, size_t body_len, const char *const *headers,
                               cv_buf *out)
{
    (void)g;
    (void)body;
    (void)body_len;
    (void)headers;
    (void)out;
    return CV_FAIL(CV_ERR_UNSUPPORTED, "%s `%s': this build has no HTTP client (libcurl)", method,
                   url);
}

cv_status cv__graphene_open(const char *cloudpath, const cv_opts *o, cv_volume **out)
{
    (void)o;
    (void)out;
    return CV_FAIL(CV_ERR_UNSUPPORTED, "open %s: graphene:// needs libcurl, absent in this build",
                   cloudpath);
}

cv_status cv_graphene_roots(cv_volume *v, const uint64_t *ids, size_t n, const int64_t *timestamp,
                            uint64_t *roots)
{
    (void)ids;
    (void)n;
    (void)timestamp;
    (void)roots;
    return need_graphene(v, "roots");
}

cv_status cv_graphene_leaves(cv_volume *v, uint64_t root, cv_bbox b, uint64_t **leaves, size_t *n)
{
    (void)root;
    (void)b;
    (void)leaves;
    (void)n;
    return need_graphene(v, "leaves");
}

cv_status cv_graphene_chunk_mappings(cv_volume *v, uint64_t l2_id, const int64_t *timestamp,
                                     uint64_t **pairs, size_t *n_pairs)
{
    (void)l2_id;
    (void)timestamp;
    (void)pairs;
    (void)n_pairs;
    return need_graphene(v, "l2 chunk children");
}

#endif

/* CloudVolume's bbox_to_mip(box, mip, 0), one level at a time (floor the start, ceil the end),
 * then cut to the mip-0 bounds. */
static cv_bbox mip0_box(const cv_volume *v, int mip, cv_bbox b)
{
    const cv_info *info = v->info;
    for (int m = mip; m > 0; m--) {
        for (int d = 0; d < 3; d++) {
            double ratio = info->scales[m].resolution[d] / info->scales[m - 1].resolution[d];
            b.min[d] = (int64_t)floor((double)b.min[d] * ratio);
            b.max[d] = (int64_t)ceil((double)b.max[d] * ratio);
        }
    }
    return cv_bbox_intersect(b, cv_info_bounds(info, 0));
}

/* Replace each voxel found in sorted keys[0..n) by vals[...]; others keep their value. */
static void remap(uint64_t *vox, size_t nv, const uint64_t *keys, const uint64_t *vals, size_t n)
{
    uint64_t last_in = 0, last_out = 0;
    bool have = false;
    for (size_t i = 0; i < nv; i++) {
        if (have && vox[i] == last_in) {
            vox[i] = last_out;
            continue;
        }
        last_in = vox[i];
        size_t k = find_u64(keys, n, vox[i]);
        last_out = k < n ? vals[k] : vox[i];
        have = true;
        vox[i] = last_out;
    }
}

typedef struct pair {
    uint64_t leaf, root;
    size_t order; /* position in the leaves answers, all roots together */
} pair;

static int cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->leaf != y->leaf) {
        return x->leaf < y->leaf ? -1 : 1;
    }
    return (x->order > y->order) - (x->order < y->order);
}

/* Leaves -> root for each root id, later roots winning as in CloudVolume's dict update. */
static cv_status leaves_mapping(cv_volume *v, const uint64_t *roots, size_t n, cv_bbox box0,
                                uint64_t **keys, uint64_t **vals, size_t *count)
{
    pair *all = NULL;
    size_t m = 0;
    cv_status rc = CV_OK;
    for (size_t r = 0; r < n && rc == CV_OK; r++) {
        uint64_t *lv = NULL;
        size_t nl = 0;
        rc = cv_graphene_leaves(v, roots[r], box0, &lv, &nl);
        if (rc != CV_OK) {
            break;
        }
        pair *grown = nl ? cv_realloc(all, (m + nl) * sizeof *all) : all;
        if (nl && !grown) {
            cv_free(lv);
            rc = CV_FAIL(CV_ERR_NOMEM, "graphene leaves");
            break;
        }
        all = grown;
        for (size_t i = 0; i < nl; i++) {
            all[m] = (pair){lv[i], roots[r], m};
            m++;
        }
        cv_free(lv);
    }
    uint64_t *k = rc == CV_OK ? cv_malloc((m ? m : 1) * 8) : NULL;
    uint64_t *val = rc == CV_OK ? cv_malloc((m ? m : 1) * 8) : NULL;
    if (rc == CV_OK && (!k || !val)) {
        rc = CV_FAIL(CV_ERR_NOMEM, "graphene leaves");
    }
    size_t out = 0;
    if (rc == CV_OK && all) {
        /* By leaf, then by order: the last pair of a leaf wins. */
        qsort(all, m, sizeof *all, cmp_pair);
        for (size_t i = 0; i < m; i++) {
            if (out > 0 && k[out - 1] == all[i].leaf) {
                val[out - 1] = all[i].root;
            } else {
                k[out] = all[i].leaf;
                val[out] = all[i].root;
                out++;
            }
        }
    }
    cv_free(all);
    if (rc != CV_OK) {
        cv_free(k);
        cv_free(val);
        return rc;
    }
    *keys = k;
    *vals = val;
    *count = out;
    return CV_OK;
}

cv_status cv_graphene_read(cv_volume *v, int mip, cv_bbox box, const cv_graphene_read_opts *o,
                           void *dst, size_t dst_cap)
{
    CV_TRY(need_graphene(v, "read"));
    cv_graphene_read_opts none;
    memset(&none, 0, sizeof none);
    if (!o) {
        o = &none;
    }
    if (o->timestamp && !o->agglomerate) {
        return CV_FAIL(CV_ERR_ARG,
                       "read %s: a timestamp applies to agglomerated reads only (root ids are "
                       "matched through the graph as it is now)",
                       cv_store_url(v->store));
    }
    if (o->stop_layer && !o->agglomerate) {
        return CV_FAIL(CV_ERR_ARG, "read %s: a stop layer applies to agglomerated reads only",
                       cv_store_url(v->store));
    }
    if (o->stop_layer && (*o->stop_layer < 1 || *o->stop_layer > v->graphene->meta.n_layers)) {
        /* CloudVolume's ValueError. */
        return CV_FAIL(CV_ERR_ARG, "read %s: Stop layer %d must be 1 <= stop_layer <= %d",
                       cv_store_url(v->store), *o->stop_layer, v->graphene->meta.n_layers);
    }
    if (o->preserve_zeros && !o->root_ids) {
        return CV_FAIL(CV_ERR_ARG,
                       "read %s: preserve_zeros applies to reads restricted to root ids only",
                       cv_store_url(v->store));
    }
    if ((o->agglomerate || o->root_ids) &&
        (v->info->dtype != CV_UINT64 || v->info->num_channels != 1)) {
        return CV_FAIL(CV_ERR_INFO, "read %s: graphene labels must be one channel of uint64",
                       cv_store_url(v->store));
    }
    CV_TRY(cv__volume_check_mip(v, mip));
    CV_TRY(cv_volume_read(v, mip, box, dst, dst_cap));
    if (!o->agglomerate && !o->root_ids) {
        return CV_OK;
    }
    cv_graphene *g = v->graphene;
    uint64_t *vox = dst;
    size_t nv = (size_t)cv_bbox_voxels(box);
    cv_status rc = CV_OK;
    uint64_t *keys = NULL, *vals = NULL;
    size_t nk = 0;
    if (o->agglomerate) {
        uint64_t bg = (uint64_t)(v->opts.background_color >= 0 ? v->opts.background_color : 0);
        bool all_bg = true;
        for (size_t i = 0; i < nv && all_bg; i++) {
            all_bg = vox[i] == bg;
        }
        /* stop_layer 1 is the supervoxels themselves: no request. */
        bool supervoxels = o->stop_layer && *o->stop_layer == 1;
        if (!all_bg && !supervoxels) {
            rc = unique_labels(vox, nv, &keys, &nk);
            vals = rc == CV_OK ? cv_malloc((nk ? nk : 1) * 8) : NULL;
            if (rc == CV_OK && !vals) {
                rc = CV_FAIL(CV_ERR_NOMEM, "graphene roots");
            }
            if (rc == CV_OK) {
                rc = roots_sorted(g, keys, nk, o->timestamp, o->stop_layer, vals);
            }
        }
    } else {
        rc =
            leaves_mapping(v, o->root_ids, o->n_root_ids, mip0_box(v, mip, box), &keys, &vals, &nk);
    }
    if (rc == CV_OK && keys) {
        remap(vox, nv, keys, vals, nk);
    }
    cv_free(keys);
    cv_free(vals);
    if (rc == CV_OK && o->root_ids) {
        /* fastremap.mask_except(img, segids, value=0 or the maximum). */
        uint64_t *keep = cv_malloc((o->n_root_ids ? o->n_root_ids : 1) * 8);
        if (!keep) {
            return CV_FAIL(CV_ERR_NOMEM, "graphene root ids");
        }
        memcpy(keep, o->root_ids, o->n_root_ids * 8);
        qsort(keep, o->n_root_ids, 8, cmp_u64);
        /* preserve_zeros: segids + [0] kept, the rest np.iinfo(uint64).max. */
        uint64_t mask = o->preserve_zeros ? UINT64_MAX : 0;
        for (size_t i = 0; i < nv; i++) {
            if (find_u64(keep, o->n_root_ids, vox[i]) == o->n_root_ids &&
                !(o->preserve_zeros && vox[i] == 0)) {
                vox[i] = mask;
            }
        }
        cv_free(keep);
    }
    return rc;
}
