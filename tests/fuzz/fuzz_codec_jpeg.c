/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_codec_jpeg.c: the "jpeg" chunk decoder (precomputed-volume spec §5.2) on untrusted
 * bytes, and the encoder's round trip, for uint8 chunks of 1 or 3 channels. */
#include "fuzz_codec_image.h"

static void fix_desc(cv_chunk_desc *d, uint8_t b0, uint8_t b1)
{
    (void)b0;
    d->dtype = CV_UINT8;
    d->channels = b1 % 2 ? 3 : 1;
}

static int level(uint8_t b)
{
    return b == 255 ? -1 : b % 101;
}

static bool is_exact(int lvl)
{
    (void)lvl;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const fuzz_image_opts o = {"jpeg", fix_desc, level, is_exact, 64 * 64 * 4};
    return fuzz_codec_image(&o, data, size);
}
