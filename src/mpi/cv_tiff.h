/* SPDX-License-Identifier: BSD-3-Clause
 * cv_tiff.h: reading TIFF and BigTIFF files with libtiff for `cvmpi import`: the shape and
 * sample type of a page, windows of a page's pixels (striped or tiled, chunky or planar, any
 * compression libtiff decodes), OME-XML physical sizes, and cutouts written as TIFF (`read -o
 * cut.tif`). No MPI; only tiff_io.c includes
 * <tiffio.h>. Errors name the file and the page. Not thread-safe (one reader per process). */
#ifndef CV_TIFF_H
#define CV_TIFF_H

#include "base/cv_internal.h"

typedef struct cv_tiff cv_tiff;

/* What a page holds: its stored samples, as tifffile would give them. */
typedef struct cv_tiff_page {
    uint32_t width, height;
    uint32_t samples;          /* samples per pixel: the layer's channels */
    cv_dtype dtype;            /* of one sample */
    bool tiled;                /* else striped */
    uint32_t block_w, block_h; /* a tile, or a strip (width x rows per strip) */
    uint16_t compression;      /* the TIFF compression code (1 = none) */
    uint64_t block_bytes;      /* one decoded strip or tile */
} cv_tiff_page;

/* Open `path` for reading; *pages is its page (IFD) count. */
cv_status cv__tiff_open(const char *path, cv_tiff **out, uint32_t *pages);
/* The same from memory (`name` in errors); `data` must outlive the reader. */
cv_status cv__tiff_open_mem(const uint8_t *data, size_t len, const char *name, cv_tiff **out,
                            uint32_t *pages);
void cv__tiff_close(cv_tiff *t);

/* Describe page `page` (0-based); an unsupported layout or sample type is refused naming it. */
cv_status cv__tiff_page(cv_tiff *t, uint32_t page, cv_tiff_page *out);

/* Pixels x0..x1, y0..y1 (exclusive ends, inside the page) of page `page`, all samples, into
 * dst in C order (y, x, sample), native byte order. Reads each strip or tile the window touches
 * once, into one buffer of block_bytes. A corrupt or truncated block fails naming the page. */
cv_status cv__tiff_read_window(cv_tiff *t, uint32_t page, uint32_t x0, uint32_t y0, uint32_t x1,
                               uint32_t y1, uint8_t *dst);

/* PhysicalSizeX/Y/Z of the first OME <Pixels> element in `xml` (page 0's ImageDescription), in
 * nm (units: the *Unit attributes, default micrometres). *found has bit d set for each axis d
 * (x=0, y=1, z=2) given; 0 without OME-XML. A size that is not a positive number, or a unit
 * not of length, is refused naming `name`. Pure. */
cv_status cv__tiff_ome_sizes(const char *xml, const char *name, double nm[3], int *found);
/* Page 0's ImageDescription, or NULL (owned by the reader, valid until the next call). */
const char *cv__tiff_description(cv_tiff *t);

/* A cutout to write: `data` in the volume layout (x fastest, then y, z, channel slowest). */
typedef struct cv_tiff_cutout {
    cv_dtype dtype;
    int64_t shape[4];     /* x, y, z, channels */
    double resolution[3]; /* nm, x,y,z: OME-XML PhysicalSizeX/Y/Z (nm) */
    bool bigtiff;         /* BigTIFF whatever the size (else only past 4 GB) */
} cv_tiff_cutout;

/* Write the cutout to `path` as a TIFF of one page per z (BigTIFF past 4 GB or with c->bigtiff),
 * samples per pixel = channels (chunky; RGB for 3 and 4 8/16-bit channels), uncompressed strips,
 * with OME-XML on page 0 (shape, type, physical sizes) when the dtype has an OME type. The file
 * appears whole or not at all: written beside it, then renamed. Errors name `path`. */
cv_status cv__tiff_write(const char *path, const cv_tiff_cutout *c, const uint8_t *data);

/* The same in steps, for a volume too large to hold: open (c->shape[2] pages in all), append
 * pages a few planes at a time (`data`: nz planes in the volume layout), then close with
 * commit (all pages written: rename into place) or without (the temporary file is removed). */
typedef struct cv_tiff_writer cv_tiff_writer;
cv_status cv__tiff_writer_open(const char *path, const cv_tiff_cutout *c, cv_tiff_writer **out);
cv_status cv__tiff_writer_pages(cv_tiff_writer *w, const uint8_t *data, int64_t nz);
cv_status cv__tiff_writer_close(cv_tiff_writer *w, bool commit);

#endif
