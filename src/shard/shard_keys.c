/* SPDX-License-Identifier: BSD-3-Clause
 * shard_keys.c: the keys stored in one shard file, read from its indexes only (the shard
 * index, then each minishard index by a ranged read; precomputed-sharded §3), without
 * fetching or decoding any payload. Used to list the segment ids of sharded skeleton and
 * mesh directories. No MPI here. */
#include "compress/compress.h"
#include "shard/shard.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

cv_status cv__shard_file_keys(cv_store *store, const char *object, const cv_shard_spec *spec,
                              cv_status (*fn)(uint64_t key, void *arg), void *arg)
{
    uint64_t index_bytes = cv__shard_index_bytes(spec);
    uint8_t *index;
    size_t got;
    CV_TRY(cv_store_get_range(store, object, 0, index_bytes, &index, &got));
    cv_status rc = CV_OK;
    if (got != index_bytes) {
        rc = CV_FAIL(CV_ERR_CORRUPT, "shard file `%s/%s': %zu bytes, shorter than its index",
                     cv_store_url(store), object, got);
    }
    cv_buf dec;
    cv__buf_init(&dec, (size_t)CV_SHARD_MAX_MINISHARD_INDEX);
    for (uint64_t m = 0; rc == CV_OK && m < index_bytes / 16; m++) {
        uint64_t start = load64(index + 16 * m), end = load64(index + 16 * m + 8);
        if (start == end) {
            continue;
        }
        if (end < start || end - start > CV_SHARD_MAX_MINISHARD_INDEX ||
            start > UINT64_MAX - index_bytes) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "shard file `%s/%s': bad minishard %" PRIu64 " range",
                         cv_store_url(store), object, m);
            break;
        }
        uint8_t *raw;
        size_t n;
        rc = cv_store_get_range(store, object, index_bytes + start, end - start, &raw, &n);
        if (rc == CV_OK && n != end - start) {
            rc = CV_FAIL(CV_ERR_CORRUPT,
                         "shard file `%s/%s': minishard %" PRIu64 " index past the end",
                         cv_store_url(store), object, m);
        }
        const uint8_t *p = raw;
        if (rc == CV_OK && spec->minishard_index_encoding == CV_SHARD_GZIP) {
            dec.len = 0;
            rc = cv_compress_gzip.decompress(raw, n, &dec);
            p = dec.data;
            n = dec.len;
        }
        cv_shard_entry *entries = NULL;
        size_t count = 0;
        if (rc == CV_OK) {
            rc = cv__minishard_index_decode(p, n, index_bytes, &entries, &count);
            if (rc != CV_OK) {
                cv__err_wrap("shard file `%s/%s' minishard %" PRIu64, cv_store_url(store), object,
                             m);
            }
        }
        for (size_t i = 0; rc == CV_OK && i < count; i++) {
            rc = fn(entries[i].key, arg);
        }
        cv_free(entries);
        cv_free(raw);
    }
    cv__buf_fini(&dec);
    cv_free(index);
    return rc;
}
