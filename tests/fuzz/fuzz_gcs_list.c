/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_gcs_list.c: the GCS JSON API objects.list page parser (cv__gcs_parse_list,
 * store_gcs.c) on untrusted JSON, with the listing invariants of fuzz_list_page.h, its sized
 * variant, and the same bytes as an object resource (cv__gcs_parse_meta, cvmpi head): OK with
 * a size >= 0 and NUL-terminated fields, or CORRUPT naming the object. */
#include "fuzz_list_page.h"

#include "io/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Not NUL-terminated on purpose: the parser must stay inside [data, data + size). */
    char *json = malloc(size ? size : 1);
    FUZZ_ASSERT(json != NULL);
    memcpy(json, data, size);
    fuzz_list_page(cv__gcs_parse_list, json, size, "gs://b/p");
    fuzz_list_page_sized(cv__gcs_parse_list_sized, cv__gcs_parse_list, json, size, "gs://b/p");
    cv_err_clear();
    cv_store_meta m;
    memset(&m, 0x5a, sizeof m);
    cv_status rc = cv__gcs_parse_meta(json, size, "gs://b/p", &m);
    FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_CORRUPT);
    if (rc == CV_OK) {
        FUZZ_ASSERT(m.size >= 0);
        FUZZ_ASSERT(memchr(m.etag, 0, sizeof m.etag) && memchr(m.md5, 0, sizeof m.md5));
        FUZZ_ASSERT(memchr(m.last_modified, 0, sizeof m.last_modified));
        FUZZ_ASSERT(memchr(m.content_type, 0, sizeof m.content_type));
    } else {
        FUZZ_ASSERT(strncmp(cv_err_last()->what, "head `gs://b/p'", 15) == 0);
    }
    free(json);
    return 0;
}
