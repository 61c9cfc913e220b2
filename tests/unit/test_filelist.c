/* SPDX-License-Identifier: BSD-3-Clause
 * test_filelist.c: the file lists of HDF5 stacks: natural order (file_2 before file_10;
 * equal numbers with more leading zeros first), list-file parsing (comments, blanks, CRLF,
 * relative paths taken from the list's directory, bad input refused) and glob expansion in a
 * scratch directory under $TMPDIR. */
#include "base/filelist.h"
#include "testlib.h"

#include <unistd.h>

static void natural_order(void)
{
    /* Each name sorts strictly before the next. */
    static const char *const order[] = {
        "",           "a",           "a000",       "a00",         "a0",        "a01",
        "a1",         "a1b",         "a2",         "a9",          "a010x",     "a10",
        "a11",        "a100",        "ab",         "b",           "file_1.h5", "file_2.h5",
        "file_10.h5", "file_10.h5x", "file_99.h5", "file_100.h5", "z"};
    size_t n = sizeof order / sizeof order[0];
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(cv__natural_cmp(order[i], order[i]), 0);
        for (size_t k = i + 1; k < n; k++) {
            if (cv__natural_cmp(order[i], order[k]) != -1 ||
                cv__natural_cmp(order[k], order[i]) != 1) {
                TL_FAIL_HERE("want \"%s\" < \"%s\"", order[i], order[k]);
            }
        }
    }
    /* Numbers longer than any integer type compare by their digits. */
    ASSERT_EQ(
        cv__natural_cmp("s_123456789012345678901234567890", "s_123456789012345678901234567891"),
        -1);
    ASSERT_EQ(cv__natural_cmp("s_99999999999999999999999", "s_100000000000000000000000"), -1);
}

static void parse_lists(void)
{
    const char text[] = "# a stack\r\n\n  slice_1.h5  \r\n\tsub/slice_2.h5\n/abs/slice_10.h5\n"
                        "   # indented comment\nlast.h5";
    char **p;
    size_t n;
    ASSERT_OK(cv__filelist_parse(text, sizeof text - 1, "/data/em", "list.txt", &p, &n));
    ASSERT_EQ(n, 4);
    ASSERT_STR_EQ(p[0], "/data/em/slice_1.h5");
    ASSERT_STR_EQ(p[1], "/data/em/sub/slice_2.h5");
    ASSERT_STR_EQ(p[2], "/abs/slice_10.h5");
    ASSERT_STR_EQ(p[3], "/data/em/last.h5");
    cv__filelist_free(p, n);
    ASSERT_OK(cv__filelist_parse("a.h5\nb.h5\n", 10, NULL, "list.txt", &p, &n));
    ASSERT_EQ(n, 2);
    ASSERT_STR_EQ(p[0], "a.h5");
    ASSERT_STR_EQ(p[1], "b.h5");
    cv__filelist_free(p, n);

    ASSERT_EQ(cv__filelist_parse("# only\n\n  \n", 11, "", "l.txt", &p, &n), CV_ERR_ARG);
    ASSERT_STR_EQ(cv_err_last()->what, "file list l.txt: names no file");
    cv_err_clear();
    ASSERT_EQ(cv__filelist_parse("", 0, "", "e.txt", &p, &n), CV_ERR_ARG);
    cv_err_clear();
    ASSERT_EQ(cv__filelist_parse("a.h5\0b.h5", 9, "", "z.txt", &p, &n), CV_ERR_ARG);
    ASSERT_STR_EQ(cv_err_last()->what, "file list z.txt: has a NUL byte (not a text file?)");
    cv_err_clear();
}

static void expand_globs_and_lists(void)
{
    const char *tmp = getenv("TMPDIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/cv-filelist-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    static const char *const names[] = {"s_10.h5",  "s_2.h5", "s_1.h5",
                                        "s_100.h5", "s_9.h5", "other.txt"};
    char path[4200];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "w");
        ASSERT_TRUE(f != NULL);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/list.txt", dir);
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    fputs("s_2.h5\n# skip\ns_1.h5\n", f);
    fclose(f);

    char **p;
    size_t n;
    char pattern[2048], want[4200];
    snprintf(pattern, sizeof pattern, "%s/s_*.h5", dir);
    ASSERT_OK(cv__filelist_expand(pattern, &p, &n));
    ASSERT_EQ(n, 5);
    static const char *const sorted[] = {"s_1.h5", "s_2.h5", "s_9.h5", "s_10.h5", "s_100.h5"};
    for (size_t i = 0; i < 5; i++) {
        snprintf(want, sizeof want, "%s/%s", dir, sorted[i]);
        ASSERT_STR_EQ(p[i], want);
    }
    cv__filelist_free(p, n);

    snprintf(pattern, sizeof pattern, "@%s/list.txt", dir);
    ASSERT_OK(cv__filelist_expand(pattern, &p, &n));
    ASSERT_EQ(n, 2);
    snprintf(want, sizeof want, "%s/s_2.h5", dir);
    ASSERT_STR_EQ(p[0], want);
    snprintf(want, sizeof want, "%s/s_1.h5", dir);
    ASSERT_STR_EQ(p[1], want);
    cv__filelist_free(p, n);

    ASSERT_OK(cv__filelist_expand("plain.h5", &p, &n)); /* no pattern: itself, unchecked */
    ASSERT_EQ(n, 1);
    ASSERT_STR_EQ(p[0], "plain.h5");
    cv__filelist_free(p, n);

    snprintf(pattern, sizeof pattern, "%s/none_*.h5", dir);
    ASSERT_EQ(cv__filelist_expand(pattern, &p, &n), CV_ERR_NOTFOUND);
    snprintf(want, sizeof want, "no file matches `%s'", pattern);
    ASSERT_STR_EQ(cv_err_last()->what, want);
    cv_err_clear();
    snprintf(pattern, sizeof pattern, "@%s/missing.txt", dir);
    ASSERT_EQ(cv__filelist_expand(pattern, &p, &n), CV_ERR_NOTFOUND);
    cv_err_clear();

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/list.txt", dir);
    unlink(path);
    rmdir(dir);
}

TEST_MAIN(natural_order, parse_lists, expand_globs_and_lists)
