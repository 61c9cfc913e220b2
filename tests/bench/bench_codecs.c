/* SPDX-License-Identifier: BSD-3-Clause
 * bench_codecs.c: encode and decode speed of every built-in chunk codec (cv__codec_find) on
 * generated 128x128x64 chunks, in memory: segmentation with 1, 16 and 1000 labels per chunk
 * (uint32 and uint64, Voronoi cells of jittered-grid seeds), smooth and noisy uint8 images,
 * a smooth float32 field. gzip and br run as byte compressions of the raw chunk. MB/s counts
 * uncompressed bytes; each pair is round-tripped (lossless codecs must give the chunk back
 * exactly, lossy ones report PSNR or the largest error). Same-run baseline: memcpy of the same
 * bytes. One TSV line per (chunk, codec), then a summary per codec. Runs in one process: a
 * chunk is a few MiB, peak RSS says nothing here. `--quick` runs 32x32x16, 1 run (CTest).
 * `--gzip-dir DIR` instead times the gzip codec alone on every file of DIR (bench_transfer.sh:
 * the codec-only bound of a raw->gzip transfer, one thread). */
#include "benchfn.h"
#include "codec/codec.h"
#include "compress/compress.h"
#include "cvmpi.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#ifndef BENCH_GIT_REV
#define BENCH_GIT_REV "unknown"
#endif

enum kind { KIND_SEG, KIND_IMG, KIND_FLOAT };

typedef struct dataset {
    const char *name;
    enum kind kind;
    cv_chunk_desc d;
    uint8_t *data;
    size_t n;
    double memcpy_mbps;
} dataset;

/* Codecs tried per kind of chunk; absent ones (jxl, fpzip, kempressed) are skipped. */
static const char *const seg_codecs[] = {
    "raw", "compressed_segmentation", "compresso", "crackle", "gzip", "br", NULL};
static const char *const img_codecs[] = {"raw", "jpeg", "png", "jxl", "gzip", "br", NULL};
static const char *const float_codecs[] = {"raw", "fpzip", "kempressed", "gzip", "br", NULL};

/* Transport compressions measured beside the chunk codecs, through the codec interface. */
#define BYTES_ADAPTER(fn, z)                                                                       \
    static cv_status fn##_decode(const cv_chunk_desc *d, const uint8_t *src, size_t n,             \
                                 cv_buf *out)                                                      \
    {                                                                                              \
        (void)d;                                                                                   \
        return z.decompress(src, n, out);                                                          \
    }                                                                                              \
    static cv_status fn##_encode(const cv_chunk_desc *d, int level, const uint8_t *src, size_t n,  \
                                 cv_buf *out)                                                      \
    {                                                                                              \
        (void)d;                                                                                   \
        return z.compress(level, src, n, out);                                                     \
    }
BYTES_ADAPTER(gzip, cv_compress_gzip)
BYTES_ADAPTER(br, cv_compress_brotli)
static const cv_codec bench_gzip = {"gzip", 0, NULL, NULL, 9, gzip_decode, gzip_encode};
static const cv_codec bench_br = {"br", 0, NULL, NULL, 5, br_decode, br_encode};

static const cv_codec *find_codec(const char *name)
{
    return strcmp(name, "gzip") == 0 ? &bench_gzip
           : strcmp(name, "br") == 0 ? &bench_br
                                     : cv__codec_find(name);
}

#define MAX_CODECS 16

/* Per codec, over the chunks it ran on: for the summary. */
typedef struct codec_sum {
    const char *name;
    int n;
    double enc_min, enc_max, dec_min, dec_max, ratio_min, ratio_max, dec_vs_memcpy_max;
} codec_sum;

static codec_sum sums[MAX_CODECS];
static int n_sums;

/* ---- data ------------------------------------------------------------------------------ */

/* Voronoi cells of g[0]*g[1]*g[2] seeds, one jittered into each cell of a g-grid over the
 * chunk: every voxel takes the label of the nearest seed among the 27 grid cells around its
 * own. Labels are large hashed ids (above 2^32 for uint64). */
static void make_segmentation(dataset *s, const int g[3])
{
    const uint32_t *sh = s->d.shape;
    int ns = g[0] * g[1] * g[2];
    double *seed = malloc(sizeof *seed * 3 * (size_t)ns);
    uint64_t *label = malloc(sizeof *label * (size_t)ns);
    double cs[3];
    for (int d = 0; d < 3; d++) {
        cs[d] = (double)sh[d] / g[d];
    }
    for (int i = 0; i < ns; i++) {
        int c[3] = {i % g[0], i / g[0] % g[1], i / (g[0] * g[1])};
        uint64_t h = bench_mix64((uint64_t)i + 12345);
        for (int d = 0; d < 3; d++) {
            double u = 0.1 + 0.8 * (double)((h >> (16 * d)) & 0xffff) / 65535.0;
            seed[3 * i + d] = (c[d] + u) * cs[d];
        }
        uint64_t id = bench_mix64(h);
        label[i] = s->d.dtype == CV_UINT64 ? (id | ((uint64_t)1 << 40)) : 1 + (id % 4000000000ull);
    }
    size_t esz = cv_dtype_size(s->d.dtype);
    size_t k = 0;
    for (uint32_t z = 0; z < sh[2]; z++) {
        for (uint32_t y = 0; y < sh[1]; y++) {
            for (uint32_t x = 0; x < sh[0]; x++, k++) {
                double p[3] = {x + 0.5, y + 0.5, z + 0.5};
                int home[3];
                for (int d = 0; d < 3; d++) {
                    home[d] = (int)(p[d] / cs[d]);
                    home[d] = home[d] >= g[d] ? g[d] - 1 : home[d];
                }
                double best = 1e300;
                int who = 0;
                for (int dz = -1; dz <= 1; dz++) {
                    for (int dy = -1; dy <= 1; dy++) {
                        for (int dx = -1; dx <= 1; dx++) {
                            int c[3] = {home[0] + dx, home[1] + dy, home[2] + dz};
                            if (c[0] < 0 || c[1] < 0 || c[2] < 0 || c[0] >= g[0] || c[1] >= g[1] ||
                                c[2] >= g[2]) {
                                continue;
                            }
                            int i = c[0] + g[0] * (c[1] + g[1] * c[2]);
                            double dist = 0;
                            for (int d = 0; d < 3; d++) {
                                double t = p[d] - seed[3 * i + d];
                                dist += t * t;
                            }
                            if (dist < best) {
                                best = dist;
                                who = i;
                            }
                        }
                    }
                }
                if (esz == 8) {
                    memcpy(s->data + 8 * k, &label[who], 8);
                } else {
                    uint32_t v = (uint32_t)label[who];
                    memcpy(s->data + 4 * k, &v, 4);
                }
            }
        }
    }
    free(seed);
    free(label);
}

/* Smooth waves as in bench_volume; `noise` adds uniform noise of +-noise/2 (clamped). */
static void make_image(dataset *s, int noise)
{
    const uint32_t *sh = s->d.shape;
    uint64_t r = 0x9e3779b97f4a7c15ull;
    size_t k = 0;
    for (uint32_t z = 0; z < sh[2]; z++) {
        for (uint32_t y = 0; y < sh[1]; y++) {
            int base = (int)(((y * 3 + z * 5) / 7) % 96);
            for (uint32_t x = 0; x < sh[0]; x++, k++) {
                int wave = (int)((x + y / 2 + z / 3) % 64);
                wave = wave < 32 ? wave : 63 - wave;
                int v = 64 + base + wave * 2;
                if (noise) {
                    r ^= r << 13;
                    r ^= r >> 7;
                    r ^= r << 17;
                    v += (int)(r % (uint64_t)noise) - noise / 2;
                }
                s->data[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
}

static void make_float(dataset *s)
{
    const uint32_t *sh = s->d.shape;
    size_t k = 0;
    for (uint32_t z = 0; z < sh[2]; z++) {
        for (uint32_t y = 0; y < sh[1]; y++) {
            for (uint32_t x = 0; x < sh[0]; x++, k++) {
                float v = (float)(sin(x / 17.0) * cos(y / 23.0) + 0.5 * sin(z / 11.0 + x / 40.0));
                memcpy(s->data + 4 * k, &v, 4);
            }
        }
    }
}

/* ---- measurements ---------------------------------------------------------------------- */

typedef struct job {
    const cv_codec *c;
    const dataset *s;
    cv_buf enc; /* encoded bytes, kept by encode for decode */
    cv_buf dec;
    uint8_t *dst; /* memcpy */
} job;

static int run_memcpy(void *payload)
{
    job *j = payload;
    memcpy(j->dst, j->s->data, j->s->n);
    return 0;
}

static int run_encode(void *payload)
{
    job *j = payload;
    j->enc.len = 0;
    cv_status st = j->c->encode(&j->s->d, -1, j->s->data, j->s->n, &j->enc);
    if (st != CV_OK) {
        fprintf(stderr, "bench_codecs: %s encode %s: %s: %s\n", j->c->name, j->s->name,
                cv_errname(st), cv_err_last()->what);
        return 1;
    }
    return 0;
}

static int run_decode(void *payload)
{
    job *j = payload;
    j->dec.len = 0;
    cv_status st = j->c->decode(&j->s->d, j->enc.data, j->enc.len, &j->dec);
    if (st != CV_OK) {
        fprintf(stderr, "bench_codecs: %s decode %s: %s: %s\n", j->c->name, j->s->name,
                cv_errname(st), cv_err_last()->what);
        return 1;
    }
    return 0;
}

/* Round-trip check: "exact", or for lossy codecs PSNR (uint8) / largest error (float32).
 * Returns 1 if a lossless codec did not give the bytes back. */
static int check(const job *j, char *buf, size_t cap)
{
    const dataset *s = j->s;
    if (j->dec.len != s->n) {
        snprintf(buf, cap, "LENGTH %zu != %zu", j->dec.len, s->n);
        return 1;
    }
    if (memcmp(j->dec.data, s->data, s->n) == 0) {
        snprintf(buf, cap, "exact");
        return 0;
    }
    bool lossy = (j->c->flags & CV_CODEC_LOSSY) || strcmp(j->c->name, "kempressed") == 0;
    if (s->kind == KIND_IMG) {
        double se = 0;
        for (size_t i = 0; i < s->n; i++) {
            double t = (double)j->dec.data[i] - (double)s->data[i];
            se += t * t;
        }
        snprintf(buf, cap, "psnr=%.1fdB", 10.0 * log10(255.0 * 255.0 / (se / (double)s->n)));
    } else if (s->kind == KIND_FLOAT) {
        double worst = 0;
        for (size_t i = 0; i < s->n; i += 4) {
            float a, b;
            memcpy(&a, s->data + i, 4);
            memcpy(&b, j->dec.data + i, 4);
            worst = fabs((double)a - b) > worst ? fabs((double)a - b) : worst;
        }
        snprintf(buf, cap, "maxerr=%.2g", worst);
    } else {
        snprintf(buf, cap, "DIFFERS");
        return 1;
    }
    if (!lossy) {
        snprintf(buf + strlen(buf), cap - strlen(buf), " (LOSSLESS CODEC DIFFERS)");
        return 1;
    }
    return 0;
}

static codec_sum *sum_for(const char *name)
{
    for (int i = 0; i < n_sums; i++) {
        if (strcmp(sums[i].name, name) == 0) {
            return &sums[i];
        }
    }
    codec_sum *c = &sums[n_sums++];
    memset(c, 0, sizeof *c);
    c->name = name;
    c->enc_min = c->dec_min = c->ratio_min = 1e300;
    return c;
}

static void add_sum(const char *name, double enc, double dec, double ratio, double dec_vs_mc)
{
    codec_sum *c = sum_for(name);
    c->n++;
    c->enc_min = fmin(c->enc_min, enc);
    c->enc_max = fmax(c->enc_max, enc);
    c->dec_min = fmin(c->dec_min, dec);
    c->dec_max = fmax(c->dec_max, dec);
    c->ratio_min = fmin(c->ratio_min, ratio);
    c->ratio_max = fmax(c->ratio_max, ratio);
    c->dec_vs_memcpy_max = fmax(c->dec_vs_memcpy_max, dec_vs_mc);
}

static const char *host_name(void)
{
    static char host[256] = "?";
    gethostname(host, sizeof host - 1);
    return host;
}

/* Time memcpy, then encode and decode with every codec for this kind, one TSV line each. */
static void bench_turbojpeg(const dataset *s, int runs, double codec_enc, double codec_dec,
                            const char *shape);

static int bench_dataset(dataset *s, int runs)
{
    const char *const *names = s->kind == KIND_SEG   ? seg_codecs
                               : s->kind == KIND_IMG ? img_codecs
                                                     : float_codecs;
    int failed = 0;
    char shape[64];
    snprintf(shape, sizeof shape, "%ux%ux%u", s->d.shape[0], s->d.shape[1], s->d.shape[2]);
    job j;
    memset(&j, 0, sizeof j);
    j.s = s;
    j.dst = malloc(s->n);
    if (!j.dst) {
        return 1;
    }
    memset(j.dst, 0, s->n); /* fault the destination in */
    bench_timing t;
    bench_time(run_memcpy, &j, runs * 4, &t);
    s->memcpy_mbps = bench_mbps((double)s->n, t.best_s);
    printf("%s\t%s\t%s\t%s\t%s\tmemcpy\t%d\t%.6f\t%.1f\t%.6f\t%.1f\t1.00\texact\n", BENCH_GIT_REV,
           host_name(), s->name, cv_dtype_name(s->d.dtype), shape, t.runs, t.best_s, s->memcpy_mbps,
           t.best_s, s->memcpy_mbps);
    free(j.dst);
    for (size_t i = 0; names[i]; i++) {
        j.c = find_codec(names[i]);
        if (!j.c || !j.c->encode) {
            printf("# %s: codec %s %s, skipped\n", s->name, names[i],
                   j.c ? "is decode-only" : "not built in");
            continue;
        }
        cv__buf_init(&j.enc, 0);
        cv__buf_init(&j.dec, 0);
        bench_timing te, td;
        int rc = bench_time(run_encode, &j, runs, &te);
        if (rc == 0) {
            rc = bench_time(run_decode, &j, runs, &td);
        }
        char note[96];
        if (rc == 0 && check(&j, note, sizeof note) != 0) {
            fprintf(stderr, "bench_codecs: %s on %s: round trip: %s\n", j.c->name, s->name, note);
            rc = 1;
        }
        if (rc == 0) {
            double enc = bench_mbps((double)s->n, te.best_s);
            double dec = bench_mbps((double)s->n, td.best_s);
            double ratio = (double)s->n / (double)(j.enc.len ? j.enc.len : 1);
            printf("%s\t%s\t%s\t%s\t%s\t%s\t%d\t%.6f\t%.1f\t%.6f\t%.1f\t%.2f\t%s\n", BENCH_GIT_REV,
                   host_name(), s->name, cv_dtype_name(s->d.dtype), shape, j.c->name, te.runs,
                   te.best_s, enc, td.best_s, dec, ratio, note);
            add_sum(j.c->name, enc, dec, ratio, dec / s->memcpy_mbps);
            if (strcmp(j.c->name, "jpeg") == 0 && s->d.channels == 1) {
                bench_turbojpeg(s, runs, enc, dec, shape);
            }
        } else {
            failed = 1;
        }
        cv__buf_fini(&j.enc);
        cv__buf_fini(&j.dec);
    }
    return failed;
}

/* ---- libjpeg-turbo alone, the baseline of the jpeg codec -------------------------------- */

typedef struct tj_job {
    const dataset *s;
    tjhandle enc, dec;
    unsigned char *jpeg;
    unsigned long jpeg_len;
    uint8_t *pixels;
} tj_job;

static int run_tj_encode(void *payload)
{
    tj_job *t = payload;
    const cv_chunk_desc *d = &t->s->d;
    /* The same call the codec makes: width X, height Y*Z, grayscale, quality 85, baseline. */
    unsigned long len = tjBufSize((int)d->shape[0], (int)(d->shape[1] * d->shape[2]), TJSAMP_GRAY);
    if (!t->jpeg) {
        t->jpeg = tjAlloc((int)len);
    }
    t->jpeg_len = len;
    return tjCompress2(t->enc, t->s->data, (int)d->shape[0], 0, (int)(d->shape[1] * d->shape[2]),
                       TJPF_GRAY, &t->jpeg, &t->jpeg_len, TJSAMP_GRAY, 85, TJFLAG_NOREALLOC) != 0;
}

static int run_tj_decode(void *payload)
{
    tj_job *t = payload;
    const cv_chunk_desc *d = &t->s->d;
    return tjDecompress2(t->dec, t->jpeg, t->jpeg_len, t->pixels, (int)d->shape[0], 0,
                         (int)(d->shape[1] * d->shape[2]), TJPF_GRAY, 0) != 0;
}

static double tj_ratio_enc_min = 1e9, tj_ratio_dec_min = 1e9;

/* Time libjpeg-turbo itself on the dataset and compare with the codec's numbers. */
static void bench_turbojpeg(const dataset *s, int runs, double codec_enc, double codec_dec,
                            const char *shape)
{
    tj_job t = {.s = s, .enc = tjInitCompress(), .dec = tjInitDecompress()};
    t.pixels = malloc(s->n);
    bench_timing te, td;
    if (t.enc && t.dec && t.pixels && bench_time(run_tj_encode, &t, runs, &te) == 0 &&
        bench_time(run_tj_decode, &t, runs, &td) == 0) {
        double enc = bench_mbps((double)s->n, te.best_s), dec = bench_mbps((double)s->n, td.best_s);
        printf("%s	%s	%s	%s	%s	libjpeg-turbo	%d	%.6f	%.1f	"
               "%.6f	%.1f	%.2f	baseline\n",
               BENCH_GIT_REV, host_name(), s->name, cv_dtype_name(s->d.dtype), shape, te.runs,
               te.best_s, enc, td.best_s, dec, (double)s->n / (double)t.jpeg_len);
        tj_ratio_enc_min = fmin(tj_ratio_enc_min, codec_enc / enc);
        tj_ratio_dec_min = fmin(tj_ratio_dec_min, codec_dec / dec);
    }
    if (t.enc) {
        tjDestroy(t.enc);
    }
    if (t.dec) {
        tjDestroy(t.dec);
    }
    tjFree(t.jpeg);
    free(t.pixels);
}

/* ---- --gzip-dir ------------------------------------------------------------------------- */

typedef struct files_job {
    const cv_codec *c;
    uint8_t **data;
    size_t *len;
    size_t n;
    cv_buf out;
    double out_bytes;
} files_job;

static int run_gzip_files(void *payload)
{
    files_job *f = payload;
    cv_chunk_desc d;
    memset(&d, 0, sizeof d); /* a byte compression ignores it */
    f->out_bytes = 0;
    for (size_t i = 0; i < f->n; i++) {
        f->out.len = 0;
        if (f->c->encode(&d, -1, f->data[i], f->len[i], &f->out) != CV_OK) {
            return 1;
        }
        f->out_bytes += (double)f->out.len;
    }
    return 0;
}

/* Load every regular file of `dir` (not "info"), then gzip each with the codec, one thread. */
static int gzip_dir(const char *dir, int runs)
{
    files_job f;
    memset(&f, 0, sizeof f);
    f.c = find_codec("gzip");
    DIR *d = opendir(dir);
    if (!f.c || !d) {
        fprintf(stderr, "bench_codecs: cannot open `%s'\n", dir);
        if (d) {
            closedir(d);
        }
        return 1;
    }
    size_t cap = 0;
    double in_bytes = 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (strcmp(e->d_name, "info") == 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (f.n == cap) {
            cap = cap ? 2 * cap : 256;
            uint8_t **nd = realloc(f.data, cap * sizeof *nd);
            size_t *nl = nd ? realloc(f.len, cap * sizeof *nl) : NULL;
            f.data = nd ? nd : f.data;
            f.len = nl ? nl : f.len;
            if (!nd || !nl) {
                rc = 1;
                break;
            }
        }
        FILE *fp = fopen(path, "rb");
        uint8_t *p = malloc((size_t)st.st_size + 1);
        if (!fp || !p || fread(p, 1, (size_t)st.st_size, fp) != (size_t)st.st_size) {
            rc = 1;
        }
        if (fp) {
            fclose(fp);
        }
        f.data[f.n] = p;
        f.len[f.n++] = (size_t)st.st_size;
        in_bytes += (double)st.st_size;
    }
    closedir(d);
    cv__buf_init(&f.out, 0);
    bench_timing t = {0, 0, 0};
    if (rc == 0) {
        rc = bench_time(run_gzip_files, &f, runs, &t);
    }
    if (rc == 0) {
        printf("rev\thost\tmeasurement\tfiles\tbytes\truns\tbest_s\tmedian_s\tMB/s\tratio\n");
        printf("%s\t%s\tgzip_codec_files\t%zu\t%.0f\t%d\t%.4f\t%.4f\t%.1f\t%.3f\n", BENCH_GIT_REV,
               host_name(), f.n, in_bytes, t.runs, t.best_s, t.median_s,
               bench_mbps(in_bytes, t.best_s), in_bytes / (f.out_bytes > 0 ? f.out_bytes : 1));
    } else {
        fprintf(stderr, "bench_codecs: gzip of the files of `%s' failed\n", dir);
    }
    for (size_t i = 0; i < f.n; i++) {
        free(f.data[i]);
    }
    free(f.data);
    free(f.len);
    cv__buf_fini(&f.out);
    return rc;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--quick] [--runs N] [--gzip-dir DIR]\n"
            "  --quick         32x32x16 chunks, 1 run each (CTest smoke test)\n"
            "  --runs N        timed runs per encode/decode, fastest kept (default 5; memcpy 4N)\n"
            "  --gzip-dir DIR  only: gzip every file of DIR with the codec, one thread\n",
            argv0);
}

int main(int argc, char **argv)
{
    uint32_t shape[3] = {128, 128, 64};
    int runs = 5;
    bool quick = false;
    const char *gz_dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--gzip-dir") == 0 && i + 1 < argc) {
            gz_dir = argv[++i];
        } else if (strcmp(argv[i], "--quick") == 0) {
            quick = true;
            shape[0] = shape[1] = 32;
            shape[2] = 16;
            runs = 1;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else {
            usage(argv[0]);
            return 2;
        }
    }
    if (runs < 1) {
        usage(argv[0]);
        return 2;
    }
    if (gz_dir) {
        return gzip_dir(gz_dir, runs);
    }
    static const int g1[3] = {1, 1, 1}, g16[3] = {4, 2, 2}, g1000[3] = {10, 10, 10};
    struct {
        const char *name;
        enum kind kind;
        cv_dtype dtype;
        const int *grid;
        int noise;
    } specs[] = {
        {"seg1", KIND_SEG, CV_UINT32, g1, 0},
        {"seg16", KIND_SEG, CV_UINT32, g16, 0},
        {"seg1000", KIND_SEG, CV_UINT32, g1000, 0},
        {"seg1", KIND_SEG, CV_UINT64, g1, 0},
        {"seg16", KIND_SEG, CV_UINT64, g16, 0},
        {"seg1000", KIND_SEG, CV_UINT64, g1000, 0},
        {"img_smooth", KIND_IMG, CV_UINT8, NULL, 0},
        {"img_noisy", KIND_IMG, CV_UINT8, NULL, 64},
        {"field_smooth", KIND_FLOAT, CV_FLOAT32, NULL, 0},
    };
    size_t n_specs = sizeof specs / sizeof specs[0];
    printf("# bench_codecs: chunks of %ux%ux%u voxels, in memory; built-in codecs: %s\n", shape[0],
           shape[1], shape[2], cv__codec_names());
    printf("# MB/s = uncompressed chunk bytes / best of %d runs (10^6 B/s); ratio = "
           "uncompressed / encoded bytes; default levels (gzip 9, br 5, jpeg/jxl default "
           "quality)\n",
           runs);
    printf("rev\thost\tchunk\tdtype\tshape\tcodec\truns\tenc_best_s\tenc_MB/s\tdec_best_s\t"
           "dec_MB/s\tratio\tround_trip\n");
    int failed = 0;
    for (size_t i = 0; i < n_specs; i++) {
        dataset s;
        memset(&s, 0, sizeof s);
        s.name = specs[i].name;
        s.kind = specs[i].kind;
        s.d.dtype = specs[i].dtype;
        s.d.channels = 1;
        for (int d = 0; d < 3; d++) {
            s.d.shape[d] = shape[d];
            s.d.cseg_block[d] = 8;
        }
        s.n = cv__chunk_desc_bytes(&s.d);
        s.data = malloc(s.n);
        if (!s.data) {
            return 1;
        }
        if (s.kind == KIND_SEG) {
            make_segmentation(&s, specs[i].grid);
        } else if (s.kind == KIND_IMG) {
            make_image(&s, specs[i].noise);
        } else {
            make_float(&s);
        }
        fflush(stdout);
        failed |= bench_dataset(&s, runs);
        free(s.data);
    }
    printf("# summary over chunks (%s; a loaded machine shifts all numbers alike, compare "
           "within the run)\n",
           quick ? "--quick: too small for the numbers to mean much" : "full size");
    printf("#   %-24s %5s  %-19s %-19s %-15s %s\n", "codec", "chunks", "encode MB/s", "decode MB/s",
           "ratio", "best decode / memcpy");
    for (int i = 0; i < n_sums; i++) {
        const codec_sum *c = &sums[i];
        char e[32], d[32], r[32];
        snprintf(e, sizeof e, "%.1f-%.1f", c->enc_min, c->enc_max);
        snprintf(d, sizeof d, "%.1f-%.1f", c->dec_min, c->dec_max);
        snprintf(r, sizeof r, "%.2f-%.2f", c->ratio_min, c->ratio_max);
        printf("#   %-24s %5d  %-19s %-19s %-15s %.3f\n", c->name, c->n, e, d, r,
               c->dec_vs_memcpy_max);
    }
    if (tj_ratio_enc_min < 1e9) {
        printf("#   jpeg vs libjpeg-turbo alone on the same pixels: encode %.2f x, decode %.2f x "
               "(worst chunk; target >= 0.90)\n",
               tj_ratio_enc_min, tj_ratio_dec_min);
    }
    return failed;
}
