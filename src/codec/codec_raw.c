/* SPDX-License-Identifier: BSD-3-Clause
 * codec_raw.c: the "raw" encoding (precomputed-volume spec §5.1): the chunk's bytes as they
 * are, x fastest, channel slowest, little-endian; the length must match the clipped shape. */
#include "codec/codec.h"

static cv_status raw_decode(const cv_chunk_desc *d, const uint8_t *src, size_t n, cv_buf *out)
{
    size_t want = cv__chunk_desc_bytes(d);
    if (n != want) {
        return CV_FAIL(
            CV_ERR_CORRUPT, "raw: expected %zu bytes for a %ux%ux%u chunk of %u x %s, got %zu",
            want, d->shape[0], d->shape[1], d->shape[2], d->channels, cv_dtype_name(d->dtype), n);
    }
    return cv__buf_append(out, src, n);
}

static cv_status raw_encode(const cv_chunk_desc *d, int level, const uint8_t *src, size_t n,
                            cv_buf *out)
{
    (void)level;
    if (n != cv__chunk_desc_bytes(d)) {
        return CV_FAIL(CV_ERR_ARG, "raw: chunk buffer has %zu bytes, want %zu", n,
                       cv__chunk_desc_bytes(d));
    }
    return cv__buf_append(out, src, n);
}

const cv_codec cv_codec_raw = {
    "raw",                      /* name */
    0,                          /* flags */
    "application/octet-stream", /* content_type */
    "gzip",                     /* default_compress */
    -1,                         /* default_level */
    raw_decode,                 /* decode */
    raw_encode,                 /* encode */
};
