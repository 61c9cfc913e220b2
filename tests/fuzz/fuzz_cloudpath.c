/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_cloudpath.c: cloud path parsing as CloudFiles' extract() (cloudvolume-conventions §1,
 * test-vectors §10) and the normalised URL. A normalised URL is a fixed point: parsing it and
 * normalising again gives the same text. */
#include "fuzz_common.h"

#include "io/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    char *text = fuzz_cstr(data, size, 4096);
    cv_cloudpath p;
    if (cv__cloudpath_parse(text, &p) == CV_OK) {
        FUZZ_ASSERT(p.protocol[0] != '\0' && p.format[0] != '\0');
        char *url = cv__cloudpath_url(&p);
        FUZZ_ASSERT(url != NULL);
        cv_cloudpath q;
        FUZZ_ASSERT_MSG(cv__cloudpath_parse(url, &q) == CV_OK, url);
        char *url2 = cv__cloudpath_url(&q);
        FUZZ_ASSERT(url2 != NULL);
        FUZZ_ASSERT_MSG(strcmp(url, url2) == 0, url);
        FUZZ_ASSERT(strcmp(p.protocol, q.protocol) == 0);
        cv_free(url2);
        cv__cloudpath_fini(&q);
        cv_free(url);
        cv__cloudpath_fini(&p);
    }
    free(text);
    return 0;
}
