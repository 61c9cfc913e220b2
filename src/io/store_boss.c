/* SPDX-License-Identifier: BSD-3-Clause
 * store_boss.c: boss://COLLECTION/EXPERIMENT/CHANNEL, a BossDB channel read through the Boss
 * REST API as the intern client speaks it (what CloudVolume's boss data source calls): the
 * layer's info is made at open from three metadata answers, and every chunk
 * "KEY/x0-x1_y0-y1_z0-z1" of it is one cutout request whose c-blosc answer, a C-order (z,y,x)
 * array, is already the x-fastest raw chunk. Read-only.
 * Credentials: boss-secret.json {"protocol","host","token"} (secrets.c's lookup), else all of
 * INTERN_PROTOCOL, INTERN_HOST and INTERN_TOKEN. Requests carry "Authorization: Token ..."; the
 * token is never put in a URL, a message or a log. The info is built with the library's own
 * cv_info_create/cv_info_add_scale (CloudVolume's create_new_info and add_scale). */
#include "io/boss.h"

#include "io/http.h"

#include "base/json_py.h"

#include <blosc.h>
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOSS_CHUNK_X 512
#define BOSS_CHUNK_Y 512
#define BOSS_CHUNK_Z 16
#define BOSS_META_MAX ((size_t)1 << 20)

typedef struct boss_store {
    char *api;  /* "{protocol}://{host}/v1" */
    char *auth; /* "Authorization: Token ..." */
    char *coll, *exp, *chan;
    char *info_json;
    cv_info *info;
} boss_store;

/* ---- metadata (pure: unit tests and fuzz_boss reach it) ------------------------------------ */

static cv_status meta_fail(const char *what, const char *answer, const char *member,
                           const char *why)
{
    return CV_FAIL(CV_ERR_CORRUPT, "%s: the %s answer's \"%s\" %s", what, answer, member, why);
}

static cv_status parse_answer(const char *text, size_t len, const char *what, const char *answer,
                              cJSON **out)
{
    *out = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return CV_FAIL(CV_ERR_CORRUPT, "%s: the %s answer is not a JSON object", what, answer);
    }
    return CV_OK;
}

/* An integral number member within [lo, hi]. */
static cv_status int_member(const cJSON *o, const char *key, int64_t lo, int64_t hi,
                            const char *what, const char *answer, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= (double)lo && v->valuedouble <= (double)hi) ||
        v->valuedouble != floor(v->valuedouble)) {
        return meta_fail(what, answer, key, "is missing or not an integer in range");
    }
    *out = (int64_t)v->valuedouble;
    return CV_OK;
}

static const char *str_member(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

cv_status cv__boss_info(const char *experiment, size_t experiment_len, const char *coord,
                        size_t coord_len, const char *channel, size_t channel_len, const char *what,
                        cv_info **out)
{
    cJSON *e = NULL, *cf = NULL, *ch = NULL;
    cv_status rc = parse_answer(experiment, experiment_len, what, "experiment", &e);
    if (rc == CV_OK) {
        rc = parse_answer(coord, coord_len, what, "coordinate frame", &cf);
    }
    if (rc == CV_OK) {
        rc = parse_answer(channel, channel_len, what, "channel", &ch);
    }
    cv_info_params p;
    memset(&p, 0, sizeof p);
    int64_t levels = 0;
    const int64_t limit = (int64_t)1 << 40; /* voxel coordinates CloudVolume's grid can hold */
    if (rc == CV_OK) {
        rc = int_member(e, "num_hierarchy_levels", 1, 32, what, "experiment", &levels);
    }
    const char *method = rc == CV_OK ? str_member(e, "hierarchy_method") : NULL;
    if (rc == CV_OK &&
        (!method || (strcmp(method, "anisotropic") != 0 && strcmp(method, "isotropic") != 0))) {
        rc = meta_fail(what, "experiment", "hierarchy_method", "is not anisotropic or isotropic");
    }
    static const char *const axis[3] = {"x", "y", "z"};
    for (int d = 0; rc == CV_OK && d < 3; d++) {
        char key[16];
        int64_t start = 0, stop = 0;
        snprintf(key, sizeof key, "%s_start", axis[d]);
        rc = int_member(cf, key, -limit, limit, what, "coordinate frame", &start);
        snprintf(key, sizeof key, "%s_stop", axis[d]);
        if (rc == CV_OK) {
            rc = int_member(cf, key, -limit, limit, what, "coordinate frame", &stop);
        }
        if (rc == CV_OK && stop <= start) {
            rc = meta_fail(what, "coordinate frame", key, "is not past the start");
        }
        p.voxel_offset[d] = start;
        p.size[d] = stop - start;
        snprintf(key, sizeof key, "%s_voxel_size", axis[d]);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cf, key);
        if (rc == CV_OK &&
            (!cJSON_IsNumber(v) || !(v->valuedouble >= 0.5) || !(v->valuedouble < 1e9))) {
            rc = meta_fail(what, "coordinate frame", key, "is missing or not a positive size");
        }
        /* round() first, as CloudVolume does; Python rounds halves to even, as rint does,
         * so 0.5 becomes 0, which no info may hold */
        p.resolution[d] = rc == CV_OK ? rint(v->valuedouble) : 0;
        if (rc == CV_OK && p.resolution[d] < 1) {
            rc = meta_fail(what, "coordinate frame", key, "rounds to 0 (voxel sizes are rounded)");
        }
    }
    if (rc == CV_OK) {
        static const struct {
            const char *unit;
            double nm;
        } units[] = {
            {"nanometers", 1}, {"micrometers", 1e3}, {"millimeters", 1e6}, {"centimeters", 1e7}};
        const char *unit = str_member(cf, "voxel_unit");
        double factor = 0;
        for (size_t i = 0; unit && i < sizeof units / sizeof units[0]; i++) {
            if (strcmp(unit, units[i].unit) == 0) {
                factor = units[i].nm;
            }
        }
        if (factor == 0) {
            rc = meta_fail(what, "coordinate frame", "voxel_unit",
                           "is not nanometers, micrometers, millimeters or centimeters");
        }
        for (int d = 0; d < 3; d++) {
            p.resolution[d] *= factor;
        }
        /* int * 1e3 is a Python float: "4000.0" in the info */
        p.resolution_is_float = factor != 1;
    }
    const char *dtype = rc == CV_OK ? str_member(ch, "datatype") : NULL;
    if (rc == CV_OK && (!dtype || (strcmp(dtype, "uint8") != 0 && strcmp(dtype, "uint16") != 0 &&
                                   strcmp(dtype, "uint64") != 0))) {
        rc = meta_fail(what, "channel", "datatype", "is not uint8, uint16 or uint64");
    }
    const char *type = rc == CV_OK ? str_member(ch, "type") : NULL;
    if (rc == CV_OK && type && strcmp(type, "image") != 0 && strcmp(type, "annotation") != 0) {
        rc = meta_fail(what, "channel", "type", "is not image or annotation");
    }
    cv_info *info = NULL;
    if (rc == CV_OK) {
        p.type = type && strcmp(type, "annotation") == 0 ? "segmentation" : "image";
        p.dtype = cv_dtype_from_name(dtype);
        p.num_channels = 1;
        p.encoding = "raw";
        p.chunk_size[0] = BOSS_CHUNK_X;
        p.chunk_size[1] = BOSS_CHUNK_Y;
        p.chunk_size[2] = BOSS_CHUNK_Z;
        rc = cv_info_create(&p, &info);
    }
    const int64_t each_z = method && strcmp(method, "isotropic") == 0 ? 2 : 1;
    int64_t f[3] = {1, 1, 1};
    for (int64_t level = 1; rc == CV_OK && level < levels; level++) {
        f[0] *= 2;
        f[1] *= 2;
        f[2] *= each_z;
        rc = cv_info_add_scale(info, f, NULL, NULL, NULL);
    }
    cJSON_Delete(e);
    cJSON_Delete(cf);
    cJSON_Delete(ch);
    if (rc != CV_OK) {
        cv_info_free(info);
        return rc;
    }
    *out = info;
    return CV_OK;
}

cv_status cv__boss_blosc_decode(const uint8_t *src, size_t n, size_t want, const char *what,
                                cv_buf *out)
{
    size_t nbytes = 0, cbytes = 0, block = 0;
    /* blosc's own header check: sizes consistent with the buffer before anything is decoded */
    if (n < BLOSC_MIN_HEADER_LENGTH || blosc_cbuffer_validate(src, n, &nbytes) != 0) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "%s: the answer is not a blosc frame, or is cut short (%zu "
                       "bytes)",
                       what, n);
    }
    blosc_cbuffer_sizes(src, &nbytes, &cbytes, &block);
    if (nbytes != want || cbytes != n) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "%s: the blosc frame holds %zu bytes in %zu (want %zu in %zu)", what, nbytes,
                       cbytes, want, n);
    }
    CV_TRY(cv__buf_reserve(out, out->len + want));
    if (want == 0) {
        return CV_OK;
    }
    const int got = blosc_decompress_ctx(src, out->data + out->len, want, 1);
    if (got < 0 || (size_t)got != want) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: the blosc frame is corrupt (blosc says %d)", what, got);
    }
    out->len += want;
    return CV_OK;
}

/* ---- the store ----------------------------------------------------------------------------- */

/* Boss resource names: letters, digits, '_' and '-'. */
static bool is_name(const char *s)
{
    if (!*s) {
        return false;
    }
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-') {
            return false;
        }
    }
    return true;
}

static bool is_host(const char *s)
{
    if (!*s) {
        return false;
    }
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && !strchr(".-_:[]", *s)) {
            return false;
        }
    }
    return true;
}

static void boss_close(cv_store *s)
{
    boss_store *b = s->impl;
    if (!b) {
        return;
    }
    if (b->auth) {
        memset(b->auth, 0, strlen(b->auth));
    }
    cv_free(b->auth);
    cv_free(b->api);
    cv_free(b->coll);
    cv_free(b->exp);
    cv_free(b->chan);
    cv_free(b->info_json);
    cv_info_free(b->info);
    cv_free(b);
}

/* protocol, host and token from boss-secret.json, else the INTERN_* environment variables. */
static cv_status load_credentials(cv_store *s, boss_store *b)
{
    char *text = NULL, *where = NULL;
    cv_status rc = cv__secret_read("boss", NULL, &text, &where);
    char protocol[16] = "", host[256] = "";
    char *token = NULL;
    if (rc == CV_OK) {
        cJSON *o = cJSON_Parse(text);
        const char *pr = str_member(o, "protocol"), *ho = str_member(o, "host"),
                   *to = str_member(o, "token");
        if (pr && ho && to && strlen(pr) < sizeof protocol && strlen(ho) < sizeof host) {
            snprintf(protocol, sizeof protocol, "%s", pr);
            snprintf(host, sizeof host, "%s", ho);
            token = cv__strdup(to);
            rc = token ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "secrets");
        } else {
            rc = CV_FAIL(CV_ERR_ARG, "secret %s: needs string members protocol, host and token",
                         where);
        }
        cJSON_Delete(o);
        memset(text, 0, strlen(text));
    } else if (rc == CV_ERR_NOTFOUND) {
        cv_err_clear();
        const char *pr = getenv("INTERN_PROTOCOL"), *ho = getenv("INTERN_HOST"),
                   *to = getenv("INTERN_TOKEN");
        if (!pr || !ho || !to || !*pr || !*ho || !*to) {
            rc = CV_FAIL(CV_ERR_ARG,
                         "%s: no Boss credentials: put {\"protocol\", \"host\", \"token\"} in "
                         "boss-secret.json, or set INTERN_PROTOCOL, INTERN_HOST and INTERN_TOKEN",
                         s->url);
        } else {
            snprintf(protocol, sizeof protocol, "%s", pr);
            snprintf(host, sizeof host, "%s", ho);
            token = cv__strdup(to);
            rc = token ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "secrets");
            where = cv__strdup("the INTERN_* environment variables");
        }
    }
    cv_free(text);
    if (rc == CV_OK && strcmp(protocol, "http") != 0 && strcmp(protocol, "https") != 0) {
        rc = CV_FAIL(CV_ERR_ARG, "%s: Boss protocol \"%s\" (from %s) is not http or https", s->url,
                     protocol, where ? where : "");
    } else if (rc == CV_OK && !is_host(host)) {
        rc = CV_FAIL(CV_ERR_ARG, "%s: Boss host \"%s\" (from %s) is not HOST[:PORT]", s->url, host,
                     where ? where : "");
    } else if (rc == CV_OK && strpbrk(token, "\r\n")) {
        rc = CV_FAIL(CV_ERR_ARG, "%s: the Boss token (from %s) has a line break", s->url,
                     where ? where : "");
    }
    if (rc == CV_OK) {
        b->api = cv__asprintf("%s://%s/v1", protocol, host);
        b->auth = cv__asprintf("Authorization: Token %s", token);
        rc = b->api && b->auth ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "open %s", s->url);
    }
    if (token) {
        memset(token, 0, strlen(token));
    }
    cv_free(token);
    cv_free(where);
    return rc;
}

/* GET one metadata answer (a JSON object) into out. */
static cv_status get_meta(boss_store *b, const char *path, cv_buf *out)
{
    char *url = cv__asprintf("%s/%s", b->api, path);
    if (!url) {
        return CV_FAIL(CV_ERR_NOMEM, "boss metadata");
    }
    const char *headers[] = {b->auth, "Content-Type: application/json", NULL};
    cv__buf_init(out, BOSS_META_MAX);
    cv_http_req rq = {.method = "GET", .url = url, .headers = headers, .out = out};
    cv_http_resp rs;
    cv_status rc = cv__http_perform(&rq, &rs);
    if (rc == CV_OK && rs.status != 200) {
        rc = cv__http_fail_status(&rq, &rs);
    }
    cv_free(url);
    return rc;
}

static cv_status boss_open(cv_store *s, const cv_cloudpath *p)
{
    boss_store *b = cv_calloc(1, sizeof *b);
    if (!b) {
        return CV_FAIL(CV_ERR_NOMEM, "open %s", s->url);
    }
    s->impl = b;
    const char *path = p->path ? p->path : "";
    const char *slash = strchr(path, '/');
    b->coll = cv__strdup(p->bucket ? p->bucket : "");
    b->exp = slash ? cv__strndup(path, (size_t)(slash - path)) : NULL;
    b->chan = slash ? cv__strdup(slash + 1) : NULL;
    if (!b->coll || !b->exp || !b->chan || !is_name(b->coll) || !is_name(b->exp) ||
        !is_name(b->chan)) {
        return CV_FAIL(CV_ERR_ARG,
                       "bad boss path `%s': want boss://COLLECTION/EXPERIMENT/CHANNEL (letters, "
                       "digits, '_' and '-')",
                       s->url);
    }
    CV_TRY(load_credentials(s, b));
    cv_buf e, cf, ch;
    cv__buf_init(&e, 0);
    cv__buf_init(&cf, 0);
    cv__buf_init(&ch, 0);
    char *path_e = cv__asprintf("collection/%s/experiment/%s", b->coll, b->exp);
    cv_status rc = path_e ? get_meta(b, path_e, &e) : CV_FAIL(CV_ERR_NOMEM, "boss");
    cv_free(path_e);
    if (rc == CV_OK) {
        /* the coordinate frame is named by the experiment */
        cJSON *o = cJSON_ParseWithLength((const char *)e.data, e.len);
        const char *frame = str_member(o, "coord_frame");
        char *path_cf = frame && is_name(frame) ? cv__asprintf("coord/%s", frame) : NULL;
        cJSON_Delete(o);
        rc = path_cf ? get_meta(b, path_cf, &cf)
                     : CV_FAIL(CV_ERR_CORRUPT, "%s: the experiment answer names no coord_frame",
                               s->url);
        cv_free(path_cf);
    }
    if (rc == CV_OK) {
        char *path_ch =
            cv__asprintf("collection/%s/experiment/%s/channel/%s", b->coll, b->exp, b->chan);
        rc = path_ch ? get_meta(b, path_ch, &ch) : CV_FAIL(CV_ERR_NOMEM, "boss");
        cv_free(path_ch);
    }
    if (rc == CV_OK) {
        rc = cv__boss_info((const char *)e.data, e.len, (const char *)cf.data, cf.len,
                           (const char *)ch.data, ch.len, s->url, &b->info);
    }
    size_t len = 0;
    if (rc == CV_OK) {
        rc = cv_info_to_json(b->info, &b->info_json, &len);
    }
    if (rc != CV_OK) {
        cv__err_wrap("open %s", s->url);
    }
    cv__buf_fini(&e);
    cv__buf_fini(&cf);
    cv__buf_fini(&ch);
    return rc;
}

/* The mip and box of a chunk key "KEY/x0-x1_y0-y1_z0-z1" inside its scale; false otherwise. */
static bool chunk_of(const boss_store *b, const char *name, int *mip, cv_bbox *box)
{
    const char *slash = strrchr(name, '/');
    if (!slash) {
        return false;
    }
    for (int m = 0; m < b->info->n_scales; m++) {
        const char *key = b->info->scales[m].key;
        if (strlen(key) == (size_t)(slash - name) && strncmp(key, name, strlen(key)) == 0) {
            cv_bbox bounds = cv_info_bounds(b->info, m);
            if (cv_chunk_name_parse(slash + 1, box) != CV_OK) {
                cv_err_clear();
                return false;
            }
            /* one grid cell at most: a cutout is never larger than a chunk */
            const int64_t *chunk = b->info->scales[m].chunk_sizes[0];
            for (int d = 0; d < 3; d++) {
                if (box->min[d] < bounds.min[d] || box->max[d] > bounds.max[d] ||
                    box->min[d] >= box->max[d] || box->max[d] - box->min[d] > chunk[d]) {
                    return false;
                }
            }
            *mip = m;
            return true;
        }
    }
    return false;
}

static cv_status boss_get(cv_store *s, const char *name, cv_buf *out, char *encoding,
                          size_t enc_cap)
{
    boss_store *b = s->impl;
    if (encoding && enc_cap) {
        encoding[0] = '\0';
    }
    out->len = 0;
    if (strcmp(name, "info") == 0) {
        return cv__buf_append(out, b->info_json, strlen(b->info_json));
    }
    int mip;
    cv_bbox box;
    if (!chunk_of(b, name, &mip, &box)) {
        return cv__notfound("`%s/%s' is not a chunk of the Boss channel", s->url, name);
    }
    uint64_t voxels = 1;
    for (int d = 0; d < 3; d++) {
        voxels *= (uint64_t)(box.max[d] - box.min[d]); /* <= one chunk */
    }
    const size_t want = (size_t)voxels * cv_dtype_size(b->info->dtype);
    char *url = cv__asprintf("%s/cutout/%s/%s/%s/%d/%" PRId64 ":%" PRId64 "/%" PRId64 ":%" PRId64
                             "/%" PRId64 ":%" PRId64 "/?access-mode=no-cache",
                             b->api, b->coll, b->exp, b->chan, mip, box.min[0], box.max[0],
                             box.min[1], box.max[1], box.min[2], box.max[2]);
    if (!url) {
        return CV_FAIL(CV_ERR_NOMEM, "boss cutout");
    }
    const char *headers[] = {b->auth, "Content-Type: application/blosc",
                             "Accept: application/blosc", NULL};
    cv_buf frame;
    cv__buf_init(&frame, want + BLOSC_MAX_OVERHEAD);
    cv_http_req rq = {.method = "GET", .url = url, .headers = headers, .out = &frame};
    cv_http_resp rs;
    cv_status rc = cv__http_perform(&rq, &rs);
    if (rc == CV_OK && rs.status != 200) {
        rc = cv__http_fail_status(&rq, &rs);
    }
    if (rc == CV_OK) {
        rc = cv__boss_blosc_decode(frame.data, frame.len, want, url, out);
    }
    cv__buf_fini(&frame);
    cv_free(url);
    return rc;
}

static cv_status boss_get_range(cv_store *s, const char *name, uint64_t offset, uint64_t len,
                                cv_buf *out)
{
    (void)offset;
    (void)len;
    (void)out;
    return CV_FAIL(CV_ERR_UNSUPPORTED, "read part of `%s' in %s: a Boss channel has no shard files",
                   name, s->url);
}

static cv_status boss_put(cv_store *s, const char *name, const void *p, size_t n,
                          const char *encoding, const char *content_type)
{
    (void)p;
    (void)n;
    (void)encoding;
    (void)content_type;
    (void)name;
    return CV_FAIL(CV_ERR_UNSUPPORTED, "%s: boss:// layers are read-only", s->url);
}

static cv_status boss_exists(cv_store *s, const char *name, bool *yes)
{
    boss_store *b = s->impl;
    int mip;
    cv_bbox box;
    *yes = strcmp(name, "info") == 0 || chunk_of(b, name, &mip, &box);
    return CV_OK;
}

static cv_status boss_del(cv_store *s, const char *name)
{
    return CV_FAIL(CV_ERR_UNSUPPORTED, "delete `%s' from %s: boss:// layers are read-only", name,
                   s->url);
}

static cv_status boss_list(cv_store *s, const char *prefix,
                           cv_status (*fn)(const char *name, void *arg), void *arg)
{
    (void)fn;
    (void)arg;
    return CV_FAIL(CV_ERR_UNSUPPORTED, "list `%s' in %s: a Boss channel cannot be listed", prefix,
                   s->url);
}

/* A cutout is made per request: there is no stored object whose metadata could be shown. */
static cv_status boss_head(cv_store *s, const char *name, cv_store_meta *m)
{
    (void)name;
    (void)m;
    return CV_FAIL(CV_ERR_UNSUPPORTED, "%s: boss:// has no object metadata (head)", s->url);
}

const cv_store_ops cv_store_boss = {
    "boss",         /* name */
    0,              /* flags: no name suffixes; answers are decoded here, never Content-Encoded */
    boss_open,      /* open: credentials and the three metadata requests */
    boss_get,       /* get: "info", or one cutout per chunk */
    boss_get_range, /* get_range */
    boss_put,       /* put */
    boss_exists,    /* exists */
    boss_del,       /* del */
    NULL,           /* del_many: one by one */
    boss_list,      /* list */
    NULL,           /* list_level: from list */
    boss_head,      /* head: refused */
    NULL,           /* list_sized: from list and head */
    NULL,           /* put_pieces: read-only */
    boss_close,     /* close */
};
