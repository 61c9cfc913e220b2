/* SPDX-License-Identifier: BSD-3-Clause
 * bench_mesh.c: meshes and skeletons. (1) A 1M-vertex legacy mesh in 100 fragments (grid
 * patches whose borders are shared, so merging removes duplicates) stored as CloudVolume does
 * (gzip level 6) on file:// in a temporary directory: cv_meshes_get (fetch, gunzip, decode,
 * concatenate) and cv_mesh_consolidate (dedupe) in vertices/s, against libdeflate gunzip of
 * the same fragment files alone (same run). (2) Skeletons encoded per second into a sharded
 * skeleton layer (murmurhash, gzip, one write per shard) against the same skeletons written
 * unsharded (one gzip file each). Best of N runs. `--quick`: 100k vertices, 2000 skeletons. */
#include "benchfn.h"
#include "base/cv_internal.h"

#include <inttypes.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef BENCH_GIT_REV
#define BENCH_GIT_REV "unknown"
#endif

static int n_frag = 100, side = 100, runs = 3, n_skel = 20000;
static char dir[512];

static cv_volume *make_layer(const char *name)
{
    char url[700];
    snprintf(url, sizeof url, "file://%s/%s", dir, name);
    cv_info_params p;
    memset(&p, 0, sizeof p);
    p.type = "segmentation";
    p.dtype = CV_UINT64;
    p.num_channels = 1;
    for (int d = 0; d < 3; d++) {
        p.resolution[d] = 8;
        p.size[d] = 1024;
        p.chunk_size[d] = 64;
    }
    cv_info *info;
    cv_volume *v = NULL;
    if (cv_info_create(&p, &info) == CV_OK) {
        cv_opts o = cv_opts_default();
        cv_volume_create(url, info, true, &o, &v);
        cv_info_free(info);
    }
    return v;
}

/* Fragment i: a side x side vertex grid patch at x offset i*(side-1): neighbours share a
 * column of vertices. */
static cv_mesh *patch(int i)
{
    cv_mesh *m;
    uint32_t nv = (uint32_t)(side * side), nf = (uint32_t)(2 * (side - 1) * (side - 1));
    if (cv_mesh_new(nv, nf, &m) != CV_OK) {
        return NULL;
    }
    for (int a = 0; a < side; a++) {
        for (int b = 0; b < side; b++) {
            float *v = m->vertices + 3 * (size_t)(a * side + b);
            v[0] = (float)(8 * (i * (side - 1) + a));
            v[1] = (float)(8 * b);
            v[2] = (float)(40 * (((i * (side - 1) + a) * 7 + b * 3) % 5));
        }
    }
    size_t f = 0;
    for (int a = 0; a + 1 < side; a++) {
        for (int b = 0; b + 1 < side; b++) {
            uint32_t p = (uint32_t)(a * side + b), s = (uint32_t)side;
            uint32_t t[6] = {p, p + s, p + s + 1, p, p + s + 1, p + 1};
            memcpy(m->faces + 3 * f, t, sizeof t);
            f += 2;
        }
    }
    return m;
}

typedef struct mesh_ctx {
    cv_meshes *k;
    cv_mesh *got, *merged;
    uint8_t **gz;
    size_t *gz_len, raw_len;
    uint8_t *scratch;
} mesh_ctx;

static int run_get(void *arg)
{
    mesh_ctx *c = arg;
    cv_mesh_free(c->got);
    c->got = NULL;
    return cv_meshes_get(c->k, 1, 0, &c->got) != CV_OK;
}

static int run_consolidate(void *arg)
{
    mesh_ctx *c = arg;
    cv_mesh_free(c->merged);
    c->merged = NULL;
    return cv_mesh_consolidate(c->got, &c->merged) != CV_OK;
}

/* Baseline: read each fragment file and gunzip it with libdeflate, nothing else. */
static int run_gunzip(void *arg)
{
    mesh_ctx *c = arg;
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    int bad = 0;
    for (int i = 0; i < n_frag && !bad; i++) {
        char path[700];
        snprintf(path, sizeof path, "%s/mesh/mesh/1:0:%d.gz", dir, i);
        FILE *f = fopen(path, "rb");
        if (!f) {
            bad = 1;
            break;
        }
        size_t n = fread(c->gz[0], 1, c->gz_len[0], f);
        fclose(f);
        size_t out;
        bad = libdeflate_gzip_decompress(d, c->gz[0], n, c->scratch, c->raw_len, &out) !=
              LIBDEFLATE_SUCCESS;
    }
    libdeflate_free_decompressor(d);
    return bad;
}

static int bench_meshes(void)
{
    cv_volume *v = make_layer("mesh");
    cv_meshes *k;
    if (!v || cv_meshes_open(v, true, &k) != CV_OK) {
        return 1;
    }
    /* Fragments under CloudVolume's names (gzip 6), then a manifest naming them all. */
    cv_buf manifest;
    cv__buf_init(&manifest, 0);
    cv__buf_append(&manifest, "{\"fragments\": [", 15);
    size_t raw_len = 0, max_gz = 0;
    for (int i = 0; i < n_frag; i++) {
        cv_mesh *m = patch(i);
        uint8_t *data;
        size_t len;
        char key[64];
        if (!m || cv_mesh_fragment_encode(m, &data, &len) != CV_OK) {
            return 1;
        }
        snprintf(key, sizeof key, "mesh/1:0:%d", i);
        if (cv_store_put(cv_volume_store(v), key, data, len, "gzip", 6, NULL) != CV_OK) {
            return 1;
        }
        raw_len = len;
        max_gz = len + len / 8 + 1024;
        char name[64];
        int n = snprintf(name, sizeof name, "%s\"1:0:%d\"", i ? ", " : "", i);
        cv__buf_append(&manifest, name, (size_t)n);
        cv_free(data);
        cv_mesh_free(m);
    }
    cv__buf_append(&manifest, "]}", 2);
    cv_store_put(cv_volume_store(v), "mesh/1:0", manifest.data, manifest.len, NULL, -1, NULL);
    cv__buf_fini(&manifest);

    mesh_ctx c = {k, NULL, NULL, NULL, NULL, raw_len, NULL};
    uint8_t *gzbuf = malloc(max_gz);
    c.gz = &gzbuf;
    c.gz_len = &max_gz;
    c.scratch = malloc(raw_len);
    bench_timing tg, tc, tb;
    if (bench_time(run_get, &c, runs, &tg) || bench_time(run_consolidate, &c, runs, &tc) ||
        bench_time(run_gunzip, &c, runs, &tb)) {
        fprintf(stderr, "bench_mesh: %s\n", cv_err_last()->what);
        return 1;
    }
    double nv = (double)c.got->n_vertices;
    printf("mesh\t%s\t%d fragments\t%.0f vertices\tget %.2f Mvert/s (%.3f s)\t"
           "gunzip alone %.3f s (get/gunzip %.2f)\tconsolidate %.2f Mvert/s (%.3f s) -> %" PRIu32
           " vertices\n",
           BENCH_GIT_REV, n_frag, nv, nv / tg.best_s / 1e6, tg.best_s, tb.best_s,
           tg.best_s / tb.best_s, nv / tc.best_s / 1e6, tc.best_s, c.merged->n_vertices);
    uint32_t want = (uint32_t)(side * side * n_frag - side * (n_frag - 1));
    int bad = c.merged->n_vertices != want;
    if (bad) {
        fprintf(stderr, "bench_mesh: %" PRIu32 " merged vertices, want %" PRIu32 "\n",
                c.merged->n_vertices, want);
    }
    cv_mesh_free(c.got);
    cv_mesh_free(c.merged);
    free(gzbuf);
    free(c.scratch);
    cv_meshes_close(k);
    cv_volume_close(v);
    return bad;
}

typedef struct skel_ctx {
    cv_skeletons *k;
    cv_skeleton **list;
} skel_ctx;

static int run_put(void *arg)
{
    skel_ctx *c = arg;
    return cv_skeletons_put(c->k, (const cv_skeleton *const *)c->list, (size_t)n_skel) != CV_OK;
}

static int bench_skeletons(void)
{
    cv_skeleton **list = calloc((size_t)n_skel, sizeof *list);
    cv_skel_attr attrs[CV_SKEL_MAX_ATTRS];
    int n_attrs = cv_skel_default_attrs(attrs);
    uint64_t vertices = 0;
    for (int i = 0; i < n_skel; i++) {
        uint32_t nv = 20 + (uint32_t)(i % 61);
        if (cv_skeleton_new(nv, nv - 1, attrs, n_attrs, &list[i]) != CV_OK) {
            return 1;
        }
        list[i]->id = (uint64_t)i * 7919 + 3;
        for (uint32_t j = 0; j < nv; j++) {
            list[i]->vertices[3 * j] = (float)(i % 1000) * 8 + (float)j;
            list[i]->vertices[3 * j + 1] = (float)(j * j % 97);
            list[i]->vertices[3 * j + 2] = (float)(i / 1000) * 40;
            ((float *)list[i]->attrs[0].data)[j] = 1.5f + (float)(j % 7);
            if (j) {
                list[i]->edges[2 * (j - 1)] = j - 1;
                list[i]->edges[2 * (j - 1) + 1] = j;
            }
        }
        vertices += nv;
    }
    double best[2];
    const char *names[2] = {"skel_plain", "skel_sharded"};
    for (int s = 0; s < 2; s++) {
        cv_volume *v = make_layer(names[s]);
        skel_ctx c = {NULL, list};
        if (!v || cv_skeletons_open(v, true, &c.k) != CV_OK) {
            return 1;
        }
        if (s == 1) {
            cv_shard_spec spec;
            cv_shard_params_for_hashed((uint64_t)n_skel, 1, &spec);
            if (cv_skeletons_set_sharding(c.k, &spec) != CV_OK) {
                return 1;
            }
        }
        bench_timing t;
        if (bench_time(run_put, &c, runs, &t)) {
            fprintf(stderr, "bench_mesh: %s\n", cv_err_last()->what);
            return 1;
        }
        best[s] = t.best_s;
        cv_skeletons_close(c.k);
        cv_volume_close(v);
    }
    printf("skeletons\t%s\t%d skeletons (%" PRIu64 " vertices)\tsharded %.0f skel/s (%.3f s)\t"
           "unsharded %.0f skel/s (%.3f s)\tsharded/unsharded speed %.2f\n",
           BENCH_GIT_REV, n_skel, vertices, n_skel / best[1], best[1], n_skel / best[0], best[0],
           best[0] / best[1]);
    for (int i = 0; i < n_skel; i++) {
        cv_skeleton_free(list[i]);
    }
    free(list);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
        n_frag = 10;
        side = 100;
        runs = 1;
        n_skel = 2000;
    }
    snprintf(dir, sizeof dir, "%s/cvmpi-bench-mesh.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int rc = bench_meshes() || bench_skeletons();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_mesh: could not remove %s\n", dir);
    }
    return rc;
}
