/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_codec_gzip.c: gzip transport decompression (precomputed-volume spec §6, libdeflate)
 * on untrusted bytes, and the level 0..12 encode/decode round trip (fuzz_codec_bytes.h); the
 * same bytes as a zlib stream (cv__zlib_decompress, zlib-wrapped shards) never pass the cap
 * and fail with CORRUPT or succeed. */
#include "fuzz_codec_bytes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_buf out;
    cv__buf_init(&out, (size_t)1 << 20);
    cv_err_clear();
    cv_status rc = cv__zlib_decompress(data, size, &out);
    FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_CORRUPT || rc == CV_ERR_NOMEM);
    FUZZ_ASSERT(out.len <= out.max);
    FUZZ_ASSERT(rc != CV_OK || cv__is_zlib_stream(data, size));
    cv__buf_fini(&out);
    return fuzz_codec_bytes("gzip", 12, data, size);
}
