/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_compress.c: the transport compression of a job's chunks: which one, and its level.
 * The defaults are CloudFiles' (gzip level 9); brotli's is the codec's default quality. */
#include "mpi/cv_compress.h"

#include "codec/codec.h"
#include "compress/compress.h"

#include <stdio.h>
#include <string.h>

const char *cv_mpi_compress_of(const char *compress, const char *encoding)
{
    if (!compress) {
        const cv_codec *c = cv__codec_find(encoding);
        compress = c && c->default_compress ? c->default_compress : "";
    }
    return strcmp(compress, "gz") == 0 ? "gzip" : compress;
}

cv_status cv_mpi_check_level(const char *compress, bool has_level, int level, const char *encoding,
                             const char *scale_key)
{
    if (!has_level) {
        return CV_OK;
    }
    const char *c = cv_mpi_compress_of(compress, encoding);
    if (!c[0]) {
        return CV_FAIL(CV_ERR_ARG,
                       "--level %d: the chunks of scale %s (encoding %s) are written without "
                       "transport compression; give --compress gzip or br",
                       level, scale_key, encoding);
    }
    if (strcmp(c, "br") == 0 && level > 11) {
        return CV_FAIL(CV_ERR_ARG, "--level %d: br quality is 0 to 11", level);
    }
    return CV_OK;
}

void cv_mpi_describe_compress(const char *compress, int level, const char *encoding, char *buf,
                              size_t cap)
{
    const char *c = cv_mpi_compress_of(compress, encoding);
    if (!c[0]) {
        snprintf(buf, cap, "compress none");
        return;
    }
    const cv_compressor *z = cv__compressor_find(c);
    int l = level >= 0 ? level : z ? z->default_level : -1;
    snprintf(buf, cap, "compress %s %s %d", c, strcmp(c, "br") == 0 ? "quality" : "level", l);
}
