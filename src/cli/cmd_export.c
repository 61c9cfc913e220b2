/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_export.c: `cvmpi export SRC FILE.h5:/DATASET`, one mip of a layer (or a box of it) into
 * an HDF5 dataset across MPI ranks with parallel HDF5 (collective writes), or into TIFF
 * (FILE.tif, or one file per slice with 'DIR/z_*.tif'), or into a zarr v2 array (zarr://OUT). */
#include "cli/cli.h"

#include "mpi/cv_h5.h"
#include "mpi/cv_transfer.h"
#include "mpi/cv_transfer.h"

#include <string.h>

static const char help[] =
    "usage: [srun|mpirun -n N] cvmpi export SRC "
    "FILE.h5:/DATASET|FILE.tif|'DIR/z_*.tif'|zarr://OUT\n"
    "         [--mip M] [--bbox X0,Y0,Z0,X1,Y1,Z1] [--axes zyx|xyz] [--chunked X,Y,Z]\n"
    "         [--gzip LEVEL] [--fill-missing] [--memory BYTES] [--threads N] [--bigtiff]\n"
    "         [--compressor gzip|blosc|raw] [--journal DIR [--keep-journal]] [--resume]\n\n"
    "Write one mip of SRC (or a box of it) to a new dataset (the file is created if absent).\n"
    "Attributes: resolution (nm, x,y,z), voxel_offset (x,y,z of the box) and source.\n"
    "FILE.tif (.tiff): one uncompressed page per z as `read -o FILE.tif' writes it (BigTIFF\n"
    "past 4 GB), written by rank 0 alone (pages go in order); 'DIR/z_*.tif': one such file\n"
    "per z slice, `*' the slice's z, the ranks writing runs of slices one chunk deep; every\n"
    "file appears whole or not at all.\n"
    "zarr://OUT (zarr://file://OUT, zarr://s3://..., zarr://gs://...): a zarr v2 array of\n"
    "numpy shape (z, y, x), or (z, y, x, c) with channels, C order, chunks the layer's chunk\n"
    "size (all channels in one), fill_value 0, keys iz.iy.ix; .zattrs holds _ARRAY_DIMENSIONS,\n"
    "resolution and voxel_offset (x,y,z) and source. `cvmpi import zarr://OUT' restores the\n"
    "layer. Each rank writes whole chunks of the tasks it claims; .zarray is written last,\n"
    "once every chunk is; an OUT that already has a .zarray is refused.\n"
    "  --mip M          mip index or resolution X,Y,Z (default 0)\n"
    "  --bbox ...       only this box (default the whole volume)\n"
    "  --axes A         dataset axis order, slowest first: zyx (default; zyxc with channels)\n"
    "                   or xyz (xyzc); czyx and cxyz put channels first\n"
    "  --chunked X,Y,Z  HDF5 chunk shape (default contiguous; 64,64,64 with --gzip)\n"
    "  --gzip LEVEL     deflate the HDF5 chunks (1-9); zarr: the gzip level (default 5)\n"
    "  --fill-missing   absent chunks read as zeros\n"
    "  --memory BYTES   memory per rank (K/M/G suffixes)\n"
    "  --threads N      chunks decoded (zarr: and encoded) in parallel per rank (default\n"
    "                   the cores the rank may use, at most 4; 4 on remote storage)\n"
    "  --bigtiff        TIFF: write BigTIFF whatever the size\n"
    "  --compressor C   zarr: gzip (default), blosc (lz4, byte shuffle) or raw\n"
    "  --journal DIR    zarr: where finished tasks are recorded; default OUT/.cvmpi-journal/\n"
    "                   <job id> for a local OUT, else ~/.local/state/cvmpi/journal/<job id>;\n"
    "                   removed when the job succeeds\n"
    "  --keep-journal   zarr: keep the journal after a successful job\n"
    "  --resume         zarr: skip tasks a previous run of the same export finished\n";

int cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mip", required_argument, NULL, 'm'},
        {"bbox", required_argument, NULL, 'b'},
        {"axes", required_argument, NULL, 'a'},
        {"chunked", required_argument, NULL, 'C'},
        {"gzip", required_argument, NULL, 'z'},
        {"fill-missing", no_argument, NULL, 'f'},
        {"memory", required_argument, NULL, 'M'},
        {"threads", required_argument, NULL, 'T'},
        {"bigtiff", no_argument, NULL, 'B'},
        {"compressor", required_argument, NULL, 'c'},
        {"journal", required_argument, NULL, 'j'},
        {"keep-journal", no_argument, NULL, 'k'},
        {"resume", no_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cv_export_params p;
    memset(&p, 0, sizeof p);
    int64_t n;
    for (int c; (c = cli_getopt(argc, argv, "h", opts)) != -1;) {
        switch (c) {
        case 'h':
            return cli_help(help);
        case 'm':
            p.mip_text = optarg;
            break;
        case 'b':
            if (!cli_opt_bbox(argv[0], optarg, &p.bbox_text)) {
                return CLI_USAGE;
            }
            break;
        case 'a':
            p.axes = optarg;
            break;
        case 'C':
            if (!cli_parse_i64x3(optarg, p.chunked) || p.chunked[0] < 1 || p.chunked[1] < 1 ||
                p.chunked[2] < 1) {
                return cli_usage(argv[0], "bad --chunked `%s': want X,Y,Z", optarg);
            }
            break;
        case 'z':
            if (!cli_parse_i64(optarg, &n) || n < 1 || n > 9) {
                return cli_usage(argv[0], "bad --gzip `%s' (1..9)", optarg);
            }
            p.gzip = (int)n;
            break;
        case 'f':
            p.fill_missing = true;
            break;
        case 'B':
            p.bigtiff = true;
            break;
        case 'c':
            if (strcmp(optarg, "gzip") != 0 && strcmp(optarg, "blosc") != 0 &&
                strcmp(optarg, "raw") != 0) {
                return cli_usage(argv[0], "bad --compressor `%s' (gzip, blosc or raw)", optarg);
            }
            p.compressor = optarg;
            break;
        case 'j':
            p.journal_dir = optarg;
            break;
        case 'k':
            p.keep_journal = true;
            break;
        case 'R':
            p.resume = true;
            break;
        case 'M':
            if (!cli_opt_memory(argv[0], optarg, &p.memory)) {
                return CLI_USAGE;
            }
            break;
        case 'T':
            if (!cli_opt_threads(argv[0], optarg, &p.threads)) {
                return CLI_USAGE;
            }
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind != argc - 2) {
        return cli_usage(argv[0],
                         "want SRC and FILE.h5:/DATASET (or FILE.tif, 'DIR/z_*.tif', zarr://OUT)");
    }
    p.src = argv[optind];
    p.dst = argv[optind + 1];
    p.threads = p.threads ? p.threads : cli_default_threads(p.src, p.dst, 4);
    bool tiff = cv__tiff_is_output(p.dst), zarr = cv__zarr_is_output(p.dst);
    if (tiff && (p.axes || p.chunked[0] || p.gzip)) {
        return cli_usage(argv[0], "--axes, --chunked and --gzip are for HDF5 output, not TIFF");
    }
    if (zarr && (p.axes || p.chunked[0])) {
        return cli_usage(argv[0], "--axes and --chunked are for HDF5 output, not zarr");
    }
    if (zarr && p.gzip && p.compressor && strcmp(p.compressor, "gzip") != 0) {
        return cli_usage(argv[0], "--gzip LEVEL is for --compressor gzip, not %s", p.compressor);
    }
    if (p.bigtiff && !tiff) {
        return cli_usage(argv[0], "--bigtiff is for TIFF output");
    }
    if (!zarr && (p.compressor || p.resume || p.journal_dir || p.keep_journal)) {
        return cli_usage(argv[0],
                         "--compressor, --journal, --keep-journal and --resume are for zarr "
                         "output");
    }
    if (zarr) {
        cv_mpi_install_signal_handlers(); /* SIGTERM: stop claiming tasks, then --resume */
    }
    cv_status rc = tiff   ? cv_mpi_export_tiff(&p)
                   : zarr ? cv_mpi_export_zarr(&p)
                          : cv_mpi_export(&p);
    if (rc != CV_OK) {
        return cli_fail(); /* ranks agreed on the error; rank 0 prints it */
    }
    return CLI_OK;
}
