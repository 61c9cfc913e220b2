/* SPDX-License-Identifier: BSD-3-Clause
 * npy.c: the NumPy .npy header (format 1.0 written; 1.0, 2.0 and 3.0 read), so cutouts can be
 * loaded with numpy.load and arrays saved with numpy.save can be written to a layer. */
#include "base/cv_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    cv_dtype t;
    const char *descr;
} descrs[] = {
    {CV_UINT8, "|u1"},   {CV_INT8, "|i1"},    {CV_UINT16, "<u2"}, {CV_INT16, "<i2"},
    {CV_UINT32, "<u4"},  {CV_INT32, "<i4"},   {CV_UINT64, "<u8"}, {CV_INT64, "<i8"},
    {CV_FLOAT32, "<f4"}, {CV_FLOAT64, "<f8"},
};

size_t cv_npy_format_header(cv_dtype t, const int64_t shape[4], char *buf, size_t cap)
{
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++) {
        if (descrs[i].t == t) {
            descr = descrs[i].descr;
        }
    }
    if (!descr) {
        return 0;
    }
    /* As np.save: an array that is also C-contiguous (at most one axis longer than 1, or
     * empty) is marked C order, which describes the same bytes. */
    int long_axes = 0;
    bool empty = false;
    for (int d = 0; d < 4; d++) {
        long_axes += shape[d] > 1;
        empty = empty || shape[d] == 0;
    }
    bool fortran = long_axes > 1 && !empty;
    char dict[256];
    int n = snprintf(dict, sizeof dict,
                     "{'descr': '%s', 'fortran_order': %s, 'shape': (%" PRId64 ", %" PRId64
                     ", %" PRId64 ", %" PRId64 "), }",
                     descr, fortran ? "True" : "False", shape[0], shape[1], shape[2], shape[3]);
    /* numpy (>= 1.23) leaves room for the growth axis (the last in Fortran order, else the
     * first) to reach 21 digits, so the header can be rewritten in place. */
    char digits[24];
    int g = snprintf(digits, sizeof digits, "%" PRId64, shape[fortran ? 3 : 0]);
    size_t spare = g < 21 ? (size_t)(21 - g) : 0;
    /* magic(6) + version(2) + length(2) + dict + padding + '\n', a multiple of 64 */
    size_t total = 10 + (size_t)n + spare + 1;
    total = (total + 63) / 64 * 64;
    if (n < 0 || total > cap || total - 10 > 65535) {
        return 0;
    }
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((total - 10) & 0xff);
    buf[9] = (char)((total - 10) >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', total - 10 - (size_t)n - 1);
    buf[total - 1] = '\n';
    return total;
}

static cv_status bad(const char *what, const char *why)
{
    return CV_FAIL(CV_ERR_CORRUPT, "read `%s': not a usable .npy file: %s", what, why);
}

/* Find "'key':" in the header dict and return the text after it. */
static const char *dict_value(const char *dict, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s':", key);
    const char *p = strstr(dict, pat);
    if (!p) {
        return NULL;
    }
    p += strlen(pat);
    while (*p == ' ') {
        p++;
    }
    return p;
}

cv_status cv_npy_parse_header(const uint8_t *p, size_t n, const char *what, cv_npy *out)
{
    if (n < 10 || memcmp(p, "\x93NUMPY", 6) != 0) {
        return bad(what, "no \\x93NUMPY magic");
    }
    size_t hlen, start;
    if (p[6] == 1) {
        hlen = (size_t)p[8] | (size_t)p[9] << 8;
        start = 10;
    } else if (p[6] == 2 || p[6] == 3) {
        if (n < 12) {
            return bad(what, "truncated header");
        }
        hlen = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
        start = 12;
    } else {
        return bad(what, "unknown format version");
    }
    if (hlen > 1 << 20 || start + hlen > n) {
        return bad(what, "truncated header");
    }
    char *dict = cv__strndup((const char *)p + start, hlen);
    if (!dict) {
        return CV_FAIL(CV_ERR_NOMEM, "npy header");
    }
    cv_npy h;
    memset(&h, 0, sizeof h);
    cv_status rc = CV_OK;
    const char *d = dict_value(dict, "descr");
    if (!d || *d != '\'') {
        rc = bad(what, "no descr");
    } else {
        for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++) {
            const char *want = descrs[i].descr;
            /* '<u1' and '|u1' both mean one byte. */
            if (strncmp(d + 1, want, 3) == 0 && d[4] == '\'') {
                h.dtype = descrs[i].t;
            } else if (want[0] == '|' && d[1] == '<' && strncmp(d + 2, want + 1, 2) == 0 &&
                       d[4] == '\'') {
                h.dtype = descrs[i].t;
            }
        }
        if (h.dtype == CV_DTYPE_INVALID) {
            rc = bad(what, "unsupported dtype (want little-endian u/int8-64 or float32/64)");
        }
    }
    const char *f = rc == CV_OK ? dict_value(dict, "fortran_order") : NULL;
    if (rc == CV_OK && !f) {
        rc = bad(what, "no fortran_order");
    } else if (rc == CV_OK) {
        h.fortran_order = strncmp(f, "True", 4) == 0;
    }
    const char *s = rc == CV_OK ? dict_value(dict, "shape") : NULL;
    if (rc == CV_OK && (!s || *s != '(')) {
        rc = bad(what, "no shape");
    }
    if (rc == CV_OK) {
        s++;
        for (;;) {
            while (*s == ' ' || *s == ',') {
                s++;
            }
            if (*s == ')') {
                break;
            }
            char *end;
            long long v = strtoll(s, &end, 10);
            if (end == s || v < 0 || h.ndim == 4) {
                rc = bad(what, "shape must be (X, Y, Z) or (X, Y, Z, C)");
                break;
            }
            h.shape[h.ndim++] = v;
            s = end;
        }
        if (rc == CV_OK && h.ndim < 3) {
            rc = bad(what, "shape must be (X, Y, Z) or (X, Y, Z, C)");
        }
        if (h.ndim == 3) {
            h.shape[3] = 1;
        }
    }
    cv_free(dict);
    if (rc != CV_OK) {
        return rc;
    }
    h.data_offset = start + hlen;
    *out = h;
    return CV_OK;
}

/* A C-order array seen one y at a time is a matrix of X rows of Z*C elements (z, then
 * channel) to be stored transposed, x fastest. Element by element, each store lands X*Y
 * elements after the previous one, a cache miss each: so the matrix is copied in tiles of TX
 * rows by TK elements, whose source rows and destination rows both stay in cache (sizes
 * measured best on a 512x512x128 array). One function per element size, so that each
 * element's copy is a single load and store. */
#define CV_NPY_TRANSPOSE(NAME, SIZE, TX, TK)                                                       \
    static void NAME(const uint8_t *data, uint8_t *out, size_t X, size_t Y, size_t Z, size_t C)    \
    {                                                                                              \
        size_t K = Z * C;                                                                          \
        for (size_t y = 0; y < Y; y++) {                                                           \
            for (size_t x0 = 0; x0 < X; x0 += (TX)) {                                              \
                size_t x1 = X - x0 < (TX) ? X : x0 + (TX);                                         \
                for (size_t k0 = 0; k0 < K; k0 += (TK)) {                                          \
                    size_t k1 = K - k0 < (TK) ? K : k0 + (TK);                                     \
                    for (size_t k = k0; k < k1; k++) {                                             \
                        size_t z = k / C, c = k % C;                                               \
                        uint8_t *to = out + X * (y + Y * (z + Z * c)) * (SIZE);                    \
                        const uint8_t *from = data + (y * K + k) * (SIZE);                         \
                        for (size_t x = x0; x < x1; x++) {                                         \
                            memcpy(to + x * (SIZE), from + x * Y * K * (SIZE), (SIZE));            \
                        }                                                                          \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
CV_NPY_TRANSPOSE(transpose_1, 1, 8, 128)
CV_NPY_TRANSPOSE(transpose_2, 2, 16, 64)
CV_NPY_TRANSPOSE(transpose_4, 4, 32, 32)
CV_NPY_TRANSPOSE(transpose_8, 8, 32, 32)
#undef CV_NPY_TRANSPOSE

void cv_npy_to_xyzc(const cv_npy *h, const uint8_t *data, uint8_t *out)
{
    size_t elem = cv_dtype_size(h->dtype);
    size_t X = (size_t)h->shape[0], Y = (size_t)h->shape[1], Z = (size_t)h->shape[2],
           C = (size_t)h->shape[3];
    if (X == 0 || Y == 0 || Z == 0 || C == 0) {
        return; /* empty: the loops below would still walk the other, maybe huge, axes */
    }
    if (h->fortran_order) {
        memcpy(out, data, X * Y * Z * C * elem);
        return;
    }
    switch (elem) {
    case 1:
        transpose_1(data, out, X, Y, Z, C);
        break;
    case 2:
        transpose_2(data, out, X, Y, Z, C);
        break;
    case 4:
        transpose_4(data, out, X, Y, Z, C);
        break;
    case 8:
        transpose_8(data, out, X, Y, Z, C);
        break;
    default: /* every dtype has one of the sizes above */
        break;
    }
}
