/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_ls.c: `cvmpi ls`, list the objects under a cloud path on any store (file://, gs://,
 * s3://, mem://), one level deep with subdirectories as "name/" or, with --recursive, every
 * object below; names as CloudFiles lists them (compression suffixes of file:// dropped). */
#include "cli/cli.h"

#include "io/store.h"

#include <string.h>
#include <sys/stat.h>

static const char help[] =
    "usage: cvmpi ls PATH [--recursive] [--short]\n\n"
    "List the objects under PATH, sorted, one per line. PATH is a directory or prefix on any\n"
    "store: file:///dir, a plain directory, gs://bucket/dir, s3://bucket/dir, mem://b/dir, and\n"
    "http(s)://host/dir where the server gives directory index pages (Apache, nginx, Python).\n"
    "A PATH ending in `*' lists the names in its directory that start with what comes before.\n"
    "Without --recursive one level is listed and subdirectories end in `/'. file:// names are\n"
    "shown without their .gz/.br/... suffix, as CloudFiles lists them.\n"
    "  -r, --recursive  every object below PATH\n"
    "  --short          names relative to PATH instead of full cloud paths\n";

typedef struct ls_state {
    const char *base; /* the store's URL, printed before each name unless --short */
    bool is_short;
} ls_state;

static cv_status show(const char *name, void *arg)
{
    const ls_state *st = arg;
    if (st->is_short) {
        printf("%s\n", name);
        return CV_OK;
    }
    size_t nb = strlen(st->base);
    printf("%s%s%s\n", st->base, nb && st->base[nb - 1] == '/' ? "" : "/", name);
    return CV_OK;
}

/* file:// only: a directory that is not there is an error rather than an empty listing. */
static cv_status check_dir(const char *url)
{
    cv_cloudpath p;
    CV_TRY(cv__cloudpath_parse(url, &p));
    cv_status rc = CV_OK;
    struct stat sb;
    if (strcmp(p.protocol, "file") == 0 && (stat(p.path, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
        rc = CV_FAIL(CV_ERR_NOTFOUND, "list `%s': no such directory", url);
    }
    cv__cloudpath_fini(&p);
    return rc;
}

int cmd_ls(int argc, char **argv)
{
    static const struct option opts[] = {{"recursive", no_argument, NULL, 'r'},
                                         {"short", no_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    ls_state st = {NULL, false};
    bool is_recursive = false;
    for (int c; (c = cli_getopt(argc, argv, "hr", opts)) != -1;) {
        switch (c) {
        case 'h':
            return cli_help(help);
        case 'r':
            is_recursive = true;
            break;
        case 's':
            st.is_short = true;
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        return cli_usage(argv[0], "want exactly one PATH");
    }
    const char *path = argv[optind];
    size_t n = strlen(path);
    char *dir = NULL, *prefix = NULL;
    cv_status rc;
    if (n > 0 && path[n - 1] == '*') {
        char *trimmed = cv__strndup(path, n - 1);
        if (!trimmed) {
            return cli_fail();
        }
        if (n >= 2 && path[n - 2] == '/') {
            dir = trimmed; /* a trailing slash and star: everything in dir */
            rc = CV_OK;
        } else {
            rc = cv__cloudpath_split(trimmed, &dir, &prefix);
            cv_free(trimmed);
        }
    } else {
        dir = cv__strdup(path);
        rc = dir ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "ls");
    }
    cv_store *s = NULL;
    if (rc == CV_OK) {
        rc = check_dir(dir);
    }
    if (rc == CV_OK) {
        rc = cv_store_open(dir, &s);
    }
    if (rc == CV_OK) {
        st.base = cv_store_url(s);
        rc = is_recursive ? cv_store_list(s, prefix, show, &st)
                          : cv__store_list_level(s, prefix, show, &st);
    }
    cv_store_close(s);
    cv_free(dir);
    cv_free(prefix);
    if (fflush(stdout) != 0 && rc == CV_OK) {
        rc = CV_FAIL(CV_ERR_IO, "write the listing to standard output");
    }
    return rc == CV_OK ? CLI_OK : cli_fail();
}
