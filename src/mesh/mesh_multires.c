/* SPDX-License-Identifier: BSD-3-Clause
 * mesh_multires.c: the binary manifest of multi-resolution meshes (precomputed-mesh-skeleton
 * §3.2: chunk shape, grid origin, per-LOD scales, vertex offsets, fragment positions and
 * sizes), with Neuroglancer's length rule checked before anything is allocated; and the Draco
 * entry points of a build without libdraco (mesh_draco.cc replaces them when it is found). */
#include "mesh/mesh.h"

#include <inttypes.h>
#include <string.h>

static uint32_t load32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float loadf(const uint8_t *p)
{
    uint32_t u = load32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void cv_multires_manifest_free(cv_multires_manifest *m)
{
    if (!m) {
        return;
    }
    for (uint32_t l = 0; m->fragment_positions && l < m->num_lods; l++) {
        cv_free(m->fragment_positions[l]);
    }
    for (uint32_t l = 0; m->fragment_sizes && l < m->num_lods; l++) {
        cv_free(m->fragment_sizes[l]);
    }
    cv_free(m->fragment_positions);
    cv_free(m->fragment_sizes);
    cv_free(m->lod_scales);
    cv_free(m->vertex_offsets);
    cv_free(m->num_fragments);
    cv_free(m);
}

cv_status cv_multires_manifest_decode(const uint8_t *data, size_t len, const char *what,
                                      cv_multires_manifest **out)
{
    if (len < 28 || len % 4 != 0) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "multi-resolution manifest %s: %zu bytes (at least 28, a multiple of 4)",
                       what, len);
    }
    uint32_t lods = load32(data + 24);
    uint64_t fixed = 28 + 20 * (uint64_t)lods;
    if (lods == 0 || fixed > len) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "multi-resolution manifest %s: %" PRIu32
                       " levels of detail do not fit in %zu bytes",
                       what, lods, len);
    }
    const uint8_t *counts = data + 28 + 16 * (size_t)lods;
    uint64_t total = 0;
    for (uint32_t l = 0; l < lods; l++) {
        total += load32(counts + 4 * l);
    }
    if (fixed + 16 * total != len) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "multi-resolution manifest %s: %zu bytes, but %" PRIu32
                       " levels and %" PRIu64 " fragments make %" PRIu64,
                       what, len, lods, total, fixed + 16 * total);
    }
    cv_multires_manifest *m = cv_calloc(1, sizeof *m);
    if (!m) {
        return CV_FAIL(CV_ERR_NOMEM, "manifest %s", what);
    }
    m->num_lods = lods;
    m->lod_scales = cv_calloc(lods, sizeof(float));
    m->vertex_offsets = cv_calloc(3 * (size_t)lods, sizeof(float));
    m->num_fragments = cv_calloc(lods, sizeof(uint32_t));
    m->fragment_positions = cv_calloc(lods, sizeof(uint32_t *));
    m->fragment_sizes = cv_calloc(lods, sizeof(uint32_t *));
    bool ok = m->lod_scales && m->vertex_offsets && m->num_fragments && m->fragment_positions &&
              m->fragment_sizes;
    for (int d = 0; ok && d < 3; d++) {
        m->chunk_shape[d] = loadf(data + 4 * d);
        m->grid_origin[d] = loadf(data + 12 + 4 * d);
    }
    const uint8_t *p = data + 28;
    for (uint32_t l = 0; ok && l < lods; l++) {
        m->lod_scales[l] = loadf(p + 4 * l);
    }
    p += 4 * (size_t)lods;
    for (uint32_t i = 0; ok && i < 3 * lods; i++) {
        m->vertex_offsets[i] = loadf(p + 4 * i);
    }
    p = counts + 4 * (size_t)lods;
    for (uint32_t l = 0; ok && l < lods; l++) {
        uint32_t n = load32(counts + 4 * l);
        m->num_fragments[l] = n;
        m->fragment_positions[l] = cv_malloc(12 * (size_t)n);
        m->fragment_sizes[l] = cv_malloc(4 * (size_t)n);
        ok = m->fragment_positions[l] && m->fragment_sizes[l];
        for (size_t i = 0; ok && i < 3 * (size_t)n; i++) {
            m->fragment_positions[l][i] = load32(p + 4 * i);
        }
        p += 12 * (size_t)n;
        for (size_t i = 0; ok && i < n; i++) {
            m->fragment_sizes[l][i] = load32(p + 4 * i);
            m->data_bytes += m->fragment_sizes[l][i];
        }
        p += 4 * (size_t)n;
    }
    if (!ok) {
        cv_multires_manifest_free(m);
        return CV_FAIL(CV_ERR_NOMEM, "manifest %s", what);
    }
    *out = m;
    return CV_OK;
}

#ifndef CV_HAVE_DRACO
bool cv_draco_available(void)
{
    return false;
}

cv_status cv_draco_decode(const uint8_t *data, size_t len, const char *what, uint32_t **positions,
                          uint32_t *n_vertices, uint32_t **faces, uint32_t *n_faces)
{
    (void)data;
    (void)len;
    (void)positions;
    (void)n_vertices;
    (void)faces;
    (void)n_faces;
    return CV_FAIL(CV_ERR_UNSUPPORTED,
                   "%s: Draco decoding needs a build with libdraco (Debian libdraco-dev)", what);
}

cv_status cv__draco_decode_nm(const uint8_t *data, size_t len, const char *what, float **positions,
                              uint32_t *n_vertices, uint32_t **faces, uint32_t *n_faces)
{
    (void)data;
    (void)len;
    (void)positions;
    (void)n_vertices;
    (void)faces;
    (void)n_faces;
    return CV_FAIL(CV_ERR_UNSUPPORTED,
                   "%s: Draco decoding needs a build with libdraco (Debian libdraco-dev)", what);
}

cv_status cv__draco_encode(const uint32_t *q, uint32_t nv, const uint32_t *faces, uint32_t nf,
                           int bits, int level, uint8_t **out, size_t *len)
{
    (void)q;
    (void)nv;
    (void)faces;
    (void)nf;
    (void)bits;
    (void)level;
    (void)out;
    (void)len;
    return CV_FAIL(CV_ERR_UNSUPPORTED,
                   "Draco encoding needs a build with libdraco (Debian libdraco-dev)");
}
#endif
