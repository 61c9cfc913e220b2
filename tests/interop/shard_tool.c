/* SPDX-License-Identifier: BSD-3-Clause
 * shard_tool.c: cvmpi's sharded-format writer and reader (src/shard/shard.c,
 * precomputed-sharded §3)
 * as a command line tool for sharded_neuroglancer.sh, which checks them against Neuroglancer's
 * ShardedKvStore and the independent shard_ref.py. Test helper only, not installed.
 *   shard_tool write SHARDS SPEC PAYLOADS [cv|ts]   one shard file per shard from the files
 *                                                  PAYLOADS/<decimal key>, keys in numeric order
 *   shard_tool read SHARDS SPEC OUT KEY...         OUT/<key> per key found, "key K: MISSING"
 *                                                  lines for absent ones
 *   shard_tool check SPEC FILE...                  cv_shard_decode() each whole shard file
 * SPEC is the "sharding" JSON object. Exit 0 on success, 1 on an error, 2 on bad usage. */
#include "cvmpi.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int fail(const char *what)
{
    const cv_err *e = cv_err_last();
    fprintf(stderr, "shard_tool: %s: %s: %s\n", what, cv_errname(e->code), e->what);
    return 1;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "shard_tool: open `%s': %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            uint8_t *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y);
}

static cv_status parse_spec(const char *json, cv_shard_spec *s)
{
    return cv_shard_spec_parse(json, strlen(json), "command line", s);
}

static int cmd_write(const char *shards, const char *json, const char *payloads, const char *layout)
{
    cv_shard_spec spec;
    if (parse_spec(json, &spec) != CV_OK) {
        return fail("sharding spec");
    }
    DIR *d = opendir(payloads);
    if (!d) {
        fprintf(stderr, "shard_tool: open `%s': %s\n", payloads, strerror(errno));
        return 1;
    }
    size_t n = 0, cap = 64;
    uint64_t *keys = malloc(cap * sizeof *keys);
    for (struct dirent *e = readdir(d); e && keys; e = readdir(d)) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (n == cap) {
            uint64_t *grown = realloc(keys, 2 * cap * sizeof *keys);
            if (!grown) {
                free(keys);
                keys = NULL;
                break;
            }
            keys = grown;
            cap *= 2;
        }
        keys[n++] = strtoull(e->d_name, NULL, 10);
    }
    closedir(d);
    if (!keys) {
        return 1;
    }
    qsort(keys, n, sizeof *keys, cmp_u64);
    cv_shard_item *items = calloc(n ? n : 1, sizeof *items);
    uint8_t **bufs = calloc(n ? n : 1, sizeof *bufs);
    int rc = items && bufs ? 0 : 1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%" PRIu64, payloads, keys[i]);
        bufs[i] = read_file(path, &items[i].len);
        items[i].key = keys[i];
        items[i].data = bufs[i];
        rc = bufs[i] ? 0 : 1;
    }
    cv_store *st = NULL;
    if (rc == 0 && cv_store_open(shards, &st) != CV_OK) {
        rc = fail("open shard directory");
    }
    cv_shard_layout lay = layout && strcmp(layout, "ts") == 0 ? CV_SHARD_LAYOUT_TENSORSTORE
                                                              : CV_SHARD_LAYOUT_CLOUDVOLUME;
    if (rc == 0 && cv_shard_write(st, "", &spec, items, n, lay, -1) != CV_OK) {
        rc = fail("write shards");
    }
    cv_store_close(st);
    for (size_t i = 0; bufs && i < n; i++) {
        free(bufs[i]);
    }
    free(bufs);
    free(items);
    free(keys);
    return rc;
}

static int cmd_read(const char *shards, const char *json, const char *out, int n_keys, char **keys)
{
    cv_store *st = NULL;
    cv_shard_reader *r = NULL;
    if (cv_store_open(shards, &st) != CV_OK) {
        return fail("open shard directory");
    }
    if (cv_shard_reader_open(st, "", json, &r) != CV_OK) {
        cv_store_close(st);
        return fail("open shard reader");
    }
    int rc = 0;
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "shard_tool: mkdir `%s': %s\n", out, strerror(errno));
        rc = 1;
    }
    for (int i = 0; rc == 0 && i < n_keys; i++) {
        uint64_t key = strtoull(keys[i], NULL, 10);
        uint8_t *v = NULL;
        size_t n = 0;
        cv_err_clear();
        cv_status s = cv_shard_reader_get(r, key, 0, &v, &n);
        if (s == CV_ERR_NOTFOUND) {
            printf("key %" PRIu64 ": MISSING\n", key);
            continue;
        }
        if (s != CV_OK) {
            rc = fail(keys[i]);
            break;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%" PRIu64, out, key);
        FILE *f = fopen(path, "wb");
        if (!f || (n && fwrite(v, 1, n, f) != n)) {
            fprintf(stderr, "shard_tool: write `%s': %s\n", path, strerror(errno));
            rc = 1;
        }
        if (f && fclose(f) != 0) {
            rc = 1;
        }
        cv_free(v);
    }
    cv_shard_reader_close(r);
    cv_store_close(st);
    return rc;
}

static cv_status count_entry(uint64_t key, const uint8_t *data, size_t n, void *arg)
{
    (void)key;
    (void)data;
    (void)n;
    (*(size_t *)arg)++;
    return CV_OK;
}

static int cmd_check(const char *json, int n_files, char **files)
{
    cv_shard_spec spec;
    if (parse_spec(json, &spec) != CV_OK) {
        return fail("sharding spec");
    }
    for (int i = 0; i < n_files; i++) {
        size_t len = 0, n = 0;
        uint8_t *file = read_file(files[i], &len);
        if (!file) {
            return 1;
        }
        cv_status s = cv_shard_decode(&spec, file, len, files[i], 0, count_entry, &n);
        free(file);
        if (s != CV_OK) {
            return fail("check");
        }
        printf("%s: %zu entries\n", files[i], n);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && argc <= 6 && strcmp(argv[1], "write") == 0) {
        return cmd_write(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
    }
    if (argc >= 5 && strcmp(argv[1], "read") == 0) {
        return cmd_read(argv[2], argv[3], argv[4], argc - 5, argv + 5);
    }
    if (argc >= 4 && strcmp(argv[1], "check") == 0) {
        return cmd_check(argv[2], argc - 3, argv + 3);
    }
    fprintf(stderr, "usage: shard_tool write SHARDS SPEC PAYLOADS [cv|ts]\n"
                    "       shard_tool read SHARDS SPEC OUT KEY...\n"
                    "       shard_tool check SPEC FILE...\n");
    return 2;
}
