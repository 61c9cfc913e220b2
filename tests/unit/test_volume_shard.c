/* SPDX-License-Identifier: BSD-3-Clause
 * test_volume_shard.c: sharded scales through the volume API on mem://: exact round trips,
 * neighbouring chunks of a shard read with one ranged request, missing chunks and partial-shard
 * writes reported with the key. */
#include "testlib.h"

#include <string.h>

/* 64x48x32 uint16 in 16^3 chunks (4x3x2 = 24 chunks), sharded as CloudVolume does for images
 * with small shards. */
static cv_volume *make_volume(const char *url, uint64_t shard_bytes, const char *data_encoding)
{
    cv_info_params p;
    memset(&p, 0, sizeof p);
    p.type = "image";
    p.dtype = CV_UINT16;
    p.resolution[0] = p.resolution[1] = p.resolution[2] = 8;
    p.size[0] = 64;
    p.size[1] = 48;
    p.size[2] = 32;
    p.voxel_offset[0] = -16;
    p.chunk_size[0] = p.chunk_size[1] = p.chunk_size[2] = 16;
    cv_info *info = NULL;
    cv_volume *v = NULL;
    cv_shard_spec spec;
    char *json = NULL;
    size_t len;
    if (cv_info_create(&p, &info) != CV_OK ||
        cv_shard_params_for_image(info->scales[0].size, info->scales[0].chunk_sizes[0], "raw",
                                  CV_UINT16, shard_bytes, &spec) != CV_OK) {
        cv_info_free(info);
        return NULL;
    }
    spec.data_encoding = strcmp(data_encoding, "gzip") == 0 ? CV_SHARD_GZIP : CV_SHARD_RAW;
    if (cv_shard_spec_to_json(&spec, &json, &len) == CV_OK) {
        info->scales[0].sharding_json = json;
        cv_opts o = cv_opts_default();
        o.threads = 3;
        if (cv_volume_create(url, info, true, &o, &v) != CV_OK) {
            v = NULL;
        }
    }
    cv_info_free(info);
    return v;
}

static cv_status count_file(const char *key, void *arg)
{
    (void)key;
    ++*(size_t *)arg;
    return CV_OK;
}

static uint16_t voxel(int64_t x, int64_t y, int64_t z)
{
    return (uint16_t)(x * 7 + y * 131 + z * 1009 + 40000);
}

static void fill(uint16_t *a, cv_bbox b)
{
    size_t i = 0;
    for (int64_t z = b.min[2]; z < b.max[2]; z++) {
        for (int64_t y = b.min[1]; y < b.max[1]; y++) {
            for (int64_t x = b.min[0]; x < b.max[0]; x++) {
                a[i++] = voxel(x, y, z);
            }
        }
    }
}

static void round_trip_one_request_per_shard(void)
{
    static const char *const encodings[] = {"raw", "gzip"};
    for (int e = 0; e < 2; e++) {
        char url[64];
        snprintf(url, sizeof url, "mem://shardvol/%s", encodings[e]);
        cv_volume *v = make_volume(url, 16 * 16 * 16 * 2 * 4, encodings[e]);
        ASSERT_TRUE(v != NULL);
        cv_bbox all = cv_info_bounds(cv_volume_info(v), 0);
        size_t n = cv_volume_box_bytes(v, all);
        uint16_t *src = malloc(n), *back = malloc(n);
        fill(src, all);
        ASSERT_OK(cv_volume_write(v, 0, all, src, n));
        cv_volume_close(v);
        /* A fresh handle; the process-wide index cache is cleared so indexes are read too. */
        cv_shard_cache_clear();
        cv_opts o = cv_opts_default();
        o.threads = 2;
        ASSERT_OK(cv_volume_open(url, &o, &v));
        ASSERT_OK(cv_volume_read(v, 0, all, back, n));
        ASSERT_MEM_EQ(back, src, n);
        cv_volume_stats st;
        cv_volume_get_stats(v, &st);
        ASSERT_EQ(st.chunks_read, 24);
        /* raw chunks whose values are stored raw or gzipped: every chunk's bytes once, counted
         * after the shard's data_encoding is undone */
        ASSERT_EQ(st.bytes_read, n);
        /* Several chunks per shard file: one data request per shard file. */
        size_t files = 0;
        ASSERT_OK(cv_store_list(cv_volume_store(v), "8_8_8/", count_file, &files));
        ASSERT_TRUE(files > 1 && files < 24);
        ASSERT_EQ(st.requests, files);
        /* An unaligned sub-box. */
        cv_bbox sub = cv_bbox_make(-9, 5, 3, 30, 40, 29);
        size_t m = cv_volume_box_bytes(v, sub);
        uint16_t *want = malloc(m), *got = malloc(m);
        fill(want, sub);
        ASSERT_OK(cv_volume_read(v, 0, sub, got, m));
        ASSERT_MEM_EQ(got, want, m);
        free(want);
        free(got);
        free(src);
        free(back);
        cv_volume_close(v);
    }
}

static void missing_and_partial(void)
{
    cv_volume *v = make_volume("mem://shardvol/missing", 16 * 16 * 16 * 2 * 4, "raw");
    ASSERT_TRUE(v != NULL);
    /* Nothing written: every chunk is missing. */
    cv_bbox box = cv_bbox_make(-16, 0, 0, 0, 16, 16);
    uint16_t buf[16 * 16 * 16];
    ASSERT_FAILS(cv_volume_read(v, 0, box, buf, sizeof buf), CV_ERR_NOTFOUND,
                 "chunk `8_8_8/-16-0_0-16_0-16' (key 0)");
    cv_volume_close(v);
    cv_opts o = cv_opts_default();
    o.fill_missing = true;
    o.background_color = 3;
    ASSERT_OK(cv_volume_open("mem://shardvol/missing", &o, &v));
    ASSERT_OK(cv_volume_read(v, 0, box, buf, sizeof buf));
    ASSERT_EQ(buf[0], 3);
    ASSERT_EQ(buf[16 * 16 * 16 - 1], 3);
    /* One chunk of a four-chunk shard is not a whole shard. */
    ASSERT_FAILS(cv_volume_write(v, 0, box, buf, sizeof buf), CV_ERR_ALIGN,
                 "sharded writes must cover whole shards");
    cv_volume_close(v);
}

TEST_MAIN(round_trip_one_request_per_shard, missing_and_partial)
