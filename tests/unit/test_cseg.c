/* SPDX-License-Identifier: BSD-3-Clause
 * test_cseg.c: the compressed_segmentation codec (precomputed-volume spec §5.5): the worked
 * examples of test-vectors §4 as exact bytes, round trips over dtypes, channels, block sizes,
 * clipped chunks and every bit width, and corrupt streams that must fail cleanly. */
#include "testlib.h"

#include "codec/codec.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Labels as stored in a chunk buffer (little-endian, 4 or 8 bytes each). */
static void put_label(uint8_t *p, cv_dtype t, uint64_t v)
{
    put32(p, (uint32_t)v);
    if (t == CV_UINT64) {
        put32(p + 4, (uint32_t)(v >> 32));
    }
}

static size_t hex_decode(const char *hex, uint8_t *out)
{
    size_t n = 0;
    for (const char *p = hex; *p; p++) {
        if (*p == ' ') {
            continue;
        }
        unsigned v;
        sscanf(p, "%2x", &v);
        out[n++] = (uint8_t)v;
        p++;
    }
    return n;
}

static cv_chunk_desc make_desc(cv_dtype t, uint32_t channels, uint32_t x, uint32_t y, uint32_t z,
                               uint32_t bx, uint32_t by, uint32_t bz)
{
    cv_chunk_desc d = {t, channels, {x, y, z}, {bx, by, bz}, NULL};
    return d;
}

/* Encode `labels` (one per voxel and channel) and compare with the expected words. */
static void expect_words(const cv_chunk_desc *d, const uint64_t *labels, const uint32_t *want,
                         size_t n_want)
{
    size_t n = cv__chunk_desc_bytes(d);
    size_t vb = cv_dtype_size(d->dtype);
    uint8_t *raw = cv_malloc(n);
    for (size_t i = 0; i < n / vb; i++) {
        put_label(raw + i * vb, d->dtype, labels[i]);
    }
    cv_buf out;
    cv__buf_init(&out, 0);
    cv_status rc = cv_codec_cseg.encode(d, -1, raw, n, &out);
    size_t len = out.len;
    uint8_t *got = cv__buf_take(&out, &len);
    uint8_t *exp = cv_malloc(n_want * 4);
    for (size_t i = 0; i < n_want; i++) {
        put32(exp + 4 * i, want[i]);
    }
    cv_buf dec;
    cv__buf_init(&dec, n);
    cv_status rc2 = cv_codec_cseg.decode(d, exp, n_want * 4, &dec);
    bool dec_ok = rc2 == CV_OK && dec.len == n && memcmp(dec.data, raw, n) == 0;
    bool enc_ok = rc == CV_OK && len == n_want * 4 && memcmp(got, exp, len) == 0;
    if (!enc_ok) {
        for (size_t i = 0; i < len / 4; i++) {
            fprintf(stderr, "    word %zu: got %u want %u\n", i, get32(got + 4 * i),
                    i < n_want ? want[i] : 0);
        }
    }
    cv__buf_fini(&dec);
    cv_free(got);
    cv_free(exp);
    cv_free(raw);
    ASSERT_OK(rc);
    ASSERT_OK(rc2);
    ASSERT_TRUE(enc_ok);
    ASSERT_TRUE(dec_ok);
}

/* ---- spec examples (test-vectors §4) ------------------------------------------------------ */

static void spec_smallest(void)
{
    cv_chunk_desc d = make_desc(CV_UINT32, 1, 2, 2, 1, 2, 2, 1);
    const uint64_t v[] = {4, 4, 4, 4};
    const uint32_t w[] = {1, 2, 2, 4};
    expect_words(&d, v, w, 4);
}

static void spec_basic(void)
{
    cv_chunk_desc d = make_desc(CV_UINT32, 1, 2, 2, 2, 2, 2, 1);
    const uint64_t v[] = {4, 3, 5, 4, 1, 3, 3, 3};
    const uint32_t w[] = {1, 5 | (2u << 24), 4, 9 | (1u << 24), 8, 0x61, 3, 4, 5, 0xe, 1, 3};
    expect_words(&d, v, w, 12);
    /* the whole-stream hex of test-vectors §4.1 (compressedseg CompressChannels) */
    uint8_t hex[64], wb[48];
    size_t n = hex_decode("01000000 05000002 04000000 09000001 08000000 61000000 03000000 "
                          "04000000 05000000 0e000000 01000000 03000000",
                          hex);
    ASSERT_EQ(n, 48);
    for (int i = 0; i < 12; i++) {
        put32(wb + 4 * i, w[i]);
    }
    ASSERT_MEM_EQ(hex, wb, 48);
}

static void spec_basic_cached_2bit(void)
{
    cv_chunk_desc d = make_desc(CV_UINT32, 1, 2, 2, 4, 2, 2, 1);
    const uint64_t v[] = {4, 3, 5, 4, 1, 3, 3, 3, 3, 1, 1, 1, 5, 5, 3, 4};
    const uint32_t w[] = {1,  9 | (2u << 24),
                          8,  13 | (1u << 24),
                          12, 13 | (1u << 24),
                          15, 9 | (2u << 24),
                          16, 0x61,
                          3,  4,
                          5,  0xe,
                          1,  3,
                          1,  0x4a};
    expect_words(&d, v, w, 18);
}

static void spec_size_mismatch_1bit(void)
{
    /* block 3x2x1 over a 2x2x1 chunk: padding positions keep index 0 */
    cv_chunk_desc d = make_desc(CV_UINT32, 1, 2, 2, 1, 3, 2, 1);
    const uint64_t v[] = {4, 3, 4, 3};
    const uint32_t w[] = {1, 3 | (1u << 24), 2, 0x9, 3, 4};
    expect_words(&d, v, w, 6);
}

static void spec_uint64_worked(void)
{
    cv_chunk_desc d = make_desc(CV_UINT64, 1, 4, 2, 1, 2, 2, 1);
    const uint64_t v[] = {7, 7, 0x100000001ull, 9, 7, 7, 9, 9};
    uint8_t want[64];
    size_t n = hex_decode("01000000 04000000 04000000 07000001 06000000 07000000 00000000 "
                          "01000000 09000000 00000000 01000000 01000000",
                          want);
    ASSERT_EQ(n, 48);
    uint32_t w[12];
    for (int i = 0; i < 12; i++) {
        w[i] = get32(want + 4 * i);
    }
    expect_words(&d, v, w, 12);
}

static void spec_uint32_two_channels(void)
{
    cv_chunk_desc d = make_desc(CV_UINT32, 2, 3, 3, 1, 2, 2, 1);
    const uint64_t v[] = {1, 2, 1, 2, 1, 2, 3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5};
    const uint32_t w[] = {2, 15, 16777225, 8, 16777225, 11, 12, 12, 12, 13, 6, 1,
                          2, 4,  3,        8, 8,        8,  9,  8,  9,  8,  9, 5};
    expect_words(&d, v, w, 24);
    uint8_t hex[128];
    size_t n = hex_decode(
        "020000000f0000000900000108000000090000010b0000000c0000000c0000000c0000000d000000"
        "0600000001000000020000000400000003000000080000000800000008000000090000000800000009000000"
        "080000000900000005000000",
        hex);
    ASSERT_EQ(n, 96);
    for (int i = 0; i < 24; i++) {
        ASSERT_EQ(get32(hex + 4 * i), w[i]);
    }
}

/* ---- round trips -------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

enum pattern { PAT_DISTINCT, PAT_RUNS, PAT_NOISE };

/* Labels for `d`. PAT_DISTINCT: every full block holds exactly min(k, block voxels) distinct
 * labels, in scrambled order; every third block uses its own label set, the others share one
 * (so tables are both shared and not). PAT_RUNS: slabs like a segmentation. PAT_NOISE: random
 * labels out of k. */
static uint8_t *make_labels(const cv_chunk_desc *d, enum pattern pat, uint32_t k, uint64_t seed)
{
    const size_t vb = cv_dtype_size(d->dtype);
    uint8_t *raw = cv_malloc(cv__chunk_desc_bytes(d) ? cv__chunk_desc_bytes(d) : 1);
    const uint32_t *s = d->shape, *b = d->cseg_block;
    const uint32_t gx = (s[0] + b[0] - 1) / b[0], gy = (s[1] + b[1] - 1) / b[1];
    size_t i = 0;
    for (uint32_t c = 0; c < d->channels; c++) {
        for (uint32_t z = 0; z < s[2]; z++) {
            for (uint32_t y = 0; y < s[1]; y++) {
                for (uint32_t x = 0; x < s[0]; x++, i++) {
                    uint64_t e =
                        x % b[0] + (uint64_t)b[0] * (y % b[1] + (uint64_t)b[1] * (z % b[2]));
                    uint64_t blk = x / b[0] + gx * (y / b[1] + (uint64_t)gy * (z / b[2]));
                    uint64_t j, set = blk % 3 == 0 ? blk + 1 : 0;
                    if (pat == PAT_DISTINCT) {
                        j = (e * 7 + blk) % k;
                    } else if (pat == PAT_RUNS) {
                        j = (x / 5 + 3 * (y / 4) + 11 * (z / 3)) % k;
                        set = 0;
                    } else {
                        j = mix64(seed + i) % k;
                        set = 0;
                    }
                    uint64_t v = mix64(j + 1000 * set + seed + c);
                    if (d->dtype == CV_UINT32) {
                        v &= 0xffffffffu;
                    }
                    if (j == 0 && seed % 2) {
                        v = 0; /* label 0 (background) appears in half the runs */
                    }
                    put_label(raw + i * vb, d->dtype, v);
                }
            }
        }
    }
    return raw;
}

static uint32_t expected_bits(uint64_t n)
{
    if (n <= 1) {
        return 0;
    }
    uint32_t bits = 1;
    while (bits < 32 && ((uint64_t)1 << bits) < n) {
        bits *= 2;
    }
    return bits;
}

/* Round trip one chunk; returns false (after reporting) on a mismatch. */
static bool roundtrip_one(const cv_chunk_desc *d, enum pattern pat, uint32_t k, uint64_t seed)
{
    const size_t n = cv__chunk_desc_bytes(d);
    uint8_t *raw = make_labels(d, pat, k, seed);
    cv_buf enc, dec;
    cv__buf_init(&enc, 0);
    cv__buf_init(&dec, n);
    bool ok = cv_codec_cseg.encode(d, -1, raw, n, &enc) == CV_OK &&
              cv_codec_cseg.decode(d, enc.data, enc.len, &dec) == CV_OK && dec.len == n &&
              (n == 0 || memcmp(dec.data, raw, n) == 0) &&
              cv__cseg_is_canonical(d, enc.data, enc.len);
    if (ok && pat == PAT_DISTINCT && d->shape[0] >= d->cseg_block[0] &&
        d->shape[1] >= d->cseg_block[1] && d->shape[2] >= d->cseg_block[2]) {
        /* block (0,0,0) of channel 0 is full: its header shows the bit width */
        uint64_t bv = (uint64_t)d->cseg_block[0] * d->cseg_block[1] * d->cseg_block[2];
        uint32_t h0 = get32(enc.data + 4 * get32(enc.data));
        ok = (h0 >> 24) == expected_bits(bv < k ? bv : k);
    }
    if (!ok) {
        fprintf(stderr, "  round trip failed: %s %ux%ux%u x%u block %ux%ux%u pattern %d k %u\n",
                cv_dtype_name(d->dtype), d->shape[0], d->shape[1], d->shape[2], d->channels,
                d->cseg_block[0], d->cseg_block[1], d->cseg_block[2], (int)pat, k);
    }
    cv__buf_fini(&enc);
    cv__buf_fini(&dec);
    cv_free(raw);
    return ok;
}

static void roundtrip_matrix(void)
{
    static const uint32_t shapes[][3] = {{16, 16, 16}, {37, 20, 9}, {1, 1, 1},
                                         {5, 3, 2},    {8, 8, 8},   {24, 10, 14}};
    static const uint32_t blocks[][3] = {{8, 8, 8}, {4, 4, 4}, {3, 5, 7}, {1, 1, 1}, {16, 2, 1}};
    static const uint32_t ks[] = {1, 2, 3, 4, 5, 9, 17, 300};
    static const cv_dtype types[] = {CV_UINT32, CV_UINT64};
    size_t runs = 0;
    for (size_t t = 0; t < 2; t++) {
        for (uint32_t ch = 1; ch <= 2; ch++) {
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
                    cv_chunk_desc d =
                        make_desc(types[t], ch, shapes[s][0], shapes[s][1], shapes[s][2],
                                  blocks[b][0], blocks[b][1], blocks[b][2]);
                    for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++) {
                        for (int pat = PAT_DISTINCT; pat <= PAT_NOISE; pat++) {
                            ASSERT_TRUE(roundtrip_one(&d, (enum pattern)pat, ks[k], runs));
                            runs++;
                        }
                    }
                }
            }
        }
    }
    ASSERT_EQ(runs, 2 * 2 * 6 * 5 * 8 * 3);
}

/* Every bit width appears in a full 8x8x8 block (and 32 bits in a 64x64x17 one). */
static void bit_widths(void)
{
    static const struct {
        uint32_t k, bits;
    } want[] = {{1, 0},  {2, 1},  {3, 2},   {4, 2},    {5, 4},    {9, 4},
                {16, 4}, {17, 8}, {256, 8}, {257, 16}, {300, 16}, {512, 16}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ASSERT_EQ(expected_bits(want[i].k), want[i].bits);
        cv_chunk_desc d = make_desc(CV_UINT64, 1, 8, 8, 8, 8, 8, 8);
        ASSERT_TRUE(roundtrip_one(&d, PAT_DISTINCT, want[i].k, i));
    }
    cv_chunk_desc d = make_desc(CV_UINT32, 1, 64, 64, 17, 64, 64, 17);
    ASSERT_TRUE(roundtrip_one(&d, PAT_DISTINCT, 69632, 1)); /* 69632 distinct: 32 bits */
}

static void roundtrip_large_block_small_chunk(void)
{
    /* a block larger than the chunk on every axis: one partial block */
    cv_chunk_desc d = make_desc(CV_UINT64, 2, 5, 6, 7, 32, 32, 32);
    for (uint32_t k = 1; k <= 300; k = k * 3 + 1) {
        ASSERT_TRUE(roundtrip_one(&d, PAT_NOISE, k, k));
    }
}

static void empty_chunk(void)
{
    /* a zero-size chunk has no blocks: only the channel offsets */
    for (uint32_t ch = 1; ch <= 3; ch++) {
        cv_chunk_desc d = make_desc(CV_UINT64, ch, 0, 4, 4, 8, 8, 8);
        cv_buf out;
        cv__buf_init(&out, 0);
        ASSERT_OK(cv_codec_cseg.encode(&d, -1, (const uint8_t *)"", 0, &out));
        ASSERT_EQ(out.len, 4 * ch);
        for (uint32_t c = 0; c < ch; c++) {
            ASSERT_EQ(get32(out.data + 4 * c), ch);
        }
        cv_buf dec;
        cv__buf_init(&dec, 0);
        ASSERT_OK(cv_codec_cseg.decode(&d, out.data, out.len, &dec));
        ASSERT_EQ(dec.len, 0);
        cv__buf_fini(&dec);
        cv__buf_fini(&out);
    }
}

static void appends_to_buffer(void)
{
    cv_chunk_desc d = make_desc(CV_UINT32, 1, 2, 2, 1, 2, 2, 1);
    uint8_t raw[16];
    for (int i = 0; i < 4; i++) {
        put32(raw + 4 * i, 4);
    }
    cv_buf out;
    cv__buf_init(&out, 0);
    ASSERT_OK(cv__buf_append(&out, "xyz", 3));
    ASSERT_OK(cv_codec_cseg.encode(&d, -1, raw, 16, &out));
    ASSERT_EQ(out.len, 3 + 16);
    ASSERT_EQ(get32(out.data + 3), 1); /* offsets count from the stream's start */
    ASSERT_EQ(get32(out.data + 3 + 8), 2);
    cv_buf dec;
    cv__buf_init(&dec, 0);
    ASSERT_OK(cv__buf_append(&dec, "ab", 2));
    ASSERT_OK(cv_codec_cseg.decode(&d, out.data + 3, 16, &dec));
    ASSERT_EQ(dec.len, 18);
    ASSERT_MEM_EQ(dec.data + 2, raw, 16);
    cv__buf_fini(&dec);
    cv__buf_fini(&out);
}

static void encode_respects_max(void)
{
    cv_chunk_desc d = make_desc(CV_UINT64, 2, 37, 20, 9, 8, 8, 8);
    const size_t n = cv__chunk_desc_bytes(&d);
    uint8_t *raw = make_labels(&d, PAT_RUNS, 9, 4);
    cv_buf free_enc, capped;
    cv__buf_init(&free_enc, 0);
    ASSERT_OK(cv_codec_cseg.encode(&d, -1, raw, n, &free_enc));
    cv__buf_init(&capped, free_enc.len); /* exactly enough room */
    ASSERT_OK(cv_codec_cseg.encode(&d, -1, raw, n, &capped));
    ASSERT_EQ(capped.len, free_enc.len);
    ASSERT_MEM_EQ(capped.data, free_enc.data, free_enc.len);
    cv__buf_fini(&capped);
    cv__buf_init(&capped, free_enc.len - 1);
    ASSERT_FAILS(cv_codec_cseg.encode(&d, -1, raw, n, &capped), CV_ERR_CORRUPT, "larger");
    ASSERT_EQ(capped.len, 0);
    cv__buf_fini(&capped);
    cv__buf_fini(&free_enc);
    cv_free(raw);
}

static void registry_entry(void)
{
    const cv_codec *c = cv__codec_find("compressed_segmentation");
    ASSERT_TRUE(c == &cv_codec_cseg);
    ASSERT_STR_EQ(c->content_type, "image/x.compressed_segmentation");
    ASSERT_STR_EQ(c->default_compress, "gzip");
    ASSERT_EQ(c->flags, 0);
    ASSERT_TRUE(strstr(cv__codec_names(), "compressed_segmentation") != NULL);
}

/* ---- bad arguments and corrupt streams ---------------------------------------------------- */

static void bad_desc(void)
{
    uint8_t raw[64] = {0};
    cv_buf out;
    cv__buf_init(&out, 0);
    cv_chunk_desc d = make_desc(CV_UINT16, 1, 2, 2, 2, 8, 8, 8);
    ASSERT_FAILS(cv_codec_cseg.encode(&d, -1, raw, 16, &out), CV_ERR_ARG, "uint16");
    ASSERT_FAILS(cv_codec_cseg.decode(&d, raw, 16, &out), CV_ERR_ARG, "not uint32 or uint64");
    d = make_desc(CV_UINT32, 1, 2, 2, 2, 8, 0, 8);
    ASSERT_FAILS(cv_codec_cseg.encode(&d, -1, raw, 32, &out), CV_ERR_ARG, "block size");
    ASSERT_FAILS(cv_codec_cseg.decode(&d, raw, 32, &out), CV_ERR_ARG, "block size");
    d = make_desc(CV_UINT32, 0, 2, 2, 2, 8, 8, 8);
    ASSERT_FAILS(cv_codec_cseg.decode(&d, raw, 32, &out), CV_ERR_ARG, "0 channels");
    d = make_desc(CV_UINT32, 1, 2, 2, 2, 8, 8, 8);
    ASSERT_FAILS(cv_codec_cseg.encode(&d, -1, raw, 31, &out), CV_ERR_ARG, "want 32");
    d = make_desc(CV_UINT32, 1, 2, 2, 2, 4096, 4096, 4096);
    ASSERT_FAILS(cv_codec_cseg.encode(&d, -1, raw, 32, &out), CV_ERR_ARG, "too large");
    ASSERT_EQ(out.len, 0);
    cv__buf_fini(&out);
}

/* Decode `n` bytes of `src` (copied to an exact-size allocation so ASan sees overreads). */
static cv_status decode_copy(const cv_chunk_desc *d, const uint8_t *src, size_t n, size_t *len)
{
    uint8_t *copy = cv_malloc(n);
    if (n) {
        memcpy(copy, src, n);
    }
    cv_buf out;
    cv__buf_init(&out, cv__chunk_desc_bytes(d));
    cv_status rc = cv_codec_cseg.decode(d, copy, n, &out);
    *len = out.len;
    cv__buf_fini(&out);
    cv_free(copy);
    return rc;
}

static void corrupt_truncated(void)
{
    static const uint32_t shapes[][3] = {{8, 8, 8}, {37, 20, 9}, {5, 3, 2}};
    for (size_t s = 0; s < 3; s++) {
        for (int t = 0; t < 2; t++) {
            cv_chunk_desc d = make_desc(t ? CV_UINT64 : CV_UINT32, 1 + (uint32_t)s % 2,
                                        shapes[s][0], shapes[s][1], shapes[s][2], 4, 4, 4);
            uint8_t *raw = make_labels(&d, PAT_NOISE, 5, s);
            cv_buf enc;
            cv__buf_init(&enc, 0);
            ASSERT_OK(cv_codec_cseg.encode(&d, -1, raw, cv__chunk_desc_bytes(&d), &enc));
            for (size_t cut = 0; cut < enc.len; cut++) {
                size_t len = 0;
                cv_err_clear();
                cv_status rc = decode_copy(&d, enc.data, cut, &len);
                if (rc != CV_ERR_CORRUPT) {
                    fprintf(stderr, "  cut at %zu of %zu: %s\n", cut, enc.len, cv_errname(rc));
                }
                ASSERT_EQ(rc, CV_ERR_CORRUPT);
                ASSERT_TRUE(strstr(cv_err_last()->what, "compressed_segmentation") != NULL);
                ASSERT_EQ(len, 0); /* nothing is appended on failure */
            }
            cv_err_clear();
            cv__buf_fini(&enc);
            cv_free(raw);
        }
    }
}

/* A 1-channel uint32 chunk 4x2x1, block 2x2x1: two blocks, stream built by hand. */
static size_t handmade(uint32_t *w)
{
    size_t n = 0;
    w[n++] = 1;              /* channel 0 at word 1 */
    w[n++] = 4 | (1u << 24); /* block 0: table @4, 1 bit */
    w[n++] = 6;              /* indices @6 */
    w[n++] = 4;              /* block 1: table @4 (shared), 0 bits */
    w[n++] = 7;              /* indices @7 (none) */
    w[n++] = 10;             /* rel 4: table [10, 20] */
    w[n++] = 20;
    w[n++] = 0x5; /* rel 6: indices 1,0,1,0 */
    return n;
}

static cv_status decode_words(const uint32_t *w, size_t n, size_t *len)
{
    cv_chunk_desc d = make_desc(CV_UINT32, 1, 4, 2, 1, 2, 2, 1);
    uint8_t b[64];
    for (size_t i = 0; i < n; i++) {
        put32(b + 4 * i, w[i]);
    }
    return decode_copy(&d, b, 4 * n, len);
}

static void corrupt_handmade(void)
{
    uint32_t w[16];
    size_t n = handmade(w), len;
    ASSERT_OK(decode_words(w, n, &len));
    ASSERT_EQ(len, 32);

    cv_chunk_desc d = make_desc(CV_UINT32, 1, 4, 2, 1, 2, 2, 1);
    ASSERT_FAILS(decode_copy(&d, (const uint8_t *)"\1\0\0\0\0", 5, &len), CV_ERR_CORRUPT,
                 "not a multiple of 4");
    n = handmade(w);
    w[0] = 7; /* headers past the end */
    ASSERT_FAILS(decode_words(w, n, &len), CV_ERR_CORRUPT, "block headers");
    n = handmade(w);
    w[0] = 0xffffffffu;
    ASSERT_FAILS(decode_words(w, n, &len), CV_ERR_CORRUPT, "block headers");
    n = handmade(w);
    w[1] = 6 | (1u << 24); /* table at the last word, index 1 used: past the table end */
    ASSERT_FAILS(decode_words(w, n, &len), CV_ERR_CORRUPT, "index 1 is past the end of its table");
    n = handmade(w);
    w[1] = 8 | (1u << 24); /* table offset at the end */
    ASSERT_FAILS(decode_words(w, n, &len), CV_ERR_CORRUPT, "table offset 8 is past the end");
    n = handmade(w);
    w[3] = 0xffffffu; /* 0-bit block with a far table */
    ASSERT_FAILS(decode_words(w, n, &len), CV_ERR_CORRUPT, "table offset 16777215");
    n = handmade(w);
    w[2] = 7 + 1; /* indices at the end */
    ASSERT_FAILS(decode_words(w, n, &len), CV_ERR_CORRUPT, "index words at offset 8");
    n = handmade(w);
    w[2] = 0xffffffffu;
    ASSERT_FAILS(decode_words(w, n, &len), CV_ERR_CORRUPT, "run past the end");
    static const uint32_t bad_bits[] = {3, 5, 7, 12, 31, 33, 64, 255};
    for (size_t i = 0; i < sizeof bad_bits / sizeof bad_bits[0]; i++) {
        n = handmade(w);
        w[1] = 4 | bad_bits[i] << 24;
        ASSERT_FAILS(decode_words(w, n, &len), CV_ERR_CORRUPT, "bit width");
    }
    /* 2 bits over a 2-entry table: index 3 is out of the table */
    n = handmade(w);
    w[1] = 4 | (2u << 24);
    w[7] = 0x3; /* indices 3,0,0,0 */
    w[5] = 10;
    n = 8;
    ASSERT_FAILS(decode_words(w, n, &len), CV_ERR_CORRUPT, "index 3");
    /* output cap smaller than the chunk */
    n = handmade(w);
    uint8_t b[64];
    for (size_t i = 0; i < n; i++) {
        put32(b + 4 * i, w[i]);
    }
    cv_buf out;
    cv__buf_init(&out, 31);
    ASSERT_FAILS(cv_codec_cseg.decode(&d, b, 4 * n, &out), CV_ERR_CORRUPT, "larger");
    ASSERT_EQ(out.len, 0);
    cv__buf_fini(&out);
}

/* Flip bytes of valid streams: every result is OK (with the full chunk) or CV_ERR_CORRUPT. */
static void corrupt_mutations(void)
{
    uint64_t rng = 12345;
    for (int t = 0; t < 2; t++) {
        cv_chunk_desc d = make_desc(t ? CV_UINT64 : CV_UINT32, 2, 13, 9, 6, 4, 3, 5);
        uint8_t *raw = make_labels(&d, PAT_NOISE, 7, 3);
        const size_t want = cv__chunk_desc_bytes(&d);
        cv_buf enc;
        cv__buf_init(&enc, 0);
        ASSERT_OK(cv_codec_cseg.encode(&d, -1, raw, want, &enc));
        uint8_t *m = cv_malloc(enc.len);
        size_t n_ok = 0, n_bad = 0;
        for (int iter = 0; iter < 3000; iter++) {
            memcpy(m, enc.data, enc.len);
            int flips = 1 + iter % 4;
            for (int f = 0; f < flips; f++) {
                rng = mix64(rng + 1);
                m[rng % enc.len] ^= (uint8_t)(1u << (rng >> 40) % 8);
            }
            size_t len = 0;
            cv_err_clear();
            cv_status rc = decode_copy(&d, m, enc.len, &len);
            ASSERT_TRUE(rc == CV_OK || rc == CV_ERR_CORRUPT);
            ASSERT_EQ(len, rc == CV_OK ? want : 0);
            rc == CV_OK ? n_ok++ : n_bad++;
        }
        ASSERT_TRUE(n_ok > 0 && n_bad > 0);
        cv_err_clear();
        cv_free(m);
        cv__buf_fini(&enc);
        cv_free(raw);
    }
}

/* A stream is canonical exactly when encoding what it decodes to gives it back: checked on
 * mutated streams (bit flips in headers, indices and tables; a table written twice instead of
 * shared), both ways, so a chunk copied as stored is the chunk re-encoding would write. */
static void canonical_matches_reencoding(void)
{
    uint64_t rng = 777;
    size_t n_same = 0, n_differs = 0;
    for (int t = 0; t < 4; t++) {
        cv_chunk_desc d = t < 2 ? make_desc(t ? CV_UINT64 : CV_UINT32, 2, 13, 9, 6, 4, 3, 5)
                                : make_desc(t == 3 ? CV_UINT64 : CV_UINT32, 1, 16, 16, 8, 8, 8, 8);
        uint8_t *raw = make_labels(&d, t < 2 ? PAT_NOISE : PAT_DISTINCT, t < 2 ? 7 : 3, 5);
        const size_t want = cv__chunk_desc_bytes(&d);
        cv_buf enc, dec, again;
        cv__buf_init(&enc, 0);
        cv__buf_init(&dec, want);
        cv__buf_init(&again, 0);
        ASSERT_OK(cv_codec_cseg.encode(&d, -1, raw, want, &enc));
        ASSERT_TRUE(cv__cseg_is_canonical(&d, enc.data, enc.len));
        ASSERT_TRUE(!cv__cseg_is_canonical(&d, enc.data, enc.len - 4));
        uint8_t *m = cv_malloc(enc.len + 64);
        for (int iter = 0; iter < 4000; iter++) {
            memcpy(m, enc.data, enc.len);
            size_t len = enc.len;
            if (iter % 50 == 0 && d.channels == 1) {
                /* the last block's table written again at the end, not shared */
                uint32_t h0 = get32(m + 4 * (1 + 2 * (size_t)(iter / 50 % 4)));
                uint32_t at = 1 + (h0 & 0xffffffu), k = 1u << (h0 >> 24);
                k = k > 4 ? 4 : k;
                if (4 * (size_t)(at + k * (d.dtype == CV_UINT64 ? 2 : 1)) <= enc.len) {
                    memcpy(m + len, m + 4 * (size_t)at, 4 * k * (d.dtype == CV_UINT64 ? 2 : 1));
                    put32(m + 4 * (1 + 2 * (size_t)(iter / 50 % 4)),
                          (h0 & 0xff000000u) | (uint32_t)(len / 4 - 1));
                    len += 4 * k * (d.dtype == CV_UINT64 ? 2 : 1);
                }
            } else {
                for (int f = 0; f < 1 + iter % 3; f++) {
                    rng = mix64(rng + 1);
                    m[rng % len] ^= (uint8_t)(1u << (rng >> 40) % 8);
                }
            }
            dec.len = 0;
            again.len = 0;
            cv_err_clear();
            bool canonical = cv__cseg_is_canonical(&d, m, len);
            if (cv_codec_cseg.decode(&d, m, len, &dec) != CV_OK) {
                ASSERT_TRUE(!canonical);
                continue;
            }
            ASSERT_OK(cv_codec_cseg.encode(&d, -1, dec.data, dec.len, &again));
            bool same = again.len == len && memcmp(again.data, m, len) == 0;
            ASSERT_EQ(canonical, same);
            same ? n_same++ : n_differs++;
        }
        cv_err_clear();
        cv_free(m);
        cv__buf_fini(&enc);
        cv__buf_fini(&dec);
        cv__buf_fini(&again);
        cv_free(raw);
    }
    /* both kinds occur: the check was put to the test */
    ASSERT_TRUE(n_same > 100 && n_differs > 100);
}

TEST_MAIN(spec_smallest, spec_basic, spec_basic_cached_2bit, spec_size_mismatch_1bit,
          spec_uint64_worked, spec_uint32_two_channels, roundtrip_matrix, bit_widths,
          roundtrip_large_block_small_chunk, empty_chunk, appends_to_buffer, encode_respects_max,
          registry_entry, bad_desc, corrupt_truncated, corrupt_handmade, corrupt_mutations,
          canonical_matches_reencoding)
