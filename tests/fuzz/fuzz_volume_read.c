/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_volume_read.c: info + box + read, with every size taken from the input (the codec
 * targets cap shapes at 64, which kept size overflows out of their reach). The input is a
 * header (dtype, channels, encoding, flags, six sharding parameter bytes and 18 little-endian
 * int64: size, chunk size, cseg block size, voxel_offset, box min, box max), then the bytes
 * of one stored object: the chunk at the box's first corner, or shard 0 when sharded.
 * The info text is built and parsed (so the parser's validation decides what opens), the layer
 * lives in mem://, and the box is read with opts.max_bytes = FUZZ_BUDGET (64 KiB): the
 * library's own checks must refuse every box or chunk over it; the harness caps no size.
 * (Small, so that a box of one-voxel chunks stays fast under the sanitizers.)
 * Invariants: only the documented error codes; a read that succeeds from a store holding no
 * chunk gives background voxels only. */
#include "fuzz_common.h"

#include <inttypes.h>

#define FUZZ_BUDGET ((size_t)64 << 10)
#define FUZZ_HEADER_BYTES (4 + 6 + 18 * 8)

static const char *const encodings[] = {
    "raw", "compressed_segmentation", "compresso", "crackle", "png", "jpeg"};
static const char *const dtypes[] = {"uint8", "int8",   "uint16", "int16",   "uint32",
                                     "int32", "uint64", "int64",  "float32", "float64"};

static int64_t ld_i64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return (int64_t)v;
}

static void drop(cv_store *s, const char *key)
{
    if (s && key && *key) {
        cv_store_delete(s, key);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    if (size < FUZZ_HEADER_BYTES) {
        return 0;
    }
    const char *dtype = dtypes[data[0] % 10];
    const int channels = 1 + data[1] % 4;
    const char *encoding = encodings[data[2] % (sizeof encodings / sizeof encodings[0])];
    const uint8_t flags = data[3];
    const bool sharded = flags & 1, fill_missing = flags & 2, unbounded = flags & 4,
               autocrop = flags & 8, segmentation = flags & 16;
    const uint8_t *sh = data + 4; /* preshift, minishard, shard bits; hash, two encodings */
    int64_t v[18];
    for (int i = 0; i < 18; i++) {
        v[i] = ld_i64(data + 10 + 8 * i);
    }
    const int64_t *sz = v, *chunk = v + 3, *block = v + 6, *offset = v + 9;
    cv_bbox req = cv_bbox_make(v[12], v[13], v[14], v[15], v[16], v[17]);
    const uint8_t *payload = data + FUZZ_HEADER_BYTES;
    const size_t payload_len = size - FUZZ_HEADER_BYTES;

    char sharding[320] = "";
    if (sharded) {
        snprintf(sharding, sizeof sharding,
                 ",\"sharding\":{\"@type\":\"neuroglancer_uint64_sharded_v1\",\"preshift_bits\":%u,"
                 "\"hash\":\"%s\",\"minishard_bits\":%u,\"shard_bits\":%u,"
                 "\"minishard_index_encoding\":\"%s\",\"data_encoding\":\"%s\"}",
                 sh[0] % 70u, sh[3] & 1 ? "murmurhash3_x86_128" : "identity", sh[1] % 70u,
                 sh[2] % 70u, sh[4] & 1 ? "gzip" : "raw", sh[5] & 1 ? "gzip" : "raw");
    }
    char blk[200] = "";
    if (strcmp(encoding, "compressed_segmentation") == 0) {
        snprintf(blk, sizeof blk,
                 ",\"compressed_segmentation_block_size\":[%" PRId64 ",%" PRId64 ",%" PRId64 "]",
                 block[0], block[1], block[2]);
    }
    char info[1400];
    snprintf(info, sizeof info,
             "{\"type\":\"%s\",\"data_type\":\"%s\",\"num_channels\":%d,\"scales\":[{\"key\":"
             "\"s0\",\"resolution\":[1,1,1],\"size\":[%" PRId64 ",%" PRId64 ",%" PRId64
             "],\"voxel_offset\":[%" PRId64 ",%" PRId64 ",%" PRId64 "],\"chunk_sizes\":[[%" PRId64
             ",%" PRId64 ",%" PRId64 "]],\"encoding\":\"%s\"%s%s}]}",
             segmentation ? "segmentation" : "image", dtype, channels, sz[0], sz[1], sz[2],
             offset[0], offset[1], offset[2], chunk[0], chunk[1], chunk[2], encoding, blk,
             sharding);

    cv_store *store = NULL;
    FUZZ_ASSERT(cv_store_open("mem://fuzz-volume-read/layer", &store) == CV_OK);
    FUZZ_ASSERT(cv_store_put(store, "info", info, strlen(info), NULL, -1, NULL) == CV_OK);
    cv_opts o = cv_opts_default();
    o.fill_missing = fill_missing;
    o.bounded = !unbounded;
    o.autocrop = autocrop;
    o.max_bytes = FUZZ_BUDGET;
    cv_volume *vol = NULL;
    char key[4096] = "";
    cv_status rc = cv_volume_open("mem://fuzz-volume-read/layer", &o, &vol);
    if (rc != CV_OK) {
        FUZZ_ASSERT_MSG(rc == CV_ERR_INFO || rc == CV_ERR_UNSUPPORTED, cv_errname(rc));
        goto done;
    }
    const cv_info *ci = cv_volume_info(vol);
    if (sharded) {
        cv_shard_spec spec;
        if (cv_shard_spec_parse(ci->scales[0].sharding_json, strlen(ci->scales[0].sharding_json),
                                "fuzz", &spec) == CV_OK) {
            int n = snprintf(key, sizeof key, "s0/");
            cv_shard_file_name(&spec, 0, key + n, sizeof key - (size_t)n);
        }
    } else {
        /* the chunk holding the box's first corner (or the grid's first chunk) */
        cv_grid g = cv_info_grid(ci, 0);
        int64_t cmin[3], cmax[3];
        cv_grid_cells(&g, req, cmin, cmax);
        cv_volume_chunk_key(vol, 0, cv_grid_cell_box(&g, cmin), key, sizeof key);
    }
    cv_err_clear();
    if (payload_len && *key) {
        FUZZ_ASSERT(cv_store_put(store, key, payload, payload_len, NULL, -1, NULL) == CV_OK);
    }
    cv_bbox box;
    size_t bytes = 0;
    rc = cv_volume_resolve_box(vol, 0, req, &box);
    if (rc == CV_OK) {
        rc = cv_volume_check_box(vol, box, &bytes);
        FUZZ_ASSERT(rc != CV_OK || bytes <= FUZZ_BUDGET);
    }
    if (rc == CV_OK) {
        uint8_t *dst = malloc(bytes ? bytes : 1);
        FUZZ_ASSERT(dst != NULL);
        rc = cv_volume_read(vol, 0, box, dst, bytes);
        if (rc == CV_OK && payload_len == 0) {
            for (size_t i = 0; i < bytes; i++) {
                FUZZ_ASSERT_MSG(dst[i] == 0, "no chunk stored, yet a voxel is not background");
            }
        }
        free(dst);
    }
    /* CV_ERR_INFO: a sharding spec is checked in full when the scale is first read */
    FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_ARG || rc == CV_ERR_BOUNDS || rc == CV_ERR_INFO ||
                        rc == CV_ERR_CORRUPT || rc == CV_ERR_NOTFOUND || rc == CV_ERR_UNSUPPORTED,
                    cv_errname(rc));
done:
    cv_volume_close(vol);
    drop(store, key);
    drop(store, "info");
    cv_store_close(store);
    cv_err_clear();
    return 0;
}
