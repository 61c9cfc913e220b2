/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_rm.c: `cvmpi rm`, delete objects, or with -r every object under a prefix, on any
 * writable store, as CloudFiles' `rm`: S3 in DeleteObjects batches of 1000 keys, GCS in JSON
 * API batches of 100, elsewhere one request per object, many at once. */
#include "cli/cli.h"
#include "cli/cli_objects.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char help[] =
    "usage: cvmpi rm [-r] PATH... [--threads N]\n\n"
    "Delete the object each PATH names (on file:// and mem:// every compressed variant, NAME\n"
    "and NAME.gz, NAME.br, ...). With -r a PATH is a directory or prefix: every object under\n"
    "PATH/ is deleted, and PATH itself if it is an object too; s3:// deletes 1000 keys per\n"
    "DeleteObjects request, gs:// 100 per batch request (a key already gone is fine; each key\n"
    "GCS refuses is named), other stores one object per request. On file:// the directories\n"
    "left empty under PATH are removed too. Every PATH is checked before anything is deleted:\n"
    "without -r a PATH with objects under it (or ending in `/') is refused, a PATH that names\n"
    "nothing is an error, and so is a `..' part in a PATH or an empty, `.' or `..' part in a\n"
    "listed name, and -r of the root of the filesystem. Nothing is printed on success.\n"
    "  -r, --recursive  delete every object under a PATH that is a directory or prefix\n"
    "  --threads N      delete requests in flight (default: local, the cores\n"
    "                   this process may use, at most 4; remote, 16)\n";

typedef struct name_vec {
    char **v;
    size_t n, cap;
} name_vec;

static cv_status add_name(const char *name, uint64_t size, void *arg)
{
    (void)size;
    name_vec *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        char **grown = cv_realloc(l->v, cap * sizeof *grown);
        if (!grown) {
            return CV_FAIL(CV_ERR_NOMEM, "rm: the listing");
        }
        l->v = grown;
        l->cap = cap;
    }
    l->v[l->n] = cv__strdup(name);
    return l->v[l->n++] ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "rm: the listing");
}

static void free_names(name_vec *l)
{
    for (size_t i = 0; i < l->n; i++) {
        cv_free(l->v[i]);
    }
    cv_free(l->v);
    memset(l, 0, sizeof *l);
}

/* Remove `dir` and the directories below it that hold nothing (depth first); a directory
 * with anything else in it stays. Symbolic links are not followed. */
static void rmdir_empty(const char *dir, int depth)
{
    DIR *d = depth < 64 ? opendir(dir) : NULL;
    if (!d) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char *sub = cli_join(dir, e->d_name);
        struct stat sb;
        if (sub && lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            rmdir_empty(sub, depth + 1);
        }
        cv_free(sub);
    }
    closedir(d);
    (void)rmdir(dir); /* fails, as it should, while something is left in it */
}

/* file:// only: the directories under (and at) the store's root that the deletion emptied. */
static void remove_empty_dirs(cv_store *s)
{
    cv_cloudpath p;
    if (cv__cloudpath_parse(cv_store_url(s), &p) != CV_OK) {
        cv_err_clear();
        return;
    }
    if (strcmp(p.protocol, "file") == 0 && p.path && strcmp(p.path, "/") != 0) {
        rmdir_empty(p.path, 0);
    }
    cv__cloudpath_fini(&p);
}

static cv_status remove_target(cli_target *t, bool is_recursive, int threads)
{
    if (t->is_object) {
        CV_TRY(cv_store_delete(t->parent, t->name));
    }
    if (!is_recursive || !t->is_dir) {
        return CV_OK;
    }
    name_vec names = {0};
    cv_status rc = cli_target_list(t, add_name, &names);
    if (rc == CV_OK) {
        rc = cv__store_delete_many(t->tree, (const char *const *)names.v, names.n, threads);
    }
    free_names(&names);
    if (rc == CV_OK) {
        remove_empty_dirs(t->tree);
    }
    return rc;
}

int cmd_rm(int argc, char **argv)
{
    static const struct option opts[] = {{"recursive", no_argument, NULL, 'r'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool is_recursive = false;
    int threads = 0;
    for (int c; (c = cli_getopt(argc, argv, "hr", opts)) != -1;) {
        switch (c) {
        case 'h':
            return cli_help(help);
        case 'r':
            is_recursive = true;
            break;
        case 't':
            if (!cli_opt_threads(argv[0], optarg, &threads)) {
                return CLI_USAGE;
            }
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        return cli_usage(argv[0], "want at least one PATH");
    }
    int n = argc - optind;
    cli_target *t = cv_calloc((size_t)n, sizeof *t);
    if (!t) {
        return cli_fail();
    }
    cv_status rc = CV_OK;
    int opened = 0;
    for (; opened < n && rc == CV_OK; opened++) {
        const char *path = argv[optind + opened];
        rc = cli_target_open(path, false, &t[opened]);
        if (rc == CV_OK && !is_recursive && !t[opened].is_object) {
            rc = CV_FAIL(CV_ERR_ARG, "rm `%s': a directory (objects are under it); use -r", path);
        }
        if (rc == CV_OK && is_recursive && t[opened].is_dir &&
            strcmp(cv_store_url(t[opened].tree), "file:///") == 0) {
            rc = CV_FAIL(CV_ERR_ARG, "rm -r `%s': refused: the root of the filesystem", path);
        }
    }
    for (int i = 0; i < n && rc == CV_OK; i++) {
        int k = threads ? threads : cli_default_threads(argv[optind + i], NULL, 16);
        rc = remove_target(&t[i], is_recursive, k);
    }
    for (int i = 0; i < opened; i++) {
        cli_target_close(&t[i]);
    }
    cv_free(t);
    return rc == CV_OK ? CLI_OK : cli_fail();
}
