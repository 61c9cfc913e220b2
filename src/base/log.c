/* SPDX-License-Identifier: BSD-3-Clause
 * log.c: leveled logging to stderr; lines carry "[rank]" once a rank is set. */
#include "base/cv_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int level = -1;
static int log_rank = -1;

static cv_log_level level_from_env(void)
{
    const char *e = getenv("CV_LOG");
    if (!e) {
        return CV_LOG_WARN;
    }
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(e, names[i]) == 0) {
            return (cv_log_level)i;
        }
    }
    return CV_LOG_WARN;
}

void cv__log_set_level(cv_log_level l)
{
    level = (int)l;
}

cv_log_level cv__log_level(void)
{
    if (level < 0) {
        level = (int)level_from_env();
    }
    return (cv_log_level)level;
}

void cv__log_set_rank(int rank)
{
    log_rank = rank;
}

void cv__log(cv_log_level l, const char *fmt, ...)
{
    static const char *const tags[] = {"error", "warning", "info", "debug"};
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (log_rank >= 0) {
        fprintf(stderr, "cvmpi[%d]: %s: %s\n", log_rank, tags[l], line);
    } else {
        fprintf(stderr, "cvmpi: %s: %s\n", tags[l], line);
    }
}
