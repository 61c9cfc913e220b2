// SPDX-License-Identifier: BSD-3-Clause
// mesh_draco.cc: the one C++ file: a C interface to libdraco's mesh decoder for the fragments
// of multi-resolution meshes (precomputed-mesh-skeleton §3.3). POSITION is read as Neuroglancer
// does, with Draco's attribute transform skipped, so quantized positions come back as the
// stored integers. Built only with CV_WITH_DRACO; mesh_multires.c has the stubs otherwise.
extern "C" {
#include "base/cv_internal.h"
}

#include <draco/compression/decode.h>

#include <cmath>
#include <cstring>
#include <new>

extern "C" bool cv_draco_available(void)
{
    return true;
}

static cv_status decode(const uint8_t *data, size_t len, const char *what, uint32_t **positions,
                        uint32_t *n_vertices, uint32_t **faces, uint32_t *n_faces)
{
    // Bitstreams before 2.0 (draco before 1.0, 2017; every mesh writer in use makes 2.2) are
    // refused: libdraco's decoder for them can be made to allocate 400 MB and spend seconds on
    // a 126-byte input (found by fuzz_mesh).
    if (len >= 7 && std::memcmp(data, "DRACO", 5) == 0 && data[5] < 2) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       "%s: Draco bitstream version %d.%d (before 2.0) is not supported", what,
                       data[5], data[6]);
    }
    draco::DecoderBuffer buffer;
    buffer.Init(reinterpret_cast<const char *>(data), len);
    draco::Decoder decoder;
    decoder.SetSkipAttributeTransform(draco::GeometryAttribute::POSITION);
    auto decoded = decoder.DecodeMeshFromBuffer(&buffer);
    if (!decoded.ok()) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: Draco: %s", what,
                       decoded.status().error_msg_string().c_str());
    }
    std::unique_ptr<draco::Mesh> mesh = std::move(decoded).value();
    const draco::PointAttribute *pos = mesh->GetNamedAttribute(draco::GeometryAttribute::POSITION);
    if (!pos || pos->num_components() != 3) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: Draco mesh without a 3-component POSITION", what);
    }
    const draco::DataType dt = pos->data_type();
    if (dt != draco::DT_INT32 && dt != draco::DT_UINT32 && dt != draco::DT_FLOAT32) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: Draco POSITION of data type %d (want int32/float32)",
                       what, static_cast<int>(dt));
    }
    const uint32_t nv = mesh->num_points(), nf = mesh->num_faces();
    uint32_t *p = static_cast<uint32_t *>(cv_malloc(12 * static_cast<size_t>(nv) + 1));
    uint32_t *f = static_cast<uint32_t *>(cv_malloc(12 * static_cast<size_t>(nf) + 1));
    if (!p || !f) {
        cv_free(p);
        cv_free(f);
        return CV_FAIL(CV_ERR_NOMEM, "%s: %u vertices, %u triangles", what, nv, nf);
    }
    for (uint32_t i = 0; i < nv; i++) {
        const draco::AttributeValueIndex avi = pos->mapped_index(draco::PointIndex(i));
        if (dt == draco::DT_FLOAT32) {
            float v[3];
            pos->GetValue(avi, v);
            for (int d = 0; d < 3; d++) {
                p[3 * i + d] = v[d] >= 0 && v[d] < 4294967296.0f
                                   ? static_cast<uint32_t>(std::lround(v[d]))
                                   : 0;
            }
        } else {
            uint32_t v[3];
            pos->GetValue(avi, v);
            std::memcpy(p + 3 * i, v, 12);
        }
    }
    for (uint32_t i = 0; i < nf; i++) {
        const draco::Mesh::Face &face = mesh->face(draco::FaceIndex(i));
        for (int k = 0; k < 3; k++) {
            f[3 * i + k] = face[k].value();
            if (f[3 * i + k] >= nv) {
                cv_free(p);
                cv_free(f);
                return CV_FAIL(CV_ERR_CORRUPT, "%s: Draco face %u names point %u of %u", what, i,
                               f[3 * i + k], nv);
            }
        }
    }
    *positions = p;
    *n_vertices = nv;
    *faces = f;
    *n_faces = nf;
    return CV_OK;
}

extern "C" cv_status cv_draco_decode(const uint8_t *data, size_t len, const char *what,
                                     uint32_t **positions, uint32_t *n_vertices, uint32_t **faces,
                                     uint32_t *n_faces)
{
    try {
        return decode(data, len, what, positions, n_vertices, faces, n_faces);
    } catch (const std::bad_alloc &) {
        return CV_FAIL(CV_ERR_NOMEM, "%s: Draco decoder out of memory", what);
    } catch (...) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: Draco decoder failed", what);
    }
}
