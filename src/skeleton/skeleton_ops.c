/* SPDX-License-Identifier: BSD-3-Clause
 * skeleton_ops.c: what osteoid (CloudVolume's skeleton class) does to skeletons: consolidate
 * (dedupe vertices by position, dedupe edges, drop loops and lone vertices), merge, crop to a
 * box, downsample along the paths between branch points and ends, and the equivalence check
 * (same skeleton under renumbering). Pure functions on cv_skeleton; no I/O, no MPI here. */
#include "base/cv_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- consolidate --------------------------------------------------------------------------- */

typedef struct vref {
    const float *v;
    uint32_t index;
} vref;

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

/* Position, then original index: the first vertex of a position comes first (np.unique's
 * return_index with a stable sort). */
static int cmp_vref(const void *pa, const void *pb)
{
    const vref *a = pa, *b = pb;
    int c = cmp_pos(a->v, b->v);
    if (c) {
        return c;
    }
    return a->index < b->index ? -1 : (a->index > b->index);
}

static int cmp_edge(const void *pa, const void *pb)
{
    const uint32_t *a = pa, *b = pb;
    if (a[0] != b[0]) {
        return a[0] < b[0] ? -1 : 1;
    }
    return a[1] < b[1] ? -1 : (a[1] > b[1]);
}

static size_t attr_stride(const cv_skel_attr *a)
{
    return a->components * cv_dtype_size(a->dtype);
}

cv_status cv_skeleton_consolidate(const cv_skeleton *s, cv_skeleton **out)
{
    uint32_t nv = s->n_vertices, ne = s->n_edges;
    vref *order = cv_malloc((size_t)nv * sizeof *order);
    uint32_t *rep = cv_malloc((size_t)nv * sizeof *rep);     /* vertex -> unique position */
    uint32_t *first = cv_malloc((size_t)nv * sizeof *first); /* unique position -> vertex */
    uint32_t *edges = cv_malloc((size_t)ne * 2 * sizeof *edges);
    uint32_t *newid = cv_malloc((size_t)nv * sizeof *newid);
    cv_status rc = CV_OK;
    if (!order || !rep || !first || !edges || !newid) {
        rc = CV_FAIL(CV_ERR_NOMEM, "consolidate skeleton %" PRIu64, s->id);
        goto done;
    }
    for (uint32_t i = 0; i < nv; i++) {
        order[i].v = s->vertices + 3 * (size_t)i;
        order[i].index = i;
    }
    qsort(order, nv, sizeof *order, cmp_vref);
    uint32_t n_unique = 0;
    for (uint32_t i = 0; i < nv; i++) {
        if (i == 0 || cmp_pos(order[i - 1].v, order[i].v) != 0) {
            first[n_unique++] = order[i].index;
        }
        rep[order[i].index] = n_unique - 1;
    }
    /* Edges between unique positions, each as (low, high), no loops, sorted, once. */
    size_t n_edges = 0;
    for (uint32_t i = 0; i < ne; i++) {
        uint32_t a = rep[s->edges[2 * i]], b = rep[s->edges[2 * i + 1]];
        if (a != b) {
            edges[2 * n_edges] = a < b ? a : b;
            edges[2 * n_edges + 1] = a < b ? b : a;
            n_edges++;
        }
    }
    qsort(edges, n_edges, 2 * sizeof *edges, cmp_edge);
    size_t kept = 0;
    for (size_t i = 0; i < n_edges; i++) {
        if (kept == 0 || cmp_edge(edges + 2 * i, edges + 2 * (kept - 1)) != 0) {
            edges[2 * kept] = edges[2 * i];
            edges[2 * kept + 1] = edges[2 * i + 1];
            kept++;
        }
    }
    /* Keep the positions an edge touches, in sorted order. */
    for (uint32_t u = 0; u < n_unique; u++) {
        newid[u] = UINT32_MAX;
    }
    for (size_t i = 0; i < 2 * kept; i++) {
        newid[edges[i]] = 0;
    }
    uint32_t n_out = 0;
    for (uint32_t u = 0; u < n_unique; u++) {
        if (newid[u] == 0) {
            newid[u] = n_out;
            first[n_out++] = first[u];
        }
    }
    cv_skeleton *r;
    rc = cv_skeleton_new(n_out, (uint32_t)kept, s->attrs, s->n_attrs, &r);
    if (rc != CV_OK) {
        goto done;
    }
    r->id = s->id;
    memcpy(r->transform, s->transform, sizeof r->transform);
    for (uint32_t i = 0; i < n_out; i++) {
        memcpy(r->vertices + 3 * (size_t)i, s->vertices + 3 * (size_t)first[i], 12);
        for (int k = 0; k < s->n_attrs; k++) {
            size_t st = attr_stride(&s->attrs[k]);
            memcpy(r->attrs[k].data + st * i, s->attrs[k].data + st * first[i], st);
        }
    }
    for (size_t i = 0; i < 2 * kept; i++) {
        r->edges[i] = newid[edges[i]];
    }
    *out = r;
done:
    cv_free(order);
    cv_free(rep);
    cv_free(first);
    cv_free(edges);
    cv_free(newid);
    return rc;
}

/* ---- merge ----------------------------------------------------------------------------------- */

static bool same_attrs(const cv_skeleton *a, const cv_skeleton *b)
{
    if (a->n_attrs != b->n_attrs) {
        return false;
    }
    for (int i = 0; i < a->n_attrs; i++) {
        if (strcmp(a->attrs[i].id, b->attrs[i].id) != 0 || a->attrs[i].dtype != b->attrs[i].dtype ||
            a->attrs[i].components != b->attrs[i].components) {
            return false;
        }
    }
    return true;
}

/* Concatenate without consolidating (osteoid's simple_merge). */
static cv_status concat(const cv_skeleton *const *list, int n, cv_skeleton **out)
{
    uint64_t nv = 0, ne = 0;
    for (int i = 0; i < n; i++) {
        if (!same_attrs(list[0], list[i])) {
            return CV_FAIL(CV_ERR_ARG,
                           "merge skeletons %" PRIu64 " and %" PRIu64
                           ": their vertex attributes differ",
                           list[0]->id, list[i]->id);
        }
        nv += list[i]->n_vertices;
        ne += list[i]->n_edges;
    }
    if (nv > UINT32_MAX || ne > UINT32_MAX) {
        return CV_FAIL(CV_ERR_ARG, "merge skeletons: more than 2^32 vertices or edges");
    }
    cv_skeleton *r;
    CV_TRY(cv_skeleton_new((uint32_t)nv, (uint32_t)ne, list[0]->attrs, list[0]->n_attrs, &r));
    r->id = list[0]->id;
    memcpy(r->transform, list[0]->transform, sizeof r->transform);
    size_t v0 = 0, e0 = 0;
    for (int i = 0; i < n; i++) {
        const cv_skeleton *s = list[i];
        memcpy(r->vertices + 3 * v0, s->vertices, 12 * (size_t)s->n_vertices);
        for (size_t e = 0; e < 2 * (size_t)s->n_edges; e++) {
            r->edges[2 * e0 + e] = s->edges[e] + (uint32_t)v0;
        }
        for (int k = 0; k < s->n_attrs; k++) {
            size_t st = attr_stride(&s->attrs[k]);
            memcpy(r->attrs[k].data + st * v0, s->attrs[k].data, st * s->n_vertices);
        }
        v0 += s->n_vertices;
        e0 += s->n_edges;
    }
    *out = r;
    return CV_OK;
}

cv_status cv_skeleton_merge(const cv_skeleton *const *list, int n, cv_skeleton **out)
{
    if (n < 1) {
        return CV_FAIL(CV_ERR_ARG, "merge skeletons: empty list");
    }
    cv_skeleton *all = NULL;
    CV_TRY(concat(list, n, &all));
    cv_status rc = cv_skeleton_consolidate(all, out);
    cv_skeleton_free(all);
    return rc;
}

/* ---- crop ------------------------------------------------------------------------------------ */

cv_status cv_skeleton_crop(const cv_skeleton *s, const double min[3], const double max[3],
                           cv_skeleton **out)
{
    cv_skeleton *c;
    CV_TRY(cv_skeleton_clone(s, &c));
    size_t kept = 0;
    for (size_t i = 0; i < s->n_edges; i++) {
        bool inside = true;
        for (int end = 0; end < 2; end++) {
            const float *v = s->vertices + 3 * (size_t)s->edges[2 * i + end];
            for (int d = 0; d < 3; d++) {
                inside = inside && min[d] <= v[d] && v[d] <= max[d];
            }
        }
        if (inside) {
            c->edges[2 * kept] = s->edges[2 * i];
            c->edges[2 * kept + 1] = s->edges[2 * i + 1];
            kept++;
        }
    }
    c->n_edges = (uint32_t)kept;
    cv_status rc = cv_skeleton_consolidate(c, out);
    cv_skeleton_free(c);
    return rc;
}

/* ---- downsample ------------------------------------------------------------------------------ */

typedef struct graph {
    uint32_t *start; /* CSR: neighbours of v are adj[start[v] .. start[v+1]) */
    uint32_t *adj;
    uint32_t *edge; /* edge number of each adjacency entry */
} graph;

static void graph_free(graph *g)
{
    cv_free(g->start);
    cv_free(g->adj);
    cv_free(g->edge);
}

static cv_status graph_build(const cv_skeleton *s, graph *g)
{
    uint32_t nv = s->n_vertices;
    g->start = cv_calloc((size_t)nv + 1, sizeof *g->start);
    g->adj = cv_malloc(2 * (size_t)s->n_edges * sizeof *g->adj);
    g->edge = cv_malloc(2 * (size_t)s->n_edges * sizeof *g->edge);
    uint32_t *fill = cv_calloc((size_t)nv + 1, sizeof *fill);
    if (!g->start || !g->adj || !g->edge || !fill) {
        cv_free(fill);
        graph_free(g);
        return CV_FAIL(CV_ERR_NOMEM, "skeleton %" PRIu64 " graph", s->id);
    }
    for (size_t i = 0; i < 2 * (size_t)s->n_edges; i++) {
        g->start[s->edges[i] + 1]++;
    }
    for (uint32_t v = 0; v < nv; v++) {
        g->start[v + 1] += g->start[v];
    }
    /* Edges in order, so each vertex's neighbours come in edge-list order. */
    for (uint32_t e = 0; e < s->n_edges; e++) {
        for (int end = 0; end < 2; end++) {
            uint32_t v = s->edges[2 * e + end], w = s->edges[2 * e + 1 - end];
            uint32_t at = g->start[v] + fill[v]++;
            g->adj[at] = w;
            g->edge[at] = e;
        }
    }
    cv_free(fill);
    return CV_OK;
}

cv_status cv_skeleton_downsample(const cv_skeleton *s, int factor, cv_skeleton **out)
{
    if (factor < 1) {
        return CV_FAIL(CV_ERR_ARG, "downsample skeleton: factor %d (must be >= 1)", factor);
    }
    if (factor == 1) {
        return cv_skeleton_clone(s, out);
    }
    cv_skeleton *c;
    CV_TRY(cv_skeleton_consolidate(s, &c));
    uint32_t nv = c->n_vertices, ne = c->n_edges;
    graph g = {0};
    cv_status rc = graph_build(c, &g);
    if (rc != CV_OK) {
        cv_skeleton_free(c);
        return rc;
    }
    /* Walk every edge once, as chains between critical vertices (degree != 2). The kept
     * vertices of each chain go to `keep` (path order); chain breaks are marked in `cut`. */
    bool *used = cv_calloc((size_t)ne + 1, sizeof *used);
    bool *seen = cv_calloc((size_t)nv + 1, sizeof *seen);
    uint32_t *stack = cv_malloc(((size_t)nv + 1) * sizeof *stack);
    uint32_t *path = cv_malloc(((size_t)ne + 2) * sizeof *path);
    uint32_t *keep = cv_malloc((2 * (size_t)ne + 2) * sizeof *keep);
    bool *cut = cv_calloc(2 * (size_t)ne + 2, sizeof *cut);
    size_t n_keep = 0;
    if (!used || !seen || !stack || !path || !keep || !cut) {
        rc = CV_FAIL(CV_ERR_NOMEM, "downsample skeleton %" PRIu64, s->id);
        goto done;
    }
#define DEGREE(v) (g.start[(v) + 1] - g.start[v])
    for (int pass = 0; pass < 2; pass++) {
        /* Components start at their lowest end vertex; pure cycles at their lowest vertex. */
        for (uint32_t root = 0; root < nv; root++) {
            if (seen[root] || (pass == 0 && DEGREE(root) != 1)) {
                continue;
            }
            size_t top = 0;
            stack[top++] = root;
            seen[root] = true;
            while (top) {
                uint32_t v = stack[--top];
                for (uint32_t k = g.start[v]; k < g.start[v + 1]; k++) {
                    if (used[g.edge[k]]) {
                        continue;
                    }
                    size_t len = 0;
                    path[len++] = v;
                    uint32_t prev_edge = g.edge[k], w = g.adj[k];
                    used[prev_edge] = true;
                    path[len++] = w;
                    while (DEGREE(w) == 2 && w != v) {
                        uint32_t k0 = g.start[w];
                        uint32_t next = g.edge[k0] == prev_edge ? k0 + 1 : k0;
                        if (used[g.edge[next]]) {
                            break;
                        }
                        prev_edge = g.edge[next];
                        used[prev_edge] = true;
                        w = g.adj[next];
                        path[len++] = w;
                    }
                    for (size_t i = 0; i < len; i += (size_t)factor) {
                        keep[n_keep++] = path[i];
                    }
                    if ((len - 1) % (size_t)factor != 0) {
                        keep[n_keep++] = path[len - 1];
                    }
                    cut[n_keep] = true;
                    if (!seen[w]) {
                        seen[w] = true;
                        stack[top++] = w;
                    }
                }
            }
        }
    }
#undef DEGREE
    {
        /* The kept chains as a skeleton (consecutive kept vertices joined), consolidated. */
        size_t n_new_edges = 0;
        for (size_t i = 1; i < n_keep; i++) {
            n_new_edges += !cut[i];
        }
        cv_skeleton *d;
        rc = cv_skeleton_new((uint32_t)n_keep, (uint32_t)n_new_edges, c->attrs, c->n_attrs, &d);
        if (rc != CV_OK) {
            goto done;
        }
        d->id = c->id;
        memcpy(d->transform, c->transform, sizeof d->transform);
        size_t e = 0;
        for (size_t i = 0; i < n_keep; i++) {
            memcpy(d->vertices + 3 * i, c->vertices + 3 * (size_t)keep[i], 12);
            for (int k = 0; k < c->n_attrs; k++) {
                size_t st = attr_stride(&c->attrs[k]);
                memcpy(d->attrs[k].data + st * i, c->attrs[k].data + st * keep[i], st);
            }
            if (i > 0 && !cut[i]) {
                d->edges[2 * e] = (uint32_t)i - 1;
                d->edges[2 * e + 1] = (uint32_t)i;
                e++;
            }
        }
        rc = cv_skeleton_consolidate(d, out);
        cv_skeleton_free(d);
    }
done:
    cv_free(used);
    cv_free(seen);
    cv_free(stack);
    cv_free(path);
    cv_free(keep);
    cv_free(cut);
    graph_free(&g);
    cv_skeleton_free(c);
    return rc;
}

/* ---- equivalence ----------------------------------------------------------------------------- */

typedef struct vrec {
    const cv_skeleton *s;
    uint32_t index;
} vrec;

static int cmp_vrec(const void *pa, const void *pb)
{
    const vrec *a = pa, *b = pb;
    int c = cmp_pos(a->s->vertices + 3 * (size_t)a->index, b->s->vertices + 3 * (size_t)b->index);
    if (c) {
        return c;
    }
    for (int k = 0; k < a->s->n_attrs; k++) {
        size_t st = attr_stride(&a->s->attrs[k]);
        c = memcmp(a->s->attrs[k].data + st * a->index, b->s->attrs[k].data + st * b->index, st);
        if (c) {
            return c;
        }
    }
    return 0;
}

/* An edge as the positions of its ends, smaller position first. */
typedef struct epos {
    float p[6];
} epos;

static int cmp_epos(const void *pa, const void *pb)
{
    const epos *a = pa, *b = pb;
    int c = cmp_pos(a->p, b->p);
    return c ? c : cmp_pos(a->p + 3, b->p + 3);
}

static epos *edge_positions(const cv_skeleton *s)
{
    epos *e = cv_malloc(((size_t)s->n_edges + 1) * sizeof *e);
    if (!e) {
        return NULL;
    }
    for (size_t i = 0; i < s->n_edges; i++) {
        const float *a = s->vertices + 3 * (size_t)s->edges[2 * i];
        const float *b = s->vertices + 3 * (size_t)s->edges[2 * i + 1];
        if (cmp_pos(a, b) > 0) {
            const float *t = a;
            a = b;
            b = t;
        }
        memcpy(e[i].p, a, 12);
        memcpy(e[i].p + 3, b, 12);
    }
    qsort(e, s->n_edges, sizeof *e, cmp_epos);
    return e;
}

bool cv_skeleton_equivalent(const cv_skeleton *a, const cv_skeleton *b)
{
    if (a->n_vertices != b->n_vertices || a->n_edges != b->n_edges || !same_attrs(a, b)) {
        return false;
    }
    size_t nv = a->n_vertices;
    vrec *va = cv_malloc((nv + 1) * sizeof *va), *vb = cv_malloc((nv + 1) * sizeof *vb);
    epos *ea = edge_positions(a), *eb = edge_positions(b);
    bool same = va && vb && ea && eb;
    if (same) {
        for (uint32_t i = 0; i < nv; i++) {
            va[i] = (vrec){a, i};
            vb[i] = (vrec){b, i};
        }
        qsort(va, nv, sizeof *va, cmp_vrec);
        qsort(vb, nv, sizeof *vb, cmp_vrec);
        for (size_t i = 0; same && i < nv; i++) {
            same = cmp_vrec(&va[i], &vb[i]) == 0;
        }
        for (size_t i = 0; same && i < a->n_edges; i++) {
            same = cmp_epos(&ea[i], &eb[i]) == 0;
        }
    }
    cv_free(va);
    cv_free(vb);
    cv_free(ea);
    cv_free(eb);
    return same;
}
