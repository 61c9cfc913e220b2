/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_codec_bytes.h: the body shared by the byte-compression targets (fuzz_codec_gzip.c,
 * fuzz_codec_brotli.c). Input: FUZZ_DESC_BYTES of chunk description, one level byte, then
 * the payload. (1) Decode the payload as untrusted with cv_buf.max from the description: any
 * result is fine but the output never exceeds the cap. (2) Round trip: encode the payload at
 * the fuzzed level, decode with the cap set to exactly its size: the bytes come back. One
 * byte less of room must be refused, which checks that the cap stops bombs. */
#ifndef CV_FUZZ_CODEC_BYTES_H
#define CV_FUZZ_CODEC_BYTES_H

#include "fuzz_common.h"

#include "compress/compress.h"

static inline int fuzz_codec_bytes(const char *name, int max_level, const uint8_t *data,
                                   size_t size)
{
    cv_err_clear();
    cv_chunk_desc d;
    size_t used = fuzz_desc(data, size, &d);
    if (!used || size < used + 1) {
        return 0;
    }
    int level = data[used] % (max_level + 1);
    used++;
    const uint8_t *src = data + used;
    size_t n = size - used;
    const cv_compressor *c = cv__compressor_find(name);
    FUZZ_ASSERT(c && c->decompress && c->compress);

    /* (1) untrusted payload */
    cv_buf out;
    cv__buf_init(&out, fuzz_out_max(&d));
    cv_status rc = c->decompress(src, n, &out);
    FUZZ_ASSERT(out.len <= out.max);
    FUZZ_ASSERT(rc == CV_OK || cv_err_last()->code != CV_OK);
    cv__buf_fini(&out);

    /* (2) decode(encode(x)) == x */
    cv_err_clear();
    cv_buf enc;
    cv__buf_init(&enc, 0);
    FUZZ_ASSERT(c->compress(level, src, n, &enc) == CV_OK);
    cv__buf_init(&out, n ? n : 1);
    rc = c->decompress(enc.data, enc.len, &out);
    FUZZ_ASSERT_MSG(rc == CV_OK, name);
    FUZZ_ASSERT(out.len == n && (n == 0 || memcmp(out.data, src, n) == 0));
    cv__buf_fini(&out);
    if (n >= 2) {
        cv__buf_init(&out, n - 1);
        rc = c->decompress(enc.data, enc.len, &out);
        FUZZ_ASSERT_MSG(rc == CV_ERR_CORRUPT, "a too small cap must be refused");
        FUZZ_ASSERT(out.len <= n - 1);
        cv__buf_fini(&out);
    }
    cv__buf_fini(&enc);
    cv_err_clear();
    return 0;
}

#endif
