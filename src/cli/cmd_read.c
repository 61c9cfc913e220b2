/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_read.c: `cvmpi read`, a cutout into a .npy file (shape X,Y,Z,C, Fortran order) or raw
 * little-endian bytes (x fastest, channel slowest), or an HDF5 dataset (FILE.h5:/DATASET, as
 * `cvmpi export` writes one). The output appears whole or not at all. */
#include "cli.h"

#include "../mpi/cv_h5.h"

#include <string.h>

static const char help[] =
    "usage: cvmpi read PATH [--mip M] [--bbox X0,Y0,Z0,X1,Y1,Z1] [--fill-missing] -o FILE\n\n"
    "Read a box of a layer. FILE ending in .npy gets a NumPy array of shape (X,Y,Z,C) in\n"
    "Fortran order; any other FILE gets raw little-endian bytes, x fastest, channel slowest;\n"
    "`-' writes to standard output. FILE.h5:/DATASET (also .hdf5, .hdf) adds a dataset in\n"
    "axis order z,y,x (z,y,x,c with channels) with the attributes `cvmpi export' writes\n"
    "(resolution, voxel_offset, source); the file is created if absent.\n" CLI_VOLUME_HELP
    "  -o, --output FILE\n";

int cmd_read(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_VOLUME_OPTIONS,
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_volume_args a;
    cli_volume_args_init(&a);
    const char *output = NULL;
    for (int c; (c = cli_getopt(argc, argv, "ho:", opts)) != -1;) {
        int r = cli_volume_option(c, argv[0], &a);
        if (r < 0) {
            return CLI_USAGE;
        }
        if (r > 0) {
            continue;
        }
        switch (c) {
        case 'h':
            return cli_help(help);
        case 'o':
            output = optarg;
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        return cli_usage(argv[0], "want exactly one PATH");
    }
    if (!output) {
        return cli_usage(argv[0], "-o FILE is required (`-' for standard output)");
    }
    cv_volume *v;
    int mip;
    cv_bbox box;
    if (cli_open_volume(argv[optind], &a, &v, &mip, &box) != CV_OK) {
        return cli_fail();
    }
    size_t nbytes;
    if (cv_volume_check_box(v, box, &nbytes) != CV_OK) {
        cv_volume_close(v);
        return cli_fail();
    }
    uint8_t *data = cv_malloc(nbytes);
    if (!data) {
        cv_volume_close(v);
        fprintf(stderr, "cvmpi: read: cannot allocate %zu bytes for the cutout\n", nbytes);
        return CLI_FAIL;
    }
    cv_status rc = cv_volume_read(v, mip, box, data, nbytes);
    if (rc == CV_OK && cv_h5_is_spec(output)) {
        const cv_info *info = cv_volume_info(v);
        cv_h5_cutout c = {.dtype = info->dtype,
                          .channels = info->num_channels,
                          .box = box,
                          .source = cv_volume_url(v)};
        memcpy(c.resolution, info->scales[mip].resolution, sizeof c.resolution);
        rc = cv_h5_write_cutout(output, &c, data);
    } else if (rc == CV_OK) {
        char header[256];
        size_t hlen = 0;
        if (cv__str_ends_with(output, ".npy")) {
            int64_t shape[4] = {box.max[0] - box.min[0], box.max[1] - box.min[1],
                                box.max[2] - box.min[2], cv_volume_info(v)->num_channels};
            hlen = cv_npy_format_header(cv_volume_info(v)->dtype, shape, header, sizeof header);
        }
        const void *parts[2] = {header, data};
        size_t lens[2] = {hlen, nbytes};
        rc = cli_write_output(output, parts, lens, 2);
    }
    cv_free(data);
    cv_volume_close(v);
    return rc == CV_OK ? CLI_OK : cli_fail();
}
