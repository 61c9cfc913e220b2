/* SPDX-License-Identifier: BSD-3-Clause
 * err.c: status names and the thread-local error record. The first failure on a thread wins
 * (later ones are usually consequences); callers add context in front with cv__err_wrap(). */
#include "base/cv_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static _Thread_local cv_err last;

const char *cv_strerror(cv_status rc)
{
    switch (rc) {
#define CV_X_(n, v, s)                                                                             \
    case CV_##n:                                                                                   \
        return s;
        CV_STATUS_MAP(CV_X_)
#undef CV_X_
    }
    return "unknown status";
}

const char *cv_errname(cv_status rc)
{
    switch (rc) {
#define CV_X_(n, v, s)                                                                             \
    case CV_##n:                                                                                   \
        return "CV_" #n;
        CV_STATUS_MAP(CV_X_)
#undef CV_X_
    }
    return "CV_UNKNOWN";
}

const cv_err *cv_err_last(void)
{
    return &last;
}

void cv_err_clear(void)
{
    memset(&last, 0, sizeof last);
}

void cv__err_set(const cv_err *e)
{
    last = *e;
}

static void record(cv_status rc, const char *file, int line, const char *fmt, va_list ap)
    CV_PRINTF(4, 0);
static void record(cv_status rc, const char *file, int line, const char *fmt, va_list ap)
{
    int saved_errno = errno;
    last.code = rc;
    last.sys_errno = saved_errno;
    if (file) {
        const char *src = strstr(file, "src/");
        snprintf(last.where, sizeof last.where, "%s:%d", src ? src : file, line);
    } else {
        last.where[0] = '\0';
    }
    vsnprintf(last.what, sizeof last.what, fmt, ap);
}

cv_status cv__fail(cv_status rc, const char *file, int line, const char *fmt, ...)
{
    /* A recorded not-found is only an answer, so a real failure may replace it. */
    if (last.code == CV_OK || last.code == CV_ERR_NOTFOUND) {
        va_list ap;
        va_start(ap, fmt);
        record(rc, file, line, fmt, ap);
        va_end(ap);
    }
    return rc;
}

cv_status cv__notfound(const char *fmt, ...)
{
    if (last.code == CV_OK || last.code == CV_ERR_NOTFOUND) {
        va_list ap;
        va_start(ap, fmt);
        record(CV_ERR_NOTFOUND, NULL, 0, fmt, ap);
        va_end(ap);
    }
    return CV_ERR_NOTFOUND;
}

void cv__err_wrap(const char *fmt, ...)
{
    if (last.code == CV_OK) {
        return;
    }
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[sizeof prefix + sizeof last.what + 2];
    size_t n = strlen(prefix);
    memcpy(joined, prefix, n);
    memcpy(joined + n, ": ", 2);
    memcpy(joined + n + 2, last.what, strlen(last.what) + 1);
    joined[sizeof last.what - 1] = '\0'; /* keep what fits */
    memcpy(last.what, joined, sizeof last.what);
}
