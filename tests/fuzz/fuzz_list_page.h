/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_list_page.h: the invariants shared by the fuzz targets of the cloud listing page parsers
 * (S3 XML, GCS JSON), which have one signature. Every name handed out is non-empty and
 * NUL-terminated; a prefix that is stripped gives at most as many names as none; a token comes
 * only with success and is non-empty; a callback's error stops the parse and comes back
 * unchanged. */
#ifndef FUZZ_LIST_PAGE_H
#define FUZZ_LIST_PAGE_H

#include "fuzz_common.h"

#include "io/store.h"

typedef cv_status (*fuzz_list_parser)(const char *page, size_t len, const char *strip,
                                      const char *shown,
                                      cv_status (*fn)(const char *name, void *arg), void *arg,
                                      char **next_token);

typedef struct fuzz_list_counter {
    size_t n, stop_at;
} fuzz_list_counter;

static cv_status fuzz_list_count(const char *name, void *arg)
{
    fuzz_list_counter *c = arg;
    FUZZ_ASSERT(name[0] != '\0');
    FUZZ_ASSERT(strlen(name) < ((size_t)1 << 20));
    if (++c->n == c->stop_at) {
        return CV_FAIL(CV_ERR_ARG, "stop");
    }
    return CV_OK;
}

/* `page` need not be NUL-terminated: the parser must stay inside [page, page + size). */
static void fuzz_list_page(fuzz_list_parser parse, const char *page, size_t size, const char *shown)
{
    cv_err_clear();
    fuzz_list_counter all = {0, 0};
    char *token = NULL;
    cv_status rc = parse(page, size, "", shown, fuzz_list_count, &all, &token);
    FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_CORRUPT || rc == CV_ERR_NOMEM);
    if (rc != CV_OK) {
        FUZZ_ASSERT(token == NULL);
    } else if (token) {
        FUZZ_ASSERT(token[0] != '\0');
    }
    cv_free(token);
    if (rc != CV_OK) {
        return;
    }
    fuzz_list_counter some = {0, 0};
    token = NULL;
    cv_err_clear();
    FUZZ_ASSERT(parse(page, size, "a/", shown, fuzz_list_count, &some, &token) == CV_OK);
    FUZZ_ASSERT(some.n <= all.n);
    cv_free(token);
    if (all.n > 0) {
        fuzz_list_counter stop = {0, 1};
        token = NULL;
        cv_err_clear();
        FUZZ_ASSERT(parse(page, size, "", shown, fuzz_list_count, &stop, &token) == CV_ERR_ARG);
        FUZZ_ASSERT(token == NULL && stop.n == 1);
    }
}

typedef cv_status (*fuzz_sized_parser)(const char *page, size_t len, const char *strip,
                                       const char *shown, cv_store_sized_fn fn, void *arg,
                                       char **next_token);

typedef struct fuzz_sized_counter {
    size_t n;
    uint64_t sum;
} fuzz_sized_counter;

static cv_status fuzz_sized_count(const char *name, uint64_t size, void *arg)
{
    fuzz_sized_counter *c = arg;
    FUZZ_ASSERT(name[0] != '\0');
    c->n++;
    c->sum += size == UINT64_MAX ? 0 : size;
    return CV_OK;
}

/* The sized variant of a parser (cvmpi du, cp -r --resume): only OK / CORRUPT / NOMEM; when
 * it succeeds the plain parser does too and hands out as many names. */
static void fuzz_list_page_sized(fuzz_sized_parser sized, fuzz_list_parser plain, const char *page,
                                 size_t size, const char *shown)
{
    cv_err_clear();
    fuzz_sized_counter c = {0, 0};
    char *token = NULL;
    cv_status rc = sized(page, size, "", shown, fuzz_sized_count, &c, &token);
    FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_CORRUPT || rc == CV_ERR_NOMEM);
    FUZZ_ASSERT(rc == CV_OK || token == NULL);
    cv_free(token);
    if (rc != CV_OK) {
        return;
    }
    fuzz_list_counter all = {0, 0};
    token = NULL;
    cv_err_clear();
    FUZZ_ASSERT(plain(page, size, "", shown, fuzz_list_count, &all, &token) == CV_OK);
    FUZZ_ASSERT(all.n == c.n);
    cv_free(token);
}

#endif
