/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_info_json.c: the info JSON parser and validator (precomputed-volume spec §2). Whatever
 * parses must serialize; that text must parse again and serialize to the same bytes, since
 * CloudVolume rewrites infos and byte-identical rewrites are a project invariant. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    cv_info *info = NULL;
    if (cv_info_parse((const char *)data, size, "fuzz", &info) != CV_OK) {
        return 0;
    }
    FUZZ_ASSERT(cv_info_validate(info) == CV_OK);
    char *json1 = NULL, *json2 = NULL;
    size_t len1 = 0, len2 = 0;
    FUZZ_ASSERT_MSG(cv_info_to_json(info, &json1, &len1) == CV_OK, "parsed info must serialize");
    FUZZ_ASSERT(strlen(json1) == len1);

    cv_info *again = NULL;
    FUZZ_ASSERT_MSG(cv_info_parse(json1, len1, "fuzz re-parse", &again) == CV_OK, json1);
    FUZZ_ASSERT(cv_info_to_json(again, &json2, &len2) == CV_OK);
    FUZZ_ASSERT_MSG(len1 == len2 && memcmp(json1, json2, len1) == 0, json1);
    FUZZ_ASSERT(again->n_scales == info->n_scales && again->dtype == info->dtype &&
                again->num_channels == info->num_channels);

    cv_info *copy = NULL;
    FUZZ_ASSERT(cv_info_copy(info, &copy) == CV_OK);
    cv_info_free(copy);
    cv_info_free(again);
    cv_info_free(info);
    cv_free(json1);
    cv_free(json2);
    return 0;
}
