/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_exists.c: `cvmpi exists`, how many chunks of a box are stored. */
#include "cli/cli.h"

#include <inttypes.h>

static const char help[] =
    "usage: cvmpi exists PATH [--mip M] [--bbox X0,Y0,Z0,X1,Y1,Z1]\n\n"
    "Count the chunks of a box (default: the whole volume) that exist.\n"
    "Prints \"PRESENT/TOTAL chunks present\"; exits 0 either way.\n" CLI_VOLUME_HELP;

int cmd_exists(int argc, char **argv)
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
    cv_volume *v;
    int mip;
    cv_bbox box;
    if (cli_open_volume(argv[optind], &a, &v, &mip, &box) != CV_OK) {
        return cli_fail();
    }
    uint64_t present = 0, total = 0;
    cv_status rc = cv_volume_exists(v, mip, box, &present, &total);
    cv_volume_close(v);
    if (rc != CV_OK) {
        return cli_fail();
    }
    printf("%" PRIu64 "/%" PRIu64 " chunks present\n", present, total);
    return CLI_OK;
}
