/* SPDX-License-Identifier: BSD-3-Clause
 * compress.c: the registry of transport compressions, a const table fixed at build time. */
#include "compress/compress.h"

#include <strings.h>

static const cv_compressor *const compressors[] = {&cv_compress_gzip, &cv_compress_brotli, NULL};

const cv_compressor *cv__compressor_find(const char *name)
{
    if (name && strcasecmp(name, "gz") == 0) {
        return &cv_compress_gzip;
    }
    for (size_t i = 0; name && compressors[i]; i++) {
        if (strcasecmp(compressors[i]->name, name) == 0) {
            return compressors[i];
        }
    }
    return NULL;
}
