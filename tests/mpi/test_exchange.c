/* SPDX-License-Identifier: BSD-3-Clause
 * test_exchange.c: the exchange rounds of mpi_exchange.c without MPI (one process, mem://),
 * under the leak checker: planned rounds tile the region with whole destination chunks for
 * 1..7 ranks; re-chunking through the rounds gives exactly the voxels, with every source
 * chunk read once; hashed shards through spill files give the same shard files as one
 * cv_volume_write;
 * a missing source chunk fails its round naming the key. */
#include "mpi/cv_exchange.h"
#include "mpi/cv_hashed.h"
#include "testlib.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* A 100x90x50 uint16 layer at offset -3,5,7 in `chunk`-sized chunks; sharded if `sharding`. */
static cv_volume *make_volume(const char *url, const int64_t chunk[3], const char *sharding)
{
    cv_info_params p;
    memset(&p, 0, sizeof p);
    p.type = "image";
    p.dtype = CV_UINT16;
    p.resolution[0] = p.resolution[1] = p.resolution[2] = 8;
    p.size[0] = 100;
    p.size[1] = 90;
    p.size[2] = 50;
    p.voxel_offset[0] = -3;
    p.voxel_offset[1] = 5;
    p.voxel_offset[2] = 7;
    memcpy(p.chunk_size, chunk, sizeof p.chunk_size);
    cv_info *info = NULL;
    cv_volume *v = NULL;
    if (cv_info_create(&p, &info) != CV_OK) {
        return NULL;
    }
    if (sharding) {
        info->scales[0].sharding_json = cv__strdup(sharding);
    }
    cv_opts o = cv_opts_default();
    o.threads = 3;
    if (cv_volume_create(url, info, true, &o, &v) != CV_OK) {
        v = NULL;
    }
    cv_info_free(info);
    return v;
}

static cv_volume *make_source(const char *url, const int64_t chunk[3])
{
    cv_volume *v = make_volume(url, chunk, NULL);
    if (!v) {
        return NULL;
    }
    cv_bbox b = cv_info_bounds(cv_volume_info(v), 0);
    size_t n = cv_volume_box_bytes(v, b);
    uint16_t *a = malloc(n);
    fill(a, b);
    cv_status rc = cv_volume_write(v, 0, b, a, n);
    free(a);
    if (rc != CV_OK) {
        cv_volume_close(v);
        return NULL;
    }
    return v;
}

static cv_exchange_params params(cv_exchange_kind kind, const cv_volume *src, const cv_volume *dst,
                                 size_t memory, int ranks)
{
    cv_exchange_params p = {
        .kind = kind,
        .src_info = cv_volume_info(src),
        .dst_info = cv_volume_info(dst),
        .src_mip = 0,
        .dst_mip = 0,
        .region = cv_info_bounds(cv_volume_info(dst), 0),
        .memory = memory,
        .threads = 2,
        .ranks = ranks,
    };
    return p;
}

static void rounds_tile_the_region(void)
{
    static const int64_t src_chunk[3] = {32, 32, 16}, dst_chunk[3] = {24, 20, 12};
    cv_volume *src = make_volume("mem://xtile/src", src_chunk, NULL);
    cv_volume *dst = make_volume("mem://xtile/dst", dst_chunk, NULL);
    ASSERT_TRUE(src && dst);
    cv_grid g = cv_info_grid(cv_volume_info(dst), 0);
    int64_t shape[3];
    cv_grid_shape(&g, shape);
    size_t cells = (size_t)(shape[0] * shape[1] * shape[2]);
    int *seen = calloc(cells, sizeof *seen);
    for (int ranks = 1; ranks <= 7; ranks++) {
        for (size_t memory = 300000; memory <= 30000000; memory *= 3) {
            cv_exchange *x = NULL;
            cv_exchange_params p = params(CV_EXCHANGE_RECHUNK, src, dst, memory, ranks);
            cv_status rc = cv_exchange_plan(&p, &x);
            if (rc != CV_OK) {
                /* Only a budget below one round may be refused, and it says so. */
                ASSERT_EQ(rc, CV_ERR_ARG);
                ASSERT_TRUE(strstr(cv_err_last()->what, "raise --memory") != NULL);
                ASSERT_TRUE(memory < 3000000);
                cv_err_clear();
                continue;
            }
            memset(seen, 0, cells * sizeof *seen);
            for (uint64_t r = 0; r < cv_exchange_rounds(x); r++) {
                cv_bbox b = cv_exchange_round_box(x, r);
                ASSERT_TRUE(!cv_bbox_is_empty(b));
                ASSERT_TRUE(cv_grid_is_aligned(&g, b));
                int64_t cmin[3], cmax[3], c[3];
                cv_grid_cells(&g, b, cmin, cmax);
                for (c[2] = cmin[2]; c[2] < cmax[2]; c[2]++) {
                    for (c[1] = cmin[1]; c[1] < cmax[1]; c[1]++) {
                        for (c[0] = cmin[0]; c[0] < cmax[0]; c[0]++) {
                            seen[c[0] + shape[0] * (c[1] + shape[1] * c[2])]++;
                        }
                    }
                }
            }
            for (size_t i = 0; i < cells; i++) {
                ASSERT_EQ(seen[i], 1);
            }
            cv_exchange_free(x);
        }
    }
    free(seen);
    cv_volume_close(src);
    cv_volume_close(dst);
}

static void run_all(cv_exchange *x, cv_volume *src, cv_volume *dst)
{
    for (uint64_t r = 0; r < cv_exchange_rounds(x); r++) {
        cv_exchange_result res;
        ASSERT_OK(cv_exchange_round(x, r, r + 1, src, dst, false, &res));
        ASSERT_TRUE(!res.failed_here && !res.stop);
    }
}

static void check_voxels(cv_volume *v)
{
    cv_bbox b = cv_info_bounds(cv_volume_info(v), 0);
    size_t n = cv_volume_box_bytes(v, b);
    uint16_t *want = malloc(n), *got = malloc(n);
    fill(want, b);
    ASSERT_OK(cv_volume_read(v, 0, b, got, n));
    ASSERT_MEM_EQ(want, got, n);
    free(want);
    free(got);
}

static void rechunk_reads_each_source_chunk_once(void)
{
    static const int64_t src_chunk[3] = {32, 32, 16}, dst_chunk[3] = {24, 20, 12};
    cv_volume *src = make_source("mem://xre/src", src_chunk);
    cv_volume *dst = make_volume("mem://xre/dst", dst_chunk, NULL);
    ASSERT_TRUE(src && dst);
    cv_exchange *x = NULL;
    cv_exchange_params p = params(CV_EXCHANGE_RECHUNK, src, dst, 3500000, 1);
    ASSERT_OK(cv_exchange_plan(&p, &x));
    ASSERT_TRUE(cv_exchange_rounds(x) > 4); /* several rounds per column: the cache is used */
    cv_volume_stats before, after;
    cv_volume_get_stats(src, &before);
    run_all(x, src, dst);
    cv_volume_get_stats(src, &after);
    ASSERT_EQ(after.chunks_read - before.chunks_read, (uint64_t)(4 * 3 * 4)); /* 100/32 x ... */
    check_voxels(dst);
    cv_exchange_free(x);
    cv_volume_close(src);
    cv_volume_close(dst);
}

/* Hashed shards through spill files (cv_hashed.h) in one process: three tasks of z slabs spill
 * their chunks, the finish writes the four shard files, equal byte for byte to one
 * cv_volume_write of the whole layer; the journal holds the four shards. */
static void hashed_shards_match_one_write(void)
{
    static const char spec[] =
        "{\"@type\": \"neuroglancer_uint64_sharded_v1\", \"hash\": \"murmurhash3_x86_128\", "
        "\"preshift_bits\": 0, \"minishard_bits\": 1, \"shard_bits\": 2, "
        "\"minishard_index_encoding\": \"gzip\", \"data_encoding\": \"gzip\"}";
    static const int64_t chunk[3] = {16, 16, 16}, src_chunk[3] = {32, 32, 16};
    cv_volume *src = make_source("mem://xsh/src", src_chunk);
    cv_volume *dst = make_volume("mem://xsh/dst", chunk, spec);
    cv_volume *ref = make_volume("mem://xsh/ref", chunk, spec);
    ASSERT_TRUE(src && dst && ref);
    char dir[] = "/tmp/cvmpi-hashed-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    cv_bbox all = cv_info_bounds(cv_volume_info(dst), 0);
    cv_hashed_params hp = {.dst_info = cv_volume_info(dst),
                           .dst_mip = 0,
                           .region = all,
                           .n_tasks = 3,
                           .memory = 3000000,
                           .ranks = 1};
    cv_hashed *h = NULL;
    /* a box plans too (its shards are read-modify-written: tests/mpi/hashed_bbox.sh) */
    hp.region.max[2] -= 16;
    ASSERT_OK(cv_hashed_plan(&hp, &h));
    cv_hashed_free(h);
    h = NULL;
    hp.region = all;
    ASSERT_OK(cv_hashed_plan(&hp, &h));
    ASSERT_EQ(cv_hashed_ids(h), 3 + 4);
    cv_journal *journal = NULL;
    ASSERT_OK(cv_journal_begin(dir, "test hashed", false, cv_hashed_ids(h), &journal));
    ASSERT_OK(cv_hashed_start(h, dir, false));
    for (int t = 0; t < 3; t++) {
        cv_bbox box = all;
        box.min[2] = all.min[2] + 16 * t;
        box.max[2] = t == 2 ? all.max[2] : box.min[2] + 16;
        size_t n = cv_volume_box_bytes(src, box);
        uint8_t *buf = malloc(n);
        ASSERT_OK(cv_volume_read(src, 0, box, buf, n));
        ASSERT_OK(cv_hashed_task(h, dst, box, buf, n));
        free(buf);
    }
    uint64_t written = 0;
    ASSERT_OK(cv_hashed_finish(h, dst, journal, true, &written));
    ASSERT_EQ(written, 4);
    /* read back as a resumed job would: the four shards are journaled, no task is */
    cv_journal_end(journal, dir, CV_OK, true);
    ASSERT_OK(cv_journal_begin(dir, "test hashed", true, cv_hashed_ids(h), &journal));
    ASSERT_EQ(cv_journal_count_done(journal), 4);
    for (uint64_t s = 0; s < 4; s++) {
        ASSERT_TRUE(cv_journal_is_done(journal, 3 + s));
    }
    check_voxels(dst);
    /* The same layer written in one call by the volume layer. */
    size_t n = cv_volume_box_bytes(ref, all);
    uint16_t *a = malloc(n);
    fill(a, all);
    ASSERT_OK(cv_volume_write(ref, 0, all, a, n));
    free(a);
    cv_store *sd, *sr;
    ASSERT_OK(cv_store_open("mem://xsh/dst", &sd));
    ASSERT_OK(cv_store_open("mem://xsh/ref", &sr));
    const char *key = cv_volume_info(dst)->scales[0].key;
    for (int s = 0; s < 4; s++) {
        char name[128];
        snprintf(name, sizeof name, "%s/%d.shard", key, s);
        uint8_t *d1 = NULL, *d2 = NULL;
        size_t n1 = 0, n2 = 0;
        ASSERT_OK(cv_store_get(sd, name, 0, &d1, &n1));
        ASSERT_OK(cv_store_get(sr, name, 0, &d2, &n2));
        ASSERT_EQ(n1, n2);
        ASSERT_MEM_EQ(d1, d2, n1 < n2 ? n1 : n2);
        cv_free(d1);
        cv_free(d2);
    }
    cv_store_close(sd);
    cv_store_close(sr);
    cv_hashed_remove(h);
    cv_hashed_free(h);
    cv_journal_end(journal, dir, CV_OK, false);
    rmdir(dir);
    cv_volume_close(src);
    cv_volume_close(dst);
    cv_volume_close(ref);
}

static void missing_source_chunk_names_key(void)
{
    static const int64_t src_chunk[3] = {32, 32, 16}, dst_chunk[3] = {24, 20, 12};
    cv_volume *src = make_source("mem://xmiss/src", src_chunk);
    cv_volume *dst = make_volume("mem://xmiss/dst", dst_chunk, NULL);
    ASSERT_TRUE(src && dst);
    cv_store *s;
    ASSERT_OK(cv_store_open("mem://xmiss/src", &s));
    char key[128];
    snprintf(key, sizeof key, "%s/-3-29_5-37_7-23.gz", cv_volume_info(src)->scales[0].key);
    ASSERT_OK(cv_store_delete(s, key));
    cv_store_close(s);
    cv_exchange *x = NULL;
    cv_exchange_params p = params(CV_EXCHANGE_RECHUNK, src, dst, 3500000, 1);
    ASSERT_OK(cv_exchange_plan(&p, &x));
    cv_exchange_result res;
    ASSERT_FAILS(cv_exchange_round(x, 0, 1, src, dst, true, &res), CV_ERR_NOTFOUND,
                 "-3-29_5-37_7-23");
    ASSERT_TRUE(res.failed_here && res.stop);
    /* Nothing of the failed round was written. */
    uint64_t present = 1, total = 0;
    ASSERT_OK(cv_volume_exists(dst, 0, cv_exchange_round_box(x, 0), &present, &total));
    ASSERT_EQ(present, (uint64_t)0);
    cv_exchange_free(x);
    cv_volume_close(src);
    cv_volume_close(dst);
}

TEST_MAIN(rounds_tile_the_region, rechunk_reads_each_source_chunk_once,
          hashed_shards_match_one_write, missing_source_chunk_names_key)
