/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_codec_raw.c: the "raw" chunk decoder (precomputed-volume spec §5.1) with a chunk
 * description from the first input bytes. A payload decodes only when its length is exactly
 * the described chunk's, to the same bytes; encoding them again gives the payload back. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    cv_chunk_desc d;
    size_t used = fuzz_desc(data, size, &d);
    if (!used) {
        return 0;
    }
    const uint8_t *src = data + used;
    size_t n = size - used;
    const cv_codec *c = cv__codec_find("raw");
    FUZZ_ASSERT(c && c->decode && c->encode);

    cv_buf out;
    cv__buf_init(&out, fuzz_out_max(&d));
    cv_status rc = c->decode(&d, src, n, &out);
    bool fits = cv__chunk_desc_bytes(&d) <= FUZZ_MAX_OUT;
    FUZZ_ASSERT((rc == CV_OK) == (n == cv__chunk_desc_bytes(&d) && fits));
    FUZZ_ASSERT(out.max == 0 || out.len <= out.max);
    if (rc == CV_OK) {
        FUZZ_ASSERT(out.len == n && (n == 0 || memcmp(out.data, src, n) == 0));
        cv_buf enc;
        cv__buf_init(&enc, 0);
        FUZZ_ASSERT(c->encode(&d, -1, out.data, out.len, &enc) == CV_OK);
        FUZZ_ASSERT(enc.len == n && memcmp(enc.data, src, n) == 0);
        cv__buf_fini(&enc);
    }
    cv__buf_fini(&out);
    return 0;
}
