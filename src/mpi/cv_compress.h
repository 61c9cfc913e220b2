/* SPDX-License-Identifier: BSD-3-Clause
 * cv_compress.h: the transport compression a job writes a scale's chunks with, as the job
 * checks it (--level needs a compression with levels) and states it in its summary. */
#ifndef CV_COMPRESS_H
#define CV_COMPRESS_H

#include "base/cv_internal.h"

/* The compression chunks of `encoding` are written with: `compress` (NULL = CloudVolume's
 * default for the encoding, "" = none), as "gzip", "br" or "" (none). */
const char *cv_mpi_compress_of(const char *compress, const char *encoding);
/* With an explicit level (has_level), CV_ERR_ARG naming --level and the scale when the scale's
 * chunks are written without compression. */
cv_status cv_mpi_check_level(const char *compress, bool has_level, int level, const char *encoding,
                             const char *scale_key);
/* "compress gzip level 9", "compress br quality 5", "compress none": for job summaries. level -1 =
 * the default. */
void cv_mpi_describe_compress(const char *compress, int level, const char *encoding, char *buf,
                              size_t cap);

#endif
