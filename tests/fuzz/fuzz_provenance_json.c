/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_provenance_json.c: CloudVolume's provenance file (cloudvolume-conventions §4). A
 * parsed provenance must serialize, re-parse, and serialize to the same bytes. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    cv_provenance *p = NULL;
    if (cv_provenance_parse((const char *)data, size, "fuzz", &p) != CV_OK) {
        return 0;
    }
    char *json1 = NULL, *json2 = NULL;
    size_t len1 = 0, len2 = 0;
    FUZZ_ASSERT_MSG(cv_provenance_to_json(p, &json1, &len1) == CV_OK, "must serialize");
    cv_provenance *again = NULL;
    FUZZ_ASSERT_MSG(cv_provenance_parse(json1, len1, "fuzz re-parse", &again) == CV_OK, json1);
    FUZZ_ASSERT(cv_provenance_to_json(again, &json2, &len2) == CV_OK);
    FUZZ_ASSERT_MSG(len1 == len2 && memcmp(json1, json2, len1) == 0, json1);
    FUZZ_ASSERT(again->n_owners == p->n_owners && again->n_sources == p->n_sources &&
                again->n_processing == p->n_processing);
    cv_provenance_free(again);
    cv_provenance_free(p);
    cv_free(json1);
    cv_free(json2);
    return 0;
}
