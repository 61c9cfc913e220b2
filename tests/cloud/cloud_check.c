/* SPDX-License-Identifier: BSD-3-Clause
 * cloud_check.c: storage-level checks of the http(s), s3 and gs backends against the real or
 * fake servers the tests/cloud scripts start (issue 5): round trips with and without
 * Content-Encoding, Range reads, missing keys, deletes, paginated listing, many threads at
 * once, and the read-only http(s) rules. The store is named by $CLOUD_URL.
 *
 *   cloud_check mkfiles DIR          write the fixture files the http checks read
 *   cloud_check TEST...              run tests (roundtrip range missing delete list threads
 *                                    slow readonly); $CLOUD_LIST_N sets how many keys `list`
 *                                    uses, $CLOUD_SLOW_SECS how long `slow` runs */
#include "testlib.h"

#include "io/http.h"
#include "io/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int tl_failed_asserts;

#define BLOB_SIZE 100000

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
    uint32_t x = 2463534242u ^ seed;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)(i % 3 == 0 ? x : i / 64); /* part noise, part runs: gzip shrinks it */
    }
}

static cv_store *open_store(void)
{
    const char *url = getenv("CLOUD_URL");
    cv_store *s = NULL;
    if (!url) {
        fprintf(stderr, "  CLOUD_URL is not set\n");
        return NULL;
    }
    if (cv_store_open(url, &s) != CV_OK) {
        fprintf(stderr, "  open %s: %s\n", url, cv_err_last()->what);
        return NULL;
    }
    return s;
}

static void test_roundtrip(void)
{
    cv_store *s = open_store();
    ASSERT_TRUE(s);
    uint8_t *blob = cv_malloc(BLOB_SIZE);
    pattern(blob, BLOB_SIZE, 1);
    static const char *const compress[] = {"", "gzip", "br"};
    static const char *const keys[] = {"rt/plain", "rt/gzip", "rt/br"};
    for (int i = 0; i < 3; i++) {
        ASSERT_OK(
            cv_store_put(s, keys[i], blob, BLOB_SIZE, compress[i], -1, "application/octet-stream"));
    }
    for (int i = 0; i < 3; i++) {
        uint8_t *data = NULL;
        size_t len = 0;
        ASSERT_OK(cv_store_get(s, keys[i], 0, &data, &len));
        ASSERT_EQ(len, BLOB_SIZE);
        ASSERT_MEM_EQ(data, blob, BLOB_SIZE);
        cv_free(data);
        bool yes = false;
        ASSERT_OK(cv_store_exists(s, keys[i], &yes));
        ASSERT_TRUE(yes);
    }
    /* JSON the way info files are written; an empty object; a key needing escapes. */
    const char *json = "{\"a\": 1}\n";
    ASSERT_OK(cv_store_put(s, "rt/info", json, strlen(json), NULL, -1, "application/json"));
    ASSERT_OK(cv_store_put(s, "rt/empty", "", 0, NULL, -1, NULL));
    ASSERT_OK(cv_store_put(s, "rt/mesh/12:0:1 +x%", blob, 10, NULL, -1, NULL));
    uint8_t *data = NULL;
    size_t len = 0;
    ASSERT_OK(cv_store_get(s, "rt/info", 0, &data, &len));
    ASSERT_EQ(len, strlen(json));
    ASSERT_MEM_EQ(data, json, len);
    cv_free(data);
    ASSERT_OK(cv_store_get(s, "rt/empty", 0, &data, &len));
    ASSERT_EQ(len, 0);
    cv_free(data);
    ASSERT_OK(cv_store_get(s, "rt/mesh/12:0:1 +x%", 0, &data, &len));
    ASSERT_EQ(len, 10);
    ASSERT_MEM_EQ(data, blob, 10);
    cv_free(data);
    /* A cap below the decoded size is an error, not a truncated answer. */
    ASSERT_FAILS(cv_store_get(s, "rt/gzip", 1000, &data, &len), CV_ERR_CORRUPT, "");
    ASSERT_FAILS(cv_store_get(s, "rt/plain", 1000, &data, &len), CV_ERR_CORRUPT, "");
    cv_free(blob);
    cv_store_close(s);
}

static void test_range(void)
{
    cv_store *s = open_store();
    ASSERT_TRUE(s);
    uint8_t *blob = cv_malloc(BLOB_SIZE);
    pattern(blob, BLOB_SIZE, 2);
    ASSERT_OK(cv_store_put(s, "range/blob", blob, BLOB_SIZE, NULL, -1, NULL));
    static const struct {
        uint64_t off, len, want;
    } cases[] = {
        {0, 10, 10},       {12345, 4000, 4000},      {BLOB_SIZE - 10, 100, 10},
        {BLOB_SIZE, 5, 0}, {BLOB_SIZE + 1000, 5, 0}, {0, BLOB_SIZE, BLOB_SIZE},
        {7, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *data = NULL;
        size_t len = 99;
        ASSERT_OK(cv_store_get_range(s, "range/blob", cases[i].off, cases[i].len, &data, &len));
        ASSERT_EQ(len, cases[i].want);
        if (len) {
            ASSERT_MEM_EQ(data, blob + cases[i].off, len);
        }
        cv_free(data);
    }
    uint8_t *data = NULL;
    size_t len = 0;
    ASSERT_FAILS(cv_store_get_range(s, "range/nothing", 0, 10, &data, &len), CV_ERR_NOTFOUND,
                 "range/nothing");
    /* A range of a compressed object would be compressed bytes: refused. */
    ASSERT_OK(cv_store_put(s, "range/zipped", blob, BLOB_SIZE, "gzip", -1, NULL));
    cv_status rc = cv_store_get_range(s, "range/zipped", 0, 10, &data, &len);
    ASSERT_TRUE(rc == CV_ERR_UNSUPPORTED || rc == CV_OK);
    if (rc == CV_OK) { /* a server that decompressed for us (GCS transcoding) is fine too */
        ASSERT_MEM_EQ(data, blob, len);
        cv_free(data);
    }
    cv_err_clear();
    cv_free(blob);
    cv_store_close(s);
}

static void test_missing(void)
{
    cv_store *s = open_store();
    ASSERT_TRUE(s);
    uint8_t *data = NULL;
    size_t len = 0;
    ASSERT_FAILS(cv_store_get(s, "missing/never-written", 0, &data, &len), CV_ERR_NOTFOUND,
                 "missing/never-written");
    bool yes = true;
    ASSERT_OK(cv_store_exists(s, "missing/never-written", &yes));
    ASSERT_TRUE(!yes);
    cv_store_close(s);
}

static void test_delete(void)
{
    cv_store *s = open_store();
    ASSERT_TRUE(s);
    ASSERT_OK(cv_store_put(s, "del/a", "abc", 3, "gzip", -1, NULL));
    bool yes = false;
    ASSERT_OK(cv_store_exists(s, "del/a", &yes));
    ASSERT_TRUE(yes);
    ASSERT_OK(cv_store_delete(s, "del/a"));
    ASSERT_OK(cv_store_exists(s, "del/a", &yes));
    ASSERT_TRUE(!yes);
    ASSERT_OK(cv_store_delete(s, "del/a")); /* absent is fine */
    cv_store_close(s);
}

typedef struct many {
    cv_store *s;
    size_t n;
    int op; /* 0 put, 1 delete, 2 put+get+delete */
} many;

static cv_status many_one(size_t i, int tid, void *arg)
{
    (void)tid;
    many *m = arg;
    char key[64], val[64];
    snprintf(key, sizeof key, "%s/k%05zu", m->op == 2 ? "threads" : "many", i);
    snprintf(val, sizeof val, "value %zu", i);
    if (m->op == 1) {
        return cv_store_delete(m->s, key);
    }
    CV_TRY(cv_store_put(m->s, key, val, strlen(val), i % 2 ? "gzip" : NULL, -1, NULL));
    if (m->op == 0) {
        return CV_OK;
    }
    uint8_t *data;
    size_t len;
    CV_TRY(cv_store_get(m->s, key, 0, &data, &len));
    bool same = len == strlen(val) && memcmp(data, val, len) == 0;
    cv_free(data);
    if (!same) {
        return CV_FAIL(CV_ERR_CORRUPT, "%s: wrong value", key);
    }
    return cv_store_delete(m->s, key);
}

typedef struct seen {
    size_t n;
    char last[64];
    bool sorted;
} seen;

static cv_status count_key(const char *key, void *arg)
{
    seen *c = arg;
    c->sorted = c->sorted && strcmp(c->last, key) < 0;
    snprintf(c->last, sizeof c->last, "%s", key);
    c->n++;
    return CV_OK;
}

static void test_list(void)
{
    cv_store *s = open_store();
    ASSERT_TRUE(s);
    const char *e = getenv("CLOUD_LIST_N");
    size_t n = e ? (size_t)atol(e) : 250;
    many m = {s, n, 0};
    ASSERT_OK(cv__parallel_for(n, 16, many_one, &m));
    ASSERT_OK(cv_store_put(s, "manyx", "x", 1, NULL, -1, NULL)); /* shares the prefix "many" */
    seen c = {0, "", true};
    ASSERT_OK(cv_store_list(s, "many/", count_key, &c));
    ASSERT_EQ(c.n, n);
    ASSERT_TRUE(c.sorted);
    char want_last[64] = "";
    if (n) {
        snprintf(want_last, sizeof want_last, "many/k%05zu", n - 1);
    }
    ASSERT_STR_EQ(c.last, want_last);
    seen all = {0, "", true};
    ASSERT_OK(cv_store_list(s, "many", count_key, &all));
    ASSERT_EQ(all.n, n + 1);
    /* All of them at once: S3 DeleteObjects in batches of 1000 (with a key XML must escape),
     * one by one elsewhere. */
    static const char odd[] = "del&<odd>'\"key";
    ASSERT_OK(cv_store_put(s, odd, "x", 1, NULL, -1, NULL));
    char **keys = cv_calloc(n + 2, sizeof *keys);
    ASSERT_TRUE(keys != NULL);
    for (size_t i = 0; i < n; i++) {
        keys[i] = cv__asprintf("many/k%05zu", i);
        ASSERT_TRUE(keys[i] != NULL);
    }
    keys[n] = cv__strdup("manyx");
    keys[n + 1] = cv__strdup(odd);
    ASSERT_OK(cv__store_delete_many(s, (const char *const *)keys, n + 2, 4));
    for (size_t i = 0; i < n + 2; i++) {
        cv_free(keys[i]);
    }
    cv_free(keys);
    seen after = {0, "", true};
    ASSERT_OK(cv_store_list(s, "many", count_key, &after));
    ASSERT_EQ(after.n, 0);
    bool yes = true;
    ASSERT_OK(cv_store_exists(s, odd, &yes));
    ASSERT_TRUE(!yes);
    cv_store_close(s);
}

static void test_threads(void)
{
    cv_store *s = open_store();
    ASSERT_TRUE(s);
    many m = {s, 256, 2};
    ASSERT_OK(cv__parallel_for(m.n, 32, many_one, &m));
    cv_store_close(s);
}

/* Requests one after another for $CLOUD_SLOW_SECS seconds (token refresh). */
static void test_slow(void)
{
    cv_store *s = open_store();
    ASSERT_TRUE(s);
    const char *e = getenv("CLOUD_SLOW_SECS");
    double secs = e ? atof(e) : 3;
    ASSERT_OK(cv_store_put(s, "slow", "abc", 3, NULL, -1, NULL));
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        uint8_t *data = NULL;
        size_t len = 0;
        ASSERT_OK(cv_store_get(s, "slow", 0, &data, &len));
        ASSERT_EQ(len, 3);
        cv_free(data);
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9 < secs);
    cv_store_close(s);
}

/* http(s): the fixture written by `mkfiles` and the nginx setup of https.sh. */
static void test_readonly(void)
{
    cv_store *s = open_store();
    ASSERT_TRUE(s);
    uint8_t *blob = cv_malloc(BLOB_SIZE);
    pattern(blob, BLOB_SIZE, 3);
    uint8_t *data = NULL;
    size_t len = 0;
    ASSERT_OK(cv_store_get(s, "blob", 0, &data, &len));
    ASSERT_EQ(len, BLOB_SIZE);
    ASSERT_MEM_EQ(data, blob, len);
    cv_free(data);
    /* gzip_static: only zipped.gz is on disk; nginx sends it with Content-Encoding: gzip. */
    ASSERT_OK(cv_store_get(s, "zipped", 0, &data, &len));
    ASSERT_EQ(len, BLOB_SIZE);
    ASSERT_MEM_EQ(data, blob, len);
    cv_free(data);
    ASSERT_OK(cv_store_get_range(s, "blob", 4096, 1000, &data, &len));
    ASSERT_EQ(len, 1000);
    ASSERT_MEM_EQ(data, blob + 4096, len);
    cv_free(data);
    bool yes = false;
    ASSERT_OK(cv_store_exists(s, "blob", &yes));
    ASSERT_TRUE(yes);
    ASSERT_OK(cv_store_exists(s, "zipped", &yes));
    ASSERT_TRUE(yes);
    ASSERT_OK(cv_store_exists(s, "nothing", &yes));
    ASSERT_TRUE(!yes);
    ASSERT_FAILS(cv_store_get(s, "nothing", 0, &data, &len), CV_ERR_NOTFOUND, "nothing");
    /* 403 means missing on http(s), as in CloudFiles. */
    ASSERT_FAILS(cv_store_get(s, "forbidden", 0, &data, &len), CV_ERR_NOTFOUND, "403");
    ASSERT_FAILS(cv_store_put(s, "new", "x", 1, NULL, -1, NULL), CV_ERR_UNSUPPORTED, "read-only");
    ASSERT_FAILS(cv_store_delete(s, "blob"), CV_ERR_UNSUPPORTED, "read-only");
    cv_free(blob);
    cv_store_close(s);
}

static int mkfiles(const char *dir)
{
    uint8_t *blob = cv_malloc(BLOB_SIZE);
    pattern(blob, BLOB_SIZE, 3);
    char path[4096];
    snprintf(path, sizeof path, "%s/blob", dir);
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(blob, 1, BLOB_SIZE, f) == BLOB_SIZE;
    ok = f && fclose(f) == 0 && ok;
    cv_free(blob);
    if (!ok) {
        perror(path);
    }
    return ok ? 0 : 1;
}

static const tl_test tests[] = {TL_ENTRY(test_roundtrip) TL_ENTRY(test_range) TL_ENTRY(test_missing)
                                    TL_ENTRY(test_delete) TL_ENTRY(test_list) TL_ENTRY(test_threads)
                                        TL_ENTRY(test_slow) TL_ENTRY(test_readonly)};

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "mkfiles") == 0) {
        return mkfiles(argv[2]);
    }
    int passed = 0, failed = 0;
    for (int a = 1; a < argc; a++) {
        bool found = false;
        for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
            if (strcmp(tests[i].name + 5, argv[a]) != 0) {
                continue;
            }
            found = true;
            int before = tl_failed_asserts;
            cv_err_clear();
            tests[i].fn();
            bool ok = tl_failed_asserts == before;
            printf("%s %s\n", ok ? "ok  " : "FAIL", tests[i].name);
            fflush(stdout);
            ok ? passed++ : failed++;
        }
        if (!found) {
            fprintf(stderr, "cloud_check: no test `%s'\n", argv[a]);
            failed++;
        }
    }
    cv__http_cleanup();
    printf("%d passed, %d failed\n", passed, failed);
    return failed || passed == 0 ? 1 : 0;
}
