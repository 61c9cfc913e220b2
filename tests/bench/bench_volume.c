/* SPDX-License-Identifier: BSD-3-Clause
 * bench_volume.c: whole-volume write and read through cv_volume_write/cv_volume_read on
 * file:// in a temporary directory: a 512^3 uint8 volume in 64^3 chunks (synthetic smooth
 * image data, nothing downloaded), raw (compress "") and gzip (CloudVolume's default, level
 * 9), threads 1 and 2. Beside it, same-run baselines: memcpy of the same bytes, and
 * libdeflate decompressing the same chunk files from memory on one thread. Each measurement
 * runs in its own forked child (benchfn.h) for its own peak RSS. One TSV line per
 * measurement, then a summary against the targets. `--quick` runs 128^3 for CTest. */
#include "benchfn.h"
#include "cvmpi.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef BENCH_GIT_REV
#define BENCH_GIT_REV "unknown"
#endif

#define CHUNK 64
#define TARGET_RAW_READ_MBPS 1000.0 /* raw read: 1 GB/s */
#define TARGET_GZIP_VS_LIBDEFLATE 0.8
#define TARGET_RSS_RATIO 1.3

typedef struct config {
    int64_t edge;  /* volume is edge^3 voxels */
    int runs;      /* timed runs per read measurement (writes: fewer, see main) */
    char dir[512]; /* temporary directory */
} config;

/* What a child sends back. */
typedef struct result {
    bench_timing t;
    uint64_t checksum; /* of the voxels written or read, to check the round trip */
    double in_bytes;   /* compressed bytes, for the libdeflate baseline */
    bench_timing ref;  /* interleaved measurement: libdeflate alone */
} result;

typedef struct measurement {
    const char *name;
    const char *compress; /* "raw", "gzip" or "-" */
    int threads;
    int runs;
    int (*body)(void *arg, void *result);
    /* filled in by main */
    result r;
    long peak_kib;
    int rc;
} measurement;

static config cfg;

static size_t volume_bytes(void)
{
    return (size_t)(cfg.edge * cfg.edge * cfg.edge);
}

/* ---- data ------------------------------------------------------------------------------ */

/* Smooth image data with a little noise, like EM: slow waves over x, y and z plus 3 bits of
 * xorshift noise. gzip -9 leaves about 73% of the bytes: noisy images compress little. */
static void make_volume(uint8_t *p)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;
    int64_t n = cfg.edge;
    for (int64_t z = 0; z < n; z++) {
        for (int64_t y = 0; y < n; y++) {
            uint8_t *row = p + (size_t)((z * n + y) * n);
            int base = (int)(((y * 3 + z * 5) / 7) % 96);
            for (int64_t x = 0; x < n; x++) {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                int wave = (int)((x + y / 2 + z / 3) % 64);
                wave = wave < 32 ? wave : 63 - wave;
                row[x] = (uint8_t)(64 + base + wave * 2 + (int)(s & 7));
            }
        }
    }
}

static uint64_t checksum(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 1099511628211ull;
    }
    for (size_t i = n & ~(size_t)7; i < n; i++) {
        h = (h ^ p[i]) * 1099511628211ull;
    }
    return h;
}

static cv_bbox whole(void)
{
    return cv_bbox_make(0, 0, 0, cfg.edge, cfg.edge, cfg.edge);
}

static void volume_url(const char *compress, char *buf, size_t cap)
{
    snprintf(buf, cap, "file://%s/%s", cfg.dir, compress);
}

static int report_cv_error(const char *what)
{
    fprintf(stderr, "bench_volume: %s: %s: %s\n", what, cv_errname(cv_err_last()->code),
            cv_err_last()->what);
    return 1;
}

/* ---- measurements ---------------------------------------------------------------------- */

typedef struct vol_job {
    cv_volume *v;
    uint8_t *buf;
    size_t n;
} vol_job;

static int run_memcpy(void *payload)
{
    vol_job *j = payload;
    memcpy(j->buf + j->n, j->buf, j->n);
    return 0;
}

static int run_write(void *payload)
{
    vol_job *j = payload;
    return cv_volume_write(j->v, 0, whole(), j->buf, j->n) == CV_OK ? 0 : 1;
}

static int run_read(void *payload)
{
    vol_job *j = payload;
    return cv_volume_read(j->v, 0, whole(), j->buf, j->n) == CV_OK ? 0 : 1;
}

static int body_memcpy(void *arg, void *out)
{
    const measurement *m = arg;
    result *r = out;
    vol_job j = {NULL, malloc(2 * volume_bytes()), volume_bytes()};
    if (!j.buf) {
        return 1;
    }
    make_volume(j.buf);
    memset(j.buf + j.n, 0, j.n); /* fault the destination in: copy speed, not page faults */
    int rc = bench_time(run_memcpy, &j, m->runs, &r->t);
    r->checksum = checksum(j.buf + j.n, j.n);
    free(j.buf);
    return rc;
}

static cv_opts opts_for(const measurement *m)
{
    cv_opts o = cv_opts_default();
    o.threads = m->threads;
    o.compress = strcmp(m->compress, "raw") == 0 ? "" : NULL; /* NULL: CloudVolume's gzip */
    return o;
}

/* Create the layer (untimed), then write the whole volume `runs` times. */
static int body_write(void *arg, void *out)
{
    const measurement *m = arg;
    result *r = out;
    cv_info_params p;
    memset(&p, 0, sizeof p);
    p.type = "image";
    p.dtype = CV_UINT8;
    p.num_channels = 1;
    p.encoding = "raw";
    for (int d = 0; d < 3; d++) {
        p.resolution[d] = 1;
        p.size[d] = cfg.edge;
        p.chunk_size[d] = CHUNK;
    }
    cv_info *info = NULL;
    if (cv_info_create(&p, &info) != CV_OK) {
        return report_cv_error("create info");
    }
    char url[600];
    volume_url(m->compress, url, sizeof url);
    cv_opts o = opts_for(m);
    vol_job j = {NULL, malloc(volume_bytes()), volume_bytes()};
    cv_status st = j.buf ? cv_volume_create(url, info, true, &o, &j.v) : CV_ERR_NOMEM;
    cv_info_free(info);
    if (st != CV_OK) {
        free(j.buf);
        return report_cv_error("create volume");
    }
    make_volume(j.buf);
    r->checksum = checksum(j.buf, j.n);
    int rc = bench_time(run_write, &j, m->runs, &r->t);
    if (rc != 0) {
        report_cv_error("write");
    }
    cv_volume_close(j.v);
    free(j.buf);
    return rc;
}

/* Open the layer (untimed) and read the whole volume `runs` times into one array. */
static int body_read(void *arg, void *out)
{
    const measurement *m = arg;
    result *r = out;
    char url[600];
    volume_url(m->compress, url, sizeof url);
    cv_opts o = opts_for(m);
    vol_job j = {NULL, malloc(volume_bytes()), volume_bytes()};
    if (!j.buf || cv_volume_open(url, &o, &j.v) != CV_OK) {
        free(j.buf);
        return report_cv_error("open volume");
    }
    memset(j.buf, 0, j.n); /* fault the array in, as a caller reusing its buffer would */
    int rc = bench_time(run_read, &j, m->runs, &r->t);
    if (rc != 0) {
        report_cv_error("read");
    }
    r->checksum = checksum(j.buf, j.n);
    cv_volume_close(j.v);
    free(j.buf);
    return rc;
}

typedef struct gz_job {
    struct libdeflate_decompressor *z;
    uint8_t **in;
    size_t *in_len;
    size_t n_chunks;
    uint8_t *out; /* one chunk, reused: decompression alone, no placement in an array */
    size_t chunk_bytes;
} gz_job;

static int run_libdeflate(void *payload)
{
    gz_job *g = payload;
    for (size_t i = 0; i < g->n_chunks; i++) {
        size_t got = 0;
        if (libdeflate_gzip_decompress(g->z, g->in[i], g->in_len[i], g->out, g->chunk_bytes,
                                       &got) != LIBDEFLATE_SUCCESS ||
            got != g->chunk_bytes) {
            return 1;
        }
    }
    return 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    struct stat st;
    uint8_t *p = NULL;
    if (fstat(fileno(f), &st) == 0) {
        p = malloc((size_t)st.st_size + 1);
    }
    if (p && fread(p, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = p ? (size_t)st.st_size : 0;
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void gz_free(gz_job *g)
{
    for (size_t i = 0; g->in && i < g->n_chunks; i++) {
        free(g->in[i]);
    }
    if (g->z) {
        libdeflate_free_decompressor(g->z);
    }
    free(g->in);
    free(g->in_len);
    free(g->out);
}

/* Read the gzip layer's chunk files into memory (untimed), for libdeflate alone. Returns 0,
 * and the compressed total in *in_bytes. */
static int gz_load(gz_job *g, double *in_bytes)
{
    int64_t per_axis = cfg.edge / CHUNK;
    memset(g, 0, sizeof *g);
    g->n_chunks = (size_t)(per_axis * per_axis * per_axis);
    g->chunk_bytes = (size_t)CHUNK * CHUNK * CHUNK;
    g->in = calloc(g->n_chunks, sizeof *g->in);
    g->in_len = calloc(g->n_chunks, sizeof *g->in_len);
    g->out = malloc(g->chunk_bytes);
    g->z = libdeflate_alloc_decompressor();
    int rc = g->in && g->in_len && g->out && g->z ? 0 : 1;
    *in_bytes = 0;
    for (size_t i = 0; rc == 0 && i < g->n_chunks; i++) {
        int64_t c[3] = {(int64_t)i % per_axis, (int64_t)i / per_axis % per_axis,
                        (int64_t)i / (per_axis * per_axis)};
        char path[800];
        snprintf(path, sizeof path,
                 "%s/gzip/1_1_1/%" PRId64 "-%" PRId64 "_%" PRId64 "-%" PRId64 "_%" PRId64
                 "-%" PRId64 ".gz",
                 cfg.dir, c[0] * CHUNK, c[0] * CHUNK + CHUNK, c[1] * CHUNK, c[1] * CHUNK + CHUNK,
                 c[2] * CHUNK, c[2] * CHUNK + CHUNK);
        g->in[i] = slurp(path, &g->in_len[i]);
        if (!g->in[i]) {
            fprintf(stderr, "bench_volume: read `%s': %s\n", path, strerror(errno));
            rc = 1;
        }
        *in_bytes += (double)g->in_len[i];
    }
    if (rc == 0) {
        memset(g->out, 0, g->chunk_bytes);
    }
    return rc;
}

/* The gzip layer's chunk files, already in memory, decompressed with one libdeflate
 * decompressor on this thread into one chunk-sized buffer: the ceiling for a single-threaded
 * gzip read, which must also fetch the files and place the voxels. */
static int body_libdeflate(void *arg, void *out)
{
    const measurement *m = arg;
    result *r = out;
    gz_job g;
    int rc = gz_load(&g, &r->in_bytes);
    if (rc == 0) {
        rc = bench_time(run_libdeflate, &g, m->runs, &r->t);
    }
    r->checksum = 0; /* one chunk buffer: nothing to compare */
    gz_free(&g);
    return rc;
}

/* The gzip comparison again, with the two alternating run by run in one process (best of
 * each): load on a shared machine then hits both alike. Reports cv_volume_read in r->t and
 * libdeflate alone in r->ref. */
static int body_interleaved(void *arg, void *out)
{
    const measurement *m = arg;
    result *r = out;
    gz_job g;
    int rc = gz_load(&g, &r->in_bytes);
    char url[600];
    volume_url("gzip", url, sizeof url);
    cv_opts o = opts_for(m);
    vol_job j = {NULL, malloc(volume_bytes()), volume_bytes()};
    if (rc == 0 && (!j.buf || cv_volume_open(url, &o, &j.v) != CV_OK)) {
        rc = report_cv_error("open volume");
    }
    if (rc == 0) {
        memset(j.buf, 0, j.n);
    }
    double *t_ref = calloc((size_t)m->runs, sizeof *t_ref);
    double *t_cv = calloc((size_t)m->runs, sizeof *t_cv);
    rc = rc == 0 && t_ref && t_cv ? 0 : 1;
    for (int i = 0; rc == 0 && i < m->runs; i++) {
        bench_timing one;
        rc = bench_time(run_libdeflate, &g, 1, &one);
        t_ref[i] = one.best_s;
        if (rc == 0) {
            rc = bench_time(run_read, &j, 1, &one);
            t_cv[i] = one.best_s;
        }
    }
    if (rc == 0) {
        qsort(t_ref, (size_t)m->runs, sizeof *t_ref, cmp_double);
        qsort(t_cv, (size_t)m->runs, sizeof *t_cv, cmp_double);
        r->ref = (bench_timing){t_ref[0], t_ref[m->runs / 2], m->runs};
        r->t = (bench_timing){t_cv[0], t_cv[m->runs / 2], m->runs};
    }
    free(t_ref);
    free(t_cv);
    r->checksum = rc == 0 ? checksum(j.buf, j.n) : 0;
    cv_volume_close(j.v);
    free(j.buf);
    gz_free(&g);
    return rc;
}

static int body_idle(void *arg, void *out)
{
    (void)arg;
    result *r = out;
    memset(r, 0, sizeof *r);
    return 0;
}

/* ---- temporary directory --------------------------------------------------------------- */

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char child[1024];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
            remove_tree(child);
        } else {
            unlink(child);
        }
    }
    closedir(d);
    rmdir(path);
}

/* ---- main -------------------------------------------------------------------------------- */

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--quick] [--size N] [--runs N] [--dir DIR]\n"
            "  --quick    128^3 voxels, 1 run each (CTest smoke test)\n"
            "  --size N   N^3 uint8 voxels, N a multiple of %d (default 512)\n"
            "  --runs N   timed runs per measurement, fastest kept (default 5; writes 3)\n"
            "  --dir DIR  where to make the temporary layers (default $TMPDIR or /tmp)\n",
            argv0, CHUNK);
}

int main(int argc, char **argv)
{
    cfg.edge = 512;
    cfg.runs = 5;
    const char *parent = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = true;
            cfg.edge = 128;
            cfg.runs = 1;
        } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            cfg.edge = strtoll(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            cfg.runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            parent = argv[++i];
        } else {
            usage(argv[0]);
            return 2;
        }
    }
    if (cfg.edge < CHUNK || cfg.edge % CHUNK != 0 || cfg.runs < 1) {
        usage(argv[0]);
        return 2;
    }
    snprintf(cfg.dir, sizeof cfg.dir, "%s/cvmpi-bench-XXXXXX", parent);
    if (!mkdtemp(cfg.dir)) {
        fprintf(stderr, "bench_volume: mkdtemp `%s': %s\n", cfg.dir, strerror(errno));
        return 1;
    }
    int wruns = cfg.runs < 3 ? cfg.runs : 3;
#define M(name, compress, threads, runs, body)                                                     \
    {                                                                                              \
        (name), (compress), (threads), (runs), (body), {{0, 0, 0}, 0, 0, {0, 0, 0}}, 0, 0          \
    }
    enum {
        IDLE,
        MEMCPY,
        WRITE_RAW_1,
        WRITE_RAW_2,
        READ_RAW_1,
        READ_RAW_2,
        WRITE_GZ_1,
        WRITE_GZ_2,
        READ_GZ_1,
        READ_GZ_2,
        LIBDEFLATE,
        INTERLEAVED,
        N_MEASUREMENTS
    };
    measurement ms[N_MEASUREMENTS] = {
        [IDLE] = M("idle_child", "-", 1, 1, body_idle),
        [MEMCPY] = M("memcpy", "-", 1, cfg.runs, body_memcpy),
        [WRITE_RAW_1] = M("write", "raw", 1, wruns, body_write),
        [WRITE_RAW_2] = M("write", "raw", 2, wruns, body_write),
        [READ_RAW_1] = M("read", "raw", 1, cfg.runs, body_read),
        [READ_RAW_2] = M("read", "raw", 2, cfg.runs, body_read),
        [WRITE_GZ_1] = M("write", "gzip", 1, wruns, body_write),
        [WRITE_GZ_2] = M("write", "gzip", 2, wruns, body_write),
        [READ_GZ_1] = M("read", "gzip", 1, cfg.runs, body_read),
        [READ_GZ_2] = M("read", "gzip", 2, cfg.runs, body_read),
        [LIBDEFLATE] = M("libdeflate_gunzip", "gzip", 1, cfg.runs, body_libdeflate),
        [INTERLEAVED] = M("read_interleaved", "gzip", 1, 2 * cfg.runs, body_interleaved),
    };
#undef M
    size_t n_ms = N_MEASUREMENTS;
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    double bytes = (double)volume_bytes();
    printf("# bench_volume: %" PRId64 "^3 uint8 = %.1f MiB in %d^3 chunks, file:// in %s\n",
           cfg.edge, bytes / 1048576.0, CHUNK, cfg.dir);
    printf("# MB/s = uncompressed voxel bytes / best run (10^6 B/s); peak RSS per measurement "
           "from its own child; rss/array = peak RSS / %.1f MiB\n",
           bytes / 1048576.0);
    printf("rev\thost\tmeasurement\tcompress\tthreads\truns\tbest_s\tmedian_s\tMB/s\t"
           "peak_rss_MiB\trss/array\n");
    int failed = 0;
    for (size_t i = 0; i < n_ms; i++) {
        measurement *m = &ms[i];
        fflush(stdout);
        m->rc = bench_in_child(m->body, m, &m->r, sizeof m->r, &m->peak_kib);
        if (m->rc != 0) {
            fprintf(stderr, "bench_volume: %s %s threads=%d failed\n", m->name, m->compress,
                    m->threads);
            failed = 1;
            continue;
        }
        double peak_mib = (double)m->peak_kib / 1024.0;
        printf("%s\t%s\t%s\t%s\t%d\t%d\t%.4f\t%.4f\t%.1f\t%.1f\t%.3f\n", BENCH_GIT_REV, host,
               m->name, m->compress, m->threads, m->r.t.runs, m->r.t.best_s, m->r.t.median_s,
               m->body == body_idle ? 0.0 : bench_mbps(bytes, m->r.t.best_s), peak_mib,
               peak_mib * 1048576.0 / bytes);
        if (m->body == body_interleaved) {
            printf("%s\t%s\tlibdeflate_interleaved\t%s\t1\t%d\t%.4f\t%.4f\t%.1f\t%.1f\t%.3f\n",
                   BENCH_GIT_REV, host, m->compress, m->r.ref.runs, m->r.ref.best_s,
                   m->r.ref.median_s, bench_mbps(bytes, m->r.ref.best_s), peak_mib,
                   peak_mib * 1048576.0 / bytes);
        }
    }
    /* Every write and read must see the same voxels as memcpy did. */
    uint64_t want = ms[MEMCPY].r.checksum;
    for (size_t i = WRITE_RAW_1; i < n_ms; i++) {
        if (ms[i].rc == 0 && ms[i].body != body_libdeflate && ms[i].r.checksum != want) {
            fprintf(stderr, "bench_volume: %s %s threads=%d: voxels differ from the source\n",
                    ms[i].name, ms[i].compress, ms[i].threads);
            failed = 1;
        }
    }
    if (!failed) {
#define MBPS(i) bench_mbps(bytes, ms[i].r.t.best_s)
        double raw_read = MBPS(READ_RAW_1);
        double gz_read = bench_mbps(bytes, ms[INTERLEAVED].r.t.best_s);
        double gz_ref = bench_mbps(bytes, ms[INTERLEAVED].r.ref.best_s);
        double gz_ratio = gz_read / gz_ref;
        double rss_raw = (double)ms[READ_RAW_1].peak_kib * 1024.0 / bytes;
        double rss_gz = (double)ms[READ_GZ_1].peak_kib * 1024.0 / bytes;
        printf("# summary (threads=1 unless noted; %s)\n",
               quick ? "--quick: too small for the targets to mean much" : "full size");
        printf("#   memcpy                 %8.1f MB/s\n", MBPS(MEMCPY));
        printf("#   raw read               %8.1f MB/s = %.2f x the %.0f MB/s target: %s "
               "(threads=2: %.1f MB/s)\n",
               raw_read, raw_read / TARGET_RAW_READ_MBPS, TARGET_RAW_READ_MBPS,
               raw_read >= TARGET_RAW_READ_MBPS ? "MET" : "MISSED", MBPS(READ_RAW_2));
        printf("#   gzip read              %8.1f MB/s = %.2f x libdeflate alone (%.1f MB/s; "
               "interleaved runs), target >= %.1f: %s\n",
               gz_read, gz_ratio, gz_ref, TARGET_GZIP_VS_LIBDEFLATE,
               gz_ratio >= TARGET_GZIP_VS_LIBDEFLATE ? "MET" : "MISSED");
        printf("#                          separate runs: %.1f vs %.1f MB/s = %.2f; threads=2: "
               "%.1f MB/s; chunks gzip to %.1f%%\n",
               MBPS(READ_GZ_1), MBPS(LIBDEFLATE), MBPS(READ_GZ_1) / MBPS(LIBDEFLATE),
               MBPS(READ_GZ_2), 100.0 * ms[LIBDEFLATE].r.in_bytes / bytes);
        printf("#   peak RSS / array, read raw %.3f, gzip %.3f (idle child %.1f MiB), target "
               "<= %.1f: %s\n",
               rss_raw, rss_gz, (double)ms[IDLE].peak_kib / 1024.0, TARGET_RSS_RATIO,
               rss_raw <= TARGET_RSS_RATIO && rss_gz <= TARGET_RSS_RATIO ? "MET" : "MISSED");
        printf("#   write                  raw %.1f MB/s (threads=2: %.1f), gzip %.1f MB/s "
               "(threads=2: %.1f)\n",
               MBPS(WRITE_RAW_1), MBPS(WRITE_RAW_2), MBPS(WRITE_GZ_1), MBPS(WRITE_GZ_2));
#undef MBPS
    }
    remove_tree(cfg.dir);
    return failed;
}
