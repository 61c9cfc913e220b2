/* SPDX-License-Identifier: BSD-3-Clause
 * test_shard.c: the sharded format (precomputed-sharded §1-§6) against the spec's test
 * vectors (test-vectors §1 murmurhash3, §2 shard location and whole-shard bytes in CloudVolume
 * and TensorStore layouts, §3 compressed Morton codes, §9 CloudVolume's parameter choice),
 * write -> read round trips on mem:// and file://, the index cache, and corrupt shard files
 * that must fail as CV_ERR_CORRUPT naming the file, never crash. */
#include "compress/compress.h"
#include "io/store.h"
#include "shard/shard.h"
#include "testlib.h"

#include "codec/codec.h"

#include <pthread.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------------- */

static size_t hex_decode(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (const char *p = hex; *p; p++) {
        int v;
        if (*p >= '0' && *p <= '9') {
            v = *p - '0';
        } else if (*p >= 'a' && *p <= 'f') {
            v = *p - 'a' + 10;
        } else {
            continue; /* spaces, separators */
        }
        if (hi < 0) {
            hi = v;
        } else if (n < cap) {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return n;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

static cv_shard_spec mkspec(cv_shard_hash h, int pre, int mini, int shard, cv_shard_encoding mi,
                            cv_shard_encoding data)
{
    cv_shard_spec s = {pre, h, mini, shard, mi, data};
    return s;
}

static char *spec_json(const cv_shard_spec *s)
{
    char *j = NULL;
    size_t n;
    if (cv_shard_spec_to_json(s, &j, &n) != CV_OK) {
        return NULL;
    }
    return j;
}

/* Deterministic pseudo-random numbers (splitmix64). */
static uint64_t rnd(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Payload of key k: compressible or not depending on the key, 0..max bytes. */
static size_t make_payload(uint64_t key, uint8_t *buf, size_t max)
{
    uint64_t st = key * 31 + 7;
    size_t n = (size_t)(rnd(&st) % (max + 1));
    bool noisy = key % 3 == 0;
    for (size_t i = 0; i < n; i++) {
        buf[i] = noisy ? (uint8_t)rnd(&st) : (uint8_t)("segment-"[i % 8] + key % 5);
    }
    return n;
}

/* ---- §1 murmurhash3 ------------------------------------------------------------------------ */

static void murmur3_vectors(void)
{
    static const struct {
        uint64_t in;
        uint32_t seed, h1, h2;
    } up[] = {
        {0, 0, 0xe028ae41, 0x4772b084},  {0, 1, 0x5ad58a7e, 0x54337108},
        {0, 2, 0x64010da2, 0x62e8bc17},  {1, 0, 0x16d4ce9a, 0xe8bd67d6},
        {1, 1, 0x4b7ab8c6, 0xeb555955},  {1, 2, 0xeb2301be, 0x48e12494},
        {42, 0, 0x5119f47a, 0xc20b94f9}, {42, 1, 0xd6b51bca, 0xa25ad86b},
        {42, 2, 0x2d83d9c7, 0x082115eb},
    };
    for (size_t i = 0; i < sizeof up / sizeof up[0]; i++) {
        uint8_t b[8];
        put64(b, up[i].in);
        uint32_t h[4];
        cv_murmurhash3_x86_128(b, 8, up[i].seed, h);
        ASSERT_EQ(h[0], up[i].h1);
        ASSERT_EQ(h[1], up[i].h2); /* inputs < 2^32: h2 = h3 = h4 */
        ASSERT_EQ(h[2], up[i].h2);
        ASSERT_EQ(h[3], up[i].h2);
        ASSERT_EQ(cv_murmurhash3_u64(up[i].in, up[i].seed), (uint64_t)up[i].h2 << 32 | up[i].h1);
    }
    static const struct {
        uint64_t key, hash;
    } gen[] = {
        {2, 0xd62f9cd21b013f5a},
        {3, 0x6b596e4f0e43e4d1},
        {5, 0xabdd7bc328613f9f},
        {7, 0xdd7c2bae73982156},
        {1000, 0xfc1b462deff0cd6f},
        {123456789, 0x126576fc191a1827},
        {1822975381, 0x587edeba6a30dba1},
        {648518346349515986u, 0x57d6e6fc96d3f555},
        {864691135000000000u, 0xdc172ad06cb3848e},
        {18446744073709551615u, 0x574f66bd212b5d1a},
        {28483990, 0xc4e4f7ad82c21012},
    };
    for (size_t i = 0; i < sizeof gen / sizeof gen[0]; i++) {
        ASSERT_EQ(cv_murmurhash3_u64(gen[i].key, 0), gen[i].hash);
    }
    /* general lengths: h4 h3 h2 h1 */
    static const struct {
        const char *s;
        uint32_t h[4];
    } str[] = {
        {"", {0, 0, 0, 0}},
        {"hello", {0x2b2444a0, 0xdb91def7, 0x9adb31b6, 0x9adb31b6}},
        {"hello world", {0xc0b21a88, 0x14f3c1e1, 0x1c0d151a, 0x9b0c9e2c}},
        {"0123456789abcdef", {0xfb7d4409, 0x36aed30a, 0x48ad1d9b, 0x572b3bfd}},
    };
    for (size_t i = 0; i < sizeof str / sizeof str[0]; i++) {
        uint32_t h[4];
        cv_murmurhash3_x86_128(str[i].s, strlen(str[i].s), 0, h);
        for (int j = 0; j < 4; j++) {
            ASSERT_EQ(h[j], str[i].h[j]);
        }
    }
}

/* ---- §3 compressed Morton codes ------------------------------------------------------------ */

static void morton_vectors(void)
{
    static const struct {
        int64_t grid[3];
        int64_t cell[3];
        uint64_t code;
    } g[] = {
        {{3, 3, 3}, {0, 0, 0}, 0},
        {{3, 3, 3}, {1, 0, 0}, 0x1},
        {{3, 3, 3}, {2, 0, 0}, 0x8},
        {{3, 3, 3}, {2, 2, 0}, 0x18},
        {{3, 3, 3}, {2, 2, 1}, 0x1c},
        {{2, 3, 1}, {1, 2, 0}, 0x5},
        {{4, 4, 1}, {3, 3, 0}, 0xf},
        {{8, 8, 2}, {5, 5, 0}, 0x63},
        {{1944, 1048, 442}, {1131, 411, 177}, 583460383},
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        uint64_t code = 0;
        ASSERT_OK(cv_morton_code(g[i].grid, g[i].cell, &code));
        ASSERT_EQ(code, g[i].code);
        int64_t back[3];
        ASSERT_OK(cv_morton_cell(g[i].grid, code, back));
        for (int d = 0; d < 3; d++) {
            ASSERT_EQ(back[d], g[i].cell[d]);
        }
    }
    static const struct {
        uint64_t cell[3];
        uint64_t code;
    } b[] = {
        {{0, 1, 0}, 0x2},
        {{2, 0, 1}, 0xc},
        {{2, 3, 0}, 0x1a},
        {{9, 2, 1}, 0x55},
    };
    const int bits[3] = {4, 2, 1};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        ASSERT_EQ(cv_morton_encode(bits, b[i].cell), b[i].code);
        uint64_t c[3];
        cv_morton_decode(bits, b[i].code, c);
        ASSERT_EQ(c[0], b[i].cell[0]);
        ASSERT_EQ(c[1], b[i].cell[1]);
        ASSERT_EQ(c[2], b[i].cell[2]);
    }
    /* TS GetCompressedZIndexBitsTest */
    int nb[3];
    int64_t g1[3] = {(79 + 19) / 20, (80 + 19) / 20, (144 + 11) / 12};
    cv_morton_bits(g1, nb);
    ASSERT_EQ(nb[0], 2);
    ASSERT_EQ(nb[1], 2);
    ASSERT_EQ(nb[2], 4);
    int64_t g2[3] = {0, 0xffffffff, ((int64_t)1 << 62) - 2};
    cv_morton_bits(g2, nb);
    ASSERT_EQ(nb[0], 0);
    ASSERT_EQ(nb[1], 32);
    ASSERT_EQ(nb[2], 62);
    /* CV rejects cells outside the grid */
    uint64_t code;
    int64_t g3[3] = {3, 3, 3}, out[3] = {3, 0, 0};
    ASSERT_FAILS(cv_morton_code(g3, out, &code), CV_ERR_ARG, "outside");
    ASSERT_FAILS(cv_morton_cell(g3, 0x40, out), CV_ERR_ARG, "outside");
    int64_t huge[3] = {(int64_t)1 << 40, (int64_t)1 << 40, 2};
    int64_t zero[3] = {0, 0, 0};
    ASSERT_FAILS(cv_morton_code(huge, zero, &code), CV_ERR_ARG, "more than 64");
    /* every cell of an odd grid round-trips and codes are distinct and dense enough */
    int64_t g4[3] = {5, 3, 7};
    uint64_t seen[256] = {0}; /* bits 3,2,3 */
    for (int64_t z = 0; z < 7; z++) {
        for (int64_t y = 0; y < 3; y++) {
            for (int64_t x = 0; x < 5; x++) {
                int64_t cell[3] = {x, y, z}, back[3];
                ASSERT_OK(cv_morton_code(g4, cell, &code));
                ASSERT_TRUE(code < 256);
                ASSERT_EQ(seen[code], 0);
                seen[code] = 1;
                ASSERT_OK(cv_morton_cell(g4, code, back));
                ASSERT_TRUE(back[0] == x && back[1] == y && back[2] == z);
            }
        }
    }
}

/* ---- §1 the sharding object ---------------------------------------------------------------- */

static void spec_parse_and_errors(void)
{
    const char *ex = "{\"@type\": \"neuroglancer_uint64_sharded_v1\", \"preshift_bits\": 9, "
                     "\"hash\": \"identity\", \"minishard_bits\": 6, \"shard_bits\": 15, "
                     "\"minishard_index_encoding\": \"gzip\", \"data_encoding\": \"gzip\"}";
    cv_shard_spec s;
    ASSERT_OK(cv_shard_spec_parse(ex, strlen(ex), "test", &s));
    ASSERT_EQ(s.preshift_bits, 9);
    ASSERT_EQ(s.hash, CV_SHARD_HASH_IDENTITY);
    ASSERT_EQ(s.minishard_bits, 6);
    ASSERT_EQ(s.shard_bits, 15);
    ASSERT_EQ(s.minishard_index_encoding, CV_SHARD_GZIP);
    ASSERT_EQ(s.data_encoding, CV_SHARD_GZIP);
    char *j = spec_json(&s);
    ASSERT_STR_EQ(j, "{\"@type\": \"neuroglancer_uint64_sharded_v1\", \"data_encoding\": "
                     "\"gzip\", \"hash\": \"identity\", \"minishard_bits\": 6, "
                     "\"minishard_index_encoding\": \"gzip\", \"preshift_bits\": 9, "
                     "\"shard_bits\": 15}");
    cv_shard_spec back;
    ASSERT_OK(cv_shard_spec_parse(j, strlen(j), NULL, &back));
    ASSERT_MEM_EQ(&back, &s, sizeof s);
    cv_free(j);

    /* absent encodings are raw; hash is case-insensitive (Neuroglancer); extra members ok */
    const char *min = "{\"@type\":\"neuroglancer_uint64_sharded_v1\",\"preshift_bits\":0,"
                      "\"hash\":\"MurmurHash3_X86_128\",\"minishard_bits\":0,\"shard_bits\":0,"
                      "\"extra\":[1]}";
    ASSERT_OK(cv_shard_spec_parse(min, strlen(min), "t", &s));
    ASSERT_EQ(s.hash, CV_SHARD_HASH_MURMURHASH3_X86_128);
    ASSERT_EQ(s.minishard_index_encoding, CV_SHARD_RAW);
    ASSERT_EQ(s.data_encoding, CV_SHARD_RAW);

    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"{\"preshift_bits\":0,\"hash\":\"identity\",\"minishard_bits\":0,\"shard_bits\":0}",
         "`@type'"},
        {"{\"@type\":\"neuroglancer_uint64_sharded_v2\",\"preshift_bits\":0,\"hash\":\"identity\","
         "\"minishard_bits\":0,\"shard_bits\":0}",
         "`@type'"},
        {"{\"@type\":\"neuroglancer_uint64_sharded_v1\",\"hash\":\"identity\","
         "\"minishard_bits\":0,\"shard_bits\":0}",
         "`preshift_bits' is missing"},
        {"{\"@type\":\"neuroglancer_uint64_sharded_v1\",\"preshift_bits\":65,\"hash\":\"identity\","
         "\"minishard_bits\":0,\"shard_bits\":0}",
         "`preshift_bits' must be an integer 0..64, got 65"},
        {"{\"@type\":\"neuroglancer_uint64_sharded_v1\",\"preshift_bits\":1.5,\"hash\":"
         "\"identity\",\"minishard_bits\":0,\"shard_bits\":0}",
         "`preshift_bits' must be an integer"},
        {"{\"@type\":\"neuroglancer_uint64_sharded_v1\",\"preshift_bits\":\"3\",\"hash\":"
         "\"identity\",\"minishard_bits\":0,\"shard_bits\":0}",
         "`preshift_bits' must be an integer"},
        {"{\"@type\":\"neuroglancer_uint64_sharded_v1\",\"preshift_bits\":0,\"hash\":\"identity\","
         "\"minishard_bits\":33,\"shard_bits\":0}",
         "`minishard_bits' must be an integer 0..32"},
        {"{\"@type\":\"neuroglancer_uint64_sharded_v1\",\"preshift_bits\":0,\"hash\":\"identity\","
         "\"minishard_bits\":-1,\"shard_bits\":0}",
         "`minishard_bits'"},
        {"{\"@type\":\"neuroglancer_uint64_sharded_v1\",\"preshift_bits\":0,\"hash\":\"identity\","
         "\"minishard_bits\":20,\"shard_bits\":45}",
         "`shard_bits' 45 + `minishard_bits' 20"},
        {"{\"@type\":\"neuroglancer_uint64_sharded_v1\",\"preshift_bits\":0,\"hash\":\"sha1\","
         "\"minishard_bits\":0,\"shard_bits\":0}",
         "`hash' must be"},
        {"{\"@type\":\"neuroglancer_uint64_sharded_v1\",\"preshift_bits\":0,"
         "\"minishard_bits\":0,\"shard_bits\":0}",
         "`hash' is missing"},
        {"{\"@type\":\"neuroglancer_uint64_sharded_v1\",\"preshift_bits\":0,\"hash\":\"identity\","
         "\"minishard_bits\":0,\"shard_bits\":0,\"data_encoding\":\"br\"}",
         "`data_encoding' must be \"raw\" or \"gzip\", got \"br\""},
        {"{\"@type\":\"neuroglancer_uint64_sharded_v1\",\"preshift_bits\":0,\"hash\":\"identity\","
         "\"minishard_bits\":0,\"shard_bits\":0,\"minishard_index_encoding\":1}",
         "`minishard_index_encoding'"},
        {"[1,2]", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_FAILS(cv_shard_spec_parse(bad[i].json, strlen(bad[i].json), "scale 8_8_40", &s),
                     CV_ERR_INFO, bad[i].needle);
    }
    cv_err_clear();
    ASSERT_TRUE(cv_shard_spec_parse("{\"@type\":", 9, "x", &s) != CV_OK);
    cv_err_clear();
    cv_shard_spec v = mkspec(CV_SHARD_HASH_IDENTITY, 0, 40, 0, CV_SHARD_RAW, CV_SHARD_RAW);
    ASSERT_FAILS(cv_shard_spec_validate(&v), CV_ERR_INFO, "minishard_bits");
}

/* ---- §2.1 key -> shard location ------------------------------------------------------------ */

static void locate_vectors(void)
{
    uint64_t shard, mini;
    char name[40];
    /* CV test_actual_example_hash */
    cv_shard_spec s =
        mkspec(CV_SHARD_HASH_MURMURHASH3_X86_128, 6, 11, 7, CV_SHARD_GZIP, CV_SHARD_GZIP);
    cv_shard_locate(&s, 1822975381, &shard, &mini);
    ASSERT_EQ(mini, 18);
    ASSERT_EQ(shard, 66);
    cv_shard_file_name(&s, shard, name, sizeof name);
    ASSERT_STR_EQ(name, "42.shard");
    s = mkspec(CV_SHARD_HASH_IDENTITY, 2, 3, 3, CV_SHARD_RAW, CV_SHARD_RAW);
    cv_shard_locate(&s, 0xaa, &shard, &mini);
    ASSERT_EQ(mini, 2);
    ASSERT_EQ(shard, 5);
    cv_shard_file_name(&s, shard, name, sizeof name);
    ASSERT_STR_EQ(name, "5.shard");
    /* CV test_image_sharding_hash */
    s = mkspec(CV_SHARD_HASH_IDENTITY, 9, 6, 16, CV_SHARD_RAW, CV_SHARD_RAW);
    int64_t grid[3] = {(248832 + 127) / 128, (134144 + 127) / 128, (7063 + 15) / 16};
    ASSERT_EQ(grid[0], 1944);
    ASSERT_EQ(grid[1], 1048);
    ASSERT_EQ(grid[2], 442);
    int64_t cell[3] = {1131, 411, 177};
    uint64_t code;
    ASSERT_OK(cv_morton_code(grid, cell, &code));
    cv_shard_locate(&s, code, &shard, &mini);
    ASSERT_EQ(mini, 51);
    ASSERT_EQ(shard, 17805);
    cv_shard_file_name(&s, shard, name, sizeof name);
    ASSERT_STR_EQ(name, "458d.shard");

    static const struct {
        uint64_t key, mini;
        const char *file;
    } id[] = {
        {0, 0, "0.shard"},  {1, 0, "0.shard"},  {2, 1, "0.shard"},
        {3, 1, "0.shard"},  {9, 0, "1.shard"},  {21, 2, "2.shard"},
        {63, 3, "3.shard"}, {64, 0, "0.shard"}, {200, 0, "1.shard"},
    };
    s = mkspec(CV_SHARD_HASH_IDENTITY, 1, 2, 2, CV_SHARD_RAW, CV_SHARD_RAW);
    for (size_t i = 0; i < sizeof id / sizeof id[0]; i++) {
        cv_shard_locate(&s, id[i].key, &shard, &mini);
        ASSERT_EQ(mini, id[i].mini);
        cv_shard_file_name(&s, shard, name, sizeof name);
        ASSERT_STR_EQ(name, id[i].file);
    }
    static const struct {
        uint64_t key, mini;
        const char *file;
    } mm[] = {
        {1, 26, "a.shard"},
        {2, 26, "d.shard"},
        {3, 17, "3.shard"},
        {1000, 47, "5.shard"},
        {648518346349515986u, 21, "5.shard"},
    };
    s = mkspec(CV_SHARD_HASH_MURMURHASH3_X86_128, 0, 6, 4, CV_SHARD_RAW, CV_SHARD_RAW);
    for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++) {
        cv_shard_locate(&s, mm[i].key, &shard, &mini);
        ASSERT_EQ(mini, mm[i].mini);
        cv_shard_file_name(&s, shard, name, sizeof name);
        ASSERT_STR_EQ(name, mm[i].file);
    }
    /* file names: zero padded to ceil(shard_bits / 4) digits */
    s.shard_bits = 0;
    cv_shard_file_name(&s, 0, name, sizeof name);
    ASSERT_STR_EQ(name, "0.shard");
    s.shard_bits = 8;
    cv_shard_file_name(&s, 5, name, sizeof name);
    ASSERT_STR_EQ(name, "05.shard");
    s.shard_bits = 9;
    cv_shard_file_name(&s, 0x1ab, name, sizeof name);
    ASSERT_STR_EQ(name, "1ab.shard");
    s.minishard_bits = 0;
    s.shard_bits = 64;
    cv_shard_file_name(&s, UINT64_MAX, name, sizeof name);
    ASSERT_STR_EQ(name, "ffffffffffffffff.shard");
    /* edge shifts: preshift 64 sends every key to minishard 0 of shard 0 */
    s = mkspec(CV_SHARD_HASH_IDENTITY, 64, 3, 3, CV_SHARD_RAW, CV_SHARD_RAW);
    cv_shard_locate(&s, UINT64_MAX, &shard, &mini);
    ASSERT_EQ(shard, 0);
    ASSERT_EQ(mini, 0);
    s = mkspec(CV_SHARD_HASH_IDENTITY, 0, 32, 32, CV_SHARD_RAW, CV_SHARD_RAW);
    cv_shard_locate(&s, 0x123456789abcdef0u, &shard, &mini);
    ASSERT_EQ(mini, 0x9abcdef0u);
    ASSERT_EQ(shard, 0x12345678u);
}

/* ---- §2.5 / §4.1 volume geometry ----------------------------------------------------------- */

static void volume_geometry(void)
{
    /* volume (256,256,128), chunk 64^3: grid (4,4,2); identity, preshift 2, minishard 1,
     * shard 2 */
    cv_shard_spec s = mkspec(CV_SHARD_HASH_IDENTITY, 2, 1, 2, CV_SHARD_RAW, CV_SHARD_RAW);
    int64_t grid[3] = {4, 4, 2};
    static const struct {
        int64_t cell[3];
        uint64_t code, mini;
        const char *file;
    } t[] = {
        {{0, 0, 0}, 0, 0, "0.shard"},  {{1, 0, 0}, 1, 0, "0.shard"},  {{0, 1, 0}, 2, 0, "0.shard"},
        {{1, 1, 0}, 3, 0, "0.shard"},  {{0, 0, 1}, 4, 1, "0.shard"},  {{2, 0, 0}, 8, 0, "1.shard"},
        {{2, 1, 1}, 14, 1, "1.shard"}, {{3, 3, 1}, 31, 1, "3.shard"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        uint64_t code, shard, mini;
        char name[40];
        ASSERT_OK(cv_morton_code(grid, t[i].cell, &code));
        ASSERT_EQ(code, t[i].code);
        cv_shard_locate(&s, code, &shard, &mini);
        ASSERT_EQ(mini, t[i].mini);
        cv_shard_file_name(&s, shard, name, sizeof name);
        ASSERT_STR_EQ(name, t[i].file);
    }
    int64_t ms[3], sh[3];
    ASSERT_OK(cv_shard_image_shape(&s, grid, ms, sh));
    ASSERT_TRUE(ms[0] == 2 && ms[1] == 2 && ms[2] == 1);
    ASSERT_TRUE(sh[0] == 2 && sh[1] == 2 && sh[2] == 2);
    /* every cell of a shard box maps to the same shard file */
    for (int64_t z = 0; z < 2; z++) {
        for (int64_t y = 0; y < 4; y++) {
            for (int64_t x = 0; x < 4; x++) {
                int64_t cell[3] = {x, y, z};
                uint64_t code, shard, mini;
                ASSERT_OK(cv_morton_code(grid, cell, &code));
                cv_shard_locate(&s, code, &shard, &mini);
                ASSERT_EQ(shard, (uint64_t)((x / 2) + 2 * (y / 2)));
            }
        }
    }
    /* TS GetShardChunkHierarchy: volume (99,98,97), chunk (50,25,13) */
    int64_t g2[3] = {2, 4, 8};
    s = mkspec(CV_SHARD_HASH_IDENTITY, 1, 2, 3, CV_SHARD_RAW, CV_SHARD_RAW);
    ASSERT_OK(cv_shard_image_shape(&s, g2, ms, sh));
    ASSERT_TRUE(ms[0] == 2 && ms[1] == 1 && ms[2] == 1);
    ASSERT_TRUE(sh[0] == 2 && sh[1] == 2 && sh[2] == 2);
    s.shard_bits = 2;
    ASSERT_FAILS(cv_shard_image_shape(&s, g2, ms, sh), CV_ERR_ARG, "several boxes");
    s.hash = CV_SHARD_HASH_MURMURHASH3_X86_128;
    ASSERT_FAILS(cv_shard_image_shape(&s, g2, ms, sh), CV_ERR_ARG, "not boxes");
}

/* ---- §9 CloudVolume's parameter choice ----------------------------------------------------- */

static void params_hashed(void)
{
    static const struct {
        uint64_t n, min_shards;
        int sb, mb;
    } t[] = {
        {1000000000, 1, 11, 9},
        {1000000, 1, 1, 9},
        {10000000, 1, 4, 9},
        {1000, 1, 0, 0},
        {1000, 1000, 10, 0},
        {50000, 1, 0, 6},
        {300000, 1, 0, 8},
        /* [X-CHECK] by running CloudVolume's compute_shard_params_for_hashed */
        {0, 1, 0, 0},
        {1, 1, 0, 0},
        {1366, 1, 0, 1},
        {5000000, 3, 3, 9},
        {123456789, 64, 8, 9},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        cv_shard_spec s;
        ASSERT_OK(cv_shard_params_for_hashed(t[i].n, t[i].min_shards, &s));
        ASSERT_EQ(s.shard_bits, t[i].sb);
        ASSERT_EQ(s.minishard_bits, t[i].mb);
        ASSERT_EQ(s.preshift_bits, 0);
        ASSERT_EQ(s.hash, CV_SHARD_HASH_MURMURHASH3_X86_128);
    }
    cv_shard_spec s;
    ASSERT_FAILS(cv_shard_params_for_hashed(10, 0, &s), CV_ERR_ARG, "min_shards");
}

static void params_image(void)
{
    /* [X-CHECK] values from running CloudVolume's compute_shard_params_for_image and
     * image_shard_shape_from_spec (the first four are the scales of its test_sharding.py). */
    /* clang-format off */
    static const struct {
        int64_t size[3], chunk[3];
        const char *enc;
        cv_dtype dtype;
        uint64_t target; /* uncompressed shard bytes, 0 = CloudVolume's 3.5e9 */
        int pre, mini, shard;
        cv_shard_encoding data;
        int64_t shape[3]; /* shard shape in voxels */
    } t[] = {
        {{1536, 1408, 2046}, {128, 128, 64}, "jpeg", CV_UINT8, 0, 11, 0, 2, CV_SHARD_RAW,
         {2048, 2048, 512}},
        {{3072, 2816, 2046}, {128, 128, 64}, "jpeg", CV_UINT8, 0, 11, 0, 4, CV_SHARD_RAW,
         {2048, 2048, 512}},
        {{40960, 40960, 990}, {128, 128, 20}, "raw", CV_UINT8, 0, 11, 2, 11, CV_SHARD_GZIP,
         {4096, 2048, 320}},
        {{10240, 10240, 990}, {128, 128, 20}, "jpeg", CV_UINT8, 0, 11, 2, 7, CV_SHARD_RAW,
         {4096, 2048, 320}},
        {{512, 512, 512}, {64, 64, 64}, "raw", CV_UINT8, 0, 9, 0, 0, CV_SHARD_GZIP,
         {512, 512, 512}},
        {{1024, 1024, 1}, {64, 64, 1}, "raw", CV_UINT32, 0, 11, 0, 0, CV_SHARD_GZIP,
         {1024, 1024, 1}},
        {{248832, 134144, 7063}, {128, 128, 16}, "raw", CV_UINT8, 0, 11, 2, 18, CV_SHARD_GZIP,
         {4096, 2048, 256}},
        {{100, 100, 100}, {64, 64, 64}, "compressed_segmentation", CV_UINT64, 0, 3, 0, 0,
         CV_SHARD_GZIP, {128, 128, 128}},
        {{2048, 2048, 64}, {128, 128, 64}, "raw", CV_UINT16, 0, 11, 0, 0, CV_SHARD_GZIP,
         {2048, 2048, 64}},
        {{4096, 4096, 32}, {256, 256, 32}, "png", CV_UINT8, 0, 11, 0, 0, CV_SHARD_RAW,
         {4096, 4096, 32}},
        {{99, 98, 97}, {50, 25, 13}, "raw", CV_FLOAT32, 0, 6, 0, 0, CV_SHARD_GZIP,
         {100, 100, 104}},
        {{70000, 70000, 70000}, {64, 64, 64}, "raw", CV_UINT16, 0, 11, 1, 21, CV_SHARD_GZIP,
         {1024, 1024, 1024}},
        /* smaller target shard sizes */
        {{40960, 40960, 990}, {128, 128, 20}, "raw", CV_UINT8, 100000000, 8, 0, 16,
         CV_SHARD_GZIP, {1024, 1024, 80}},
        {{512, 512, 512}, {64, 64, 64}, "raw", CV_UINT16, 4194304, 3, 0, 6, CV_SHARD_GZIP,
         {128, 128, 128}},
        {{70000, 70000, 70000}, {64, 64, 64}, "raw", CV_UINT16, 500000000, 9, 0, 24,
         CV_SHARD_GZIP, {512, 512, 512}},
    };
    /* clang-format on */
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        cv_shard_spec s;
        ASSERT_OK(cv_shard_params_for_image(t[i].size, t[i].chunk, t[i].enc, t[i].dtype,
                                            t[i].target, &s));
        ASSERT_EQ(s.preshift_bits, t[i].pre);
        ASSERT_EQ(s.minishard_bits, t[i].mini);
        ASSERT_EQ(s.shard_bits, t[i].shard);
        ASSERT_EQ(s.hash, CV_SHARD_HASH_IDENTITY);
        ASSERT_EQ(s.minishard_index_encoding, CV_SHARD_GZIP);
        ASSERT_EQ(s.data_encoding, t[i].data);
        int64_t grid[3], ms[3], sh[3];
        for (int d = 0; d < 3; d++) {
            grid[d] = (t[i].size[d] + t[i].chunk[d] - 1) / t[i].chunk[d];
        }
        ASSERT_OK(cv_shard_image_shape(&s, grid, ms, sh));
        for (int d = 0; d < 3; d++) {
            ASSERT_EQ(sh[d] * t[i].chunk[d], t[i].shape[d]);
        }
    }
    /* CV test_broken_dataset: 20 bits in all */
    int64_t size[3] = {10240, 10240, 990}, chunk[3] = {128, 128, 20};
    cv_shard_spec s;
    ASSERT_OK(cv_shard_params_for_image(size, chunk, "jpeg", CV_UINT8, 0, &s));
    ASSERT_EQ(s.preshift_bits + s.minishard_bits + s.shard_bits, 20);
    int64_t bad[3] = {0, 10, 10};
    ASSERT_FAILS(cv_shard_params_for_image(bad, chunk, "raw", CV_UINT8, 0, &s), CV_ERR_ARG, "size");
    int64_t big[3] = {(int64_t)1 << 40, (int64_t)1 << 40, 1 << 10}, one[3] = {1, 1, 1};
    ASSERT_FAILS(cv_shard_params_for_image(big, one, "raw", CV_UINT8, 0, &s), CV_ERR_ARG,
                 "more than a 64-bit");
}

/* ---- §2.2 minishard index encoding --------------------------------------------------------- */

static void minishard_index_vectors(void)
{
    uint8_t b[48];
    size_t n = hex_decode("efcdab8967452301 1100000000000000 1200000000000000", b, sizeof b);
    ASSERT_EQ(n, 24);
    cv_shard_entry *e = NULL;
    size_t count = 0;
    ASSERT_OK(cv__minishard_index_decode(b, n, 16, &e, &count));
    ASSERT_EQ(count, 1);
    ASSERT_EQ(e[0].key, 0x0123456789abcdefu);
    ASSERT_EQ(e[0].start, 0x11);
    ASSERT_EQ(e[0].end, 0x23);
    cv_free(e);
    const uint64_t two[6] = {1, 6, 3, 2, 7, 3};
    for (int i = 0; i < 6; i++) {
        put64(b + 8 * i, two[i]);
    }
    ASSERT_OK(cv__minishard_index_decode(b, 48, 16, &e, &count));
    ASSERT_EQ(count, 2);
    ASSERT_TRUE(e[0].key == 1 && e[0].start == 3 && e[0].end == 10);
    ASSERT_TRUE(e[1].key == 7 && e[1].start == 12 && e[1].end == 15);
    cv_free(e);
    ASSERT_FAILS(cv__minishard_index_decode(b, 47, 16, &e, &count), CV_ERR_CORRUPT,
                 "not a multiple of 24");
    put64(b + 8 * 3, UINT64_MAX - 5); /* second start delta wraps */
    ASSERT_FAILS(cv__minishard_index_decode(b, 48, 16, &e, &count), CV_ERR_CORRUPT, "wraps");
    put64(b + 8 * 3, 2);
    put64(b + 8 * 5, UINT64_MAX - 3); /* second size overflows */
    ASSERT_FAILS(cv__minishard_index_decode(b, 48, 16, &e, &count), CV_ERR_CORRUPT,
                 "beyond any possible");
    ASSERT_OK(cv__minishard_index_decode(b, 0, 16, &e, &count));
    ASSERT_EQ(count, 0);
    cv_free(e);
}

/* ---- §2.3 / §2.4 whole shard files --------------------------------------------------------- */

static const char ts_shard_hex[] =
    "0700000000000000 3700000000000000 3900000000000000 5100000000000000"
    "01020304 060708"
    "0200000000000000 0600000000000000 0000000000000000 0000000000000000"
    "0400000000000000 0300000000000000"
    "090a"
    "0300000000000000 3700000000000000 0200000000000000";

static const char cv_shard_hex[] = "15 00 00 00 00 00 00 00 75 00 00 00 00 00 00 00"
                                   "75 00 00 00 00 00 00 00 8d 00 00 00 00 00 00 00"
                                   "73 65 67 31 73 65 67 32 73 65 67 37 73 65 67 34"
                                   "32 73 65 67 35 01 00 00 00 00 00 00 00 01 00 00"
                                   "00 00 00 00 00 05 00 00 00 00 00 00 00 23 00 00"
                                   "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
                                   "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
                                   "00 00 00 00 00 04 00 00 00 00 00 00 00 04 00 00"
                                   "00 00 00 00 00 04 00 00 00 00 00 00 00 05 00 00"
                                   "00 00 00 00 00 05 00 00 00 00 00 00 00 11 00 00"
                                   "00 00 00 00 00 04 00 00 00 00 00 00 00";

static void shard_bytes_tensorstore(void)
{
    uint8_t want[256];
    size_t want_len = hex_decode(ts_shard_hex, want, sizeof want);
    ASSERT_EQ(want_len, 32 + 81);
    const uint8_t a[] = {1, 2, 3, 4}, b[] = {6, 7, 8}, c[] = {9, 10};
    const cv_shard_item items[] = {{8, b, 3}, {3, c, 2}, {2, a, 4}};
    cv_shard_spec s = mkspec(CV_SHARD_HASH_IDENTITY, 0, 1, 0, CV_SHARD_RAW, CV_SHARD_RAW);
    uint8_t *got;
    size_t len;
    uint64_t shard = 99;
    ASSERT_OK(cv_shard_build(&s, items, 3, CV_SHARD_LAYOUT_TENSORSTORE, -1, &shard, &got, &len));
    ASSERT_EQ(shard, 0);
    ASSERT_EQ(len, want_len);
    ASSERT_MEM_EQ(got, want, len);
    cv_free(got);
}

static void shard_bytes_cloudvolume(void)
{
    uint8_t want[256];
    size_t want_len = hex_decode(cv_shard_hex, want, sizeof want);
    ASSERT_EQ(want_len, 173);
    const cv_shard_item items[] = {
        {1, "seg1", 4}, {2, "seg2", 4}, {5, "seg5", 4}, {7, "seg7", 4}, {42, "seg42", 5},
    };
    cv_shard_spec s =
        mkspec(CV_SHARD_HASH_MURMURHASH3_X86_128, 0, 1, 1, CV_SHARD_RAW, CV_SHARD_RAW);
    uint8_t *got;
    size_t len;
    uint64_t shard = 0;
    ASSERT_OK(cv_shard_build(&s, items, 5, CV_SHARD_LAYOUT_CLOUDVOLUME, -1, &shard, &got, &len));
    ASSERT_EQ(shard, 1);
    ASSERT_EQ(len, want_len);
    ASSERT_MEM_EQ(got, want, len);
    cv_free(got);
    /* the item order only changes which minishard comes first, never the keys' order */
    const cv_shard_item rev[] = {
        {42, "seg42", 5}, {7, "seg7", 4}, {2, "seg2", 4}, {1, "seg1", 4}, {5, "seg5", 4},
    };
    ASSERT_OK(cv_shard_build(&s, rev, 5, CV_SHARD_LAYOUT_CLOUDVOLUME, -1, &shard, &got, &len));
    ASSERT_EQ(len, want_len);
    ASSERT_MEM_EQ(got, want, len);
    cv_free(got);
    const cv_shard_item five_first[] = {
        {5, "seg5", 4}, {42, "seg42", 5}, {7, "seg7", 4}, {2, "seg2", 4}, {1, "seg1", 4},
    };
    ASSERT_OK(
        cv_shard_build(&s, five_first, 5, CV_SHARD_LAYOUT_CLOUDVOLUME, -1, &shard, &got, &len));
    ASSERT_EQ(len, want_len);
    ASSERT_MEM_EQ(got + 32, "seg5seg1seg2seg7seg42", 21); /* minishard 1 first */
    ASSERT_EQ(get64(got + 16), 21);                       /* ... and its index too */
    ASSERT_EQ(get64(got + 24), 45);
    ASSERT_EQ(get64(got + 0), 45);
    ASSERT_EQ(get64(got + 8), 45 + 96);
    cv_free(got);
}

typedef struct collect {
    size_t n;
    uint64_t keys[64];
    char vals[64][16];
} collect;

static cv_status collect_fn(uint64_t key, const uint8_t *data, size_t n, void *arg)
{
    collect *c = arg;
    if (c->n < 64 && n < 16) {
        c->keys[c->n] = key;
        memcpy(c->vals[c->n], data, n);
        c->vals[c->n][n] = '\0';
        c->n++;
    }
    return CV_OK;
}

/* A shard laid out from its items' keys and lengths (cv__shard_plan_file), then written head,
 * payloads in `order`, tail: the bytes cv_shard_build makes, for both index encodings and
 * several minishards, first seen out of order. */
static void plan_file_matches_build(void)
{
    cv_shard_item it[40];
    char text[40][24];
    for (int i = 0; i < 40; i++) {
        int k = (i * 7) % 40;
        snprintf(text[i], sizeof text[i], "payload-%d-%.*s", k, k % 9, "xxxxxxxxx");
        it[i] = (cv_shard_item){(uint64_t)k * 3 + 1, text[i], strlen(text[i])};
    }
    for (int gz = 0; gz < 2; gz++) {
        cv_shard_spec s = mkspec(CV_SHARD_HASH_IDENTITY, 1, 3, 0, gz ? CV_SHARD_GZIP : CV_SHARD_RAW,
                                 CV_SHARD_RAW);
        uint8_t *want;
        size_t want_len;
        uint64_t shard;
        ASSERT_OK(
            cv_shard_build(&s, it, 40, CV_SHARD_LAYOUT_CLOUDVOLUME, 6, &shard, &want, &want_len));
        cv_shard_item bare[40];
        for (int i = 0; i < 40; i++) {
            bare[i] = (cv_shard_item){it[i].key, NULL, it[i].len};
        }
        size_t order[40];
        cv_buf head, tail, all;
        cv__buf_init(&head, 0);
        cv__buf_init(&tail, 0);
        cv__buf_init(&all, 0);
        ASSERT_OK(cv__shard_plan_file(&s, bare, 40, 6, order, &head, &tail));
        ASSERT_OK(cv__buf_append(&all, head.data, head.len));
        for (int i = 0; i < 40; i++) {
            ASSERT_OK(cv__buf_append(&all, it[order[i]].data, it[order[i]].len));
        }
        ASSERT_OK(cv__buf_append(&all, tail.data, tail.len));
        ASSERT_EQ(all.len, want_len);
        ASSERT_MEM_EQ(all.data, want, want_len);
        cv__buf_fini(&head);
        cv__buf_fini(&tail);
        cv__buf_fini(&all);
        cv_free(want);
    }
}

static void read_vector_files(void)
{
    uint8_t file[256];
    size_t len = hex_decode(ts_shard_hex, file, sizeof file);
    cv_store *st;
    ASSERT_OK(cv_store_open("mem://shardtest/vectors", &st));
    ASSERT_OK(cv_store_put(st, "ts/0.shard", file, len, NULL, -1, NULL));
    len = hex_decode(cv_shard_hex, file, sizeof file);
    ASSERT_OK(cv_store_put(st, "cv/1.shard", file, len, NULL, -1, NULL));

    cv_shard_spec s = mkspec(CV_SHARD_HASH_IDENTITY, 0, 1, 0, CV_SHARD_RAW, CV_SHARD_RAW);
    char *json = spec_json(&s);
    cv_shard_reader *r;
    ASSERT_OK(cv_shard_reader_open(st, "ts", json, &r));
    cv_free(json);
    uint8_t *v;
    size_t n;
    ASSERT_OK(cv_shard_reader_get(r, 2, 0, &v, &n));
    ASSERT_EQ(n, 4);
    ASSERT_MEM_EQ(v, "\1\2\3\4", 4);
    cv_free(v);
    ASSERT_OK(cv_shard_reader_get(r, 3, 0, &v, &n));
    ASSERT_EQ(n, 2);
    ASSERT_MEM_EQ(v, "\x09\x0a", 2);
    cv_free(v);
    ASSERT_OK(cv_shard_reader_get(r, 8, 0, &v, &n));
    ASSERT_EQ(n, 3);
    cv_free(v);
    cv_err_clear();
    ASSERT_EQ(cv_shard_reader_get(r, 4, 0, &v, &n), CV_ERR_NOTFOUND);
    cv_shard_reader_close(r);

    s = mkspec(CV_SHARD_HASH_MURMURHASH3_X86_128, 0, 1, 1, CV_SHARD_RAW, CV_SHARD_RAW);
    json = spec_json(&s);
    ASSERT_OK(cv_shard_reader_open(st, "cv/", json, &r));
    cv_free(json);
    static const struct {
        uint64_t key;
        const char *val;
    } kv[] = {{1, "seg1"}, {2, "seg2"}, {5, "seg5"}, {7, "seg7"}, {42, "seg42"}};
    for (size_t i = 0; i < 5; i++) {
        ASSERT_OK(cv_shard_reader_get(r, kv[i].key, 0, &v, &n));
        ASSERT_EQ(n, strlen(kv[i].val));
        ASSERT_MEM_EQ(v, kv[i].val, n);
        cv_free(v);
    }
    cv_err_clear();
    ASSERT_EQ(cv_shard_reader_get(r, 3, 0, &v, &n), CV_ERR_NOTFOUND); /* shard 0: no file */
    ASSERT_EQ(cv_shard_reader_get(r, 43, 0, &v, &n), CV_ERR_NOTFOUND);
    cv_err_clear();
    cv_shard_reader_close(r);

    collect c = {0};
    ASSERT_OK(cv_shard_decode(&s, file, len, "cv/1.shard", 0, collect_fn, &c));
    ASSERT_EQ(c.n, 5);
    ASSERT_EQ(c.keys[0], 1);
    ASSERT_EQ(c.keys[3], 42);
    ASSERT_STR_EQ(c.vals[3], "seg42");
    ASSERT_EQ(c.keys[4], 5);
    cv_store_delete(st, "ts/0.shard");
    cv_store_delete(st, "cv/1.shard");
    cv_store_close(st);
}

/* ---- a shard file entry by entry ----------------------------------------------------------- */

typedef struct scanned {
    size_t n;
    cv_shard_file_entry e[8];
} scanned;

static cv_status keep_scanned(const cv_shard_file_entry *e, void *arg)
{
    scanned *sc = arg;
    if (sc->n == 8) {
        return CV_FAIL(CV_ERR_CORRUPT, "more than 8 entries");
    }
    sc->e[sc->n++] = *e;
    return CV_OK;
}

/* minishard_bits 17: a 2 MiB shard index, read as two 1 MiB pieces, with entries on both
 * sides of the boundary; the entries' ranges read back their values; a file shorter than its
 * listed size fails naming the piece. */
static void scan_index_pieces(void)
{
    static const uint64_t keys[] = {0, 65535, 65536, 131071};
    const cv_shard_item it[] = {{keys[0], "zero", 4},
                                {keys[1], "last of piece 0", 15},
                                {keys[2], "first of 1", 10},
                                {keys[3], "very last", 9}};
    for (int gz = 0; gz < 2; gz++) {
        cv_shard_spec s =
            mkspec(CV_SHARD_HASH_IDENTITY, 0, 17, 0, gz ? CV_SHARD_GZIP : CV_SHARD_RAW,
                   gz ? CV_SHARD_GZIP : CV_SHARD_RAW);
        ASSERT_EQ(cv__shard_index_bytes(&s), 2 * CV_SHARD_SCAN_PIECE);
        uint8_t *file;
        size_t len;
        uint64_t shard;
        ASSERT_OK(cv_shard_build(&s, it, 4, CV_SHARD_LAYOUT_CLOUDVOLUME, -1, &shard, &file, &len));
        cv_store *st;
        ASSERT_OK(cv_store_open("mem://shardtest/pieces", &st));
        ASSERT_OK(cv_store_put(st, "0.shard", file, len, NULL, -1, NULL));
        cv_shard_counters before, after;
        cv__shard_counters(&before);
        scanned sc = {0};
        ASSERT_OK(cv__shard_file_scan(st, "0.shard", &s, len, keep_scanned, &sc));
        cv__shard_counters(&after);
        /* two pieces of the shard index and four minishard indexes, nothing more */
        ASSERT_EQ(after.ranged_reads - before.ranged_reads, 6);
        ASSERT_EQ(after.cache_entries, before.cache_entries);
        ASSERT_EQ(sc.n, 4);
        cv_buf out, scratch;
        cv__buf_init(&out, 0);
        cv__buf_init(&scratch, 0);
        for (size_t i = 0; i < 4; i++) {
            ASSERT_EQ(sc.e[i].minishard, keys[i]);
            ASSERT_EQ(sc.e[i].key, keys[i]);
            ASSERT_TRUE(sc.e[i].offset >= 2 * CV_SHARD_SCAN_PIECE);
            ASSERT_TRUE(sc.e[i].offset + sc.e[i].length <= len);
            if (!gz) {
                ASSERT_EQ(sc.e[i].length, it[i].len);
            }
            ASSERT_OK(cv__shard_file_read_entry(st, "0.shard", &s, &sc.e[i], &out, &scratch));
            ASSERT_EQ(out.len, it[i].len);
            ASSERT_MEM_EQ(out.data, it[i].data, out.len);
        }
        /* a decoded-size cap refuses an entry before reading it */
        out.max = 3;
        ASSERT_FAILS(cv__shard_file_read_entry(st, "0.shard", &s, &sc.e[0], &out, &scratch),
                     CV_ERR_CORRUPT, "shard `0.shard' in mem://shardtest/pieces: chunk 0");
        cv__buf_fini(&out);
        cv__buf_fini(&scratch);

        /* the file ends in the middle of the second piece, though listed whole: the first
         * minishard index read (minishard 0's, at the end of the file) already fails */
        ASSERT_OK(cv_store_put(st, "0.shard", file, 3 * CV_SHARD_SCAN_PIECE / 2, NULL, -1, NULL));
        ASSERT_FAILS(cv__shard_file_scan(st, "0.shard", &s, len, keep_scanned, &sc), CV_ERR_CORRUPT,
                     "shard `0.shard' in mem://shardtest/pieces: minishard 0 index");
        cv_free(file);
        /* with the first piece's minishards empty, it is the second piece's read */
        ASSERT_OK(
            cv_shard_build(&s, it + 2, 2, CV_SHARD_LAYOUT_CLOUDVOLUME, -1, &shard, &file, &len));
        ASSERT_OK(cv_store_put(st, "0.shard", file, 3 * CV_SHARD_SCAN_PIECE / 2, NULL, -1, NULL));
        ASSERT_FAILS(cv__shard_file_scan(st, "0.shard", &s, len, keep_scanned, &sc), CV_ERR_CORRUPT,
                     "shard `0.shard' in mem://shardtest/pieces: shard index at bytes [1048576, "
                     "2097152) lies past the end of the file (1572864 bytes)");
        /* listed at its real size: the index itself is truncated */
        ASSERT_FAILS(
            cv__shard_file_scan(st, "0.shard", &s, 3 * CV_SHARD_SCAN_PIECE / 2, keep_scanned, &sc),
            CV_ERR_CORRUPT,
            "shard `0.shard' in mem://shardtest/pieces: truncated shard index: the file "
            "has 1572864 bytes but the index has 2097152");
        ASSERT_OK(cv_store_delete(st, "0.shard"));
        /* absent: NOTFOUND, quietly */
        cv_err_clear();
        ASSERT_EQ(cv__shard_file_scan(st, "0.shard", &s, len, keep_scanned, &sc), CV_ERR_NOTFOUND);
        cv_err_clear();
        cv_store_close(st);
        cv_free(file);
    }
}

/* ---- round trips --------------------------------------------------------------------------- */

#define RT_KEYS 400
#define RT_MAX_PAYLOAD 700

typedef struct decoded_count {
    size_t n;
    bool bad;
} decoded_count;

static cv_status count_fn(uint64_t key, const uint8_t *data, size_t n, void *arg)
{
    decoded_count *dc = arg;
    uint8_t want[RT_MAX_PAYLOAD];
    size_t wn = make_payload(key, want, RT_MAX_PAYLOAD);
    if (wn != n || (n && memcmp(want, data, n) != 0)) {
        dc->bad = true;
    }
    dc->n++;
    return CV_OK;
}

static cv_status count_file(const char *key, void *arg)
{
    (void)key;
    (*(size_t *)arg)++;
    return CV_OK;
}

typedef struct decode_all {
    cv_store *st;
    const cv_shard_spec *s;
    decoded_count dc;
} decode_all;

static cv_status decode_each(const char *key, void *arg)
{
    decode_all *d = arg;
    uint8_t *file;
    size_t len;
    CV_TRY(cv_store_get(d->st, key, 0, &file, &len));
    cv_status rc = cv_shard_decode(d->s, file, len, key, 0, count_fn, &d->dc);
    cv_free(file);
    return rc;
}

/* cv__shard_file_scan over every shard file, reading each entry back by its range. */
typedef struct scan_all {
    cv_store *st;
    const cv_shard_spec *s;
    const char *file;
    decoded_count dc;
    uint64_t stored;        /* sum of the entries' stored lengths */
    uint64_t expect_stored; /* the same, from the stored bytes each read returned */
    cv_buf out, scratch;
} scan_all;

static cv_status scan_entry(const cv_shard_file_entry *e, void *arg)
{
    scan_all *a = arg;
    a->stored += e->length;
    CV_TRY(cv__shard_file_read_entry(a->st, a->file, a->s, e, &a->out, &a->scratch));
    a->expect_stored += a->s->data_encoding == CV_SHARD_GZIP ? a->scratch.len : a->out.len;
    return count_fn(e->key, a->out.data, a->out.len, &a->dc);
}

static cv_status scan_each(const char *key, uint64_t size, void *arg)
{
    scan_all *a = arg;
    a->file = key;
    return cv__shard_file_scan(a->st, key, a->s, size, scan_entry, a);
}

static cv_status delete_each(const char *key, void *arg)
{
    return cv_store_delete(arg, key);
}

static void round_trip_one(const cv_shard_spec *s, cv_shard_layout layout, const char *url,
                           uint64_t seed)
{
    cv_store *st;
    ASSERT_OK(cv_store_open(url, &st));
    static uint64_t keys[RT_KEYS];
    static uint8_t payload[RT_KEYS][RT_MAX_PAYLOAD];
    cv_shard_item items[RT_KEYS];
    uint64_t state = seed;
    for (size_t i = 0; i < RT_KEYS; i++) {
        uint64_t r = rnd(&state);
        /* small dense keys, large sparse keys and the extremes */
        keys[i] = i % 4 == 0 ? i : (i % 4 == 1 ? r : (i % 4 == 2 ? r >> 40 : UINT64_MAX - i));
        items[i].key = keys[i];
        items[i].data = payload[i];
        items[i].len = make_payload(keys[i], payload[i], RT_MAX_PAYLOAD);
    }
    ASSERT_OK(cv_shard_write(st, "data/", s, items, RT_KEYS, layout, 6));
    size_t n_files = 0;
    ASSERT_OK(cv_store_list(st, "data/", count_file, &n_files));
    ASSERT_TRUE(n_files >= 1 && n_files <= ((size_t)1 << s->shard_bits));

    char *json = spec_json(s);
    cv_shard_reader *r;
    ASSERT_OK(cv_shard_reader_open(st, "data", json, &r));
    cv_free(json);
    cv_buf out, scratch;
    cv__buf_init(&out, 0);
    cv__buf_init(&scratch, 0);
    for (size_t i = 0; i < RT_KEYS; i++) {
        cv_status rc = cv__shard_reader_get_into(r, keys[i], &out, &scratch);
        if (rc != CV_OK || out.len != items[i].len ||
            (out.len && memcmp(out.data, items[i].data, out.len) != 0)) {
            cv__buf_fini(&out);
            cv__buf_fini(&scratch);
            cv_shard_reader_close(r);
            cv_store_close(st);
            TL_FAIL_HERE("key %" PRIu64 " (item %zu) read back wrong: %s", keys[i], i,
                         cv_errname(rc));
        }
    }
    /* absent keys */
    for (uint64_t k = 1; k < 200; k += 4) {
        uint64_t probe = k * 1000003u + 1;
        bool present = false;
        for (size_t i = 0; i < RT_KEYS; i++) {
            present = present || keys[i] == probe;
        }
        cv_err_clear();
        cv_status rc = cv__shard_reader_get_into(r, probe, &out, &scratch);
        ASSERT_EQ(rc, present ? CV_OK : CV_ERR_NOTFOUND);
    }
    cv_err_clear();
    cv__buf_fini(&out);
    cv__buf_fini(&scratch);
    cv_shard_reader_close(r);

    decode_all d = {st, s, {0, false}};
    ASSERT_OK(cv_store_list(st, "data/", decode_each, &d));
    ASSERT_EQ(d.dc.n, RT_KEYS);
    ASSERT_TRUE(!d.dc.bad);

    scan_all sc = {st, s, NULL, {0, false}, 0, 0, {0}, {0}};
    cv__buf_init(&sc.out, 0);
    cv__buf_init(&sc.scratch, 0);
    ASSERT_OK(cv__store_list_sizes(st, "data/", scan_each, &sc));
    cv__buf_fini(&sc.out);
    cv__buf_fini(&sc.scratch);
    ASSERT_EQ(sc.dc.n, RT_KEYS);
    ASSERT_TRUE(!sc.dc.bad);
    ASSERT_EQ(sc.stored, sc.expect_stored);
    ASSERT_OK(cv_store_list(st, "data/", delete_each, st));
    cv_store_close(st);
}

static void round_trips_mem(void)
{
    static const struct {
        cv_shard_hash h;
        int pre, mini, shard;
    } g[] = {
        {CV_SHARD_HASH_IDENTITY, 0, 0, 0},
        {CV_SHARD_HASH_IDENTITY, 2, 3, 3},
        {CV_SHARD_HASH_MURMURHASH3_X86_128, 0, 2, 1},
        {CV_SHARD_HASH_MURMURHASH3_X86_128, 1, 6, 3},
        {CV_SHARD_HASH_IDENTITY, 63, 1, 1},
        {CV_SHARD_HASH_MURMURHASH3_X86_128, 0, 10, 0},
    };
    int run = 0;
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        for (int enc = 0; enc < 4; enc++) {
            cv_shard_spec s = mkspec(g[i].h, g[i].pre, g[i].mini, g[i].shard,
                                     (cv_shard_encoding)(enc & 1), (cv_shard_encoding)(enc >> 1));
            for (int layout = 0; layout < 2; layout++) {
                char url[64];
                snprintf(url, sizeof url, "mem://shardtest/rt%d", run++);
                int before = tl_failed_asserts;
                round_trip_one(&s, (cv_shard_layout)layout, url, 1000 + i);
                if (tl_failed_asserts != before) {
                    TL_FAIL_HERE("round trip failed: hash %d bits %d/%d/%d enc %d layout %d",
                                 (int)g[i].h, g[i].pre, g[i].mini, g[i].shard, enc, layout);
                }
            }
        }
    }
}

/* cv__shard_reader_value: a raw value is the stored bytes themselves (no copy), refused as
 * corrupt above out->max; a gzip value is decoded into out. */
static void reader_value_views(void)
{
    for (int enc = 0; enc < 2; enc++) {
        cv_store *st;
        char url[64];
        snprintf(url, sizeof url, "mem://shardtest/value%d", enc);
        ASSERT_OK(cv_store_open(url, &st));
        cv_shard_spec s = mkspec(CV_SHARD_HASH_IDENTITY, 0, 1, 0, CV_SHARD_RAW,
                                 enc ? CV_SHARD_GZIP : CV_SHARD_RAW);
        uint8_t payload[200];
        for (size_t i = 0; i < sizeof payload; i++) {
            payload[i] = (uint8_t)(i * 7 + 3);
        }
        cv_shard_item it = {5, payload, sizeof payload};
        ASSERT_OK(cv_shard_write(st, "v/", &s, &it, 1, CV_SHARD_LAYOUT_CLOUDVOLUME, 6));
        char *json = spec_json(&s);
        cv_shard_reader *r;
        ASSERT_OK(cv_shard_reader_open(st, "v", json, &r));
        cv_free(json);
        char object[CV_SHARD_KEY_MAX];
        uint64_t off, len;
        ASSERT_OK(cv__shard_reader_locate(r, 5, object, sizeof object, &off, &len));
        uint8_t *stored;
        size_t got;
        ASSERT_OK(cv_store_get_range(st, object, off, len, &stored, &got));
        ASSERT_EQ(got, len);
        cv_buf out;
        cv__buf_init(&out, 0);
        const uint8_t *value = NULL;
        size_t n = 0;
        ASSERT_OK(cv__shard_reader_value(r, 5, stored, got, &out, &value, &n));
        ASSERT_EQ(n, it.len);
        ASSERT_MEM_EQ(value, payload, n);
        ASSERT_TRUE(enc ? value == out.data : value == stored);
        if (!enc) {
            out.max = it.len - 1;
            ASSERT_EQ(cv__shard_reader_value(r, 5, stored, got, &out, &value, &n), CV_ERR_CORRUPT);
            ASSERT_TRUE(strstr(cv_err_last()->what, "larger than the") != NULL);
            cv_err_clear();
        }
        cv__buf_fini(&out);
        cv_free(stored);
        cv_shard_reader_close(r);
        cv_store_close(st);
    }
    cv_shard_cache_clear();
}

static void round_trip_file_and_large(void)
{
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/cvmpi_test_shard_%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    cv_shard_spec s =
        mkspec(CV_SHARD_HASH_MURMURHASH3_X86_128, 0, 3, 2, CV_SHARD_GZIP, CV_SHARD_RAW);
    round_trip_one(&s, CV_SHARD_LAYOUT_CLOUDVOLUME, dir, 77);

    /* a 3 MiB value takes the probed-read path */
    cv_store *st;
    ASSERT_OK(cv_store_open(dir, &st));
    size_t big_n = (size_t)3 << 20;
    uint8_t *big = cv_malloc(big_n);
    ASSERT_TRUE(big != NULL);
    uint64_t state = 5;
    for (size_t i = 0; i < big_n; i++) {
        big[i] = (uint8_t)(i % 251 == 0 ? rnd(&state) : i);
    }
    const cv_shard_item it[] = {{12345, big, big_n}, {12346, "x", 1}};
    cv_shard_spec s1 = mkspec(CV_SHARD_HASH_IDENTITY, 0, 0, 0, CV_SHARD_RAW, CV_SHARD_RAW);
    ASSERT_OK(cv_shard_write(st, "big", &s1, it, 2, CV_SHARD_LAYOUT_CLOUDVOLUME, -1));
    char *json = spec_json(&s1);
    cv_shard_reader *r;
    ASSERT_OK(cv_shard_reader_open(st, "big", json, &r));
    cv_free(json);
    uint8_t *v = NULL;
    size_t n = 0;
    ASSERT_OK(cv_shard_reader_get(r, 12345, 0, &v, &n));
    ASSERT_EQ(n, big_n);
    ASSERT_TRUE(memcmp(v, big, n) == 0);
    cv_free(v);
    /* a value larger than the caller's cap is refused before it is read */
    ASSERT_FAILS(cv_shard_reader_get(r, 12345, 1000, &v, &n), CV_ERR_CORRUPT, "0.shard");
    cv_shard_reader_close(r);
    cv_free(big);
    /* clean up the directory tree */
    ASSERT_OK(cv_store_delete(st, "big/0.shard"));
    cv_store_close(st);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT_EQ(system(cmd), 0);
}

static void build_errors(void)
{
    cv_shard_spec s = mkspec(CV_SHARD_HASH_IDENTITY, 0, 1, 2, CV_SHARD_RAW, CV_SHARD_RAW);
    uint8_t *d;
    size_t n;
    uint64_t sh;
    const cv_shard_item diff[] = {{0, "a", 1}, {1, "b", 1}, {4, "c", 1}};
    ASSERT_FAILS(cv_shard_build(&s, diff, 3, CV_SHARD_LAYOUT_CLOUDVOLUME, -1, &sh, &d, &n),
                 CV_ERR_ARG, "key 4 belongs in shard `2.shard'");
    const cv_shard_item dup[] = {{0, "a", 1}, {1, "b", 1}, {0, "c", 1}};
    ASSERT_FAILS(cv_shard_build(&s, dup, 3, CV_SHARD_LAYOUT_TENSORSTORE, -1, &sh, &d, &n),
                 CV_ERR_ARG, "key 0 is given twice");
    ASSERT_FAILS(cv_shard_build(&s, dup, 0, CV_SHARD_LAYOUT_TENSORSTORE, -1, &sh, &d, &n),
                 CV_ERR_ARG, "no items");
    const cv_shard_item empty[] = {{3, NULL, 0}};
    ASSERT_OK(cv_shard_build(&s, empty, 1, CV_SHARD_LAYOUT_TENSORSTORE, -1, &sh, &d, &n));
    ASSERT_EQ(n, 32 + 24);
    cv_free(d);
    s.minishard_bits = 40;
    ASSERT_FAILS(cv_shard_build(&s, empty, 1, CV_SHARD_LAYOUT_TENSORSTORE, -1, &sh, &d, &n),
                 CV_ERR_INFO, "minishard_bits");
    /* Valid specs whose shard index a writer would have to hold whole: refused before any
     * allocation, naming the size and the limit (readers take them: see the hostile test
     * shard_index_size.sh). */
    s.minishard_bits = 32;
    ASSERT_FAILS(cv_shard_build(&s, empty, 1, CV_SHARD_LAYOUT_CLOUDVOLUME, -1, &sh, &d, &n),
                 CV_ERR_INFO,
                 "build shard: sharding minishard_bits 32 makes a 64 GiB shard index per shard "
                 "file (writing allows at most 256 MiB, minishard_bits 24)");
    s.minishard_bits = 25;
    cv_buf head, tail;
    cv__buf_init(&head, 0);
    cv__buf_init(&tail, 0);
    size_t order[1];
    ASSERT_FAILS(cv__shard_plan_file(&s, empty, 1, -1, order, &head, &tail), CV_ERR_INFO,
                 "plan shard: sharding minishard_bits 25 makes a 512 MiB shard index");
    ASSERT_EQ(head.cap, 0);
    s.minishard_bits = 24;
    ASSERT_OK(cv__shard_check_write_index(&s, "x", 0, NULL));
    ASSERT_FAILS(cv__shard_check_write_index(&s, "scale 1_1_1", 100000000, "--memory"), CV_ERR_INFO,
                 "scale 1_1_1: sharding minishard_bits 24 makes a 256 MiB shard index per shard "
                 "file, which its writer holds: more than the memory budget of 100.00 MB per rank "
                 "(from --memory)");
    s.minishard_bits = 9;
    ASSERT_FAILS(cv__shard_check_write_index(&s, "x", 8191, "--memory"), CV_ERR_INFO,
                 "x: sharding minishard_bits 9 makes a 8 KiB shard index");
}

/* ---- the cache ----------------------------------------------------------------------------- */

static void cache_and_rewrite(void)
{
    cv_store *st;
    ASSERT_OK(cv_store_open("mem://shardtest/cache", &st));
    cv_shard_spec s = mkspec(CV_SHARD_HASH_IDENTITY, 0, 2, 0, CV_SHARD_GZIP, CV_SHARD_GZIP);
    const cv_shard_item v1[] = {{0, "zero", 4}, {4, "four", 4}, {1, "one", 3}};
    ASSERT_OK(cv_shard_write(st, "", &s, v1, 3, CV_SHARD_LAYOUT_CLOUDVOLUME, -1));
    char *json = spec_json(&s);
    cv_shard_reader *r;
    ASSERT_OK(cv_shard_reader_open(st, "", json, &r));
    cv_free(json);
    cv_shard_cache_clear();
    cv_shard_counters c0, c1, c2, c3;
    uint8_t *v;
    size_t n;
    cv__shard_counters(&c0);
    ASSERT_EQ(c0.cache_entries, 0);
    ASSERT_OK(cv_shard_reader_get(r, 0, 0, &v, &n));
    cv_free(v);
    cv__shard_counters(&c1);
    ASSERT_EQ(c1.ranged_reads - c0.ranged_reads, 3); /* shard index, minishard index, data */
    ASSERT_EQ(c1.cache_entries, 2);
    ASSERT_OK(cv_shard_reader_get(r, 4, 0, &v, &n)); /* same minishard: only the data */
    ASSERT_MEM_EQ(v, "four", 4);
    cv_free(v);
    cv__shard_counters(&c2);
    ASSERT_EQ(c2.ranged_reads - c1.ranged_reads, 1);
    ASSERT_OK(cv_shard_reader_get(r, 1, 0, &v, &n)); /* other minishard: its index + data */
    cv_free(v);
    cv__shard_counters(&c3);
    ASSERT_EQ(c3.ranged_reads - c2.ranged_reads, 2);
    /* absent minishard: answered from the cached shard index, no read at all */
    cv_err_clear();
    ASSERT_EQ(cv_shard_reader_get(r, 3, 0, &v, &n), CV_ERR_NOTFOUND);
    cv_shard_counters c4;
    cv__shard_counters(&c4);
    ASSERT_EQ(c4.ranged_reads, c3.ranged_reads);
    /* a rewrite through cv_shard_write drops the cached indexes of that file */
    const cv_shard_item v2[] = {{0, "ZERO!", 5}, {8, "eight", 5}};
    ASSERT_OK(cv_shard_write(st, "", &s, v2, 2, CV_SHARD_LAYOUT_TENSORSTORE, 1));
    ASSERT_OK(cv_shard_reader_get(r, 0, 0, &v, &n));
    ASSERT_EQ(n, 5);
    ASSERT_MEM_EQ(v, "ZERO!", 5);
    cv_free(v);
    cv_err_clear();
    ASSERT_EQ(cv_shard_reader_get(r, 4, 0, &v, &n), CV_ERR_NOTFOUND);
    cv_err_clear();
    cv_shard_reader_close(r);
    cv_store_delete(st, "0.shard");
    cv_store_close(st);
    cv_shard_cache_clear();
    cv__shard_counters(&c4);
    ASSERT_EQ(c4.cache_entries, 0);
    ASSERT_EQ(c4.cache_bytes, 0);
}

/* Many readers on many threads through one cache, with eviction (more minishards than the
 * cache holds entries). */
typedef struct thread_arg {
    cv_shard_reader *r;
    int id;
    int errors;
} thread_arg;

#define MT_KEYS 6000

static void *reader_thread(void *p)
{
    thread_arg *a = p;
    cv_buf out, scratch;
    cv__buf_init(&out, 0);
    cv__buf_init(&scratch, 0);
    uint64_t st = (uint64_t)a->id;
    for (int i = 0; i < 4000; i++) {
        uint64_t key = rnd(&st) % MT_KEYS;
        uint8_t want[64];
        size_t wn = make_payload(key, want, 63);
        if (cv__shard_reader_get_into(a->r, key, &out, &scratch) != CV_OK || out.len != wn ||
            (wn && memcmp(out.data, want, wn) != 0)) {
            a->errors++;
        }
    }
    cv__buf_fini(&out);
    cv__buf_fini(&scratch);
    return NULL;
}

static void threads_share_cache(void)
{
    cv_store *st;
    ASSERT_OK(cv_store_open("mem://shardtest/threads", &st));
    cv_shard_spec s =
        mkspec(CV_SHARD_HASH_MURMURHASH3_X86_128, 0, 10, 2, CV_SHARD_GZIP, CV_SHARD_RAW);
    static uint8_t payload[MT_KEYS][64];
    static cv_shard_item items[MT_KEYS];
    for (uint64_t k = 0; k < MT_KEYS; k++) {
        items[k].key = k;
        items[k].data = payload[k];
        items[k].len = make_payload(k, payload[k], 63);
    }
    ASSERT_OK(cv_shard_write(st, "m", &s, items, MT_KEYS, CV_SHARD_LAYOUT_CLOUDVOLUME, 1));
    char *json = spec_json(&s);
    cv_shard_reader *r;
    ASSERT_OK(cv_shard_reader_open(st, "m", json, &r));
    cv_free(json);
    pthread_t t[4];
    thread_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i].r = r;
        a[i].id = i + 1;
        a[i].errors = 0;
        ASSERT_EQ(pthread_create(&t[i], NULL, reader_thread, &a[i]), 0);
    }
    int errors = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        errors += a[i].errors;
    }
    ASSERT_EQ(errors, 0);
    cv_shard_counters c;
    cv__shard_counters(&c);
    ASSERT_TRUE(c.cache_entries <= 4096);
    cv_shard_reader_close(r);
    cv_store_close(st);
    cv_shard_cache_clear();
}

/* ---- corrupt shard files ------------------------------------------------------------------- */

/* Put `file` as 1.shard under a fresh prefix and read `key` through a reader. */
static cv_status read_bad(const cv_shard_spec *s, const uint8_t *file, size_t len, uint64_t key,
                          size_t max_bytes)
{
    static int counter;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "bad%d", counter++);
    cv_store *st;
    CV_TRY(cv_store_open("mem://shardtest", &st));
    char key_name[128];
    uint64_t shard, mini;
    cv_shard_locate(s, key, &shard, &mini);
    char name[40];
    cv_shard_file_name(s, shard, name, sizeof name);
    snprintf(key_name, sizeof key_name, "%s/%s", prefix, name);
    cv_status rc = cv_store_put(st, key_name, file, len, NULL, -1, NULL);
    char *json = spec_json(s);
    cv_shard_reader *r = NULL;
    if (rc == CV_OK) {
        rc = cv_shard_reader_open(st, prefix, json, &r);
    }
    uint8_t *v = NULL;
    size_t n;
    if (rc == CV_OK) {
        rc = cv_shard_reader_get(r, key, max_bytes, &v, &n);
    }
    cv_free(v);
    cv_free(json);
    cv_shard_reader_close(r);
    cv_store_delete(st, key_name);
    cv_store_close(st);
    return rc;
}

static cv_status count_scanned(const cv_shard_file_entry *e, void *arg)
{
    (void)e;
    (*(uint64_t *)arg)++;
    return CV_OK;
}

static cv_status decode_bad(const cv_shard_spec *s, const uint8_t *file, size_t len,
                            size_t max_bytes)
{
    collect c = {0};
    return cv_shard_decode(s, file, len, "1.shard", max_bytes, collect_fn, &c);
}

/* Scan `file` (as 1.shard on mem://, its size as given) entry by entry. */
static cv_status scan_bad(const cv_shard_spec *s, const uint8_t *file, size_t len, uint64_t *n)
{
    cv_store *st;
    CV_TRY(cv_store_open("mem://shardtest", &st));
    cv_status rc = cv_store_put(st, "scan/1.shard", file, len, NULL, -1, NULL);
    *n = 0;
    if (rc == CV_OK) {
        rc = cv__shard_file_scan(st, "scan/1.shard", s, len, count_scanned, n);
    }
    cv_store_delete(st, "scan/1.shard");
    cv_store_close(st);
    return rc;
}

/* The index damage the scan must see too, naming the file and where. */
#define EXPECT_CORRUPT_INDEX(s, f, len, key, needle)                                               \
    do {                                                                                           \
        uint64_t n_;                                                                               \
        EXPECT_CORRUPT((s), (f), (len), (key), 0, needle);                                         \
        ASSERT_FAILS(scan_bad((s), (f), (len), &n_), CV_ERR_CORRUPT, needle);                      \
        ASSERT_FAILS(scan_bad((s), (f), (len), &n_), CV_ERR_CORRUPT,                               \
                     "shard `scan/1.shard' in mem://shardtest: ");                                 \
    } while (0)

#define EXPECT_CORRUPT(s, f, len, key, max, needle)                                                \
    do {                                                                                           \
        ASSERT_FAILS(read_bad((s), (f), (len), (key), (max)), CV_ERR_CORRUPT, needle);             \
        ASSERT_FAILS(read_bad((s), (f), (len), (key), (max)), CV_ERR_CORRUPT, ".shard'");          \
        ASSERT_FAILS(decode_bad((s), (f), (len), (max)), CV_ERR_CORRUPT, needle);                  \
        ASSERT_FAILS(decode_bad((s), (f), (len), (max)), CV_ERR_CORRUPT, "shard `1.shard'");       \
    } while (0)

static void corrupt_indexes(void)
{
    /* the CloudVolume vector: murmurhash, minishard_bits 1, shard_bits 1, raw; 1.shard */
    cv_shard_spec s =
        mkspec(CV_SHARD_HASH_MURMURHASH3_X86_128, 0, 1, 1, CV_SHARD_RAW, CV_SHARD_RAW);
    uint8_t good[256], f[256];
    size_t len = hex_decode(cv_shard_hex, good, sizeof good);
    ASSERT_OK(read_bad(&s, good, len, 42, 0));
    ASSERT_OK(decode_bad(&s, good, len, 0));
    uint64_t n_scanned = 0;
    ASSERT_OK(scan_bad(&s, good, len, &n_scanned));
    ASSERT_EQ(n_scanned, 5);

    /* shard index entry pointing past the end of the file */
    memcpy(f, good, len);
    put64(f + 8, 0x75 + 100);
    EXPECT_CORRUPT_INDEX(&s, f, len, 42, "lies past the end of the file");
    ASSERT_FAILS(scan_bad(&s, f, len, &n_scanned), CV_ERR_CORRUPT,
                 "shard `scan/1.shard' in mem://shardtest: minishard 0 index at bytes [53, 249) "
                 "lies past the end of the file (173 bytes)");
    /* negative range (end < start) */
    memcpy(f, good, len);
    put64(f + 0, 0x80);
    EXPECT_CORRUPT_INDEX(&s, f, len, 42, "minishard 0 index range [128, 117) is negative");
    /* huge uint64 values */
    memcpy(f, good, len);
    put64(f + 0, UINT64_MAX - 10);
    put64(f + 8, UINT64_MAX);
    EXPECT_CORRUPT_INDEX(&s, f, len, 42, "past the end of any possible file");
    memcpy(f, good, len);
    put64(f + 8, (uint64_t)1 << 40); /* a terabyte-long index: refused before any allocation */
    EXPECT_CORRUPT_INDEX(&s, f, len, 42, "larger than the");
    /* truncated shard index */
    EXPECT_CORRUPT_INDEX(&s, good, 20, 42, "truncated shard index");
    ASSERT_FAILS(scan_bad(&s, good, 20, &n_scanned), CV_ERR_CORRUPT,
                 "shard `scan/1.shard' in mem://shardtest: truncated shard index: the file has 20 "
                 "bytes but the index has 32");
    EXPECT_CORRUPT_INDEX(&s, good, 0, 42, "truncated shard index");
    /* minishard index of the wrong length (95 bytes, not a multiple of 24) */
    memcpy(f, good, len);
    put64(f + 8, 0x74);
    EXPECT_CORRUPT_INDEX(&s, f, len, 42, "minishard 0 index: invalid minishard index length 95");
    /* a chunk range pointing past the end: size of key 42 (last size, offset 0x1d + 0x5d) */
    memcpy(f, good, len);
    put64(f + 0x35 + 8 * 11, 5000);
    EXPECT_CORRUPT_INDEX(&s, f, len, 42, "chunk 42 at bytes [");
    EXPECT_CORRUPT_INDEX(&s, f, len, 42, "past the end of the file");
    ASSERT_FAILS(scan_bad(&s, f, len, &n_scanned), CV_ERR_CORRUPT,
                 "shard `scan/1.shard' in mem://shardtest: minishard 0: chunk 42 at bytes [44, "
                 "5044) lies past the end of the file (173 bytes)");
    /* a wrapping offset delta (overlapping the previous chunk) */
    memcpy(f, good, len);
    put64(f + 0x35 + 8 * 7, UINT64_MAX - 2);
    EXPECT_CORRUPT_INDEX(&s, f, len, 42, "wraps around");
    /* an absurd size that would overflow */
    memcpy(f, good, len);
    put64(f + 0x35 + 8 * 11, UINT64_MAX - 0x40);
    EXPECT_CORRUPT_INDEX(&s, f, len, 42, "beyond any possible file end");
}

static void corrupt_gzip(void)
{
    /* gzip minishard index and data; build a good file, then break it */
    cv_shard_spec s = mkspec(CV_SHARD_HASH_IDENTITY, 0, 0, 0, CV_SHARD_GZIP, CV_SHARD_GZIP);
    const cv_shard_item it[] = {{7, "seven seven seven", 17}};
    uint8_t *good;
    size_t len;
    uint64_t sh;
    ASSERT_OK(cv_shard_build(&s, it, 1, CV_SHARD_LAYOUT_CLOUDVOLUME, -1, &sh, &good, &len));
    ASSERT_OK(read_bad(&s, good, len, 7, 0));
    ASSERT_OK(decode_bad(&s, good, len, 0));
    uint64_t ms_start = get64(good), ms_end = get64(good + 8);
    /* garbage in the gzip'd minishard index */
    uint8_t *f = cv_malloc(len);
    ASSERT_TRUE(f != NULL);
    memcpy(f, good, len);
    f[16 + ms_start + 12] ^= 0x55;
    f[16 + ms_start + 13] ^= 0xaa;
    cv_status rc = read_bad(&s, f, len, 7, 0);
    ASSERT_EQ(rc, CV_ERR_CORRUPT);
    ASSERT_TRUE(strstr(cv_err_last()->what, "0.shard' in mem://shardtest: minishard 0 index") !=
                NULL);
    cv_err_clear();
    /* a payload that is not gzip */
    memcpy(f, good, len);
    f[16] = 0;
    EXPECT_CORRUPT(&s, f, len, 7, 0, "chunk 7: gzip");
    /* a payload that decodes to more than the caller allows */
    ASSERT_FAILS(read_bad(&s, good, len, 7, 10), CV_ERR_CORRUPT, "0.shard");
    ASSERT_FAILS(decode_bad(&s, good, len, 10), CV_ERR_CORRUPT, "more than 10 bytes");
    cv_free(f);
    (void)ms_end;

    /* gzip bomb as the minishard index: 129 MiB of zeros in ~130 KB */
    size_t bomb_n = (size_t)(CV_SHARD_MAX_MINISHARD_INDEX + (1 << 20));
    uint8_t *zeros = cv_calloc(bomb_n, 1);
    ASSERT_TRUE(zeros != NULL);
    cv_buf bomb;
    cv__buf_init(&bomb, 0);
    ASSERT_OK(cv__buf_append(&bomb, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16));
    ASSERT_OK(cv_compress_gzip.compress(1, zeros, bomb_n, &bomb));
    cv_free(zeros);
    put64(bomb.data + 8, bomb.len - 16);
    ASSERT_TRUE(bomb.len < ((size_t)1 << 20));
    EXPECT_CORRUPT(&s, bomb.data, bomb.len, 7, 0, "minishard 0 index: gzip: decompresses to more");

    /* gzip bomb as a payload: capped by the caller's max_bytes */
    cv_buf payload;
    cv__buf_init(&payload, 0);
    zeros = cv_calloc((size_t)64 << 20, 1);
    ASSERT_TRUE(zeros != NULL);
    ASSERT_OK(cv_compress_gzip.compress(1, zeros, (size_t)64 << 20, &payload));
    cv_free(zeros);
    cv_shard_spec sr = s;
    sr.minishard_index_encoding = CV_SHARD_RAW;
    cv_shard_item bi = {9, payload.data, payload.len};
    uint8_t *bf;
    size_t bl;
    sr.data_encoding = CV_SHARD_RAW; /* store the gzip bytes as they are ... */
    ASSERT_OK(cv_shard_build(&sr, &bi, 1, CV_SHARD_LAYOUT_CLOUDVOLUME, -1, &sh, &bf, &bl));
    sr.data_encoding = CV_SHARD_GZIP; /* ... and read them as a gzip payload */
    ASSERT_FAILS(read_bad(&sr, bf, bl, 9, (size_t)1 << 20), CV_ERR_CORRUPT,
                 "chunk 9: gzip: decompresses to more than 1048576 bytes");
    ASSERT_FAILS(decode_bad(&sr, bf, bl, (size_t)1 << 20), CV_ERR_CORRUPT, "decompresses to more");
    cv_free(bf);
    cv__buf_fini(&payload);
    cv__buf_fini(&bomb);
    cv_free(good);
}

/* Random damage to good shard files: any answer is fine except a crash or a wrong success. */
static cv_status any_fn(uint64_t key, const uint8_t *data, size_t n, void *arg)
{
    (void)key;
    size_t *sum = arg;
    for (size_t i = 0; i < n; i++) {
        *sum += data[i];
    }
    return CV_OK;
}

static void corrupt_random_bytes(void)
{
    uint64_t state = 99;
    for (int round = 0; round < 4; round++) {
        cv_shard_spec s =
            mkspec(round & 1 ? CV_SHARD_HASH_MURMURHASH3_X86_128 : CV_SHARD_HASH_IDENTITY, 0, 2, 0,
                   (cv_shard_encoding)(round >> 1), (cv_shard_encoding)(round & 1));
        cv_shard_item it[20];
        uint8_t payload[20][40];
        for (int i = 0; i < 20; i++) {
            it[i].key = (uint64_t)i * 3;
            it[i].data = payload[i];
            it[i].len = make_payload(it[i].key, payload[i], 39);
        }
        uint8_t *good;
        size_t len;
        uint64_t sh;
        ASSERT_OK(cv_shard_build(&s, it, 20, CV_SHARD_LAYOUT_CLOUDVOLUME, -1, &sh, &good, &len));
        uint8_t *f = cv_malloc(len);
        ASSERT_TRUE(f != NULL);
        for (int trial = 0; trial < 300; trial++) {
            memcpy(f, good, len);
            int flips = 1 + (int)(rnd(&state) % 4);
            for (int k = 0; k < flips; k++) {
                size_t pos = (size_t)(rnd(&state) % len);
                f[pos] = (uint8_t)rnd(&state);
            }
            size_t cut = trial % 7 == 0 ? (size_t)(rnd(&state) % len) : len;
            size_t sum = 0;
            cv_status rc = cv_shard_decode(&s, f, cut, "r.shard", 4096, any_fn, &sum);
            ASSERT_TRUE(rc == CV_OK || rc == CV_ERR_CORRUPT);
            if (rc == CV_ERR_CORRUPT) {
                ASSERT_TRUE(strstr(cv_err_last()->what, "r.shard") != NULL);
            }
            cv_err_clear();
            rc = read_bad(&s, f, cut, it[trial % 20].key, 4096);
            ASSERT_TRUE(rc == CV_OK || rc == CV_ERR_CORRUPT || rc == CV_ERR_NOTFOUND);
            if (rc == CV_ERR_CORRUPT) {
                ASSERT_TRUE(strstr(cv_err_last()->what, ".shard' in mem://shardtest") != NULL);
            }
            cv_err_clear();
        }
        cv_free(f);
        cv_free(good);
    }
    cv_shard_cache_clear();
}

TEST_MAIN(murmur3_vectors, morton_vectors, spec_parse_and_errors, locate_vectors, volume_geometry,
          params_hashed, params_image, minishard_index_vectors, shard_bytes_tensorstore,
          shard_bytes_cloudvolume, plan_file_matches_build, read_vector_files, scan_index_pieces,
          round_trips_mem, reader_value_views, round_trip_file_and_large, build_errors,
          cache_and_rewrite, threads_share_cache, corrupt_indexes, corrupt_gzip,
          corrupt_random_bytes)
