/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_codec_gzip.c: gzip transport decompression (precomputed-volume spec §6, libdeflate)
 * on untrusted bytes, and the level 0..12 encode/decode round trip (fuzz_codec_bytes.h). */
#include "fuzz_codec_bytes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_codec_bytes("gzip", 12, data, size);
}
