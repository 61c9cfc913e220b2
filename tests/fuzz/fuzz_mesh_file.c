/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_mesh_file.c: the PLY and OBJ readers (cv_mesh_from_ply when the first byte is even,
 * cv_mesh_from_obj when odd). Failures are CV_ERR_CORRUPT naming the file; a mesh read has
 * every index inside its vertices and survives the trip through PLY and OBJ with the same
 * triangles. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    cv_err_clear();
    cv_mesh *m;
    cv_status rc = data[0] % 2 == 0
                       ? cv_mesh_from_ply(data + 1, size - 1, "fuzz", &m)
                       : cv_mesh_from_obj((const char *)data + 1, size - 1, "fuzz", &m);
    if (rc != CV_OK) {
        FUZZ_ASSERT((rc == CV_ERR_CORRUPT && strstr(cv_err_last()->what, "fuzz")) ||
                    rc == CV_ERR_NOMEM);
        return 0;
    }
    for (size_t i = 0; i < 3 * (size_t)m->n_faces; i++) {
        FUZZ_ASSERT(m->faces[i] < m->n_vertices);
    }
    uint8_t *ply;
    size_t len;
    FUZZ_ASSERT(cv_mesh_to_ply(m, &ply, &len) == CV_OK);
    cv_mesh *back;
    FUZZ_ASSERT(cv_mesh_from_ply(ply, len, "fuzz again", &back) == CV_OK);
    FUZZ_ASSERT(back->n_faces == m->n_faces &&
                memcmp(back->faces, m->faces, 12 * (size_t)m->n_faces) == 0);
    cv_mesh_free(back);
    cv_free(ply);
    char *obj = NULL;
    FUZZ_ASSERT(cv_mesh_to_obj(m, &obj, &len) == CV_OK);
    cv_free(obj);
    cv_mesh_free(m);
    return 0;
}
