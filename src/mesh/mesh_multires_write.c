/* SPDX-License-Identifier: BSD-3-Clause
 * mesh_multires_write.c: one label's mesh -> a multi-resolution mesh as igneous' process_mesh
 * makes it (igneous-jobs §3.3): levels of detail by repeated simplification, the octree
 * (chunk_shape, grid_origin, lod_scales 2^L), every level cut along its octree planes (and a
 * coarse level also along its children's, so no triangle crosses a child boundary and
 * Neuroglancer can mix levels without cracks), fragments quantized to the node box and Draco
 * encoded, and the binary manifest (precomputed-mesh-skeleton §3.2). No I/O here. */
#include "mesh/mesh.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growing triangle soup in stored-model (voxel) units -------------------------------- */

typedef struct soup {
    double *v; /* [n][3], three per triangle */
    size_t n, cap;
} soup;

static bool soup_push(soup *s, const double *a, const double *b, const double *c)
{
    if (s->n + 3 > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 3 * 1024;
        double *v = cap < SIZE_MAX / 24 ? cv_realloc(s->v, cap * 24) : NULL;
        if (!v) {
            return false;
        }
        s->v = v;
        s->cap = cap;
    }
    memcpy(s->v + 3 * s->n, a, 24);
    memcpy(s->v + 3 * s->n + 3, b, 24);
    memcpy(s->v + 3 * s->n + 6, c, 24);
    s->n += 3;
    return true;
}

/* The point of segment ab on the plane coordinate[d] = x, computed from the endpoints in a
 * fixed order so both triangles sharing the edge get the same bits. */
static void cut_point(const double *a, const double *b, int d, double x, double *out)
{
    if (a[0] > b[0] || (a[0] == b[0] && (a[1] > b[1] || (a[1] == b[1] && a[2] > b[2])))) {
        const double *t = a;
        a = b;
        b = t;
    }
    double t = (x - a[d]) / (b[d] - a[d]);
    for (int k = 0; k < 3; k++) {
        out[k] = a[k] + t * (b[k] - a[k]);
    }
    out[d] = x;
}

#define MAX_POLY 16 /* a triangle cut by axis planes keeps at most 9 corners */

typedef struct poly {
    double p[MAX_POLY][3];
    int n;
} poly;

/* Split convex `in` at coordinate[d] = x into the parts below and above. */
static void split(const poly *in, int d, double x, poly *lo, poly *hi)
{
    lo->n = hi->n = 0;
    for (int i = 0; i < in->n; i++) {
        const double *a = in->p[i], *b = in->p[(i + 1) % in->n];
        if (a[d] <= x && lo->n < MAX_POLY) {
            memcpy(lo->p[lo->n++], a, 24);
        }
        if (a[d] >= x && hi->n < MAX_POLY) {
            memcpy(hi->p[hi->n++], a, 24);
        }
        if ((a[d] < x && b[d] > x) || (a[d] > x && b[d] < x)) {
            double c[3];
            cut_point(a, b, d, x, c);
            if (lo->n < MAX_POLY) {
                memcpy(lo->p[lo->n++], c, 24);
            }
            if (hi->n < MAX_POLY) {
                memcpy(hi->p[hi->n++], c, 24);
            }
        }
    }
}

/* Cut polygon `pg` along every plane origin[d] + j step[d] of axes d..2 and append the
 * pieces, fanned into triangles, to `out`. */
static bool cut_poly(const poly *pg, int d, const double *origin, const double *step, soup *out)
{
    if (pg->n < 3) {
        return true;
    }
    if (d == 3) {
        for (int i = 1; i + 1 < pg->n; i++) {
            if (!soup_push(out, pg->p[0], pg->p[i], pg->p[i + 1])) {
                return false;
            }
        }
        return true;
    }
    double lo = pg->p[0][d], hi = lo;
    for (int i = 1; i < pg->n; i++) {
        lo = fmin(lo, pg->p[i][d]);
        hi = fmax(hi, pg->p[i][d]);
    }
    double j0 = floor((lo - origin[d]) / step[d]) + 1, j1 = ceil((hi - origin[d]) / step[d]) - 1;
    poly rest = *pg, below, above;
    for (double j = j0; j <= j1; j++) {
        double x = origin[d] + j * step[d];
        if (!(x > lo && x < hi)) {
            continue;
        }
        split(&rest, d, x, &below, &above);
        if (!cut_poly(&below, d + 1, origin, step, out)) {
            return false;
        }
        rest = above;
    }
    return cut_poly(&rest, d + 1, origin, step, out);
}

/* ---- an indexed mesh in voxel units ------------------------------------------------------- */

typedef struct vmesh {
    double *v;   /* [nv][3] */
    uint32_t *f; /* [nf][3] */
    size_t nv, nf;
} vmesh;

static void vmesh_fini(vmesh *m)
{
    cv_free(m->v);
    cv_free(m->f);
    memset(m, 0, sizeof *m);
}

static int cmp_point(const double *a, const double *b)
{
    for (int d = 0; d < 3; d++) {
        if (a[d] != b[d]) {
            return a[d] < b[d] ? -1 : 1;
        }
    }
    return 0;
}

static const double *g_sort_points; /* qsort has no context argument */

static int cmp_index(const void *x, const void *y)
{
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    int c = cmp_point(g_sort_points + 3 * a, g_sort_points + 3 * b);
    return c ? c : (a < b ? -1 : a > b);
}

/* Weld identical corners of a soup into an indexed mesh; drop triangles that collapse. */
static cv_status weld(const soup *s, vmesh *out)
{
    size_t n = s->n;
    if (n > UINT32_MAX) {
        return CV_FAIL(CV_ERR_ARG, "multi-resolution mesh: %zu corners after cutting", n);
    }
    size_t *order = cv_malloc(n * sizeof *order + 1);
    uint32_t *id = cv_malloc(n * sizeof *id + 1);
    out->v = cv_malloc(n * 24 + 1);
    out->f = cv_malloc(n * 4 + 1);
    if (!order || !id || !out->v || !out->f) {
        cv_free(order);
        cv_free(id);
        vmesh_fini(out);
        return CV_FAIL(CV_ERR_NOMEM, "multi-resolution mesh: %zu corners", n);
    }
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
    }
    g_sort_points = s->v;
    qsort(order, n, sizeof *order, cmp_index);
    out->nv = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || cmp_point(s->v + 3 * order[i], s->v + 3 * order[i - 1]) != 0) {
            memcpy(out->v + 3 * out->nv++, s->v + 3 * order[i], 24);
        }
        id[order[i]] = (uint32_t)(out->nv - 1);
    }
    out->nf = 0;
    for (size_t t = 0; t + 2 < n; t += 3) {
        uint32_t a = id[t], b = id[t + 1], c = id[t + 2];
        if (a != b && b != c && a != c) {
            uint32_t *f = out->f + 3 * out->nf++;
            f[0] = a;
            f[1] = b;
            f[2] = c;
        }
    }
    cv_free(order);
    cv_free(id);
    return CV_OK;
}

/* ---- fragments ---------------------------------------------------------------------------- */

/* Morton code with x least significant (Neuroglancer's zorder: the most significant
 * differing bit decides, z before y before x at the same bit). */
static uint64_t zorder(const uint32_t c[3])
{
    uint64_t code = 0;
    for (int b = 0; b < 21; b++) {
        for (int d = 0; d < 3; d++) {
            code |= (uint64_t)((c[d] >> b) & 1) << (3 * b + d);
        }
    }
    return code;
}

typedef struct tri_cell {
    uint64_t code;
    uint32_t tri;
} tri_cell;

static int cmp_tri_cell(const void *x, const void *y)
{
    const tri_cell *a = x, *b = y;
    if (a->code != b->code) {
        return a->code < b->code ? -1 : 1;
    }
    return a->tri < b->tri ? -1 : a->tri > b->tri;
}

typedef struct frag {
    uint32_t pos[3];
    uint64_t code;
    uint8_t *data;
    size_t len;
} frag;

static int cmp_frag(const void *x, const void *y)
{
    const frag *a = x, *b = y;
    return a->code < b->code ? -1 : a->code > b->code;
}

typedef struct level {
    frag *f;
    size_t n, cap;
} level;

static bool level_push(level *l, const uint32_t pos[3], uint64_t code, uint8_t *data, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        frag *f = cv_realloc(l->f, cap * sizeof *f);
        if (!f) {
            return false;
        }
        l->f = f;
        l->cap = cap;
    }
    frag *x = &l->f[l->n++];
    memcpy(x->pos, pos, 12);
    x->code = code;
    x->data = data;
    x->len = len;
    return true;
}

/* Cut `m` (voxel units) for level L and encode one fragment per non-empty node. */
static cv_status make_level(const vmesh *m, int L, int n_lods, const double origin[3],
                            const double chunk[3], const cv_multires_opts *o, level *out)
{
    double node[3], step[3];
    for (int d = 0; d < 3; d++) {
        node[d] = ldexp(chunk[d], L);
        step[d] = L == 0 ? chunk[d] : ldexp(chunk[d], L - 1); /* children's planes too */
    }
    soup s = {NULL, 0, 0};
    cv_status rc = CV_OK;
    for (size_t t = 0; t < m->nf && rc == CV_OK; t++) {
        poly pg;
        pg.n = 3;
        for (int k = 0; k < 3; k++) {
            memcpy(pg.p[k], m->v + 3 * (size_t)m->f[3 * t + k], 24);
        }
        if (!cut_poly(&pg, 0, origin, step, &s)) {
            rc = CV_FAIL(CV_ERR_NOMEM, "multi-resolution mesh: cutting level %d", L);
        }
    }
    vmesh w = {NULL, NULL, 0, 0};
    if (rc == CV_OK) {
        rc = weld(&s, &w);
    }
    cv_free(s.v);
    if (rc != CV_OK) {
        return rc;
    }
    tri_cell *tc = cv_malloc(w.nf * sizeof *tc + 1);
    uint32_t *local = cv_malloc(w.nv * sizeof *local + 1);
    uint32_t *q = cv_malloc(w.nv * 12 + 1);
    uint32_t *faces = cv_malloc(w.nf * 12 + 1);
    if (!tc || !local || !q || !faces) {
        rc = CV_FAIL(CV_ERR_NOMEM, "multi-resolution mesh: level %d", L);
    }
    uint32_t top = L == n_lods - 1;
    for (size_t t = 0; rc == CV_OK && t < w.nf; t++) {
        uint32_t c[3] = {0, 0, 0};
        for (int d = 0; d < 3 && !top; d++) {
            double mid = 0;
            for (int k = 0; k < 3; k++) {
                mid += w.v[3 * (size_t)w.f[3 * t + k] + d];
            }
            double cell = floor((mid / 3 - origin[d]) / node[d]);
            double cells = ldexp(1.0, n_lods - 1 - L);
            c[d] = cell < 0 ? 0 : cell >= cells ? (uint32_t)cells - 1 : (uint32_t)cell;
        }
        tc[t].code = zorder(c);
        tc[t].tri = (uint32_t)t;
    }
    if (rc == CV_OK) {
        qsort(tc, w.nf, sizeof *tc, cmp_tri_cell);
        for (size_t i = 0; i < w.nv; i++) {
            local[i] = UINT32_MAX;
        }
    }
    const double qmax = ldexp(1.0, o->vqb) - 1;
    for (size_t a = 0; rc == CV_OK && a < w.nf;) {
        size_t b = a;
        while (b < w.nf && tc[b].code == tc[a].code) {
            b++;
        }
        uint32_t pos[3] = {0, 0, 0};
        for (int bit = 0; bit < 21; bit++) {
            for (int d = 0; d < 3; d++) {
                pos[d] |= (uint32_t)((tc[a].code >> (3 * bit + d)) & 1) << bit;
            }
        }
        uint32_t nv = 0, nf = 0;
        for (size_t i = a; i < b; i++) {
            const uint32_t *f = w.f + 3 * (size_t)tc[i].tri;
            uint32_t l3[3];
            for (int k = 0; k < 3; k++) {
                uint32_t g = f[k];
                if (local[g] == UINT32_MAX) {
                    local[g] = nv;
                    for (int d = 0; d < 3; d++) {
                        /* round half to even (the default mode), clipped to the node */
                        double x = nearbyint(
                            ((w.v[3 * (size_t)g + d] - origin[d]) / node[d] - pos[d]) * qmax);
                        q[3 * (size_t)nv + d] = x < 0 ? 0 : x > qmax ? (uint32_t)qmax : (uint32_t)x;
                    }
                    nv++;
                }
                l3[k] = local[g];
            }
            const uint32_t *qa = q + 3 * (size_t)l3[0], *qb = q + 3 * (size_t)l3[1],
                           *qc = q + 3 * (size_t)l3[2];
            if (memcmp(qa, qb, 12) && memcmp(qb, qc, 12) && memcmp(qa, qc, 12)) {
                memcpy(faces + 3 * (size_t)nf++, l3, 12);
            }
        }
        for (size_t i = a; i < b; i++) { /* reset the local numbering */
            for (int k = 0; k < 3; k++) {
                local[w.f[3 * (size_t)tc[i].tri + k]] = UINT32_MAX;
            }
        }
        uint8_t *data = NULL;
        size_t len = 0;
        if (nf > 0) {
            rc = cv__draco_encode(q, nv, faces, nf, o->vqb, o->level, &data, &len);
        }
        if (rc == CV_OK && !level_push(out, pos, tc[a].code, data, len)) {
            cv_free(data);
            rc = CV_FAIL(CV_ERR_NOMEM, "multi-resolution mesh: level %d", L);
        }
        a = b;
    }
    cv_free(tc);
    cv_free(local);
    cv_free(q);
    cv_free(faces);
    vmesh_fini(&w);
    return rc;
}

/* ---- levels of detail --------------------------------------------------------------------- */

static cv_status to_voxels(const cv_mesh *m, const double res[3], vmesh *out)
{
    out->nv = m->n_vertices;
    out->nf = m->n_faces;
    out->v = cv_malloc(24 * out->nv + 1);
    out->f = cv_malloc(12 * out->nf + 1);
    if (!out->v || !out->f) {
        vmesh_fini(out);
        return CV_FAIL(CV_ERR_NOMEM, "multi-resolution mesh of %" PRIu64, m->id);
    }
    for (size_t i = 0; i < 3 * out->nv; i++) {
        out->v[i] = m->vertices[i] / res[i % 3];
    }
    memcpy(out->f, m->faces, 12 * out->nf);
    return CV_OK;
}

static void bounds(const vmesh *m, double lo[3], double hi[3])
{
    for (size_t i = 0; i < m->nv; i++) {
        for (int d = 0; d < 3; d++) {
            lo[d] = fmin(lo[d], m->v[3 * i + d]);
            hi[d] = fmax(hi[d], m->v[3 * i + d]);
        }
    }
}

static void put32(cv_buf *b, uint32_t v)
{
    uint8_t p[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    memcpy(b->data + b->len, p, 4);
    b->len += 4;
}

static void putf(cv_buf *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put32(b, u);
}

cv_status cv__multires_build(const cv_mesh *m, const cv_multires_opts *o, uint8_t **data,
                             size_t *len, size_t *manifest_len)
{
    *data = NULL;
    *len = *manifest_len = 0;
    if (o->vqb < 1 || o->vqb > 30 || o->num_lods < 0 || o->num_lods > 20) {
        return CV_FAIL(CV_ERR_ARG, "multi-resolution mesh: %d quantization bits, %d levels", o->vqb,
                       o->num_lods);
    }
    for (size_t i = 0; i < 3 * (size_t)m->n_vertices; i++) {
        if (!isfinite(m->vertices[i])) {
            return CV_FAIL(CV_ERR_ARG, "mesh %" PRIu64 ": vertex %zu is not finite", m->id, i / 3);
        }
    }
    if (m->n_faces == 0) {
        return CV_OK; /* nothing to draw: no mesh, as igneous */
    }
    /* 1-2: the extent in voxels decides how many levels there can be */
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    vmesh lods[21];
    memset(lods, 0, sizeof lods);
    CV_TRY(to_voxels(m, o->resolution, &lods[0]));
    bounds(&lods[0], lo, hi);
    double shape[3], ratio = INFINITY;
    for (int d = 0; d < 3; d++) {
        shape[d] = trunc(hi[d] - floor(lo[d]));
        ratio = fmin(ratio, log2(shape[d] / o->min_chunk[d]));
    }
    if (shape[0] == 0 || shape[1] == 0 || shape[2] == 0) {
        vmesh_fini(&lods[0]);
        return CV_OK; /* flat: igneous skips it */
    }
    int max_lod = ratio > 0 ? (int)fmin(trunc(ratio), o->num_lods) : 0;
    /* 3: each level simplified from the one before */
    cv_status rc = CV_OK;
    cv_mesh *prev = NULL, *cur = NULL;
    int n_lods = 1;
    for (int k = 1; k <= max_lod && rc == CV_OK; k++) {
        const cv_mesh *src = prev ? prev : m;
        uint64_t target = src->n_faces >> k;
        double cap = 2e6;
        for (int d = 0; d < 3; d++) {
            cap *= shape[d] / ldexp(o->min_chunk[d], k);
        }
        target = target < 4 ? 4 : target;
        target = (double)target > cap ? (uint64_t)cap : target;
        cv_simplify_opts so = {.max_error = -1, .target_faces = target, .lock_boundary = k <= 2};
        rc = cv__mesh_simplify(src, &so, &cur, NULL);
        if (rc == CV_OK) {
            rc = to_voxels(cur, o->resolution, &lods[k]);
        }
        cv_mesh_free(prev);
        prev = cur;
        cur = NULL;
        n_lods = k + 1;
    }
    cv_mesh_free(prev);
    /* 4: the octree over all levels */
    double origin[3], chunk[3];
    for (int k = 1; k < n_lods && rc == CV_OK; k++) {
        bounds(&lods[k], lo, hi);
    }
    for (int d = 0; d < 3; d++) {
        origin[d] = floor(lo[d]);
        chunk[d] = ceil((ceil(hi[d]) - origin[d]) / ldexp(1.0, n_lods - 1));
        if (chunk[d] < 1) {
            chunk[d] = 1; /* a flat extent still needs a node of some size */
        }
    }
    /* 5: fragments of every level */
    level lv[21];
    memset(lv, 0, sizeof lv);
    for (int L = 0; L < n_lods && rc == CV_OK; L++) {
        rc = make_level(&lods[L], L, n_lods, origin, chunk, o, &lv[L]);
    }
    /* a node with geometry needs its parent in the manifest (size 0 if it has none) */
    for (int L = 0; L + 1 < n_lods && rc == CV_OK; L++) {
        size_t n0 = lv[L + 1].n; /* sorted by code; parent code = child code >> 3 */
        for (size_t i = 0; i < lv[L].n && rc == CV_OK; i++) {
            uint64_t code = lv[L].f[i].code >> 3;
            if (i > 0 && lv[L].f[i - 1].code >> 3 == code) {
                continue;
            }
            size_t a = 0, z = n0;
            while (a < z) {
                size_t mid = a + (z - a) / 2;
                *(lv[L + 1].f[mid].code < code ? &a : &z) =
                    lv[L + 1].f[mid].code < code ? mid + 1 : mid;
            }
            if (a < n0 && lv[L + 1].f[a].code == code) {
                continue;
            }
            uint32_t parent[3] = {lv[L].f[i].pos[0] >> 1, lv[L].f[i].pos[1] >> 1,
                                  lv[L].f[i].pos[2] >> 1};
            if (!level_push(&lv[L + 1], parent, code, NULL, 0)) {
                rc = CV_FAIL(CV_ERR_NOMEM, "multi-resolution mesh");
            }
        }
        qsort(lv[L + 1].f, lv[L + 1].n, sizeof *lv[L + 1].f, cmp_frag);
    }
    /* 6-8: fragment bytes (level 0 first, manifest order), then the manifest */
    size_t frags = 0, bytes = 0;
    for (int L = 0; L < n_lods; L++) {
        frags += lv[L].n;
        for (size_t i = 0; i < lv[L].n; i++) {
            bytes += lv[L].f[i].len;
            if (lv[L].f[i].len > UINT32_MAX) {
                rc = CV_FAIL(CV_ERR_ARG, "mesh %" PRIu64 ": a fragment of %zu bytes", m->id,
                             lv[L].f[i].len);
            }
        }
    }
    size_t mlen = 28 + 20 * (size_t)n_lods + 16 * frags;
    cv_buf b;
    cv__buf_init(&b, 0);
    if (rc == CV_OK) {
        rc = cv__buf_reserve(&b, bytes + mlen);
    }
    if (rc == CV_OK) {
        for (int L = 0; L < n_lods; L++) {
            for (size_t i = 0; i < lv[L].n; i++) {
                if (lv[L].f[i].len) {
                    memcpy(b.data + b.len, lv[L].f[i].data, lv[L].f[i].len);
                    b.len += lv[L].f[i].len;
                }
            }
        }
        for (int d = 0; d < 3; d++) {
            putf(&b, (float)chunk[d]);
        }
        for (int d = 0; d < 3; d++) {
            putf(&b, (float)origin[d]);
        }
        put32(&b, (uint32_t)n_lods);
        for (int L = 0; L < n_lods; L++) {
            putf(&b, (float)ldexp(1.0, L));
        }
        for (int i = 0; i < 3 * n_lods; i++) {
            putf(&b, 0.0f);
        }
        for (int L = 0; L < n_lods; L++) {
            put32(&b, (uint32_t)lv[L].n);
        }
        for (int L = 0; L < n_lods; L++) {
            for (int d = 0; d < 3; d++) {
                for (size_t i = 0; i < lv[L].n; i++) {
                    put32(&b, lv[L].f[i].pos[d]);
                }
            }
            for (size_t i = 0; i < lv[L].n; i++) {
                put32(&b, (uint32_t)lv[L].f[i].len);
            }
        }
    }
    for (int L = 0; L < 21; L++) {
        for (size_t i = 0; i < lv[L].n; i++) {
            cv_free(lv[L].f[i].data);
        }
        cv_free(lv[L].f);
        vmesh_fini(&lods[L]);
    }
    if (rc != CV_OK) {
        cv__buf_fini(&b);
        return rc;
    }
    *data = cv__buf_take(&b, len);
    *manifest_len = mlen;
    return CV_OK;
}
