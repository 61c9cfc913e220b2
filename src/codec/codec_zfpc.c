/* SPDX-License-Identifier: BSD-3-Clause
 * codec_zfpc.c: CloudVolume's "zfpc" encoding, seung-lab/zfpc 0.1.2's container around zfp
 * streams written as zfpy 1.0.0 writes them, through libzfp (Debian libzfp-dev 1.0.0).
 *   header(23): "zfpc", version 0, dtype|mode<<3|c_order<<7, u32 nx ny nz nw, correlated bits
 *   index: u64 offset of the first stream, then one u64 size per stream
 *   streams: one zfp stream (full zfp header) per position of the uncorrelated axes, in
 *   Fortran order; each holds the slice over the correlated axes, zfp's x = the last of them.
 * Parameters come from the scale (zfpc_rate, zfpc_precision, zfpc_tolerance,
 * zfpc_correlated_dims); with none set, one lossless (reversible) stream. Decoding gives what
 * zfpc.decompress() gives CloudVolume: float32 values (whatever the stream type), then cast to
 * the layer's type. libzfp's decoder has no end-of-buffer check, so every stream is decoded
 * from a zero-padded copy at least as long as the most bits the decoder can read for its
 * header's shape and mode, and a stream that needed more bits than it has is refused. */
#include "codec/codec.h"

#include "base/checked.h"
#include "base/json_py.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <zfp.h>

#define ZFPC_HEADER 23

static const char *const axis_names[4] = {"x", "y", "z", "channel"};

cv_zfpc_params cv__zfpc_params_default(void)
{
    cv_zfpc_params p = {-1, -1, -1, {true, true, true, true}};
    return p;
}

static cv_status number_member(const cJSON *o, const char *key, double lo, double hi, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        return CV_OK;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
        return CV_FAIL(CV_ERR_INFO, "zfpc: scale member %s must be a number from %g to %g", key, lo,
                       hi);
    }
    *out = v->valuedouble;
    return CV_OK;
}

cv_status cv__zfpc_params_parse(const char *scale_extra, cv_zfpc_params *out)
{
    cv_zfpc_params p = cv__zfpc_params_default();
    if (!scale_extra) {
        *out = p;
        return CV_OK;
    }
    cJSON *o = cJSON_Parse(scale_extra);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return CV_FAIL(CV_ERR_NOMEM, "zfpc: scale parameters");
    }
    /* zfpy takes the precision as a C int, and a rate above 64 bits per value is more than
     * any type has: both bounds keep libzfp's own arithmetic in range. */
    cv_status rc = number_member(o, "zfpc_rate", -1e300, 64, &p.rate);
    if (rc == CV_OK) {
        rc = number_member(o, "zfpc_precision", INT_MIN, INT_MAX, &p.precision);
    }
    if (rc == CV_OK) {
        rc = number_member(o, "zfpc_tolerance", -1e300, 1e300, &p.tolerance);
    }
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(o, "zfpc_correlated_dims");
    if (rc == CV_OK && dims && !cJSON_IsNull(dims)) {
        bool any = false;
        bool ok = cJSON_IsArray(dims) && cJSON_GetArraySize(dims) == 4;
        for (int i = 0; ok && i < 4; i++) {
            const cJSON *b = cJSON_GetArrayItem(dims, i);
            ok = cJSON_IsBool(b);
            p.correlated[i] = ok && cJSON_IsTrue(b);
            any = any || p.correlated[i];
        }
        if (!ok) {
            rc = CV_FAIL(CV_ERR_INFO,
                         "zfpc: scale member zfpc_correlated_dims must be 4 booleans (x, y, z, "
                         "channel)");
        } else if (!any) {
            rc = CV_FAIL(CV_ERR_INFO,
                         "zfpc: zfpc_correlated_dims has no correlated axis (a stream per voxel)");
        }
    }
    cJSON_Delete(o);
    if (rc == CV_OK) {
        *out = p;
    }
    return rc;
}

/* ---- shapes ------------------------------------------------------------------------------ */

static int dtype_code(cv_dtype t)
{
    switch (t) {
    case CV_INT32:
        return 1;
    case CV_INT64:
        return 2;
    case CV_FLOAT32:
        return 3;
    case CV_FLOAT64:
        return 4;
    default:
        return 0;
    }
}

static zfp_type zfp_type_of(cv_dtype t)
{
    switch (t) {
    case CV_INT32:
        return zfp_type_int32;
    case CV_INT64:
        return zfp_type_int64;
    case CV_FLOAT32:
        return zfp_type_float;
    default:
        return zfp_type_double;
    }
}

static cv_status desc_check(const cv_chunk_desc *d)
{
    if (!dtype_code(d->dtype)) {
        const char *t = cv_dtype_name(d->dtype);
        return CV_FAIL(CV_ERR_ARG, "zfpc: data type %s is not int32, int64, float32 or float64",
                       t ? t : "(invalid)");
    }
    if (!d->shape[0] || !d->shape[1] || !d->shape[2] || !d->channels ||
        cv__chunk_desc_bytes(d) == SIZE_MAX) {
        return CV_FAIL(CV_ERR_ARG, "zfpc: chunk %ux%ux%u x %u channels is empty or too large",
                       d->shape[0], d->shape[1], d->shape[2], d->channels);
    }
    return CV_OK;
}

/* One stream's slice: the correlated axes, numpy order, and where it starts in the chunk. */
typedef struct slice_geom {
    int ndim;
    int axis[4];          /* kept axes, ascending (numpy order) */
    size_t size[4];       /* their sizes */
    ptrdiff_t stride[4];  /* their element strides in the x-fastest chunk */
    size_t count;         /* elements in the slice */
    size_t n_streams;     /* positions of the uncorrelated axes */
    uint64_t full[4];     /* chunk sizes x, y, z, channel */
    ptrdiff_t fstride[4]; /* element strides of the chunk */
} slice_geom;

static void geom_init(const uint64_t full[4], const bool correlated[4], slice_geom *g)
{
    memset(g, 0, sizeof *g);
    g->count = 1;
    g->n_streams = 1;
    ptrdiff_t s = 1;
    for (int a = 0; a < 4; a++) {
        g->full[a] = full[a];
        g->fstride[a] = s;
        s *= (ptrdiff_t)full[a];
        if (correlated[a]) {
            g->axis[g->ndim] = a;
            g->size[g->ndim] = (size_t)full[a];
            g->stride[g->ndim] = g->fstride[a];
            g->ndim++;
            g->count *= (size_t)full[a];
        } else {
            g->n_streams *= (size_t)full[a];
        }
    }
}

/* Element offset of stream k: k counts the uncorrelated axes in Fortran order. */
static size_t stream_base(const slice_geom *g, const bool correlated[4], size_t k)
{
    size_t base = 0;
    for (int a = 0; a < 4; a++) {
        if (!correlated[a]) {
            base += (k % (size_t)g->full[a]) * (size_t)g->fstride[a];
            k /= (size_t)g->full[a];
        }
    }
    return base;
}

/* A zfp field over the slice at `data`: zfp's nx is the last numpy axis (zfpy's _init_field). */
static zfp_field *slice_field(const slice_geom *g, zfp_type type, void *data)
{
    const size_t *n = g->size;
    const ptrdiff_t *s = g->stride;
    zfp_field *f = NULL;
    switch (g->ndim) {
    case 1:
        f = zfp_field_1d(data, type, n[0]);
        if (f) {
            zfp_field_set_stride_1d(f, s[0]);
        }
        break;
    case 2:
        f = zfp_field_2d(data, type, n[1], n[0]);
        if (f) {
            zfp_field_set_stride_2d(f, s[1], s[0]);
        }
        break;
    case 3:
        f = zfp_field_3d(data, type, n[2], n[1], n[0]);
        if (f) {
            zfp_field_set_stride_3d(f, s[2], s[1], s[0]);
        }
        break;
    default:
        f = zfp_field_4d(data, type, n[3], n[2], n[1], n[0]);
        if (f) {
            zfp_field_set_stride_4d(f, s[3], s[2], s[1], s[0]);
        }
        break;
    }
    return f;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

/* ---- stream sizes ------------------------------------------------------------------------ */

/* Bits a block may spend before libzfp 1.0 applies maxbits: a float block's exponent (1 + 8,
 * double 1 + 11), and in reversible mode a flag bit and the precision (5 bits, 64-bit types 6),
 * as zfp_stream_maximum_size() counts them. The values are then coded with maxbits minus those
 * bits, an unsigned difference that wraps to no limit when maxbits is smaller: a zfpc_rate
 * under 9 bits a float32 block (zfpy's zfp_stream_set_rate with zfp_type_none allows it), or
 * an expert-mode header asking for reversible blocks of a few bits. */
static unsigned prefix_bits(zfp_type t)
{
    switch (t) {
    case zfp_type_int32:
        return 5;
    case zfp_type_int64:
        return 6;
    case zfp_type_float:
        return 1 + 1 + 8 + 5;
    default:
        return 1 + 1 + 11 + 6;
    }
}

/* The most bits libzfp 1.0 writes or reads for one block of `values` values of an integer
 * precision `intprec` (decode_ints: each bit plane reads at most 2 * values + 1 bits), plus
 * 64 for the block's exponent and reversible-mode prefix; never more than maxbits when zfp
 * honours it, never less than minbits (the decoder skips to it). */
static uint64_t block_bits_bound(unsigned values, unsigned intprec, unsigned minbits,
                                 unsigned maxbits, unsigned prefix)
{
    uint64_t b = 64 + (uint64_t)intprec * (2 * (uint64_t)values + 1);
    if (maxbits >= prefix && b > maxbits) {
        b = maxbits;
    }
    return b < minbits ? minbits : b;
}

/* The most bytes a stream of slice `g` in type `t` under stream `zs`'s mode can take, after
 * `header_bits` of header (plus slack for the reader's word); false when that overflows. */
static bool stream_bytes_bound(const slice_geom *g, zfp_type t, zfp_stream *zs,
                               uint64_t header_bits, size_t *bytes)
{
    unsigned minbits, maxbits, maxprec;
    int minexp;
    zfp_stream_params(zs, &minbits, &maxbits, &maxprec, &minexp);
    const unsigned values = 1u << (2 * g->ndim);
    const unsigned intprec =
        (unsigned)(CHAR_BIT * (t == zfp_type_int64 || t == zfp_type_double ? 8 : 4));
    uint64_t blocks = 1;
    for (int j = 0; j < g->ndim; j++) {
        blocks *= ((uint64_t)g->size[j] + 3) / 4; /* <= the slice's elements */
    }
    uint64_t bits;
    if (!cv__mul_u64(blocks, block_bits_bound(values, intprec, minbits, maxbits, prefix_bits(t)),
                     &bits) ||
        !cv__add_u64(bits, header_bits + 2 * 64, &bits) || bits / 8 > SIZE_MAX / 2) {
        return false;
    }
    *bytes = (size_t)(bits / 8) + 8;
    return true;
}

/* ---- encode ------------------------------------------------------------------------------ */

/* zfpc's which_mode(): the container's mode code. */
static cv_status which_mode(const cv_zfpc_params *p, int *mode)
{
    if ((p->tolerance >= 0) + (p->rate >= 0) + (p->precision >= 0) > 1) {
        return CV_FAIL(CV_ERR_ARG,
                       "zfpc: set only one of zfpc_tolerance, zfpc_rate and "
                       "zfpc_precision (tolerance %g, rate %g, precision %g)",
                       p->tolerance, p->rate, p->precision);
    }
    *mode = p->tolerance > -1   ? zfp_mode_fixed_accuracy
            : p->precision > -1 ? zfp_mode_fixed_precision
            : p->rate > -1      ? zfp_mode_fixed_rate
                                : zfp_mode_reversible;
    return CV_OK;
}

/* zfpy's _set_compression_mode(); precision is a C int there (truncated toward zero). */
static void set_stream_mode(zfp_stream *zs, const cv_zfpc_params *p, int ndim)
{
    const int precision = (int)p->precision;
    if (p->tolerance >= 0) {
        zfp_stream_set_accuracy(zs, p->tolerance);
    } else if (p->rate >= 0) {
        zfp_stream_set_rate(zs, p->rate, zfp_type_none, (unsigned)ndim, zfp_false);
    } else if (precision >= 0) {
        zfp_stream_set_precision(zs, (unsigned)precision);
    } else {
        zfp_stream_set_reversible(zs);
    }
}

/* Append one zfp stream of the slice at `data` (zfpy.compress_numpy, write_header=True). */
static cv_status encode_stream(const slice_geom *g, const cv_zfpc_params *p, zfp_type type,
                               void *data, cv_buf *out, size_t *written)
{
    zfp_field *f = slice_field(g, type, data);
    zfp_stream *zs = zfp_stream_open(NULL);
    cv_status rc = f && zs ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "zfpc: zfp stream");
    bitstream *bs = NULL;
    if (rc == CV_OK) {
        set_stream_mode(zs, p, g->ndim);
        size_t max = zfp_stream_maximum_size(zs, f);
        unsigned minbits, maxbits, maxprec;
        int minexp;
        zfp_stream_params(zs, &minbits, &maxbits, &maxprec, &minexp);
        /* zfp's own size assumes maxbits a block, which it exceeds when the prefix does */
        if (max && maxbits < prefix_bits(type) &&
            !stream_bytes_bound(g, type, zs, ZFP_HEADER_MAX_BITS, &max)) {
            max = 0;
        }
        rc = max ? cv__buf_reserve(out, out->len + max)
                 : CV_FAIL(CV_ERR_ARG, "zfpc: zfp cannot size a stream of this slice");
        if (rc == CV_OK) {
            bs = stream_open(out->data + out->len, max);
            rc = bs ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "zfpc: zfp stream");
        }
    }
    if (rc == CV_OK) {
        zfp_stream_set_bit_stream(zs, bs);
        zfp_stream_rewind(zs);
        if (zfp_write_header(zs, f, ZFP_HEADER_FULL) == 0) {
            rc = CV_FAIL(CV_ERR_ARG,
                         "zfpc: zfp cannot write the header of a %zux%zux%zux%zu slice (a side "
                         "too long for %d dimensions)",
                         g->size[0], g->size[1], g->size[2], g->size[3], g->ndim);
        }
    }
    if (rc == CV_OK) {
        *written = zfp_compress(zs, f);
        rc = *written ? CV_OK : CV_FAIL(CV_ERR_ARG, "zfpc: zfp failed to compress a slice");
    }
    if (rc == CV_OK) {
        out->len += *written;
    }
    if (bs) {
        stream_close(bs);
    }
    if (zs) {
        zfp_stream_close(zs);
    }
    if (f) {
        zfp_field_free(f);
    }
    return rc;
}

cv_status cv__zfpc_encode(const cv_chunk_desc *d, const cv_zfpc_params *p, const uint8_t *src,
                          size_t n, cv_buf *out)
{
    CV_TRY(desc_check(d));
    if (n != cv__chunk_desc_bytes(d)) {
        return CV_FAIL(CV_ERR_ARG, "zfpc: chunk buffer has %zu bytes, want %zu", n,
                       cv__chunk_desc_bytes(d));
    }
    if (!p->correlated[0] && !p->correlated[1] && !p->correlated[2] && !p->correlated[3]) {
        return CV_FAIL(CV_ERR_ARG, "zfpc: no correlated axis");
    }
    int mode = zfp_mode_reversible;
    CV_TRY(which_mode(p, &mode));
    const uint64_t full[4] = {d->shape[0], d->shape[1], d->shape[2], d->channels};
    slice_geom g;
    geom_init(full, p->correlated, &g);
    /* zfp reads through typed pointers */
    const size_t esize = cv_dtype_size(d->dtype);
    uint8_t *tmp = NULL;
    if ((uintptr_t)src % esize != 0) {
        tmp = cv_malloc(n);
        if (!tmp) {
            return CV_FAIL(CV_ERR_NOMEM, "zfpc: allocate %zu bytes", n);
        }
        memcpy(tmp, src, n);
        src = tmp;
    }
    const size_t start = out->len;
    uint64_t index_bytes;
    cv_status rc = CV_OK;
    if (!cv__mul_u64((uint64_t)g.n_streams + 1, 8, &index_bytes) ||
        index_bytes > SIZE_MAX - ZFPC_HEADER - start) {
        rc = CV_FAIL(CV_ERR_ARG, "zfpc: too many streams");
    }
    const size_t head = ZFPC_HEADER + (size_t)index_bytes;
    if (rc == CV_OK) {
        rc = cv__buf_reserve(out, start + head);
    }
    if (rc == CV_OK) {
        uint8_t *h = out->data + start;
        memset(h, 0, head);
        memcpy(h, "zfpc", 4);
        int axes_over_one = 0;
        for (int a = 0; a < 4; a++) {
            axes_over_one += full[a] > 1;
            put_u32(h + 6 + 4 * a, (uint32_t)full[a]);
            h[22] = (uint8_t)(h[22] | (p->correlated[a] ? 1u << a : 0u));
        }
        /* numpy calls an F-order array C-contiguous too when at most one axis is over 1 */
        h[5] = (uint8_t)(dtype_code(d->dtype) | mode << 3 | (axes_over_one <= 1) << 7);
        put_u64(h + ZFPC_HEADER, head);
        out->len = start + head;
    }
    const zfp_type type = zfp_type_of(d->dtype);
    for (size_t k = 0; rc == CV_OK && k < g.n_streams; k++) {
        size_t written = 0;
        void *base = (void *)(uintptr_t)(src + stream_base(&g, p->correlated, k) * esize);
        rc = encode_stream(&g, p, type, base, out, &written);
        if (rc == CV_OK) {
            put_u64(out->data + start + ZFPC_HEADER + 8 * (k + 1), written);
        }
    }
    cv_free(tmp);
    if (rc != CV_OK) {
        out->len = start;
    }
    return rc;
}

static cv_status zfpc_encode(const cv_chunk_desc *d, int level, const uint8_t *src, size_t n,
                             cv_buf *out)
{
    (void)level; /* the parameters are the scale's zfpc_* members */
    cv_zfpc_params p;
    CV_TRY(cv__zfpc_params_parse(d->scale_extra, &p));
    return cv__zfpc_encode(d, &p, src, n, out);
}

/* ---- decode ------------------------------------------------------------------------------ */

/* One element of a decoded stream as CloudVolume sees it: float32 first (zfpc.decompress
 * allocates float32), then numpy's cast to the layer type (x86: out of range gives the
 * smallest integer). */
static void store_value(float v, cv_dtype t, uint8_t *dst)
{
    switch (t) {
    case CV_FLOAT32:
        memcpy(dst, &v, 4);
        break;
    case CV_FLOAT64: {
        const double w = v;
        memcpy(dst, &w, 8);
        break;
    }
    case CV_INT32: {
        const int32_t w = v >= -2147483648.0f && v < 2147483648.0f ? (int32_t)v : INT32_MIN;
        memcpy(dst, &w, 4);
        break;
    }
    default: {
        const int64_t w =
            v >= -9223372036854775808.0f && v < 9223372036854775808.0f ? (int64_t)v : INT64_MIN;
        memcpy(dst, &w, 8);
        break;
    }
    }
}

static float load_value(const uint8_t *p, zfp_type t)
{
    switch (t) {
    case zfp_type_int32: {
        int32_t v;
        memcpy(&v, p, 4);
        return (float)v;
    }
    case zfp_type_int64: {
        int64_t v;
        memcpy(&v, p, 8);
        return (float)v;
    }
    case zfp_type_float: {
        float v;
        memcpy(&v, p, 4);
        return v;
    }
    default: {
        double v;
        memcpy(&v, p, 8);
        return (float)v;
    }
    }
}

/* Decode stream k (bytes s[0, len)) into its slice of dst (x-fastest chunk of type t). */
static cv_status decode_stream(const slice_geom *g, const bool correlated[4], size_t k,
                               const uint8_t *s, size_t len, cv_dtype t, uint8_t *dst)
{
    /* the header first, from a copy padded past the longest header */
    const size_t head_pad = (ZFP_HEADER_MAX_BITS + 7) / 8 + 8;
    uint8_t *buf = cv_calloc(1, head_pad > len ? head_pad : len);
    zfp_field *f = zfp_field_alloc();
    bitstream *bs = NULL;
    zfp_stream *zs = zfp_stream_open(NULL);
    void *vals = NULL;
    cv_status rc = buf && f && zs ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "zfpc: zfp stream");
    if (rc == CV_OK) {
        memcpy(buf, s, len);
        bs = stream_open(buf, head_pad > len ? head_pad : len);
        rc = bs ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "zfpc: zfp stream");
    }
    size_t header_bits = 0;
    if (rc == CV_OK) {
        zfp_stream_set_bit_stream(zs, bs);
        zfp_stream_rewind(zs);
        header_bits = zfp_read_header(zs, f, ZFP_HEADER_FULL);
        if (!header_bits) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "zfpc: stream %zu has no valid zfp header", k);
        }
    }
    if (rc == CV_OK) {
        /* the stream must hold exactly the slice zfpc made: zfp's dims reverse numpy's */
        const size_t nf[4] = {f->nx, f->ny, f->nz, f->nw};
        bool same = zfp_field_dimensionality(f) == (unsigned)g->ndim;
        for (int j = 0; same && j < g->ndim; j++) {
            same = nf[j] == g->size[g->ndim - 1 - j];
        }
        const zfp_mode m = zfp_stream_compression_mode(zs);
        if (!same) {
            rc = CV_FAIL(CV_ERR_CORRUPT,
                         "zfpc: stream %zu is %zux%zux%zux%zu (zfp order), not its %d-D slice", k,
                         nf[0], nf[1], nf[2], nf[3], g->ndim);
        } else if (m < zfp_mode_expert || m > zfp_mode_reversible) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "zfpc: stream %zu has zfp mode %d (not written by zfpy)",
                         k, (int)m);
        }
    }
    size_t bound_bytes = 0;
    if (rc == CV_OK) {
        unsigned minbits, maxbits, maxprec;
        int minexp;
        zfp_stream_params(zs, &minbits, &maxbits, &maxprec, &minexp);
        uint64_t blocks = 1;
        for (int j = 0; j < g->ndim; j++) {
            blocks *= ((uint64_t)g->size[j] + 3) / 4; /* <= the slice's elements */
        }
        if (!stream_bytes_bound(g, f->type, zs, header_bits, &bound_bytes)) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "zfpc: stream %zu: decoding bound overflows", k);
        }
        /* every block takes at least minbits (fixed rate: exactly), so those bits must be
         * there; this also keeps the padded copy below within twice the decoded size */
        uint64_t least;
        if (rc == CV_OK && maxbits == 0) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "zfpc: stream %zu allows 0 bits per block", k);
        } else if (rc == CV_OK &&
                   (!cv__mul_u64(blocks, minbits, &least) ||
                    !cv__add_u64(least, header_bits, &least) || least > (uint64_t)len * 8)) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "zfpc: stream %zu is truncated (%zu bytes)", k, len);
        }
    }
    if (rc == CV_OK && bound_bytes > len) {
        /* re-open over a zero-padded copy the decoder cannot run off */
        const size_t cap = (bound_bytes + 7) & ~(size_t)7;
        uint8_t *big = cv_calloc(1, cap);
        if (!big) {
            rc = CV_FAIL(CV_ERR_NOMEM, "zfpc: allocate %zu bytes", cap);
        } else {
            memcpy(big, s, len);
            stream_close(bs);
            cv_free(buf);
            buf = big;
            bs = stream_open(buf, cap);
            rc = bs ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "zfpc: zfp stream");
            if (rc == CV_OK) {
                zfp_stream_set_bit_stream(zs, bs);
                stream_rseek(bs, header_bits);
            }
        }
    }
    size_t esize = 0;
    if (rc == CV_OK) {
        esize = zfp_type_size(f->type);
        vals = cv_malloc(g->count * esize);
        rc = vals ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "zfpc: allocate a slice");
    }
    if (rc == CV_OK) {
        /* decoded x-fastest in numpy's order of the kept axes: the strides of a packed slice */
        ptrdiff_t s1 = 1, packed[4];
        for (int j = 0; j < g->ndim; j++) {
            packed[j] = s1;
            s1 *= (ptrdiff_t)g->size[j];
        }
        slice_geom pg = *g;
        memcpy(pg.stride, packed, sizeof packed);
        zfp_field *out_f = slice_field(&pg, f->type, vals);
        if (!out_f) {
            rc = CV_FAIL(CV_ERR_NOMEM, "zfpc: zfp field");
        } else {
            const size_t used = zfp_decompress(zs, out_f);
            zfp_field_free(out_f);
            if (!used) {
                rc = CV_FAIL(CV_ERR_CORRUPT, "zfpc: zfp failed to decode stream %zu", k);
            } else if (used > len) {
                rc = CV_FAIL(CV_ERR_CORRUPT,
                             "zfpc: stream %zu is truncated (%zu bytes, its blocks need %zu)", k,
                             len, used);
            }
        }
    }
    if (rc == CV_OK) {
        const size_t osize = cv_dtype_size(t);
        const size_t base = stream_base(g, correlated, k);
        size_t idx[4] = {0, 0, 0, 0};
        for (size_t e = 0; e < g->count; e++) {
            size_t off = base;
            for (int j = 0; j < g->ndim; j++) {
                off += idx[j] * (size_t)g->stride[j];
            }
            store_value(load_value((const uint8_t *)vals + e * esize, f->type), t,
                        dst + off * osize);
            for (int j = 0; j < g->ndim && ++idx[j] == g->size[j]; j++) {
                idx[j] = 0;
            }
        }
    }
    cv_free(vals);
    if (bs) {
        stream_close(bs);
    }
    if (zs) {
        zfp_stream_close(zs);
    }
    if (f) {
        zfp_field_free(f);
    }
    cv_free(buf);
    return rc;
}

static cv_status zfpc_decode(const cv_chunk_desc *d, const uint8_t *src, size_t n, cv_buf *out)
{
    CV_TRY(desc_check(d));
    if (n < ZFPC_HEADER) {
        return CV_FAIL(CV_ERR_CORRUPT, "zfpc: %zu bytes, shorter than the 23-byte header", n);
    }
    if (memcmp(src, "zfpc", 4) != 0) {
        return CV_FAIL(CV_ERR_CORRUPT, "zfpc: no \"zfpc\" magic");
    }
    if (src[4] != 0) {
        return CV_FAIL(CV_ERR_CORRUPT, "zfpc: format version %u (only 0 is read)", src[4]);
    }
    const unsigned dtype = src[5] & 7, mode = (src[5] >> 3) & 7;
    if (dtype < 1 || dtype > 4 || mode < 2 || mode > 5 || (src[5] & 0x40) || (src[22] & 0xf0)) {
        return CV_FAIL(CV_ERR_CORRUPT, "zfpc: bad header (type byte 0x%02x, axes byte 0x%02x)",
                       src[5], src[22]);
    }
    const uint64_t full[4] = {d->shape[0], d->shape[1], d->shape[2], d->channels};
    bool correlated[4];
    for (int a = 0; a < 4; a++) {
        const uint32_t got = get_u32(src + 6 + 4 * a);
        if (got != full[a]) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           "zfpc: header %s size %u, but the chunk has %" PRIu64 " (chunk %ux%ux%u "
                           "x %u channels)",
                           axis_names[a], got, full[a], d->shape[0], d->shape[1], d->shape[2],
                           d->channels);
        }
        correlated[a] = (src[22] >> a) & 1;
    }
    if (!(src[22] & 0x0f)) {
        return CV_FAIL(CV_ERR_CORRUPT, "zfpc: header names no correlated axis");
    }
    const size_t want = cv__chunk_desc_bytes(d);
    slice_geom g;
    geom_init(full, correlated, &g);
    /* n_streams <= elements of the chunk, which fit in memory: 8 * (1 + n_streams) cannot
     * overflow, but the bytes must be there */
    const uint64_t index_end = ZFPC_HEADER + 8 * ((uint64_t)g.n_streams + 1);
    if (index_end > n) {
        return CV_FAIL(CV_ERR_CORRUPT, "zfpc: %zu bytes, too short for the index of %zu streams", n,
                       g.n_streams);
    }
    uint64_t at = get_u64(src + ZFPC_HEADER);
    if (at < index_end || at > n) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "zfpc: first stream at %" PRIu64 ", outside [%" PRIu64 ", %zu]", at,
                       index_end, n);
    }
    uint64_t end = at;
    for (size_t k = 0; k < g.n_streams; k++) {
        const uint64_t len = get_u64(src + ZFPC_HEADER + 8 * (k + 1));
        if (!cv__add_u64(end, len, &end) || end > n) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           "zfpc: stream %zu (%" PRIu64 " bytes) runs past the %zu "
                           "bytes",
                           k, len, n);
        }
    }
    const size_t start = out->len;
    CV_TRY(cv__buf_reserve(out, start + want));
    cv_status rc = CV_OK;
    for (size_t k = 0; rc == CV_OK && k < g.n_streams; k++) {
        const uint64_t len = get_u64(src + ZFPC_HEADER + 8 * (k + 1));
        rc = decode_stream(&g, correlated, k, src + at, (size_t)len, d->dtype, out->data + start);
        at += len;
    }
    if (rc != CV_OK) {
        out->len = start;
        return rc;
    }
    out->len = start + want;
    return CV_OK;
}

const cv_codec cv_codec_zfpc = {
    "zfpc",         /* name */
    0,              /* flags: lossless unless the scale sets a rate, precision or tolerance */
    "image/x.zfpc", /* content_type */
    NULL,           /* default_compress */
    -1,             /* default_level */
    zfpc_decode,    /* decode */
    zfpc_encode,    /* encode */
};
