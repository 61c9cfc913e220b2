/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_s3_list.c: the S3 ListObjectsV2 page parser (cv__s3_parse_list, store_s3.c) on
 * untrusted XML, with the listing invariants of fuzz_list_page.h, and its sized variant
 * (cv__s3_parse_list_sized: <Size> of each object). The same bytes as a
 * DeleteObjects answer (cv__s3_check_delete_result) give OK or one printable line. */
#include "fuzz_list_page.h"

#include "io/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Not NUL-terminated on purpose: the parser must stay inside [data, data + size). */
    char *xml = malloc(size ? size : 1);
    FUZZ_ASSERT(xml != NULL);
    memcpy(xml, data, size);
    fuzz_list_page(cv__s3_parse_list, xml, size, "s3://b/p");
    fuzz_list_page_sized(cv__s3_parse_list_sized, cv__s3_parse_list, xml, size, "s3://b/p");
    /* The same bytes as a DeleteObjects answer: OK, or one printable line naming the key. */
    cv_err_clear();
    cv_status drc = cv__s3_check_delete_result(xml, size, "s3://b/p");
    FUZZ_ASSERT(drc == CV_OK || drc == CV_ERR_IO);
    if (drc == CV_ERR_IO) {
        const char *what = cv_err_last()->what;
        FUZZ_ASSERT(strncmp(what, "delete `", 8) == 0);
        for (const char *c = what; *c; c++) {
            FUZZ_ASSERT_MSG(*c >= 0x20 && *c < 0x7f, what);
        }
    }
    free(xml);
    return 0;
}
