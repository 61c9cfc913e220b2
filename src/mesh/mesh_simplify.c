/* SPDX-License-Identifier: BSD-3-Clause
 * mesh_simplify.c: quadric edge collapse (Garland-Heckbert 1997), the simplifier of meshing
 * and of the coarser levels of multi-resolution meshes (igneous-jobs §2.3, §3.3). Work is
 * done in double precision relative to the mesh's lower corner, so large nm coordinates keep
 * their precision; the error bound is checked against the input triangles exactly, in the
 * float32 position that will be written. No I/O, no MPI here. */
#include "mesh/mesh.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { V_FREE = 0, V_LOCKED, V_FROZEN, V_DEAD };

/* Boundary edges are held in place by planes through them, perpendicular to their triangle,
 * weighted this much more than the triangles' own planes (per squared edge length). */
#define BOUNDARY_WEIGHT 100.0
/* A collapse may not leave a triangle flatter than this (4 sqrt(3) area / sum of squared
 * edges; 1 for equilateral), unless it was already flatter. */
#define MIN_COMPACTNESS 0.05

typedef struct list {
    uint32_t *v;
    uint32_t n, cap;
} list;

typedef struct entry {
    double cost;
    uint32_t a, b;   /* a < b */
    uint32_t sa, sb; /* stamps of a and b when pushed */
} entry;

typedef struct simp {
    uint32_t nv, nf;
    double origin[3];
    double *p;          /* [nv][3] current positions, relative to origin */
    double *p0;         /* [nv][3] input positions, relative to origin */
    float *out;         /* [nv][3] positions to write */
    double *q;          /* [nv][10] quadrics: a2 ab ac ad b2 bc bd c2 cd d2 */
    uint32_t *f;        /* [nf][3] current triangles */
    const uint32_t *f0; /* [nf][3] input triangles (degenerate ones removed) */
    uint8_t *face_alive;
    uint8_t *state;
    uint8_t *boundary;
    uint8_t *retry; /* some edge of the vertex was refused since it last changed */
    uint32_t *stamp;
    list *vf;           /* incident triangles */
    list *supp;         /* input triangles a vertex stands for (with an error bound only) */
    list *rep;          /* input vertices a vertex stands for (with an error bound only) */
    uint8_t *boundary0; /* input vertex on an open edge */
    uint64_t faces_alive;
    bool has_err;
    double max_err2;
    entry *heap;
    size_t hn, hcap;
    void *halves;      /* set-up's sorted edge list */
    uint32_t *f0_copy; /* owns f0 once triangles change */
    list scratch_a, scratch_b;
} simp;

/* ---- small helpers ------------------------------------------------------------------------ */

static bool list_push(list *l, uint32_t x)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? 2 * l->cap : 8;
        uint32_t *v = cv_realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) {
            return false;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return true;
}

static void list_remove(list *l, uint32_t x)
{
    for (uint32_t i = 0; i < l->n; i++) {
        if (l->v[i] == x) {
            memmove(l->v + i, l->v + i + 1, (size_t)(l->n - i - 1) * sizeof *l->v);
            l->n--;
            return;
        }
    }
}

static bool list_has(const list *l, uint32_t x)
{
    for (uint32_t i = 0; i < l->n; i++) {
        if (l->v[i] == x) {
            return true;
        }
    }
    return false;
}

static void sub3(const double *a, const double *b, double *o)
{
    o[0] = a[0] - b[0];
    o[1] = a[1] - b[1];
    o[2] = a[2] - b[2];
}

static void cross3(const double *a, const double *b, double *o)
{
    o[0] = a[1] * b[2] - a[2] * b[1];
    o[1] = a[2] * b[0] - a[0] * b[2];
    o[2] = a[0] * b[1] - a[1] * b[0];
}

static double dot3(const double *a, const double *b)
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static void quadric_add_plane(double *q, const double *n, double d, double w)
{
    q[0] += w * n[0] * n[0];
    q[1] += w * n[0] * n[1];
    q[2] += w * n[0] * n[2];
    q[3] += w * n[0] * d;
    q[4] += w * n[1] * n[1];
    q[5] += w * n[1] * n[2];
    q[6] += w * n[1] * d;
    q[7] += w * n[2] * n[2];
    q[8] += w * n[2] * d;
    q[9] += w * d * d;
}

static double quadric_eval(const double *q, const double *p)
{
    double x = p[0], y = p[1], z = p[2];
    double e = q[0] * x * x + 2 * q[1] * x * y + 2 * q[2] * x * z + 2 * q[3] * x + q[4] * y * y +
               2 * q[5] * y * z + 2 * q[6] * y + q[7] * z * z + 2 * q[8] * z + q[9];
    return e > 0 ? e : 0;
}

/* Squared distance from p to triangle abc (Ericson, Real-Time Collision Detection 5.1.5). */
static double dist2_point_triangle(const double *p, const double *a, const double *b,
                                   const double *c)
{
    double ab[3], ac[3], ap[3], bp[3], cp[3], r[3];
    sub3(b, a, ab);
    sub3(c, a, ac);
    sub3(p, a, ap);
    double d1 = dot3(ab, ap), d2 = dot3(ac, ap);
    if (d1 <= 0 && d2 <= 0) {
        return dot3(ap, ap);
    }
    sub3(p, b, bp);
    double d3 = dot3(ab, bp), d4 = dot3(ac, bp);
    if (d3 >= 0 && d4 <= d3) {
        return dot3(bp, bp);
    }
    double vc = d1 * d4 - d3 * d2;
    if (vc <= 0 && d1 >= 0 && d3 <= 0) {
        double t = d1 / (d1 - d3);
        for (int i = 0; i < 3; i++) {
            r[i] = ap[i] - t * ab[i];
        }
        return dot3(r, r);
    }
    sub3(p, c, cp);
    double d5 = dot3(ab, cp), d6 = dot3(ac, cp);
    if (d6 >= 0 && d5 <= d6) {
        return dot3(cp, cp);
    }
    double vb = d5 * d2 - d1 * d6;
    if (vb <= 0 && d2 >= 0 && d6 <= 0) {
        double t = d2 / (d2 - d6);
        for (int i = 0; i < 3; i++) {
            r[i] = ap[i] - t * ac[i];
        }
        return dot3(r, r);
    }
    double va = d3 * d6 - d5 * d4;
    if (va <= 0 && (d4 - d3) >= 0 && (d5 - d6) >= 0) {
        double t = (d4 - d3) / ((d4 - d3) + (d5 - d6));
        for (int i = 0; i < 3; i++) {
            r[i] = bp[i] - t * (c[i] - b[i]);
        }
        return dot3(r, r);
    }
    double den = 1 / (va + vb + vc), v = vb * den, w = vc * den;
    for (int i = 0; i < 3; i++) {
        r[i] = ap[i] - ab[i] * v - ac[i] * w;
    }
    return dot3(r, r);
}

/* ---- the heap of candidate collapses (cheapest first; ties by vertex indices) ------------- */

static bool entry_less(const entry *x, const entry *y)
{
    if (x->cost != y->cost) {
        return x->cost < y->cost;
    }
    if (x->a != y->a) {
        return x->a < y->a;
    }
    return x->b < y->b;
}

static bool heap_push(simp *s, entry e)
{
    if (s->hn == s->hcap) {
        size_t cap = s->hcap ? 2 * s->hcap : 1024;
        entry *h = cap < SIZE_MAX / sizeof *h ? cv_realloc(s->heap, cap * sizeof *h) : NULL;
        if (!h) {
            return false;
        }
        s->heap = h;
        s->hcap = cap;
    }
    size_t i = s->hn++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!entry_less(&e, &s->heap[up])) {
            break;
        }
        s->heap[i] = s->heap[up];
        i = up;
    }
    s->heap[i] = e;
    return true;
}

static entry heap_pop(simp *s)
{
    entry top = s->heap[0], last = s->heap[--s->hn];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->hn) {
            break;
        }
        if (c + 1 < s->hn && entry_less(&s->heap[c + 1], &s->heap[c])) {
            c++;
        }
        if (!entry_less(&s->heap[c], &last)) {
            break;
        }
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->hn) {
        s->heap[i] = last;
    }
    return top;
}

/* ---- where a collapse puts the vertex ------------------------------------------------------ */

typedef struct candidate {
    double p[3];
    double cost;
} candidate;

/* The positions to try for collapsing edge (a, b), cheapest first: only the locked end's
 * position if one end is locked; else the quadric's optimum (if well defined and near the
 * edge), the two ends and the midpoint. Returns how many. */
static int candidates(const simp *s, uint32_t a, uint32_t b, candidate c[4])
{
    double q[10];
    for (int i = 0; i < 10; i++) {
        q[i] = s->q[10 * (size_t)a + i] + s->q[10 * (size_t)b + i];
    }
    const double *pa = s->p + 3 * (size_t)a, *pb = s->p + 3 * (size_t)b;
    if (s->state[a] == V_LOCKED || s->state[b] == V_LOCKED) {
        const double *pl = s->state[a] == V_LOCKED ? pa : pb;
        memcpy(c[0].p, pl, sizeof c[0].p);
        c[0].cost = quadric_eval(q, c[0].p);
        return 1;
    }
    int n = 0;
    double m00 = q[0], m01 = q[1], m02 = q[2], m11 = q[4], m12 = q[5], m22 = q[7];
    double c00 = m11 * m22 - m12 * m12, c01 = m02 * m12 - m01 * m22, c02 = m01 * m12 - m02 * m11;
    double det = m00 * c00 + m01 * c01 + m02 * c02;
    double scale = fmax(m00, fmax(m11, m22));
    double mid[3] = {(pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2, (pa[2] + pb[2]) / 2};
    if (scale > 0 && fabs(det) > 1e-9 * scale * scale * scale) {
        double c11 = m00 * m22 - m02 * m02, c12 = m01 * m02 - m00 * m12,
               c22 = m00 * m11 - m01 * m01;
        double r0 = -q[3], r1 = -q[6], r2 = -q[8];
        double x[3] = {(c00 * r0 + c01 * r1 + c02 * r2) / det,
                       (c01 * r0 + c11 * r1 + c12 * r2) / det,
                       (c02 * r0 + c12 * r1 + c22 * r2) / det};
        double e[3], dm[3];
        sub3(pb, pa, e);
        sub3(x, mid, dm);
        /* A far optimum means a nearly flat quadric: the ends are as good and safer. */
        if (isfinite(x[0] + x[1] + x[2]) && dot3(dm, dm) <= dot3(e, e)) {
            memcpy(c[n].p, x, sizeof x);
            c[n].cost = quadric_eval(q, x);
            n++;
        }
    }
    const double *pts[3] = {pa, pb, mid};
    for (int i = 0; i < 3; i++) {
        memcpy(c[n].p, pts[i], sizeof c[n].p);
        c[n].cost = quadric_eval(q, pts[i]);
        n++;
    }
    for (int i = 1; i < n; i++) { /* insertion sort, stable */
        candidate t = c[i];
        int j = i;
        while (j > 0 && c[j - 1].cost > t.cost) {
            c[j] = c[j - 1];
            j--;
        }
        c[j] = t;
    }
    return n;
}

static bool movable(const simp *s, uint32_t v)
{
    return s->state[v] == V_FREE || s->state[v] == V_LOCKED;
}

static bool push_edge(simp *s, uint32_t a, uint32_t b)
{
    if (a > b) {
        uint32_t t = a;
        a = b;
        b = t;
    }
    if (!movable(s, a) || !movable(s, b) || (s->state[a] == V_LOCKED && s->state[b] == V_LOCKED)) {
        return true;
    }
    candidate c[4];
    candidates(s, a, b, c);
    entry e = {c[0].cost, a, b, s->stamp[a], s->stamp[b]};
    return heap_push(s, e);
}

static bool push_vertex_edges(simp *s, uint32_t u)
{
    const list *l = &s->vf[u];
    for (uint32_t i = 0; i < l->n; i++) {
        const uint32_t *f = s->f + 3 * (size_t)l->v[i];
        for (int k = 0; k < 3; k++) {
            /* each edge of u once: the one leaving u along the winding */
            if (f[k] == u && !push_edge(s, u, f[(k + 1) % 3])) {
                return false;
            }
            if (f[k] == u && s->boundary[u] && !push_edge(s, u, f[(k + 2) % 3])) {
                return false;
            }
        }
    }
    return true;
}

/* ---- checking one collapse ------------------------------------------------------------------ */

/* Neighbours of v (with repeats) into l. */
static bool neighbours(const simp *s, uint32_t v, list *l)
{
    l->n = 0;
    const list *fl = &s->vf[v];
    for (uint32_t i = 0; i < fl->n; i++) {
        const uint32_t *f = s->f + 3 * (size_t)fl->v[i];
        for (int k = 0; k < 3; k++) {
            if (f[k] != v && !list_has(l, f[k]) && !list_push(l, f[k])) {
                return false;
            }
        }
    }
    return true;
}

static bool face_has(const uint32_t *f, uint32_t v)
{
    return f[0] == v || f[1] == v || f[2] == v;
}

static double compactness(const double *a, const double *b, const double *c, double *n)
{
    double e0[3], e1[3], e2[3];
    sub3(b, a, e0);
    sub3(c, a, e1);
    sub3(c, b, e2);
    cross3(e0, e1, n);
    double l2 = dot3(e0, e0) + dot3(e1, e1) + dot3(e2, e2);
    return l2 > 0 ? 2 * sqrt(3) * sqrt(dot3(n, n)) / l2 : 0;
}

/* Triangles around u and v keep their orientation and shape when the moving ends go to p. */
static bool geometry_ok(const simp *s, uint32_t u, uint32_t v, const double *p)
{
    const uint32_t ends[2] = {u, v};
    for (int e = 0; e < 2; e++) {
        const list *fl = &s->vf[ends[e]];
        for (uint32_t i = 0; i < fl->n; i++) {
            const uint32_t *f = s->f + 3 * (size_t)fl->v[i];
            if (face_has(f, u) && face_has(f, v)) {
                continue; /* removed by the collapse */
            }
            const double *old[3], *neu[3];
            for (int k = 0; k < 3; k++) {
                old[k] = s->p + 3 * (size_t)f[k];
                neu[k] = f[k] == u || f[k] == v ? p : old[k];
            }
            double n0[3], n1[3];
            double c0 = compactness(old[0], old[1], old[2], n0);
            double c1 = compactness(neu[0], neu[1], neu[2], n1);
            if (dot3(n0, n1) <= 0 || (c1 < MIN_COMPACTNESS && c1 < c0)) {
                return false;
            }
        }
    }
    return true;
}

/* After collapsing v into u, does edge (a, b) (v already replaced by u) have one triangle? */
static bool open_edge_after(const simp *s, uint32_t u, uint32_t v, uint32_t a, uint32_t b)
{
    uint32_t count = 0;
    const uint32_t ends[2] = {u, v};
    /* triangles with both a and b: look around a (around u and v if a is u) */
    for (int g = 0; g < (a == u ? 2 : 1); g++) {
        const list *fl = &s->vf[a == u ? ends[g] : a];
        for (uint32_t j = 0; j < fl->n; j++) {
            const uint32_t *f = s->f + 3 * (size_t)fl->v[j];
            if (face_has(f, u) && face_has(f, v)) {
                continue;
            }
            bool has_b = false;
            for (int k = 0; k < 3; k++) {
                has_b |= (f[k] == v ? u : f[k]) == b;
            }
            count += has_b;
        }
    }
    return count == 1;
}

/* Squared distance from p to segment ab. */
static double dist2_point_segment(const double *p, const double *a, const double *b)
{
    double e[3], w[3], r[3];
    sub3(b, a, e);
    sub3(p, a, w);
    double ee = dot3(e, e), t = ee > 0 ? dot3(w, e) / ee : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    for (int d = 0; d < 3; d++) {
        r[d] = w[d] - t * e[d];
    }
    return dot3(r, r);
}

/* Does the surface stay within the error of the input, both ways? The new vertex must lie
 * within max_error of the input triangles u and v stand for; every input vertex they stand
 * for must lie within max_error of the triangles around the new vertex, and an input vertex
 * of an open edge within max_error of the open edges there (so outlines keep their shape). */
static bool within_error(const simp *s, uint32_t u, uint32_t v, const double *p)
{
    const list *ls[2] = {&s->supp[u], &s->supp[v]};
    bool near = false;
    for (int e = 0; e < 2 && !near; e++) {
        for (uint32_t i = 0; i < ls[e]->n && !near; i++) {
            const uint32_t *f = s->f0 + 3 * (size_t)ls[e]->v[i];
            near = dist2_point_triangle(p, s->p0 + 3 * (size_t)f[0], s->p0 + 3 * (size_t)f[1],
                                        s->p0 + 3 * (size_t)f[2]) <= s->max_err2;
        }
    }
    if (!near) {
        return false;
    }
    const list *rs[2] = {&s->rep[u], &s->rep[v]};
    const uint32_t ends[2] = {u, v};
    for (int e = 0; e < 2; e++) {
        for (uint32_t i = 0; i < rs[e]->n; i++) {
            uint32_t o = rs[e]->v[i];
            const double *x = s->p0 + 3 * (size_t)o;
            bool ok = false;
            for (int g = 0; g < 2 && !ok; g++) {
                const list *fl = &s->vf[ends[g]];
                for (uint32_t j = 0; j < fl->n && !ok; j++) {
                    const uint32_t *f = s->f + 3 * (size_t)fl->v[j];
                    if (face_has(f, u) && face_has(f, v)) {
                        continue;
                    }
                    const double *c[3];
                    for (int k = 0; k < 3; k++) {
                        c[k] = f[k] == u || f[k] == v ? p : s->p + 3 * (size_t)f[k];
                    }
                    if (!s->boundary0[o]) {
                        ok = dist2_point_triangle(x, c[0], c[1], c[2]) <= s->max_err2;
                        continue;
                    }
                    for (int k = 0; k < 3 && !ok; k++) {
                        uint32_t a = f[k] == v ? u : f[k],
                                 b = f[(k + 1) % 3] == v ? u : f[(k + 1) % 3];
                        if (open_edge_after(s, u, v, a, b)) {
                            ok = dist2_point_segment(x, c[k], c[(k + 1) % 3]) <= s->max_err2;
                        }
                    }
                }
            }
            if (!ok) {
                return false;
            }
        }
    }
    return true;
}

/* No two triangles around the merged vertex would have the same corners. */
static bool no_repeated_faces(const simp *s, uint32_t u, uint32_t v)
{
    uint32_t tri[64][3];
    int n = 0;
    const uint32_t ends[2] = {u, v};
    for (int e = 0; e < 2; e++) {
        const list *fl = &s->vf[ends[e]];
        for (uint32_t i = 0; i < fl->n; i++) {
            const uint32_t *f = s->f + 3 * (size_t)fl->v[i];
            if (face_has(f, u) && face_has(f, v)) {
                continue;
            }
            if (n == 64) {
                return false; /* a vertex of degree > 64: leave it alone */
            }
            uint32_t t[3];
            for (int k = 0; k < 3; k++) {
                t[k] = f[k] == v ? u : f[k];
            }
            for (int i2 = 0; i2 < 2; i2++) { /* sort the three */
                for (int j = 0; j < 2 - i2; j++) {
                    if (t[j] > t[j + 1]) {
                        uint32_t x = t[j];
                        t[j] = t[j + 1];
                        t[j + 1] = x;
                    }
                }
            }
            for (int j = 0; j < n; j++) {
                if (tri[j][0] == t[0] && tri[j][1] == t[1] && tri[j][2] == t[2]) {
                    return false;
                }
            }
            memcpy(tri[n++], t, sizeof t);
        }
    }
    return true;
}

/* 1: collapsed; 0: refused; -1: out of memory. */
static int try_collapse(simp *s, uint32_t a, uint32_t b)
{
    uint32_t u = a, v = b; /* u survives */
    if (s->state[b] == V_LOCKED) {
        u = b;
        v = a;
    }
    /* topology: the edge has one or two triangles and u, v share no other neighbour */
    uint32_t shared = 0;
    for (uint32_t i = 0; i < s->vf[u].n; i++) {
        shared += face_has(s->f + 3 * (size_t)s->vf[u].v[i], v);
    }
    if (shared == 0 || shared > 2) {
        return 0;
    }
    if (shared == 2 && s->boundary[u] && s->boundary[v]) {
        return 0; /* would pinch the surface where two boundary loops meet */
    }
    if (!neighbours(s, u, &s->scratch_a) || !neighbours(s, v, &s->scratch_b)) {
        return -1;
    }
    uint32_t common = 0;
    for (uint32_t i = 0; i < s->scratch_a.n; i++) {
        common += list_has(&s->scratch_b, s->scratch_a.v[i]);
    }
    if (common != shared || !no_repeated_faces(s, u, v)) {
        return 0;
    }
    candidate c[4];
    int nc = candidates(s, a, b, c);
    int chosen = -1;
    float pf[3];
    double p[3];
    for (int i = 0; i < nc && chosen < 0; i++) {
        /* check the position that will be written: float32 in absolute nm */
        for (int d = 0; d < 3; d++) {
            pf[d] = (float)(c[i].p[d] + s->origin[d]);
            p[d] = (double)pf[d] - s->origin[d];
        }
        if (s->state[u] == V_LOCKED) {
            memcpy(pf, s->out + 3 * (size_t)u, sizeof pf);
            memcpy(p, s->p + 3 * (size_t)u, sizeof p);
        }
        if (geometry_ok(s, u, v, p) && (!s->has_err || within_error(s, u, v, p))) {
            chosen = i;
        }
    }
    if (chosen < 0) {
        return 0;
    }
    /* apply */
    memcpy(s->p + 3 * (size_t)u, p, sizeof p);
    memcpy(s->out + 3 * (size_t)u, pf, sizeof pf);
    for (int i = 0; i < 10; i++) {
        s->q[10 * (size_t)u + i] += s->q[10 * (size_t)v + i];
    }
    list *lv = &s->vf[v];
    for (uint32_t i = 0; i < lv->n; i++) {
        uint32_t fi = lv->v[i];
        uint32_t *f = s->f + 3 * (size_t)fi;
        if (face_has(f, u)) {
            s->face_alive[fi] = 0;
            s->faces_alive--;
            for (int k = 0; k < 3; k++) {
                if (f[k] != v) {
                    list_remove(&s->vf[f[k]], fi);
                }
            }
        } else {
            for (int k = 0; k < 3; k++) {
                f[k] = f[k] == v ? u : f[k];
            }
            if (!list_push(&s->vf[u], fi)) {
                return -1;
            }
        }
    }
    cv_free(lv->v);
    memset(lv, 0, sizeof *lv);
    if (s->has_err) {
        list *x = &s->supp[u], *y = &s->supp[v];
        uint32_t *m = cv_malloc(((size_t)x->n + y->n + 1) * sizeof *m);
        if (!m) {
            return -1;
        }
        uint32_t i = 0, j = 0, k = 0;
        while (i < x->n || j < y->n) {
            uint32_t t = j >= y->n || (i < x->n && x->v[i] <= y->v[j]) ? x->v[i] : y->v[j];
            i += i < x->n && x->v[i] == t;
            j += j < y->n && y->v[j] == t;
            m[k++] = t;
        }
        cv_free(x->v);
        cv_free(y->v);
        x->v = m;
        x->n = x->cap = k;
        memset(y, 0, sizeof *y);
        list *ru = &s->rep[u], *rv = &s->rep[v];
        for (uint32_t i2 = 0; i2 < rv->n; i2++) {
            if (!list_push(ru, rv->v[i2])) {
                return -1;
            }
        }
        cv_free(rv->v);
        memset(rv, 0, sizeof *rv);
    }
    s->boundary[u] |= s->boundary[v];
    s->state[v] = V_DEAD;
    s->stamp[u]++;
    s->stamp[v]++;
    return 1;
}

/* ---- set-up ------------------------------------------------------------------------------- */

typedef struct half {
    uint32_t lo, hi, face;
} half;

static int cmp_half(const void *x, const void *y)
{
    const half *a = x, *b = y;
    if (a->lo != b->lo) {
        return a->lo < b->lo ? -1 : 1;
    }
    if (a->hi != b->hi) {
        return a->hi < b->hi ? -1 : 1;
    }
    return a->face < b->face ? -1 : (a->face > b->face);
}

/* Union-find over a vertex's link: do its triangles form one fan? */
static uint32_t uf_find(uint32_t *parent, uint32_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

static bool single_fan(const simp *s, uint32_t v, list *ids, uint32_t *parent, size_t cap)
{
    const list *fl = &s->vf[v];
    ids->n = 0;
    for (uint32_t i = 0; i < fl->n; i++) {
        const uint32_t *f = s->f + 3 * (size_t)fl->v[i];
        for (int k = 0; k < 3; k++) {
            if (f[k] != v && !list_has(ids, f[k]) && !list_push(ids, f[k])) {
                return true; /* out of memory: reported by the caller's later allocations */
            }
        }
    }
    if (ids->n > cap) {
        return false;
    }
    for (uint32_t i = 0; i < ids->n; i++) {
        parent[i] = i;
    }
    uint32_t groups = ids->n;
    for (uint32_t i = 0; i < fl->n; i++) {
        const uint32_t *f = s->f + 3 * (size_t)fl->v[i];
        uint32_t x = UINT32_MAX, y = UINT32_MAX;
        for (int k = 0; k < 3; k++) {
            if (f[k] == v) {
                continue;
            }
            uint32_t j = 0;
            while (ids->v[j] != f[k]) {
                j++;
            }
            *(x == UINT32_MAX ? &x : &y) = j;
        }
        uint32_t rx = uf_find(parent, x), ry = uf_find(parent, y);
        if (rx != ry) {
            parent[rx] = ry;
            groups--;
        }
    }
    return groups == 1;
}

static void simp_free(simp *s)
{
    for (uint32_t i = 0; s->vf && i < s->nv; i++) {
        cv_free(s->vf[i].v);
    }
    for (uint32_t i = 0; s->supp && i < s->nv; i++) {
        cv_free(s->supp[i].v);
    }
    for (uint32_t i = 0; s->rep && i < s->nv; i++) {
        cv_free(s->rep[i].v);
    }
    cv_free(s->rep);
    cv_free(s->boundary0);
    cv_free(s->vf);
    cv_free(s->supp);
    cv_free(s->p);
    cv_free(s->p0);
    cv_free(s->out);
    cv_free(s->q);
    cv_free(s->f);
    cv_free(s->face_alive);
    cv_free(s->state);
    cv_free(s->boundary);
    cv_free(s->retry);
    cv_free(s->stamp);
    cv_free(s->heap);
    cv_free(s->halves);
    cv_free(s->f0_copy);
    cv_free(s->scratch_a.v);
    cv_free(s->scratch_b.v);
}

static cv_status nomem(void)
{
    return CV_FAIL(CV_ERR_NOMEM, "mesh simplification");
}

static cv_status setup(simp *s, const cv_mesh *in, const cv_simplify_opts *o)
{
    uint32_t nv = in->n_vertices;
    s->nv = nv;
    s->p = cv_malloc(3 * (size_t)nv * sizeof(double) + 1);
    s->p0 = cv_malloc(3 * (size_t)nv * sizeof(double) + 1);
    s->out = cv_malloc(3 * (size_t)nv * sizeof(float) + 1);
    s->q = cv_calloc(10 * (size_t)nv + 1, sizeof(double));
    s->f = cv_malloc(3 * (size_t)in->n_faces * sizeof(uint32_t) + 1);
    s->face_alive = cv_calloc((size_t)in->n_faces + 1, 1);
    s->state = cv_calloc((size_t)nv + 1, 1);
    s->boundary = cv_calloc((size_t)nv + 1, 1);
    s->retry = cv_calloc((size_t)nv + 1, 1);
    s->stamp = cv_calloc((size_t)nv + 1, sizeof(uint32_t));
    s->vf = cv_calloc((size_t)nv + 1, sizeof(list));
    if (!s->p || !s->p0 || !s->out || !s->q || !s->f || !s->face_alive || !s->state ||
        !s->boundary || !s->retry || !s->stamp || !s->vf) {
        return nomem();
    }
    for (int d = 0; d < 3; d++) {
        s->origin[d] = 0;
    }
    for (uint32_t i = 0; i < nv; i++) {
        for (int d = 0; d < 3; d++) {
            float x = in->vertices[3 * (size_t)i + d];
            if (!isfinite(x)) {
                return CV_FAIL(CV_ERR_ARG, "mesh simplification: vertex %" PRIu32 " is not finite",
                               i);
            }
            if (i == 0 || x < s->origin[d]) {
                s->origin[d] = x;
            }
        }
    }
    for (uint32_t i = 0; i < nv; i++) {
        for (int d = 0; d < 3; d++) {
            s->out[3 * (size_t)i + d] = in->vertices[3 * (size_t)i + d];
            s->p[3 * (size_t)i + d] = (double)in->vertices[3 * (size_t)i + d] - s->origin[d];
        }
    }
    memcpy(s->p0, s->p, 3 * (size_t)nv * sizeof(double));
    uint32_t nf = 0;
    for (uint32_t i = 0; i < in->n_faces; i++) {
        const uint32_t *f = in->faces + 3 * (size_t)i;
        if (f[0] >= nv || f[1] >= nv || f[2] >= nv) {
            return CV_FAIL(CV_ERR_ARG,
                           "mesh simplification: triangle %" PRIu32 " names a vertex past %" PRIu32,
                           i, nv);
        }
        if (f[0] == f[1] || f[1] == f[2] || f[0] == f[2]) {
            continue;
        }
        memcpy(s->f + 3 * (size_t)nf, f, 12);
        s->face_alive[nf] = 1;
        for (int k = 0; k < 3; k++) {
            if (!list_push(&s->vf[f[k]], nf)) {
                return nomem();
            }
        }
        nf++;
    }
    s->nf = nf;
    s->faces_alive = nf;
    s->f0 = s->f; /* replaced by a copy below once s->f starts changing */

    /* edges: boundary (one triangle) and non-manifold (more than two) */
    half *h = cv_malloc(3 * (size_t)nf * sizeof *h + 1);
    if (!h) {
        return nomem();
    }
    s->halves = h;
    for (uint32_t i = 0; i < nf; i++) {
        const uint32_t *f = s->f + 3 * (size_t)i;
        for (int k = 0; k < 3; k++) {
            uint32_t x = f[k], y = f[(k + 1) % 3];
            h[3 * (size_t)i + k] = (half){x < y ? x : y, x < y ? y : x, i};
        }
    }
    qsort(h, 3 * (size_t)nf, sizeof *h, cmp_half);
    size_t nh = 3 * (size_t)nf;
    for (size_t i = 0; i < nh;) {
        size_t j = i + 1;
        while (j < nh && h[j].lo == h[i].lo && h[j].hi == h[i].hi) {
            j++;
        }
        if (j - i == 1) {
            s->boundary[h[i].lo] = s->boundary[h[i].hi] = 1;
            /* hold the edge with a plane through it, perpendicular to its triangle */
            const uint32_t *f = s->f + 3 * (size_t)h[i].face;
            double e0[3], e1[3], n[3], m[3];
            sub3(s->p + 3 * (size_t)f[1], s->p + 3 * (size_t)f[0], e0);
            sub3(s->p + 3 * (size_t)f[2], s->p + 3 * (size_t)f[0], e1);
            cross3(e0, e1, n);
            double *pa = s->p + 3 * (size_t)h[i].lo, *pb = s->p + 3 * (size_t)h[i].hi;
            double e[3];
            sub3(pb, pa, e);
            cross3(e, n, m);
            double len = sqrt(dot3(m, m));
            if (len > 0) {
                for (int d = 0; d < 3; d++) {
                    m[d] /= len;
                }
                double w = BOUNDARY_WEIGHT * dot3(e, e);
                quadric_add_plane(s->q + 10 * (size_t)h[i].lo, m, -dot3(m, pa), w);
                quadric_add_plane(s->q + 10 * (size_t)h[i].hi, m, -dot3(m, pa), w);
            }
        } else if (j - i > 2) {
            s->state[h[i].lo] = s->state[h[i].hi] = V_FROZEN;
        }
        i = j;
    }

    for (uint32_t i = 0; i < nf; i++) {
        const uint32_t *f = s->f + 3 * (size_t)i;
        double e0[3], e1[3], n[3];
        sub3(s->p + 3 * (size_t)f[1], s->p + 3 * (size_t)f[0], e0);
        sub3(s->p + 3 * (size_t)f[2], s->p + 3 * (size_t)f[0], e1);
        cross3(e0, e1, n);
        double len = sqrt(dot3(n, n));
        if (len == 0) {
            continue;
        }
        for (int d = 0; d < 3; d++) {
            n[d] /= len;
        }
        double dd = -dot3(n, s->p + 3 * (size_t)f[0]);
        for (int k = 0; k < 3; k++) {
            quadric_add_plane(s->q + 10 * (size_t)f[k], n, dd, len / 2);
        }
    }

    /* vertices joining separate fans stay as they are; so do unused ones */
    uint32_t parent[256];
    for (uint32_t i = 0; i < nv; i++) {
        if (s->vf[i].n == 0) {
            s->state[i] = V_FROZEN;
        } else if (s->state[i] == V_FREE &&
                   !single_fan(s, i, &s->scratch_a, parent, sizeof parent / sizeof *parent)) {
            s->state[i] = V_FROZEN;
        }
        if (s->state[i] == V_FREE &&
            ((o->locked && o->locked[i]) || (o->lock_boundary && s->boundary[i]))) {
            s->state[i] = V_LOCKED;
        }
    }

    s->has_err = o->max_error >= 0 && isfinite(o->max_error);
    if (s->has_err) {
        s->max_err2 = o->max_error * o->max_error;
        uint32_t *f0 = cv_malloc(3 * (size_t)nf * sizeof *f0 + 1);
        s->supp = cv_calloc((size_t)nv + 1, sizeof(list));
        if (!f0 || !s->supp) {
            cv_free(f0);
            return nomem();
        }
        memcpy(f0, s->f, 3 * (size_t)nf * sizeof *f0);
        s->f0 = s->f0_copy = f0;
        s->rep = cv_calloc((size_t)nv + 1, sizeof(list));
        s->boundary0 = cv_malloc((size_t)nv + 1);
        if (!s->rep || !s->boundary0) {
            return nomem();
        }
        memcpy(s->boundary0, s->boundary, nv);
        for (uint32_t i = 0; i < nv; i++) {
            if (!list_push(&s->rep[i], i)) {
                return nomem();
            }
        }
        for (uint32_t i = 0; i < nv; i++) {
            list *l = &s->supp[i];
            l->n = l->cap = s->vf[i].n;
            l->v = cv_malloc((size_t)l->n * sizeof *l->v + 1);
            if (!l->v) {
                return nomem();
            }
            memcpy(l->v, s->vf[i].v, (size_t)l->n * sizeof *l->v); /* ascending */
        }
    }
    for (size_t i = 0; i < nh; i++) {
        if ((i == 0 || h[i].lo != h[i - 1].lo || h[i].hi != h[i - 1].hi) &&
            !push_edge(s, h[i].lo, h[i].hi)) {
            return nomem();
        }
    }
    return CV_OK;
}

void cv__mesh_lock_box(const cv_mesh *m, const float min[3], const float max[3], uint8_t *locked)
{
    for (uint32_t i = 0; i < m->n_vertices; i++) {
        const float *v = m->vertices + 3 * (size_t)i;
        for (int d = 0; d < 3; d++) {
            if (v[d] == min[d] || v[d] == max[d]) {
                locked[i] = 1;
            }
        }
    }
}

static cv_status run(simp *s, const cv_simplify_opts *o)
{
    while (s->hn > 0 && (o->target_faces == 0 || s->faces_alive > o->target_faces)) {
        entry e = heap_pop(s);
        if (!movable(s, e.a) || !movable(s, e.b) || s->stamp[e.a] != e.sa ||
            s->stamp[e.b] != e.sb) {
            continue;
        }
        int r = try_collapse(s, e.a, e.b);
        if (r < 0) {
            return nomem();
        }
        if (r == 0) {
            s->retry[e.a] = s->retry[e.b] = 1;
            continue;
        }
        uint32_t u = s->state[e.a] == V_DEAD ? e.b : e.a;
        if (!push_vertex_edges(s, u) || !neighbours(s, u, &s->scratch_a)) {
            return nomem();
        }
        /* a refused edge next to the change may be fine now */
        for (uint32_t i = 0; i < s->scratch_a.n; i++) {
            uint32_t x = s->scratch_a.v[i];
            if (s->retry[x]) {
                s->retry[x] = 0;
                if (!push_vertex_edges(s, x)) {
                    return nomem();
                }
            }
        }
    }
    return CV_OK;
}

cv_status cv__mesh_simplify(const cv_mesh *in, const cv_simplify_opts *o, cv_mesh **out,
                            uint32_t **kept)
{
    bool has_err = o->max_error >= 0 && isfinite(o->max_error);
    if (!has_err && o->target_faces == 0) {
        return CV_FAIL(CV_ERR_ARG, "mesh simplification: neither an error bound nor a target");
    }
    simp s;
    memset(&s, 0, sizeof s);
    cv_status rc = setup(&s, in, o);
    if (rc == CV_OK) {
        rc = run(&s, o);
    }
    uint32_t *map = NULL, *old = NULL;
    uint32_t nv = 0, nf = 0;
    if (rc == CV_OK) {
        map = cv_malloc((size_t)s.nv * sizeof *map + 1);
        old = cv_malloc((size_t)s.nv * sizeof *old + 1);
        rc = map && old ? CV_OK : nomem();
    }
    if (rc == CV_OK) {
        for (uint32_t i = 0; i < s.nv; i++) {
            map[i] = UINT32_MAX;
        }
        for (uint32_t i = 0; i < s.nf; i++) {
            if (!s.face_alive[i]) {
                continue;
            }
            nf++;
            for (int k = 0; k < 3; k++) {
                map[s.f[3 * (size_t)i + k]] = 0;
            }
        }
        for (uint32_t i = 0; i < s.nv; i++) {
            if (map[i] == 0) {
                old[nv] = i;
                map[i] = nv++;
            }
        }
        rc = cv_mesh_new(nv, nf, out);
    }
    if (rc == CV_OK) {
        (*out)->id = in->id;
        for (uint32_t i = 0; i < nv; i++) {
            memcpy((*out)->vertices + 3 * (size_t)i, s.out + 3 * (size_t)old[i], 12);
        }
        uint32_t j = 0;
        for (uint32_t i = 0; i < s.nf; i++) {
            if (s.face_alive[i]) {
                for (int k = 0; k < 3; k++) {
                    (*out)->faces[3 * (size_t)j + k] = map[s.f[3 * (size_t)i + k]];
                }
                j++;
            }
        }
    }
    simp_free(&s);
    cv_free(map);
    if (rc == CV_OK && kept) {
        *kept = old;
    } else {
        cv_free(old);
    }
    return rc;
}
