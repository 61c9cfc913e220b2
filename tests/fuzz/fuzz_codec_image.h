/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_codec_image.h: the body shared by the image-encoding targets (fuzz_codec_jpeg.c,
 * fuzz_codec_png.c, fuzz_codec_jxl.c; spec §5.2-5.4). Input: FUZZ_DESC_BYTES of chunk
 * description (dtype and channels folded onto what the encoding allows), one level byte, then
 * the payload. (1) Decode the payload as an untrusted image with cv_buf.max from the
 * description: any result is fine, but success means exactly the chunk's size, failure leaves
 * an error record, and output never exceeds the cap. (2) Round trip: the payload bytes
 * (repeated) as a chunk, encoded at the fuzzed level, must decode to the chunk's size, and to
 * the same bytes when the encoding is lossless at that level. */
#ifndef CV_FUZZ_CODEC_IMAGE_H
#define CV_FUZZ_CODEC_IMAGE_H

#include "fuzz_common.h"

typedef struct fuzz_image_opts {
    const char *name;
    /* Fold dtype/channels onto the encoding's (b0, b1: the first two input bytes). */
    void (*fix_desc)(cv_chunk_desc *d, uint8_t b0, uint8_t b1);
    /* The encoder level for a level byte, and whether the codec is lossless there. */
    int (*level)(uint8_t b);
    bool (*is_exact)(int level);
    size_t max_roundtrip_pixels; /* slow encoders only round-trip small chunks */
} fuzz_image_opts;

static inline int fuzz_codec_image(const fuzz_image_opts *o, const uint8_t *data, size_t size)
{
    cv_err_clear();
    cv_chunk_desc d;
    size_t used = fuzz_desc(data, size, &d);
    if (!used || size < used + 1) {
        return 0;
    }
    o->fix_desc(&d, data[0], data[1]);
    const int level = o->level(data[used]);
    used++;
    const uint8_t *src = data + used;
    const size_t n = size - used;
    const cv_codec *c = cv__codec_find(o->name);
    if (!c) {
        return 0; /* not in this build (jxl without CV_WITH_JXL) */
    }
    FUZZ_ASSERT(c->decode && c->encode);
    const size_t want = cv__chunk_desc_bytes(&d);

    /* (1) untrusted payload */
    cv_buf out;
    cv__buf_init(&out, fuzz_out_max(&d));
    cv_status rc = c->decode(&d, src, n, &out);
    FUZZ_ASSERT(out.len <= out.max);
    FUZZ_ASSERT(rc != CV_OK || out.len == want);
    FUZZ_ASSERT(rc == CV_OK || cv_err_last()->code == rc);
    cv__buf_fini(&out);

    /* (2) decode(encode(x)) */
    const size_t npix = (size_t)d.shape[0] * d.shape[1] * d.shape[2];
    if (n == 0 || want > FUZZ_MAX_OUT || npix > o->max_roundtrip_pixels) {
        cv_err_clear();
        return 0;
    }
    uint8_t *chunk = malloc(want);
    FUZZ_ASSERT(chunk != NULL);
    for (size_t i = 0; i < want; i++) {
        chunk[i] = src[i % n];
    }
    cv_err_clear();
    cv_buf enc;
    cv__buf_init(&enc, 0);
    FUZZ_ASSERT_MSG(c->encode(&d, level, chunk, want, &enc) == CV_OK, o->name);
    cv__buf_init(&out, want);
    rc = c->decode(&d, enc.data, enc.len, &out);
    FUZZ_ASSERT_MSG(rc == CV_OK, o->name);
    FUZZ_ASSERT(out.len == want);
    if (o->is_exact(level)) {
        FUZZ_ASSERT_MSG(memcmp(out.data, chunk, want) == 0, "lossless round trip differs");
    }
    cv__buf_fini(&out);
    cv__buf_fini(&enc);
    free(chunk);
    cv_err_clear();
    return 0;
}

#endif
