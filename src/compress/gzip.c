/* SPDX-License-Identifier: BSD-3-Clause
 * gzip.c: gzip transport compression with libdeflate (whole buffers, faster than zlib).
 * Level 9 output is what CloudFiles writes (header 1f 8b 08 00 00000000 02 ff). Decoding
 * accepts any valid gzip, including several concatenated members. */
#include "compress/compress.h"

#include <libdeflate.h>
#include <pthread.h>

/* Compressors are kept for reuse: allocating one per chunk (about a megabyte at level 9, fresh
 * pages each time) cost 12-16 % of compressing a 64^3 chunk. A compressor keeps no state
 * between calls, so the output bytes are the same. The pool holds at most one per thread. */
#define POOL_CAP 64
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    struct libdeflate_compressor *z;
    int level;
} pool[POOL_CAP];
static int pool_n;

static struct libdeflate_compressor *take_compressor(int level)
{
    pthread_mutex_lock(&pool_lock);
    for (int i = 0; i < pool_n; i++) {
        if (pool[i].level == level) {
            struct libdeflate_compressor *z = pool[i].z;
            pool[i] = pool[--pool_n];
            pthread_mutex_unlock(&pool_lock);
            return z;
        }
    }
    pthread_mutex_unlock(&pool_lock);
    return libdeflate_alloc_compressor(level);
}

static void give_compressor(struct libdeflate_compressor *z, int level)
{
    pthread_mutex_lock(&pool_lock);
    if (pool_n < POOL_CAP) {
        pool[pool_n].z = z;
        pool[pool_n].level = level;
        pool_n++;
        z = NULL;
    }
    pthread_mutex_unlock(&pool_lock);
    libdeflate_free_compressor(z);
}

static size_t member_size_hint(const uint8_t *src, size_t n)
{
    /* ISIZE: the last 4 bytes, the uncompressed size mod 2^32 of the last member. */
    return n >= 18 ? (size_t)src[n - 4] | (size_t)src[n - 3] << 8 | (size_t)src[n - 2] << 16 |
                         (size_t)src[n - 1] << 24
                   : 0;
}

/* Inflate the gzip members (or, with `is_zlib`, the one zlib stream) of src, appending to out
 * without ever growing past out->max. */
static cv_status inflate_all(const uint8_t *src, size_t n, cv_buf *out, bool is_zlib)
{
    const char *what = is_zlib ? "zlib" : "gzip";
    struct libdeflate_decompressor *z = libdeflate_alloc_decompressor();
    if (!z) {
        return CV_FAIL(CV_ERR_NOMEM, "%s: allocate decompressor", what);
    }
    cv_status rc = CV_OK;
    size_t pos = 0;
    while (rc == CV_OK && pos < n) {
        /* zlib keeps no size: start from a typical ratio and double. */
        size_t guess = is_zlib ? (n - pos) * 4 : member_size_hint(src + pos, n - pos);
        size_t avail = guess + 64;
        if (avail > ((size_t)1 << 26)) { /* a corrupt ISIZE must not allocate gigabytes */
            avail = (size_t)1 << 26;
        }
        for (;;) {
            if (out->max && out->len + avail > out->max) {
                avail = out->max - out->len;
            }
            rc = cv__buf_reserve(out, out->len + avail);
            if (rc != CV_OK) {
                break;
            }
            size_t in_used = 0, produced = 0;
            enum libdeflate_result r =
                is_zlib ? libdeflate_zlib_decompress_ex(z, src + pos, n - pos, out->data + out->len,
                                                        avail, &in_used, &produced)
                        : libdeflate_gzip_decompress_ex(z, src + pos, n - pos, out->data + out->len,
                                                        avail, &in_used, &produced);
            if (r == LIBDEFLATE_SUCCESS) {
                out->len += produced;
                pos += in_used;
                break;
            }
            if (r != LIBDEFLATE_INSUFFICIENT_SPACE) {
                rc = CV_FAIL(CV_ERR_CORRUPT, "%s: corrupt or truncated data", what);
                break;
            }
            if (out->max && out->len + avail >= out->max) {
                rc = CV_FAIL(CV_ERR_CORRUPT, "%s: decompresses to more than %zu bytes", what,
                             out->max);
                break;
            }
            avail = avail < 4096 ? 8192 : avail * 2;
        }
        if (is_zlib && rc == CV_OK && pos < n) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "zlib: %zu bytes after the end of the stream", n - pos);
        }
        /* Padding zeros after the last member are tolerated, as by gzip(1). */
        while (rc == CV_OK && pos < n && src[pos] == 0) {
            pos++;
        }
    }
    libdeflate_free_decompressor(z);
    return rc;
}

static cv_status gzip_decompress(const uint8_t *src, size_t n, cv_buf *out)
{
    if (n < 18 || src[0] != 0x1f || src[1] != 0x8b) {
        return CV_FAIL(CV_ERR_CORRUPT, "gzip: not in gzip format (%zu bytes)", n);
    }
    return inflate_all(src, n, out, false);
}

bool cv__is_zlib_stream(const uint8_t *src, size_t n)
{
    /* RFC 1950: method 8 (deflate), window <= 32 KiB, no preset dictionary, check bits. */
    return n >= 6 && (src[0] & 0x0f) == 8 && (src[0] >> 4) <= 7 && !(src[1] & 0x20) &&
           ((unsigned)src[0] << 8 | src[1]) % 31 == 0;
}

cv_status cv__zlib_decompress(const uint8_t *src, size_t n, cv_buf *out)
{
    if (!cv__is_zlib_stream(src, n)) {
        return CV_FAIL(CV_ERR_CORRUPT, "zlib: not a zlib stream (%zu bytes)", n);
    }
    return inflate_all(src, n, out, true);
}

static cv_status gzip_compress(int level, const uint8_t *src, size_t n, cv_buf *out)
{
    if (level < 0) {
        level = 9;
    }
    if (level > 12) {
        return CV_FAIL(CV_ERR_ARG, "gzip: level %d out of range 0..12", level);
    }
    struct libdeflate_compressor *z = take_compressor(level);
    if (!z) {
        return CV_FAIL(CV_ERR_NOMEM, "gzip: allocate compressor");
    }
    size_t bound = libdeflate_gzip_compress_bound(z, n);
    cv_status rc = cv__buf_reserve(out, out->len + bound);
    if (rc == CV_OK) {
        size_t got = libdeflate_gzip_compress(z, src, n, out->data + out->len, bound);
        if (got == 0) {
            rc = CV_FAIL(CV_ERR_IO, "gzip: compression failed");
        }
        out->len += got;
    }
    give_compressor(z, level);
    return rc;
}

const cv_compressor cv_compress_gzip = {
    "gzip",          /* name */
    9,               /* default_level */
    12,              /* max_level */
    gzip_decompress, /* decompress */
    gzip_compress,   /* compress */
};
