/* SPDX-License-Identifier: BSD-3-Clause
 * bench_codec_ref.c: the compressed_segmentation, crackle and jpeg codecs against the
 * implementations CloudVolume uses, on the same 64x64x64 chunks, in one run. Chunks: blocky
 * labels (boxes of 5-7 voxels, 1-8 labels per 8x8x8 block) and random labels (a new one per
 * voxel), uint32 and uint64; smooth and noisy uint8 images (jpeg, one X x Y*Z grayscale image,
 * quality 85), also as edge chunks 4 voxels smaller per side (60x60x60: sides not multiples
 * of 8).
 *
 * The references are separate programs (they are not part of cvmpi), found in the directory
 * named by CV_BENCH_REF_DIR; without it, or without a program, only cvmpi is measured:
 *   cseg_ref IN OUT uint32|uint64 X Y Z BX BY BZ RUNS   compressedseg's C++ encoder/decoder
 *   crackle_ref IN OUT uint32|uint64 X Y Z RUNS          crackle's C++ encoder/decoder, with
 *                                    crackle.compress's parameters (no pins, Markov order 0,
 *                                    one thread) and fortran_order false
 *   jpeg_ref IN OUT WIDTH HEIGHT QUALITY RUNS            TurboJPEG called as simplejpeg does
 * Each reads the raw chunk from IN, writes its encoding to OUT and prints
 * "ENCODE_BEST_S DECODE_BEST_S BYTES". The encodings must equal cvmpi's byte for byte (a
 * difference fails the benchmark). cvmpi and the reference take turns (3 rounds); MB/s counts
 * uncompressed bytes of the fastest run; ratio = cvmpi / reference.
 * `--quick` runs 16x16x16, 1 run (CTest smoke test). */
#include "benchfn.h"
#include "codec/codec.h"
#include "cvmpi.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ROUNDS 3 /* cvmpi, reference, cvmpi, ... */

typedef struct chunk {
    const char *name;
    const char *codec;
    cv_chunk_desc d;
    uint8_t *data;
    size_t n;
} chunk;

static void put_label(chunk *c, size_t i, uint64_t v)
{
    if (c->d.dtype == CV_UINT64) {
        memcpy(c->data + 8 * i, &v, 8);
    } else {
        uint32_t w = (uint32_t)v;
        memcpy(c->data + 4 * i, &w, 4);
    }
}

/* Boxes of 6x7x5 voxels, offset so that they straddle the 8x8x8 blocks; large hashed ids. */
static void make_blocky(chunk *c)
{
    size_t i = 0;
    for (uint32_t z = 0; z < c->d.shape[2]; z++) {
        for (uint32_t y = 0; y < c->d.shape[1]; y++) {
            for (uint32_t x = 0; x < c->d.shape[0]; x++, i++) {
                uint64_t cell = (x + 3) / 6 + 1000 * ((y + 2) / 7) + 1000000 * ((z + 1) / 5);
                put_label(c, i, bench_mix64(cell) | (c->d.dtype == CV_UINT64 ? 1ull << 40 : 0));
            }
        }
    }
}

static void make_random(chunk *c)
{
    for (size_t i = 0; i < c->n / cv_dtype_size(c->d.dtype); i++) {
        put_label(c, i, bench_mix64(i + 77));
    }
}

/* Smooth waves (as bench_codecs), with uniform noise of +-noise/2 if noise > 0. */
static void make_image(chunk *c, int noise)
{
    uint64_t r = 0x9e3779b97f4a7c15ull;
    size_t k = 0;
    for (uint32_t z = 0; z < c->d.shape[2]; z++) {
        for (uint32_t y = 0; y < c->d.shape[1]; y++) {
            int base = (int)(((y * 3 + z * 5) / 7) % 96);
            for (uint32_t x = 0; x < c->d.shape[0]; x++, k++) {
                int wave = (int)((x + y / 2 + z / 3) % 64);
                int v = 64 + base + 2 * (wave < 32 ? wave : 63 - wave);
                if (noise) {
                    r ^= r << 13;
                    r ^= r >> 7;
                    r ^= r << 17;
                    v += (int)(r % (uint64_t)noise) - noise / 2;
                }
                c->data[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
}

typedef struct job {
    const cv_codec *codec;
    const chunk *c;
    cv_buf enc, dec;
} job;

static int run_encode(void *payload)
{
    job *j = payload;
    j->enc.len = 0;
    return j->codec->encode(&j->c->d, -1, j->c->data, j->c->n, &j->enc) != CV_OK;
}

static int run_decode(void *payload)
{
    job *j = payload;
    j->dec.len = 0;
    return j->codec->decode(&j->c->d, j->enc.data, j->enc.len, &j->dec) != CV_OK;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(p, 1, n, f) != n;
    if (f && fclose(f) != 0) {
        bad = 1;
    }
    return bad;
}

/* 1 if `path` holds exactly the n bytes at p. */
static int same_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return 0;
    }
    uint8_t *buf = malloc(n + 1);
    size_t got = buf ? fread(buf, 1, n + 1, f) : 0;
    int same = buf && got == n && memcmp(buf, p, n) == 0;
    fclose(f);
    free(buf);
    return same;
}

typedef struct ref_result {
    double enc_s, dec_s;
    int same_bytes;
} ref_result;

/* Run the reference program for this chunk; 0 if it ran and printed its times. */
static int run_reference(const char *dir, const chunk *c, const job *j, int runs, ref_result *r)
{
    const bool jpeg = strcmp(c->codec, "jpeg") == 0, crackle = strcmp(c->codec, "crackle") == 0;
    char prog[1024], in[1024], out[1024], cmd[4096];
    snprintf(prog, sizeof prog, "%s/%s", dir,
             jpeg      ? "jpeg_ref"
             : crackle ? "crackle_ref"
                       : "cseg_ref");
    if (access(prog, X_OK) != 0) {
        return 1;
    }
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(in, sizeof in, "%s/bench_codec_ref.%ld.in", tmp, (long)getpid());
    snprintf(out, sizeof out, "%s/bench_codec_ref.%ld.out", tmp, (long)getpid());
    if (write_file(in, c->data, c->n) != 0) {
        return 1;
    }
    const uint32_t *s = c->d.shape;
    if (jpeg) {
        snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' %u %u 85 %d", prog, in, out, s[0], s[1] * s[2],
                 runs);
    } else if (crackle) {
        snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' %s %u %u %u %d", prog, in, out,
                 cv_dtype_name(c->d.dtype), s[0], s[1], s[2], runs);
    } else {
        snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' %s %u %u %u 8 8 8 %d", prog, in, out,
                 cv_dtype_name(c->d.dtype), s[0], s[1], s[2], runs);
    }
    FILE *p = popen(cmd, "r");
    int rc = 1;
    if (p) {
        unsigned long long bytes = 0;
        rc = fscanf(p, "%lf %lf %llu", &r->enc_s, &r->dec_s, &bytes) == 3 ? 0 : 1;
        rc |= pclose(p) != 0;
    }
    r->same_bytes = rc == 0 && same_file(out, j->enc.data, j->enc.len);
    unlink(in);
    unlink(out);
    return rc;
}

int main(int argc, char **argv)
{
    uint32_t side = 64;
    int runs = 20;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            side = 16;
            runs = 1;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0) {
            runs = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--quick] [--runs N]\n", argv[0]);
            return 2;
        }
    }
    const char *ref_dir = getenv("CV_BENCH_REF_DIR");
    struct {
        const char *name, *codec;
        cv_dtype dtype;
        int kind;   /* 0 blocky, 1 random, 2 smooth image, 3 noisy image */
        int shrink; /* voxels less per side: an edge chunk, sides not multiples of 8 */
    } specs[] = {
        {"blocky", "compressed_segmentation", CV_UINT32, 0, 0},
        {"blocky", "compressed_segmentation", CV_UINT64, 0, 0},
        {"random", "compressed_segmentation", CV_UINT32, 1, 0},
        {"random", "compressed_segmentation", CV_UINT64, 1, 0},
        {"blocky", "crackle", CV_UINT32, 0, 0},
        {"blocky", "crackle", CV_UINT64, 0, 0},
        {"random", "crackle", CV_UINT32, 1, 0},
        {"random", "crackle", CV_UINT64, 1, 0},
        {"img_smooth", "jpeg", CV_UINT8, 2, 0},
        {"img_noisy", "jpeg", CV_UINT8, 3, 0},
        {"img_smooth_edge", "jpeg", CV_UINT8, 2, 4},
        {"img_noisy_edge", "jpeg", CV_UINT8, 3, 4},
    };
    printf("# bench_codec_ref: %ux%ux%u chunks, best of %d rounds of %d runs, MB/s of "
           "uncompressed bytes; reference directory: %s\n",
           side, side, side, ROUNDS, runs,
           ref_dir ? ref_dir : "(CV_BENCH_REF_DIR unset: cvmpi only)");
    printf("codec\tchunk\tdtype\tratio_size\tcvmpi_enc_MB/s\tcvmpi_dec_MB/s\tref_enc_MB/s\t"
           "ref_dec_MB/s\tenc_x\tdec_x\tsame_bytes\n");
    int failed = 0;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        chunk c = {specs[i].name, specs[i].codec, {0}, NULL, 0};
        c.d.dtype = specs[i].dtype;
        c.d.channels = 1;
        for (int k = 0; k < 3; k++) {
            c.d.shape[k] = side - (uint32_t)specs[i].shrink;
            c.d.cseg_block[k] = 8;
        }
        c.n = cv__chunk_desc_bytes(&c.d);
        c.data = malloc(c.n);
        if (!c.data) {
            return 1;
        }
        switch (specs[i].kind) {
        case 0:
            make_blocky(&c);
            break;
        case 1:
            make_random(&c);
            break;
        default:
            make_image(&c, specs[i].kind == 3 ? 64 : 0);
        }
        job j = {cv__codec_find(c.codec), &c, {0}, {0}};
        cv__buf_init(&j.enc, 0);
        cv__buf_init(&j.dec, 0);
        /* Rounds alternate cvmpi and the reference, so that a change of load on the shared
         * machine reaches both; the fastest run of each counts. */
        double enc_s = 1e300, dec_s = 1e300, ref_enc_s = 1e300, ref_dec_s = 1e300;
        int ok = j.codec != NULL, have_ref = ref_dir != NULL, same = 1;
        for (int round = 0; ok && round < ROUNDS; round++) {
            bench_timing te, td;
            ok = bench_time(run_encode, &j, runs, &te) == 0 &&
                 bench_time(run_decode, &j, runs, &td) == 0 &&
                 ((j.codec->flags & CV_CODEC_LOSSY) ||
                  (j.dec.len == c.n && memcmp(j.dec.data, c.data, c.n) == 0));
            enc_s = te.best_s < enc_s ? te.best_s : enc_s;
            dec_s = td.best_s < dec_s ? td.best_s : dec_s;
            ref_result r;
            if (ok && have_ref && run_reference(ref_dir, &c, &j, runs, &r) == 0) {
                ref_enc_s = r.enc_s < ref_enc_s ? r.enc_s : ref_enc_s;
                ref_dec_s = r.dec_s < ref_dec_s ? r.dec_s : ref_dec_s;
                same &= r.same_bytes;
            } else {
                have_ref = 0;
            }
        }
        if (!ok) {
            fprintf(stderr, "bench_codec_ref: %s %s %s failed: %s\n", c.codec, c.name,
                    cv_dtype_name(c.d.dtype), cv_err_last()->what);
            failed = 1;
        } else {
            const double enc = bench_mbps((double)c.n, enc_s);
            const double dec = bench_mbps((double)c.n, dec_s);
            printf("%s\t%s\t%s\t%.2f\t%.1f\t%.1f", c.codec, c.name, cv_dtype_name(c.d.dtype),
                   (double)c.n / (double)j.enc.len, enc, dec);
            if (have_ref) {
                const double renc = bench_mbps((double)c.n, ref_enc_s);
                const double rdec = bench_mbps((double)c.n, ref_dec_s);
                printf("\t%.1f\t%.1f\t%.2f\t%.2f\t%s\n", renc, rdec, enc / renc, dec / rdec,
                       same ? "yes" : "NO");
                failed |= !same;
            } else {
                printf("\t-\t-\t-\t-\t-\n");
            }
        }
        cv__buf_fini(&j.enc);
        cv__buf_fini(&j.dec);
        free(c.data);
    }
    return failed;
}
