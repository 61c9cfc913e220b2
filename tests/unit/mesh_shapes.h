/* SPDX-License-Identifier: BSD-3-Clause
 * mesh_shapes.h: test meshes with known surfaces: a tessellated square and an icosphere. */
#ifndef CV_TEST_MESH_SHAPES_H
#define CV_TEST_MESH_SHAPES_H

#include "base/cv_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* An (n+1)^2 grid of spacing h at height z over [0, n h]^2, two triangles per square. */
static cv_mesh *plane(int n, float h, float z)
{
    cv_mesh *m;
    if (cv_mesh_new((uint32_t)((n + 1) * (n + 1)), (uint32_t)(2 * n * n), &m) != CV_OK) {
        return NULL;
    }
    for (int j = 0; j <= n; j++) {
        for (int i = 0; i <= n; i++) {
            float *v = m->vertices + 3 * (size_t)(j * (n + 1) + i);
            v[0] = (float)i * h;
            v[1] = (float)j * h;
            v[2] = z;
        }
    }
    uint32_t *f = m->faces;
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < n; i++) {
            uint32_t a = (uint32_t)(j * (n + 1) + i), b = a + 1, c = a + (uint32_t)n + 1, d = c + 1;
            uint32_t t[6] = {a, b, d, a, d, c};
            memcpy(f, t, sizeof t);
            f += 6;
        }
    }
    return m;
}

/* An icosahedron subdivided `level` times, vertices pushed onto the sphere of radius r about
 * c. Vertices of shared edges are shared (midpoints looked up). */
static cv_mesh *sphere(int level, double r, const double c[3])
{
    const double t = (1 + sqrt(5)) / 2;
    double base[12][3] = {{-1, t, 0}, {1, t, 0}, {-1, -t, 0}, {1, -t, 0},
                          {0, -1, t}, {0, 1, t}, {0, -1, -t}, {0, 1, -t},
                          {t, 0, -1}, {t, 0, 1}, {-t, 0, -1}, {-t, 0, 1}};
    uint32_t faces[20][3] = {{0, 11, 5}, {0, 5, 1},  {0, 1, 7},   {0, 7, 10}, {0, 10, 11},
                             {1, 5, 9},  {5, 11, 4}, {11, 10, 2}, {10, 7, 6}, {7, 1, 8},
                             {3, 9, 4},  {3, 4, 2},  {3, 2, 6},   {3, 6, 8},  {3, 8, 9},
                             {4, 9, 5},  {2, 4, 11}, {6, 2, 10},  {8, 6, 7},  {9, 8, 1}};
    size_t nf = 20, nv = 12, cap_v = 12 + 30 * ((size_t)1 << (2 * level)),
           cap_f = nf << (2 * level);
    double *v = malloc(3 * cap_v * sizeof *v);
    uint32_t *f = malloc(3 * cap_f * sizeof *f);
    memcpy(v, base, sizeof base);
    memcpy(f, faces, sizeof faces);
    for (int l = 0; l < level; l++) {
        uint32_t *g = malloc(12 * nf * sizeof *g);
        /* midpoint cache: pairs (a,b,m), linear search is fine at these sizes */
        uint32_t(*mid)[3] = malloc(3 * nf * sizeof *mid);
        size_t nmid = 0;
        for (size_t i = 0; i < nf; i++) {
            uint32_t m3[3];
            for (int k = 0; k < 3; k++) {
                uint32_t a = f[3 * i + k], b = f[3 * i + (k + 1) % 3];
                uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
                size_t j = 0;
                while (j < nmid && !(mid[j][0] == lo && mid[j][1] == hi)) {
                    j++;
                }
                if (j == nmid) {
                    for (int d = 0; d < 3; d++) {
                        v[3 * nv + d] = (v[3 * a + d] + v[3 * b + d]) / 2;
                    }
                    mid[nmid][0] = lo;
                    mid[nmid][1] = hi;
                    mid[nmid][2] = (uint32_t)nv++;
                    nmid++;
                }
                m3[k] = mid[j][2];
            }
            uint32_t a = f[3 * i], b = f[3 * i + 1], cc = f[3 * i + 2];
            uint32_t t4[12] = {a,  m3[0], m3[2], b,     m3[1], m3[0],
                               cc, m3[2], m3[1], m3[0], m3[1], m3[2]};
            memcpy(g + 12 * i, t4, sizeof t4);
        }
        memcpy(f, g, 12 * nf * sizeof *g);
        nf *= 4;
        free(g);
        free(mid);
    }
    cv_mesh *m = NULL;
    if (cv_mesh_new((uint32_t)nv, (uint32_t)nf, &m) == CV_OK) {
        for (size_t i = 0; i < nv; i++) {
            double len = sqrt(v[3 * i] * v[3 * i] + v[3 * i + 1] * v[3 * i + 1] +
                              v[3 * i + 2] * v[3 * i + 2]);
            for (int d = 0; d < 3; d++) {
                m->vertices[3 * i + d] = (float)(c[d] + r * v[3 * i + d] / len);
            }
        }
        memcpy(m->faces, f, 12 * nf);
    }
    free(v);
    free(f);
    return m;
}

#endif
