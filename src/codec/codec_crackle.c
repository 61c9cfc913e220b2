/* SPDX-License-Identifier: BSD-3-Clause
 * codec_crackle.c: the "crackle" encoding (precomputed-volume spec §5.7, worked example in
 * test-vectors §11). Decoding: format versions 0 and 1, flat labels, crack codes without a
 * Markov model, one label grid per z slice. Each slice is decoded by drawing its crack code on
 * the pixel grid's vertices and numbering the 4-connected components in raster order; every
 * CRC of a version-1 stream is checked, and every size in the stream against the stream's
 * length and the chunk the desc promises. Pins, Markov-coded cracks and smaller label grids
 * are refused as unsupported. Encoding: version 1 as CloudVolume writes it, byte for byte the
 * stream of upstream's encoder with CloudVolume's parameters (see "encode" below). */
#include "codec/codec.h"
#include "codec/le_words.h"

#include "base/checked.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define CRK_NAME "crackle"
#define CRK_HEADER_V0 24
#define CRK_HEADER_V1 29

/* ---- checksums ------------------------------------------------------------------------------- */

/* crackle's CRC-8: polynomial 0xE7, init 0xFF, reflected, no final XOR. */
static uint8_t crk_crc8(const uint8_t *p, size_t n)
{
    unsigned c = 0xFF;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0xE7u : c >> 1;
        }
    }
    return (uint8_t)c;
}

/* CRC-32C (Castagnoli), reflected polynomial 0x82F63B78. */
static const uint32_t crc32c_table[256] = {
    0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu, 0x26a1e7e8u,
    0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu, 0x4d43cfd0u, 0xbf284cd3u,
    0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu, 0xf165b798u, 0x030e349bu, 0xd7c45070u,
    0x25afd373u, 0x36ff2087u, 0xc494a384u, 0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u,
    0x5d1d08bfu, 0xaf768bbcu, 0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u,
    0x33ed7d2au, 0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u,
    0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau, 0x30e349b1u,
    0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu, 0x1642ae59u, 0xe4292d5au,
    0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au, 0x7da08661u, 0x8fcb0562u, 0x9c9bf696u,
    0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu, 0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u,
    0x67dafa54u, 0x95b17957u, 0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu,
    0xfe53516fu, 0xed03a29bu, 0x1f682198u, 0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
    0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu, 0x3ac7f2ebu,
    0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u, 0x61c69362u, 0x93ad1061u,
    0x80fde395u, 0x72966096u, 0xa65c047du, 0x5437877eu, 0x4767748au, 0xb50cf789u, 0xeb1fcbadu,
    0x197448aeu, 0x0a24bb5au, 0xf84f3859u, 0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u,
    0x7198540du, 0x83f3d70eu, 0x90a324fau, 0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u,
    0xa55230e6u, 0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
    0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu, 0x456cac67u,
    0xb7072f64u, 0xa457dc90u, 0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u, 0xe9141340u, 0x1b7f9043u,
    0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu, 0x92a8fc17u, 0x60c37f14u, 0x73938ce0u,
    0x81f80fe3u, 0x55326b08u, 0xa759e80bu, 0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu,
    0xf94ad42fu, 0x0b21572cu, 0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u,
    0x502036a5u, 0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
    0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u, 0x0e330a81u,
    0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du, 0x758fe5d6u, 0x87e466d5u,
    0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u, 0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u,
    0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu, 0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u,
    0x0417b1dbu, 0xf67c32d8u, 0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu,
    0x5a048dffu, 0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
    0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u, 0x590ab964u,
    0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u, 0x7fab5e8cu, 0x8dc0dd8fu,
    0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu, 0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u,
    0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u, 0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u,
    0x4f48173du, 0xbd23943eu, 0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au,
    0xc69f7b69u, 0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
    0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u};

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#include <wmmintrin.h>
#define CRK_HAVE_CRC_INSN 1

/* SSE4.2's crc32 instruction computes CRC-32C: 8 bytes a step instead of 1. Every slice of a
 * chunk is checksummed as 4 bytes per pixel, on encode and decode, so this is most of a
 * slice's CRC time. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_insn(uint32_t crc, const uint8_t *p,
                                                              size_t n)
{
    uint64_t c = crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8); /* x86 is little-endian: the bytes in stream order */
        c = _mm_crc32_u64(c, v);
    }
    uint32_t c32 = (uint32_t)c;
    for (; n > 0; n--, p++) {
        c32 = _mm_crc32_u8(c32, *p);
    }
    return c32;
}

/* The crc32 instruction takes 3 cycles but can start one a cycle: three independent streams
 * over three adjacent blocks run about 3x as fast as one, then are joined. A CRC register r
 * followed by CRK_CRC_BLOCK more bytes is r * x^(8*CRK_CRC_BLOCK) xor the CRC of those bytes
 * alone (mod the polynomial); the product is a carry-less multiply by CRK_CRC_SHIFT =
 * x^(8*CRK_CRC_BLOCK-33) mod P, reduced to 32 bits by a crc32 of the 64-bit product (which
 * itself multiplies by x^33). */
#define CRK_CRC_BLOCK 256
#define CRK_CRC_SHIFT 0xb9e02b86u

__attribute__((target("sse4.2,pclmul"))) static uint32_t crc32c_shift(uint32_t r)
{
    const __m128i prod =
        _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)r), _mm_cvtsi32_si128((int)CRK_CRC_SHIFT), 0);
    return (uint32_t)_mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(prod));
}

__attribute__((target("sse4.2,pclmul"))) static uint32_t crc32c_insn3(uint32_t crc,
                                                                      const uint8_t *p, size_t n)
{
    for (; n >= 3 * CRK_CRC_BLOCK; n -= 3 * CRK_CRC_BLOCK, p += 3 * CRK_CRC_BLOCK) {
        uint64_t a = crc, b = 0, c = 0;
        for (size_t i = 0; i < CRK_CRC_BLOCK; i += 8) {
            uint64_t va, vb, vc;
            memcpy(&va, p + i, 8);
            memcpy(&vb, p + CRK_CRC_BLOCK + i, 8);
            memcpy(&vc, p + 2 * CRK_CRC_BLOCK + i, 8);
            a = _mm_crc32_u64(a, va);
            b = _mm_crc32_u64(b, vb);
            c = _mm_crc32_u64(c, vc);
        }
        crc = crc32c_shift(crc32c_shift((uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)c;
    }
    return crc32c_insn(crc, p, n);
}
#endif

/* Continue a CRC-32C over p; start with 0 (the init and final XOR are applied here). */
static uint32_t crk_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
#ifdef CRK_HAVE_CRC_INSN
    if (n >= 3 * CRK_CRC_BLOCK && __builtin_cpu_supports("sse4.2") &&
        __builtin_cpu_supports("pclmul")) {
        return ~crc32c_insn3(crc, p, n);
    }
    if (n >= 16 && __builtin_cpu_supports("sse4.2")) {
        return ~crc32c_insn(crc, p, n);
    }
#endif
    for (size_t i = 0; i < n; i++) {
        crc = crc32c_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    }
    return ~crc;
}

/* ---- little-endian reads --------------------------------------------------------------------- */

static uint64_t rd_le(const uint8_t *p, unsigned w)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < w; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)rd_le(p, 4);
}

/* The smallest of 1, 2, 4, 8 bytes whose maximum is >= n. */
static unsigned width_for(uint64_t n)
{
    if (n <= UINT8_MAX) {
        return 1;
    }
    if (n <= UINT16_MAX) {
        return 2;
    }
    if (n <= UINT32_MAX) {
        return 4;
    }
    return 8;
}

/* ---- the stream's layout --------------------------------------------------------------------- */

typedef struct crk_stream {
    unsigned version;
    unsigned data_width, stored_width;
    bool permissible;
    uint32_t sx, sy, sz;
    const uint8_t *index;  /* sz x u32 crack code lengths */
    const uint8_t *labels; /* num_label_bytes */
    size_t num_label_bytes;
    const uint8_t *codes;      /* the crack codes, back to back */
    const uint8_t *slice_crcs; /* version 1: sz x u32 */
} crk_stream;

static cv_status desc_check(const cv_chunk_desc *d)
{
    if (d->dtype != CV_UINT8 && d->dtype != CV_UINT16 && d->dtype != CV_UINT32 &&
        d->dtype != CV_UINT64) {
        const char *name = cv_dtype_name(d->dtype);
        return CV_FAIL(CV_ERR_ARG, CRK_NAME ": data type %s is not uint8, uint16, uint32 or uint64",
                       name ? name : "(invalid)");
    }
    if (d->channels != 1) {
        return CV_FAIL(CV_ERR_ARG, CRK_NAME ": %u channels; crackle holds exactly 1", d->channels);
    }
    if ((uint64_t)d->shape[0] * d->shape[1] > UINT32_MAX) {
        return CV_FAIL(CV_ERR_UNSUPPORTED, CRK_NAME ": a %ux%u slice has too many pixels",
                       d->shape[0], d->shape[1]);
    }
    return CV_OK;
}

/* Header, format field and the section boundaries; every length against n. */
static cv_status parse_stream(const cv_chunk_desc *d, const uint8_t *src, size_t n, crk_stream *s)
{
    if (n < 5 || memcmp(src, "crkl", 4) != 0) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": no \"crkl\" magic (%zu bytes)", n);
    }
    s->version = src[4];
    if (s->version > 1) {
        return CV_FAIL(CV_ERR_UNSUPPORTED, CRK_NAME ": format version %u (only 0 and 1 are read)",
                       s->version);
    }
    const size_t hlen = s->version == 0 ? CRK_HEADER_V0 : CRK_HEADER_V1;
    if (n < hlen) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": %zu bytes, shorter than the %zu-byte header", n,
                       hlen);
    }
    if (s->version == 1 && crk_crc8(src + 5, 23) != src[28]) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": header CRC-8 0x%02x does not match 0x%02x",
                       src[28], crk_crc8(src + 5, 23));
    }
    const unsigned fmt = (unsigned)rd_le(src + 5, 2);
    s->sx = rd32(src + 7);
    s->sy = rd32(src + 11);
    s->sz = rd32(src + 15);
    const unsigned grid = src[19];
    const uint64_t nlb = s->version == 0 ? rd32(src + 20) : rd_le(src + 20, 8);
    s->data_width = 1u << (fmt & 3);
    s->stored_width = 1u << ((fmt >> 2) & 3);
    s->permissible = (fmt >> 4) & 1;
    const unsigned label_format = (fmt >> 5) & 3, markov = (fmt >> 9) & 15;
    if (label_format == 1 || label_format == 2) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       CRK_NAME ": %s-width pin labels are not supported (only flat labels)",
                       label_format == 1 ? "fixed" : "variable");
    }
    if (label_format == 3) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": reserved label format 3");
    }
    if (fmt >> 14) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": reserved format bits set (0x%04x)", fmt);
    }
    if (markov) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       CRK_NAME ": Markov-coded crack codes (order %u) are not supported", markov);
    }
    if ((fmt >> 8) & 1) {
        return CV_FAIL(CV_ERR_UNSUPPORTED, CRK_NAME ": signed labels in a %s chunk",
                       cv_dtype_name(d->dtype));
    }
    if (grid != 31) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       CRK_NAME ": log2(grid size) %u is not supported (only 31)", grid);
    }
    if (s->data_width != cv_dtype_size(d->dtype)) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": %u-byte labels in a %s chunk", s->data_width,
                       cv_dtype_name(d->dtype));
    }
    if (s->stored_width > s->data_width) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": stored labels of %u bytes wider than %u",
                       s->stored_width, s->data_width);
    }
    if (s->sx != d->shape[0] || s->sy != d->shape[1] || s->sz != d->shape[2]) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": stream is %ux%ux%u, the chunk %ux%ux%u", s->sx,
                       s->sy, s->sz, d->shape[0], d->shape[1], d->shape[2]);
    }

    size_t pos = hlen;
    const size_t crc = s->version == 1 ? 4 : 0;
    if ((uint64_t)s->sz * 4 + crc > n - pos) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": crack index of %u slices past the end", s->sz);
    }
    s->index = src + pos;
    pos += (size_t)s->sz * 4;
    if (crc && crk_crc32c(0, s->index, (size_t)s->sz * 4) != rd32(src + pos)) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": crack index CRC32C does not match");
    }
    pos += crc;
    if (nlb > n - pos) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": %" PRIu64 " label bytes past the end", nlb);
    }
    s->labels = src + pos;
    s->num_label_bytes = (size_t)nlb;
    pos += (size_t)nlb;
    uint64_t codes = 0;
    for (uint32_t z = 0; z < s->sz; z++) {
        codes += rd32(s->index + 4 * (size_t)z);
    }
    if (codes > n - pos) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": crack codes (%" PRIu64 " bytes) past the end",
                       codes);
    }
    s->codes = src + pos;
    pos += (size_t)codes;
    const size_t tail = crc ? 4 + (size_t)s->sz * 4 : 0;
    if (n - pos != tail) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": %zu bytes after the crack codes, want %zu",
                       n - pos, tail);
    }
    if (crc && crk_crc32c(0, s->labels, s->num_label_bytes) != rd32(src + pos)) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": labels CRC32C does not match");
    }
    s->slice_crcs = crc ? src + pos + 4 : NULL;
    return CV_OK;
}

/* ---- one slice's crack code ------------------------------------------------------------------ */

/* The crack grid: a byte per vertex (x,y), 0 <= x <= sx and 0 <= y <= sy, at y*(sx+1) + x, with
 * a bit for the crack from it down to (x,y+1), between pixels (x-1,y) and (x,y), and one for
 * the crack from it right to (x+1,y), between pixels (x,y-1) and (x,y). Vertex (x,y) is pixel
 * (x,y)'s upper left corner, so its byte says how the pixel meets its left and upper
 * neighbours. */
enum { CRACK_DOWN = 1, CRACK_RIGHT = 2 };

typedef struct crk_work {
    uint32_t sx, sy;
    size_t sxe;       /* sx + 1: a row of the crack grid */
    uint8_t *crack;   /* CRACK_* bits of each vertex */
    uint32_t *comp;   /* component of each pixel, x fastest */
    uint32_t *parent; /* union-find over provisional components, then their final numbers */
    uint8_t *map;     /* the slice's labels by component, data_width bytes each */
    uint64_t *branch; /* pushed branch vertices, y << 32 | x */
    size_t branch_cap;
    /* CRCs of the component numbers of a slice without cracks, once computed */
    bool have_crc_apart, have_crc_whole;
    uint32_t crc_apart, crc_whole;
} crk_work;

typedef struct crk_moves {
    const uint8_t *p;
    size_t slot, nslots;
    unsigned prev;
} crk_moves;

static cv_status push_branch(crk_work *w, size_t depth, uint64_t x, uint64_t y)
{
    if (depth == w->branch_cap) {
        const size_t cap = w->branch_cap ? 2 * w->branch_cap : 64;
        if (cap > SIZE_MAX / sizeof *w->branch) {
            return CV_FAIL(CV_ERR_NOMEM, CRK_NAME ": branch stack of %zu", cap);
        }
        uint64_t *b = cv_realloc(w->branch, cap * sizeof *b);
        if (!b) {
            return CV_FAIL(CV_ERR_NOMEM, CRK_NAME ": branch stack of %zu", cap);
        }
        w->branch = b;
        w->branch_cap = cap;
    }
    w->branch[depth] = y << 32 | x;
    return CV_OK;
}

/* Decode and draw one chain starting at vertex (x, y). A move is drawn one move late: with the
 * next one its opposite, the pair is a branch (up-down, left-right) or a terminate (down-up,
 * right-left) instead. Moves index small tables rather than switch, as they change direction
 * too often for a branch to be predicted. */
static cv_status draw_chain(crk_work *w, crk_moves *mv, uint32_t z, uint64_t x, uint64_t y)
{
    /* up, right, down, left */
    static const uint64_t dx[4] = {0, 1, 0, UINT64_MAX}, dy[4] = {UINT64_MAX, 0, 1, 0};
    static const uint8_t bit[4] = {CRACK_DOWN, CRACK_RIGHT, CRACK_DOWN, CRACK_RIGHT};
    const size_t sxe = w->sxe;
    /* the vertex whose crack a move draws, and the vertex it reaches, from where it starts;
     * unsigned wrap-around subtracts */
    const size_t mark[4] = {0 - sxe, 0, 0, 0 - (size_t)1};
    const size_t step[4] = {0 - sxe, 1, sxe, 0 - (size_t)1};
    const uint64_t sx = w->sx, sy = w->sy;
    uint8_t *crack = w->crack;
    const uint8_t *p = mv->p;
    const size_t nslots = mv->nslots;
    size_t slot = mv->slot;
    unsigned prev = mv->prev;
    size_t v = (size_t)y * sxe + (size_t)x;
    size_t open = 1, depth = 0;
    unsigned pending = 4; /* the move read but not yet drawn; 4: none */
    cv_status rc = CV_OK;
    while (open > 0) {
        if (slot >= nslots) {
            rc = CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": slice %u: crack code ends inside a chain", z);
            break;
        }
        const unsigned m = ((p[slot >> 2] >> (2 * (slot & 3))) + prev) & 3;
        slot++;
        prev = m;
        if ((m ^ pending) == 2) { /* the opposite of the pending move */
            pending = 4;
            if (m == 0 || m == 3) { /* down-up or right-left: terminate */
                open--;
                if (depth > 0) {
                    const uint64_t vtx = w->branch[--depth];
                    x = vtx & UINT32_MAX;
                    y = vtx >> 32;
                    v = (size_t)y * sxe + (size_t)x;
                }
            } else { /* up-down or left-right: branch */
                open++;
                rc = push_branch(w, depth++, x, y);
                if (rc != CV_OK) {
                    break;
                }
            }
            continue;
        }
        if (pending < 4) {
            const uint64_t nx = x + dx[pending], ny = y + dy[pending];
            if (nx > sx || ny > sy) {
                rc = CV_FAIL(CV_ERR_CORRUPT,
                             CRK_NAME ": slice %u: a crack leaves the %ux%u grid at (%" PRIu64
                                      ",%" PRIu64 ")",
                             z, w->sx, w->sy, x, y);
                break;
            }
            crack[v + mark[pending]] |= bit[pending];
            v += step[pending];
            x = nx;
            y = ny;
        }
        pending = m;
    }
    mv->slot = slot;
    mv->prev = prev;
    return rc;
}

/* Parse the BOC index of a crack code of len bytes and draw every chain; their count in
 * *nchains. */
static cv_status draw_slice(crk_work *w, uint32_t z, const uint8_t *code, size_t len,
                            uint64_t *nchains)
{
    if (len < 4) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": slice %u: crack code of %zu bytes", z, len);
    }
    const uint32_t boc_len = rd32(code);
    if (boc_len > len - 4) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": slice %u: BOC index of %u bytes past the end", z,
                       boc_len);
    }
    const uint8_t *b = code + 4;
    const size_t nb = boc_len;
    crk_moves mv = {code + 4 + boc_len, 0, (len - 4 - boc_len) * 4, 0};
    const unsigned xw = width_for((uint64_t)w->sx + 1), yw = width_for((uint64_t)w->sy + 1);
    size_t at = 0;
    if (nb < yw) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": slice %u: BOC index too short", z);
    }
    const uint64_t num_y = rd_le(b, yw);
    at += yw;
    uint64_t y = 0, chains = 0;
    for (uint64_t gy = 0; gy < num_y; gy++) {
        if (nb - at < (size_t)yw + xw) {
            return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": slice %u: BOC index too short", z);
        }
        y += rd_le(b + at, yw);
        at += yw;
        const uint64_t num_x = rd_le(b + at, xw);
        at += xw;
        if (y > w->sy || num_x > (nb - at) / xw) {
            return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": slice %u: bad BOC row group at y=%" PRIu64,
                           z, y);
        }
        uint64_t x = 0;
        for (uint64_t gx = 0; gx < num_x; gx++) {
            x += rd_le(b + at, xw);
            at += xw;
            if (x > w->sx) {
                return CV_FAIL(CV_ERR_CORRUPT,
                               CRK_NAME ": slice %u: chain start x=%" PRIu64
                                        " outside the %ux%u grid",
                               z, x, w->sx, w->sy);
            }
            CV_TRY(draw_chain(w, &mv, z, x, y));
            chains++;
        }
    }
    if (at != nb) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": slice %u: %zu unused bytes in the BOC index", z,
                       nb - at);
    }
    *nchains = chains;
    return CV_OK;
}

static inline uint32_t uf_root(uint32_t *parent, uint32_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

/* Join the sets of a and b, the larger root under the smaller: a root stays the smallest
 * number of its set. */
static inline void uf_join(uint32_t *parent, uint32_t a, uint32_t b)
{
    a = uf_root(parent, a);
    b = uf_root(parent, b);
    if (a < b) {
        parent[b] = a;
    } else if (b < a) {
        parent[a] = b;
    }
}

/* Number the 4-connected components of the slice (sx, sy > 0) in raster order of their first
 * pixel; returns their count. Two passes: a provisional number per pixel from its left or
 * upper neighbour, or a new one, with the numbers found to meet joined in a union-find;
 * then, since provisional numbers grow in raster order and a root is the smallest of its set,
 * the first pixel's, numbering the roots in ascending order numbers the components as
 * wanted. */
static uint32_t label_components(crk_work *w, bool permissible)
{
    const uint32_t sx = w->sx, sy = w->sy;
    const size_t sxe = w->sxe;
    /* after the xor, a bit is set where the pixels on either side belong together */
    const unsigned flip = permissible ? 0 : CRACK_DOWN | CRACK_RIGHT;
    const uint8_t *crack = w->crack;
    uint32_t *comp = w->comp, *parent = w->parent;
    uint32_t next = 0, cur = 0;
    parent[next++] = 0;
    comp[0] = 0;
    for (uint32_t x = 1; x < sx; x++) {
        if (!((crack[x] ^ flip) & CRACK_DOWN)) {
            cur = next;
            parent[next] = next;
            next++;
        }
        comp[x] = cur;
    }
    for (uint32_t y = 1; y < sy; y++) {
        const uint8_t *c = crack + (size_t)y * sxe;
        uint32_t *row = comp + (size_t)y * sx;
        const uint32_t *above = row - sx;
        if ((c[0] ^ flip) & CRACK_RIGHT) {
            cur = above[0];
        } else {
            cur = next;
            parent[next] = next;
            next++;
        }
        row[0] = cur;
        for (uint32_t x = 1; x < sx; x++) {
            const unsigned j = c[x] ^ flip;
            if (j & CRACK_DOWN) {
                if ((j & CRACK_RIGHT) && above[x] != cur) {
                    uf_join(parent, cur, above[x]);
                }
            } else if (j & CRACK_RIGHT) {
                cur = above[x];
            } else {
                cur = next;
                parent[next] = next;
                next++;
            }
            row[x] = cur;
        }
    }
    /* parent[p] <= p: when p comes, parent[parent[p]] already holds the final number */
    uint32_t n = 0;
    for (uint32_t p = 0; p < next; p++) {
        parent[p] = parent[p] == p ? n++ : parent[parent[p]];
    }
    const size_t np = (size_t)sx * sy;
    for (size_t i = 0; i < np; i++) {
        comp[i] = parent[comp[i]];
    }
    return n;
}

/* CRC-32C of a slice's component numbers as u32 little-endian. */
static uint32_t comp_crc(const uint32_t *comp, size_t np)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (np <= SIZE_MAX / 4) { /* already the stream's byte order */
        return crk_crc32c(0, (const uint8_t *)comp, 4 * np);
    }
#endif
    uint32_t crc = 0;
    uint8_t buf[4 * 256];
    for (size_t i = 0; i < np;) {
        size_t k = 0;
        for (; k < 256 && i < np; k++, i++) {
            buf[4 * k] = (uint8_t)comp[i];
            buf[4 * k + 1] = (uint8_t)(comp[i] >> 8);
            buf[4 * k + 2] = (uint8_t)(comp[i] >> 16);
            buf[4 * k + 3] = (uint8_t)(comp[i] >> 24);
        }
        crc = crk_crc32c(crc, buf, 4 * k);
    }
    return crc;
}

/* The CRC of a slice without cracks: every pixel its own component (permissible: no joins
 * drawn), or all one (impermissible: no cuts). The same for every such slice of the chunk, so
 * computed once. */
static uint32_t crackless_crc(crk_work *w, bool permissible)
{
    const size_t np = (size_t)w->sx * w->sy;
    if (permissible && !w->have_crc_apart) {
        for (size_t i = 0; i < np; i++) {
            w->comp[i] = (uint32_t)i;
        }
        w->crc_apart = comp_crc(w->comp, np);
        w->have_crc_apart = true;
    } else if (!permissible && !w->have_crc_whole) {
        memset(w->comp, 0, np * sizeof *w->comp);
        w->crc_whole = comp_crc(w->comp, np);
        w->have_crc_whole = true;
    }
    return permissible ? w->crc_apart : w->crc_whole;
}

/* ---- decode ---------------------------------------------------------------------------------- */

/* The flat label section, checked: the unique labels and each component's index into them. */
typedef struct crk_labels {
    const uint8_t *uniq, *counts, *c2l;
    uint64_t num_unique;
    unsigned stored_width, count_width, index_width;
} crk_labels;

static inline cv_status label_map_w(const crk_labels *l, uint32_t z, size_t first, uint32_t ncomp,
                                    uint8_t *map, unsigned dw)
{
    const unsigned iw = l->index_width, sw = l->stored_width;
    const uint8_t *idx = l->c2l + first * iw;
    for (uint32_t k = 0; k < ncomp; k++) {
        const uint64_t u = cv_le_load(idx + (size_t)k * iw, iw);
        if (u >= l->num_unique) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           CRK_NAME ": slice %u component %u maps past %" PRIu64 " unique labels",
                           z, k, l->num_unique);
        }
        cv_le_store(map + (size_t)k * dw, cv_le_load(l->uniq + (size_t)u * sw, sw), dw);
    }
    return CV_OK;
}

/* The labels of the slice's ncomp components, from component number first of the chunk on,
 * as dw-byte words at map. */
static cv_status label_map(const crk_labels *l, uint32_t z, size_t first, uint32_t ncomp,
                           uint8_t *map, unsigned dw)
{
    switch (dw) {
    case 1:
        return label_map_w(l, z, first, ncomp, map, 1);
    case 2:
        return label_map_w(l, z, first, ncomp, map, 2);
    case 4:
        return label_map_w(l, z, first, ncomp, map, 4);
    default:
        return label_map_w(l, z, first, ncomp, map, 8);
    }
}

static inline void paint_w(uint8_t *dst, const uint32_t *comp, size_t np, const uint8_t *map,
                           unsigned dw)
{
    if (!comp) {
        for (size_t i = 0; i < np; i++) {
            memcpy(dst + i * dw, map, dw);
        }
        return;
    }
    for (size_t i = 0; i < np; i++) {
        memcpy(dst + i * dw, map + (size_t)comp[i] * dw, dw);
    }
}

/* Each pixel's label from its component's, or map's first word everywhere if comp is NULL. */
static void paint(uint8_t *dst, const uint32_t *comp, size_t np, const uint8_t *map, unsigned dw)
{
    switch (dw) {
    case 1:
        paint_w(dst, comp, np, map, 1);
        break;
    case 2:
        paint_w(dst, comp, np, map, 2);
        break;
    case 4:
        paint_w(dst, comp, np, map, 4);
        break;
    default:
        paint_w(dst, comp, np, map, 8);
        break;
    }
}

/* Check the flat label section against the slices' sizes; *max_count: the most components of
 * a slice. */
static cv_status parse_labels(const crk_stream *s, crk_labels *l, uint64_t *max_count)
{
    const size_t np = (size_t)s->sx * s->sy;
    const uint8_t *lab = s->labels;
    const size_t nlb = s->num_label_bytes;
    if (nlb < 8) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": label section of %zu bytes", nlb);
    }
    const uint64_t num_unique = rd_le(lab, 8);
    if (num_unique > (nlb - 8) / s->stored_width) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": %" PRIu64 " unique labels past the end",
                       num_unique);
    }
    l->uniq = lab + 8;
    l->num_unique = num_unique;
    l->stored_width = s->stored_width;
    size_t at = 8 + (size_t)num_unique * s->stored_width;
    const unsigned cw = width_for(np), iw = width_for(num_unique);
    l->count_width = cw;
    l->index_width = iw;
    if ((uint64_t)s->sz * cw > nlb - at) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": component counts past the label section");
    }
    l->counts = lab + at;
    at += (size_t)s->sz * cw;
    uint64_t total = 0, most = 0;
    for (uint32_t z = 0; z < s->sz; z++) {
        const uint64_t c = rd_le(l->counts + (size_t)z * cw, cw);
        if (c > np) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           CRK_NAME ": slice %u claims %" PRIu64 " components in %zu pixels", z, c,
                           np);
        }
        total += c;
        most = c > most ? c : most;
    }
    if (total > (nlb - at) / iw || total * iw != nlb - at) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       CRK_NAME ": %" PRIu64 " components need %" PRIu64
                                " label index bytes, the section has %zu",
                       total, total * iw, nlb - at);
    }
    l->c2l = lab + at;
    *max_count = most;
    return CV_OK;
}

static cv_status decode_slices(const crk_stream *s, const crk_labels *l, crk_work *w, uint8_t *dst)
{
    const size_t np = (size_t)s->sx * s->sy;
    const size_t nvert = w->sxe * ((size_t)s->sy + 1);
    const unsigned dw = s->data_width;
    size_t code_off = 0, comp_off = 0;
    for (uint32_t z = 0; z < s->sz; z++) {
        const size_t len = rd32(s->index + 4 * (size_t)z);
        uint64_t nchains = 0;
        memset(w->crack, 0, nvert);
        CV_TRY(draw_slice(w, z, s->codes + code_off, len, &nchains));
        code_off += len;
        /* a slice without cracks needs no labelling: each pixel apart or all one */
        const bool crackless = nchains == 0;
        uint32_t ncomp = 0;
        if (np > 0) {
            ncomp = !crackless       ? label_components(w, s->permissible)
                    : s->permissible ? (uint32_t)np
                                     : 1;
        }
        const uint64_t want = rd_le(l->counts + (size_t)z * l->count_width, l->count_width);
        if (ncomp != want) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           CRK_NAME ": slice %u has %u components, the labels say %" PRIu64, z,
                           ncomp, want);
        }
        if (s->slice_crcs) {
            const uint32_t crc =
                crackless ? crackless_crc(w, s->permissible) : comp_crc(w->comp, np);
            if (crc != rd32(s->slice_crcs + 4 * (size_t)z)) {
                return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": slice %u CRC32C does not match", z);
            }
        }
        uint8_t *out = dst + (size_t)z * np * dw;
        if (crackless && s->permissible) { /* component i is pixel i */
            CV_TRY(label_map(l, z, comp_off, ncomp, out, dw));
        } else {
            CV_TRY(label_map(l, z, comp_off, ncomp, w->map, dw));
            paint(out, crackless ? NULL : w->comp, np, w->map, dw);
        }
        comp_off += ncomp;
    }
    return CV_OK;
}

/* The decoder's work space for sx x sy slices, every size checked. */
static cv_status work_init(crk_work *w, uint32_t sx, uint32_t sy, uint64_t max_count, unsigned dw)
{
    uint64_t nvert = 0, np = 0, comp_bytes = 0, map_bytes = 0;
    if (!cv__mul_u64((uint64_t)sx + 1, (uint64_t)sy + 1, &nvert) || nvert > SIZE_MAX ||
        !cv__mul_u64(sx, sy, &np) || !cv__mul_u64(np, sizeof *w->comp, &comp_bytes) ||
        comp_bytes > SIZE_MAX - 1 || !cv__mul_u64(max_count, dw, &map_bytes) ||
        map_bytes > SIZE_MAX - 1) {
        return CV_FAIL(CV_ERR_UNSUPPORTED, CRK_NAME ": a %ux%u slice is too large", sx, sy);
    }
    w->sx = sx;
    w->sy = sy;
    w->sxe = (size_t)sx + 1;
    w->crack = cv_malloc((size_t)nvert);
    w->comp = cv_malloc((size_t)comp_bytes + 1);
    w->parent = cv_malloc((size_t)comp_bytes + 1);
    w->map = cv_malloc((size_t)map_bytes + 1);
    if (!w->crack || !w->comp || !w->parent || !w->map) {
        return CV_FAIL(CV_ERR_NOMEM, CRK_NAME ": work space for a %ux%u slice", sx, sy);
    }
    return CV_OK;
}

static void work_fini(crk_work *w)
{
    cv_free(w->crack);
    cv_free(w->comp);
    cv_free(w->parent);
    cv_free(w->map);
    cv_free(w->branch);
}

static cv_status crackle_decode(const cv_chunk_desc *d, const uint8_t *src, size_t n, cv_buf *out)
{
    CV_TRY(desc_check(d));
    crk_stream s;
    memset(&s, 0, sizeof s); /* parse_header fills it; zeroed so no path reads garbage */
    CV_TRY(parse_stream(d, src, n, &s));
    const size_t want = cv__chunk_desc_bytes(d);
    const size_t old = out->len;
    if (want > SIZE_MAX - old) {
        return CV_FAIL(CV_ERR_CORRUPT, CRK_NAME ": chunk too large");
    }
    CV_TRY(cv__buf_reserve(out, old + want));
    crk_labels l;
    memset(&l, 0, sizeof l);
    uint64_t max_count = 0;
    CV_TRY(parse_labels(&s, &l, &max_count));
    crk_work w;
    memset(&w, 0, sizeof w);
    cv_status rc = CV_OK;
    if (s.sz > 0) { /* no slices: nothing to draw in, however large one would be */
        rc = work_init(&w, s.sx, s.sy, max_count, s.data_width);
        if (rc == CV_OK) {
            rc = decode_slices(&s, &l, &w, out->data + old);
        }
    }
    work_fini(&w);
    if (rc == CV_OK) {
        out->len = old + want;
    }
    return rc;
}

/* ---- encode ---------------------------------------------------------------------------------- */

/* What CloudVolume writes: crackle.compress(labels) with its defaults (no pins, Markov order
 * 0), format version 1. Every choice that shows in the bytes follows upstream's encoder
 * (crackle.hpp compress, crackcodes.hpp create_crack_codes, labels.hpp encode_flat): the crack
 * format from the count of equal x-neighbours, the stored label width from the largest label,
 * the order in which each chain walks its cracks and where it starts. */

/* Symbols of a chain before they become 2-bit moves. */
enum { SYM_UP = 0, SYM_RIGHT = 1, SYM_DOWN = 2, SYM_LEFT = 3, SYM_BRANCH, SYM_TERM, SYM_SKIP };

/* Vertex edge bits, in the order a walk prefers them (lowest set bit first). */
enum { EDGE_RIGHT = 1, EDGE_LEFT = 2, EDGE_DOWN = 4, EDGE_UP = 8 };

typedef struct crk_chain {
    uint64_t node; /* start vertex, x + (sx+1)*y */
    size_t off, len;
} crk_chain;

typedef struct crk_enc {
    uint32_t sx, sy;
    size_t np, sxe, nvert;
    bool permissible;
    uint32_t *cc;     /* component of each pixel */
    uint32_t *parent; /* union-find over provisional components */
    uint32_t *num;    /* provisional component -> final number */
    uint32_t *first;  /* provisional component -> its first pixel */
    uint8_t *adj;     /* EDGE_* bits of each vertex */
    uint8_t *sym;     /* this slice's chains, back to back */
    size_t sym_len, sym_cap;
    crk_chain *chains;
    size_t nchains, chains_cap;
    size_t *stack; /* vertices to come back to; then branch positions */
    size_t stack_cap;
    uint32_t *seg_len; /* moves per branch segment (remove_spurious) */
    size_t seg_cap;
    uint64_t *comp_label; /* every component's label, slice after slice */
    size_t ncomp, comp_cap;
} crk_enc;

static cv_status grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) {
        return CV_OK;
    }
    size_t c = *cap ? *cap : 256;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) {
            return CV_FAIL(CV_ERR_NOMEM, CRK_NAME ": encoder scratch of %zu items", need);
        }
        c *= 2;
    }
    void *q = cv_realloc(*p, c * elem);
    if (!q) {
        return CV_FAIL(CV_ERR_NOMEM, CRK_NAME ": encoder scratch of %zu items", c);
    }
    *p = q;
    *cap = c;
    return CV_OK;
}

/* Upstream's two whole-chunk facts: how many voxels equal the one before them in memory order
 * (x fastest, across row and slice ends) and the largest label. */
static inline void scan_chunk_w(const uint8_t *src, size_t nv, unsigned w, uint64_t *pairs,
                                uint64_t *max)
{
    uint64_t prev = cv_le_load(src, w), mx = prev, eq = 0;
    for (size_t i = 1; i < nv; i++) {
        const uint64_t v = cv_le_load(src + i * w, w);
        eq += v == prev;
        mx = v > mx ? v : mx;
        prev = v;
    }
    *pairs = eq;
    *max = mx;
}

static void scan_chunk(const uint8_t *src, size_t nv, unsigned w, uint64_t *pairs, uint64_t *max)
{
    switch (w) {
    case 1:
        scan_chunk_w(src, nv, 1, pairs, max);
        break;
    case 2:
        scan_chunk_w(src, nv, 2, pairs, max);
        break;
    case 4:
        scan_chunk_w(src, nv, 4, pairs, max);
        break;
    default:
        scan_chunk_w(src, nv, 8, pairs, max);
        break;
    }
}

/* One pass over a slice of w-byte labels: provisional 4-connected components of equal labels
 * (cc, with union-find in parent and each one's first pixel in first; a root is always the
 * smallest number of its set), and the cracks as edges between vertices, between pixels whose
 * labels differ (impermissible) or are equal (permissible); the outer border has none.
 * Returns the number of provisional components; *any says whether there is a crack. */
static inline uint32_t slice_scan_w(crk_enc *e, const uint8_t *sl, unsigned w, bool *any)
{
    const uint32_t sx = e->sx, sy = e->sy;
    const size_t sxe = e->sxe;
    const bool perm = e->permissible;
    uint32_t *cc = e->cc, *parent = e->parent;
    uint8_t *adj = e->adj;
    uint32_t next = 0;
    bool cracks = false;
    memset(adj, 0, e->nvert);
    for (uint32_t y = 0; y < sy; y++) {
        uint64_t prev = 0;
        for (uint32_t x = 0; x < sx; x++) {
            const size_t i = (size_t)y * sx + x, v = x + sxe * y;
            const uint64_t cur = cv_le_load(sl + i * w, w);
            const bool left = x > 0 && prev == cur;
            const bool up = y > 0 && cv_le_load(sl + (i - sx) * w, w) == cur;
            prev = cur;
            if (x > 0 && left == perm) { /* crack (x,y)-(x,y+1) */
                adj[v] |= EDGE_DOWN;
                adj[v + sxe] |= EDGE_UP;
                cracks = true;
            }
            if (y > 0 && up == perm) { /* crack (x,y)-(x+1,y) */
                adj[v] |= EDGE_RIGHT;
                adj[v + 1] |= EDGE_LEFT;
                cracks = true;
            }
            uint32_t p;
            if (left) {
                p = cc[i - 1];
                /* with the upper-left pixel equal too, left and up are joined already */
                if (up && cc[i - sx] != p && cv_le_load(sl + (i - sx - 1) * w, w) != cur) {
                    const uint32_t ra = uf_root(parent, p), rb = uf_root(parent, cc[i - sx]);
                    if (ra < rb) {
                        parent[rb] = ra;
                    } else {
                        parent[ra] = rb;
                    }
                }
            } else if (up) {
                p = cc[i - sx];
            } else {
                p = next++;
                parent[p] = p;
                e->first[p] = (uint32_t)i;
            }
            cc[i] = p;
        }
    }
    *any = cracks;
    return next;
}

/* Number the slice's components in raster order of their first pixel (as cc3d's
 * connected_components2d_4 does: numbering roots in ascending order is numbering by first
 * pixel), append each one's label to comp_label, and give their count in *count. */
static cv_status slice_components(crk_enc *e, const uint8_t *sl, unsigned w, bool *any,
                                  uint32_t *count)
{
    uint32_t next;
    switch (w) {
    case 1:
        next = slice_scan_w(e, sl, 1, any);
        break;
    case 2:
        next = slice_scan_w(e, sl, 2, any);
        break;
    case 4:
        next = slice_scan_w(e, sl, 4, any);
        break;
    default:
        next = slice_scan_w(e, sl, 8, any);
        break;
    }
    CV_TRY(grow((void **)&e->comp_label, &e->comp_cap, e->ncomp + next, sizeof *e->comp_label));
    uint32_t *parent = e->parent, *cc = e->cc;
    uint32_t n = 0;
    for (uint32_t p = 0; p < next; p++) {
        const uint32_t r = uf_root(parent, p);
        if (r == p) {
            e->comp_label[e->ncomp + n] = cv_le_load(sl + (size_t)e->first[p] * w, w);
            e->num[p] = n++;
        } else {
            e->num[p] = e->num[r];
        }
    }
    for (size_t i = 0; i < e->np; i++) {
        cc[i] = e->num[cc[i]];
    }
    e->ncomp += n;
    *count = n;
    return CV_OK;
}

static inline cv_status sym_push(crk_enc *e, uint8_t s)
{
    if (e->sym_len == e->sym_cap) {
        CV_TRY(grow((void **)&e->sym, &e->sym_cap, e->sym_len + 1, 1));
    }
    e->sym[e->sym_len++] = s;
    return CV_OK;
}

/* Walk every crack reachable from vertex start, erasing each as it is drawn: the lowest edge
 * bit first; a vertex left with more than one edge is a branch to come back to, a dead end
 * terminates back to the latest one (create_crack_codes). */
static cv_status walk_chain(crk_enc *e, size_t start)
{
    const ptrdiff_t step[4] = {1, -1, (ptrdiff_t)e->sxe, -(ptrdiff_t)e->sxe};
    static const uint8_t move[4] = {SYM_RIGHT, SYM_LEFT, SYM_DOWN, SYM_UP};
    uint8_t *adj = e->adj;
    size_t node = start, depth = 0, open = 1;
    while (adj[node] || depth > 0) {
        if (!adj[node]) {
            CV_TRY(sym_push(e, SYM_TERM));
            open--;
            node = e->stack[--depth];
            continue;
        }
        if (adj[node] & (adj[node] - 1)) {
            CV_TRY(sym_push(e, SYM_BRANCH));
            CV_TRY(grow((void **)&e->stack, &e->stack_cap, depth + 1, sizeof *e->stack));
            e->stack[depth++] = node;
            open++;
        }
        const unsigned k = (unsigned)__builtin_ctz(adj[node]);
        const size_t to = (size_t)((ptrdiff_t)node + step[k]);
        CV_TRY(sym_push(e, move[k]));
        adj[node] &= (uint8_t) ~(1u << k);
        adj[to] &= (uint8_t) ~(1u << (k ^ 1)); /* the opposite direction's bit */
        node = to;
    }
    for (; open > 0; open--) {
        CV_TRY(sym_push(e, SYM_TERM));
    }
    return CV_OK;
}

/* remove_initial_branch: a chain that branches at its start and whose first segment has no
 * further branch starts instead at that segment's far end, walking it backwards. */
static uint64_t move_start(uint8_t *c, size_t len, uint64_t node, size_t sxe)
{
    if (len == 0 || c[0] != SYM_BRANCH) {
        return node;
    }
    size_t end = 1;
    while (end < len && c[end] != SYM_TERM) {
        if (c[end] == SYM_BRANCH) {
            return node;
        }
        end++;
    }
    if (end == len) {
        return node;
    }
    int64_t x = (int64_t)(node % sxe), y = (int64_t)(node / sxe);
    c[0] = SYM_SKIP;
    for (size_t i = 1; i < end; i++) {
        x += c[i] == SYM_RIGHT ? 1 : c[i] == SYM_LEFT ? -1 : 0;
        y += c[i] == SYM_DOWN ? 1 : c[i] == SYM_UP ? -1 : 0;
        c[i] ^= 2; /* the opposite move */
    }
    c[end] = SYM_SKIP;
    for (size_t i = 1, j = end - 1; i < j; i++, j--) {
        const uint8_t t = c[i];
        c[i] = c[j];
        c[j] = t;
    }
    return (uint64_t)x + sxe * (uint64_t)y;
}

/* remove_spurious_branches: a branch whose return leg has no move (the walk came back to an
 * exhausted branch vertex) is dropped with the terminate that closes that empty leg. Skips
 * count as moves, as upstream counts them. */
static cv_status drop_empty_branches(crk_enc *e, uint8_t *c, size_t len)
{
    CV_TRY(grow((void **)&e->seg_len, &e->seg_cap, len + 1, sizeof *e->seg_len));
    CV_TRY(grow((void **)&e->stack, &e->stack_cap, len + 1, sizeof *e->stack));
    memset(e->seg_len, 0, (len + 1) * sizeof *e->seg_len);
    /* positions are stored + 1 so that 0 is the chain's own (first) segment */
    size_t depth = 0, cur = 0;
    e->stack[depth++] = 0;
    for (size_t i = 0; i < len; i++) {
        if (c[i] == SYM_BRANCH) {
            e->stack[depth++] = i + 1;
        } else if (c[i] == SYM_TERM) {
            if (cur > 0 && e->seg_len[cur] == 0) { /* both already scanned */
                c[cur - 1] = SYM_SKIP;
                c[i] = SYM_SKIP;
            }
            cur = depth > 0 ? e->stack[--depth] : 0;
        } else {
            e->seg_len[cur]++;
        }
    }
    return CV_OK;
}

static int chain_cmp(const void *a, const void *b)
{
    const uint64_t x = ((const crk_chain *)a)->node, y = ((const crk_chain *)b)->node;
    return x < y ? -1 : x > y;
}

static cv_status put_le(cv_buf *b, uint64_t v, unsigned w)
{
    uint8_t t[8];
    cv_le_store(t, v, w);
    return cv__buf_append(b, t, w);
}

/* The BOC index of the sorted chain starts (write_boc_index), its u32 length first. */
static cv_status put_boc(const crk_enc *e, cv_buf *b)
{
    const unsigned xw = width_for((uint64_t)e->sx + 1), yw = width_for((uint64_t)e->sy + 1);
    uint64_t num_y = 0, size = yw;
    for (size_t i = 0; i < e->nchains;) {
        const uint64_t y = e->chains[i].node / e->sxe;
        size_t j = i;
        while (j < e->nchains && e->chains[j].node / e->sxe == y) {
            j++;
        }
        num_y++;
        size += yw + (uint64_t)(j - i + 1) * xw;
        i = j;
    }
    if (size > UINT32_MAX) {
        return CV_FAIL(CV_ERR_UNSUPPORTED, CRK_NAME ": a BOC index of %" PRIu64 " bytes", size);
    }
    CV_TRY(cv__buf_reserve(b, b->len + 4 + (size_t)size));
    CV_TRY(put_le(b, size, 4));
    CV_TRY(put_le(b, num_y, yw));
    uint64_t last_y = 0;
    for (size_t i = 0; i < e->nchains;) {
        const uint64_t y = e->chains[i].node / e->sxe;
        size_t j = i;
        while (j < e->nchains && e->chains[j].node / e->sxe == y) {
            j++;
        }
        CV_TRY(put_le(b, y - last_y, yw));
        CV_TRY(put_le(b, j - i, xw));
        uint64_t last_x = 0;
        for (size_t k = i; k < j; k++) {
            const uint64_t x = e->chains[k].node % e->sxe;
            CV_TRY(put_le(b, x - last_x, xw));
            last_x = x;
        }
        last_y = y;
        i = j;
    }
    return CV_OK;
}

/* The chains' moves as 2-bit values (symbols_to_codepoints, pack_codepoints): a branch is
 * up-down, a terminate down-up, or left-right / right-left when the move before would pair with
 * the first half; each value is the change from the previous one of the slice, 4 per byte,
 * least significant first. */
static cv_status put_moves(const crk_enc *e, cv_buf *b)
{
    /* at most two moves a symbol, four moves a byte */
    if (e->sym_len > (SIZE_MAX - b->len) / 2 - 4) {
        return CV_FAIL(CV_ERR_NOMEM, CRK_NAME ": %zu crack symbols", e->sym_len);
    }
    CV_TRY(cv__buf_reserve(b, b->len + e->sym_len / 2 + 1));
    uint8_t *out = b->data + b->len;
    unsigned last = 0, acc = 0, pos = 0;
    for (size_t k = 0; k < e->nchains; k++) {
        const uint8_t *c = e->sym + e->chains[k].off;
        const size_t len = e->chains[k].len;
        int back = -1; /* the chain's previous 2-bit move, -1 before the first */
        for (size_t i = 0; i < len; i++) {
            uint8_t m[2];
            unsigned nm = 1;
            switch (c[i]) {
            case SYM_SKIP:
                continue;
            case SYM_BRANCH:
                nm = 2;
                if (i > 0 && back != SYM_DOWN) {
                    m[0] = SYM_UP, m[1] = SYM_DOWN;
                } else {
                    m[0] = SYM_LEFT, m[1] = SYM_RIGHT;
                }
                break;
            case SYM_TERM:
                nm = 2;
                if (i > 0 && back != SYM_UP) {
                    m[0] = SYM_DOWN, m[1] = SYM_UP;
                } else {
                    m[0] = SYM_RIGHT, m[1] = SYM_LEFT;
                }
                break;
            default:
                m[0] = c[i];
                break;
            }
            for (unsigned j = 0; j < nm; j++) {
                acc |= ((m[j] - last) & 3u) << pos;
                last = m[j];
                back = m[j];
                pos += 2;
                if (pos == 8) {
                    *out++ = (uint8_t)acc;
                    acc = pos = 0;
                }
            }
        }
    }
    if (pos > 0) {
        *out++ = (uint8_t)acc;
    }
    b->len = (size_t)(out - b->data);
    return CV_OK;
}

/* One slice's crack code (BOC index, then moves) appended to codes; its length in *len. */
static cv_status slice_crack_code(crk_enc *e, bool any, cv_buf *codes, uint64_t *len)
{
    const size_t before = codes->len;
    e->sym_len = 0;
    e->nchains = 0;
    if (any) {
        for (size_t start = 0; start < e->nvert; start++) {
            if (!e->adj[start]) {
                continue;
            }
            const size_t off = e->sym_len;
            CV_TRY(walk_chain(e, start));
            const size_t n = e->sym_len - off;
            CV_TRY(grow((void **)&e->chains, &e->chains_cap, e->nchains + 1, sizeof *e->chains));
            crk_chain *ch = &e->chains[e->nchains++];
            ch->off = off;
            ch->len = n;
            ch->node = move_start(e->sym + off, n, start, e->sxe);
            CV_TRY(drop_empty_branches(e, e->sym + off, n));
        }
        /* each chain covers one connected set of cracks: no two share a start */
        qsort(e->chains, e->nchains, sizeof *e->chains, chain_cmp);
    }
    CV_TRY(put_boc(e, codes));
    CV_TRY(put_moves(e, codes));
    *len = codes->len - before;
    return CV_OK;
}

/* Write v as w little-endian bytes at p; returns p + w. */
static uint8_t *store_le(uint8_t *p, uint64_t v, unsigned w)
{
    cv_le_store(p, v, w);
    return p + w;
}

/* Component numbers ordered by their label, stable (LSD radix sort on the sw low bytes, a byte
 * all labels share skipped): a chunk of random labels has a component per voxel, too many
 * for a comparison sort to keep up with the rest of the encoder. Returns the sorted array,
 * which is one of order and tmp. */
static uint32_t *sort_by_label(const uint64_t *label, size_t n, unsigned sw, uint32_t *order,
                               uint32_t *tmp)
{
    size_t hist[8][256];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++) {
        order[i] = (uint32_t)i;
        for (unsigned k = 0; k < sw; k++) {
            hist[k][(label[i] >> (8 * k)) & 0xFF]++;
        }
    }
    for (unsigned k = 0; k < sw; k++) {
        if (n == 0 || hist[k][label[0] >> (8 * k) & 0xFF] == n) {
            continue; /* every label has this byte */
        }
        size_t at = 0;
        for (unsigned v = 0; v < 256; v++) {
            const size_t c = hist[k][v];
            hist[k][v] = at;
            at += c;
        }
        for (size_t i = 0; i < n; i++) {
            tmp[hist[k][(label[order[i]] >> (8 * k)) & 0xFF]++] = order[i];
        }
        uint32_t *t = order;
        order = tmp;
        tmp = t;
    }
    return order;
}

/* The flat label section (encode_flat): sorted unique labels, components per slice, and each
 * component's index into the unique labels. */
static cv_status put_labels(const crk_enc *e, const uint32_t *per_slice, uint32_t sz, unsigned sw,
                            cv_buf *b)
{
    const size_t n = e->ncomp;
    const uint64_t *label = e->comp_label;
    if (n > UINT32_MAX) {
        return CV_FAIL(CV_ERR_UNSUPPORTED, CRK_NAME ": %zu components in one chunk", n);
    }
    uint32_t *buf_a = cv_malloc(n * sizeof *buf_a + 1), *buf_b = cv_malloc(n * sizeof *buf_b + 1);
    if (!buf_a || !buf_b) {
        cv_free(buf_a);
        cv_free(buf_b);
        return CV_FAIL(CV_ERR_NOMEM, CRK_NAME ": sort the labels of %zu components", n);
    }
    const uint32_t *sorted = sort_by_label(label, n, sw, buf_a, buf_b);
    uint32_t *key = sorted == buf_a ? buf_b : buf_a; /* component -> unique label index */
    size_t nu = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || label[sorted[i]] != label[sorted[i - 1]]) {
            nu++;
        }
        key[sorted[i]] = (uint32_t)(nu - 1);
    }
    const unsigned cw = width_for(e->np), iw = width_for(nu);
    const size_t bytes = 8 + nu * sw + (size_t)sz * cw + n * iw;
    cv_status rc = cv__buf_reserve(b, b->len + bytes);
    if (rc == CV_OK) {
        uint8_t *p = store_le(b->data + b->len, nu, 8);
        for (size_t i = 0; i < n; i++) {
            if (i == 0 || label[sorted[i]] != label[sorted[i - 1]]) {
                p = store_le(p, label[sorted[i]], sw);
            }
        }
        for (uint32_t z = 0; z < sz; z++) {
            p = store_le(p, per_slice[z], cw);
        }
        for (size_t i = 0; i < n; i++) {
            p = store_le(p, key[i], iw);
        }
        b->len += bytes;
    }
    cv_free(buf_a);
    cv_free(buf_b);
    return rc;
}

static void enc_fini(crk_enc *e)
{
    cv_free(e->cc);
    cv_free(e->parent);
    cv_free(e->num);
    cv_free(e->first);
    cv_free(e->adj);
    cv_free(e->sym);
    cv_free(e->chains);
    cv_free(e->stack);
    cv_free(e->seg_len);
    cv_free(e->comp_label);
}

static cv_status encode_slices(crk_enc *e, const uint8_t *src, unsigned w, uint32_t sz,
                               uint32_t *per_slice, uint8_t *index, uint8_t *slice_crcs,
                               cv_buf *codes)
{
    for (uint32_t z = 0; z < sz; z++) {
        bool any = false;
        CV_TRY(slice_components(e, src + (size_t)z * e->np * w, w, &any, &per_slice[z]));
        const uint32_t crc = comp_crc(e->cc, e->np);
        uint64_t len = 0;
        CV_TRY(slice_crack_code(e, any, codes, &len));
        if (len > UINT32_MAX) {
            return CV_FAIL(CV_ERR_UNSUPPORTED,
                           CRK_NAME ": slice %u's crack code of %" PRIu64
                                    " bytes does not fit the index",
                           z, len);
        }
        for (int k = 0; k < 4; k++) {
            index[4 * (size_t)z + (size_t)k] = (uint8_t)(len >> (8 * k));
            slice_crcs[4 * (size_t)z + (size_t)k] = (uint8_t)(crc >> (8 * k));
        }
    }
    return CV_OK;
}

cv_status cv__crackle_encode(const cv_chunk_desc *d, bool fortran_order, const uint8_t *src,
                             size_t n, cv_buf *out)
{
    CV_TRY(desc_check(d));
    const size_t want = cv__chunk_desc_bytes(d);
    if (n != want) {
        return CV_FAIL(CV_ERR_ARG, CRK_NAME ": chunk buffer has %zu bytes, want %zu", n, want);
    }
    const unsigned w = (unsigned)cv_dtype_size(d->dtype);
    const uint32_t sx = d->shape[0], sy = d->shape[1], sz = d->shape[2];
    const size_t np = (size_t)sx * sy, nv = want / w;
    if (nv == 0) {
        return CV_FAIL(CV_ERR_ARG, CRK_NAME ": empty %ux%ux%u chunk", sx, sy, sz);
    }
    uint64_t pairs = 0, max = 0, nvert = 0;
    scan_chunk(src, nv, w, &pairs, &max);
    const unsigned sw = width_for(max);
    if (!cv__mul_u64((uint64_t)sx + 1, (uint64_t)sy + 1, &nvert) || nvert > SIZE_MAX / 2) {
        return CV_FAIL(CV_ERR_UNSUPPORTED, CRK_NAME ": a %ux%u slice is too large", sx, sy);
    }
    crk_enc e;
    memset(&e, 0, sizeof e);
    e.sx = sx;
    e.sy = sy;
    e.np = np;
    e.sxe = (size_t)sx + 1;
    e.nvert = (size_t)nvert;
    e.permissible = pairs < nv / 2; /* mostly boundaries: draw the joins instead */
    e.cc = cv_malloc(np * sizeof *e.cc);
    e.parent = cv_malloc(np * sizeof *e.parent);
    e.num = cv_malloc(np * sizeof *e.num);
    e.first = cv_malloc(np * sizeof *e.first);
    e.adj = cv_malloc(e.nvert);
    uint32_t *per_slice = cv_malloc((size_t)sz * sizeof *per_slice);
    uint8_t *index = cv_malloc((size_t)sz * 4), *slice_crcs = cv_malloc((size_t)sz * 4);
    cv_buf labels, codes;
    cv__buf_init(&labels, 0);
    cv__buf_init(&codes, 0);
    cv_status rc = CV_OK;
    if (!e.cc || !e.parent || !e.num || !e.first || !e.adj || !per_slice || !index || !slice_crcs) {
        rc = CV_FAIL(CV_ERR_NOMEM, CRK_NAME ": encoder work space for a %ux%u slice", sx, sy);
    }
    if (rc == CV_OK) {
        rc = encode_slices(&e, src, w, sz, per_slice, index, slice_crcs, &codes);
    }
    if (rc == CV_OK) {
        rc = put_labels(&e, per_slice, sz, sw, &labels);
    }
    if (rc == CV_OK) {
        const size_t total =
            CRK_HEADER_V1 + 4 * (size_t)sz + 4 + labels.len + codes.len + 4 + 4 * (size_t)sz;
        rc = cv__buf_reserve(out, out->len + total);
    }
    if (rc == CV_OK) {
        uint8_t h[CRK_HEADER_V1];
        unsigned lw = 0, ls = 0;
        while ((1u << lw) < w) {
            lw++;
        }
        while ((1u << ls) < sw) {
            ls++;
        }
        const unsigned fmt =
            lw | ls << 2 | (e.permissible ? 1u : 0u) << 4 | (fortran_order ? 1u : 0u) << 7;
        memcpy(h, "crkl", 4);
        h[4] = 1;
        h[5] = (uint8_t)fmt;
        h[6] = (uint8_t)(fmt >> 8);
        for (int k = 0; k < 4; k++) {
            h[7 + k] = (uint8_t)(sx >> (8 * k));
            h[11 + k] = (uint8_t)(sy >> (8 * k));
            h[15 + k] = (uint8_t)(sz >> (8 * k));
        }
        h[19] = 31;
        for (int k = 0; k < 8; k++) {
            h[20 + k] = (uint8_t)((uint64_t)labels.len >> (8 * k));
        }
        h[28] = crk_crc8(h + 5, 23);
        uint8_t crc[4];
        const uint32_t icrc = crk_crc32c(0, index, 4 * (size_t)sz);
        const uint32_t lcrc = crk_crc32c(0, labels.data, labels.len);
        cv__buf_append(out, h, sizeof h);
        cv__buf_append(out, index, 4 * (size_t)sz);
        for (int k = 0; k < 4; k++) {
            crc[k] = (uint8_t)(icrc >> (8 * k));
        }
        cv__buf_append(out, crc, 4);
        cv__buf_append(out, labels.data, labels.len);
        cv__buf_append(out, codes.data, codes.len);
        for (int k = 0; k < 4; k++) {
            crc[k] = (uint8_t)(lcrc >> (8 * k));
        }
        cv__buf_append(out, crc, 4);
        cv__buf_append(out, slice_crcs, 4 * (size_t)sz);
    }
    cv__buf_fini(&labels);
    cv__buf_fini(&codes);
    cv_free(per_slice);
    cv_free(index);
    cv_free(slice_crcs);
    enc_fini(&e);
    return rc;
}

static cv_status crackle_encode(const cv_chunk_desc *d, int level, const uint8_t *src, size_t n,
                                cv_buf *out)
{
    (void)level;
    /* CloudVolume encodes a chunk cut from the array it writes: not Fortran-contiguous, so
     * crackle.compress leaves the format field's bit 7 clear */
    return cv__crackle_encode(d, false, src, n, out);
}

const cv_codec cv_codec_crackle = {
    "crackle",         /* name */
    0,                 /* flags */
    "image/x.crackle", /* content_type */
    "gzip",            /* default_compress */
    -1,                /* default_level */
    crackle_decode,    /* decode */
    crackle_encode,    /* encode */
};
