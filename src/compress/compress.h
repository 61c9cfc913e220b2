/* SPDX-License-Identifier: BSD-3-Clause
 * compress.h: transport compression of stored objects (gzip, br), the layer CloudFiles puts
 * on top of any chunk encoding (`NAME.gz`, Content-Encoding: gzip). Storage (io/), sharding
 * and the jobs use it; it knows nothing of chunks or shapes, so storage never needs the codec
 * registry. Decompression never trusts sizes in the stream: out->max caps any growth. */
#ifndef CV_COMPRESS_COMPRESS_H
#define CV_COMPRESS_COMPRESS_H

#include "base/cv_internal.h"

typedef struct cv_compressor {
    const char *name;  /* as Content-Encoding and CloudFiles' `compress`: "gzip" or "br" */
    int default_level; /* CloudFiles' default: gzip 9, br quality 5 */
    int max_level;
    /* Append the decompressed bytes to out (out->max caps growth). */
    cv_status (*decompress)(const uint8_t *src, size_t n, cv_buf *out);
    /* Append the compressed bytes to out; level -1 = default_level. */
    cv_status (*compress)(int level, const uint8_t *src, size_t n, cv_buf *out);
} cv_compressor;

extern const cv_compressor cv_compress_gzip;
extern const cv_compressor cv_compress_brotli;

/* Whether src starts like a zlib stream (RFC 1950: 78 9c, 78 da, ...), which a gzip decoder
 * refuses; and its decoder (out->max caps growth). For shards that neuroglancer-scripts wrote
 * with zlib where the sharding spec says gzip. */
bool cv__is_zlib_stream(const uint8_t *src, size_t n);
cv_status cv__zlib_decompress(const uint8_t *src, size_t n, cv_buf *out);

/* Look a compression up by name, case-insensitive: "gzip" (or CloudFiles' "gz") and "br";
 * NULL if unknown. */
const cv_compressor *cv__compressor_find(const char *name);

#endif
