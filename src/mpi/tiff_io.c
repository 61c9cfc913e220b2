/* SPDX-License-Identifier: BSD-3-Clause
 * tiff_io.c: TIFF and BigTIFF pages read with libtiff (cv_tiff.h); the only file that includes
 * <tiffio.h>. libtiff's own messages are caught (not printed) and end up in the one error line
 * that names the file and page; its warnings (unknown tags, as tifffile writes) are dropped.
 * Files are read with read(2), not mapped, so a file cut short while it is read fails cleanly.
 * Cutouts (`read -o cut.tif`) are written uncompressed, one page per z, with OME-XML.
 * Never trusts the file: sizes are checked before anything is allocated (fuzz_tiff). */
#include "mpi/cv_tiff.h"

#include "base/checked.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

struct cv_tiff {
    TIFF *tif;
    char *name;
    uint32_t page; /* the current directory, or UINT32_MAX */
    cv_tiff_page desc;
    uint16_t planar;
    uint8_t *block; /* one decoded strip or tile */
    size_t block_cap;
    uint64_t file_size;
    /* the in-memory file of cv__tiff_open_mem */
    const uint8_t *mem;
    uint64_t mem_len, mem_pos;
};

/* libtiff's last error message on this thread (its handler has no user pointer). */
static _Thread_local char last_error[256];

static void on_error(const char *module, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void on_error(const char *module, const char *fmt, va_list ap)
{
    (void)module;
    vsnprintf(last_error, sizeof last_error, fmt, ap);
}

static void on_warning(const char *module, const char *fmt, va_list ap)
{
    (void)module;
    (void)fmt;
    (void)ap;
}

static void install_handlers(void)
{
    TIFFSetErrorHandler(on_error);
    TIFFSetWarningHandler(on_warning);
    last_error[0] = '\0';
}

/* ": <libtiff's words>" when it said something, else "". */
static const char *cause(char buf[264])
{
    if (last_error[0]) {
        snprintf(buf, 264, ": %s", last_error);
    } else {
        buf[0] = '\0';
    }
    last_error[0] = '\0';
    return buf;
}

/* ---- the in-memory file (fuzzing) ------------------------------------------------------- */

static tmsize_t mem_read(thandle_t h, void *buf, tmsize_t n)
{
    cv_tiff *t = (cv_tiff *)h;
    uint64_t left = t->mem_pos < t->mem_len ? t->mem_len - t->mem_pos : 0;
    uint64_t k = (uint64_t)n < left ? (uint64_t)n : left;
    memcpy(buf, t->mem + t->mem_pos, (size_t)k);
    t->mem_pos += k;
    return (tmsize_t)k;
}

static tmsize_t mem_write(thandle_t h, void *buf, tmsize_t n)
{
    (void)h;
    (void)buf;
    (void)n;
    return -1;
}

static toff_t mem_seek(thandle_t h, toff_t off, int whence)
{
    cv_tiff *t = (cv_tiff *)h;
    uint64_t base = whence == SEEK_CUR ? t->mem_pos : whence == SEEK_END ? t->mem_len : 0;
    uint64_t pos;
    if (!cv__add_u64(base, (uint64_t)off, &pos)) {
        return (toff_t)-1;
    }
    t->mem_pos = pos;
    return (toff_t)pos;
}

static int mem_close(thandle_t h)
{
    (void)h;
    return 0;
}

static toff_t mem_size(thandle_t h)
{
    return (toff_t)((cv_tiff *)h)->mem_len;
}

static int mem_map(thandle_t h, void **base, toff_t *size)
{
    (void)h;
    (void)base;
    (void)size;
    return 0;
}

static void mem_unmap(thandle_t h, void *base, toff_t size)
{
    (void)h;
    (void)base;
    (void)size;
}

/* ---- opening ---------------------------------------------------------------------------- */

/* Count the pages (libtiff detects IFD loops). */
static cv_status count_pages(cv_tiff *t, uint32_t *pages)
{
    tdir_t n = TIFFNumberOfDirectories(t->tif);
    char why[264];
    if (n < 1) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: no readable page%s", t->name, cause(why));
    }
    *pages = (uint32_t)n;
    t->page = UINT32_MAX;
    return CV_OK;
}

static cv_tiff *new_reader(const char *name)
{
    cv_tiff *t = cv_calloc(1, sizeof *t);
    if (t) {
        t->name = cv__strdup(name);
        if (!t->name) {
            cv_free(t);
            t = NULL;
        }
    }
    return t;
}

cv_status cv__tiff_open(const char *path, cv_tiff **out, uint32_t *pages)
{
    install_handlers();
    *out = NULL;
    cv_tiff *t = new_reader(path);
    if (!t) {
        return CV_FAIL(CV_ERR_NOMEM, "%s", path);
    }
    char why[264];
    /* "m": read(2), not mmap, so a file truncated under us is an error, not SIGBUS */
    t->tif = TIFFOpen(path, "rm");
    if (!t->tif) {
        cv_status rc =
            CV_FAIL(CV_ERR_ARG, "%s is not a TIFF file libtiff can open%s", path, cause(why));
        cv__tiff_close(t);
        return rc;
    }
    struct stat st;
    t->file_size = fstat(TIFFFileno(t->tif), &st) == 0 ? (uint64_t)st.st_size : UINT64_MAX;
    *out = t;
    return count_pages(t, pages);
}

cv_status cv__tiff_open_mem(const uint8_t *data, size_t len, const char *name, cv_tiff **out,
                            uint32_t *pages)
{
    install_handlers();
    *out = NULL;
    cv_tiff *t = new_reader(name);
    if (!t) {
        return CV_FAIL(CV_ERR_NOMEM, "%s", name);
    }
    t->mem = data;
    t->mem_len = len;
    t->file_size = len;
    char why[264];
    t->tif = TIFFClientOpen(name, "rm", (thandle_t)t, mem_read, mem_write, mem_seek, mem_close,
                            mem_size, mem_map, mem_unmap);
    if (!t->tif) {
        cv_status rc =
            CV_FAIL(CV_ERR_ARG, "%s is not a TIFF file libtiff can open%s", name, cause(why));
        cv__tiff_close(t);
        return rc;
    }
    *out = t;
    return count_pages(t, pages);
}

void cv__tiff_close(cv_tiff *t)
{
    if (!t) {
        return;
    }
    if (t->tif) {
        TIFFClose(t->tif);
    }
    cv_free(t->block);
    cv_free(t->name);
    cv_free(t);
}

/* ---- pages ------------------------------------------------------------------------------ */

static cv_dtype sample_dtype(uint16_t format, uint16_t bits)
{
    if (format == SAMPLEFORMAT_IEEEFP) {
        return bits == 32 ? CV_FLOAT32 : bits == 64 ? CV_FLOAT64 : CV_DTYPE_INVALID;
    }
    bool is_signed = format == SAMPLEFORMAT_INT;
    if (format != SAMPLEFORMAT_UINT && format != SAMPLEFORMAT_INT && format != SAMPLEFORMAT_VOID) {
        return CV_DTYPE_INVALID;
    }
    switch (bits) {
    case 8:
        return is_signed ? CV_INT8 : CV_UINT8;
    case 16:
        return is_signed ? CV_INT16 : CV_UINT16;
    case 32:
        return is_signed ? CV_INT32 : CV_UINT32;
    case 64:
        return is_signed ? CV_INT64 : CV_UINT64;
    default:
        return CV_DTYPE_INVALID;
    }
}

/* Make `page` the current directory and describe it. */
static cv_status select_page(cv_tiff *t, uint32_t page)
{
    if (t->page == page) {
        return CV_OK;
    }
    char why[264];
    t->page = UINT32_MAX;
    if (!TIFFSetDirectory(t->tif, (tdir_t)page)) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s, page %u: cannot read its directory%s", t->name, page,
                       cause(why));
    }
    cv_tiff_page *d = &t->desc;
    memset(d, 0, sizeof *d);
    uint16_t spp = 1, bits = 1, format = SAMPLEFORMAT_UINT, photometric = 0, planar = 1;
    uint32_t w = 0, h = 0;
    TIFFGetField(t->tif, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(t->tif, TIFFTAG_IMAGELENGTH, &h);
    TIFFGetFieldDefaulted(t->tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t->tif, TIFFTAG_BITSPERSAMPLE, &bits);
    TIFFGetFieldDefaulted(t->tif, TIFFTAG_SAMPLEFORMAT, &format);
    TIFFGetFieldDefaulted(t->tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(t->tif, TIFFTAG_COMPRESSION, &d->compression);
    TIFFGetField(t->tif, TIFFTAG_PHOTOMETRIC, &photometric);
    if (w == 0 || h == 0 || spp == 0) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s, page %u: empty (%ux%u pixels, %u samples)", t->name,
                       page, w, h, spp);
    }
    d->width = w;
    d->height = h;
    d->samples = spp;
    d->dtype = sample_dtype(format, bits);
    if (d->dtype == CV_DTYPE_INVALID) {
        return CV_FAIL(CV_ERR_ARG,
                       "%s, page %u: unsupported samples (%u bits, sample format %u); want 8-64 "
                       "bit integers or 32/64 bit floats",
                       t->name, page, bits, format);
    }
    if (photometric == PHOTOMETRIC_YCBCR) {
        if (d->compression != COMPRESSION_JPEG) {
            return CV_FAIL(CV_ERR_ARG,
                           "%s, page %u: YCbCr samples are only supported JPEG-compressed", t->name,
                           page);
        }
        /* libtiff's JPEG codec converts to RGB, so the samples are as tifffile shows them */
        TIFFSetField(t->tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
    }
    t->planar = planar;
    d->tiled = TIFFIsTiled(t->tif) != 0;
    uint64_t block;
    if (d->tiled) {
        uint32_t tw = 0, th = 0;
        TIFFGetField(t->tif, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(t->tif, TIFFTAG_TILELENGTH, &th);
        d->block_w = tw;
        d->block_h = th;
        block = (uint64_t)TIFFTileSize64(t->tif);
    } else {
        uint32_t rps = h;
        TIFFGetFieldDefaulted(t->tif, TIFFTAG_ROWSPERSTRIP, &rps);
        d->block_w = w;
        d->block_h = rps < h ? rps : h;
        block = (uint64_t)TIFFStripSize64(t->tif);
    }
    /* what a block must hold for the window copy below: block_w x block_h pixels of the
     * samples in one plane (all of them when chunky) */
    uint64_t need = cv_dtype_size(d->dtype);
    bool ok = d->block_w > 0 && d->block_h > 0 &&
              cv__mul_u64(need, planar == PLANARCONFIG_SEPARATE ? 1 : spp, &need) &&
              cv__mul_u64(need, d->block_w, &need) && cv__mul_u64(need, d->block_h, &need);
    if (!ok || block < need || block > ((uint64_t)1 << 40)) {
        char why2[264];
        return CV_FAIL(CV_ERR_CORRUPT, "%s, page %u: bad %s layout (%ux%u)%s", t->name, page,
                       d->tiled ? "tile" : "strip", d->block_w, d->block_h, cause(why2));
    }
    d->block_bytes = block;
    t->page = page;
    return CV_OK;
}

cv_status cv__tiff_page(cv_tiff *t, uint32_t page, cv_tiff_page *out)
{
    CV_TRY(select_page(t, page));
    /* A file cut short is refused here, before the import writes anything: every strip or
     * tile must lie inside it. */
    const cv_tiff_page *d = &t->desc;
    uint32_t n = d->tiled ? TIFFNumberOfTiles(t->tif) : TIFFNumberOfStrips(t->tif);
    for (uint32_t i = 0; i < n; i++) {
        int err = 0;
        uint64_t off = TIFFGetStrileOffsetWithErr(t->tif, i, &err);
        uint64_t len = err ? 0 : TIFFGetStrileByteCountWithErr(t->tif, i, &err);
        uint64_t end;
        char why[264];
        if (err) {
            return CV_FAIL(CV_ERR_CORRUPT, "%s, page %u: %s %u has no offset or size%s", t->name,
                           page, d->tiled ? "tile" : "strip", i, cause(why));
        }
        if (!cv__add_u64(off, len, &end) || end > t->file_size) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           "%s, page %u: %s %u ends at byte %llu, past the end of the file "
                           "(%llu bytes): the file is truncated or corrupt",
                           t->name, page, d->tiled ? "tile" : "strip", i, (unsigned long long)end,
                           (unsigned long long)t->file_size);
        }
    }
    *out = t->desc;
    return CV_OK;
}

/* Decode block `index` (a strip or tile number) into t->block; `rows` of it are needed. */
static cv_status read_block(cv_tiff *t, uint32_t index, uint64_t want)
{
    const cv_tiff_page *d = &t->desc;
    if (d->block_bytes > t->block_cap) {
        uint8_t *b = cv_malloc((size_t)d->block_bytes);
        if (!b) {
            return CV_FAIL(CV_ERR_NOMEM, "%s, page %u: a %s of %llu bytes", t->name, t->page,
                           d->tiled ? "tile" : "strip", (unsigned long long)d->block_bytes);
        }
        cv_free(t->block);
        t->block = b;
        t->block_cap = (size_t)d->block_bytes;
    }
    tmsize_t got = d->tiled
                       ? TIFFReadEncodedTile(t->tif, index, t->block, (tmsize_t)d->block_bytes)
                       : TIFFReadEncodedStrip(t->tif, index, t->block, (tmsize_t)d->block_bytes);
    char why[264];
    if (got < 0 || (uint64_t)got < want) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s, page %u: %s %u is corrupt or cut short%s", t->name,
                       t->page, d->tiled ? "tile" : "strip", index, cause(why));
    }
    return CV_OK;
}

cv_status cv__tiff_read_window(cv_tiff *t, uint32_t page, uint32_t x0, uint32_t y0, uint32_t x1,
                               uint32_t y1, uint8_t *dst)
{
    CV_TRY(select_page(t, page));
    const cv_tiff_page *d = &t->desc;
    if (x0 >= x1 || y0 >= y1 || x1 > d->width || y1 > d->height) {
        return CV_FAIL(CV_ERR_ARG, "%s, page %u: window outside the page", t->name, page);
    }
    size_t es = cv_dtype_size(d->dtype);
    bool separate = t->planar == PLANARCONFIG_SEPARATE && d->samples > 1;
    uint32_t planes = separate ? d->samples : 1;
    size_t px = es * d->samples;               /* one pixel in dst */
    size_t bpx = separate ? es : px;           /* one pixel in a block */
    size_t row_dst = (size_t)(x1 - x0) * px;   /* one row of dst */
    size_t row_blk = (size_t)d->block_w * bpx; /* one row of a block */
    uint32_t across = (d->width + d->block_w - 1) / d->block_w;
    uint32_t down = (d->height + d->block_h - 1) / d->block_h;
    for (uint32_t plane = 0; plane < planes; plane++) {
        for (uint32_t by = y0 / d->block_h; by <= (y1 - 1) / d->block_h; by++) {
            uint32_t bx0 = d->tiled ? x0 / d->block_w : 0;
            uint32_t bx1 = d->tiled ? (x1 - 1) / d->block_w : 0;
            for (uint32_t bx = bx0; bx <= bx1; bx++) {
                uint32_t index = d->tiled ? (plane * down + by) * across + bx : plane * down + by;
                uint32_t top = by * d->block_h, left = bx * d->block_w;
                uint32_t ya = y0 > top ? y0 : top;
                uint32_t yb = y1 < top + d->block_h ? y1 : top + d->block_h;
                uint32_t xa = x0 > left ? x0 : left;
                uint32_t xb = x1 < left + d->block_w ? x1 : left + d->block_w;
                /* a strip at the bottom is short: only its rows are decoded */
                CV_TRY(read_block(t, index, (uint64_t)(yb - top) * row_blk));
                for (uint32_t y = ya; y < yb; y++) {
                    const uint8_t *src =
                        t->block + (size_t)(y - top) * row_blk + (size_t)(xa - left) * bpx;
                    uint8_t *out = dst + (size_t)(y - y0) * row_dst + (size_t)(xa - x0) * px;
                    if (!separate) {
                        memcpy(out, src, (size_t)(xb - xa) * px);
                        continue;
                    }
                    out += (size_t)plane * es;
                    for (uint32_t x = xa; x < xb; x++) {
                        memcpy(out, src, es);
                        out += px;
                        src += es;
                    }
                }
            }
        }
    }
    return CV_OK;
}

/* ---- OME-XML ---------------------------------------------------------------------------- */

const char *cv__tiff_description(cv_tiff *t)
{
    if (select_page(t, 0) != CV_OK) {
        cv_err_clear();
        return NULL;
    }
    char *text = NULL;
    return TIFFGetField(t->tif, TIFFTAG_IMAGEDESCRIPTION, &text) ? text : NULL;
}

/* The value of attribute `name` in the tag [tag, end) into out; false if absent. */
static bool xml_attr(const char *tag, const char *end, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *p = tag; p + n + 2 < end; p++) {
        bool starts = p == tag || isspace((unsigned char)p[-1]);
        if (!starts || strncmp(p, name, n) != 0) {
            continue;
        }
        const char *q = p + n;
        while (q < end && isspace((unsigned char)*q)) {
            q++;
        }
        if (q >= end || *q != '=') {
            continue;
        }
        q++;
        while (q < end && isspace((unsigned char)*q)) {
            q++;
        }
        if (q >= end || (*q != '"' && *q != '\'')) {
            continue;
        }
        char quote = *q++;
        const char *v = q;
        while (q < end && *q != quote) {
            q++;
        }
        if (q >= end) {
            return false;
        }
        snprintf(out, cap, "%.*s", (int)(q - v) < 200 ? (int)(q - v) : 200, v);
        return true;
    }
    return false;
}

/* nm per unit of an OME UnitsLength symbol; 0 if not a length we know. */
static double unit_nm(const char *u)
{
    static const struct {
        const char *sym;
        double nm;
    } units[] = {
        {"\xc2\xb5m", 1e3}, {"um", 1e3}, {"\xce\xbcm", 1e3}, {"nm", 1},         {"mm", 1e6},
        {"cm", 1e7},        {"m", 1e9},  {"pm", 1e-3},       {"\xc3\x85", 0.1},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(u, units[i].sym) == 0) {
            return units[i].nm;
        }
    }
    return 0;
}

cv_status cv__tiff_ome_sizes(const char *xml, const char *name, double nm[3], int *found)
{
    *found = 0;
    if (!xml || !strstr(xml, "<OME")) {
        return CV_OK;
    }
    /* <Pixels ...> or <ns:Pixels ...> */
    const char *tag = NULL;
    for (const char *p = strstr(xml, "Pixels"); p; p = strstr(p + 1, "Pixels")) {
        const char *q = p;
        while (q > xml && (isalnum((unsigned char)q[-1]) || q[-1] == '_')) {
            q--;
        }
        if (q > xml && q[-1] == ':') {
            q--;
            while (q > xml && isalnum((unsigned char)q[-1])) {
                q--;
            }
        }
        if (q > xml && q[-1] == '<' && (isspace((unsigned char)p[6]) || p[6] == '>')) {
            tag = p + 6;
            break;
        }
    }
    if (!tag) {
        return CV_OK;
    }
    const char *end = strchr(tag, '>');
    if (!end) {
        return CV_FAIL(CV_ERR_ARG, "%s: the OME-XML <Pixels> element is not closed", name);
    }
    static const char *const size_attr[3] = {"PhysicalSizeX", "PhysicalSizeY", "PhysicalSizeZ"};
    static const char *const unit_attr[3] = {"PhysicalSizeXUnit", "PhysicalSizeYUnit",
                                             "PhysicalSizeZUnit"};
    for (int d = 0; d < 3; d++) {
        char v[208], u[208];
        if (!xml_attr(tag, end, size_attr[d], v, sizeof v)) {
            continue;
        }
        char *stop;
        double size = strtod(v, &stop);
        if (stop == v || *stop || !(size > 0) || !isfinite(size)) {
            return CV_FAIL(CV_ERR_ARG, "%s: OME-XML %s=\"%s\" is not a positive number", name,
                           size_attr[d], v);
        }
        double per = 1e3; /* OME's default unit: micrometre */
        if (xml_attr(tag, end, unit_attr[d], u, sizeof u) && !(per = unit_nm(u))) {
            return CV_FAIL(CV_ERR_ARG, "%s: OME-XML %s=\"%s\" is not a unit of length", name,
                           unit_attr[d], u);
        }
        /* to the nearest 1e-6 nm, as HDF5's element_size_um */
        nm[d] = round(size * per * 1e6) / 1e6;
        if (!(nm[d] > 0) || nm[d] > 1e12) {
            return CV_FAIL(CV_ERR_ARG, "%s: OME-XML %s=\"%s\" is out of range", name, size_attr[d],
                           v);
        }
        *found |= 1 << d;
    }
    return CV_OK;
}

/* ---- writing cutouts -------------------------------------------------------------------- */

static const char *ome_type(cv_dtype t)
{
    switch (t) {
    case CV_UINT8:
        return "uint8";
    case CV_INT8:
        return "int8";
    case CV_UINT16:
        return "uint16";
    case CV_INT16:
        return "int16";
    case CV_UINT32:
        return "uint32";
    case CV_INT32:
        return "int32";
    case CV_FLOAT32:
        return "float";
    case CV_FLOAT64:
        return "double";
    default:
        return NULL; /* OME has no 64-bit integers */
    }
}

static uint16_t sample_format(cv_dtype t)
{
    switch (t) {
    case CV_INT8:
    case CV_INT16:
    case CV_INT32:
    case CV_INT64:
        return SAMPLEFORMAT_INT;
    case CV_FLOAT32:
    case CV_FLOAT64:
        return SAMPLEFORMAT_IEEEFP;
    default:
        return SAMPLEFORMAT_UINT;
    }
}

/* Page 0's OME-XML, as tifffile writes it for one image of z pages. */
static char *ome_xml(const cv_tiff_cutout *c)
{
    const char *type = ome_type(c->dtype);
    if (!type) {
        return NULL;
    }
    return cv__asprintf(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><OME "
        "xmlns=\"http://www.openmicroscopy.org/Schemas/OME/2016-06\" "
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
        "xsi:schemaLocation=\"http://www.openmicroscopy.org/Schemas/OME/2016-06 "
        "http://www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd\" Creator=\"cvmpi\">"
        "<Image ID=\"Image:0\" Name=\"Image0\"><Pixels ID=\"Pixels:0\" DimensionOrder=\"XYCZT\" "
        "Type=\"%s\" SizeX=\"%" PRId64 "\" SizeY=\"%" PRId64 "\" SizeC=\"%" PRId64
        "\" SizeZ=\"%" PRId64 "\" SizeT=\"1\"%s PhysicalSizeX=\"%.17g\" PhysicalSizeXUnit=\"nm\" "
        "PhysicalSizeY=\"%.17g\" PhysicalSizeYUnit=\"nm\" PhysicalSizeZ=\"%.17g\" "
        "PhysicalSizeZUnit=\"nm\"><Channel ID=\"Channel:0:0\" SamplesPerPixel=\"%" PRId64
        "\"/><TiffData IFD=\"0\" PlaneCount=\"%" PRId64 "\"/></Pixels></Image></OME>",
        type, c->shape[0], c->shape[1], c->shape[3], c->shape[2],
        c->shape[3] > 1 ? " Interleaved=\"true\"" : "", c->resolution[0], c->resolution[1],
        c->resolution[2], c->shape[3], c->shape[2]);
}

struct cv_tiff_writer {
    TIFF *tif;
    char *path, *tmp, *xml;
    cv_tiff_cutout c;
    int64_t written; /* pages so far */
    uint8_t *strip;
    uint32_t rps; /* rows per strip */
};

/* Pages of `nz` planes of `data` (volume layout over those planes) into the open file. */
static cv_status write_pages(cv_tiff_writer *wr, const uint8_t *data, int64_t nz)
{
    const cv_tiff_cutout *c = &wr->c;
    TIFF *tif = wr->tif;
    uint32_t w = (uint32_t)c->shape[0], h = (uint32_t)c->shape[1], spp = (uint32_t)c->shape[3];
    size_t es = cv_dtype_size(c->dtype);
    size_t px = es * spp, row = (size_t)w * px;
    size_t plane = (size_t)w * h * es; /* one channel of one z in `data` */
    uint32_t rps = wr->rps;
    bool rgb = (spp == 3 || spp == 4) && es <= 2;
    char why[264];
    for (int64_t z = 0; z < nz; z++) {
        TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, w);
        TIFFSetField(tif, TIFFTAG_IMAGELENGTH, h);
        TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)spp);
        TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)(es * 8));
        TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, sample_format(c->dtype));
        TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, rgb ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
        TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
        TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, rps);
        uint32_t extra = rgb ? spp - 3 : spp - 1;
        if (extra > 0) {
            uint16_t *kinds = cv_calloc(extra, sizeof *kinds);
            if (!kinds) {
                return CV_FAIL(CV_ERR_NOMEM, "%s", wr->path);
            }
            if (rgb) {
                kinds[0] = EXTRASAMPLE_UNASSALPHA;
            }
            TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, (uint16_t)extra, kinds);
            cv_free(kinds);
        }
        if (wr->written == 0 && wr->xml) {
            TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, wr->xml);
        }
        for (uint32_t y0 = 0, s = 0; y0 < h; y0 += rps, s++) {
            uint32_t rows = h - y0 < rps ? h - y0 : rps;
            /* channel-slowest planes to interleaved samples */
            for (uint32_t y = 0; y < rows; y++) {
                uint8_t *out = wr->strip + (size_t)y * row;
                const uint8_t *in = data + (size_t)z * plane + (size_t)(y0 + y) * (size_t)w * es;
                for (uint32_t x = 0; x < w; x++) {
                    for (uint32_t k = 0; k < spp; k++) {
                        memcpy(out, in + (size_t)k * (size_t)nz * plane + (size_t)x * es, es);
                        out += es;
                    }
                }
            }
            if (TIFFWriteEncodedStrip(tif, s, wr->strip, (tmsize_t)((size_t)rows * row)) < 0) {
                return CV_FAIL(CV_ERR_IO, "writing %s failed%s", wr->path, cause(why));
            }
        }
        if (!TIFFWriteDirectory(tif)) {
            return CV_FAIL(CV_ERR_IO, "writing page %" PRId64 " of %s failed%s", wr->written,
                           wr->path, cause(why));
        }
        wr->written++;
    }
    return CV_OK;
}

cv_status cv__tiff_writer_open(const char *path, const cv_tiff_cutout *c, cv_tiff_writer **out)
{
    install_handlers();
    *out = NULL;
    uint64_t bytes = cv_dtype_size(c->dtype);
    for (int d = 0; d < 4; d++) {
        if (c->shape[d] < 1 || c->shape[d] > UINT32_MAX ||
            !cv__mul_u64(bytes, (uint64_t)c->shape[d], &bytes)) {
            return CV_FAIL(CV_ERR_ARG, "%s: a cutout of that shape does not fit a TIFF", path);
        }
    }
    if (c->shape[3] > 65535) {
        return CV_FAIL(CV_ERR_ARG, "%s: more than 65535 channels", path);
    }
    size_t row = (size_t)c->shape[0] * (size_t)c->shape[3] * cv_dtype_size(c->dtype);
    uint32_t rps = row >= 65536 ? 1 : (uint32_t)(65536 / row);
    rps = rps < (uint32_t)c->shape[1] ? rps : (uint32_t)c->shape[1];
    cv_tiff_writer *w = cv_calloc(1, sizeof *w);
    if (!w) {
        return CV_FAIL(CV_ERR_NOMEM, "%s", path);
    }
    w->c = *c;
    w->rps = rps;
    w->path = cv__strdup(path);
    w->tmp = cv__asprintf("%s.tmp-%ld", path, (long)getpid());
    w->xml = ome_xml(c);
    w->strip = cv_malloc((size_t)rps * row);
    if (!w->path || !w->tmp || (ome_type(c->dtype) && !w->xml) || !w->strip) {
        cv__tiff_writer_close(w, false);
        return CV_FAIL(CV_ERR_NOMEM, "%s", path);
    }
    /* classic TIFF offsets are 32-bit: past 4 GB (with room for the directories), BigTIFF */
    bool big = c->bigtiff || bytes > ((uint64_t)4 << 30) - ((uint64_t)64 << 20);
    char why[264];
    w->tif = TIFFOpen(w->tmp, big ? "w8" : "w");
    if (!w->tif) {
        cv_status rc = CV_FAIL(CV_ERR_IO, "cannot create %s (written as %s, then renamed)%s", path,
                               w->tmp, cause(why));
        cv__tiff_writer_close(w, false);
        return rc;
    }
    *out = w;
    return CV_OK;
}

cv_status cv__tiff_writer_pages(cv_tiff_writer *w, const uint8_t *data, int64_t nz)
{
    if (nz < 1 || nz > w->c.shape[2] - w->written) {
        return CV_FAIL(CV_ERR_ARG, "%s: %" PRId64 " more pages, past its %" PRId64, w->path, nz,
                       w->c.shape[2]);
    }
    return write_pages(w, data, nz);
}

cv_status cv__tiff_writer_close(cv_tiff_writer *w, bool commit)
{
    if (!w) {
        return CV_OK;
    }
    cv_status rc = CV_OK;
    if (w->tif) {
        TIFFClose(w->tif);
        if (commit && w->written != w->c.shape[2]) {
            rc = CV_FAIL(CV_ERR_ARG, "%s: %" PRId64 " of %" PRId64 " pages written", w->path,
                         w->written, w->c.shape[2]);
        }
        if (commit && rc == CV_OK && rename(w->tmp, w->path) != 0) {
            rc = CV_FAIL(CV_ERR_IO, "rename `%s' to `%s': %s", w->tmp, w->path, strerror(errno));
        }
        if (!commit || rc != CV_OK) {
            unlink(w->tmp);
        }
    }
    cv_free(w->path);
    cv_free(w->tmp);
    cv_free(w->xml);
    cv_free(w->strip);
    cv_free(w);
    return rc;
}

cv_status cv__tiff_write(const char *path, const cv_tiff_cutout *c, const uint8_t *data)
{
    cv_tiff_writer *w;
    CV_TRY(cv__tiff_writer_open(path, c, &w));
    cv_status rc = cv__tiff_writer_pages(w, data, c->shape[2]);
    cv_status crc = cv__tiff_writer_close(w, rc == CV_OK);
    return rc == CV_OK ? crc : rc;
}
