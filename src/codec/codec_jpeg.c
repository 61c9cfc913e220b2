/* SPDX-License-Identifier: BSD-3-Clause
 * codec_jpeg.c: the "jpeg" chunk encoding (precomputed-volume spec §5.2, neuroglancer
 * src/datasource/precomputed/volume.md) through libjpeg-turbo's TurboJPEG 2.x API. uint8 with
 * 1 channel (grayscale JPEG) or 3 (RGB pixels in the JPEG, channel planes in the chunk); the
 * chunk is one image X wide and Y*Z high, row y + Y*z. Encoding is CloudVolume's (simplejpeg:
 * tjCompress2, baseline, 4:4:4, quality 85). Grayscale images skip TurboJPEG: libjpeg's
 * raw-data path with TurboJPEG's settings writes the same bytes without copying every row twice
 * (colour conversion, edge padding); only the partial blocks at the right and bottom edges go
 * through a strip of 8 padded rows. No I/O here. */
#include "codec/codec.h"

#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include <jpeglib.h>

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
typedef struct gray_encoder gray_encoder;
typedef struct gray_decoder gray_decoder;

typedef struct tj_handles {
    tjhandle enc, dec;
    gray_encoder *gray;     /* the raw-data grayscale encoder */
    gray_decoder *gray_dec; /* and decoder */
} tj_handles;

static void gray_encoder_free(gray_encoder *g);
static void gray_decoder_free(gray_decoder *g);

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
    gray_encoder_free(h->gray);
    gray_decoder_free(h->gray_dec);
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

/* This thread's handles, none made yet; NULL if out of memory. */
static tj_handles *thread_handles(void)
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
    return h;
}

/* This thread's compressor (enc true) or decompressor; NULL if out of memory. */
static tjhandle thread_handle(bool enc)
{
    tj_handles *h = thread_handles();
    if (!h) {
        return NULL;
    }
    tjhandle *slot = enc ? &h->enc : &h->dec;
    if (!*slot) {
        *slot = enc ? tjInitCompress() : tjInitDecompress();
    }
    return *slot;
}

/* ---- grayscale decoding through libjpeg's raw-data path ------------------------------------ */

#define JPEG_SCAN_LIMIT 500 /* TurboJPEG's TJFLAG_LIMITSCANS */

/* One per thread: a libjpeg decompressor kept between chunks, with TurboJPEG's error rules for
 * tjDecompress2 with TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS (turbojpeg.c: any warning fails,
 * so does a scan past the 500th). */
struct gray_decoder {
    struct jpeg_decompress_struct dinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_progress_mgr progress;
    jmp_buf on_error;
    uint8_t *strip; /* 8 rows of whole blocks for the edge blocks (strip_cap bytes) */
    size_t strip_cap;
    char msg[JMSG_LENGTH_MAX];
};

/* A strip of at least `need` bytes in *strip (kept between chunks); false if out of memory. */
static bool strip_reserve(uint8_t **strip, size_t *cap, size_t need)
{
    if (need > *cap) {
        uint8_t *p = realloc(*strip, need);
        if (!p) {
            return false;
        }
        *strip = p;
        *cap = need;
    }
    return true;
}

static void gray_dec_error_exit(j_common_ptr c)
{
    gray_decoder *g = (gray_decoder *)c->client_data;
    (*c->err->format_message)(c, g->msg);
    longjmp(g->on_error, 1);
}

static void gray_dec_emit_message(j_common_ptr c, int level)
{
    if (level < 0) {
        gray_dec_error_exit(c);
    }
}

static void gray_dec_progress(j_common_ptr c)
{
    gray_decoder *g = (gray_decoder *)c->client_data;
    if (g->dinfo.input_scan_number > JPEG_SCAN_LIMIT) {
        snprintf(g->msg, sizeof g->msg, "Progressive JPEG image has more than %d scans",
                 JPEG_SCAN_LIMIT);
        longjmp(g->on_error, 1);
    }
}

static void gray_decoder_free(gray_decoder *g)
{
    if (g) {
        jpeg_destroy_decompress(&g->dinfo);
        free(g->strip);
        free(g);
    }
}

static bool create_decompressor(gray_decoder *g)
{
    if (setjmp(g->on_error)) {
        return false;
    }
    jpeg_create_decompress(&g->dinfo);
    return true;
}

/* This thread's grayscale decoder; NULL if out of memory. */
static gray_decoder *thread_gray_decoder(void)
{
    tj_handles *h = thread_handles();
    if (!h) {
        return NULL;
    }
    if (!h->gray_dec) {
        gray_decoder *g = calloc(1, sizeof *g);
        if (!g) {
            return NULL;
        }
        g->dinfo.err = jpeg_std_error(&g->jerr);
        g->jerr.error_exit = gray_dec_error_exit;
        g->jerr.emit_message = gray_dec_emit_message;
        g->progress.progress_monitor = gray_dec_progress;
        g->dinfo.client_data = g;
        if (!create_decompressor(g)) {
            free(g);
            return NULL;
        }
        g->dinfo.progress = &g->progress;
        h->gray_dec = g;
    }
    return h->gray_dec;
}

/* Decode a grayscale JPEG of width x height into dst as tjDecompress2 with TJPF_GRAY does, the
 * inverse DCT writing the rows in place; iMCU rows (8 image rows) with a partial block (a width
 * not a multiple of 8, the last rows) go through the strip, then their pixels into dst.
 * *fallback is set, with nothing decoded, when the image's sampling is not 1x1: TurboJPEG
 * decodes those. */
static cv_status decode_gray_raw(const uint8_t *src, size_t n, uint8_t *dst, size_t width,
                                 size_t height, bool *fallback)
{
    *fallback = false;
    gray_decoder *g = thread_gray_decoder();
    if (!g) {
        return CV_FAIL(CV_ERR_NOMEM, "jpeg: create decompressor: out of memory");
    }
    struct jpeg_decompress_struct *c = &g->dinfo;
    if (setjmp(g->on_error)) {
        cv_status rc = CV_FAIL(CV_ERR_CORRUPT, "jpeg: decompress: %s", g->msg);
        /* As with TurboJPEG's handles: start the next chunk with a fresh decompressor. */
        tj_handles *h = pthread_getspecific(handles_key);
        gray_decoder_free(h->gray_dec);
        h->gray_dec = NULL;
        return rc;
    }
    jpeg_mem_src(c, src, (unsigned long)n);
    jpeg_read_header(c, TRUE);
    if (c->num_components != 1 || c->jpeg_color_space != JCS_GRAYSCALE ||
        c->comp_info[0].h_samp_factor != 1 || c->comp_info[0].v_samp_factor != 1 ||
        c->image_width != width || c->image_height != height) {
        jpeg_abort_decompress(c);
        *fallback = true;
        return CV_OK;
    }
    /* The inverse DCT writes whole blocks: padded_width (< width + 8) samples per row. */
    const size_t padded_width = (width + DCTSIZE - 1) / DCTSIZE * DCTSIZE;
    if (!strip_reserve(&g->strip, &g->strip_cap, DCTSIZE * padded_width)) {
        jpeg_abort_decompress(c);
        return CV_FAIL(CV_ERR_NOMEM, "jpeg: allocate %zu bytes", DCTSIZE * padded_width);
    }
    c->out_color_space = JCS_GRAYSCALE;
    c->raw_data_out = TRUE;
    jpeg_start_decompress(c);
    JSAMPROW rows[DCTSIZE];
    JSAMPARRAY planes[1] = {rows};
    while (c->output_scanline < c->output_height) {
        const size_t y = c->output_scanline;
        const bool in_place = padded_width == width && height - y >= DCTSIZE;
        for (size_t i = 0; i < DCTSIZE; i++) {
            rows[i] = in_place ? dst + (y + i) * width : g->strip + i * padded_width;
        }
        jpeg_read_raw_data(c, planes, DCTSIZE);
        if (!in_place) {
            for (size_t i = 0; i < DCTSIZE && y + i < height; i++) {
                memcpy(dst + (y + i) * width, rows[i], width);
            }
        }
    }
    jpeg_finish_decompress(c);
    return CV_OK;
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
        bool fallback = false;
        rc = decode_gray_raw(src, n, dst, (size_t)w, (size_t)ht, &fallback);
        if (rc != CV_OK) {
            goto done;
        }
        if (!fallback) {
            out->len += want;
            goto done;
        }
    }
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

/* ---- grayscale encoding through libjpeg's raw-data path ------------------------------------ */

/* One per thread: a libjpeg compressor kept between chunks, its error handler and a destination
 * that writes into the output cv_buf. */
struct gray_encoder {
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_destination_mgr dest;
    jmp_buf on_error;
    cv_buf *out;
    size_t end;       /* offset in out->data where the destination's current space ends */
    size_t grow;      /* bytes added when that space is full */
    cv_status failed; /* CV_OK: a libjpeg error (message in msg); else the buffer's failure */
    bool warned;      /* TurboJPEG fails a compression that warned: so does this */
    uint8_t *strip;   /* 8 padded rows for the edge blocks (strip_cap bytes) */
    size_t strip_cap;
    char msg[JMSG_LENGTH_MAX];
};

static void gray_error_exit(j_common_ptr c)
{
    gray_encoder *g = (gray_encoder *)c->client_data;
    (*c->err->format_message)(c, g->msg);
    longjmp(g->on_error, 1);
}

static void gray_emit_message(j_common_ptr c, int level)
{
    gray_encoder *g = (gray_encoder *)c->client_data;
    if (level < 0 && !g->warned) {
        g->warned = true;
        (*c->err->format_message)(c, g->msg);
    }
}

static void gray_dest_init(j_compress_ptr c)
{
    (void)c; /* the space is set before jpeg_start_compress */
}

/* The space (sized by tjBufSize, TurboJPEG's worst case) is full: add more after it. */
static boolean gray_dest_full(j_compress_ptr c)
{
    gray_encoder *g = (gray_encoder *)c->client_data;
    cv_buf *out = g->out;
    if (g->grow > SIZE_MAX - g->end) {
        g->failed = CV_FAIL(CV_ERR_NOMEM, "jpeg: buffer size overflow");
        longjmp(g->on_error, 1);
    }
    g->failed = cv__buf_reserve(out, g->end + g->grow);
    if (g->failed != CV_OK) {
        longjmp(g->on_error, 1);
    }
    g->dest.next_output_byte = out->data + g->end;
    g->dest.free_in_buffer = g->grow;
    g->end += g->grow;
    return TRUE;
}

static void gray_dest_term(j_compress_ptr c)
{
    gray_encoder *g = (gray_encoder *)c->client_data;
    g->out->len = (size_t)(g->dest.next_output_byte - g->out->data);
}

static void gray_encoder_free(gray_encoder *g)
{
    if (g) {
        jpeg_destroy_compress(&g->cinfo);
        free(g->strip);
        free(g);
    }
}

static bool create_compressor(gray_encoder *g)
{
    if (setjmp(g->on_error)) {
        return false;
    }
    jpeg_create_compress(&g->cinfo);
    return true;
}

/* A compressor with this file's error handler and destination; NULL if out of memory. */
static gray_encoder *gray_encoder_new(void)
{
    gray_encoder *g = calloc(1, sizeof *g);
    if (!g) {
        return NULL;
    }
    g->cinfo.err = jpeg_std_error(&g->jerr);
    g->jerr.error_exit = gray_error_exit;
    g->jerr.emit_message = gray_emit_message;
    g->cinfo.client_data = g;
    if (!create_compressor(g)) {
        free(g); /* libjpeg's memory manager could not start: nothing else was allocated */
        return NULL;
    }
    g->dest.init_destination = gray_dest_init;
    g->dest.empty_output_buffer = gray_dest_full;
    g->dest.term_destination = gray_dest_term;
    return g;
}

/* This thread's grayscale encoder; NULL if out of memory. Not inlined into encode_gray_raw,
 * whose setjmp would then have to keep the new encoder's locals. */
__attribute__((noinline)) static gray_encoder *thread_gray_encoder(void)
{
    tj_handles *h = thread_handles();
    if (!h) {
        return NULL;
    }
    if (!h->gray) {
        h->gray = gray_encoder_new();
    }
    return h->gray;
}

/* TurboJPEG reads these variables on every compression; with any of them set, the chunk goes
 * through TurboJPEG so that they keep their effect. */
static bool tj_environment_set(void)
{
    return getenv("TJ_OPTIMIZE") || getenv("TJ_ARITHMETIC") || getenv("TJ_RESTART") ||
           getenv("TJ_PROGRESSIVE");
}

/* Encode a width x height grayscale image as tjCompress2 does with TJPF_GRAY, TJSAMP_GRAY and
 * no flags (turbojpeg.c setCompDefaults: libjpeg's defaults, the quality's tables, the fast
 * integer DCT below quality 96), rows handed to the DCT directly. iMCU rows with a partial block
 * go through the strip, padded as libjpeg pads (jcsample.c expand_right_edge, jcprepct.c
 * expand_bottom_edge: the last column and the last row repeated). */
static cv_status encode_gray_raw(const uint8_t *pixels, size_t width, size_t height, int quality,
                                 unsigned long bound, cv_buf *out)
{
    gray_encoder *g = thread_gray_encoder();
    if (!g) {
        return CV_FAIL(CV_ERR_NOMEM, "jpeg: create compressor: out of memory");
    }
    const size_t padded_width = (width + DCTSIZE - 1) / DCTSIZE * DCTSIZE;
    if (!strip_reserve(&g->strip, &g->strip_cap, DCTSIZE * padded_width)) {
        return CV_FAIL(CV_ERR_NOMEM, "jpeg: allocate %zu bytes", DCTSIZE * padded_width);
    }
    struct jpeg_compress_struct *c = &g->cinfo;
    const size_t start = out->len;
    g->out = out;
    g->grow = bound;
    g->end = start + bound;
    g->failed = CV_OK;
    g->warned = false;
    if (setjmp(g->on_error)) {
        cv_status rc =
            g->failed != CV_OK ? g->failed : CV_FAIL(CV_ERR_ARG, "jpeg: compress: %s", g->msg);
        out->len = start;
        /* As with TurboJPEG's handles: start the next chunk with a fresh compressor. */
        tj_handles *h = pthread_getspecific(handles_key);
        gray_encoder_free(h->gray);
        h->gray = NULL;
        return rc;
    }
    c->image_width = (JDIMENSION)width;
    c->image_height = (JDIMENSION)height;
    c->in_color_space = JCS_GRAYSCALE;
    c->input_components = 1;
    jpeg_set_defaults(c);
    jpeg_set_quality(c, quality, TRUE);
    c->dct_method = quality >= 96 ? JDCT_ISLOW : JDCT_FASTEST;
    jpeg_set_colorspace(c, JCS_GRAYSCALE);
    c->raw_data_in = TRUE;
    g->dest.next_output_byte = out->data + start;
    g->dest.free_in_buffer = bound;
    c->dest = &g->dest;
    jpeg_start_compress(c, TRUE);
    /* One iMCU row is 8 image rows: the DCT reads them in place. */
    JSAMPROW rows[DCTSIZE];
    JSAMPARRAY planes[1] = {rows};
    for (size_t y = 0; y < height; y += DCTSIZE) {
        const bool in_place = padded_width == width && height - y >= DCTSIZE;
        for (size_t i = 0; i < DCTSIZE; i++) {
            const uint8_t *row = pixels + (y + i < height ? y + i : height - 1) * width;
            if (in_place) {
                rows[i] = (JSAMPROW)(uintptr_t)row; /* only read */
                continue;
            }
            rows[i] = g->strip + i * padded_width;
            memcpy(rows[i], row, width);
            memset(rows[i] + width, row[width - 1], padded_width - width);
        }
        jpeg_write_raw_data(c, planes, DCTSIZE);
    }
    jpeg_finish_compress(c);
    if (g->warned) {
        out->len = start;
        return CV_FAIL(CV_ERR_ARG, "jpeg: compress: %s", g->msg);
    }
    return CV_OK;
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

    if (d->channels == 1 && !tj_environment_set()) {
        unsigned long bound = tjBufSize((int)width, (int)height, TJSAMP_GRAY);
        if (bound == (unsigned long)-1) {
            return CV_FAIL(CV_ERR_ARG, "jpeg: size the output: %s", tjGetErrorStr2(NULL));
        }
        if (bound > SIZE_MAX - out->len) {
            return CV_FAIL(CV_ERR_NOMEM, "jpeg: buffer size overflow");
        }
        CV_TRY(cv__buf_reserve(out, out->len + bound));
        return encode_gray_raw(src, width, height, quality, bound, out);
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
            if (tj_environment_set()) {
                /* TurboJPEG 2.1 leaves a handle that made an optimised (TJ_OPTIMIZE) image
                 * unfit for the next one: start afresh, as simplejpeg does for every image. */
                drop_handle(true);
            }
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
