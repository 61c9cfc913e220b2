/* SPDX-License-Identifier: BSD-3-Clause
 * codec.h: the interface every chunk encoding (raw, jpeg, ...) implements, and the registry
 * that maps info "encoding" names to them. Transport compression (gzip, br) is not a chunk
 * encoding: it lives in compress/.
 * Decoders never trust sizes in the payload: what a chunk must decode to comes from the
 * cv_chunk_desc (built from the info), and out->max caps any growth. No I/O, no MPI here. */
#ifndef CV_CODEC_H
#define CV_CODEC_H

#include "base/cv_internal.h"

typedef struct cv_chunk_desc {
    cv_dtype dtype;
    uint32_t channels;
    uint32_t shape[3];      /* this chunk, after clipping at the volume edge */
    uint32_t cseg_block[3]; /* compressed_segmentation only */
    /* The scale's other info members as a JSON object (cv_scale.extra_json), or NULL: where
     * zfpc finds its zfpc_* parameters. */
    const char *scale_extra;
} cv_chunk_desc;

enum {
    CV_CODEC_LOSSY = 1 << 0,
};

typedef struct cv_codec {
    const char *name; /* as in info "encoding" */
    unsigned flags;
    const char *content_type;     /* what CloudVolume uploads chunks of this encoding with */
    const char *default_compress; /* CloudVolume's should_compress(): "gzip" or NULL */
    int default_level;            /* -1 = none */
    /* Append the decoded bytes to out (out->max caps growth). */
    cv_status (*decode)(const cv_chunk_desc *d, const uint8_t *src, size_t n, cv_buf *out);
    /* Append the encoded bytes to out; level -1 = default. NULL = decode-only. */
    cv_status (*encode)(const cv_chunk_desc *d, int level, const uint8_t *src, size_t n,
                        cv_buf *out);
} cv_codec;

/* Look a codec up by name (case-insensitive); NULL if unknown or not built in. */
const cv_codec *cv__codec_find(const char *name);
/* The names of all built-in codecs, space separated (for --version). */
const char *cv__codec_names(void);
/* Bytes of a decoded chunk: x*y*z*channels*dtype size. */
size_t cv__chunk_desc_bytes(const cv_chunk_desc *d); /* SIZE_MAX if it overflows */

/* True when `src` is exactly what `c` encodes the voxels it decodes to, so a chunk can be
 * copied as stored where it would otherwise be decoded and encoded again (same bytes, less
 * work): raw of the right length, and compressed_segmentation laid out as Neuroglancer's
 * encoder (and cseg_encode) lays it out. false for anything else, or when unsure. */
bool cv__codec_is_canonical(const cv_codec *c, const cv_chunk_desc *d, const uint8_t *src,
                            size_t n);
bool cv__cseg_is_canonical(const cv_chunk_desc *d, const uint8_t *src, size_t n);

extern const cv_codec cv_codec_raw;
extern const cv_codec cv_codec_cseg;
extern const cv_codec cv_codec_compresso;
extern const cv_codec cv_codec_crackle;
#ifdef CV_HAVE_FPZIP
extern const cv_codec cv_codec_fpzip;
extern const cv_codec cv_codec_kempressed;
#endif
#ifdef CV_HAVE_ZFP
extern const cv_codec cv_codec_zfpc;

/* zfpc's parameters, as zfpc.compress() takes them: a negative number is "not set". */
typedef struct cv_zfpc_params {
    double rate, precision, tolerance;
    bool correlated[4]; /* x, y, z, channel */
} cv_zfpc_params;
/* CloudVolume's defaults: nothing set (lossless), every axis correlated. */
cv_zfpc_params cv__zfpc_params_default(void);
/* The zfpc_rate, zfpc_precision, zfpc_tolerance and zfpc_correlated_dims members of a scale's
 * other members (JSON object text, or NULL); unset ones keep the defaults. CV_ERR_INFO naming
 * the member if one is malformed. */
cv_status cv__zfpc_params_parse(const char *scale_extra, cv_zfpc_params *out);
/* Encode with explicit parameters (tests, vector making); the codec entry takes them from
 * d->scale_extra. The codec takes int32, int64, float32 and float64 chunks. */
cv_status cv__zfpc_encode(const cv_chunk_desc *d, const cv_zfpc_params *p, const uint8_t *src,
                          size_t n, cv_buf *out);
#endif
extern const cv_codec cv_codec_jpeg;
extern const cv_codec cv_codec_png;
#ifdef CV_HAVE_JXL
extern const cv_codec cv_codec_jxl;
#endif

/* compresso with explicit parameters (tests, vector making): steps NULL = CloudVolume's (4,4,1)
 * with compresso.pyx's fallback to (8,8,1); the codec entry uses NULL, 4, true. */
cv_status cv__compresso_encode(const cv_chunk_desc *d, const unsigned steps[3],
                               unsigned connectivity, bool z_index, const uint8_t *src, size_t n,
                               cv_buf *out);

/* crackle as crackle.compress writes it with CloudVolume's parameters; fortran_order sets the
 * format field's bit 7 (the codec entry passes false, see codec_crackle.c). */
cv_status cv__crackle_encode(const cv_chunk_desc *d, bool fortran_order, const uint8_t *src,
                             size_t n, cv_buf *out);

#endif
