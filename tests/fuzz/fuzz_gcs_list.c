/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_gcs_list.c: the GCS JSON API objects.list page parser (cv__gcs_parse_list,
 * store_gcs.c) on untrusted JSON, with the listing invariants of fuzz_list_page.h. */
#include "fuzz_list_page.h"

#include "io/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Not NUL-terminated on purpose: the parser must stay inside [data, data + size). */
    char *json = malloc(size ? size : 1);
    FUZZ_ASSERT(json != NULL);
    memcpy(json, data, size);
    fuzz_list_page(cv__gcs_parse_list, json, size, "gs://b/p");
    free(json);
    return 0;
}
