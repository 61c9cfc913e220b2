/* SPDX-License-Identifier: BSD-3-Clause
 * test_cloud.c: the pieces of the cloud backends that need no network (issue 5): digests and
 * encodings (crc32c, MD5, SHA-256, base64), URL escaping, CloudFiles' secret lookup order and
 * bucket-prefixed files (cloudvolume-conventions §2), AWS credentials from the environment,
 * the secrets option, user aliases from aliases.json, and opening stores without traffic.
 * Works in a fresh mkdtemp directory used as $HOME. */
#include "testlib.h"

#include "io/store.h"

#ifdef CV_HAVE_CURL
#include "io/http.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];

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
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                char *child = cv__asprintf("%s/%s", path, e->d_name);
                if (child) {
                    rm_rf(child);
                }
                cv_free(child);
            }
        }
        if (d) {
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Write `text` to tmp/rel, making directories. */
static bool put_file(const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    for (char *p = path + strlen(tmp) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0700);
            *p = '/';
        }
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        return false;
    }
    fputs(text, f);
    return fclose(f) == 0;
}

static void setup_home(void)
{
    if (tmp[0]) {
        return;
    }
    const char *t = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/cvmpi-test-cloud-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmp)) {
        tmp[0] = '\0';
        return;
    }
    setenv("HOME", tmp, 1);
    unsetenv("CLOUD_VOLUME_DIR");
    unsetenv("CLOUD_FILES_DIR");
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_REGION");
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_S3");
}

static void test_digests(void)
{
    ASSERT_EQ(cv__crc32c(0, "123456789", 9), 0xE3069283u);
    ASSERT_EQ(cv__crc32c(cv__crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    ASSERT_EQ(cv__crc32c(0, "", 0), 0);
    uint8_t md5[16];
    cv__md5("abc", 3, md5);
    static const uint8_t want_md5[16] = {0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0,
                                         0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1, 0x7f, 0x72};
    ASSERT_MEM_EQ(md5, want_md5, 16);
    char hex[65];
    cv__sha256_hex("", 0, hex);
    ASSERT_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cv__sha256_hex("abc", 3, hex);
    ASSERT_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_base64(void)
{
    char out[64];
    cv__base64("", 0, out);
    ASSERT_STR_EQ(out, "");
    cv__base64("f", 1, out);
    ASSERT_STR_EQ(out, "Zg==");
    cv__base64("foob", 4, out);
    ASSERT_STR_EQ(out, "Zm9vYg==");
    cv__base64("foobar", 6, out);
    ASSERT_STR_EQ(out, "Zm9vYmFy");
    static const uint8_t bin[] = {0xfb, 0xff, 0xbf};
    cv__base64(bin, 3, out);
    ASSERT_STR_EQ(out, "+/+/");
    cv__base64url(bin, 3, out);
    ASSERT_STR_EQ(out, "-_-_");
    cv__base64url("f", 1, out);
    ASSERT_STR_EQ(out, "Zg");
}

static void test_url_encode(void)
{
    char *e = cv__url_encode("a b/c:d~e_f.g-h%", "/");
    ASSERT_STR_EQ(e, "a%20b/c%3Ad~e_f.g-h%25");
    cv_free(e);
    e = cv__url_encode("x/y", NULL);
    ASSERT_STR_EQ(e, "x%2Fy");
    cv_free(e);
    e = cv__url_encode("\xc3\xa9", NULL);
    ASSERT_STR_EQ(e, "%C3%A9");
    cv_free(e);
}

static const char *const aws_json = "{\"AWS_ACCESS_KEY_ID\": \"K_%s\", "
                                    "\"AWS_SECRET_ACCESS_KEY\": \"S_%s\"}";

static bool put_aws(const char *rel, const char *tag)
{
    char text[256];
    snprintf(text, sizeof text, aws_json, tag, tag);
    return put_file(rel, text);
}

static void test_secret_order(void)
{
    setup_home();
    ASSERT_TRUE(tmp[0]);
    cv_aws_creds c;
    /* ~/.cloudfiles/secrets is the last place looked in. */
    ASSERT_TRUE(put_aws(".cloudfiles/secrets/aws-secret.json", "cf"));
    ASSERT_OK(cv__aws_creds("aws", "bucket1", &c));
    ASSERT_STR_EQ(c.key_id, "K_cf");
    ASSERT_TRUE(!c.is_anonymous);
    ASSERT_STR_EQ(c.region, "us-east-1");
    /* ~/.cloudvolume/secrets comes first (a new bucket: results are cached per bucket). */
    ASSERT_TRUE(put_aws(".cloudvolume/secrets/aws-secret.json", "cv"));
    ASSERT_OK(cv__aws_creds("aws", "bucket2", &c));
    ASSERT_STR_EQ(c.key_id, "K_cv");
    ASSERT_OK(cv__aws_creds("aws", "bucket1", &c));
    ASSERT_STR_EQ(c.key_id, "K_cf"); /* cached for the process, as CloudFiles does */
    /* A bucket-prefixed file wins, even from a later place. */
    ASSERT_TRUE(put_aws(".cloudfiles/secrets/bucket3-aws-secret.json", "b3"));
    ASSERT_OK(cv__aws_creds("aws", "bucket3", &c));
    ASSERT_STR_EQ(c.key_id, "K_b3");
    ASSERT_STR_EQ(c.secret, "S_b3");
    /* Aliases have their own files. */
    ASSERT_TRUE(put_aws(".cloudvolume/secrets/matrix-secret.json", "mx"));
    ASSERT_OK(cv__aws_creds("matrix", "bucket2", &c));
    ASSERT_STR_EQ(c.key_id, "K_mx");
    /* $CLOUD_VOLUME_DIR replaces ~/.cloudvolume. */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/elsewhere", tmp);
    setenv("CLOUD_VOLUME_DIR", dir, 1);
    ASSERT_TRUE(put_file("elsewhere/secrets/region-aws-secret.json",
                         "{\"AWS_ACCESS_KEY_ID\": \"K_else\", \"AWS_SECRET_ACCESS_KEY\": \"S\", "
                         "\"AWS_DEFAULT_REGION\": \"eu-west-3\", \"AWS_SESSION_TOKEN\": \"T\"}"));
    ASSERT_OK(cv__aws_creds("aws", "region", &c));
    unsetenv("CLOUD_VOLUME_DIR");
    ASSERT_STR_EQ(c.key_id, "K_else");
    ASSERT_STR_EQ(c.region, "eu-west-3");
    ASSERT_STR_EQ(c.token, "T");
    /* A file without the keys is an error naming the file, never its contents. */
    ASSERT_TRUE(put_file(".cloudvolume/secrets/broken-aws-secret.json",
                         "{\"AWS_ACCESS_KEY_ID\": \"TopSecretValue\"}"));
    cv_err_clear();
    ASSERT_EQ(cv__aws_creds("aws", "broken", &c), CV_ERR_ARG);
    ASSERT_TRUE(strstr(cv_err_last()->what, "broken-aws-secret.json") != NULL);
    ASSERT_TRUE(strstr(cv_err_last()->what, "TopSecretValue") == NULL);
    cv_err_clear();
}

static void test_aws_env(void)
{
    setup_home();
    cv_aws_creds c;
    ASSERT_OK(cv__aws_creds("nofiles", "b", &c));
    ASSERT_TRUE(c.is_anonymous);
    ASSERT_STR_EQ(c.region, "us-east-1");
    setenv("AWS_ACCESS_KEY_ID", "EK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "ES", 1);
    setenv("AWS_SESSION_TOKEN", "ET", 1);
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    ASSERT_OK(cv__aws_creds("nofiles", "b", &c));
    ASSERT_TRUE(!c.is_anonymous);
    ASSERT_STR_EQ(c.key_id, "EK");
    ASSERT_STR_EQ(c.secret, "ES");
    ASSERT_STR_EQ(c.token, "ET");
    ASSERT_STR_EQ(c.region, "ap-south-1");
    unsetenv("AWS_SECRET_ACCESS_KEY"); /* half a key pair is no key pair */
    ASSERT_OK(cv__aws_creds("nofiles", "b", &c));
    ASSERT_TRUE(c.is_anonymous);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_DEFAULT_REGION");
}

static void test_secrets_option(void)
{
    setup_home();
    ASSERT_FAILS(cv__secrets_set("[1, 2]"), CV_ERR_ARG, "not a JSON object");
    ASSERT_OK(cv__secrets_set("{\"AWS_ACCESS_KEY_ID\": \"OK\", \"AWS_SECRET_ACCESS_KEY\": "
                              "\"OS\"}"));
    cv_aws_creds c;
    ASSERT_OK(cv__aws_creds("aws", "bucket1", &c));
    ASSERT_STR_EQ(c.key_id, "OK");
    char *text = NULL, *where = NULL;
    ASSERT_OK(cv__secret_read("google", "x", &text, &where));
    ASSERT_STR_EQ(where, "the secrets option");
    cv_free(text);
    cv_free(where);
    ASSERT_OK(cv__secrets_set(NULL));
    ASSERT_FAILS(cv__secret_read("google", "x", &text, &where), CV_ERR_NOTFOUND, "google");
    /* the public entry point is the same option */
    ASSERT_FAILS(cv_secrets_set("\"text\""), CV_ERR_ARG, "not a JSON object");
    ASSERT_OK(cv_secrets_set("{\"AWS_ACCESS_KEY_ID\": \"PK\", \"AWS_SECRET_ACCESS_KEY\": \"PS\"}"));
    ASSERT_OK(cv__aws_creds("aws", "bucket1", &c));
    ASSERT_STR_EQ(c.key_id, "PK");
    ASSERT_OK(cv_secrets_set(NULL));
}

static void test_delete_result(void)
{
    static const char ok[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult "
                             "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></DeleteResult>";
    ASSERT_OK(cv__s3_check_delete_result(ok, strlen(ok), "s3://b/l"));
    ASSERT_OK(cv__s3_check_delete_result("", 0, "s3://b/l"));
    static const char bad[] =
        "<DeleteResult><Deleted><Key>l/a</Key></Deleted><Error><Key>l/x&amp;y</Key><Code>"
        "AccessDenied</Code><Message>Access Denied</Message></Error><Error><Key>l/z</Key>"
        "<Code>InternalError</Code></Error></DeleteResult>";
    ASSERT_FAILS(cv__s3_check_delete_result(bad, strlen(bad), "s3://b/l"), CV_ERR_IO,
                 "delete `l/x&y' in s3://b/l: AccessDenied");
    static const char odd[] = "<Error><Code>Bad\001Code</Code></Error>";
    ASSERT_FAILS(cv__s3_check_delete_result(odd, strlen(odd), "s3://b/l"), CV_ERR_IO,
                 "delete `?' in s3://b/l: Bad?Code");
}

/* Upload parts: 8 MiB by default, CV_UPLOAD_PART_BYTES within S3's 5 MiB minimum and GCS's
 * 256 KiB grid; nothing streams on mem:// and file:// holds no part. */
static void test_part_bytes(void)
{
    unsetenv("CV_UPLOAD_PART_BYTES");
    ASSERT_EQ(cv__store_part_bytes("s3"), (size_t)8 << 20);
    ASSERT_EQ(cv__url_part_bytes("gs://b/l"), (size_t)8 << 20);
    ASSERT_EQ(cv__store_part_bytes("file"), (size_t)0);
    ASSERT_EQ(cv__store_part_bytes("mem"), (size_t)0);
    ASSERT_TRUE(cv__url_streams("s3://b/l") && cv__url_streams("gs://b/l"));
    ASSERT_TRUE(cv__url_streams("/tmp/x") && !cv__url_streams("mem://b/l"));
    setenv("CV_UPLOAD_PART_BYTES", "1000000", 1);
    ASSERT_EQ(cv__store_part_bytes("s3"), (size_t)5 << 20);
    ASSERT_EQ(cv__store_part_bytes("gs"), (size_t)3 << 18);
    setenv("CV_UPLOAD_PART_BYTES", "1000", 1);
    ASSERT_EQ(cv__store_part_bytes("gs"), (size_t)1 << 18);
    setenv("CV_UPLOAD_PART_BYTES", "12M", 1);
    ASSERT_EQ(cv__url_part_bytes("s3://http://127.0.0.1:9/b/l"), (size_t)12 << 20);
    setenv("CV_UPLOAD_PART_BYTES", "12X", 1); /* not a size: the default, with a warning */
    ASSERT_EQ(cv__store_part_bytes("s3"), (size_t)8 << 20);
    setenv("CV_UPLOAD_PART_BYTES", "5G", 1);
    ASSERT_EQ(cv__store_part_bytes("gs"), (size_t)8 << 20);
    unsetenv("CV_UPLOAD_PART_BYTES");
}

static void test_user_alias(void)
{
    setup_home();
    char dir[512];
    snprintf(dir, sizeof dir, "%s/cf", tmp);
    setenv("CLOUD_FILES_DIR", dir, 1);
    ASSERT_TRUE(put_file("cf/aliases.json",
                         "{\"lab\": {\"host\": \"s3://https://s3.lab.example:9000/\"},"
                         " \"gs\": {\"host\": \"s3://https://shadow.example/\"},"
                         " \"odd\": {\"host\": \"gs://nope/\"}}"));
    cv_cloudpath p;
    ASSERT_OK(cv__cloudpath_parse("lab://bkt/a/b", &p));
    ASSERT_STR_EQ(p.protocol, "s3");
    ASSERT_STR_EQ(p.host, "https://s3.lab.example:9000");
    ASSERT_STR_EQ(p.bucket, "bkt");
    ASSERT_STR_EQ(p.path, "a/b");
    ASSERT_STR_EQ(p.alias, "lab");
    char *url = cv__cloudpath_url(&p);
    ASSERT_STR_EQ(url, "lab://bkt/a/b");
    cv_free(url);
    cv__cloudpath_fini(&p);
    /* Base protocols cannot be shadowed. */
    ASSERT_OK(cv__cloudpath_parse("gs://bkt/x", &p));
    ASSERT_STR_EQ(p.protocol, "gs");
    ASSERT_TRUE(p.host == NULL);
    cv__cloudpath_fini(&p);
    cv_log_level old = cv__log_level();
    cv__log_set_level(CV_LOG_ERROR); /* "odd" is warned about */
    ASSERT_FAILS(cv__cloudpath_parse("odd://bkt/x", &p), CV_ERR_UNSUPPORTED, "unknown protocol");
    cv__log_set_level(old);
    unsetenv("CLOUD_FILES_DIR");
}

static void test_open_offline(void)
{
    setup_home();
    static const char *const urls[] = {
        "s3://https://127.0.0.1:1/bkt/a",
        "https://127.0.0.1:1/x/y",
        "http://127.0.0.1:1",
        "gs://bkt/layer",
        "matrix://bkt/p",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        cv_store *s = NULL;
        ASSERT_OK(cv_store_open(urls[i], &s));
        cv_store_close(s);
    }
    /* A broken service-account key fails at open, naming the file and not the key. */
    ASSERT_TRUE(put_file(".cloudvolume/secrets/badkey-google-secret.json",
                         "{\"type\": \"service_account\", \"client_email\": \"a@b\", "
                         "\"private_key\": \"NotAPemKeyButSecret\"}"));
    cv_store *s = NULL;
    ASSERT_FAILS(cv_store_open("gs://badkey/x", &s), CV_ERR_ARG, "badkey-google-secret.json");
    ASSERT_FAILS(cv_store_open("gs://badkey/x", &s), CV_ERR_ARG, "not an RSA key");
    cv_err_clear();
    cv_status rc = cv_store_open("gs://badkey/x", &s);
    ASSERT_EQ(rc, CV_ERR_ARG);
    ASSERT_TRUE(strstr(cv_err_last()->what, "NotAPemKeyButSecret") == NULL);
    cv_err_clear();
    ASSERT_TRUE(put_file(".cloudvolume/secrets/user-google-secret.json",
                         "{\"type\": \"authorized_user\"}"));
    ASSERT_FAILS(cv_store_open("gs://user/x", &s), CV_ERR_UNSUPPORTED, "authorized_user");
}

static void test_cleanup(void)
{
    cv__http_cleanup();
    if (tmp[0]) {
        rm_rf(tmp);
    }
}

TEST_MAIN(test_digests, test_base64, test_url_encode, test_secret_order, test_aws_env,
          test_part_bytes, test_secrets_option, test_delete_result, test_user_alias,
          test_open_offline, test_cleanup)

#else /* !CV_HAVE_CURL */

static void test_no_curl(void)
{
    cv_store *s = NULL;
    ASSERT_FAILS(cv_store_open("gs://b/x", &s), CV_ERR_UNSUPPORTED, "-DCV_WITH_CURL=ON");
    ASSERT_FAILS(cv_store_open("https://h/x", &s), CV_ERR_UNSUPPORTED, "-DCV_WITH_CURL=ON");
}

TEST_MAIN(test_no_curl)

#endif
