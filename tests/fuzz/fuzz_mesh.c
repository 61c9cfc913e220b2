/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_mesh.c: the mesh decoders, chosen by the first byte mod 3: a legacy fragment
 * (cv_mesh_fragment_decode), a multi-resolution manifest (cv_multires_manifest_decode), or a
 * Draco fragment through the libdraco shim (cv_draco_decode: face indices inside the points).
 * Failures are CV_ERR_CORRUPT naming the input. A decoded fragment has every index inside
 * its vertices, re-encodes to exactly the input, and consolidates and exports to PLY/OBJ
 * that read back with the same counts; a decoded manifest's sizes add up to data_bytes. */
#include "fuzz_common.h"

static void fragment(const uint8_t *data, size_t size)
{
    cv_mesh *m;
    cv_status rc = cv_mesh_fragment_decode(data, size, "fuzz", &m);
    if (rc != CV_OK) {
        FUZZ_ASSERT(rc == CV_ERR_CORRUPT && strstr(cv_err_last()->what, "fuzz"));
        return;
    }
    for (size_t i = 0; i < 3 * (size_t)m->n_faces; i++) {
        FUZZ_ASSERT(m->faces[i] < m->n_vertices);
    }
    uint8_t *enc;
    size_t len;
    FUZZ_ASSERT(cv_mesh_fragment_encode(m, &enc, &len) == CV_OK);
    FUZZ_ASSERT(len == size && memcmp(enc, data, size) == 0);
    cv_free(enc);
    cv_mesh *c;
    FUZZ_ASSERT(cv_mesh_consolidate(m, &c) == CV_OK);
    FUZZ_ASSERT(c->n_vertices <= m->n_vertices && c->n_faces <= m->n_faces);
    FUZZ_ASSERT(cv_mesh_to_ply(m, &enc, &len) == CV_OK);
    cv_mesh *back;
    FUZZ_ASSERT(cv_mesh_from_ply(enc, len, "fuzz ply", &back) == CV_OK);
    FUZZ_ASSERT(back->n_vertices == m->n_vertices && back->n_faces == m->n_faces);
    FUZZ_ASSERT(memcmp(back->faces, m->faces, 12 * (size_t)m->n_faces) == 0);
    cv_mesh_free(back);
    cv_free(enc);
    cv_mesh_free(c);
    cv_mesh_free(m);
}

static void manifest(const uint8_t *data, size_t size)
{
    cv_multires_manifest *m;
    cv_status rc = cv_multires_manifest_decode(data, size, "fuzz", &m);
    if (rc != CV_OK) {
        FUZZ_ASSERT(rc == CV_ERR_CORRUPT && strstr(cv_err_last()->what, "fuzz"));
        return;
    }
    uint64_t total = 0, frags = 0;
    for (uint32_t l = 0; l < m->num_lods; l++) {
        frags += m->num_fragments[l];
        for (uint32_t i = 0; i < m->num_fragments[l]; i++) {
            total += m->fragment_sizes[l][i];
        }
    }
    FUZZ_ASSERT(total == m->data_bytes);
    FUZZ_ASSERT(28 + 20 * (uint64_t)m->num_lods + 16 * frags == size);
    cv_multires_manifest_free(m);
}

static void draco(const uint8_t *data, size_t size)
{
    uint32_t *pos, *faces, nv, nf;
    cv_status rc = cv_draco_decode(data, size, "fuzz", &pos, &nv, &faces, &nf);
    if (rc != CV_OK) {
        FUZZ_ASSERT(rc == CV_ERR_CORRUPT || rc == CV_ERR_UNSUPPORTED || rc == CV_ERR_NOMEM);
        FUZZ_ASSERT(strstr(cv_err_last()->what, "fuzz"));
        return;
    }
    for (size_t i = 0; i < 3 * (size_t)nf; i++) {
        FUZZ_ASSERT(faces[i] < nv);
    }
    cv_free(pos);
    cv_free(faces);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    cv_err_clear();
    switch (data[0] % 3) {
    case 0:
        fragment(data + 1, size - 1);
        break;
    case 1:
        manifest(data + 1, size - 1);
        break;
    default:
        draco(data + 1, size - 1);
        break;
    }
    return 0;
}
