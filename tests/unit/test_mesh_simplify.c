/* SPDX-License-Identifier: BSD-3-Clause
 * test_mesh_simplify.c: quadric edge collapse (mesh/mesh_simplify.c): a flat plane collapses
 * to few triangles with its outline intact, a sphere keeps every vertex within the error of
 * the input surface and stays a closed oriented manifold, locked vertices survive bit for
 * bit, and the result is the same every time. */
#include "mesh/mesh.h"
#include "mesh_shapes.h"
#include "testlib.h"

#include <math.h>

static double dist2_tri(const double p[3], const double a[3], const double b[3], const double c[3])
{
    /* brute force over a fine barycentric grid would be slow; use the projection method:
     * closest point on the plane if inside, else the closest point on the three edges */
    double ab[3], ac[3], n[3], ap[3];
    for (int d = 0; d < 3; d++) {
        ab[d] = b[d] - a[d];
        ac[d] = c[d] - a[d];
        ap[d] = p[d] - a[d];
    }
    n[0] = ab[1] * ac[2] - ab[2] * ac[1];
    n[1] = ab[2] * ac[0] - ab[0] * ac[2];
    n[2] = ab[0] * ac[1] - ab[1] * ac[0];
    double nn = n[0] * n[0] + n[1] * n[1] + n[2] * n[2];
    double best = INFINITY;
    if (nn > 0) {
        double t = (ap[0] * n[0] + ap[1] * n[1] + ap[2] * n[2]) / nn;
        double q[3] = {p[0] - t * n[0], p[1] - t * n[1], p[2] - t * n[2]};
        /* barycentric test */
        const double *vs[3] = {a, b, c};
        bool inside = true;
        for (int k = 0; k < 3; k++) {
            const double *x = vs[k], *y = vs[(k + 1) % 3];
            double e[3] = {y[0] - x[0], y[1] - x[1], y[2] - x[2]};
            double w[3] = {q[0] - x[0], q[1] - x[1], q[2] - x[2]};
            double cr[3] = {e[1] * w[2] - e[2] * w[1], e[2] * w[0] - e[0] * w[2],
                            e[0] * w[1] - e[1] * w[0]};
            if (cr[0] * n[0] + cr[1] * n[1] + cr[2] * n[2] < 0) {
                inside = false;
            }
        }
        if (inside) {
            return t * t * nn;
        }
    }
    const double *vs[3] = {a, b, c};
    for (int k = 0; k < 3; k++) {
        const double *x = vs[k], *y = vs[(k + 1) % 3];
        double e[3] = {y[0] - x[0], y[1] - x[1], y[2] - x[2]};
        double w[3] = {p[0] - x[0], p[1] - x[1], p[2] - x[2]};
        double ee = e[0] * e[0] + e[1] * e[1] + e[2] * e[2];
        double t = ee > 0 ? (w[0] * e[0] + w[1] * e[1] + w[2] * e[2]) / ee : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        double r[3] = {w[0] - t * e[0], w[1] - t * e[1], w[2] - t * e[2]};
        double d2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
        best = d2 < best ? d2 : best;
    }
    return best;
}

/* Largest distance of a vertex of `m` from the triangles of `ref`. */
static double max_distance(const cv_mesh *m, const cv_mesh *ref)
{
    double worst = 0;
    for (uint32_t i = 0; i < m->n_vertices; i++) {
        double p[3], best = INFINITY;
        for (int d = 0; d < 3; d++) {
            p[d] = m->vertices[3 * i + d];
        }
        for (uint32_t f = 0; f < ref->n_faces; f++) {
            double t[3][3];
            for (int k = 0; k < 3; k++) {
                for (int d = 0; d < 3; d++) {
                    t[k][d] = ref->vertices[3 * ref->faces[3 * f + k] + d];
                }
            }
            double d2 = dist2_tri(p, t[0], t[1], t[2]);
            best = d2 < best ? d2 : best;
        }
        worst = sqrt(best) > worst ? sqrt(best) : worst;
    }
    return worst;
}

typedef struct edge_count {
    uint32_t boundary, interior, other, directed_repeats;
} edge_count;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Undirected edges by number of triangles, and directed edges seen twice (a flipped face). */
static edge_count count_edges(const cv_mesh *m)
{
    edge_count c = {0, 0, 0, 0};
    size_t n = 3 * (size_t)m->n_faces;
    uint64_t *u = malloc(n * sizeof *u + 8), *dir = malloc(n * sizeof *dir + 8);
    for (uint32_t i = 0; i < m->n_faces; i++) {
        for (int k = 0; k < 3; k++) {
            uint64_t a = m->faces[3 * i + k], b = m->faces[3 * i + (k + 1) % 3];
            u[3 * i + k] = a < b ? a << 32 | b : b << 32 | a;
            dir[3 * i + k] = a << 32 | b;
        }
    }
    qsort(u, n, sizeof *u, cmp_u64);
    qsort(dir, n, sizeof *dir, cmp_u64);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && u[j] == u[i]) {
            j++;
        }
        *(j - i == 1 ? &c.boundary : j - i == 2 ? &c.interior : &c.other) += 1;
        i = j;
    }
    for (size_t i = 1; i < n; i++) {
        c.directed_repeats += dir[i] == dir[i - 1];
    }
    free(u);
    free(dir);
    return c;
}

static double area(const cv_mesh *m)
{
    double total = 0;
    for (uint32_t i = 0; i < m->n_faces; i++) {
        const float *a = m->vertices + 3 * m->faces[3 * i],
                    *b = m->vertices + 3 * m->faces[3 * i + 1],
                    *c = m->vertices + 3 * m->faces[3 * i + 2];
        double e0[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        double e1[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        double n[3] = {e0[1] * e1[2] - e0[2] * e1[1], e0[2] * e1[0] - e0[0] * e1[2],
                       e0[0] * e1[1] - e0[1] * e1[0]};
        total += n[2] >= 0 ? sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]) / 2
                           : -sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]) / 2;
    }
    return total;
}

static void plane_collapses(void)
{
    cv_mesh *m = plane(24, 4.0f, 100.0f), *out = NULL;
    ASSERT_TRUE(m);
    cv_simplify_opts o = {.max_error = 0.01};
    ASSERT_OK(cv__mesh_simplify(m, &o, &out, NULL));
    printf("  plane: %u triangles, %u vertices -> %u triangles, %u vertices\n", m->n_faces,
           m->n_vertices, out->n_faces, out->n_vertices);
    ASSERT_EQ(out->n_faces, 2);
    ASSERT_EQ(out->n_vertices, 4);
    /* still the same square: every vertex a corner, area (24*4)^2 facing +z */
    for (uint32_t i = 0; i < out->n_vertices; i++) {
        const float *v = out->vertices + 3 * i;
        ASSERT_TRUE((v[0] == 0 || v[0] == 96) && (v[1] == 0 || v[1] == 96) && v[2] == 100);
    }
    ASSERT_DBL_EQ(area(out), 96.0 * 96.0);
    edge_count c = count_edges(out);
    ASSERT_EQ(c.boundary, 4);
    ASSERT_EQ(c.other, 0);
    cv_mesh_free(m);
    cv_mesh_free(out);
}

/* The outline of a plane with its boundary locked is kept vertex for vertex. */
static void plane_locked_boundary(void)
{
    cv_mesh *m = plane(16, 2.0f, -7.5f), *out = NULL;
    ASSERT_TRUE(m);
    cv_simplify_opts o = {.max_error = 0.01, .lock_boundary = true};
    uint32_t *kept = NULL;
    ASSERT_OK(cv__mesh_simplify(m, &o, &out, &kept));
    printf("  locked outline: %u -> %u triangles\n", m->n_faces, out->n_faces);
    /* the 64 outline vertices and one centre: without it the collinear outline vertices
     * would need flat (zero-area) triangles, which are refused */
    ASSERT_EQ(out->n_vertices, 65);
    ASSERT_EQ(out->n_faces, 64);
    ASSERT_DBL_EQ(area(out), 32.0 * 32.0);
    edge_count c = count_edges(out);
    ASSERT_EQ(c.boundary, 64);
    ASSERT_EQ(c.other, 0);
    ASSERT_EQ(c.directed_repeats, 0);
    uint32_t outline = 0;
    for (uint32_t i = 0; i < out->n_vertices; i++) {
        const float *v = m->vertices + 3 * (size_t)kept[i];
        if (v[0] == 0 || v[0] == 32 || v[1] == 0 || v[1] == 32) {
            outline++;
            ASSERT_MEM_EQ(out->vertices + 3 * i, v, 12);
        }
    }
    ASSERT_EQ(outline, 64);
    cv_free(kept);
    cv_mesh_free(m);
    cv_mesh_free(out);
}

static void sphere_within_error(void)
{
    const double c[3] = {40000.5, 12000.25, 88000};
    cv_mesh *m = sphere(4, 1000, c), *out = NULL;
    ASSERT_TRUE(m);
    const double E = 8;
    cv_simplify_opts o = {.max_error = E};
    ASSERT_OK(cv__mesh_simplify(m, &o, &out, NULL));
    double worst = max_distance(out, m);
    printf("  sphere: %u -> %u triangles, %u vertices, farthest vertex %.4f nm (bound %.1f)\n",
           m->n_faces, out->n_faces, out->n_vertices, worst, E);
    ASSERT_TRUE(worst <= E);
    ASSERT_EQ(out->n_faces, 558);
    ASSERT_EQ(out->n_vertices, 281);
    /* a closed oriented manifold, genus 0, every triangle facing out */
    edge_count ec = count_edges(out);
    ASSERT_EQ(ec.boundary, 0);
    ASSERT_EQ(ec.other, 0);
    ASSERT_EQ(ec.directed_repeats, 0);
    ASSERT_EQ((int64_t)out->n_vertices - ec.interior + out->n_faces, 2);
    for (uint32_t i = 0; i < out->n_faces; i++) {
        const float *a = out->vertices + 3 * out->faces[3 * i],
                    *b = out->vertices + 3 * out->faces[3 * i + 1],
                    *cc = out->vertices + 3 * out->faces[3 * i + 2];
        double e0[3], e1[3], mid[3];
        for (int d = 0; d < 3; d++) {
            e0[d] = (double)b[d] - a[d];
            e1[d] = (double)cc[d] - a[d];
            mid[d] = ((double)a[d] + b[d] + cc[d]) / 3 - c[d];
        }
        double n[3] = {e0[1] * e1[2] - e0[2] * e1[1], e0[2] * e1[0] - e0[0] * e1[2],
                       e0[0] * e1[1] - e0[1] * e1[0]};
        ASSERT_TRUE(n[0] * mid[0] + n[1] * mid[1] + n[2] * mid[2] > 0);
    }
    cv_mesh_free(m);
    cv_mesh_free(out);
}

/* A face count target with no error bound (the coarser levels of detail). */
static void sphere_to_target(void)
{
    const double c[3] = {0, 0, 0};
    cv_mesh *m = sphere(3, 500, c), *out = NULL;
    ASSERT_TRUE(m);
    cv_simplify_opts o = {.max_error = -1, .target_faces = 100};
    ASSERT_OK(cv__mesh_simplify(m, &o, &out, NULL));
    printf("  target: %u -> %u triangles\n", m->n_faces, out->n_faces);
    ASSERT_EQ(out->n_faces, 100);
    edge_count ec = count_edges(out);
    ASSERT_EQ(ec.boundary, 0);
    ASSERT_EQ(ec.other, 0);
    ASSERT_EQ(ec.directed_repeats, 0);
    cv_mesh_free(m);
    cv_mesh_free(out);
}

/* Locked vertices (here: every vertex with x >= the centre, as on a tile border) come out
 * bit for bit, and all of them are still there. */
static void locked_unchanged(void)
{
    const double c[3] = {1e6, 2e6, 3e6};
    cv_mesh *m = sphere(4, 2000, c), *out = NULL;
    ASSERT_TRUE(m);
    uint8_t *locked = calloc(m->n_vertices, 1);
    uint32_t n_locked = 0;
    for (uint32_t i = 0; i < m->n_vertices; i++) {
        locked[i] = m->vertices[3 * i] >= 1e6f;
        n_locked += locked[i];
    }
    cv_simplify_opts o = {.max_error = 20, .locked = locked};
    uint32_t *kept = NULL;
    ASSERT_OK(cv__mesh_simplify(m, &o, &out, &kept));
    printf("  locked: %u of %u vertices locked; %u -> %u triangles\n", n_locked, m->n_vertices,
           m->n_faces, out->n_faces);
    uint32_t seen = 0;
    for (uint32_t i = 0; i < out->n_vertices; i++) {
        if (locked[kept[i]]) {
            seen++;
            ASSERT_MEM_EQ(out->vertices + 3 * i, m->vertices + 3 * (size_t)kept[i], 12);
        }
    }
    ASSERT_EQ(seen, n_locked);
    ASSERT_TRUE(out->n_faces < m->n_faces * 3 / 4);
    free(locked);
    cv_free(kept);
    cv_mesh_free(m);
    cv_mesh_free(out);
}

static void deterministic(void)
{
    const double c[3] = {123.5, -77, 4096};
    cv_mesh *m = sphere(4, 750, c), *a = NULL, *b = NULL;
    ASSERT_TRUE(m);
    cv_simplify_opts o = {.max_error = 3, .target_faces = 900};
    ASSERT_OK(cv__mesh_simplify(m, &o, &a, NULL));
    ASSERT_OK(cv__mesh_simplify(m, &o, &b, NULL));
    ASSERT_EQ(a->n_vertices, b->n_vertices);
    ASSERT_EQ(a->n_faces, b->n_faces);
    ASSERT_MEM_EQ(a->vertices, b->vertices, 12 * (size_t)a->n_vertices);
    ASSERT_MEM_EQ(a->faces, b->faces, 12 * (size_t)a->n_faces);
    cv_mesh_free(m);
    cv_mesh_free(a);
    cv_mesh_free(b);
}

static void lock_box(void)
{
    cv_mesh *m = plane(4, 1.0f, 2.0f);
    ASSERT_TRUE(m);
    uint8_t locked[25] = {0};
    const float lo[3] = {0, 0, -10}, hi[3] = {4, 3, 10};
    cv__mesh_lock_box(m, lo, hi, locked);
    uint32_t n = 0;
    for (int i = 0; i < 25; i++) {
        n += locked[i];
    }
    ASSERT_EQ(n, 16); /* x = 0 (5), x = 4 (5), y = 0 (3 more), y = 3 (3 more), y = 4 none */
    cv_mesh_free(m);
}

static void refuses(void)
{
    cv_mesh *m = plane(2, 1.0f, 0.0f), *out = NULL;
    ASSERT_TRUE(m);
    cv_simplify_opts none = {.max_error = -1};
    ASSERT_FAILS(cv__mesh_simplify(m, &none, &out, NULL), CV_ERR_ARG,
                 "neither an error bound nor a target");
    m->faces[4] = 9;
    cv_simplify_opts o = {.max_error = 1};
    ASSERT_FAILS(cv__mesh_simplify(m, &o, &out, NULL), CV_ERR_ARG,
                 "triangle 1 names a vertex past 9");
    m->faces[4] = 1;
    m->vertices[5] = NAN;
    ASSERT_FAILS(cv__mesh_simplify(m, &o, &out, NULL), CV_ERR_ARG, "vertex 1 is not finite");
    cv_mesh_free(m);
    /* an empty mesh simplifies to an empty mesh */
    cv_mesh *e;
    ASSERT_OK(cv_mesh_new(0, 0, &e));
    ASSERT_OK(cv__mesh_simplify(e, &o, &out, NULL));
    ASSERT_EQ(out->n_vertices, 0);
    ASSERT_EQ(out->n_faces, 0);
    cv_mesh_free(e);
    cv_mesh_free(out);
}

TEST_MAIN(plane_collapses, plane_locked_boundary, sphere_within_error, sphere_to_target,
          locked_unchanged, deterministic, lock_box, refuses)
