/* SPDX-License-Identifier: BSD-3-Clause
 * bench_sharded.c: random single-chunk reads from a sharded layer against the same layer
 * unsharded, on file:// in a temporary directory: 1024x1024x256 uint8 in 64^3 chunks
 * (synthetic smooth image with noise), sharding from cv_shard_params_for_image with a target
 * of 1/8 of the volume per shard. Two pairs: data uncompressed (sharded data_encoding raw vs
 * unsharded compress "") and CloudVolume's defaults (gzip data both ways). Writes of the whole
 * volume are timed too (whole shards built in memory vs one file per chunk). Reads: N random
 * chunk boxes, one cv_volume_read each, on a fresh cv_volume_open per run; the first run
 * follows cv_shard_cache_clear() (cold index cache), the rest keep the process-wide cache
 * (warm, best of N). Per chunk: cv_volume_get_stats bytes_read, bytes the process read
 * (/proc/self/io rchar: indexes, info and payload) and ranged reads (cv__shard_counters).
 * Every measurement runs in its own forked child (benchfn.h). `--quick`: 256x256x128. */
#include "benchfn.h"
#include "cvmpi.h"
#include "shard/shard.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef BENCH_GIT_REV
#define BENCH_GIT_REV "unknown"
#endif

#define CHUNK 64

typedef struct config {
    int64_t size[3];
    int runs;      /* warm read runs */
    int wruns;     /* write runs */
    int n_reads;   /* random chunks per read run */
    char dir[512]; /* temporary directory */
} config;

static config cfg;

typedef struct layer {
    const char *name; /* directory under cfg.dir */
    bool sharded;
    bool gzip;
} layer;

static const layer layers[] = {
    {"plain_raw", false, false},
    {"shard_raw", true, false},
    {"plain_gzip", false, true},
    {"shard_gzip", true, true},
};
enum { PLAIN_RAW, SHARD_RAW, PLAIN_GZ, SHARD_GZ, N_LAYERS };

/* What a child sends back. */
typedef struct result {
    bench_timing t; /* writes: whole volume; reads: warm runs */
    double cold_s;  /* reads: the run after cv_shard_cache_clear() */
    double payload_per_chunk, rchar_per_chunk, ranged_per_chunk; /* warm run */
    double cold_rchar_per_chunk, cold_ranged_per_chunk;
    uint64_t stored_bytes; /* writes: bytes of the layer's chunk or shard files */
    uint64_t n_files;
    int mismatches; /* reads: chunks that differ from the generator */
} result;

typedef struct measurement {
    const char *name; /* "write" or "read" */
    int layer;
    int (*body)(void *arg, void *result);
    result r;
    long peak_kib;
    int rc;
} measurement;

static size_t volume_bytes(void)
{
    return (size_t)(cfg.size[0] * cfg.size[1] * cfg.size[2]);
}

static size_t chunk_bytes(void)
{
    return (size_t)CHUNK * CHUNK * CHUNK;
}

static int64_t n_chunks(void)
{
    return cfg.size[0] / CHUNK * (cfg.size[1] / CHUNK) * (cfg.size[2] / CHUNK);
}

static int report_cv_error(const char *what)
{
    fprintf(stderr, "bench_sharded: %s: %s: %s\n", what, cv_errname(cv_err_last()->code),
            cv_err_last()->what);
    return 1;
}

/* ---- data ------------------------------------------------------------------------------ */

/* Smooth waves plus 3 bits of hashed noise: a pure function of the position, so a reader can
 * check any chunk without the whole volume. */
static uint8_t voxel(int64_t x, int64_t y, int64_t z)
{
    uint64_t h = (uint64_t)(x * 73856093 ^ y * 19349663 ^ z * 83492791) * 0x9e3779b97f4a7c15ull;
    int base = (int)(((y * 3 + z * 5) / 7) % 96);
    int wave = (int)((x + y / 2 + z / 3) % 64);
    wave = wave < 32 ? wave : 63 - wave;
    return (uint8_t)(64 + base + wave * 2 + (int)(h >> 61));
}

static void fill_box(uint8_t *p, cv_bbox b)
{
    for (int64_t z = b.min[2]; z < b.max[2]; z++) {
        for (int64_t y = b.min[1]; y < b.max[1]; y++) {
            for (int64_t x = b.min[0]; x < b.max[0]; x++) {
                *p++ = voxel(x, y, z);
            }
        }
    }
}

static cv_bbox whole(void)
{
    return cv_bbox_make(0, 0, 0, cfg.size[0], cfg.size[1], cfg.size[2]);
}

/* The i-th chunk of the random sequence (the same for every layer and run). */
static cv_bbox random_chunk(int i)
{
    uint64_t h = (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    int64_t g[3] = {cfg.size[0] / CHUNK, cfg.size[1] / CHUNK, cfg.size[2] / CHUNK};
    int64_t k = (int64_t)(h % (uint64_t)(g[0] * g[1] * g[2]));
    int64_t c[3] = {k % g[0], k / g[0] % g[1], k / (g[0] * g[1])};
    return cv_bbox_make(c[0] * CHUNK, c[1] * CHUNK, c[2] * CHUNK, c[0] * CHUNK + CHUNK,
                        c[1] * CHUNK + CHUNK, c[2] * CHUNK + CHUNK);
}

static void layer_url(const layer *l, char *buf, size_t cap)
{
    snprintf(buf, cap, "file://%s/%s", cfg.dir, l->name);
}

static cv_opts opts_for(const layer *l)
{
    cv_opts o = cv_opts_default();
    o.threads = 1;
    o.compress = l->gzip ? NULL : ""; /* NULL: CloudVolume's gzip (unsharded only) */
    return o;
}

/* bytes read by this process so far (/proc/self/io rchar); 0 if unavailable */
static uint64_t rchar_now(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    uint64_t v = 0;
    if (!f) {
        return 0;
    }
    char line[128];
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "rchar: %" SCNu64, &v) == 1) {
            break;
        }
    }
    fclose(f);
    return v;
}

/* Bytes and number of regular files under `path` (recursively), skipping "info". */
static void tree_size(const char *path, uint64_t *bytes, uint64_t *files)
{
    DIR *d = opendir(path);
    if (!d) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, "info") == 0 || strcmp(e->d_name, "provenance") == 0) {
            continue;
        }
        char child[1024];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(child, &st) != 0) {
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            tree_size(child, bytes, files);
        } else {
            *bytes += (uint64_t)st.st_size;
            *files += 1;
        }
    }
    closedir(d);
}

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

/* The sharding of every sharded layer: CloudVolume's parameters for 1/8 of the volume per
 * shard; `gzip` false forces raw data (the minishard indexes stay gzipped). */
static cv_status shard_spec(bool gzip, cv_shard_spec *s)
{
    const int64_t chunk[3] = {CHUNK, CHUNK, CHUNK};
    cv_status st = cv_shard_params_for_image(cfg.size, chunk, "raw", CV_UINT8,
                                             (uint64_t)volume_bytes() / 8, s);
    if (st == CV_OK && !gzip) {
        s->data_encoding = CV_SHARD_RAW;
    }
    return st;
}

/* ---- measurements ---------------------------------------------------------------------- */

typedef struct vol_job {
    cv_volume *v;
    uint8_t *buf;
    size_t n;
} vol_job;

static int run_write(void *payload)
{
    vol_job *j = payload;
    return cv_volume_write(j->v, 0, whole(), j->buf, j->n) == CV_OK ? 0 : 1;
}

/* Create the layer (untimed), then write the whole volume wruns times. */
static int body_write(void *arg, void *out)
{
    const measurement *m = arg;
    const layer *l = &layers[m->layer];
    result *r = out;
    cv_info_params p;
    memset(&p, 0, sizeof p);
    p.type = "image";
    p.dtype = CV_UINT8;
    p.num_channels = 1;
    p.encoding = "raw";
    for (int d = 0; d < 3; d++) {
        p.resolution[d] = 1;
        p.size[d] = cfg.size[d];
        p.chunk_size[d] = CHUNK;
    }
    cv_info *info = NULL;
    if (cv_info_create(&p, &info) != CV_OK) {
        return report_cv_error("create info");
    }
    if (l->sharded) {
        cv_shard_spec s;
        char *json = NULL;
        size_t len = 0;
        if (shard_spec(l->gzip, &s) != CV_OK || cv_shard_spec_to_json(&s, &json, &len) != CV_OK) {
            cv_info_free(info);
            return report_cv_error("sharding parameters");
        }
        info->scales[0].sharding_json = json;
    }
    char url[600];
    layer_url(l, url, sizeof url);
    cv_opts o = opts_for(l);
    vol_job j = {NULL, malloc(volume_bytes()), volume_bytes()};
    cv_status st = j.buf ? cv_volume_create(url, info, true, &o, &j.v) : CV_ERR_NOMEM;
    cv_info_free(info);
    if (st != CV_OK) {
        free(j.buf);
        return report_cv_error("create volume");
    }
    fill_box(j.buf, whole());
    int rc = bench_time(run_write, &j, cfg.wruns, &r->t);
    if (rc != 0) {
        report_cv_error("write");
    }
    cv_volume_close(j.v);
    free(j.buf);
    tree_size(url + strlen("file://"), &r->stored_bytes, &r->n_files);
    return rc;
}

typedef struct read_run {
    double seconds;
    uint64_t payload, rchar, ranged;
    int mismatches;
} read_run;

/* One run: open the layer, read cfg.n_reads random chunks one box at a time, close. With
 * `expect` (a chunk-sized buffer), also compare every chunk with the generator (untimed
 * use only). */
static int read_once(const layer *l, uint8_t *buf, uint8_t *expect, read_run *out)
{
    char url[600];
    layer_url(l, url, sizeof url);
    cv_opts o = opts_for(l);
    cv_shard_counters c0, c1;
    cv__shard_counters(&c0);
    uint64_t io0 = rchar_now();
    double t0 = bench_now();
    cv_volume *v = NULL;
    if (cv_volume_open(url, &o, &v) != CV_OK) {
        return report_cv_error("open volume");
    }
    int rc = 0;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < cfg.n_reads && rc == 0; i++) {
        cv_bbox b = random_chunk(i);
        if (cv_volume_read(v, 0, b, buf, chunk_bytes()) != CV_OK) {
            rc = report_cv_error("read");
        } else if (expect) {
            fill_box(expect, b);
            out->mismatches += memcmp(buf, expect, chunk_bytes()) != 0;
        }
    }
    cv_volume_stats st;
    cv_volume_get_stats(v, &st);
    cv_volume_close(v);
    out->seconds = bench_now() - t0;
    out->rchar = rchar_now() - io0;
    cv__shard_counters(&c1);
    out->ranged = c1.ranged_reads - c0.ranged_reads;
    out->payload = st.bytes_read;
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int body_read(void *arg, void *out)
{
    const measurement *m = arg;
    const layer *l = &layers[m->layer];
    result *r = out;
    uint8_t *buf = malloc(chunk_bytes());
    uint8_t *expect = malloc(chunk_bytes());
    double *t = calloc((size_t)cfg.runs, sizeof *t);
    if (!buf || !expect || !t) {
        free(buf);
        free(expect);
        free(t);
        return 1;
    }
    memset(buf, 0, chunk_bytes());
    read_run run;
    double n = cfg.n_reads;
    cv_shard_cache_clear();
    int rc = read_once(l, buf, NULL, &run);
    r->cold_s = run.seconds;
    r->cold_rchar_per_chunk = (double)run.rchar / n;
    r->cold_ranged_per_chunk = (double)run.ranged / n;
    for (int i = 0; rc == 0 && i < cfg.runs; i++) {
        rc = read_once(l, buf, NULL, &run);
        t[i] = run.seconds;
    }
    if (rc == 0) {
        r->payload_per_chunk = (double)run.payload / n;
        r->rchar_per_chunk = (double)run.rchar / n;
        r->ranged_per_chunk = (double)run.ranged / n;
        qsort(t, (size_t)cfg.runs, sizeof *t, cmp_double);
        r->t = (bench_timing){t[0], t[cfg.runs / 2], cfg.runs};
        rc = read_once(l, buf, expect, &run); /* untimed check of every chunk */
        r->mismatches = run.mismatches;
    }
    free(buf);
    free(expect);
    free(t);
    return rc;
}

static int body_idle(void *arg, void *out)
{
    (void)arg;
    result *r = out;
    memset(r, 0, sizeof *r);
    return 0;
}

/* ---- main -------------------------------------------------------------------------------- */

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--quick] [--reads N] [--runs N] [--dir DIR]\n"
            "  --quick    256x256x128 voxels, 1 run each (CTest smoke test)\n"
            "  --reads N  random chunks per read run (default 400; --quick 20)\n"
            "  --runs N   warm read runs, fastest kept (default 5; writes 2)\n"
            "  --dir DIR  where to make the temporary layers (default $TMPDIR or /tmp)\n",
            argv0);
}

int main(int argc, char **argv)
{
    cfg.size[0] = cfg.size[1] = 1024;
    cfg.size[2] = 256;
    cfg.runs = 5;
    cfg.n_reads = 400;
    const char *parent = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    bool quick = false;
    int reads_given = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = true;
            cfg.size[0] = cfg.size[1] = 256;
            cfg.size[2] = 128;
            cfg.runs = 1;
        } else if (strcmp(argv[i], "--reads") == 0 && i + 1 < argc) {
            cfg.n_reads = atoi(argv[++i]);
            reads_given = 1;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            cfg.runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            parent = argv[++i];
        } else {
            usage(argv[0]);
            return 2;
        }
    }
    if (quick && !reads_given) {
        cfg.n_reads = 20;
    }
    if (cfg.runs < 1 || cfg.n_reads < 1) {
        usage(argv[0]);
        return 2;
    }
    cfg.wruns = cfg.runs < 2 ? cfg.runs : 2;
    snprintf(cfg.dir, sizeof cfg.dir, "%s/cvmpi-bench-XXXXXX", parent);
    if (!mkdtemp(cfg.dir)) {
        fprintf(stderr, "bench_sharded: mkdtemp `%s': %s\n", cfg.dir, strerror(errno));
        return 1;
    }
    cv_shard_spec spec;
    if (shard_spec(true, &spec) != CV_OK) {
        remove_tree(cfg.dir);
        return report_cv_error("sharding parameters");
    }
    int64_t grid[3] = {cfg.size[0] / CHUNK, cfg.size[1] / CHUNK, cfg.size[2] / CHUNK};
    int64_t mini[3] = {0, 0, 0}, per_shard[3] = {0, 0, 0};
    cv_shard_image_shape(&spec, grid, mini, per_shard);
    char *json = NULL;
    size_t json_len = 0;
    cv_shard_spec_to_json(&spec, &json, &json_len);

    measurement ms[1 + 2 * N_LAYERS];
    size_t n_ms = 0;
    ms[n_ms++] =
        (measurement){"idle_child", -1, body_idle, {{0, 0, 0}, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, 0};
    for (int i = 0; i < N_LAYERS; i++) {
        ms[n_ms++] =
            (measurement){"write", i, body_write, {{0, 0, 0}, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, 0};
    }
    for (int i = 0; i < N_LAYERS; i++) {
        ms[n_ms++] =
            (measurement){"read", i, body_read, {{0, 0, 0}, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, 0};
    }
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    double bytes = (double)volume_bytes();
    double cbytes = (double)chunk_bytes();
    printf("# bench_sharded: %" PRId64 "x%" PRId64 "x%" PRId64 " uint8 = %.1f MiB in %d^3 chunks "
           "(%" PRId64 " chunks), file:// in %s, threads=1\n",
           cfg.size[0], cfg.size[1], cfg.size[2], bytes / 1048576.0, CHUNK, n_chunks(), cfg.dir);
    printf("# sharding (gzip layers; raw layers: data_encoding raw): %s\n", json ? json : "?");
    printf("# shard = %" PRId64 "x%" PRId64 "x%" PRId64 " chunks, minishard = %" PRId64 "x%" PRId64
           "x%" PRId64 " chunks\n",
           per_shard[0], per_shard[1], per_shard[2], mini[0], mini[1], mini[2]);
    printf("# write MB/s = volume bytes / best of %d; read: %d random single-chunk boxes per run "
           "on a fresh cv_volume_open, chunks/s of the best of %d warm runs, and of one cold run "
           "after cv_shard_cache_clear() (the OS page cache is warm for every layer); per chunk: "
           "stats = cv_volume_get_stats bytes_read (decoded chunk bytes), rchar = bytes the "
           "process read (/proc/self/io), ranged = cv__shard_counters ranged reads\n",
           cfg.wruns, cfg.n_reads, cfg.runs);
    cv_free(json);
    printf("rev\thost\tmeasurement\tlayer\truns\tbest_s\tmedian_s\tMB/s\tchunks/s\t"
           "cold_chunks/s\tstats_B/chunk\trchar_B/chunk\tranged/chunk\tcold_rchar_B/chunk\t"
           "cold_ranged/chunk\tstored_MiB\tfiles\tpeak_rss_MiB\n");
    int failed = 0;
    for (size_t i = 0; i < n_ms; i++) {
        measurement *m = &ms[i];
        fflush(stdout);
        m->rc = bench_in_child(m->body, m, &m->r, sizeof m->r, &m->peak_kib);
        const char *lname = m->layer >= 0 ? layers[m->layer].name : "-";
        if (m->rc != 0) {
            fprintf(stderr, "bench_sharded: %s %s failed\n", m->name, lname);
            failed = 1;
            continue;
        }
        if (m->r.mismatches) {
            fprintf(stderr, "bench_sharded: read %s: %d chunks differ from the source\n", lname,
                    m->r.mismatches);
            failed = 1;
        }
        const result *r = &m->r;
        bool rd = m->body == body_read;
        double chunks_s = rd && r->t.best_s > 0 ? cfg.n_reads / r->t.best_s : 0;
        double cold_s = rd && r->cold_s > 0 ? cfg.n_reads / r->cold_s : 0;
        double mbps = m->body == body_write ? bench_mbps(bytes, r->t.best_s)
                      : rd                  ? bench_mbps(cfg.n_reads * cbytes, r->t.best_s)
                                            : 0;
        printf("%s\t%s\t%s\t%s\t%d\t%.4f\t%.4f\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t%.2f\t%.0f\t%.2f\t"
               "%.1f\t%" PRIu64 "\t%.1f\n",
               BENCH_GIT_REV, host, m->name, lname, r->t.runs, r->t.best_s, r->t.median_s, mbps,
               chunks_s, cold_s, r->payload_per_chunk, r->rchar_per_chunk, r->ranged_per_chunk,
               r->cold_rchar_per_chunk, r->cold_ranged_per_chunk,
               (double)r->stored_bytes / 1048576.0, r->n_files, (double)m->peak_kib / 1024.0);
    }
    if (!failed) {
        result w[N_LAYERS], rd[N_LAYERS];
        for (int k = 0; k < N_LAYERS; k++) {
            w[k] = ms[1 + k].r;
            rd[k] = ms[1 + N_LAYERS + k].r;
        }
#define WMBPS(k) bench_mbps(bytes, w[k].t.best_s)
#define CPS(k) (cfg.n_reads / rd[k].t.best_s)
#define COLD(k) (cfg.n_reads / rd[k].cold_s)
        printf("# summary (%s; 2-core machine shared with other work: compare within the run)\n",
               quick ? "--quick: too small for the numbers to mean much" : "full size");
        for (int k = 0; k < N_LAYERS; k += 2) {
            const char *what = k == PLAIN_RAW ? "raw data " : "gzip data";
            printf("#   %s  read  sharded %8.1f chunks/s (cold %.1f) vs unsharded %8.1f "
                   "(cold %.1f): %.2f x (cold %.2f x)\n",
                   what, CPS(k + 1), COLD(k + 1), CPS(k), COLD(k), CPS(k + 1) / CPS(k),
                   COLD(k + 1) / COLD(k));
            printf("#   %s  bytes read per chunk: sharded %.0f (stats %.0f, %.2f ranged "
                   "reads; cold %.0f, %.2f ranged) vs unsharded %.0f (stats %.0f)\n",
                   what, rd[k + 1].rchar_per_chunk, rd[k + 1].payload_per_chunk,
                   rd[k + 1].ranged_per_chunk, rd[k + 1].cold_rchar_per_chunk,
                   rd[k + 1].cold_ranged_per_chunk, rd[k].rchar_per_chunk, rd[k].payload_per_chunk);
            printf("#   %s  write sharded %8.1f MB/s (%" PRIu64 " shard files) vs unsharded "
                   "%8.1f MB/s (%" PRIu64 " chunk files): %.2f x; stored %.1f vs %.1f MiB\n",
                   what, WMBPS(k + 1), w[k + 1].n_files, WMBPS(k), w[k].n_files,
                   WMBPS(k + 1) / WMBPS(k), (double)w[k + 1].stored_bytes / 1048576.0,
                   (double)w[k].stored_bytes / 1048576.0);
        }
#undef WMBPS
#undef CPS
#undef COLD
    }
    remove_tree(cfg.dir);
    return failed;
}
