/* SPDX-License-Identifier: BSD-3-Clause
 * test_graphene.c: the network-free parts of graphene:// (graphene-boss-zfpc spec §1): URL
 * forms and their pitfalls, the info's graph fields and defaults, roots/leaves/manifest answers
 * (ids above 2^53 exact), initial fragment names and CloudVolume's timestamps. */
#include "testlib.h"

#include "volume/graphene.h"

#include <stdlib.h>

static void url_forms(void)
{
    cv_graphene_url u;
    ASSERT_OK(cv__graphene_parse_url("graphene://https://h.org/segmentation/table/fly_v1", &u));
    ASSERT_STR_EQ(u.base, "https://h.org");
    ASSERT_STR_EQ(u.modality, "segmentation");
    ASSERT_STR_EQ(u.version, "table");
    ASSERT_STR_EQ(u.dataset, "fly_v1");
    /* middleauth+ is dropped; the port stays in the fqdn (the secret file's name). */
    ASSERT_OK(cv__graphene_parse_url(
        "graphene://middleauth+https://h.org:8443/segmentation/api/v1/ds.x-1/more?q=1", &u));
    ASSERT_STR_EQ(u.base, "https://h.org:8443");
    ASSERT_STR_EQ(u.fqdn, "h.org:8443");
    ASSERT_STR_EQ(u.version, "v1");
    ASSERT_STR_EQ(u.dataset, "ds.x-1");
    /* Pitfall: /api/v1/table/NAME gives dataset "table", as in CloudVolume. */
    ASSERT_OK(cv__graphene_parse_url("graphene://http://h/segmentation/api/v1/table/ds", &u));
    ASSERT_STR_EQ(u.dataset, "table");
    ASSERT_OK(cv__graphene_parse_url("graphene://http://h/segmentation/1.0/ds/", &u));
    ASSERT_STR_EQ(u.version, "1.0");
    ASSERT_FAILS(cv__graphene_parse_url("graphene://middleauth+http://h/segmentation/table/ds", &u),
                 CV_ERR_ARG, "middleauth+ goes with https only");
    ASSERT_FAILS(cv__graphene_parse_url("graphene://http://h/segmentation/ds", &u), CV_ERR_ARG,
                 "the path is none of");
    ASSERT_FAILS(cv__graphene_parse_url("graphene://http://h/segmentation/api/v2/ds", &u),
                 CV_ERR_UNSUPPORTED, "unknown API version \"v2\"");
    ASSERT_FAILS(cv__graphene_parse_url("graphene://gs://b/segmentation/table/ds", &u), CV_ERR_ARG,
                 "want graphene://https://");
    ASSERT_FAILS(cv__graphene_parse_url("graphene://https://u:p@h/segmentation/table/ds", &u),
                 CV_ERR_ARG, "bad host");
}

static void info_fields(void)
{
    static const char info[] =
        "{\"data_dir\": \"gs://b/ws\", \"app\": {\"supported_api_versions\": [0, 1]},"
        " \"graph\": {\"n_layers\": 4, \"spatial_bit_masks\": {\"1\": 10}}}";
    cv_graphene_meta m;
    ASSERT_OK(cv__graphene_parse_meta(info, sizeof info - 1, "info", &m));
    ASSERT_STR_EQ(m.data_dir, "gs://b/ws");
    ASSERT_STR_EQ(m.mesh_dir, "mesh");
    ASSERT_STR_EQ(m.unsharded_mesh_dir, "dynamic");
    ASSERT_EQ(m.n_layers, 4);
    ASSERT_EQ(m.n_bits_for_layer_id, 8);
    ASSERT_EQ(m.max_meshed_layer, 4);
    ASSERT_EQ(m.api_versions, 3u);
    ASSERT_EQ(cv__graphene_layer(&m, UINT64_C(288230376151711751)), 4);
    ASSERT_EQ(cv__graphene_layer(&m, UINT64_C(72057594037927937)), 1);
    cv__graphene_meta_fini(&m);
    static const char no_dir[] =
        "{\"app\": {\"supported_api_versions\": [1]}, \"graph\": {\"n_layers\": 4}}";
    ASSERT_FAILS(cv__graphene_parse_meta(no_dir, sizeof no_dir - 1, "u/info", &m), CV_ERR_INFO,
                 "graphene info `u/info': \"data_dir\"");
    static const char bad_ver[] = "{\"data_dir\": \"x\", \"app\": {\"supported_api_versions\": "
                                  "[2]}, \"graph\": {\"n_layers\": 4}}";
    ASSERT_FAILS(cv__graphene_parse_meta(bad_ver, sizeof bad_ver - 1, "i", &m), CV_ERR_INFO,
                 "supported_api_versions");
}

static void answers(void)
{
    uint8_t bytes[16] = {1, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint64_t roots[2];
    ASSERT_OK(cv__graphene_parse_roots(bytes, 16, 2, "r", roots));
    ASSERT_EQ(roots[0], UINT64_C(72057594037927937));
    ASSERT_EQ(roots[1], UINT64_MAX);
    ASSERT_FAILS(cv__graphene_parse_roots(bytes, 15, 2, "url", roots), CV_ERR_CORRUPT,
                 "url: 15 bytes of roots for 2 ids (want 16: one uint64 per id)");
    static const char leaves[] = "{\"leaf_ids\": [72057594037927937, 18446744073709551615, 0]}";
    uint64_t *ids;
    size_t n;
    ASSERT_OK(cv__graphene_parse_ids(leaves, sizeof leaves - 1, "leaf_ids", true, "l", &ids, &n));
    ASSERT_EQ(n, 3);
    ASSERT_EQ(ids[0], UINT64_C(72057594037927937)); /* not 72057594037927936 (a double) */
    ASSERT_EQ(ids[1], UINT64_MAX);
    ASSERT_EQ(ids[2], 0);
    cv_free(ids);
    ASSERT_OK(cv__graphene_parse_ids("{}", 2, "leaf_ids", true, "l", &ids, &n));
    ASSERT_EQ(n, 0);
    cv_free(ids);
    ASSERT_FAILS(
        cv__graphene_parse_ids("{\"leaf_ids\": [1.5]}", 19, "leaf_ids", true, "l", &ids, &n),
        CV_ERR_CORRUPT, "\"leaf_ids\"[0] is not an integer");
    ASSERT_FAILS(
        cv__graphene_parse_ids("{\"leaf_ids\": [\"7\"]}", 19, "leaf_ids", true, "l", &ids, &n),
        CV_ERR_CORRUPT, "\"leaf_ids\"[0] is not an integer");
    static const char man[] = "{\"fragments\": [\"~2/344239114-0.shard:224659:442\", \"\"], "
                              "\"seg_ids\": [288230376151711751, 5]}";
    char **names;
    uint64_t *segs;
    ASSERT_OK(cv__graphene_parse_manifest(man, sizeof man - 1, "m", &names, &segs, &n));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(segs[0], UINT64_C(288230376151711751));
    ASSERT_STR_EQ(names[1], "");
    char object[64];
    uint64_t off, size;
    ASSERT_TRUE(cv__graphene_initial_fragment(names[0], object, sizeof object, &off, &size));
    ASSERT_STR_EQ(object, "2/344239114-0.shard");
    ASSERT_EQ(off, 224659);
    ASSERT_EQ(size, 442);
    ASSERT_TRUE(
        !cv__graphene_initial_fragment("7:0:0-64_0-64_0-64", object, sizeof object, &off, &size));
    ASSERT_TRUE(
        !cv__graphene_initial_fragment("~2/x.shard:1:2", object, sizeof object, &off, &size));
    for (size_t i = 0; i < n; i++) {
        cv_free(names[i]);
    }
    cv_free(names);
    cv_free(segs);
    static const char uneven[] = "{\"fragments\": [\"a\"], \"seg_ids\": []}";
    ASSERT_FAILS(cv__graphene_parse_manifest(uneven, sizeof uneven - 1, "m", &names, &segs, &n),
                 CV_ERR_CORRUPT, "m: 0 seg_ids for 1 fragments");
}

static void timestamps(void)
{
    int64_t t;
    /* The spec's verified example: ceil of POSIX seconds. */
    ASSERT_OK(cv_timestamp_parse("2024-01-02T03:04:05.5Z", &t));
    ASSERT_EQ(t, 1704164646);
    ASSERT_OK(cv_timestamp_parse("2024-01-02T03:04:05Z", &t));
    ASSERT_EQ(t, 1704164645);
    ASSERT_OK(cv_timestamp_parse("2024-01-02T08:34:05+05:30", &t));
    ASSERT_EQ(t, 1704164645);
    ASSERT_OK(cv_timestamp_parse("1700000000.2", &t));
    ASSERT_EQ(t, 1700000001);
    ASSERT_OK(cv_timestamp_parse("1700000000", &t));
    ASSERT_EQ(t, 1700000000);
    /* Without a zone: local time, as Python's naive datetime. */
    setenv("TZ", "UTC+2", 1);
    ASSERT_OK(cv_timestamp_parse("2024-01-02T01:04:05", &t));
    ASSERT_EQ(t, 1704164645);
    ASSERT_OK(cv_timestamp_parse("2024-01-02", &t));
    ASSERT_EQ(t, 1704153600 + 7200);
    ASSERT_FAILS(cv_timestamp_parse("yesterday", &t), CV_ERR_ARG, "bad timestamp `yesterday'");
    ASSERT_FAILS(cv_timestamp_parse("2024-13-02T00:00:00Z", &t), CV_ERR_ARG, "bad timestamp");
}

TEST_MAIN(url_forms, info_fields, answers, timestamps)
