/* SPDX-License-Identifier: BSD-3-Clause
 * mesh.c: the triangle mesh value and Neuroglancer's legacy mesh fragment format
 * (precomputed-mesh-skeleton §2: uint32 vertex count, float32 vertices, uint32 triangles to
 * the end), concatenation of fragments and CloudVolume's consolidate() (identical vertices
 * merged, vertices sorted, duplicate triangles dropped). No I/O, no MPI here. */
#include "base/cv_internal.h"

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

/* Stable LSD radix sort of the indices 0..n-1 by the triple keys[i][0..2] (element 0 most
 * significant), 16 bits per pass, skipping passes in which every key has the same digit.
 * Stable, so equal triples keep index order (np.unique's return_index picks the first). */
static cv_status radix_sort3(const uint32_t *keys, uint32_t n, uint32_t *order)
{
    uint32_t *buf = cv_malloc(((size_t)n + 1) * sizeof *buf);
    size_t *count = cv_malloc(65537 * sizeof *count);
    if (!buf || !count) {
        cv_free(buf);
        cv_free(count);
        return CV_FAIL(CV_ERR_NOMEM, "sort %" PRIu32 " keys", n);
    }
    uint32_t *src = order, *dst = buf;
    for (uint32_t i = 0; i < n; i++) {
        src[i] = i;
    }
    for (int pass = 0; pass < 6; pass++) {
        int d = 2 - pass / 2, shift = 16 * (pass % 2);
        memset(count, 0, 65537 * sizeof *count);
        for (uint32_t i = 0; i < n; i++) {
            count[((keys[3 * (size_t)i + d] >> shift) & 0xffff) + 1]++;
        }
        bool one_bucket = false;
        for (size_t b = 1; b <= 65536 && !one_bucket; b++) {
            one_bucket = count[b] == n;
        }
        if (one_bucket) {
            continue;
        }
        for (size_t b = 1; b <= 65536; b++) {
            count[b] += count[b - 1];
        }
        for (uint32_t i = 0; i < n; i++) {
            uint32_t at = src[i];
            dst[count[(keys[3 * (size_t)at + d] >> shift) & 0xffff]++] = at;
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != order) {
        memcpy(order, src, (size_t)n * sizeof *order);
    }
    cv_free(buf);
    cv_free(count);
    return CV_OK;
}

static bool same3(const uint32_t *a, const uint32_t *b)
{
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2];
}

cv_status cv_mesh_consolidate(const cv_mesh *m, cv_mesh **out)
{
    uint32_t nv = m->n_vertices, nf = m->n_faces;
    uint32_t *keys = cv_malloc(((size_t)nv + 1) * 3 * sizeof *keys);
    uint32_t *order = cv_malloc(((size_t)(nv > nf ? nv : nf) + 1) * sizeof *order);
    uint32_t *rep = cv_malloc(((size_t)nv + 1) * sizeof *rep);
    uint32_t *first = cv_malloc(((size_t)nv + 1) * sizeof *first);
    uint32_t *faces = cv_malloc(((size_t)nf + 1) * 3 * sizeof *faces);
    cv_status rc = CV_OK;
    cv_mesh *r = NULL;
    if (!keys || !order || !rep || !first || !faces) {
        rc = CV_FAIL(CV_ERR_NOMEM, "consolidate mesh %" PRIu64, m->id);
        goto done;
    }
    /* Vertices: sorted by position (x, then y, then z), each position once. */
    for (size_t i = 0; i < 3 * (size_t)nv; i++) {
        keys[i] = float_key(m->vertices[i]);
    }
    rc = radix_sort3(keys, nv, order);
    if (rc != CV_OK) {
        goto done;
    }
    uint32_t n_unique = 0;
    for (uint32_t i = 0; i < nv; i++) {
        if (i == 0 || !same3(keys + 3 * (size_t)order[i - 1], keys + 3 * (size_t)order[i])) {
            first[n_unique++] = order[i];
        }
        rep[order[i]] = n_unique - 1;
    }
    /* Triangles: remapped, sorted as rows, each once. */
    for (size_t i = 0; i < 3 * (size_t)nf; i++) {
        if (m->faces[i] >= nv) {
            rc = CV_FAIL(CV_ERR_ARG,
                         "mesh %" PRIu64 ": triangle %zu names vertex %" PRIu32 " of %" PRIu32,
                         m->id, i / 3, m->faces[i], nv);
            goto done;
        }
        faces[i] = rep[m->faces[i]];
    }
    rc = radix_sort3(faces, nf, order);
    if (rc != CV_OK) {
        goto done;
    }
    size_t kept = 0;
    for (size_t i = 0; i < nf; i++) {
        if (kept == 0 ||
            !same3(faces + 3 * (size_t)order[i], faces + 3 * (size_t)order[kept - 1])) {
            order[kept++] = order[i];
        }
    }
    rc = cv_mesh_new(n_unique, (uint32_t)kept, &r);
    if (rc != CV_OK) {
        goto done;
    }
    r->id = m->id;
    for (uint32_t i = 0; i < n_unique; i++) {
        memcpy(r->vertices + 3 * (size_t)i, m->vertices + 3 * (size_t)first[i], 12);
    }
    for (size_t i = 0; i < kept; i++) {
        memcpy(r->faces + 3 * i, faces + 3 * (size_t)order[i], 12);
    }
    *out = r;
done:
    cv_free(keys);
    cv_free(order);
    cv_free(rep);
    cv_free(first);
    cv_free(faces);
    return rc;
}
