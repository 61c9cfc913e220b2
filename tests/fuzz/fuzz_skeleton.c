/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_skeleton.c: the binary skeleton decoder (cv_skeleton_decode) and the operations that
 * walk a decoded skeleton. Input: one byte choosing the info's attribute list (none, the
 * default pair, or radius + a 3-component int16), then the skeleton file. A decoded skeleton
 * has every edge inside the vertex count, and re-encodes to exactly the input bytes;
 * consolidate, downsample, SWC export and the equivalence check run on it without failing. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    cv_err_clear();
    cv_skel_attr attrs[CV_SKEL_MAX_ATTRS];
    int n_attrs = 0;
    if (data[0] % 3 >= 1) {
        n_attrs = cv_skel_default_attrs(attrs);
    }
    if (data[0] % 3 == 2) {
        snprintf(attrs[1].id, sizeof attrs[1].id, "normal");
        attrs[1].dtype = CV_INT16;
        attrs[1].components = 3;
    }
    /* Stay within a small allocation whatever the counts say: the decoder checks the lengths
     * before allocating, so inputs are at most the fuzzer's own size. */
    cv_skeleton *s;
    cv_status rc = cv_skeleton_decode(data + 1, size - 1, attrs, n_attrs, "fuzz", &s);
    if (rc != CV_OK) {
        FUZZ_ASSERT(rc == CV_ERR_CORRUPT);
        FUZZ_ASSERT(strstr(cv_err_last()->what, "fuzz") != NULL);
        return 0;
    }
    for (size_t i = 0; i < 2 * (size_t)s->n_edges; i++) {
        FUZZ_ASSERT(s->edges[i] < s->n_vertices);
    }
    uint8_t *enc;
    size_t len;
    FUZZ_ASSERT(cv_skeleton_encode(s, s->attrs, s->n_attrs, &enc, &len) == CV_OK);
    FUZZ_ASSERT(len == size - 1 && memcmp(enc, data + 1, len) == 0);
    cv_free(enc);
    cv_skeleton *c, *d;
    FUZZ_ASSERT(cv_skeleton_consolidate(s, &c) == CV_OK);
    FUZZ_ASSERT(c->n_vertices <= s->n_vertices && c->n_edges <= s->n_edges);
    FUZZ_ASSERT(cv_skeleton_downsample(s, 1 + data[0] % 4, &d) == CV_OK);
    FUZZ_ASSERT(cv_skeleton_equivalent(s, s));
    char *text;
    FUZZ_ASSERT(cv_skeleton_to_swc(c, &text, &len) == CV_OK);
    cv_free(text);
    (void)cv_skeleton_cable_length(s);
    cv_skeleton_free(d);
    cv_skeleton_free(c);
    cv_skeleton_free(s);
    return 0;
}
