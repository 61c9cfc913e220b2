/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_source_cache.c: the cache options jobs apply to the layers they read (cv_source_cache.h).
 * Every rank parses the same command line, so every rank holds the same options. */
#include "mpi/cv_source_cache.h"

static cv_opts kept;
static bool have;

void cv_mpi_set_source_cache(const cv_opts *from)
{
    kept = *from;
    have = true;
}

void cv_mpi_source_cache(cv_opts *o)
{
    if (!have) {
        return;
    }
    o->cache = kept.cache;
    o->cache_max_age = kept.cache_max_age;
    o->cache_info_age = kept.cache_info_age;
    o->cache_bytes = kept.cache_bytes;
}
