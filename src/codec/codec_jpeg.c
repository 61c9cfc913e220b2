/* SPDX-License-Identifier: BSD-3-Clause
 * codec_jpeg.c: the "jpeg" chunk encoding (precomputed-volume spec §5.2, neuroglancer
 * src/datasource/precomputed/volume.md) through libjpeg-turbo's TurboJPEG 2.x API. uint8 with
 * 1 channel (grayscale JPEG) or 3 (RGB pixels in the JPEG, channel planes in the chunk); the
 * chunk is one image X wide and Y*Z high, row y + Y*z. Encoding is CloudVolume's (simplejpeg:
 * tjCompress2, baseline, 4:4:4, quality 85). No I/O here. */
#include "codec/codec.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <turbojpeg.h>

#define JPEG_DEFAULT_QUALITY 85 /* CloudVolume's; TensorStore uses 75 */
#define JPEG_MAX_DIM 65535      /* a JPEG frame header holds 16-bit sizes */

/* Every TurboJPEG failure becomes `rc` with the library's message (warnings such as "Premature
 * end of JPEG file" included: TJFLAG_STOPONWARNING); no handle means the handle itself could
 * not be allocated. */
static cv_status map_err(tjhandle h, cv_status rc, const char *op)
{
    if (!h) {
        return CV_FAIL(CV_ERR_NOMEM, "jpeg: %s: %s", op, tjGetErrorStr2(NULL));
    }
    return CV_FAIL(rc, "jpeg: %s: %s", op, tjGetErrorStr2(h));
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
    if (d->dtype != CV_UINT8 || (d->channels != 1 && d->channels != 3)) {
        return CV_FAIL(CV_ERR_ARG, "jpeg: needs uint8 with 1 or 3 channels, not %u x %s",
                       d->channels, cv_dtype_name(d->dtype) ? cv_dtype_name(d->dtype) : "?");
    }
    if (chunk_pixels(d) == 0 || chunk_pixels(d) > SIZE_MAX / 3) {
        return CV_FAIL(CV_ERR_ARG, "jpeg: bad chunk shape %ux%ux%u", d->shape[0], d->shape[1],
                       d->shape[2]);
    }
    return CV_OK;
}

/* Components in a JPEG of this colour space; 0 for the ones a volume can't hold. */
static uint32_t colorspace_components(int cs)
{
    switch (cs) {
    case TJCS_GRAY:
        return 1;
    case TJCS_RGB:
    case TJCS_YCbCr:
        return 3;
    default: /* CMYK, YCCK */
        return 4;
    }
}

/* TurboJPEG handles cost more to make than a small chunk takes to code: each thread keeps one
 * of each, freed when the thread ends. A handle stays usable after a failed call. */
typedef struct tj_handles {
    tjhandle enc, dec;
} tj_handles;

static pthread_key_t handles_key;
static pthread_once_t handles_once = PTHREAD_ONCE_INIT;

static void free_handles(void *p)
{
    tj_handles *h = p;
    if (h->enc) {
        tjDestroy(h->enc);
    }
    if (h->dec) {
        tjDestroy(h->dec);
    }
    free(h);
}

static void make_key(void)
{
    pthread_key_create(&handles_key, free_handles);
}

/* Forget this thread's handle after a failure: TurboJPEG 2.1 keeps state from a failed call
 * (a later header read then fails with "Bogus DQT index"), so the next call starts afresh. */
static void drop_handle(bool enc)
{
    tj_handles *h = pthread_getspecific(handles_key);
    tjhandle *slot = h ? (enc ? &h->enc : &h->dec) : NULL;
    if (slot && *slot) {
        tjDestroy(*slot);
        *slot = NULL;
    }
}

/* This thread's compressor (enc true) or decompressor; NULL if out of memory. */
static tjhandle thread_handle(bool enc)
{
    pthread_once(&handles_once, make_key);
    tj_handles *h = pthread_getspecific(handles_key);
    if (!h) {
        h = calloc(1, sizeof *h);
        if (!h || pthread_setspecific(handles_key, h) != 0) {
            free(h);
            return NULL;
        }
    }
    tjhandle *slot = enc ? &h->enc : &h->dec;
    if (!*slot) {
        *slot = enc ? tjInitCompress() : tjInitDecompress();
    }
    return *slot;
}

static cv_status jpeg_decode(const cv_chunk_desc *d, const uint8_t *src, size_t n, cv_buf *out)
{
    CV_TRY(check_desc(d));
    const size_t npix = chunk_pixels(d);
    const size_t want = npix * d->channels;
    if (n == 0 || n > ULONG_MAX) {
        return CV_FAIL(CV_ERR_CORRUPT, "jpeg: %zu bytes is no JPEG image", n);
    }
    /* Check the output fits before the library allocates anything for the image. */
    if (out->len > SIZE_MAX - want) {
        return CV_FAIL(CV_ERR_NOMEM, "jpeg: buffer size overflow");
    }
    CV_TRY(cv__buf_reserve(out, out->len + want));

    tjhandle h = thread_handle(false);
    if (!h) {
        return map_err(NULL, CV_ERR_NOMEM, "create decompressor");
    }
    cv_status rc = CV_OK;
    uint8_t *rgb = NULL;
    int w = 0, ht = 0, subsamp = 0, cs = 0;
    if (tjDecompressHeader3(h, src, (unsigned long)n, &w, &ht, &subsamp, &cs) != 0) {
        rc = map_err(h, CV_ERR_CORRUPT, "read header");
        goto done;
    }
    /* Neuroglancer's and TensorStore's rule: only the area must match, rows of any width
     * concatenate to the x-fastest order. */
    if (w <= 0 || ht <= 0 || (size_t)w * (size_t)ht != npix) {
        rc = CV_FAIL(CV_ERR_CORRUPT, "jpeg: image is %dx%d, a %ux%ux%u chunk needs %zu pixels", w,
                     ht, d->shape[0], d->shape[1], d->shape[2], npix);
        goto done;
    }
    if (colorspace_components(cs) != d->channels) {
        rc = CV_FAIL(CV_ERR_CORRUPT, "jpeg: image has %u colour components, the chunk %u channels",
                     colorspace_components(cs), d->channels);
        goto done;
    }
    /* LIMITSCANS stops progressive images with absurd scan counts (CPU bombs); a warning such
     * as a premature end of data fails the chunk, as simplejpeg's strict mode does for CV. */
    const int flags = TJFLAG_LIMITSCANS | TJFLAG_STOPONWARNING;
    uint8_t *dst = out->data + out->len;
    if (d->channels == 1) {
        if (tjDecompress2(h, src, (unsigned long)n, dst, w, 0, ht, TJPF_GRAY, flags) != 0) {
            rc = map_err(h, CV_ERR_CORRUPT, "decompress");
            goto done;
        }
    } else {
        rgb = cv_malloc(want);
        if (!rgb) {
            rc = CV_FAIL(CV_ERR_NOMEM, "jpeg: allocate %zu bytes", want);
            goto done;
        }
        /* YCbCr (and any subsampling) comes out as RGB pixels; de-interleave to planes. */
        if (tjDecompress2(h, src, (unsigned long)n, rgb, w, 0, ht, TJPF_RGB, flags) != 0) {
            rc = map_err(h, CV_ERR_CORRUPT, "decompress");
            goto done;
        }
        for (size_t i = 0; i < npix; i++) {
            dst[i] = rgb[3 * i];
            dst[npix + i] = rgb[3 * i + 1];
            dst[2 * npix + i] = rgb[3 * i + 2];
        }
    }
    out->len += want;
done:
    cv_free(rgb);
    if (rc != CV_OK) {
        drop_handle(false);
    }
    return rc;
}

static cv_status jpeg_encode(const cv_chunk_desc *d, int level, const uint8_t *src, size_t n,
                             cv_buf *out)
{
    CV_TRY(check_desc(d));
    const size_t npix = chunk_pixels(d);
    if (n != npix * d->channels) {
        return CV_FAIL(CV_ERR_ARG, "jpeg: chunk buffer has %zu bytes, want %zu", n,
                       npix * d->channels);
    }
    const int quality = level < 0 ? JPEG_DEFAULT_QUALITY : level;
    if (quality > 100) {
        return CV_FAIL(CV_ERR_ARG, "jpeg: quality %d out of range 0..100", quality);
    }
    const size_t width = d->shape[0];
    const size_t height = npix / width;
    if (width > JPEG_MAX_DIM || height > JPEG_MAX_DIM) {
        return CV_FAIL(CV_ERR_ARG,
                       "jpeg: a %ux%ux%u chunk is a %zux%zu image; JPEG allows %d per side",
                       d->shape[0], d->shape[1], d->shape[2], width, height, JPEG_MAX_DIM);
    }

    const uint8_t *pixels = src;
    uint8_t *rgb = NULL;
    if (d->channels == 3) {
        rgb = cv_malloc(n);
        if (!rgb) {
            return CV_FAIL(CV_ERR_NOMEM, "jpeg: allocate %zu bytes", n);
        }
        for (size_t i = 0; i < npix; i++) {
            rgb[3 * i] = src[i];
            rgb[3 * i + 1] = src[npix + i];
            rgb[3 * i + 2] = src[2 * npix + i];
        }
        pixels = rgb;
    }

    tjhandle h = thread_handle(true);
    if (!h) {
        cv_free(rgb);
        return map_err(NULL, CV_ERR_NOMEM, "create compressor");
    }
    /* Compress straight into the output: reserve the worst case, no library allocation. */
    const int samp = d->channels == 1 ? TJSAMP_GRAY : TJSAMP_444;
    unsigned long bound = tjBufSize((int)width, (int)height, samp);
    cv_status rc = bound == (unsigned long)-1 ? map_err(h, CV_ERR_ARG, "size the output")
                                              : cv__buf_reserve(out, out->len + bound);
    if (rc == CV_OK) {
        unsigned char *jpeg = out->data + out->len;
        unsigned long jpeg_len = bound;
        /* Flags as simplejpeg: baseline, accurate integer DCT, JFIF header. */
        if (tjCompress2(h, pixels, (int)width, 0, (int)height,
                        d->channels == 1 ? TJPF_GRAY : TJPF_RGB, &jpeg, &jpeg_len, samp, quality,
                        TJFLAG_NOREALLOC) != 0) {
            rc = map_err(h, CV_ERR_ARG, "compress");
            drop_handle(true);
        } else {
            out->len += jpeg_len;
        }
    }
    cv_free(rgb);
    return rc;
}

const cv_codec cv_codec_jpeg = {
    "jpeg",               /* name */
    CV_CODEC_LOSSY,       /* flags */
    "image/jpeg",         /* content_type */
    NULL,                 /* default_compress */
    JPEG_DEFAULT_QUALITY, /* default_level */
    jpeg_decode,          /* decode */
    jpeg_encode,          /* encode */
};
