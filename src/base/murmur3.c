/* SPDX-License-Identifier: BSD-3-Clause
 * murmur3.c: MurmurHash3_x86_128 (Austin Appleby's public-domain algorithm, written from its
 * description) and the 64-bit value the sharded format takes from it: the low 64 bits
 * h1 | h2 << 32 of the hash of a uint64's 8 little-endian bytes (precomputed-sharded §2,
 * https://github.com/google/neuroglancer/blob/master/src/datasource/precomputed/sharded.md).
 * Pure functions: no I/O, no allocation. */
#include "cvmpi.h"

#define C1 0x239b961bu
#define C2 0xab0e9789u
#define C3 0x38b34ae5u
#define C4 0xa1e38b93u

static uint32_t rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

static uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The per-lane mixing of one 32-bit input word k into lane i. */
static uint32_t mix_k(int lane, uint32_t k)
{
    static const uint32_t mul1[4] = {C1, C2, C3, C4};
    static const uint32_t mul2[4] = {C2, C3, C4, C1};
    static const int rot[4] = {15, 16, 17, 18};
    k *= mul1[lane];
    k = rotl32(k, rot[lane]);
    return k * mul2[lane];
}

void cv_murmurhash3_x86_128(const void *data, size_t len, uint32_t seed, uint32_t out[4])
{
    static const int hrot[4] = {19, 17, 15, 13};
    static const uint32_t hadd[4] = {0x561ccd1bu, 0x0bcaa747u, 0x96cd1c35u, 0x32ac3b17u};
    const uint8_t *p = data;
    uint32_t h[4] = {seed, seed, seed, seed};
    size_t n_blocks = len / 16;

    for (size_t b = 0; b < n_blocks; b++) {
        const uint8_t *block = p + 16 * b;
        for (int i = 0; i < 4; i++) {
            h[i] ^= mix_k(i, load_le32(block + 4 * i));
            h[i] = rotl32(h[i], hrot[i]);
            h[i] += h[(i + 1) & 3];
            h[i] = h[i] * 5 + hadd[i];
        }
    }

    /* Tail: up to 15 bytes, little endian into k1..k4; each lane mixes only if it got bytes.
     * (The reference's fall-through switch, unrolled: the lanes are independent.) */
    const uint8_t *tail = p + 16 * n_blocks;
    size_t rest = len & 15;
    uint32_t k[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < rest; i++) {
        k[i / 4] ^= (uint32_t)tail[i] << (8 * (i % 4));
    }
    for (int i = 0; i < 4; i++) {
        if (rest > (size_t)(4 * i)) {
            h[i] ^= mix_k(i, k[i]);
        }
    }

    /* Finalisation; the length enters as a 32-bit value, as in the reference. */
    for (int i = 0; i < 4; i++) {
        h[i] ^= (uint32_t)len;
    }
    h[0] += h[1] + h[2] + h[3];
    h[1] += h[0];
    h[2] += h[0];
    h[3] += h[0];
    for (int i = 0; i < 4; i++) {
        h[i] = fmix32(h[i]);
    }
    h[0] += h[1] + h[2] + h[3];
    h[1] += h[0];
    h[2] += h[0];
    h[3] += h[0];
    for (int i = 0; i < 4; i++) {
        out[i] = h[i];
    }
}

uint64_t cv_murmurhash3_u64(uint64_t key, uint32_t seed)
{
    uint8_t bytes[8];
    for (int i = 0; i < 8; i++) {
        bytes[i] = (uint8_t)(key >> (8 * i));
    }
    uint32_t h[4];
    cv_murmurhash3_x86_128(bytes, sizeof bytes, seed, h);
    return (uint64_t)h[0] | (uint64_t)h[1] << 32;
}
