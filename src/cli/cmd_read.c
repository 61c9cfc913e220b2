/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_read.c: `cvmpi read`, a cutout into a .npy file (shape X,Y,Z,C, Fortran order), raw
 * little-endian bytes (x fastest, channel slowest), or an HDF5 dataset (FILE.h5[:/DATASET], as
 * `cvmpi export` writes one). A file appears whole or not at all; devices are written in
 * place. */
#include "cli/cli.h"

#include "mpi/cv_h5.h"
#include "mpi/cv_tiff.h"

#include <string.h>

static const char help[] =
    "usage: cvmpi read PATH [--mip M] [--bbox X0,Y0,Z0,X1,Y1,Z1] [--fill-missing] -o FILE\n"
    "                   [--format raw|npy|h5|tiff]\n\n"
    "Read a box of a layer. The format follows FILE's name: .npy gets a NumPy array of shape\n"
    "(X,Y,Z,C) in Fortran order; .raw and .bin get raw little-endian bytes, x fastest, channel\n"
    "slowest, as do `-' (standard output) and devices or FIFOs (written in place);\n"
    "FILE.h5:/DATASET (also .hdf5, .hdf, .he5; a plain FILE.h5 means "
    "FILE.h5:" CLI_H5_DEFAULT_DATASET ") adds a\n"
    "dataset in axis order z,y,x (z,y,x,c with channels) with the attributes `cvmpi export'\n"
    "writes (resolution, voxel_offset, source); the file is created if absent. .tif and .tiff\n"
    "get a TIFF (BigTIFF past 4 GB) of one uncompressed page per z, channels as samples per\n"
    "pixel, with OME-XML physical sizes (nm) that `cvmpi import' reads back. Other names are\n"
    "refused unless --format says what to write.\n" CLI_VOLUME_HELP "  -o, --output FILE\n"
    "  --format F       raw, npy, h5 or tiff, whatever FILE is called\n";

int cmd_read(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_VOLUME_OPTIONS,
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_volume_args a;
    cli_volume_args_init(&a);
    const char *output = NULL, *format = NULL;
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
        case 'F':
            format = optarg;
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
    cli_array_format fmt;
    char *h5_spec = NULL;
    int u = cli_array_format_of(argv[0], output, format, false, &fmt, &h5_spec);
    if (u != CLI_OK) {
        return u;
    }
    cv_volume *v;
    int mip;
    cv_bbox box;
    if (cli_open_volume(argv[optind], &a, &v, &mip, &box) != CV_OK) {
        cv_free(h5_spec);
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
        cv_free(h5_spec);
        fprintf(stderr, "cvmpi: read: cannot allocate %zu bytes for the cutout\n", nbytes);
        return CLI_FAIL;
    }
    cv_status rc = cv_volume_read(v, mip, box, data, nbytes);
    if (rc == CV_OK && fmt == CLI_FMT_H5) {
        const cv_info *info = cv_volume_info(v);
        cv_h5_cutout c = {.dtype = info->dtype,
                          .channels = info->num_channels,
                          .box = box,
                          .source = cv_volume_url(v)};
        memcpy(c.resolution, info->scales[mip].resolution, sizeof c.resolution);
        rc = cv_h5_write_cutout(h5_spec, &c, data);
    } else if (rc == CV_OK && fmt == CLI_FMT_TIFF) {
        const cv_info *info = cv_volume_info(v);
        cv_tiff_cutout c = {.dtype = info->dtype,
                            .shape = {box.max[0] - box.min[0], box.max[1] - box.min[1],
                                      box.max[2] - box.min[2], info->num_channels}};
        memcpy(c.resolution, info->scales[mip].resolution, sizeof c.resolution);
        rc = cv__tiff_write(output, &c, data);
        if (rc != CV_OK) {
            cv__err_wrap("read");
        }
    } else if (rc == CV_OK) {
        char header[256];
        size_t hlen = 0;
        if (fmt == CLI_FMT_NPY) {
            int64_t shape[4] = {box.max[0] - box.min[0], box.max[1] - box.min[1],
                                box.max[2] - box.min[2], cv_volume_info(v)->num_channels};
            hlen = cv_npy_format_header(cv_volume_info(v)->dtype, shape, header, sizeof header);
        }
        const void *parts[2] = {header, data};
        size_t lens[2] = {hlen, nbytes};
        rc = cli_write_output(output, parts, lens, 2);
    }
    cv_free(data);
    cv_free(h5_spec);
    cv_volume_close(v);
    return rc == CV_OK ? CLI_OK : cli_fail();
}
