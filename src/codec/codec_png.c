/* SPDX-License-Identifier: BSD-3-Clause
 * codec_png.c: the "png" chunk encoding (precomputed-volume spec §5.3) through libspng.
 * uint8 or uint16 with 1-4 channels (gray, gray+alpha, RGB, RGBA); the chunk is one image X
 * wide and Y*Z high (row y + Y*z), channels interleaved in the PNG and planar in the chunk,
 * 16-bit samples big-endian in the PNG and little-endian in the chunk. Encoding is
 * CloudVolume's (pyspng: not interlaced, zlib level 9). Interlaced and palette images are
 * accepted on read. No I/O here. */
#include "codec/codec.h"

#include <inttypes.h>
#include <spng.h>

#define PNG_DEFAULT_LEVEL 9 /* CloudVolume's png_level default */

/* Ancillary chunks (text, ICC profiles) are of no use here: cap what libspng may inflate and
 * keep for them, so a small file cannot make it allocate much. */
#define PNG_CHUNK_LIMIT ((size_t)1 << 20)
#define PNG_CACHE_LIMIT ((size_t)4 << 20)

/* libspng allocates through cv_malloc and friends, so its buffers are freed with cv_free. */
static void *png_malloc(size_t n)
{
    return cv_malloc(n);
}

static void *png_realloc(void *p, size_t n)
{
    return cv_realloc(p, n);
}

static void *png_calloc(size_t n, size_t size)
{
    return cv_calloc(n, size);
}

static void png_free(void *p)
{
    cv_free(p);
}

static struct spng_alloc png_alloc = {png_malloc, png_realloc, png_calloc, png_free};

/* One place that turns a libspng error into a cv_status. `rc_other` is what anything but an
 * allocation failure means to the caller: corrupt data when decoding, a bad argument when
 * encoding. */
static cv_status map_err(int spng_rc, cv_status rc_other, const char *op)
{
    if (spng_rc == SPNG_EMEM) {
        return CV_FAIL(CV_ERR_NOMEM, "png: %s: %s", op, spng_strerror(spng_rc));
    }
    return CV_FAIL(rc_other, "png: %s: %s", op, spng_strerror(spng_rc));
}

/* Pixels of the 2-D image: X*Y*Z, or 0 if the shape is empty or overflows size_t. */
static size_t chunk_pixels(const cv_chunk_desc *d)
{
    size_t n = 1;
    for (int i = 0; i < 3; i++) {
        if (d->shape[i] == 0 || n > SIZE_MAX / d->shape[i]) {
            return 0;
        }
        n *= d->shape[i];
    }
    return n;
}

static cv_status check_desc(const cv_chunk_desc *d)
{
    if ((d->dtype != CV_UINT8 && d->dtype != CV_UINT16) || d->channels < 1 || d->channels > 4) {
        return CV_FAIL(CV_ERR_ARG, "png: needs uint8 or uint16 with 1 to 4 channels, not %u x %s",
                       d->channels, cv_dtype_name(d->dtype) ? cv_dtype_name(d->dtype) : "?");
    }
    const size_t npix = chunk_pixels(d);
    if (npix == 0 || npix > SIZE_MAX / 8) {
        return CV_FAIL(CV_ERR_ARG, "png: bad chunk shape %ux%ux%u", d->shape[0], d->shape[1],
                       d->shape[2]);
    }
    return CV_OK;
}

/* Channels a PNG colour type decodes to (palette images expand to RGB); 0 if invalid. */
static uint32_t color_type_channels(uint8_t color_type)
{
    switch (color_type) {
    case SPNG_COLOR_TYPE_GRAYSCALE:
        return 1;
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA:
        return 2;
    case SPNG_COLOR_TYPE_TRUECOLOR:
    case SPNG_COLOR_TYPE_INDEXED:
        return 3;
    case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA:
        return 4;
    default:
        return 0;
    }
}

/* Interleaved PNG samples (16-bit ones big-endian) -> channel planes of little-endian values.
 * `dst` and `src` may be the same buffer only when there is one 8-bit channel. */
static void deinterleave(uint8_t *dst, const uint8_t *src, size_t npix, uint32_t ch, size_t bps)
{
    if (bps == 1) {
        for (uint32_t c = 0; c < ch; c++) {
            uint8_t *plane = dst + c * npix;
            for (size_t i = 0; i < npix; i++) {
                plane[i] = src[i * ch + c];
            }
        }
        return;
    }
    for (uint32_t c = 0; c < ch; c++) {
        uint8_t *plane = dst + 2 * c * npix;
        for (size_t i = 0; i < npix; i++) {
            const uint8_t *s = src + 2 * (i * ch + c);
            plane[2 * i] = s[1];
            plane[2 * i + 1] = s[0];
        }
    }
}

static cv_status png_decode(const cv_chunk_desc *d, const uint8_t *src, size_t n, cv_buf *out)
{
    CV_TRY(check_desc(d));
    const size_t npix = chunk_pixels(d);
    const size_t bps = cv_dtype_size(d->dtype);
    const size_t want = npix * d->channels * bps;
    if (out->len > SIZE_MAX - want) {
        return CV_FAIL(CV_ERR_NOMEM, "png: buffer size overflow");
    }
    /* Check the output fits before the library allocates anything for the image. */
    CV_TRY(cv__buf_reserve(out, out->len + want));

    spng_ctx *ctx = spng_ctx_new2(&png_alloc, 0);
    if (!ctx) {
        return CV_FAIL(CV_ERR_NOMEM, "png: create decoder");
    }
    cv_status rc = CV_OK;
    uint8_t *tmp = NULL;
    /* No side of the image can exceed the chunk's pixel count. */
    const uint32_t lim = npix < 0x7fffffffu ? (uint32_t)npix : 0x7fffffffu;
    int r = spng_set_image_limits(ctx, lim, lim);
    if (r == 0) {
        r = spng_set_chunk_limits(ctx, PNG_CHUNK_LIMIT, PNG_CACHE_LIMIT);
    }
    if (r == 0) {
        r = spng_set_png_buffer(ctx, src, n);
    }
    if (r != 0) {
        rc = map_err(r, CV_ERR_CORRUPT, "set up decoder");
        goto done;
    }
    struct spng_ihdr ihdr;
    r = spng_get_ihdr(ctx, &ihdr);
    if (r != 0) {
        rc = map_err(r, CV_ERR_CORRUPT, "read header");
        goto done;
    }
    if ((size_t)ihdr.width * ihdr.height != npix) {
        rc = CV_FAIL(CV_ERR_CORRUPT,
                     "png: image is %" PRIu32 "x%" PRIu32 ", a %ux%ux%u chunk needs %zu pixels",
                     ihdr.width, ihdr.height, d->shape[0], d->shape[1], d->shape[2], npix);
        goto done;
    }
    const bool indexed = ihdr.color_type == SPNG_COLOR_TYPE_INDEXED;
    if (color_type_channels(ihdr.color_type) != d->channels) {
        rc = CV_FAIL(CV_ERR_CORRUPT, "png: colour type %u has %u channels, the chunk %u",
                     ihdr.color_type, color_type_channels(ihdr.color_type), d->channels);
        goto done;
    }
    /* Samples must be the dtype's width; a palette (of any depth) expands to 8-bit RGB. */
    if (indexed ? bps != 1 : ihdr.bit_depth != 8 * bps) {
        rc = CV_FAIL(CV_ERR_CORRUPT, "png: %s%u-bit samples do not fit a %s chunk",
                     indexed ? "palette with " : "", ihdr.bit_depth, cv_dtype_name(d->dtype));
        goto done;
    }
    /* RAW keeps 16-bit samples big-endian on every host; the swap is done below. */
    const int fmt = indexed ? SPNG_FMT_RGB8 : SPNG_FMT_RAW;
    size_t img_len = 0;
    r = spng_decoded_image_size(ctx, fmt, &img_len);
    if (r != 0 || img_len != want) {
        rc = r ? map_err(r, CV_ERR_CORRUPT, "image size")
               : CV_FAIL(CV_ERR_CORRUPT, "png: decodes to %zu bytes, want %zu", img_len, want);
        goto done;
    }
    uint8_t *dst = out->data + out->len;
    const bool in_place = d->channels == 1 && bps == 1;
    if (!in_place) {
        tmp = cv_malloc(want);
        if (!tmp) {
            rc = CV_FAIL(CV_ERR_NOMEM, "png: allocate %zu bytes", want);
            goto done;
        }
    }
    r = spng_decode_image(ctx, in_place ? dst : tmp, want, fmt, 0);
    if (r != 0) {
        rc = map_err(r, CV_ERR_CORRUPT, "decode");
        goto done;
    }
    /* The image is complete once its zlib stream ends; reading on to IEND also checks the last
     * IDAT CRC and catches files cut short after the pixels (libspng alone accepts those). */
    r = spng_decode_chunks(ctx);
    if (r != 0) {
        rc = map_err(r, CV_ERR_CORRUPT, "read the chunks after the image");
        goto done;
    }
    if (!in_place) {
        deinterleave(dst, tmp, npix, d->channels, bps);
    }
    out->len += want;
done:
    cv_free(tmp);
    spng_ctx_free(ctx);
    return rc;
}

static cv_status png_encode(const cv_chunk_desc *d, int level, const uint8_t *src, size_t n,
                            cv_buf *out)
{
    CV_TRY(check_desc(d));
    const size_t npix = chunk_pixels(d);
    const size_t bps = cv_dtype_size(d->dtype);
    if (n != npix * d->channels * bps) {
        return CV_FAIL(CV_ERR_ARG, "png: chunk buffer has %zu bytes, want %zu", n,
                       npix * d->channels * bps);
    }
    const int zlevel = level < 0 ? PNG_DEFAULT_LEVEL : level;
    if (zlevel > 9) {
        return CV_FAIL(CV_ERR_ARG, "png: compression level %d out of range 0..9", zlevel);
    }
    const size_t width = d->shape[0];
    const size_t height = npix / width;
    if (width > 0x7fffffffu || height > 0x7fffffffu) {
        return CV_FAIL(CV_ERR_ARG, "png: a %ux%ux%u chunk is a %zux%zu image, too large",
                       d->shape[0], d->shape[1], d->shape[2], width, height);
    }

    /* Interleave the planes, 16-bit values big-endian (SPNG_FMT_RAW), unless the chunk
     * already is the image. */
    const uint8_t *img = src;
    uint8_t *tmp = NULL;
    if (d->channels > 1 || bps > 1) {
        tmp = cv_malloc(n);
        if (!tmp) {
            return CV_FAIL(CV_ERR_NOMEM, "png: allocate %zu bytes", n);
        }
        for (uint32_t c = 0; c < d->channels; c++) {
            const uint8_t *plane = src + c * npix * bps;
            for (size_t i = 0; i < npix; i++) {
                uint8_t *t = tmp + (i * d->channels + c) * bps;
                if (bps == 1) {
                    t[0] = plane[i];
                } else {
                    t[0] = plane[2 * i + 1];
                    t[1] = plane[2 * i];
                }
            }
        }
        img = tmp;
    }

    static const uint8_t color_types[] = {
        SPNG_COLOR_TYPE_GRAYSCALE,
        SPNG_COLOR_TYPE_GRAYSCALE_ALPHA,
        SPNG_COLOR_TYPE_TRUECOLOR,
        SPNG_COLOR_TYPE_TRUECOLOR_ALPHA,
    };
    struct spng_ihdr ihdr = {
        (uint32_t)width,              /* width */
        (uint32_t)height,             /* height */
        (uint8_t)(8 * bps),           /* bit_depth */
        color_types[d->channels - 1], /* color_type */
        0,                            /* compression_method */
        0,                            /* filter_method */
        SPNG_INTERLACE_NONE,          /* interlace_method */
    };
    cv_status rc = CV_OK;
    spng_ctx *ctx = spng_ctx_new2(&png_alloc, SPNG_CTX_ENCODER);
    if (!ctx) {
        cv_free(tmp);
        return CV_FAIL(CV_ERR_NOMEM, "png: create encoder");
    }
    int r = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    if (r == 0) {
        r = spng_set_option(ctx, SPNG_IMG_COMPRESSION_LEVEL, zlevel);
    }
    if (r == 0) {
        r = spng_set_ihdr(ctx, &ihdr);
    }
    if (r == 0) {
        r = spng_encode_image(ctx, img, n, SPNG_FMT_RAW, SPNG_ENCODE_FINALIZE);
    }
    if (r != 0) {
        rc = map_err(r, CV_ERR_ARG, "encode");
    } else {
        size_t png_len = 0;
        void *png = spng_get_png_buffer(ctx, &png_len, &r);
        if (!png || r != 0) {
            rc = map_err(r ? r : SPNG_EMEM, CV_ERR_ARG, "get encoded buffer");
        } else {
            rc = cv__buf_append(out, png, png_len);
        }
        cv_free(png);
    }
    spng_ctx_free(ctx);
    cv_free(tmp);
    return rc;
}

const cv_codec cv_codec_png = {
    "png",             /* name */
    0,                 /* flags */
    "image/png",       /* content_type */
    NULL,              /* default_compress */
    PNG_DEFAULT_LEVEL, /* default_level */
    png_decode,        /* decode */
    png_encode,        /* encode */
};
