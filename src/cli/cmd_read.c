/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_read.c: `cvmpi read`, a cutout into a .npy file (shape X,Y,Z,C, Fortran order), raw
 * little-endian bytes (x fastest, channel slowest), or an HDF5 dataset (FILE.h5[:/DATASET], as
 * `cvmpi export` writes one). A file appears whole or not at all; devices are written in
 * place. */
#include "cli/cli.h"
#include "cli/cli_band.h"

#include "mpi/cv_h5.h"
#include "mpi/cv_tiff.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

static const char help[] =
    "usage: cvmpi read PATH [--mip M] [--bbox X0,Y0,Z0,X1,Y1,Z1] [--fill-missing] -o FILE\n"
    "                   [--format raw|npy|h5|tiff] [--bigtiff]\n"
    "                   [--agglomerate [--timestamp T] [--stop-layer L]]\n"
    "                   [--root-ids ID,ID,... [--preserve-zeros]]\n\n"
    "Read a box of a layer. The format follows FILE's name: .npy gets a NumPy array of shape\n"
    "(X,Y,Z,C) in Fortran order; .raw and .bin get raw little-endian bytes, x fastest, channel\n"
    "slowest, as do `-' (standard output) and devices or FIFOs (written in place);\n"
    "FILE.h5:/DATASET (also .hdf5, .hdf, .he5; a plain FILE.h5 means "
    "FILE.h5:" CLI_H5_DEFAULT_DATASET ") adds a\n"
    "dataset in axis order z,y,x (z,y,x,c with channels) with the attributes `cvmpi export'\n"
    "writes (resolution, voxel_offset, source); the file is created if absent. .tif and .tiff\n"
    "get a TIFF (BigTIFF past 4 GB) of one uncompressed page per z, channels as samples per\n"
    "pixel, with OME-XML physical sizes (nm) that `cvmpi import' reads back. Other names are\n"
    "refused unless --format says what to write.\n"
    "PATH may be graphene://https://HOST/segmentation/table/NAME (a ChunkedGraph server; token\n"
    "from ~/.cloudvolume/secrets/cave-secret.json): voxels are supervoxel ids unless\n"
    "--agglomerate.\n" CLI_VOLUME_HELP "  -o, --output FILE\n"
    "  --format F       raw, npy, h5 or tiff, whatever FILE is called\n"
    "  --bigtiff        TIFF: write BigTIFF whatever the size\n"
    "  --agglomerate    graphene: supervoxels become their root ids (the server's roots_binary)\n"
    "  --timestamp T    with --agglomerate: roots as of T (UNIX seconds or ISO 8601, e.g.\n"
    "                   2024-01-02T03:04:05Z; without a zone, local time); default now\n"
    "  --stop-layer L   with --agglomerate: each supervoxel becomes its lowest parent at or\n"
    "                   above graph layer L (1..n_layers; 1 leaves the supervoxels, 2 gives L2\n"
    "                   ids); default the roots\n"
    "  --root-ids IDS   graphene: keep only these roots, every other voxel 0; without\n"
    "                   --agglomerate each root's supervoxels in the box (its leaves) become it\n"
    "  --preserve-zeros with --root-ids: every other voxel becomes 18446744073709551615 (the\n"
    "                   uint64 maximum) instead, and 0 stays 0\n";

/* A raw or .npy output file is written band by band (cli_band.h, at most CLI_BAND_BYTES):
 * each band is read into one of two reused buffers and written at its place in the file. A
 * whole-box array would cost a fresh page (zeroed by the kernel) per byte on top of the copies,
 * and memory the size of the box. CVMPI_TEST_READ_BAND sets the band's bytes (tests: bands of
 * one cell, rows, planes). One band's bytes go into their places in the file on a thread of its
 * own while the next band is read. */
typedef struct band_write {
    cli_output *o;
    const uint8_t *buf;
    cv_bbox band, box;
    int64_t channels;
    size_t es, hlen;
    cv_status rc;
    cv_err err;
} band_write;

static cv_status write_run(void *arg, size_t in_band, uint64_t in_box, size_t len)
{
    band_write *w = arg;
    return cli_output_pwrite(w->o, w->buf + in_band, len, w->hlen + in_box);
}

static cv_status write_band(band_write *w)
{
    return cli_band_runs(w->band, w->box, w->channels, w->es, write_run, w);
}

static void *band_writer(void *arg)
{
    band_write *w = arg;
    w->rc = write_band(w);
    if (w->rc != CV_OK) {
        w->err = *cv_err_last();
    }
    return NULL;
}

/* The box into `output` (header first), band by band: each band is read into one of two
 * buffers while the previous one is written. The caller checked that the box lies in the
 * volume and that `output` is a regular file. */
static cv_status read_banded(cv_volume *v, int mip, cv_bbox box, const char *output,
                             const void *header, size_t hlen)
{
    const cv_info *info = cv_volume_info(v);
    cv_grid grid = cv_info_grid(info, mip);
    size_t voxel_bytes = cv_dtype_size(info->dtype) * (size_t)info->num_channels;
    int64_t cmin[3], cmax[3], cells[3], per[3];
    cv_grid_cells(&grid, box, cmin, cmax);
    for (int d = 0; d < 3; d++) {
        cells[d] = cmax[d] - cmin[d];
    }
    cli_band_cells(cells, grid.chunk, voxel_bytes, cli_band_bytes("CVMPI_TEST_READ_BAND"), per);
    size_t cap[2] = {0, 0};
    uint8_t *bufs[2] = {NULL, NULL};
    band_write w[2];
    pthread_t writer;
    bool writing = false;
    int k = 0;
    cli_output o;
    CV_TRY(cli_output_open(output, &o));
    cv_status rc = cli_output_pwrite(&o, header, hlen, 0);
    size_t n_bands = cli_band_count(cells, per);
    size_t total = (size_t)(cells[0] * cells[1] * cells[2]), before = 0;
    for (size_t i = 0; rc == CV_OK && i < n_bands; i++) {
        size_t band_cells;
        cv_bbox band = cli_band_at(&grid, box, cmin, cmax, per, i, &band_cells);
        size_t bytes = (size_t)cv_bbox_voxels(band) * voxel_bytes;
        if (bytes > cap[k]) {
            cv_free(bufs[k]);
            bufs[k] = cv_malloc(bytes);
            cap[k] = bufs[k] ? bytes : 0;
            if (!bufs[k]) {
                rc = CV_FAIL(CV_ERR_NOMEM, "read: %zu bytes for a band of the box", bytes);
                break;
            }
        }
        cli_box_progress_part(before, total);
        before += band_cells;
        rc = cv_volume_read(v, mip, band, bufs[k], bytes);
        if (writing) {
            pthread_join(writer, NULL);
            writing = false;
            if (w[k ^ 1].rc != CV_OK && rc == CV_OK) {
                cv__err_set(&w[k ^ 1].err);
                rc = w[k ^ 1].rc;
            }
        }
        if (rc != CV_OK) {
            break;
        }
        w[k] = (band_write){.o = &o,
                            .buf = bufs[k],
                            .band = band,
                            .box = box,
                            .channels = info->num_channels,
                            .es = cv_dtype_size(info->dtype),
                            .hlen = hlen};
        if (pthread_create(&writer, NULL, band_writer, &w[k]) == 0) {
            writing = true;
        } else {
            rc = write_band(&w[k]);
        }
        k ^= 1;
    }
    if (writing) {
        pthread_join(writer, NULL);
        if (w[k ^ 1].rc != CV_OK && rc == CV_OK) {
            cv__err_set(&w[k ^ 1].err);
            rc = w[k ^ 1].rc;
        }
    }
    cv_free(bufs[0]);
    cv_free(bufs[1]);
    if (rc != CV_OK) {
        cli_output_abort(&o);
        return rc;
    }
    return cli_output_commit(&o);
}

int cmd_read(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_VOLUME_OPTIONS,
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'F'},
        {"agglomerate", no_argument, NULL, 'A'},
        {"timestamp", required_argument, NULL, 'T'},
        {"root-ids", required_argument, NULL, 'R'},
        {"stop-layer", required_argument, NULL, 'L'},
        {"preserve-zeros", no_argument, NULL, 'Z'},
        {"bigtiff", no_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_volume_args a;
    cli_volume_args_init(&a);
    const char *output = NULL, *format = NULL;
    cv_graphene_read_opts g;
    memset(&g, 0, sizeof g);
    int64_t timestamp;
    int stop_layer;
    uint64_t *root_ids = NULL;
    bool bigtiff = false;
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
        case 'A':
            g.agglomerate = true;
            break;
        case 'T':
            if (cv_timestamp_parse(optarg, &timestamp) != CV_OK) {
                cli_usage(argv[0], "%s", cv_err_last()->what);
                cv_free(root_ids);
                return CLI_USAGE;
            }
            g.timestamp = &timestamp;
            break;
        case 'R':
            cv_free(root_ids);
            root_ids = NULL;
            if (!cli_parse_ids(optarg, &root_ids, &g.n_root_ids)) {
                cv_free(root_ids);
                return cli_usage(argv[0], "bad --root-ids `%s': want decimal ids ID,ID,...",
                                 optarg);
            }
            g.root_ids = root_ids;
            break;
        case 'B':
            bigtiff = true;
            break;
        case 'L': {
            int64_t layer;
            if (!cli_parse_i64(optarg, &layer) || layer < INT_MIN || layer > INT_MAX) {
                cv_free(root_ids);
                return cli_usage(argv[0], "bad --stop-layer `%s': want a graph layer number",
                                 optarg);
            }
            stop_layer = (int)layer;
            g.stop_layer = &stop_layer;
            break;
        }
        case 'Z':
            g.preserve_zeros = true;
            break;
        default:
            cv_free(root_ids);
            return CLI_USAGE;
        }
    }
    bool graph = g.agglomerate || g.root_ids;
    int u0 =
        optind != argc - 1                ? cli_usage(argv[0], "want exactly one PATH")
        : g.timestamp && !g.agglomerate   ? cli_usage(argv[0], "--timestamp needs --agglomerate")
        : g.stop_layer && !g.agglomerate  ? cli_usage(argv[0], "--stop-layer needs --agglomerate")
        : g.preserve_zeros && !g.root_ids ? cli_usage(argv[0], "--preserve-zeros needs --root-ids")
        : graph && strncmp(argv[optind], "graphene://", 11) != 0
            ? cli_usage(argv[0], "--agglomerate and --root-ids need a graphene:// PATH")
            : CLI_OK;
    if (u0 != CLI_OK) {
        cv_free(root_ids);
        return u0;
    }
    if (!output) {
        cv_free(root_ids);
        return cli_usage(argv[0], "-o FILE is required (`-' for standard output)");
    }
    cli_array_format fmt;
    char *h5_spec = NULL;
    int u = cli_array_format_of(argv[0], output, format, false, &fmt, &h5_spec);
    if (u != CLI_OK) {
        cv_free(root_ids);
        return u;
    }
    if (bigtiff && fmt != CLI_FMT_TIFF) {
        cv_free(h5_spec);
        cv_free(root_ids);
        return cli_usage(argv[0], "--bigtiff is for TIFF output");
    }
    cv_volume *v;
    int mip;
    cv_bbox box;
    if (cli_open_volume(argv[optind], &a, &v, &mip, &box) != CV_OK) {
        cv_free(h5_spec);
        cv_free(root_ids);
        return cli_fail();
    }
    size_t nbytes;
    if (cv_volume_check_box(v, box, &nbytes) != CV_OK) {
        cv_volume_close(v);
        cv_free(h5_spec);
        cv_free(root_ids);
        return cli_fail();
    }
    const cv_info *vinfo = cv_volume_info(v);
    if (!graph && (fmt == CLI_FMT_RAW || fmt == CLI_FMT_NPY) && strcmp(output, "-") != 0 &&
        !cli_is_stream_path(output) && !vinfo->scales[mip].sharding_json &&
        cv_bbox_contains(cv_info_bounds(vinfo, mip), box)) {
        char header[256];
        size_t hlen = 0;
        if (fmt == CLI_FMT_NPY) {
            int64_t shape[4] = {box.max[0] - box.min[0], box.max[1] - box.min[1],
                                box.max[2] - box.min[2], vinfo->num_channels};
            hlen = cv_npy_format_header(vinfo->dtype, shape, header, sizeof header);
        }
        cv_status rc = read_banded(v, mip, box, output, header, hlen);
        cv_free(h5_spec);
        cv_free(root_ids);
        cv_volume_close(v);
        return rc == CV_OK ? CLI_OK : cli_fail();
    }
    uint8_t *data = cv_malloc(nbytes);
    if (!data) {
        cv_volume_close(v);
        cv_free(h5_spec);
        cv_free(root_ids);
        fprintf(stderr, "cvmpi: read: cannot allocate %zu bytes for the cutout\n", nbytes);
        return CLI_FAIL;
    }
    cv_status rc = graph ? cv_graphene_read(v, mip, box, &g, data, nbytes)
                         : cv_volume_read(v, mip, box, data, nbytes);
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
                            .bigtiff = bigtiff,
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
    cv_free(root_ids);
    cv_volume_close(v);
    return rc == CV_OK ? CLI_OK : cli_fail();
}
