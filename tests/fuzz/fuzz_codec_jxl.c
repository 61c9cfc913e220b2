/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_codec_jxl.c: the "jxl" chunk decoder (precomputed-volume spec §5.4) on untrusted bytes
 * (uint8, 1-4 channels), and the encoder's round trip (1 or 3 channels; exact when lossless,
 * level >= 100). Does nothing in a build without CV_WITH_JXL. */
#include "fuzz_codec_image.h"

static void fix_desc(cv_chunk_desc *d, uint8_t b0, uint8_t b1)
{
    (void)b0;
    (void)b1; /* channels 1..4 as fuzz_desc made them: the decoder takes all four */
    d->dtype = CV_UINT8;
}

static int level(uint8_t b)
{
    return b == 255 ? -1 : b % 2 ? 100 : 30 + b % 70;
}

static bool is_exact(int lvl)
{
    return lvl >= 100;
}

/* The encoder takes 1 or 3 channels only: the round trip folds onto those. */
static void fix_desc_rt(cv_chunk_desc *d, uint8_t b0, uint8_t b1)
{
    fix_desc(d, b0, b1);
    d->channels = d->channels >= 3 ? 3 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* 4- and 2-channel descriptions exercise the decoder only (no round trip). */
    static const fuzz_image_opts dec_only = {"jxl", fix_desc, level, is_exact, 0};
    static const fuzz_image_opts both = {"jxl", fix_desc_rt, level, is_exact, 32 * 32 * 4};
    if (size > 1 && (1u + data[1] % 4u) % 2 == 0) {
        return fuzz_codec_image(&dec_only, data, size);
    }
    return fuzz_codec_image(&both, data, size);
}
