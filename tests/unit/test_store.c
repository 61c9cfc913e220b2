/* SPDX-License-Identifier: BSD-3-Clause
 * test_store.c: mem:// and file:// storage (CloudFiles' .gz/.br suffix convention, read order,
 * listing, key checks, atomic writes) and cloud path parsing (test-vectors §10). The file://
 * tests work in a fresh mkdtemp directory that is removed afterwards. */
#include "testlib.h"

#include "compress/compress.h"
#include "io/store.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers --------------------------------------------------------------------------- */

typedef void (*store_body)(cv_store *s, const char *root);

/* rm -r `path`. */
static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                continue;
            }
            char *child = cv__asprintf("%s/%s", path, e->d_name);
            if (child) {
                rm_rf(child);
            }
            cv_free(child);
        }
        if (d) {
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static cv_status delete_key(const char *key, void *arg)
{
    return cv_store_delete(arg, key);
}

/* Run `body` on a store at mem://test-store-<name>/layer, then delete everything in it. */
static void with_mem_store(const char *name, store_body body)
{
    char url[128];
    snprintf(url, sizeof url, "mem://test-store-%s/layer", name);
    cv_store *s = NULL;
    ASSERT_OK(cv_store_open(url, &s));
    ASSERT_STR_EQ(cv_store_url(s), url);
    body(s, NULL);
    cv_err_clear();
    cv_store_list(s, "", delete_key, s);
    cv_store_close(s);
}

/* Run `body` on a store at file://<new temp dir>/layer, then remove the directory. */
static void with_file_store(store_body body)
{
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/cvmpi-test-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    char root[600], url[640];
    snprintf(root, sizeof root, "%s/layer", dir);
    snprintf(url, sizeof url, "file://%s/", root);
    cv_store *s = NULL;
    cv_status rc = cv_store_open(url, &s);
    bool url_ok = false;
    if (rc == CV_OK) {
        /* normalised: no trailing '/' */
        char want[640];
        snprintf(want, sizeof want, "file://%s", root);
        url_ok = strcmp(cv_store_url(s), want) == 0;
        body(s, root);
        cv_store_close(s);
    }
    rm_rf(dir);
    ASSERT_OK(rc);
    ASSERT_TRUE(url_ok);
}

/* The object `key` holds exactly `want` (n bytes). */
static void expect_get(cv_store *s, const char *key, const void *want, size_t n)
{
    uint8_t *data = NULL;
    size_t len = 0;
    ASSERT_OK(cv_store_get(s, key, 0, &data, &len));
    bool same = len == n && (n == 0 || memcmp(data, want, n) == 0);
    if (!same) {
        fprintf(stderr, "  get `%s': %zu bytes \"%.*s\", want %zu\n", key, len, (int)len,
                (const char *)data, n);
    }
    cv_free(data);
    ASSERT_TRUE(same);
}

static bool raw_exists(cv_store *s, const char *name)
{
    bool yes = false;
    return s->ops->exists(s, name, &yes) == CV_OK && yes;
}

static uint8_t *compress(const char *codec, const char *text, size_t *len)
{
    cv_buf b;
    cv__buf_init(&b, 0);
    if (cv__compressor_find(codec)->compress(-1, (const uint8_t *)text, strlen(text), &b) !=
        CV_OK) {
        cv__buf_fini(&b);
        return NULL;
    }
    return cv__buf_take(&b, len);
}

/* Write `codec`-compressed `text` straight to the backend object `name` (no suffix logic). */
static cv_status raw_put_compressed(cv_store *s, const char *name, const char *codec,
                                    const char *text)
{
    size_t n = 0;
    uint8_t *z = codec ? compress(codec, text, &n) : NULL;
    cv_status rc =
        s->ops->put(s, name, codec ? (const void *)z : text, codec ? n : strlen(text), NULL, NULL);
    cv_free(z);
    return rc;
}

typedef struct joined {
    char text[1024];
    int calls;
    int stop_after; /* fail on this call; 0 = never */
} joined;

static cv_status join_key(const char *key, void *arg)
{
    joined *j = arg;
    j->calls++;
    if (j->stop_after && j->calls == j->stop_after) {
        return CV_FAIL(CV_ERR_IO, "stop here");
    }
    size_t n = strlen(j->text);
    snprintf(j->text + n, sizeof j->text - n, "%s%s", n ? "," : "", key);
    return CV_OK;
}

/* Keys under `prefix`, comma separated. */
static void expect_list(cv_store *s, const char *prefix, const char *want)
{
    joined j;
    memset(&j, 0, sizeof j);
    ASSERT_OK(cv_store_list(s, prefix, join_key, &j));
    ASSERT_STR_EQ(j.text, want);
}

/* ---- bodies shared by mem:// and file:// ----------------------------------------------- */

static void check_basic(cv_store *s, const char *root)
{
    (void)root;
    ASSERT_OK(cv_store_put(s, "a", "hello", 5, NULL, -1, NULL));
    expect_get(s, "a", "hello", 5);
    bool yes = false;
    ASSERT_OK(cv_store_exists(s, "a", &yes));
    ASSERT_TRUE(yes);
    ASSERT_OK(cv_store_exists(s, "nope", &yes));
    ASSERT_TRUE(!yes);
    uint8_t *data = NULL;
    size_t len = 0;
    ASSERT_FAILS(cv_store_get(s, "nope", 0, &data, &len), CV_ERR_NOTFOUND, "`nope' not found");
    ASSERT_FAILS(cv_store_get(s, "no/such/dir/x", 0, &data, &len), CV_ERR_NOTFOUND, "not found");
    /* overwrite */
    ASSERT_OK(cv_store_put(s, "a", "bye", 3, "", -1, "text/plain"));
    expect_get(s, "a", "bye", 3);
    /* the decoded-size cap */
    ASSERT_FAILS(cv_store_get(s, "a", 2, &data, &len), CV_ERR_CORRUPT, "more than the 2 expected");
    ASSERT_OK(cv_store_get(s, "a", 3, &data, &len));
    ASSERT_EQ(len, 3);
    cv_free(data);
    /* zero-length objects exist and read back empty */
    ASSERT_OK(cv_store_put(s, "empty", "", 0, NULL, -1, NULL));
    ASSERT_OK(cv_store_exists(s, "empty", &yes));
    ASSERT_TRUE(yes);
    expect_get(s, "empty", "", 0);
    /* binary data and nested keys */
    uint8_t bin[256];
    for (int i = 0; i < 256; i++) {
        bin[i] = (uint8_t)(255 - i);
    }
    ASSERT_OK(cv_store_put(s, "d1/d2/obj", bin, sizeof bin, NULL, -1, NULL));
    expect_get(s, "d1/d2/obj", bin, sizeof bin);
    /* a key below an object is simply missing */
    ASSERT_FAILS(cv_store_get(s, "a/below", 0, &data, &len), CV_ERR_NOTFOUND, "not found");
    /* delete, twice */
    ASSERT_OK(cv_store_delete(s, "a"));
    ASSERT_OK(cv_store_exists(s, "a", &yes));
    ASSERT_TRUE(!yes);
    ASSERT_FAILS(cv_store_get(s, "a", 0, &data, &len), CV_ERR_NOTFOUND, "`a' not found");
    ASSERT_OK(cv_store_delete(s, "a"));
    ASSERT_OK(cv_store_delete(s, "never/there"));
}

static void check_suffixes(cv_store *s, const char *root)
{
    (void)root;
    char text[3000];
    for (size_t i = 0; i < sizeof text - 1; i++) {
        text[i] = (char)('a' + i % 23);
    }
    text[sizeof text - 1] = '\0';
    size_t n = strlen(text);
    /* gzip: only NAME.gz is stored, with CloudFiles' header; get finds it */
    ASSERT_OK(cv_store_put(s, "c", text, n, "gzip", -1, NULL));
    ASSERT_TRUE(raw_exists(s, "c.gz"));
    ASSERT_TRUE(!raw_exists(s, "c"));
    ASSERT_TRUE(!raw_exists(s, "c.br"));
    cv_buf raw;
    cv__buf_init(&raw, 0);
    ASSERT_OK(s->ops->get(s, "c.gz", &raw, NULL, 0));
    static const uint8_t hdr[10] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff};
    bool hdr_ok = raw.len > 18 && raw.len < n && memcmp(raw.data, hdr, 10) == 0;
    cv__buf_fini(&raw);
    ASSERT_TRUE(hdr_ok);
    expect_get(s, "c", text, n);
    bool yes = false;
    ASSERT_OK(cv_store_exists(s, "c", &yes));
    ASSERT_TRUE(yes);
    /* uncompressed after a .gz: the stale .gz is deleted */
    ASSERT_OK(cv_store_put(s, "c", "plain", 5, NULL, -1, NULL));
    ASSERT_TRUE(raw_exists(s, "c"));
    ASSERT_TRUE(!raw_exists(s, "c.gz"));
    expect_get(s, "c", "plain", 5);
    /* br: only NAME.br */
    ASSERT_OK(cv_store_put(s, "c", text, n, "br", -1, NULL));
    ASSERT_TRUE(raw_exists(s, "c.br"));
    ASSERT_TRUE(!raw_exists(s, "c"));
    ASSERT_TRUE(!raw_exists(s, "c.gz"));
    expect_get(s, "c", text, n);
    /* "gz" means gzip; the .br goes */
    ASSERT_OK(cv_store_put(s, "c", "zz", 2, "gz", 1, NULL));
    ASSERT_TRUE(raw_exists(s, "c.gz"));
    ASSERT_TRUE(!raw_exists(s, "c.br"));
    expect_get(s, "c", "zz", 2);
    /* "" is no compression */
    ASSERT_OK(cv_store_put(s, "c", "x", 1, "", -1, NULL));
    ASSERT_TRUE(raw_exists(s, "c"));
    ASSERT_TRUE(!raw_exists(s, "c.gz"));
    /* unknown compressions and non-byte codecs are refused, nothing written */
    ASSERT_FAILS(cv_store_put(s, "u", "x", 1, "zstd", -1, NULL), CV_ERR_UNSUPPORTED,
                 "compression `zstd' is not supported");
    ASSERT_FAILS(cv_store_put(s, "u", "x", 1, "raw", -1, NULL), CV_ERR_UNSUPPORTED,
                 "compression `raw'");
    ASSERT_FAILS(cv_store_put(s, "u", "x", 1, "gzip", 42, NULL), CV_ERR_ARG, "level 42");
    ASSERT_OK(cv_store_exists(s, "u", &yes));
    ASSERT_TRUE(!yes);
    /* delete removes every variant */
    ASSERT_OK(s->ops->put(s, "v", "1", 1, NULL, NULL));
    ASSERT_OK(s->ops->put(s, "v.gz", "2", 1, NULL, NULL));
    ASSERT_OK(s->ops->put(s, "v.br", "3", 1, NULL, NULL));
    ASSERT_OK(s->ops->put(s, "v.zstd", "4", 1, NULL, NULL));
    ASSERT_OK(s->ops->put(s, "v.bz2", "5", 1, NULL, NULL));
    ASSERT_OK(cv_store_delete(s, "v"));
    ASSERT_TRUE(!raw_exists(s, "v"));
    ASSERT_TRUE(!raw_exists(s, "v.gz"));
    ASSERT_TRUE(!raw_exists(s, "v.br"));
    ASSERT_TRUE(!raw_exists(s, "v.zstd"));
    ASSERT_TRUE(!raw_exists(s, "v.bz2"));
    /* exists sees any variant */
    ASSERT_OK(s->ops->put(s, "w.xz", "x", 1, NULL, NULL));
    ASSERT_OK(cv_store_exists(s, "w", &yes));
    ASSERT_TRUE(yes);
}

static void check_read_order(cv_store *s, const char *root)
{
    (void)root;
    /* exact name first, then .gz, then .br */
    ASSERT_OK(raw_put_compressed(s, "k.br", "br", "from br"));
    expect_get(s, "k", "from br", 7);
    ASSERT_OK(raw_put_compressed(s, "k.gz", "gzip", "from gz"));
    expect_get(s, "k", "from gz", 7);
    ASSERT_OK(raw_put_compressed(s, "k", NULL, "plain"));
    expect_get(s, "k", "plain", 5);
    ASSERT_OK(s->ops->del(s, "k"));
    expect_get(s, "k", "from gz", 7);
    ASSERT_OK(s->ops->del(s, "k.gz"));
    expect_get(s, "k", "from br", 7);
    uint8_t *data = NULL;
    size_t len = 0;
    /* a zero-byte compressed file is an error, not an empty object */
    ASSERT_OK(s->ops->put(s, "z.gz", "", 0, NULL, NULL));
    ASSERT_FAILS(cv_store_get(s, "z", 0, &data, &len), CV_ERR_CORRUPT,
                 "gzip: not in gzip format (0 bytes)");
    ASSERT_OK(s->ops->put(s, "z2.br", "", 0, NULL, NULL));
    ASSERT_FAILS(cv_store_get(s, "z2", 0, &data, &len), CV_ERR_CORRUPT, "br: truncated");
    /* a .gz that is not gzip names the key */
    ASSERT_OK(s->ops->put(s, "bad.gz", "definitely not gzip data", 24, NULL, NULL));
    ASSERT_FAILS(cv_store_get(s, "bad", 0, &data, &len), CV_ERR_CORRUPT, "read `bad' in ");
    /* suffixes without a codec here */
    ASSERT_OK(s->ops->put(s, "zs.zstd", "(zstd)", 6, NULL, NULL));
    ASSERT_FAILS(cv_store_get(s, "zs", 0, &data, &len), CV_ERR_UNSUPPORTED,
                 "compression zstd is not supported");
    ASSERT_OK(s->ops->put(s, "x.xz", "(xz)", 4, NULL, NULL));
    ASSERT_FAILS(cv_store_get(s, "x", 0, &data, &len), CV_ERR_UNSUPPORTED, "compression xz");
    ASSERT_OK(s->ops->put(s, "b.bz2", "(bz2)", 5, NULL, NULL));
    ASSERT_FAILS(cv_store_get(s, "b", 0, &data, &len), CV_ERR_UNSUPPORTED, "compression bzip2");
    /* the cap applies to the decoded size */
    ASSERT_OK(raw_put_compressed(s, "capped.gz", "gzip", "0123456789"));
    ASSERT_FAILS(cv_store_get(s, "capped", 9, &data, &len), CV_ERR_CORRUPT, "more than 9 bytes");
    ASSERT_OK(cv_store_get(s, "capped", 10, &data, &len));
    ASSERT_EQ(len, 10);
    ASSERT_MEM_EQ(data, "0123456789", 10);
    cv_free(data);
}

static void check_list(cv_store *s, const char *root)
{
    (void)root;
    ASSERT_OK(cv_store_put(s, "b", "1", 1, NULL, -1, NULL));
    ASSERT_OK(cv_store_put(s, "a", "1", 1, "gzip", -1, NULL));
    ASSERT_OK(cv_store_put(s, "dir/y", "1", 1, "br", -1, NULL));
    ASSERT_OK(cv_store_put(s, "dir/x", "1", 1, NULL, -1, NULL));
    ASSERT_OK(cv_store_put(s, "dirz", "1", 1, NULL, -1, NULL));
    ASSERT_OK(cv_store_put(s, "other/deep/q", "1", 1, NULL, -1, NULL));
    /* two variants of one name are listed once */
    ASSERT_OK(s->ops->put(s, "dup", "1", 1, NULL, NULL));
    ASSERT_OK(s->ops->put(s, "dup.gz", "1", 1, NULL, NULL));
    /* a neighbouring layer whose name extends this one's is not listed */
    char *url = cv__asprintf("%s2", cv_store_url(s));
    cv_store *s2 = NULL;
    ASSERT_OK(cv_store_open(url, &s2));
    cv_free(url);
    cv_status rc2 = cv_store_put(s2, "neighbour", "1", 1, NULL, -1, NULL);
    joined all;
    memset(&all, 0, sizeof all);
    cv_status rc = cv_store_list(s, "", join_key, &all);
    cv_store_delete(s2, "neighbour");
    cv_store_close(s2);
    ASSERT_OK(rc2);
    ASSERT_OK(rc);
    ASSERT_STR_EQ(all.text, "a,b,dir/x,dir/y,dirz,dup,other/deep/q");
    expect_list(s, NULL, "a,b,dir/x,dir/y,dirz,dup,other/deep/q");
    expect_list(s, "dir/", "dir/x,dir/y");
    expect_list(s, "dir", "dir/x,dir/y,dirz");
    expect_list(s, "d", "dir/x,dir/y,dirz,dup");
    expect_list(s, "other/deep/", "other/deep/q");
    expect_list(s, "nothing", "");
    expect_list(s, "./dir/", "dir/x,dir/y");
    joined j;
    memset(&j, 0, sizeof j);
    ASSERT_FAILS(cv_store_list(s, "../x", join_key, &j), CV_ERR_ARG, "escapes");
    ASSERT_EQ(j.calls, 0);
    /* the callback's failure stops the listing and is returned */
    memset(&j, 0, sizeof j);
    j.stop_after = 2;
    ASSERT_FAILS(cv_store_list(s, "", join_key, &j), CV_ERR_IO, "stop here");
    ASSERT_EQ(j.calls, 2);
    ASSERT_STR_EQ(j.text, "a");
}

static void check_keys(cv_store *s, const char *root)
{
    (void)root;
    static const struct {
        const char *key, *needle;
    } bad[] = {
        {"../x", "escapes"},
        {"a/../../x", "escapes"},
        {"..", "escapes"},
        {"/abs", "relative"},
        {"/", "relative"},
        {"", "relative"},
        {"a/..", "names the layer directory itself"},
        {".", "names the layer directory itself"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t *data = NULL;
        size_t len = 0;
        bool yes = false;
        ASSERT_FAILS(cv_store_put(s, bad[i].key, "x", 1, NULL, -1, NULL), CV_ERR_ARG,
                     bad[i].needle);
        ASSERT_FAILS(cv_store_get(s, bad[i].key, 0, &data, &len), CV_ERR_ARG, bad[i].needle);
        ASSERT_FAILS(cv_store_exists(s, bad[i].key, &yes), CV_ERR_ARG, bad[i].needle);
        ASSERT_FAILS(cv_store_delete(s, bad[i].key), CV_ERR_ARG, bad[i].needle);
    }
    /* "." and ".." parts and doubled slashes are resolved inside the root */
    ASSERT_OK(cv_store_put(s, "a/./b", "v1", 2, NULL, -1, NULL));
    expect_get(s, "a/b", "v1", 2);
    ASSERT_TRUE(raw_exists(s, "a/b"));
    ASSERT_OK(cv_store_put(s, "a/../c", "v2", 2, NULL, -1, NULL));
    expect_get(s, "c", "v2", 2);
    ASSERT_TRUE(raw_exists(s, "c"));
    expect_get(s, "./c", "v2", 2);
    expect_get(s, "a//b", "v1", 2);
    expect_get(s, "x/y/../../a/b/", "v1", 2);
    static const struct {
        const char *key, *norm;
    } good[] = {
        {"a/./b/../c", "a/c"}, {"x/", "x"},         {"./x", "x"},
        {"a//b", "a/b"},       {"a/b/../..", NULL}, {"a/b/c/../../d", "a/d"},
        {"..a/b", "..a/b"},    {"a..", "a.."},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char buf[64];
        cv_err_clear();
        cv_status rc = cv__store_check_key(s, good[i].key, buf, sizeof buf);
        if (good[i].norm) {
            ASSERT_OK(rc);
            ASSERT_STR_EQ(buf, good[i].norm);
        } else {
            ASSERT_EQ(rc, CV_ERR_ARG);
        }
    }
    /* a key too long for the buffer is refused, not cut */
    char small[4];
    ASSERT_FAILS(cv__store_check_key(s, "abcd", small, sizeof small), CV_ERR_ARG, "abcd");
}

/* ---- the tests, once per backend ------------------------------------------------------- */

static void mem_basic(void)
{
    with_mem_store("basic", check_basic);
}

static void file_basic(void)
{
    with_file_store(check_basic);
}

static void mem_suffixes(void)
{
    with_mem_store("suffixes", check_suffixes);
}

static void file_suffixes(void)
{
    with_file_store(check_suffixes);
}

static void mem_read_order(void)
{
    with_mem_store("read-order", check_read_order);
}

static void file_read_order(void)
{
    with_file_store(check_read_order);
}

static void mem_list(void)
{
    with_mem_store("list", check_list);
}

static void file_list(void)
{
    with_file_store(check_list);
}

static void mem_keys(void)
{
    with_mem_store("keys", check_keys);
}

static void file_keys(void)
{
    with_file_store(check_keys);
}

/* ---- file:// only ---------------------------------------------------------------------- */

/* Names in directory `dir`, sorted, comma separated. */
static void dir_names(const char *dir, char *out, size_t cap)
{
    char *names[64];
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && n < 64 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            names[n++] = cv__strdup(e->d_name);
        }
    }
    if (d) {
        closedir(d);
    }
    for (int i = 1; i < n; i++) {
        for (int k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
            char *t = names[k];
            names[k] = names[k - 1];
            names[k - 1] = t;
        }
    }
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t used = strlen(out);
        snprintf(out + used, cap - used, "%s%s", i ? "," : "", names[i]);
        cv_free(names[i]);
    }
}

/* The file `path` holds exactly `want`. */
static bool file_holds(const char *path, const void *want, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return false;
    }
    char buf[4096];
    size_t got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return got == n && memcmp(buf, want, n) == 0;
}

static void check_file_layout(cv_store *s, const char *root)
{
    ASSERT_OK(cv_store_put(s, "info", "{\"a\": 1}", 8, NULL, -1, "application/json"));
    ASSERT_OK(cv_store_put(s, "8_8_8/0-64_0-64_0-64", "chunk", 5, "gzip", -1, NULL));
    ASSERT_OK(cv_store_put(s, "8_8_8/0-64_0-64_0-64", "chunk2", 6, "gzip", -1, NULL));
    ASSERT_OK(cv_store_put(s, "8_8_8/64-128_0-64_0-64", "c", 1, "br", -1, NULL));
    ASSERT_OK(cv_store_put(s, "info", "{\"a\": 2}", 8, NULL, -1, "application/json"));
    ASSERT_OK(cv_store_put(s, "mesh/1:0", "", 0, NULL, -1, NULL));
    char path[1024], names[2048];
    snprintf(path, sizeof path, "%s/info", root);
    ASSERT_TRUE(file_holds(path, "{\"a\": 2}", 8));
    /* atomic writes leave no temporary files behind */
    dir_names(root, names, sizeof names);
    ASSERT_STR_EQ(names, "8_8_8,info,mesh");
    snprintf(path, sizeof path, "%s/8_8_8", root);
    dir_names(path, names, sizeof names);
    ASSERT_STR_EQ(names, "0-64_0-64_0-64.gz,64-128_0-64_0-64.br");
    snprintf(path, sizeof path, "%s/mesh", root);
    dir_names(path, names, sizeof names);
    ASSERT_STR_EQ(names, "1:0");
    /* a stray temporary file of an interrupted writer is not listed */
    snprintf(path, sizeof path, "%s/8_8_8/.cvmpi-tmp-1-2-x", root);
    FILE *f = fopen(path, "wb");
    ASSERT_TRUE(f != NULL);
    fclose(f);
    expect_list(s, "", "8_8_8/0-64_0-64_0-64,8_8_8/64-128_0-64_0-64,info,mesh/1:0");
    /* a directory is not an object */
    uint8_t *data = NULL;
    size_t len = 0;
    bool yes = true;
    ASSERT_FAILS(cv_store_get(s, "mesh", 0, &data, &len), CV_ERR_NOTFOUND, "mesh");
    ASSERT_OK(cv_store_exists(s, "mesh", &yes));
    ASSERT_TRUE(!yes);
    /* an unreadable name below a file is missing, not an I/O error */
    ASSERT_FAILS(cv_store_get(s, "info/x", 0, &data, &len), CV_ERR_NOTFOUND, "not found");
}

static void file_layout_and_atomic(void)
{
    with_file_store(check_file_layout);
}

static void file_list_missing_root(void)
{
    /* listing a layer directory that does not exist yet is empty, not an error */
    const char *tmp = getenv("TMPDIR");
    char dir[512], url[600];
    snprintf(dir, sizeof dir, "%s/cvmpi-test-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    snprintf(url, sizeof url, "%s/not/yet", dir);
    cv_store *s = NULL;
    cv_status rc = cv_store_open(url, &s);
    joined j;
    memset(&j, 0, sizeof j);
    cv_status rc2 = rc == CV_OK ? cv_store_list(s, "", join_key, &j) : rc;
    char want[640];
    snprintf(want, sizeof want, "file://%s", url);
    bool url_ok = rc == CV_OK && strcmp(cv_store_url(s), want) == 0;
    cv_store_close(s);
    rm_rf(dir);
    ASSERT_OK(rc);
    ASSERT_OK(rc2);
    ASSERT_EQ(j.calls, 0);
    ASSERT_TRUE(url_ok);
}

/* ---- opening stores and cloud paths ---------------------------------------------------- */

static void open_urls(void)
{
    cv_store *s = NULL;
    ASSERT_OK(cv_store_open("mem://test-store-open/p/q/", &s));
    ASSERT_STR_EQ(cv_store_url(s), "mem://test-store-open/p/q");
    cv_store_close(s);
    ASSERT_OK(cv_store_open("precomputed://mem://test-store-open/p", &s));
    ASSERT_STR_EQ(cv_store_url(s), "mem://test-store-open/p");
    cv_store_close(s);
    ASSERT_OK(cv_store_open("mem://test-store-open/p|neuroglancer-precomputed:", &s));
    ASSERT_STR_EQ(cv_store_url(s), "mem://test-store-open/p");
    cv_store_close(s);
    char cwd[1024], want[1100];
    ASSERT_TRUE(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(want, sizeof want, "file://%s/rel/dir", cwd);
    ASSERT_OK(cv_store_open("rel/dir/", &s));
    ASSERT_STR_EQ(cv_store_url(s), want);
    cv_store_close(s);
    s = NULL;
    ASSERT_FAILS(cv_store_open("zarr2://mem://b/x", &s), CV_ERR_UNSUPPORTED, "format zarr2");
    ASSERT_FAILS(cv_store_open("mem://b/x|zarr:", &s), CV_ERR_UNSUPPORTED, "format zarr");
    ASSERT_FAILS(cv_store_open("foo://x/y", &s), CV_ERR_UNSUPPORTED, "unknown protocol \"foo\"");
    ASSERT_FAILS(cv_store_open("", &s), CV_ERR_ARG, "empty");
    ASSERT_TRUE(s == NULL);
}

typedef struct path_case {
    const char *in;
    const char *format, *protocol, *host, *bucket, *path, *alias, *url;
} path_case;

static void check_path(const path_case *c)
{
    cv_cloudpath p;
    ASSERT_OK(cv__cloudpath_parse(c->in, &p));
    char *url = cv__cloudpath_url(&p);
    bool ok = strcmp(p.format, c->format) == 0 && strcmp(p.protocol, c->protocol) == 0 &&
              (c->host ? p.host && strcmp(p.host, c->host) == 0 : p.host == NULL) &&
              (c->bucket ? p.bucket && strcmp(p.bucket, c->bucket) == 0 : p.bucket == NULL) &&
              p.path && strcmp(p.path, c->path) == 0 && strcmp(p.alias, c->alias) == 0 && url &&
              strcmp(url, c->url) == 0;
    if (!ok) {
        fprintf(stderr, "  `%s': format %s protocol %s host %s bucket %s path %s alias %s url %s\n",
                c->in, p.format, p.protocol, p.host ? p.host : "(null)",
                p.bucket ? p.bucket : "(null)", p.path ? p.path : "(null)", p.alias,
                url ? url : "(null)");
    }
    cv_free(url);
    cv__cloudpath_fini(&p);
    ASSERT_TRUE(ok);
}

static void cloudpath_table(void)
{
    static const path_case cases[] = {
        {"gs://bucket/a/b", "precomputed", "gs", NULL, "bucket", "a/b", "", "gs://bucket/a/b"},
        {"s3://https://s3.example.com/bucket/a/b", "precomputed", "s3", "https://s3.example.com",
         "bucket", "a/b", "", "s3://https://s3.example.com/bucket/a/b"},
        {"matrix://bucket/a", "precomputed", "s3", "https://s3-hpcrc.rc.princeton.edu", "bucket",
         "a", "matrix", "matrix://bucket/a"},
        {"tigerdata://bkt/x/y", "precomputed", "s3", "https://td.princeton.edu", "bkt", "x/y",
         "tigerdata", "tigerdata://bkt/x/y"},
        {"nokura://b/p", "precomputed", "s3", "https://c10s.pni.princeton.edu", "b", "p", "nokura",
         "nokura://b/p"},
        {"http://localhost:8080/a", "precomputed", "http", "http://localhost:8080", NULL, "a", "",
         "http://localhost:8080/a"},
        {"https://host.example.com/a/b", "precomputed", "https", "https://host.example.com", NULL,
         "a/b", "", "https://host.example.com/a/b"},
        {"gs://b/x|neuroglancer-precomputed:", "precomputed", "gs", NULL, "b", "x", "", "gs://b/x"},
        {"gs://b/x|zarr2:", "zarr2", "gs", NULL, "b", "x", "", "gs://b/x"},
        {"precomputed://gs://b/x", "precomputed", "gs", NULL, "b", "x", "", "gs://b/x"},
        {"graphene://https://example.com/seg/table", "graphene", "https", "https://example.com",
         NULL, "seg/table", "", "https://example.com/seg/table"},
        {"file:///data/a/b", "precomputed", "file", NULL, NULL, "/data/a/b", "",
         "file:///data/a/b"},
        {"/data/a/b/", "precomputed", "file", NULL, NULL, "/data/a/b", "", "file:///data/a/b"},
        {"mem://bucket/p/", "precomputed", "mem", NULL, "bucket", "p", "", "mem://bucket/p"},
        {"mem://bucket", "precomputed", "mem", NULL, "bucket", "", "", "mem://bucket"},
        {"gs://bucket/a://b", "precomputed", "gs", NULL, "bucket", "a://b", "",
         "gs://bucket/a://b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_path(&cases[i]);
    }
    /* relative paths (also file://rel) are made absolute against the working directory */
    char cwd[1024], abs[1100], url[1100], home_path[1100], home_url[1100];
    ASSERT_TRUE(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(abs, sizeof abs, "%s/rel/path", cwd);
    snprintf(url, sizeof url, "file://%s/rel/path", cwd);
    path_case rel = {"rel/path", "precomputed", "file", NULL, NULL, abs, "", url};
    check_path(&rel);
    path_case rel2 = {"file://rel/path/", "precomputed", "file", NULL, NULL, abs, "", url};
    check_path(&rel2);
    path_case rel3 = {
        "rel/path|neuroglancer-precomputed:", "precomputed", "file", NULL, NULL, abs, "", url};
    check_path(&rel3);
    const char *home = getenv("HOME");
    snprintf(home_path, sizeof home_path, "%s/vol", home ? home : "");
    snprintf(home_url, sizeof home_url, "file://%s/vol", home ? home : "");
    path_case tilde = {"~/vol", "precomputed", "file", NULL, NULL, home_path, "", home_url};
    check_path(&tilde);
}

static void cloudpath_errors(void)
{
    static const struct {
        const char *in;
        cv_status code;
        const char *needle;
    } cases[] = {
        {"gs://gs://x", CV_ERR_ARG, "bad cloud path `gs://gs://x': two protocols"},
        {"foo://x", CV_ERR_UNSUPPORTED, "unknown protocol \"foo\""},
        {"", CV_ERR_ARG, "empty"},
        {"gs:///x", CV_ERR_ARG, "no bucket"},
        {"s3://https://host-without-bucket", CV_ERR_ARG, "no bucket"},
        {"zarr2://precomputed://gs://b", CV_ERR_ARG, "two formats"},
        {"https:///a", CV_ERR_ARG, "no host"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cv_cloudpath p;
        memset(&p, 0, sizeof p);
        cv_err_clear();
        cv_status rc = cv__cloudpath_parse(cases[i].in, &p);
        bool ok = rc == cases[i].code && strstr(cv_err_last()->what, cases[i].needle);
        if (!ok) {
            fprintf(stderr, "  `%s': %s \"%s\"\n", cases[i].in, cv_errname(rc),
                    cv_err_last()->what);
        }
        if (rc == CV_OK) {
            cv__cloudpath_fini(&p);
        }
        ASSERT_TRUE(ok);
    }
}

static void cloudpath_split(void)
{
    static const struct {
        const char *in, *dir, *name;
    } cases[] = {
        {"s3://b/d/e/obj", "s3://b/d/e", "obj"},
        {"s3://b/obj", "s3://b", "obj"},
        {"gs://b/d/info", "gs://b/d", "info"},
        {"s3://http://127.0.0.1:9000/b/k/x.gz", "s3://http://127.0.0.1:9000/b/k", "x.gz"},
        {"matrix://b/d/x", "matrix://b/d", "x"},
        {"https://host.org/a/b", "https://host.org/a", "b"},
        {"file:///tmp/x/y", "file:///tmp/x", "y"},
        {"file:///y", "file:///", "y"},
        {"mem://b/c/d", "mem://b/c", "d"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *dir = NULL, *name = NULL;
        ASSERT_OK(cv__cloudpath_split(cases[i].in, &dir, &name));
        ASSERT_STR_EQ(dir, cases[i].dir);
        ASSERT_STR_EQ(name, cases[i].name);
        cv_free(dir);
        cv_free(name);
    }
    static const char *const bad[] = {"s3://b", "s3://b/", "https://host.org", "file:///"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *dir = NULL, *name = NULL;
        cv_err_clear();
        ASSERT_EQ(cv__cloudpath_split(bad[i], &dir, &name), CV_ERR_ARG);
        ASSERT_TRUE(strstr(cv_err_last()->what, "not an object") != NULL);
        ASSERT_TRUE(dir == NULL && name == NULL);
    }
}

/* cv__store_copy keeps the stored bytes unless asked to recompress. */
static void store_copy(void)
{
    cv_store *a = NULL, *b = NULL;
    ASSERT_OK(cv_store_open("mem://test-store-copy/a", &a));
    ASSERT_OK(cv_store_open("mem://test-store-copy/b", &b));
    uint8_t data[5000];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)(i % 7 == 0 ? i : 0);
    }
    ASSERT_OK(cv_store_put(a, "x", data, sizeof data, "gzip", 6, NULL));
    cv_buf stored, got;
    cv__buf_init(&stored, 0);
    cv__buf_init(&got, 0);
    char enc[32];
    ASSERT_OK(cv__store_get_raw(a, "x", &stored, enc, sizeof enc));
    ASSERT_STR_EQ(enc, "gzip");
    /* same: the gzip bytes, as they were */
    ASSERT_OK(cv__store_copy(a, "x", b, "same", NULL, -1, NULL));
    ASSERT_OK(cv__store_get_raw(b, "same", &got, enc, sizeof enc));
    ASSERT_STR_EQ(enc, "gzip");
    ASSERT_EQ(got.len, stored.len);
    ASSERT_MEM_EQ(got.data, stored.data, got.len);
    /* none: plain bytes */
    ASSERT_OK(cv__store_copy(a, "x", b, "plain", "", -1, NULL));
    ASSERT_OK(cv__store_get_raw(b, "plain", &got, enc, sizeof enc));
    ASSERT_STR_EQ(enc, "");
    ASSERT_EQ(got.len, sizeof data);
    ASSERT_MEM_EQ(got.data, data, sizeof data);
    /* br: recompressed, and the gzip variant of the same key dropped */
    ASSERT_OK(cv__store_copy(a, "x", b, "same", "br", -1, NULL));
    ASSERT_OK(cv__store_get_raw(b, "same", &got, enc, sizeof enc));
    ASSERT_STR_EQ(enc, "br");
    uint8_t *back = NULL;
    size_t n = 0;
    ASSERT_OK(cv_store_get(b, "same", 0, &back, &n));
    ASSERT_EQ(n, sizeof data);
    ASSERT_MEM_EQ(back, data, n);
    cv_free(back);
    /* a missing source is NOTFOUND naming it; nothing is written */
    ASSERT_EQ(cv__store_copy(a, "nothere", b, "y", NULL, -1, NULL), CV_ERR_NOTFOUND);
    bool yes = true;
    ASSERT_OK(cv_store_exists(b, "y", &yes));
    ASSERT_TRUE(!yes);
    /* an encoding file:// names have no suffix for cannot be stored there as such */
    ASSERT_EQ(cv__store_put_raw(b, "z", data, 10, "deflate", NULL), CV_ERR_UNSUPPORTED);
    cv__buf_fini(&stored);
    cv__buf_fini(&got);
    cv_store_list(a, "", delete_key, a);
    cv_store_list(b, "", delete_key, b);
    cv_store_close(a);
    cv_store_close(b);
}

/* cv__store_delete_many on stores without batches: every variant of every key goes. */
static void check_delete_many(cv_store *s, const char *root)
{
    (void)root;
    char *keys[40];
    for (int i = 0; i < 40; i++) {
        keys[i] = cv__asprintf("dm/k%02d", i);
        ASSERT_TRUE(keys[i] != NULL);
        ASSERT_OK(cv_store_put(s, keys[i], "abc", 3,
                               i % 3 == 0   ? "gzip"
                               : i % 3 == 1 ? "br"
                                            : "",
                               -1, NULL));
    }
    ASSERT_OK(cv_store_put(s, "dm/keep", "x", 1, NULL, -1, NULL));
    ASSERT_OK(cv__store_delete_many(s, (const char *const *)keys, 40, 4));
    expect_list(s, "dm/", "dm/keep");
    ASSERT_OK(cv__store_delete_many(s, (const char *const *)keys, 40, 1)); /* absent: fine */
    const char *bad[] = {"dm/keep", "../escape"};
    ASSERT_EQ(cv__store_delete_many(s, bad, 2, 2), CV_ERR_ARG);
    expect_list(s, "dm/", "dm/keep"); /* nothing deleted when a key is refused */
    for (int i = 0; i < 40; i++) {
        cv_free(keys[i]);
    }
}

/* One level: objects, and each subdirectory once as "dir/", sorted. */
static void check_list_level(cv_store *s, const char *root)
{
    (void)root;
    static const char *const keys[] = {"lv/a", "lv/b/c", "lv/b/d", "lv/b.txt", "lv/c/e/f"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        ASSERT_OK(cv_store_put(s, keys[i], "x", 1, i % 2 ? "gzip" : NULL, -1, NULL));
    }
    static const struct {
        const char *prefix, *want;
    } cases[] = {
        {"", "lv/"},
        {"lv/", "lv/a,lv/b.txt,lv/b/,lv/c/"},
        {"lv/b", "lv/b.txt,lv/b/"},
        {"lv/b/", "lv/b/c,lv/b/d"},
        {"lv/c/", "lv/c/e/"},
        {"lv/zz", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        joined j;
        memset(&j, 0, sizeof j);
        ASSERT_OK(cv__store_list_level(s, cases[i].prefix, join_key, &j));
        ASSERT_STR_EQ(j.text, cases[i].want);
    }
}

static void mem_list_level(void)
{
    with_mem_store("list-level", check_list_level);
}

static void file_list_level(void)
{
    with_file_store(check_list_level);
}

static void mem_delete_many(void)
{
    with_mem_store("delete-many", check_delete_many);
}

static void file_delete_many(void)
{
    with_file_store(check_delete_many);
}

TEST_MAIN(mem_basic, file_basic, mem_suffixes, file_suffixes, mem_read_order, file_read_order,
          mem_list, file_list, mem_keys, file_keys, file_layout_and_atomic, file_list_missing_root,
          open_urls, cloudpath_table, cloudpath_errors, cloudpath_split, store_copy,
          mem_delete_many, file_delete_many, mem_list_level, file_list_level)
