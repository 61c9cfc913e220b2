/* SPDX-License-Identifier: BSD-3-Clause
 * test_codec_crackle.c: the crackle encoding (precomputed-volume spec §5.7). Decoding: the
 * worked example of test-vectors §11, the CRC check values, streams from a small test-only
 * encoder written from the spec (single-crack chains, both crack formats, versions 0 and 1,
 * every label type), streams made by upstream crackle (tests/data/crackle), and corrupt,
 * truncated and unsupported streams. Encoding: the bytes of upstream's encoder for every
 * stream of tests/data/crackle and the spec example, round trips through the decoder (every
 * CRC checked) over many shapes, label types and label patterns, and refused chunks. */
#include "testlib.h"

#include "codec/codec.h"

/* ---- the spec's checksums, written independently of the codec -------------------------------- */

static uint8_t t_crc8(const uint8_t *p, size_t n)
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

static uint32_t t_crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
    }
    return ~c;
}

/* ---- a test-only encoder --------------------------------------------------------------------- */

static void put(cv_buf *b, uint64_t v, unsigned w)
{
    uint8_t t[8];
    for (unsigned i = 0; i < w; i++) {
        t[i] = (uint8_t)(v >> (8 * i));
    }
    if (cv__buf_append(b, t, w) != CV_OK) {
        abort();
    }
}

static unsigned t_width(uint64_t n)
{
    return n <= 0xFF ? 1 : n <= 0xFFFF ? 2 : n <= 0xFFFFFFFFu ? 4 : 8;
}

static int cmp_u64(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t get_label(const uint8_t *raw, unsigned w, size_t i)
{
    uint64_t v = 0;
    for (unsigned b = 0; b < w; b++) {
        v |= (uint64_t)raw[i * w + b] << (8 * b);
    }
    return v;
}

static size_t uf_find(size_t *par, size_t i)
{
    while (par[i] != i) {
        par[i] = par[par[i]];
        i = par[i];
    }
    return i;
}

typedef struct t_moves {
    uint8_t *bytes;
    size_t nslots;
    unsigned prev;
} t_moves;

static void emit(t_moves *m, unsigned move)
{
    const unsigned v = (move - m->prev) & 3;
    m->prev = move;
    m->bytes[m->nslots / 4] = (uint8_t)(m->bytes[m->nslots / 4] | v << (2 * (m->nslots % 4)));
    m->nslots++;
}

/* Encode raw ([x,y,z], w-byte labels) as crackle: one chain per vertex that starts a crack
 * down and/or right, stored labels `sw` bytes wide (0 = the narrowest that fits). */
static void t_encode(const uint8_t *raw, unsigned w, unsigned sw, uint32_t sx, uint32_t sy,
                     uint32_t sz, bool permissible, unsigned version, cv_buf *out)
{
    const size_t np = (size_t)sx * sy, nv = np * sz;
    uint64_t *uniq = malloc((nv + 1) * sizeof *uniq);
    size_t nu = 0;
    for (size_t i = 0; i < nv; i++) {
        uniq[i] = get_label(raw, w, i);
    }
    qsort(uniq, nv, sizeof *uniq, cmp_u64);
    for (size_t i = 0; i < nv; i++) {
        if (nu == 0 || uniq[nu - 1] != uniq[i]) {
            uniq[nu++] = uniq[i];
        }
    }
    if (sw == 0) {
        sw = nu ? t_width(uniq[nu - 1]) : 1;
    }
    const unsigned cw = t_width(np), iw = t_width(nu);
    const unsigned xw = t_width((uint64_t)sx + 1), yw = t_width((uint64_t)sy + 1);
    cv_buf labels, codes, index, scrc;
    cv__buf_init(&labels, 0);
    cv__buf_init(&codes, 0);
    cv__buf_init(&index, 0);
    cv__buf_init(&scrc, 0);
    put(&labels, nu, 8);
    for (size_t i = 0; i < nu; i++) {
        put(&labels, uniq[i], sw);
    }
    size_t *par = malloc((np + 1) * sizeof *par);
    uint32_t *cid = malloc((np + 1) * sizeof *cid);
    size_t *root_id = malloc((np + 1) * sizeof *root_id);
    cv_buf c2l;
    cv__buf_init(&c2l, 0);
    for (uint32_t z = 0; z < sz; z++) {
        const uint8_t *sl = raw + (size_t)z * np * w;
        /* components: union-find over equal 4-neighbours */
        for (size_t i = 0; i < np; i++) {
            par[i] = i;
            root_id[i] = SIZE_MAX;
        }
        for (uint32_t y = 0; y < sy; y++) {
            for (uint32_t x = 0; x < sx; x++) {
                const size_t i = (size_t)y * sx + x;
                if (x + 1 < sx && get_label(sl, w, i) == get_label(sl, w, i + 1)) {
                    par[uf_find(par, i)] = uf_find(par, i + 1);
                }
                if (y + 1 < sy && get_label(sl, w, i) == get_label(sl, w, i + sx)) {
                    par[uf_find(par, i)] = uf_find(par, i + sx);
                }
            }
        }
        uint32_t ncomp = 0;
        for (size_t i = 0; i < np; i++) {
            const size_t r = uf_find(par, i);
            if (root_id[r] == SIZE_MAX) {
                root_id[r] = ncomp++;
                const uint64_t v = get_label(sl, w, i);
                const uint64_t *hit = bsearch(&v, uniq, nu, sizeof v, cmp_u64);
                put(&c2l, (uint64_t)(hit - uniq), iw);
            }
            cid[i] = (uint32_t)root_id[r];
        }
        put(&labels, ncomp, cw); /* the counts; c2l follows them */
        uint8_t *cb = malloc(np * 4 + 1);
        for (size_t i = 0; i < np; i++) {
            for (int b = 0; b < 4; b++) {
                cb[4 * i + (size_t)b] = (uint8_t)(cid[i] >> (8 * b));
            }
        }
        put(&scrc, t_crc32c(cb, np * 4), 4);
        free(cb);
        /* crack code */
        cv_buf boc;
        cv__buf_init(&boc, 0);
        t_moves mv = {calloc(((size_t)sx + 1) * ((size_t)sy + 1) * 2 + 1, 1), 0, 0};
        size_t num_y = 0;
        cv_buf groups;
        cv__buf_init(&groups, 0);
        uint64_t last_y = 0;
        for (uint32_t y = 0; y <= sy; y++) {
            uint64_t last_x = 0, num_x = 0;
            cv_buf xs;
            cv__buf_init(&xs, 0);
            for (uint32_t x = 0; x <= sx; x++) {
                bool down = false, right = false;
                if (x > 0 && x < sx && y < sy) {
                    const size_t i = (size_t)y * sx + x;
                    down = (get_label(sl, w, i - 1) == get_label(sl, w, i)) == permissible;
                }
                if (y > 0 && y < sy && x < sx) {
                    const size_t i = (size_t)y * sx + x;
                    right = (get_label(sl, w, i - sx) == get_label(sl, w, i)) == permissible;
                }
                if (!down && !right) {
                    continue;
                }
                put(&xs, num_x ? x - last_x : x, xw);
                last_x = x;
                num_x++;
                if (down && right) { /* branch, right, terminate, down, terminate */
                    static const unsigned s[] = {0, 2, 1, 2, 0, 2, 2, 0};
                    for (size_t k = 0; k < 8; k++) {
                        emit(&mv, s[k]);
                    }
                } else { /* the crack, then down-up = terminate */
                    emit(&mv, down ? 2 : 1);
                    emit(&mv, 2);
                    emit(&mv, 0);
                }
            }
            if (num_x) {
                put(&groups, num_y ? y - last_y : y, yw);
                put(&groups, num_x, xw);
                cv__buf_append(&groups, xs.data, xs.len);
                last_y = y;
                num_y++;
            }
            cv__buf_fini(&xs);
        }
        put(&boc, num_y, yw);
        cv__buf_append(&boc, groups.data, groups.len);
        const size_t mbytes = (mv.nslots + 3) / 4;
        put(&index, 4 + boc.len + mbytes, 4);
        put(&codes, boc.len, 4);
        cv__buf_append(&codes, boc.data, boc.len);
        cv__buf_append(&codes, mv.bytes, mbytes);
        free(mv.bytes);
        cv__buf_fini(&groups);
        cv__buf_fini(&boc);
    }
    cv__buf_append(&labels, c2l.data, c2l.len);
    /* header */
    unsigned lw = 0, ls = 0;
    while ((1u << lw) < w) {
        lw++;
    }
    while ((1u << ls) < sw) {
        ls++;
    }
    const unsigned fmt = lw | ls << 2 | (permissible ? 16u : 0u);
    cv__buf_init(out, 0);
    cv__buf_append(out, "crkl", 4);
    put(out, version, 1);
    put(out, fmt, 2);
    put(out, sx, 4);
    put(out, sy, 4);
    put(out, sz, 4);
    put(out, 31, 1);
    put(out, labels.len, version ? 8 : 4);
    if (version) {
        put(out, t_crc8(out->data + 5, 23), 1);
    }
    cv__buf_append(out, index.data, index.len);
    if (version) {
        put(out, t_crc32c(index.data, index.len), 4);
    }
    cv__buf_append(out, labels.data, labels.len);
    cv__buf_append(out, codes.data, codes.len);
    if (version) {
        put(out, t_crc32c(labels.data, labels.len), 4);
        cv__buf_append(out, scrc.data, scrc.len);
    }
    cv__buf_fini(&labels);
    cv__buf_fini(&codes);
    cv__buf_fini(&index);
    cv__buf_fini(&scrc);
    cv__buf_fini(&c2l);
    free(par);
    free(cid);
    free(root_id);
    free(uniq);
}

/* ---- helpers --------------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Labels of family fam: 0 constant, 1 halves, 2 blobs, 3 random of k, 4 near the maximum. */
static void gen(int fam, uint64_t k, unsigned w, uint32_t sx, uint32_t sy, uint32_t sz,
                uint8_t *out)
{
    const uint64_t mask = w == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * w)) - 1;
    size_t i = 0;
    for (uint32_t z = 0; z < sz; z++) {
        for (uint32_t y = 0; y < sy; y++) {
            for (uint32_t x = 0; x < sx; x++, i++) {
                uint64_t v;
                switch (fam) {
                case 0:
                    v = 7;
                    break;
                case 1:
                    v = x < sx / 2 ? 1 : 2;
                    break;
                case 2:
                    v = 1 + mix64(k ^ mix64((x / 3) ^ mix64((y / 2) ^ mix64(z)))) % k;
                    break;
                case 3:
                    v = mix64(k ^ mix64(x ^ mix64(y ^ mix64(z + 99)))) % k;
                    break;
                default:
                    v = mask - mix64(x / 2 + 1000 * (y / 3) + z) % k;
                    break;
                }
                v &= mask;
                for (unsigned b = 0; b < w; b++) {
                    out[i * w + b] = (uint8_t)(v >> (8 * b));
                }
            }
        }
    }
}

static const cv_dtype label_types[4] = {CV_UINT8, CV_UINT16, CV_UINT32, CV_UINT64};

static cv_chunk_desc desc(cv_dtype t, uint32_t sx, uint32_t sy, uint32_t sz)
{
    cv_chunk_desc d;
    memset(&d, 0, sizeof d);
    d.dtype = t;
    d.channels = 1;
    d.shape[0] = sx;
    d.shape[1] = sy;
    d.shape[2] = sz;
    return d;
}

/* Rewrite a version-1 header's CRC-8 after changing it. */
static void fix_crc8(uint8_t *s)
{
    s[28] = t_crc8(s + 5, 23);
}

/* ---- tests ----------------------------------------------------------------------------------- */

static const uint8_t spec11[71] = {
    0x63, 0x72, 0x6b, 0x6c, 0x01, 0x82, 0x00, 0x04, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x1f, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5a, /* hdr */
    0x0b, 0x00, 0x00, 0x00, 0x18, 0xa1, 0x01, 0xdc,                                     /* idx */
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x03, 0x00, 0x01, 0x02,
    0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x02, 0x92, 0x90, 0x82, /* crack code */
    0x55, 0x8e, 0x9a, 0x90, 0xfa, 0xa9, 0x0b, 0xe5,                   /* tail */
};

static void registry(void)
{
    const cv_codec *c = cv__codec_find("crackle");
    ASSERT_TRUE(c == &cv_codec_crackle);
    ASSERT_TRUE(c->decode != NULL && c->encode != NULL);
    ASSERT_STR_EQ(c->content_type, "image/x.crackle");
    ASSERT_STR_EQ(c->default_compress, "gzip");
    ASSERT_TRUE(strstr(cv__codec_names(), "crackle") != NULL);
}

static void check_values(void)
{
    ASSERT_EQ(t_crc8((const uint8_t *)"123456789", 9), 0x51);
    ASSERT_EQ(t_crc32c((const uint8_t *)"123456789", 9), 0xE3069283u);
    /* the spec example's CRCs, with this file's routines */
    ASSERT_EQ(t_crc8(spec11 + 5, 23), 0x5a);
    ASSERT_EQ(t_crc32c(spec11 + 29, 4), 0xdc01a118u);
    ASSERT_EQ(t_crc32c(spec11 + 37, 15), 0x909a8e55u);
}

static void spec_example(void)
{
    cv_chunk_desc d = desc(CV_UINT32, 4, 4, 1);
    cv_buf out;
    cv__buf_init(&out, 64);
    ASSERT_OK(cv_codec_crackle.decode(&d, spec11, sizeof spec11, &out));
    ASSERT_EQ(out.len, 64);
    static const uint32_t want[16] = {1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 3, 3, 1, 1, 3, 3};
    for (int i = 0; i < 16; i++) {
        uint32_t v;
        memcpy(&v, out.data + 4 * i, 4);
        ASSERT_EQ(v, want[i]);
    }
    cv__buf_fini(&out);
    /* appended after what the buffer held; one byte less of room is refused */
    cv__buf_init(&out, 0);
    ASSERT_OK(cv__buf_append(&out, "abc", 3));
    ASSERT_OK(cv_codec_crackle.decode(&d, spec11, sizeof spec11, &out));
    ASSERT_EQ(out.len, 67);
    ASSERT_MEM_EQ(out.data, "abc", 3);
    ASSERT_EQ(out.data[3], 1);
    cv__buf_fini(&out);
    cv__buf_init(&out, 63);
    ASSERT_FAILS(cv_codec_crackle.decode(&d, spec11, sizeof spec11, &out), CV_ERR_CORRUPT,
                 "larger than");
    ASSERT_EQ(out.len, 0);
    cv__buf_fini(&out);
    /* the desc must match the stream */
    cv__buf_init(&out, 0);
    cv_chunk_desc bad = desc(CV_UINT64, 4, 4, 1);
    ASSERT_FAILS(cv_codec_crackle.decode(&bad, spec11, sizeof spec11, &out), CV_ERR_CORRUPT,
                 "4-byte labels");
    bad = desc(CV_UINT32, 4, 4, 2);
    ASSERT_FAILS(cv_codec_crackle.decode(&bad, spec11, sizeof spec11, &out), CV_ERR_CORRUPT,
                 "stream is 4x4x1");
    bad = desc(CV_FLOAT32, 4, 4, 1);
    ASSERT_FAILS(cv_codec_crackle.decode(&bad, spec11, sizeof spec11, &out), CV_ERR_ARG,
                 "data type");
    bad = desc(CV_UINT32, 4, 4, 1);
    bad.channels = 2;
    ASSERT_FAILS(cv_codec_crackle.decode(&bad, spec11, sizeof spec11, &out), CV_ERR_ARG,
                 "channels");
    ASSERT_EQ(out.len, 0);
    cv__buf_fini(&out);
}

/* Encode with t_encode, decode, compare. */
static int roundtrip_one(const uint8_t *raw, cv_dtype t, unsigned sw, uint32_t sx, uint32_t sy,
                         uint32_t sz, bool perm, unsigned version)
{
    const unsigned w = (unsigned)cv_dtype_size(t);
    cv_buf enc, out;
    t_encode(raw, w, sw, sx, sy, sz, perm, version, &enc);
    cv_chunk_desc d = desc(t, sx, sy, sz);
    const size_t want = (size_t)sx * sy * sz * w;
    cv__buf_init(&out, want);
    const cv_status rc = cv_codec_crackle.decode(&d, enc.data, enc.len, &out);
    const int ok = rc == CV_OK && out.len == want && memcmp(out.data, raw, want) == 0;
    if (!ok) {
        fprintf(stderr, "  roundtrip %ux%ux%u %s sw=%u perm=%d v%u: %s\n", sx, sy, sz,
                cv_dtype_name(t), sw, perm, version, cv_errname(rc));
    }
    cv__buf_fini(&out);
    cv__buf_fini(&enc);
    return ok;
}

static void roundtrip(void)
{
    static const uint32_t shapes[][3] = {{1, 1, 1},  {4, 4, 1},   {2, 2, 2}, {13, 7, 3},
                                         {3, 32, 2}, {32, 13, 2}, {1, 9, 4}, {17, 1, 2}};
    for (int ti = 0; ti < 4; ti++) {
        const unsigned w = (unsigned)cv_dtype_size(label_types[ti]);
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const uint32_t *s = shapes[si];
            const size_t nv = (size_t)s[0] * s[1] * s[2];
            uint8_t *raw = malloc(nv * w);
            ASSERT_TRUE(raw != NULL);
            for (int fam = 0; fam < 5; fam++) {
                const uint64_t k = fam == 3 ? 3 + si : 5 + 40 * si;
                gen(fam, k, w, s[0], s[1], s[2], raw);
                for (int perm = 0; perm < 2; perm++) {
                    for (unsigned v = 0; v < 2; v++) {
                        if (!roundtrip_one(raw, label_types[ti], 0, s[0], s[1], s[2], perm, v)) {
                            free(raw);
                            TL_FAIL_HERE("family %d", fam);
                        }
                    }
                }
                /* stored labels as wide as the data */
                if (!roundtrip_one(raw, label_types[ti], w, s[0], s[1], s[2], true, 1)) {
                    free(raw);
                    TL_FAIL_HERE("full stored width, family %d", fam);
                }
            }
            free(raw);
        }
    }
}

/* Slices without cracks are numbered without labelling: every pixel apart (permissible: no
 * joins) or all one (impermissible: no cuts), between slices with cracks; their component
 * counts and CRCs are still checked. 408-pixel slices: CRCs over three interleaved streams. */
static void crackless_slices(void)
{
    const uint32_t sx = 24, sy = 17, sz = 5;
    const size_t np = (size_t)sx * sy;
    for (int ti = 0; ti < 4; ti++) {
        const unsigned w = (unsigned)cv_dtype_size(label_types[ti]);
        uint8_t *raw = malloc(np * sz * w);
        ASSERT_TRUE(raw != NULL);
        size_t i = 0;
        for (uint32_t z = 0; z < sz; z++) {
            for (uint32_t y = 0; y < sy; y++) {
                for (uint32_t x = 0; x < sx; x++, i++) {
                    /* apart: left and upper neighbours differ by 1 and 2 mod 5 */
                    const uint64_t v = z % 3 == 0   ? 10 + (x + 2 * y) % 5
                                       : z % 3 == 1 ? 3
                                                    : 20 + x / 5 + 7 * (y / 4);
                    for (unsigned b = 0; b < w; b++) {
                        raw[i * w + b] = (uint8_t)(v >> (8 * b));
                    }
                }
            }
        }
        for (int perm = 0; perm < 2; perm++) {
            for (unsigned v = 0; v < 2; v++) {
                if (!roundtrip_one(raw, label_types[ti], 0, sx, sy, sz, perm, v)) {
                    free(raw);
                    TL_FAIL_HERE("%s perm=%d v%u", cv_dtype_name(label_types[ti]), perm, v);
                }
            }
        }
        cv_chunk_desc d = desc(label_types[ti], sx, sy, sz);
        cv_buf enc, out;
        cv__buf_init(&out, np * sz * w);
        /* a changed CRC of a crackless slice: 3 apart (permissible), 4 all one */
        for (int perm = 0; perm < 2; perm++) {
            t_encode(raw, w, 0, sx, sy, sz, perm, 1, &enc);
            enc.data[enc.len - 4 * (size_t)(perm ? 2 : 1)] ^= 0x40;
            ASSERT_FAILS(cv_codec_crackle.decode(&d, enc.data, enc.len, &out), CV_ERR_CORRUPT,
                         perm ? "crackle: slice 3 CRC32C does not match"
                              : "crackle: slice 4 CRC32C does not match");
            ASSERT_EQ(out.len, 0);
            cv__buf_fini(&enc);
        }
        /* version 0 (no CRCs) with the component counts of slices 0 and 2 swapped */
        for (int perm = 0; perm < 2; perm++) {
            t_encode(raw, w, 0, sx, sy, sz, perm, 0, &enc);
            const unsigned sw = 1u << ((enc.data[5] >> 2) & 3);
            uint64_t nu = 0;
            for (int b = 0; b < 8; b++) {
                nu |= (uint64_t)enc.data[24 + 4 * sz + b] << (8 * b);
            }
            uint8_t *counts = enc.data + 24 + 4 * sz + 8 + nu * sw; /* 2 bytes each */
            const uint8_t c0[2] = {counts[0], counts[1]};
            const unsigned n0 = c0[0] | (unsigned)c0[1] << 8;
            const unsigned n2 = counts[4] | (unsigned)counts[5] << 8;
            ASSERT_EQ(n0, (unsigned)np);
            ASSERT_EQ(n2, 25u); /* 5 x 5 boxes */
            counts[0] = counts[4];
            counts[1] = counts[5];
            counts[4] = c0[0];
            counts[5] = c0[1];
            char want[96];
            snprintf(want, sizeof want, "crackle: slice 0 has %u components, the labels say %u", n0,
                     n2);
            ASSERT_FAILS(cv_codec_crackle.decode(&d, enc.data, enc.len, &out), CV_ERR_CORRUPT,
                         want);
            ASSERT_EQ(out.len, 0);
            cv__buf_fini(&enc);
        }
        cv__buf_fini(&out);
        free(raw);
    }
}

/* ---- streams made by upstream crackle (tests/data/crackle, see its README) ------------------- */

static const struct {
    const char *name;
    cv_dtype t;
    uint32_t sx, sy, sz;
} upstream[] = {
    {"blobs_u32_13x7x3", CV_UINT32, 13, 7, 3},    {"random_u32_9x8x2", CV_UINT32, 9, 8, 2},
    {"random_u16_32x13x2", CV_UINT16, 32, 13, 2}, {"rings_u64_20x17x2", CV_UINT64, 20, 17, 2},
    {"rings_u8_16x16x1", CV_UINT8, 16, 16, 1},    {"nearmax_u64_6x9x2", CV_UINT64, 6, 9, 2},
    {"uniform_u32_5x4x2", CV_UINT32, 5, 4, 2},
};

/* tests/data/crackle/<name><ext>, found from this file's path ($CV_TEST_DATA overrides). */
static uint8_t *read_data(const char *name, const char *ext, size_t *n)
{
    char path[4096];
    const char *env = getenv("CV_TEST_DATA");
    if (env) {
        snprintf(path, sizeof path, "%s/crackle/%s%s", env, name, ext);
    } else {
        const char *self = __FILE__; /* .../tests/unit/test_codec_crackle.c */
        const char *end = strrchr(self, '/');
        while (end && end > self && end[-1] != '/') {
            end--;
        }
        const int dir = end ? (int)(end - self) : 0; /* ".../tests/" */
        snprintf(path, sizeof path, "%.*sdata/crackle/%s%s", dir, self, name, ext);
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "  open `%s' failed\n", path);
        return NULL;
    }
    uint8_t *p = malloc(1 << 16);
    *n = p ? fread(p, 1, 1 << 16, f) : 0;
    fclose(f);
    return p;
}

static void upstream_streams(void)
{
    for (size_t i = 0; i < sizeof upstream / sizeof upstream[0]; i++) {
        size_t ns = 0, nr = 0;
        uint8_t *s = read_data(upstream[i].name, ".crkl", &ns);
        uint8_t *raw = read_data(upstream[i].name, ".raw", &nr);
        cv_chunk_desc d = desc(upstream[i].t, upstream[i].sx, upstream[i].sy, upstream[i].sz);
        cv_buf out;
        cv__buf_init(&out, cv__chunk_desc_bytes(&d));
        const cv_status rc = s && raw ? cv_codec_crackle.decode(&d, s, ns, &out) : CV_ERR_IO;
        const bool ok = rc == CV_OK && nr == cv__chunk_desc_bytes(&d) && out.len == nr &&
                        memcmp(out.data, raw, nr) == 0;
        /* the test encoder's stream for the same labels decodes the same */
        const bool ok2 = raw && nr == cv__chunk_desc_bytes(&d) &&
                         roundtrip_one(raw, upstream[i].t, 0, upstream[i].sx, upstream[i].sy,
                                       upstream[i].sz, true, 1);
        cv__buf_fini(&out);
        free(s);
        free(raw);
        if (!ok || !ok2) {
            TL_FAIL_HERE("%s: %s", upstream[i].name, cv_errname(rc));
        }
    }
}

static void many_labels(void)
{
    /* 300 unique labels: 2-byte component -> label indices; 40x40 slices: 2-byte counts */
    const uint32_t sx = 40, sy = 40, sz = 2;
    uint8_t *raw = malloc((size_t)sx * sy * sz * 4);
    ASSERT_TRUE(raw != NULL);
    for (size_t i = 0; i < (size_t)sx * sy * sz; i++) {
        const uint32_t v = 100000u + (uint32_t)(mix64(i / 5) % 300);
        memcpy(raw + 4 * i, &v, 4);
    }
    const int ok = roundtrip_one(raw, CV_UINT32, 0, sx, sy, sz, false, 1) &&
                   roundtrip_one(raw, CV_UINT32, 0, sx, sy, sz, true, 0);
    free(raw);
    ASSERT_TRUE(ok);
}

/* Every single-byte change of a valid stream decodes to the same labels or fails cleanly;
 * every strict prefix and one extra byte fail. */
static void corrupt_streams(void)
{
    const uint32_t sx = 6, sy = 5, sz = 3;
    uint8_t raw[6 * 5 * 3 * 2];
    gen(2, 4, 2, sx, sy, sz, raw);
    for (unsigned v = 0; v < 2; v++) {
        cv_buf enc, out;
        t_encode(raw, 2, 0, sx, sy, sz, v == 1, v, &enc);
        cv_chunk_desc d = desc(CV_UINT16, sx, sy, sz);
        uint8_t *m = malloc(enc.len + 1);
        ASSERT_TRUE(m != NULL);
        for (size_t i = 0; i < enc.len; i++) {
            for (int f = 0; f < 3; f++) {
                memcpy(m, enc.data, enc.len);
                m[i] = (uint8_t)(f == 0 ? m[i] ^ 1 : f == 1 ? m[i] ^ 0x80 : 0xFF);
                if (m[i] == enc.data[i]) {
                    continue;
                }
                cv__buf_init(&out, sizeof raw);
                const cv_status rc = cv_codec_crackle.decode(&d, m, enc.len, &out);
                /* version 0 has no CRCs: a changed label decodes to other labels */
                const bool fine = rc == CV_ERR_CORRUPT || rc == CV_ERR_UNSUPPORTED ||
                                  (rc == CV_OK && out.len == sizeof raw &&
                                   (v == 0 || memcmp(out.data, raw, sizeof raw) == 0));
                const size_t len = out.len;
                cv__buf_fini(&out);
                if (!fine || (rc != CV_OK && len != 0)) {
                    free(m);
                    cv__buf_fini(&enc);
                    TL_FAIL_HERE("v%u byte %zu change %d: %s", v, i, f, cv_errname(rc));
                }
            }
        }
        for (size_t cut = 0; cut <= enc.len; cut++) {
            memcpy(m, enc.data, enc.len);
            m[enc.len] = 0;
            const size_t len = cut == enc.len ? enc.len + 1 : cut;
            cv__buf_init(&out, sizeof raw);
            const cv_status rc = cv_codec_crackle.decode(&d, m, len, &out);
            cv__buf_fini(&out);
            if (rc != CV_ERR_CORRUPT) {
                free(m);
                cv__buf_fini(&enc);
                TL_FAIL_HERE("v%u length %zu of %zu: %s", v, len, enc.len, cv_errname(rc));
            }
        }
        free(m);
        cv__buf_fini(&enc);
    }
}

static void unsupported(void)
{
    uint8_t s[sizeof spec11];
    cv_chunk_desc d = desc(CV_UINT32, 4, 4, 1);
    cv_buf out;
    cv__buf_init(&out, 0);
    static const struct {
        unsigned fmt;
        cv_status rc;
        const char *needle;
    } t[] = {
        {0x0082 | 1u << 5, CV_ERR_UNSUPPORTED, "pin"},
        {0x0082 | 2u << 5, CV_ERR_UNSUPPORTED, "pin"},
        {0x0082 | 3u << 5, CV_ERR_CORRUPT, "label format 3"},
        {0x0082 | 1u << 9, CV_ERR_UNSUPPORTED, "Markov"},
        {0x0082 | 1u << 8, CV_ERR_UNSUPPORTED, "signed"},
        {0x0082 | 1u << 14, CV_ERR_CORRUPT, "reserved"},
        {0x0082 | 3u << 2, CV_ERR_CORRUPT, "wider"},
        {0x0082 | 1u << 13, CV_OK, NULL}, /* unsorted: decodes the same */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        memcpy(s, spec11, sizeof s);
        s[5] = (uint8_t)t[i].fmt;
        s[6] = (uint8_t)(t[i].fmt >> 8);
        fix_crc8(s);
        if (t[i].rc == CV_OK) {
            ASSERT_OK(cv_codec_crackle.decode(&d, s, sizeof s, &out));
            ASSERT_EQ(out.len, 64);
            out.len = 0;
        } else {
            ASSERT_FAILS(cv_codec_crackle.decode(&d, s, sizeof s, &out), t[i].rc, t[i].needle);
        }
    }
    memcpy(s, spec11, sizeof s);
    s[19] = 30;
    fix_crc8(s);
    ASSERT_FAILS(cv_codec_crackle.decode(&d, s, sizeof s, &out), CV_ERR_UNSUPPORTED, "grid");
    memcpy(s, spec11, sizeof s);
    s[4] = 2;
    ASSERT_FAILS(cv_codec_crackle.decode(&d, s, sizeof s, &out), CV_ERR_UNSUPPORTED, "version 2");
    memcpy(s, spec11, sizeof s);
    s[0] = 'C';
    ASSERT_FAILS(cv_codec_crackle.decode(&d, s, sizeof s, &out), CV_ERR_CORRUPT, "magic");
    memcpy(s, spec11, sizeof s);
    s[28] ^= 1;
    ASSERT_FAILS(cv_codec_crackle.decode(&d, s, sizeof s, &out), CV_ERR_CORRUPT, "CRC-8");
    memcpy(s, spec11, sizeof s);
    s[33] ^= 1;
    ASSERT_FAILS(cv_codec_crackle.decode(&d, s, sizeof s, &out), CV_ERR_CORRUPT, "index CRC32C");
    memcpy(s, spec11, sizeof s);
    s[63] ^= 1;
    ASSERT_FAILS(cv_codec_crackle.decode(&d, s, sizeof s, &out), CV_ERR_CORRUPT, "labels CRC32C");
    memcpy(s, spec11, sizeof s);
    s[70] ^= 1;
    ASSERT_FAILS(cv_codec_crackle.decode(&d, s, sizeof s, &out), CV_ERR_CORRUPT, "slice 0 CRC32C");
    /* a chain that walks off the grid: first move up from (2,0) */
    memcpy(s, spec11, sizeof s);
    s[60] = 0x90; /* 2-bit values 0 0 1 2: up first */
    ASSERT_FAILS(cv_codec_crackle.decode(&d, s, sizeof s, &out), CV_ERR_CORRUPT, "leaves");
    ASSERT_EQ(out.len, 0);
    cv__buf_fini(&out);
}

/* Hand-made version-0 streams: a uniform slice (num_y = 0) and a 2x2 checkerboard. */
static void version0(void)
{
    static const uint8_t uni0[] = {
        'c', 'r', 'k', 'l', 0, 0x00, 0x00, 2,  0,  0, 0, 2,
        0,   0,   0,   1,   0, 0,    0,    31, 11, 0, 0, 0, /* 11 label bytes */
        5,   0,   0,   0,                                   /* index */
        1,   0,   0,   0,   0, 0,    0,    0,  9,  1, 0,    /* 1 unique (9), 1 component, -> 0 */
        1,   0,   0,   0,   0,                              /* crack code: boc_len 1, num_y 0 */
    };
    cv_chunk_desc d = desc(CV_UINT8, 2, 2, 1);
    cv_buf out;
    cv__buf_init(&out, 4);
    ASSERT_OK(cv_codec_crackle.decode(&d, uni0, sizeof uni0, &out));
    ASSERT_MEM_EQ(out.data, "\x09\x09\x09\x09", 4);
    cv__buf_fini(&out);
    /* checkerboard 1 2 / 2 1, permissible with no cracks: 4 components */
    static const uint8_t chk[] = {
        'c', 'r', 'k', 'l', 0, 0x10, 0x00, 2,  0,  0, 0, 2,
        0,   0,   0,   1,   0, 0,    0,    31, 15, 0, 0, 0, /* label bytes */
        5,   0,   0,   0,                                   /* index */
        2,   0,   0,   0,   0, 0,    0,    0,  1,  2, 4,    /* 2 unique, 4 components */
        0,   1,   1,   0,                                   /* component -> label */
        1,   0,   0,   0,   0,                              /* no chains */
    };
    cv__buf_init(&out, 4);
    ASSERT_OK(cv_codec_crackle.decode(&d, chk, sizeof chk, &out));
    ASSERT_MEM_EQ(out.data, "\x01\x02\x02\x01", 4);
    cv__buf_fini(&out);
    /* the same with the impermissible bit: 1 component, count says 4 */
    uint8_t bad[sizeof chk];
    memcpy(bad, chk, sizeof chk);
    bad[5] = 0;
    cv__buf_init(&out, 4);
    ASSERT_FAILS(cv_codec_crackle.decode(&d, bad, sizeof bad, &out), CV_ERR_CORRUPT,
                 "1 components");
    cv__buf_fini(&out);
}

/* ---- the encoder ---------------------------------------------------------------------------- */

/* Bytes from upstream crackle's encoder (0.43.0 plus 2 commits, 1023643), compiled from its
 * headers: crackle::compress<T>(labels, sx, sy, sz, allow_pins=false, fortran_order=false,
 * markov_model_order=0), labels as tests/data/crackle/README.md's second table says. They are
 * what the codec entry writes for CloudVolume. */
static const struct {
    const char *name;
    cv_dtype t;
    uint32_t sx, sy, sz;
} upstream_cv[] = {
    {"voronoi_u64_40x33x3", CV_UINT64, 40, 33, 3}, {"noise_u8_17x5x4", CV_UINT8, 17, 5, 4},
    {"zeros_u16_7x1x3", CV_UINT16, 7, 1, 3},       {"one_u32_1x1x1", CV_UINT32, 1, 1, 1},
    {"column_u8_1x30x2", CV_UINT8, 1, 30, 2},      {"labels256_u16_16x16x2", CV_UINT16, 16, 16, 2},
    {"wide_u32_300x3x2", CV_UINT32, 300, 3, 2},    {"tall_u8_3x300x1", CV_UINT8, 3, 300, 1},
    {"checker_u32_9x9x2", CV_UINT32, 9, 9, 2},     {"blocks_u16_24x24x4", CV_UINT16, 24, 24, 4},
    {"tee_u8_6x3x2", CV_UINT8, 6, 3, 2},
};

/* Encode name.raw (codec entry when !fortran, else with bit 7) and compare with name.crkl. */
static bool encodes_as_upstream(const char *name, cv_dtype t, uint32_t sx, uint32_t sy, uint32_t sz,
                                bool fortran)
{
    size_t ns = 0, nr = 0;
    uint8_t *s = read_data(name, ".crkl", &ns);
    uint8_t *raw = read_data(name, ".raw", &nr);
    cv_chunk_desc d = desc(t, sx, sy, sz);
    cv_buf enc;
    cv__buf_init(&enc, 0);
    cv_status rc = CV_ERR_IO;
    if (s && raw) {
        rc = fortran ? cv__crackle_encode(&d, true, raw, nr, &enc)
                     : cv_codec_crackle.encode(&d, -1, raw, nr, &enc);
    }
    const bool same = rc == CV_OK && enc.len == ns && memcmp(enc.data, s, ns) == 0;
    if (!same) {
        size_t at = 0;
        while (rc == CV_OK && at < enc.len && at < ns && enc.data[at] == s[at]) {
            at++;
        }
        fprintf(stderr, "  %s: %s, %zu bytes (upstream %zu), first difference at %zu\n", name,
                cv_errname(rc), enc.len, ns, at);
    }
    cv__buf_fini(&enc);
    free(s);
    free(raw);
    return same;
}

static void encode_upstream_streams(void)
{
    for (size_t i = 0; i < sizeof upstream_cv / sizeof upstream_cv[0]; i++) {
        if (!encodes_as_upstream(upstream_cv[i].name, upstream_cv[i].t, upstream_cv[i].sx,
                                 upstream_cv[i].sy, upstream_cv[i].sz, false)) {
            TL_FAIL_HERE("%s", upstream_cv[i].name);
        }
    }
    for (size_t i = 0; i < sizeof upstream / sizeof upstream[0]; i++) {
        if (!encodes_as_upstream(upstream[i].name, upstream[i].t, upstream[i].sx, upstream[i].sy,
                                 upstream[i].sz, true)) {
            TL_FAIL_HERE("%s (Fortran order bit)", upstream[i].name);
        }
    }
    /* the spec's worked example (made with the Fortran order bit) */
    static const uint32_t labels[16] = {1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 3, 3, 1, 1, 3, 3};
    cv_chunk_desc d = desc(CV_UINT32, 4, 4, 1);
    cv_buf enc;
    cv__buf_init(&enc, 0);
    ASSERT_OK(cv__crackle_encode(&d, true, (const uint8_t *)labels, sizeof labels, &enc));
    ASSERT_EQ(enc.len, sizeof spec11);
    ASSERT_MEM_EQ(enc.data, spec11, sizeof spec11);
    cv__buf_fini(&enc);
    /* without the bit: bytes 5 (format field) and 28 (header CRC-8) change, nothing else */
    cv__buf_init(&enc, 0);
    ASSERT_OK(cv_codec_crackle.encode(&d, -1, (const uint8_t *)labels, sizeof labels, &enc));
    ASSERT_EQ(enc.len, sizeof spec11);
    ASSERT_EQ(enc.data[5], 0x02);
    ASSERT_EQ(enc.data[28], t_crc8(enc.data + 5, 23));
    ASSERT_MEM_EQ(enc.data, spec11, 5);
    ASSERT_MEM_EQ(enc.data + 6, spec11 + 6, 22);
    ASSERT_MEM_EQ(enc.data + 29, spec11 + 29, sizeof spec11 - 29);
    cv__buf_fini(&enc);
}

/* Encode with the codec, check the header, decode (every CRC checked), compare. */
static bool encoder_roundtrip_one(const uint8_t *raw, cv_dtype t, uint32_t sx, uint32_t sy,
                                  uint32_t sz)
{
    const unsigned w = (unsigned)cv_dtype_size(t);
    const size_t want = (size_t)sx * sy * sz * w;
    cv_chunk_desc d = desc(t, sx, sy, sz);
    cv_buf enc, out;
    cv__buf_init(&enc, 0);
    cv_status rc = cv__buf_append(&enc, "xy", 2); /* appended after what the buffer held */
    if (rc == CV_OK) {
        rc = cv_codec_crackle.encode(&d, -1, raw, want, &enc);
    }
    const uint8_t *s = enc.data + 2;
    const size_t n = enc.len - 2;
    bool ok = rc == CV_OK && memcmp(enc.data, "xy", 2) == 0 && n >= 29 &&
              memcmp(s, "crkl\x01", 5) == 0 && (s[5] & 0x80) == 0 && s[6] == 0 && s[19] == 31 &&
              s[28] == t_crc8(s + 5, 23) && (1u << (s[5] & 3)) == w;
    if (ok) {
        cv__buf_init(&out, want);
        rc = cv_codec_crackle.decode(&d, s, n, &out);
        ok = rc == CV_OK && out.len == want && memcmp(out.data, raw, want) == 0;
        cv__buf_fini(&out);
    }
    if (!ok) {
        fprintf(stderr, "  encoder roundtrip %ux%ux%u %s: %s\n", sx, sy, sz, cv_dtype_name(t),
                cv_errname(rc));
    }
    cv__buf_fini(&enc);
    return ok;
}

static void encoder_roundtrip(void)
{
    static const uint32_t shapes[][3] = {
        {1, 1, 1},  {1, 1, 7},   {1, 5, 1},   {6, 1, 1},   {2, 2, 2},  {13, 7, 3},
        {3, 32, 2}, {32, 13, 2}, {64, 3, 1},  {1, 9, 4},   {17, 1, 2}, {40, 40, 3},
        {9, 70, 2}, {257, 2, 1}, {2, 257, 1}, {33, 31, 5},
    };
    for (int ti = 0; ti < 4; ti++) {
        const unsigned w = (unsigned)cv_dtype_size(label_types[ti]);
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const uint32_t *sh = shapes[si];
            const size_t nv = (size_t)sh[0] * sh[1] * sh[2];
            uint8_t *raw = malloc(nv * w);
            ASSERT_TRUE(raw != NULL);
            for (int fam = 0; fam < 5; fam++) {
                for (uint64_t k = 1; k <= 300; k = k * 3 + 1) { /* 1 4 13 40 121 */
                    gen(fam, k + (fam == 3 ? si : 0), w, sh[0], sh[1], sh[2], raw);
                    if (!encoder_roundtrip_one(raw, label_types[ti], sh[0], sh[1], sh[2])) {
                        free(raw);
                        TL_FAIL_HERE("family %d, k %" PRIu64, fam, k);
                    }
                }
            }
            /* all zero, and every voxel its own label (permissible, no chains) */
            memset(raw, 0, nv * w);
            bool ok = encoder_roundtrip_one(raw, label_types[ti], sh[0], sh[1], sh[2]);
            for (size_t i = 0; i < nv; i++) {
                for (unsigned b = 0; b < w; b++) {
                    raw[i * w + b] = (uint8_t)(i >> (8 * b));
                }
            }
            ok = ok && encoder_roundtrip_one(raw, label_types[ti], sh[0], sh[1], sh[2]);
            free(raw);
            if (!ok) {
                TL_FAIL_HERE("zeros or distinct labels");
            }
        }
    }
}

/* The decoder checks the CRCs of the encoder's streams: a changed slice CRC, label byte or
 * crack code byte is refused. */
static void encoder_crcs(void)
{
    const uint32_t sx = 12, sy = 9, sz = 3;
    uint8_t raw[12 * 9 * 3 * 4];
    gen(2, 5, 4, sx, sy, sz, raw);
    cv_chunk_desc d = desc(CV_UINT32, sx, sy, sz);
    cv_buf enc, out;
    cv__buf_init(&enc, 0);
    ASSERT_OK(cv_codec_crackle.encode(&d, -1, raw, sizeof raw, &enc));
    const size_t nlb = (size_t)enc.data[20] | (size_t)enc.data[21] << 8;
    const size_t labels = 29 + 4 * sz + 4;
    cv__buf_init(&out, sizeof raw);
    ASSERT_OK(cv_codec_crackle.decode(&d, enc.data, enc.len, &out));
    ASSERT_MEM_EQ(out.data, raw, sizeof raw);
    cv__buf_fini(&out);
    enc.data[enc.len - 1] ^= 0x10; /* slice 2's CRC */
    cv__buf_init(&out, sizeof raw);
    ASSERT_FAILS(cv_codec_crackle.decode(&d, enc.data, enc.len, &out), CV_ERR_CORRUPT,
                 "slice 2 CRC32C");
    enc.data[enc.len - 1] ^= 0x10;
    enc.data[labels + 8] ^= 1; /* the first unique label */
    ASSERT_FAILS(cv_codec_crackle.decode(&d, enc.data, enc.len, &out), CV_ERR_CORRUPT,
                 "labels CRC32C");
    enc.data[labels + 8] ^= 1;
    enc.data[labels + nlb + 4] ^= 1; /* slice 0's BOC index */
    const cv_status rc = cv_codec_crackle.decode(&d, enc.data, enc.len, &out);
    ASSERT_TRUE(rc == CV_ERR_CORRUPT);
    ASSERT_EQ(out.len, 0);
    cv__buf_fini(&out);
    cv__buf_fini(&enc);
}

static void encoder_refuses(void)
{
    uint8_t raw[64];
    memset(raw, 0, sizeof raw);
    cv_buf enc;
    cv__buf_init(&enc, 0);
    cv_chunk_desc d = desc(CV_INT32, 2, 2, 2);
    ASSERT_FAILS(cv_codec_crackle.encode(&d, -1, raw, 32, &enc), CV_ERR_ARG,
                 "crackle: data type int32 is not uint8, uint16, uint32 or uint64");
    d = desc(CV_FLOAT32, 2, 2, 2);
    ASSERT_FAILS(cv_codec_crackle.encode(&d, -1, raw, 32, &enc), CV_ERR_ARG,
                 "crackle: data type float32 is not");
    d = desc(CV_UINT8, 2, 2, 2);
    d.channels = 2;
    ASSERT_FAILS(cv_codec_crackle.encode(&d, -1, raw, 16, &enc), CV_ERR_ARG,
                 "crackle: 2 channels; crackle holds exactly 1");
    d = desc(CV_UINT16, 2, 2, 2);
    ASSERT_FAILS(cv_codec_crackle.encode(&d, -1, raw, 15, &enc), CV_ERR_ARG,
                 "crackle: chunk buffer has 15 bytes, want 16");
    d = desc(CV_UINT16, 2, 0, 2);
    ASSERT_FAILS(cv_codec_crackle.encode(&d, -1, raw, 0, &enc), CV_ERR_ARG,
                 "crackle: empty 2x0x2 chunk");
    ASSERT_EQ(enc.len, 0);
    cv__buf_fini(&enc);
}

TEST_MAIN(registry, check_values, spec_example, upstream_streams, roundtrip, many_labels,
          crackless_slices, corrupt_streams, unsupported, version0, encode_upstream_streams,
          encoder_roundtrip, encoder_crcs, encoder_refuses)
