// SPDX-License-Identifier: BSD-3-Clause
// mesh_draco.cc: the one C++ file: a C interface to libdraco's mesh decoder and encoder for
// the fragments of multi-resolution meshes (precomputed-mesh-skeleton §3.3). POSITION is read
// as Neuroglancer does, with Draco's attribute transform skipped, so quantized positions come
// back as the stored integers; it is written as DracoPy writes igneous' integer positions (a
// uint32 attribute, no Draco quantization). Built only with CV_WITH_DRACO; mesh_multires.c has
// the stubs otherwise.
extern "C" {
#include "base/cv_internal.h"
#include "mesh/mesh.h"
}

#include <draco/compression/decode.h>
#include <draco/compression/encode.h>
#include <draco/metadata/geometry_metadata.h>

#include <algorithm>
#include <vector>

#include <cmath>
#include <cstring>
#include <new>

extern "C" bool cv_draco_available(void)
{
    return true;
}

// `nm` (graphene fragments, read as DracoPy does): Draco's attribute transform applied, so
// quantized positions come back dequantized, as float32 in *positions. Otherwise the stored
// integers, as Neuroglancer reads multi-resolution fragments.
static cv_status decode(const uint8_t *data, size_t len, const char *what, bool nm,
                        uint32_t **positions, uint32_t *n_vertices, uint32_t **faces,
                        uint32_t *n_faces)
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
    if (!nm) {
        decoder.SetSkipAttributeTransform(draco::GeometryAttribute::POSITION);
    }
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
        if (nm) {
            float v[3];
            if (!pos->ConvertValue<float>(avi, 3, v)) {
                cv_free(p);
                cv_free(f);
                return CV_FAIL(CV_ERR_CORRUPT, "%s: Draco point %u has no position", what, i);
            }
            std::memcpy(p + 3 * i, v, 12);
        } else if (dt == draco::DT_FLOAT32) {
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
        return decode(data, len, what, false, positions, n_vertices, faces, n_faces);
    } catch (const std::bad_alloc &) {
        return CV_FAIL(CV_ERR_NOMEM, "%s: Draco decoder out of memory", what);
    } catch (...) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: Draco decoder failed", what);
    }
}

static cv_status encode(const uint32_t *q, uint32_t nv, const uint32_t *faces, uint32_t nf,
                        int bits, int level, uint8_t **out, size_t *len)
{
    draco::Mesh mesh;
    draco::GeometryAttribute ga;
    ga.Init(draco::GeometryAttribute::POSITION, nullptr, 3, draco::DT_UINT32, false, 12, 0);
    const int att = mesh.AddAttribute(ga, true, nv);
    if (att < 0) {
        return CV_FAIL(CV_ERR_NOMEM, "Draco encoder: %u vertices", nv);
    }
    mesh.set_num_points(nv);
    draco::PointAttribute *pa = mesh.attribute(att);
    uint32_t lo[3] = {UINT32_MAX, UINT32_MAX, UINT32_MAX}, hi[3] = {0, 0, 0};
    for (uint32_t i = 0; i < nv; i++) {
        pa->SetAttributeValue(draco::AttributeValueIndex(i), q + 3 * static_cast<size_t>(i));
        for (int d = 0; d < 3; d++) {
            lo[d] = std::min(lo[d], q[3 * static_cast<size_t>(i) + d]);
            hi[d] = std::max(hi[d], q[3 * static_cast<size_t>(i) + d]);
        }
    }
    mesh.SetNumFaces(nf);
    for (uint32_t i = 0; i < nf; i++) {
        const uint32_t *f = faces + 3 * static_cast<size_t>(i);
        if (f[0] >= nv || f[1] >= nv || f[2] >= nv) {
            return CV_FAIL(CV_ERR_ARG, "Draco encoder: triangle %u names a vertex past %u", i, nv);
        }
        draco::Mesh::Face face = {draco::PointIndex(f[0]), draco::PointIndex(f[1]),
                                  draco::PointIndex(f[2])};
        mesh.SetFace(draco::FaceIndex(i), face);
    }
    // DracoPy's create_metadata entries (igneous-jobs §3.3 step 7): informative only, since
    // Draco quantizes float attributes alone.
    auto meta = std::make_unique<draco::GeometryMetadata>();
    uint32_t extent = 0;
    for (int d = 0; d < 3; d++) {
        extent = std::max(extent, nv ? hi[d] - lo[d] : 0);
    }
    meta->AddEntryDouble("quantization_range", extent);
    meta->AddEntryDoubleArray(
        "quantization_origin",
        {nv ? double(lo[0]) : 0, nv ? double(lo[1]) : 0, nv ? double(lo[2]) : 0});
    meta->AddEntryInt("quantization_bits", bits);
    mesh.AddMetadata(std::move(meta));
    draco::Encoder enc;
    enc.SetSpeedOptions(10 - level, 10 - level);
    draco::EncoderBuffer buf;
    const draco::Status st = enc.EncodeMeshToBuffer(mesh, &buf);
    if (!st.ok()) {
        return CV_FAIL(CV_ERR_ARG, "Draco encoder: %s", st.error_msg());
    }
    uint8_t *data = static_cast<uint8_t *>(cv_malloc(buf.size() + 1));
    if (!data) {
        return CV_FAIL(CV_ERR_NOMEM, "Draco encoder: %zu bytes", buf.size());
    }
    std::memcpy(data, buf.data(), buf.size());
    *out = data;
    *len = buf.size();
    return CV_OK;
}

extern "C" cv_status cv__draco_decode_nm(const uint8_t *data, size_t len, const char *what,
                                         float **positions, uint32_t *n_vertices, uint32_t **faces,
                                         uint32_t *n_faces)
{
    static_assert(sizeof(float) == sizeof(uint32_t), "float32 positions");
    try {
        return decode(data, len, what, true, reinterpret_cast<uint32_t **>(positions), n_vertices,
                      faces, n_faces);
    } catch (const std::bad_alloc &) {
        return CV_FAIL(CV_ERR_NOMEM, "%s: Draco decoder out of memory", what);
    } catch (...) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: Draco decoder failed", what);
    }
}

extern "C" cv_status cv__draco_encode(const uint32_t *q, uint32_t nv, const uint32_t *faces,
                                      uint32_t nf, int bits, int level, uint8_t **out, size_t *len)
{
    if (level < 0 || level > 10 || bits < 1 || bits > 30) {
        return CV_FAIL(CV_ERR_ARG, "Draco encoder: compression level %d (0..10), %d bits", level,
                       bits);
    }
    try {
        return encode(q, nv, faces, nf, bits, level, out, len);
    } catch (const std::bad_alloc &) {
        return CV_FAIL(CV_ERR_NOMEM, "Draco encoder out of memory");
    } catch (...) {
        return CV_FAIL(CV_ERR_ARG, "Draco encoder failed");
    }
}
