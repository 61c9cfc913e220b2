/* SPDX-License-Identifier: BSD-3-Clause
 * buf.c: the allocator wrappers and a growable byte buffer whose `max` stops decompression
 * bombs and oversized objects before they are allocated. */
#include "base/cv_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Buffers this large (cutouts, task boxes) ask for transparent huge pages: a fresh buffer
 * then takes one page fault per 2 MiB instead of 512, which made a 268 MB cutout read 5x
 * faster where faults are dear (virtual machines). Memory from posix_memalign is freed
 * with free(), so callers see no difference. */
#define HUGE_MIN ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

void *cv_malloc(size_t n)
{
    if (n < HUGE_MIN) {
        return malloc(n ? n : 1);
    }
    void *p = NULL;
    if (posix_memalign(&p, HUGE_PAGE, n) != 0) {
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    (void)madvise(p, n & ~(HUGE_PAGE - 1), MADV_HUGEPAGE); /* advice only: may fail */
#endif
    return p;
}

void *cv_calloc(size_t n, size_t size)
{
    return calloc(n ? n : 1, size ? size : 1);
}

void *cv_realloc(void *p, size_t n)
{
    return realloc(p, n ? n : 1);
}

void cv_free(void *p)
{
    free(p);
}

void cv__buf_init(cv_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void cv__buf_fini(cv_buf *b)
{
    cv_free(b->data);
    cv__buf_init(b, b->max);
}

cv_status cv__buf_reserve(cv_buf *b, size_t total)
{
    if (total <= b->cap) {
        return CV_OK;
    }
    if (b->max && total > b->max) {
        return CV_FAIL(CV_ERR_CORRUPT, "data larger than the %zu bytes expected", b->max);
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < total) {
        cap = cap > SIZE_MAX / 2 ? total : cap * 2;
    }
    if (b->max && cap > b->max) {
        cap = b->max;
    }
    uint8_t *p = cv_realloc(b->data, cap);
    if (!p) {
        return CV_FAIL(CV_ERR_NOMEM, "allocate %zu bytes", cap);
    }
    b->data = p;
    b->cap = cap;
    return CV_OK;
}

cv_status cv__buf_append(cv_buf *b, const void *p, size_t n)
{
    if (n > SIZE_MAX - b->len) {
        return CV_FAIL(CV_ERR_NOMEM, "buffer size overflow");
    }
    CV_TRY(cv__buf_reserve(b, b->len + n));
    if (n) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    return CV_OK;
}

uint8_t *cv__buf_take(cv_buf *b, size_t *len)
{
    uint8_t *p = b->data;
    if (!p) {
        p = cv_malloc(1);
    }
    *len = b->len;
    cv__buf_init(b, b->max);
    return p;
}
