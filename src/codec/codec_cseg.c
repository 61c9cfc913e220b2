/* SPDX-License-Identifier: BSD-3-Clause
 * codec_cseg.c: the "compressed_segmentation" encoding (precomputed-volume spec §5.5; upstream
 * description: github.com/google/neuroglancer, src/sliceview/compressed_segmentation/README.md).
 * uint32/uint64 labels cut into blocks, each stored as a sorted value table plus bit-packed
 * indices. The encoder is byte-identical to Neuroglancer's encode_uint32/encode_uint64 (tables
 * shared within a channel); the decoder checks every offset, bit width and index it reads
 * against the stream length and trusts only the cv_chunk_desc. No I/O here. */
#include "codec/codec.h"

#include "base/checked.h"

#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#if defined(__GNUC__)
#define CSEG_INLINE static inline __attribute__((always_inline))
#else
#define CSEG_INLINE static inline
#endif

#define CSEG_NAME "compressed_segmentation"
#define CSEG_MAX_OFFSET24 ((uint32_t)1 << 24)

/* ---- little-endian words --------------------------------------------------------------- */

CSEG_INLINE uint32_t ld32(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#else
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
}

CSEG_INLINE void st32(uint8_t *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, 4);
#else
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
#endif
}

CSEG_INLINE uint64_t ld64(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
#endif
}

CSEG_INLINE void st64(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, 8);
#else
    st32(p, (uint32_t)v);
    st32(p + 4, (uint32_t)(v >> 32));
#endif
}

/* The first n (1, 2, 4 or 8) bytes at p as a little-endian number. */
CSEG_INLINE uint64_t ld_le(const uint8_t *p, unsigned n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n == 1) {
        return p[0];
    }
    if (n == 2) {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    return n == 4 ? ld32(p) : ld64(p);
#else
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
#endif
}

/* A uint64 value is two words, low word first: the same bytes as an LE uint64. */
CSEG_INLINE uint64_t ld_value(const uint8_t *p, unsigned wpv)
{
    return wpv == 2 ? ld64(p) : ld32(p);
}

CSEG_INLINE void st_value(uint8_t *p, uint64_t v, unsigned wpv)
{
    if (wpv == 2) {
        st64(p, v);
    } else {
        st32(p, (uint32_t)v);
    }
}

/* ---- geometry shared by both directions ------------------------------------------------ */

typedef struct cseg_geom {
    uint32_t size[3];    /* clipped chunk */
    uint32_t block[3];   /* full block */
    uint32_t grid[3];    /* blocks per axis */
    size_t n_blocks;     /* per channel */
    size_t block_voxels; /* bx*by*bz */
    size_t max_in_block; /* most in-bounds voxels any block has */
    size_t chunk_voxels; /* X*Y*Z, one channel */
    unsigned wpv;        /* words per value: 1 (uint32) or 2 (uint64) */
} cseg_geom;

static cv_status geom_init(const cv_chunk_desc *d, cseg_geom *g)
{
    if (d->dtype != CV_UINT32 && d->dtype != CV_UINT64) {
        const char *name = cv_dtype_name(d->dtype);
        return CV_FAIL(CV_ERR_ARG, CSEG_NAME ": data type %s is not uint32 or uint64",
                       name ? name : "(invalid)");
    }
    if (d->channels == 0) {
        return CV_FAIL(CV_ERR_ARG, CSEG_NAME ": chunk has 0 channels");
    }
    g->wpv = d->dtype == CV_UINT64 ? 2 : 1;
    uint64_t block_voxels = 1, n_blocks = 1, max_in = 1, chunk_voxels = 1;
    bool block_ok = true, chunk_ok = true;
    for (int i = 0; i < 3; i++) {
        uint32_t b = d->cseg_block[i], s = d->shape[i];
        if (b == 0) {
            return CV_FAIL(CV_ERR_ARG, CSEG_NAME ": block size %ux%ux%u has a zero",
                           d->cseg_block[0], d->cseg_block[1], d->cseg_block[2]);
        }
        g->size[i] = s;
        g->block[i] = b;
        g->grid[i] = s / b + (s % b != 0);
        /* Three 32-bit factors can pass 2^64: a wrapped product would slip under the limits. */
        block_ok = block_ok && cv__mul_u64(block_voxels, b, &block_voxels);
        chunk_ok = chunk_ok && cv__mul_u64(n_blocks, g->grid[i], &n_blocks) &&
                   cv__mul_u64(max_in, s < b ? s : b, &max_in) &&
                   cv__mul_u64(chunk_voxels, s, &chunk_voxels);
    }
    if (!block_ok || block_voxels > CV_CSEG_MAX_BLOCK_VOXELS) {
        return CV_FAIL(CV_ERR_ARG, CSEG_NAME ": block size %ux%ux%u is too large", d->cseg_block[0],
                       d->cseg_block[1], d->cseg_block[2]);
    }
    /* Everything below is addressed in 32-bit words: a larger chunk cannot be encoded. */
    if (!chunk_ok || chunk_voxels > UINT32_MAX || n_blocks > UINT32_MAX / 4) {
        return CV_FAIL(CV_ERR_ARG, CSEG_NAME ": chunk %ux%ux%u is too large", d->shape[0],
                       d->shape[1], d->shape[2]);
    }
    g->block_voxels = (size_t)block_voxels;
    g->n_blocks = (size_t)n_blocks;
    g->max_in_block = (size_t)max_in;
    g->chunk_voxels = (size_t)chunk_voxels;
    return CV_OK;
}

static bool is_valid_bits(uint32_t bits)
{
    return bits <= 32 && (bits & (bits - 1)) == 0; /* 0, 1, 2, 4, 8, 16, 32 */
}

/* Index words of one block: every block stores indices for its full size. */
static uint64_t index_words(const cseg_geom *g, uint32_t bits)
{
    return ((uint64_t)g->block_voxels * bits + 31) / 32;
}

/* ---- decoder ----------------------------------------------------------------------------- */

typedef struct cseg_src {
    const uint8_t *p;
    size_t n_words;
} cseg_src;

#define BLOCK_FMT "channel %u block (%u,%u,%u)"

/* Write the in-bounds voxels of one block from its packed indices, every index known to be
 * inside the table; `bits` (1..16) and `wpv` are constants in each inlined copy. `o` is the
 * block's first voxel in the output. */
CSEG_INLINE void unpack_block(const cseg_geom *g, const uint32_t span[3], const uint8_t *words,
                              const uint8_t *table, uint8_t *o, const unsigned bits,
                              const unsigned wpv)
{
    const size_t vbytes = 4 * (size_t)wpv;
    const size_t X = g->size[0], Y = g->size[1];
    const uint32_t mask = ((uint32_t)1 << bits) - 1;
    if (g->block[0] == 8 && span[0] == 8) {
        /* Rows of 8 (the usual block width): a row's indices are `bits` whole bytes, read in
         * one or two loads; the 8 voxels are independent, so they unroll. */
        for (uint32_t z = 0; z < span[2]; z++) {
            for (uint32_t y = 0; y < span[1]; y++) {
                uint8_t *row = o + vbytes * X * (y + Y * (size_t)z);
                const uint8_t *w = words + (size_t)bits * (y + (size_t)g->block[1] * z);
                const uint64_t lo = ld_le(w, bits < 8 ? bits : 8);
                const uint64_t hi = bits == 16 ? ld_le(w + 8, 8) : lo;
                for (unsigned k = 0; k < 8; k++) {
                    const uint64_t r = k * bits < 64 ? lo >> (k * bits) : hi >> (k * bits - 64);
                    const size_t idx = (size_t)(r & mask);
                    st_value(row + vbytes * k, ld_value(table + vbytes * idx, wpv), wpv);
                }
            }
        }
        return;
    }
    for (uint32_t z = 0; z < span[2]; z++) {
        for (uint32_t y = 0; y < span[1]; y++) {
            uint8_t *row = o + vbytes * X * (y + Y * (size_t)z);
            const uint64_t bit = (uint64_t)bits * g->block[0] * (y + (uint64_t)g->block[1] * z);
            const uint8_t *w = words + 4 * (size_t)(bit >> 5);
            uint32_t word = ld32(w) >> (bit & 31);
            unsigned left = 32 - (unsigned)(bit & 31); /* bits of `word` not yet used */
            for (uint32_t x = 0; x < span[0]; x++, row += vbytes) {
                if (left == 0) {
                    w += 4;
                    word = ld32(w);
                    left = 32;
                }
                const uint32_t idx = word & mask;
                word >>= bits;
                left -= bits;
                st_value(row, ld_value(table + vbytes * idx, wpv), wpv);
            }
        }
    }
}

/* Decode one block of one channel into `dst` (the channel's first voxel). */
CSEG_INLINE cv_status decode_block(const cseg_geom *g, const cseg_src *s, size_t base, unsigned c,
                                   const uint32_t bpos[3], uint8_t *dst, unsigned wpv)
{
    const size_t blk = bpos[0] + (size_t)g->grid[0] * (bpos[1] + (size_t)g->grid[1] * bpos[2]);
    const uint8_t *hdr = s->p + 4 * (base + 2 * blk);
    const uint32_t h0 = ld32(hdr), h1 = ld32(hdr + 4);
    const uint32_t bits = h0 >> 24;
    if (!is_valid_bits(bits)) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       CSEG_NAME ": " BLOCK_FMT ": bit width %u is not 0, 1, 2, 4, 8, 16 or 32", c,
                       bpos[0], bpos[1], bpos[2], bits);
    }
    /* The table's length is not stored: it holds at most 2^bits values, and at most as many
     * as fit between its offset and the end of the stream. Every index is checked against
     * that; the check only fails when the table is cut short by the end. */
    const uint64_t table_at = (uint64_t)base + (h0 & 0xffffffu);
    const uint64_t fit = table_at < s->n_words ? (s->n_words - table_at) / wpv : 0;
    if (fit == 0) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       CSEG_NAME ": " BLOCK_FMT ": table offset %u is past the end (%zu words)", c,
                       bpos[0], bpos[1], bpos[2], h0 & 0xffffffu, s->n_words);
    }
    const uint64_t table_len = bits < 32 && fit > ((uint64_t)1 << bits) ? (uint64_t)1 << bits : fit;
    const uint8_t *table = s->p + 4 * (size_t)table_at;

    uint32_t origin[3], span[3];
    for (int i = 0; i < 3; i++) {
        origin[i] = bpos[i] * g->block[i];
        span[i] = g->size[i] - origin[i] < g->block[i] ? g->size[i] - origin[i] : g->block[i];
    }
    const size_t vbytes = 4 * (size_t)wpv;
    const size_t X = g->size[0], Y = g->size[1];
    if (bits == 0) {
        const uint64_t v = ld_value(table, wpv);
        for (uint32_t z = 0; z < span[2]; z++) {
            for (uint32_t y = 0; y < span[1]; y++) {
                uint8_t *o = dst + vbytes * (origin[0] + X * (origin[1] + y + Y * (origin[2] + z)));
                for (uint32_t x = 0; x < span[0]; x++, o += vbytes) {
                    st_value(o, v, wpv);
                }
            }
        }
        return CV_OK;
    }
    const uint64_t values_at = (uint64_t)base + h1;
    if (values_at > s->n_words || s->n_words - values_at < index_words(g, bits)) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       CSEG_NAME ": " BLOCK_FMT ": %" PRIu64 " index words at offset %u run past "
                                 "the end (%zu words)",
                       c, bpos[0], bpos[1], bpos[2], index_words(g, bits), h1, s->n_words);
    }
    const uint8_t *words = s->p + 4 * (size_t)values_at;
    /* A table with room for every index (the usual case: only a table at the very end of the
     * stream can be cut short) needs no check per voxel. */
    if (bits < 32 && table_len == (uint64_t)1 << bits) {
        uint8_t *o = dst + vbytes * (origin[0] + X * (origin[1] + Y * origin[2]));
        switch (bits) {
        case 1:
            unpack_block(g, span, words, table, o, 1, wpv);
            break;
        case 2:
            unpack_block(g, span, words, table, o, 2, wpv);
            break;
        case 4:
            unpack_block(g, span, words, table, o, 4, wpv);
            break;
        case 8:
            unpack_block(g, span, words, table, o, 8, wpv);
            break;
        default:
            unpack_block(g, span, words, table, o, 16, wpv);
            break;
        }
        return CV_OK;
    }
    const uint32_t mask = bits == 32 ? UINT32_MAX : ((uint32_t)1 << bits) - 1;
    for (uint32_t z = 0; z < span[2]; z++) {
        for (uint32_t y = 0; y < span[1]; y++) {
            uint8_t *o = dst + vbytes * (origin[0] + X * (origin[1] + y + Y * (origin[2] + z)));
            /* A row is consecutive in the block: walk its bits word by word. */
            const uint64_t bit = (uint64_t)bits * g->block[0] * (y + (uint64_t)g->block[1] * z);
            const uint8_t *w = words + 4 * (size_t)(bit >> 5);
            unsigned sh = (unsigned)(bit & 31);
            uint32_t word = ld32(w);
            for (uint32_t x = 0; x < span[0]; x++, o += vbytes) {
                if (sh == 32) {
                    w += 4;
                    word = ld32(w);
                    sh = 0;
                }
                const uint32_t idx = word >> sh & mask;
                sh += bits;
                if (idx >= table_len) {
                    return CV_FAIL(CV_ERR_CORRUPT,
                                   CSEG_NAME ": " BLOCK_FMT ": index %u is past the end of its "
                                             "table (%" PRIu64 " values fit)",
                                   c, bpos[0], bpos[1], bpos[2], idx, table_len);
                }
                st_value(o, ld_value(table + vbytes * idx, wpv), wpv);
            }
        }
    }
    return CV_OK;
}

CSEG_INLINE cv_status decode_channel(const cseg_geom *g, const cseg_src *s, size_t base, unsigned c,
                                     uint8_t *dst, unsigned wpv)
{
    uint32_t b[3];
    for (b[2] = 0; b[2] < g->grid[2]; b[2]++) {
        for (b[1] = 0; b[1] < g->grid[1]; b[1]++) {
            for (b[0] = 0; b[0] < g->grid[0]; b[0]++) {
                CV_TRY(decode_block(g, s, base, c, b, dst, wpv));
            }
        }
    }
    return CV_OK;
}

static cv_status decode_channel_u32(const cseg_geom *g, const cseg_src *s, size_t base, unsigned c,
                                    uint8_t *dst)
{
    return decode_channel(g, s, base, c, dst, 1);
}

static cv_status decode_channel_u64(const cseg_geom *g, const cseg_src *s, size_t base, unsigned c,
                                    uint8_t *dst)
{
    return decode_channel(g, s, base, c, dst, 2);
}

static cv_status cseg_decode(const cv_chunk_desc *d, const uint8_t *src, size_t n, cv_buf *out)
{
    cseg_geom g;
    CV_TRY(geom_init(d, &g));
    if (n % 4 != 0) {
        return CV_FAIL(CV_ERR_CORRUPT, CSEG_NAME ": length %zu is not a multiple of 4", n);
    }
    const cseg_src s = {src, n / 4};
    if (s.n_words < d->channels) {
        return CV_FAIL(CV_ERR_CORRUPT, CSEG_NAME ": truncated: %zu bytes, %u channel offsets", n,
                       d->channels);
    }
    const size_t want = cv__chunk_desc_bytes(d);
    if (want > SIZE_MAX - out->len) {
        return CV_FAIL(CV_ERR_NOMEM, CSEG_NAME ": output size overflow");
    }
    CV_TRY(cv__buf_reserve(out, out->len + want));
    const size_t channel_bytes = g.chunk_voxels * 4 * g.wpv;
    for (unsigned c = 0; c < d->channels; c++) {
        const size_t base = ld32(src + 4 * (size_t)c);
        if (base > s.n_words || (s.n_words - base) / 2 < g.n_blocks) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           CSEG_NAME ": channel %u: %zu block headers at offset %zu run past the "
                                     "end (%zu words)",
                           c, g.n_blocks, base, s.n_words);
        }
        if (g.n_blocks == 0) {
            continue; /* an empty chunk: out->data may still be NULL */
        }
        uint8_t *dst = out->data + out->len + c * channel_bytes;
        CV_TRY(g.wpv == 2 ? decode_channel_u64(&g, &s, base, c, dst)
                          : decode_channel_u32(&g, &s, base, c, dst));
    }
    out->len += want;
    return CV_OK;
}

/* ---- encoder ----------------------------------------------------------------------------- */

/* One slot of the per-channel table cache: a table already written, found by its hash. */
typedef struct table_slot {
    uint64_t hash;
    uint32_t offset; /* channel-relative word offset */
    uint32_t len;    /* values; 0 = empty slot */
} table_slot;

/* A slot of the per-block value map; live when `stamp` equals the encoder's current stamp,
 * so nothing is cleared between blocks. */
typedef struct value_slot {
    uint64_t key;
    uint32_t stamp;
    uint32_t first; /* first-seen index of `key` in the block */
} value_slot;

typedef struct cseg_enc {
    cseg_geom g;
    value_slot *slots; /* value -> first-seen index: open addressing, linear probing */
    size_t mask;
    unsigned shift;
    uint32_t stamp;
    uint64_t *seen;   /* distinct values of the block in first-seen order */
    uint64_t *sorted; /* the same, ascending: the block's table */
    uint64_t *tmp;    /* merge sort scratch */
    uint32_t *rank;   /* first-seen index -> table index */
    uint32_t *voxel;  /* per in-bounds voxel of the block: first-seen index */
    table_slot *tables;
    size_t tables_mask;
    cv_buf *out;
    size_t channel; /* byte offset of the current channel in out */
} cseg_enc;

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n) {
        p *= 2;
    }
    return p;
}

static void enc_fini(cseg_enc *e)
{
    cv_free(e->slots);
    cv_free(e->seen);
    cv_free(e->sorted);
    cv_free(e->tmp);
    cv_free(e->rank);
    cv_free(e->voxel);
    cv_free(e->tables);
}

static cv_status enc_init(cseg_enc *e, cv_buf *out)
{
    /* All scratch is sized once per chunk from the largest block; nothing is allocated per
     * block. The value map stays at most half full. */
    const size_t m = e->g.max_in_block;
    const size_t cap = pow2_at_least(2 * m);
    e->mask = cap - 1;
    e->shift = 64;
    for (size_t c = cap; c > 1; c /= 2) {
        e->shift--;
    }
    e->stamp = 0;
    e->slots = cv_calloc(cap, sizeof *e->slots);
    e->seen = cv_malloc(m * sizeof *e->seen);
    e->sorted = cv_malloc(m * sizeof *e->sorted);
    e->tmp = cv_malloc(m * sizeof *e->tmp);
    e->rank = cv_malloc(m * sizeof *e->rank);
    e->voxel = cv_malloc(m * sizeof *e->voxel);
    const size_t tcap = pow2_at_least(2 * e->g.n_blocks);
    e->tables_mask = tcap - 1;
    e->tables = cv_malloc(tcap * sizeof *e->tables);
    e->out = out;
    if (!e->slots || !e->seen || !e->sorted || !e->tmp || !e->rank || !e->voxel || !e->tables) {
        enc_fini(e);
        return CV_FAIL(CV_ERR_NOMEM, CSEG_NAME ": allocate encoder tables for %zu values", m);
    }
    return CV_OK;
}

CSEG_INLINE size_t hash_slot(const cseg_enc *e, uint64_t v)
{
    return (size_t)((v * UINT64_C(0x9e3779b97f4a7c15)) >> e->shift) & e->mask;
}

/* The first-seen index of `v` in this block, adding it if new. */
CSEG_INLINE uint32_t intern(cseg_enc *e, uint64_t v, uint32_t *n_seen)
{
    size_t h = hash_slot(e, v);
    for (;;) {
        value_slot *sl = &e->slots[h];
        if (sl->stamp != e->stamp) {
            sl->stamp = e->stamp;
            sl->key = v;
            sl->first = *n_seen;
            e->seen[*n_seen] = v;
            return (*n_seen)++;
        }
        if (sl->key == v) {
            return sl->first;
        }
        h = (h + 1) & e->mask;
    }
}

/* The first-seen index of `v`, which this block has. */
static uint32_t lookup(const cseg_enc *e, uint64_t v)
{
    size_t h = hash_slot(e, v);
    while (e->slots[h].stamp != e->stamp || e->slots[h].key != v) {
        h = (h + 1) & e->mask;
    }
    return e->slots[h].first;
}

static void insertion_sort(uint64_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        const uint64_t v = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

/* Sort distinct values ascending: runs of 8 by insertion sort, then a bottom-up merge sort
 * whose merge step has no data-dependent branch (random labels mispredict every compare). */
static void sort_values(uint64_t *a, uint64_t *tmp, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        insertion_sort(a + i, n - i < 8 ? n - i : 8);
    }
    uint64_t *from = a, *to = tmp;
    for (size_t w = 8; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            const size_t mid = n - lo > w ? lo + w : n;
            const size_t hi = n - lo > 2 * w ? lo + 2 * w : n;
            const uint64_t *l = from + lo, *r = from + mid;
            const uint64_t *const l_end = from + mid, *const r_end = from + hi;
            uint64_t *o = to + lo;
            while (l < l_end && r < r_end) {
                const uint64_t x = *l, y = *r;
                const bool take_right = y < x;
                *o++ = take_right ? y : x;
                r += take_right;
                l += !take_right;
            }
            while (l < l_end) {
                *o++ = *l++;
            }
            while (r < r_end) {
                *o++ = *r++;
            }
        }
        uint64_t *t = from;
        from = to;
        to = t;
    }
    if (from != a) {
        memcpy(a, from, n * sizeof *a);
    }
}

/* Collect the block's distinct values and each in-bounds voxel's first-seen index. */
CSEG_INLINE uint32_t scan_block(cseg_enc *e, const uint8_t *src, const uint32_t origin[3],
                                const uint32_t span[3], unsigned wpv)
{
    const size_t vbytes = 4 * (size_t)wpv;
    const size_t X = e->g.size[0], Y = e->g.size[1];
    uint32_t n_seen = 0;
    uint32_t *voxel = e->voxel;
    const uint8_t *p = src + vbytes * (origin[0] + X * (origin[1] + Y * origin[2]));
    uint64_t last = ld_value(p, wpv);
    /* Most blocks of a segmentation hold a single label: a compare-only pass finds them and
     * stops at the first row that differs. */
    uint64_t diff = 0;
    for (uint32_t z = 0; z < span[2] && !diff; z++) {
        for (uint32_t y = 0; y < span[1] && !diff; y++) {
            const uint8_t *q =
                src + vbytes * (origin[0] + X * (origin[1] + y + Y * (origin[2] + z)));
            for (uint32_t x = 0; x < span[0]; x++, q += vbytes) {
                diff |= ld_value(q, wpv) ^ last;
            }
        }
    }
    if (!diff) {
        e->seen[0] = last; /* no voxel indices: a 0-bit block needs none */
        return 1;
    }
    uint32_t last_first = intern(e, last, &n_seen);
    /* Labels usually come in runs, so comparing with the previous voxel skips most lookups.
     * In noisy rows that comparison mispredicts; there a lookup per voxel is faster. Each row
     * picks its loop from how often the previous row changed value. */
    bool is_noisy = false;
    for (uint32_t z = 0; z < span[2]; z++) {
        for (uint32_t y = 0; y < span[1]; y++) {
            p = src + vbytes * (origin[0] + X * (origin[1] + y + Y * (origin[2] + z)));
            uint32_t changes = 0;
            if (is_noisy) {
                for (uint32_t x = 0; x < span[0]; x++, p += vbytes) {
                    const uint64_t v = ld_value(p, wpv);
                    changes += v != last;
                    last = v;
                    last_first = intern(e, v, &n_seen);
                    *voxel++ = last_first;
                }
            } else {
                for (uint32_t x = 0; x < span[0]; x++, p += vbytes) {
                    const uint64_t v = ld_value(p, wpv);
                    if (v != last) {
                        last = v;
                        last_first = intern(e, v, &n_seen);
                        changes++;
                    }
                    *voxel++ = last_first;
                }
            }
            is_noisy = changes * 4 > span[0];
        }
    }
    return n_seen;
}

static uint32_t scan_block_u32(cseg_enc *e, const uint8_t *src, const uint32_t origin[3],
                               const uint32_t span[3])
{
    return scan_block(e, src, origin, span, 1);
}

static uint32_t scan_block_u64(cseg_enc *e, const uint8_t *src, const uint32_t origin[3],
                               const uint32_t span[3])
{
    return scan_block(e, src, origin, span, 2);
}

CSEG_INLINE void or32(uint8_t *p, uint32_t v)
{
    st32(p, ld32(p) | v);
}

/* Bit-pack the in-bounds voxels' table indices into `words` (zeroed, full-block size). */
static void pack_indices(const cseg_enc *e, const uint32_t span[3], uint32_t bits, uint8_t *words)
{
    const uint32_t *voxel = e->voxel;
    const uint32_t *rank = e->rank;
    for (uint32_t z = 0; z < span[2]; z++) {
        for (uint32_t y = 0; y < span[1]; y++) {
            /* A row is consecutive in the block, so whole words fill in a register. Rows may
             * start mid-word (bx*bits not a multiple of 32), hence OR into the output. */
            const uint64_t bit = (uint64_t)bits * e->g.block[0] * (y + (uint64_t)e->g.block[1] * z);
            uint8_t *w = words + 4 * (size_t)(bit >> 5);
            unsigned sh = (unsigned)(bit & 31);
            uint32_t acc = 0;
            for (uint32_t x = 0; x < span[0]; x++) {
                acc |= rank[*voxel++] << sh;
                sh += bits;
                if (sh == 32) {
                    or32(w, acc);
                    w += 4;
                    acc = 0;
                    sh = 0;
                }
            }
            if (sh) {
                or32(w, acc);
            }
        }
    }
}

static uint64_t hash_table(const uint64_t *v, size_t n)
{
    uint64_t h = n;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ v[i]) * UINT64_C(0x100000001b3);
        h ^= h >> 29;
    }
    return h;
}

/* Encode one block: index words, then the table unless this channel already has it. */
static cv_status encode_block(cseg_enc *e, const uint8_t *src, const uint32_t bpos[3],
                              size_t header_off)
{
    const cseg_geom *g = &e->g;
    const unsigned wpv = g->wpv;
    uint32_t origin[3], span[3];
    for (int i = 0; i < 3; i++) {
        origin[i] = bpos[i] * g->block[i];
        span[i] = g->size[i] - origin[i] < g->block[i] ? g->size[i] - origin[i] : g->block[i];
    }
    if (++e->stamp == 0) { /* wrapped: forget all stamps once */
        memset(e->slots, 0, (e->mask + 1) * sizeof *e->slots);
        e->stamp = 1;
    }
    const uint32_t n =
        wpv == 2 ? scan_block_u64(e, src, origin, span) : scan_block_u32(e, src, origin, span);
    uint32_t bits = 0;
    if (n > 1) {
        bits = 1;
        while (bits < 32 && ((uint64_t)1 << bits) < n) {
            bits *= 2;
        }
        memcpy(e->sorted, e->seen, n * sizeof *e->sorted);
        sort_values(e->sorted, e->tmp, n);
        for (uint32_t r = 0; r < n; r++) {
            e->rank[lookup(e, e->sorted[r])] = r;
        }
    } else {
        e->sorted[0] = e->seen[0];
    }

    cv_buf *out = e->out;
    const uint64_t n_index = index_words(g, bits);
    const size_t table_bytes = (size_t)n * wpv * 4;
    if (n_index > (SIZE_MAX - out->len - table_bytes) / 4) {
        return CV_FAIL(CV_ERR_NOMEM, CSEG_NAME ": output size overflow");
    }
    const size_t index_bytes = (size_t)n_index * 4;
    CV_TRY(cv__buf_reserve(out, out->len + index_bytes + table_bytes));
    const size_t values_off = (out->len - e->channel) / 4;
    uint8_t *idx = out->data + out->len;
    if (bits) {
        memset(idx, 0, index_bytes);
        pack_indices(e, span, bits, idx);
    }
    /* Write the table after the indices; keep it only if the channel lacks an equal one. */
    uint8_t *table = idx + index_bytes;
    for (uint32_t i = 0; i < n; i++) {
        st_value(table + (size_t)i * wpv * 4, e->sorted[i], wpv);
    }
    const uint64_t h = hash_table(e->sorted, n);
    size_t t = (size_t)h & e->tables_mask;
    size_t table_off = values_off + (size_t)n_index;
    size_t keep = index_bytes + table_bytes;
    for (;; t = (t + 1) & e->tables_mask) {
        table_slot *ts = &e->tables[t];
        if (ts->len == 0) {
            ts->hash = h;
            ts->len = n;
            ts->offset = (uint32_t)table_off; /* checked below before it is used */
            break;
        }
        if (ts->hash == h && ts->len == n &&
            memcmp(out->data + e->channel + 4 * (size_t)ts->offset, table, table_bytes) == 0) {
            table_off = ts->offset;
            keep = index_bytes;
            break;
        }
    }
    if (table_off >= CSEG_MAX_OFFSET24 || values_off > UINT32_MAX) {
        return CV_FAIL(CV_ERR_ARG,
                       CSEG_NAME ": chunk %ux%ux%u is too large to encode: a table offset "
                                 "needs more than 24 bits",
                       g->size[0], g->size[1], g->size[2]);
    }
    st32(out->data + header_off, (uint32_t)table_off | bits << 24);
    st32(out->data + header_off + 4, (uint32_t)values_off);
    out->len += keep;
    return CV_OK;
}

static cv_status encode_channel(cseg_enc *e, const uint8_t *src)
{
    const cseg_geom *g = &e->g;
    cv_buf *out = e->out;
    e->channel = out->len;
    memset(e->tables, 0, (e->tables_mask + 1) * sizeof *e->tables);
    const size_t header_bytes = 8 * g->n_blocks;
    CV_TRY(cv__buf_reserve(out, out->len + header_bytes));
    out->len += header_bytes;
    size_t header_off = e->channel;
    uint32_t b[3];
    for (b[2] = 0; b[2] < g->grid[2]; b[2]++) {
        for (b[1] = 0; b[1] < g->grid[1]; b[1]++) {
            for (b[0] = 0; b[0] < g->grid[0]; b[0]++, header_off += 8) {
                CV_TRY(encode_block(e, src, b, header_off));
            }
        }
    }
    return CV_OK;
}

static cv_status cseg_encode(const cv_chunk_desc *d, int level, const uint8_t *src, size_t n,
                             cv_buf *out)
{
    (void)level;
    cseg_enc e;
    CV_TRY(geom_init(d, &e.g));
    const size_t want = cv__chunk_desc_bytes(d);
    if (n != want) {
        return CV_FAIL(CV_ERR_ARG, CSEG_NAME ": chunk buffer has %zu bytes, want %zu", n, want);
    }
    CV_TRY(enc_init(&e, out));
    const size_t start = out->len;
    /* Most label chunks shrink a lot; one reservation up front saves most regrowth. It is
     * only a guess, kept under out->max: the real need is checked as the output grows. */
    const size_t head = start + 4 * (size_t)d->channels;
    size_t guess = head + 8 * e.g.n_blocks * d->channels + want / 8;
    if (out->max && guess > out->max) {
        guess = out->max;
    }
    cv_status rc = cv__buf_reserve(out, guess > head ? guess : head);
    if (rc == CV_OK) {
        out->len = head;
    }
    const size_t channel_bytes = e.g.chunk_voxels * 4 * e.g.wpv;
    for (unsigned c = 0; rc == CV_OK && c < d->channels; c++) {
        const size_t at = (out->len - start) / 4;
        if (at > UINT32_MAX) {
            rc = CV_FAIL(CV_ERR_ARG, CSEG_NAME ": chunk too large to encode (channel %u)", c);
            break;
        }
        st32(out->data + start + 4 * (size_t)c, (uint32_t)at);
        if (e.g.n_blocks == 0) {
            continue; /* an empty chunk: `src` may be NULL, and there is nothing to index */
        }
        rc = encode_channel(&e, src + c * channel_bytes);
    }
    enc_fini(&e);
    if (rc != CV_OK) {
        out->len = start; /* nothing half-written is left behind */
    }
    return rc;
}

/* ---- canonical streams ------------------------------------------------------------------ */

/* A fresh table of the channel being checked: where it starts and how many values it has. */
typedef struct canon {
    cseg_geom g;
    const uint8_t *p; /* the stream */
    size_t n_words;
    uint32_t *used;     /* per table index: the stamp of the last block that used it */
    uint32_t stamp;     /* this block's */
    uint64_t *values;   /* the block's table, as numbers */
    table_slot *tables; /* the channel's fresh tables, by content (as the encoder keeps them) */
    size_t tables_mask;
} canon;

/* For 1, 2 and 4 bits: the indices a byte of indices holds, as a bit mask (made once). */
static uint16_t byte_seen[3][256];

static void make_byte_seen(void)
{
    for (unsigned w = 0; w < 3; w++) {
        const unsigned bits = 1u << w, mask = (1u << bits) - 1;
        for (unsigned v = 0; v < 256; v++) {
            uint16_t seen = 0;
            for (unsigned sh = 0; sh < 8; sh += bits) {
                seen |= (uint16_t)(1u << (v >> sh & mask));
            }
            byte_seen[w][v] = seen;
        }
    }
}

/* The block's table length from its indices: every in-bounds voxel's index, all of 0..n-1 used,
 * and every bit outside the in-bounds voxels zero (the encoder zeroes the block, then ORs). 0 if
 * the indices are not what the encoder writes. */
static uint32_t canon_table_len(canon *k, const uint32_t span[3], const uint8_t *words,
                                unsigned bits)
{
    const cseg_geom *g = &k->g;
    const uint32_t mask = bits == 32 ? UINT32_MAX : ((uint32_t)1 << bits) - 1;
    const bool full = span[0] == g->block[0] && span[1] == g->block[1] && span[2] == g->block[2];
    if (full && bits <= 4) {
        /* The common case, word by word: the indices used as a bit mask, which must be 0..n-1;
         * the last word's bits past the block's indices zero. */
        const uint64_t total = (uint64_t)g->block_voxels * bits;
        const size_t nw = (size_t)((total + 31) / 32);
        uint32_t seen = 0;
        /* whole words a byte at a time from a table (the hot loop of a chunk's check); a last
         * partial word below, index by index, since its zero padding is no index */
        const uint16_t *tab = byte_seen[bits == 1 ? 0 : bits == 2 ? 1 : 2];
        const size_t whole = (size_t)(total / 32);
        for (size_t w = 0; w < whole; w++) {
            const uint8_t *b = words + 4 * w;
            seen |= (uint32_t)(tab[b[0]] | tab[b[1]] | tab[b[2]] | tab[b[3]]);
        }
        for (size_t w = whole; w < nw; w++) {
            const uint32_t word = ld32(words + 4 * w);
            const unsigned nb = w + 1 < nw || total % 32 == 0 ? 32 : (unsigned)(total % 32);
            if (nb < 32 && (word >> nb) != 0) {
                return 0;
            }
            for (unsigned sh = 0; sh < nb; sh += bits) {
                seen |= (uint32_t)1 << (word >> sh & mask);
            }
        }
        uint32_t n = 0;
        while (n < 32 && (seen >> n & 1)) {
            n++;
        }
        return (seen & (seen + 1)) == 0 ? n : 0;
    }
    if (++k->stamp == 0) {
        memset(k->used, 0, g->max_in_block * sizeof *k->used);
        k->stamp = 1;
    }
    uint32_t distinct = 0, top = 0;
    size_t at = 0; /* word */
    unsigned sh = 0;
    uint32_t word = ld32(words);
    for (uint32_t z = 0; z < g->block[2]; z++) {
        for (uint32_t y = 0; y < g->block[1]; y++) {
            const bool row_in = full || (y < span[1] && z < span[2]);
            for (uint32_t x = 0; x < g->block[0]; x++) {
                if (sh == 32) {
                    word = ld32(words + 4 * ++at);
                    sh = 0;
                }
                const uint32_t idx = word >> sh & mask;
                sh += bits;
                if (!(row_in && (full || x < span[0]))) {
                    if (idx != 0) {
                        return 0;
                    }
                    continue;
                }
                if (idx >= g->max_in_block) {
                    return 0;
                }
                distinct += k->used[idx] != k->stamp;
                k->used[idx] = k->stamp;
                top = idx > top ? idx : top;
            }
        }
    }
    /* the last word's bits past the block's indices */
    if (sh < 32 && (word >> sh) != 0) {
        return 0;
    }
    return distinct == top + 1 ? distinct : 0;
}

/* One channel from `base` (words); its end in *end. */
static bool canon_channel(canon *k, size_t base, size_t *end)
{
    const cseg_geom *g = &k->g;
    const unsigned wpv = g->wpv;
    if (base > k->n_words || (k->n_words - base) / 2 < g->n_blocks) {
        return false;
    }
    memset(k->tables, 0, (k->tables_mask + 1) * sizeof *k->tables);
    size_t pos = 2 * g->n_blocks; /* channel-relative words written so far */
    size_t blk = 0;
    uint32_t b[3];
    for (b[2] = 0; b[2] < g->grid[2]; b[2]++) {
        for (b[1] = 0; b[1] < g->grid[1]; b[1]++) {
            for (b[0] = 0; b[0] < g->grid[0]; b[0]++, blk++) {
                const uint8_t *hdr = k->p + 4 * (base + 2 * blk);
                const uint32_t h0 = ld32(hdr), h1 = ld32(hdr + 4);
                const uint32_t bits = h0 >> 24, table_off = h0 & 0xffffffu;
                if (!is_valid_bits(bits) || h1 != pos) {
                    return false;
                }
                const uint64_t n_index = index_words(g, bits);
                if (n_index > k->n_words - base - pos) {
                    return false;
                }
                uint32_t span[3];
                for (int i = 0; i < 3; i++) {
                    const uint32_t origin = b[i] * g->block[i];
                    span[i] = g->size[i] - origin < g->block[i] ? g->size[i] - origin : g->block[i];
                }
                uint32_t n = 1;
                if (bits) {
                    n = canon_table_len(k, span, k->p + 4 * (base + pos), bits);
                    /* the narrowest width that holds n indices, as the encoder picks */
                    uint32_t want = 1;
                    while (want < 32 && ((uint64_t)1 << want) < n) {
                        want *= 2;
                    }
                    if (n < 2 || bits != want) {
                        return false;
                    }
                }
                const size_t table_at = base + table_off;
                if (table_at > k->n_words || (k->n_words - table_at) / wpv < n) {
                    return false;
                }
                const uint8_t *table = k->p + 4 * table_at;
                for (uint32_t i = 0; i < n; i++) {
                    k->values[i] = ld_value(table + 4 * (size_t)wpv * i, wpv);
                    if (i > 0 && k->values[i] <= k->values[i - 1]) {
                        return false; /* the encoder's tables are ascending and distinct */
                    }
                }
                /* The encoder writes a table unless the channel already wrote an equal one,
                 * which it then points to. */
                const uint64_t h = hash_table(k->values, n);
                const size_t table_bytes = (size_t)n * wpv * 4;
                size_t t = (size_t)h & k->tables_mask;
                for (;; t = (t + 1) & k->tables_mask) {
                    table_slot *ts = &k->tables[t];
                    if (ts->len == 0) {
                        if (table_off != pos + n_index) {
                            return false;
                        }
                        ts->hash = h;
                        ts->len = n;
                        ts->offset = table_off;
                        pos += (size_t)n_index + (size_t)n * wpv;
                        break;
                    }
                    if (ts->hash == h && ts->len == n &&
                        memcmp(k->p + 4 * (base + ts->offset), table, table_bytes) == 0) {
                        if (table_off != ts->offset) {
                            return false;
                        }
                        pos += (size_t)n_index;
                        break;
                    }
                }
            }
        }
    }
    *end = base + pos;
    return true;
}

bool cv__cseg_is_canonical(const cv_chunk_desc *d, const uint8_t *src, size_t n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, make_byte_seen);
    canon k = {.p = src, .n_words = n / 4};
    cv_err saved = *cv_err_last();
    if (geom_init(d, &k.g) != CV_OK) {
        cv__err_set(&saved);
        return false;
    }
    if (n % 4 != 0 || k.n_words < d->channels) {
        return false;
    }
    const size_t tcap = pow2_at_least(2 * k.g.n_blocks);
    k.tables_mask = tcap - 1;
    k.used = cv_calloc(k.g.max_in_block, sizeof *k.used);
    k.values = cv_malloc(k.g.max_in_block * sizeof *k.values);
    k.tables = cv_malloc(tcap * sizeof *k.tables);
    bool ok = k.used && k.values && k.tables;
    size_t at = d->channels; /* channel 0 follows the channel offsets */
    for (unsigned c = 0; ok && c < d->channels; c++) {
        ok = ld32(src + 4 * (size_t)c) == at;
        if (ok && k.g.n_blocks > 0) {
            ok = canon_channel(&k, at, &at);
        }
    }
    cv_free(k.used);
    cv_free(k.values);
    cv_free(k.tables);
    return ok && at == k.n_words;
}

const cv_codec cv_codec_cseg = {
    CSEG_NAME,                         /* name */
    0,                                 /* flags */
    "image/x.compressed_segmentation", /* content_type */
    "gzip",                            /* default_compress */
    -1,                                /* default_level */
    cseg_decode,                       /* decode */
    cseg_encode,                       /* encode */
};
