/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_delete.c: `cvmpi delete`, remove the chunks of a chunk-aligned box. */
#include "cli/cli.h"

#include "io/store.h"

/* A `.cvmpi-tmp-*` file this old belongs to no live write: one object is written in seconds. */
#define STALE_TEMP_AGE_S 3600.0

static const char help[] =
    "usage: cvmpi delete PATH [--mip M] --bbox X0,Y0,Z0,X1,Y1,Z1\n\n"
    "Delete every chunk of a chunk-aligned box (all compressed variants). On a local layer it\n"
    "also removes the temporary files (.cvmpi-tmp-*) that writers killed mid-write left in the\n"
    "mip's directory, when they are more than an hour old.\n" CLI_VOLUME_HELP;

int cmd_delete(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_VOLUME_OPTIONS, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    cli_volume_args a;
    cli_volume_args_init(&a);
    for (int c; (c = cli_getopt(argc, argv, "h", opts)) != -1;) {
        int r = cli_volume_option(c, argv[0], &a);
        if (r < 0) {
            return CLI_USAGE;
        }
        if (r == 0) {
            return c == 'h' ? cli_help(help) : CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        return cli_usage(argv[0], "want exactly one PATH");
    }
    if (!a.bbox_text) {
        return cli_usage(argv[0], "--bbox is required");
    }
    cv_volume *v;
    int mip;
    cv_bbox box;
    if (cli_open_volume(argv[optind], &a, &v, &mip, &box) != CV_OK) {
        return cli_fail();
    }
    uint64_t before = 0, total = 0;
    cv_status rc = cv_volume_exists(v, mip, box, &before, &total);
    if (rc == CV_OK) {
        rc = cv_volume_delete(v, mip, box);
    }
    size_t stale = 0;
    if (rc == CV_OK) {
        rc = cv__store_remove_stale_temps(cv_volume_store(v), cv_volume_info(v)->scales[mip].key,
                                          STALE_TEMP_AGE_S, NULL, NULL, &stale);
    }
    cv_volume_close(v);
    if (rc != CV_OK) {
        return cli_fail();
    }
    printf("deleted %llu of %llu chunks\n", (unsigned long long)before, (unsigned long long)total);
    if (stale) {
        printf("removed %zu stale temporary file%s\n", stale, stale == 1 ? "" : "s");
    }
    return CLI_OK;
}
