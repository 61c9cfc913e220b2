/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_cache.c: `cvmpi cache ls|du|clear [PATH]`: the local disk cache that --cache fills
 * (docs/cache.md), for one layer or for the whole cache directory. */
#include "cli/cli.h"

#include "io/cache.h"

#include <inttypes.h>
#include <string.h>

static const char help[] =
    "usage: cvmpi cache ls|du|clear [PATH] [--cache DIR]\n\n"
    "The local disk cache of remote layers that --cache fills, laid out as CloudVolume's\n"
    "(DIR/PROTOCOL/BUCKET/PATH). With PATH (a gs://, s3:// or http(s):// layer) the\n"
    "command works on that layer's directory, else on the whole cache.\n"
    "  ls     each cached object: its size in bytes, a tab, its path under the directory\n"
    "  du     the bytes the directory takes (sidecars included), a tab, the number of\n"
    "         cached objects, a tab, the directory\n"
    "  clear  remove the cached objects (without PATH: every gs, s3, http and https tree\n"
    "         of the cache directory, nothing else in it)\n"
    "  --cache DIR    the cache directory (default CLOUD_VOLUME_CACHE_DIR, else\n"
    "                 ~/.cloudvolume/cache)\n";

static cv_status show(const char *rel, uint64_t size, double atime, void *arg)
{
    (void)atime;
    (void)arg;
    printf("%" PRIu64 "\t%s\n", size, rel);
    return CV_OK;
}

static cv_status count(const char *rel, uint64_t size, double atime, void *arg)
{
    (void)rel, (void)size, (void)atime;
    (*(uint64_t *)arg)++;
    return CV_OK;
}

int cmd_cache(int argc, char **argv)
{
    static const struct option opts[] = {{"cache", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *base_arg = NULL;
    for (int c; (c = cli_getopt(argc, argv, "h", opts)) != -1;) {
        switch (c) {
        case 'c':
            if (!*optarg) {
                return cli_usage(argv[0], "--cache needs a directory");
            }
            base_arg = optarg;
            break;
        case 'h':
            return cli_help(help);
        default:
            return CLI_USAGE;
        }
    }
    int nargs = argc - optind;
    const char *verb = nargs >= 1 ? argv[optind] : NULL;
    if (!verb ||
        (strcmp(verb, "ls") != 0 && strcmp(verb, "du") != 0 && strcmp(verb, "clear") != 0)) {
        return cli_usage(argv[0], "want `ls', `du' or `clear'");
    }
    if (nargs > 2) {
        return cli_usage(argv[0], "takes at most one PATH");
    }
    const char *path = nargs == 2 ? argv[optind + 1] : NULL;
    char *dir = NULL;
    cv_status rc =
        path ? cv__cache_layer_dir(base_arg, path, &dir) : cv__cache_base(base_arg, &dir);
    if (rc == CV_OK && !dir) {
        rc =
            CV_FAIL(CV_ERR_ARG, "cache: `%s' is local (file:// and mem:// are never cached)", path);
    }
    if (rc == CV_OK && strcmp(verb, "ls") == 0) {
        rc = cv__cache_list(dir, path == NULL, show, NULL, NULL);
    } else if (rc == CV_OK && strcmp(verb, "du") == 0) {
        uint64_t objects = 0, bytes = 0;
        rc = cv__cache_list(dir, path == NULL, count, &objects, &bytes);
        if (rc == CV_OK) {
            printf("%" PRIu64 "\t%" PRIu64 "\t%s\n", bytes, objects, dir);
        }
    } else if (rc == CV_OK) {
        uint64_t removed = 0;
        rc = cv__cache_clear(dir, path == NULL, &removed);
        if (rc == CV_OK) {
            printf("removed %" PRIu64 " cached objects from %s\n", removed, dir);
        }
    }
    cv_free(dir);
    return rc == CV_OK ? CLI_OK : cli_fail();
}
