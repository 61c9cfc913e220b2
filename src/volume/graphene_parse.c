/* SPDX-License-Identifier: BSD-3-Clause
 * graphene_parse.c: what graphene:// reading parses without a network (graphene-boss-zfpc spec
 * §1): the URL forms CloudVolume accepts, the graph fields of the server's info, the answers
 * of the roots, leaves and manifest requests (ids as exact uint64), and timestamps. Fuzzed by
 * fuzz_graphene. */
#include "volume/graphene.h"

#include "base/json_py.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- URL --------------------------------------------------------------------------------- */

static bool is_word(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* Length of the run of `ok` characters at s. */
static size_t span(const char *s, size_t n, bool (*ok)(char))
{
    size_t i = 0;
    while (i < n && ok(s[i])) {
        i++;
    }
    return i;
}

static bool is_dataset_char(char c)
{
    return is_word(c) || c == '.' || c == '-';
}

static bool is_version_char(char c)
{
    return isdigit((unsigned char)c) || c == '.';
}

static bool copy_part(char *dst, size_t cap, const char *src, size_t n)
{
    if (n == 0 || n >= cap) {
        return false;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return true;
}

/* CloudVolume's three path patterns, tried in order, matched from the start of the path:
 * /MOD/table/NAME, /MOD/api/vX/NAME, /MOD/X.Y/NAME (anything after NAME is ignored). */
static bool match_path(const char *p, size_t n, cv_graphene_url *u)
{
    size_t i = n > 0 && p[0] == '/' ? 1 : 0;
    size_t m = span(p + i, n - i, is_word);
    if (m == 0 || i + m >= n || p[i + m] != '/' ||
        !copy_part(u->modality, sizeof u->modality, p + i, m)) {
        return false;
    }
    const char *r = p + i + m + 1;
    size_t rn = n - (i + m + 1);
    const char *ver = NULL, *ds = NULL;
    size_t vn = 0;
    if (rn > 6 && strncmp(r, "table/", 6) == 0) {
        ver = r;
        vn = 5;
        ds = r + 6;
    } else if (rn > 5 && strncmp(r, "api/v", 5) == 0) {
        vn = 1 + span(r + 5, rn - 5, is_version_char);
        if (vn > 1 && 4 + vn < rn && r[4 + vn] == '/') {
            ver = r + 4;
            ds = r + 4 + vn + 1;
        }
    } else {
        vn = span(r, rn, is_version_char);
        if (vn > 0 && vn < rn && r[vn] == '/') {
            ver = r;
            ds = r + vn + 1;
        }
    }
    if (!ver) {
        return false;
    }
    size_t dn = span(ds, (size_t)(p + n - ds), is_dataset_char);
    return copy_part(u->version, sizeof u->version, ver, vn) &&
           copy_part(u->dataset, sizeof u->dataset, ds, dn);
}

cv_status cv__graphene_parse_url(const char *text, cv_graphene_url *out)
{
    cv_graphene_url u;
    memset(&u, 0, sizeof u);
    const char *s = text;
    if (strncmp(s, "graphene://", 11) != 0) {
        return CV_FAIL(CV_ERR_ARG, "`%s' is not a graphene:// path", text);
    }
    s += 11;
    /* CloudFiles knows middleauth+https only. */
    if (strncmp(s, "middleauth+https://", 19) == 0) {
        s += 11;
    } else if (strncmp(s, "middleauth+", 11) == 0) {
        return CV_FAIL(CV_ERR_ARG, "bad graphene path `%s': middleauth+ goes with https only",
                       text);
    }
    size_t scheme = strncmp(s, "https://", 8) == 0 ? 5 : strncmp(s, "http://", 7) == 0 ? 4 : 0;
    if (!scheme) {
        return CV_FAIL(CV_ERR_ARG,
                       "bad graphene path `%s': want graphene://https://HOST/segmentation/"
                       "table/NAME",
                       text);
    }
    const char *host = s + scheme + 3;
    size_t hn = strcspn(host, "/?#");
    if (hn == 0 || hn >= sizeof u.fqdn || memchr(host, '@', hn) || memchr(host, ' ', hn)) {
        return CV_FAIL(CV_ERR_ARG, "bad graphene path `%s': bad host", text);
    }
    memcpy(u.fqdn, host, hn);
    snprintf(u.base, sizeof u.base, "%.*s://%s", (int)scheme, s, u.fqdn);
    const char *path = host + hn;
    size_t pn = strcspn(path, "?#");
    if (!match_path(path, pn, &u)) {
        return CV_FAIL(CV_ERR_ARG,
                       "bad graphene path `%s': the path is none of /MODALITY/table/NAME, "
                       "/MODALITY/api/v1/NAME, /MODALITY/1.0/NAME",
                       text);
    }
    if (strcmp(u.version, "table") != 0 && strcmp(u.version, "v1") != 0 &&
        strcmp(u.version, "1.0") != 0) {
        return CV_FAIL(CV_ERR_UNSUPPORTED, "graphene path `%s': unknown API version \"%s\"", text,
                       u.version);
    }
    *out = u;
    return CV_OK;
}

/* ---- info -------------------------------------------------------------------------------- */

void cv__graphene_meta_fini(cv_graphene_meta *m)
{
    cv_free(m->data_dir);
    cv_free(m->mesh_dir);
    cv_free(m->unsharded_mesh_dir);
    memset(m, 0, sizeof m[0]);
}

static cv_status info_fail(const char *what, const char *msg)
{
    return CV_FAIL(CV_ERR_INFO, "graphene info `%s': %s", what, msg);
}

/* An integer member in [lo, hi], or `dflt` when absent (dflt < lo: required). */
static bool int_member(const cJSON *o, const char *name, int lo, int hi, int dflt, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v) {
        *out = dflt;
        return dflt >= lo;
    }
    if (!cv__json_is_int(v) || v->valuedouble < lo || v->valuedouble > hi) {
        return false;
    }
    *out = (int)v->valuedouble;
    return true;
}

/* A string member, or `dflt` when absent or null; a copy in *out. */
static bool str_member(const cJSON *o, const char *name, const char *dflt, char **out)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
    if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && v->valuestring[0])) {
        return false;
    }
    *out = cv__strdup(v && cJSON_IsString(v) ? v->valuestring : dflt);
    return *out != NULL;
}

cv_status cv__graphene_parse_meta(const char *text, size_t len, const char *what,
                                  cv_graphene_meta *out)
{
    cJSON *root;
    CV_TRY(cv__json_parse(text, len, what, &root));
    cv_graphene_meta m;
    memset(&m, 0, sizeof m);
    cv_status rc = CV_OK;
    const cJSON *graph = cJSON_GetObjectItemCaseSensitive(root, "graph");
    const cJSON *app = cJSON_GetObjectItemCaseSensitive(root, "app");
    const cJSON *vers = cJSON_GetObjectItemCaseSensitive(app, "supported_api_versions");
    const cJSON *dd = cJSON_GetObjectItemCaseSensitive(root, "data_dir");
    const cJSON *mm = cJSON_GetObjectItemCaseSensitive(root, "mesh_metadata");
    if (!cJSON_IsObject(root)) {
        rc = info_fail(what, "not a JSON object");
    } else if (!cJSON_IsString(dd) || !dd->valuestring[0]) {
        rc = info_fail(what, "\"data_dir\" (the watershed layer's path) must be a string");
    } else if (!cJSON_IsObject(graph)) {
        rc = info_fail(what, "\"graph\" must be an object");
    } else if (!int_member(graph, "n_layers", 1, 255, 0, &m.n_layers)) {
        rc = info_fail(what, "\"graph\".\"n_layers\" must be an integer 1..255");
    } else if (!int_member(graph, "n_bits_for_layer_id", 1, 63, 8, &m.n_bits_for_layer_id)) {
        rc = info_fail(what, "\"graph\".\"n_bits_for_layer_id\" must be an integer 1..63");
    } else if (!cJSON_IsArray(vers)) {
        rc = info_fail(what, "\"app\".\"supported_api_versions\" must be an array");
    } else if (mm && !cJSON_IsNull(mm) && !cJSON_IsObject(mm)) {
        rc = info_fail(what, "\"mesh_metadata\" must be an object");
    }
    for (const cJSON *v = rc == CV_OK ? vers->child : NULL; v; v = v->next) {
        if (!cv__json_is_int(v) || v->valuedouble < 0 || v->valuedouble > 1) {
            rc = info_fail(what, "\"app\".\"supported_api_versions\" must list 0 (1.0) and/or 1 "
                                 "(v1)");
            break;
        }
        m.api_versions |= 1u << (int)v->valuedouble;
    }
    /* Only get_chunk_mappings needs a layer's bits: an unusable value fails there, not here. */
    const cJSON *masks = cJSON_GetObjectItemCaseSensitive(graph, "spatial_bit_masks");
    if (rc == CV_OK &&
        (!cJSON_IsObject(masks) ||
         !int_member(masks, "2", 0, (64 - m.n_bits_for_layer_id) / 3, -1, &m.l2_spatial_bits))) {
        m.l2_spatial_bits = -1;
    }
    const cJSON *meta = cJSON_IsObject(mm) ? mm : NULL;
    if (rc == CV_OK &&
        !int_member(meta, "max_meshed_layer", 1, 255, m.n_layers, &m.max_meshed_layer)) {
        rc = info_fail(what, "\"mesh_metadata\".\"max_meshed_layer\" must be an integer 1..255");
    }
    if (rc == CV_OK && !(m.data_dir = cv__strdup(dd->valuestring))) {
        rc = CV_FAIL(CV_ERR_NOMEM, "graphene info");
    }
    if (rc == CV_OK && !str_member(root, "mesh", "mesh", &m.mesh_dir)) {
        rc = info_fail(what, "\"mesh\" must be a non-empty string");
    }
    if (rc == CV_OK && !str_member(meta, "unsharded_mesh_dir", "dynamic", &m.unsharded_mesh_dir)) {
        rc = info_fail(what, "\"mesh_metadata\".\"unsharded_mesh_dir\" must be a non-empty string");
    }
    cJSON_Delete(root);
    if (rc != CV_OK) {
        cv__graphene_meta_fini(&m);
        return rc;
    }
    *out = m;
    return CV_OK;
}

int cv__graphene_layer(const cv_graphene_meta *m, uint64_t label)
{
    return (int)(label >> (64 - m->n_bits_for_layer_id));
}

/* ---- answers ----------------------------------------------------------------------------- */

cv_status cv__graphene_parse_roots(const uint8_t *data, size_t len, size_t n, const char *what,
                                   uint64_t *roots)
{
    if (n > SIZE_MAX / 8 || len != n * 8) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "%s: %zu bytes of roots for %zu ids (want %zu: one uint64 per id)", what,
                       len, n, n <= SIZE_MAX / 8 ? n * 8 : SIZE_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 0;
        for (int b = 7; b >= 0; b--) {
            v = v << 8 | data[8 * i + (size_t)b];
        }
        roots[i] = v;
    }
    return CV_OK;
}

cv_status cv__graphene_parse_pairs(const uint8_t *data, size_t len, const char *what,
                                   uint64_t **pairs, size_t *n)
{
    if (len % 16 != 0) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "%s: %zu bytes is not a whole number of (l2, supervoxel) uint64 pairs", what,
                       len);
    }
    uint64_t *out = cv_malloc(len ? len : 1);
    if (!out) {
        return CV_FAIL(CV_ERR_NOMEM, "%s: %zu bytes of pairs", what, len);
    }
    cv_status rc = cv__graphene_parse_roots(data, len, len / 8, what, out);
    if (rc != CV_OK) {
        cv_free(out);
        return rc;
    }
    *pairs = out;
    *n = len / 16;
    return CV_OK;
}

/* The JSON text with every number outside strings made a string marked by a leading \x01, so
 * that cJSON keeps its digits (ids above 2^53 do not survive a double). NULL when out of
 * memory. */
static char *quote_numbers(const char *text, size_t len)
{
    char *out = cv_malloc(4 * len + 1);
    if (!out) {
        return NULL;
    }
    size_t o = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            out[o++] = c;
            if (c == '\\' && i + 1 < len) {
                out[o++] = text[++i];
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
            out[o++] = c;
        } else if (c == '-' || isdigit((unsigned char)c)) {
            out[o++] = '"';
            out[o++] = '\x01';
            while (i < len && (isdigit((unsigned char)text[i]) || strchr("-+.eE", text[i]))) {
                out[o++] = text[i++];
            }
            i--;
            out[o++] = '"';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return out;
}

/* Array `arr` of quoted numbers as uint64 ids; CV_ERR_CORRUPT naming `what`/`name`. */
static cv_status ids_of(const cJSON *arr, const char *name, const char *what, uint64_t **ids,
                        size_t *n)
{
    size_t count = (size_t)cJSON_GetArraySize(arr);
    uint64_t *list = cv_malloc((count ? count : 1) * sizeof *list);
    if (!list) {
        return CV_FAIL(CV_ERR_NOMEM, "%s: %zu ids", what, count);
    }
    size_t i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        /* quote_numbers made each number a marked string; other strings stay refused. */
        bool was_number = cJSON_IsString(c) && c->valuestring[0] == '\x01';
        if (!was_number || !cv__parse_segid(c->valuestring + 1, &list[i])) {
            cv_free(list);
            return CV_FAIL(CV_ERR_CORRUPT, "%s: \"%s\"[%zu] is not an integer 0..2^64-1", what,
                           name, i);
        }
    }
    *ids = list;
    *n = count;
    return CV_OK;
}

/* Parse `text` with its numbers kept as digit strings. */
static cv_status parse_quoted(const char *text, size_t len, const char *what, cJSON **root)
{
    char *q = quote_numbers(text, len);
    if (!q) {
        return CV_FAIL(CV_ERR_NOMEM, "%s", what);
    }
    cv_status rc = cv__json_parse(q, strlen(q), what, root);
    cv_free(q);
    if (rc == CV_OK && !cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        rc = CV_FAIL(CV_ERR_CORRUPT, "%s: not a JSON object", what);
    }
    return rc;
}

cv_status cv__graphene_parse_ids(const char *text, size_t len, const char *name, bool optional,
                                 const char *what, uint64_t **ids, size_t *n)
{
    cJSON *root;
    CV_TRY(parse_quoted(text, len, what, &root));
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, name);
    cv_status rc = CV_OK;
    if (!arr && optional) {
        *ids = cv_malloc(sizeof **ids);
        *n = 0;
        rc = *ids ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "%s", what);
    } else if (!cJSON_IsArray(arr)) {
        rc = CV_FAIL(CV_ERR_CORRUPT, "%s: no \"%s\" array", what, name);
    } else {
        rc = ids_of(arr, name, what, ids, n);
    }
    cJSON_Delete(root);
    return rc;
}

cv_status cv__graphene_parse_manifest(const char *text, size_t len, const char *what, char ***names,
                                      uint64_t **seg_ids, size_t *n)
{
    cJSON *root;
    CV_TRY(parse_quoted(text, len, what, &root));
    const cJSON *frags = cJSON_GetObjectItemCaseSensitive(root, "fragments");
    const cJSON *segs = cJSON_GetObjectItemCaseSensitive(root, "seg_ids");
    cv_status rc = CV_OK;
    uint64_t *ids = NULL;
    size_t n_ids = 0;
    if (!cJSON_IsArray(frags)) {
        rc = CV_FAIL(CV_ERR_CORRUPT, "%s: no \"fragments\" array", what);
    } else if (segs && !cJSON_IsNull(segs)) {
        rc = cJSON_IsArray(segs) ? ids_of(segs, "seg_ids", what, &ids, &n_ids)
                                 : CV_FAIL(CV_ERR_CORRUPT, "%s: \"seg_ids\" is not an array", what);
        if (rc == CV_OK && n_ids != (size_t)cJSON_GetArraySize(frags)) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "%s: %zu seg_ids for %d fragments", what, n_ids,
                         cJSON_GetArraySize(frags));
        }
    }
    size_t count = rc == CV_OK ? (size_t)cJSON_GetArraySize(frags) : 0;
    char **list = rc == CV_OK ? cv_calloc(count + 1, sizeof *list) : NULL;
    if (rc == CV_OK && !list) {
        rc = CV_FAIL(CV_ERR_NOMEM, "%s", what);
    }
    size_t i = 0;
    for (const cJSON *c = list ? frags->child : NULL; c && rc == CV_OK; c = c->next, i++) {
        if (!cJSON_IsString(c)) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "%s: fragments[%zu] is not a string", what, i);
        } else if (!(list[i] = cv__strdup(c->valuestring))) {
            rc = CV_FAIL(CV_ERR_NOMEM, "%s", what);
        }
    }
    cJSON_Delete(root);
    if (rc != CV_OK) {
        for (size_t j = 0; list && j < count; j++) {
            cv_free(list[j]);
        }
        cv_free(list);
        cv_free(ids);
        return rc;
    }
    *names = list;
    *seg_ids = ids;
    *n = count;
    return CV_OK;
}

/* Decimal digits at *p into *v (no sign, < 2^64); advances *p. */
static bool read_u64(const char **p, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    size_t k = 0;
    for (; isdigit((unsigned char)s[k]); k++) {
        unsigned d = (unsigned)(s[k] - '0');
        if (x > (UINT64_MAX - d) / 10) {
            return false;
        }
        x = x * 10 + d;
    }
    *p = s + k;
    *v = x;
    return k > 0;
}

bool cv__graphene_initial_fragment(const char *name, char *object, size_t cap, uint64_t *offset,
                                   uint64_t *size)
{
    /* CloudVolume's regexp ~(\d+)/([\d\-]+\.shard):(\d+):(\d+), searched from the '~'. */
    if (name[0] != '~') {
        return false;
    }
    const char *p = name + 1;
    uint64_t layer;
    if (!read_u64(&p, &layer) || *p != '/') {
        return false;
    }
    const char *shard = ++p;
    while (isdigit((unsigned char)*p) || *p == '-') {
        p++;
    }
    if (p == shard || strncmp(p, ".shard:", 7) != 0) {
        return false;
    }
    size_t shard_len = (size_t)(p - shard) + 6;
    p += 7;
    if (!read_u64(&p, offset) || *p != ':') {
        return false;
    }
    p++;
    if (!read_u64(&p, size) || *offset > UINT64_MAX - *size) {
        return false;
    }
    int w = snprintf(object, cap, "%" PRIu64 "/%.*s", layer, (int)shard_len, shard);
    return w > 0 && (size_t)w < cap;
}

/* ---- timestamps -------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Exactly `n` digits at *p. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) {
            return false;
        }
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static cv_status parse_iso(const char *text, int64_t *out)
{
    const char *p = text;
    int y, mo, d, h = 0, mi = 0, s = 0;
    double frac = 0;
    bool ok = digits(&p, 4, &y) && *p++ == '-' && digits(&p, 2, &mo) && *p++ == '-' &&
              digits(&p, 2, &d) && mo >= 1 && mo <= 12 && d >= 1 && d <= 31;
    if (ok && (*p == 'T' || *p == ' ')) {
        p++;
        ok = digits(&p, 2, &h) && *p++ == ':' && digits(&p, 2, &mi) && h < 24 && mi < 60;
        if (ok && *p == ':') {
            p++;
            ok = digits(&p, 2, &s) && s < 61;
            if (ok && *p == '.') {
                const char *f = ++p;
                double scale = 0.1;
                while (isdigit((unsigned char)*p)) {
                    frac += (*p++ - '0') * scale;
                    scale /= 10;
                }
                ok = p > f;
            }
        }
    }
    bool has_zone = false;
    int zone_s = 0;
    if (ok && (*p == 'Z' || *p == 'z')) {
        p++;
        has_zone = true;
    } else if (ok && (*p == '+' || *p == '-')) {
        int sign = *p++ == '-' ? -1 : 1, zh = 0, zm = 0;
        ok = digits(&p, 2, &zh);
        if (ok && *p == ':') {
            p++;
        }
        if (ok && *p) {
            ok = digits(&p, 2, &zm);
        }
        ok = ok && zh < 24 && zm < 60;
        zone_s = ok ? sign * (zh * 3600 + zm * 60) : 0;
        has_zone = true;
    }
    if (!ok || *p) {
        return CV_FAIL(CV_ERR_ARG,
                       "bad timestamp `%s': want UNIX seconds or ISO 8601 "
                       "(2024-01-02T03:04:05Z)",
                       text);
    }
    int64_t secs;
    if (has_zone) {
        secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - zone_s;
    } else {
        /* dateutil gives a naive datetime, which Python's timestamp() takes as local time. */
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = s;
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        if (t == (time_t)-1 && !(y == 1969 && mo == 12 && d == 31)) {
            return CV_FAIL(CV_ERR_ARG, "bad timestamp `%s': not a local time", text);
        }
        secs = (int64_t)t;
    }
    *out = secs + (frac > 0 ? 1 : 0); /* ceil, as CloudVolume's to_unix_time */
    return CV_OK;
}

cv_status cv_timestamp_parse(const char *text, int64_t *out)
{
    if (!text || !*text) {
        return CV_FAIL(CV_ERR_ARG, "bad timestamp: empty");
    }
    if (strlen(text) >= 10 && text[4] == '-') {
        return parse_iso(text, out);
    }
    char *end;
    double v = strtod(text, &end);
    if (*end || !isfinite(v) || fabs(v) > 1e15 || isspace((unsigned char)text[0])) {
        return CV_FAIL(CV_ERR_ARG,
                       "bad timestamp `%s': want UNIX seconds or ISO 8601 "
                       "(2024-01-02T03:04:05Z)",
                       text);
    }
    *out = (int64_t)ceil(v);
    return CV_OK;
}
