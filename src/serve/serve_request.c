/* SPDX-License-Identifier: BSD-3-Clause
 * serve_request.c: the parts of answering an HTTP request that need no server: URL path to
 * key (nothing may climb out of the served directory), Range (RFC 9110 §14), If-None-Match
 * (§13.1.2), Accept-Encoding (§12.5.3) and content types. Pure functions, fuzzed by
 * tests/fuzz/fuzz_serve_request.c. */
#include "serve/serve.h"

#include <strings.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

cv_status cv__serve_url_key(const char *url_path, char *key, size_t cap)
{
    if (!url_path || url_path[0] != '/') {
        return CV_FAIL(CV_ERR_ARG, "path `%.200s' does not start with '/'",
                       url_path ? url_path : "");
    }
    size_t n = 0;
    const char *p = url_path;
    while (*p) {
        while (*p == '/') {
            p++;
        }
        const char *end = p;
        while (*end && *end != '/') {
            unsigned char ch = (unsigned char)*end;
            if (ch < 0x20 || ch == 0x7f || ch == '\\') {
                return CV_FAIL(CV_ERR_ARG, "path `%.200s' has a control byte or backslash",
                               url_path);
            }
            end++;
        }
        size_t part = (size_t)(end - p);
        if (part == 0) {
            break; /* trailing slashes */
        }
        if ((part == 1 && p[0] == '.') || (part == 2 && p[0] == '.' && p[1] == '.')) {
            return CV_FAIL(CV_ERR_ARG, "path `%.200s' has a `.' or `..' component", url_path);
        }
        if (n + (n > 0) + part + 1 > cap) {
            return CV_FAIL(CV_ERR_ARG, "path `%.200s' is too long", url_path);
        }
        if (n > 0) {
            key[n++] = '/';
        }
        memcpy(key + n, p, part);
        n += part;
        p = end;
    }
    if (cap == 0) {
        return CV_FAIL(CV_ERR_ARG, "path `%.200s' is too long", url_path);
    }
    key[n] = '\0';
    return CV_OK;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

size_t cv__serve_unescape(char *s)
{
    char *out = s;
    for (const char *p = s; *p; p++) {
        int hi = p[0] == '%' ? hex_digit(p[1]) : -1, lo = hi >= 0 ? hex_digit(p[2]) : -1;
        if (lo < 0) {
            *out++ = *p;
            continue;
        }
        /* %00 would end the C string early: "/info%00.txt" must not become "/info". */
        int v = hi * 16 + lo;
        *out++ = v == 0 ? CV_SERVE_NUL_MARK : (char)v;
        p += 2;
    }
    *out = '\0';
    return (size_t)(out - s);
}

bool cv__serve_has_control(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f) {
            return true;
        }
    }
    return false;
}

/* A decimal number of at most 19 digits at *p; advances *p. */
static bool parse_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        if (++digits > 19) {
            return false;
        }
        v = v * 10 + (uint64_t)(*s - '0');
        s++;
    }
    if (digits == 0) {
        return false;
    }
    *p = s;
    *out = v;
    return true;
}

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    return s;
}

int cv__serve_parse_range(const char *header, uint64_t size, uint64_t *off, uint64_t *len)
{
    if (!header) {
        return 0;
    }
    const char *p = skip_space(header);
    if (strncmp(p, "bytes=", 6) != 0) {
        return 0;
    }
    p = skip_space(p + 6);
    uint64_t first = 0, last = 0;
    bool has_first = false, has_last = false;
    if (*p != '-') {
        if (!parse_u64(&p, &first)) {
            return 0;
        }
        has_first = true;
    }
    p = skip_space(p);
    if (*p != '-') {
        return 0;
    }
    p = skip_space(p + 1);
    if (*p >= '0' && *p <= '9') {
        if (!parse_u64(&p, &last)) {
            return 0;
        }
        has_last = true;
    }
    p = skip_space(p);
    if (*p != '\0') {
        return 0; /* several ranges or junk: send the whole object */
    }
    if (!has_first && !has_last) {
        return 0;
    }
    if (!has_first) { /* suffix range: the last N bytes */
        if (last == 0 || size == 0) {
            return -1;
        }
        uint64_t n = last < size ? last : size;
        *off = size - n;
        *len = n;
        return 1;
    }
    if (has_last && last < first) {
        return 0; /* invalid: ignored */
    }
    if (first >= size) {
        return -1;
    }
    uint64_t end = has_last && last < size - 1 ? last : size - 1;
    *off = first;
    *len = end - first + 1;
    return 1;
}

/* Strip a weak prefix and compare quoted tags. */
static bool same_tag(const char *a, size_t na, const char *etag)
{
    if (na >= 2 && a[0] == 'W' && a[1] == '/') {
        a += 2;
        na -= 2;
    }
    if (strncmp(etag, "W/", 2) == 0) {
        etag += 2;
    }
    return strlen(etag) == na && memcmp(a, etag, na) == 0;
}

bool cv__serve_etag_matches(const char *header, const char *etag)
{
    if (!header || !etag) {
        return false;
    }
    const char *p = header;
    for (;;) {
        p = skip_space(p);
        while (*p == ',') {
            p = skip_space(p + 1);
        }
        if (*p == '\0') {
            return false;
        }
        if (*p == '*') {
            return true;
        }
        const char *start = p;
        if (p[0] == 'W' && p[1] == '/') {
            p += 2;
        }
        if (*p != '"') {
            return false; /* malformed list: no match */
        }
        const char *close = strchr(p + 1, '"');
        if (!close) {
            return false;
        }
        if (same_tag(start, (size_t)(close + 1 - start), etag)) {
            return true;
        }
        p = close + 1;
    }
}

bool cv__serve_accepts(const char *header, const char *coding)
{
    if (!header) {
        return false;
    }
    size_t nc = strlen(coding);
    const char *p = header;
    while (*p) {
        p = skip_space(p);
        const char *name = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t') {
            p++;
        }
        size_t nn = (size_t)(p - name);
        double q = 1.0;
        p = skip_space(p);
        while (*p == ';') {
            p = skip_space(p + 1);
            if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
                char *end;
                errno = 0;
                q = strtod(p + 2, &end);
                if (errno || end == p + 2) {
                    q = 0;
                }
                p = end;
            }
            while (*p && *p != ',' && *p != ';') {
                p++;
            }
        }
        bool named = (nn == nc && strncasecmp(name, coding, nc) == 0) || (nn == 1 && *name == '*');
        if (named && q > 0) {
            return true;
        }
        while (*p && *p != ',') {
            p++;
        }
        if (*p == ',') {
            p++;
        }
    }
    return false;
}

const char *cv__serve_content_type(const char *key)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".wasm", "application/wasm"},
        {".map", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    if (strcmp(base, "info") == 0 || strcmp(base, "provenance") == 0) {
        return "application/json";
    }
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (cv__str_ends_with(base, types[i].ext)) {
            return types[i].type;
        }
    }
    return "application/octet-stream";
}
