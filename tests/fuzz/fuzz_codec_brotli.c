/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_codec_brotli.c: brotli ("br") transport decompression (precomputed-volume spec §6) on
 * untrusted bytes, and the quality 0..11 encode/decode round trip (fuzz_codec_bytes.h). */
#include "fuzz_codec_bytes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_codec_bytes("br", 11, data, size);
}
