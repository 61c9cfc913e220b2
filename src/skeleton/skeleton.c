/* SPDX-License-Identifier: BSD-3-Clause
 * skeleton.c: the skeleton value (vertices, edges, vertex attributes) and Neuroglancer's binary
 * skeleton format (precomputed skeletons.md: counts, float32 vertices, uint32 edges, then each
 * attribute of the info in order), decoded with CloudVolume/osteoid's reading rules. Every
 * count and length is checked before anything is allocated. No I/O, no MPI here. */
#include "base/cv_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const attr_dtypes[] = {"float32", "uint8",  "int8", "uint16",
                                          "int16",   "uint32", "int32"};

int cv_skel_default_attrs(cv_skel_attr out[CV_SKEL_MAX_ATTRS])
{
    memset(out, 0, 2 * sizeof *out);
    snprintf(out[0].id, sizeof out[0].id, "radius");
    out[0].dtype = CV_FLOAT32;
    out[0].components = 1;
    snprintf(out[1].id, sizeof out[1].id, "vertex_types");
    out[1].dtype = CV_UINT8;
    out[1].components = 1;
    return 2;
}

bool cv__skel_attr_dtype_ok(cv_dtype t)
{
    const char *name = cv_dtype_name(t);
    for (size_t i = 0; name && i < sizeof attr_dtypes / sizeof *attr_dtypes; i++) {
        if (strcmp(name, attr_dtypes[i]) == 0) {
            return true;
        }
    }
    return false;
}

static size_t attr_bytes(const cv_skel_attr *a, uint32_t n_vertices)
{
    return (size_t)n_vertices * a->components * cv_dtype_size(a->dtype);
}

static void fill_default(cv_skel_attr *a, uint32_t n_vertices)
{
    size_t n = (size_t)n_vertices * a->components;
    if (strcmp(a->id, "radius") == 0 && a->dtype == CV_FLOAT32) {
        const float minus_one = -1.0f;
        for (size_t i = 0; i < n; i++) {
            memcpy(a->data + 4 * i, &minus_one, 4);
        }
    } else {
        memset(a->data, 0, attr_bytes(a, n_vertices));
    }
}

static const double identity[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};

cv_status cv_skeleton_new(uint32_t n_vertices, uint32_t n_edges, const cv_skel_attr *attrs,
                          int n_attrs, cv_skeleton **out)
{
    if (n_attrs < 0 || n_attrs > CV_SKEL_MAX_ATTRS) {
        return CV_FAIL(CV_ERR_ARG, "skeleton: %d attributes (at most %d)", n_attrs,
                       CV_SKEL_MAX_ATTRS);
    }
    for (int i = 0; i < n_attrs; i++) {
        if (!cv__skel_attr_dtype_ok(attrs[i].dtype) || attrs[i].components == 0 ||
            attrs[i].components > 1024) {
            return CV_FAIL(CV_ERR_ARG, "skeleton attribute \"%s\": bad data type or components",
                           attrs[i].id);
        }
    }
    cv_skeleton *s = cv_calloc(1, sizeof *s);
    if (!s) {
        return CV_FAIL(CV_ERR_NOMEM, "skeleton");
    }
    memcpy(s->transform, identity, sizeof identity);
    s->n_vertices = n_vertices;
    s->n_edges = n_edges;
    s->vertices = cv_calloc((size_t)n_vertices * 3, sizeof(float));
    s->edges = cv_calloc((size_t)n_edges * 2, sizeof(uint32_t));
    bool ok = s->vertices && s->edges;
    for (int i = 0; ok && i < n_attrs; i++) {
        s->attrs[i] = attrs[i];
        s->attrs[i].id[CV_SKEL_ID_MAX - 1] = '\0';
        s->attrs[i].data = cv_malloc(attr_bytes(&attrs[i], n_vertices));
        s->n_attrs = i + 1;
        ok = s->attrs[i].data != NULL;
        if (ok) {
            fill_default(&s->attrs[i], n_vertices);
        }
    }
    if (!ok) {
        cv_skeleton_free(s);
        return CV_FAIL(CV_ERR_NOMEM, "skeleton of %" PRIu32 " vertices, %" PRIu32 " edges",
                       n_vertices, n_edges);
    }
    *out = s;
    return CV_OK;
}

void cv_skeleton_free(cv_skeleton *s)
{
    if (!s) {
        return;
    }
    cv_free(s->vertices);
    cv_free(s->edges);
    for (int i = 0; i < s->n_attrs; i++) {
        cv_free(s->attrs[i].data);
    }
    cv_free(s);
}

cv_status cv_skeleton_clone(const cv_skeleton *s, cv_skeleton **out)
{
    cv_skeleton *c;
    CV_TRY(cv_skeleton_new(s->n_vertices, s->n_edges, s->attrs, s->n_attrs, &c));
    c->id = s->id;
    memcpy(c->transform, s->transform, sizeof c->transform);
    memcpy(c->vertices, s->vertices, (size_t)s->n_vertices * 12);
    memcpy(c->edges, s->edges, (size_t)s->n_edges * 8);
    for (int i = 0; i < s->n_attrs; i++) {
        memcpy(c->attrs[i].data, s->attrs[i].data, attr_bytes(&s->attrs[i], s->n_vertices));
    }
    *out = c;
    return CV_OK;
}

int cv_skeleton_attr_index(const cv_skeleton *s, const char *id)
{
    for (int i = 0; i < s->n_attrs; i++) {
        if (strcmp(s->attrs[i].id, id) == 0) {
            return i;
        }
    }
    return -1;
}

cv_skel_attr *cv_skeleton_attr(cv_skeleton *s, const char *id)
{
    int i = cv_skeleton_attr_index(s, id);
    return i < 0 ? NULL : &s->attrs[i];
}

static uint32_t load32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Copy n little-endian 4-byte words (this library only builds for little-endian hosts, as the
 * volume codecs assume, so a memcpy is the conversion). */
static void copy_words(void *dst, const uint8_t *src, size_t n)
{
    memcpy(dst, src, 4 * n);
}

cv_status cv_skeleton_decode(const uint8_t *data, size_t len, const cv_skel_attr *attrs,
                             int n_attrs, const char *what, cv_skeleton **out)
{
    if (len < 8) {
        return CV_FAIL(CV_ERR_CORRUPT, "skeleton %s: %zu bytes, shorter than the 8-byte header",
                       what, len);
    }
    uint32_t nv = load32(data), ne = load32(data + 4);
    uint64_t need = 8 + 12 * (uint64_t)nv + 8 * (uint64_t)ne;
    if (need > len) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "skeleton %s: header says %" PRIu32 " vertices and %" PRIu32
                       " edges (%" PRIu64 " bytes) but the file has %zu bytes",
                       what, nv, ne, need, len);
    }
    cv_skel_attr defaults[CV_SKEL_MAX_ATTRS];
    if (need == len) {
        n_attrs = 0; /* CloudVolume: no attributes when the file ends after the edges */
    } else if (n_attrs == 0) {
        n_attrs = cv_skel_default_attrs(defaults);
        attrs = defaults;
    }
    uint64_t total = need;
    for (int i = 0; i < n_attrs; i++) {
        total += (uint64_t)nv * attrs[i].components * cv_dtype_size(attrs[i].dtype);
    }
    if (total != len) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "skeleton %s: %zu bytes, but %" PRIu32 " vertices, %" PRIu32
                       " edges and %d attributes make %" PRIu64,
                       what, len, nv, ne, n_attrs, total);
    }
    const uint8_t *edges = data + 8 + 12 * (size_t)nv;
    for (uint64_t i = 0; i < 2 * (uint64_t)ne; i++) {
        uint32_t e = load32(edges + 4 * i);
        if (e >= nv) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           "skeleton %s: edge %" PRIu64 " names vertex %" PRIu32 " of %" PRIu32,
                           what, i / 2, e, nv);
        }
    }
    cv_skeleton *s;
    CV_TRY(cv_skeleton_new(nv, ne, attrs, n_attrs, &s));
    copy_words(s->vertices, data + 8, 3 * (size_t)nv);
    copy_words(s->edges, edges, 2 * (size_t)ne);
    const uint8_t *p = edges + 8 * (size_t)ne;
    for (int i = 0; i < n_attrs; i++) {
        size_t n = attr_bytes(&s->attrs[i], nv);
        memcpy(s->attrs[i].data, p, n);
        p += n;
    }
    *out = s;
    return CV_OK;
}

cv_status cv_skeleton_encode(const cv_skeleton *s, const cv_skel_attr *attrs, int n_attrs,
                             uint8_t **data, size_t *len)
{
    uint64_t total = 8 + 12 * (uint64_t)s->n_vertices + 8 * (uint64_t)s->n_edges;
    for (int i = 0; i < n_attrs; i++) {
        int at = cv_skeleton_attr_index(s, attrs[i].id);
        const cv_skel_attr *have = at < 0 ? NULL : &s->attrs[at];
        if (have && (have->dtype != attrs[i].dtype || have->components != attrs[i].components)) {
            return CV_FAIL(CV_ERR_ARG,
                           "skeleton %" PRIu64 ": attribute \"%s\" is %s x %" PRIu32
                           ", the info says %s x %" PRIu32,
                           s->id, attrs[i].id, cv_dtype_name(have->dtype), have->components,
                           cv_dtype_name(attrs[i].dtype), attrs[i].components);
        }
        total += attr_bytes(&attrs[i], s->n_vertices);
    }
    for (uint64_t i = 0; i < 2 * (uint64_t)s->n_edges; i++) {
        if (s->edges[i] >= s->n_vertices) {
            return CV_FAIL(CV_ERR_ARG,
                           "skeleton %" PRIu64 ": edge %" PRIu64 " names vertex %" PRIu32
                           " of %" PRIu32,
                           s->id, i / 2, s->edges[i], s->n_vertices);
        }
    }
    if (total > SIZE_MAX / 2) {
        return CV_FAIL(CV_ERR_ARG, "skeleton %" PRIu64 " too large", s->id);
    }
    uint8_t *buf = cv_malloc((size_t)total);
    if (!buf) {
        return CV_FAIL(CV_ERR_NOMEM, "skeleton %" PRIu64 ": %" PRIu64 " bytes", s->id, total);
    }
    store32(buf, s->n_vertices);
    store32(buf + 4, s->n_edges);
    uint8_t *p = buf + 8;
    memcpy(p, s->vertices, 12 * (size_t)s->n_vertices);
    p += 12 * (size_t)s->n_vertices;
    memcpy(p, s->edges, 8 * (size_t)s->n_edges);
    p += 8 * (size_t)s->n_edges;
    for (int i = 0; i < n_attrs; i++) {
        int at = cv_skeleton_attr_index(s, attrs[i].id);
        const cv_skel_attr *have = at < 0 ? NULL : &s->attrs[at];
        size_t n = attr_bytes(&attrs[i], s->n_vertices);
        if (have) {
            memcpy(p, have->data, n);
        } else {
            cv_skel_attr tmp = attrs[i];
            tmp.data = p;
            fill_default(&tmp, s->n_vertices);
        }
        p += n;
    }
    *data = buf;
    *len = (size_t)total;
    return CV_OK;
}

void cv_skeleton_apply_transform(cv_skeleton *s, const double m[12])
{
    for (size_t i = 0; i < s->n_vertices; i++) {
        float *v = s->vertices + 3 * i;
        double x = v[0], y = v[1], z = v[2];
        for (int r = 0; r < 3; r++) {
            v[r] = (float)(m[4 * r] * x + m[4 * r + 1] * y + m[4 * r + 2] * z + m[4 * r + 3]);
        }
    }
}

double cv_skeleton_cable_length(const cv_skeleton *s)
{
    double total = 0;
    for (size_t i = 0; i < s->n_edges; i++) {
        const float *a = s->vertices + 3 * (size_t)s->edges[2 * i];
        const float *b = s->vertices + 3 * (size_t)s->edges[2 * i + 1];
        double dx = (double)b[0] - a[0], dy = (double)b[1] - a[1], dz = (double)b[2] - a[2];
        total += sqrt(dx * dx + dy * dy + dz * dz);
    }
    return total;
}
