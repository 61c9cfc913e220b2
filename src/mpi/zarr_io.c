/* SPDX-License-Identifier: BSD-3-Clause
 * zarr_io.c: zarr v2 metadata and chunk decoding for `cvmpi import` (cv_zarr.h). gzip and zlib
 * through libdeflate (the codec room's), zstd and blosc when the build found libzstd and
 * libblosc (CV_HAVE_ZSTD, CV_HAVE_BLOSC); a .zarray naming a codec the build lacks is refused
 * when it is parsed, before anything is read. */
#include "mpi/cv_zarr.h"

#include "base/checked.h"
#include "base/json_py.h"

#include <libdeflate.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#ifdef CV_HAVE_ZSTD
#include <zstd.h>
#endif
#ifdef CV_HAVE_BLOSC
#include <blosc.h>
#endif

const char *cv__zarr_codec_name(cv_zarr_codec c)
{
    static const char *const names[] = {"none", "gzip", "zlib", "zstd", "blosc"};
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "?";
}

/* "<u2", "|u1", ">f4": byte order, kind, size. */
static cv_status parse_dtype(const cJSON *v, const char *name, cv_zarr_meta *m)
{
    static const struct {
        const char *code;
        cv_dtype t;
    } types[] = {{"u1", CV_UINT8},   {"i1", CV_INT8},   {"u2", CV_UINT16}, {"i2", CV_INT16},
                 {"u4", CV_UINT32},  {"i4", CV_INT32},  {"u8", CV_UINT64}, {"i8", CV_INT64},
                 {"f4", CV_FLOAT32}, {"f8", CV_FLOAT64}};
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    if (s && strlen(s) == 3 && strchr("<>|", s[0])) {
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            if (strcmp(s + 1, types[i].code) == 0) {
                m->dtype = types[i].t;
                m->itemsize = cv_dtype_size(m->dtype);
                m->big_endian = s[0] == '>' && m->itemsize > 1;
                return CV_OK;
            }
        }
    }
    return CV_FAIL(CV_ERR_ARG,
                   "%s: dtype %s is not supported; want one of |u1 |i1 <u2 <i2 <u4 <i4 <u8 <i8 "
                   "<f4 <f8 (or > for big-endian)",
                   name, s ? s : "(not a string)");
}

/* shape (>= 0) or chunks (>= 1): integers, one per axis. */
static cv_status parse_dims(const cJSON *root, const char *key, uint64_t min, const char *name,
                            int *ndims, uint64_t out[4])
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    if (n < 1 || n > 4) {
        return CV_FAIL(CV_ERR_ARG, "%s: %s is %s; want an array of 1 to 4 integers", name, key,
                       !a      ? "missing"
                       : n < 0 ? "not an array"
                               : "of the wrong length");
    }
    if (*ndims && n != *ndims) {
        return CV_FAIL(CV_ERR_ARG, "%s: chunks has %d entries, shape %d", name, n, *ndims);
    }
    *ndims = n;
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        if (!cv__json_is_int(e) || e->valuedouble < (double)min) {
            return CV_FAIL(CV_ERR_ARG, "%s: %s[%d] is not an integer >= %llu", name, key, i,
                           (unsigned long long)min);
        }
        out[i] = (uint64_t)e->valuedouble;
    }
    return CV_OK;
}

/* fill_value: null (zeros), a number the dtype holds, or NaN/Infinity/-Infinity for floats. */
static cv_status parse_fill(const cJSON *v, const char *name, cv_zarr_meta *m)
{
    memset(m->fill, 0, sizeof m->fill);
    if (!v || cJSON_IsNull(v)) {
        return CV_OK;
    }
    bool is_float = m->dtype == CV_FLOAT32 || m->dtype == CV_FLOAT64;
    double d;
    if (cJSON_IsNumber(v)) {
        d = v->valuedouble;
    } else if (is_float && cJSON_IsString(v) && strcmp(v->valuestring, "NaN") == 0) {
        d = NAN;
    } else if (is_float && cJSON_IsString(v) && strcmp(v->valuestring, "Infinity") == 0) {
        d = INFINITY;
    } else if (is_float && cJSON_IsString(v) && strcmp(v->valuestring, "-Infinity") == 0) {
        d = -INFINITY;
    } else {
        return CV_FAIL(CV_ERR_ARG, "%s: fill_value is not a number of dtype %s", name,
                       cv_dtype_name(m->dtype));
    }
    if (is_float) {
        if (m->dtype == CV_FLOAT32) {
            float f = (float)d;
            memcpy(m->fill, &f, sizeof f);
        } else {
            memcpy(m->fill, &d, sizeof d);
        }
        return CV_OK;
    }
    static const double lo[] = {0, 0, -128, 0, -32768, 0, -2147483648.0, 0, -9223372036854775808.0};
    static const double hi[] = {0,
                                255,
                                127,
                                65535,
                                32767,
                                4294967295.0,
                                2147483647.0,
                                18446744073709551615.0,
                                9223372036854775807.0};
    if (!cv__json_is_int(v) || d < lo[m->dtype] || d > hi[m->dtype]) {
        return CV_FAIL(CV_ERR_ARG, "%s: fill_value %g does not fit dtype %s", name, d,
                       cv_dtype_name(m->dtype));
    }
    int64_t iv = (int64_t)d;
    uint64_t uv = d < 0 ? (uint64_t)iv : (uint64_t)d;
    switch (m->itemsize) {
    case 1: {
        uint8_t x = (uint8_t)uv;
        memcpy(m->fill, &x, 1);
        break;
    }
    case 2: {
        uint16_t x = (uint16_t)uv;
        memcpy(m->fill, &x, 2);
        break;
    }
    case 4: {
        uint32_t x = (uint32_t)uv;
        memcpy(m->fill, &x, 4);
        break;
    }
    default:
        memcpy(m->fill, &uv, 8);
    }
    return CV_OK;
}

static cv_status parse_compressor(const cJSON *v, const char *name, cv_zarr_meta *m)
{
    static const char *const ids[] = {NULL, "gzip", "zlib", "zstd", "blosc"};
    if (!v || cJSON_IsNull(v)) {
        m->codec = CV_ZARR_RAW;
        return CV_OK;
    }
    const cJSON *id = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "id") : NULL;
    if (!cJSON_IsString(id)) {
        return CV_FAIL(CV_ERR_ARG, "%s: compressor has no id", name);
    }
    for (int c = CV_ZARR_GZIP; c <= CV_ZARR_BLOSC; c++) {
        if (strcmp(id->valuestring, ids[c]) != 0) {
            continue;
        }
        m->codec = (cv_zarr_codec)c;
#ifndef CV_HAVE_ZSTD
        if (c == CV_ZARR_ZSTD) {
            return CV_FAIL(CV_ERR_ARG,
                           "%s: compressor zstd needs libzstd, which this build of cvmpi lacks "
                           "(rebuild with libzstd-dev)",
                           name);
        }
#endif
#ifndef CV_HAVE_BLOSC
        if (c == CV_ZARR_BLOSC) {
            return CV_FAIL(CV_ERR_ARG,
                           "%s: compressor blosc needs libblosc, which this build of cvmpi lacks "
                           "(rebuild with libblosc-dev)",
                           name);
        }
#endif
        return CV_OK;
    }
    return CV_FAIL(CV_ERR_ARG,
                   "%s: compressor %.64s is not supported; want none, gzip, zlib, zstd or blosc",
                   name, id->valuestring);
}

static cv_status parse_root(const cJSON *root, const char *name, cv_zarr_meta *m)
{
    if (!cJSON_IsObject(root)) {
        return CV_FAIL(CV_ERR_ARG, "%s is not a JSON object", name);
    }
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "zarr_format");
    if (!cJSON_IsNumber(fmt) || fmt->valuedouble != 2) {
        return CV_FAIL(CV_ERR_ARG, "%s: zarr_format is not 2 (only zarr v2 arrays are read)", name);
    }
    CV_TRY(parse_dims(root, "shape", 0, name, &m->ndims, m->shape));
    CV_TRY(parse_dims(root, "chunks", 1, name, &m->ndims, m->chunks));
    CV_TRY(parse_dtype(cJSON_GetObjectItemCaseSensitive(root, "dtype"), name, m));
    const cJSON *order = cJSON_GetObjectItemCaseSensitive(root, "order");
    if (!cJSON_IsString(order) ||
        (strcmp(order->valuestring, "C") != 0 && strcmp(order->valuestring, "F") != 0)) {
        return CV_FAIL(CV_ERR_ARG, "%s: order is not \"C\" or \"F\"", name);
    }
    m->fortran = order->valuestring[0] == 'F';
    const cJSON *filters = cJSON_GetObjectItemCaseSensitive(root, "filters");
    if (filters && !cJSON_IsNull(filters) &&
        !(cJSON_IsArray(filters) && cJSON_GetArraySize(filters) == 0)) {
        return CV_FAIL(CV_ERR_ARG, "%s: filters are not supported (want null)", name);
    }
    const cJSON *sep = cJSON_GetObjectItemCaseSensitive(root, "dimension_separator");
    m->separator = '.';
    if (sep && !cJSON_IsNull(sep)) {
        if (!cJSON_IsString(sep) ||
            (strcmp(sep->valuestring, ".") != 0 && strcmp(sep->valuestring, "/") != 0)) {
            return CV_FAIL(CV_ERR_ARG, "%s: dimension_separator is not \".\" or \"/\"", name);
        }
        m->separator = sep->valuestring[0];
    }
    CV_TRY(parse_compressor(cJSON_GetObjectItemCaseSensitive(root, "compressor"), name, m));
    CV_TRY(parse_fill(cJSON_GetObjectItemCaseSensitive(root, "fill_value"), name, m));
    uint64_t bytes = m->itemsize;
    for (int i = 0; i < m->ndims; i++) {
        if (!cv__mul_u64(bytes, m->chunks[i], &bytes) || bytes > CV_ZARR_CHUNK_MAX) {
            return CV_FAIL(CV_ERR_ARG, "%s: chunks of more than %llu bytes are not supported", name,
                           (unsigned long long)CV_ZARR_CHUNK_MAX);
        }
        m->grid[i] = m->shape[i] / m->chunks[i] + (m->shape[i] % m->chunks[i] != 0);
    }
    m->chunk_bytes = bytes;
    for (int i = m->ndims; i < 4; i++) {
        m->shape[i] = m->chunks[i] = m->grid[i] = 1;
    }
    return CV_OK;
}

cv_status cv__zarr_parse(const char *text, size_t len, const char *name, cv_zarr_meta *out)
{
    memset(out, 0, sizeof *out);
    cJSON *root = NULL;
    cv_status rc = cv__json_parse(text, len, name, &root);
    if (rc == CV_OK) {
        rc = parse_root(root, name, out);
    }
    cJSON_Delete(root);
    return rc;
}

uint64_t cv__zarr_stored_max(const cv_zarr_meta *m)
{
    return m->codec == CV_ZARR_RAW ? m->chunk_bytes : m->chunk_bytes + m->chunk_bytes / 8 + 65536;
}

void cv__zarr_fill(const cv_zarr_meta *m, uint8_t *dst)
{
    for (uint64_t i = 0; i < m->chunk_bytes; i += m->itemsize) {
        memcpy(dst + i, m->fill, m->itemsize);
    }
}

static void swap_bytes(uint8_t *p, uint64_t n, size_t es)
{
    for (uint64_t i = 0; i + es <= n; i += es) {
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            uint8_t t = p[i + a];
            p[i + a] = p[i + b];
            p[i + b] = t;
        }
    }
}

static cv_status deflate_decode(const cv_zarr_meta *m, const uint8_t *src, size_t n, uint8_t *dst,
                                const char *name)
{
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    if (!d) {
        return CV_FAIL(CV_ERR_NOMEM, "%s: a %s decompressor", name, cv__zarr_codec_name(m->codec));
    }
    size_t got = 0;
    enum libdeflate_result r =
        m->codec == CV_ZARR_GZIP
            ? libdeflate_gzip_decompress(d, src, n, dst, (size_t)m->chunk_bytes, &got)
            : libdeflate_zlib_decompress(d, src, n, dst, (size_t)m->chunk_bytes, &got);
    libdeflate_free_decompressor(d);
    if (r == LIBDEFLATE_INSUFFICIENT_SPACE || (r == LIBDEFLATE_SUCCESS && got != m->chunk_bytes)) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: %s stream decodes to %s %llu bytes, want %llu", name,
                       cv__zarr_codec_name(m->codec), r == LIBDEFLATE_SUCCESS ? "" : "more than",
                       (unsigned long long)(r == LIBDEFLATE_SUCCESS ? got : m->chunk_bytes),
                       (unsigned long long)m->chunk_bytes);
    }
    if (r != LIBDEFLATE_SUCCESS) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: %s stream is corrupt or cut short", name,
                       cv__zarr_codec_name(m->codec));
    }
    return CV_OK;
}

#ifdef CV_HAVE_ZSTD
static cv_status zstd_decode(const cv_zarr_meta *m, const uint8_t *src, size_t n, uint8_t *dst,
                             const char *name)
{
    size_t got = ZSTD_decompress(dst, (size_t)m->chunk_bytes, src, n);
    if (ZSTD_isError(got)) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: zstd stream is corrupt, cut short or too large: %s",
                       name, ZSTD_getErrorName(got));
    }
    if (got != m->chunk_bytes) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: zstd stream decodes to %zu bytes, want %llu", name, got,
                       (unsigned long long)m->chunk_bytes);
    }
    return CV_OK;
}
#endif

#ifdef CV_HAVE_BLOSC
static cv_status blosc_decode(const cv_zarr_meta *m, const uint8_t *src, size_t n, uint8_t *dst,
                              const char *name)
{
    size_t nbytes = 0, cbytes = 0, block = 0;
    /* blosc's own header check: sizes consistent with the buffer before anything is decoded */
    if (n < 16 || blosc_cbuffer_validate(src, n, &nbytes) != 0) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: not a blosc stream, or cut short (%zu bytes)", name, n);
    }
    blosc_cbuffer_sizes(src, &nbytes, &cbytes, &block);
    if (nbytes != m->chunk_bytes || cbytes > n) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "%s: blosc header says %zu bytes decoded (want %llu) from %zu stored "
                       "(the file has %zu)",
                       name, nbytes, (unsigned long long)m->chunk_bytes, cbytes, n);
    }
    int got = blosc_decompress_ctx(src, dst, (size_t)m->chunk_bytes, 1);
    if (got < 0 || (uint64_t)got != m->chunk_bytes) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: blosc stream is corrupt (error %d)", name, got);
    }
    return CV_OK;
}
#endif

cv_status cv__zarr_decode(const cv_zarr_meta *m, const uint8_t *src, size_t n, uint8_t *dst,
                          const char *name)
{
    cv_status rc = CV_ERR_ARG;
    switch (m->codec) {
    case CV_ZARR_RAW:
        if (n != m->chunk_bytes) {
            return CV_FAIL(CV_ERR_CORRUPT, "%s has %zu bytes; an uncompressed chunk has %llu", name,
                           n, (unsigned long long)m->chunk_bytes);
        }
        memcpy(dst, src, n);
        rc = CV_OK;
        break;
    case CV_ZARR_GZIP:
    case CV_ZARR_ZLIB:
        rc = deflate_decode(m, src, n, dst, name);
        break;
    case CV_ZARR_ZSTD:
#ifdef CV_HAVE_ZSTD
        rc = zstd_decode(m, src, n, dst, name);
#else
        rc = CV_FAIL(CV_ERR_ARG, "%s: zstd is not in this build", name);
#endif
        break;
    case CV_ZARR_BLOSC:
#ifdef CV_HAVE_BLOSC
        rc = blosc_decode(m, src, n, dst, name);
#else
        rc = CV_FAIL(CV_ERR_ARG, "%s: blosc is not in this build", name);
#endif
        break;
    }
    if (rc == CV_OK && m->big_endian) {
        swap_bytes(dst, m->chunk_bytes, m->itemsize);
    }
    return rc;
}

bool cv__zarr_chunk_key(const cv_zarr_meta *m, const uint64_t idx[4], char *buf, size_t cap)
{
    size_t len = 0;
    for (int i = 0; i < m->ndims; i++) {
        int w =
            i ? snprintf(buf + len, cap - len, "%c%llu", m->separator, (unsigned long long)idx[i])
              : snprintf(buf + len, cap - len, "%llu", (unsigned long long)idx[i]);
        if (w < 0 || (size_t)w >= cap - len) {
            return false;
        }
        len += (size_t)w;
    }
    return true;
}

void cv__zarr_chunk_strides(const cv_zarr_meta *m, uint64_t st[4])
{
    uint64_t s = 1;
    for (int k = 0; k < 4; k++) {
        int i = m->fortran ? k : 3 - k; /* fastest first */
        if (i >= m->ndims) {
            st[i] = 0;
            continue;
        }
        st[i] = s;
        s *= m->chunks[i];
    }
}
