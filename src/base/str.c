/* SPDX-License-Identifier: BSD-3-Clause
 * str.c: small string helpers that allocate with cv_malloc. */
#include "base/cv_internal.h"

#include <stdio.h>
#include <string.h>

char *cv__strndup(const char *s, size_t n)
{
    if (!s) {
        return NULL;
    }
    char *p = cv_malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *cv__strdup(const char *s)
{
    return s ? cv__strndup(s, strlen(s)) : NULL;
}

char *cv__asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return NULL;
    }
    char *p = cv_malloc((size_t)n + 1);
    if (!p) {
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

bool cv__str_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}
