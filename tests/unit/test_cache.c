/* SPDX-License-Identifier: BSD-3-Clause
 * test_cache.c: the disk cache's paths and sidecars (io/cache.c) and the in-memory LRU of
 * decoded chunks (volume/chunk_lru.c): CloudVolume's directory layout and its environment
 * variables, `..' refused, the sidecar text, and LRU order and byte bound. */
#include "testlib.h"

#include "io/cache.h"
#include "volume/volume.h"

static void layer_dir_is(const char *base, const char *url, const char *want)
{
    char *dir = NULL;
    cv_status rc = cv__cache_layer_dir(base, url, &dir);
    if (rc != CV_OK || !dir || strcmp(dir, want) != 0) {
        fprintf(stderr, "  %s under %s: got %s, want %s\n", url, base ? base : "(default)",
                dir ? dir : "(null)", want);
        tl_failed_asserts++;
    }
    cv_free(dir);
}

static void test_layout(void)
{
    layer_dir_is("/c", "gs://bucket/a/b", "/c/gs/bucket/a/b");
    layer_dir_is("/c/", "s3://bucket/x", "/c/s3/bucket/x");
    layer_dir_is("/c", "precomputed://gs://bucket/a/b/", "/c/gs/bucket/a/b");
    layer_dir_is("/c", "s3://https://s3.example.com/bucket/x", "/c/s3/bucket/x");
    layer_dir_is("/c", "https://host.org:8443/data/em", "/c/https/host.org:8443/data/em");
    layer_dir_is("/c", "http://127.0.0.1:80/l", "/c/http/127.0.0.1:80/l");
    char *dir = (char *)"x";
    ASSERT_OK(cv__cache_layer_dir("/c", "file:///data/layer", &dir));
    ASSERT_TRUE(dir == NULL);
    ASSERT_OK(cv__cache_layer_dir("/c", "mem://b/l", &dir));
    ASSERT_TRUE(dir == NULL);
    ASSERT_FAILS(cv__cache_layer_dir("/c", "gs://b/a/../../x", &dir), CV_ERR_ARG,
                 "cache: `gs://b/a/../../x' has a `..' part, which would leave the cache "
                 "directory");
    ASSERT_FAILS(cv__cache_layer_dir("/c", "http://h/./x", &dir), CV_ERR_ARG, "has a `.' part");
}

static void test_base_from_environment(void)
{
    char *home = cv__strdup(getenv("HOME"));
    setenv("HOME", "/home/u", 1);
    unsetenv("CLOUD_VOLUME_CACHE_DIR");
    unsetenv("CLOUD_VOLUME_DIR");
    layer_dir_is(NULL, "gs://b/l", "/home/u/.cloudvolume/cache/gs/b/l");
    layer_dir_is("", "gs://b/l", "/home/u/.cloudvolume/cache/gs/b/l");
    setenv("CLOUD_VOLUME_DIR", "/cvdir", 1);
    layer_dir_is(NULL, "gs://b/l", "/cvdir/cache/gs/b/l");
    setenv("CLOUD_VOLUME_CACHE_DIR", "/cache", 1);
    layer_dir_is(NULL, "gs://b/l", "/cache/gs/b/l");
    layer_dir_is("/given", "gs://b/l", "/given/gs/b/l"); /* an explicit base wins */
    unsetenv("CLOUD_VOLUME_CACHE_DIR");
    unsetenv("CLOUD_VOLUME_DIR");
    if (home) {
        setenv("HOME", home, 1);
    }
    cv_free(home);
}

static void test_sidecar(void)
{
    cv_cache_entry e = {.size = 8723, .hash = 0x0123456789abcdefu};
    snprintf(e.encoding, sizeof e.encoding, "gzip");
    char line[128];
    size_t n = cv__cache_entry_format(&e, line, sizeof line);
    ASSERT_STR_EQ(line, "cvmpi-cache 1 8723 0123456789abcdef gzip\n");
    cv_cache_entry back;
    ASSERT_OK(cv__cache_entry_parse(line, n, "x", &back));
    ASSERT_EQ(back.size, 8723);
    ASSERT_TRUE(back.hash == e.hash);
    ASSERT_STR_EQ(back.encoding, "gzip");
    const char plain[] = "cvmpi-cache 1 5 00000000000000ff -\n";
    ASSERT_OK(cv__cache_entry_parse(plain, sizeof plain - 1, "x", &back));
    ASSERT_STR_EQ(back.encoding, "");
    static const char *const bad[] = {
        "",
        "cvmpi-cache 1 0 0123456789abcdef gzip\n", /* empty objects are never cached */
        "cvmpi-cache 1 5 0123456789abcdef gzip",   /* no newline */
        "cvmpi-cache 1 5 0123456789abcde gzip\n",  /* 15 hex digits */
        "cvmpi-cache 1 5 0123456789ABCDEF gzip\n", /* upper case */
        "cvmpi-cache 1 18446744073709551616 0123456789abcdef gzip\n", /* 2^64 */
        "cvmpi-cache 2 5 0123456789abcdef gzip\n",
        "cvmpi-cache 1 5 0123456789abcdef gzip\nmore",
        "cvmpi-cache 1 5 0123456789abcdef Gzip\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_FAILS(cv__cache_entry_parse(bad[i], strlen(bad[i]), "f.cvmeta", &back),
                     CV_ERR_CORRUPT, "cache sidecar `f.cvmeta' is not one");
    }
}

static void test_lru_order_and_bound(void)
{
    cv__chunk_lru *l = cv__chunk_lru_new(300);
    ASSERT_TRUE(l != NULL);
    uint8_t a[100], b[100], c[100], d[100];
    memset(a, 'a', 100), memset(b, 'b', 100), memset(c, 'c', 100), memset(d, 'd', 100);
    int64_t pa[3] = {0, 0, 0}, pb[3] = {64, 0, 0}, pc[3] = {0, 64, 0}, pd[3] = {0, 0, 64};
    cv__chunk_lru_put(l, 0, pa, a, 100);
    cv__chunk_lru_put(l, 0, pb, b, 100);
    cv__chunk_lru_put(l, 0, pc, c, 100);
    cv_buf out;
    cv__buf_init(&out, 0);
    ASSERT_TRUE(cv__chunk_lru_get(l, 0, pa, &out)); /* a is now the most recent */
    ASSERT_EQ(out.len, 100);
    ASSERT_MEM_EQ(out.data, a, 100);
    cv__chunk_lru_put(l, 0, pd, d, 100); /* evicts b, the least recently used */
    ASSERT_EQ(cv__chunk_lru_bytes(l), 300);
    ASSERT_TRUE(!cv__chunk_lru_get(l, 0, pb, &out));
    ASSERT_TRUE(cv__chunk_lru_get(l, 0, pc, &out));
    ASSERT_MEM_EQ(out.data, c, 100);
    ASSERT_TRUE(cv__chunk_lru_get(l, 0, pd, &out));
    ASSERT_TRUE(!cv__chunk_lru_get(l, 1, pa, &out)); /* another mip is another chunk */
    uint8_t big[301] = {0};
    cv__chunk_lru_put(l, 0, pb, big, sizeof big); /* larger than the LRU: not kept */
    ASSERT_TRUE(!cv__chunk_lru_get(l, 0, pb, &out));
    ASSERT_EQ(cv__chunk_lru_bytes(l), 300);
    cv__chunk_lru_put(l, 0, pa, d, 50); /* replacing an entry */
    ASSERT_TRUE(cv__chunk_lru_get(l, 0, pa, &out));
    ASSERT_EQ(out.len, 50);
    ASSERT_EQ(cv__chunk_lru_bytes(l), 250);
    out.max = 10; /* a chunk larger than the caller's cap is a miss */
    ASSERT_TRUE(!cv__chunk_lru_get(l, 0, pa, &out));
    cv__chunk_lru_clear(l);
    ASSERT_EQ(cv__chunk_lru_bytes(l), 0);
    cv__buf_fini(&out);
    cv__chunk_lru_free(l);
}

TEST_MAIN(test_layout, test_base_from_environment, test_sidecar, test_lru_order_and_bound)
