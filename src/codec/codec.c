/* SPDX-License-Identifier: BSD-3-Clause
 * codec.c: the codec registry, a const table fixed at build time. Adding an encoding:
 * see README.md beside this file. */
#include "codec/codec.h"

#include "base/checked.h"

#include <pthread.h>
#include <stdio.h>
#include <strings.h>

static const cv_codec *const codecs[] = {
    &cv_codec_raw,
    &cv_codec_cseg,
    &cv_codec_compresso,
    &cv_codec_crackle,
#ifdef CV_HAVE_FPZIP
    &cv_codec_fpzip,
    &cv_codec_kempressed,
#endif
#ifdef CV_HAVE_ZFP
    &cv_codec_zfpc,
#endif
    &cv_codec_jpeg,
    &cv_codec_png,
#ifdef CV_HAVE_JXL
    &cv_codec_jxl,
#endif
    NULL,
};

const cv_codec *cv__codec_find(const char *name)
{
    for (size_t i = 0; name && codecs[i]; i++) {
        if (strcasecmp(codecs[i]->name, name) == 0) {
            return codecs[i];
        }
    }
    return NULL;
}

static char names[512];

static void make_names(void)
{
    size_t used = 0;
    for (size_t i = 0; codecs[i]; i++) {
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? " " : "",
                                 codecs[i]->name);
    }
}

const char *cv__codec_names(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, make_names);
    return names;
}

size_t cv__chunk_desc_bytes(const cv_chunk_desc *d)
{
    uint64_t n;
    if (!cv__mul4_u64(d->shape[0], d->shape[1], d->shape[2], d->channels, &n) ||
        !cv__mul_u64(n, cv_dtype_size(d->dtype), &n) || n > SIZE_MAX) {
        return SIZE_MAX; /* no buffer is that large: every size check against it fails */
    }
    return (size_t)n;
}

bool cv__codec_is_canonical(const cv_codec *c, const cv_chunk_desc *d, const uint8_t *src, size_t n)
{
    if (c == &cv_codec_raw) {
        return n == cv__chunk_desc_bytes(d);
    }
    return c == &cv_codec_cseg && cv__cseg_is_canonical(d, src, n);
}
