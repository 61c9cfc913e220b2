/* SPDX-License-Identifier: BSD-3-Clause
 * test_skeleton.c: skeletons: the binary format (the spec's 75-byte vector, CloudVolume's
 * reading rules, bad lengths and edges), SWC both ways, consolidate/merge/crop/downsample with
 * exact results, cable length, equivalence under renumbering, and the skeleton directory on
 * mem:// unsharded and sharded (many ids), listing and the spatial index. */
#include "seg_layer.h"
#include "testlib.h"

#include <math.h>

/* The spec's example (test-vectors §7). */
static const uint8_t vector75[] = {
    0x03, 0, 0,    0,    0x02, 0, 0,    0,                                  /* Nv, Ne */
    0,    0, 0,    0,    0,    0, 0,    0,    0, 0, 0,    0,                /* (0,0,0) */
    0,    0, 0x80, 0x3f, 0,    0, 0,    0x40, 0, 0, 0x40, 0x40,             /* (1,2,3) */
    0,    0, 0x80, 0x40, 0,    0, 0xa0, 0x40, 0, 0, 0xc0, 0x40,             /* (4,5,6) */
    0,    0, 0,    0,    1,    0, 0,    0,    1, 0, 0,    0,    2, 0, 0, 0, /* edges */
    0,    0, 0xc0, 0x3f, 0,    0, 0,    0x40, 0, 0, 0x80, 0xbf,             /* radius */
    1,    0, 3};                                                            /* types */

static cv_skeleton *make_skel(uint32_t nv, const float *v, uint32_t ne, const uint32_t *e)
{
    cv_skel_attr attrs[CV_SKEL_MAX_ATTRS];
    int n = cv_skel_default_attrs(attrs);
    cv_skeleton *s = NULL;
    if (cv_skeleton_new(nv, ne, attrs, n, &s) != CV_OK) {
        return NULL;
    }
    memcpy(s->vertices, v, 12 * (size_t)nv);
    memcpy(s->edges, e, 8 * (size_t)ne);
    return s;
}

static void binary_vector(void)
{
    const float v[] = {0, 0, 0, 1, 2, 3, 4, 5, 6};
    const uint32_t e[] = {0, 1, 1, 2};
    cv_skeleton *s = make_skel(3, v, 2, e);
    ASSERT_TRUE(s);
    float r[] = {1.5f, 2.0f, -1.0f};
    memcpy(s->attrs[0].data, r, sizeof r);
    s->attrs[1].data[0] = 1;
    s->attrs[1].data[2] = 3;
    uint8_t *out;
    size_t len;
    ASSERT_OK(cv_skeleton_encode(s, s->attrs, s->n_attrs, &out, &len));
    ASSERT_EQ(len, 75);
    ASSERT_MEM_EQ(out, vector75, 75);
    cv_free(out);

    cv_skeleton *d;
    ASSERT_OK(cv_skeleton_decode(vector75, 75, s->attrs, s->n_attrs, "v75", &d));
    ASSERT_EQ(d->n_vertices, 3);
    ASSERT_EQ(d->n_edges, 2);
    ASSERT_MEM_EQ(d->vertices, v, sizeof v);
    ASSERT_MEM_EQ(d->edges, e, sizeof e);
    ASSERT_MEM_EQ(d->attrs[0].data, r, sizeof r);
    ASSERT_EQ(d->attrs[1].data[2], 3);
    ASSERT_TRUE(cv_skeleton_equivalent(s, d));
    cv_skeleton_free(d);

    /* No attributes in the info: the default pair is read. */
    ASSERT_OK(cv_skeleton_decode(vector75, 75, NULL, 0, "v75", &d));
    ASSERT_EQ(d->n_attrs, 2);
    ASSERT_STR_EQ(d->attrs[1].id, "vertex_types");
    cv_skeleton_free(d);
    /* Ends right after the edges: no attributes whatever the info says. */
    ASSERT_OK(cv_skeleton_decode(vector75, 60, s->attrs, s->n_attrs, "v60", &d));
    ASSERT_EQ(d->n_attrs, 0);
    /* Encoding with the info's attributes fills radius -1 and types 0. */
    ASSERT_OK(cv_skeleton_encode(d, s->attrs, s->n_attrs, &out, &len));
    ASSERT_EQ(len, 75);
    float rr;
    memcpy(&rr, out + 60 + 4, 4);
    ASSERT_DBL_EQ(rr, -1.0);
    ASSERT_EQ(out[74], 0);
    cv_free(out);
    cv_skeleton_free(d);

    /* Other attributes: a 3-component int16 after radius. */
    cv_skel_attr two[2] = {s->attrs[0], s->attrs[0]};
    snprintf(two[1].id, sizeof two[1].id, "normal");
    two[1].dtype = CV_INT16;
    two[1].components = 3;
    two[0].data = two[1].data = NULL;
    uint8_t buf[60 + 12 + 18];
    memcpy(buf, vector75, 72);
    for (int i = 0; i < 18; i++) {
        buf[72 + i] = (uint8_t)(i * 7);
    }
    ASSERT_OK(cv_skeleton_decode(buf, sizeof buf, two, 2, "int16", &d));
    ASSERT_EQ(d->attrs[1].components, 3);
    ASSERT_MEM_EQ(d->attrs[1].data, buf + 72, 18);
    ASSERT_OK(cv_skeleton_encode(d, two, 2, &out, &len));
    ASSERT_EQ(len, sizeof buf);
    ASSERT_MEM_EQ(out, buf, sizeof buf);
    cv_free(out);
    /* The info declaring another type for an attribute the skeleton has. */
    two[1].dtype = CV_UINT16;
    ASSERT_FAILS(cv_skeleton_encode(d, two, 2, &out, &len), CV_ERR_ARG, "normal");
    cv_skeleton_free(d);
    cv_skeleton_free(s);
}

static void binary_bad_input(void)
{
    cv_skel_attr attrs[CV_SKEL_MAX_ATTRS];
    int n = cv_skel_default_attrs(attrs);
    cv_skeleton *d;
    ASSERT_FAILS(cv_skeleton_decode(vector75, 7, attrs, n, "k7", &d), CV_ERR_CORRUPT, "k7");
    ASSERT_FAILS(cv_skeleton_decode(vector75, 50, attrs, n, "k50", &d), CV_ERR_CORRUPT,
                 "3 vertices and 2 edges");
    ASSERT_FAILS(cv_skeleton_decode(vector75, 74, attrs, n, "k74", &d), CV_ERR_CORRUPT, "74 bytes");
    uint8_t big[80];
    memcpy(big, vector75, 75);
    big[75] = 0;
    ASSERT_FAILS(cv_skeleton_decode(big, 76, attrs, n, "k76", &d), CV_ERR_CORRUPT, "76 bytes");
    memcpy(big, vector75, 75);
    big[8 + 36 + 12] = 3; /* second edge's end: vertex 3 of 3 */
    ASSERT_FAILS(cv_skeleton_decode(big, 75, attrs, n, "edge", &d), CV_ERR_CORRUPT,
                 "edge 1 names vertex 3 of 3");
    /* Huge counts are refused before anything is allocated. */
    uint8_t huge[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    ASSERT_FAILS(cv_skeleton_decode(huge, 8, attrs, n, "huge", &d), CV_ERR_CORRUPT, "huge");
}

static const char swc_text[] = "# comment\n"
                               "#another\n"
                               "\n"
                               "1 1 10.0 20.0 30.0 5.5 -1\n"
                               "2 3 11 20 30 NA 1\n"
                               "5 3 12 20 30 1.25 2\n"
                               "7 4 11 21 30 1 2\n"
                               "\n";

static void swc_import_export(void)
{
    cv_skeleton *s;
    ASSERT_OK(cv_skeleton_from_swc(swc_text, strlen(swc_text), "a.swc", &s));
    ASSERT_EQ(s->n_vertices, 4);
    ASSERT_EQ(s->n_edges, 3);
    const float want_v[] = {10, 20, 30, 11, 20, 30, 12, 20, 30, 11, 21, 30};
    ASSERT_MEM_EQ(s->vertices, want_v, sizeof want_v);
    const uint32_t want_e[] = {0, 1, 1, 2, 1, 3};
    ASSERT_MEM_EQ(s->edges, want_e, sizeof want_e);
    const float *r = (const float *)s->attrs[0].data;
    ASSERT_DBL_EQ(r[0], 5.5);
    ASSERT_DBL_EQ(r[1], -1.0);
    ASSERT_DBL_EQ(r[2], 1.25);
    ASSERT_EQ(s->attrs[1].data[0], 1);
    ASSERT_EQ(s->attrs[1].data[3], 4);
    ASSERT_DBL_EQ(cv_skeleton_cable_length(s), 3.0);

    char *text;
    size_t len;
    ASSERT_OK(cv_skeleton_to_swc(s, &text, &len));
    ASSERT_EQ(strlen(text), len);
    ASSERT_TRUE(strncmp(text, "# ORIGINAL_SOURCE cvmpi ", 24) == 0);
    ASSERT_TRUE(strstr(text, "\n# CREATURE \n# REGION\n# FIELD/LAYER\n# TYPE\n# CONTRIBUTOR \n"));
    ASSERT_TRUE(strstr(text, "\n# SCALE 1.000000 1.000000 1.000000\n\n"));
    const char *rows = strstr(text, "\n\n");
    ASSERT_TRUE(rows);
    /* DFS from vertex 0; neighbours pushed in edge order, the last pushed first. */
    ASSERT_STR_EQ(rows + 2, "1 1 10.000000 20.000000 30.000000 5.500000 -1\n"
                            "2 3 11.000000 20.000000 30.000000 -1.000000 1\n"
                            "3 4 11.000000 21.000000 30.000000 1.000000 2\n"
                            "4 3 12.000000 20.000000 30.000000 1.250000 2");
    cv_skeleton *back;
    ASSERT_OK(cv_skeleton_from_swc(text, len, "back.swc", &back));
    ASSERT_TRUE(cv_skeleton_equivalent(s, back));
    cv_skeleton_free(back);
    cv_free(text);
    cv_skeleton_free(s);

    /* Bad SWC. */
    const char *bad[] = {"1 1 0 0 0 1\n",       "1 1 0 0 0 1 -1 9\n",
                         "1 1 0  0 0 1 -1\n",   "1 x 0 0 0 1 -1\n",
                         "1 1 0 0 zero 1 -1\n", "1 1 0 0 0 1 -1\n2 1 0 0 0 1 7\n",
                         "1 300 0 0 0 1 -1\n"};
    const char *needles[] = {
        "line 1",   "line 1",       "line 1", "line 1: malformed", "line 1: malformed",
        "parent 7", "not in 0..255"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ASSERT_FAILS(cv_skeleton_from_swc(bad[i], strlen(bad[i]), "bad.swc", &s), CV_ERR_CORRUPT,
                     needles[i]);
    }
}

static void ops_exact(void)
{
    /* Two fragments sharing vertex (1,0,0), a duplicate edge, a loop, a lone vertex. */
    const float v[] = {2, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 9, 9, 9, 1, 1, 0};
    const uint32_t e[] = {0, 1, 2, 3, 1, 0, 3, 3, 3, 5};
    cv_skeleton *s = make_skel(6, v, 5, e);
    ASSERT_TRUE(s);
    for (int i = 0; i < 6; i++) {
        s->attrs[1].data[i] = (uint8_t)(10 + i);
    }
    cv_skeleton *c;
    ASSERT_OK(cv_skeleton_consolidate(s, &c));
    /* Sorted unique connected positions: (0,0,0) (1,0,0) (1,1,0) (2,0,0). */
    const float cv_[] = {0, 0, 0, 1, 0, 0, 1, 1, 0, 2, 0, 0};
    const uint32_t ce[] = {0, 1, 1, 2, 1, 3};
    ASSERT_EQ(c->n_vertices, 4);
    ASSERT_EQ(c->n_edges, 3);
    ASSERT_MEM_EQ(c->vertices, cv_, sizeof cv_);
    ASSERT_MEM_EQ(c->edges, ce, sizeof ce);
    /* Attributes of each position's first vertex: 12, 11 (vertex 1 before 3), 15, 10. */
    const uint8_t ct[] = {12, 11, 15, 10};
    ASSERT_MEM_EQ(c->attrs[1].data, ct, 4);
    ASSERT_DBL_EQ(cv_skeleton_cable_length(c), 3.0);

    /* Merge with a shifted copy that shares (2,0,0). */
    const float v2[] = {2, 0, 0, 3, 0, 0};
    const uint32_t e2[] = {1, 0};
    cv_skeleton *t = make_skel(2, v2, 1, e2);
    const cv_skeleton *both[] = {s, t};
    cv_skeleton *m;
    ASSERT_OK(cv_skeleton_merge(both, 2, &m));
    ASSERT_EQ(m->n_vertices, 5);
    ASSERT_EQ(m->n_edges, 4);
    ASSERT_DBL_EQ(cv_skeleton_cable_length(m), 4.0);

    /* Crop to x in [0.5, 2]: keeps (1,0,0)-(2,0,0) and (1,0,0)-(1,1,0). */
    const double lo[3] = {0.5, -1, -1}, hi[3] = {2, 1, 1};
    cv_skeleton *k;
    ASSERT_OK(cv_skeleton_crop(m, lo, hi, &k));
    const float kv[] = {1, 0, 0, 1, 1, 0, 2, 0, 0};
    const uint32_t ke[] = {0, 1, 0, 2};
    ASSERT_EQ(k->n_vertices, 3);
    ASSERT_EQ(k->n_edges, 2);
    ASSERT_MEM_EQ(k->vertices, kv, sizeof kv);
    ASSERT_MEM_EQ(k->edges, ke, sizeof ke);
    cv_skeleton_free(k);
    cv_skeleton_free(m);
    cv_skeleton_free(t);
    cv_skeleton_free(c);
    cv_skeleton_free(s);
}

static void downsample_paths(void)
{
    /* A line of 10 vertices, numbered backwards so order does not help. */
    float v[30];
    uint32_t e[18];
    for (int i = 0; i < 10; i++) {
        v[3 * i] = (float)(9 - i);
        v[3 * i + 1] = v[3 * i + 2] = 0;
    }
    for (int i = 0; i < 9; i++) {
        e[2 * i] = (uint32_t)i;
        e[2 * i + 1] = (uint32_t)i + 1;
    }
    cv_skeleton *s = make_skel(10, v, 9, e), *d;
    ASSERT_OK(cv_skeleton_downsample(s, 3, &d));
    /* From the end x=0: 0, 3, 6, 9. */
    const float dv[] = {0, 0, 0, 3, 0, 0, 6, 0, 0, 9, 0, 0};
    const uint32_t de[] = {0, 1, 1, 2, 2, 3};
    ASSERT_EQ(d->n_vertices, 4);
    ASSERT_MEM_EQ(d->vertices, dv, sizeof dv);
    ASSERT_MEM_EQ(d->edges, de, sizeof de);
    cv_skeleton_free(d);
    /* Factor 4 keeps the far end: 0, 4, 8, 9. */
    ASSERT_OK(cv_skeleton_downsample(s, 4, &d));
    ASSERT_EQ(d->n_vertices, 4);
    ASSERT_DBL_EQ(d->vertices[9], 9.0);
    ASSERT_DBL_EQ(d->vertices[6], 8.0);
    ASSERT_DBL_EQ(cv_skeleton_cable_length(d), 9.0);
    cv_skeleton_free(d);
    ASSERT_FAILS(cv_skeleton_downsample(s, 0, &d), CV_ERR_ARG, "factor");
    cv_skeleton_free(s);

    /* A Y: arms of 4 edges from the branch point (0,0,0); ends and branch survive. */
    float y[39];
    uint32_t ye[24];
    memset(y, 0, sizeof y);
    for (int arm = 0; arm < 3; arm++) {
        for (int i = 1; i <= 4; i++) {
            int idx = 1 + arm * 4 + (i - 1);
            y[3 * idx + arm] = (float)i;
            ye[2 * (idx - 1)] = (uint32_t)(i == 1 ? 0 : idx - 1);
            ye[2 * (idx - 1) + 1] = (uint32_t)idx;
        }
    }
    s = make_skel(13, y, 12, ye);
    ASSERT_OK(cv_skeleton_downsample(s, 2, &d));
    ASSERT_EQ(d->n_vertices, 7); /* branch + 2 per arm */
    ASSERT_EQ(d->n_edges, 6);
    ASSERT_DBL_EQ(cv_skeleton_cable_length(d), 12.0);
    cv_skeleton_free(d);
    cv_skeleton_free(s);
}

static void equivalence(void)
{
    const float v[] = {0, 0, 0, 1, 0, 0, 1, 1, 0, 5, 5, 5};
    const uint32_t e[] = {0, 1, 1, 2, 2, 3};
    /* The same skeleton with vertices in reverse order and edges flipped and shuffled. */
    const float w[] = {5, 5, 5, 1, 1, 0, 1, 0, 0, 0, 0, 0};
    const uint32_t f[] = {0, 1, 3, 2, 1, 2};
    cv_skeleton *a = make_skel(4, v, 3, e), *b = make_skel(4, w, 3, f);
    a->attrs[1].data[3] = 7;
    b->attrs[1].data[0] = 7;
    ASSERT_TRUE(cv_skeleton_equivalent(a, b));
    b->attrs[1].data[0] = 8;
    ASSERT_TRUE(!cv_skeleton_equivalent(a, b));
    b->attrs[1].data[0] = 7;
    b->edges[0] = 3; /* (5,5,5)-(0,0,0) instead of (5,5,5)-(1,1,0) */
    ASSERT_TRUE(!cv_skeleton_equivalent(a, b));
    cv_skeleton_free(a);
    cv_skeleton_free(b);
}

static void store_unsharded(void)
{
    cv_volume *v = make_seg_layer("mem://skel/unsharded", 4, 64);
    ASSERT_TRUE(v);
    cv_skeletons *k;
    ASSERT_OK(cv_skeletons_open(v, true, &k));
    ASSERT_STR_EQ(cv_volume_info(v)->skeletons, "skeletons");
    uint8_t *data;
    size_t len;
    ASSERT_OK(cv_store_get(cv_volume_store(v), "skeletons/info", 0, &data, &len));
    const char want[] =
        "{\"@type\": \"neuroglancer_skeletons\", \"transform\": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, "
        "0], \"vertex_attributes\": [{\"id\": \"radius\", \"data_type\": \"float32\", "
        "\"num_components\": 1}, {\"id\": \"vertex_types\", \"data_type\": \"uint8\", "
        "\"num_components\": 1}], \"spatial_index\": null}";
    ASSERT_EQ(len, strlen(want));
    ASSERT_MEM_EQ(data, want, len);
    cv_free(data);

    cv_skeleton *s;
    ASSERT_OK(cv_skeleton_decode(vector75, 75, NULL, 0, "v", &s));
    s->id = 12;
    const cv_skeleton *one[] = {s};
    ASSERT_OK(cv_skeletons_put(k, one, 1));
    s->id = 8589934593ull; /* 2^33 + 1 */
    ASSERT_OK(cv_skeletons_put(k, one, 1));
    /* Stored gzip'd as CloudVolume does: the plain object is the 75 bytes. */
    ASSERT_OK(cv_store_get(cv_volume_store(v), "skeletons/12", 0, &data, &len));
    ASSERT_EQ(len, 75);
    ASSERT_MEM_EQ(data, vector75, 75);
    cv_free(data);
    bool yes;
    ASSERT_OK(cv_store_exists(cv_volume_store(v), "skeletons/12.gz", &yes));
    ASSERT_TRUE(yes);

    cv_skeleton *g;
    ASSERT_OK(cv_skeletons_get(k, 12, &g));
    ASSERT_EQ(g->id, 12);
    ASSERT_TRUE(cv_skeleton_equivalent(s, g));
    cv_skeleton_free(g);
    ASSERT_EQ(cv_skeletons_get(k, 13, &g), CV_ERR_NOTFOUND);
    /* A name with ':' or other text is not a skeleton. */
    ASSERT_OK(cv_store_put(cv_volume_store(v), "skeletons/12:0", "x", 1, NULL, -1, NULL));
    uint64_t *ids;
    size_t n;
    ASSERT_OK(cv_skeletons_list(k, &ids, &n));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(ids[0], 12);
    ASSERT_EQ(ids[1], 8589934593ull);
    cv_free(ids);
    /* A corrupt stored skeleton names its key. */
    ASSERT_OK(cv_store_put(cv_volume_store(v), "skeletons/99", vector75, 70, NULL, -1, NULL));
    ASSERT_FAILS(cv_skeletons_get(k, 99, &g), CV_ERR_CORRUPT, "skeletons/99");
    cv_skeleton_free(s);
    cv_skeletons_close(k);
    cv_volume_close(v);
}

static void store_sharded_many(void)
{
    cv_volume *v = make_seg_layer("mem://skel/sharded", 4, 64);
    ASSERT_TRUE(v);
    cv_skeletons *k;
    ASSERT_OK(cv_skeletons_open(v, true, &k));
    cv_shard_spec spec;
    enum { N = 1500 };
    ASSERT_OK(cv_shard_params_for_hashed(N, 4, &spec));
    ASSERT_OK(cv_skeletons_set_sharding(k, &spec));
    ASSERT_TRUE(cv_skeletons_is_sharded(k));
    uint8_t *data;
    size_t len;
    ASSERT_OK(cv_store_get(cv_volume_store(v), "skeletons/info", 0, &data, &len));
    char *text = cv__strndup((const char *)data, len);
    cv_free(data);
    data = (uint8_t *)text;
    ASSERT_TRUE(strstr((const char *)data,
                       "\"num_components\": 1}], \"sharding\": {\"@type\": "
                       "\"neuroglancer_uint64_sharded_v1\", \"preshift_bits\": 0, \"hash\": "
                       "\"murmurhash3_x86_128\", \"minishard_bits\": "));
    ASSERT_TRUE(cv__str_ends_with((const char *)data, "\"data_encoding\": \"gzip\"}, "
                                                      "\"spatial_index\": null}"));
    cv_free(data);

    cv_skeleton **list = cv_calloc(N, sizeof *list);
    for (int i = 0; i < N; i++) {
        uint32_t nv = 1 + (uint32_t)(i % 7);
        float vv[3 * 8];
        uint32_t ee[2 * 8];
        for (uint32_t j = 0; j < nv; j++) {
            vv[3 * j] = (float)i;
            vv[3 * j + 1] = (float)j;
            vv[3 * j + 2] = (float)(i * 0.5);
            if (j) {
                ee[2 * (j - 1)] = j - 1;
                ee[2 * (j - 1) + 1] = j;
            }
        }
        list[i] = make_skel(nv, vv, nv - 1, ee);
        list[i]->id = (uint64_t)i * 1000003u + 1;
    }
    ASSERT_OK(cv_skeletons_put(k, (const cv_skeleton *const *)list, N));
    cv_shard_cache_clear();
    for (int i = 0; i < N; i++) {
        cv_skeleton *g;
        ASSERT_OK(cv_skeletons_get(k, list[i]->id, &g));
        ASSERT_TRUE(cv_skeleton_equivalent(list[i], g));
        ASSERT_MEM_EQ(g->vertices, list[i]->vertices, 12 * (size_t)g->n_vertices);
        cv_skeleton_free(g);
    }
    cv_skeleton *g;
    ASSERT_EQ(cv_skeletons_get(k, 2, &g), CV_ERR_NOTFOUND);
    uint64_t *ids;
    size_t n;
    ASSERT_OK(cv_skeletons_list(k, &ids, &n));
    ASSERT_EQ(n, N);
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(ids[i], (uint64_t)i * 1000003u + 1);
    }
    cv_free(ids);
    /* Update: replace one skeleton, add a new id; every other one stays. */
    cv_skeleton *repl;
    ASSERT_OK(cv_skeleton_decode(vector75, 75, NULL, 0, "v", &repl));
    repl->id = list[10]->id;
    cv_skeleton *extra;
    ASSERT_OK(cv_skeleton_clone(repl, &extra));
    extra->id = 77;
    ASSERT_OK(cv_skeletons_update(k, (const cv_skeleton *const[]){repl, extra}, 2));
    cv_shard_cache_clear();
    for (int i = 0; i < N; i++) {
        ASSERT_OK(cv_skeletons_get(k, list[i]->id, &g));
        ASSERT_TRUE(cv_skeleton_equivalent(i == 10 ? repl : list[i], g));
        cv_skeleton_free(g);
    }
    ASSERT_OK(cv_skeletons_get(k, 77, &g));
    ASSERT_TRUE(cv_skeleton_equivalent(extra, g));
    cv_skeleton_free(g);
    cv_skeleton_free(repl);
    cv_skeleton_free(extra);
    /* Listing reads indexes only; a bad shard file is named. */
    ASSERT_OK(cv_store_put(cv_volume_store(v), "skeletons/f.shard", "short", 5, NULL, -1, NULL));
    ASSERT_FAILS(cv_skeletons_list(k, &ids, &n), CV_ERR_CORRUPT, "skeletons/f.shard");
    ASSERT_OK(cv_store_delete(cv_volume_store(v), "skeletons/f.shard"));
    /* Reopening reads the sharded info back. */
    cv_skeletons_close(k);
    ASSERT_OK(cv_skeletons_open(v, false, &k));
    ASSERT_TRUE(cv_skeletons_is_sharded(k));
    ASSERT_OK(cv_skeletons_get(k, list[N - 1]->id, &g));
    ASSERT_EQ(g->n_vertices, list[N - 1]->n_vertices);
    cv_skeleton_free(g);
    for (int i = 0; i < N; i++) {
        cv_skeleton_free(list[i]);
    }
    cv_free(list);
    cv_skeletons_close(k);
    cv_volume_close(v);
}

static void info_and_spatial_index(void)
{
    cv_volume *v = make_seg_layer("mem://skel/si", 4, 64);
    ASSERT_TRUE(v);
    cv_store *st = cv_volume_store(v);
    const char info[] = "{\"@type\": \"neuroglancer_skeletons\", \"transform\": [2, 0, 0, 1, 0, "
                        "2, 0, 0, 0, 0, 4, 0], \"vertex_attributes\": [], \"spatial_index\": "
                        "{\"resolution\": [4, 4, 40], \"chunk_size\": [128, 128, 400]}}";
    ASSERT_OK(cv_store_put(st, "skeletons/info", info, strlen(info), NULL, -1, NULL));
    const char c0[] = "{\"5\": [0, 0, 0, 10, 10, 10], \"7\": [100, 100, 300, 120, 120, 390]}";
    const char c1[] = "{\"7\": [128, 0, 0, 130, 5, 5], \"9\": [200, 10, 10, 250, 20, 20]}";
    ASSERT_OK(
        cv_store_put(st, "skeletons/0-128_0-128_0-400.spatial", c0, strlen(c0), "gzip", -1, NULL));
    ASSERT_OK(
        cv_store_put(st, "skeletons/128-256_0-128_0-400.spatial", c1, strlen(c1), NULL, -1, NULL));
    cv_skeletons *k;
    ASSERT_OK(cv_skeletons_open(v, false, &k));
    ASSERT_EQ(cv_skeletons_attrs(k, &(const cv_skel_attr *){NULL}), 0);
    uint64_t *ids;
    size_t n;
    const double lo[3] = {0, 0, 0}, hi[3] = {50, 50, 50};
    ASSERT_OK(cv_skeletons_query(k, lo, hi, &ids, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(ids[0], 5);
    cv_free(ids);
    const double lo2[3] = {110, 0, 0}, hi2[3] = {210, 200, 400};
    ASSERT_OK(cv_skeletons_query(k, lo2, hi2, &ids, &n));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(ids[0], 7);
    ASSERT_EQ(ids[1], 9);
    cv_free(ids);
    /* The transform reaches the skeletons. */
    cv_skeleton *s;
    ASSERT_OK(cv_skeleton_decode(vector75, 60, NULL, 0, "v", &s));
    s->id = 5;
    ASSERT_OK(cv_skeletons_put(k, (const cv_skeleton *const[]){s}, 1));
    cv_skeleton *g;
    ASSERT_OK(cv_skeletons_get(k, 5, &g));
    ASSERT_DBL_EQ(g->transform[3], 1.0);
    cv_skeleton_apply_transform(g, g->transform);
    ASSERT_DBL_EQ(g->vertices[3], 3.0);  /* 2*1 + 1 */
    ASSERT_DBL_EQ(g->vertices[5], 12.0); /* 4*3 */
    cv_skeleton_free(g);
    cv_skeleton_free(s);
    cv_skeletons_close(k);

    const char *bad[] = {"{\"transform\": [1]}",
                         "{\"@type\": \"neuroglancer_skeletons\", "
                         "\"transform\": [1, 2]}",
                         "{\"@type\": \"neuroglancer_skeletons\", \"vertex_attributes\": "
                         "[{\"id\": \"r\", \"data_type\": \"float64\", \"num_components\": 1}]}",
                         "{\"@type\": \"neuroglancer_skeletons\", \"vertex_attributes\": "
                         "[{\"id\": \"r\", \"data_type\": \"uint8\", \"num_components\": 0}]}"};
    const char *needle[] = {"@type", "transform", "data_type", "num_components"};
    for (size_t i = 0; i < 4; i++) {
        ASSERT_OK(cv_store_put(st, "skeletons/info", bad[i], strlen(bad[i]), NULL, -1, NULL));
        ASSERT_FAILS(cv_skeletons_open(v, false, &k), CV_ERR_INFO, needle[i]);
    }
    cv_volume_close(v);
}

TEST_MAIN(binary_vector, binary_bad_input, swc_import_export, ops_exact, downsample_paths,
          equivalence, store_unsharded, store_sharded_many, info_and_spatial_index)
