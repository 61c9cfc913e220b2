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

static cv_status codec_by_id(const char *id, const char *name, cv_zarr_meta *m);

static cv_status parse_compressor(const cJSON *v, const char *name, cv_zarr_meta *m)
{
    if (!v || cJSON_IsNull(v)) {
        m->codec = CV_ZARR_RAW;
        return CV_OK;
    }
    const cJSON *id = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "id") : NULL;
    if (!cJSON_IsString(id)) {
        return CV_FAIL(CV_ERR_ARG, "%s: compressor has no id", name);
    }
    return codec_by_id(id->valuestring, name, m);
}

/* A compressor by its numcodecs id, refused when this build lacks its library. */
static cv_status codec_by_id(const char *id, const char *name, cv_zarr_meta *m)
{
    static const char *const ids[] = {NULL, "gzip", "zlib", "zstd", "blosc"};
    for (int c = CV_ZARR_GZIP; c <= CV_ZARR_BLOSC; c++) {
        if (strcmp(id, ids[c]) != 0) {
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
                   name, id);
}

static cv_status finish(cv_zarr_meta *m, const char *name);

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
    return finish(m, name);
}

/* The decoded chunk size (bounded) and the chunk grid; unused axes become 1. */
static cv_status finish(cv_zarr_meta *m, const char *name)
{
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

/* N5's attributes.json: dimensions and blockSize x first, dataType by name, compression
 * {"type": raw|gzip (useZlib)|zstd|blosc} or the older compressionType; always big-endian. */
static cv_status parse_n5_root(const cJSON *root, const char *name, cv_zarr_meta *m)
{
    static const char *const types[] = {"uint8", "int8",   "uint16", "int16",   "uint32",
                                        "int32", "uint64", "int64",  "float32", "float64"};
    if (!cJSON_IsObject(root)) {
        return CV_FAIL(CV_ERR_ARG, "%s is not a JSON object", name);
    }
    uint64_t dims[4], block[4];
    CV_TRY(parse_dims(root, "dimensions", 0, name, &m->ndims, dims));
    CV_TRY(parse_dims(root, "blockSize", 1, name, &m->ndims, block));
    for (int i = 0; i < m->ndims; i++) {
        m->shape[i] = dims[m->ndims - 1 - i];
        m->chunks[i] = block[m->ndims - 1 - i];
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "dataType");
    for (size_t i = 0; cJSON_IsString(t) && i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(t->valuestring, types[i]) == 0) {
            m->dtype = cv_dtype_from_name(types[i]);
        }
    }
    if (m->dtype == CV_DTYPE_INVALID) {
        return CV_FAIL(CV_ERR_ARG,
                       "%s: dataType %s is not supported; want uint8..uint64, "
                       "int8..int64, float32 or float64",
                       name, cJSON_IsString(t) ? t->valuestring : "(not a string)");
    }
    m->itemsize = cv_dtype_size(m->dtype);
    m->big_endian = m->itemsize > 1;
    m->n5 = true;
    m->separator = '/';
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "compression");
    const cJSON *type = cJSON_IsObject(c)
                            ? cJSON_GetObjectItemCaseSensitive(c, "type")
                            : cJSON_GetObjectItemCaseSensitive(root, "compressionType");
    const char *codec = cJSON_IsString(type) ? type->valuestring : NULL;
    if (codec && strcmp(codec, "raw") == 0) {
        m->codec = CV_ZARR_RAW;
    } else if (codec && strcmp(codec, "gzip") == 0) {
        const cJSON *z = cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "useZlib") : NULL;
        m->codec = cJSON_IsTrue(z) ? CV_ZARR_ZLIB : CV_ZARR_GZIP;
    } else if (codec && (strcmp(codec, "zstd") == 0 || strcmp(codec, "blosc") == 0)) {
        CV_TRY(codec_by_id(codec, name, m));
    } else {
        return CV_FAIL(CV_ERR_ARG,
                       "%s: compression %.64s is not supported; want raw, gzip, zstd or blosc",
                       name, codec ? codec : "(none given)");
    }
    return finish(m, name);
}

cv_status cv__n5_parse(const char *text, size_t len, const char *name, cv_zarr_meta *out)
{
    memset(out, 0, sizeof *out);
    cJSON *root = NULL;
    cv_status rc = cv__json_parse(text, len, name, &root);
    if (rc == CV_OK) {
        rc = parse_n5_root(root, name, out);
    }
    cJSON_Delete(root);
    return rc;
}

uint64_t cv__zarr_stored_max(const cv_zarr_meta *m)
{
    uint64_t head = m->n5 ? 4 + 4 * (uint64_t)m->ndims : 0;
    return head +
           (m->codec == CV_ZARR_RAW ? m->chunk_bytes : m->chunk_bytes + m->chunk_bytes / 8 + 65536);
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
                                uint64_t want, const char *name)
{
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    if (!d) {
        return CV_FAIL(CV_ERR_NOMEM, "%s: a %s decompressor", name, cv__zarr_codec_name(m->codec));
    }
    size_t got = 0;
    enum libdeflate_result r = m->codec == CV_ZARR_GZIP
                                   ? libdeflate_gzip_decompress(d, src, n, dst, (size_t)want, &got)
                                   : libdeflate_zlib_decompress(d, src, n, dst, (size_t)want, &got);
    libdeflate_free_decompressor(d);
    if (r == LIBDEFLATE_INSUFFICIENT_SPACE || (r == LIBDEFLATE_SUCCESS && got != want)) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: %s stream decodes to %s%llu bytes, want %llu", name,
                       cv__zarr_codec_name(m->codec), r == LIBDEFLATE_SUCCESS ? "" : "more than ",
                       (unsigned long long)(r == LIBDEFLATE_SUCCESS ? got : want),
                       (unsigned long long)want);
    }
    if (r != LIBDEFLATE_SUCCESS) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: %s stream is corrupt or cut short", name,
                       cv__zarr_codec_name(m->codec));
    }
    return CV_OK;
}

#ifdef CV_HAVE_ZSTD
static cv_status zstd_decode(const uint8_t *src, size_t n, uint8_t *dst, uint64_t want,
                             const char *name)
{
    size_t got = ZSTD_decompress(dst, (size_t)want, src, n);
    if (ZSTD_isError(got)) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: zstd stream is corrupt, cut short or too large: %s",
                       name, ZSTD_getErrorName(got));
    }
    if (got != want) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: zstd stream decodes to %zu bytes, want %llu", name, got,
                       (unsigned long long)want);
    }
    return CV_OK;
}
#endif

#ifdef CV_HAVE_BLOSC
static cv_status blosc_decode(const uint8_t *src, size_t n, uint8_t *dst, uint64_t want,
                              const char *name)
{
    size_t nbytes = 0, cbytes = 0, block = 0;
    /* blosc's own header check: sizes consistent with the buffer before anything is decoded */
    if (n < 16 || blosc_cbuffer_validate(src, n, &nbytes) != 0) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: not a blosc stream, or cut short (%zu bytes)", name, n);
    }
    blosc_cbuffer_sizes(src, &nbytes, &cbytes, &block);
    if (nbytes != want || cbytes > n) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "%s: blosc header says %zu bytes decoded (want %llu) from %zu stored "
                       "(the file has %zu)",
                       name, nbytes, (unsigned long long)want, cbytes, n);
    }
    int got = blosc_decompress_ctx(src, dst, (size_t)want, 1);
    if (got < 0 || (uint64_t)got != want) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: blosc stream is corrupt (error %d)", name, got);
    }
    return CV_OK;
}
#endif

/* The stored bytes of one chunk decoded to exactly `want` bytes (native byte order). */
static cv_status decode_payload(const cv_zarr_meta *m, const uint8_t *src, size_t n, uint8_t *dst,
                                uint64_t want, const char *name)
{
    cv_status rc = CV_ERR_ARG;
    switch (m->codec) {
    case CV_ZARR_RAW:
        if (n != want) {
            return CV_FAIL(CV_ERR_CORRUPT, "%s has %zu bytes; an uncompressed chunk has %llu", name,
                           n, (unsigned long long)want);
        }
        memcpy(dst, src, n);
        rc = CV_OK;
        break;
    case CV_ZARR_GZIP:
    case CV_ZARR_ZLIB:
        rc = deflate_decode(m, src, n, dst, want, name);
        break;
    case CV_ZARR_ZSTD:
#ifdef CV_HAVE_ZSTD
        rc = zstd_decode(src, n, dst, want, name);
#else
        rc = CV_FAIL(CV_ERR_ARG, "%s: zstd is not in this build", name);
#endif
        break;
    case CV_ZARR_BLOSC:
#ifdef CV_HAVE_BLOSC
        rc = blosc_decode(src, n, dst, want, name);
#else
        rc = CV_FAIL(CV_ERR_ARG, "%s: blosc is not in this build", name);
#endif
        break;
    }
    if (rc == CV_OK && m->big_endian) {
        swap_bytes(dst, want, m->itemsize);
    }
    return rc;
}

/* An N5 block: a header (mode, dimensions, the block's own size along each, x first; all
 * big-endian), then its elements x fastest over that size, placed into the chunk's layout. */
static cv_status n5_decode(const cv_zarr_meta *m, const uint8_t *src, size_t n, uint8_t *dst,
                           uint8_t *tmp, const char *name)
{
    int nd = m->ndims;
    size_t head = 4 + 4 * (size_t)nd;
    if (n < head) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: N5 block header cut short (%zu bytes)", name, n);
    }
    unsigned mode = (unsigned)src[0] << 8 | src[1], dims = (unsigned)src[2] << 8 | src[3];
    if (mode != 0 || dims != (unsigned)nd) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "%s: N5 block header has mode %u and %u dimensions; want mode 0 "
                       "(default) and %d",
                       name, mode, dims, nd);
    }
    uint64_t size[4] = {1, 1, 1, 1}, bytes = m->itemsize;
    for (int k = 0; k < nd; k++) { /* k: N5's axis k (x first) is the array's axis nd-1-k */
        const uint8_t *p = src + 4 + 4 * k;
        size[k] = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
        if (size[k] < 1 || size[k] > m->chunks[nd - 1 - k]) {
            return CV_FAIL(
                CV_ERR_CORRUPT, "%s: N5 block size %llu along axis %d is not 1..%llu (blockSize)",
                name, (unsigned long long)size[k], k, (unsigned long long)m->chunks[nd - 1 - k]);
        }
        bytes *= size[k];
    }
    CV_TRY(decode_payload(m, src + head, n - head, tmp, bytes, name));
    cv__zarr_fill(m, dst);
    /* x fastest in both; the chunk is blockSize wide, the block may be narrower at the edges */
    size_t es = m->itemsize, row = (size_t)(size[0] * es);
    uint64_t full[4] = {1, 1, 1, 1};
    for (int k = 0; k < nd; k++) {
        full[k] = m->chunks[nd - 1 - k];
    }
    const uint8_t *from = tmp;
    for (uint64_t c = 0; c < size[3]; c++) {
        for (uint64_t b = 0; b < size[2]; b++) {
            for (uint64_t a = 0; a < size[1]; a++, from += row) {
                uint64_t at = ((c * full[2] + b) * full[1] + a) * full[0];
                memcpy(dst + at * es, from, row);
            }
        }
    }
    return CV_OK;
}

cv_status cv__zarr_decode(const cv_zarr_meta *m, const uint8_t *src, size_t n, uint8_t *dst,
                          uint8_t *tmp, const char *name)
{
    return m->n5 ? n5_decode(m, src, n, dst, tmp, name)
                 : decode_payload(m, src, n, dst, m->chunk_bytes, name);
}

bool cv__zarr_chunk_key(const cv_zarr_meta *m, const uint64_t idx[4], char *buf, size_t cap)
{
    size_t len = 0;
    for (int k = 0; k < m->ndims; k++) {
        int i = m->n5 ? m->ndims - 1 - k : k; /* N5 lists x first */
        int w =
            k ? snprintf(buf + len, cap - len, "%c%llu", m->separator, (unsigned long long)idx[i])
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
