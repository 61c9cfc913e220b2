/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_common.h: what every fuzz target shares: FUZZ_ASSERT (on in every build, zstd
 * fuzz_helpers.h style: a failed invariant aborts so libFuzzer and the CTest replay both see
 * it), a NUL-terminated copy of the input for the text parsers, and a cv_chunk_desc taken from
 * the first input bytes for the codecs. Header-only; each target is one translation unit. */
#ifndef CV_FUZZ_COMMON_H
#define CV_FUZZ_COMMON_H

#include "codec/codec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT_MSG(cond, msg)                                                                 \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: FUZZ_ASSERT(%s) failed: %s\n", __FILE__, __LINE__, #cond,      \
                    (msg));                                                                        \
            if (cv_err_last()->code != CV_OK) {                                                    \
                fprintf(stderr, "  last error: %s: %s\n", cv_errname(cv_err_last()->code),         \
                        cv_err_last()->what);                                                      \
            }                                                                                      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)
#define FUZZ_ASSERT(cond) FUZZ_ASSERT_MSG(cond, "")

/* Decoded output is capped here whatever the desc says, so no input allocates much. */
#define FUZZ_MAX_OUT ((size_t)1 << 20)

/* The input as a C string (cut at the first NUL, at most `cap` bytes); free with free(). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size, size_t cap)
{
    size_t n = size < cap ? size : cap;
    char *s = malloc(n + 1);
    FUZZ_ASSERT(s != NULL);
    if (n) {
        memcpy(s, data, n);
    }
    s[n] = '\0';
    return s;
}

/* Number of leading bytes fuzz_desc() consumes. */
#define FUZZ_DESC_BYTES 5

/* A chunk description from the first FUZZ_DESC_BYTES bytes: dtype, channels 1..4, and a
 * shape of 1..64 per axis, as a decoder would get it from a (valid) info. Returns the bytes
 * used, or 0 if the input is too short. */
static inline size_t fuzz_desc(const uint8_t *data, size_t size, cv_chunk_desc *d)
{
    if (size < FUZZ_DESC_BYTES) {
        return 0;
    }
    memset(d, 0, sizeof *d);
    d->dtype = (cv_dtype)(CV_UINT8 + data[0] % (CV_FLOAT64 - CV_UINT8 + 1));
    d->channels = 1u + data[1] % 4u;
    for (int i = 0; i < 3; i++) {
        d->shape[i] = 1u + data[2 + i] % 64u;
        d->cseg_block[i] = 8;
    }
    return FUZZ_DESC_BYTES;
}

/* The decoded size `d` promises, capped at FUZZ_MAX_OUT: what cv_buf.max is set to. */
static inline size_t fuzz_out_max(const cv_chunk_desc *d)
{
    size_t want = cv__chunk_desc_bytes(d);
    return want < FUZZ_MAX_OUT ? want : FUZZ_MAX_OUT;
}

#endif
