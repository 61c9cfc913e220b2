/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_gcs_batch.c: the GCS JSON API batch answer parser (cv__gcs_parse_batch, store_gcs.c;
 * cvmpi rm on gs://) on untrusted bytes. Input: one byte for the number of sub-requests
 * (1..128) and for which callback fails (0: none), then the Content-Type up to the first '\n',
 * then the multipart/mixed body (not NUL-terminated). Checks: only OK / CORRUPT naming the
 * store, or the callback's own error, returned at once; every index below n and reported
 * once; statuses 100..599; bodies inside the input. */
#include "fuzz_common.h"

#include "io/http.h"

typedef struct seen_parts {
    const char *text;
    size_t len, n, calls, fail_at;
    unsigned char seen[128];
} seen_parts;

static cv_status on_part(size_t index, long status, const char *body, size_t len, void *arg)
{
    seen_parts *s = arg;
    FUZZ_ASSERT(index < s->n && !s->seen[index]);
    s->seen[index] = 1;
    FUZZ_ASSERT(status >= 100 && status <= 599);
    FUZZ_ASSERT(body >= s->text && body + len <= s->text + s->len);
    if (++s->calls == s->fail_at) {
        return CV_FAIL(CV_ERR_IO, "callback stop");
    }
    return CV_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    size_t n = (size_t)(data[0] & 0x7f) + 1, fail_at = data[1] & 0x0f;
    data += 2;
    size -= 2;
    const uint8_t *nl = memchr(data, '\n', size < 256 ? size : 256);
    size_t tlen = nl ? (size_t)(nl - data) : 0;
    char ctype[257];
    memcpy(ctype, data, tlen);
    ctype[tlen] = '\0';
    size_t off = nl ? tlen + 1 : 0;
    char *text = malloc(size - off ? size - off : 1);
    FUZZ_ASSERT(text != NULL);
    memcpy(text, data + off, size - off);
    seen_parts s = {.text = text, .len = size - off, .n = n, .fail_at = fail_at};
    cv_err_clear();
    cv_status rc = cv__gcs_parse_batch(text, size - off, ctype, n, "gs://b/p", on_part, &s);
    if (fail_at && s.calls == fail_at) {
        FUZZ_ASSERT(rc == CV_ERR_IO && strcmp(cv_err_last()->what, "callback stop") == 0);
    } else if (rc != CV_OK) {
        FUZZ_ASSERT(rc == CV_ERR_CORRUPT);
        FUZZ_ASSERT(strncmp(cv_err_last()->what, "POST `gs://b/p': ", 17) == 0);
    }
    FUZZ_ASSERT(s.calls <= n);
    cv_err_clear();
    free(text);
    return 0;
}
