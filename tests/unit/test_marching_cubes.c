/* SPDX-License-Identifier: BSD-3-Clause
 * test_marching_cubes.c: the generated triangle table (every case closed and facing out), the
 * exact volume and area of a one-voxel octahedron and of a 4x4x4 block (n^3 - 1.5(n-1) - 5/6
 * and 6(n-1)^2 + 12(n-1)/sqrt(2) + sqrt(3) voxel units), random labels in a zero border
 * closed with every edge in two triangles walked both ways, a label meshed in two pieces
 * (split at a plane) giving the very same keys as meshed whole, and vertex placement in nm. */
#include "testlib.h"

#include "mesh/marching_cubes.h"

#include <math.h>

typedef struct edge_pair {
    uint64_t a, b;
} edge_pair;

static int by_pair(const void *x, const void *y)
{
    const edge_pair *p = x, *q = y;
    if (p->a != q->a) {
        return p->a < q->a ? -1 : 1;
    }
    return p->b < q->b ? -1 : p->b > q->b;
}

/* Every directed edge once and its reverse once: closed, two triangles an edge, one way. */
static bool closed_oriented(const uint64_t *keys, size_t n_tris)
{
    size_t n = 3 * n_tris;
    edge_pair *e = malloc(n * sizeof *e + 1);
    for (size_t t = 0; t < n_tris; t++) {
        for (int k = 0; k < 3; k++) {
            e[3 * t + (size_t)k] =
                (edge_pair){keys[3 * t + (size_t)k], keys[3 * t + (size_t)(k + 1) % 3]};
        }
    }
    qsort(e, n, sizeof *e, by_pair);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        ok = !(i > 0 && e[i].a == e[i - 1].a && e[i].b == e[i - 1].b);
        edge_pair rev = {e[i].b, e[i].a};
        ok = ok && bsearch(&rev, e, n, sizeof *e, by_pair) != NULL;
    }
    free(e);
    return ok;
}

static int by_point(const void *x, const void *y)
{
    const float *p = x, *q = y;
    for (int d = 0; d < 3; d++) {
        if (p[d] != q[d]) {
            return p[d] < q[d] ? -1 : 1;
        }
    }
    return 0;
}

static void volume_area(const cv_mesh *m, double *vol, double *area)
{
    *vol = *area = 0;
    for (uint32_t t = 0; t < m->n_faces; t++) {
        const float *p = m->vertices + 3 * m->faces[3 * t];
        const float *q = m->vertices + 3 * m->faces[3 * t + 1];
        const float *r = m->vertices + 3 * m->faces[3 * t + 2];
        *vol += (p[0] * (q[1] * r[2] - q[2] * r[1]) - p[1] * (q[0] * r[2] - q[2] * r[0]) +
                 p[2] * (q[0] * r[1] - q[1] * r[0])) /
                6.0;
        double a[3] = {q[0] - p[0], q[1] - p[1], q[2] - p[2]};
        double b[3] = {r[0] - p[0], r[1] - p[1], r[2] - p[2]};
        double c[3] = {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                       a[0] * b[1] - a[1] * b[0]};
        *area += sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]) / 2;
    }
}

static void table_cases(void)
{
    int8_t tri[16][3][3];
    int n;
    cv_mc_case(0, &n, tri);
    ASSERT_EQ(n, 0);
    cv_mc_case(255, &n, tri);
    ASSERT_EQ(n, 0);
    /* Corner 0 alone: one triangle through the midpoints of its three edges. */
    cv_mc_case(1, &n, tri);
    ASSERT_EQ(n, 1);
    /* Each case alone in a 4x4x4 zero block is a closed surface. */
    for (unsigned m = 1; m < 256; m++) {
        uint64_t v[64] = {0};
        for (int i = 0; i < 8; i++) {
            v[(1 + (i & 1)) + 4 * (1 + (i >> 1 & 1)) + 16 * (1 + (i >> 2 & 1))] = m >> i & 1;
        }
        cv_mc_soup s;
        cv_mc_soup_init(&s);
        ASSERT_OK(cv_mc_run(v, (int64_t[3]){4, 4, 4}, (int64_t[3]){0, 0, 0}, &s));
        ASSERT_EQ(s.n, 1);
        if (!closed_oriented(s.labels[0].keys, s.labels[0].n_tris)) {
            cv_mc_soup_fini(&s);
            TL_FAIL_HERE("case %u is not closed", m);
        }
        cv_mc_soup_fini(&s);
    }
}

static cv_mesh *mesh_of(const uint64_t *v, int64_t n, uint64_t label)
{
    cv_mc_soup s;
    cv_mc_soup_init(&s);
    cv_mesh *m = NULL;
    if (cv_mc_run(v, (int64_t[3]){n, n, n}, (int64_t[3]){0, 0, 0}, &s) == CV_OK) {
        const cv_mc_label *l = cv_mc_soup_find(&s, label);
        if (l && closed_oriented(l->keys, l->n_tris)) {
            cv_mc_label_mesh(l, (int64_t[3]){0, 0, 0}, (double[3]){1, 1, 1}, &m);
        }
    }
    cv_mc_soup_fini(&s);
    return m;
}

static void exact_shapes(void)
{
    uint64_t v[216] = {0};
    v[2 + 6 * 2 + 36 * 2] = 5;
    cv_mesh *m = mesh_of(v, 6, 5);
    ASSERT_TRUE(m != NULL);
    double vol, area;
    volume_area(m, &vol, &area);
    cv_mesh_free(m);
    ASSERT_TRUE(fabs(vol - 1.0 / 6) < 1e-9);
    ASSERT_TRUE(fabs(area - sqrt(3)) < 1e-6);
    /* A 4x4x4 block of label 9. */
    uint64_t b[512] = {0};
    for (int z = 2; z < 6; z++) {
        for (int y = 2; y < 6; y++) {
            for (int x = 2; x < 6; x++) {
                b[x + 8 * y + 64 * z] = 9;
            }
        }
    }
    m = mesh_of(b, 8, 9);
    ASSERT_TRUE(m != NULL);
    volume_area(m, &vol, &area);
    /* one vertex where each outer voxel face of the block was */
    ASSERT_EQ(m->n_vertices, 6 * 16);
    cv_mesh_free(m);
    ASSERT_TRUE(fabs(vol - (64 - 1.5 * 3 - 5.0 / 6)) < 1e-9);
    ASSERT_TRUE(fabs(area - (6 * 9 + 12 * 3 / sqrt(2) + sqrt(3))) < 1e-6);
}

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t xorshift(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void random_labels_closed(void)
{
    enum { N = 14 };
    uint64_t *v = calloc(N * N * N, sizeof *v);
    for (int z = 1; z < N - 1; z++) {
        for (int y = 1; y < N - 1; y++) {
            for (int x = 1; x < N - 1; x++) {
                uint64_t r = xorshift() % 10;
                v[x + N * y + N * N * z] = r < 4 ? 0 : r < 7 ? 3 : r < 9 ? UINT64_MAX : 7;
            }
        }
    }
    cv_mc_soup s;
    cv_mc_soup_init(&s);
    ASSERT_OK(cv_mc_run(v, (int64_t[3]){N, N, N}, (int64_t[3]){0, 0, 0}, &s));
    ASSERT_EQ(s.n, 3);
    for (size_t i = 0; i < s.n; i++) {
        if (!closed_oriented(s.labels[i].keys, s.labels[i].n_tris)) {
            cv_mc_soup_fini(&s);
            free(v);
            TL_FAIL_HERE("label %zu not closed", i);
        }
    }
    /* The same volume in two pieces sharing the plane z = 6: the same triangles. */
    cv_mc_soup a;
    cv_mc_soup_init(&a);
    ASSERT_OK(cv_mc_run(v, (int64_t[3]){N, N, 7}, (int64_t[3]){0, 0, 0}, &a));
    ASSERT_OK(cv_mc_run(v + 6 * N * N, (int64_t[3]){N, N, N - 6}, (int64_t[3]){0, 0, 6}, &a));
    for (size_t i = 0; i < s.n; i++) {
        const cv_mc_label *whole = &s.labels[i], *parts = cv_mc_soup_find(&a, whole->label);
        ASSERT_TRUE(parts != NULL);
        ASSERT_EQ(parts->n_tris, whole->n_tris);
        ASSERT_TRUE(closed_oriented(parts->keys, parts->n_tris));
        cv_mesh *m1, *m2;
        ASSERT_OK(cv_mc_label_mesh(whole, (int64_t[3]){0, 0, 0}, (double[3]){1, 1, 1}, &m1));
        ASSERT_OK(cv_mc_label_mesh(parts, (int64_t[3]){0, 0, 0}, (double[3]){1, 1, 1}, &m2));
        ASSERT_EQ(m1->n_vertices, m2->n_vertices);
        /* the same positions, in another order (first use) */
        qsort(m1->vertices, m1->n_vertices, 12, by_point);
        qsort(m2->vertices, m2->n_vertices, 12, by_point);
        ASSERT_MEM_EQ(m1->vertices, m2->vertices, 12 * (size_t)m1->n_vertices);
        cv_mesh_free(m1);
        cv_mesh_free(m2);
    }
    cv_mc_soup_fini(&a);
    cv_mc_soup_fini(&s);
    free(v);
}

static void placement_nm(void)
{
    /* One voxel at key voxel 1 with key origin 99: voxel 100 spans [100, 101) * res; its
     * surface's x extremes are the faces 100 * 4 and 101 * 4 nm. */
    uint64_t v[27] = {0};
    v[1 + 3 + 9] = 2;
    cv_mc_soup s;
    cv_mc_soup_init(&s);
    ASSERT_OK(cv_mc_run(v, (int64_t[3]){3, 3, 3}, (int64_t[3]){0, 0, 0}, &s));
    cv_mesh *m;
    ASSERT_OK(cv_mc_label_mesh(&s.labels[0], (int64_t[3]){99, 9, -6}, (double[3]){4, 5, 40}, &m));
    ASSERT_EQ(m->n_vertices, 6);
    float lo[3] = {1e30f, 1e30f, 1e30f}, hi[3] = {-1e30f, -1e30f, -1e30f};
    for (uint32_t i = 0; i < m->n_vertices; i++) {
        for (int d = 0; d < 3; d++) {
            lo[d] = fminf(lo[d], m->vertices[3 * i + (uint32_t)d]);
            hi[d] = fmaxf(hi[d], m->vertices[3 * i + (uint32_t)d]);
        }
    }
    cv_mesh_free(m);
    cv_mc_soup_fini(&s);
    ASSERT_DBL_EQ(lo[0], 400.0);
    ASSERT_DBL_EQ(hi[0], 404.0);
    ASSERT_DBL_EQ(lo[1], 50.0);
    ASSERT_DBL_EQ(hi[1], 55.0);
    ASSERT_DBL_EQ(lo[2], -200.0);
    ASSERT_DBL_EQ(hi[2], -160.0);
    ASSERT_FAILS(cv_mc_run(v, (int64_t[3]){3, 3, 3}, (int64_t[3]){-1, 0, 0}, &s), CV_ERR_ARG,
                 "key range");
}

TEST_MAIN(table_cases, exact_shapes, random_labels_closed, placement_nm)
