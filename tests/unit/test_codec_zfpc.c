/* SPDX-License-Identifier: BSD-3-Clause
 * test_codec_zfpc.c: the zfpc encoding. The expected bytes are the worked examples of the
 * zfpc spec, and sizes, indexes and SHA-256 digests of containers made by seung-lab/zfpc 0.1.2
 * (zfpc.compress over Debian's python3-zfpy 1.0.0, libzfp with 8-bit stream words) from
 * np.asfortranarray(np.arange(4096, dtype=T).reshape((16,16,16,1), order='F')) ("ramp"), with
 * the parameters named in each case. Also: decoding as CloudVolume does (float32, then the
 * layer's type), the scale parameters, and corrupt containers. Without CV_WITH_ZFP only the
 * codec's absence is checked. */
#include "testlib.h"

#include "codec/codec.h"

#ifdef CV_HAVE_CURL
#include "io/http.h" /* cv__sha256_hex */
#endif

#include <math.h>

#ifdef CV_HAVE_ZFP

static const cv_chunk_desc ramp_desc = {CV_FLOAT32, 1, {16, 16, 16}, {0, 0, 0}, NULL};

/* The ramp in `t`, x fastest. */
static uint8_t *ramp(cv_dtype t, size_t *n)
{
    cv_chunk_desc d = ramp_desc;
    d.dtype = t;
    *n = cv__chunk_desc_bytes(&d);
    uint8_t *p = malloc(*n);
    for (size_t i = 0; i < 4096; i++) {
        if (t == CV_FLOAT32) {
            const float v = (float)i;
            memcpy(p + 4 * i, &v, 4);
        } else if (t == CV_FLOAT64) {
            const double v = (double)i;
            memcpy(p + 8 * i, &v, 8);
        } else if (t == CV_INT32) {
            const int32_t v = (int32_t)i;
            memcpy(p + 4 * i, &v, 4);
        } else {
            const int64_t v = (int64_t)i;
            memcpy(p + 8 * i, &v, 8);
        }
    }
    return p;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

static void check_sha(const cv_buf *b, const char *want)
{
#ifdef CV_HAVE_CURL
    char hex[65];
    cv__sha256_hex(b->data, b->len, hex);
    ASSERT_STR_EQ(hex, want);
#else
    (void)b;
    (void)want;
#endif
}

static void registry(void)
{
    const cv_codec *c = cv__codec_find("zfpc");
    ASSERT_TRUE(c == &cv_codec_zfpc);
    ASSERT_STR_EQ(c->content_type, "image/x.zfpc");
    ASSERT_TRUE(c->default_compress == NULL);
}

/* Spec example A: CloudVolume's defaults, one lossless 4-D stream. */
static void example_a_lossless(void)
{
    size_t n;
    uint8_t *src = ramp(CV_FLOAT32, &n);
    cv_buf enc;
    cv__buf_init(&enc, 0);
    ASSERT_OK(cv_codec_zfpc.encode(&ramp_desc, -1, src, n, &enc));
    ASSERT_EQ(enc.len, 602);
    static const uint8_t head[] = {0x7a, 0x66, 0x70, 0x63, 0x00, 0x2b, 0x10, 0x00,
                                   0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x10, 0x00,
                                   0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0f};
    ASSERT_MEM_EQ(enc.data, head, sizeof head);
    ASSERT_EQ(le64(enc.data + 23), 39);
    ASSERT_EQ(le64(enc.data + 31), 563);
    static const uint8_t stream[] = {0x7a, 0x66, 0x70, 0x05, 0x0e, 0x00,
                                     0x0f, 0xf0, 0x00, 0x0f, 0x00, 0x88};
    ASSERT_MEM_EQ(enc.data + 39, stream, sizeof stream);
    check_sha(&enc, "5864d940ab280ecff1acb26457013cd6fd0fd5341b8d7234807fe231f290856a");
    cv_buf out;
    cv__buf_init(&out, n);
    ASSERT_OK(cv_codec_zfpc.decode(&ramp_desc, enc.data, enc.len, &out));
    ASSERT_MEM_EQ(out.data, src, n);
    cv__buf_fini(&out);
    cv__buf_fini(&enc);
    free(src);
}

/* Spec example B: all zeros, 64 empty blocks of one bit each. */
static void example_b_zeros(void)
{
    uint8_t *src = calloc(1, 16384);
    cv_buf enc;
    cv__buf_init(&enc, 0);
    ASSERT_OK(cv_codec_zfpc.encode(&ramp_desc, -1, src, 16384, &enc));
    static const uint8_t want[59] = {
        0x7a, 0x66, 0x70, 0x63, 0x00, 0x2b, 0x10, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x10,
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x27, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7a, 0x66, 0x70, 0x05, 0x0e, 0x00,
        0x0f, 0xf0, 0x00, 0x0f, 0x00, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    ASSERT_EQ(enc.len, sizeof want);
    ASSERT_MEM_EQ(enc.data, want, sizeof want);
    cv__buf_fini(&enc);
    free(src);
}

/* Spec example C: two channels (c1 = -c0), channel uncorrelated, tolerance 0.01. */
static void example_c_channels(void)
{
    cv_chunk_desc d = ramp_desc;
    d.channels = 2;
    const size_t n = cv__chunk_desc_bytes(&d);
    uint8_t *src = malloc(n);
    for (size_t i = 0; i < 4096; i++) {
        const float v = (float)i, w = -(float)i;
        memcpy(src + 4 * i, &v, 4);
        memcpy(src + 4 * (4096 + i), &w, 4);
    }
    d.scale_extra = "{\"zfpc_correlated_dims\":[true,true,true,false],\"zfpc_tolerance\":0.01}";
    cv_buf enc;
    cv__buf_init(&enc, 0);
    ASSERT_OK(cv_codec_zfpc.encode(&d, -1, src, n, &enc));
    ASSERT_EQ(enc.len, 1991);
    ASSERT_EQ(enc.data[5], 0x23);
    ASSERT_EQ(enc.data[22], 0x07);
    static const uint8_t nw[4] = {2, 0, 0, 0};
    ASSERT_MEM_EQ(enc.data + 18, nw, 4);
    ASSERT_EQ(le64(enc.data + 23), 47);
    ASSERT_EQ(le64(enc.data + 31), 978);
    ASSERT_EQ(le64(enc.data + 39), 966);
    static const uint8_t stream0[] = {0x7a, 0x66, 0x70, 0x05, 0xfa, 0x00,
                                      0xf0, 0x00, 0xf0, 0x00, 0xc0, 0xca};
    ASSERT_MEM_EQ(enc.data + 47, stream0, sizeof stream0);
    check_sha(&enc, "87083e29b775a0cb05f63c6a1363758e5e58ab5ae462279086c44398429b9a3a");
    /* within the tolerance, each channel from its own stream */
    cv_buf out;
    cv__buf_init(&out, n);
    ASSERT_OK(cv_codec_zfpc.decode(&d, enc.data, enc.len, &out));
    for (size_t i = 0; i < 2 * 4096; i++) {
        float a, b;
        memcpy(&a, src + 4 * i, 4);
        memcpy(&b, out.data + 4 * i, 4);
        ASSERT_TRUE(fabsf(a - b) <= 0.01f);
    }
    cv__buf_fini(&out);
    cv__buf_fini(&enc);
    free(src);
}

/* The other modes and data types of the ramp, as zfpc 0.1.2 made them. */
static void modes_and_types(void)
{
    static const struct {
        cv_dtype t;
        const char *params;
        uint8_t byte5;
        size_t len;
        const char *sha;
    } cases[] = {
        {CV_FLOAT32, "{\"zfpc_rate\":8}", 0x13, 16435,
         "712332e543c712dc77261e4dd758b02c46c9f10e859703fbf7b277ff6306ed08"},
        {CV_FLOAT32, "{\"zfpc_precision\":16}", 0x1b, 707,
         "6213911afb9ab5b2214f6572c0bd219918eae4e11858110d6a5d15a9da674874"},
        {CV_FLOAT32, "{\"zfpc_tolerance\":0.5}", 0x23, 1007,
         "a453fc7da29c3599336add459708cca99002518791e42c8da4cdc34349186407"},
        {CV_INT32, NULL, 0x29, 662,
         "56d36689919ae4c868a1182b331828e923987af57a8dddff3caf363d55e7cd33"},
        {CV_INT64, NULL, 0x2a, 926,
         "549fc1000f7761049ca4cf76c29bbf17368aa13cc82e49c53faf56086d5143b1"},
        {CV_FLOAT64, "{\"zfpc_rate\":-1,\"zfpc_correlated_dims\":[true,true,true,true]}", 0x2c, 634,
         "0a8531bff6fa0e8e2eb1204743e4ba48b8008e1cd07d52a715d70b518751c568"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        cv_chunk_desc d = ramp_desc;
        d.dtype = cases[k].t;
        d.scale_extra = cases[k].params;
        size_t n;
        uint8_t *src = ramp(d.dtype, &n);
        cv_buf enc;
        cv__buf_init(&enc, 0);
        ASSERT_OK(cv_codec_zfpc.encode(&d, -1, src, n, &enc));
        ASSERT_EQ(enc.data[5], cases[k].byte5);
        ASSERT_EQ(enc.len, cases[k].len);
        check_sha(&enc, cases[k].sha);
        /* the ramp is exact in float32, so every lossless type decodes to it */
        if ((cases[k].byte5 >> 3 & 7) == 5) {
            cv_buf out;
            cv__buf_init(&out, n);
            ASSERT_OK(cv_codec_zfpc.decode(&d, enc.data, enc.len, &out));
            ASSERT_MEM_EQ(out.data, src, n);
            cv__buf_fini(&out);
        }
        cv__buf_fini(&enc);
        free(src);
    }
}

/* An edge chunk (5x7x3, 2 channels, float64 of i^1.5), y uncorrelated, rate 12: 14 streams. */
static void edge_chunk_float64(void)
{
    cv_chunk_desc d = {CV_FLOAT64, 2, {5, 7, 3}, {0, 0, 0}, NULL};
    d.scale_extra = "{\"zfpc_correlated_dims\":[true,false,true,true],\"zfpc_rate\":12}";
    const size_t n = cv__chunk_desc_bytes(&d);
    uint8_t *src = malloc(n);
    for (size_t i = 0; i < n / 8; i++) {
        const double v = pow((double)i, 1.5);
        memcpy(src + 8 * i, &v, 8);
    }
    cv_buf enc;
    cv__buf_init(&enc, 0);
    ASSERT_OK(cv_codec_zfpc.encode(&d, -1, src, n, &enc));
    ASSERT_EQ(enc.len, 1515);
    ASSERT_EQ(le64(enc.data + 23), 23 + 8 * 8);
    check_sha(&enc, "a36c811cd30af1ac72abd1648e6322b1f1fea0794549f730a8264d4f2e6ef8d2");
    /* CloudVolume reads float32 values back into the float64 layer */
    cv_buf out;
    cv__buf_init(&out, n);
    ASSERT_OK(cv_codec_zfpc.decode(&d, enc.data, enc.len, &out));
    for (size_t i = 0; i < n / 8; i++) {
        double v;
        memcpy(&v, out.data + 8 * i, 8);
        ASSERT_TRUE(v == (double)(float)v);
        ASSERT_TRUE(fabs(v - pow((double)i, 1.5)) < 0.05 * (1 + pow((double)i, 1.5)));
    }
    cv__buf_fini(&out);
    cv__buf_fini(&enc);
    free(src);
}

/* Lossless float64 and int32 beyond float32's 24 bits come back as CloudVolume gives them. */
static void decode_through_float32(void)
{
    cv_chunk_desc d = {CV_INT32, 1, {4, 1, 1}, {0, 0, 0}, NULL};
    const int32_t in[4] = {16777217, -3, INT32_MAX, 7};
    cv_buf enc, out;
    cv__buf_init(&enc, 0);
    ASSERT_OK(cv_codec_zfpc.encode(&d, -1, (const uint8_t *)in, sizeof in, &enc));
    cv__buf_init(&out, sizeof in);
    ASSERT_OK(cv_codec_zfpc.decode(&d, enc.data, enc.len, &out));
    int32_t got[4];
    memcpy(got, out.data, sizeof got);
    ASSERT_EQ(got[0], 16777216); /* nearest float32 */
    ASSERT_EQ(got[1], -3);
    ASSERT_EQ(got[2], INT32_MIN); /* 2^31 as float32 is out of range: numpy's x86 cast */
    ASSERT_EQ(got[3], 7);
    cv__buf_fini(&out);
    cv__buf_fini(&enc);
}

static void parameters(void)
{
    cv_zfpc_params p;
    ASSERT_OK(cv__zfpc_params_parse(NULL, &p));
    ASSERT_TRUE(p.rate < 0 && p.precision < 0 && p.tolerance < 0 && p.correlated[3]);
    ASSERT_OK(cv__zfpc_params_parse("{\"zfpc_precision\":12,\"resolution_hint\":1}", &p));
    ASSERT_DBL_EQ(p.precision, 12);
    ASSERT_FAILS(cv__zfpc_params_parse("{\"zfpc_rate\":\"8\"}", &p), CV_ERR_INFO, "zfpc_rate");
    ASSERT_FAILS(cv__zfpc_params_parse("{\"zfpc_rate\":65}", &p), CV_ERR_INFO, "zfpc_rate");
    ASSERT_FAILS(cv__zfpc_params_parse("{\"zfpc_correlated_dims\":[true,true,true]}", &p),
                 CV_ERR_INFO, "4 booleans");
    ASSERT_FAILS(cv__zfpc_params_parse("{\"zfpc_correlated_dims\":[false,false,false,false]}", &p),
                 CV_ERR_INFO, "no correlated axis");
    /* two modes at once is zfpc's ValueError, found when a chunk is written */
    cv_chunk_desc d = ramp_desc;
    d.scale_extra = "{\"zfpc_rate\":8,\"zfpc_tolerance\":0.1}";
    size_t n;
    uint8_t *src = ramp(CV_FLOAT32, &n);
    cv_buf enc;
    cv__buf_init(&enc, 0);
    ASSERT_FAILS(cv_codec_zfpc.encode(&d, -1, src, n, &enc), CV_ERR_ARG, "only one of");
    ASSERT_EQ(enc.len, 0);
    d.dtype = CV_UINT16;
    d.scale_extra = NULL;
    ASSERT_FAILS(cv_codec_zfpc.encode(&d, -1, src, n / 2, &enc), CV_ERR_ARG, "uint16");
    ASSERT_FAILS(cv_codec_zfpc.decode(&d, src, n / 2, &enc), CV_ERR_ARG, "uint16");
    cv__buf_fini(&enc);
    free(src);
}

/* Decode `p` (n bytes) as the ramp chunk; expect CORRUPT mentioning `needle`. */
static void expect_corrupt(const uint8_t *p, size_t n, const char *needle)
{
    cv_buf out;
    cv__buf_init(&out, 16384);
    ASSERT_FAILS(cv_codec_zfpc.decode(&ramp_desc, p, n, &out), CV_ERR_CORRUPT, needle);
    ASSERT_EQ(out.len, 0);
    cv__buf_fini(&out);
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void corrupt_containers(void)
{
    size_t n;
    uint8_t *src = ramp(CV_FLOAT32, &n);
    cv_buf enc;
    cv__buf_init(&enc, 0);
    ASSERT_OK(cv_codec_zfpc.encode(&ramp_desc, -1, src, n, &enc));
    uint8_t *m = malloc(enc.len);
    const size_t len = enc.len;
#define MUTATE(stmt, needle)                                                                       \
    do {                                                                                           \
        memcpy(m, enc.data, len);                                                                  \
        stmt;                                                                                      \
        expect_corrupt(m, len, needle);                                                            \
    } while (0)
    expect_corrupt(enc.data, 22, "23-byte header");
    MUTATE(m[0] = 'Z', "magic");
    MUTATE(m[4] = 1, "format version 1");
    MUTATE(m[5] = 0x28, "bad header");  /* dtype 0 */
    MUTATE(m[5] = 0x0b, "bad header");  /* mode 1 */
    MUTATE(m[22] = 0x1f, "bad header"); /* bit 4 */
    MUTATE(m[22] = 0x00, "no correlated axis");
    MUTATE(m[6] = 17, "header x size 17");     /* shape is not the chunk's */
    MUTATE(m[22] = 0x07, "not its 3-D slice"); /* channel (size 1) uncorrelated: a 3-D slice */
    MUTATE(m[22] = 0x01, "too short for the index of 256 streams");
    MUTATE(put64(m + 23, 38), "first stream at 38");
    MUTATE(put64(m + 23, len + 1), "first stream at");
    MUTATE(put64(m + 31, UINT64_MAX), "runs past");
    MUTATE(put64(m + 31, 563 - 1), "truncated"); /* one byte short of its blocks */
    MUTATE(put64(m + 31, 11), "truncated");      /* a cut zfp header */
    MUTATE(m[39] = 'Z', "no valid zfp header");
    MUTATE(m[43] = 0x0a, "not its 4-D slice"); /* zfp says 3-D */
    MUTATE(m[44] = 0x01, "not its 4-D slice"); /* nx = 17: the slice has 1 channel */
    MUTATE(m[43] = 0x0f, "its blocks need");   /* double: more bits than the stream has */
    expect_corrupt(enc.data, len - 1, "runs past");
#undef MUTATE
    /* a fixed-rate stream whose blocks are not all there */
    cv_chunk_desc d = ramp_desc;
    d.scale_extra = "{\"zfpc_rate\":8}";
    cv_buf r;
    cv__buf_init(&r, 0);
    ASSERT_OK(cv_codec_zfpc.encode(&d, -1, src, n, &r));
    put64(r.data + 31, le64(r.data + 31) - 100);
    expect_corrupt(r.data, r.len - 100, "truncated");
    /* the decoded size is capped by out->max */
    cv_buf out;
    cv__buf_init(&out, n - 1);
    ASSERT_FAILS(cv_codec_zfpc.decode(&ramp_desc, enc.data, enc.len, &out), CV_ERR_CORRUPT,
                 "larger than");
    cv__buf_fini(&out);
    cv__buf_fini(&r);
    free(m);
    cv__buf_fini(&enc);
    free(src);
}

/* Appends after existing bytes, from unaligned input. */
static void append_unaligned(void)
{
    size_t n;
    uint8_t *src = ramp(CV_FLOAT32, &n);
    uint8_t *shifted = malloc(n + 1);
    memcpy(shifted + 1, src, n);
    cv_buf enc, out;
    cv__buf_init(&enc, 0);
    ASSERT_OK(cv__buf_append(&enc, "ab", 2));
    ASSERT_OK(cv_codec_zfpc.encode(&ramp_desc, -1, shifted + 1, n, &enc));
    ASSERT_EQ(enc.len, 2 + 602);
    cv__buf_init(&out, 0);
    ASSERT_OK(cv__buf_append(&out, "xyz", 3));
    ASSERT_OK(cv_codec_zfpc.decode(&ramp_desc, enc.data + 2, enc.len - 2, &out));
    ASSERT_EQ(out.len, 3 + n);
    ASSERT_MEM_EQ(out.data + 3, src, n);
    cv__buf_fini(&out);
    cv__buf_fini(&enc);
    free(shifted);
    free(src);
}

TEST_MAIN(registry, example_a_lossless, example_b_zeros, example_c_channels, modes_and_types,
          edge_chunk_float64, decode_through_float32, parameters, corrupt_containers,
          append_unaligned)

#else /* !CV_HAVE_ZFP */

static void not_built(void)
{
    ASSERT_TRUE(cv__codec_find("zfpc") == NULL);
}

TEST_MAIN(not_built)

#endif
