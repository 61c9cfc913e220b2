/* SPDX-License-Identifier: BSD-3-Clause
 * test_codec_fpzip.c: the fpzip and kempressed encodings (precomputed-volume spec §5.8):
 * bit-exact lossless round trips (-0.0, NaN payloads, infinities, subnormals), lossy
 * precisions, kempressed's +2.0 and z/channel swap, the header bytes CloudVolume's chunks
 * start with, header checks against the chunk description, and corrupt streams (including
 * one that makes libfpzip 1.3.0 read outside its model tables). Without CV_WITH_FPZIP only
 * the codecs' absence is checked. */
#include "testlib.h"

#include "codec/codec.h"

#include <math.h>

#ifdef CV_HAVE_FPZIP

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Smooth data with the special values sprinkled in; `wild` adds random bit patterns. */
static void fill(cv_dtype t, uint8_t *p, size_t n_values, uint64_t seed, bool wild)
{
    static const uint64_t special64[] = {
        0x8000000000000000ull, /* -0.0 */
        0x7ff0000000000000ull, /* inf */
        0xfff0000000000000ull, /* -inf */
        0x7ff8000000000000ull, /* quiet NaN */
        0x7ff8dead0000beefull, /* NaN with payload */
        0xfff4000000000001ull, /* negative signalling NaN */
        0x0000000000000001ull, /* smallest subnormal */
        0x000fffffffffffffull, /* largest subnormal */
    };
    static const uint32_t special32[] = {0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u,
                                         0x7fc0beefu, 0xffa00001u, 0x00000001u, 0x007fffffu};
    uint64_t x = seed;
    for (size_t i = 0; i < n_values; i++) {
        x = mix64(x);
        const double v = sin((double)i * 0.05) * 100.0 + (double)(i % 13) * 0.25;
        if (t == CV_FLOAT64) {
            uint64_t bits;
            memcpy(&bits, &v, 8);
            if (x % 37 == 0) {
                bits = special64[(x >> 8) % 8];
            } else if (wild && x % 5 == 0) {
                bits = mix64(x);
            }
            memcpy(p + 8 * i, &bits, 8);
        } else {
            const float f = (float)v;
            uint32_t bits;
            memcpy(&bits, &f, 4);
            if (x % 37 == 0) {
                bits = special32[(x >> 8) % 8];
            } else if (wild && x % 5 == 0) {
                bits = (uint32_t)mix64(x);
            }
            memcpy(p + 4 * i, &bits, 4);
        }
    }
}

static uint8_t *hex_decode(const char *hex, size_t *n)
{
    uint8_t *p = malloc(strlen(hex) / 2 + 1);
    size_t len = 0;
    for (const char *s = hex; s[0] && s[1]; s += 2) {
        unsigned v;
        sscanf(s, "%2x", &v);
        p[len++] = (uint8_t)v;
    }
    *n = len;
    return p;
}

static void registry(void)
{
    ASSERT_TRUE(cv__codec_find("fpzip") == &cv_codec_fpzip);
    ASSERT_TRUE(cv__codec_find("kempressed") == &cv_codec_kempressed);
    ASSERT_STR_EQ(cv_codec_fpzip.content_type, "image/x.fpzip");
    ASSERT_STR_EQ(cv_codec_kempressed.content_type, "image/x.kempressed");
    ASSERT_TRUE(cv_codec_fpzip.default_compress == NULL); /* CV never gzips these */
    ASSERT_TRUE(cv_codec_kempressed.default_compress == NULL);
    ASSERT_TRUE(strstr(cv__codec_names(), "fpzip kempressed") != NULL);
}

/* Encode then decode; returns the stream in *enc (caller frees) and checks bit-exactness. */
static bool roundtrip(const cv_codec *c, const cv_chunk_desc *d, int level, const uint8_t *src,
                      cv_buf *enc, uint8_t *decoded)
{
    const size_t n = cv__chunk_desc_bytes(d);
    cv__buf_init(enc, 0);
    cv_status rc = c->encode(d, level, src, n, enc);
    if (rc != CV_OK) {
        fprintf(stderr, "  encode %s: %s\n", c->name, cv_err_last()->what);
        return false;
    }
    cv_buf out;
    cv__buf_init(&out, n);
    rc = c->decode(d, enc->data, enc->len, &out);
    const bool ok = rc == CV_OK && out.len == n;
    if (!ok) {
        fprintf(stderr, "  decode %s %ux%ux%u x%u: %s\n", c->name, d->shape[0], d->shape[1],
                d->shape[2], d->channels, cv_err_last()->what);
    } else {
        memcpy(decoded, out.data, n);
    }
    cv__buf_fini(&out);
    return ok;
}

static void lossless_bit_exact(void)
{
    static const uint32_t shapes[][3] = {
        {37, 20, 9}, {1, 1, 1}, {64, 64, 64}, {5, 1, 7}, {1, 33, 2}};
    static const cv_dtype types[] = {CV_FLOAT32, CV_FLOAT64};
    for (size_t t = 0; t < 2; t++) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            for (uint32_t ch = 1; ch <= 3; ch++) {
                if (s == 2 && ch > 1) {
                    continue; /* 64^3 once per type is enough */
                }
                for (int wild = 0; wild < 2; wild++) {
                    cv_chunk_desc d = {
                        types[t], ch, {shapes[s][0], shapes[s][1], shapes[s][2]}, {0, 0, 0}, NULL};
                    const size_t n = cv__chunk_desc_bytes(&d);
                    uint8_t *src = malloc(n), *back = malloc(n);
                    fill(d.dtype, src, n / cv_dtype_size(d.dtype), s * 10 + ch + wild, wild);
                    cv_buf enc;
                    const bool ok = roundtrip(&cv_codec_fpzip, &d, -1, src, &enc, back);
                    const bool same = ok && memcmp(src, back, n) == 0;
                    /* level 0 is lossless too, and gives the same bytes */
                    cv_buf enc0;
                    cv__buf_init(&enc0, 0);
                    const bool ok0 = cv_codec_fpzip.encode(&d, 0, src, n, &enc0) == CV_OK &&
                                     enc0.len == enc.len &&
                                     memcmp(enc0.data, enc.data, enc.len) == 0;
                    cv__buf_fini(&enc0);
                    cv__buf_fini(&enc);
                    free(src);
                    free(back);
                    ASSERT_TRUE(ok);
                    ASSERT_TRUE(same);
                    ASSERT_TRUE(ok0);
                }
            }
        }
    }
}

/* The spec's sniffing bytes: every CloudVolume float32 chunk (lossless, sides < 2^24). */
static void header_bytes(void)
{
    static const uint8_t cv_prefix[9] = {0x66, 0x70, 0x79, 0x29, 0x87, 0x0e, 0xf0, 0xff, 0x00};
    static const uint32_t shapes[][4] = {
        {32, 32, 16, 1}, {3, 32, 16, 1}, {1, 1, 1, 1}, {64, 64, 64, 3}};
    for (size_t s = 0; s < 4; s++) {
        cv_chunk_desc d = {
            CV_FLOAT32, shapes[s][3], {shapes[s][0], shapes[s][1], shapes[s][2]}, {0, 0, 0}, NULL};
        const size_t n = cv__chunk_desc_bytes(&d);
        uint8_t *src = malloc(n);
        fill(d.dtype, src, n / 4, s, false);
        cv_buf enc;
        cv__buf_init(&enc, 0);
        ASSERT_OK(cv_codec_fpzip.encode(&d, -1, src, n, &enc));
        ASSERT_TRUE(enc.len > 9);
        ASSERT_MEM_EQ(enc.data, cv_prefix, 9);
        cv__buf_fini(&enc);
        free(src);
    }
}

/* Same input, two libfpzip builds (Debian's, and fpzip-1.3.0 from seung-lab/fpzip with
 * FPZIP_FP_FAST as its Python package builds it) gave this exact 162-byte stream:
 * float32 16x4x4, value i -> (float)(sin(i*0.1)*100 + i%7), precision 12. */
#define FPZ_16x4x4_P12                                                                             \
    "66707929870ef10af40ff0000003fc000003fc000000ff0083cf3ba47fb66f4b41474ee541c3b37cefed5419f4cd" \
    "6911571a5e5821f35172e3e72c37d88762275bec8d8e7573bfaa1bf097c97d353d90e5ffd5472e947197c464cf7d" \
    "8ee0f69d2e7abe5689e82840826c8750bdd1be845933924b08b00feaf3e9024aad67c23266892d503207d127acf5" \
    "446707703ae242e86b2c72bc5889c97168ecf6d25efa37bc"

static void lossy_precision(void)
{
    cv_chunk_desc d = {CV_FLOAT32, 1, {16, 4, 4}, {0, 0, 0}, NULL};
    float src[256], back[256];
    for (int i = 0; i < 256; i++) {
        src[i] = (float)(sin(i * 0.1) * 100 + i % 7);
    }
    cv_buf enc;
    ASSERT_TRUE(roundtrip(&cv_codec_fpzip, &d, 12, (const uint8_t *)src, &enc, (uint8_t *)back));
    size_t pinned_len;
    uint8_t *pinned = hex_decode(FPZ_16x4x4_P12, &pinned_len);
    ASSERT_EQ(enc.len, pinned_len);
    ASSERT_MEM_EQ(enc.data, pinned, pinned_len);
    free(pinned);
    for (int i = 0; i < 256; i++) {
        /* 12 bits = sign, 8 exponent bits and 3 mantissa bits */
        ASSERT_TRUE(fabsf(back[i] - src[i]) <= fabsf(src[i]) * 0.125f);
    }
    /* a lossy stream decodes the same way again: the decoded values are a fixed point */
    cv_buf enc2;
    float back2[256];
    ASSERT_TRUE(roundtrip(&cv_codec_fpzip, &d, 12, (const uint8_t *)back, &enc2, (uint8_t *)back2));
    ASSERT_MEM_EQ(back, back2, sizeof back);
    cv__buf_fini(&enc2);
    cv__buf_fini(&enc);
    /* precisions libfpzip would refuse */
    cv__buf_init(&enc, 0);
    ASSERT_FAILS(cv_codec_fpzip.encode(&d, 1, (const uint8_t *)src, sizeof src, &enc), CV_ERR_ARG,
                 "precision 1 is not valid for float32 (2..32)");
    ASSERT_FAILS(cv_codec_fpzip.encode(&d, 33, (const uint8_t *)src, sizeof src, &enc), CV_ERR_ARG,
                 "precision 33");
    d.dtype = CV_FLOAT64;
    double dsrc[256];
    for (int i = 0; i < 256; i++) {
        dsrc[i] = sin(i * 0.1);
    }
    ASSERT_FAILS(cv_codec_fpzip.encode(&d, 21, (const uint8_t *)dsrc, sizeof dsrc, &enc),
                 CV_ERR_ARG, "4..64, even");
    ASSERT_FAILS(cv_codec_fpzip.encode(&d, 66, (const uint8_t *)dsrc, sizeof dsrc, &enc),
                 CV_ERR_ARG, "precision 66");
    double dback[256];
    cv__buf_fini(&enc);
    ASSERT_TRUE(roundtrip(&cv_codec_fpzip, &d, 40, (const uint8_t *)dsrc, &enc, (uint8_t *)dback));
    for (int i = 0; i < 256; i++) {
        ASSERT_TRUE(fabs(dback[i] - dsrc[i]) <= 1e-4);
    }
    cv__buf_fini(&enc);
}

/* kempressed = fpzip of (x + 2.0) laid out [X,Y,C,Z]: build that by hand and compare bytes. */
static void kempressed_layout(void)
{
    const uint32_t X = 7, Y = 5, Z = 4, C = 3;
    cv_chunk_desc d = {CV_FLOAT32, C, {X, Y, Z}, {0, 0, 0}, NULL};
    const size_t n = cv__chunk_desc_bytes(&d), nv = n / 4;
    float *src = malloc(n), *swapped = malloc(n), *back = malloc(n);
    for (size_t i = 0; i < nv; i++) {
        src[i] = (float)(mix64(i) % 257) / 256.0f; /* affinities: exact after +2 -2 */
    }
    src[3] = -0.0f; /* -0.0 + 2 - 2 = +0.0, as in numpy */
    for (uint32_t c = 0; c < C; c++) {
        for (uint32_t z = 0; z < Z; z++) {
            for (uint32_t xy = 0; xy < X * Y; xy++) {
                swapped[xy + X * Y * (c + C * z)] = src[xy + X * Y * (z + Z * c)] + 2.0f;
            }
        }
    }
    cv_buf kem, fpz;
    ASSERT_TRUE(
        roundtrip(&cv_codec_kempressed, &d, -1, (const uint8_t *)src, &kem, (uint8_t *)back));
    src[3] = 0.0f;
    ASSERT_MEM_EQ(back, src, n);
    const cv_chunk_desc sd = {CV_FLOAT32, Z, {X, Y, C}, {0, 0, 0}, NULL};
    cv__buf_init(&fpz, 0);
    ASSERT_OK(cv_codec_fpzip.encode(&sd, -1, (const uint8_t *)swapped, n, &fpz));
    ASSERT_EQ(kem.len, fpz.len);
    ASSERT_MEM_EQ(kem.data, fpz.data, fpz.len);
    /* a kempressed stream is not an fpzip chunk of the same description (nz=C, nf=Z) */
    cv_buf out;
    cv__buf_init(&out, n);
    ASSERT_FAILS(cv_codec_fpzip.decode(&d, kem.data, kem.len, &out), CV_ERR_CORRUPT,
                 "stream holds float32 7x5x3x4, want float32 7x5x4x3");
    cv__buf_fini(&out);
    cv__buf_fini(&kem);
    cv__buf_fini(&fpz);
    /* arbitrary floats: decode(encode(x)) == (x + 2) - 2 in float arithmetic */
    const cv_chunk_desc d1 = {CV_FLOAT32, 2, {9, 3, 2}, {0, 0, 0}, NULL};
    const size_t n1 = cv__chunk_desc_bytes(&d1);
    fill(CV_FLOAT32, (uint8_t *)src, n1 / 4, 3, true);
    ASSERT_TRUE(
        roundtrip(&cv_codec_kempressed, &d1, -1, (const uint8_t *)src, &kem, (uint8_t *)back));
    for (size_t i = 0; i < n1 / 4; i++) {
        volatile float want = src[i] + 2.0f;
        want = want - 2.0f;
        const float w = want;
        ASSERT_TRUE(memcmp(&w, &back[i], 4) == 0 || (isnan(w) && isnan(back[i])));
    }
    cv__buf_fini(&kem);
    free(src);
    free(swapped);
    free(back);
}

static void description_errors(void)
{
    uint8_t buf[64] = {0};
    cv_buf out;
    cv__buf_init(&out, 0);
    cv_chunk_desc d = {CV_UINT16, 1, {2, 2, 2}, {0, 0, 0}, NULL};
    ASSERT_FAILS(cv_codec_fpzip.encode(&d, -1, buf, 16, &out), CV_ERR_ARG,
                 "data type uint16 is not float32 or float64");
    ASSERT_FAILS(cv_codec_fpzip.decode(&d, buf, 16, &out), CV_ERR_ARG, "uint16");
    d.dtype = CV_FLOAT64;
    ASSERT_FAILS(cv_codec_kempressed.encode(&d, -1, buf, 64, &out), CV_ERR_ARG,
                 "float64 is not float32");
    d.dtype = CV_FLOAT32;
    ASSERT_FAILS(cv_codec_fpzip.encode(&d, -1, buf, 31, &out), CV_ERR_ARG, "has 31 bytes, want 32");
    ASSERT_FAILS(cv_codec_kempressed.encode(&d, -1, buf, 33, &out), CV_ERR_ARG,
                 "has 33 bytes, want 32");
    d.channels = 0;
    ASSERT_FAILS(cv_codec_fpzip.encode(&d, -1, buf, 0, &out), CV_ERR_ARG, "empty or too large");
    ASSERT_EQ(out.len, 0);
    cv__buf_fini(&out);
}

/* Decode `s` with `d`, expecting CV_ERR_CORRUPT and `needle`. */
static void expect_corrupt(const cv_codec *c, const cv_chunk_desc *d, const uint8_t *s, size_t n,
                           const char *needle)
{
    uint8_t *exact = malloc(n ? n : 1); /* exact size: ASan sees any over-read */
    memcpy(exact, s, n);
    cv_buf out;
    cv__buf_init(&out, cv__chunk_desc_bytes(d));
    ASSERT_FAILS(c->decode(d, exact, n, &out), CV_ERR_CORRUPT, needle);
    ASSERT_EQ(out.len, 0);
    cv__buf_fini(&out);
    free(exact);
}

static void header_checks(void)
{
    cv_chunk_desc d = {CV_FLOAT32, 2, {6, 5, 4}, {0, 0, 0}, NULL};
    const size_t n = cv__chunk_desc_bytes(&d);
    uint8_t *src = malloc(n);
    fill(d.dtype, src, n / 4, 1, false);
    cv_buf enc;
    cv__buf_init(&enc, 0);
    ASSERT_OK(cv_codec_fpzip.encode(&d, -1, src, n, &enc));
    cv_chunk_desc w = d;
    w.shape[0] = 7;
    expect_corrupt(&cv_codec_fpzip, &w, enc.data, enc.len,
                   "stream holds float32 6x5x4x2, want float32 7x5x4x2");
    w = d;
    w.channels = 1;
    expect_corrupt(&cv_codec_fpzip, &w, enc.data, enc.len, "want float32 6x5x4x1");
    w = d;
    w.dtype = CV_FLOAT64;
    expect_corrupt(&cv_codec_fpzip, &w, enc.data, enc.len,
                   "stream holds float32 6x5x4x2, want float64 6x5x4x2");
    expect_corrupt(&cv_codec_fpzip, &d, (const uint8_t *)"fpz\0\0\0\0\0\0\0\0\0", 12,
                   "not an fpzip stream (bad magic)");
    expect_corrupt(&cv_codec_fpzip, &d, enc.data, 3, "not an fpzip stream");
    expect_corrupt(&cv_codec_fpzip, &d, enc.data, 0, "not an fpzip stream");
    expect_corrupt(&cv_codec_fpzip, &d, enc.data, 20, "truncated");
    /* one byte more than the stream */
    uint8_t *longer = malloc(enc.len + 1);
    memcpy(longer, enc.data, enc.len);
    longer[enc.len] = 0;
    expect_corrupt(&cv_codec_fpzip, &d, longer, enc.len + 1, "1 bytes after the end");
    free(longer);
    cv__buf_fini(&enc);
    free(src);
}

/* A mutated lossy float64 stream (found by fuzzing libfpzip 1.3.0 built with ASan): the
 * library's RCqsmodel::decode reads past its search table on it. It must be refused before
 * libfpzip decodes it. float64 7x7x7, precision 20. */
#define FPZ_SEARCH_OOB                                                                             \
    "66707929870ef1926c06f9000006f9000006f9000000ff008256db5e30240f197dc4318fd8746828bdaa941a8d64" \
    "e50dda51080cf460b17dd4ebfc068d9e21dfc720a8bb8717840a8d09efbcc4e101341478bb87974ee0f47645203d" \
    "f2bc66951822f930bace4f2f66b058f884a60606a9ff2bb7b8c1ee8b522aead136742cca845420561c67d4522ce0" \
    "0c0f14eca60708937b8bd072f0a0f0082938dcd1de0671c48d9531d336709dc9051690f985883d0c7d912eed6c61" \
    "3bedf4ac368b06ce743796899f3c3e05db50b90e134dc1b7f58e972db11a13fa3dad54e12d937978b27e51846074" \
    "c44aec60669ae638d87c8319aab9055db25f81885c8902356c3030c3db0d78a91501882c5cb998e2b350dfa0788f" \
    "32c80f46ef5eee385d04c86285b45112aad86a836d8f1fbc8481509f1de5942e5c4066c1dca344e6961453e2a098" \
    "151a60af30170e7e14cd8465c393bd9094a3a84f1c1d8b5b3a32caf14838b25aafcb30e95d18fa2779a2eceb4052" \
    "27605a2f05c137d98a1c05190aa42f97f5757bd425a817697a877b9629d99d47fa0523fd7f1ab32c237a32454037" \
    "1bebcd76e2c49ad4b714119d2c0afa5b04d4aab5bdf87a325ba53fc796138a821470144f47365b425af673456e71" \
    "cd9e0f9cd38da5ff829aec6ffec2f5750a24d1a62d9750"

static void corrupt_streams(void)
{
    /* every prefix and many single-byte changes of real streams: decoded or refused */
    static const cv_dtype types[] = {CV_FLOAT32, CV_FLOAT64};
    for (size_t t = 0; t < 2; t++) {
        for (int level = 0; level <= 16; level += 16) {
            cv_chunk_desc d = {types[t], 2, {9, 7, 3}, {0, 0, 0}, NULL};
            const size_t n = cv__chunk_desc_bytes(&d);
            uint8_t *src = malloc(n);
            fill(d.dtype, src, n / cv_dtype_size(d.dtype), t + 7, true);
            cv_buf enc;
            cv__buf_init(&enc, 0);
            ASSERT_OK(cv_codec_fpzip.encode(&d, level, src, n, &enc));
            for (size_t len = 0; len < enc.len; len++) {
                expect_corrupt(&cv_codec_fpzip, &d, enc.data, len, "");
            }
            uint8_t *m = malloc(enc.len);
            uint64_t x = t * 100 + (uint64_t)level;
            for (int round = 0; round < 1500; round++) {
                memcpy(m, enc.data, enc.len);
                x = mix64(x);
                m[x % enc.len] ^= (uint8_t)(1u << ((x >> 32) % 8));
                if (round % 2) {
                    x = mix64(x);
                    m[x % enc.len] = (uint8_t)(x >> 40);
                }
                cv_buf out;
                cv__buf_init(&out, n);
                cv_err_clear();
                const cv_status rc = cv_codec_fpzip.decode(&d, m, enc.len, &out);
                ASSERT_TRUE(rc == CV_OK || rc == CV_ERR_CORRUPT);
                ASSERT_TRUE(rc != CV_OK || out.len == n);
                cv__buf_fini(&out);
            }
            free(m);
            cv__buf_fini(&enc);
            free(src);
        }
    }
}

static void search_table_overrun(void)
{
    const cv_chunk_desc d = {CV_FLOAT64, 1, {7, 7, 7}, {0, 0, 0}, NULL};
    size_t n;
    uint8_t *s = hex_decode(FPZ_SEARCH_OOB, &n);
    ASSERT_EQ(n, 483);
    expect_corrupt(&cv_codec_fpzip, &d, s, n, "model index out of range");
    free(s);
}

/* fpzip writes into out after what is there; unaligned starts go through a copy. */
static void append_unaligned(void)
{
    const cv_chunk_desc d = {CV_FLOAT64, 1, {5, 4, 3}, {0, 0, 0}, NULL};
    const size_t n = cv__chunk_desc_bytes(&d);
    uint8_t *src = malloc(n + 1);
    fill(d.dtype, src + 1, n / 8, 5, true);
    cv_buf enc, out;
    cv__buf_init(&enc, 0);
    ASSERT_OK(cv_codec_fpzip.encode(&d, -1, src + 1, n, &enc)); /* unaligned input */
    cv__buf_init(&out, 0);
    ASSERT_OK(cv__buf_append(&out, "xyz", 3));
    ASSERT_OK(cv_codec_fpzip.decode(&d, enc.data, enc.len, &out));
    ASSERT_EQ(out.len, 3 + n);
    ASSERT_MEM_EQ(out.data, "xyz", 3);
    ASSERT_MEM_EQ(out.data + 3, src + 1, n);
    cv__buf_fini(&out);
    cv__buf_init(&out, n - 1);
    ASSERT_FAILS(cv_codec_fpzip.decode(&d, enc.data, enc.len, &out), CV_ERR_CORRUPT, "larger than");
    cv__buf_fini(&out);
    cv__buf_fini(&enc);
    free(src);
}

TEST_MAIN(registry, lossless_bit_exact, header_bytes, lossy_precision, kempressed_layout,
          description_errors, header_checks, corrupt_streams, search_table_overrun,
          append_unaligned)

#else /* !CV_HAVE_FPZIP */

static void not_built(void)
{
    ASSERT_TRUE(cv__codec_find("fpzip") == NULL);
    ASSERT_TRUE(cv__codec_find("kempressed") == NULL);
}

TEST_MAIN(not_built)

#endif
