/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_swc.c: the SWC parser (cv_skeleton_from_swc). A parse fails only as CV_ERR_CORRUPT
 * naming the file; a parsed skeleton has edges inside its vertex count and exports to SWC
 * that parses again, with one row per vertex that has an edge. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    cv_skeleton *s;
    cv_status rc = cv_skeleton_from_swc((const char *)data, size, "fuzz.swc", &s);
    if (rc != CV_OK) {
        FUZZ_ASSERT(rc == CV_ERR_CORRUPT);
        FUZZ_ASSERT(strstr(cv_err_last()->what, "fuzz.swc") != NULL);
        return 0;
    }
    size_t connected = 0;
    bool *has_edge = calloc(s->n_vertices + 1, 1);
    FUZZ_ASSERT(has_edge != NULL);
    for (size_t i = 0; i < 2 * (size_t)s->n_edges; i++) {
        FUZZ_ASSERT(s->edges[i] < s->n_vertices);
        has_edge[s->edges[i]] = true;
    }
    for (size_t i = 0; i < s->n_vertices; i++) {
        connected += has_edge[i];
    }
    free(has_edge);
    char *text;
    size_t len;
    FUZZ_ASSERT(cv_skeleton_to_swc(s, &text, &len) == CV_OK);
    cv_skeleton *back;
    rc = cv_skeleton_from_swc(text, len, "fuzz.swc export", &back);
    /* Huge coordinates print longer than a field may be; anything else must parse. */
    if (rc == CV_OK) {
        FUZZ_ASSERT(back->n_vertices == connected);
        cv_skeleton_free(back);
    } else {
        FUZZ_ASSERT(rc == CV_ERR_CORRUPT);
    }
    cv_free(text);
    cv_skeleton_free(s);
    return 0;
}
