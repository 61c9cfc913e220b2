/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_s3_list.c: the S3 ListObjectsV2 page parser (cv__s3_parse_list, store_s3.c) on
 * untrusted XML. Invariants: every name handed out is non-empty and NUL-terminated; a prefix
 * that is stripped gives at most as many names as none; a token comes only with success and
 * is non-empty; a callback's error stops the parse and comes back unchanged. The same bytes
 * as a DeleteObjects answer (cv__s3_check_delete_result) give OK or one printable line. */
#include "fuzz_common.h"

#include "io/http.h"

typedef struct counter {
    size_t n, stop_at;
} counter;

static cv_status count(const char *name, void *arg)
{
    counter *c = arg;
    FUZZ_ASSERT(name[0] != '\0');
    FUZZ_ASSERT(strlen(name) < ((size_t)1 << 20));
    if (++c->n == c->stop_at) {
        return CV_FAIL(CV_ERR_ARG, "stop");
    }
    return CV_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Not NUL-terminated on purpose: the parser must stay inside [data, data + size). */
    char *xml = malloc(size ? size : 1);
    FUZZ_ASSERT(xml != NULL);
    memcpy(xml, data, size);
    cv_err_clear();
    counter all = {0, 0};
    char *token = NULL;
    cv_status rc = cv__s3_parse_list(xml, size, "", "s3://b/p", count, &all, &token);
    FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_CORRUPT || rc == CV_ERR_NOMEM);
    if (rc != CV_OK) {
        FUZZ_ASSERT(token == NULL);
    } else if (token) {
        FUZZ_ASSERT(token[0] != '\0');
    }
    cv_free(token);
    if (rc == CV_OK) {
        counter some = {0, 0};
        token = NULL;
        cv_err_clear();
        FUZZ_ASSERT(cv__s3_parse_list(xml, size, "a/", "s3://b/p", count, &some, &token) == CV_OK);
        FUZZ_ASSERT(some.n <= all.n);
        cv_free(token);
        if (all.n > 0) {
            counter stop = {0, 1};
            token = NULL;
            cv_err_clear();
            FUZZ_ASSERT(cv__s3_parse_list(xml, size, "", "s3://b/p", count, &stop, &token) ==
                        CV_ERR_ARG);
            FUZZ_ASSERT(token == NULL && stop.n == 1);
        }
    }
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
