/* SPDX-License-Identifier: BSD-3-Clause
 * codec_fpzip.c: the CloudVolume-only float encodings "fpzip" and "kempressed"
 * (precomputed-volume spec §5.8) through libfpzip 1.3 (Debian libfpzip-dev). A chunk is one
 * fpzip stream with header, nx=X ny=Y nz=Z nf=C (kempressed: values + 2.0, nz=C nf=Z).
 * libfpzip's decoder has no end-of-buffer bound and indexes its model tables with values taken
 * from the stream, so before the library sees a stream, check_stream() replays the stream's
 * entropy decoding (which does not depend on the decoded values) and rejects anything that
 * would read past the end, hit an out-of-range model index, or leave bytes unused. No I/O. */
#include "codec/codec.h"

#include <fpzip.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>

/* ---- replay of fpzip 1.3.0's entropy decoder (rcdecoder.cpp, rcqsmodel.cpp, pcdecoder.inl,
 * read.cpp; LLNL fpzip, BSD-3-Clause, Copyright (c) 2018-2019 LLNS). The arithmetic is 32-bit
 * unsigned with wraparound, exactly as in the library; nothing is reconstructed. ---------- */

#define QS_BITS 16         /* RCqsmodel frequency bits */
#define QS_PERIOD 0x400    /* RCqsmodel rescale period */
#define QS_TBLSHIFT 7      /* search table: 2^7 + 1 entries */
#define QS_MAX_SYMBOLS 511 /* 2 * 2^8 - 1: the narrow decoder with 8 bits */

typedef struct fpz_rc {
    const uint8_t *p;
    size_t n, pos; /* pos = bytes the library's decoder will have read */
    uint32_t low, range, code;
    const char *bad; /* first problem found, or NULL */
} fpz_rc;

typedef struct fpz_qs {
    uint32_t n; /* symbols */
    uint32_t left, more, incr, rescale;
    uint32_t symf[QS_MAX_SYMBOLS + 1], cumf[QS_MAX_SYMBOLS + 1];
    uint32_t search[(1u << QS_TBLSHIFT) + 1];
} fpz_qs;

static inline void rc_get(fpz_rc *r, unsigned k)
{
    for (unsigned i = 0; i < k; i++) {
        uint32_t byte = 0;
        if (r->pos < r->n) {
            byte = r->p[r->pos];
        } else if (!r->bad) {
            r->bad = "truncated: the decoder would read past the end";
        }
        r->pos++;
        r->code = r->code << 8 | byte;
        r->low <<= 8;
    }
}

static inline void rc_normalize(fpz_rc *r)
{
    while (!((r->low ^ (r->low + r->range)) >> 24)) {
        rc_get(r, 1);
        r->range <<= 8;
    }
    if (!(r->range >> 16)) {
        rc_get(r, 2);
        r->range = 0u - r->low;
    }
}

static void rc_init(fpz_rc *r, const uint8_t *p, size_t n)
{
    r->p = p;
    r->n = n;
    r->pos = 0;
    r->low = 0;
    r->range = UINT32_MAX;
    r->code = 0;
    r->bad = NULL;
    rc_get(r, 4);
}

/* RCdecoder::decode_shift: a number 0 <= s < 2^n, n <= 16. */
static inline uint32_t rc_shift(fpz_rc *r, unsigned n)
{
    if (r->bad) {
        return 0;
    }
    r->range >>= n;
    if (r->range == 0) { /* cannot happen (range >= 2^16 after normalize); never divide by 0 */
        r->bad = "range coder underflow";
        return 0;
    }
    const uint32_t s = (r->code - r->low) / r->range;
    r->low += r->range * s;
    rc_normalize(r);
    return s;
}

/* RCdecoder::decode<UINT>(n) for a UINT of `usize` bytes. */
static inline uint64_t rc_bits(fpz_rc *r, unsigned n, unsigned usize)
{
    uint64_t s = 0;
    unsigned m = 0;
    for (unsigned i = 1; i < usize / 2; i++) {
        if (n > 16) {
            s += (uint64_t)rc_shift(r, 16) << m;
            m += 16;
            n -= 16;
        }
    }
    return ((uint64_t)rc_shift(r, n) << m) + s;
}

static void qs_update_all(fpz_qs *q)
{
    if (q->more) {
        q->left = q->more;
        q->more = 0;
        q->incr++;
        return;
    }
    if (q->rescale != QS_PERIOD) {
        q->rescale *= 2;
        if (q->rescale > QS_PERIOD) {
            q->rescale = QS_PERIOD;
        }
    }
    const uint32_t n = q->n;
    uint32_t cf = q->cumf[n], count = cf;
    for (uint32_t i = n; i--;) {
        uint32_t sf = q->symf[i];
        cf -= sf;
        q->cumf[i] = cf;
        sf = (sf >> 1) | 1;
        count -= sf;
        q->symf[i] = sf;
    }
    q->incr = count / q->rescale;
    q->more = count % q->rescale;
    q->left = q->rescale - q->more;
    const unsigned shift = QS_BITS - QS_TBLSHIFT;
    uint32_t h = 1u << QS_TBLSHIFT;
    for (uint32_t i = n; i--;) {
        for (uint32_t l = q->cumf[i] >> shift; l <= h; l++) {
            q->search[l] = i;
        }
        h = q->cumf[i] >> shift;
    }
}

static void qs_init(fpz_qs *q, uint32_t symbols)
{
    memset(q, 0, sizeof *q);
    q->n = symbols;
    q->cumf[0] = 0;
    q->cumf[symbols] = 1u << QS_BITS;
    q->rescale = (symbols >> 4) | 2;
    const uint32_t f = q->cumf[symbols] / symbols, m = q->cumf[symbols] % symbols;
    for (uint32_t i = 0; i < symbols; i++) {
        q->symf[i] = i < m ? f + 1 : f;
    }
    qs_update_all(q);
}

/* RCdecoder::decode(RCmodel *) with RCqsmodel::decode. */
static inline uint32_t rc_symbol(fpz_rc *r, fpz_qs *q)
{
    if (r->bad) {
        return 0;
    }
    r->range >>= QS_BITS;
    if (r->range == 0) {
        r->bad = "range coder underflow";
        return 0;
    }
    const uint32_t l = (r->code - r->low) / r->range;
    if (l >= 1u << QS_BITS) {
        /* libfpzip would index its search table out of bounds here */
        r->bad = "corrupt symbol (model index out of range)";
        return 0;
    }
    const uint32_t i = l >> (QS_BITS - QS_TBLSHIFT);
    uint32_t s = q->search[i], h = q->search[i + 1] + 1;
    while (s + 1 < h) {
        const uint32_t m = (s + h) / 2;
        if (l < q->cumf[m]) {
            h = m;
        } else {
            s = m;
        }
    }
    const uint32_t lo = q->cumf[s], width = q->cumf[s + 1] - lo;
    if (!q->left) {
        qs_update_all(q);
    }
    q->left--;
    q->symf[s] += q->incr;
    r->low += r->range * lo;
    r->range *= width;
    rc_normalize(r);
    return s;
}

/* ---- stream header and check ------------------------------------------------------------ */

typedef struct fpz_head {
    unsigned type, prec; /* 0 float / 1 double; 0 = full precision */
    uint32_t dim[4];     /* nx, ny, nz, nf */
} fpz_head;

static cv_status read_head(const char *name, fpz_rc *r, fpz_head *h)
{
    static const char magic[4] = {'f', 'p', 'z', '\0'};
    for (int i = 0; i < 4; i++) {
        if (rc_bits(r, 8, 4) != (uint8_t)magic[i] || r->bad) {
            return CV_FAIL(CV_ERR_CORRUPT, "%s: not an fpzip stream (bad magic)", name);
        }
    }
    const uint32_t major = (uint32_t)rc_bits(r, 16, 4);
    const uint32_t minor = (uint32_t)rc_bits(r, 8, 4);
    if (r->bad || major != fpzip_codec_version >> 8 || minor != (fpzip_codec_version & 0xffu)) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "%s: stream version %#x.%u is not this libfpzip's %#x.%u (the last "
                       "number is the floating-point mode it was built with)",
                       name, major, minor, fpzip_codec_version >> 8, fpzip_codec_version & 0xffu);
    }
    h->type = (unsigned)rc_bits(r, 1, 4);
    h->prec = (unsigned)rc_bits(r, 7, 4);
    for (int i = 0; i < 4; i++) {
        h->dim[i] = (uint32_t)rc_bits(r, 32, 4);
    }
    if (r->bad) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: %s in the header", name, r->bad);
    }
    return CV_OK;
}

/* Bits per value the stream is coded with, or 0 if libfpzip would reject the precision. */
static unsigned coded_bits(unsigned type, unsigned prec)
{
    const unsigned full = type ? 64 : 32;
    const unsigned bits = prec ? prec : full;
    if (bits < 2 || bits > full || (type && (bits < 4 || bits % 2))) {
        return 0;
    }
    return bits;
}

/* Replay the body: per field a fresh model; per value one symbol and, for wide codes, the
 * raw bits it announces. On success *used = the bytes libfpzip will consume. */
static cv_status check_body(const char *name, fpz_rc *r, const fpz_head *h, fpz_qs *q)
{
    const unsigned bits = coded_bits(h->type, h->prec);
    const unsigned usize = h->type ? 8 : 4; /* PCmap<T>::Range */
    const bool wide = bits > 8;             /* PC_BIT_MAX */
    const uint32_t symbols = wide ? 2 * bits + 1 : 2 * (1u << bits) - 1;
    const uint64_t per_field = (uint64_t)h->dim[0] * h->dim[1] * h->dim[2];
    for (uint32_t f = 0; f < h->dim[3]; f++) {
        qs_init(q, symbols);
        for (uint64_t v = 0; v < per_field; v++) {
            const uint32_t s = rc_symbol(r, q);
            if (wide && s != bits && !r->bad) {
                rc_bits(r, s > bits ? s - bits - 1 : bits - 1 - s, usize);
            }
            if (r->bad) {
                return CV_FAIL(CV_ERR_CORRUPT, "%s: %s (field %" PRIu32 ", value %" PRIu64 ")",
                               name, r->bad, f, v);
            }
        }
    }
    if (r->pos != r->n) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: %zu bytes after the end of the stream", name,
                       r->n - r->pos);
    }
    return CV_OK;
}

/* ---- codec glue ---------------------------------------------------------------------------- */

/* fpzip takes float32 and float64; kempressed only float32 (CloudVolume affinities). */
static cv_status desc_check(const char *name, const cv_chunk_desc *d, bool double_ok)
{
    if (d->dtype != CV_FLOAT32 && !(double_ok && d->dtype == CV_FLOAT64)) {
        const char *t = cv_dtype_name(d->dtype);
        return CV_FAIL(CV_ERR_ARG, "%s: data type %s is not %s", name, t ? t : "(invalid)",
                       double_ok ? "float32 or float64" : "float32");
    }
    const uint64_t dims[4] = {d->shape[0], d->shape[1], d->shape[2], d->channels};
    for (int i = 0; i < 4; i++) {
        if (dims[i] == 0 || dims[i] > INT_MAX) {
            return CV_FAIL(CV_ERR_ARG,
                           "%s: chunk %ux%ux%u x %u channels has an empty or too large side", name,
                           d->shape[0], d->shape[1], d->shape[2], d->channels);
        }
    }
    return CV_OK;
}

/* Stream dims for a chunk: fpzip [X,Y,Z,C]; kempressed swaps z and channel: [X,Y,C,Z]. */
static void stream_dims(const cv_chunk_desc *d, bool swap_zc, uint32_t dim[4])
{
    dim[0] = d->shape[0];
    dim[1] = d->shape[1];
    dim[2] = swap_zc ? d->channels : d->shape[2];
    dim[3] = swap_zc ? d->shape[2] : d->channels;
}

/* Check `src` completely, then let libfpzip decode it into dst (exactly want bytes). */
static cv_status fpz_decode_into(const char *name, const cv_chunk_desc *d, bool swap_zc,
                                 const uint8_t *src, size_t n, void *dst)
{
    fpz_rc r;
    fpz_head h = {0, 0, {0, 0, 0, 0}};
    rc_init(&r, src, n);
    CV_TRY(read_head(name, &r, &h));
    uint32_t want[4];
    stream_dims(d, swap_zc, want);
    const unsigned want_type = d->dtype == CV_FLOAT64;
    if (h.type != want_type || memcmp(h.dim, want, sizeof want) != 0) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "%s: stream holds %s %" PRIu32 "x%" PRIu32 "x%" PRIu32 "x%" PRIu32
                       ", want %s %" PRIu32 "x%" PRIu32 "x%" PRIu32 "x%" PRIu32,
                       name, h.type ? "float64" : "float32", h.dim[0], h.dim[1], h.dim[2], h.dim[3],
                       cv_dtype_name(d->dtype), want[0], want[1], want[2], want[3]);
    }
    if (!coded_bits(h.type, h.prec)) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: precision %u is not valid for %s", name, h.prec,
                       cv_dtype_name(d->dtype));
    }
    fpz_qs *q = cv_malloc(sizeof *q);
    if (!q) {
        return CV_FAIL(CV_ERR_NOMEM, "%s: allocate the model check", name);
    }
    const cv_status rc = check_body(name, &r, &h, q);
    cv_free(q);
    CV_TRY(rc);

    FPZ *z = fpzip_read_from_buffer(src);
    if (!z) {
        return CV_FAIL(CV_ERR_NOMEM, "%s: open the stream", name);
    }
    size_t used = 0;
    if (fpzip_read_header(z)) {
        used = fpzip_read(z, dst);
    }
    fpzip_read_close(z);
    if (used != n) { /* the replay said the library reads exactly n bytes */
        return CV_FAIL(CV_ERR_CORRUPT, "%s: libfpzip failed to decode (read %zu of %zu bytes)",
                       name, used, n);
    }
    return CV_OK;
}

/* Encode `src` (stream order, dims `dim`) at precision `prec`, appending to out. */
static cv_status fpz_encode_from(const char *name, const cv_chunk_desc *d, const uint32_t dim[4],
                                 unsigned prec, const void *src, size_t n, cv_buf *out)
{
    /* fpzip can exceed the raw size on tiny or noisy inputs; compresso.pyx-like regrowth */
    size_t cap = n + n / 2 + 1024;
    for (int attempt = 0; attempt < 4; attempt++, cap *= 2) {
        CV_TRY(cv__buf_reserve(out, out->len + cap));
        FPZ *z = fpzip_write_to_buffer(out->data + out->len, cap);
        if (!z) {
            return CV_FAIL(CV_ERR_NOMEM, "%s: open the output stream", name);
        }
        z->type = d->dtype == CV_FLOAT64 ? FPZIP_TYPE_DOUBLE : FPZIP_TYPE_FLOAT;
        z->prec = (int)prec;
        z->nx = (int)dim[0];
        z->ny = (int)dim[1];
        z->nz = (int)dim[2];
        z->nf = (int)dim[3];
        size_t wrote = 0;
        if (fpzip_write_header(z)) {
            wrote = fpzip_write(z, src);
        }
        fpzip_write_close(z);
        if (wrote > 0) {
            out->len += wrote;
            return CV_OK;
        }
        /* fpzip_errno is a process global, shared by all threads: only a hint */
    }
    return CV_FAIL(CV_ERR_ARG, "%s: libfpzip failed to encode a %ux%ux%u x %u chunk", name,
                   d->shape[0], d->shape[1], d->shape[2], d->channels);
}

/* libfpzip reads and writes through float/double pointers: give it aligned memory. */
static bool is_aligned(const void *p)
{
    return (uintptr_t)p % sizeof(double) == 0;
}

/* Encoder precision from the codec level: -1 or 0 = lossless (CloudVolume's default). */
static cv_status level_prec(const char *name, const cv_chunk_desc *d, int level, unsigned *prec)
{
    const unsigned type = d->dtype == CV_FLOAT64;
    if (level <= 0) {
        *prec = 0;
        return CV_OK;
    }
    if (level > 127 || !coded_bits(type, (unsigned)level)) {
        return CV_FAIL(CV_ERR_ARG, "%s: precision %d is not valid for %s (%s)", name, level,
                       cv_dtype_name(d->dtype), type ? "4..64, even" : "2..32");
    }
    *prec = (unsigned)level;
    return CV_OK;
}

static cv_status fpzip_decode(const cv_chunk_desc *d, const uint8_t *src, size_t n, cv_buf *out)
{
    CV_TRY(desc_check("fpzip", d, true));
    const size_t want = cv__chunk_desc_bytes(d);
    CV_TRY(cv__buf_reserve(out, out->len + want));
    uint8_t *dst = out->data + out->len;
    if (is_aligned(dst)) {
        CV_TRY(fpz_decode_into("fpzip", d, false, src, n, dst));
    } else {
        uint8_t *tmp = cv_malloc(want);
        if (!tmp) {
            return CV_FAIL(CV_ERR_NOMEM, "fpzip: allocate %zu bytes", want);
        }
        const cv_status rc = fpz_decode_into("fpzip", d, false, src, n, tmp);
        if (rc == CV_OK) {
            memcpy(dst, tmp, want);
        }
        cv_free(tmp);
        CV_TRY(rc);
    }
    out->len += want;
    return CV_OK;
}

static cv_status fpzip_encode(const cv_chunk_desc *d, int level, const uint8_t *src, size_t n,
                              cv_buf *out)
{
    CV_TRY(desc_check("fpzip", d, true));
    if (n != cv__chunk_desc_bytes(d)) {
        return CV_FAIL(CV_ERR_ARG, "fpzip: chunk buffer has %zu bytes, want %zu", n,
                       cv__chunk_desc_bytes(d));
    }
    unsigned prec = 0;
    CV_TRY(level_prec("fpzip", d, level, &prec));
    uint32_t dim[4];
    stream_dims(d, false, dim);
    if (is_aligned(src)) {
        return fpz_encode_from("fpzip", d, dim, prec, src, n, out);
    }
    uint8_t *tmp = cv_malloc(n);
    if (!tmp) {
        return CV_FAIL(CV_ERR_NOMEM, "fpzip: allocate %zu bytes", n);
    }
    memcpy(tmp, src, n);
    const cv_status rc = fpz_encode_from("fpzip", d, dim, prec, tmp, n, out);
    cv_free(tmp);
    return rc;
}

/* [X,Y,Z,C] <-> [X,Y,C,Z] float32, adding `add` (float arithmetic, as numpy's on float32).
 * Both layouts are x fastest, so whole xy-planes move. Byte pointers: no alignment needed. */
static void swap_zc(const uint8_t *src, uint8_t *dst, const cv_chunk_desc *d, bool to_stream,
                    float add)
{
    const size_t X = d->shape[0], Y = d->shape[1], Z = d->shape[2], C = d->channels;
    const size_t plane = X * Y * sizeof(float);
    for (size_t c = 0; c < C; c++) {
        for (size_t z = 0; z < Z; z++) {
            const size_t chunk_at = plane * (z + Z * c), stream_at = plane * (c + C * z);
            const uint8_t *s = src + (to_stream ? chunk_at : stream_at);
            uint8_t *t = dst + (to_stream ? stream_at : chunk_at);
            for (size_t i = 0; i < plane; i += sizeof(float)) {
                float v;
                memcpy(&v, s + i, sizeof v);
                v += add;
                memcpy(t + i, &v, sizeof v);
            }
        }
    }
}

static cv_status kempressed_decode(const cv_chunk_desc *d, const uint8_t *src, size_t n,
                                   cv_buf *out)
{
    CV_TRY(desc_check("kempressed", d, false));
    const size_t want = cv__chunk_desc_bytes(d);
    CV_TRY(cv__buf_reserve(out, out->len + want));
    uint8_t *tmp = cv_malloc(want);
    if (!tmp) {
        return CV_FAIL(CV_ERR_NOMEM, "kempressed: allocate %zu bytes", want);
    }
    cv_status rc = fpz_decode_into("kempressed", d, true, src, n, tmp);
    if (rc == CV_OK) {
        swap_zc(tmp, out->data + out->len, d, false, -2.0f);
        out->len += want;
    }
    cv_free(tmp);
    return rc;
}

static cv_status kempressed_encode(const cv_chunk_desc *d, int level, const uint8_t *src, size_t n,
                                   cv_buf *out)
{
    (void)level; /* CloudVolume's encode_kempressed() always compresses losslessly */
    CV_TRY(desc_check("kempressed", d, false));
    if (n != cv__chunk_desc_bytes(d)) {
        return CV_FAIL(CV_ERR_ARG, "kempressed: chunk buffer has %zu bytes, want %zu", n,
                       cv__chunk_desc_bytes(d));
    }
    uint8_t *tmp = cv_malloc(n); /* malloc'd: aligned for libfpzip */
    if (!tmp) {
        return CV_FAIL(CV_ERR_NOMEM, "kempressed: allocate %zu bytes", n);
    }
    swap_zc(src, tmp, d, true, 2.0f);
    uint32_t dim[4];
    stream_dims(d, true, dim);
    const cv_status rc = fpz_encode_from("kempressed", d, dim, 0, tmp, n, out);
    cv_free(tmp);
    return rc;
}

const cv_codec cv_codec_fpzip = {
    "fpzip",         /* name */
    0,               /* flags: lossless unless a precision (level) is given */
    "image/x.fpzip", /* content_type */
    NULL,            /* default_compress */
    -1,              /* default_level */
    fpzip_decode,    /* decode */
    fpzip_encode,    /* encode */
};

const cv_codec cv_codec_kempressed = {
    "kempressed",         /* name */
    0,                    /* flags */
    "image/x.kempressed", /* content_type */
    NULL,                 /* default_compress */
    -1,                   /* default_level */
    kempressed_decode,    /* decode */
    kempressed_encode,    /* encode */
};
