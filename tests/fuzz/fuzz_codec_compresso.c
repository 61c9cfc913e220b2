/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_codec_compresso.c: the compresso codec (precomputed-volume spec §5.6). Input:
 * FUZZ_DESC_BYTES of chunk description, 3 parameter bytes, then the payload. Byte P0 picks the
 * label type (bits 0-1), takes the chunk shape from the payload's own header when it has one
 * (bit 2: reaches past the dimension check), and with bit 7 keeps fuzz_desc's dtype and
 * channels, which must be refused unless they are a label type with 1 channel.
 * (1) Decode the payload as untrusted: CV_ERR_CORRUPT appending nothing, or exactly the chunk,
 * which re-encodes to a stream that decodes the same.
 * (2) Round trip: labels from the payload (P2: palette size and run length) through the codec
 * and through cv__compresso_encode with the steps/connectivity/z index P1 picks.
 * (3) The valid stream from (2) with bytes changed at positions the payload's tail names must
 * decode or fail with CV_ERR_CORRUPT, never anything else; no strict prefix of it decodes. */
#include "fuzz_common.h"

#define CPSO_PARAM_BYTES 3
#define CPSO_DESC_BYTES (FUZZ_DESC_BYTES + CPSO_PARAM_BYTES)
/* Round trips encode up to this many bytes, so the fuzzer stays fast. */
#define CPSO_ROUNDTRIP_MAX ((size_t)1 << 16)

static const cv_dtype label_types[4] = {CV_UINT8, CV_UINT16, CV_UINT32, CV_UINT64};

static bool is_valid_desc(const cv_chunk_desc *d)
{
    return d->channels == 1 && (d->dtype == CV_UINT8 || d->dtype == CV_UINT16 ||
                                d->dtype == CV_UINT32 || d->dtype == CV_UINT64);
}

/* Decode; check the invariants every result must satisfy. Returns the status. */
static cv_status decode_checked(const cv_codec *c, const cv_chunk_desc *d, const uint8_t *p,
                                size_t n, cv_buf *out)
{
    cv__buf_init(out, fuzz_out_max(d));
    const cv_status rc = c->decode(d, p, n, out);
    if (!is_valid_desc(d)) {
        FUZZ_ASSERT(rc == CV_ERR_ARG);
    } else {
        FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_CORRUPT, cv_errname(rc));
    }
    FUZZ_ASSERT(rc == CV_OK || cv_err_last()->code != CV_OK);
    FUZZ_ASSERT(rc == CV_OK ? out->len == cv__chunk_desc_bytes(d) : out->len == 0);
    return rc;
}

/* Labels for `d`: a palette of 1..64 values (some near the type's maximum, which need escape
 * codes) indexed by payload bytes, each index repeated over a run of 1..4 voxels. */
static void labels_from_bytes(const cv_chunk_desc *d, uint8_t p2, const uint8_t *p, size_t n,
                              uint8_t *raw, size_t raw_len)
{
    const size_t vb = cv_dtype_size(d->dtype);
    const unsigned k = 1u + p2 % 64u, run = 1u + (p2 >> 6);
    uint64_t palette[64];
    for (unsigned j = 0; j < k; j++) {
        uint64_t v = 0;
        for (unsigned b = 0; b < 8; b++) {
            v = v << 8 | (n ? p[(j * 8 + b) % n] : 0);
        }
        palette[j] = j % 3 == 0 ? UINT64_MAX - (v % 9) : j % 3 == 1 ? v % 1000 : v;
    }
    for (size_t i = 0; i < raw_len / vb; i++) {
        const uint64_t v = palette[(n ? p[(i / run) % n] : 0) % k];
        for (size_t b = 0; b < vb; b++) {
            raw[i * vb + b] = (uint8_t)(v >> (8 * b));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    cv_chunk_desc d;
    if (size < CPSO_DESC_BYTES || !fuzz_desc(data, size, &d)) {
        return 0;
    }
    const uint8_t p0 = data[FUZZ_DESC_BYTES], p1 = data[FUZZ_DESC_BYTES + 1],
                  p2 = data[FUZZ_DESC_BYTES + 2];
    const uint8_t *src = data + CPSO_DESC_BYTES;
    const size_t n = size - CPSO_DESC_BYTES;
    if (!(p0 & 0x80)) {
        d.dtype = label_types[p0 & 3];
        d.channels = 1;
    }
    if ((p0 & 4) && n >= 36) { /* the payload's own sx, sy, sz when each is 1..64 */
        uint32_t s[3];
        for (int i = 0; i < 3; i++) {
            s[i] = (uint32_t)src[6 + 2 * i] | (uint32_t)src[7 + 2 * i] << 8;
        }
        if (s[0] && s[1] && s[2] && s[0] <= 64 && s[1] <= 64 && s[2] <= 64) {
            memcpy(d.shape, s, sizeof s);
        }
    }
    const cv_codec *c = cv__codec_find("compresso");
    FUZZ_ASSERT(c && c->decode && c->encode);
    const size_t want = cv__chunk_desc_bytes(&d);

    /* (1) untrusted payload */
    cv_buf out;
    cv_status rc = decode_checked(c, &d, src, n, &out);
    if (rc == CV_OK) {
        cv_buf enc, again;
        cv__buf_init(&enc, 0);
        FUZZ_ASSERT(c->encode(&d, -1, out.data, out.len, &enc) == CV_OK);
        FUZZ_ASSERT(decode_checked(c, &d, enc.data, enc.len, &again) == CV_OK);
        FUZZ_ASSERT(memcmp(again.data, out.data, want) == 0);
        cv__buf_fini(&again);
        cv__buf_fini(&enc);
    }
    cv__buf_fini(&out);
    if (!is_valid_desc(&d) || want > CPSO_ROUNDTRIP_MAX) {
        cv_err_clear();
        return 0;
    }

    /* (2) decode(encode(x)) == x, default and explicit parameters */
    cv_err_clear();
    uint8_t *raw = malloc(want);
    FUZZ_ASSERT(raw != NULL);
    labels_from_bytes(&d, p2, src, n, raw, want);
    static const unsigned steps[8][3] = {{4, 4, 1}, {8, 8, 1}, {2, 2, 2},  {4, 4, 2},
                                         {3, 5, 1}, {1, 1, 1}, {1, 1, 64}, {4, 4, 4}};
    const unsigned *st = steps[p1 & 7];
    const unsigned conn = p1 & 8 ? 6 : 4;
    const bool z_index = conn == 4 && !(p1 & 16);
    cv_buf enc, enc2;
    cv__buf_init(&enc, 0);
    cv__buf_init(&enc2, 0);
    FUZZ_ASSERT(c->encode(&d, -1, raw, want, &enc) == CV_OK);
    rc = cv__compresso_encode(&d, st, conn, z_index, raw, want, &enc2);
    FUZZ_ASSERT_MSG(rc == CV_OK || (rc == CV_ERR_ARG && strstr(cv_err_last()->what, "too many")),
                    "explicit parameters");
    const cv_buf *streams[2] = {&enc, rc == CV_OK ? &enc2 : &enc};
    for (int k = 0; k < 2; k++) {
        FUZZ_ASSERT(decode_checked(c, &d, streams[k]->data, streams[k]->len, &out) == CV_OK);
        FUZZ_ASSERT(memcmp(out.data, raw, want) == 0);
        cv__buf_fini(&out);
    }
    /* one byte less of output room is refused (max 0 would mean "no cap") */
    if (want >= 2) {
        cv__buf_init(&out, want - 1);
        FUZZ_ASSERT(c->decode(&d, enc.data, enc.len, &out) == CV_ERR_CORRUPT && out.len == 0);
        cv__buf_fini(&out);
    }

    /* (3) a valid stream with a few bytes changed */
    const cv_buf *victim = p1 & 32 ? streams[1] : &enc;
    uint8_t *m = malloc(victim->len);
    FUZZ_ASSERT(m != NULL);
    memcpy(m, victim->data, victim->len);
    const size_t pairs = n >= 8 ? 1 + p2 % 4 : 0;
    for (size_t i = 0; i < pairs; i++) {
        const uint8_t *q = src + n - 2 * (i + 1);
        const size_t at = ((size_t)q[0] * 131 + i * 977 + (size_t)p0) % victim->len;
        m[at] = (uint8_t)(m[at] ^ (q[1] ? q[1] : 0x80));
    }
    cv_err_clear();
    rc = decode_checked(c, &d, m, victim->len, &out);
    cv__buf_fini(&out);
    free(m);
    /* no strict prefix of a valid stream decodes: the last window entries always cover
     * blocks, and a version-1 cut moves the z index onto them */
    const size_t cut = n ? (size_t)src[0] * 7 % victim->len : 0;
    cv_err_clear();
    FUZZ_ASSERT(decode_checked(c, &d, victim->data, cut, &out) == CV_ERR_CORRUPT);
    cv__buf_fini(&out);
    cv__buf_fini(&enc);
    cv__buf_fini(&enc2);
    free(raw);
    cv_err_clear();
    return 0;
}
