/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_bbox.c: the "x0,y0,z0,x1,y1,z1" box syntax of the CLI and job files. A box that parses
 * formats back to text that parses to the same box; the box helpers must not trap on any
 * parsed values. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    char *text = fuzz_cstr(data, size, 1024);
    cv_bbox b;
    if (cv_bbox_parse(text, &b) == CV_OK) {
        char out[256];
        int n = cv_bbox_format(b, out, sizeof out);
        FUZZ_ASSERT(n > 0 && (size_t)n < sizeof out);
        cv_bbox again;
        FUZZ_ASSERT_MSG(cv_bbox_parse(out, &again) == CV_OK, out);
        FUZZ_ASSERT_MSG(cv_bbox_equal(b, again), out);
        cv_bbox i = cv_bbox_intersect(b, again);
        FUZZ_ASSERT(cv_bbox_is_empty(b) == cv_bbox_is_empty(i));
        FUZZ_ASSERT(cv_bbox_contains(b, b));
        uint64_t voxels = cv_bbox_voxels(b); /* must not overflow, whatever the box */
        FUZZ_ASSERT(!cv_bbox_is_empty(b) || voxels == 0);
    }
    free(text);
    return 0;
}
