/* SPDX-License-Identifier: BSD-3-Clause
 * test_codec_image.c: the image chunk encodings jpeg, png and jxl (precomputed-volume spec
 * §5.2-5.4): exact png round trips for every dtype/channel count and clipped shapes, the 2-D
 * layout (width X, height Y*Z, channels interleaved) checked by decoding with the libraries
 * directly, jpeg pixels equal to libjpeg-turbo's own decode, progressive JPEGs and interlaced
 * PNGs (made here and by Python's PIL/pypng, hex below), palette PNGs, jxl frames, and every way
 * a wrong, truncated or corrupt image must fail. An optional check decodes our PNGs and JPEGs
 * with /usr/bin/python3 (pypng, PIL) when those are installed. */
#include "testlib.h"

#include "codec/codec.h"

#include <spng.h>
#include <sys/wait.h>
#include <turbojpeg.h>
#include <unistd.h>
#ifdef CV_HAVE_JXL
#include <jxl/decode.h>
#include <jxl/encode.h>
#endif

/* ---- helpers --------------------------------------------------------------------------- */

static size_t npix_of(const cv_chunk_desc *d)
{
    return (size_t)d->shape[0] * d->shape[1] * d->shape[2];
}

/* Noisy values (incompressible, every bit used) for the lossless codecs. */
static void fill_noise(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)(x >> 7);
    }
}

/* Smooth uint8 voxels for the lossy codecs; each channel a clearly different picture:
 * channel 0 rises with x, channel 1 falls with x, channel 2 rises with the image row. */
static void fill_smooth(uint8_t *p, const cv_chunk_desc *d)
{
    const uint32_t X = d->shape[0], Y = d->shape[1], Z = d->shape[2];
    const size_t npix = npix_of(d);
    for (uint32_t c = 0; c < d->channels; c++) {
        for (uint32_t z = 0; z < Z; z++) {
            for (uint32_t y = 0; y < Y; y++) {
                for (uint32_t x = 0; x < X; x++) {
                    const size_t i = x + (size_t)X * (y + (size_t)Y * z);
                    const double fx = X > 1 ? (double)x / (X - 1) : 0.0;
                    const double fr = (double)(y + Y * z) / (double)(Y * Z);
                    double v = c == 0 ? 30 + 190 * fx : c == 1 ? 225 - 190 * fx : 40 + 170 * fr;
                    p[c * npix + i] = (uint8_t)(v + 0.5);
                }
            }
        }
    }
}

static int max_abs_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int e = abs((int)a[i] - (int)b[i]);
        m = e > m ? e : m;
    }
    return m;
}

static double channel_mean(const uint8_t *p, size_t npix, uint32_t c)
{
    double s = 0;
    for (size_t i = 0; i < npix; i++) {
        s += p[c * npix + i];
    }
    return s / (double)npix;
}

/* encode then decode; `dec` gets exactly the chunk's size as its cap. */
static cv_status roundtrip(const cv_codec *c, const cv_chunk_desc *d, int level, const uint8_t *src,
                           cv_buf *enc, cv_buf *dec)
{
    const size_t n = cv__chunk_desc_bytes(d);
    cv__buf_init(enc, 0);
    cv__buf_init(dec, n);
    CV_TRY(c->encode(d, level, src, n, enc));
    return c->decode(d, enc->data, enc->len, dec);
}

static const uint32_t shapes[][3] = {{8, 8, 8}, {37, 20, 9}, {1, 1, 1}, {64, 1, 3}, {1, 17, 1}};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

/* Every decoder over every prefix (and some corruptions) of a valid image: errors, no crash,
 * never more output than the cap. Only the complete image may decode, give or take the last
 * `slack` bytes (libspng does not read the CRC of IEND, so a PNG missing only those 4 bytes
 * decodes). */
static void hammer(const cv_codec *c, const cv_chunk_desc *d, const uint8_t *img, size_t n,
                   size_t slack)
{
    const size_t want = cv__chunk_desc_bytes(d);
    uint8_t *copy = malloc(n);
    ASSERT_TRUE(copy != NULL);
    size_t step = n > 600 ? n / 300 : 1;
    for (size_t len = 0; len < n; len += step) {
        cv_buf out;
        cv__buf_init(&out, want);
        memcpy(copy, img, len);
        cv_err_clear();
        cv_status rc = c->decode(d, copy, len, &out);
        if (rc == CV_OK && len + slack < n) {
            cv__buf_fini(&out);
            free(copy);
            TL_FAIL_HERE("%s: a %zu of %zu byte prefix decoded", c->name, len, n);
        }
        ASSERT_TRUE(out.len <= want);
        ASSERT_TRUE(rc == CV_OK || cv_err_last()->code == rc);
        cv__buf_fini(&out);
    }
    /* flip bits all over: any result but a crash or an overrun; failures are CORRUPT */
    for (size_t i = 0; i < n; i += (n > 200 ? n / 200 : 1)) {
        memcpy(copy, img, n);
        copy[i] ^= (uint8_t)(0x5a + i);
        cv_buf out;
        cv__buf_init(&out, want);
        cv_err_clear();
        cv_status rc = c->decode(d, copy, n, &out);
        ASSERT_TRUE(rc == CV_OK || rc == CV_ERR_CORRUPT);
        ASSERT_TRUE(rc != CV_OK || out.len == want);
        cv__buf_fini(&out);
    }
    cv_err_clear();
    free(copy);
}

/* ---- registry ---------------------------------------------------------------------------- */

static void registry_image(void)
{
    ASSERT_TRUE(cv__codec_find("jpeg") == &cv_codec_jpeg);
    ASSERT_TRUE(cv__codec_find("JPEG") == &cv_codec_jpeg);
    ASSERT_TRUE(cv__codec_find("png") == &cv_codec_png);
    ASSERT_STR_EQ(cv_codec_jpeg.content_type, "image/jpeg");
    ASSERT_STR_EQ(cv_codec_png.content_type, "image/png");
    /* CloudVolume's should_compress(): image formats are uploaded as they are */
    ASSERT_TRUE(cv_codec_jpeg.default_compress == NULL);
    ASSERT_TRUE(cv_codec_png.default_compress == NULL);
    ASSERT_EQ(cv_codec_jpeg.flags, CV_CODEC_LOSSY);
    ASSERT_EQ(cv_codec_png.flags, 0);
    ASSERT_EQ(cv_codec_jpeg.default_level, 85);
    ASSERT_EQ(cv_codec_png.default_level, 9);
    ASSERT_TRUE(strstr(cv__codec_names(), "jpeg") != NULL);
    ASSERT_TRUE(strstr(cv__codec_names(), "png") != NULL);
#ifdef CV_HAVE_JXL
    ASSERT_TRUE(cv__codec_find("jxl") == &cv_codec_jxl);
    ASSERT_STR_EQ(cv_codec_jxl.content_type, "image/jxl");
    ASSERT_TRUE(cv_codec_jxl.default_compress == NULL);
    ASSERT_EQ(cv_codec_jxl.flags, CV_CODEC_LOSSY);
    ASSERT_TRUE(strstr(cv__codec_names(), "jxl") != NULL);
#else
    ASSERT_TRUE(cv__codec_find("jxl") == NULL);
    ASSERT_TRUE(strstr(cv__codec_names(), "jxl") == NULL);
#endif
}

/* ---- png ------------------------------------------------------------------------------- */

static void png_roundtrip_all(void)
{
    static const cv_dtype types[] = {CV_UINT8, CV_UINT16};
    static const int levels[] = {-1, 0, 1, 6, 9};
    for (size_t t = 0; t < 2; t++) {
        for (uint32_t ch = 1; ch <= 4; ch++) {
            for (size_t s = 0; s < N_SHAPES; s++) {
                cv_chunk_desc d = {
                    types[t], ch, {shapes[s][0], shapes[s][1], shapes[s][2]}, {0, 0, 0}, NULL};
                const size_t n = cv__chunk_desc_bytes(&d);
                uint8_t *src = malloc(n);
                ASSERT_TRUE(src != NULL);
                fill_noise(src, n, (uint32_t)(t * 100 + ch * 10 + s));
                const int level = levels[(t + ch + s) % 5];
                cv_buf enc, dec;
                cv_status rc = roundtrip(&cv_codec_png, &d, level, src, &enc, &dec);
                bool same = rc == CV_OK && dec.len == n && memcmp(dec.data, src, n) == 0;
                /* a PNG signature, then IHDR */
                bool sig = enc.len > 16 && memcmp(enc.data, "\x89PNG\r\n\x1a\n", 8) == 0 &&
                           memcmp(enc.data + 12, "IHDR", 4) == 0;
                cv__buf_fini(&enc);
                cv__buf_fini(&dec);
                free(src);
                if (!same || !sig) {
                    TL_FAIL_HERE("png %s x%u %ux%ux%u level %d: rc %s, %s", cv_dtype_name(d.dtype),
                                 ch, d.shape[0], d.shape[1], d.shape[2], level, cv_errname(rc),
                                 sig ? "data differ" : "no PNG signature");
                }
            }
        }
    }
}

/* What libspng itself decodes from our PNG: the 2-D layout of the spec, 16-bit big-endian
 * samples, interleaved channels, the IHDR CV (pyspng) writes. */
static void png_layout_matches_spec(void)
{
    cv_chunk_desc d = {CV_UINT16, 2, {37, 20, 9}, {0, 0, 0}, NULL};
    const size_t npix = npix_of(&d), n = cv__chunk_desc_bytes(&d);
    uint8_t *src = malloc(n);
    ASSERT_TRUE(src != NULL);
    fill_noise(src, n, 7);
    cv_buf enc;
    cv__buf_init(&enc, 0);
    ASSERT_OK(cv_codec_png.encode(&d, -1, src, n, &enc));

    spng_ctx *ctx = spng_ctx_new(0);
    ASSERT_TRUE(ctx != NULL);
    ASSERT_EQ(spng_set_png_buffer(ctx, enc.data, enc.len), 0);
    struct spng_ihdr ihdr;
    ASSERT_EQ(spng_get_ihdr(ctx, &ihdr), 0);
    ASSERT_EQ(ihdr.width, 37);
    ASSERT_EQ(ihdr.height, 20 * 9);
    ASSERT_EQ(ihdr.bit_depth, 16);
    ASSERT_EQ(ihdr.color_type, SPNG_COLOR_TYPE_GRAYSCALE_ALPHA);
    ASSERT_EQ(ihdr.interlace_method, 0);
    uint8_t *img = malloc(n);
    ASSERT_TRUE(img != NULL);
    ASSERT_EQ(spng_decode_image(ctx, img, n, SPNG_FMT_RAW, 0), 0);
    spng_ctx_free(ctx);
    int bad = 0;
    for (uint32_t z = 0; z < 9; z++) {
        for (uint32_t y = 0; y < 20; y++) {
            for (uint32_t x = 0; x < 37; x++) {
                const size_t r = y + 20 * (size_t)z, v = x + 37 * r;
                for (uint32_t c = 0; c < 2; c++) {
                    const uint8_t *png = img + 2 * ((r * 37 + x) * 2 + c);
                    const uint8_t *vox = src + 2 * (c * npix + v);
                    bad += png[0] != vox[1] || png[1] != vox[0];
                }
            }
        }
    }
    ASSERT_EQ(bad, 0);
    free(img);
    free(src);
    cv__buf_fini(&enc);
}

/* A PNG made with libspng from interleaved 2-D pixels (interlace and depth as given). */
static void make_png(const struct spng_ihdr *ihdr, const struct spng_plte *plte, const uint8_t *img,
                     size_t n, cv_buf *out)
{
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    ASSERT_TRUE(ctx != NULL);
    struct spng_ihdr h = *ihdr;
    ASSERT_EQ(spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1), 0);
    ASSERT_EQ(spng_set_ihdr(ctx, &h), 0);
    if (plte) {
        struct spng_plte p = *plte;
        ASSERT_EQ(spng_set_plte(ctx, &p), 0);
    }
    ASSERT_EQ(spng_encode_image(ctx, img, n, SPNG_FMT_RAW, SPNG_ENCODE_FINALIZE), 0);
    size_t len = 0;
    int err = 0;
    void *png = spng_get_png_buffer(ctx, &len, &err);
    ASSERT_TRUE(png != NULL && err == 0);
    ASSERT_OK(cv__buf_append(out, png, len));
    free(png);
    spng_ctx_free(ctx);
}

static void png_interlaced_and_palette(void)
{
    /* Adam7, 8-bit RGB, chunk 13x5x3 -> 13x15 image */
    cv_chunk_desc d = {CV_UINT8, 3, {13, 5, 3}, {0, 0, 0}, NULL};
    const size_t npix = npix_of(&d), n = cv__chunk_desc_bytes(&d);
    uint8_t *rgb = malloc(n), *want = malloc(n);
    ASSERT_TRUE(rgb && want);
    fill_noise(rgb, n, 99);
    for (size_t i = 0; i < npix; i++) {
        for (int c = 0; c < 3; c++) {
            want[c * npix + i] = rgb[3 * i + c];
        }
    }
    struct spng_ihdr ihdr = {13, 15, 8, SPNG_COLOR_TYPE_TRUECOLOR, 0, 0, SPNG_INTERLACE_ADAM7};
    cv_buf png, out;
    cv__buf_init(&png, 0);
    cv__buf_init(&out, n);
    make_png(&ihdr, NULL, rgb, n, &png);
    ASSERT_EQ(png.data[28], 1); /* IHDR interlace byte */
    ASSERT_OK(cv_codec_png.decode(&d, png.data, png.len, &out));
    ASSERT_EQ(out.len, n);
    ASSERT_MEM_EQ(out.data, want, n);
    /* the same image as a 1-channel chunk: wrong channel count */
    cv_chunk_desc d1 = {CV_UINT8, 1, {13, 5, 3}, {0, 0, 0}, NULL};
    out.len = 0;
    ASSERT_FAILS(cv_codec_png.decode(&d1, png.data, png.len, &out), CV_ERR_CORRUPT, "channels");
    hammer(&cv_codec_png, &d, png.data, png.len, 4);
    cv__buf_fini(&png);
    cv__buf_fini(&out);

    /* palette, 4-bit indices: decodes as 3 channels (Neuroglancer does the same) */
    struct spng_plte plte = {0};
    plte.n_entries = 16;
    for (uint32_t i = 0; i < 16; i++) {
        plte.entries[i].red = (uint8_t)(i * 16);
        plte.entries[i].green = (uint8_t)(255 - i);
        plte.entries[i].blue = (uint8_t)(i * 3 + 1);
    }
    /* 13 pixels of 4 bits per row: 7 bytes, the last one half padding */
    uint8_t *idx = calloc(7 * 15, 1);
    ASSERT_TRUE(idx != NULL);
    for (size_t r = 0; r < 15; r++) {
        for (size_t x = 0; x < 13; x++) {
            const uint8_t v = (uint8_t)((x * 5 + r * 3) % 16);
            idx[r * 7 + x / 2] |= (uint8_t)(x % 2 ? v : v << 4);
            const size_t i = r * 13 + x;
            want[i] = plte.entries[v].red;
            want[npix + i] = plte.entries[v].green;
            want[2 * npix + i] = plte.entries[v].blue;
        }
    }
    struct spng_ihdr ih4 = {13, 15, 4, SPNG_COLOR_TYPE_INDEXED, 0, 0, SPNG_INTERLACE_NONE};
    cv__buf_init(&png, 0);
    cv__buf_init(&out, n);
    make_png(&ih4, &plte, idx, 7 * 15, &png);
    ASSERT_OK(cv_codec_png.decode(&d, png.data, png.len, &out));
    ASSERT_MEM_EQ(out.data, want, n);
    out.len = 0;
    ASSERT_FAILS(cv_codec_png.decode(&d1, png.data, png.len, &out), CV_ERR_CORRUPT, "channels");
    cv__buf_fini(&png);
    cv__buf_fini(&out);
    free(idx);
    free(rgb);
    free(want);
}

/* Made by pypng 0.20220715 (python3-png): an Adam7-interlaced 16-bit RGB image 3x4, sample
 * (x, row r, channel c) = c*20000 + x*300 + r*1000 + 7; as a chunk 3x2x2 with 3 channels. */
static const char pypng_rgb16_adam7[] =
    "89504e470d0a1a0a0000000d4948445200000003000000041002000001e3d8fe850000005a49444154789c01"
    "4f00b0ff0000074e279c4700025f507f9e9f0007d755f7a4170a2f584fa66f0001334f539d730009035723a5"
    "430003ef520fa02f051b533ba15b06475467a287000bbf59dfa7ff0ceb5b0ba92b0e175c37aa57b28c198ae6"
    "83006e0000000049454e44ae426082";

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n && i < cap; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n < cap ? n : cap;
}

static void png_from_pypng(void)
{
    uint8_t png[256];
    const size_t len = unhex(pypng_rgb16_adam7, png, sizeof png);
    cv_chunk_desc d = {CV_UINT16, 3, {3, 2, 2}, {0, 0, 0}, NULL};
    cv_buf out;
    cv__buf_init(&out, cv__chunk_desc_bytes(&d));
    ASSERT_OK(cv_codec_png.decode(&d, png, len, &out));
    ASSERT_EQ(out.len, 3 * 12 * 2);
    for (uint32_t c = 0; c < 3; c++) {
        for (uint32_t r = 0; r < 4; r++) {
            for (uint32_t x = 0; x < 3; x++) {
                const uint8_t *p = out.data + 2 * (c * 12 + r * 3 + x);
                ASSERT_EQ(p[0] | p[1] << 8, c * 20000 + x * 300 + r * 1000 + 7);
            }
        }
    }
    /* uint8 chunk of a 16-bit PNG: refused */
    cv_chunk_desc d8 = {CV_UINT8, 3, {3, 2, 2}, {0, 0, 0}, NULL};
    out.len = 0;
    ASSERT_FAILS(cv_codec_png.decode(&d8, png, len, &out), CV_ERR_CORRUPT, "16-bit");
    cv__buf_fini(&out);
}

static void png_errors(void)
{
    cv_chunk_desc d = {CV_UINT8, 1, {16, 4, 2}, {0, 0, 0}, NULL};
    const size_t n = cv__chunk_desc_bytes(&d);
    uint8_t src[128];
    fill_noise(src, n, 3);
    cv_buf enc, out;
    cv__buf_init(&enc, 0);
    cv__buf_init(&out, n);
    ASSERT_OK(cv_codec_png.encode(&d, -1, src, n, &enc));

    /* same area, other shape: fine (only the area counts); other area: refused */
    cv_chunk_desc same_area = {CV_UINT8, 1, {8, 8, 2}, {0, 0, 0}, NULL};
    ASSERT_OK(cv_codec_png.decode(&same_area, enc.data, enc.len, &out));
    ASSERT_MEM_EQ(out.data, src, n);
    cv_chunk_desc other = {CV_UINT8, 1, {16, 4, 3}, {0, 0, 0}, NULL};
    out.len = 0;
    out.max = 0;
    ASSERT_FAILS(cv_codec_png.decode(&other, enc.data, enc.len, &out), CV_ERR_CORRUPT,
                 "needs 192 pixels");
    cv_chunk_desc two = {CV_UINT8, 2, {16, 4, 2}, {0, 0, 0}, NULL};
    ASSERT_FAILS(cv_codec_png.decode(&two, enc.data, enc.len, &out), CV_ERR_CORRUPT, "channels");
    cv_chunk_desc wide = {CV_UINT16, 1, {16, 4, 2}, {0, 0, 0}, NULL};
    ASSERT_FAILS(cv_codec_png.decode(&wide, enc.data, enc.len, &out), CV_ERR_CORRUPT, "8-bit");
    /* descriptions the encoding can't have */
    cv_chunk_desc u32 = {CV_UINT32, 1, {16, 4, 2}, {0, 0, 0}, NULL};
    ASSERT_FAILS(cv_codec_png.decode(&u32, enc.data, enc.len, &out), CV_ERR_ARG, "uint8 or uint16");
    cv_chunk_desc five = {CV_UINT8, 5, {16, 4, 2}, {0, 0, 0}, NULL};
    ASSERT_FAILS(cv_codec_png.encode(&five, -1, src, n, &out), CV_ERR_ARG, "1 to 4 channels");
    ASSERT_FAILS(cv_codec_png.encode(&d, -1, src, n - 1, &out), CV_ERR_ARG, "want 128");
    ASSERT_FAILS(cv_codec_png.encode(&d, 10, src, n, &out), CV_ERR_ARG, "level 10");
    /* a cap below the chunk size stops the decode before the library runs */
    cv_buf small;
    cv__buf_init(&small, n - 1);
    ASSERT_FAILS(cv_codec_png.decode(&d, enc.data, enc.len, &small), CV_ERR_CORRUPT, "larger");
    ASSERT_EQ(small.len, 0);
    cv__buf_fini(&small);
    /* not a PNG at all */
    out.len = 0;
    ASSERT_FAILS(cv_codec_png.decode(&d, src, n, &out), CV_ERR_CORRUPT, "png:");
    ASSERT_FAILS(cv_codec_png.decode(&d, src, 0, &out), CV_ERR_CORRUPT, "png:");
    ASSERT_EQ(out.len, 0);
    /* a bad CRC in IDAT */
    cv_buf bad;
    cv__buf_init(&bad, 0);
    ASSERT_OK(cv__buf_append(&bad, enc.data, enc.len));
    bad.data[bad.len - 20] ^= 0xff;
    ASSERT_FAILS(cv_codec_png.decode(&d, bad.data, bad.len, &out), CV_ERR_CORRUPT, "png:");
    cv__buf_fini(&bad);
    hammer(&cv_codec_png, &d, enc.data, enc.len, 4);
    cv__buf_fini(&enc);
    cv__buf_fini(&out);
}

/* ---- jpeg ------------------------------------------------------------------------------ */

/* libjpeg-turbo's own decode of `jpeg`, rearranged into chunk order (planes). */
static void tj_reference(const uint8_t *jpeg, size_t len, uint32_t ch, size_t npix, uint8_t *dst)
{
    tjhandle h = tjInitDecompress();
    ASSERT_TRUE(h != NULL);
    int w = 0, ht = 0, ss = 0, cs = 0;
    ASSERT_EQ(tjDecompressHeader3(h, jpeg, len, &w, &ht, &ss, &cs), 0);
    ASSERT_EQ((size_t)w * ht, npix);
    uint8_t *px = malloc(npix * ch);
    ASSERT_TRUE(px != NULL);
    ASSERT_EQ(tjDecompress2(h, jpeg, len, px, w, 0, ht, ch == 1 ? TJPF_GRAY : TJPF_RGB, 0), 0);
    for (size_t i = 0; i < npix; i++) {
        for (uint32_t c = 0; c < ch; c++) {
            dst[c * npix + i] = px[i * ch + c];
        }
    }
    free(px);
    tjDestroy(h);
}

static bool has_marker(const uint8_t *p, size_t n, uint8_t m)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] == 0xff && p[i + 1] == m) {
            return true;
        }
    }
    return false;
}

static void jpeg_roundtrip(void)
{
    for (uint32_t ch = 1; ch <= 3; ch += 2) {
        for (size_t s = 0; s < N_SHAPES; s++) {
            cv_chunk_desc d = {
                CV_UINT8, ch, {shapes[s][0], shapes[s][1], shapes[s][2]}, {0, 0, 0}, NULL};
            const size_t npix = npix_of(&d), n = cv__chunk_desc_bytes(&d);
            uint8_t *src = malloc(n), *ref = malloc(n);
            ASSERT_TRUE(src && ref);
            fill_smooth(src, &d);
            cv_buf enc, dec;
            ASSERT_OK(roundtrip(&cv_codec_jpeg, &d, 95, src, &enc, &dec));
            ASSERT_EQ(dec.len, n);
            /* the header CV (simplejpeg) writes: X wide, Y*Z high, gray or 4:4:4, baseline */
            tjhandle h = tjInitDecompress();
            int w = 0, ht = 0, ss = -1, cs = -1;
            ASSERT_EQ(tjDecompressHeader3(h, enc.data, enc.len, &w, &ht, &ss, &cs), 0);
            tjDestroy(h);
            ASSERT_EQ(w, d.shape[0]);
            ASSERT_EQ(ht, d.shape[1] * d.shape[2]);
            ASSERT_EQ(ss, ch == 1 ? TJSAMP_GRAY : TJSAMP_444);
            ASSERT_EQ(cs, ch == 1 ? TJCS_GRAY : TJCS_YCbCr);
            ASSERT_TRUE(has_marker(enc.data, enc.len, 0xc0));  /* SOF0 */
            ASSERT_TRUE(!has_marker(enc.data, enc.len, 0xc2)); /* no SOF2 */
            ASSERT_TRUE(has_marker(enc.data, enc.len, 0xe0));  /* JFIF APP0 */
            /* exactly libjpeg-turbo's pixels, close to the input */
            tj_reference(enc.data, enc.len, ch, npix, ref);
            ASSERT_MEM_EQ(dec.data, ref, n);
            int err = max_abs_diff(dec.data, src, n);
            if (err > 6) {
                TL_FAIL_HERE("jpeg x%u %ux%ux%u: max error %d at quality 95", ch, d.shape[0],
                             d.shape[1], d.shape[2], err);
            }
            cv__buf_fini(&enc);
            cv__buf_fini(&dec);
            free(src);
            free(ref);
        }
    }
}

/* Channels must come back in order: the three pictures differ strongly. */
static void jpeg_rgb_channel_order(void)
{
    cv_chunk_desc d = {CV_UINT8, 3, {32, 16, 4}, {0, 0, 0}, NULL};
    const size_t npix = npix_of(&d), n = cv__chunk_desc_bytes(&d);
    uint8_t *src = malloc(n);
    ASSERT_TRUE(src != NULL);
    /* channel 0 bright, 1 dark, 2 a ramp over the rows */
    for (size_t i = 0; i < npix; i++) {
        src[i] = 230;
        src[npix + i] = 20;
        src[2 * npix + i] = (uint8_t)(i / 32 * 4);
    }
    cv_buf enc, dec;
    ASSERT_OK(roundtrip(&cv_codec_jpeg, &d, -1, src, &enc, &dec));
    ASSERT_TRUE(channel_mean(dec.data, npix, 0) > 220);
    ASSERT_TRUE(channel_mean(dec.data, npix, 1) < 30);
    ASSERT_TRUE(dec.data[2 * npix + 3] < 12);            /* row 0 */
    ASSERT_TRUE(dec.data[2 * npix + 63 * 32 + 3] > 240); /* row 63 */
    ASSERT_TRUE(max_abs_diff(dec.data, src, n) <= 12);   /* quality 85 */
    cv__buf_fini(&enc);
    cv__buf_fini(&dec);
    free(src);
}

/* A JPEG written by TurboJPEG from interleaved pixels, with the given subsampling/flags. */
static void make_jpeg(const uint8_t *px, int w, int h, int ch, int ss, int flags, cv_buf *out)
{
    tjhandle t = tjInitCompress();
    ASSERT_TRUE(t != NULL);
    unsigned char *j = NULL;
    unsigned long len = 0;
    ASSERT_EQ(tjCompress2(t, px, w, 0, h, ch == 1 ? TJPF_GRAY : TJPF_RGB, &j, &len, ss, 90, flags),
              0);
    ASSERT_OK(cv__buf_append(out, j, len));
    tjFree(j);
    tjDestroy(t);
}

/* TurboJPEG's own bytes for a grayscale chunk: tjCompress2 as simplejpeg (CloudVolume) calls it. */
static void tj_gray_bytes(const uint8_t *px, int w, int h, int quality, cv_buf *out)
{
    tjhandle t = tjInitCompress();
    ASSERT_TRUE(t != NULL);
    unsigned char *j = NULL;
    unsigned long len = 0;
    ASSERT_EQ(tjCompress2(t, px, w, 0, h, TJPF_GRAY, &j, &len, TJSAMP_GRAY, quality, 0), 0);
    ASSERT_OK(cv__buf_append(out, j, len));
    tjFree(j);
    tjDestroy(t);
}

/* Grayscale chunks bypass TurboJPEG (libjpeg's raw-data path, edge blocks padded in a strip);
 * the bytes must stay TurboJPEG's for every quality (fast DCT below 96, accurate from 96), for
 * smooth and noisy pixels, and for sides that are multiples of 8 or not. With one of
 * TurboJPEG's environment variables set (TJ_OPTIMIZE: optimised Huffman tables), the chunk goes
 * through TurboJPEG and gets its effect. */
static void python_decodes_ours(void);

static void jpeg_gray_bytes_are_turbojpegs(void)
{
    static const uint32_t gshapes[][3] = {{64, 64, 64}, {8, 8, 1},   {16, 8, 3},  {128, 4, 2},
                                          {24, 7, 1},   {37, 16, 2}, {64, 3, 5},  {1, 1, 1},
                                          {9, 1, 1},    {13, 7, 3},  {63, 64, 1}, {3, 1, 11}};
    static const int qualities[] = {0, 1, 50, 85, 95, 96, 100};
    for (size_t s = 0; s < sizeof gshapes / sizeof gshapes[0]; s++) {
        cv_chunk_desc d = {
            CV_UINT8, 1, {gshapes[s][0], gshapes[s][1], gshapes[s][2]}, {0, 0, 0}, NULL};
        const size_t n = npix_of(&d);
        uint8_t *px = malloc(n);
        ASSERT_TRUE(px != NULL);
        for (int noisy = 0; noisy < 2; noisy++) {
            if (noisy) {
                fill_noise(px, n, (uint32_t)s + 7);
            } else {
                fill_smooth(px, &d);
            }
            for (size_t q = 0; q < sizeof qualities / sizeof qualities[0]; q++) {
                cv_buf mine, theirs;
                cv__buf_init(&mine, 0);
                cv__buf_init(&theirs, 0);
                ASSERT_OK(cv__buf_append(&mine, "xy", 2)); /* appends after what is there */
                ASSERT_OK(cv_codec_jpeg.encode(&d, qualities[q], px, n, &mine));
                tj_gray_bytes(px, (int)d.shape[0], (int)(d.shape[1] * d.shape[2]), qualities[q],
                              &theirs);
                if (mine.len != theirs.len + 2 || memcmp(mine.data, "xy", 2) != 0 ||
                    memcmp(mine.data + 2, theirs.data, theirs.len) != 0) {
                    TL_FAIL_HERE("jpeg %ux%ux%u %s quality %d: %zu bytes, TurboJPEG %zu",
                                 d.shape[0], d.shape[1], d.shape[2], noisy ? "noisy" : "smooth",
                                 qualities[q], mine.len - 2, theirs.len);
                }
                cv__buf_fini(&mine);
                cv__buf_fini(&theirs);
            }
        }
        free(px);
    }

    /* In a child (the variable is process-wide): after an optimised encode, the colour images
     * of python_decodes_ours must still be what PIL decodes (TurboJPEG 2.1 leaves a handle
     * that made an optimised image unfit for the next one, so it is not kept). */
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        cv_chunk_desc d = {CV_UINT8, 1, {64, 16, 2}, {0, 0, 0}, NULL};
        const size_t n = npix_of(&d);
        uint8_t *px = malloc(n);
        cv_buf plain, optimized, theirs;
        cv__buf_init(&plain, 0);
        cv__buf_init(&optimized, 0);
        cv__buf_init(&theirs, 0);
        fill_noise(px, n, 3);
        int bad = cv_codec_jpeg.encode(&d, 85, px, n, &plain) != CV_OK;
        bad |= setenv("TJ_OPTIMIZE", "1", 1) != 0;
        bad |= cv_codec_jpeg.encode(&d, 85, px, n, &optimized) != CV_OK;
        tj_gray_bytes(px, 64, 32, 85, &theirs);
        bad |= !(optimized.len < plain.len) || optimized.len != theirs.len ||
               memcmp(optimized.data, theirs.data, theirs.len) != 0;
        bad |= unsetenv("TJ_OPTIMIZE") != 0;
        int failed_before = tl_failed_asserts;
        python_decodes_ours();
        _exit(bad || tl_failed_asserts != failed_before);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0); /* TJ_OPTIMIZE's smaller file, byte for byte */
}

/* Grayscale JPEGs decode through libjpeg's raw-data path (edge blocks through a strip): the
 * pixels must be TurboJPEG's (baseline, progressive, accurate-DCT quality 100, sides that are
 * multiples of 8 or not), and a cut-short image must fail with TurboJPEG's message. */
static void jpeg_gray_decode_is_turbojpegs(void)
{
    static const struct {
        int w, h, quality, flags;
    } kinds[] = {{64, 256, 85, 0},
                 {64, 256, 85, TJFLAG_PROGRESSIVE},
                 {16, 24, 100, 0},
                 {8, 8, 10, 0},
                 {40, 16, 95, TJFLAG_PROGRESSIVE},
                 {37, 16, 85, 0},
                 {64, 20, 85, 0},
                 {1, 200, 85, 0},
                 {13, 21, 85, TJFLAG_PROGRESSIVE},
                 {63, 9, 100, 0},
                 {9, 1000, 50, 0}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const int w = kinds[k].w, h = kinds[k].h;
        const size_t n = (size_t)w * (size_t)h;
        uint8_t *px = malloc(n), *theirs = malloc(n);
        ASSERT_TRUE(px && theirs);
        fill_noise(px, n, (uint32_t)k);
        for (size_t i = 0; i < n; i += 3) {
            px[i] = (uint8_t)(i / (size_t)w * 4); /* some structure too */
        }
        tjhandle t = tjInitCompress();
        unsigned char *j = NULL;
        unsigned long len = 0;
        ASSERT_EQ(tjCompress2(t, px, w, 0, h, TJPF_GRAY, &j, &len, TJSAMP_GRAY, kinds[k].quality,
                              kinds[k].flags),
                  0);
        tjDestroy(t);
        tjhandle dh = tjInitDecompress();
        ASSERT_EQ(tjDecompress2(dh, j, len, theirs, w, 0, h, TJPF_GRAY, 0), 0);
        cv_chunk_desc d = {CV_UINT8, 1, {(uint32_t)w, (uint32_t)h, 1}, {0, 0, 0}, NULL};
        cv_buf out;
        cv__buf_init(&out, 0);
        ASSERT_OK(cv_codec_jpeg.decode(&d, j, len, &out));
        ASSERT_EQ(out.len, n);
        ASSERT_MEM_EQ(out.data, theirs, n);
        /* cut short: TurboJPEG's strict decode fails on the warning, and so must we */
        out.len = 0;
        unsigned long sos = 0;
        while (sos + 1 < len && !(j[sos] == 0xff && j[sos + 1] == 0xda)) {
            sos++;
        }
        const unsigned long cut = sos + (len - sos) / 2; /* inside the first scan */
        ASSERT_TRUE(tjDecompress2(dh, j, cut, theirs, w, 0, h, TJPF_GRAY,
                                  TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0);
        char want[256];
        snprintf(want, sizeof want, "jpeg: decompress: %s", tjGetErrorStr2(dh));
        ASSERT_FAILS(cv_codec_jpeg.decode(&d, j, cut, &out), CV_ERR_CORRUPT, want);
        ASSERT_EQ(out.len, 0);
        /* and the next chunk decodes again */
        ASSERT_OK(cv_codec_jpeg.decode(&d, j, len, &out));
        ASSERT_EQ(tjDecompress2(dh, j, len, theirs, w, 0, h, TJPF_GRAY, 0), 0);
        ASSERT_MEM_EQ(out.data, theirs, n);
        tjDestroy(dh);
        tjFree(j);
        cv__buf_fini(&out);
        free(px);
        free(theirs);
    }
}

static void jpeg_progressive_and_subsampled(void)
{
    /* progressive gray, progressive 4:2:0 colour, baseline 4:2:2 colour: exactly what
     * libjpeg-turbo decodes, in chunk order */
    static const struct {
        int ch, ss, flags;
    } kinds[] = {{1, TJSAMP_GRAY, TJFLAG_PROGRESSIVE},
                 {3, TJSAMP_420, TJFLAG_PROGRESSIVE},
                 {3, TJSAMP_422, 0},
                 {3, TJSAMP_440, TJFLAG_PROGRESSIVE}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        cv_chunk_desc d = {CV_UINT8, (uint32_t)kinds[k].ch, {37, 20, 9}, {0, 0, 0}, NULL};
        const size_t npix = npix_of(&d), n = cv__chunk_desc_bytes(&d);
        uint8_t *planes = malloc(n), *px = malloc(n), *ref = malloc(n);
        ASSERT_TRUE(planes && px && ref);
        fill_smooth(planes, &d);
        for (size_t i = 0; i < npix; i++) {
            for (int c = 0; c < kinds[k].ch; c++) {
                px[i * kinds[k].ch + c] = planes[c * npix + i];
            }
        }
        cv_buf jpg, out;
        cv__buf_init(&jpg, 0);
        cv__buf_init(&out, n);
        make_jpeg(px, 37, 180, kinds[k].ch, kinds[k].ss, kinds[k].flags, &jpg);
        ASSERT_EQ(has_marker(jpg.data, jpg.len, 0xc2), (kinds[k].flags & TJFLAG_PROGRESSIVE) != 0);
        ASSERT_OK(cv_codec_jpeg.decode(&d, jpg.data, jpg.len, &out));
        tj_reference(jpg.data, jpg.len, d.channels, npix, ref);
        ASSERT_MEM_EQ(out.data, ref, n);
        ASSERT_TRUE(max_abs_diff(out.data, planes, n) <= 16);
        if (k == 1) {
            hammer(&cv_codec_jpeg, &d, jpg.data, jpg.len, 0);
        }
        cv__buf_fini(&jpg);
        cv__buf_fini(&out);
        free(planes);
        free(px);
        free(ref);
    }
}

/* Made by PIL 9.4 (python3-pil): Image.frombytes('L', (8, 8), src).save(f, 'JPEG',
 * quality=90, progressive=True), src[r][x] = (24x + 9r) % 256; pil_decoded is PIL's own decode
 * (Debian's libjpeg-turbo 2.1.5). As a chunk 8x4x2, rows r = y + 4z. */
static const char pil_progressive_gray[] =
    "ffd8ffe000104a46494600010100000100010000ffdb0043000302020302020303030304030304050805050404"
    "050a070706080c0a0c0c0b0a0b0b0d0e12100d0e110e0b0b1016101113141515150c0f171816141812141514ff"
    "c2000b080008000801011100ffc40014000100000000000000000000000000000005ffda00080101000000013b"
    "ffc400161000030000000000000000000000000000000506ffda000801010001050289567fffc4001610000300"
    "00000000000000000000000000000221ffda0008010100063f02487fffc400151001010000000000000000000000"
    "00000000a1ffda0008010100013f219effda0008010100000010ff00ffc4001510010100000000000000000000"
    "0000000000e1ffda0008010100013f10947fffd9";
static const char pil_decoded[] =
    "00183047617890a8092139506a8199b1122a4359748aa3bb1b334b627c93abc3243c546b859cb4cc2d455d748e"
    "a5bdd5364e667d97aec6de3f576f86a0b7cfe7";

static void jpeg_from_pil(void)
{
    uint8_t jpg[512], want[64];
    const size_t len = unhex(pil_progressive_gray, jpg, sizeof jpg);
    ASSERT_EQ(unhex(pil_decoded, want, sizeof want), 64);
    ASSERT_TRUE(has_marker(jpg, len, 0xc2));
    cv_chunk_desc d = {CV_UINT8, 1, {8, 4, 2}, {0, 0, 0}, NULL};
    cv_buf out;
    cv__buf_init(&out, 64);
    ASSERT_OK(cv_codec_jpeg.decode(&d, jpg, len, &out));
    ASSERT_EQ(out.len, 64);
    ASSERT_MEM_EQ(out.data, want, 64);
    cv__buf_fini(&out);
}

static void jpeg_errors(void)
{
    cv_chunk_desc d = {CV_UINT8, 1, {16, 8, 2}, {0, 0, 0}, NULL};
    cv_chunk_desc d3 = {CV_UINT8, 3, {16, 8, 2}, {0, 0, 0}, NULL};
    uint8_t src[16 * 8 * 2 * 3];
    fill_smooth(src, &d3);
    const size_t n = cv__chunk_desc_bytes(&d);
    cv_buf gray, rgb, out;
    cv__buf_init(&gray, 0);
    cv__buf_init(&rgb, 0);
    cv__buf_init(&out, 0);
    ASSERT_OK(cv_codec_jpeg.encode(&d, -1, src, n, &gray));
    ASSERT_OK(cv_codec_jpeg.encode(&d3, 50, src, 3 * n, &rgb));

    cv_chunk_desc other = {CV_UINT8, 1, {16, 8, 3}, {0, 0, 0}, NULL};
    ASSERT_FAILS(cv_codec_jpeg.decode(&other, gray.data, gray.len, &out), CV_ERR_CORRUPT,
                 "needs 384 pixels");
    ASSERT_FAILS(cv_codec_jpeg.decode(&d3, gray.data, gray.len, &out), CV_ERR_CORRUPT,
                 "1 colour components, the chunk 3");
    ASSERT_FAILS(cv_codec_jpeg.decode(&d, rgb.data, rgb.len, &out), CV_ERR_CORRUPT,
                 "3 colour components, the chunk 1");
    ASSERT_EQ(out.len, 0);
    cv_chunk_desc same_area = {CV_UINT8, 1, {32, 4, 2}, {0, 0, 0}, NULL};
    ASSERT_OK(cv_codec_jpeg.decode(&same_area, gray.data, gray.len, &out));
    ASSERT_EQ(out.len, n);
    out.len = 0;
    /* descriptions jpeg can't have */
    cv_chunk_desc u16 = {CV_UINT16, 1, {16, 8, 2}, {0, 0, 0}, NULL};
    ASSERT_FAILS(cv_codec_jpeg.decode(&u16, gray.data, gray.len, &out), CV_ERR_ARG, "uint8");
    cv_chunk_desc two = {CV_UINT8, 2, {16, 8, 2}, {0, 0, 0}, NULL};
    ASSERT_FAILS(cv_codec_jpeg.encode(&two, -1, src, 2 * n, &out), CV_ERR_ARG, "1 or 3");
    ASSERT_FAILS(cv_codec_jpeg.encode(&d, 101, src, n, &out), CV_ERR_ARG, "quality 101");
    ASSERT_FAILS(cv_codec_jpeg.encode(&d, -1, src, n + 1, &out), CV_ERR_ARG, "want 256");
    /* JPEG sides are 16-bit: a 1x256x300 chunk is 76800 rows high */
    cv_chunk_desc tall = {CV_UINT8, 1, {1, 256, 300}, {0, 0, 0}, NULL};
    uint8_t *big = calloc(256 * 300, 1);
    ASSERT_TRUE(big != NULL);
    ASSERT_FAILS(cv_codec_jpeg.encode(&tall, -1, big, 256 * 300, &out), CV_ERR_ARG, "65535");
    free(big);
    /* cap below the chunk size */
    cv_buf small;
    cv__buf_init(&small, n - 1);
    ASSERT_FAILS(cv_codec_jpeg.decode(&d, gray.data, gray.len, &small), CV_ERR_CORRUPT, "larger");
    cv__buf_fini(&small);
    /* garbage, empty, truncated (libjpeg's "premature end" warning is an error here) */
    ASSERT_FAILS(cv_codec_jpeg.decode(&d, src, n, &out), CV_ERR_CORRUPT, "jpeg:");
    ASSERT_FAILS(cv_codec_jpeg.decode(&d, src, 0, &out), CV_ERR_CORRUPT, "jpeg:");
    ASSERT_FAILS(cv_codec_jpeg.decode(&d, gray.data, gray.len - 10, &out), CV_ERR_CORRUPT,
                 "jpeg: decompress");
    ASSERT_EQ(out.len, 0);
    /* a cut-short colour image fails with TurboJPEG's message; the next one decodes */
    uint8_t tj_px[16 * 16 * 3];
    tjhandle dh = tjInitDecompress();
    ASSERT_TRUE(dh != NULL);
    ASSERT_TRUE(tjDecompress2(dh, rgb.data, rgb.len - 10, tj_px, 16, 0, 16, TJPF_RGB,
                              TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0);
    char want[256];
    snprintf(want, sizeof want, "jpeg: decompress: %s", tjGetErrorStr2(dh));
    tjDestroy(dh);
    ASSERT_FAILS(cv_codec_jpeg.decode(&d3, rgb.data, rgb.len - 10, &out), CV_ERR_CORRUPT, want);
    ASSERT_EQ(out.len, 0);
    ASSERT_OK(cv_codec_jpeg.decode(&d3, rgb.data, rgb.len, &out));
    ASSERT_EQ(out.len, 3 * n);
    out.len = 0;
    hammer(&cv_codec_jpeg, &d, gray.data, gray.len, 0);
    hammer(&cv_codec_jpeg, &d3, rgb.data, rgb.len, 0);
    cv__buf_fini(&gray);
    cv__buf_fini(&rgb);
    cv__buf_fini(&out);
}

/* ---- jxl ------------------------------------------------------------------------------- */

#ifdef CV_HAVE_JXL
/* Decode with libjxl directly: every frame as `spp`-sample pixels, frames concatenated. */
static size_t jxl_reference(const uint8_t *src, size_t n, uint32_t spp, uint8_t *dst, size_t cap,
                            uint32_t *frames)
{
    JxlDecoder *dec = JxlDecoderCreate(NULL);
    JxlDecoderSubscribeEvents(dec, JXL_DEC_FULL_IMAGE);
    JxlDecoderSetInput(dec, src, n);
    JxlDecoderCloseInput(dec);
    size_t used = 0;
    *frames = 0;
    for (;;) {
        JxlDecoderStatus st = JxlDecoderProcessInput(dec);
        if (st == JXL_DEC_NEED_IMAGE_OUT_BUFFER) {
            JxlPixelFormat f = {spp, JXL_TYPE_UINT8, JXL_NATIVE_ENDIAN, 0};
            size_t sz = 0;
            JxlDecoderImageOutBufferSize(dec, &f, &sz);
            if (used + sz > cap) {
                break;
            }
            JxlDecoderSetImageOutBuffer(dec, &f, dst + used, sz);
            used += sz;
        } else if (st == JXL_DEC_FULL_IMAGE) {
            (*frames)++;
        } else {
            break; /* success or error */
        }
    }
    JxlDecoderDestroy(dec);
    return used;
}

/* A JXL made here: `frames` frames of `ncolor` colour channels (+ alpha), lossless. */
static void make_jxl(const uint8_t *px, uint32_t w, uint32_t h, uint32_t ncolor, bool alpha,
                     uint32_t frames, bool container, cv_buf *out)
{
    JxlEncoder *enc = JxlEncoderCreate(NULL);
    ASSERT_TRUE(enc != NULL);
    JxlBasicInfo info;
    JxlEncoderInitBasicInfo(&info);
    info.xsize = w;
    info.ysize = h;
    info.bits_per_sample = 8;
    info.num_color_channels = ncolor;
    info.num_extra_channels = alpha ? 1 : 0;
    info.alpha_bits = alpha ? 8 : 0;
    info.uses_original_profile = JXL_TRUE;
    if (frames > 1) {
        info.have_animation = JXL_TRUE;
        info.animation.tps_numerator = 10;
        info.animation.tps_denominator = 1;
    }
    ASSERT_EQ(JxlEncoderSetBasicInfo(enc, &info), JXL_ENC_SUCCESS);
    if (alpha) {
        JxlExtraChannelInfo ec;
        JxlEncoderInitExtraChannelInfo(JXL_CHANNEL_ALPHA, &ec);
        ec.bits_per_sample = 8;
        ASSERT_EQ(JxlEncoderSetExtraChannelInfo(enc, 0, &ec), JXL_ENC_SUCCESS);
    }
    JxlColorEncoding ce;
    JxlColorEncodingSetToSRGB(&ce, ncolor == 1);
    ASSERT_EQ(JxlEncoderSetColorEncoding(enc, &ce), JXL_ENC_SUCCESS);
    ASSERT_EQ(JxlEncoderUseContainer(enc, container), JXL_ENC_SUCCESS);
    JxlEncoderFrameSettings *fs = JxlEncoderFrameSettingsCreate(enc, NULL);
    ASSERT_EQ(JxlEncoderSetFrameLossless(fs, JXL_TRUE), JXL_ENC_SUCCESS);
    const uint32_t spp = ncolor + (alpha ? 1 : 0);
    JxlPixelFormat f = {spp, JXL_TYPE_UINT8, JXL_NATIVE_ENDIAN, 0};
    const size_t fsz = (size_t)w * h * spp;
    for (uint32_t i = 0; i < frames; i++) {
        if (frames > 1) {
            JxlFrameHeader fh;
            JxlEncoderInitFrameHeader(&fh);
            fh.duration = 1;
            ASSERT_EQ(JxlEncoderSetFrameHeader(fs, &fh), JXL_ENC_SUCCESS);
        }
        ASSERT_EQ(JxlEncoderAddImageFrame(fs, &f, px + i * fsz, fsz), JXL_ENC_SUCCESS);
    }
    JxlEncoderCloseInput(enc);
    uint8_t buf[1 << 16];
    uint8_t *next = buf;
    size_t avail = sizeof buf;
    ASSERT_EQ(JxlEncoderProcessOutput(enc, &next, &avail), JXL_ENC_SUCCESS);
    ASSERT_OK(cv__buf_append(out, buf, (size_t)(next - buf)));
    JxlEncoderDestroy(enc);
}

static void jxl_roundtrip(void)
{
    for (uint32_t ch = 1; ch <= 3; ch += 2) {
        for (size_t s = 0; s < N_SHAPES; s++) {
            cv_chunk_desc d = {
                CV_UINT8, ch, {shapes[s][0], shapes[s][1], shapes[s][2]}, {0, 0, 0}, NULL};
            const size_t n = cv__chunk_desc_bytes(&d);
            uint8_t *src = malloc(n), *ref = malloc(n);
            ASSERT_TRUE(src && ref);
            /* lossless (CV: jxl_quality >= 100): exact, even for noise */
            fill_noise(src, n, (uint32_t)(ch * 7 + s));
            cv_buf enc, dec;
            ASSERT_OK(roundtrip(&cv_codec_jxl, &d, 100, src, &enc, &dec));
            ASSERT_MEM_EQ(dec.data, src, n);
            ASSERT_TRUE(enc.len > 2 && enc.data[0] == 0xff && enc.data[1] == 0x0a); /* codestream */
            /* libjxl sees one gray frame per channel, channel-planar (what CV writes) */
            uint32_t frames = 0;
            ASSERT_EQ(jxl_reference(enc.data, enc.len, 1, ref, n, &frames), n);
            ASSERT_EQ(frames, ch);
            ASSERT_MEM_EQ(ref, src, n);
            cv__buf_fini(&enc);
            cv__buf_fini(&dec);
            /* lossy default (quality 85): libjxl's pixels, close to smooth input */
            fill_smooth(src, &d);
            ASSERT_OK(roundtrip(&cv_codec_jxl, &d, -1, src, &enc, &dec));
            ASSERT_EQ(jxl_reference(enc.data, enc.len, 1, ref, n, &frames), n);
            ASSERT_MEM_EQ(dec.data, ref, n);
            int err = max_abs_diff(dec.data, src, n);
            if (err > 12) {
                TL_FAIL_HERE("jxl x%u %ux%ux%u: max error %d at quality 85", ch, d.shape[0],
                             d.shape[1], d.shape[2], err);
            }
            cv__buf_fini(&enc);
            cv__buf_fini(&dec);
            free(src);
            free(ref);
        }
    }
}

static void jxl_other_layouts(void)
{
    /* RGB and RGBA single frames (de-interleaved into planes), 4 gray frames, the container */
    cv_chunk_desc d = {CV_UINT8, 4, {13, 5, 3}, {0, 0, 0}, NULL};
    const size_t npix = npix_of(&d);
    uint8_t *px = malloc(4 * npix), *want = malloc(4 * npix);
    ASSERT_TRUE(px && want);
    fill_noise(px, 4 * npix, 5);
    static const struct {
        uint32_t ncolor, alpha, frames, channels, container;
    } kinds[] = {{3, 0, 1, 3, 0}, {3, 1, 1, 4, 0}, {1, 0, 4, 4, 0},
                 {1, 0, 1, 1, 1}, {1, 1, 1, 2, 0}, {3, 0, 1, 3, 1}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const uint32_t spp = kinds[k].ncolor + kinds[k].alpha;
        d.channels = kinds[k].channels;
        for (uint32_t f = 0; f < kinds[k].frames; f++) {
            for (size_t i = 0; i < npix; i++) {
                for (uint32_t s = 0; s < spp; s++) {
                    want[(f * spp + s) * npix + i] = px[f * npix * spp + i * spp + s];
                }
            }
        }
        cv_buf jxl, out;
        cv__buf_init(&jxl, 0);
        cv__buf_init(&out, npix * d.channels);
        make_jxl(px, 13, 15, kinds[k].ncolor, kinds[k].alpha, kinds[k].frames, kinds[k].container,
                 &jxl);
        cv_status rc = cv_codec_jxl.decode(&d, jxl.data, jxl.len, &out);
        if (rc != CV_OK || out.len != npix * d.channels || memcmp(out.data, want, out.len) != 0) {
            TL_FAIL_HERE("jxl layout %zu: rc %s", k, cv_errname(rc));
        }
        cv__buf_fini(&jxl);
        cv__buf_fini(&out);
    }
    free(px);
    free(want);
}

static void jxl_errors(void)
{
    cv_chunk_desc d1 = {CV_UINT8, 1, {16, 8, 2}, {0, 0, 0}, NULL};
    cv_chunk_desc d3 = {CV_UINT8, 3, {16, 8, 2}, {0, 0, 0}, NULL};
    uint8_t src[16 * 8 * 2 * 3];
    fill_smooth(src, &d3);
    const size_t n = cv__chunk_desc_bytes(&d1);
    cv_buf one, three, out;
    cv__buf_init(&one, 0);
    cv__buf_init(&three, 0);
    cv__buf_init(&out, 0);
    ASSERT_OK(cv_codec_jxl.encode(&d1, -1, src, n, &one));
    ASSERT_OK(cv_codec_jxl.encode(&d3, 100, src, 3 * n, &three));
    /* 1 frame for 3 channels; 3 frames for 1 channel; other area */
    ASSERT_FAILS(cv_codec_jxl.decode(&d3, one.data, one.len, &out), CV_ERR_CORRUPT,
                 "1 frames, 3 channels need 3");
    ASSERT_FAILS(cv_codec_jxl.decode(&d1, three.data, three.len, &out), CV_ERR_CORRUPT,
                 "more than the 1 frames");
    cv_chunk_desc other = {CV_UINT8, 1, {16, 8, 3}, {0, 0, 0}, NULL};
    ASSERT_FAILS(cv_codec_jxl.decode(&other, one.data, one.len, &out), CV_ERR_CORRUPT,
                 "needs 384 pixels");
    ASSERT_EQ(out.len, 0);
    /* descriptions and levels jxl can't take */
    cv_chunk_desc u16 = {CV_UINT16, 1, {16, 8, 2}, {0, 0, 0}, NULL};
    ASSERT_FAILS(cv_codec_jxl.decode(&u16, one.data, one.len, &out), CV_ERR_ARG, "uint8");
    cv_chunk_desc four = {CV_UINT8, 4, {16, 8, 2}, {0, 0, 0}, NULL};
    ASSERT_FAILS(cv_codec_jxl.encode(&four, -1, src, 4 * n, &out), CV_ERR_ARG, "1 or 3");
    ASSERT_FAILS(cv_codec_jxl.encode(&d1, -1, src, n - 1, &out), CV_ERR_ARG, "want 256");
    /* not JPEG XL, empty, truncated */
    ASSERT_FAILS(cv_codec_jxl.decode(&d1, src, n, &out), CV_ERR_CORRUPT, "signature");
    ASSERT_FAILS(cv_codec_jxl.decode(&d1, src, 0, &out), CV_ERR_CORRUPT, "signature");
    ASSERT_FAILS(cv_codec_jxl.decode(&d1, one.data, one.len - 5, &out), CV_ERR_CORRUPT, "jxl:");
    cv_buf small;
    cv__buf_init(&small, n - 1);
    ASSERT_FAILS(cv_codec_jxl.decode(&d1, one.data, one.len, &small), CV_ERR_CORRUPT, "larger");
    cv__buf_fini(&small);
    ASSERT_EQ(out.len, 0);
    hammer(&cv_codec_jxl, &d1, one.data, one.len, 0);
    hammer(&cv_codec_jxl, &d3, three.data, three.len, 0);
    cv__buf_fini(&one);
    cv__buf_fini(&three);
    cv__buf_fini(&out);
}
#endif

/* ---- an independent decoder: /usr/bin/python3 with pypng and PIL, if installed ---------- */

static bool write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        return false;
    }
    bool ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    uint8_t *p = malloc(1 << 20);
    *n = p ? fread(p, 1, 1 << 20, f) : 0;
    fclose(f);
    return p;
}

/* For each argument pair IN OUT: decode IN (png with pypng, jpg with PIL) and write its samples
 * to OUT interleaved, 16-bit ones big-endian. Exit 3 when a module is missing. */
static const char py_script[] = "import sys\n"
                                "try:\n"
                                "    import png\n"
                                "    from PIL import Image\n"
                                "except ImportError:\n"
                                "    sys.exit(3)\n"
                                "a = sys.argv[1:]\n"
                                "for src, dst in zip(a[0::2], a[1::2]):\n"
                                "    if src.endswith('.png'):\n"
                                "        w, h, rows, info = png.Reader(filename=src).read_flat()\n"
                                "        bps = 2 if info['bitdepth'] > 8 else 1\n"
                                "        out = b''.join(v.to_bytes(bps, 'big') for v in rows)\n"
                                "    else:\n"
                                "        out = Image.open(src).tobytes()\n"
                                "    open(dst, 'wb').write(out)\n";

static void python_decodes_ours(void)
{
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("  (skipped: no /usr/bin/python3)\n");
        return;
    }
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/cvimgXXXXXX", tmp && *tmp ? tmp : "/tmp");
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    static const cv_chunk_desc descs[] = {
        {CV_UINT8, 1, {37, 20, 9}, {0, 0, 0}, NULL}, {CV_UINT16, 3, {37, 20, 9}, {0, 0, 0}, NULL},
        {CV_UINT8, 4, {5, 7, 3}, {0, 0, 0}, NULL},   {CV_UINT16, 2, {1, 17, 1}, {0, 0, 0}, NULL},
        {CV_UINT8, 3, {37, 20, 9}, {0, 0, 0}, NULL}, /* the last one as jpeg */
    };
    enum { N = sizeof descs / sizeof descs[0] };
    uint8_t *src[N] = {NULL}, *mine[N] = {NULL};
    char cmd[4096], path[N][2][600];
    int len = snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/dec.py", dir);
    for (size_t k = 0; k < N; k++) {
        const bool jpeg = k == N - 1;
        const cv_codec *c = jpeg ? &cv_codec_jpeg : &cv_codec_png;
        const size_t n = cv__chunk_desc_bytes(&descs[k]);
        src[k] = malloc(n);
        ASSERT_TRUE(src[k] != NULL);
        if (jpeg) {
            fill_smooth(src[k], &descs[k]);
        } else {
            fill_noise(src[k], n, (uint32_t)k);
        }
        cv_buf enc, dec;
        ASSERT_OK(roundtrip(c, &descs[k], -1, src[k], &enc, &dec));
        mine[k] = cv__buf_take(&dec, &(size_t){0});
        snprintf(path[k][0], sizeof path[k][0], "%s/%zu.%s", dir, k, jpeg ? "jpg" : "png");
        snprintf(path[k][1], sizeof path[k][1], "%s/%zu.out", dir, k);
        ASSERT_TRUE(write_file(path[k][0], enc.data, enc.len));
        cv__buf_fini(&enc);
        cv__buf_fini(&dec);
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " %s %s", path[k][0], path[k][1]);
    }
    char script[600];
    snprintf(script, sizeof script, "%s/dec.py", dir);
    ASSERT_TRUE(write_file(script, py_script, strlen(py_script)));
    int st = system(cmd);
    const int code = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code == 3) {
        printf("  (skipped: python3 lacks pypng (python3-png) or PIL (python3-pil))\n");
    } else {
        ASSERT_EQ(code, 0);
        for (size_t k = 0; k < N; k++) {
            const cv_chunk_desc *d = &descs[k];
            const size_t npix = npix_of(d), bps = cv_dtype_size(d->dtype);
            const size_t n = cv__chunk_desc_bytes(d);
            size_t got = 0;
            uint8_t *theirs = read_file(path[k][1], &got);
            ASSERT_TRUE(theirs != NULL);
            ASSERT_EQ(got, n);
            /* theirs: interleaved big-endian samples; ours: planes, little-endian */
            const uint8_t *want = k == N - 1 ? mine[k] : src[k];
            size_t bad = 0;
            for (size_t i = 0; i < npix; i++) {
                for (uint32_t c = 0; c < d->channels; c++) {
                    const uint8_t *t = theirs + (i * d->channels + c) * bps;
                    const uint8_t *o = want + (c * npix + i) * bps;
                    bad += bps == 1 ? t[0] != o[0] : (t[0] != o[1] || t[1] != o[0]);
                }
            }
            free(theirs);
            ASSERT_EQ(bad, 0);
            /* and our png round trip is exact */
            ASSERT_TRUE(k == N - 1 || memcmp(mine[k], src[k], n) == 0);
        }
    }
    for (size_t k = 0; k < N; k++) {
        remove(path[k][0]);
        remove(path[k][1]);
        free(src[k]);
        cv_free(mine[k]);
    }
    remove(script);
    rmdir(dir);
}

#ifdef CV_HAVE_JXL
TEST_MAIN(registry_image, png_roundtrip_all, png_layout_matches_spec, png_interlaced_and_palette,
          png_from_pypng, png_errors, jpeg_roundtrip, jpeg_rgb_channel_order,
          jpeg_gray_bytes_are_turbojpegs, jpeg_gray_decode_is_turbojpegs,
          jpeg_progressive_and_subsampled, jpeg_from_pil, jpeg_errors, jxl_roundtrip,
          jxl_other_layouts, jxl_errors, python_decodes_ours)
#else
TEST_MAIN(registry_image, png_roundtrip_all, png_layout_matches_spec, png_interlaced_and_palette,
          png_from_pypng, png_errors, jpeg_roundtrip, jpeg_rgb_channel_order,
          jpeg_gray_bytes_are_turbojpegs, jpeg_gray_decode_is_turbojpegs,
          jpeg_progressive_and_subsampled, jpeg_from_pil, jpeg_errors, python_decodes_ours)
#endif
