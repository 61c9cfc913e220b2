/* SPDX-License-Identifier: BSD-3-Clause
 * le_words.h: a little-endian unsigned integer of 1, 2, 4 or 8 bytes, as the label codecs
 * (compresso, crackle) store labels; one load or store per width so compilers make each a
 * single move. */
#ifndef CV_CODEC_LE_WORDS_H
#define CV_CODEC_LE_WORDS_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define CV_LE_INLINE static inline __attribute__((always_inline))
#else
#define CV_LE_INLINE static inline
#endif

CV_LE_INLINE uint64_t cv_le_load(const uint8_t *p, unsigned w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    switch (w) {
    case 1:
        return p[0];
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    }
#else
    switch (w) {
    case 1:
        return p[0];
    case 2:
        return (uint64_t)p[0] | (uint64_t)p[1] << 8;
    case 4:
        return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
    default:
        return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
               (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
               (uint64_t)p[7] << 56;
    }
#endif
}

/* The low w bytes of v at p, little-endian. */
CV_LE_INLINE void cv_le_store(uint8_t *p, uint64_t v, unsigned w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, w);
#else
    for (unsigned i = 0; i < w; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
#endif
}

#endif
