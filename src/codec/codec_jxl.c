/* SPDX-License-Identifier: BSD-3-Clause
 * codec_jxl.c: the "jxl" (JPEG XL) chunk encoding (precomputed-volume spec §5.4) through
 * libjxl 0.7. uint8; the chunk is an image X wide and Y*Z high (row y + Y*z). Writes what
 * CloudVolume writes (imagecodecs.jpegxl_encode): a bare codestream, one grayscale frame per
 * channel (3 channels = a 3-frame animation, channel planar), quality 85 (distance 1.45),
 * lossless at quality >= 100, effort 5. Reads, like Neuroglancer, every displayed frame in
 * order; frames with several samples per pixel (RGB, RGBA) are de-interleaved into planes.
 * Built only with CV_WITH_JXL. No I/O here. */
#include "codec/codec.h"

#include <inttypes.h>
#include <jxl/decode.h>
#include <jxl/encode.h>

#define JXL_DEFAULT_QUALITY 85 /* CloudVolume's jxl_quality default */
#define JXL_CV_EFFORT 5        /* CloudVolume's jxl_effort default */

/* libjxl reports decoder failures only as JXL_DEC_ERROR, without a reason (enc == NULL), and
 * encoder failures as a JxlEncoderError; this turns both into one cv_status. */
static cv_status map_err(JxlEncoder *enc, const char *op)
{
    if (!enc) {
        return CV_FAIL(CV_ERR_CORRUPT, "jxl: %s: invalid or unsupported JPEG XL data", op);
    }
    JxlEncoderError e = JxlEncoderGetError(enc);
    switch (e) {
    case JXL_ENC_ERR_OOM:
        return CV_FAIL(CV_ERR_NOMEM, "jxl: %s: out of memory", op);
    case JXL_ENC_ERR_NOT_SUPPORTED:
        return CV_FAIL(CV_ERR_UNSUPPORTED, "jxl: %s: not supported by this libjxl", op);
    case JXL_ENC_ERR_API_USAGE:
    case JXL_ENC_ERR_BAD_INPUT:
        return CV_FAIL(CV_ERR_ARG, "jxl: %s: rejected by libjxl (error %d)", op, (int)e);
    default:
        return CV_FAIL(CV_ERR_IO, "jxl: %s: encoder failed (error %d)", op, (int)e);
    }
}

/* JxlEncoderDistanceFromQuality() of libjxl >= 0.9, which imagecodecs uses to turn CV's
 * quality into a butteraugli distance; Debian's libjxl 0.7 lacks it. */
static float distance_from_quality(int quality)
{
    const float q = (float)quality;
    if (q >= 100.0f) {
        return 0.0f;
    }
    if (q >= 30.0f) {
        return 0.1f + (100.0f - q) * 0.09f;
    }
    return 53.0f / 3000.0f * q * q - 23.0f / 20.0f * q + 25.0f;
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

static cv_status check_desc(const cv_chunk_desc *d, uint32_t max_channels)
{
    if (d->dtype != CV_UINT8 || d->channels < 1 || d->channels > max_channels) {
        return CV_FAIL(CV_ERR_ARG, "jxl: needs uint8 with %s channels, not %u x %s",
                       max_channels == 4 ? "1 to 4" : "1 or 3", d->channels,
                       cv_dtype_name(d->dtype) ? cv_dtype_name(d->dtype) : "?");
    }
    const size_t npix = chunk_pixels(d);
    if (npix == 0 || npix > SIZE_MAX / 4) {
        return CV_FAIL(CV_ERR_ARG, "jxl: bad chunk shape %ux%ux%u", d->shape[0], d->shape[1],
                       d->shape[2]);
    }
    return CV_OK;
}

static cv_status jxl_decode(const cv_chunk_desc *d, const uint8_t *src, size_t n, cv_buf *out)
{
    CV_TRY(check_desc(d, 4));
    const size_t npix = chunk_pixels(d);
    const size_t want = npix * d->channels;
    if (out->len > SIZE_MAX - want) {
        return CV_FAIL(CV_ERR_NOMEM, "jxl: buffer size overflow");
    }
    /* Neuroglancer's own signature check: a bare codestream or the ISO-BMFF container. */
    const JxlSignature sig = JxlSignatureCheck(src, n);
    if (sig != JXL_SIG_CODESTREAM && sig != JXL_SIG_CONTAINER) {
        return CV_FAIL(CV_ERR_CORRUPT, "jxl: %zu bytes with no JPEG XL signature", n);
    }
    /* Check the output fits before the library allocates anything for the image. */
    CV_TRY(cv__buf_reserve(out, out->len + want));

    JxlDecoder *dec = JxlDecoderCreate(NULL);
    if (!dec) {
        return CV_FAIL(CV_ERR_NOMEM, "jxl: create decoder");
    }
    cv_status rc = CV_OK;
    uint8_t *frame = NULL; /* one interleaved frame when it has several samples per pixel */
    uint32_t spp = 0;      /* samples per pixel of every frame: colour channels + alpha */
    uint32_t nframes = 0, want_frames = 0;
    if (JxlDecoderSubscribeEvents(dec, JXL_DEC_BASIC_INFO | JXL_DEC_FRAME | JXL_DEC_FULL_IMAGE) !=
            JXL_DEC_SUCCESS ||
        JxlDecoderSetKeepOrientation(dec, JXL_TRUE) != JXL_DEC_SUCCESS ||
        JxlDecoderSetInput(dec, src, n) != JXL_DEC_SUCCESS) {
        rc = map_err(NULL, "set up decoder");
        goto done;
    }
    JxlDecoderCloseInput(dec);
    for (;;) {
        const JxlDecoderStatus st = JxlDecoderProcessInput(dec);
        if (st == JXL_DEC_SUCCESS) {
            break;
        }
        if (st == JXL_DEC_ERROR) {
            rc = map_err(NULL, "decode");
            goto done;
        }
        if (st == JXL_DEC_NEED_MORE_INPUT) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "jxl: truncated data (%zu bytes)", n);
            goto done;
        }
        if (st == JXL_DEC_BASIC_INFO) {
            JxlBasicInfo info;
            if (JxlDecoderGetBasicInfo(dec, &info) != JXL_DEC_SUCCESS) {
                rc = map_err(NULL, "read header");
                goto done;
            }
            /* Only the area must match (Neuroglancer's rule, as for jpeg and png). */
            if ((size_t)info.xsize * info.ysize != npix) {
                rc = CV_FAIL(CV_ERR_CORRUPT,
                             "jxl: image is %" PRIu32 "x%" PRIu32
                             ", a %ux%ux%u chunk needs %zu pixels",
                             info.xsize, info.ysize, d->shape[0], d->shape[1], d->shape[2], npix);
                goto done;
            }
            spp = info.num_color_channels + (info.alpha_bits ? 1u : 0u);
            if (spp == 0 || spp > d->channels || d->channels % spp != 0) {
                rc = CV_FAIL(CV_ERR_CORRUPT,
                             "jxl: frames of %u samples per pixel cannot make %u channels", spp,
                             d->channels);
                goto done;
            }
            want_frames = d->channels / spp;
            if (spp > 1) {
                frame = cv_malloc(npix * spp);
                if (!frame) {
                    rc = CV_FAIL(CV_ERR_NOMEM, "jxl: allocate %zu bytes", npix * spp);
                    goto done;
                }
            }
        } else if (st == JXL_DEC_FRAME) {
            /* Refuse surplus frames before their pixels are decoded. */
            if (++nframes > want_frames) {
                rc = CV_FAIL(CV_ERR_CORRUPT, "jxl: more than the %u frames of %u channels",
                             want_frames, d->channels);
                goto done;
            }
        } else if (st == JXL_DEC_NEED_IMAGE_OUT_BUFFER) {
            const JxlPixelFormat fmt = {spp, JXL_TYPE_UINT8, JXL_NATIVE_ENDIAN, 0};
            size_t need = 0;
            if (nframes == 0 || JxlDecoderImageOutBufferSize(dec, &fmt, &need) != JXL_DEC_SUCCESS ||
                need != npix * spp) {
                rc = CV_FAIL(CV_ERR_CORRUPT, "jxl: frame %u needs %zu bytes, want %zu", nframes,
                             need, npix * spp);
                goto done;
            }
            uint8_t *dst = spp == 1 ? out->data + out->len + (size_t)(nframes - 1) * npix : frame;
            if (JxlDecoderSetImageOutBuffer(dec, &fmt, dst, need) != JXL_DEC_SUCCESS) {
                rc = map_err(NULL, "set output buffer");
                goto done;
            }
        } else if (st == JXL_DEC_FULL_IMAGE) {
            if (spp > 1) {
                uint8_t *planes = out->data + out->len + (size_t)(nframes - 1) * spp * npix;
                for (uint32_t s = 0; s < spp; s++) {
                    for (size_t i = 0; i < npix; i++) {
                        planes[s * npix + i] = frame[i * spp + s];
                    }
                }
            }
        } else {
            rc = CV_FAIL(CV_ERR_CORRUPT, "jxl: unexpected decoder status %d", (int)st);
            goto done;
        }
    }
    if (nframes != want_frames || want_frames == 0) {
        rc = CV_FAIL(CV_ERR_CORRUPT, "jxl: %u frames, %u channels need %u", nframes, d->channels,
                     want_frames);
        goto done;
    }
    out->len += want;
done:
    cv_free(frame);
    JxlDecoderDestroy(dec);
    return rc;
}

/* Drain the encoder's output into `out`, growing it as needed. */
static cv_status drain(JxlEncoder *enc, cv_buf *out)
{
    for (;;) {
        if (out->cap - out->len < 4096) {
            const size_t grow = out->cap < 65536 ? 65536 : out->cap;
            CV_TRY(cv__buf_reserve(out, out->len + grow));
        }
        uint8_t *next = out->data + out->len;
        size_t avail = out->cap - out->len;
        const JxlEncoderStatus st = JxlEncoderProcessOutput(enc, &next, &avail);
        out->len = (size_t)(next - out->data);
        if (st == JXL_ENC_SUCCESS) {
            return CV_OK;
        }
        if (st != JXL_ENC_NEED_MORE_OUTPUT) {
            return map_err(enc, "write output");
        }
        CV_TRY(cv__buf_reserve(out, out->cap + (out->cap < 65536 ? 65536 : out->cap)));
    }
}

static cv_status jxl_encode(const cv_chunk_desc *d, int level, const uint8_t *src, size_t n,
                            cv_buf *out)
{
    CV_TRY(check_desc(d, 3));
    if (d->channels == 2) {
        return CV_FAIL(CV_ERR_ARG, "jxl: needs uint8 with 1 or 3 channels, not 2");
    }
    const size_t npix = chunk_pixels(d);
    if (n != npix * d->channels) {
        return CV_FAIL(CV_ERR_ARG, "jxl: chunk buffer has %zu bytes, want %zu", n,
                       npix * d->channels);
    }
    const size_t width = d->shape[0];
    const size_t height = npix / width;
    if (height > UINT32_MAX) {
        return CV_FAIL(CV_ERR_ARG, "jxl: a %ux%ux%u chunk is a %zux%zu image, too large",
                       d->shape[0], d->shape[1], d->shape[2], width, height);
    }
    const int quality = level < 0 ? JXL_DEFAULT_QUALITY : level;
    const bool lossless = quality >= 100;

    JxlEncoder *enc = JxlEncoderCreate(NULL);
    if (!enc) {
        return CV_FAIL(CV_ERR_NOMEM, "jxl: create encoder");
    }
    const size_t start = out->len;
    cv_status rc = CV_OK;
    JxlBasicInfo info;
    JxlEncoderInitBasicInfo(&info);
    info.xsize = (uint32_t)width;
    info.ysize = (uint32_t)height;
    info.bits_per_sample = 8;
    info.num_color_channels = 1;
    info.uses_original_profile = lossless ? JXL_TRUE : JXL_FALSE; /* no XYB when lossless */
    if (d->channels > 1) {
        /* imagecodecs turns CV's (3, Y*Z, X) array into 3 gray frames of an animation. */
        info.have_animation = JXL_TRUE;
        info.animation.tps_numerator = 10;
        info.animation.tps_denominator = 1;
        info.animation.num_loops = 0;
        info.animation.have_timecodes = JXL_FALSE;
    }
    JxlColorEncoding color;
    JxlColorEncodingSetToSRGB(&color, JXL_TRUE);
    if (JxlEncoderSetBasicInfo(enc, &info) != JXL_ENC_SUCCESS) {
        rc = map_err(enc, "set basic info");
        goto done;
    }
    if (JxlEncoderSetColorEncoding(enc, &color) != JXL_ENC_SUCCESS ||
        JxlEncoderUseContainer(enc, JXL_FALSE) != JXL_ENC_SUCCESS) {
        rc = map_err(enc, "set colour encoding");
        goto done;
    }
    JxlEncoderFrameSettings *fs = JxlEncoderFrameSettingsCreate(enc, NULL);
    if (!fs) {
        rc = map_err(enc, "create frame settings");
        goto done;
    }
    JxlEncoderStatus st = lossless ? JxlEncoderSetFrameLossless(fs, JXL_TRUE)
                                   : JxlEncoderSetFrameDistance(fs, distance_from_quality(quality));
    if (st == JXL_ENC_SUCCESS) {
        st = JxlEncoderFrameSettingsSetOption(fs, JXL_ENC_FRAME_SETTING_EFFORT, JXL_CV_EFFORT);
    }
    /* libjxl 0.7 picks a progressive DC frame by itself above distance 4.5 (quality < 50) and
     * then crashes (NULL read) on narrow, tall images such as a 1x64x64 chunk: found by
     * fuzz_codec_jxl, seed crash-jxl07-progressive-dc. Turning it off only changes lossy
     * output at low quality; decoders read either. */
    if (st == JXL_ENC_SUCCESS && !lossless) {
        st = JxlEncoderFrameSettingsSetOption(fs, JXL_ENC_FRAME_SETTING_PROGRESSIVE_DC, 0);
    }
    if (st != JXL_ENC_SUCCESS) {
        rc = map_err(enc, "set quality");
        goto done;
    }
    const JxlPixelFormat fmt = {1, JXL_TYPE_UINT8, JXL_NATIVE_ENDIAN, 0};
    for (uint32_t c = 0; c < d->channels; c++) {
        if (d->channels > 1) {
            JxlFrameHeader fh;
            JxlEncoderInitFrameHeader(&fh);
            fh.duration = 1;
            if (JxlEncoderSetFrameHeader(fs, &fh) != JXL_ENC_SUCCESS) {
                rc = map_err(enc, "set frame header");
                goto done;
            }
        }
        if (JxlEncoderAddImageFrame(fs, &fmt, src + (size_t)c * npix, npix) != JXL_ENC_SUCCESS) {
            rc = map_err(enc, "add frame");
            goto done;
        }
    }
    JxlEncoderCloseInput(enc);
    rc = drain(enc, out);
done:
    if (rc != CV_OK) {
        out->len = start;
    }
    JxlEncoderDestroy(enc);
    return rc;
}

const cv_codec cv_codec_jxl = {
    "jxl",               /* name */
    CV_CODEC_LOSSY,      /* flags */
    "image/jxl",         /* content_type */
    NULL,                /* default_compress */
    JXL_DEFAULT_QUALITY, /* default_level */
    jxl_decode,          /* decode */
    jxl_encode,          /* encode */
};
