/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_http_index.c: the directory index page parser (cv__http_parse_index, store_http.c;
 * ls and cp -r of http(s) directories) on untrusted HTML, not NUL-terminated. Checks: only OK
 * or UNSUPPORTED naming the page; every name non-empty, below 1024 bytes, without control
 * bytes, a '/' only at its end, never `.' or `..', handed out sorted and once; a callback
 * error stops the parse and comes back. */
#include "fuzz_common.h"

#include "io/http.h"

typedef struct index_seen {
    char last[1024];
    size_t calls, stop_at;
} index_seen;

static cv_status on_name(const char *name, void *arg)
{
    index_seen *s = arg;
    size_t n = strlen(name);
    FUZZ_ASSERT(n > 0 && n < sizeof s->last);
    const char *slash = strchr(name, '/');
    FUZZ_ASSERT(!slash || slash == name + n - 1);
    FUZZ_ASSERT(strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && strcmp(name, "./") != 0 &&
                strcmp(name, "../") != 0);
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT((unsigned char)name[i] >= 0x20 && name[i] != 0x7f);
    }
    FUZZ_ASSERT(s->calls == 0 || strcmp(s->last, name) < 0);
    memcpy(s->last, name, n + 1);
    if (++s->calls == s->stop_at) {
        return CV_FAIL(CV_ERR_IO, "callback stop");
    }
    return CV_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t stop_at = data[0] & 0x07;
    data++;
    size--;
    char *html = malloc(size ? size : 1);
    FUZZ_ASSERT(html != NULL);
    memcpy(html, data, size);
    index_seen s = {.stop_at = stop_at};
    cv_err_clear();
    cv_status rc =
        cv__http_parse_index(html, size, "http://h:1/d%20x/", "http://h:1/d%20x/", on_name, &s);
    if (stop_at && s.calls == stop_at) {
        FUZZ_ASSERT(rc == CV_ERR_IO && strcmp(cv_err_last()->what, "callback stop") == 0);
    } else if (rc != CV_OK) {
        FUZZ_ASSERT(rc == CV_ERR_UNSUPPORTED);
        FUZZ_ASSERT(strncmp(cv_err_last()->what, "list `http://h:1/d%20x/': ", 26) == 0);
    }
    cv_err_clear();
    free(html);
    return 0;
}
