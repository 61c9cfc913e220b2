/* SPDX-License-Identifier: BSD-3-Clause
 * mesh.c: the triangle mesh value and Neuroglancer's legacy mesh fragment format
 * (precomputed-mesh-skeleton §2: uint32 vertex count, float32 vertices, uint32 triangles to
 * the end), concatenation of fragments and CloudVolume's consolidate() (identical vertices
 * merged, vertices sorted, duplicate triangles dropped). No I/O, no MPI here. */
#include "cv_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

cv_status cv_mesh_new(uint32_t n_vertices, uint32_t n_faces, cv_mesh **out)
{
    cv_mesh *m = cv_calloc(1, sizeof *m);
    if (!m) {
        return CV_FAIL(CV_ERR_NOMEM, "mesh");
    }
    m->n_vertices = n_vertices;
    m->n_faces = n_faces;
    m->vertices = cv_calloc((size_t)n_vertices * 3, sizeof(float));
    m->faces = cv_calloc((size_t)n_faces * 3, sizeof(uint32_t));
    if (!m->vertices || !m->faces) {
        cv_mesh_free(m);
        return CV_FAIL(CV_ERR_NOMEM, "mesh of %" PRIu32 " vertices, %" PRIu32 " triangles",
                       n_vertices, n_faces);
    }
    *out = m;
    return CV_OK;
}

void cv_mesh_free(cv_mesh *m)
{
    if (!m) {
        return;
    }
    cv_free(m->vertices);
    cv_free(m->faces);
    cv_free(m);
}

static uint32_t load32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

cv_status cv_mesh_fragment_decode(const uint8_t *data, size_t len, const char *what, cv_mesh **out)
{
    if (len < 4) {
        return CV_FAIL(CV_ERR_CORRUPT, "mesh fragment %s: %zu bytes, shorter than the header", what,
                       len);
    }
    uint32_t nv = load32(data);
    uint64_t vbytes = 4 + 12 * (uint64_t)nv;
    if (vbytes > len) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "mesh fragment %s: header says %" PRIu32 " vertices (%" PRIu64
                       " bytes) but the file has %zu bytes",
                       what, nv, vbytes, len);
    }
    if ((len - vbytes) % 12 != 0) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "mesh fragment %s: %" PRIu64 " bytes of triangles after %" PRIu32
                       " vertices, not a multiple of 12",
                       what, (uint64_t)(len - vbytes), nv);
    }
    uint64_t nf = (len - vbytes) / 12;
    const uint8_t *f = data + vbytes;
    for (uint64_t i = 0; i < 3 * nf; i++) {
        uint32_t v = load32(f + 4 * i);
        if (v >= nv) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           "mesh fragment %s: triangle %" PRIu64 " names vertex %" PRIu32
                           " of %" PRIu32,
                           what, i / 3, v, nv);
        }
    }
    cv_mesh *m;
    CV_TRY(cv_mesh_new(nv, (uint32_t)nf, &m));
    memcpy(m->vertices, data + 4, 12 * (size_t)nv); /* little-endian host */
    memcpy(m->faces, f, 12 * (size_t)nf);
    *out = m;
    return CV_OK;
}

cv_status cv_mesh_fragment_encode(const cv_mesh *m, uint8_t **data, size_t *len)
{
    for (size_t i = 0; i < 3 * (size_t)m->n_faces; i++) {
        if (m->faces[i] >= m->n_vertices) {
            return CV_FAIL(CV_ERR_ARG,
                           "mesh %" PRIu64 ": triangle %zu names vertex %" PRIu32 " of %" PRIu32,
                           m->id, i / 3, m->faces[i], m->n_vertices);
        }
    }
    size_t n = 4 + 12 * (size_t)m->n_vertices + 12 * (size_t)m->n_faces;
    uint8_t *buf = cv_malloc(n);
    if (!buf) {
        return CV_FAIL(CV_ERR_NOMEM, "mesh %" PRIu64 ": %zu bytes", m->id, n);
    }
    for (int i = 0; i < 4; i++) {
        buf[i] = (uint8_t)(m->n_vertices >> (8 * i));
    }
    memcpy(buf + 4, m->vertices, 12 * (size_t)m->n_vertices);
    memcpy(buf + 4 + 12 * (size_t)m->n_vertices, m->faces, 12 * (size_t)m->n_faces);
    *data = buf;
    *len = n;
    return CV_OK;
}

cv_status cv_mesh_concat(const cv_mesh *const *list, size_t n, cv_mesh **out)
{
    uint64_t nv = 0, nf = 0;
    for (size_t i = 0; i < n; i++) {
        nv += list[i]->n_vertices;
        nf += list[i]->n_faces;
    }
    if (nv > UINT32_MAX || nf > UINT32_MAX) {
        return CV_FAIL(CV_ERR_ARG, "concatenate meshes: more than 2^32 vertices or triangles");
    }
    cv_mesh *m;
    CV_TRY(cv_mesh_new((uint32_t)nv, (uint32_t)nf, &m));
    m->id = n ? list[0]->id : 0;
    size_t v0 = 0, f0 = 0;
    for (size_t i = 0; i < n; i++) {
        const cv_mesh *x = list[i];
        memcpy(m->vertices + 3 * v0, x->vertices, 12 * (size_t)x->n_vertices);
        for (size_t k = 0; k < 3 * (size_t)x->n_faces; k++) {
            m->faces[3 * f0 + k] = x->faces[k] + (uint32_t)v0;
        }
        v0 += x->n_vertices;
        f0 += x->n_faces;
    }
    *out = m;
    return CV_OK;
}

/* ---- consolidate ----------------------------------------------------------------------------- */

/* A total order on floats for sorting positions: -0 equals +0 and every NaN is one value,
 * sorted after +inf (as numpy sorts), so the comparison is consistent for any input. */
static uint32_t float_key(float f)
{
    uint32_t u;
    if (f == 0) {
        return 0x80000000u;
    }
    if (f != f) {
        return 0xffc00000u;
    }
    memcpy(&u, &f, 4);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
}

static int cmp_pos(const float *a, const float *b)
{
    for (int d = 0; d < 3; d++) {
        uint32_t x = float_key(a[d]), y = float_key(b[d]);
        if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    return 0;
}

typedef struct vref {
    const float *v;
    uint32_t index;
} vref;

static int cmp_vref(const void *pa, const void *pb)
{
    const vref *a = pa, *b = pb;
    int c = cmp_pos(a->v, b->v);
    return c ? c : (a->index < b->index ? -1 : (a->index > b->index));
}

static int cmp_face(const void *pa, const void *pb)
{
    const uint32_t *a = pa, *b = pb;
    for (int k = 0; k < 3; k++) {
        if (a[k] != b[k]) {
            return a[k] < b[k] ? -1 : 1;
        }
    }
    return 0;
}

cv_status cv_mesh_consolidate(const cv_mesh *m, cv_mesh **out)
{
    uint32_t nv = m->n_vertices, nf = m->n_faces;
    vref *order = cv_malloc(((size_t)nv + 1) * sizeof *order);
    uint32_t *rep = cv_malloc(((size_t)nv + 1) * sizeof *rep);
    uint32_t *faces = cv_malloc(((size_t)nf + 1) * 3 * sizeof *faces);
    cv_status rc = CV_OK;
    cv_mesh *r = NULL;
    if (!order || !rep || !faces) {
        rc = CV_FAIL(CV_ERR_NOMEM, "consolidate mesh %" PRIu64, m->id);
        goto done;
    }
    for (uint32_t i = 0; i < nv; i++) {
        order[i] = (vref){m->vertices + 3 * (size_t)i, i};
    }
    qsort(order, nv, sizeof *order, cmp_vref);
    uint32_t n_unique = 0;
    for (uint32_t i = 0; i < nv; i++) {
        if (i == 0 || cmp_pos(order[i - 1].v, order[i].v) != 0) {
            /* Unique positions overwrite `order` in place, behind the reading position. */
            order[n_unique++].v = order[i].v;
        }
        rep[order[i].index] = n_unique - 1;
    }
    for (size_t i = 0; i < 3 * (size_t)nf; i++) {
        if (m->faces[i] >= nv) {
            rc = CV_FAIL(CV_ERR_ARG,
                         "mesh %" PRIu64 ": triangle %zu names vertex %" PRIu32 " of %" PRIu32,
                         m->id, i / 3, m->faces[i], nv);
            goto done;
        }
        faces[i] = rep[m->faces[i]];
    }
    qsort(faces, nf, 3 * sizeof *faces, cmp_face);
    size_t kept = 0;
    for (size_t i = 0; i < nf; i++) {
        if (kept == 0 || cmp_face(faces + 3 * i, faces + 3 * (kept - 1)) != 0) {
            memmove(faces + 3 * kept, faces + 3 * i, 12);
            kept++;
        }
    }
    rc = cv_mesh_new(n_unique, (uint32_t)kept, &r);
    if (rc != CV_OK) {
        goto done;
    }
    r->id = m->id;
    for (uint32_t i = 0; i < n_unique; i++) {
        memcpy(r->vertices + 3 * (size_t)i, order[i].v, 12);
    }
    memcpy(r->faces, faces, 12 * kept);
    *out = r;
done:
    cv_free(order);
    cv_free(rep);
    cv_free(faces);
    return rc;
}
