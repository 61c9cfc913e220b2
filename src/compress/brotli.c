/* SPDX-License-Identifier: BSD-3-Clause
 * brotli.c: brotli ("br") transport compression. Default quality 5 and window 22, as
 * CloudFiles' brotli.compress(content, quality=5). Decoding streams into a capped buffer. */
#include "compress/compress.h"

#include <brotli/decode.h>
#include <brotli/encode.h>

static cv_status br_decompress(const uint8_t *src, size_t n, cv_buf *out)
{
    BrotliDecoderState *s = BrotliDecoderCreateInstance(NULL, NULL, NULL);
    if (!s) {
        return CV_FAIL(CV_ERR_NOMEM, "br: allocate decoder");
    }
    size_t avail_in = n;
    const uint8_t *next_in = src;
    cv_status rc = CV_OK;
    for (;;) {
        size_t want = out->cap - out->len;
        if (want < 65536) {
            size_t grow = out->cap < 65536 ? 65536 : out->cap;
            if (out->max && out->len + grow > out->max) {
                grow = out->max - out->len;
            }
            rc = cv__buf_reserve(out, out->len + grow);
            if (rc != CV_OK) {
                break;
            }
            want = out->cap - out->len;
        }
        size_t avail_out = want;
        uint8_t *next_out = out->data + out->len;
        BrotliDecoderResult r =
            BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out, NULL);
        out->len += want - avail_out;
        if (r == BROTLI_DECODER_RESULT_SUCCESS) {
            if (avail_in != 0) {
                rc = CV_FAIL(CV_ERR_CORRUPT, "br: trailing bytes after the stream");
            }
            break;
        }
        if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) {
            if (out->max && out->len >= out->max) {
                rc = CV_FAIL(CV_ERR_CORRUPT, "br: decompresses to more than %zu bytes", out->max);
                break;
            }
            continue;
        }
        if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "br: truncated stream");
        } else {
            rc = CV_FAIL(CV_ERR_CORRUPT, "br: %s",
                         BrotliDecoderErrorString(BrotliDecoderGetErrorCode(s)));
        }
        break;
    }
    BrotliDecoderDestroyInstance(s);
    return rc;
}

static cv_status br_compress(int level, const uint8_t *src, size_t n, cv_buf *out)
{
    if (level < 0) {
        level = 5;
    }
    if (level > 11) {
        return CV_FAIL(CV_ERR_ARG, "br: quality %d out of range 0..11", level);
    }
    size_t bound = BrotliEncoderMaxCompressedSize(n);
    if (bound == 0) {
        bound = n + 1024;
    }
    CV_TRY(cv__buf_reserve(out, out->len + bound));
    size_t got = bound;
    if (!BrotliEncoderCompress(level, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, n, src, &got,
                               out->data + out->len)) {
        return CV_FAIL(CV_ERR_IO, "br: compression failed");
    }
    out->len += got;
    return CV_OK;
}

const cv_compressor cv_compress_brotli = {
    "br",          /* name */
    5,             /* default_level */
    11,            /* max_level */
    br_decompress, /* decompress */
    br_compress,   /* compress */
};
