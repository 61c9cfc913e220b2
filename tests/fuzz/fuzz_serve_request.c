/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_serve_request.c: what `cvmpi serve` parses from a request: the URL path (the key it
 * maps to never climbs out of the served directory and is a fixed point), a Range header
 * against an object size (a satisfiable range lies inside the object), If-None-Match and
 * Accept-Encoding. Input: "PATH\nRANGE\nIF-NONE-MATCH\nACCEPT-ENCODING", the first 8 bytes of
 * PATH's hash giving the object size. */
#include "fuzz_common.h"

#include "serve/serve.h"

static char *next_line(char **p)
{
    char *start = *p;
    if (!start) {
        return NULL;
    }
    char *nl = strchr(start, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = NULL;
    }
    return start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    char *text = fuzz_cstr(data, size, 8192);
    char *rest = text;
    const char *path = next_line(&rest);
    const char *range = next_line(&rest);
    const char *inm = next_line(&rest);
    const char *accept = next_line(&rest);

    char key[256];
    if (path && cv__serve_url_key(path, key, sizeof key) == CV_OK) {
        FUZZ_ASSERT(key[0] != '/');
        FUZZ_ASSERT(strlen(key) < sizeof key);
        for (const char *p = key; *p; p++) {
            FUZZ_ASSERT(*p != '\\' && (unsigned char)*p >= 0x20 && *p != 0x7f);
        }
        /* no component is "." or ".." and none is empty */
        for (const char *p = key; *key && p;) {
            const char *e = strchr(p, '/');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            FUZZ_ASSERT_MSG(n > 0, key);
            FUZZ_ASSERT_MSG(!(n == 1 && p[0] == '.') && !(n == 2 && p[0] == '.' && p[1] == '.'),
                            key);
            p = e ? e + 1 : NULL;
        }
        char again[258], key2[256];
        snprintf(again, sizeof again, "/%s", key);
        FUZZ_ASSERT(cv__serve_url_key(again, key2, sizeof key2) == CV_OK);
        FUZZ_ASSERT_MSG(strcmp(key, key2) == 0, key);
    }
    uint64_t obj_size = 0;
    for (size_t i = 0; path && path[i] && i < 8; i++) {
        obj_size = obj_size * 31 + (unsigned char)path[i];
    }
    obj_size %= (uint64_t)1 << 40;
    uint64_t off = 0, len = 0;
    int r = cv__serve_parse_range(range, obj_size, &off, &len);
    FUZZ_ASSERT(r >= -1 && r <= 1);
    if (r == 1) {
        FUZZ_ASSERT(len >= 1 && off < obj_size && len <= obj_size - off);
    }
    (void)cv__serve_etag_matches(inm, "\"1-2-3.000000004\"");
    (void)cv__serve_accepts(accept, "gzip");
    (void)cv__serve_accepts(accept, "br");
    cv_err_clear();
    free(text);
    return 0;
}
