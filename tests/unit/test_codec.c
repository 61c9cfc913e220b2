/* SPDX-License-Identifier: BSD-3-Clause
 * test_codec.c: the raw encoding and the gzip/br byte compressions: round trips, streams made
 * by Python's gzip and brotli modules (hex pasted below), CloudFiles' gzip header, and every
 * way a corrupt, truncated or oversized stream must fail. */
#include "testlib.h"

#include "codec/codec.h"
#include "compress/compress.h"

/* The plain bytes of the Python-made streams: bytes 0..63, then "cvmpi " 20 times. */
static size_t python_plain(uint8_t *out)
{
    size_t n = 0;
    for (int i = 0; i < 64; i++) {
        out[n++] = (uint8_t)i;
    }
    for (int i = 0; i < 20; i++) {
        memcpy(out + n, "cvmpi ", 6);
        n += 6;
    }
    return n;
}

/* Deterministic, mildly compressible bytes. */
static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)((i % 7 == 0) ? (x >> 24) : (i / 13));
    }
}

/* ---- codec registry -------------------------------------------------------------------- */

static void registry(void)
{
    ASSERT_TRUE(cv__codec_find("raw") == &cv_codec_raw);
    ASSERT_TRUE(cv__codec_find("RAW") == &cv_codec_raw);
    ASSERT_TRUE(cv__codec_find("gzip") == NULL); /* transport compression, not an encoding */
    ASSERT_TRUE(cv__codec_find("zstd") == NULL);
    ASSERT_TRUE(cv__codec_find(NULL) == NULL);
    ASSERT_TRUE(cv__codec_find("") == NULL);
    ASSERT_TRUE(cv__compressor_find("gzip") == &cv_compress_gzip);
    ASSERT_TRUE(cv__compressor_find("GZ") == &cv_compress_gzip);
    ASSERT_TRUE(cv__compressor_find("br") == &cv_compress_brotli);
    ASSERT_TRUE(cv__compressor_find("zstd") == NULL);
    ASSERT_TRUE(cv__compressor_find(NULL) == NULL);
    /* CloudVolume's should_compress(): raw chunks are gzipped by default */
    ASSERT_STR_EQ(cv_codec_raw.default_compress, "gzip");
    ASSERT_STR_EQ(cv_codec_raw.content_type, "application/octet-stream");
    ASSERT_EQ(cv_compress_gzip.default_level, 9);
    ASSERT_EQ(cv_compress_brotli.default_level, 5);
    ASSERT_TRUE(strstr(cv__codec_names(), "raw") != NULL);
    cv_chunk_desc d = {CV_UINT16, 3, {5, 4, 2}, {0, 0, 0}, NULL};
    ASSERT_EQ(cv__chunk_desc_bytes(&d), 5 * 4 * 2 * 3 * 2);
}

/* ---- raw ------------------------------------------------------------------------------- */

static void raw_roundtrip_all_dtypes(void)
{
    static const cv_dtype types[] = {CV_UINT8, CV_INT8,   CV_UINT16, CV_INT16,   CV_UINT32,
                                     CV_INT32, CV_UINT64, CV_INT64,  CV_FLOAT32, CV_FLOAT64};
    /* full chunks and chunks clipped at the volume's upper faces */
    static const uint32_t shapes[][3] = {{8, 8, 8}, {5, 3, 2}, {1, 1, 1}, {64, 1, 3}, {1, 17, 1}};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        for (uint32_t ch = 1; ch <= 4; ch++) {
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                cv_chunk_desc d = {
                    types[t], ch, {shapes[s][0], shapes[s][1], shapes[s][2]}, {0, 0, 0}, NULL};
                size_t n = (size_t)shapes[s][0] * shapes[s][1] * shapes[s][2] * ch *
                           cv_dtype_size(types[t]);
                ASSERT_EQ(cv__chunk_desc_bytes(&d), n);
                uint8_t *src = malloc(n);
                ASSERT_TRUE(src != NULL);
                fill_pattern(src, n, (uint32_t)(t * 100 + ch * 10 + s));
                cv_buf enc, dec;
                cv__buf_init(&enc, 0);
                cv__buf_init(&dec, n);
                cv_status rc1 = cv_codec_raw.encode(&d, -1, src, n, &enc);
                cv_status rc2 =
                    rc1 == CV_OK ? cv_codec_raw.decode(&d, enc.data, enc.len, &dec) : rc1;
                bool same = rc2 == CV_OK && enc.len == n && dec.len == n &&
                            memcmp(enc.data, src, n) == 0 && memcmp(dec.data, src, n) == 0;
                free(src);
                cv__buf_fini(&enc);
                cv__buf_fini(&dec);
                if (!same) {
                    fprintf(stderr, "  %s x%u %ux%ux%u\n", cv_dtype_name(types[t]), ch,
                            shapes[s][0], shapes[s][1], shapes[s][2]);
                }
                ASSERT_OK(rc2);
                ASSERT_TRUE(same);
            }
        }
    }
}

static void raw_wrong_length(void)
{
    cv_chunk_desc d = {CV_UINT16, 2, {5, 3, 2}, {0, 0, 0}, NULL};
    uint8_t data[121];
    memset(data, 7, sizeof data);
    cv_buf out;
    cv__buf_init(&out, 0);
    ASSERT_FAILS(cv_codec_raw.decode(&d, data, 119, &out), CV_ERR_CORRUPT,
                 "raw: expected 120 bytes for a 5x3x2 chunk of 2 x uint16, got 119");
    ASSERT_FAILS(cv_codec_raw.decode(&d, data, 121, &out), CV_ERR_CORRUPT,
                 "expected 120 bytes for a 5x3x2 chunk of 2 x uint16, got 121");
    ASSERT_FAILS(cv_codec_raw.decode(&d, data, 0, &out), CV_ERR_CORRUPT, "got 0");
    ASSERT_EQ(out.len, 0);
    ASSERT_FAILS(cv_codec_raw.encode(&d, -1, data, 118, &out), CV_ERR_ARG, "118 bytes, want 120");
    ASSERT_EQ(out.len, 0);
    /* decode appends */
    ASSERT_OK(cv__buf_append(&out, "ab", 2));
    ASSERT_OK(cv_codec_raw.decode(&d, data, 120, &out));
    ASSERT_EQ(out.len, 122);
    ASSERT_EQ(out.data[0], 'a');
    ASSERT_EQ(out.data[121], 7);
    cv__buf_fini(&out);
}

/* ---- gzip ------------------------------------------------------------------------------ */

/* gzip-encode `n` bytes at `level`; NULL on failure. */
static uint8_t *gz(const uint8_t *src, size_t n, int level, size_t *len)
{
    cv_buf b;
    cv__buf_init(&b, 0);
    if (cv_compress_gzip.compress(level, src, n, &b) != CV_OK) {
        cv__buf_fini(&b);
        return NULL;
    }
    return cv__buf_take(&b, len);
}

static void gzip_header_is_cloudfiles(void)
{
    static const uint8_t want9[10] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff};
    uint8_t src[1000];
    fill_pattern(src, sizeof src, 1);
    size_t n = 0;
    uint8_t *z = gz(src, sizeof src, 9, &n);
    ASSERT_TRUE(z != NULL);
    bool ok9 = n > 18 && memcmp(z, want9, 10) == 0;
    /* the trailer: CRC32 then ISIZE = 1000 */
    bool isize = n > 18 && z[n - 4] == 0xe8 && z[n - 3] == 0x03 && z[n - 2] == 0 && z[n - 1] == 0;
    cv_free(z);
    ASSERT_TRUE(ok9);
    ASSERT_TRUE(isize);
    /* the default level (-1) is 9 */
    z = gz(src, sizeof src, -1, &n);
    ASSERT_TRUE(z != NULL);
    bool okdef = n > 18 && memcmp(z, want9, 10) == 0;
    cv_free(z);
    ASSERT_TRUE(okdef);
    /* deterministic: the same input gives the same bytes */
    size_t n1 = 0, n2 = 0;
    uint8_t *a = gz(src, sizeof src, 9, &n1), *b = gz(src, sizeof src, 9, &n2);
    bool same = a && b && n1 == n2 && memcmp(a, b, n1) == 0;
    cv_free(a);
    cv_free(b);
    ASSERT_TRUE(same);
    /* levels outside 0..12 are refused */
    cv_buf out;
    cv__buf_init(&out, 0);
    ASSERT_FAILS(cv_compress_gzip.compress(13, src, 10, &out), CV_ERR_ARG, "level 13");
    cv__buf_fini(&out);
}

static void gzip_roundtrip(void)
{
    static const size_t sizes[] = {0, 1, 17, 4096, 100000, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (int level = 0; level <= 12; level += 3) {
            size_t n = sizes[i];
            uint8_t *src = malloc(n ? n : 1);
            ASSERT_TRUE(src != NULL);
            fill_pattern(src, n, (uint32_t)i);
            size_t zn = 0;
            uint8_t *z = gz(src, n, level, &zn);
            cv_buf out;
            cv__buf_init(&out, 0);
            cv_status rc = z ? cv_compress_gzip.decompress(z, zn, &out) : CV_ERR_IO;
            bool same = rc == CV_OK && out.len == n && (n == 0 || memcmp(out.data, src, n) == 0);
            cv_free(z);
            free(src);
            cv__buf_fini(&out);
            if (!same) {
                fprintf(stderr, "  size %zu level %d\n", n, level);
            }
            ASSERT_TRUE(same);
        }
    }
}

static void gzip_python_made(void)
{
    /* gzip.compress(plain, compresslevel=6, mtime=0) */
    static const uint8_t py[] = {
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x63, 0x60, 0x64, 0x62,
        0x66, 0x61, 0x65, 0x63, 0xe7, 0xe0, 0xe4, 0xe2, 0xe6, 0xe1, 0xe5, 0xe3, 0x17, 0x10,
        0x14, 0x12, 0x16, 0x11, 0x15, 0x13, 0x97, 0x90, 0x94, 0x92, 0x96, 0x91, 0x95, 0x93,
        0x57, 0x50, 0x54, 0x52, 0x56, 0x51, 0x55, 0x53, 0xd7, 0xd0, 0xd4, 0xd2, 0xd6, 0xd1,
        0xd5, 0xd3, 0x37, 0x30, 0x34, 0x32, 0x36, 0x31, 0x35, 0x33, 0xb7, 0xb0, 0xb4, 0xb2,
        0xb6, 0xb1, 0xb5, 0xb3, 0x4f, 0x2e, 0xcb, 0x2d, 0xc8, 0x54, 0xa0, 0x3f, 0x09, 0x00,
        0x6a, 0x31, 0x7e, 0x83, 0xb8, 0x00, 0x00, 0x00,
    };
    /* GzipFile(filename="chunk.raw", mtime=1234567890): FNAME set in the header */
    static const uint8_t named[] = {
        0x1f, 0x8b, 0x08, 0x08, 0xd2, 0x02, 0x96, 0x49, 0x02, 0xff, 0x63, 0x68, 0x75, 0x6e, 0x6b,
        0x2e, 0x72, 0x61, 0x77, 0x00, 0x63, 0x60, 0x64, 0x62, 0x66, 0x61, 0x65, 0x63, 0xe7, 0xe0,
        0xe4, 0xe2, 0xe6, 0xe1, 0xe5, 0xe3, 0x17, 0x10, 0x14, 0x12, 0x16, 0x11, 0x15, 0x13, 0x97,
        0x90, 0x94, 0x92, 0x96, 0x91, 0x95, 0x93, 0x57, 0x50, 0x54, 0x52, 0x56, 0x51, 0x55, 0x53,
        0xd7, 0xd0, 0xd4, 0xd2, 0xd6, 0xd1, 0xd5, 0xd3, 0x37, 0x30, 0x34, 0x32, 0x36, 0x31, 0x35,
        0x33, 0xb7, 0xb0, 0xb4, 0xb2, 0xb6, 0xb1, 0xb5, 0xb3, 0x4f, 0x2e, 0xcb, 0x2d, 0xc8, 0x54,
        0xa0, 0x3f, 0x09, 0x00, 0x6a, 0x31, 0x7e, 0x83, 0xb8, 0x00, 0x00, 0x00,
    };
    uint8_t plain[256];
    size_t n = python_plain(plain);
    cv_buf out;
    cv__buf_init(&out, 0);
    ASSERT_OK(cv_compress_gzip.decompress(py, sizeof py, &out));
    ASSERT_EQ(out.len, n);
    ASSERT_MEM_EQ(out.data, plain, n);
    out.len = 0;
    ASSERT_OK(cv_compress_gzip.decompress(named, sizeof named, &out));
    ASSERT_EQ(out.len, n);
    ASSERT_MEM_EQ(out.data, plain, n);
    /* an exact cap is enough */
    cv__buf_fini(&out);
    cv__buf_init(&out, n);
    ASSERT_OK(cv_compress_gzip.decompress(py, sizeof py, &out));
    ASSERT_EQ(out.len, n);
    cv__buf_fini(&out);
    /* one byte less is not */
    cv__buf_init(&out, n - 1);
    ASSERT_FAILS(cv_compress_gzip.decompress(py, sizeof py, &out), CV_ERR_CORRUPT,
                 "more than 183 bytes");
    cv__buf_fini(&out);
}

static void gzip_multi_member(void)
{
    /* gzip.compress(b"first member;") + gzip.compress(b"second member") */
    static const uint8_t multi[] = {
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x4b, 0xcb, 0x2c, 0x2a,
        0x2e, 0x51, 0xc8, 0x4d, 0xcd, 0x4d, 0x4a, 0x2d, 0xb2, 0x06, 0x00, 0x9d, 0xf4, 0x5b,
        0x5b, 0x0d, 0x00, 0x00, 0x00, 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
        0x03, 0x2b, 0x4e, 0x4d, 0xce, 0xcf, 0x4b, 0x51, 0xc8, 0x4d, 0xcd, 0x4d, 0x4a, 0x2d,
        0x02, 0x00, 0x24, 0x74, 0xfa, 0x9f, 0x0d, 0x00, 0x00, 0x00,
    };
    static const char want[] = "first member;second member";
    cv_buf out;
    cv__buf_init(&out, 0);
    ASSERT_OK(cv_compress_gzip.decompress(multi, sizeof multi, &out));
    ASSERT_EQ(out.len, strlen(want));
    ASSERT_MEM_EQ(out.data, want, strlen(want));
    /* zero padding after the last member is tolerated, as by gzip(1) */
    uint8_t padded[sizeof multi + 5];
    memcpy(padded, multi, sizeof multi);
    memset(padded + sizeof multi, 0, 5);
    out.len = 0;
    ASSERT_OK(cv_compress_gzip.decompress(padded, sizeof padded, &out));
    ASSERT_EQ(out.len, strlen(want));
    /* a second member cut short is an error */
    out.len = 0;
    ASSERT_FAILS(cv_compress_gzip.decompress(multi, sizeof multi - 3, &out), CV_ERR_CORRUPT,
                 "gzip: corrupt or truncated");
    /* garbage after the first member is an error */
    memset(padded + 33, 0x55, sizeof padded - 33);
    out.len = 0;
    ASSERT_FAILS(cv_compress_gzip.decompress(padded, sizeof padded, &out), CV_ERR_CORRUPT, "gzip");
    cv__buf_fini(&out);
}

static void gzip_corrupt_and_truncated(void)
{
    uint8_t src[5000];
    fill_pattern(src, sizeof src, 3);
    size_t zn = 0;
    uint8_t *z = gz(src, sizeof src, 9, &zn);
    ASSERT_TRUE(z != NULL && zn > 40);
    uint8_t *bad = malloc(zn);
    ASSERT_TRUE(bad != NULL);
    cv_buf out;
    cv__buf_init(&out, 0);
    int before = tl_failed_asserts;
    /* every truncation fails, never returns partial data as success */
    static const size_t cuts[] = {1, 2, 4, 5, 8, 9, 20};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0] && tl_failed_asserts == before; i++) {
        out.len = 0;
        cv_err_clear();
        cv_status rc = cv_compress_gzip.decompress(z, zn - cuts[i], &out);
        if (rc != CV_ERR_CORRUPT || !strstr(cv_err_last()->what, "gzip: corrupt or truncated")) {
            fprintf(stderr, "  cut %zu: %s %s\n", cuts[i], cv_errname(rc), cv_err_last()->what);
            tl_failed_asserts++;
        }
    }
    /* a flipped bit in the deflate data or in the CRC32 */
    static const size_t flips[] = {12, 20, 30};
    for (size_t i = 0; i < sizeof flips / sizeof flips[0] && tl_failed_asserts == before; i++) {
        memcpy(bad, z, zn);
        bad[flips[i]] ^= 0x10;
        out.len = 0;
        cv_err_clear();
        cv_status rc = cv_compress_gzip.decompress(bad, zn, &out);
        if (rc != CV_ERR_CORRUPT) {
            fprintf(stderr, "  flip %zu: %s\n", flips[i], cv_errname(rc));
            tl_failed_asserts++;
        }
    }
    memcpy(bad, z, zn);
    bad[zn - 6] ^= 0x01; /* CRC32 */
    out.len = 0;
    cv_status crc_rc = cv_compress_gzip.decompress(bad, zn, &out);
    /* a wrong ISIZE (smaller and larger than the truth) */
    memcpy(bad, z, zn);
    bad[zn - 4] = 1;
    bad[zn - 3] = 0;
    out.len = 0;
    cv_status small_rc = cv_compress_gzip.decompress(bad, zn, &out);
    bad[zn - 1] = 0x7f;
    out.len = 0;
    cv_status huge_rc = cv_compress_gzip.decompress(bad, zn, &out);
    /* a bad compression method byte */
    memcpy(bad, z, zn);
    bad[2] = 7;
    out.len = 0;
    cv_status cm_rc = cv_compress_gzip.decompress(bad, zn, &out);
    free(bad);
    cv_free(z);
    cv__buf_fini(&out);
    cv_err_clear();
    ASSERT_EQ(crc_rc, CV_ERR_CORRUPT);
    ASSERT_EQ(small_rc, CV_ERR_CORRUPT);
    ASSERT_EQ(huge_rc, CV_ERR_CORRUPT);
    ASSERT_EQ(cm_rc, CV_ERR_CORRUPT);
}

static void gzip_not_gzip(void)
{
    static const char text[] = "this is plain text, not a gzip stream at all";
    cv_buf out;
    cv__buf_init(&out, 0);
    ASSERT_FAILS(cv_compress_gzip.decompress((const uint8_t *)text, strlen(text), &out),
                 CV_ERR_CORRUPT, "gzip: not in gzip format (44 bytes)");
    ASSERT_FAILS(cv_compress_gzip.decompress((const uint8_t *)"", 0, &out), CV_ERR_CORRUPT,
                 "not in gzip format (0 bytes)");
    /* the magic alone, too short for a member */
    static const uint8_t stub[] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0xff};
    ASSERT_FAILS(cv_compress_gzip.decompress(stub, sizeof stub, &out), CV_ERR_CORRUPT,
                 "not in gzip format (10 bytes)");
    /* zlib (RFC 1950) is not gzip */
    static const uint8_t zlib[] = {0x78, 0x9c, 0x4b, 0x4c, 0x4a, 0x06, 0x00, 0x02, 0x4d,
                                   0x01, 0x27, 0,    0,    0,    0,    0,    0,    0};
    ASSERT_FAILS(cv_compress_gzip.decompress(zlib, sizeof zlib, &out), CV_ERR_CORRUPT,
                 "not in gzip format");
    ASSERT_EQ(out.len, 0);
    cv__buf_fini(&out);
}

static void gzip_bomb_capped(void)
{
    size_t big = (size_t)10 << 20;
    uint8_t *zeros = calloc(big, 1);
    ASSERT_TRUE(zeros != NULL);
    size_t zn = 0;
    uint8_t *z = gz(zeros, big, 9, &zn);
    free(zeros);
    ASSERT_TRUE(z != NULL);
    ASSERT_TRUE(zn < 100000);
    cv_buf out;
    cv__buf_init(&out, (size_t)1 << 20);
    cv_err_clear();
    cv_status rc = cv_compress_gzip.decompress(z, zn, &out);
    bool msg = strstr(cv_err_last()->what, "more than 1048576 bytes") != NULL;
    bool capped = out.cap <= ((size_t)1 << 20);
    cv__buf_fini(&out);
    /* without a cap it decodes fully */
    cv__buf_init(&out, 0);
    cv_status rc2 = cv_compress_gzip.decompress(z, zn, &out);
    size_t full = out.len;
    cv__buf_fini(&out);
    cv_free(z);
    ASSERT_EQ(rc, CV_ERR_CORRUPT);
    ASSERT_TRUE(msg);
    ASSERT_TRUE(capped);
    ASSERT_OK(rc2);
    ASSERT_EQ(full, big);
}

/* ---- brotli ---------------------------------------------------------------------------- */

static uint8_t *br(const uint8_t *src, size_t n, int level, size_t *len)
{
    cv_buf b;
    cv__buf_init(&b, 0);
    if (cv_compress_brotli.compress(level, src, n, &b) != CV_OK) {
        cv__buf_fini(&b);
        return NULL;
    }
    return cv__buf_take(&b, len);
}

static void brotli_roundtrip(void)
{
    static const size_t sizes[] = {0, 1, 100, 65536, 65537, 300000};
    static const int levels[] = {-1, 0, 5, 11};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
            size_t n = sizes[i];
            uint8_t *src = malloc(n ? n : 1);
            ASSERT_TRUE(src != NULL);
            fill_pattern(src, n, (uint32_t)(i + 7));
            size_t zn = 0;
            uint8_t *z = br(src, n, levels[l], &zn);
            cv_buf out;
            cv__buf_init(&out, 0);
            cv_status rc = z ? cv_compress_brotli.decompress(z, zn, &out) : CV_ERR_IO;
            bool same = rc == CV_OK && out.len == n && (n == 0 || memcmp(out.data, src, n) == 0);
            cv_free(z);
            free(src);
            cv__buf_fini(&out);
            if (!same) {
                fprintf(stderr, "  size %zu level %d\n", n, levels[l]);
            }
            ASSERT_TRUE(same);
        }
    }
    cv_buf out;
    cv__buf_init(&out, 0);
    uint8_t one = 1;
    ASSERT_FAILS(cv_compress_brotli.compress(12, &one, 1, &out), CV_ERR_ARG, "quality 12");
    cv__buf_fini(&out);
}

static void brotli_python_made(void)
{
    /* brotli.compress(plain, quality=5), CloudFiles' default, and quality=11 */
    static const uint8_t q5[] = {
        0x1b, 0xb7, 0x00, 0x00, 0x64, 0x70, 0xde, 0xe6, 0x52, 0x7d, 0x80, 0x2d, 0x3c,
        0x41, 0xe9, 0x69, 0x88, 0x2f, 0x21, 0x26, 0xf8, 0x1d, 0x01, 0x10, 0x61, 0x42,
        0x19, 0x9f, 0x1f, 0x03, 0x40, 0x98, 0x98, 0x90, 0x4a, 0x1b, 0xeb, 0xb8, 0x9e,
        0x1f, 0x84, 0x51, 0x9c, 0xa4, 0x59, 0x5e, 0x94, 0x55, 0xdd, 0xb4, 0x5d, 0x3f,
        0x8c, 0xd3, 0xbc, 0xac, 0xdb, 0x7f, 0x7f, 0xbb, 0x08,
    };
    static const uint8_t q11[] = {
        0x1b, 0xb7, 0x00, 0xe8, 0x65, 0x70, 0x5e, 0xaa, 0x33, 0x0f, 0xb6, 0xf0, 0x04,
        0xa5, 0x97, 0x21, 0x21, 0x26, 0xd2, 0x01, 0x13, 0x6c, 0xe2, 0xd8, 0xbd, 0x7f,
        0x18, 0x44, 0x98, 0x50, 0xc6, 0x85, 0x54, 0xda, 0x58, 0xe7, 0x43, 0x4c, 0xb9,
        0xd4, 0xa6, 0xed, 0xfa, 0x61, 0x9c, 0xe6, 0x65, 0xdd, 0xfe, 0xfb, 0xdb, 0x41,
    };
    uint8_t plain[256];
    size_t n = python_plain(plain);
    cv_buf out;
    cv__buf_init(&out, 0);
    ASSERT_OK(cv_compress_brotli.decompress(q5, sizeof q5, &out));
    ASSERT_EQ(out.len, n);
    ASSERT_MEM_EQ(out.data, plain, n);
    out.len = 0;
    ASSERT_OK(cv_compress_brotli.decompress(q11, sizeof q11, &out));
    ASSERT_EQ(out.len, n);
    ASSERT_MEM_EQ(out.data, plain, n);
    cv__buf_fini(&out);
    /* brotli.compress(b"hello") */
    static const uint8_t hello[] = {0x0b, 0x02, 0x80, 'h', 'e', 'l', 'l', 'o', 0x03};
    cv__buf_init(&out, 5);
    ASSERT_OK(cv_compress_brotli.decompress(hello, sizeof hello, &out));
    ASSERT_EQ(out.len, 5);
    ASSERT_MEM_EQ(out.data, "hello", 5);
    cv__buf_fini(&out);
    cv__buf_init(&out, 4);
    ASSERT_FAILS(cv_compress_brotli.decompress(hello, sizeof hello, &out), CV_ERR_CORRUPT,
                 "br: decompresses to more than 4 bytes");
    cv__buf_fini(&out);
}

static void brotli_corrupt_and_truncated(void)
{
    uint8_t src[20000];
    fill_pattern(src, sizeof src, 9);
    size_t zn = 0;
    uint8_t *z = br(src, sizeof src, 5, &zn);
    ASSERT_TRUE(z != NULL && zn > 20);
    cv_buf out;
    cv__buf_init(&out, 0);
    int before = tl_failed_asserts;
    static const size_t cuts[] = {1, 2, 10};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0] && tl_failed_asserts == before; i++) {
        out.len = 0;
        cv_err_clear();
        cv_status rc = cv_compress_brotli.decompress(z, zn - cuts[i], &out);
        if (rc != CV_ERR_CORRUPT || !strstr(cv_err_last()->what, "br: ")) {
            fprintf(stderr, "  cut %zu: %s %s\n", cuts[i], cv_errname(rc), cv_err_last()->what);
            tl_failed_asserts++;
        }
    }
    out.len = 0;
    ASSERT_FAILS(cv_compress_brotli.decompress(z, zn / 2, &out), CV_ERR_CORRUPT,
                 "br: truncated stream");
    out.len = 0;
    ASSERT_FAILS(cv_compress_brotli.decompress(z, 0, &out), CV_ERR_CORRUPT, "br: truncated");
    /* bytes after the end of the stream */
    uint8_t *longer = malloc(zn + 3);
    ASSERT_TRUE(longer != NULL);
    memcpy(longer, z, zn);
    memcpy(longer + zn, "xyz", 3);
    out.len = 0;
    cv_err_clear();
    cv_status rc_trail = cv_compress_brotli.decompress(longer, zn + 3, &out);
    bool trail_msg = strstr(cv_err_last()->what, "br: trailing bytes") != NULL;
    free(longer);
    cv_free(z);
    /* not brotli at all: 0xff is an invalid window bits header */
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    out.len = 0;
    cv_err_clear();
    cv_status rc_junk = cv_compress_brotli.decompress(junk, sizeof junk, &out);
    cv__buf_fini(&out);
    cv_err_clear();
    ASSERT_EQ(rc_trail, CV_ERR_CORRUPT);
    ASSERT_TRUE(trail_msg);
    ASSERT_EQ(rc_junk, CV_ERR_CORRUPT);
}

static void brotli_bomb_capped(void)
{
    size_t big = (size_t)10 << 20;
    uint8_t *zeros = calloc(big, 1);
    ASSERT_TRUE(zeros != NULL);
    size_t zn = 0;
    uint8_t *z = br(zeros, big, 5, &zn);
    free(zeros);
    ASSERT_TRUE(z != NULL);
    ASSERT_TRUE(zn < 10000);
    cv_buf out;
    cv__buf_init(&out, (size_t)1 << 20);
    ASSERT_FAILS(cv_compress_brotli.decompress(z, zn, &out), CV_ERR_CORRUPT,
                 "more than 1048576 bytes");
    ASSERT_TRUE(out.cap <= ((size_t)1 << 20));
    cv__buf_fini(&out);
    cv_free(z);
}

TEST_MAIN(registry, raw_roundtrip_all_dtypes, raw_wrong_length, gzip_header_is_cloudfiles,
          gzip_roundtrip, gzip_python_made, gzip_multi_member, gzip_corrupt_and_truncated,
          gzip_not_gzip, gzip_bomb_capped, brotli_roundtrip, brotli_python_made,
          brotli_corrupt_and_truncated, brotli_bomb_capped)
