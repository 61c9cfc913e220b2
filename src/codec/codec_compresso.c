/* SPDX-License-Identifier: BSD-3-Clause
 * codec_compresso.c: the "compresso" encoding (precomputed-volume spec §5.6, test-vectors §6;
 * upstream github.com/seung-lab/compresso, compresso.hpp). A label chunk becomes a boundary
 * map (run-length-coded window bit patterns), one label per connected component of the
 * non-boundary voxels, and location codes for the boundary voxels no neighbour settles. The
 * encoder reproduces upstream's C++ encoder byte for byte (with compresso.pyx's 8x8x1
 * fallback); the decoder checks every size, index and code against the stream and trusts only
 * the cv_chunk_desc. uint8..uint64, one channel. No I/O here. */
#include "codec/codec.h"
#include "codec/le_words.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define CPSO_INLINE static inline __attribute__((always_inline))
#else
#define CPSO_INLINE static inline
#endif

#define CPSO_NAME "compresso"
#define CPSO_HEADER_BYTES 36
#define CPSO_MAX_DIM 65535u
/* Component numbers are uint32 and 0 marks a boundary voxel. */
#define CPSO_MAX_VOXELS ((uint64_t)UINT32_MAX - 1)

/* ---- little-endian integers of 1, 2, 4 or 8 bytes ---------------------------------------- */

CPSO_INLINE void st_le(uint8_t *p, uint64_t v, unsigned w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    switch (w) {
    case 1:
        p[0] = (uint8_t)v;
        break;
    case 2: {
        const uint16_t x = (uint16_t)v;
        memcpy(p, &x, 2);
        break;
    }
    case 4: {
        const uint32_t x = (uint32_t)v;
        memcpy(p, &x, 4);
        break;
    }
    default:
        memcpy(p, &v, 8);
        break;
    }
#else
    for (unsigned i = 0; i < w; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
#endif
}

/* Largest value of a `w`-byte unsigned integer. */
static uint64_t max_of(unsigned w)
{
    return w >= 8 ? UINT64_MAX : ((uint64_t)1 << (8 * w)) - 1;
}

/* Bytes of the window type: the smallest of uint8..uint64 holding xstep*ystep*zstep bits. */
static unsigned window_width(unsigned window_bits)
{
    return window_bits <= 8 ? 1 : window_bits <= 16 ? 2 : window_bits <= 32 ? 4 : 8;
}

/* Bytes per z index entry (CompressoHeader::index_byte_width): a slice holds at most
 * 2*sx*sy location entries. */
static unsigned index_width(uint32_t sx, uint32_t sy)
{
    const uint64_t worst = 2 * (uint64_t)sx * sy;
    return worst < 0xffu ? 1 : worst < 0xffffu ? 2 : worst < 0xffffffffu ? 4 : 8;
}

/* ---- header ------------------------------------------------------------------------------ */

typedef struct cpso_header {
    unsigned version, width; /* format version 0/1; label bytes */
    uint32_t size[3];        /* sx, sy, sz */
    unsigned step[3];        /* window size */
    uint64_t id_size;        /* entries of ids */
    uint32_t value_size;     /* entries of window values */
    uint64_t location_size;  /* entries of locations */
    unsigned connectivity;   /* 4 or 6 */
} cpso_header;

static void header_write(const cpso_header *h, uint8_t *p)
{
    memcpy(p, "cpso", 4);
    p[4] = (uint8_t)h->version;
    p[5] = (uint8_t)h->width;
    for (int i = 0; i < 3; i++) {
        st_le(p + 6 + 2 * i, h->size[i], 2);
        p[12 + i] = (uint8_t)h->step[i];
    }
    st_le(p + 15, h->id_size, 8);
    st_le(p + 23, h->value_size, 4);
    st_le(p + 27, h->location_size, 8);
    p[35] = (uint8_t)h->connectivity;
}

static cv_status header_read(const uint8_t *p, size_t n, cpso_header *h)
{
    if (n < CPSO_HEADER_BYTES) {
        return CV_FAIL(CV_ERR_CORRUPT, CPSO_NAME ": truncated header (%zu of %d bytes)", n,
                       CPSO_HEADER_BYTES);
    }
    if (memcmp(p, "cpso", 4) != 0) {
        return CV_FAIL(CV_ERR_CORRUPT, CPSO_NAME ": bad magic %02x %02x %02x %02x (want \"cpso\")",
                       p[0], p[1], p[2], p[3]);
    }
    h->version = p[4];
    h->width = p[5];
    for (int i = 0; i < 3; i++) {
        h->size[i] = (uint32_t)cv_le_load(p + 6 + 2 * i, 2);
        h->step[i] = p[12 + i];
    }
    h->id_size = cv_le_load(p + 15, 8);
    h->value_size = (uint32_t)cv_le_load(p + 23, 4);
    h->location_size = cv_le_load(p + 27, 8);
    h->connectivity = p[35];
    if (h->version > 1) {
        return CV_FAIL(CV_ERR_CORRUPT, CPSO_NAME ": format version %u is not 0 or 1", h->version);
    }
    if (h->width != 1 && h->width != 2 && h->width != 4 && h->width != 8) {
        return CV_FAIL(CV_ERR_CORRUPT, CPSO_NAME ": data width %u is not 1, 2, 4 or 8", h->width);
    }
    if (h->connectivity != 4 && h->connectivity != 6) {
        return CV_FAIL(CV_ERR_CORRUPT, CPSO_NAME ": connectivity %u is not 4 or 6",
                       h->connectivity);
    }
    const unsigned bits = h->step[0] * h->step[1] * h->step[2];
    if (bits == 0 || bits > 64) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       CPSO_NAME ": window %ux%ux%u is empty or has more than 64 voxels",
                       h->step[0], h->step[1], h->step[2]);
    }
    return CV_OK;
}

/* ---- the chunk description ----------------------------------------------------------------- */

static cv_status desc_check(const cv_chunk_desc *d, unsigned *width)
{
    if (d->dtype != CV_UINT8 && d->dtype != CV_UINT16 && d->dtype != CV_UINT32 &&
        d->dtype != CV_UINT64) {
        const char *name = cv_dtype_name(d->dtype);
        return CV_FAIL(CV_ERR_ARG,
                       CPSO_NAME ": data type %s is not uint8, uint16, uint32 or uint64",
                       name ? name : "(invalid)");
    }
    if (d->channels != 1) {
        return CV_FAIL(CV_ERR_ARG, CPSO_NAME ": %u channels; compresso holds exactly 1",
                       d->channels);
    }
    for (int i = 0; i < 3; i++) {
        if (d->shape[i] > CPSO_MAX_DIM) {
            return CV_FAIL(CV_ERR_ARG,
                           CPSO_NAME ": chunk %ux%ux%u has a side above %u (the header's limit)",
                           d->shape[0], d->shape[1], d->shape[2], CPSO_MAX_DIM);
        }
    }
    if ((uint64_t)d->shape[0] * d->shape[1] * d->shape[2] > CPSO_MAX_VOXELS) {
        return CV_FAIL(CV_ERR_ARG, CPSO_NAME ": chunk %ux%ux%u has too many voxels", d->shape[0],
                       d->shape[1], d->shape[2]);
    }
    *width = (unsigned)cv_dtype_size(d->dtype);
    return CV_OK;
}

/* ---- connected components of the non-boundary voxels ------------------------------------- */

/* Provisional labels with a union-find whose root is always the smallest label of its set.
 * A component's smallest provisional label is the one made at its first voxel in raster
 * order, so numbering the roots in increasing order numbers the components by first
 * appearance: the order of cc3d's relabel() in upstream compresso (spec §5.6 decoder step 3). */
typedef struct cpso_ccl {
    uint32_t *parent; /* [1..n_prov]; parent[p] <= p */
    uint64_t *first;  /* encoder only: the label of the voxel that made p */
    size_t n_prov, cap;
    uint32_t *slice_prov; /* [z]: first provisional label made in slice z; [sz] = n_prov + 1 */
} cpso_ccl;

static void ccl_fini(cpso_ccl *c)
{
    cv_free(c->parent);
    cv_free(c->first);
    cv_free(c->slice_prov);
    memset(c, 0, sizeof *c);
}

static cv_status ccl_grow(cpso_ccl *c, bool with_first)
{
    size_t cap = c->cap ? c->cap * 2 : 1024;
    uint32_t *p = cv_realloc(c->parent, cap * sizeof *p);
    if (!p) {
        return CV_FAIL(CV_ERR_NOMEM, CPSO_NAME ": allocate %zu component labels", cap);
    }
    c->parent = p;
    if (with_first) {
        uint64_t *f = cv_realloc(c->first, cap * sizeof *f);
        if (!f) {
            return CV_FAIL(CV_ERR_NOMEM, CPSO_NAME ": allocate %zu component labels", cap);
        }
        c->first = f;
    }
    c->cap = cap;
    return CV_OK;
}

CPSO_INLINE uint32_t ccl_find(uint32_t *parent, uint32_t a)
{
    while (parent[a] != a) {
        parent[a] = parent[parent[a]]; /* path halving keeps parent[a] <= a */
        a = parent[a];
    }
    return a;
}

CPSO_INLINE void ccl_union(uint32_t *parent, uint32_t a, uint32_t b)
{
    a = ccl_find(parent, a);
    b = ccl_find(parent, b);
    if (a < b) {
        parent[b] = a;
    } else if (b < a) {
        parent[a] = b;
    }
}

/* Pass 1 over comp[] (nonzero = non-boundary on entry): give every non-boundary voxel a
 * provisional label, joining it with its -x, -y (and for connectivity 6, -z) neighbours.
 * With `labels` (encoder), remember the label each provisional label starts at. */
CPSO_INLINE cv_status ccl_scan(cpso_ccl *c, uint32_t *comp, const uint32_t size[3],
                               unsigned connectivity, const uint8_t *labels, unsigned w)
{
    const size_t sx = size[0], sy = size[1], sz = size[2], sxy = sx * sy;
    uint32_t *parent = c->parent;
    size_t n = 0;
    for (size_t z = 0; z < sz; z++) {
        c->slice_prov[z] = (uint32_t)(n + 1);
        const bool back = connectivity == 6 && z > 0;
        for (size_t y = 0; y < sy; y++) {
            uint32_t *row = comp + sxy * z + sx * y;
            const uint32_t *up = y > 0 ? row - sx : NULL, *below = back ? row - sxy : NULL;
            const uint32_t *below_up = below && up ? below - sx : NULL;
            for (size_t x = 0; x < sx; x++) {
                if (!row[x]) {
                    continue;
                }
                /* Unions are skipped where a diagonal voxel already joined the two: a
                 * non-boundary (x-1,y-1) links -x and -y, (x-1,y,z-1) links -x and -z,
                 * (x,y-1,z-1) links -y and -z (cc3d's decision tree). */
                uint32_t l = x > 0 ? row[x - 1] : 0;
                const uint32_t u = up ? up[x] : 0;
                const uint32_t b = below ? below[x] : 0;
                if (l) {
                    if (u && u != l && !up[x - 1]) {
                        ccl_union(parent, l, u);
                    }
                    if (b && b != l && !below[x - 1]) {
                        ccl_union(parent, l, b);
                    }
                } else if (u) {
                    l = u;
                    if (b && b != u && !below_up[x]) {
                        ccl_union(parent, u, b);
                    }
                } else {
                    l = b;
                }
                if (!l) {
                    if (n + 1 >= c->cap) {
                        CV_TRY(ccl_grow(c, labels != NULL));
                        parent = c->parent;
                    }
                    l = (uint32_t)++n;
                    parent[l] = l;
                    if (labels) {
                        c->first[l] = cv_le_load(labels + w * (sxy * z + sx * y + x), w);
                    }
                }
                row[x] = l;
            }
        }
    }
    c->n_prov = n;
    c->slice_prov[sz] = (uint32_t)(n + 1);
    return CV_OK;
}

/* Pass 2: parent[p] becomes p's component number (1-based, first-appearance order). Roots are
 * numbered as they come; a non-root's parent is smaller, so it is already renumbered. With
 * `per_slice`, count each slice's components (connectivity 4: none crosses slices). Returns the
 * number of components. */
static uint64_t ccl_resolve(cpso_ccl *c, uint32_t sz, uint64_t *per_slice)
{
    uint32_t *parent = c->parent;
    uint32_t n_comp = 0;
    for (uint32_t z = 0; z < sz; z++) {
        const uint32_t before = n_comp;
        for (uint32_t p = c->slice_prov[z]; p < c->slice_prov[z + 1]; p++) {
            if (parent[p] == p) {
                if (c->first) {
                    c->first[n_comp] = c->first[p]; /* ids[k-1], k = n_comp+1; n_comp < p */
                }
                parent[p] = ++n_comp;
            } else {
                parent[p] = parent[parent[p]];
            }
        }
        if (per_slice) {
            per_slice[z] = n_comp - before;
        }
    }
    return n_comp;
}

static cv_status ccl_init(cpso_ccl *c, uint32_t sz, bool with_first)
{
    memset(c, 0, sizeof *c);
    c->slice_prov = cv_malloc(((size_t)sz + 1) * sizeof *c->slice_prov);
    if (!c->slice_prov) {
        return CV_FAIL(CV_ERR_NOMEM, CPSO_NAME ": allocate the slice table");
    }
    CV_TRY(ccl_grow(c, with_first));
    c->parent[0] = 0; /* boundary voxels map to component 0 */
    return CV_OK;
}

/* ---- decoder --------------------------------------------------------------------------- */

typedef struct cpso_stream {
    cpso_header h;
    unsigned ww; /* window type bytes */
    unsigned iw; /* z index entry bytes (version 1) */
    const uint8_t *ids, *values, *locations, *windows, *zindex;
    size_t n_windows; /* run-length entries */
    size_t grid[3], n_blocks;
} cpso_stream;

#define POS_FMT "(%zu,%zu,%zu)"

/* Split the stream into its sections; every length is checked against the bytes present. */
static cv_status stream_parse(const cv_chunk_desc *d, unsigned width, const uint8_t *src, size_t n,
                              cpso_stream *s)
{
    cpso_header *h = &s->h;
    CV_TRY(header_read(src, n, h));
    if (h->width != width) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       CPSO_NAME ": stream has %u-byte labels, the volume's %s has %u", h->width,
                       cv_dtype_name(d->dtype), width);
    }
    if (h->size[0] != d->shape[0] || h->size[1] != d->shape[1] || h->size[2] != d->shape[2]) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       CPSO_NAME ": stream is %" PRIu32 "x%" PRIu32 "x%" PRIu32
                                 ", the chunk %ux%ux%u",
                       h->size[0], h->size[1], h->size[2], d->shape[0], d->shape[1], d->shape[2]);
    }
    s->ww = window_width(h->step[0] * h->step[1] * h->step[2]);
    s->iw = index_width(h->size[0], h->size[1]);
    s->n_blocks = 1;
    for (int i = 0; i < 3; i++) {
        s->grid[i] = (h->size[i] + h->step[i] - 1) / h->step[i];
        s->n_blocks *= s->grid[i];
    }
    size_t left = n - CPSO_HEADER_BYTES;
    const uint8_t *p = src + CPSO_HEADER_BYTES;
    const uint64_t tail = h->version == 1 ? 2 * (uint64_t)h->size[2] * s->iw : 0;
    if (h->id_size > left / width) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       CPSO_NAME ": %" PRIu64 " ids of %u bytes run past the end (%zu bytes)",
                       h->id_size, width, n);
    }
    s->ids = p;
    p += h->id_size * width;
    left -= h->id_size * width;
    if (h->value_size > left / s->ww) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       CPSO_NAME ": %" PRIu32 " window values of %u bytes run past the end "
                                 "(%zu bytes)",
                       h->value_size, s->ww, n);
    }
    s->values = p;
    p += (size_t)h->value_size * s->ww;
    left -= (size_t)h->value_size * s->ww;
    if (h->location_size > left / width) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       CPSO_NAME ": %" PRIu64 " locations of %u bytes run past the end (%zu bytes)",
                       h->location_size, width, n);
    }
    s->locations = p;
    p += h->location_size * width;
    left -= h->location_size * width;
    if (tail > left) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       CPSO_NAME ": the %" PRIu64 "-byte z index runs past the end (%zu bytes)",
                       tail, n);
    }
    left -= (size_t)tail;
    if (left % s->ww != 0) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       CPSO_NAME ": %zu bytes of windows are not a whole number of %u-byte entries",
                       left, s->ww);
    }
    s->windows = p;
    s->n_windows = left / s->ww;
    s->zindex = p + left;
    return CV_OK;
}

/* Expand the run-length-coded windows into one window value index per block. */
static cv_status windows_expand(const cpso_stream *s, uint32_t *index)
{
    size_t at = 0;
    for (size_t i = 0; i < s->n_windows; i++) {
        const uint64_t v = cv_le_load(s->windows + i * s->ww, s->ww);
        const uint64_t k = v >> 1;
        if (v & 1) {
            if (k > s->n_blocks - at) {
                return CV_FAIL(CV_ERR_CORRUPT,
                               CPSO_NAME ": window run of %" PRIu64 " at entry %zu overruns the "
                                         "%zu windows",
                               k, i, s->n_blocks);
            }
            memset(index + at, 0, (size_t)k * sizeof *index);
            at += (size_t)k;
            continue;
        }
        if (at == s->n_blocks) {
            return CV_FAIL(CV_ERR_CORRUPT, CPSO_NAME ": window entry %zu is past the %zu windows",
                           i, s->n_blocks);
        }
        if (s->h.value_size && k >= s->h.value_size) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           CPSO_NAME ": window %zu uses value %" PRIu64 " of %" PRIu32, at, k,
                           s->h.value_size);
        }
        index[at++] = (uint32_t)k;
    }
    if (at != s->n_blocks) {
        return CV_FAIL(CV_ERR_CORRUPT, CPSO_NAME ": windows cover %zu of %zu blocks", at,
                       s->n_blocks);
    }
    return CV_OK;
}

/* comp[i] = 1 for non-boundary voxels, 0 for boundary ones (decoder step 2). */
static void boundaries_decode(const cpso_stream *s, const uint32_t *index, uint32_t *comp)
{
    const cpso_header *h = &s->h;
    const size_t sx = h->size[0], sy = h->size[1], sz = h->size[2];
    const unsigned xs = h->step[0], ys = h->step[1], zs = h->step[2];
    if (h->value_size == 0) {
        for (size_t i = 0; i < sx * sy * sz; i++) {
            comp[i] = 1;
        }
        return;
    }
    size_t i = 0;
    for (size_t z = 0; z < sz; z++) {
        for (size_t y = 0; y < sy; y++) {
            const size_t row_block = s->grid[0] * (y / ys + s->grid[1] * (z / zs));
            const unsigned shift = xs * ((unsigned)(y % ys) + ys * (unsigned)(z % zs));
            for (size_t bx = 0; bx < s->grid[0]; bx++) {
                const uint64_t pattern =
                    cv_le_load(s->values + (size_t)index[row_block + bx] * s->ww, s->ww) >> shift;
                const size_t x_end = (bx + 1) * xs < sx ? (bx + 1) * xs : sx;
                for (size_t x = bx * xs, bit = 0; x < x_end; x++, bit++) {
                    comp[i++] = !((pattern >> bit) & 1);
                }
            }
        }
    }
}

/* Steps 3-5: component labels, then boundary voxels from a neighbour or a location entry.
 * `comp` holds provisional labels (0 = boundary) and label[p] the label of p's component.
 * `loc_start[z]` records the first location entry of slice z. Inlined once per label width. */
CPSO_INLINE cv_status labels_decode(const cpso_stream *s, const uint32_t *comp,
                                    const uint64_t *label, uint8_t *out, uint64_t *loc_start,
                                    unsigned w)
{
    const cpso_header *h = &s->h;
    const size_t sx = h->size[0], sy = h->size[1], sz = h->size[2], sxy = sx * sy;
    const bool conn6 = h->connectivity == 6;
    const uint64_t n_loc = h->location_size;
    uint64_t li = 0;
    size_t i = 0;
    for (size_t z = 0; z < sz; z++) {
        loc_start[z] = li;
        for (size_t y = 0; y < sy; y++) {
            for (size_t x = 0; x < sx; x++, i++) {
                const uint32_t c = comp[i];
                if (c) {
                    st_le(out + w * i, label[c], w);
                    continue;
                }
                size_t from; /* the voxel whose label this one copies */
                if (x > 0 && comp[i - 1]) {
                    from = i - 1;
                } else if (y > 0 && comp[i - sx]) {
                    from = i - sx;
                } else if (conn6 && z > 0 && comp[i - sxy]) {
                    from = i - sxy;
                } else {
                    if (li >= n_loc) {
                        return CV_FAIL(CV_ERR_CORRUPT,
                                       CPSO_NAME ": boundary voxel " POS_FMT " needs location "
                                                 "entry %" PRIu64 " of %" PRIu64,
                                       x, y, z, li, n_loc);
                    }
                    const uint64_t e = cv_le_load(s->locations + (size_t)w * li++, w);
                    bool ok;
                    switch (e) {
                    case 0:
                        ok = x > 0;
                        from = i - 1;
                        break;
                    case 1:
                        ok = x + 1 < sx && comp[i + 1];
                        from = i + 1;
                        break;
                    case 2:
                        ok = y > 0;
                        from = i - sx;
                        break;
                    case 3:
                        ok = y + 1 < sy && comp[i + sx];
                        from = i + sx;
                        break;
                    case 4:
                        ok = z > 0;
                        from = i - sxy;
                        break;
                    case 5:
                        ok = z + 1 < sz && comp[i + sxy];
                        from = i + sxy;
                        break;
                    case 6:
                        if (li >= n_loc) {
                            return CV_FAIL(CV_ERR_CORRUPT,
                                           CPSO_NAME ": escape code at " POS_FMT " is the last "
                                                     "location entry",
                                           x, y, z);
                        }
                        memcpy(out + w * i, s->locations + (size_t)w * li++, w);
                        continue;
                    default:
                        st_le(out + w * i, e - 7, w);
                        continue;
                    }
                    if (!ok) {
                        return CV_FAIL(CV_ERR_CORRUPT,
                                       CPSO_NAME ": location code %" PRIu64 " at " POS_FMT
                                                 " points outside the chunk or at an "
                                                 "undecoded boundary voxel",
                                       e, x, y, z);
                    }
                    if (from > i) { /* codes 1, 3, 5: a non-boundary voxel, not yet written */
                        st_le(out + w * i, label[comp[from]], w);
                        continue;
                    }
                }
                memcpy(out + w * i, out + w * from, w);
            }
        }
    }
    if (li != n_loc) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       CPSO_NAME ": %" PRIu64 " of %" PRIu64 " location entries unused", n_loc - li,
                       n_loc);
    }
    return CV_OK;
}

/* The version-1 z index must agree with what the decode found (spec §5.6). */
static cv_status zindex_check(const cpso_stream *s, const uint64_t *per_slice,
                              const uint64_t *loc_start)
{
    const uint32_t sz = s->h.size[2];
    for (uint32_t z = 0; z < sz; z++) {
        const uint64_t n_comp = cv_le_load(s->zindex + (size_t)s->iw * z, s->iw);
        const uint64_t used = cv_le_load(s->zindex + (size_t)s->iw * (sz + z), s->iw);
        const uint64_t want_used = z == 0 ? 0 : loc_start[z] - loc_start[z - 1];
        if (per_slice && n_comp != per_slice[z]) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           CPSO_NAME ": z index gives slice %" PRIu32 " %" PRIu64
                                     " components, it has %" PRIu64,
                           z, n_comp, per_slice[z]);
        }
        if (used != want_used) {
            return CV_FAIL(CV_ERR_CORRUPT,
                           CPSO_NAME ": z index entry %" PRIu32 " is %" PRIu64 ", want %" PRIu64,
                           sz + z, used, want_used);
        }
    }
    return CV_OK;
}

static cv_status compresso_decode(const cv_chunk_desc *d, const uint8_t *src, size_t n, cv_buf *out)
{
    unsigned w;
    CV_TRY(desc_check(d, &w));
    cpso_stream s;
    memset(&s, 0, sizeof s);
    CV_TRY(stream_parse(d, w, src, n, &s));
    const cpso_header *h = &s.h;
    const size_t voxels = (size_t)h->size[0] * h->size[1] * h->size[2];
    if (voxels == 0) {
        return CV_OK;
    }
    if (h->id_size > voxels) {
        return CV_FAIL(CV_ERR_CORRUPT, CPSO_NAME ": %" PRIu64 " ids for a chunk of %zu voxels",
                       h->id_size, voxels);
    }
    CV_TRY(cv__buf_reserve(out, out->len + voxels * w));

    cv_status rc = CV_OK;
    cpso_ccl c;
    uint32_t *index = cv_malloc(s.n_blocks * sizeof *index);
    uint32_t *comp = cv_malloc(voxels * sizeof *comp);
    uint64_t *per_slice = cv_malloc((size_t)h->size[2] * 2 * sizeof *per_slice);
    memset(&c, 0, sizeof c);
    if (!index || !comp || !per_slice) {
        rc = CV_FAIL(CV_ERR_NOMEM, CPSO_NAME ": allocate scratch for %zu voxels", voxels);
    }
    if (rc == CV_OK) {
        rc = ccl_init(&c, h->size[2], false);
    }
    if (rc == CV_OK) {
        rc = windows_expand(&s, index);
    }
    if (rc == CV_OK) {
        boundaries_decode(&s, index, comp);
        rc = ccl_scan(&c, comp, h->size, h->connectivity, NULL, w);
    }
    if (rc == CV_OK) {
        const uint64_t n_comp = ccl_resolve(&c, h->size[2], per_slice);
        if (n_comp != h->id_size) {
            rc = CV_FAIL(CV_ERR_CORRUPT,
                         CPSO_NAME ": boundary map has %" PRIu64 " components, header says %" PRIu64
                                   " ids",
                         n_comp, h->id_size);
        }
    }
    uint64_t *label = NULL;
    if (rc == CV_OK) { /* label[p] for every provisional label p; [0] is unused */
        label = cv_malloc((c.n_prov + 1) * sizeof *label);
        if (!label) {
            rc = CV_FAIL(CV_ERR_NOMEM, CPSO_NAME ": allocate %zu labels", c.n_prov);
        }
    }
    if (rc == CV_OK) {
        label[0] = 0;
        for (size_t p = 1; p <= c.n_prov; p++) {
            label[p] = cv_le_load(s.ids + (size_t)w * (c.parent[p] - 1), w);
        }
    }
    uint8_t *dst = out->data + out->len;
    uint64_t *loc_start = per_slice + h->size[2];
    if (rc == CV_OK) {
        switch (w) {
        case 1:
            rc = labels_decode(&s, comp, label, dst, loc_start, 1);
            break;
        case 2:
            rc = labels_decode(&s, comp, label, dst, loc_start, 2);
            break;
        case 4:
            rc = labels_decode(&s, comp, label, dst, loc_start, 4);
            break;
        default:
            rc = labels_decode(&s, comp, label, dst, loc_start, 8);
            break;
        }
    }
    cv_free(label);
    if (rc == CV_OK && h->version == 1) {
        rc = zindex_check(&s, h->connectivity == 4 ? per_slice : NULL, loc_start);
    }
    if (rc == CV_OK) {
        out->len += voxels * w;
    }
    ccl_fini(&c);
    cv_free(per_slice);
    cv_free(comp);
    cv_free(index);
    return rc;
}

/* ---- encoder --------------------------------------------------------------------------- */

/* comp[i] = 0 if voxel i is a boundary voxel (its +x, else +y, else for connectivity 6 its +z
 * neighbour has another label), else 1. Returns the number of boundary voxels. */
CPSO_INLINE size_t boundaries_find(const uint8_t *labels, const uint32_t size[3],
                                   unsigned connectivity, uint32_t *comp, unsigned w)
{
    const size_t sx = size[0], sy = size[1], sz = size[2], sxy = sx * sy;
    size_t n_boundary = 0, i = 0;
    for (size_t z = 0; z < sz; z++) {
        const bool has_z = connectivity == 6 && z + 1 < sz;
        for (size_t y = 0; y < sy; y++) {
            const bool has_y = y + 1 < sy;
            for (size_t x = 0; x < sx; x++, i++) {
                const uint64_t v = cv_le_load(labels + w * i, w);
                const bool b = (x + 1 < sx && v != cv_le_load(labels + w * (i + 1), w)) ||
                               (has_y && v != cv_le_load(labels + w * (i + sx), w)) ||
                               (has_z && v != cv_le_load(labels + w * (i + sxy), w));
                comp[i] = !b;
                n_boundary += b;
            }
        }
    }
    return n_boundary;
}

/* Location entries for the boundary voxels no neighbour settles (encode_indeterminate_
 * locations). `z_used[z]` gets the entries slice z uses. Returns the number of entries. */
CPSO_INLINE size_t locations_find(const uint8_t *labels, const uint32_t *comp,
                                  const uint32_t size[3], unsigned connectivity, bool z_index,
                                  uint64_t *loc, uint64_t *z_used, unsigned w)
{
    const size_t sx = size[0], sy = size[1], sz = size[2], sxy = sx * sy;
    const bool conn6 = connectivity == 6;
    const uint64_t escape_above = max_of(w) - 7;
    size_t n = 0, i = 0;
    for (size_t z = 0; z < sz; z++) {
        const size_t before = n;
        for (size_t y = 0; y < sy; y++) {
            for (size_t x = 0; x < sx; x++, i++) {
                if (comp[i] || (x > 0 && comp[i - 1]) || (y > 0 && comp[i - sx]) ||
                    (conn6 && z > 0 && comp[i - sxy])) {
                    continue;
                }
                const uint64_t v = cv_le_load(labels + w * i, w);
#define SAME(j) (comp[j] && cv_le_load(labels + w * (j), w) == v)
                if (x > 0 && SAME(i - 1)) {
                    loc[n++] = 0;
                } else if (x + 1 < sx && SAME(i + 1)) {
                    loc[n++] = 1;
                } else if (y > 0 && SAME(i - sx)) {
                    loc[n++] = 2;
                } else if (y + 1 < sy && SAME(i + sx)) {
                    loc[n++] = 3;
                } else if (!z_index && z > 0 && SAME(i - sxy)) {
                    loc[n++] = 4;
                } else if (!z_index && z + 1 < sz && SAME(i + sxy)) {
                    loc[n++] = 5;
                } else if (v > escape_above) {
                    loc[n++] = 6;
                    loc[n++] = v;
                } else {
                    loc[n++] = v + 7;
                }
#undef SAME
            }
        }
        z_used[z] = n - before;
    }
    return n;
}

static int cmp_u64(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Replace each window's bit pattern by its index among the distinct patterns, sorted
 * ascending (unique() + renumber_boundary_data). values[] gets the distinct patterns. */
static cv_status windows_number(uint64_t *win, size_t n_blocks, unsigned ww, uint64_t *values,
                                size_t *n_values)
{
    if (ww <= 2) { /* at most 2^16 patterns: a direct table */
        const size_t span = (size_t)1 << (8 * ww);
        uint32_t *slot = cv_calloc(span, sizeof *slot);
        if (!slot) {
            return CV_FAIL(CV_ERR_NOMEM, CPSO_NAME ": allocate the window table");
        }
        for (size_t i = 0; i < n_blocks; i++) {
            slot[win[i]] = 1;
        }
        size_t nv = 0;
        for (size_t v = 0; v < span; v++) {
            if (slot[v]) {
                values[nv] = v;
                slot[v] = (uint32_t)nv++;
            }
        }
        for (size_t i = 0; i < n_blocks; i++) {
            win[i] = slot[win[i]];
        }
        cv_free(slot);
        *n_values = nv;
        return CV_OK;
    }
    memcpy(values, win, n_blocks * sizeof *values);
    qsort(values, n_blocks, sizeof *values, cmp_u64);
    size_t nv = 0;
    for (size_t i = 0; i < n_blocks; i++) {
        if (nv == 0 || values[nv - 1] != values[i]) {
            values[nv++] = values[i];
        }
    }
    for (size_t i = 0; i < n_blocks; i++) {
        size_t lo = 0, hi = nv;
        while (hi - lo > 1) {
            const size_t mid = lo + (hi - lo) / 2;
            if (values[mid] <= win[i]) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        win[i] = lo;
    }
    *n_values = nv;
    return CV_OK;
}

/* Run-length code window indices in place (run_length_encode_windows); returns the count. */
static size_t windows_rle(uint64_t *win, size_t n_blocks, uint64_t max_run)
{
    size_t n = 0;
    uint64_t run = 0;
    for (size_t i = 0; i < n_blocks; i++) {
        const uint64_t k = win[i];
        if (k == 0) {
            if (++run == max_run) {
                win[n++] = run << 1 | 1;
                run = 0;
            }
            continue;
        }
        if (run) {
            win[n++] = run << 1 | 1;
            run = 0;
        }
        win[n++] = k << 1; /* n <= i: the write never passes the read */
    }
    if (run) {
        win[n++] = run << 1 | 1;
    }
    return n;
}

typedef struct cpso_enc {
    uint32_t *comp;
    uint64_t *win, *values, *loc, *per_slice, *z_used;
    cpso_ccl c;
} cpso_enc;

static void enc_fini(cpso_enc *e)
{
    cv_free(e->comp);
    cv_free(e->win);
    cv_free(e->values);
    cv_free(e->loc);
    cv_free(e->per_slice);
    cv_free(e->z_used);
    ccl_fini(&e->c);
}

/* One attempt with the given steps. CV_ERR_UNSUPPORTED (no message recorded) = "too many
 * window patterns for the window type", which the caller may retry with 8x8x1. */
static cv_status encode_steps(cpso_enc *e, const cpso_header *hin, bool z_index, cv_buf *out)
{
    cpso_header h = *hin;
    const unsigned w = h.width;
    const size_t sx = h.size[0], sy = h.size[1], sz = h.size[2];
    const unsigned ww = window_width(h.step[0] * h.step[1] * h.step[2]);
    size_t grid[3], n_blocks = 1;
    for (int i = 0; i < 3; i++) {
        grid[i] = (h.size[i] + h.step[i] - 1) / h.step[i];
        n_blocks *= grid[i];
    }
    e->win = cv_calloc(n_blocks, sizeof *e->win);
    e->values = cv_malloc(n_blocks * sizeof *e->values);
    if (!e->win || !e->values) {
        return CV_FAIL(CV_ERR_NOMEM, CPSO_NAME ": allocate %zu windows", n_blocks);
    }
    /* Window patterns (encode_boundaries). */
    size_t i = 0;
    for (size_t z = 0; z < sz; z++) {
        for (size_t y = 0; y < sy; y++) {
            uint64_t *row = e->win + grid[0] * (y / h.step[1] + grid[1] * (z / h.step[2]));
            const unsigned shift =
                h.step[0] * ((unsigned)(y % h.step[1]) + h.step[1] * (unsigned)(z % h.step[2]));
            for (size_t x = 0; x < sx; x++, i++) {
                if (!e->comp[i]) {
                    row[x / h.step[0]] |= (uint64_t)1 << (shift + x % h.step[0]);
                }
            }
        }
    }
    size_t n_values = 0;
    CV_TRY(windows_number(e->win, n_blocks, ww, e->values, &n_values));
    const uint64_t max_run = max_of(ww) / 2;
    if (n_values - 1 > max_run) {
        return CV_ERR_UNSUPPORTED;
    }
    const size_t n_rle = windows_rle(e->win, n_blocks, max_run);

    h.version = z_index;
    h.value_size = (uint32_t)n_values;
    const unsigned iw = index_width(h.size[0], h.size[1]);
    const size_t total = CPSO_HEADER_BYTES + (size_t)h.id_size * w + n_values * ww +
                         (size_t)h.location_size * w + n_rle * ww + (z_index ? 2 * sz * iw : 0);
    CV_TRY(cv__buf_reserve(out, out->len + total));
    uint8_t *p = out->data + out->len;
    header_write(&h, p);
    p += CPSO_HEADER_BYTES;
    for (uint64_t k = 0; k < h.id_size; k++, p += w) {
        st_le(p, e->c.first[k], w);
    }
    for (size_t k = 0; k < n_values; k++, p += ww) {
        st_le(p, e->values[k], ww);
    }
    for (uint64_t k = 0; k < h.location_size; k++, p += w) {
        st_le(p, e->loc[k], w);
    }
    for (size_t k = 0; k < n_rle; k++, p += ww) {
        st_le(p, e->win[k], ww);
    }
    if (z_index) {
        for (size_t z = 0; z < sz; z++, p += iw) {
            st_le(p, e->per_slice[z], iw);
        }
        for (size_t z = 0; z < sz; z++, p += iw) {
            st_le(p, z == 0 ? 0 : e->z_used[z - 1], iw);
        }
    }
    out->len += total;
    return CV_OK;
}

cv_status cv__compresso_encode(const cv_chunk_desc *d, const unsigned steps[3],
                               unsigned connectivity, bool z_index, const uint8_t *src, size_t n,
                               cv_buf *out)
{
    unsigned w;
    CV_TRY(desc_check(d, &w));
    const size_t want = cv__chunk_desc_bytes(d);
    if (n != want) {
        return CV_FAIL(CV_ERR_ARG, CPSO_NAME ": chunk buffer has %zu bytes, want %zu", n, want);
    }
    static const unsigned default_steps[3] = {4, 4, 1};
    const unsigned *st = steps ? steps : default_steps;
    const unsigned window_bits = st[0] * st[1] * st[2];
    if (window_bits == 0 || window_bits > 64 || st[0] > 255 || st[1] > 255 || st[2] > 255) {
        return CV_FAIL(CV_ERR_ARG,
                       CPSO_NAME ": window %ux%ux%u is empty or has more than 64 voxels", st[0],
                       st[1], st[2]);
    }
    if (connectivity != 4 && connectivity != 6) {
        return CV_FAIL(CV_ERR_ARG, CPSO_NAME ": connectivity %u is not 4 or 6", connectivity);
    }
    if (connectivity == 6 && z_index) {
        return CV_FAIL(CV_ERR_ARG, CPSO_NAME ": the z index needs connectivity 4");
    }
    cpso_header h = {
        0, w,           {d->shape[0], d->shape[1], d->shape[2]}, {st[0], st[1], st[2]}, 0, 0,
        0, connectivity};
    const size_t sz = d->shape[2];
    const size_t voxels = (size_t)d->shape[0] * d->shape[1] * sz;
    if (voxels == 0) { /* zero_data_stream(): header only, version 0 */
        CV_TRY(cv__buf_reserve(out, out->len + CPSO_HEADER_BYTES));
        header_write(&h, out->data + out->len);
        out->len += CPSO_HEADER_BYTES;
        return CV_OK;
    }
    cpso_enc e;
    memset(&e, 0, sizeof e);
    cv_status rc = CV_OK;
    e.comp = cv_malloc(voxels * sizeof *e.comp);
    e.per_slice = cv_malloc(sz * sizeof *e.per_slice);
    e.z_used = cv_malloc(sz * sizeof *e.z_used);
    if (!e.comp || !e.per_slice || !e.z_used) {
        rc = CV_FAIL(CV_ERR_NOMEM, CPSO_NAME ": allocate scratch for %zu voxels", voxels);
    }
    size_t n_boundary = 0;
    if (rc == CV_OK) {
        switch (w) {
        case 1:
            n_boundary = boundaries_find(src, h.size, connectivity, e.comp, 1);
            break;
        case 2:
            n_boundary = boundaries_find(src, h.size, connectivity, e.comp, 2);
            break;
        case 4:
            n_boundary = boundaries_find(src, h.size, connectivity, e.comp, 4);
            break;
        default:
            n_boundary = boundaries_find(src, h.size, connectivity, e.comp, 8);
            break;
        }
        rc = ccl_init(&e.c, h.size[2], true);
    }
    if (rc == CV_OK) {
        rc = ccl_scan(&e.c, e.comp, h.size, connectivity, src, w);
    }
    if (rc == CV_OK) {
        /* cc3d only counts components per slice for connectivity 4; 6 leaves zeros */
        h.id_size = ccl_resolve(&e.c, h.size[2], e.per_slice);
        if (connectivity == 6) {
            memset(e.per_slice, 0, sz * sizeof *e.per_slice);
        }
        e.loc = cv_malloc((2 * n_boundary + 1) * sizeof *e.loc);
        if (!e.loc) {
            rc = CV_FAIL(CV_ERR_NOMEM, CPSO_NAME ": allocate %zu locations", 2 * n_boundary);
        }
    }
    if (rc == CV_OK) {
        switch (w) {
        case 1:
            h.location_size =
                locations_find(src, e.comp, h.size, connectivity, z_index, e.loc, e.z_used, 1);
            break;
        case 2:
            h.location_size =
                locations_find(src, e.comp, h.size, connectivity, z_index, e.loc, e.z_used, 2);
            break;
        case 4:
            h.location_size =
                locations_find(src, e.comp, h.size, connectivity, z_index, e.loc, e.z_used, 4);
            break;
        default:
            h.location_size =
                locations_find(src, e.comp, h.size, connectivity, z_index, e.loc, e.z_used, 8);
            break;
        }
        rc = encode_steps(&e, &h, z_index, out);
        if (rc == CV_ERR_UNSUPPORTED) {
            if (steps) {
                rc =
                    CV_FAIL(CV_ERR_ARG, CPSO_NAME ": too many distinct %ux%ux%u windows; use 8x8x1",
                            st[0], st[1], st[2]);
            } else { /* compresso.pyx: retry with (8,8,1) unless steps were given */
                cv_free(e.win);
                cv_free(e.values);
                e.win = e.values = NULL;
                h.step[0] = h.step[1] = 8;
                h.step[2] = 1;
                rc = encode_steps(&e, &h, z_index, out);
            }
        }
    }
    enc_fini(&e);
    return rc;
}

static cv_status compresso_encode(const cv_chunk_desc *d, int level, const uint8_t *src, size_t n,
                                  cv_buf *out)
{
    (void)level;
    /* CloudVolume: compresso.compress(img[:,:,:,0]) = steps (4,4,1), connectivity 4, z index */
    return cv__compresso_encode(d, NULL, 4, true, src, n, out);
}

const cv_codec cv_codec_compresso = {
    CPSO_NAME,           /* name */
    0,                   /* flags */
    "image/x.compresso", /* content_type */
    "gzip",              /* default_compress */
    -1,                  /* default_level */
    compresso_decode,    /* decode */
    compresso_encode,    /* encode */
};
