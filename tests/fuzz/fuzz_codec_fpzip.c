/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_codec_fpzip.c: the fpzip and kempressed codecs (precomputed-volume spec §5.8). Input:
 * FUZZ_DESC_BYTES of chunk description, one mode byte, then the payload. Mode bit 0: float64
 * (fpzip only); bit 1: kempressed; bits 2-5: precision (0 = lossless); bit 6: keep fuzz_desc's
 * dtype, which must be refused unless it is a float type the codec takes.
 * (1) Decode the payload as untrusted: CV_ERR_CORRUPT appending nothing, or exactly the chunk.
 * The stream check in codec_fpzip.c must never pass a stream libfpzip then fails on.
 * (2) Round trip: the payload bytes (repeated) as floats; lossless streams come back bit for
 * bit (kempressed: as (x + 2) - 2 in float arithmetic).
 * (3) The stream from (2) with bytes changed where the payload's tail says: decoded or
 * CV_ERR_CORRUPT. Without CV_HAVE_FPZIP the codecs must be absent. */
#include "fuzz_common.h"

#ifdef CV_HAVE_FPZIP

/* Round trips encode up to this many bytes, so the fuzzer stays fast. */
#define FPZ_ROUNDTRIP_MAX ((size_t)1 << 16)

static bool is_valid_desc(const cv_codec *c, const cv_chunk_desc *d)
{
    return d->dtype == CV_FLOAT32 || (d->dtype == CV_FLOAT64 && c == &cv_codec_fpzip);
}

static cv_status decode_checked(const cv_codec *c, const cv_chunk_desc *d, const uint8_t *p,
                                size_t n, cv_buf *out)
{
    cv__buf_init(out, fuzz_out_max(d));
    const cv_status rc = c->decode(d, p, n, out);
    if (!is_valid_desc(c, d)) {
        FUZZ_ASSERT(rc == CV_ERR_ARG);
    } else {
        FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_CORRUPT, cv_errname(rc));
    }
    /* the replay accepted it, so libfpzip must decode it: anything else is a replay bug */
    FUZZ_ASSERT_MSG(rc == CV_OK || !strstr(cv_err_last()->what, "libfpzip failed"),
                    cv_err_last()->what);
    FUZZ_ASSERT(rc == CV_OK ? out->len == cv__chunk_desc_bytes(d) : out->len == 0);
    return rc;
}

/* Same bits, or both NaN after kempressed's float arithmetic (which may quiet a NaN). */
static bool is_same_float(const uint8_t *a, const uint8_t *b, bool kempressed)
{
    if (memcmp(a, b, 4) == 0) {
        return true;
    }
    float x, y;
    memcpy(&x, a, 4);
    memcpy(&y, b, 4);
    return kempressed && x != x && y != y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    cv_chunk_desc d;
    if (size < FUZZ_DESC_BYTES + 1 || !fuzz_desc(data, size, &d)) {
        return 0;
    }
    const uint8_t mode = data[FUZZ_DESC_BYTES];
    const uint8_t *src = data + FUZZ_DESC_BYTES + 1;
    const size_t n = size - FUZZ_DESC_BYTES - 1;
    const cv_codec *c = mode & 2 ? &cv_codec_kempressed : &cv_codec_fpzip;
    FUZZ_ASSERT(cv__codec_find(c->name) == c);
    if (!(mode & 0x40)) {
        d.dtype = (mode & 1) && c == &cv_codec_fpzip ? CV_FLOAT64 : CV_FLOAT32;
    }
    const size_t want = cv__chunk_desc_bytes(&d);

    /* (1) untrusted payload */
    cv_buf out;
    decode_checked(c, &d, src, n, &out);
    cv__buf_fini(&out);
    if (!is_valid_desc(c, &d) || want > FPZ_ROUNDTRIP_MAX) {
        cv_err_clear();
        return 0;
    }

    /* (2) round trip */
    cv_err_clear();
    uint8_t *raw = malloc(want);
    FUZZ_ASSERT(raw != NULL);
    for (size_t i = 0; i < want; i++) {
        raw[i] = n ? src[i % n] : 0;
    }
    const unsigned p = (mode >> 2) & 15; /* 0 = lossless; else a valid precision */
    const int level = c == &cv_codec_kempressed || p == 0 ? -1
                      : d.dtype == CV_FLOAT64             ? (int)(4 * p)
                                                          : (int)(2 * p);
    cv_buf enc;
    cv__buf_init(&enc, 0);
    FUZZ_ASSERT_MSG(c->encode(&d, level, raw, want, &enc) == CV_OK, "encode");
    FUZZ_ASSERT(decode_checked(c, &d, enc.data, enc.len, &out) == CV_OK);
    if (c == &cv_codec_kempressed) {
        for (size_t i = 0; i < want; i += 4) {
            float v;
            memcpy(&v, raw + i, 4);
            volatile float w = v + 2.0f;
            w = w - 2.0f;
            const float r = w;
            uint8_t b[4];
            memcpy(b, &r, 4);
            FUZZ_ASSERT(is_same_float(out.data + i, b, true));
        }
    } else if (level < 0) {
        FUZZ_ASSERT(memcmp(out.data, raw, want) == 0);
    }
    cv__buf_fini(&out);

    /* (3) a valid stream with a few bytes changed */
    uint8_t *m = malloc(enc.len);
    FUZZ_ASSERT(m != NULL);
    memcpy(m, enc.data, enc.len);
    const size_t pairs = n >= 8 ? 1 + src[0] % 4 : 0;
    for (size_t i = 0; i < pairs; i++) {
        const uint8_t *q = src + n - 2 * (i + 1);
        const size_t at = ((size_t)q[0] * 131 + i * 977) % enc.len;
        m[at] = (uint8_t)(m[at] ^ (q[1] ? q[1] : 0x80));
    }
    cv_err_clear();
    decode_checked(c, &d, m, enc.len, &out);
    cv__buf_fini(&out);
    /* every strict prefix of a valid stream is refused */
    cv_err_clear();
    FUZZ_ASSERT(decode_checked(c, &d, enc.data, n ? src[n - 1] % enc.len : 0, &out) ==
                CV_ERR_CORRUPT);
    cv__buf_fini(&out);
    free(m);
    cv__buf_fini(&enc);
    free(raw);
    cv_err_clear();
    return 0;
}

#else /* !CV_HAVE_FPZIP */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    FUZZ_ASSERT(cv__codec_find("fpzip") == NULL && cv__codec_find("kempressed") == NULL);
    return 0;
}

#endif
