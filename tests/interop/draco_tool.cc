// SPDX-License-Identifier: BSD-3-Clause
// draco_tool.cc: Draco's own encoder (libdraco) on a text mesh, to make the fragments of the
// multi-resolution mesh tests: independent of cvmpi's decoding shim.
// Usage: draco_tool IN.txt OUT.drc [quantize]
//   IN.txt: "v X Y Z" lines (integers, the quantized positions q) and "f A B C" lines (0-based).
//   Without `quantize`, POSITION is an int32 attribute (what igneous stores); with it, float32
//   positions quantized by Draco to 10 bits over [0, 1023] (so the stored ints equal q).
#include <draco/compression/encode.h>
#include <draco/mesh/triangle_soup_mesh_builder.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: draco_tool IN.txt OUT.drc [quantize]\n");
        return 2;
    }
    const bool quantize = argc > 3 && std::strcmp(argv[3], "quantize") == 0;
    std::ifstream in(argv[1]);
    std::vector<std::array<int32_t, 3>> v;
    std::vector<std::array<int, 3>> f;
    for (std::string line; std::getline(in, line);) {
        std::istringstream s(line);
        std::string tag;
        s >> tag;
        if (tag == "v") {
            std::array<int32_t, 3> p{};
            s >> p[0] >> p[1] >> p[2];
            v.push_back(p);
        } else if (tag == "f") {
            std::array<int, 3> t{};
            s >> t[0] >> t[1] >> t[2];
            f.push_back(t);
        }
    }
    draco::TriangleSoupMeshBuilder b;
    b.Start(static_cast<int>(f.size()));
    const int att = b.AddAttribute(draco::GeometryAttribute::POSITION, 3,
                                   quantize ? draco::DT_FLOAT32 : draco::DT_INT32);
    for (size_t i = 0; i < f.size(); i++) {
        if (quantize) {
            std::array<std::array<float, 3>, 3> c{};
            for (int k = 0; k < 3; k++) {
                for (int d = 0; d < 3; d++) {
                    c[k][d] = static_cast<float>(v[f[i][k]][d]);
                }
            }
            b.SetAttributeValuesForFace(att, draco::FaceIndex(static_cast<uint32_t>(i)),
                                        c[0].data(), c[1].data(), c[2].data());
        } else {
            b.SetAttributeValuesForFace(att, draco::FaceIndex(static_cast<uint32_t>(i)),
                                        v[f[i][0]].data(), v[f[i][1]].data(), v[f[i][2]].data());
        }
    }
    std::unique_ptr<draco::Mesh> mesh = b.Finalize();
    if (!mesh) {
        std::fprintf(stderr, "draco_tool: could not build the mesh\n");
        return 1;
    }
    draco::Encoder enc;
    if (quantize) {
        // Origin 0 and range 1023 with 10 bits: the quantized ints are the positions.
        enc.SetAttributeExplicitQuantization(draco::GeometryAttribute::POSITION, 10, 3,
                                             std::array<float, 3>{0, 0, 0}.data(), 1023.0f);
    }
    draco::EncoderBuffer out;
    const draco::Status st = enc.EncodeMeshToBuffer(*mesh, &out);
    if (!st.ok()) {
        std::fprintf(stderr, "draco_tool: %s\n", st.error_msg());
        return 1;
    }
    std::ofstream o(argv[2], std::ios::binary);
    o.write(out.data(), static_cast<std::streamsize>(out.size()));
    return o ? 0 : 1;
}
