/* SPDX-License-Identifier: BSD-3-Clause
 * skeleton_swc.c: SWC text <-> skeleton as CloudVolume does it through osteoid
 * (osteoid/formats/swc.py): the same header, one DFS per connected component, rows
 * "n type x y z radius parent" with 6 decimals; on import 7 space-separated fields per line,
 * ids renumbered in file order, unparsable radii as -1. No I/O, no MPI here. */
#include "base/cv_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- import ---------------------------------------------------------------------------------- */

typedef struct swc_row {
    int64_t id, parent;
    int type;
    double x, y, z, radius;
} swc_row;

/* Python's int() / float() on one field: the whole field must parse. */
static bool field_i64(const char *s, int64_t *out)
{
    if (!*s) {
        return false;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) {
        return false;
    }
    *out = v;
    return true;
}

static bool field_f64(const char *s, double *out)
{
    if (!*s) {
        return false;
    }
    char *end;
    double v = strtod(s, &end);
    if (*end) {
        return false;
    }
    *out = v;
    return true;
}

typedef struct id_slot {
    int64_t id;
    uint32_t index;
} id_slot;

static int cmp_id_slot(const void *a, const void *b)
{
    const id_slot *x = a, *y = b;
    if (x->id != y->id) {
        return x->id < y->id ? -1 : 1;
    }
    return x->index < y->index ? -1 : (x->index > y->index);
}

/* Index of the last row with `id` (a later row wins, as osteoid's dict), or -1. */
static int64_t find_id(const id_slot *slots, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (slots[mid].id <= id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo > 0 && slots[lo - 1].id == id ? (int64_t)slots[lo - 1].index : -1;
}

static cv_status parse_rows(const char *text, size_t len, const char *what, swc_row **rows_out,
                            size_t *n_out)
{
    size_t cap = 0, n = 0;
    swc_row *rows = NULL;
    bool leading = true;
    size_t line_no = 0;
    char field_buf[7][64];
    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        line_no++;
        if (ll && line[ll - 1] == '\r') {
            ll--;
        }
        if (ll == 0 || line[0] == '#' || (leading && (line[0] == ' ' || line[0] == '\t'))) {
            continue;
        }
        leading = false;
        int nf = 0;
        bool ok = true;
        for (size_t a = 0; ok && a <= ll;) {
            const char *sp = memchr(line + a, ' ', ll - a);
            size_t b = sp ? (size_t)(sp - line) : ll;
            if (nf >= 7 || b - a >= sizeof field_buf[0]) {
                ok = false;
                break;
            }
            memcpy(field_buf[nf], line + a, b - a);
            field_buf[nf][b - a] = '\0';
            nf++;
            a = b + 1;
            if (!sp) {
                break;
            }
        }
        swc_row r;
        int64_t type = 0;
        if (!ok || nf != 7) {
            cv_free(rows);
            return CV_FAIL(CV_ERR_CORRUPT,
                           "SWC %s line %zu: want 7 fields \"id type x y z radius parent\" "
                           "separated by single spaces",
                           what, line_no);
        }
        if (!field_i64(field_buf[0], &r.id) || !field_i64(field_buf[1], &type) ||
            !field_f64(field_buf[2], &r.x) || !field_f64(field_buf[3], &r.y) ||
            !field_f64(field_buf[4], &r.z) || !field_i64(field_buf[6], &r.parent)) {
            cv_free(rows);
            return CV_FAIL(CV_ERR_CORRUPT, "SWC %s line %zu: malformed number", what, line_no);
        }
        if (type < 0 || type > 255) {
            cv_free(rows);
            return CV_FAIL(CV_ERR_CORRUPT, "SWC %s line %zu: type %" PRId64 " not in 0..255", what,
                           line_no, type);
        }
        r.type = (int)type;
        if (!field_f64(field_buf[5], &r.radius)) {
            r.radius = -1; /* "NA", "N/A" */
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            swc_row *grown = cv_realloc(rows, cap * sizeof *rows);
            if (!grown || n >= UINT32_MAX) {
                cv_free(grown ? grown : rows);
                return CV_FAIL(CV_ERR_NOMEM, "SWC %s: %zu rows", what, n);
            }
            rows = grown;
        }
        rows[n++] = r;
    }
    *rows_out = rows;
    *n_out = n;
    return CV_OK;
}

cv_status cv_skeleton_from_swc(const char *text, size_t len, const char *what, cv_skeleton **out)
{
    swc_row *rows = NULL;
    size_t n = 0;
    CV_TRY(parse_rows(text, len, what, &rows, &n));
    id_slot *slots = cv_malloc((n + 1) * sizeof *slots);
    if (!slots) {
        cv_free(rows);
        return CV_FAIL(CV_ERR_NOMEM, "SWC %s", what);
    }
    size_t n_edges = 0;
    for (size_t i = 0; i < n; i++) {
        slots[i] = (id_slot){rows[i].id, (uint32_t)i};
        n_edges += rows[i].parent >= 0;
    }
    qsort(slots, n, sizeof *slots, cmp_id_slot);
    cv_skel_attr attrs[CV_SKEL_MAX_ATTRS];
    int n_attrs = cv_skel_default_attrs(attrs);
    cv_skeleton *s;
    cv_status rc = cv_skeleton_new((uint32_t)n, (uint32_t)n_edges, attrs, n_attrs, &s);
    if (rc != CV_OK) {
        cv_free(rows);
        cv_free(slots);
        return rc;
    }
    float *radius = (float *)s->attrs[0].data;
    uint8_t *types = s->attrs[1].data;
    size_t e = 0;
    for (size_t i = 0; i < n && rc == CV_OK; i++) {
        s->vertices[3 * i] = (float)rows[i].x;
        s->vertices[3 * i + 1] = (float)rows[i].y;
        s->vertices[3 * i + 2] = (float)rows[i].z;
        radius[i] = (float)rows[i].radius;
        types[i] = (uint8_t)rows[i].type;
        if (rows[i].parent < 0) {
            continue;
        }
        int64_t a = find_id(slots, n, rows[i].id), b = find_id(slots, n, rows[i].parent);
        if (b < 0) {
            rc = CV_FAIL(CV_ERR_CORRUPT,
                         "SWC %s: node %" PRId64 " has parent %" PRId64 ", which is not a node",
                         what, rows[i].id, rows[i].parent);
            break;
        }
        s->edges[2 * e] = (uint32_t)(rows[i].id < rows[i].parent ? a : b);
        s->edges[2 * e + 1] = (uint32_t)(rows[i].id < rows[i].parent ? b : a);
        e++;
    }
    cv_free(rows);
    cv_free(slots);
    if (rc != CV_OK) {
        cv_skeleton_free(s);
        return rc;
    }
    *out = s;
    return CV_OK;
}

/* ---- export ---------------------------------------------------------------------------------- */

static cv_status appendf(cv_buf *b, const char *fmt, ...) CV_PRINTF(2, 3);
static cv_status appendf(cv_buf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) {
        return CV_FAIL(CV_ERR_ARG, "SWC row too long");
    }
    return cv__buf_append(b, line, (size_t)n);
}

/* Python's datetime.now(timezone.utc).isoformat(): 2026-11-27T06:14:23.812789+00:00. */
static void iso_now(char *buf, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    long us = ts.tv_nsec / 1000;
    if (us) {
        snprintf(buf, cap, "%s.%06ld+00:00", date, us);
    } else {
        snprintf(buf, cap, "%s+00:00", date);
    }
}

static cv_status swc_header(const cv_skeleton *s, cv_buf *b)
{
    char date[64];
    iso_now(date, sizeof date);
    const char *ver = "0.1.0";
    return appendf(b,
                   "# ORIGINAL_SOURCE cvmpi %s\n# CREATURE \n# REGION\n# FIELD/LAYER\n# TYPE\n"
                   "# CONTRIBUTOR \n# REFERENCE\n# RAW \n# EXTRAS \n# SOMA_AREA\n"
                   "# SHINKAGE_CORRECTION \n# VERSION_NUMBER %s\n# VERSION_DATE %s\n"
                   "# SCALE %.6f %.6f %.6f\n\n",
                   ver, ver, date, (double)(float)s->transform[0], (double)(float)s->transform[5],
                   (double)(float)s->transform[10]);
}

cv_status cv_skeleton_to_swc(const cv_skeleton *s, char **text, size_t *len)
{
    uint32_t nv = s->n_vertices, ne = s->n_edges;
    int ri = cv_skeleton_attr_index(s, "radius"), ti = cv_skeleton_attr_index(s, "vertex_types");
    const cv_skel_attr *ra = ri < 0 ? NULL : &s->attrs[ri];
    const cv_skel_attr *ta = ti < 0 ? NULL : &s->attrs[ti];
    if (ra && ra->dtype != CV_FLOAT32) {
        ra = NULL;
    }
    if (ta && ta->dtype != CV_UINT8) {
        ta = NULL;
    }
    /* Adjacency in CSR form, neighbours in edge-list order. */
    uint32_t *start = cv_calloc((size_t)nv + 2, sizeof *start);
    uint32_t *adj = cv_malloc((2 * (size_t)ne + 1) * sizeof *adj);
    uint32_t *fill = cv_calloc((size_t)nv + 1, sizeof *fill);
    int64_t *number = cv_malloc(((size_t)nv + 1) * sizeof *number); /* SWC id, 0 = not yet */
    uint32_t *stack = cv_malloc((2 * (size_t)ne + 1) * sizeof *stack);
    uint32_t *parents = cv_malloc((2 * (size_t)ne + 1) * sizeof *parents);
    cv_buf b;
    cv__buf_init(&b, 0);
    cv_status rc = CV_OK;
    if (!start || !adj || !fill || !number || !stack || !parents) {
        rc = CV_FAIL(CV_ERR_NOMEM, "SWC of skeleton %" PRIu64, s->id);
        goto done;
    }
    for (size_t i = 0; i < 2 * (size_t)ne; i++) {
        if (s->edges[i] >= nv) {
            rc = CV_FAIL(CV_ERR_ARG,
                         "skeleton %" PRIu64 ": edge names vertex %" PRIu32 " of %" PRIu32, s->id,
                         s->edges[i], nv);
            goto done;
        }
        start[s->edges[i] + 1]++;
    }
    for (uint32_t v = 0; v < nv; v++) {
        start[v + 1] += start[v];
        number[v] = 0;
    }
    for (size_t e = 0; e < ne; e++) {
        uint32_t a = s->edges[2 * e], c = s->edges[2 * e + 1];
        adj[start[a] + fill[a]++] = c;
        adj[start[c] + fill[c]++] = a;
    }
    rc = swc_header(s, &b);
    int64_t next = 1;
    /* One DFS per component, rooted at its lowest vertex that has an edge. osteoid pops the
     * last pushed neighbour first and skips vertices already emitted. */
    for (uint32_t root = 0; rc == CV_OK && root < nv; root++) {
        if (number[root] || start[root + 1] == start[root]) {
            continue;
        }
        size_t top = 0;
        stack[top] = root;
        parents[top++] = UINT32_MAX;
        while (top && rc == CV_OK) {
            top--;
            uint32_t v = stack[top], p = parents[top];
            if (number[v]) {
                continue;
            }
            number[v] = next++;
            const float *x = s->vertices + 3 * (size_t)v;
            float r = -1.0f;
            if (ra) {
                memcpy(&r, ra->data + 4 * (size_t)v * ra->components, 4);
            }
            int type = ta ? ta->data[(size_t)v * ta->components] : 0;
            rc = appendf(&b, "%s%" PRId64 " %d %.6f %.6f %.6f %.6f %" PRId64,
                         number[v] == 1 ? "" : "\n", number[v], type, (double)x[0], (double)x[1],
                         (double)x[2], (double)r, p == UINT32_MAX ? (int64_t)-1 : number[p]);
            for (uint32_t k = start[v]; k < start[v + 1]; k++) {
                if (!number[adj[k]]) {
                    stack[top] = adj[k];
                    parents[top++] = v;
                }
            }
        }
    }
    if (rc == CV_OK) {
        rc = cv__buf_append(&b, "", 1); /* NUL, not counted */
    }
    if (rc == CV_OK) {
        size_t n;
        *text = (char *)cv__buf_take(&b, &n);
        *len = n - 1;
    }
done:
    cv__buf_fini(&b);
    cv_free(start);
    cv_free(adj);
    cv_free(fill);
    cv_free(number);
    cv_free(stack);
    cv_free(parents);
    return rc;
}
