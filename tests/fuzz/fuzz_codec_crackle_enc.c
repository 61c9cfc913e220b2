/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_codec_crackle_enc.c: the crackle encoder (codec_crackle.c). Input: byte P0 (bits 0-1
 * the label type, bits 2-3 how many palette labels the payload gives: 1, 4, 16 or 64), the
 * chunk's sx, sy, sz as three u16 (0 read as 1; a chunk over ENC_MAX_BYTES has its largest
 * axis halved until it fits, so the shape is the input's, not a fixed small cap), then the
 * payload: the palette (w bytes a label), then one byte per run: bits 0-5 the palette index,
 * bit 6 "copy the row above" (blobs across rows), bit 7 a run of 8 instead of 1; the payload
 * is reused from the start of the runs when it ends.
 * The encoder must succeed (or run out of memory), write a version-1 stream with the chunk's
 * shape whose CRCs all verify, that decodes to exactly the labels; the Fortran order bit
 * changes bytes 5 and 28 only. */
#include "fuzz_common.h"

#define ENC_MAX_BYTES ((size_t)1 << 18)
#define ENC_HEAD 7

static const cv_dtype label_types[4] = {CV_UINT8, CV_UINT16, CV_UINT32, CV_UINT64};

static uint32_t rd16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

/* Labels of the chunk from the payload (see the file comment). */
static void make_labels(const uint8_t *p, size_t n, unsigned w, unsigned npal, const uint32_t *s,
                        uint8_t *raw)
{
    uint64_t pal[64];
    size_t at = 0;
    for (unsigned k = 0; k < npal; k++) {
        uint64_t v = 0;
        for (unsigned b = 0; b < w; b++, at++) {
            v |= (uint64_t)(at < n ? p[at] : (uint8_t)(k * 37 + b)) << (8 * b);
        }
        pal[k] = v;
    }
    const uint8_t *runs = p + (at < n ? at : n);
    const size_t nruns = at < n ? n - at : 0;
    const size_t sx = s[0], np = (size_t)s[0] * s[1], nv = np * s[2];
    size_t r = 0;
    for (size_t i = 0; i < nv;) {
        const uint8_t c = nruns ? runs[r++ % nruns] : (uint8_t)(i * 7);
        size_t len = c & 0x80 ? 8 : 1;
        for (; len > 0 && i < nv; len--, i++) {
            const bool above = (c & 0x40) && (i % np) >= sx;
            if (above) {
                memcpy(raw + i * w, raw + (i - sx) * w, w);
            } else {
                const uint64_t v = pal[(c & 0x3F) % npal];
                for (unsigned b = 0; b < w; b++) {
                    raw[i * w + b] = (uint8_t)(v >> (8 * b));
                }
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    if (size < ENC_HEAD) {
        return 0;
    }
    const cv_dtype t = label_types[data[0] & 3];
    const unsigned w = (unsigned)cv_dtype_size(t), npal = 1u << (2 * ((data[0] >> 2) & 3));
    uint32_t s[3];
    for (int i = 0; i < 3; i++) {
        s[i] = rd16(data + 1 + 2 * i);
        s[i] = s[i] ? s[i] : 1;
    }
    while ((uint64_t)s[0] * s[1] * s[2] * w > ENC_MAX_BYTES) {
        const int big = s[0] >= s[1] && s[0] >= s[2] ? 0 : s[1] >= s[2] ? 1 : 2;
        s[big] /= 2;
    }
    cv_chunk_desc d;
    memset(&d, 0, sizeof d);
    d.dtype = t;
    d.channels = 1;
    memcpy(d.shape, s, sizeof s);
    const size_t nbytes = cv__chunk_desc_bytes(&d);
    uint8_t *raw = malloc(nbytes);
    FUZZ_ASSERT(raw != NULL);
    make_labels(data + ENC_HEAD, size - ENC_HEAD, w, npal, s, raw);

    const cv_codec *c = cv__codec_find("crackle");
    FUZZ_ASSERT(c && c->encode);
    cv_buf enc, enc_f, out;
    cv__buf_init(&enc, 0);
    cv__buf_init(&enc_f, 0);
    cv_status rc = c->encode(&d, -1, raw, nbytes, &enc);
    FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_NOMEM, cv_errname(rc));
    if (rc == CV_OK) {
        const uint8_t *e = enc.data;
        FUZZ_ASSERT(enc.len >= 29 + 8 * (size_t)s[2] + 8 && memcmp(e, "crkl\x01", 5) == 0);
        FUZZ_ASSERT((1u << (e[5] & 3)) == w && (e[5] & 0x80) == 0 && e[19] == 31);
        uint32_t hs[3];
        for (int i = 0; i < 3; i++) {
            hs[i] = rd16(e + 7 + 4 * i) | rd16(e + 9 + 4 * i) << 16;
        }
        FUZZ_ASSERT(memcmp(hs, s, sizeof s) == 0);
        cv__buf_init(&out, nbytes);
        rc = c->decode(&d, e, enc.len, &out);
        FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_NOMEM, cv_errname(rc));
        FUZZ_ASSERT(rc != CV_OK || (out.len == nbytes && memcmp(out.data, raw, nbytes) == 0));
        cv__buf_fini(&out);
        rc = cv__crackle_encode(&d, true, raw, nbytes, &enc_f);
        FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_NOMEM, cv_errname(rc));
        if (rc == CV_OK) {
            FUZZ_ASSERT(enc_f.len == enc.len && enc_f.data[5] == (e[5] | 0x80));
            FUZZ_ASSERT(memcmp(enc_f.data, e, 5) == 0 && memcmp(enc_f.data + 6, e + 6, 22) == 0);
            FUZZ_ASSERT(memcmp(enc_f.data + 29, e + 29, enc.len - 29) == 0);
        }
    }
    cv__buf_fini(&enc);
    cv__buf_fini(&enc_f);
    free(raw);
    cv_err_clear();
    return 0;
}
