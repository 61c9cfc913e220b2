/* SPDX-License-Identifier: BSD-3-Clause
 * marching_cubes.c: the triangle table, built once from the cube's geometry rather than typed
 * in, and the multi-label march (marching_cubes.h).
 *
 * The table: on each face of the cube, looked at from outside with its corners counter-
 * clockwise, every edge where the label starts ("entry") and every edge where it stops ("exit")
 * is a vertex; each exit is joined to the entry just before it, so a face with two diagonal
 * corners of the label cuts each corner off on its own. A vertex is an exit on one of its two
 * faces and an entry on the other, so the segments form closed loops; each loop is
 * fanned into triangles from a vertex whose diagonals leave the cube's faces (a diagonal along
 * a face would be made by the neighbouring cube too). The neighbour cube sees every face cut
 * the same way and walks its segments backwards, so surfaces close and face one way. */
#include "mesh/marching_cubes.h"

#include "base/checked.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRIS 12

typedef struct mc_case {
    uint8_t n;
    uint8_t edge[MAX_TRIS][3];
} mc_case;

static mc_case cases[256];
static uint8_t edge_corner[12][2];
static int8_t edge_half[12][3]; /* the edge midpoint, in half voxels from corner 0 */
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static int bit(int corner, int axis)
{
    return corner >> axis & 1;
}

/* Whether the two edges lie on one face of the cube (all four corners share a coordinate). */
static bool share_face(int e, int f)
{
    for (int d = 0; d < 3; d++) {
        int s = bit(edge_corner[e][0], d);
        if (bit(edge_corner[e][1], d) == s && bit(edge_corner[f][0], d) == s &&
            bit(edge_corner[f][1], d) == s) {
            return true;
        }
    }
    return false;
}

static void build_case(unsigned mask, const int edge_of[8][8], const int face[6][4])
{
    int next[12];
    for (int e = 0; e < 12; e++) {
        next[e] = -1;
    }
    for (int f = 0; f < 6; f++) {
        int cross[4], is_exit[4], n = 0;
        for (int k = 0; k < 4; k++) {
            int a = face[f][k], b = face[f][(k + 1) % 4];
            bool ia = mask >> a & 1, ib = mask >> b & 1;
            if (ia != ib) {
                cross[n] = edge_of[a][b];
                is_exit[n++] = ia;
            }
        }
        for (int k = 0; k < n; k++) {
            if (!is_exit[k]) {
                continue;
            }
            for (int j = 1; j < n; j++) {
                int p = (k - j + n) % n;
                if (!is_exit[p]) {
                    next[cross[p]] = cross[k];
                    break;
                }
            }
        }
    }
    mc_case *c = &cases[mask];
    bool seen[12] = {false};
    for (int start = 0; start < 12; start++) {
        if (next[start] < 0 || seen[start]) {
            continue;
        }
        int loop[12], n = 0;
        for (int e = start; !seen[e]; e = next[e]) {
            seen[e] = true;
            loop[n++] = e;
        }
        /* A fan apex whose diagonals never run along a face of the cube. */
        int apex = 0;
        for (int a = 0; a < n; a++) {
            bool ok = true;
            for (int j = 2; j < n - 1 && ok; j++) {
                ok = !share_face(loop[a], loop[(a + j) % n]);
            }
            if (ok) {
                apex = a;
                break;
            }
        }
        for (int j = 1; j + 1 < n; j++) {
            uint8_t *t = c->edge[c->n++];
            t[0] = (uint8_t)loop[apex];
            t[1] = (uint8_t)loop[(apex + j) % n];
            t[2] = (uint8_t)loop[(apex + j + 1) % n];
        }
    }
}

static void build_table(void)
{
    int edge_of[8][8], n = 0;
    for (int a = 0; a < 8; a++) {
        for (int d = 0; d < 3; d++) {
            int b = a | 1 << d;
            if (b != a) {
                edge_corner[n][0] = (uint8_t)a;
                edge_corner[n][1] = (uint8_t)b;
                for (int k = 0; k < 3; k++) {
                    edge_half[n][k] = (int8_t)(bit(a, k) + bit(b, k));
                }
                edge_of[a][b] = edge_of[b][a] = n++;
            }
        }
    }
    /* Faces' corners counter-clockwise seen from outside: in the (u, v) plane of axes d+1,
     * d+2 the order (0,0) (1,0) (1,1) (0,1) turns about +d. */
    int face[6][4];
    for (int d = 0; d < 3; d++) {
        int u = (d + 1) % 3, v = (d + 2) % 3;
        static const int uv[4][2] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}};
        for (int s = 0; s < 2; s++) {
            for (int k = 0; k < 4; k++) {
                int q = s ? k : 3 - k;
                face[2 * d + s][k] = s << d | uv[q][0] << u | uv[q][1] << v;
            }
        }
    }
    for (unsigned m = 0; m < 256; m++) {
        build_case(m, edge_of, face);
    }
    /* Orientation: corner 0 alone inside must give a triangle facing away from it. */
    const uint8_t *t = cases[1].edge[0];
    int p[3][3];
    for (int i = 0; i < 3; i++) {
        memcpy(p[i], (int[3]){edge_half[t[i]][0], edge_half[t[i]][1], edge_half[t[i]][2]},
               sizeof p[i]);
    }
    int a[3], b[3];
    for (int k = 0; k < 3; k++) {
        a[k] = p[1][k] - p[0][k];
        b[k] = p[2][k] - p[0][k];
    }
    int nx = a[1] * b[2] - a[2] * b[1], ny = a[2] * b[0] - a[0] * b[2],
        nz = a[0] * b[1] - a[1] * b[0];
    if (nx + ny + nz < 0) {
        for (unsigned m = 0; m < 256; m++) {
            for (int i = 0; i < cases[m].n; i++) {
                uint8_t tmp = cases[m].edge[i][1];
                cases[m].edge[i][1] = cases[m].edge[i][2];
                cases[m].edge[i][2] = tmp;
            }
        }
    }
}

void cv_mc_case(unsigned mask, int *n, int8_t tri[][3][3])
{
    pthread_once(&table_once, build_table);
    const mc_case *c = &cases[mask & 255];
    *n = c->n;
    for (int i = 0; i < c->n; i++) {
        for (int v = 0; v < 3; v++) {
            memcpy(tri[i][v], edge_half[c->edge[i][v]], 3);
        }
    }
}

/* ---- the soup ------------------------------------------------------------------------------ */

void cv_mc_soup_init(cv_mc_soup *s)
{
    memset(s, 0, sizeof *s);
}

void cv_mc_soup_fini(cv_mc_soup *s)
{
    for (size_t i = 0; i < s->n; i++) {
        cv_free(s->labels[i].keys);
    }
    cv_free(s->labels);
    cv_free(s->slots);
    memset(s, 0, sizeof *s);
}

void cv_mc_soup_trim(cv_mc_soup *s)
{
    for (size_t i = 0; i < s->n; i++) {
        cv_mc_label *l = &s->labels[i];
        uint64_t *p = l->n_tris ? cv_realloc(l->keys, 3 * l->n_tris * sizeof *p) : NULL;
        if (p) { /* a failed shrink keeps the larger block */
            l->keys = p;
            l->cap = l->n_tris;
        }
    }
}

static size_t slot_of(uint64_t label, size_t n_slots)
{
    uint64_t h = label * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 32) & (n_slots - 1);
}

const cv_mc_label *cv_mc_soup_find(const cv_mc_soup *s, uint64_t label)
{
    if (!s->n_slots) {
        return NULL;
    }
    for (size_t i = slot_of(label, s->n_slots);; i = (i + 1) & (s->n_slots - 1)) {
        if (!s->slots[i]) {
            return NULL;
        }
        if (s->labels[s->slots[i] - 1].label == label) {
            return &s->labels[s->slots[i] - 1];
        }
    }
}

static cv_status grow_slots(cv_mc_soup *s)
{
    size_t n = s->n_slots ? 2 * s->n_slots : 64;
    uint32_t *slots = cv_calloc(n, sizeof *slots);
    if (!slots) {
        return CV_FAIL(CV_ERR_NOMEM, "marching cubes: label table of %zu entries", n);
    }
    for (size_t i = 0; i < s->n; i++) {
        size_t j = slot_of(s->labels[i].label, n);
        while (slots[j]) {
            j = (j + 1) & (n - 1);
        }
        slots[j] = (uint32_t)(i + 1);
    }
    cv_free(s->slots);
    s->slots = slots;
    s->n_slots = n;
    return CV_OK;
}

static cv_status label_index(cv_mc_soup *s, uint64_t label, size_t *out)
{
    if (s->n && s->labels[s->last].label == label) {
        *out = s->last;
        return CV_OK;
    }
    const cv_mc_label *l = cv_mc_soup_find(s, label);
    if (l) {
        *out = s->last = (size_t)(l - s->labels);
        return CV_OK;
    }
    if (s->n >= UINT32_MAX - 1) {
        return CV_FAIL(CV_ERR_UNSUPPORTED, "marching cubes: more than 2^32 labels in one piece");
    }
    if (2 * (s->n + 1) > s->n_slots) {
        CV_TRY(grow_slots(s));
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        cv_mc_label *p = cv_realloc(s->labels, cap * sizeof *p);
        if (!p) {
            return CV_FAIL(CV_ERR_NOMEM, "marching cubes: %zu labels", cap);
        }
        s->labels = p;
        s->cap = cap;
    }
    s->labels[s->n] = (cv_mc_label){.label = label};
    size_t j = slot_of(label, s->n_slots);
    while (s->slots[j]) {
        j = (j + 1) & (s->n_slots - 1);
    }
    s->slots[j] = (uint32_t)(s->n + 1);
    *out = s->last = s->n++;
    return CV_OK;
}

static cv_status reserve(cv_mc_label *l, size_t more)
{
    if (l->n_tris + more <= l->cap) {
        return CV_OK;
    }
    size_t cap = l->cap ? 2 * l->cap : 64;
    while (cap < l->n_tris + more) {
        cap *= 2;
    }
    uint64_t bytes;
    if (!cv__mul_u64(cap, 3 * sizeof *l->keys, &bytes) || bytes > SIZE_MAX) {
        return CV_FAIL(CV_ERR_NOMEM, "marching cubes: %zu triangles", cap);
    }
    uint64_t *p = cv_realloc(l->keys, (size_t)bytes);
    if (!p) {
        return CV_FAIL(CV_ERR_NOMEM, "marching cubes: %zu triangles of label %" PRIu64, cap,
                       l->label);
    }
    l->keys = p;
    l->cap = cap;
    return CV_OK;
}

/* ---- the march ----------------------------------------------------------------------------- */

static uint64_t pack(int64_t x, int64_t y, int64_t z)
{
    return (uint64_t)z << 42 | (uint64_t)y << 21 | (uint64_t)x;
}

cv_status cv_mc_run(const uint64_t *labels, const int64_t dims[3], const int64_t origin[3],
                    cv_mc_soup *out)
{
    pthread_once(&table_once, build_table);
    for (int d = 0; d < 3; d++) {
        if (dims[d] < 0 || origin[d] < 0 || origin[d] + dims[d] > CV_MC_MAX_EXTENT + 2) {
            return CV_FAIL(CV_ERR_ARG,
                           "marching cubes: piece of %" PRId64 " voxels at %" PRId64
                           " outside the key range",
                           dims[d], origin[d]);
        }
    }
    if (dims[0] < 2 || dims[1] < 2 || dims[2] < 2) {
        return CV_OK;
    }
    size_t sx = (size_t)dims[0], sxy = (size_t)dims[0] * (size_t)dims[1];
    size_t off[8];
    for (int i = 0; i < 8; i++) {
        off[i] = (size_t)bit(i, 0) + (size_t)bit(i, 1) * sx + (size_t)bit(i, 2) * sxy;
    }
    for (int64_t z = 0; z + 1 < dims[2]; z++) {
        for (int64_t y = 0; y + 1 < dims[1]; y++) {
            const uint64_t *row = labels + (size_t)z * sxy + (size_t)y * sx;
            for (int64_t x = 0; x + 1 < dims[0]; x++) {
                const uint64_t *p = row + x;
                uint64_t c[8];
                bool uniform = true;
                for (int i = 0; i < 8; i++) {
                    c[i] = p[off[i]];
                    uniform &= c[i] == c[0];
                }
                if (uniform) {
                    continue;
                }
                int64_t hx = 2 * (origin[0] + x), hy = 2 * (origin[1] + y),
                        hz = 2 * (origin[2] + z);
                unsigned done = 0;
                for (int i = 0; i < 8; i++) {
                    if (c[i] == 0 || done >> i & 1) {
                        continue;
                    }
                    unsigned mask = 0;
                    for (int j = i; j < 8; j++) {
                        mask |= (unsigned)(c[j] == c[i]) << j;
                    }
                    done |= mask;
                    const mc_case *k = &cases[mask];
                    size_t li = 0;
                    CV_TRY(label_index(out, c[i], &li));
                    cv_mc_label *l = &out->labels[li];
                    CV_TRY(reserve(l, k->n));
                    uint64_t *dst = l->keys + 3 * l->n_tris;
                    for (int t = 0; t < k->n; t++) {
                        for (int v = 0; v < 3; v++) {
                            const int8_t *h = edge_half[k->edge[t][v]];
                            *dst++ = pack(hx + h[0], hy + h[1], hz + h[2]);
                        }
                    }
                    l->n_tris += k->n;
                }
            }
        }
    }
    return CV_OK;
}

cv_status cv_mc_label_mesh(const cv_mc_label *l, const int64_t key_origin[3],
                           const double resolution[3], cv_mesh **out)
{
    size_t n_keys = 3 * l->n_tris;
    if (l->n_tris > UINT32_MAX / 3) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       "mesh of label %" PRIu64 ": %zu triangles exceed a legacy fragment",
                       l->label, l->n_tris);
    }
    /* Each key once, numbered in order of first use: an open-addressing table of twice the
     * keys (a power of two) holding vertex index + 1. */
    size_t n_slots = 16;
    while (n_slots < 2 * n_keys) {
        n_slots *= 2;
    }
    uint32_t *slot = cv_calloc(n_slots, sizeof *slot);
    uint64_t *keys = cv_malloc(n_keys * sizeof *keys + 1);
    uint32_t *faces = cv_malloc(n_keys * sizeof *faces + 1);
    cv_mesh *m = NULL;
    cv_status rc =
        slot && keys && faces ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh of label %" PRIu64, l->label);
    uint32_t n_v = 0;
    for (size_t i = 0; rc == CV_OK && i < n_keys; i++) {
        uint64_t k = l->keys[i];
        size_t s = (size_t)((k * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (n_slots - 1);
        while (slot[s] && keys[slot[s] - 1] != k) {
            s = (s + 1) & (n_slots - 1);
        }
        if (!slot[s]) {
            keys[n_v++] = k;
            slot[s] = n_v;
        }
        faces[i] = slot[s] - 1;
    }
    cv_free(slot);
    if (rc == CV_OK) {
        rc = cv_mesh_new(n_v, (uint32_t)l->n_tris, &m);
    }
    if (rc != CV_OK) {
        cv_free(keys);
        cv_free(faces);
        return rc;
    }
    memcpy(m->faces, faces, n_keys * sizeof *faces);
    cv_free(faces);
    m->id = l->label;
    for (size_t i = 0; i < n_v; i++) {
        int64_t h[3] = {(int64_t)(keys[i] & 0x1FFFFF), (int64_t)(keys[i] >> 21 & 0x1FFFFF),
                        (int64_t)(keys[i] >> 42)};
        for (int d = 0; d < 3; d++) {
            double g = (double)h[d] * 0.5 + (double)key_origin[d] + 0.5;
            m->vertices[3 * i + (size_t)d] = (float)(g * resolution[d]);
        }
    }
    cv_free(keys);
    *out = m;
    return CV_OK;
}
