/* SPDX-License-Identifier: BSD-3-Clause
 * cseg_tool.c: a small command-line front end to cvmpi's compressed_segmentation codec
 * (precomputed-volume spec §5.5) for cseg_neuroglancer.sh: it generates label volumes and
 * encodes/decodes files, so the script can compare the bytes with Neuroglancer's codec.
 * Test helper only; not installed. */
#include "codec/codec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: cseg_tool encode|decode DTYPE X,Y,Z,C BX,BY,BZ IN OUT\n"
    "       cseg_tool gen DTYPE X,Y,Z,C BX,BY,BZ PATTERN K SEED OUT\n"
    "DTYPE is uint32 or uint64. gen writes raw labels (x fastest, channel slowest, LE):\n"
    "  distinct  every full block holds min(K, block voxels) distinct labels\n"
    "  runs      slabs of labels cycling through K, like a segmentation\n"
    "  noise     each voxel a random one of K labels\n";

static bool parse_u32s(const char *s, uint32_t *v, int n)
{
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        unsigned long x = strtoul(s, &end, 10);
        if (errno || end == s || x > UINT32_MAX || *end != (i == n - 1 ? '\0' : ',')) {
            return false;
        }
        v[i] = (uint32_t)x;
        s = end + 1;
    }
    return true;
}

static bool read_file(const char *path, cv_buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cseg_tool: open `%s': %s\n", path, strerror(errno));
        return false;
    }
    uint8_t chunk[65536];
    size_t got;
    bool ok = true;
    while (ok && (got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        ok = cv__buf_append(b, chunk, got) == CV_OK;
    }
    ok = ok && !ferror(f);
    fclose(f);
    if (!ok) {
        fprintf(stderr, "cseg_tool: read `%s' failed\n", path);
    }
    return ok;
}

static bool write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cseg_tool: create `%s': %s\n", path, strerror(errno));
        return false;
    }
    bool ok = (n == 0 || fwrite(p, 1, n, f) == n);
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        fprintf(stderr, "cseg_tool: write `%s' failed\n", path);
    }
    return ok;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static bool generate(const cv_chunk_desc *d, const char *pattern, uint32_t k, uint64_t seed,
                     uint8_t *raw)
{
    const size_t vb = cv_dtype_size(d->dtype);
    const uint32_t *s = d->shape, *b = d->cseg_block;
    const uint64_t gx = (s[0] + b[0] - 1) / b[0], gy = (s[1] + b[1] - 1) / b[1];
    size_t i = 0;
    if (k == 0) {
        return false;
    }
    for (uint32_t c = 0; c < d->channels; c++) {
        for (uint32_t z = 0; z < s[2]; z++) {
            for (uint32_t y = 0; y < s[1]; y++) {
                for (uint32_t x = 0; x < s[0]; x++, i++) {
                    uint64_t j, set = 0;
                    if (strcmp(pattern, "distinct") == 0) {
                        /* 7 is coprime to the K the tests use, so a block's first K voxels
                         * get K different j; every third block has a label set of its own,
                         * the others share one (tables both shared and not) */
                        uint64_t e =
                            x % b[0] + (uint64_t)b[0] * (y % b[1] + (uint64_t)b[1] * (z % b[2]));
                        uint64_t blk = x / b[0] + gx * (y / b[1] + gy * (z / b[2]));
                        j = (e * 7 + blk) % k;
                        set = blk % 3 == 0 ? blk + 1 : 0;
                    } else if (strcmp(pattern, "runs") == 0) {
                        j = (x / 5 + 3 * (y / 4) + 11 * (z / 3)) % k;
                    } else if (strcmp(pattern, "noise") == 0) {
                        j = mix64(seed * 0x10000000ull + i) % k;
                    } else {
                        return false;
                    }
                    uint64_t v = mix64(j + 100003 * set + seed * 7 + c);
                    if (seed % 2 == 1 && j == 0) {
                        v = 0; /* background label in odd seeds */
                    } else if (seed % 4 == 2) {
                        v = j + 1 + c; /* small labels: the high word is 0 */
                    }
                    if (d->dtype == CV_UINT32) {
                        v &= 0xffffffffu;
                    }
                    for (size_t byte = 0; byte < vb; byte++) {
                        raw[i * vb + byte] = (uint8_t)(v >> (8 * byte));
                    }
                }
            }
        }
    }
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "gen") == 0 ? argc != 9 : argc != 7)) {
        fputs(usage, stderr);
        return 2;
    }
    cv_chunk_desc d;
    memset(&d, 0, sizeof d);
    uint32_t size[4];
    d.dtype = cv_dtype_from_name(argv[2]);
    if ((d.dtype != CV_UINT32 && d.dtype != CV_UINT64) || !parse_u32s(argv[3], size, 4) ||
        !parse_u32s(argv[4], d.cseg_block, 3)) {
        fputs(usage, stderr);
        return 2;
    }
    memcpy(d.shape, size, sizeof d.shape);
    d.channels = size[3];
    const size_t want = cv__chunk_desc_bytes(&d);
    const cv_codec *codec = cv__codec_find("compressed_segmentation");
    if (!codec) {
        fprintf(stderr, "cseg_tool: compressed_segmentation is not built in\n");
        return 1;
    }
    cv_buf in, out;
    cv__buf_init(&in, 0);
    cv__buf_init(&out, 0);
    int rc = 1;
    if (strcmp(argv[1], "gen") == 0) {
        uint32_t k = 0, seed = 0;
        if (!parse_u32s(argv[6], &k, 1) || !parse_u32s(argv[7], &seed, 1)) {
            fputs(usage, stderr);
            return 2;
        }
        if (cv__buf_reserve(&out, want) == CV_OK && generate(&d, argv[5], k, seed, out.data)) {
            out.len = want;
            rc = write_file(argv[8], out.data, out.len) ? 0 : 1;
        } else {
            fprintf(stderr, "cseg_tool: cannot generate pattern `%s' with K=%u\n", argv[5], k);
        }
    } else if (strcmp(argv[1], "encode") == 0 || strcmp(argv[1], "decode") == 0) {
        const bool is_encode = argv[1][0] == 'e';
        if (read_file(argv[5], &in)) {
            out.max = is_encode ? 0 : want;
            cv_status st = is_encode ? codec->encode(&d, -1, in.data, in.len, &out)
                                     : codec->decode(&d, in.data, in.len, &out);
            if (st != CV_OK) {
                fprintf(stderr, "cseg_tool: %s `%s': %s: %s\n", argv[1], argv[5], cv_errname(st),
                        cv_err_last()->what);
            } else {
                rc = write_file(argv[6], out.data, out.len) ? 0 : 1;
            }
        }
    } else {
        fputs(usage, stderr);
        rc = 2;
    }
    cv__buf_fini(&in);
    cv__buf_fini(&out);
    return rc;
}
