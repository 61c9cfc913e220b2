/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_codec_png.c: the "png" chunk decoder (precomputed-volume spec §5.3) on untrusted
 * bytes, and the encoder's exact round trip, for uint8/uint16 chunks of 1-4 channels. */
#include "fuzz_codec_image.h"

static void fix_desc(cv_chunk_desc *d, uint8_t b0, uint8_t b1)
{
    (void)b1; /* channels 1..4 as fuzz_desc made them */
    d->dtype = b0 % 2 ? CV_UINT16 : CV_UINT8;
}

static int level(uint8_t b)
{
    return b == 255 ? -1 : b % 10;
}

static bool is_exact(int lvl)
{
    (void)lvl;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const fuzz_image_opts o = {"png", fix_desc, level, is_exact, 64 * 64 * 16};
    return fuzz_codec_image(&o, data, size);
}
