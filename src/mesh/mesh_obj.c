/* SPDX-License-Identifier: BSD-3-Clause
 * mesh_obj.c: Wavefront OBJ files. Writes CloudVolume's to_obj() text ("v %.5f %.5f %.5f",
 * then "f a b c", 1-based, a newline after each line); reads "v" and "f" lines (v/vt/vn index
 * forms, negative indices counted from the end, polygons as fans) and ignores the rest. */
#include "base/cv_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cv_status cv_mesh_to_obj(const cv_mesh *m, char **text, size_t *len)
{
    cv_buf b;
    cv__buf_init(&b, 0);
    char line[256];
    cv_status rc = CV_OK;
    for (size_t i = 0; i < m->n_vertices && rc == CV_OK; i++) {
        const float *v = m->vertices + 3 * i;
        int n = snprintf(line, sizeof line, "v %.5f %.5f %.5f\n", (double)v[0], (double)v[1],
                         (double)v[2]);
        rc = n > 0 && (size_t)n < sizeof line
                 ? cv__buf_append(&b, line, (size_t)n)
                 : CV_FAIL(CV_ERR_ARG, "OBJ of mesh %" PRIu64 ": vertex %zu too large", m->id, i);
    }
    for (size_t i = 0; i < m->n_faces && rc == CV_OK; i++) {
        const uint32_t *f = m->faces + 3 * i;
        int n = snprintf(line, sizeof line, "f %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
                         (uint64_t)f[0] + 1, (uint64_t)f[1] + 1, (uint64_t)f[2] + 1);
        rc = cv__buf_append(&b, line, (size_t)n);
    }
    if (rc == CV_OK) {
        rc = cv__buf_append(&b, "", 1);
    }
    if (rc != CV_OK) {
        cv__buf_fini(&b);
        return rc;
    }
    size_t n;
    *text = (char *)cv__buf_take(&b, &n);
    *len = n - 1;
    return CV_OK;
}

typedef struct growable {
    void *data;
    size_t n, cap, elem;
} growable;

static cv_status grow_push(growable *g, const void *item)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 1024;
        void *p = cap < UINT32_MAX ? cv_realloc(g->data, cap * g->elem) : NULL;
        if (!p) {
            return CV_FAIL(CV_ERR_NOMEM, "OBJ: %zu items", g->n);
        }
        g->data = p;
        g->cap = cap;
    }
    memcpy((uint8_t *)g->data + g->n * g->elem, item, g->elem);
    g->n++;
    return CV_OK;
}

static cv_status bad_line(const char *what, size_t line_no, const char *fmt, ...) CV_PRINTF(3, 4);
static cv_status bad_line(const char *what, size_t line_no, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return CV_FAIL(CV_ERR_CORRUPT, "OBJ %s line %zu: %s", what, line_no, msg);
}

/* Parse one "f" line's indices into fan triangles. */
static cv_status face_line(const char *p, const char *what, size_t line_no, size_t n_vertices,
                           growable *faces)
{
    uint32_t first = 0, prev = 0;
    int k = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (!*p) {
            break;
        }
        char *end;
        long long idx = strtoll(p, &end, 10);
        if (end == p) {
            return bad_line(what, line_no, "bad vertex index");
        }
        /* Skip "/vt/vn". */
        p = end;
        while (*p && *p != ' ' && *p != '\t') {
            if (*p != '/' && !(*p >= '0' && *p <= '9') && *p != '-') {
                return bad_line(what, line_no, "bad vertex index");
            }
            p++;
        }
        long long v = idx > 0 ? idx - 1 : (long long)n_vertices + idx;
        if (idx == 0 || v < 0 || v >= (long long)n_vertices) {
            return bad_line(what, line_no, "vertex %lld of %zu", idx, n_vertices);
        }
        if (k == 0) {
            first = (uint32_t)v;
        } else if (k >= 2) {
            uint32_t t[3] = {first, prev, (uint32_t)v};
            CV_TRY(grow_push(faces, t));
        }
        prev = (uint32_t)v;
        k++;
    }
    return k >= 3 ? CV_OK : bad_line(what, line_no, "a face needs 3 vertices");
}

cv_status cv_mesh_from_obj(const char *text, size_t len, const char *what, cv_mesh **out)
{
    growable verts = {NULL, 0, 0, 12}, faces = {NULL, 0, 0, 12};
    cv_status rc = CV_OK;
    size_t line_no = 0;
    char line[1024];
    for (size_t pos = 0; pos < len && rc == CV_OK;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
        line_no++;
        if (ll >= sizeof line) {
            rc = bad_line(what, line_no, "longer than %zu bytes", sizeof line - 1);
            break;
        }
        memcpy(line, text + pos, ll);
        line[ll] = '\0';
        pos += ll + 1;
        if (memchr(line, '\0', ll)) {
            rc = bad_line(what, line_no, "NUL byte");
            break;
        }
        char *p = line;
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        for (char *q = p + strlen(p); q > p && (q[-1] == '\r' || q[-1] == ' ' || q[-1] == '\t');) {
            *--q = '\0';
        }
        if (p[0] == 'v' && (p[1] == ' ' || p[1] == '\t')) {
            float v[3];
            char *s = p + 2;
            for (int d = 0; d < 3 && rc == CV_OK; d++) {
                char *end;
                double x = strtod(s, &end);
                if (end == s) {
                    rc = bad_line(what, line_no, "a vertex needs 3 numbers");
                }
                v[d] = (float)x;
                s = end;
            }
            if (rc == CV_OK && verts.n >= UINT32_MAX) {
                rc = bad_line(what, line_no, "too many vertices");
            }
            if (rc == CV_OK) {
                rc = grow_push(&verts, v);
            }
        } else if (p[0] == 'f' && (p[1] == ' ' || p[1] == '\t')) {
            rc = face_line(p + 2, what, line_no, verts.n, &faces);
        }
    }
    if (rc == CV_OK && faces.n > UINT32_MAX) {
        rc = CV_FAIL(CV_ERR_CORRUPT, "OBJ %s: too many faces", what);
    }
    cv_mesh *m = NULL;
    if (rc == CV_OK) {
        rc = cv_mesh_new((uint32_t)verts.n, (uint32_t)faces.n, &m);
    }
    if (rc == CV_OK) {
        if (verts.n) {
            memcpy(m->vertices, verts.data, 12 * verts.n);
        }
        if (faces.n) {
            memcpy(m->faces, faces.data, 12 * faces.n);
        }
        *out = m;
    }
    cv_free(verts.data);
    cv_free(faces.data);
    return rc;
}
