/* SPDX-License-Identifier: BSD-3-Clause
 * test_provenance.c: the provenance file (cloudvolume-conventions §4): defaults for missing
 * members, unique owners/sources, processing entries, and output byte-identical to Python's
 * json.dumps(sort_keys=True, indent=2) (expected texts made with /usr/bin/python3). */
#include "testlib.h"

#include <cjson/cJSON.h>
#include <time.h>

/* Serialize `p` and compare with `want` byte for byte. */
static void dump_check(const cv_provenance *p, const char *want)
{
    char *out = NULL;
    size_t len = 0;
    ASSERT_OK(cv_provenance_to_json(p, &out, &len));
    bool same = len == strlen(want) && strcmp(out, want) == 0;
    if (!same) {
        fprintf(stderr, "  got:\n%s\n", out);
    }
    cv_free(out);
    ASSERT_TRUE(same);
}

/* Parse `json`, serialize it, compare with `want`; `want` must also reproduce itself. */
static void roundtrip_check(const char *json, const char *want)
{
    cv_provenance *p = NULL;
    ASSERT_OK(cv_provenance_parse(json, strlen(json), "prov", &p));
    int before = tl_failed_asserts;
    dump_check(p, want);
    cv_provenance_free(p);
    ASSERT_EQ(tl_failed_asserts, before);
    ASSERT_OK(cv_provenance_parse(want, strlen(want), "prov2", &p));
    dump_check(p, want);
    cv_provenance_free(p);
}

static void defaults_new(void)
{
    static const char want[] = "{\n"
                               "  \"description\": \"\",\n"
                               "  \"owners\": [],\n"
                               "  \"processing\": [],\n"
                               "  \"sources\": []\n"
                               "}";
    cv_provenance *p = cv_provenance_new();
    ASSERT_TRUE(p != NULL);
    ASSERT_STR_EQ(p->description, "");
    ASSERT_EQ(p->n_owners, 0);
    ASSERT_EQ(p->n_sources, 0);
    ASSERT_EQ(p->n_processing, 0);
    int before = tl_failed_asserts;
    dump_check(p, want);
    cv_provenance_free(p);
    ASSERT_EQ(tl_failed_asserts, before);
}

static void defaults_from_empty_object(void)
{
    static const char want[] = "{\n"
                               "  \"description\": \"\",\n"
                               "  \"owners\": [],\n"
                               "  \"processing\": [],\n"
                               "  \"sources\": []\n"
                               "}";
    roundtrip_check("{}", want);
    roundtrip_check(" {\n} \n", want);
}

static void partial_members(void)
{
    static const char in[] = "{\"sources\": [\"gs://b/c\"], \"description\": \"d\"}";
    static const char want[] = "{\n"
                               "  \"description\": \"d\",\n"
                               "  \"owners\": [],\n"
                               "  \"processing\": [],\n"
                               "  \"sources\": [\n"
                               "    \"gs://b/c\"\n"
                               "  ]\n"
                               "}";
    roundtrip_check(in, want);
}

static void full_file(void)
{
    static const char in[] =
        "{\"description\": \"EM images, aligned\\n\\\"v2\\\"\", \"owners\": [\"a@example.org\", "
        "\"b@example.org\"], \"sources\": [\"gs://src/a\", \"file:///x\"], \"processing\": [{\"me"
        "thod\": {\"task\": \"DownsampleTask\", \"mip\": 0, \"factor\": [2, 2, 1], \"resolution\""
        ": [4.0, 4.5, 40.0], \"sparse\": false, \"fill\": null, \"empty\": {}}, \"by\": \"someone"
        "@example.org\", \"date\": \"2022-02-14 18:04 EST\"}, {\"method\": \"manual edit \\u00e9"
        "\\u4e2d\\ud83d\\ude00\", \"by\": \"x\", \"date\": \"d\"}]}";
    static const char want[] = "{\n"
                               "  \"description\": \"EM images, aligned\\n\\\"v2\\\"\",\n"
                               "  \"owners\": [\n"
                               "    \"a@example.org\",\n"
                               "    \"b@example.org\"\n"
                               "  ],\n"
                               "  \"processing\": [\n"
                               "    {\n"
                               "      \"by\": \"someone@example.org\",\n"
                               "      \"date\": \"2022-02-14 18:04 EST\",\n"
                               "      \"method\": {\n"
                               "        \"empty\": {},\n"
                               "        \"factor\": [\n"
                               "          2,\n"
                               "          2,\n"
                               "          1\n"
                               "        ],\n"
                               "        \"fill\": null,\n"
                               "        \"mip\": 0,\n"
                               "        \"resolution\": [\n"
                               "          4.0,\n"
                               "          4.5,\n"
                               "          40.0\n"
                               "        ],\n"
                               "        \"sparse\": false,\n"
                               "        \"task\": \"DownsampleTask\"\n"
                               "      }\n"
                               "    },\n"
                               "    {\n"
                               "      \"by\": \"x\",\n"
                               "      \"date\": \"d\",\n"
                               "      \"method\": \"manual edit \\u00e9\\u4e2d\\ud83d\\ude00\"\n"
                               "    }\n"
                               "  ],\n"
                               "  \"sources\": [\n"
                               "    \"gs://src/a\",\n"
                               "    \"file:///x\"\n"
                               "  ]\n"
                               "}";
    roundtrip_check(in, want);
    cv_provenance *p = NULL;
    ASSERT_OK(cv_provenance_parse(in, strlen(in), "full", &p));
    bool ok = p->n_owners == 2 && strcmp(p->owners[0], "a@example.org") == 0 &&
              strcmp(p->owners[1], "b@example.org") == 0 && p->n_sources == 2 &&
              strcmp(p->sources[0], "gs://src/a") == 0 && strcmp(p->sources[1], "file:///x") == 0 &&
              p->n_processing == 2 && strcmp(p->description, "EM images, aligned\n\"v2\"") == 0;
    cv_provenance_free(p);
    ASSERT_TRUE(ok);
}

static void unique_owners_and_sources(void)
{
    cv_provenance *p = NULL;
    static const char dup_owner[] = "{\"owners\": [\"a@x.org\", \"b@x.org\", \"a@x.org\"]}";
    ASSERT_FAILS(cv_provenance_parse(dup_owner, strlen(dup_owner), "dup.json", &p), CV_ERR_CORRUPT,
                 "provenance `dup.json': owners: duplicate \"a@x.org\"");
    static const char dup_source[] = "{\"sources\": [\"gs://a\", \"gs://a\"]}";
    ASSERT_FAILS(cv_provenance_parse(dup_source, strlen(dup_source), "dup2.json", &p),
                 CV_ERR_CORRUPT, "sources: duplicate \"gs://a\"");
    /* the same string in owners and sources is fine */
    static const char cross[] = "{\"owners\": [\"x\"], \"sources\": [\"x\"]}";
    ASSERT_OK(cv_provenance_parse(cross, strlen(cross), "cross.json", &p));
    ASSERT_EQ(p->n_owners, 1);
    ASSERT_EQ(p->n_sources, 1);
    cv_provenance_free(p);
}

/* The first entry (in order) that repeats an earlier one, or is not a string, is named. */
static void first_bad_entry_named(void)
{
    cv_provenance *p = NULL;
    static const char two_dups[] = "{\"owners\": [\"b\", \"a\", \"c\", \"a\", \"b\"]}";
    ASSERT_FAILS(cv_provenance_parse(two_dups, strlen(two_dups), "d.json", &p), CV_ERR_CORRUPT,
                 "owners: duplicate \"a\"");
    static const char dup_then_number[] = "{\"sources\": [\"x\", \"x\", 1]}";
    ASSERT_FAILS(cv_provenance_parse(dup_then_number, strlen(dup_then_number), "d.json", &p),
                 CV_ERR_CORRUPT, "sources: duplicate \"x\"");
    static const char number_then_dup[] = "{\"sources\": [\"x\", 1, \"x\"]}";
    ASSERT_FAILS(cv_provenance_parse(number_then_dup, strlen(number_then_dup), "d.json", &p),
                 CV_ERR_CORRUPT, "sources: must be a list of strings");
}

/* 100,000 sources (2 MB) parse in linear time: the duplicate check once compared every pair
 * (two minutes here), so a hostile provenance file could stall any reader. */
static void long_lists_fast(void)
{
    enum { N = 100000 };
    cv_buf b;
    cv__buf_init(&b, 0);
    bool ok = cv__buf_append(&b, "{\"sources\": [", 13) == CV_OK;
    for (int i = 0; ok && i < N; i++) {
        char item[32];
        int n = snprintf(item, sizeof item, "%s\"gs://b/%d\"", i ? ", " : "", i);
        ok = cv__buf_append(&b, item, (size_t)n) == CV_OK;
    }
    ok = ok && cv__buf_append(&b, "]}", 2) == CV_OK;
    ASSERT_TRUE(ok);
    cv_provenance *p = NULL;
    clock_t t0 = clock();
    cv_status rc = cv_provenance_parse((const char *)b.data, b.len, "long.json", &p);
    double seconds = (double)(clock() - t0) / CLOCKS_PER_SEC;
    cv__buf_fini(&b);
    ASSERT_OK(rc);
    bool all = p->n_sources == N && strcmp(p->sources[N - 1], "gs://b/99999") == 0;
    cv_provenance_free(p);
    ASSERT_TRUE(all);
    ASSERT_TRUE(seconds < 10);
}

static void wrong_types(void)
{
    static const struct {
        const char *json;
        cv_status code;
        const char *needle;
    } cases[] = {
        {"{\"owners\": \"a@x.org\"}", CV_ERR_CORRUPT, "owners: must be a list of strings"},
        {"{\"owners\": [\"a\", 3]}", CV_ERR_CORRUPT, "owners: must be a list of strings"},
        {"{\"sources\": {}}", CV_ERR_CORRUPT, "sources: must be a list of strings"},
        {"{\"description\": 5}", CV_ERR_CORRUPT, "description: must be a string"},
        {"{\"processing\": {}}", CV_ERR_CORRUPT, "processing: must be a list"},
        {"[]", CV_ERR_CORRUPT, "must be a JSON object"},
        {"{\"owners\": [}", CV_ERR_CORRUPT, "invalid JSON"},
        {"{} x", CV_ERR_CORRUPT, "trailing bytes"},
        {"", CV_ERR_CORRUPT, "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cv_provenance *p = NULL;
        cv_err_clear();
        cv_status rc = cv_provenance_parse(cases[i].json, strlen(cases[i].json), "w.json", &p);
        bool ok = rc == cases[i].code && strstr(cv_err_last()->what, cases[i].needle) &&
                  strstr(cv_err_last()->what, "w.json");
        if (!ok) {
            fprintf(stderr, "  case %zu `%s': got %s \"%s\"\n", i, cases[i].json, cv_errname(rc),
                    cv_err_last()->what);
        }
        if (rc == CV_OK) {
            cv_provenance_free(p);
        }
        ASSERT_TRUE(ok);
    }
}

/* Replace every "@DATE@" in `tmpl` by `date`. Free with free(). */
static char *with_date(const char *tmpl, const char *date)
{
    size_t n = strlen(tmpl), d = strlen(date);
    char *out = malloc(n * 2 + d * 4 + 1);
    size_t o = 0;
    for (const char *p = tmpl; out && *p;) {
        if (strncmp(p, "@DATE@", 6) == 0) {
            memcpy(out + o, date, d);
            o += d;
            p += 6;
        } else {
            out[o++] = *p++;
        }
    }
    if (out) {
        out[o] = '\0';
    }
    return out;
}

static void add_processing(void)
{
    static const char want[] = "{\n"
                               "  \"description\": \"\",\n"
                               "  \"owners\": [\n"
                               "    \"me@x.org\"\n"
                               "  ],\n"
                               "  \"processing\": [\n"
                               "    {\n"
                               "      \"by\": \"me@x.org\",\n"
                               "      \"date\": \"@DATE@\",\n"
                               "      \"method\": {\n"
                               "        \"bounds\": [\n"
                               "          0.5,\n"
                               "          2.0\n"
                               "        ],\n"
                               "        \"mip\": 1,\n"
                               "        \"task\": \"TransferTask\"\n"
                               "      }\n"
                               "    },\n"
                               "    {\n"
                               "      \"by\": \"\",\n"
                               "      \"date\": \"@DATE@\",\n"
                               "      \"method\": \"plain string\"\n"
                               "    }\n"
                               "  ],\n"
                               "  \"sources\": []\n"
                               "}";
    setenv("TZ", "UTC", 1);
    tzset();
    cv_provenance *p = NULL;
    static const char start[] = "{\"owners\": [\"me@x.org\"]}";
    ASSERT_OK(cv_provenance_parse(start, strlen(start), "a.json", &p));
    time_t t0 = time(NULL);
    cv_status rc1 = cv_provenance_add_processing(
        p, "{\"task\": \"TransferTask\", \"mip\": 1, \"bounds\": [0.5, 2.0]}", "me@x.org");
    cv_status rc2 = cv_provenance_add_processing(p, "\"plain string\"", NULL);
    time_t t1 = time(NULL);
    cv_status rc3 = cv_provenance_add_processing(p, "{bad json", "me");
    bool added = rc1 == CV_OK && rc2 == CV_OK && rc3 == CV_ERR_ARG && p->n_processing == 2;
    if (!added) {
        cv_provenance_free(p);
        ASSERT_TRUE(added);
    }
    /* the date is "%Y-%m-%d %H:%M %Z" of now, local time (UTC here) */
    cJSON *entry = cJSON_Parse(p->processing_json[1]);
    const cJSON *date = cJSON_GetObjectItemCaseSensitive(entry, "date");
    char d0[64], d1[64], got[64] = "";
    struct tm tm;
    gmtime_r(&t0, &tm);
    strftime(d0, sizeof d0, "%Y-%m-%d %H:%M UTC", &tm);
    gmtime_r(&t1, &tm);
    strftime(d1, sizeof d1, "%Y-%m-%d %H:%M UTC", &tm);
    if (cJSON_IsString(date)) {
        snprintf(got, sizeof got, "%s", date->valuestring);
    }
    cJSON_Delete(entry);
    /* both entries were made within [t0, t1] */
    bool date_ok = strcmp(got, d0) == 0 || strcmp(got, d1) == 0;
    char *expect = with_date(want, got);
    int before = tl_failed_asserts;
    if (date_ok && expect) {
        dump_check(p, expect);
    }
    free(expect);
    cv_provenance_free(p);
    ASSERT_TRUE(date_ok);
    ASSERT_EQ(tl_failed_asserts, before);
}

TEST_MAIN(defaults_new, defaults_from_empty_object, partial_members, full_file,
          unique_owners_and_sources, first_bad_entry_named, long_lists_fast, wrong_types,
          add_processing)
