/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_write.c: `cvmpi write`, a .npy, HDF5 or raw file painted into a box of a layer. Raw and
 * x-fastest .npy input is read and written band by band (two buffers of at most a band); other
 * input is read once into one buffer. Input is never read beyond what the box can hold. */
#include "cli/cli.h"
#include "cli/cli_band_write.h"

#include "mpi/cv_compress.h"
#include "mpi/cv_h5.h"
#include "mpi/cv_slab.h"

#include <stdint.h>
#include <string.h>

static const char help[] =
    "usage: cvmpi write PATH [--mip M] --bbox X0,Y0,Z0,X1,Y1,Z1 -i FILE [--format raw|npy|h5]\n"
    "                    [--axes xyz|zyx] [--compress gzip|br|none] [--level N]\n"
    "                    [--non-aligned] [--delete-black]\n\n"
    "Write an array into a box of a layer. The format follows FILE's name, as for `cvmpi read':\n"
    "a .npy array of shape (X,Y,Z[,C]) (either memory order); FILE.h5:/DATASET (also .hdf5,\n"
    ".hdf, .he5; a plain FILE.h5 means FILE.h5:" CLI_H5_DEFAULT_DATASET
    ") of dims (Z,Y,X[,C]), as `read -o' writes it;\n"
    "raw little-endian bytes, x fastest, channel slowest, for .raw, .bin, `-' (standard input)\n"
    "and FIFOs. Other names are refused unless --format says what FILE holds. Input longer\n"
    "than the box is refused without reading past the box's size.\n"
    "Raw input and .npy arrays already x fastest go band by band (whole chunks, at most 16 MiB\n"
    "each) into an unsharded scale, so memory is two bands, not the box; a pipe of one channel\n"
    "too, in z order: if it ends early or runs long, the bands before are written (the error\n"
    "says up to which z).\n"
    "The box must be chunk aligned (it may end at the volume edge) unless "
    "--non-aligned.\n" CLI_VOLUME_HELP "  -i, --input FILE\n"
    "  --format F       raw, npy or h5, whatever FILE is called\n"
    "  --axes A         axis order of a .npy or HDF5 array, slowest first in C order: xyz\n"
    "                   (default for .npy, shape X,Y,Z[,C]) or zyx (default for HDF5, shape\n"
    "                   Z,Y,X[,C], as h5py and NumPy C-order arrays indexed [z,y,x] are)\n"
    "  --compress C     transport compression; default as CloudVolume (gzip for raw)\n"
    "  --level N        its level: gzip 0..12 (default 9, as CloudFiles), br 0..11\n"
    "                   (default 5)\n"
    "  --non-aligned    read-modify-write the chunks the box covers partly\n"
    "  --delete-black   delete chunks that are all background instead of writing them\n";

/* Check a whole .npy file against the box (axis order `zyx` or not) and put its data, x
 * fastest, into *payload: the file's own bytes when they already are in that order, else
 * `data`. */
static cv_status npy_payload(const char *input, const uint8_t *file, size_t flen,
                             const cv_info *info, cv_bbox box, bool zyx, size_t nbytes,
                             uint8_t **data, const uint8_t **payload)
{
    cv_npy h;
    CV_TRY(cli_npy_check(input, file, flen, flen, info, box, zyx, nbytes, &h));
    int64_t X = box.max[0] - box.min[0], Y = box.max[1] - box.min[1], Z = box.max[2] - box.min[2];
    if (cli_npy_is_xfast(&h, zyx, info->num_channels)) {
        *payload = file + h.data_offset; /* already x fastest: no copy */
        return CV_OK;
    }
    *data = cv_malloc(nbytes ? nbytes : 1);
    if (!*data) {
        return CV_FAIL(CV_ERR_NOMEM, "write: %zu bytes", nbytes);
    }
    if (!zyx) {
        cv_npy_to_xyzc(&h, file + h.data_offset, *data);
    } else {
        /* Shape (Z,Y,X,C): the stride of each volume axis in the file's memory order. */
        int64_t n[4] = {X, Y, Z, info->num_channels}, ss[4], ds[4];
        int order[4] = {2, 1, 0, 3}; /* file axis i holds volume axis order[i] */
        int64_t st = 1;
        for (int k = 0; k < 4; k++) {
            int i = h.fortran_order ? k : 3 - k;
            ss[order[i]] = st;
            st *= h.shape[i];
        }
        cv__slab_xfast_strides(n, ds);
        cv__slab_permute(file + h.data_offset, ss, *data, ds, n, cv_dtype_size(info->dtype));
    }
    *payload = *data;
    return CV_OK;
}

int cmd_write(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_VOLUME_OPTIONS,
        {"input", required_argument, NULL, 'i'},
        {"format", required_argument, NULL, 'F'},
        {"axes", required_argument, NULL, 'A'},
        {"compress", required_argument, NULL, 'c'},
        {"non-aligned", no_argument, NULL, 'n'},
        {"delete-black", no_argument, NULL, 'd'},
        {"level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_volume_args a;
    cli_volume_args_init(&a);
    const char *input = NULL, *format = NULL, *axes = NULL;
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
        case 'F':
            format = optarg;
            break;
        case 'A':
            if (strcmp(optarg, "xyz") != 0 && strcmp(optarg, "zyx") != 0) {
                return cli_usage(argv[0], "bad --axes `%s': want xyz or zyx", optarg);
            }
            axes = optarg;
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
        case 'l':
            if (!cli_opt_level(argv[0], optarg, &a.opts.compress_level)) {
                return CLI_USAGE;
            }
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
    bool has_level = a.opts.compress_level >= 0;
    if (!cli_check_level(argv[0], has_level, a.opts.compress_level, a.opts.compress)) {
        return CLI_USAGE;
    }
    cv_bbox box;
    if (cv_bbox_parse(a.bbox_text, &box) != CV_OK) {
        return cli_usage(argv[0], "%s", cv_err_last()->what);
    }
    cli_array_format fmt;
    char *h5_spec = NULL;
    int u = cli_array_format_of(argv[0], input, format, true, &fmt, &h5_spec);
    if (u != CLI_OK) {
        return u;
    }
    if (axes && fmt == CLI_FMT_RAW) {
        cv_free(h5_spec);
        return cli_usage(argv[0], "--axes applies to .npy and HDF5 input, not raw bytes");
    }
    /* The data frame is the box as given; autocrop only narrows what is written. */
    bool autocrop = a.opts.autocrop;
    a.opts.autocrop = false;
    a.opts.bounded = false;
    cv_volume *v;
    int mip;
    cv_bbox resolved;
    if (cli_open_volume(argv[optind], &a, &v, &mip, &resolved) != CV_OK) {
        cv_free(h5_spec);
        return cli_fail();
    }
    const cv_info *info = cv_volume_info(v);
    const cv_scale *scale = &info->scales[mip];
    if (cv_mpi_check_level(a.opts.compress, has_level, a.opts.compress_level, scale->encoding,
                           scale->key) != CV_OK) {
        cv_volume_close(v);
        cv_free(h5_spec);
        return cli_fail_job(true);
    }
    uint8_t *file = NULL, *data = NULL;
    const uint8_t *payload = NULL;
    size_t flen = 0, nbytes = 0;
    cv_status rc = cv_volume_check_box(v, box, &nbytes);
    bool zyx = axes && strcmp(axes, "zyx") == 0;
    /* Band by band where chunks are whole per band and in the volume; else the whole-box path,
     * which also gives the errors of boxes outside the volume or off the chunk grid. */
    cv_grid grid = cv_info_grid(info, mip);
    if (rc == CV_OK && (fmt == CLI_FMT_RAW || fmt == CLI_FMT_NPY) &&
        nbytes <= SIZE_MAX - CLI_NPY_HEADER_MAX && !scale->sharding_json &&
        cv_bbox_contains(cv_info_bounds(info, mip), box) &&
        (a.opts.non_aligned_writes || cv_grid_is_aligned(&grid, box))) {
        cli_band_input in;
        bool banded;
        rc = cli_band_input_open(input, fmt, info, box, zyx, nbytes, &in, &banded);
        if (rc == CV_OK && banded) {
            rc = cli_band_write(v, mip, box, &in);
            cli_band_input_close(&in);
            cv_free(h5_spec);
            cv_volume_close(v);
            return rc == CV_OK ? CLI_OK : cli_fail();
        }
    }
    /* A box whose bytes do not fit is refused before any input is read. */
    if (rc == CV_OK && fmt == CLI_FMT_H5) {
        int64_t shape[3] = {box.max[0] - box.min[0], box.max[1] - box.min[1],
                            box.max[2] - box.min[2]};
        data = cv_malloc(nbytes ? nbytes : 1);
        rc = data ? cv_h5_read_cutout(h5_spec, info->dtype, info->num_channels, shape, axes, data)
                  : CV_FAIL(CV_ERR_NOMEM, "write: %zu bytes", nbytes);
        payload = data;
    } else if (rc == CV_OK && fmt == CLI_FMT_NPY) {
        rc = nbytes > SIZE_MAX - CLI_NPY_HEADER_MAX
                 ? CV_FAIL(CV_ERR_ARG, "write: the box is too large")
                 : cli_read_input_max(input, nbytes + CLI_NPY_HEADER_MAX,
                                      "bytes a .npy of the box can have", &file, &flen);
        if (rc == CV_OK) {
            rc = npy_payload(input, file, flen, info, box, zyx, nbytes, &data, &payload);
        }
    } else if (rc == CV_OK) {
        rc = cli_read_input_max(input, nbytes, "bytes the box needs", &file, &flen);
        if (rc == CV_OK && flen != nbytes) {
            rc = CV_FAIL(CV_ERR_ARG, "`%s' has %zu bytes, the box needs %zu", input, flen, nbytes);
        }
        payload = file;
    }
    size_t plen = nbytes;
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
    cv_free(h5_spec);
    cv_volume_close(v);
    return rc == CV_OK ? CLI_OK : cli_fail();
}
