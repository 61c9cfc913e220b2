/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_write.c: `cvmpi write`, a .npy or raw file painted into a box of a layer. */
#include "cli.h"

#include <inttypes.h>
#include <string.h>

static const char help[] =
    "usage: cvmpi write PATH [--mip M] --bbox X0,Y0,Z0,X1,Y1,Z1 -i FILE\n"
    "                    [--compress gzip|br|none] [--non-aligned] [--delete-black]\n\n"
    "Write an array into a box of a layer. FILE is a .npy array of shape (X,Y,Z[,C]) (either\n"
    "memory order) or raw little-endian bytes, x fastest, channel slowest; `-' reads stdin.\n"
    "The box must be chunk aligned (it may end at the volume edge) unless "
    "--non-aligned.\n" CLI_VOLUME_HELP "  -i, --input FILE\n"
    "  --compress C     transport compression; default as CloudVolume (gzip for raw)\n"
    "  --non-aligned    read-modify-write the chunks the box covers partly\n"
    "  --delete-black   delete chunks that are all background instead of writing them\n";

int cmd_write(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_VOLUME_OPTIONS,
        {"input", required_argument, NULL, 'i'},
        {"compress", required_argument, NULL, 'c'},
        {"non-aligned", no_argument, NULL, 'n'},
        {"delete-black", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_volume_args a;
    cli_volume_args_init(&a);
    const char *input = NULL;
    for (int c; (c = cli_getopt(argc, argv, "hi:", opts)) != -1;) {
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
        case 'i':
            input = optarg;
            break;
        case 'c':
            if (!cli_parse_compress(optarg, &a.opts.compress)) {
                return cli_usage(argv[0], "--compress must be gzip, br or none");
            }
            break;
        case 'n':
            a.opts.non_aligned_writes = true;
            break;
        case 'd':
            a.opts.delete_black_uploads = true;
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        return cli_usage(argv[0], "want exactly one PATH");
    }
    if (!input || !a.bbox_text) {
        return cli_usage(argv[0], "--bbox and -i FILE are required");
    }
    cv_bbox box;
    if (cv_bbox_parse(a.bbox_text, &box) != CV_OK) {
        return cli_usage(argv[0], "%s", cv_err_last()->what);
    }
    /* The data frame is the box as given; autocrop only narrows what is written. */
    bool autocrop = a.opts.autocrop;
    a.opts.autocrop = false;
    a.opts.bounded = false;
    cv_volume *v;
    int mip;
    cv_bbox resolved;
    if (cli_open_volume(argv[optind], &a, &v, &mip, &resolved) != CV_OK) {
        return cli_fail();
    }
    uint8_t *file = NULL, *data = NULL;
    size_t flen = 0, nbytes = 0;
    cv_status rc = cv_volume_check_box(v, box, &nbytes);
    if (rc == CV_OK) {
        rc = cli_read_input(input, &file, &flen);
    }
    const uint8_t *payload = file;
    size_t plen = flen;
    if (rc == CV_OK && cv__str_ends_with(input, ".npy")) {
        cv_npy h;
        rc = cv_npy_parse_header(file, flen, input, &h);
        const cv_info *info = cv_volume_info(v);
        if (rc == CV_OK && h.dtype != info->dtype) {
            rc = CV_FAIL(CV_ERR_ARG, "`%s' holds %s, the layer is %s", input,
                         cv_dtype_name(h.dtype), cv_dtype_name(info->dtype));
        }
        if (rc == CV_OK &&
            (h.shape[0] != box.max[0] - box.min[0] || h.shape[1] != box.max[1] - box.min[1] ||
             h.shape[2] != box.max[2] - box.min[2] || h.shape[3] != info->num_channels)) {
            rc = CV_FAIL(CV_ERR_ARG,
                         "`%s' has shape (%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                         "), the box needs (%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 ")",
                         input, h.shape[0], h.shape[1], h.shape[2], h.shape[3],
                         box.max[0] - box.min[0], box.max[1] - box.min[1], box.max[2] - box.min[2],
                         info->num_channels);
        }
        if (rc == CV_OK && flen - h.data_offset != nbytes) {
            rc = CV_FAIL(CV_ERR_ARG, "`%s' is truncated: %zu data bytes, want %zu", input,
                         flen - h.data_offset, nbytes);
        }
        if (rc == CV_OK) {
            data = cv_malloc(nbytes);
            rc = data ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "write: %zu bytes", nbytes);
        }
        if (rc == CV_OK) {
            cv_npy_to_xyzc(&h, file + h.data_offset, data);
            payload = data;
            plen = nbytes;
        }
    } else if (rc == CV_OK && flen != nbytes) {
        rc = CV_FAIL(CV_ERR_ARG, "`%s' has %zu bytes, the box needs %zu", input, flen, nbytes);
    }
    if (rc == CV_OK) {
        /* Bounds are checked here, against the box as given. */
        cv_bbox bounds = cv_info_bounds(cv_volume_info(v), mip);
        if (!autocrop && !cv_bbox_contains(bounds, box)) {
            char rb[160], bb[160];
            cv_bbox_format(box, rb, sizeof rb);
            cv_bbox_format(bounds, bb, sizeof bb);
            rc = CV_FAIL(CV_ERR_BOUNDS, "write to %s: box %s is outside the volume bounds %s",
                         cv_volume_url(v), rb, bb);
        }
    }
    if (rc == CV_OK) {
        rc = cv_volume_write(v, mip, box, payload, plen);
    }
    cv_free(data);
    cv_free(file);
    cv_volume_close(v);
    return rc == CV_OK ? CLI_OK : cli_fail();
}
