/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_cache_entry.c: the disk cache's sidecar files ("cvmpi-cache 1 SIZE HASH ENCODING\n",
 * io/cache.c), which any process sharing the cache directory may have written. Bytes are taken
 * as they are, not NUL-terminated. Only OK or CORRUPT; a parsed entry has a size, an encoding
 * that fits, and formats back to exactly the input. */
#include "fuzz_common.h"

#include "io/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    /* An exact-size copy, so reading past the input is caught by the sanitizers; an empty
     * input is NULL, as an empty file's buffer is. */
    char *text = size ? malloc(size) : NULL;
    FUZZ_ASSERT(text != NULL || size == 0);
    if (size) {
        memcpy(text, data, size);
    }
    cv_cache_entry e;
    cv_status rc = cv__cache_entry_parse(text, size, "fuzz.cvmeta", &e);
    FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_CORRUPT);
    if (rc == CV_ERR_CORRUPT) {
        FUZZ_ASSERT(strstr(cv_err_last()->what, "fuzz.cvmeta") != NULL);
    } else {
        FUZZ_ASSERT(e.size > 0);
        FUZZ_ASSERT(strlen(e.encoding) < sizeof e.encoding);
        char again[128];
        size_t n = cv__cache_entry_format(&e, again, sizeof again);
        FUZZ_ASSERT(n > 0);
        /* Leading zeros in SIZE parse too; otherwise the text is canonical. */
        cv_cache_entry back;
        FUZZ_ASSERT(cv__cache_entry_parse(again, n, "again", &back) == CV_OK);
        FUZZ_ASSERT(back.size == e.size && back.hash == e.hash &&
                    strcmp(back.encoding, e.encoding) == 0);
    }
    free(text);
    return 0;
}
