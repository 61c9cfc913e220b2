/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_codec_zfpc.c: the zfpc codec (container of zfp streams). Input: FUZZ_DESC_BYTES of chunk
 * description, a mode byte, an axes byte, then the payload.
 * Mode bits 0-1: int32, int64, float32, float64; bit 6: keep fuzz_desc's dtype instead (refused
 * unless it is one of those four); bit 7: take the chunk's shape from the payload's own zfpc
 * header when its sizes are 1..64, so hostile indices and streams reach the stream checks;
 * bits 2-3: reversible, rate, precision or tolerance for the round trip, bits 4-5 its value.
 * Axes byte: the correlated axes (low 4 bits; 0 = all).
 * (1) Decode the payload as untrusted: CV_ERR_CORRUPT appending nothing, or exactly the chunk.
 * (2) Round trip: the payload bytes (repeated) as values; reversible float32 chunks of finite
 * values come back bit for bit. (3) That container with bytes changed: decoded or CORRUPT;
 * every strict prefix of it: CORRUPT. Without CV_HAVE_ZFP the codec must be absent. */
#include "fuzz_common.h"

#ifdef CV_HAVE_ZFP

#include <math.h>

#define ZFPC_ROUNDTRIP_MAX ((size_t)1 << 16)

static bool is_zfpc_dtype(cv_dtype t)
{
    return t == CV_INT32 || t == CV_INT64 || t == CV_FLOAT32 || t == CV_FLOAT64;
}

static cv_status decode_checked(const cv_chunk_desc *d, const uint8_t *p, size_t n, cv_buf *out)
{
    cv__buf_init(out, fuzz_out_max(d));
    const cv_status rc = cv_codec_zfpc.decode(d, p, n, out);
    if (!is_zfpc_dtype(d->dtype)) {
        FUZZ_ASSERT(rc == CV_ERR_ARG);
    } else {
        FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_CORRUPT, cv_errname(rc));
    }
    FUZZ_ASSERT(rc == CV_OK ? out->len == cv__chunk_desc_bytes(d) : out->len == 0);
    return rc;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    cv_chunk_desc d;
    if (size < FUZZ_DESC_BYTES + 2 || !fuzz_desc(data, size, &d)) {
        return 0;
    }
    const uint8_t mode = data[FUZZ_DESC_BYTES], axes = data[FUZZ_DESC_BYTES + 1];
    const uint8_t *src = data + FUZZ_DESC_BYTES + 2;
    const size_t n = size - FUZZ_DESC_BYTES - 2;
    FUZZ_ASSERT(cv__codec_find("zfpc") == &cv_codec_zfpc);
    static const cv_dtype types[4] = {CV_INT32, CV_INT64, CV_FLOAT32, CV_FLOAT64};
    if (!(mode & 0x40)) {
        d.dtype = types[mode & 3];
    }
    if ((mode & 0x80) && n >= 22) {
        bool fits = true;
        for (int a = 0; a < 4; a++) {
            const uint32_t v = le32(src + 6 + 4 * a);
            fits = fits && v >= 1 && v <= 64;
        }
        if (fits) {
            for (int a = 0; a < 3; a++) {
                d.shape[a] = le32(src + 6 + 4 * a);
            }
            d.channels = le32(src + 18);
        }
    }
    const size_t want = cv__chunk_desc_bytes(&d);

    /* (1) untrusted payload */
    cv_buf out;
    decode_checked(&d, src, n, &out);
    cv__buf_fini(&out);
    if (!is_zfpc_dtype(d.dtype) || want > ZFPC_ROUNDTRIP_MAX) {
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
    cv_zfpc_params p = cv__zfpc_params_default();
    const unsigned v = (mode >> 4) & 3;
    switch ((mode >> 2) & 3) {
    case 1:
        p.rate = 1 + 7.5 * v;
        break;
    case 2:
        p.precision = 4 + 9 * v;
        break;
    case 3:
        p.tolerance = v ? pow(10, -(double)v) : 0;
        break;
    default:
        break;
    }
    if (axes & 15) {
        for (int a = 0; a < 4; a++) {
            p.correlated[a] = (axes >> a) & 1;
        }
    }
    cv_buf enc;
    cv__buf_init(&enc, 0);
    FUZZ_ASSERT_MSG(cv__zfpc_encode(&d, &p, raw, want, &enc) == CV_OK, "encode");
    FUZZ_ASSERT(decode_checked(&d, enc.data, enc.len, &out) == CV_OK);
    if (d.dtype == CV_FLOAT32 && ((mode >> 2) & 3) == 0) {
        bool finite = true;
        for (size_t i = 0; i < want; i += 4) {
            float f;
            memcpy(&f, raw + i, 4);
            finite = finite && isfinite(f);
        }
        FUZZ_ASSERT(!finite || memcmp(out.data, raw, want) == 0);
    }
    cv__buf_fini(&out);

    /* (3) a valid container with a few bytes changed, and its prefixes */
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
    decode_checked(&d, m, enc.len, &out);
    cv__buf_fini(&out);
    cv_err_clear();
    FUZZ_ASSERT(decode_checked(&d, enc.data, n ? src[n - 1] % enc.len : 0, &out) == CV_ERR_CORRUPT);
    cv__buf_fini(&out);
    free(m);
    cv__buf_fini(&enc);
    free(raw);
    cv_err_clear();
    return 0;
}

#else /* !CV_HAVE_ZFP */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    FUZZ_ASSERT(cv__codec_find("zfpc") == NULL);
    return 0;
}

#endif
