/* SPDX-License-Identifier: BSD-3-Clause
 * cv_zarr.h: zarr v2 arrays for `cvmpi import`: the .zarray metadata (shape, chunks, dtype,
 * order, fill_value, dimension_separator, compressor) and the decoding of one stored chunk
 * (none, gzip, zlib, zstd, blosc) into native-endian elements; N5 datasets too. No MPI, no I/O:
 * pure, so the fuzz target takes it whole. Errors name `name` (the .zarray or the chunk file). */
#ifndef CV_ZARR_H
#define CV_ZARR_H

#include "base/cv_internal.h"

/* A decoded chunk is at most this large (a .zarray asking more is refused). */
#define CV_ZARR_CHUNK_MAX ((uint64_t)1 << 31)

typedef enum cv_zarr_codec {
    CV_ZARR_RAW,
    CV_ZARR_GZIP,
    CV_ZARR_ZLIB,
    CV_ZARR_ZSTD,
    CV_ZARR_BLOSC
} cv_zarr_codec;

typedef struct cv_zarr_meta {
    int ndims;          /* 1..4 as stored; the import wants 3 or 4 */
    uint64_t shape[4];  /* slowest first, as the array's own axes */
    uint64_t chunks[4]; /* each >= 1 */
    cv_dtype dtype;
    size_t itemsize;
    bool big_endian; /* stored big-endian (">u2"): swapped on decoding */
    bool fortran;    /* order "F": the first axis fastest inside a chunk */
    char separator;  /* '.' or '/' between chunk indices in chunk keys */
    cv_zarr_codec codec;
    uint8_t fill[8];      /* one element of fill_value, native byte order (null: zeros) */
    uint64_t chunk_bytes; /* decoded chunk size: product of chunks, times itemsize */
    uint64_t grid[4];     /* chunks along each axis */
    bool n5;              /* an N5 dataset: blocks have a header; keys list x first */
} cv_zarr_meta;

/* Parse a .zarray. Refused naming `name`: not JSON, zarr_format not 2, shape/chunks not
 * arrays of integers of one length (1..4), a dtype not u1-u8/i1-i8/f4/f8, order not C or F,
 * filters, an unknown compressor (or zstd/blosc in a build without libzstd/libblosc), a
 * fill_value the dtype cannot hold, a chunk larger than CV_ZARR_CHUNK_MAX. Pure. */
cv_status cv__zarr_parse(const char *text, size_t len, const char *name, cv_zarr_meta *out);

/* Parse an N5 dataset's attributes.json into the same description, axes reversed to slowest
 * first (N5 lists x first), C order, big-endian, separator '/', fill 0: dimensions, blockSize,
 * dataType, compression raw, gzip (useZlib: zlib), zstd or blosc. Pure. */
cv_status cv__n5_parse(const char *text, size_t len, const char *name, cv_zarr_meta *out);

/* Decode the stored bytes of one chunk into dst (m->chunk_bytes), native byte order, in the
 * chunk's own order (C or F). N5: `tmp` (chunk_bytes) takes the block before it is placed;
 * the parts of the chunk a smaller edge block lacks are 0. A stream that is corrupt, cut short
 * or decodes to any size but the chunk's (N5: the header's) is CV_ERR_CORRUPT naming `name`. */
cv_status cv__zarr_decode(const cv_zarr_meta *m, const uint8_t *src, size_t n, uint8_t *dst,
                          uint8_t *tmp, const char *name);

/* The largest stored chunk this reader accepts (decoded size plus any codec's worst case). */
uint64_t cv__zarr_stored_max(const cv_zarr_meta *m);

/* Fill dst (m->chunk_bytes) with fill_value: a chunk that was never written. */
void cv__zarr_fill(const cv_zarr_meta *m, uint8_t *dst);

/* The key of chunk `idx` ("1.0.3" or "1/0/3") into buf; false if it does not fit. Pure. */
bool cv__zarr_chunk_key(const cv_zarr_meta *m, const uint64_t idx[4], char *buf, size_t cap);

/* Element strides (slowest axis first, in elements) inside one decoded chunk. Pure. */
void cv__zarr_chunk_strides(const cv_zarr_meta *m, uint64_t st[4]);

/* A one-line description of the codec ("gzip", "blosc"...). */
const char *cv__zarr_codec_name(cv_zarr_codec c);

#endif
