/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_npy.c: the NumPy .npy header parser (format 1.0-3.0) and the reorder into x,y,z,c.
 * The reorder runs only when the header's shape and dtype fit the bytes that follow it (as
 * the CLI checks before calling it). A parsed header, formatted again as 1.0, parses to the
 * same dtype and shape (the order flag may differ: it does not matter for some shapes). */
#include "fuzz_common.h"

/* Bytes of the array the header describes, or SIZE_MAX on overflow. */
static size_t array_bytes(const cv_npy *h)
{
    size_t total = cv_dtype_size(h->dtype);
    for (int d = 0; d < 4; d++) {
        size_t s = (size_t)h->shape[d];
        if (s != 0 && total > SIZE_MAX / s) {
            return SIZE_MAX;
        }
        total *= s;
    }
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    cv_npy h;
    if (cv_npy_parse_header(data, size, "fuzz", &h) != CV_OK) {
        return 0;
    }
    FUZZ_ASSERT(h.ndim == 3 || h.ndim == 4);
    FUZZ_ASSERT(h.data_offset <= size);
    FUZZ_ASSERT(cv_dtype_size(h.dtype) > 0);
    for (int d = 0; d < 4; d++) {
        FUZZ_ASSERT(h.shape[d] >= 0);
    }
    size_t want = array_bytes(&h);
    if (want != SIZE_MAX && want <= FUZZ_MAX_OUT && want <= size - h.data_offset) {
        uint8_t *out = malloc(want ? want : 1);
        FUZZ_ASSERT(out != NULL);
        cv_npy_to_xyzc(&h, data + h.data_offset, out);
        free(out);
    }

    char header[1024];
    size_t hn = cv_npy_format_header(h.dtype, h.shape, header, sizeof header);
    FUZZ_ASSERT(hn > 0 && hn % 64 == 0);
    cv_npy again;
    FUZZ_ASSERT(cv_npy_parse_header((const uint8_t *)header, hn, "fuzz re-parse", &again) == CV_OK);
    FUZZ_ASSERT(again.dtype == h.dtype && again.data_offset == hn);
    FUZZ_ASSERT(memcmp(again.shape, h.shape, sizeof h.shape) == 0);
    return 0;
}
