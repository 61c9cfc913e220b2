/* SPDX-License-Identifier: BSD-3-Clause
 * test_mesh.c: meshes: the legacy fragment format (the spec's 52-byte vector, bad lengths and
 * indices), concatenation and CloudVolume's consolidate on meshes of known geometry, PLY and
 * OBJ both ways (CloudVolume's exact bytes, other PLY flavours, bad files), the mesh directory
 * on mem:// (info, put as CloudVolume, manifests with several fragments, missing fragments,
 * listing), and the multi-resolution manifest (the spec's 116-byte vector). */
#include "seg_layer.h"
#include "testlib.h"

static const uint8_t frag52[] = {3, 0, 0, 0,                                     /* Nv */
                                 0, 0, 0, 0,    0, 0, 0, 0,    0, 0, 0,    0,    /* v0 */
                                 0, 0, 0, 0x41, 0, 0, 0, 0,    0, 0, 0,    0,    /* v1 */
                                 0, 0, 0, 0,    0, 0, 0, 0x41, 0, 0, 0x20, 0x42, /* v2 */
                                 0, 0, 0, 0,    1, 0, 0, 0,    2, 0, 0,    0};   /* face */

static cv_mesh *make_mesh(uint32_t nv, const float *v, uint32_t nf, const uint32_t *f)
{
    cv_mesh *m = NULL;
    if (cv_mesh_new(nv, nf, &m) != CV_OK) {
        return NULL;
    }
    memcpy(m->vertices, v, 12 * (size_t)nv);
    memcpy(m->faces, f, 12 * (size_t)nf);
    return m;
}

static void fragment_vector(void)
{
    const float v[] = {0, 0, 0, 8, 0, 0, 0, 8, 40};
    const uint32_t f[] = {0, 1, 2};
    cv_mesh *m = make_mesh(3, v, 1, f);
    uint8_t *out;
    size_t len;
    ASSERT_OK(cv_mesh_fragment_encode(m, &out, &len));
    ASSERT_EQ(len, 52);
    ASSERT_MEM_EQ(out, frag52, 52);
    cv_free(out);
    cv_mesh *d;
    ASSERT_OK(cv_mesh_fragment_decode(frag52, 52, "f52", &d));
    ASSERT_EQ(d->n_vertices, 3);
    ASSERT_EQ(d->n_faces, 1);
    ASSERT_MEM_EQ(d->vertices, v, sizeof v);
    ASSERT_MEM_EQ(d->faces, f, sizeof f);
    cv_mesh_free(d);
    /* Vertices only. */
    ASSERT_OK(cv_mesh_fragment_decode(frag52, 40, "f40", &d));
    ASSERT_EQ(d->n_faces, 0);
    cv_mesh_free(d);

    ASSERT_FAILS(cv_mesh_fragment_decode(frag52, 3, "f3", &d), CV_ERR_CORRUPT, "f3");
    ASSERT_FAILS(cv_mesh_fragment_decode(frag52, 51, "f51", &d), CV_ERR_CORRUPT,
                 "not a multiple of 12");
    ASSERT_FAILS(cv_mesh_fragment_decode(frag52, 30, "f30", &d), CV_ERR_CORRUPT,
                 "header says 3 vertices");
    uint8_t bad[52];
    memcpy(bad, frag52, 52);
    bad[48] = 3;
    ASSERT_FAILS(cv_mesh_fragment_decode(bad, 52, "fbad", &d), CV_ERR_CORRUPT,
                 "triangle 0 names vertex 3 of 3");
    m->faces[2] = 7;
    ASSERT_FAILS(cv_mesh_fragment_encode(m, &out, &len), CV_ERR_ARG, "vertex 7");
    cv_mesh_free(m);
}

static void merge_dedupe(void)
{
    /* Two unit squares side by side, one fragment each: they share (1,0,0) and (1,1,0). */
    const float a_v[] = {0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0};
    const uint32_t a_f[] = {0, 1, 2, 0, 2, 3};
    const float b_v[] = {1, 0, 0, 2, 0, 0, 2, 1, 0, 1, 1, 0};
    const uint32_t b_f[] = {0, 1, 2, 0, 2, 3, 0, 1, 2}; /* the last repeats the first */
    cv_mesh *a = make_mesh(4, a_v, 2, a_f), *b = make_mesh(4, b_v, 3, b_f);
    const cv_mesh *both[] = {a, b};
    cv_mesh *cat;
    ASSERT_OK(cv_mesh_concat(both, 2, &cat));
    ASSERT_EQ(cat->n_vertices, 8);
    ASSERT_EQ(cat->n_faces, 5);
    ASSERT_EQ(cat->faces[6 + 1], 5); /* b's faces shifted by 4 */
    cv_mesh *c;
    ASSERT_OK(cv_mesh_consolidate(cat, &c));
    /* Sorted unique: (0,0,0) (0,1,0) (1,0,0) (1,1,0) (2,0,0) (2,1,0). */
    const float want_v[] = {0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 2, 0, 0, 2, 1, 0};
    ASSERT_EQ(c->n_vertices, 6);
    ASSERT_MEM_EQ(c->vertices, want_v, sizeof want_v);
    /* Faces (0,2,3) (0,3,1) (2,4,5) (2,5,3), sorted as rows. */
    const uint32_t want_f[] = {0, 2, 3, 0, 3, 1, 2, 4, 5, 2, 5, 3};
    ASSERT_EQ(c->n_faces, 4);
    ASSERT_MEM_EQ(c->faces, want_f, sizeof want_f);
    cv_mesh_free(c);
    cv_mesh_free(cat);
    cv_mesh_free(a);
    cv_mesh_free(b);

    /* Signs, -0 == +0 (the first one kept), NaN last, large values (radix digits). */
    const float nan = 0.0f / 0.0f;
    const float s_v[] = {0, 0, 1e30f, -0.0f, 0, 1e30f, nan, 0, 0, -2, 70000, 0, 0, 0, 1e30f};
    const uint32_t s_f[] = {0, 1, 2, 3, 4, 1, 0, 1, 2};
    cv_mesh *sgn = make_mesh(5, s_v, 3, s_f);
    ASSERT_OK(cv_mesh_consolidate(sgn, &c));
    ASSERT_EQ(c->n_vertices, 3);
    const float want_s[] = {-2, 70000, 0, 0, 0, 1e30f, nan, 0, 0}; /* v0's +0 */
    ASSERT_MEM_EQ(c->vertices, want_s, sizeof want_s);
    /* v0, v1, v4 merge: faces (1,1,2), (0,1,1), (1,1,2) -> rows (0,1,1), (1,1,2). */
    const uint32_t want_sf[] = {0, 1, 1, 1, 1, 2};
    ASSERT_EQ(c->n_faces, 2);
    ASSERT_MEM_EQ(c->faces, want_sf, sizeof want_sf);
    cv_mesh_free(c);
    cv_mesh_free(sgn);
}

static void ply_both_ways(void)
{
    const float v[] = {0, 0, 0, 8, 0, 0, 0, 8, 40.5f};
    const uint32_t f[] = {0, 1, 2};
    cv_mesh *m = make_mesh(3, v, 1, f);
    uint8_t *ply;
    size_t len;
    ASSERT_OK(cv_mesh_to_ply(m, &ply, &len));
    const char header[] = "ply\nformat binary_little_endian 1.0\nelement vertex 3\n"
                          "property float x\nproperty float y\nproperty float z\n"
                          "element face 1\nproperty list int int vertex_indices\nend_header\n";
    size_t hn = strlen(header);
    ASSERT_EQ(len, hn + 36 + 16);
    ASSERT_MEM_EQ(ply, header, hn);
    ASSERT_MEM_EQ(ply + hn, v, 36);
    const uint32_t face_rec[] = {3, 0, 1, 2};
    ASSERT_MEM_EQ(ply + hn + 36, face_rec, 16);
    cv_mesh *back;
    ASSERT_OK(cv_mesh_from_ply(ply, len, "m.ply", &back));
    ASSERT_EQ(back->n_vertices, 3);
    ASSERT_EQ(back->n_faces, 1);
    ASSERT_MEM_EQ(back->vertices, v, sizeof v);
    ASSERT_MEM_EQ(back->faces, f, sizeof f);
    cv_mesh_free(back);
    /* Truncated, and an index past the vertices. */
    ASSERT_FAILS(cv_mesh_from_ply(ply, len - 1, "cut.ply", &back), CV_ERR_CORRUPT, "cut.ply");
    ply[len - 4] = 9;
    ASSERT_FAILS(cv_mesh_from_ply(ply, len, "idx.ply", &back), CV_ERR_CORRUPT,
                 "face 0 names vertex 9 of 3");
    cv_free(ply);

    /* ascii with extra properties, a quad and a comment. */
    const char ascii[] = "ply\r\nformat ascii 1.0\ncomment made by hand\nelement vertex 4\n"
                         "property double x\nproperty double y\nproperty double z\n"
                         "property uchar red\nelement face 1\n"
                         "property list uchar uint vertex_index\nproperty int flags\n"
                         "end_header\n0 0 0 255\n1 0 0 0\n1 1 0 0\n0 1 0 0\n4 0 1 2 3 77\n";
    ASSERT_OK(cv_mesh_from_ply((const uint8_t *)ascii, strlen(ascii), "a.ply", &back));
    ASSERT_EQ(back->n_vertices, 4);
    ASSERT_EQ(back->n_faces, 2);
    const uint32_t fan[] = {0, 1, 2, 0, 2, 3};
    ASSERT_MEM_EQ(back->faces, fan, sizeof fan);
    ASSERT_DBL_EQ(back->vertices[7], 1.0);
    cv_mesh_free(back);

    /* big endian, short counts and int16 coordinates. */
    uint8_t be[256];
    const char beh[] = "ply\nformat binary_big_endian 1.0\nelement vertex 3\nproperty short x\n"
                       "property short y\nproperty short z\nelement face 1\n"
                       "property list uchar int vertex_indices\nend_header\n";
    size_t n = strlen(beh);
    memcpy(be, beh, n);
    const uint8_t body[] = {0, 1, 0, 2, 0xff, 0xfd, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8,
                            0, 9, 3, 0, 0,    0,    2, 0, 0, 0, 1, 0, 0, 0, 0};
    memcpy(be + n, body, sizeof body);
    ASSERT_OK(cv_mesh_from_ply(be, n + sizeof body, "be.ply", &back));
    ASSERT_DBL_EQ(back->vertices[2], -3.0);
    ASSERT_DBL_EQ(back->vertices[8], 9.0);
    const uint32_t bef[] = {2, 1, 0};
    ASSERT_MEM_EQ(back->faces, bef, sizeof bef);
    cv_mesh_free(back);

    const char *bad[] = {
        "plx\n", "ply\nformat ascii 1.0\nelement vertex 1\n", "ply\nformat foo 1.0\nend_header\n",
        "ply\nformat ascii 1.0\nelement vertex 99\nproperty float x\nend_header\n1\n",
        "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\nzz\n"};
    const char *needle[] = {"does not start", "no end_header", "unknown format", "99 records",
                            "malformed"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ASSERT_FAILS(cv_mesh_from_ply((const uint8_t *)bad[i], strlen(bad[i]), "bad.ply", &back),
                     CV_ERR_CORRUPT, needle[i]);
    }
    cv_mesh_free(m);
}

static void obj_both_ways(void)
{
    const float v[] = {0, 0, 0, 8.25f, 0, -1, 0, 8, 40};
    const uint32_t f[] = {0, 1, 2};
    cv_mesh *m = make_mesh(3, v, 1, f);
    char *text;
    size_t len;
    ASSERT_OK(cv_mesh_to_obj(m, &text, &len));
    ASSERT_STR_EQ(text, "v 0.00000 0.00000 0.00000\nv 8.25000 0.00000 -1.00000\n"
                        "v 0.00000 8.00000 40.00000\nf 1 2 3\n");
    cv_mesh *back;
    ASSERT_OK(cv_mesh_from_obj(text, len, "m.obj", &back));
    ASSERT_MEM_EQ(back->vertices, v, sizeof v);
    ASSERT_MEM_EQ(back->faces, f, sizeof f);
    cv_mesh_free(back);
    cv_free(text);

    const char obj[] = "# a quad\nmtllib x.mtl\nv 0 0 0\nv 1 0 0\r\nv 1 1 0\nv 0 1 0\n"
                       "vn 0 0 1\nvt 0 0\nf 1/1/1 2/1/1 3//1 4\nf -4 -2 -1\n";
    ASSERT_OK(cv_mesh_from_obj(obj, strlen(obj), "q.obj", &back));
    ASSERT_EQ(back->n_vertices, 4);
    ASSERT_EQ(back->n_faces, 3);
    const uint32_t want[] = {0, 1, 2, 0, 2, 3, 0, 2, 3};
    ASSERT_MEM_EQ(back->faces, want, sizeof want);
    cv_mesh_free(back);

    const char *bad[] = {"v 1 2\n", "v 0 0 0\nf 1 2 3\n", "v 0 0 0\nf 1 1\n", "v 0 0 0\nf 1 x 1\n",
                         "v 0 0 0\nv 0 0 0\nv 0 0 0\nf 0 1 2\n"};
    const char *needle[] = {"line 1: a vertex needs 3", "line 2: vertex 2 of 1", "3 vertices",
                            "bad vertex index", "vertex 0 of 3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ASSERT_FAILS(cv_mesh_from_obj(bad[i], strlen(bad[i]), "bad.obj", &back), CV_ERR_CORRUPT,
                     needle[i]);
    }
    cv_mesh_free(m);
}

static void store_legacy(void)
{
    cv_volume *v = make_seg_layer("mem://mesh/legacy", 4, 64);
    ASSERT_TRUE(v);
    cv_store *st = cv_volume_store(v);
    cv_meshes *k;
    ASSERT_OK(cv_meshes_open(v, true, &k));
    ASSERT_STR_EQ(cv_volume_info(v)->mesh, "mesh");
    ASSERT_TRUE(!cv_meshes_is_multires(k));
    uint8_t *data;
    size_t len;
    ASSERT_OK(cv_store_get(st, "mesh/info", 0, &data, &len));
    const char want_info[] = "{\"@type\": \"neuroglancer_legacy_mesh\", \"spatial_index\": null}";
    ASSERT_EQ(len, strlen(want_info));
    ASSERT_MEM_EQ(data, want_info, len);
    cv_free(data);

    cv_mesh *m;
    ASSERT_OK(cv_mesh_fragment_decode(frag52, 52, "f", &m));
    ASSERT_OK(cv_meshes_put(k, 1099511627781ull, m)); /* 2^40 + 5 */
    ASSERT_OK(cv_store_get(st, "mesh/1099511627781:0", 0, &data, &len));
    const char want_manifest[] = "{\"fragments\": [\"1099511627781:0:1\"]}";
    ASSERT_EQ(len, strlen(want_manifest));
    ASSERT_MEM_EQ(data, want_manifest, len);
    cv_free(data);
    bool yes;
    ASSERT_OK(cv_store_exists(st, "mesh/1099511627781:0:1.gz", &yes));
    ASSERT_TRUE(yes);
    cv_mesh *g;
    ASSERT_OK(cv_meshes_get(k, 1099511627781ull, 0, &g));
    ASSERT_EQ(g->n_vertices, 3);
    ASSERT_MEM_EQ(g->vertices, m->vertices, 36);
    cv_mesh_free(g);

    /* A manifest of two fragments (neuroglancer-scripts' style names), in manifest order. */
    const char two[] = "{\"fragments\": [\"frag_b\", \"frag_a\"]}";
    ASSERT_OK(cv_store_put(st, "mesh/3:0", two, strlen(two), NULL, -1, NULL));
    ASSERT_OK(cv_store_put(st, "mesh/frag_a", frag52, 52, "gzip", -1, NULL));
    uint8_t shifted[52];
    memcpy(shifted, frag52, 52);
    shifted[4 + 3] = 0x40; /* v0.x = 2.0 */
    ASSERT_OK(cv_store_put(st, "mesh/frag_b", shifted, 52, NULL, -1, NULL));
    ASSERT_OK(cv_meshes_get(k, 3, 0, &g));
    ASSERT_EQ(g->n_vertices, 6);
    ASSERT_EQ(g->n_faces, 2);
    ASSERT_DBL_EQ(g->vertices[0], 2.0);
    ASSERT_DBL_EQ(g->vertices[9], 0.0);
    const uint32_t want_f[] = {0, 1, 2, 3, 4, 5};
    ASSERT_MEM_EQ(g->faces, want_f, sizeof want_f);
    cv_mesh *c;
    ASSERT_OK(cv_mesh_consolidate(g, &c));
    ASSERT_EQ(c->n_vertices, 4); /* (8,0,0) and (0,8,40) are shared */
    cv_mesh_free(c);
    cv_mesh_free(g);

    /* Putting again removes the fragments the old manifest named. */
    ASSERT_OK(cv_meshes_put(k, 3, m));
    ASSERT_OK(cv_store_exists(st, "mesh/frag_a", &yes));
    ASSERT_TRUE(!yes);

    const char missing[] = "{\"fragments\": [\"3:0:1\", \"gone\"]}";
    ASSERT_OK(cv_store_put(st, "mesh/9:0", missing, strlen(missing), NULL, -1, NULL));
    ASSERT_OK(cv_store_put(st, "mesh/3:0:1", frag52, 52, NULL, -1, NULL));
    ASSERT_FAILS(cv_meshes_get(k, 9, 0, &g), CV_ERR_NOTFOUND, "mesh/gone' named by manifest");
    ASSERT_EQ(cv_meshes_get(k, 10, 0, &g), CV_ERR_NOTFOUND);
    const char notjson[] = "{\"fragments\": 3}";
    ASSERT_OK(cv_store_put(st, "mesh/11:0", notjson, strlen(notjson), NULL, -1, NULL));
    ASSERT_FAILS(cv_meshes_get(k, 11, 0, &g), CV_ERR_CORRUPT, "mesh/11:0");
    ASSERT_OK(cv_store_put(st, "mesh/12:0", two, strlen(two), NULL, -1, NULL));
    ASSERT_OK(cv_store_put(st, "mesh/frag_b", frag52, 50, NULL, -1, NULL));
    ASSERT_FAILS(cv_meshes_get(k, 12, 0, &g), CV_ERR_CORRUPT, "mesh/frag_b");

    uint64_t *ids;
    size_t n;
    ASSERT_OK(cv_meshes_list(k, &ids, &n));
    const uint64_t want_ids[] = {3, 9, 11, 12, 1099511627781ull};
    ASSERT_EQ(n, 5);
    for (size_t i = 0; i < n && i < 5; i++) {
        ASSERT_EQ(ids[i], want_ids[i]);
    }
    cv_free(ids);
    cv_mesh_free(m);
    cv_meshes_close(k);

    /* The spatial index of the upstream example (test-vectors §7), in a cell file. */
    cv_meshes *q;
    const char si_info[] = "{\"@type\":\"neuroglancer_legacy_mesh\",\"mip\":0,\"chunk_size\":"
                           "[448,448,448],\"spatial_index\":{\"resolution\":[32,32,40],"
                           "\"chunk_size\":[14336,14336,17920]}}";
    ASSERT_OK(cv_store_put(st, "mesh/info", si_info, strlen(si_info), NULL, -1, NULL));
    const char cell[] = "{\"71297153\":[4352,8032,20440,4368,8048,20460],"
                        "\"67276966\":[6,2890,20440,16,2944,20460]}";
    ASSERT_OK(cv_store_put(st, "mesh/0-8192_0-8192_17920-20480.spatial", cell, strlen(cell), "gzip",
                           -1, NULL));
    ASSERT_OK(cv_meshes_open(v, false, &q));
    const double lo[3] = {4000, 8000, 20000}, hi[3] = {5000, 9000, 21000};
    ASSERT_OK(cv_meshes_query(q, lo, hi, &ids, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(ids[0], 71297153);
    cv_free(ids);
    const double lo2[3] = {0, 0, 0}, hi2[3] = {8192, 8192, 20480};
    ASSERT_OK(cv_meshes_query(q, lo2, hi2, &ids, &n));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(ids[0], 67276966);
    cv_free(ids);
    cv_meshes_close(q);

    const char bad_info[] = "{\"spatial_index\": null}";
    ASSERT_OK(cv_store_put(st, "mesh/info", bad_info, strlen(bad_info), NULL, -1, NULL));
    ASSERT_FAILS(cv_meshes_open(v, false, &k), CV_ERR_INFO, "@type");
    cv_volume_close(v);
}

static void multires_manifest(void)
{
    /* test-vectors §7: 2 LODs, 3 fragments, 116 bytes. */
    uint8_t b[116];
    size_t o = 0;
#define PUTF(x)                                                                                    \
    do {                                                                                           \
        float f_ = (x);                                                                            \
        memcpy(b + o, &f_, 4);                                                                     \
        o += 4;                                                                                    \
    } while (0)
#define PUTU(x)                                                                                    \
    do {                                                                                           \
        uint32_t u_ = (x);                                                                         \
        memcpy(b + o, &u_, 4);                                                                     \
        o += 4;                                                                                    \
    } while (0)
    PUTF(64);
    PUTF(64);
    PUTF(64);
    PUTF(0);
    PUTF(0);
    PUTF(0);
    PUTU(2);
    PUTF(1);
    PUTF(2);
    for (int i = 0; i < 6; i++) {
        PUTF(0);
    }
    PUTU(2);
    PUTU(1);
    PUTU(0); /* lod 0 x */
    PUTU(1);
    PUTU(0); /* y */
    PUTU(0);
    PUTU(0); /* z */
    PUTU(0);
    PUTU(100);
    PUTU(120);
    PUTU(0); /* lod 1 position */
    PUTU(0);
    PUTU(0);
    PUTU(90);
    ASSERT_EQ(o, 116);
    cv_multires_manifest *m;
    ASSERT_OK(cv_multires_manifest_decode(b, 116, "m", &m));
    ASSERT_EQ(m->num_lods, 2);
    ASSERT_DBL_EQ(m->lod_scales[1], 2.0);
    ASSERT_EQ(m->num_fragments[0], 2);
    ASSERT_EQ(m->fragment_positions[0][1], 1); /* x of fragment 1 */
    ASSERT_EQ(m->fragment_sizes[0][1], 120);
    ASSERT_EQ(m->fragment_sizes[1][0], 90);
    ASSERT_EQ(m->data_bytes, 310);
    cv_multires_manifest_free(m);
    ASSERT_FAILS(cv_multires_manifest_decode(b, 112, "m112", &m), CV_ERR_CORRUPT, "m112");
    ASSERT_FAILS(cv_multires_manifest_decode(b, 27, "m27", &m), CV_ERR_CORRUPT, "28");
    b[24] = 0xff; /* 255 lods */
    ASSERT_FAILS(cv_multires_manifest_decode(b, 116, "mlods", &m), CV_ERR_CORRUPT, "do not fit");
}

TEST_MAIN(fragment_vector, merge_dedupe, ply_both_ways, obj_both_ways, store_legacy,
          multires_manifest)
