/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_chunk_name.c: chunk file names "x0-x1_y0-y1_z0-z1[.gz|.br|...]" (precomputed-volume
 * spec §3, the negative-number rules included). A name that parses formats back to a name
 * that parses to the same box. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    char *name = fuzz_cstr(data, size, 1024);
    cv_bbox b;
    if (cv_chunk_name_parse(name, &b) == CV_OK) {
        char text[256];
        int n = cv_chunk_name_format(b, text, sizeof text);
        FUZZ_ASSERT(n > 0 && (size_t)n < sizeof text);
        cv_bbox again;
        FUZZ_ASSERT_MSG(cv_chunk_name_parse(text, &again) == CV_OK, text);
        FUZZ_ASSERT_MSG(cv_bbox_equal(b, again), text);
        /* A formatted name is canonical: formatting the re-parsed box changes nothing. */
        char text2[256];
        cv_chunk_name_format(again, text2, sizeof text2);
        FUZZ_ASSERT(strcmp(text, text2) == 0);
    }
    free(name);
    return 0;
}
