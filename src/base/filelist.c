/* SPDX-License-Identifier: BSD-3-Clause
 * filelist.c: ordered lists of input files for stacks: glob(3) matches put in natural order
 * (file_2 before file_10), list files with one path a line, and the natural comparison. No
 * MPI, no HDF5; the list-file parser never trusts its input (fuzz_filelist). */
#include "base/filelist.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cv__natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            const char *za = a, *zb = b;
            while (*a == '0') {
                a++;
            }
            while (*b == '0') {
                b++;
            }
            const char *da = a, *db = b;
            while (isdigit((unsigned char)*a)) {
                a++;
            }
            while (isdigit((unsigned char)*b)) {
                b++;
            }
            size_t la = (size_t)(a - da), lb = (size_t)(b - db);
            if (la != lb) {
                return la < lb ? -1 : 1;
            }
            int c = memcmp(da, db, la);
            if (c != 0) {
                return c < 0 ? -1 : 1;
            }
            /* Same number: more leading zeros first ("07" before "7"). */
            size_t pa = (size_t)(da - za), pb = (size_t)(db - zb);
            if (pa != pb) {
                return pa > pb ? -1 : 1;
            }
            continue;
        }
        if (*a != *b) {
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        }
        a++;
        b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

void cv__filelist_free(char **paths, size_t n)
{
    if (!paths) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        cv_free(paths[i]);
    }
    cv_free(paths);
}

static cv_status push(char ***paths, size_t *n, size_t *cap, char *s)
{
    if (!s) {
        return CV_FAIL(CV_ERR_NOMEM, "file list");
    }
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        char **p = cv_malloc(c * sizeof *p);
        if (!p) {
            cv_free(s);
            return CV_FAIL(CV_ERR_NOMEM, "file list");
        }
        if (*n) {
            memcpy(p, *paths, *n * sizeof *p);
        }
        cv_free(*paths);
        *paths = p;
        *cap = c;
    }
    (*paths)[(*n)++] = s;
    return CV_OK;
}

cv_status cv__filelist_parse(const char *text, size_t len, const char *base_dir, const char *what,
                             char ***paths, size_t *n)
{
    char **out = NULL;
    size_t count = 0, cap = 0;
    if (memchr(text, '\0', len)) {
        return CV_FAIL(CV_ERR_ARG, "file list %s: has a NUL byte (not a text file?)", what);
    }
    for (size_t i = 0, line = 1; i < len; line++) {
        size_t end = i;
        while (end < len && text[end] != '\n') {
            end++;
        }
        size_t a = i, b = end;
        while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r')) {
            a++;
        }
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r')) {
            b--;
        }
        i = end + 1;
        if (a == b || text[a] == '#') {
            continue;
        }
        char *s;
        if (text[a] != '/' && base_dir && *base_dir) {
            s = cv__asprintf("%s/%.*s", base_dir, (int)(b - a), text + a);
        } else {
            s = cv__strndup(text + a, b - a);
        }
        cv_status rc = push(&out, &count, &cap, s);
        if (rc != CV_OK) {
            cv__filelist_free(out, count);
            return rc;
        }
    }
    if (count == 0) {
        cv__filelist_free(out, count);
        return CV_FAIL(CV_ERR_ARG, "file list %s: names no file", what);
    }
    *paths = out;
    *n = count;
    return CV_OK;
}

static int natural_qsort(const void *a, const void *b)
{
    return cv__natural_cmp(*(char *const *)a, *(char *const *)b);
}

static cv_status read_list(const char *file, char ***paths, size_t *n)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        return CV_FAIL(errno == ENOENT ? CV_ERR_NOTFOUND : CV_ERR_IO, "open file list `%s': %s",
                       file, strerror(errno));
    }
    cv_buf b;
    cv__buf_init(&b, (size_t)64 << 20);
    char tmp[8192];
    size_t got;
    cv_status rc = CV_OK;
    while (rc == CV_OK && (got = fread(tmp, 1, sizeof tmp, f)) > 0) {
        rc = cv__buf_append(&b, tmp, got);
    }
    if (rc == CV_OK && ferror(f)) {
        rc = CV_FAIL(CV_ERR_IO, "read file list `%s'", file);
    }
    fclose(f);
    if (rc == CV_OK) {
        const char *slash = strrchr(file, '/');
        char *dir = slash ? cv__strndup(file, (size_t)(slash - file) + (slash == file)) : NULL;
        rc = cv__filelist_parse(b.data ? (const char *)b.data : "", b.len, dir, file, paths, n);
        cv_free(dir);
    }
    cv__buf_fini(&b);
    return rc;
}

cv_status cv__filelist_expand(const char *pattern, char ***paths, size_t *n)
{
    if (pattern[0] == '@') {
        return read_list(pattern + 1, paths, n);
    }
    char **out = NULL;
    size_t count = 0, cap = 0;
    if (!strpbrk(pattern, "*?[")) {
        CV_TRY(push(&out, &count, &cap, cv__strdup(pattern)));
        *paths = out;
        *n = count;
        return CV_OK;
    }
    glob_t g;
    memset(&g, 0, sizeof g);
    int grc = glob(pattern, 0, NULL, &g);
    if (grc == GLOB_NOMATCH || (grc == 0 && g.gl_pathc == 0)) {
        globfree(&g);
        return CV_FAIL(CV_ERR_NOTFOUND, "no file matches `%s'", pattern);
    }
    if (grc != 0) {
        globfree(&g);
        return CV_FAIL(grc == GLOB_NOSPACE ? CV_ERR_NOMEM : CV_ERR_IO, "glob `%s' failed", pattern);
    }
    cv_status rc = CV_OK;
    for (size_t i = 0; rc == CV_OK && i < g.gl_pathc; i++) {
        rc = push(&out, &count, &cap, cv__strdup(g.gl_pathv[i]));
    }
    globfree(&g);
    if (rc != CV_OK) {
        cv__filelist_free(out, count);
        return rc;
    }
    qsort(out, count, sizeof *out, natural_qsort);
    *paths = out;
    *n = count;
    return CV_OK;
}
