/* SPDX-License-Identifier: BSD-3-Clause
 * test_info.c: the info file: parse + re-serialize byte-identical to Python's json.dumps(...,
 * sort_keys=True, indent=2) (expected texts made with /usr/bin/python3), CloudVolume's
 * create_new_info/add_scale arithmetic (test-vectors §9), and one test per validation rule. */
#include "testlib.h"

#include <cjson/cJSON.h>

/* ---- helpers --------------------------------------------------------------------------- */

/* Parse `json`, serialize it again, compare with `want` byte for byte. */
static void roundtrip_check(const char *json, const char *want)
{
    cv_info *info = NULL;
    ASSERT_OK(cv_info_parse(json, strlen(json), "test", &info));
    char *out = NULL;
    size_t len = 0;
    cv_status rc = cv_info_to_json(info, &out, &len);
    cv_info_free(info);
    ASSERT_OK(rc);
    bool same = len == strlen(want) && strcmp(out, want) == 0;
    if (!same) {
        fprintf(stderr, "  got:\n%s\n", out);
    }
    cv_free(out);
    ASSERT_TRUE(same);
}

/* Serialize `info` and compare with `want`; also check that parsing the text gives the same
 * text again. */
static void serialize_check(const cv_info *info, const char *want)
{
    char *out = NULL;
    size_t len = 0;
    ASSERT_OK(cv_info_to_json(info, &out, &len));
    bool same = len == strlen(want) && strcmp(out, want) == 0;
    if (!same) {
        fprintf(stderr, "  got:\n%s\n", out);
    }
    cv_free(out);
    ASSERT_TRUE(same);
    roundtrip_check(want, want);
}

/* A copy of `base` with edits applied: pairs of "a/b/0/c" paths and JSON values (NULL value:
 * delete the member), ended by NULL. Free with free(). */
static char *mutate(const char *base, const char *const *edits)
{
    cJSON *root = cJSON_Parse(base);
    for (size_t e = 0; root && edits[e]; e += 2) {
        char path[256];
        snprintf(path, sizeof path, "%s", edits[e]);
        cJSON *parent = root;
        char *part = path, *slash;
        while ((slash = strchr(part, '/')) != NULL) {
            *slash = '\0';
            parent = cJSON_IsArray(parent) ? cJSON_GetArrayItem(parent, atoi(part))
                                           : cJSON_GetObjectItemCaseSensitive(parent, part);
            part = slash + 1;
        }
        const char *value = edits[e + 1];
        cJSON *item = value ? cJSON_Parse(value) : NULL;
        if (cJSON_IsArray(parent)) {
            if (item) {
                cJSON_ReplaceItemInArray(parent, atoi(part), item);
            } else {
                cJSON_DeleteItemFromArray(parent, atoi(part));
            }
        } else if (!item) {
            cJSON_DeleteItemFromObjectCaseSensitive(parent, part);
        } else if (cJSON_GetObjectItemCaseSensitive(parent, part)) {
            cJSON_ReplaceItemInObjectCaseSensitive(parent, part, item);
        } else {
            cJSON_AddItemToObject(parent, part, item);
        }
    }
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

static const char base_image[] =
    "{\"type\":\"image\",\"data_type\":\"uint8\",\"num_channels\":1,"
    "\"scales\":[{\"key\":\"4_4_40\",\"size\":[100,100,10],\"voxel_offset\":[0,0,0],"
    "\"resolution\":[4,4,40],"
    "\"chunk_sizes\":[[64,64,8]],\"encoding\":\"raw\"},{\"key\":\"8_8_40\",\"size\":[50,50,10],"
    "\"voxel_offset\":[0,0,0],\"resolution\":[8,8,40],\"chunk_sizes\":[[64,64,8]],"
    "\"encoding\":\"raw\"}]}";

typedef struct bad_case {
    const char *edits[9];
    cv_status code;
    const char *needle;
} bad_case;

/* Each case must fail cv_info_parse with `code` and a message containing `needle`. */
static void check_bad_cases(const bad_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *text = mutate(base_image, cases[i].edits);
        if (!text) {
            fprintf(stderr, "  case %zu (%s): mutate failed\n", i, cases[i].edits[0]);
            tl_failed_asserts++;
            continue;
        }
        int before = tl_failed_asserts;
        cv_info *info = NULL;
        cv_err_clear();
        cv_status rc = cv_info_parse(text, strlen(text), "bad.json", &info);
        if (rc != cases[i].code || !strstr(cv_err_last()->what, cases[i].needle) ||
            !strstr(cv_err_last()->what, "bad.json")) {
            fprintf(stderr, "  case %zu (%s = %s): got %s \"%s\", want %s with \"%s\"\n", i,
                    cases[i].edits[0], cases[i].edits[1] ? cases[i].edits[1] : "(deleted)",
                    cv_errname(rc), cv_err_last()->what, cv_errname(cases[i].code),
                    cases[i].needle);
            tl_failed_asserts++;
        }
        if (rc == CV_OK) {
            cv_info_free(info);
        }
        if (tl_failed_asserts != before) {
            fprintf(stderr, "    text: %s\n", text);
        }
        free(text);
        cv_err_clear();
    }
}

/* ---- round trips ----------------------------------------------------------------------- */

static void roundtrip_unknown_members_sharding(void)
{
    static const char in[] =
        "{\"type\": \"segmentation\", \"data_type\": \"uint64\", \"num_channels\": 1, \"mesh\": "
        "\"mesh_mip_2\", \"skeletons\": \"skeletons\", \"segment_properties\": \"props\", \"scale"
        "s\": [{\"key\": \"8_8_40\", \"size\": [1024, 1024, 512], \"voxel_offset\": [0, -8, 3], "
        "\"resolution\": [8, 8, 40], \"chunk_sizes\": [[128, 128, 16], [64, 64, 64]], \"encoding"
        "\": \"compressed_segmentation\", \"compressed_segmentation_block_size\": [8, 8, 8], \"lo"
        "cked\": true, \"rois\": [[0, 0, 0, 512, 512, 256]]}, {\"key\": \"16_16_40\", \"size\": ["
        "512, 512, 512], \"voxel_offset\": [0, -4, 3], \"resolution\": [16, 16, 40], \"chunk_size"
        "s\": [[64, 64, 64]], \"encoding\": \"raw\", \"sharding\": {\"@type\": \"neuroglancer_uin"
        "t64_sharded_v1\", \"hash\": \"murmurhash3_x86_128\", \"minishard_bits\": 6, \"minishard_"
        "index_encoding\": \"gzip\", \"data_encoding\": \"gzip\", \"preshift_bits\": 3, \"shard_b"
        "its\": 2}, \"hidden\": false, \"note\": {\"z\": [1, \"two\", null, {\"k\": -3}], \"a\": "
        "0.25, \"s\": \"caf\\u00e9 \\\"q\\\" \\\\ \\t\"}}], \"custom\": {\"owner\": \"lab\", \"ta"
        "gs\": [\"a\", \"b\"], \"nested\": {\"deep\": {\"x\": 1, \"y\": [true, false]}}, \"empty_"
        "obj\": {}, \"empty_list\": []}, \"version\": 2, \"redirect\": \"\"}";
    static const char want[] = "{\n"
                               "  \"custom\": {\n"
                               "    \"empty_list\": [],\n"
                               "    \"empty_obj\": {},\n"
                               "    \"nested\": {\n"
                               "      \"deep\": {\n"
                               "        \"x\": 1,\n"
                               "        \"y\": [\n"
                               "          true,\n"
                               "          false\n"
                               "        ]\n"
                               "      }\n"
                               "    },\n"
                               "    \"owner\": \"lab\",\n"
                               "    \"tags\": [\n"
                               "      \"a\",\n"
                               "      \"b\"\n"
                               "    ]\n"
                               "  },\n"
                               "  \"data_type\": \"uint64\",\n"
                               "  \"mesh\": \"mesh_mip_2\",\n"
                               "  \"num_channels\": 1,\n"
                               "  \"redirect\": \"\",\n"
                               "  \"scales\": [\n"
                               "    {\n"
                               "      \"chunk_sizes\": [\n"
                               "        [\n"
                               "          128,\n"
                               "          128,\n"
                               "          16\n"
                               "        ],\n"
                               "        [\n"
                               "          64,\n"
                               "          64,\n"
                               "          64\n"
                               "        ]\n"
                               "      ],\n"
                               "      \"compressed_segmentation_block_size\": [\n"
                               "        8,\n"
                               "        8,\n"
                               "        8\n"
                               "      ],\n"
                               "      \"encoding\": \"compressed_segmentation\",\n"
                               "      \"key\": \"8_8_40\",\n"
                               "      \"locked\": true,\n"
                               "      \"resolution\": [\n"
                               "        8,\n"
                               "        8,\n"
                               "        40\n"
                               "      ],\n"
                               "      \"rois\": [\n"
                               "        [\n"
                               "          0,\n"
                               "          0,\n"
                               "          0,\n"
                               "          512,\n"
                               "          512,\n"
                               "          256\n"
                               "        ]\n"
                               "      ],\n"
                               "      \"size\": [\n"
                               "        1024,\n"
                               "        1024,\n"
                               "        512\n"
                               "      ],\n"
                               "      \"voxel_offset\": [\n"
                               "        0,\n"
                               "        -8,\n"
                               "        3\n"
                               "      ]\n"
                               "    },\n"
                               "    {\n"
                               "      \"chunk_sizes\": [\n"
                               "        [\n"
                               "          64,\n"
                               "          64,\n"
                               "          64\n"
                               "        ]\n"
                               "      ],\n"
                               "      \"encoding\": \"raw\",\n"
                               "      \"hidden\": false,\n"
                               "      \"key\": \"16_16_40\",\n"
                               "      \"note\": {\n"
                               "        \"a\": 0.25,\n"
                               "        \"s\": \"caf\\u00e9 \\\"q\\\" \\\\ \\t\",\n"
                               "        \"z\": [\n"
                               "          1,\n"
                               "          \"two\",\n"
                               "          null,\n"
                               "          {\n"
                               "            \"k\": -3\n"
                               "          }\n"
                               "        ]\n"
                               "      },\n"
                               "      \"resolution\": [\n"
                               "        16,\n"
                               "        16,\n"
                               "        40\n"
                               "      ],\n"
                               "      \"sharding\": {\n"
                               "        \"@type\": \"neuroglancer_uint64_sharded_v1\",\n"
                               "        \"data_encoding\": \"gzip\",\n"
                               "        \"hash\": \"murmurhash3_x86_128\",\n"
                               "        \"minishard_bits\": 6,\n"
                               "        \"minishard_index_encoding\": \"gzip\",\n"
                               "        \"preshift_bits\": 3,\n"
                               "        \"shard_bits\": 2\n"
                               "      },\n"
                               "      \"size\": [\n"
                               "        512,\n"
                               "        512,\n"
                               "        512\n"
                               "      ],\n"
                               "      \"voxel_offset\": [\n"
                               "        0,\n"
                               "        -4,\n"
                               "        3\n"
                               "      ]\n"
                               "    }\n"
                               "  ],\n"
                               "  \"segment_properties\": \"props\",\n"
                               "  \"skeletons\": \"skeletons\",\n"
                               "  \"type\": \"segmentation\",\n"
                               "  \"version\": 2\n"
                               "}";
    roundtrip_check(in, want);
}

static void roundtrip_float_resolution(void)
{
    static const char in[] =
        "{\"@type\":\"neuroglancer_multiscale_volume\",\"type\":\"image\",\"data_type\":\"uint8\""
        ",\"num_channels\":3,\"scales\":[{\"key\":\"4.5_4.5_40.0\",\"size\":[100,90,80],\"voxel_o"
        "ffset\":[1,2,3],\"resolution\":[4.5,4.5,40.0],\"chunk_sizes\":[[64,64,64]],\"encoding\":"
        "\"jpeg\",\"jpeg_quality\":85},{\"key\":\"9.0_9.0_40.0\",\"size\":[50,45,80],\"voxel_offs"
        "et\":[0,1,3],\"resolution\":[9.0,9.0,40.0],\"chunk_sizes\":[[32,32,32]],\"encoding\":\"p"
        "ng\",\"png_level\":6}]}";
    static const char want[] = "{\n"
                               "  \"@type\": \"neuroglancer_multiscale_volume\",\n"
                               "  \"data_type\": \"uint8\",\n"
                               "  \"num_channels\": 3,\n"
                               "  \"scales\": [\n"
                               "    {\n"
                               "      \"chunk_sizes\": [\n"
                               "        [\n"
                               "          64,\n"
                               "          64,\n"
                               "          64\n"
                               "        ]\n"
                               "      ],\n"
                               "      \"encoding\": \"jpeg\",\n"
                               "      \"jpeg_quality\": 85,\n"
                               "      \"key\": \"4.5_4.5_40.0\",\n"
                               "      \"resolution\": [\n"
                               "        4.5,\n"
                               "        4.5,\n"
                               "        40.0\n"
                               "      ],\n"
                               "      \"size\": [\n"
                               "        100,\n"
                               "        90,\n"
                               "        80\n"
                               "      ],\n"
                               "      \"voxel_offset\": [\n"
                               "        1,\n"
                               "        2,\n"
                               "        3\n"
                               "      ]\n"
                               "    },\n"
                               "    {\n"
                               "      \"chunk_sizes\": [\n"
                               "        [\n"
                               "          32,\n"
                               "          32,\n"
                               "          32\n"
                               "        ]\n"
                               "      ],\n"
                               "      \"encoding\": \"png\",\n"
                               "      \"key\": \"9.0_9.0_40.0\",\n"
                               "      \"png_level\": 6,\n"
                               "      \"resolution\": [\n"
                               "        9.0,\n"
                               "        9.0,\n"
                               "        40.0\n"
                               "      ],\n"
                               "      \"size\": [\n"
                               "        50,\n"
                               "        45,\n"
                               "        80\n"
                               "      ],\n"
                               "      \"voxel_offset\": [\n"
                               "        0,\n"
                               "        1,\n"
                               "        3\n"
                               "      ]\n"
                               "    }\n"
                               "  ],\n"
                               "  \"type\": \"image\"\n"
                               "}";
    roundtrip_check(in, want);
    cv_info *info = NULL;
    ASSERT_OK(cv_info_parse(in, strlen(in), "f1", &info));
    ASSERT_TRUE(info->resolution_is_float);
    ASSERT_TRUE(info->has_at_type);
    ASSERT_EQ(info->scales[0].jpeg_quality, 85);
    ASSERT_EQ(info->scales[0].png_level, -1);
    ASSERT_EQ(info->scales[1].png_level, 6);
    ASSERT_EQ(info->scales[1].jpeg_quality, -1);
    ASSERT_DBL_EQ(info->scales[0].resolution[0], 4.5);
    ASSERT_DBL_EQ(info->scales[1].resolution[2], 40.0);
    /* a scale added to a float-typed info keeps the float typing in key and resolution */
    int64_t f[3] = {4, 4, 1};
    int idx = -1;
    ASSERT_OK(cv_info_add_scale(info, f, NULL, NULL, &idx));
    ASSERT_EQ(idx, 2);
    ASSERT_STR_EQ(info->scales[2].key, "18.0_18.0_40.0");
    cv_info_free(info);
}

static void roundtrip_integral_float_key(void)
{
    /* resolution 9.0 etc. with no decimals: the "9.0_9.0_40.0" key keeps the float typing */
    static const char in[] =
        "{\"type\":\"image\",\"data_type\":\"float32\",\"num_channels\":1,\"scales\":[{\"key\":\""
        "9.0_9.0_40.0\",\"size\":[10,10,10],\"voxel_offset\":[0,0,0],\"resolution\":[9.0,9.0,40.0"
        "],\"chunk_sizes\":[[10,10,10]],\"encoding\":\"raw\"}]}";
    static const char want[] = "{\n"
                               "  \"data_type\": \"float32\",\n"
                               "  \"num_channels\": 1,\n"
                               "  \"scales\": [\n"
                               "    {\n"
                               "      \"chunk_sizes\": [\n"
                               "        [\n"
                               "          10,\n"
                               "          10,\n"
                               "          10\n"
                               "        ]\n"
                               "      ],\n"
                               "      \"encoding\": \"raw\",\n"
                               "      \"key\": \"9.0_9.0_40.0\",\n"
                               "      \"resolution\": [\n"
                               "        9.0,\n"
                               "        9.0,\n"
                               "        40.0\n"
                               "      ],\n"
                               "      \"size\": [\n"
                               "        10,\n"
                               "        10,\n"
                               "        10\n"
                               "      ],\n"
                               "      \"voxel_offset\": [\n"
                               "        0,\n"
                               "        0,\n"
                               "        0\n"
                               "      ]\n"
                               "    }\n"
                               "  ],\n"
                               "  \"type\": \"image\"\n"
                               "}";
    roundtrip_check(in, want);
}

static void roundtrip_float_typed_integral_numbers(void)
{
    /* TensorStore writes resolutions as 8.0 with key "8_8_40"; Python keeps them floats */
    static const char in3[] =
        "{\"@type\":\"neuroglancer_multiscale_volume\",\"data_type\":\"uint16\",\"num_channels\":"
        "1,\"scales\":[{\"chunk_sizes\":[[64,64,64]],\"encoding\":\"raw\",\"key\":\"8_8_40\",\"re"
        "solution\":[8.0,8.0,40.0],\"size\":[100,100,100],\"voxel_offset\":[0,0,0]}],\"type\":\"i"
        "mage\"}";
    static const char want3[] = "{\n"
                                "  \"@type\": \"neuroglancer_multiscale_volume\",\n"
                                "  \"data_type\": \"uint16\",\n"
                                "  \"num_channels\": 1,\n"
                                "  \"scales\": [\n"
                                "    {\n"
                                "      \"chunk_sizes\": [\n"
                                "        [\n"
                                "          64,\n"
                                "          64,\n"
                                "          64\n"
                                "        ]\n"
                                "      ],\n"
                                "      \"encoding\": \"raw\",\n"
                                "      \"key\": \"8_8_40\",\n"
                                "      \"resolution\": [\n"
                                "        8.0,\n"
                                "        8.0,\n"
                                "        40.0\n"
                                "      ],\n"
                                "      \"size\": [\n"
                                "        100,\n"
                                "        100,\n"
                                "        100\n"
                                "      ],\n"
                                "      \"voxel_offset\": [\n"
                                "        0,\n"
                                "        0,\n"
                                "        0\n"
                                "      ]\n"
                                "    }\n"
                                "  ],\n"
                                "  \"type\": \"image\"\n"
                                "}";
    roundtrip_check(in3, want3);
    /* unknown members keep float typing too (1.0 stays 1.0, 1e3 becomes 1000.0) */
    static const char in4[] =
        "{\"type\":\"image\",\"data_type\":\"float32\",\"num_channels\":1,\"scale_factor\":1.0,\""
        "limits\":[0,2.0,1e3,-0.0],\"scales\":[{\"key\":\"1_1_1\",\"size\":[10,10,10],\"voxel_off"
        "set\":[0,0,0],\"resolution\":[1,1,1],\"chunk_sizes\":[[10,10,10]],\"encoding\":\"raw\","
        "\"zfpc_rate\":8.0,\"zfpc_tolerance\":0.001}]}";
    static const char want4[] = "{\n"
                                "  \"data_type\": \"float32\",\n"
                                "  \"limits\": [\n"
                                "    0,\n"
                                "    2.0,\n"
                                "    1000.0,\n"
                                "    -0.0\n"
                                "  ],\n"
                                "  \"num_channels\": 1,\n"
                                "  \"scale_factor\": 1.0,\n"
                                "  \"scales\": [\n"
                                "    {\n"
                                "      \"chunk_sizes\": [\n"
                                "        [\n"
                                "          10,\n"
                                "          10,\n"
                                "          10\n"
                                "        ]\n"
                                "      ],\n"
                                "      \"encoding\": \"raw\",\n"
                                "      \"key\": \"1_1_1\",\n"
                                "      \"resolution\": [\n"
                                "        1,\n"
                                "        1,\n"
                                "        1\n"
                                "      ],\n"
                                "      \"size\": [\n"
                                "        10,\n"
                                "        10,\n"
                                "        10\n"
                                "      ],\n"
                                "      \"voxel_offset\": [\n"
                                "        0,\n"
                                "        0,\n"
                                "        0\n"
                                "      ],\n"
                                "      \"zfpc_rate\": 8.0,\n"
                                "      \"zfpc_tolerance\": 0.001\n"
                                "    }\n"
                                "  ],\n"
                                "  \"type\": \"image\"\n"
                                "}";
    roundtrip_check(in4, want4);
}

static void parse_fields(void)
{
    static const char in[] =
        "{\"type\":\"Segmentation\",\"data_type\":\"UINT32\",\"num_channels\":1,"
        "\"scales\":[{\"key\":\"a/b\",\"size\":[7,8,9],\"resolution\":[1.25,2,3],"
        "\"chunk_sizes\":[[4,4,4],[7,8,1]],\"encoding\":\"Compressed_Segmentation\","
        "\"compressed_segmentation_block_size\":[2,4,8],\"hidden\":true,\"sharding\":null}],"
        "\"mesh\":\"m\",\"skeletons\":\"s\",\"segment_properties\":\"p\","
        "\"redirect\":\"gs://x/y\"}";
    cv_info *info = NULL;
    ASSERT_OK(cv_info_parse(in, strlen(in), "fields", &info));
    ASSERT_STR_EQ(info->type, "segmentation");
    ASSERT_EQ(info->dtype, CV_UINT32);
    ASSERT_EQ(info->num_channels, 1);
    ASSERT_EQ(info->n_scales, 1);
    const cv_scale *s = &info->scales[0];
    ASSERT_STR_EQ(s->key, "a/b");
    ASSERT_STR_EQ(s->encoding, "compressed_segmentation");
    ASSERT_EQ(s->size[0], 7);
    ASSERT_EQ(s->size[2], 9);
    ASSERT_EQ(s->voxel_offset[0], 0); /* absent means 0,0,0 */
    ASSERT_EQ(s->voxel_offset[2], 0);
    ASSERT_DBL_EQ(s->resolution[0], 1.25);
    ASSERT_EQ(s->n_chunk_sizes, 2);
    ASSERT_EQ(s->chunk_sizes[1][0], 7);
    ASSERT_EQ(s->chunk_sizes[1][2], 1);
    ASSERT_EQ(s->cseg_block[0], 2);
    ASSERT_EQ(s->cseg_block[2], 8);
    ASSERT_EQ(s->has_hidden, 1);
    ASSERT_TRUE(s->sharding_json == NULL); /* null sharding = unsharded, never written back */
    ASSERT_TRUE(s->extra_json == NULL);
    ASSERT_TRUE(info->extra_json == NULL);
    ASSERT_STR_EQ(info->mesh, "m");
    ASSERT_STR_EQ(info->skeletons, "s");
    ASSERT_STR_EQ(info->segment_properties, "p");
    ASSERT_STR_EQ(info->redirect, "gs://x/y");
    ASSERT_TRUE(!info->has_at_type);
    ASSERT_TRUE(info->resolution_is_float);
    cv_bbox b = cv_info_bounds(info, 0);
    ASSERT_TRUE(cv_bbox_equal(b, cv_bbox_make(0, 0, 0, 7, 8, 9)));
    cv_grid g = cv_info_grid(info, 0);
    ASSERT_EQ(g.chunk[0], 4);
    ASSERT_EQ(g.chunk[2], 4);
    /* a copy serializes identically */
    cv_info *copy = NULL;
    ASSERT_OK(cv_info_copy(info, &copy));
    char *a = NULL, *c = NULL;
    size_t na = 0, nc = 0;
    cv_status rc1 = cv_info_to_json(info, &a, &na);
    cv_status rc2 = cv_info_to_json(copy, &c, &nc);
    bool same = rc1 == CV_OK && rc2 == CV_OK && na == nc && strcmp(a, c) == 0 &&
                strstr(a, "\"sharding\"") == NULL && strstr(a, "\"hidden\": true") != NULL;
    cv_free(a);
    cv_free(c);
    cv_info_free(copy);
    cv_info_free(info);
    ASSERT_TRUE(same);
}

/* ---- create_new_info / add_scale ------------------------------------------------------- */

static void create_raw_two_scales(void)
{
    static const char want[] = "{\n"
                               "  \"data_type\": \"uint8\",\n"
                               "  \"num_channels\": 1,\n"
                               "  \"scales\": [\n"
                               "    {\n"
                               "      \"chunk_sizes\": [\n"
                               "        [\n"
                               "          128,\n"
                               "          128,\n"
                               "          16\n"
                               "        ]\n"
                               "      ],\n"
                               "      \"encoding\": \"raw\",\n"
                               "      \"key\": \"4_4_40\",\n"
                               "      \"resolution\": [\n"
                               "        4,\n"
                               "        4,\n"
                               "        40\n"
                               "      ],\n"
                               "      \"size\": [\n"
                               "        2048,\n"
                               "        2048,\n"
                               "        256\n"
                               "      ],\n"
                               "      \"voxel_offset\": [\n"
                               "        0,\n"
                               "        0,\n"
                               "        0\n"
                               "      ]\n"
                               "    },\n"
                               "    {\n"
                               "      \"chunk_sizes\": [\n"
                               "        [\n"
                               "          128,\n"
                               "          128,\n"
                               "          16\n"
                               "        ]\n"
                               "      ],\n"
                               "      \"encoding\": \"raw\",\n"
                               "      \"key\": \"8_8_40\",\n"
                               "      \"resolution\": [\n"
                               "        8,\n"
                               "        8,\n"
                               "        40\n"
                               "      ],\n"
                               "      \"size\": [\n"
                               "        1024,\n"
                               "        1024,\n"
                               "        256\n"
                               "      ],\n"
                               "      \"voxel_offset\": [\n"
                               "        0,\n"
                               "        0,\n"
                               "        0\n"
                               "      ]\n"
                               "    }\n"
                               "  ],\n"
                               "  \"type\": \"image\"\n"
                               "}";
    cv_info_params p;
    memset(&p, 0, sizeof p);
    p.type = "image";
    p.dtype = CV_UINT8;
    p.resolution[0] = 4;
    p.resolution[1] = 4;
    p.resolution[2] = 40;
    p.size[0] = 2048;
    p.size[1] = 2048;
    p.size[2] = 256;
    p.chunk_size[0] = 128;
    p.chunk_size[1] = 128;
    p.chunk_size[2] = 16;
    p.max_mip = 1;
    cv_info *info = NULL;
    ASSERT_OK(cv_info_create(&p, &info));
    ASSERT_EQ(info->num_channels, 1);
    ASSERT_STR_EQ(info->scales[0].encoding, "raw");
    serialize_check(info, want);
    cv_info_free(info);
}

static void create_cseg_float_resolution(void)
{
    static const char want[] = "{\n"
                               "  \"data_type\": \"uint32\",\n"
                               "  \"mesh\": \"mesh\",\n"
                               "  \"num_channels\": 1,\n"
                               "  \"scales\": [\n"
                               "    {\n"
                               "      \"chunk_sizes\": [\n"
                               "        [\n"
                               "          128,\n"
                               "          128,\n"
                               "          64\n"
                               "        ]\n"
                               "      ],\n"
                               "      \"compressed_segmentation_block_size\": [\n"
                               "        4,\n"
                               "        4,\n"
                               "        4\n"
                               "      ],\n"
                               "      \"encoding\": \"compressed_segmentation\",\n"
                               "      \"key\": \"4.5_4.5_40.0\",\n"
                               "      \"resolution\": [\n"
                               "        4.5,\n"
                               "        4.5,\n"
                               "        40.0\n"
                               "      ],\n"
                               "      \"size\": [\n"
                               "        1001,\n"
                               "        999,\n"
                               "        101\n"
                               "      ],\n"
                               "      \"voxel_offset\": [\n"
                               "        3,\n"
                               "        -7,\n"
                               "        5\n"
                               "      ]\n"
                               "    },\n"
                               "    {\n"
                               "      \"chunk_sizes\": [\n"
                               "        [\n"
                               "          128,\n"
                               "          128,\n"
                               "          64\n"
                               "        ]\n"
                               "      ],\n"
                               "      \"compressed_segmentation_block_size\": [\n"
                               "        8,\n"
                               "        8,\n"
                               "        8\n"
                               "      ],\n"
                               "      \"encoding\": \"compressed_segmentation\",\n"
                               "      \"key\": \"9.0_9.0_40.0\",\n"
                               "      \"resolution\": [\n"
                               "        9.0,\n"
                               "        9.0,\n"
                               "        40.0\n"
                               "      ],\n"
                               "      \"size\": [\n"
                               "        501,\n"
                               "        500,\n"
                               "        101\n"
                               "      ],\n"
                               "      \"voxel_offset\": [\n"
                               "        1,\n"
                               "        -4,\n"
                               "        5\n"
                               "      ]\n"
                               "    },\n"
                               "    {\n"
                               "      \"chunk_sizes\": [\n"
                               "        [\n"
                               "          128,\n"
                               "          128,\n"
                               "          64\n"
                               "        ]\n"
                               "      ],\n"
                               "      \"compressed_segmentation_block_size\": [\n"
                               "        8,\n"
                               "        8,\n"
                               "        8\n"
                               "      ],\n"
                               "      \"encoding\": \"compressed_segmentation\",\n"
                               "      \"key\": \"18.0_18.0_40.0\",\n"
                               "      \"resolution\": [\n"
                               "        18.0,\n"
                               "        18.0,\n"
                               "        40.0\n"
                               "      ],\n"
                               "      \"size\": [\n"
                               "        251,\n"
                               "        250,\n"
                               "        101\n"
                               "      ],\n"
                               "      \"voxel_offset\": [\n"
                               "        0,\n"
                               "        -2,\n"
                               "        5\n"
                               "      ]\n"
                               "    }\n"
                               "  ],\n"
                               "  \"type\": \"segmentation\"\n"
                               "}";
    cv_info_params p;
    memset(&p, 0, sizeof p);
    p.type = "segmentation";
    p.dtype = CV_UINT32;
    p.encoding = "compressed_segmentation";
    p.resolution[0] = 4.5;
    p.resolution[1] = 4.5;
    p.resolution[2] = 40;
    p.size[0] = 1001;
    p.size[1] = 999;
    p.size[2] = 101;
    p.voxel_offset[0] = 3;
    p.voxel_offset[1] = -7;
    p.voxel_offset[2] = 5;
    p.chunk_size[0] = 128;
    p.chunk_size[1] = 128;
    p.chunk_size[2] = 64;
    p.cseg_block[0] = 4;
    p.cseg_block[1] = 4;
    p.cseg_block[2] = 4;
    p.mesh = "mesh";
    p.max_mip = 2;
    cv_info *info = NULL;
    ASSERT_OK(cv_info_create(&p, &info));
    serialize_check(info, want);
    cv_info_free(info);
}

static void create_defaults(void)
{
    cv_info_params p;
    memset(&p, 0, sizeof p);
    p.type = "segmentation";
    p.dtype = CV_UINT64;
    p.encoding = "compressed_segmentation";
    p.resolution[0] = 8;
    p.resolution[1] = 8;
    p.resolution[2] = 8;
    p.size[0] = 100;
    p.size[1] = 100;
    p.size[2] = 100;
    cv_info *info = NULL;
    ASSERT_OK(cv_info_create(&p, &info));
    ASSERT_EQ(info->n_scales, 1);
    ASSERT_EQ(info->num_channels, 1);
    ASSERT_EQ(info->scales[0].chunk_sizes[0][0], 64);
    ASSERT_EQ(info->scales[0].chunk_sizes[0][1], 64);
    ASSERT_EQ(info->scales[0].chunk_sizes[0][2], 64);
    ASSERT_EQ(info->scales[0].cseg_block[0], 8);
    ASSERT_EQ(info->scales[0].cseg_block[2], 8);
    ASSERT_STR_EQ(info->scales[0].key, "8_8_8");
    ASSERT_TRUE(!info->resolution_is_float);
    ASSERT_TRUE(info->mesh == NULL);
    ASSERT_TRUE(!info->has_at_type);
    cv_info_free(info);
    /* an explicit resolution_is_float types integral resolutions as floats */
    p.resolution_is_float = true;
    ASSERT_OK(cv_info_create(&p, &info));
    ASSERT_STR_EQ(info->scales[0].key, "8.0_8.0_8.0");
    cv_info_free(info);
    /* an invalid combination is refused */
    p.dtype = CV_UINT8;
    cv_info *bad = NULL;
    ASSERT_FAILS(cv_info_create(&p, &bad), CV_ERR_INFO, "scales[0].encoding");
}

static void create_max_mip_keys(void)
{
    static const char *const int_keys[] = {"4_4_40",   "8_8_40",   "16_16_40",
                                           "32_32_40", "64_64_40", "128_128_40"};
    static const char *const float_keys[] = {"4.5_4.5_40.0",   "9.0_9.0_40.0",
                                             "18.0_18.0_40.0", "36.0_36.0_40.0",
                                             "72.0_72.0_40.0", "144.0_144.0_40.0"};
    cv_info_params p;
    memset(&p, 0, sizeof p);
    p.type = "image";
    p.dtype = CV_UINT8;
    p.resolution[0] = 4;
    p.resolution[1] = 4;
    p.resolution[2] = 40;
    p.size[0] = 2048;
    p.size[1] = 2048;
    p.size[2] = 256;
    p.chunk_size[0] = 128;
    p.chunk_size[1] = 128;
    p.chunk_size[2] = 16;
    p.max_mip = 5;
    p.factor[0] = 2;
    p.factor[1] = 2;
    p.factor[2] = 1;
    cv_info *info = NULL;
    ASSERT_OK(cv_info_create(&p, &info));
    ASSERT_EQ(info->n_scales, 6);
    for (int i = 0; i < 6; i++) {
        ASSERT_STR_EQ(info->scales[i].key, int_keys[i]);
        ASSERT_DBL_EQ(info->scales[i].resolution[0], 4 << i);
        ASSERT_DBL_EQ(info->scales[i].resolution[1], 4 << i);
        ASSERT_DBL_EQ(info->scales[i].resolution[2], 40);
        ASSERT_EQ(info->scales[i].size[0], 2048 >> i);
        ASSERT_EQ(info->scales[i].size[2], 256);
        ASSERT_EQ(info->scales[i].chunk_sizes[0][0], 128);
        ASSERT_EQ(info->scales[i].chunk_sizes[0][2], 16);
    }
    cv_info_free(info);
    p.resolution[0] = 4.5;
    p.resolution[1] = 4.5;
    ASSERT_OK(cv_info_create(&p, &info));
    ASSERT_EQ(info->n_scales, 6);
    ASSERT_TRUE(info->resolution_is_float);
    for (int i = 0; i < 6; i++) {
        ASSERT_STR_EQ(info->scales[i].key, float_keys[i]);
        ASSERT_DBL_EQ(info->scales[i].resolution[0], 4.5 * (1 << i));
    }
    char *json = NULL;
    size_t len = 0;
    ASSERT_OK(cv_info_to_json(info, &json, &len));
    bool has =
        strstr(json, "\"resolution\": [\n        144.0,\n        144.0,\n        40.0\n") != NULL;
    cv_free(json);
    cv_info_free(info);
    ASSERT_TRUE(has);
}

/* scale 0 of size (1001,999,101), offset (3,-7,5), the given chunk, uint8 raw */
static cv_info *make_info_1001(int64_t cx, int64_t cy, int64_t cz)
{
    cv_info_params p;
    memset(&p, 0, sizeof p);
    p.type = "image";
    p.dtype = CV_UINT8;
    p.resolution[0] = 4;
    p.resolution[1] = 4;
    p.resolution[2] = 40;
    p.size[0] = 1001;
    p.size[1] = 999;
    p.size[2] = 101;
    p.voxel_offset[0] = 3;
    p.voxel_offset[1] = -7;
    p.voxel_offset[2] = 5;
    p.chunk_size[0] = cx;
    p.chunk_size[1] = cy;
    p.chunk_size[2] = cz;
    cv_info *info = NULL;
    return cv_info_create(&p, &info) == CV_OK ? info : NULL;
}

static void add_scale_arithmetic(void)
{
    static const struct {
        int64_t factor[3], size[3], offset[3];
        double res[3];
        const char *key;
    } want[] = {
        {{2, 2, 1}, {501, 500, 101}, {1, -4, 5}, {8, 8, 40}, "8_8_40"},
        {{4, 4, 1}, {251, 250, 101}, {0, -2, 5}, {16, 16, 40}, "16_16_40"},
        {{8, 8, 2}, {126, 125, 51}, {0, -1, 2}, {32, 32, 80}, "32_32_80"},
    };
    cv_info *info = make_info_1001(64, 64, 64);
    ASSERT_TRUE(info != NULL);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int idx = -1;
        ASSERT_OK(cv_info_add_scale(info, want[i].factor, NULL, NULL, &idx));
        ASSERT_EQ(idx, (int)i + 1);
        const cv_scale *s = &info->scales[idx];
        for (int d = 0; d < 3; d++) {
            ASSERT_EQ(s->size[d], want[i].size[d]);
            ASSERT_EQ(s->voxel_offset[d], want[i].offset[d]);
            ASSERT_DBL_EQ(s->resolution[d], want[i].res[d]);
            ASSERT_EQ(s->chunk_sizes[0][d], 64);
        }
        ASSERT_STR_EQ(s->key, want[i].key);
        ASSERT_STR_EQ(s->encoding, "raw");
        ASSERT_EQ(s->n_chunk_sizes, 1);
    }
    ASSERT_EQ(info->n_scales, 4);
    ASSERT_OK(cv_info_validate(info));
    /* factors below 1 are refused */
    int64_t zero[3] = {0, 2, 1};
    ASSERT_FAILS(cv_info_add_scale(info, zero, NULL, NULL, NULL), CV_ERR_ARG, "factor");
    ASSERT_EQ(info->n_scales, 4);
    cv_info_free(info);
}

static void add_scale_closest_divisor(void)
{
    static const int64_t cases[][6] = {
        {128, 128, 64, 64, 64, 64}, {256, 256, 16, 64, 64, 16}, {100, 100, 100, 50, 50, 50},
        {1024, 1024, 1, 64, 64, 1}, {96, 96, 96, 48, 48, 48},   {64, 7, 1000, 64, 7, 50},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cv_info *info = make_info_1001(cases[i][0], cases[i][1], cases[i][2]);
        ASSERT_TRUE(info != NULL);
        int64_t f[3] = {2, 2, 1};
        int idx = -1;
        ASSERT_OK(cv_info_add_scale(info, f, NULL, NULL, &idx));
        int64_t got[3] = {info->scales[idx].chunk_sizes[0][0], info->scales[idx].chunk_sizes[0][1],
                          info->scales[idx].chunk_sizes[0][2]};
        cv_info_free(info);
        ASSERT_EQ(got[0], cases[i][3]);
        ASSERT_EQ(got[1], cases[i][4]);
        ASSERT_EQ(got[2], cases[i][5]);
    }
}

static void add_scale_replace_and_encoding(void)
{
    cv_info *info = make_info_1001(128, 128, 64);
    ASSERT_TRUE(info != NULL);
    int64_t f[3] = {2, 2, 1};
    int64_t chunk[3] = {32, 16, 8};
    int idx = -1;
    ASSERT_OK(cv_info_add_scale(info, f, NULL, NULL, &idx));
    ASSERT_EQ(idx, 1);
    ASSERT_EQ(info->scales[1].chunk_sizes[0][0], 64);
    int64_t f4[3] = {4, 4, 1};
    ASSERT_OK(cv_info_add_scale(info, f4, NULL, NULL, &idx));
    ASSERT_EQ(idx, 2);
    /* same resolution again: replaced in place, not appended */
    ASSERT_OK(cv_info_add_scale(info, f, chunk, "jpeg", &idx));
    ASSERT_EQ(idx, 1);
    ASSERT_EQ(info->n_scales, 3);
    ASSERT_EQ(info->scales[1].chunk_sizes[0][0], 32);
    ASSERT_EQ(info->scales[1].chunk_sizes[0][1], 16);
    ASSERT_EQ(info->scales[1].chunk_sizes[0][2], 8);
    ASSERT_STR_EQ(info->scales[1].encoding, "jpeg");
    ASSERT_STR_EQ(info->scales[1].key, "8_8_40");
    ASSERT_STR_EQ(info->scales[2].key, "16_16_40");
    /* factor 1 replaces scale 0 itself */
    int64_t one[3] = {1, 1, 1};
    ASSERT_OK(cv_info_add_scale(info, one, chunk, NULL, &idx));
    ASSERT_EQ(idx, 0);
    ASSERT_EQ(info->n_scales, 3);
    ASSERT_EQ(info->scales[0].chunk_sizes[0][0], 32);
    ASSERT_EQ(info->scales[0].size[0], 1001);
    ASSERT_OK(cv_info_validate(info));
    cv_info_free(info);

    /* compressed_segmentation copies scale 0's block size */
    cv_info_params p;
    memset(&p, 0, sizeof p);
    p.type = "segmentation";
    p.dtype = CV_UINT32;
    p.encoding = "compressed_segmentation";
    p.resolution[0] = p.resolution[1] = p.resolution[2] = 1;
    p.size[0] = p.size[1] = p.size[2] = 64;
    p.cseg_block[0] = 2;
    p.cseg_block[1] = 4;
    p.cseg_block[2] = 16;
    ASSERT_OK(cv_info_create(&p, &info));
    ASSERT_OK(cv_info_add_scale(info, f, NULL, NULL, &idx));
    ASSERT_EQ(info->scales[idx].cseg_block[0], 2);
    ASSERT_EQ(info->scales[idx].cseg_block[1], 4);
    ASSERT_EQ(info->scales[idx].cseg_block[2], 16);
    /* switching to raw leaves no block size behind */
    ASSERT_OK(cv_info_add_scale(info, f4, NULL, "raw", &idx));
    ASSERT_EQ(info->scales[idx].cseg_block[0], 0);
    ASSERT_OK(cv_info_validate(info));
    cv_info_free(info);
}

/* The largest sizes the bounds allow still parse: 2^63 - 1 bytes per scale, 2^24 voxels per
 * compressed_segmentation block, chunk axes of 2^31 - 1. */
static void size_bounds_inclusive(void)
{
    static const char in[] =
        "{\"type\":\"segmentation\",\"data_type\":\"uint32\",\"num_channels\":1,"
        "\"scales\":[{\"key\":\"a\",\"size\":[2147483647,1073741824,1],"
        "\"voxel_offset\":[0,0,0],\"resolution\":[1,1,1],\"chunk_sizes\":[[2147483647,1,1]],"
        "\"encoding\":\"compressed_segmentation\","
        "\"compressed_segmentation_block_size\":[4096,64,64]}]}";
    cv_info *info = NULL;
    ASSERT_OK(cv_info_parse(in, strlen(in), "edge", &info));
    ASSERT_EQ(info->scales[0].cseg_block[0], 4096);
    cv_info_free(info);
    /* one voxel more is refused */
    char *more = cv__strdup(in);
    memcpy(strstr(more, "[4096,64,64]"), "[4097,64,64]", 12);
    ASSERT_FAILS(cv_info_parse(more, strlen(more), "edge", &info), CV_ERR_INFO,
                 "4097 x 64 x 64 is more than 2^24 voxels per block");
    cv_free(more);
}

static void remove_scale(void)
{
    cv_info *info = make_info_1001(64, 64, 64);
    ASSERT_TRUE(info != NULL);
    int64_t f2[3] = {2, 2, 1}, f4[3] = {4, 4, 1};
    ASSERT_OK(cv_info_add_scale(info, f2, NULL, NULL, NULL));
    ASSERT_OK(cv_info_add_scale(info, f4, NULL, NULL, NULL));
    ASSERT_EQ(info->n_scales, 3);
    ASSERT_OK(cv_info_remove_scale(info, 1));
    ASSERT_EQ(info->n_scales, 2);
    ASSERT_STR_EQ(info->scales[0].key, "4_4_40");
    ASSERT_STR_EQ(info->scales[1].key, "16_16_40");
    ASSERT_FAILS(cv_info_remove_scale(info, 2), CV_ERR_ARG, "no mip 2");
    ASSERT_FAILS(cv_info_remove_scale(info, -1), CV_ERR_ARG, "no mip -1");
    ASSERT_OK(cv_info_remove_scale(info, 0));
    ASSERT_EQ(info->n_scales, 1);
    ASSERT_STR_EQ(info->scales[0].key, "16_16_40");
    ASSERT_FAILS(cv_info_remove_scale(info, 0), CV_ERR_ARG, "only scale");
    ASSERT_EQ(info->n_scales, 1);
    cv_info_free(info);
}

static void find_mip(void)
{
    cv_info *info = make_info_1001(64, 64, 64);
    ASSERT_TRUE(info != NULL);
    int64_t f2[3] = {2, 2, 1}, f4[3] = {4, 4, 2};
    ASSERT_OK(cv_info_add_scale(info, f2, NULL, NULL, NULL));
    ASSERT_OK(cv_info_add_scale(info, f4, NULL, NULL, NULL));
    int mip = -1;
    double r0[3] = {4, 4, 40}, r1[3] = {8, 8, 40}, r2[3] = {16, 16, 80}, none[3] = {8, 8, 80};
    ASSERT_OK(cv_info_find_mip(info, r0, &mip));
    ASSERT_EQ(mip, 0);
    ASSERT_OK(cv_info_find_mip(info, r1, &mip));
    ASSERT_EQ(mip, 1);
    ASSERT_OK(cv_info_find_mip(info, r2, &mip));
    ASSERT_EQ(mip, 2);
    mip = -7;
    ASSERT_FAILS(cv_info_find_mip(info, none, &mip), CV_ERR_ARG,
                 "no scale with resolution 8,8,80 (available: 4,4,40 8,8,40 16,16,80)");
    ASSERT_EQ(mip, -7);
    cv_info_free(info);
}

/* ---- Python float repr ----------------------------------------------------------------- */

static void pyfloat_repr(void)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0.1, "0.1"},
        {1e-05, "1e-05"},
        {1e+16, "1e+16"},
        {1.2345678901234568e+17, "1.2345678901234568e+17"},
        {4.5, "4.5"},
        {40.0, "40.0"},
        {-0.0, "-0.0"},
        {6.000000000000001, "6.000000000000001"},
        {0.0001, "0.0001"},
        {0.0001234, "0.0001234"},
        {0.0, "0.0"},
        {1e+22, "1e+22"},
        {5e-324, "5e-324"},
        {1.7976931348623157e+308, "1.7976931348623157e+308"},
        {0.3, "0.3"},
        {0.6666666666666666, "0.6666666666666666"},
        {1234.5, "1234.5"},
        {1000000000000000.0, "1000000000000000.0"},
        {9999999999999998.0, "9999999999999998.0"},
        {123456789.0, "123456789.0"},
        {-2.5e-07, "-2.5e-07"},
        {100.0, "100.0"},
        {1e+100, "1e+100"},
        {1e-100, "1e-100"},
        {0.30000000000000004, "0.30000000000000004"},
        {9.5367431640625e-07, "9.5367431640625e-07"},
        {3e-05, "3e-05"},
        {99999.99999999999, "99999.99999999999"},
        {3.0000000000000004e-05, "3.0000000000000004e-05"},
        {-1e+16, "-1e+16"},
        {0.5, "0.5"},
        {1.5e-323, "1.5e-323"},
        {9.999999999999998e-05, "9.999999999999998e-05"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        int n = cv_format_pyfloat(cases[i].v, buf, sizeof buf);
        ASSERT_STR_EQ(buf, cases[i].want);
        ASSERT_EQ(n, (int)strlen(cases[i].want));
    }
    /* snprintf semantics: the full length is returned even when cut */
    char small[4];
    ASSERT_EQ(cv_format_pyfloat(123.25, small, sizeof small), 6);
    ASSERT_STR_EQ(small, "123");
}

/* ---- validation: one case per rule ----------------------------------------------------- */

static void validate_top_level(void)
{
    static const bad_case cases[] = {
        {{"scales", NULL, NULL}, CV_ERR_INFO, "scales: missing"},
        {{"scales", "[]", NULL}, CV_ERR_INFO, "scales: must be a non-empty list"},
        {{"scales", "{}", NULL}, CV_ERR_INFO, "scales: must be a non-empty list"},
        {{"scales/1", "7", NULL}, CV_ERR_INFO, "scales[1]: must be an object"},
        {{"data_type", "\"uint128\"", NULL}, CV_ERR_INFO, "data_type: unknown data type"},
        {{"data_type", "8", NULL}, CV_ERR_INFO, "data_type: must be a string"},
        {{"data_type", NULL, NULL}, CV_ERR_INFO, "data_type: missing"},
        {{"type", "\"mesh\"", NULL}, CV_ERR_INFO, "type: must be"},
        {{"type", NULL, NULL}, CV_ERR_INFO, "type: missing"},
        {{"num_channels", "0", NULL}, CV_ERR_INFO, "num_channels: must be >= 1"},
        {{"num_channels", "\"1\"", NULL}, CV_ERR_INFO, "num_channels: must be an integer"},
        {{"num_channels", "1.5", NULL}, CV_ERR_INFO, "num_channels: must be an integer"},
        {{"num_channels", NULL, NULL}, CV_ERR_INFO, "num_channels: missing"},
        {{"type", "\"segmentation\"", "num_channels", "2", "data_type", "\"uint32\"", NULL},
         CV_ERR_INFO,
         "num_channels: must be 1 for segmentation"},
        {{"@type", "\"neuroglancer_legacy_mesh\"", NULL}, CV_ERR_INFO, "@type: must be"},
        {{"@type", "1", NULL}, CV_ERR_INFO, "@type: must be"},
        {{"mesh", "5", NULL}, CV_ERR_INFO, "mesh: must be a string"},
        {{"redirect", "[]", NULL}, CV_ERR_INFO, "redirect: must be a string"},
    };
    check_bad_cases(cases, sizeof cases / sizeof cases[0]);
}

static void validate_scale_geometry(void)
{
    static const bad_case cases[] = {
        {{"scales/0/size", "\"64\"", NULL}, CV_ERR_INFO, "scales[0].size: must be a list"},
        {{"scales/0/size", "[64,64]", NULL}, CV_ERR_INFO, "scales[0].size: must be a list"},
        {{"scales/0/size", "[1.5,10,10]", NULL}, CV_ERR_INFO, "scales[0].size: must be a list"},
        {{"scales/0/size", "[10,-1,10]", NULL}, CV_ERR_INFO, "scales[0].size: each size"},
        {{"scales/1/size", "[10,10,0]", NULL}, CV_ERR_INFO, "scales[1].size: each size"},
        {{"scales/0/size", NULL, NULL}, CV_ERR_INFO, "scales[0].size: missing"},
        {{"scales/0/voxel_offset", "[0,0]", NULL}, CV_ERR_INFO, "scales[0].voxel_offset"},
        {{"scales/0/voxel_offset", "[0,0.5,0]", NULL}, CV_ERR_INFO, "scales[0].voxel_offset"},
        {{"scales/0/chunk_sizes", "[[64,0,8]]", NULL},
         CV_ERR_INFO,
         "scales[0].chunk_sizes[0]: each size must be >= 1"},
        {{"scales/0/chunk_sizes", "[[64,64,8],[1,-2,1]]", NULL},
         CV_ERR_INFO,
         "scales[0].chunk_sizes[1]"},
        {{"scales/0/chunk_sizes", "[]", NULL}, CV_ERR_INFO, "scales[0].chunk_sizes: must be"},
        {{"scales/0/chunk_sizes", "[64,64,8]", NULL}, CV_ERR_INFO, "scales[0].chunk_sizes[0]"},
        {{"scales/0/chunk_sizes", "[[64,64,8.5]]", NULL}, CV_ERR_INFO, "scales[0].chunk_sizes[0]"},
        {{"scales/0/chunk_sizes", NULL, NULL}, CV_ERR_INFO, "scales[0].chunk_sizes: missing"},
        /* products of sizes: 2^64 bytes would wrap to 0 */
        {{"scales/0/size", "[4194304,2097152,2097152]", NULL},
         CV_ERR_INFO,
         "scales[0].size: 4194304 x 2097152 x 2097152 voxels x 1 channels x 1 bytes is more "
         "than 2^63 - 1 bytes"},
        {{"scales/1/size", "[1099511627776,1099511627776,1099511627776]", NULL},
         CV_ERR_INFO,
         "scales[1].size: 1099511627776 x 1099511627776 x 1099511627776 voxels"},
        {{"scales/0/size", "[2097152,2097152,1048576]", "num_channels", "2", NULL},
         CV_ERR_INFO,
         "voxels x 2 channels x 1 bytes is more than 2^63 - 1 bytes"},
        {{"scales/0/chunk_sizes", "[[2147483648,64,8]]", NULL},
         CV_ERR_INFO,
         "scales[0].chunk_sizes[0]: each size must be <= 2^31 - 1 (got 2147483648)"},
        {{"type", "\"segmentation\"", "data_type", "\"uint32\"", "scales/0/encoding",
          "\"compressed_segmentation\"", "scales/0/compressed_segmentation_block_size",
          "[2147483648,2147483648,2147483648]", NULL},
         CV_ERR_INFO,
         "scales[0].compressed_segmentation_block_size: 2147483648 x 2147483648 x 2147483648 is "
         "more than 2^24 voxels per block"},
        {{"type", "\"segmentation\"", "data_type", "\"uint32\"", "scales/0/encoding",
          "\"compressed_segmentation\"", "scales/0/compressed_segmentation_block_size",
          "[4294967304,8,8]", NULL},
         CV_ERR_INFO,
         "scales[0].compressed_segmentation_block_size: 4294967304 x 8 x 8 is more than 2^24"},
        {{"scales/0/resolution", "[4,0,40]", NULL}, CV_ERR_INFO, "scales[0].resolution"},
        {{"scales/1/resolution", "[4,-4,40]", NULL}, CV_ERR_INFO, "scales[1].resolution"},
        {{"scales/0/resolution", "[4,4]", NULL}, CV_ERR_INFO, "scales[0].resolution"},
        {{"scales/0/resolution", "[4,\"4\",40]", NULL}, CV_ERR_INFO, "scales[0].resolution"},
        {{"scales/0/resolution", NULL, NULL}, CV_ERR_INFO, "scales[0].resolution: missing"},
        {{"scales/0/key", NULL, NULL}, CV_ERR_INFO, "scales[0].key: missing"},
        {{"scales/0/key", "\"\"", NULL}, CV_ERR_INFO, "scales[0].key"},
        {{"scales/0/key", "\"/abs/dir\"", NULL}, CV_ERR_INFO, "scales[0].key"},
        {{"scales/0/key", "4", NULL}, CV_ERR_INFO, "scales[0].key: must be a string"},
        {{"scales/0/hidden", "1", NULL}, CV_ERR_INFO, "scales[0].hidden"},
    };
    check_bad_cases(cases, sizeof cases / sizeof cases[0]);
}

static void validate_encodings(void)
{
    static const bad_case cases[] = {
        {{"scales/0/encoding", "\"foo\"", NULL}, CV_ERR_INFO, "scales[0].encoding"},
        {{"scales/0/encoding", NULL, NULL}, CV_ERR_INFO, "scales[0].encoding: missing"},
        {{"scales/0/encoding", "\"jpeg\"", "data_type", "\"uint16\"", NULL},
         CV_ERR_INFO,
         "scales[0].encoding: \"jpeg\" with uint16"},
        {{"scales/0/encoding", "\"jpeg\"", "num_channels", "2", NULL},
         CV_ERR_INFO,
         "scales[0].encoding: \"jpeg\""},
        {{"scales/1/encoding", "\"png\"", "num_channels", "5", NULL},
         CV_ERR_INFO,
         "scales[1].encoding: \"png\""},
        {{"scales/0/encoding", "\"png\"", "data_type", "\"int16\"", NULL},
         CV_ERR_INFO,
         "scales[0].encoding: \"png\""},
        {{"scales/0/encoding", "\"compressed_segmentation\"",
          "scales/0/compressed_segmentation_block_size", "[8,8,8]", NULL},
         CV_ERR_INFO,
         "scales[0].encoding: \"compressed_segmentation\" with uint8"},
        {{"scales/0/encoding", "\"compressed_segmentation\"", "data_type", "\"uint32\"", NULL},
         CV_ERR_INFO,
         "scales[0].compressed_segmentation_block_size: missing"},
        {{"scales/0/compressed_segmentation_block_size", "[8,8,8]", NULL},
         CV_ERR_INFO,
         "scales[0].compressed_segmentation_block_size: only allowed"},
        {{"scales/0/encoding", "\"compressed_segmentation\"", "data_type", "\"uint32\"",
          "scales/0/compressed_segmentation_block_size", "[8,0,8]", NULL},
         CV_ERR_INFO,
         "scales[0].compressed_segmentation_block_size"},
        {{"scales/0/encoding", "\"compresso\"", "data_type", "\"int32\"", NULL},
         CV_ERR_INFO,
         "scales[0].encoding: \"compresso\""},
        {{"scales/0/encoding", "\"png\"", "scales/0/jpeg_quality", "80", NULL},
         CV_ERR_INFO,
         "scales[0].jpeg_quality: only allowed with jpeg"},
        {{"scales/0/encoding", "\"jpeg\"", "scales/0/jpeg_quality", "101", NULL},
         CV_ERR_INFO,
         "scales[0].jpeg_quality: must be in [0, 100]"},
        {{"scales/0/encoding", "\"jpeg\"", "scales/0/jpeg_quality", "-1", NULL},
         CV_ERR_INFO,
         "scales[0].jpeg_quality: must be in [0, 100]"},
        {{"scales/0/encoding", "\"jpeg\"", "scales/0/jpeg_quality", "85.5", NULL},
         CV_ERR_INFO,
         "scales[0].jpeg_quality: must be an integer"},
        {{"scales/0/encoding", "\"png\"", "scales/0/png_level", "10", NULL},
         CV_ERR_INFO,
         "scales[0].png_level: must be in [0, 9]"},
        {{"scales/0/encoding", "\"png\"", "scales/0/png_level", "-1", NULL},
         CV_ERR_INFO,
         "scales[0].png_level: must be in [0, 9]"},
        {{"scales/1/png_level", "5", NULL},
         CV_ERR_INFO,
         "scales[1].png_level: only allowed with png"},
    };
    check_bad_cases(cases, sizeof cases / sizeof cases[0]);
}

static void validate_sharding(void)
{
#define SHARD                                                                                      \
    "{\"@type\":\"neuroglancer_uint64_sharded_v1\",\"hash\":\"identity\","                         \
    "\"preshift_bits\":0,\"minishard_bits\":0,\"shard_bits\":0,"                                   \
    "\"minishard_index_encoding\":\"raw\",\"data_encoding\":\"raw\"}"
    static const bad_case cases[] = {
        {{"scales/0/sharding", SHARD, "scales/0/chunk_sizes", "[[64,64,8],[32,32,8]]", NULL},
         CV_ERR_INFO,
         "scales[0].chunk_sizes: a sharded scale must have exactly one"},
        /* 22 + 22 + 21 key bits, though the scale's 2^62 bytes fit */
        {{"scales/1/sharding", SHARD, "scales/1/size", "[2097153,2097153,1048577]",
          "scales/1/chunk_sizes", "[[1,1,1]]", NULL},
         CV_ERR_INFO,
         "scales[1].sharding: not compatible with the sharded format"},
        {{"scales/0/sharding", "\"yes\"", NULL},
         CV_ERR_INFO,
         "scales[0].sharding: must be an "
         "object"},
    };
    check_bad_cases(cases, sizeof cases / sizeof cases[0]);
    /* exactly 64 bits is fine: grid (2^21 + 1) x (2^21 + 1) x 2^20 needs 22 + 22 + 20 */
    static const char *const ok64[] = {"scales/1/sharding",
                                       SHARD,
                                       "scales/1/size",
                                       "[2097153,2097153,1048576]",
                                       "scales/1/chunk_sizes",
                                       "[[1,1,1]]",
                                       NULL};
#undef SHARD
    char *text = mutate(base_image, ok64);
    ASSERT_TRUE(text != NULL);
    cv_info *info = NULL;
    cv_status rc = cv_info_parse(text, strlen(text), "ok64", &info);
    free(text);
    ASSERT_OK(rc);
    ASSERT_TRUE(info->scales[1].sharding_json != NULL);
    ASSERT_TRUE(strstr(info->scales[1].sharding_json, "\"identity\"") != NULL);
    cv_info_free(info);
}

static void validate_json_text(void)
{
    cv_info *info = NULL;
    static const char truncated[] = "{\"type\":\"image\",\"data_type\":";
    ASSERT_FAILS(cv_info_parse(truncated, strlen(truncated), "t.json", &info), CV_ERR_CORRUPT,
                 "parse `t.json': invalid JSON");
    static const char garbage[] = "not json";
    ASSERT_FAILS(cv_info_parse(garbage, strlen(garbage), "g.json", &info), CV_ERR_CORRUPT,
                 "invalid JSON");
    ASSERT_FAILS(cv_info_parse("", 0, "empty", &info), CV_ERR_CORRUPT, "invalid JSON");
    /* a valid info followed by more text */
    size_t n = strlen(base_image);
    char *trail = malloc(n + 16);
    ASSERT_TRUE(trail != NULL);
    memcpy(trail, base_image, n);
    memcpy(trail + n, "\n  {}", 6);
    cv_status rc = cv_info_parse(trail, n + 5, "trail.json", &info);
    bool msg = strstr(cv_err_last()->what, "trailing bytes") != NULL &&
               strstr(cv_err_last()->what, "trail.json") != NULL;
    cv_err_clear();
    /* trailing white space is fine; the length bounds the text (no NUL needed) */
    memcpy(trail + n, " \n\t\r xyz", 9);
    cv_status rc2 = cv_info_parse(trail, n + 4, "ws.json", &info);
    free(trail);
    ASSERT_EQ(rc, CV_ERR_CORRUPT);
    ASSERT_TRUE(msg);
    ASSERT_OK(rc2);
    ASSERT_EQ(info->n_scales, 2);
    cv_info_free(info);
    ASSERT_FAILS(cv_info_parse("[1,2]", 5, "arr.json", &info), CV_ERR_INFO,
                 "must be a JSON object");
}

static void validate_in_memory(void)
{
    cv_info *info = make_info_1001(64, 64, 64);
    ASSERT_TRUE(info != NULL);
    ASSERT_OK(cv_info_validate(info));
    char *json = NULL;
    size_t len = 0;
    info->scales[0].chunk_sizes[0][1] = 0;
    ASSERT_FAILS(cv_info_validate(info), CV_ERR_INFO, "scales[0].chunk_sizes[0]");
    /* serialization validates first and writes nothing */
    ASSERT_FAILS(cv_info_to_json(info, &json, &len), CV_ERR_INFO, "scales[0].chunk_sizes[0]");
    ASSERT_TRUE(json == NULL);
    info->scales[0].chunk_sizes[0][1] = 64;
    info->scales[0].size[2] = 0;
    ASSERT_FAILS(cv_info_validate(info), CV_ERR_INFO, "scales[0].size");
    info->scales[0].size[2] = 101;
    info->scales[0].resolution[1] = 0;
    ASSERT_FAILS(cv_info_validate(info), CV_ERR_INFO, "scales[0].resolution");
    info->scales[0].resolution[1] = 4;
    info->num_channels = 0;
    ASSERT_FAILS(cv_info_validate(info), CV_ERR_INFO, "num_channels");
    info->num_channels = 1;
    info->dtype = CV_DTYPE_INVALID;
    ASSERT_FAILS(cv_info_validate(info), CV_ERR_INFO, "data_type");
    info->dtype = CV_UINT8;
    info->scales[0].jpeg_quality = 50;
    ASSERT_FAILS(cv_info_validate(info), CV_ERR_INFO, "scales[0].jpeg_quality");
    info->scales[0].jpeg_quality = -1;
    ASSERT_OK(cv_info_validate(info));
    cv_info_free(info);
}

TEST_MAIN(roundtrip_unknown_members_sharding, roundtrip_float_resolution,
          roundtrip_integral_float_key, roundtrip_float_typed_integral_numbers, parse_fields,
          create_raw_two_scales, create_cseg_float_resolution, create_defaults, create_max_mip_keys,
          add_scale_arithmetic, add_scale_closest_divisor, add_scale_replace_and_encoding,
          remove_scale, size_bounds_inclusive, find_mip, pyfloat_repr, validate_top_level,
          validate_scale_geometry, validate_encodings, validate_sharding, validate_json_text,
          validate_in_memory)
