/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_codec_cseg.c: the compressed_segmentation codec (precomputed-volume spec §5.5). Input:
 * FUZZ_DESC_BYTES of chunk description (byte 0 picks uint32/uint64, or with its top bit set
 * any dtype, which must be refused), 3 bytes of block size (1..32 per axis), then the payload.
 * With the top bit of byte 1 set, 24 more bytes follow the header: shape and block size as
 * little-endian uint32, taken whole (no 64 or 32 cap: the codec's own geometry check must
 * refuse what does not fit, as an info with such sizes would hand them over).
 * (1) Decode the payload as untrusted: it fails with CV_ERR_CORRUPT and appends nothing, or
 * yields exactly the chunk; a decoded chunk re-encodes to a stream that decodes the same.
 * (2) Round trip: labels made from the payload bytes (few or many distinct values) encode and
 * decode back to themselves, and one byte less of output room is refused. */
#include "fuzz_common.h"

#define CSEG_DESC_BYTES (FUZZ_DESC_BYTES + 3)

/* Labels for `d` from the payload: a palette of up to 256 values drawn from the bytes,
 * indexed by the bytes, so blocks hold anywhere from 1 to 256 distinct labels. */
static void labels_from_bytes(const cv_chunk_desc *d, const uint8_t *p, size_t n, uint8_t *raw,
                              size_t raw_len)
{
    const size_t vb = cv_dtype_size(d->dtype);
    const unsigned k = n ? 1u + p[0] % 256u : 1u;
    uint64_t palette[256];
    for (unsigned j = 0; j < k; j++) {
        uint64_t v = 0;
        for (unsigned b = 0; b < 8; b++) {
            v = v << 8 | (n ? p[(j * 8 + b + 1) % n] : 0);
        }
        palette[j] = v * (j % 2 ? 1 : 0x9e3779b97f4a7c15ull) + j;
    }
    for (size_t i = 0; i < raw_len / vb; i++) {
        const uint64_t v = palette[(n ? p[i % n] : 0) % k];
        for (size_t b = 0; b < vb; b++) {
            raw[i * vb + b] = (uint8_t)(v >> (8 * b));
        }
    }
}

static uint32_t ld_u32_le(const uint8_t *q)
{
    return (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    cv_chunk_desc d;
    if (size < CSEG_DESC_BYTES || !fuzz_desc(data, size, &d)) {
        return 0;
    }
    const bool is_label_type = !(data[0] & 0x80);
    if (is_label_type) {
        d.dtype = data[0] & 1 ? CV_UINT64 : CV_UINT32;
    }
    for (int i = 0; i < 3; i++) {
        d.cseg_block[i] = 1u + data[FUZZ_DESC_BYTES + i] % 32u;
    }
    const bool wide = data[1] & 0x80;
    size_t header = CSEG_DESC_BYTES;
    if (wide) {
        if (size < CSEG_DESC_BYTES + 24) {
            return 0;
        }
        for (int i = 0; i < 3; i++) {
            d.shape[i] = ld_u32_le(data + CSEG_DESC_BYTES + 4 * i);
            d.cseg_block[i] = ld_u32_le(data + CSEG_DESC_BYTES + 12 + 4 * i);
        }
        header += 24;
    }
    const bool is_valid = d.dtype == CV_UINT32 || d.dtype == CV_UINT64;
    const uint8_t *src = data + header;
    const size_t n = size - header;
    const size_t want = cv__chunk_desc_bytes(&d);
    const cv_codec *c = cv__codec_find("compressed_segmentation");
    FUZZ_ASSERT(c && c->decode && c->encode);

    /* (1) untrusted payload */
    cv_buf out;
    cv__buf_init(&out, fuzz_out_max(&d));
    cv_status rc = c->decode(&d, src, n, &out);
    if (!is_valid) {
        FUZZ_ASSERT(rc == CV_ERR_ARG);
    } else if (wide) {
        /* a zero, or a block or chunk too large for the format, is refused as an argument */
        FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_CORRUPT || rc == CV_ERR_ARG, cv_errname(rc));
    } else {
        FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_CORRUPT, cv_errname(rc));
    }
    FUZZ_ASSERT(rc == CV_OK ? out.len == want && want <= FUZZ_MAX_OUT : out.len == 0);
    if (rc == CV_OK) {
        cv_buf enc, again;
        cv__buf_init(&enc, 0);
        cv__buf_init(&again, want);
        /* a wide geometry may need offsets the format cannot hold: refused, never wrapped */
        cv_status erc = c->encode(&d, -1, out.data, out.len, &enc);
        FUZZ_ASSERT_MSG(erc == CV_OK || (wide && erc == CV_ERR_ARG), cv_errname(erc));
        if (erc == CV_OK) {
            FUZZ_ASSERT(c->decode(&d, enc.data, enc.len, &again) == CV_OK);
            FUZZ_ASSERT(again.len == want &&
                        (want == 0 || memcmp(again.data, out.data, want) == 0));
        }
        cv__buf_fini(&again);
        cv__buf_fini(&enc);
    }
    cv__buf_fini(&out);
    /* the round trip allocates the chunk here, in the harness: only up to FUZZ_MAX_OUT, and
     * only for a geometry the decoder accepted */
    if (!is_valid || want == 0 || want > FUZZ_MAX_OUT || (wide && rc == CV_ERR_ARG)) {
        cv_err_clear();
        return 0;
    }

    /* (2) decode(encode(x)) == x */
    cv_err_clear();
    uint8_t *raw = malloc(want ? want : 1);
    FUZZ_ASSERT(raw != NULL);
    labels_from_bytes(&d, src, n, raw, want);
    cv_buf enc;
    cv__buf_init(&enc, 0);
    cv_status erc = c->encode(&d, -1, raw, want, &enc);
    FUZZ_ASSERT_MSG(erc == CV_OK || (wide && erc == CV_ERR_ARG), cv_errname(erc));
    if (erc != CV_OK) {
        FUZZ_ASSERT(enc.len == 0);
        cv__buf_fini(&enc);
        free(raw);
        cv_err_clear();
        return 0;
    }
    FUZZ_ASSERT(enc.len >= 4 * (size_t)d.channels && enc.len % 4 == 0);
    cv__buf_init(&out, want);
    rc = c->decode(&d, enc.data, enc.len, &out);
    FUZZ_ASSERT_MSG(rc == CV_OK, "decode(encode(x))");
    FUZZ_ASSERT(out.len == want && memcmp(out.data, raw, want) == 0);
    cv__buf_fini(&out);
    cv__buf_init(&out, want - 1);
    rc = c->decode(&d, enc.data, enc.len, &out);
    FUZZ_ASSERT_MSG(rc == CV_ERR_CORRUPT, "a too small cap must be refused");
    FUZZ_ASSERT(out.len == 0);
    cv__buf_fini(&out);
    /* a truncated stream never decodes */
    cv__buf_init(&out, want);
    rc = c->decode(&d, enc.data, enc.len - 4, &out);
    FUZZ_ASSERT_MSG(rc == CV_ERR_CORRUPT, "a stream without its last word must be refused");
    cv__buf_fini(&out);
    cv__buf_fini(&enc);
    free(raw);
    cv_err_clear();
    return 0;
}
