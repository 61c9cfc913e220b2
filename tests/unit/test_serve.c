/* SPDX-License-Identifier: BSD-3-Clause
 * test_serve.c: the request pieces of `cvmpi serve` that need no server: URL path to key
 * (nothing climbs out), Range (RFC 9110 §14.1.2), If-None-Match (§13.1.2), Accept-Encoding
 * (§12.5.3), content types. */
#include "serve/serve.h"
#include "testlib.h"

static void url_keys(void)
{
    char key[64];
    ASSERT_OK(cv__serve_url_key("/info", key, sizeof key));
    ASSERT_STR_EQ(key, "info");
    ASSERT_OK(cv__serve_url_key("/", key, sizeof key));
    ASSERT_STR_EQ(key, "");
    ASSERT_OK(cv__serve_url_key("//8_8_8///0-64_0-64_0-64/", key, sizeof key));
    ASSERT_STR_EQ(key, "8_8_8/0-64_0-64_0-64");
    ASSERT_OK(cv__serve_url_key("/a/..b/c..", key, sizeof key)); /* dots inside names are fine */
    ASSERT_STR_EQ(key, "a/..b/c..");
    ASSERT_FAILS(cv__serve_url_key("/../etc/passwd", key, sizeof key), CV_ERR_ARG, "`..'");
    ASSERT_FAILS(cv__serve_url_key("/a/../../b", key, sizeof key), CV_ERR_ARG, "`..'");
    ASSERT_FAILS(cv__serve_url_key("/a/..", key, sizeof key), CV_ERR_ARG, "`..'");
    ASSERT_FAILS(cv__serve_url_key("/./info", key, sizeof key), CV_ERR_ARG, "`.'");
    ASSERT_FAILS(cv__serve_url_key("info", key, sizeof key), CV_ERR_ARG, "does not start");
    ASSERT_FAILS(cv__serve_url_key("/a\\..\\b", key, sizeof key), CV_ERR_ARG, "backslash");
    ASSERT_FAILS(cv__serve_url_key("/a\nb", key, sizeof key), CV_ERR_ARG, "control");
    char small[6];
    ASSERT_OK(cv__serve_url_key("/ab/cd", small, sizeof small));
    ASSERT_STR_EQ(small, "ab/cd");
    ASSERT_FAILS(cv__serve_url_key("/ab/cde", small, sizeof small), CV_ERR_ARG, "too long");
}

static void ranges(void)
{
    uint64_t off = 99, len = 99;
    ASSERT_EQ(cv__serve_parse_range("bytes=0-9", 100, &off, &len), 1);
    ASSERT_EQ(off, 0);
    ASSERT_EQ(len, 10);
    ASSERT_EQ(cv__serve_parse_range("bytes=90-", 100, &off, &len), 1);
    ASSERT_EQ(off, 90);
    ASSERT_EQ(len, 10);
    ASSERT_EQ(cv__serve_parse_range("bytes=95-200", 100, &off, &len), 1); /* clipped at the end */
    ASSERT_EQ(off, 95);
    ASSERT_EQ(len, 5);
    ASSERT_EQ(cv__serve_parse_range("bytes=-30", 100, &off, &len), 1);
    ASSERT_EQ(off, 70);
    ASSERT_EQ(len, 30);
    ASSERT_EQ(cv__serve_parse_range("bytes=-300", 100, &off, &len), 1);
    ASSERT_EQ(off, 0);
    ASSERT_EQ(len, 100);
    ASSERT_EQ(cv__serve_parse_range(" bytes= 7 - 7 ", 100, &off, &len), 1);
    ASSERT_EQ(off, 7);
    ASSERT_EQ(len, 1);
    /* unsatisfiable: 416 */
    ASSERT_EQ(cv__serve_parse_range("bytes=100-", 100, &off, &len), -1);
    ASSERT_EQ(cv__serve_parse_range("bytes=-0", 100, &off, &len), -1);
    ASSERT_EQ(cv__serve_parse_range("bytes=0-0", 0, &off, &len), -1);
    /* ignored: the whole object */
    ASSERT_EQ(cv__serve_parse_range(NULL, 100, &off, &len), 0);
    ASSERT_EQ(cv__serve_parse_range("bytes=0-1,5-6", 100, &off, &len), 0);
    ASSERT_EQ(cv__serve_parse_range("bytes=9-3", 100, &off, &len), 0);
    ASSERT_EQ(cv__serve_parse_range("items=0-3", 100, &off, &len), 0);
    ASSERT_EQ(cv__serve_parse_range("bytes=-", 100, &off, &len), 0);
    ASSERT_EQ(cv__serve_parse_range("bytes=12345678901234567890-", 100, &off, &len), 0);
    ASSERT_EQ(cv__serve_parse_range("bytes=1x-2", 100, &off, &len), 0);
    ASSERT_EQ(off, 7); /* untouched by the calls that did not return 1 */
}

static void etags_and_encodings(void)
{
    const char *tag = "\"1a-2b-3c\"";
    ASSERT_TRUE(cv__serve_etag_matches("\"1a-2b-3c\"", tag));
    ASSERT_TRUE(cv__serve_etag_matches("\"x\", W/\"1a-2b-3c\"", tag));
    ASSERT_TRUE(cv__serve_etag_matches("*", tag));
    ASSERT_TRUE(!cv__serve_etag_matches("\"1a-2b-3d\"", tag));
    ASSERT_TRUE(!cv__serve_etag_matches("1a-2b-3c", tag)); /* unquoted: malformed */
    ASSERT_TRUE(!cv__serve_etag_matches("\"1a-2b-3c", tag));
    ASSERT_TRUE(!cv__serve_etag_matches(NULL, tag));
    ASSERT_TRUE(cv__serve_accepts("gzip, deflate, br, zstd", "gzip"));
    ASSERT_TRUE(cv__serve_accepts("gzip, deflate, br, zstd", "br"));
    ASSERT_TRUE(cv__serve_accepts("deflate;q=0.5, GZIP;q=0.1", "gzip"));
    ASSERT_TRUE(!cv__serve_accepts("gzip;q=0, br", "gzip"));
    ASSERT_TRUE(cv__serve_accepts("*", "br"));
    ASSERT_TRUE(!cv__serve_accepts("identity", "gzip"));
    ASSERT_TRUE(!cv__serve_accepts("gzipx", "gzip"));
    ASSERT_TRUE(!cv__serve_accepts(NULL, "gzip"));
    ASSERT_STR_EQ(cv__serve_content_type("info"), "application/json");
    ASSERT_STR_EQ(cv__serve_content_type("8_8_8/info"), "application/json");
    ASSERT_STR_EQ(cv__serve_content_type("assets/index-x.js"), "text/javascript; charset=utf-8");
    ASSERT_STR_EQ(cv__serve_content_type("a.wasm"), "application/wasm");
    ASSERT_STR_EQ(cv__serve_content_type("8_8_8/0.shard"), "application/octet-stream");
}

/* %00 must not cut the path short: "/info%00.txt" is refused, never served as "/info". */
static void unescapes(void)
{
    char a[] = "/info%00.txt";
    ASSERT_EQ(cv__serve_unescape(a), (size_t)10);
    ASSERT_MEM_EQ(a, "/info\x01.txt", 11);
    ASSERT_TRUE(cv__serve_has_control(a));
    char b[] = "/8_8_8/%2e%2E%2f%zz%4";
    ASSERT_EQ(cv__serve_unescape(b), (size_t)15);
    ASSERT_STR_EQ(b, "/8_8_8/../%zz%4");
    ASSERT_TRUE(!cv__serve_has_control(b));
}

TEST_MAIN(url_keys, ranges, etags_and_encodings, unescapes)
