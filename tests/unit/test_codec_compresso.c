/* SPDX-License-Identifier: BSD-3-Clause
 * test_codec_compresso.c: the compresso encoding (precomputed-volume spec §5.6): the spec's
 * streams (test-vectors §6), streams made by upstream seung-lab/compresso's C++ encoder
 * (tests/data/compresso, see its README) decoded exactly and re-encoded byte for byte, round
 * trips over every label type and clipped shapes, and every way a stream can be corrupt. */
#include "testlib.h"

#include "codec/codec.h"

#include <errno.h>

/* ---- label volumes (tests/data/compresso/README.md documents the same generator) ------- */

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t hash4(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    return mix64(seed ^ mix64(a ^ mix64(b ^ mix64(c))));
}

enum { CONST, HALVES, BLOBS, RANDOM, STRIPES, NOISY, NEARMAX, VORONOI };

/* Labels of family `fam` (parameter k, seed) as little-endian `w`-byte integers. */
static void gen_labels(int fam, uint64_t k, uint64_t seed, unsigned w, size_t sx, size_t sy,
                       size_t sz, uint8_t *out)
{
    const uint64_t mask = w == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * w)) - 1;
    size_t i = 0;
    for (size_t z = 0; z < sz; z++) {
        for (size_t y = 0; y < sy; y++) {
            for (size_t x = 0; x < sx; x++, i++) {
                uint64_t v = 0;
                switch (fam) {
                case CONST:
                    v = seed;
                    break;
                case HALVES:
                    v = x < sx / 2 ? 1 : 2;
                    break;
                case BLOBS:
                    v = 1 + hash4(seed, x / 5, y / 4, z / 3) % k;
                    break;
                case RANDOM:
                    v = hash4(seed, x, y, z) % k;
                    break;
                case STRIPES:
                    v = ((x + 2 * y + 3 * z) / 3) % k;
                    break;
                case NOISY:
                    v = hash4(seed + 1, x, y, z) % 16 == 0
                            ? hash4(seed, x, y, z) % k
                            : 1 + hash4(seed, x / 6, y / 6, z / 2) % k;
                    break;
                case NEARMAX:
                    v = mask - hash4(seed, x / 3, y / 2, z) % k;
                    break;
                default: { /* VORONOI: nearest of k seed points */
                    uint64_t best = UINT64_MAX, bi = 0;
                    for (uint64_t p = 0; p < k; p++) {
                        const int64_t dx = (int64_t)x - (int64_t)(hash4(seed, p, 1, 0) % sx);
                        const int64_t dy = (int64_t)y - (int64_t)(hash4(seed, p, 2, 0) % sy);
                        const int64_t dz = (int64_t)z - (int64_t)(hash4(seed, p, 3, 0) % sz);
                        const uint64_t d = (uint64_t)(dx * dx + dy * dy + 4 * dz * dz);
                        if (d < best) {
                            best = d;
                            bi = p;
                        }
                    }
                    v = 1000 + bi * 7919;
                    break;
                }
                }
                v &= mask;
                for (unsigned b = 0; b < w; b++) {
                    out[i * w + b] = (uint8_t)(v >> (8 * b));
                }
            }
        }
    }
}

static cv_dtype dtype_of(unsigned w)
{
    return w == 1 ? CV_UINT8 : w == 2 ? CV_UINT16 : w == 4 ? CV_UINT32 : CV_UINT64;
}

static uint64_t ld_label(const uint8_t *p, unsigned w)
{
    uint64_t v = 0;
    for (unsigned b = 0; b < w; b++) {
        v |= (uint64_t)p[b] << (8 * b);
    }
    return v;
}

static uint8_t *hex_decode(const char *hex, size_t *n)
{
    uint8_t *p = malloc(strlen(hex) / 2 + 1);
    size_t len = 0;
    for (const char *s = hex; s[0] && s[1];) {
        if (s[0] == ' ' || s[0] == '|') {
            s++;
            continue;
        }
        unsigned v;
        sscanf(s, "%2x", &v);
        p[len++] = (uint8_t)v;
        s += 2;
    }
    *n = len;
    return p;
}

/* Decode with the desc; returns the status, output in *out (caller frees). */
static cv_status decode(const cv_chunk_desc *d, const uint8_t *src, size_t n, cv_buf *out)
{
    cv__buf_init(out, cv__chunk_desc_bytes(d));
    return cv_codec_compresso.decode(d, src, n, out);
}

/* ---- registry ---------------------------------------------------------------------------- */

static void registry(void)
{
    ASSERT_TRUE(cv__codec_find("compresso") == &cv_codec_compresso);
    ASSERT_TRUE(cv__codec_find("Compresso") == &cv_codec_compresso);
    ASSERT_STR_EQ(cv_codec_compresso.content_type, "image/x.compresso");
    ASSERT_STR_EQ(cv_codec_compresso.default_compress, "gzip");
    ASSERT_EQ(cv_codec_compresso.flags, 0);
    ASSERT_TRUE(cv_codec_compresso.encode != NULL);
    ASSERT_TRUE(strstr(cv__codec_names(), "compresso") != NULL);
}

/* ---- test-vectors §6 --------------------------------------------------------------------- */

#define SPEC_V0                                                                                    \
    "6370736f 00 04 0400 0400 0100 04 04 01 0200000000000000 01000000 0000000000000000 04 | "      \
    "01000000 02000000 | 2222 | 0300"
#define SPEC_V1                                                                                    \
    "6370736f 01 04 0400 0400 0100 04 04 01 0200000000000000 01000000 0000000000000000 04 | "      \
    "01000000 02000000 | 2222 | 0300 | 0200"
#define SPEC_ALL7                                                                                  \
    "6370736f 01 04 0400 0400 0100 04 04 01 0100000000000000 01000000 0000000000000000 04 | "      \
    "07000000 | 0000 | 0300 | 0100"

static void spec_streams(void)
{
    const cv_chunk_desc d = {CV_UINT32, 1, {4, 4, 1}, {0, 0, 0}, NULL};
    uint32_t halves[16], sevens[16];
    for (int i = 0; i < 16; i++) {
        halves[i] = (i % 4) < 2 ? 1 : 2;
        sevens[i] = 7;
    }
    const struct {
        const char *hex;
        const uint32_t *labels;
        bool z_index;
    } v[] = {{SPEC_V0, halves, false}, {SPEC_V1, halves, true}, {SPEC_ALL7, sevens, true}};
    for (size_t k = 0; k < 3; k++) {
        size_t n;
        uint8_t *s = hex_decode(v[k].hex, &n);
        cv_buf out, enc;
        ASSERT_OK(decode(&d, s, n, &out));
        ASSERT_EQ(out.len, 64);
        ASSERT_MEM_EQ(out.data, v[k].labels, 64);
        cv__buf_init(&enc, 0);
        ASSERT_OK(cv__compresso_encode(&d, NULL, 4, v[k].z_index, (const uint8_t *)v[k].labels, 64,
                                       &enc));
        ASSERT_EQ(enc.len, n);
        ASSERT_MEM_EQ(enc.data, s, n);
        if (v[k].z_index) { /* the codec entry is CloudVolume's default: the same bytes */
            enc.len = 0;
            ASSERT_OK(cv_codec_compresso.encode(&d, -1, (const uint8_t *)v[k].labels, 64, &enc));
            ASSERT_EQ(enc.len, n);
            ASSERT_MEM_EQ(enc.data, s, n);
        }
        cv__buf_fini(&out);
        cv__buf_fini(&enc);
        free(s);
    }
}

/* ---- vectors made by upstream compresso (tests/data/compresso) -------------------------- */

static const struct vec {
    const char *name;
    unsigned w, sx, sy, sz;
    int fam;
    uint64_t k, seed;
    unsigned xs, ys, zs, conn, zi;
} vectors[] = {
    {"u8_37x20x9_noisy50_s441_c4_v1", 1, 37, 20, 9, NOISY, 50, 3, 4, 4, 1, 4, 1},
    {"u8_37x20x9_noisy50_s441_c4_v0", 1, 37, 20, 9, NOISY, 50, 3, 4, 4, 1, 4, 0},
    {"u8_37x20x9_noisy50_s222_c4_v0", 1, 37, 20, 9, NOISY, 50, 3, 2, 2, 2, 4, 0},
    {"u8_37x20x9_noisy50_s442_c4_v1", 1, 37, 20, 9, NOISY, 50, 3, 4, 4, 2, 4, 1},
    {"u8_37x20x9_noisy50_s351_c4_v1", 1, 37, 20, 9, NOISY, 50, 3, 3, 5, 1, 4, 1},
    {"u8_37x20x9_noisy50_s881_c6_v0", 1, 37, 20, 9, NOISY, 50, 3, 8, 8, 1, 6, 0},
    {"u8_37x20x9_nearmax10_s441_c4_v1", 1, 37, 20, 9, NEARMAX, 10, 9, 4, 4, 1, 4, 1},
    {"u8_1x17x2_const1_s222_c4_v0", 1, 1, 17, 2, CONST, 1, 255, 2, 2, 2, 4, 0},
    {"u16_3x32x5_voronoi300_s441_c6_v0", 2, 3, 32, 5, VORONOI, 300, 10, 4, 4, 1, 6, 0},
    {"u16_37x20x9_blobs300_s222_c4_v0", 2, 37, 20, 9, BLOBS, 300, 4, 2, 2, 2, 4, 0},
    {"u16_3x32x5_random2_s441_c4_v1", 2, 3, 32, 5, RANDOM, 2, 5, 4, 4, 1, 4, 1},
    {"u32_3x32x5_nearmax10_s441_c6_v0", 4, 3, 32, 5, NEARMAX, 10, 9, 4, 4, 1, 6, 0},
    {"u32_3x32x5_random300_s441_c4_v1", 4, 3, 32, 5, RANDOM, 300, 6, 4, 4, 1, 4, 1},
    {"u32_37x20x9_halves1_s441_c4_v1", 4, 37, 20, 9, HALVES, 1, 0, 4, 4, 1, 4, 1},
    {"u64_12x10x3_nearmax10_s441_c4_v1", 8, 12, 10, 3, NEARMAX, 10, 9, 4, 4, 1, 4, 1},
    {"u64_37x20x9_blobs2_s441_c4_v1", 8, 37, 20, 9, BLOBS, 2, 3, 4, 4, 1, 4, 1},
    {"u64_3x32x5_stripes9_s441_c4_v1", 8, 3, 32, 5, STRIPES, 9, 7, 4, 4, 1, 4, 1},
    {"u64_1x1x1_const1_s441_c4_v1", 8, 1, 1, 1, CONST, 1, 7, 4, 4, 1, 4, 1},
    {"u64_1x1x1_const1_s351_c4_v1", 8, 1, 1, 1, CONST, 1, UINT64_MAX, 3, 5, 1, 4, 1},
    {"u64_32x13x5_voronoi83_s441_c4_v1", 8, 32, 13, 5, VORONOI, 83, 21, 4, 4, 1, 4, 1},
};
#define N_VECTORS (sizeof vectors / sizeof vectors[0])

/* tests/data/compresso/<name>.cpso, found from this file's path ($CV_TEST_DATA overrides). */
static uint8_t *read_vector(const char *name, size_t *n)
{
    char path[4096];
    const char *env = getenv("CV_TEST_DATA");
    if (env) {
        snprintf(path, sizeof path, "%s/compresso/%s.cpso", env, name);
    } else {
        const char *self = __FILE__; /* .../tests/unit/test_codec_compresso.c */
        const char *end = strrchr(self, '/');
        while (end && end > self && end[-1] != '/') {
            end--;
        }
        const int dir = end ? (int)(end - self) : 0; /* ".../tests/" */
        snprintf(path, sizeof path, "%.*sdata/compresso/%s.cpso", dir, self, name);
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "  open `%s': %s\n", path, strerror(errno));
        return NULL;
    }
    uint8_t *p = malloc(1 << 16);
    *n = fread(p, 1, 1 << 16, f);
    fclose(f);
    return p;
}

static void vec_desc(const struct vec *v, cv_chunk_desc *d)
{
    memset(d, 0, sizeof *d);
    d->dtype = dtype_of(v->w);
    d->channels = 1;
    d->shape[0] = v->sx;
    d->shape[1] = v->sy;
    d->shape[2] = v->sz;
}

static void upstream_vectors(void)
{
    for (size_t i = 0; i < N_VECTORS; i++) {
        const struct vec *v = &vectors[i];
        size_t n = 0;
        uint8_t *s = read_vector(v->name, &n);
        ASSERT_TRUE(s != NULL);
        cv_chunk_desc d;
        vec_desc(v, &d);
        const size_t bytes = cv__chunk_desc_bytes(&d);
        uint8_t *labels = malloc(bytes);
        gen_labels(v->fam, v->k, v->seed, v->w, v->sx, v->sy, v->sz, labels);
        cv_buf out, enc;
        cv_status rc = decode(&d, s, n, &out);
        if (rc != CV_OK) {
            fprintf(stderr, "  vector %s\n", v->name);
        }
        ASSERT_OK(rc);
        ASSERT_EQ(out.len, bytes);
        ASSERT_MEM_EQ(out.data, labels, bytes);
        const unsigned steps[3] = {v->xs, v->ys, v->zs};
        cv__buf_init(&enc, 0);
        ASSERT_OK(cv__compresso_encode(&d, steps, v->conn, v->zi, labels, bytes, &enc));
        ASSERT_EQ(enc.len, n);
        ASSERT_MEM_EQ(enc.data, s, n);
        cv__buf_fini(&out);
        cv__buf_fini(&enc);
        free(labels);
        free(s);
    }
}

/* ---- round trips ------------------------------------------------------------------------- */

/* decode(encode(x)) == x through the codec entry and with the non-default parameters. */
static bool roundtrip_one(const cv_chunk_desc *d, const uint8_t *labels, const unsigned *steps,
                          unsigned conn, bool zi)
{
    const size_t bytes = cv__chunk_desc_bytes(d);
    cv_buf enc, out;
    cv__buf_init(&enc, 0);
    cv_status rc = steps || conn != 4 || !zi
                       ? cv__compresso_encode(d, steps, conn, zi, labels, bytes, &enc)
                       : cv_codec_compresso.encode(d, -1, labels, bytes, &enc);
    bool ok = rc == CV_OK;
    if (ok) {
        rc = decode(d, enc.data, enc.len, &out);
        ok = rc == CV_OK && out.len == bytes && memcmp(out.data, labels, bytes) == 0;
        cv__buf_fini(&out);
    }
    if (!ok) {
        fprintf(stderr, "  round trip %s %ux%ux%u conn %u zi %d: %s %s\n", cv_dtype_name(d->dtype),
                d->shape[0], d->shape[1], d->shape[2], conn, zi, cv_errname(rc),
                cv_err_last()->what);
    }
    cv__buf_fini(&enc);
    return ok;
}

static void roundtrip_all_dtypes(void)
{
    static const uint32_t shapes[][3] = {{37, 20, 9}, {1, 1, 1},  {64, 64, 64}, {4, 4, 1},
                                         {3, 32, 5},  {1, 17, 2}, {17, 1, 3},   {65, 33, 2}};
    /* label counts 1, 2, 300 and 70000 (as many as the type holds) */
    static const struct {
        int fam;
        uint64_t k;
    } fams[] = {{CONST, 1},      {HALVES, 2},    {RANDOM, 2},   {BLOBS, 300},  {NOISY, 300},
                {RANDOM, 70000}, {BLOBS, 70000}, {NEARMAX, 12}, {STRIPES, 300}};
    for (unsigned w = 1; w <= 8; w *= 2) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
                cv_chunk_desc d = {
                    dtype_of(w), 1, {shapes[s][0], shapes[s][1], shapes[s][2]}, {0, 0, 0}, NULL};
                const size_t bytes = cv__chunk_desc_bytes(&d);
                uint8_t *labels = malloc(bytes);
                gen_labels(fams[f].fam, fams[f].k, 100 + f, w, d.shape[0], d.shape[1], d.shape[2],
                           labels);
                bool ok = roundtrip_one(&d, labels, NULL, 4, true);
                free(labels);
                ASSERT_TRUE(ok);
            }
        }
    }
}

static void roundtrip_parameters(void)
{
    static const struct {
        unsigned steps[3], conn;
        bool zi;
    } p[] = {{{4, 4, 1}, 4, false}, {{4, 4, 1}, 6, false}, {{8, 8, 1}, 4, true},
             {{8, 8, 1}, 6, false}, {{2, 2, 2}, 4, false}, {{4, 4, 2}, 4, true},
             {{3, 5, 1}, 4, true},  {{1, 1, 1}, 4, true},  {{4, 4, 4}, 6, false},
             {{7, 3, 3}, 4, false}, {{1, 1, 64}, 4, true}, {{64, 1, 1}, 4, true}};
    for (unsigned w = 1; w <= 8; w *= 2) {
        for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
            cv_chunk_desc d = {dtype_of(w), 1, {37, 20, 9}, {0, 0, 0}, NULL};
            const size_t bytes = cv__chunk_desc_bytes(&d);
            uint8_t *labels = malloc(bytes);
            gen_labels(NOISY, 300, i, w, 37, 20, 9, labels);
            bool ok = roundtrip_one(&d, labels, p[i].steps, p[i].conn, p[i].zi);
            gen_labels(CONST, 1, 5, w, 37, 20, 9, labels);
            ok = ok && roundtrip_one(&d, labels, p[i].steps, p[i].conn, p[i].zi);
            free(labels);
            ASSERT_TRUE(ok);
        }
    }
}

/* Labels whose 4x4 boundary patterns are near random: interior voxels (a coin with 40%)
 * join their +x and +y neighbours in a union-find, each set gets its own label. */
static uint32_t uf_find(uint32_t *p, uint32_t a)
{
    while (p[a] != a) {
        p[a] = p[p[a]];
        a = p[a];
    }
    return a;
}

static void many_windows(uint32_t *labels, uint32_t sx, uint32_t sy)
{
    const size_t v = (size_t)sx * sy;
    uint32_t *p = malloc(v * sizeof *p);
    for (size_t i = 0; i < v; i++) {
        p[i] = (uint32_t)i;
    }
    uint64_t x = 99;
    for (size_t i = 0; i < v; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        if ((x >> 33) % 100 < 40) {
            const size_t n2[2] = {i % sx + 1 < sx ? i + 1 : i, i / sx + 1 < sy ? i + sx : i};
            for (int k = 0; k < 2; k++) {
                uint32_t a = uf_find(p, (uint32_t)i), b = uf_find(p, (uint32_t)n2[k]);
                if (a != b) {
                    p[a < b ? b : a] = a < b ? a : b;
                }
            }
        }
    }
    for (size_t i = 0; i < v; i++) {
        labels[i] = uf_find(p, (uint32_t)i) + 1;
    }
    free(p);
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return h;
}

/* More than 32768 distinct 4x4 patterns: upstream's 4x4x1 encoder throws "Too many windows";
 * compresso.pyx (CloudVolume) then encodes with (8,8,1). Upstream's (8,8,1) stream for this
 * volume is 2988360 bytes with FNV-1a 0x9215a886c69252b3 (tests/data/compresso/README.md). */
static void too_many_windows(void)
{
    const uint32_t sx = 2048, sy = 1024;
    cv_chunk_desc d = {CV_UINT32, 1, {sx, sy, 1}, {0, 0, 0}, NULL};
    const size_t bytes = cv__chunk_desc_bytes(&d);
    uint32_t *labels = malloc(bytes);
    many_windows(labels, sx, sy);
    cv_buf enc, out;
    cv__buf_init(&enc, 0);
    ASSERT_OK(cv_codec_compresso.encode(&d, -1, (const uint8_t *)labels, bytes, &enc));
    ASSERT_EQ(enc.data[12], 8);
    ASSERT_EQ(enc.data[13], 8);
    ASSERT_EQ(enc.data[14], 1);
    ASSERT_EQ(enc.len, 2988360);
    ASSERT_EQ(fnv1a(enc.data, enc.len), 0x9215a886c69252b3ull);
    ASSERT_OK(decode(&d, enc.data, enc.len, &out));
    ASSERT_MEM_EQ(out.data, labels, bytes);
    cv__buf_fini(&out);
    /* steps given explicitly: no fallback, as upstream */
    const unsigned steps[3] = {4, 4, 1};
    enc.len = 0;
    ASSERT_FAILS(cv__compresso_encode(&d, steps, 4, true, (const uint8_t *)labels, bytes, &enc),
                 CV_ERR_ARG, "too many distinct 4x4x1 windows");
    cv__buf_fini(&enc);
    free(labels);
}

/* The ids section against a plain flood fill: boundary voxels by the encoder rule, components
 * of the rest (4: within a slice, 6: in 3-D) numbered by their first voxel in raster order. */
static size_t flood_ids(const uint8_t *labels, unsigned w, const uint32_t s[3], unsigned conn,
                        uint64_t *ids)
{
    const size_t sx = s[0], sy = s[1], sz = s[2], sxy = sx * sy, n = sxy * sz;
    uint8_t *open = malloc(n);
    size_t *stack = malloc(n * sizeof *stack), n_ids = 0;
#define LAB(j) ld_label(labels + (size_t)w * (j), w)
    for (size_t i = 0; i < n; i++) {
        const size_t x = i % sx, y = i / sx % sy, z = i / sxy;
        open[i] = !((x + 1 < sx && LAB(i) != LAB(i + 1)) || (y + 1 < sy && LAB(i) != LAB(i + sx)) ||
                    (conn == 6 && z + 1 < sz && LAB(i) != LAB(i + sxy)));
    }
    for (size_t i = 0; i < n; i++) {
        if (!open[i]) {
            continue;
        }
        ids[n_ids++] = LAB(i);
        size_t top = 0;
        stack[top++] = i;
        open[i] = 0;
        while (top) {
            const size_t j = stack[--top], x = j % sx, y = j / sx % sy, z = j / sxy;
            const size_t nb[6] = {x > 0 ? j - 1 : j,
                                  x + 1 < sx ? j + 1 : j,
                                  y > 0 ? j - sx : j,
                                  y + 1 < sy ? j + sx : j,
                                  conn == 6 && z > 0 ? j - sxy : j,
                                  conn == 6 && z + 1 < sz ? j + sxy : j};
            for (int k = 0; k < 6; k++) {
                if (open[nb[k]]) {
                    open[nb[k]] = 0;
                    stack[top++] = nb[k];
                }
            }
        }
    }
#undef LAB
    free(stack);
    free(open);
    return n_ids;
}

static void components_flood_fill(void)
{
    static const uint32_t shapes[][3] = {{37, 20, 9}, {16, 16, 16}, {1, 30, 7}, {30, 1, 7}};
    for (unsigned conn = 4; conn <= 6; conn += 2) {
        for (size_t sh = 0; sh < 4; sh++) {
            for (uint64_t k = 2; k <= 5; k += 3) {
                cv_chunk_desc d = {
                    CV_UINT16, 1, {shapes[sh][0], shapes[sh][1], shapes[sh][2]}, {0, 0, 0}, NULL};
                const size_t bytes = cv__chunk_desc_bytes(&d), voxels = bytes / 2;
                uint8_t *labels = malloc(bytes);
                uint64_t *ids = malloc(voxels * sizeof *ids);
                gen_labels(RANDOM, k, sh * 10 + k, 2, d.shape[0], d.shape[1], d.shape[2], labels);
                const size_t n_ids = flood_ids(labels, 2, d.shape, conn, ids);
                cv_buf enc;
                cv__buf_init(&enc, 0);
                ASSERT_OK(cv__compresso_encode(&d, NULL, conn, conn == 4, labels, bytes, &enc));
                ASSERT_EQ(ld_label(enc.data + 15, 8), n_ids);
                for (size_t i = 0; i < n_ids; i++) {
                    ASSERT_EQ(ld_label(enc.data + 36 + 2 * i, 2), ids[i]);
                }
                cv__buf_fini(&enc);
                free(ids);
                free(labels);
            }
        }
    }
}

/* ---- argument errors --------------------------------------------------------------------- */

static void encode_arguments(void)
{
    uint8_t buf[64] = {0};
    cv_buf enc;
    cv__buf_init(&enc, 0);
    cv_chunk_desc d = {CV_INT32, 1, {4, 4, 1}, {0, 0, 0}, NULL};
    ASSERT_FAILS(cv_codec_compresso.encode(&d, -1, buf, 64, &enc), CV_ERR_ARG,
                 "data type int32 is not uint8");
    d.dtype = CV_FLOAT32;
    ASSERT_FAILS(cv_codec_compresso.decode(&d, buf, 64, &enc), CV_ERR_ARG, "float32");
    d.dtype = CV_UINT8;
    d.channels = 2;
    ASSERT_FAILS(cv_codec_compresso.encode(&d, -1, buf, 32, &enc), CV_ERR_ARG, "2 channels");
    d.channels = 1;
    ASSERT_FAILS(cv_codec_compresso.encode(&d, -1, buf, 15, &enc), CV_ERR_ARG,
                 "has 15 bytes, want 16");
    d.shape[0] = 65536;
    ASSERT_FAILS(cv_codec_compresso.encode(&d, -1, buf, 16, &enc), CV_ERR_ARG, "above 65535");
    d.shape[0] = 4;
    const unsigned zero[3] = {4, 0, 1}, big[3] = {8, 8, 2};
    ASSERT_FAILS(cv__compresso_encode(&d, zero, 4, true, buf, 16, &enc), CV_ERR_ARG, "window");
    ASSERT_FAILS(cv__compresso_encode(&d, big, 4, true, buf, 16, &enc), CV_ERR_ARG, "more than 64");
    ASSERT_FAILS(cv__compresso_encode(&d, NULL, 6, true, buf, 16, &enc), CV_ERR_ARG,
                 "z index needs connectivity 4");
    ASSERT_FAILS(cv__compresso_encode(&d, NULL, 8, false, buf, 16, &enc), CV_ERR_ARG,
                 "connectivity 8");
    ASSERT_EQ(enc.len, 0);
    cv__buf_fini(&enc);
}

/* ---- corrupt streams --------------------------------------------------------------------- */

static void st_u64(uint8_t *p, uint64_t v, unsigned w)
{
    for (unsigned i = 0; i < w; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Decode `hex` patched at `at` with the `w`-byte value `v`, expecting CORRUPT and `needle`. */
static void expect_corrupt(const cv_chunk_desc *d, const char *hex, size_t at, uint64_t v,
                           unsigned w, const char *needle)
{
    size_t n;
    uint8_t *s = hex_decode(hex, &n);
    if (w) {
        st_u64(s + at, v, w);
    }
    cv_buf out;
    cv__buf_init(&out, cv__chunk_desc_bytes(d));
    ASSERT_FAILS(cv_codec_compresso.decode(d, s, n, &out), CV_ERR_CORRUPT, needle);
    ASSERT_EQ(out.len, 0);
    cv__buf_fini(&out);
    free(s);
}

static void corrupt_header(void)
{
    const cv_chunk_desc d = {CV_UINT32, 1, {4, 4, 1}, {0, 0, 0}, NULL};
    expect_corrupt(&d, "6370736f0104", 0, 0, 0, "truncated header (6 of 36 bytes)");
    expect_corrupt(&d, SPEC_V1, 0, 0x4f535043, 4, "bad magic 43 50 53 4f");
    expect_corrupt(&d, SPEC_V1, 4, 2, 1, "format version 2");
    expect_corrupt(&d, SPEC_V1, 5, 3, 1, "data width 3");
    expect_corrupt(&d, SPEC_V1, 5, 8, 1, "8-byte labels");
    expect_corrupt(&d, SPEC_V1, 6, 5, 2, "stream is 5x4x1, the chunk 4x4x1");
    expect_corrupt(&d, SPEC_V1, 10, 2, 2, "stream is 4x4x2");
    expect_corrupt(&d, SPEC_V1, 12, 0, 1, "window 0x4x1");
    expect_corrupt(&d, SPEC_V1, 14, 5, 1, "more than 64 voxels");
    expect_corrupt(&d, SPEC_V1, 35, 8, 1, "connectivity 8");
}

static void corrupt_sections(void)
{
    const cv_chunk_desc d = {CV_UINT32, 1, {4, 4, 1}, {0, 0, 0}, NULL};
    /* section sizes that run past the end */
    expect_corrupt(&d, SPEC_V1, 15, UINT64_MAX, 8, "ids of 4 bytes run past the end");
    expect_corrupt(&d, SPEC_V1, 15, 4, 8, "ids of 4 bytes run past the end");
    expect_corrupt(&d, SPEC_V1, 23, 4, 4, "window values of 2 bytes run past the end");
    expect_corrupt(&d, SPEC_V1, 27, UINT64_MAX / 2, 8, "locations of 4 bytes run past");
    expect_corrupt(&d, SPEC_V1, 27, 2, 8, "locations of 4 bytes run past");
    expect_corrupt(&d, SPEC_V1, 27, 1, 8, "the 2-byte z index runs past the end");
    expect_corrupt(&d, SPEC_V0 "00", 0, 0, 0, "not a whole number of 2-byte entries");
    /* v1 tail: the 2-byte z index would eat the windows */
    expect_corrupt(&d, SPEC_V0, 4, 1, 1, "windows cover 0 of 1 blocks");
    /* windows: overrun, underrun, entry past the end, index past the values */
    expect_corrupt(&d, SPEC_V1, 46, 0x0005, 2, "window run of 2 at entry 0 overruns");
    expect_corrupt(&d, SPEC_V0 "0300", 0, 0, 0, "window run of 1 at entry 1 overruns");
    expect_corrupt(&d, SPEC_V0 "0000", 0, 0, 0, "window entry 1 is past the 1 windows");
    expect_corrupt(&d, SPEC_V1, 46, 0x0001, 2, "windows cover 0 of 1 blocks");
    expect_corrupt(&d, SPEC_V1, 46, 0x0002, 2, "window 0 uses value 1 of 1");
    /* component count disagrees with id_size */
    expect_corrupt(&d,
                   "6370736f 01 04 0400 0400 0100 04 04 01 0100000000000000 01000000 "
                   "0000000000000000 04 | 01000000 | 2222 | 0300 | 0200",
                   0, 0, 0, "2 components, header says 1 ids");
    /* z index disagrees */
    expect_corrupt(&d, SPEC_V1, 48, 3, 1, "z index gives slice 0 3 components, it has 2");
    expect_corrupt(&d, SPEC_V1, 49, 1, 1, "z index entry 1 is 1, want 0");
    /* a boundary pattern with a bit everywhere needs locations the stream lacks */
    expect_corrupt(&d,
                   "6370736f 01 04 0400 0400 0100 04 04 01 0000000000000000 01000000 "
                   "0000000000000000 04 | ffff | 0300 | 0000",
                   0, 0, 0, "boundary voxel (0,0,0) needs location entry 0 of 0");
}

/* Location codes on a 4x1x1 uint8 chunk whose voxels are all boundary (pattern 0xf): no
 * components, every voxel takes location entries. location_size = the entries given. */
static void location_codes(void)
{
    const cv_chunk_desc d = {CV_UINT8, 1, {4, 1, 1}, {0, 0, 0}, NULL};
    static const struct {
        const char *locs;
        const char *needle; /* NULL: decodes to `want` */
        uint8_t want[4];
    } t[] = {
        {"08 00 00 00", NULL, {1, 1, 1, 1}},        /* literal 1, then "copy -x" */
        {"06 fe 00 0a 00", NULL, {254, 254, 3, 3}}, /* escape, -x, literal 3, -x */
        {"06 ff 00 00", "boundary voxel (3,0,0) needs location entry 4 of 4", {0}},
        {"08 08 08", "boundary voxel (3,0,0) needs location entry 3 of 3", {0}},
        {"08 00 00 00 00", "1 of 5 location entries unused", {0}},
        {"00 08 08 08", "location code 0 at (0,0,0) points outside", {0}},
        {"01 08 08 08", "code 1 at (0,0,0) points outside the chunk or at an undecoded", {0}},
        {"02 08 08 08", "location code 2 at (0,0,0)", {0}},
        {"09 03 08 08", "location code 3 at (1,0,0)", {0}},
        {"09 04 08 08", "location code 4 at (1,0,0)", {0}},
        {"09 05 08 08", "location code 5 at (1,0,0)", {0}},
        {"09 08 08 06", "escape code at (3,0,0) is the last location entry", {0}},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char hex[512];
        /* v0, 1-byte labels, 4x1x1, steps 4x4x1, 0 ids, 1 value, N locations, conn 4 */
        snprintf(hex, sizeof hex,
                 "6370736f 00 01 0400 0100 0100 04 04 01 0000000000000000 01000000 "
                 "0000000000000000 04 | 0f00 | %s | 0000",
                 t[i].locs);
        size_t n;
        uint8_t *s = hex_decode(hex, &n);
        st_u64(s + 27, (n - 36 - 2 - 2), 8);
        cv_buf out;
        cv__buf_init(&out, 4);
        if (t[i].needle) {
            ASSERT_FAILS(cv_codec_compresso.decode(&d, s, n, &out), CV_ERR_CORRUPT, t[i].needle);
        } else {
            ASSERT_OK(cv_codec_compresso.decode(&d, s, n, &out));
            ASSERT_EQ(out.len, 4);
            ASSERT_MEM_EQ(out.data, t[i].want, 4);
        }
        cv__buf_fini(&out);
        free(s);
    }
}

/* Codes 1/3/5 read a forward non-boundary voxel; codes 0/2/4 an earlier one. 2x2x2, uint16,
 * v0, conn 4, steps 2x2x2 (uint8 windows). Boundary everywhere but (1,0,1) and (1,1,1),
 * which form one component with label 9. */
static void location_codes_forward(void)
{
    const cv_chunk_desc d = {CV_UINT16, 1, {2, 2, 2}, {0, 0, 0}, NULL};
    /* bit x + 2y + 4z set = boundary; clear bits 5 (1,0,1) and 7 (1,1,1): 0x5f */
    const char *hex = "6370736f 00 02 0200 0200 0200 02 02 02 0100000000000000 01000000 "
                      "0600000000000000 04 | 0900 | 5f | 0c00 0500 0400 0400 0100 0300 | 03";
    /* (0,0,0)=label 5 (12-7); (1,0,0): code 5 -> (1,0,1) = 9; (0,1,0): code 4? z=0: invalid */
    size_t n;
    uint8_t *s = hex_decode(hex, &n);
    cv_buf out;
    cv__buf_init(&out, 16);
    ASSERT_FAILS(cv_codec_compresso.decode(&d, s, n, &out), CV_ERR_CORRUPT,
                 "location code 4 at (0,1,0)");
    /* fix: (0,1,0) code 2 -> (0,0,0) = 5; (1,1,0) code 5 -> 9; (0,0,1) code 4 -> 5;
     * (0,1,1) code 1 -> (1,1,1) = 9 (skip rule does not apply: (0,0,1) is boundary) */
    const uint8_t fixed[] = {0x0c, 0, 5, 0, 2, 0, 5, 0, 4, 0, 1, 0};
    memcpy(s + 36 + 2 + 1, fixed, sizeof fixed);
    out.len = 0;
    cv_err_clear();
    ASSERT_OK(cv_codec_compresso.decode(&d, s, n, &out));
    const uint16_t want[8] = {5, 9, 5, 9, 5, 9, 9, 9};
    ASSERT_EQ(out.len, 16);
    ASSERT_MEM_EQ(out.data, want, 16);
    cv__buf_fini(&out);
    free(s);
}

/* value_size 0: no boundary at all; the run-length windows must still cover the grid. */
static void no_window_values(void)
{
    const cv_chunk_desc d = {CV_UINT8, 1, {5, 2, 1}, {0, 0, 0}, NULL};
    const char *hex = "6370736f 00 01 0500 0200 0100 04 04 01 0100000000000000 00000000 "
                      "0000000000000000 04 | 2a | 0200 0400";
    size_t n;
    uint8_t *s = hex_decode(hex, &n);
    cv_buf out;
    cv__buf_init(&out, 10);
    ASSERT_OK(cv_codec_compresso.decode(&d, s, n, &out));
    ASSERT_EQ(out.len, 10);
    for (size_t i = 0; i < 10; i++) {
        ASSERT_EQ(out.data[i], 42);
    }
    cv__buf_fini(&out);
    free(s);
}

/* Every prefix of every vector, and single-byte changes all over them, either decode or fail
 * with CV_ERR_CORRUPT (ASan/UBSan builds check the "never crash" half). */
static void truncations_and_flips(void)
{
    for (size_t i = 0; i < N_VECTORS; i++) {
        size_t n = 0;
        uint8_t *s = read_vector(vectors[i].name, &n);
        ASSERT_TRUE(s != NULL);
        cv_chunk_desc d;
        vec_desc(&vectors[i], &d);
        const size_t bytes = cv__chunk_desc_bytes(&d);
        for (size_t len = 0; len < n; len++) {
            uint8_t *cut = malloc(len ? len : 1); /* exact size: ASan sees any over-read */
            memcpy(cut, s, len);
            cv_buf out;
            cv__buf_init(&out, bytes);
            cv_err_clear();
            const cv_status rc = cv_codec_compresso.decode(&d, cut, len, &out);
            cv__buf_fini(&out);
            free(cut);
            ASSERT_EQ(rc, CV_ERR_CORRUPT);
        }
        uint8_t *m = malloc(n);
        uint64_t x = i + 1;
        for (int round = 0; round < 600; round++) {
            memcpy(m, s, n);
            x = mix64(x);
            m[x % n] ^= (uint8_t)(1u << ((x >> 32) % 8));
            if (round % 3 == 0) {
                x = mix64(x);
                m[x % n] = (uint8_t)(x >> 40);
            }
            cv_buf out;
            cv__buf_init(&out, bytes);
            cv_err_clear();
            const cv_status rc = cv_codec_compresso.decode(&d, m, n, &out);
            ASSERT_TRUE(rc == CV_OK || rc == CV_ERR_CORRUPT);
            ASSERT_TRUE(rc != CV_OK || out.len == bytes);
            cv__buf_fini(&out);
        }
        free(m);
        free(s);
    }
}

static void output_cap_and_append(void)
{
    const cv_chunk_desc d = {CV_UINT32, 1, {4, 4, 1}, {0, 0, 0}, NULL};
    size_t n;
    uint8_t *s = hex_decode(SPEC_V1, &n);
    cv_buf out;
    cv__buf_init(&out, 63);
    ASSERT_FAILS(cv_codec_compresso.decode(&d, s, n, &out), CV_ERR_CORRUPT, "larger than");
    cv__buf_fini(&out);
    /* decode appends after what is already in the buffer */
    cv__buf_init(&out, 0);
    ASSERT_OK(cv__buf_append(&out, "abc", 3));
    ASSERT_OK(cv_codec_compresso.decode(&d, s, n, &out));
    ASSERT_EQ(out.len, 67);
    ASSERT_MEM_EQ(out.data, "abc", 3);
    ASSERT_EQ(out.data[3], 1);
    ASSERT_EQ(out.data[3 + 4 * 2], 2);
    cv__buf_fini(&out);
    free(s);
}

TEST_MAIN(registry, spec_streams, upstream_vectors, roundtrip_all_dtypes, roundtrip_parameters,
          too_many_windows, components_flood_fill, encode_arguments, corrupt_header,
          corrupt_sections, location_codes, location_codes_forward, no_window_values,
          truncations_and_flips, output_cap_and_append)
