/* SPDX-License-Identifier: BSD-3-Clause
 * test_mesh_multires_write.c: one label's mesh -> multi-resolution mesh (mesh_multires_write.c)
 * written unsharded and sharded (mesh_store.c) and read back through the mesh reader: the
 * manifest's octree, every level, level 0's vertices within the quantization step of the
 * input, no triangle of a coarser level crossing a child boundary, and shard and unsharded
 * copies giving the same meshes. */
#include "mesh/mesh.h"
#include "mesh_shapes.h"
#include "seg_layer.h"
#include "testlib.h"

#include <math.h>

static const cv_multires_opts opts = {
    .num_lods = 2, .vqb = 16, .level = 7, .min_chunk = {32, 32, 8}, .resolution = {8, 8, 40}};

static uint64_t zcode(uint32_t x, uint32_t y, uint32_t z)
{
    uint64_t c = 0;
    for (int b = 0; b < 21; b++) {
        c |= (uint64_t)((x >> b) & 1) << (3 * b) | (uint64_t)((y >> b) & 1) << (3 * b + 1) |
             (uint64_t)((z >> b) & 1) << (3 * b + 2);
    }
    return c;
}

static void build_sphere(void)
{
    if (!cv_draco_available()) {
        printf("  (no libdraco: skipped)\n");
        return;
    }
    const double c[3] = {4000, 4100, 4200};
    cv_mesh *m = sphere(4, 2000, c);
    ASSERT_TRUE(m);
    uint8_t *data;
    size_t len, mlen;
    ASSERT_OK(cv__multires_build(m, &opts, &data, &len, &mlen));
    cv_multires_manifest *man;
    ASSERT_OK(cv_multires_manifest_decode(data + len - mlen, mlen, "built", &man));
    /* extent 500 x 500 x 100 voxels: log2(500/32) = 3.97, log2(100/8) = 3.64 -> 3, capped 2 */
    ASSERT_EQ(man->num_lods, 3);
    for (uint32_t L = 0; L < 3; L++) {
        ASSERT_DBL_EQ(man->lod_scales[L], ldexp(1, (int)L));
        for (int d = 0; d < 3; d++) {
            ASSERT_DBL_EQ(man->vertex_offsets[3 * L + d], 0);
        }
    }
    /* origin floor(min) and chunk ceil(extent / 4), voxels, over all levels (the coarser
     * ones reach a little past the sphere) */
    printf("  origin %g %g %g chunk %g %g %g; fragments %u %u %u; %zu bytes\n", man->grid_origin[0],
           man->grid_origin[1], man->grid_origin[2], man->chunk_shape[0], man->chunk_shape[1],
           man->chunk_shape[2], man->num_fragments[0], man->num_fragments[1], man->num_fragments[2],
           len);
    ASSERT_DBL_EQ(man->grid_origin[0], 249);
    ASSERT_DBL_EQ(man->grid_origin[1], 261);
    ASSERT_DBL_EQ(man->grid_origin[2], 54);
    ASSERT_DBL_EQ(man->chunk_shape[0], 126);
    ASSERT_DBL_EQ(man->chunk_shape[1], 126);
    ASSERT_DBL_EQ(man->chunk_shape[2], 26);
    ASSERT_EQ(man->num_fragments[0], 56);
    ASSERT_EQ(man->num_fragments[1], 8);
    ASSERT_EQ(man->num_fragments[2], 1);
    ASSERT_EQ(man->data_bytes + mlen, len);
    /* Z-order and parents present */
    for (uint32_t L = 0; L < 3; L++) {
        uint32_t n = man->num_fragments[L];
        const uint32_t *p = man->fragment_positions[L];
        for (uint32_t i = 1; i < n; i++) {
            ASSERT_TRUE(zcode(p[i - 1], p[n + i - 1], p[2 * n + i - 1]) <
                        zcode(p[i], p[n + i], p[2 * n + i]));
        }
        for (uint32_t i = 0; L + 1 < 3 && i < n; i++) {
            uint32_t np = man->num_fragments[L + 1];
            const uint32_t *pp = man->fragment_positions[L + 1];
            bool found = false;
            for (uint32_t j = 0; j < np; j++) {
                found |= pp[j] == p[i] >> 1 && pp[np + j] == p[n + i] >> 1 &&
                         pp[2 * np + j] == p[2 * n + i] >> 1;
            }
            ASSERT_TRUE(found);
        }
    }
    /* every fragment decodes; above level 0 no triangle crosses a child mid-plane */
    uint64_t at = 0;
    for (uint32_t L = 0; L < 3; L++) {
        for (uint32_t i = 0; i < man->num_fragments[L]; i++) {
            uint32_t size = man->fragment_sizes[L][i];
            if (size == 0) {
                continue;
            }
            uint32_t *q, *f, nv, nf;
            ASSERT_OK(cv_draco_decode(data + at, size, "fragment", &q, &nv, &f, &nf));
            at += size;
            for (uint32_t t = 0; L > 0 && t < nf; t++) {
                for (int d = 0; d < 3; d++) {
                    uint32_t lo = UINT32_MAX, hi = 0;
                    for (int k = 0; k < 3; k++) {
                        uint32_t x = q[3 * f[3 * t + k] + d];
                        lo = x < lo ? x : lo;
                        hi = x > hi ? x : hi;
                    }
                    ASSERT_TRUE(!(lo < 32768 && hi > 32768));
                }
            }
            cv_free(q);
            cv_free(f);
        }
    }
    cv_multires_manifest_free(man);
    cv_free(data);
    cv_mesh_free(m);
}

static double nearest_vertex(const cv_mesh *m, const float *p)
{
    double best = INFINITY;
    for (uint32_t i = 0; i < m->n_vertices; i++) {
        double d2 = 0;
        for (int d = 0; d < 3; d++) {
            double e = (double)m->vertices[3 * i + d] - p[d];
            d2 += e * e;
        }
        best = d2 < best ? d2 : best;
    }
    return sqrt(best);
}

static void write_and_read(void)
{
    if (!cv_draco_available()) {
        printf("  (no libdraco: skipped)\n");
        return;
    }
    cv_volume *v = make_seg_layer("mem://multires/write", 8, 1024);
    ASSERT_TRUE(v);
    cv_meshes *k;
    ASSERT_OK(cv_meshes_open(v, true, &k));
    const double res[3] = {8, 8, 40};
    ASSERT_OK(cv__meshes_set_multires(k, 16, res, NULL));
    ASSERT_TRUE(cv_meshes_is_multires(k));
    uint8_t *info;
    size_t ilen;
    ASSERT_OK(cv_store_get(cv_volume_store(v), "mesh/info", 0, &info, &ilen));
    const char want[] =
        "{\"@type\": \"neuroglancer_multilod_draco\", \"spatial_index\": null, "
        "\"vertex_quantization_bits\": 16, \"transform\": [8, 0, 0, 0, 0, 8, 0, 0, 0, 0, 40, 0], "
        "\"lod_scale_multiplier\": 1.0}";
    ASSERT_EQ(ilen, strlen(want));
    ASSERT_MEM_EQ(info, want, ilen);
    cv_free(info);

    const double c[3] = {4000, 4100, 4200};
    cv_mesh *m = sphere(4, 2000, c);
    m->id = 77;
    uint8_t *data;
    size_t len, mlen;
    ASSERT_OK(cv__multires_build(m, &opts, &data, &len, &mlen));
    ASSERT_OK(cv__meshes_put_multires(k, 77, data, len, mlen));
    int lods;
    ASSERT_OK(cv_meshes_lods(k, 77, &lods));
    ASSERT_EQ(lods, 3);
    cv_mesh *got[3];
    for (int L = 0; L < 3; L++) {
        ASSERT_OK(cv_meshes_get(k, 77, L, &got[L]));
        printf("  lod %d: %u vertices, %u triangles\n", L, got[L]->n_vertices, got[L]->n_faces);
    }
    /* level 0: every input vertex is there, to within half a quantization step per axis of
     * the node (126 x 126 x 26 voxels over 65535 steps) and float32 rounding */
    double step = sqrt(2 * pow(126.0 * 8 / 65535 / 2, 2) + pow(26.0 * 40 / 65535 / 2, 2)) + 1e-3;
    double worst = 0;
    for (uint32_t i = 0; i < m->n_vertices; i++) {
        double d = nearest_vertex(got[0], m->vertices + 3 * i);
        worst = d > worst ? d : worst;
    }
    printf("  level 0: farthest input vertex %.5f nm (half step %.5f nm)\n", worst, step);
    ASSERT_TRUE(worst <= step * 1.0001);
    /* 5120 input triangles, cut along the octree planes; 2560 and 640 before cutting */
    ASSERT_EQ(got[0]->n_faces, 8252);
    ASSERT_EQ(got[1]->n_faces, 4928);
    ASSERT_EQ(got[2]->n_faces, 1046);

    /* the same label sharded: identical meshes */
    cv_shard_spec spec = {0, CV_SHARD_HASH_MURMURHASH3_X86_128, 0, 0, CV_SHARD_GZIP, CV_SHARD_RAW};
    ASSERT_OK(cv__meshes_set_multires(k, 16, res, &spec));
    ASSERT_TRUE(cv_meshes_is_sharded(k));
    uint64_t ids[1] = {77};
    uint8_t *datas[1] = {data};
    uint64_t shard;
    ASSERT_OK(cv__meshes_write_shard(k, &spec, ids, datas, &len, &mlen, 1, &shard));
    ASSERT_EQ(shard, 0);
    for (int L = 0; L < 3; L++) {
        cv_mesh *s;
        ASSERT_OK(cv_meshes_get(k, 77, L, &s));
        ASSERT_EQ(s->n_vertices, got[L]->n_vertices);
        ASSERT_EQ(s->n_faces, got[L]->n_faces);
        ASSERT_MEM_EQ(s->vertices, got[L]->vertices, 12 * (size_t)s->n_vertices);
        ASSERT_MEM_EQ(s->faces, got[L]->faces, 12 * (size_t)s->n_faces);
        cv_mesh_free(s);
        cv_mesh_free(got[L]);
    }
    uint64_t *list;
    size_t n;
    ASSERT_OK(cv_meshes_list(k, &list, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(list[0], 77);
    cv_free(list);
    cv_free(data);
    cv_mesh_free(m);
    cv_meshes_close(k);
    cv_volume_close(v);
}

/* Nothing to draw: no triangles, or flat in an axis (igneous skips those labels). */
static void skipped_and_refused(void)
{
    cv_mesh *e;
    ASSERT_OK(cv_mesh_new(0, 0, &e));
    uint8_t *data;
    size_t len, mlen;
    ASSERT_OK(cv__multires_build(e, &opts, &data, &len, &mlen));
    ASSERT_EQ(len, 0);
    cv_mesh_free(e);
    cv_mesh *p = plane(4, 8.0f, 400.0f);
    ASSERT_OK(cv__multires_build(p, &opts, &data, &len, &mlen));
    ASSERT_EQ(len, 0);
    p->vertices[0] = INFINITY;
    ASSERT_FAILS(cv__multires_build(p, &opts, &data, &len, &mlen), CV_ERR_ARG,
                 "vertex 0 is not finite");
    cv_mesh_free(p);
}

TEST_MAIN(build_sphere, write_and_read, skipped_and_refused)
