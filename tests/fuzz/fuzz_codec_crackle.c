/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_codec_crackle.c: the crackle decoder (precomputed-volume spec §5.7). Input:
 * FUZZ_DESC_BYTES of chunk description, 1 parameter byte, then the payload. Byte P0 picks the
 * label type (bits 0-1), takes the chunk shape from the payload's own header when it has one
 * (bit 2: reaches past the shape check), and with bit 7 keeps fuzz_desc's dtype and channels,
 * which must be refused unless they are a label type with 1 channel. Bit 3 decodes a copy
 * with the version-1 CRCs recomputed, so changed crack codes reach the component count checks.
 * The decode must give exactly the chunk, or CV_ERR_CORRUPT / CV_ERR_UNSUPPORTED appending
 * nothing; with one byte less of output room it must fail. */
#include "fuzz_common.h"

#define CRK_DESC_BYTES (FUZZ_DESC_BYTES + 1)

static const cv_dtype label_types[4] = {CV_UINT8, CV_UINT16, CV_UINT32, CV_UINT64};

static bool is_valid_desc(const cv_chunk_desc *d)
{
    return d->channels == 1 && (d->dtype == CV_UINT8 || d->dtype == CV_UINT16 ||
                                d->dtype == CV_UINT32 || d->dtype == CV_UINT64);
}

static uint8_t crc8(const uint8_t *p, size_t n)
{
    unsigned c = 0xFF;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0xE7u : c >> 1;
        }
    }
    return (uint8_t)c;
}

static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
    uint32_t c = ~crc;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
    }
    return ~c;
}

static uint64_t rd(const uint8_t *p, unsigned w)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < w; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Recompute the header, index and labels CRCs of a version-1 stream in place (slice CRCs
 * cannot be made without decoding, so changed crack codes still fail there, after the
 * crack code and component checks ran). */
static void fix_crcs(uint8_t *m, size_t n)
{
    if (n < 29 || memcmp(m, "crkl", 4) != 0 || m[4] != 1) {
        return;
    }
    m[28] = crc8(m + 5, 23);
    const uint64_t sz = rd(m + 15, 4), nlb = rd(m + 20, 8);
    if (sz > (n - 29) / 4 || 29 + 4 * sz + 4 > n) {
        return;
    }
    const size_t idx = 29;
    wr32(m + idx + 4 * sz, crc32c(0, m + idx, 4 * sz));
    const size_t lab = idx + 4 * sz + 4;
    if (nlb > n - lab) {
        return;
    }
    uint64_t codes = 0;
    for (uint64_t z = 0; z < sz; z++) {
        codes += rd(m + idx + 4 * z, 4);
    }
    if (codes > n - lab - nlb || n - lab - nlb - codes < 4) {
        return;
    }
    wr32(m + lab + nlb + codes, crc32c(0, m + lab, nlb));
}

static cv_status decode_checked(const cv_codec *c, const cv_chunk_desc *d, const uint8_t *p,
                                size_t n)
{
    cv_buf out;
    cv__buf_init(&out, fuzz_out_max(d));
    const cv_status rc = c->decode(d, p, n, &out);
    if (!is_valid_desc(d)) {
        FUZZ_ASSERT(rc == CV_ERR_ARG || rc == CV_ERR_UNSUPPORTED);
    } else {
        FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_CORRUPT || rc == CV_ERR_UNSUPPORTED ||
                            rc == CV_ERR_NOMEM,
                        cv_errname(rc));
    }
    FUZZ_ASSERT(rc == CV_OK || cv_err_last()->code != CV_OK);
    FUZZ_ASSERT(rc == CV_OK ? out.len == cv__chunk_desc_bytes(d) : out.len == 0);
    cv__buf_fini(&out);
    const size_t want = cv__chunk_desc_bytes(d);
    if (rc == CV_OK && want >= 2) {
        cv__buf_init(&out, want - 1);
        FUZZ_ASSERT(c->decode(d, p, n, &out) == CV_ERR_CORRUPT && out.len == 0);
        cv__buf_fini(&out);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    cv_chunk_desc d;
    if (size < CRK_DESC_BYTES || !fuzz_desc(data, size, &d)) {
        return 0;
    }
    const uint8_t p0 = data[FUZZ_DESC_BYTES];
    const uint8_t *src = data + CRK_DESC_BYTES;
    const size_t n = size - CRK_DESC_BYTES;
    if (!(p0 & 0x80)) {
        d.dtype = label_types[p0 & 3];
        d.channels = 1;
    }
    if ((p0 & 4) && n >= 24) { /* the payload's own sx, sy, sz when each is 1..64 */
        uint32_t s[3];
        for (int i = 0; i < 3; i++) {
            s[i] = (uint32_t)rd(src + 7 + 4 * i, 4);
        }
        if (s[0] && s[1] && s[2] && s[0] <= 64 && s[1] <= 64 && s[2] <= 64) {
            memcpy(d.shape, s, sizeof s);
        }
    }
    const cv_codec *c = cv__codec_find("crackle");
    FUZZ_ASSERT(c && c->decode && c->encode);
    decode_checked(c, &d, src, n);
    if (p0 & 8) {
        uint8_t *m = malloc(n + 1);
        FUZZ_ASSERT(m != NULL);
        if (n) {
            memcpy(m, src, n);
        }
        fix_crcs(m, n);
        cv_err_clear();
        decode_checked(c, &d, m, n);
        free(m);
    }
    cv_err_clear();
    return 0;
}
