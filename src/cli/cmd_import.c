/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_import.c: `cvmpi import SOURCE DST`, an HDF5 dataset, a TIFF stack, a zarr v2 array or an N5
 * dataset (or a stack of files along z) into a new layer across MPI ranks. */
#include "cli/cli.h"

#include "mpi/cv_import.h"
#include "mpi/cv_transfer.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char help[] =
    "usage: [srun|mpirun -n N] cvmpi import FILE.h5:/DATASET|TIFF|zarr://PATH|n5://PATH DST\n"
    "         [--axes A]\n"
    "         [--type image|segmentation] [--resolution X,Y,Z] [--offset X,Y,Z] [--chunk X,Y,Z]\n"
    "         [--encoding E] [--compress gzip|br|none] [--level N] [--memory BYTES] [--threads N]\n"
    "         [--journal DIR [--keep-journal]] [--resume] [--independent]\n"
    "         [--sharded [--shard-bytes B]]\n"
    "         [--downsample N [--factor X,Y,Z]] [--dry-run [--ranks N]]\n\n"
    "Create the layer DST from an HDF5 dataset, a TIFF stack or a zarr array (dtype, shape and\n"
    "channels from the source) and write it. In each round the ranks read one box of the source as "
    "large\n"
    "slabs (collective MPI-IO for HDF5; for TIFF each rank its own z range), then trade slab\n"
    "pieces (MPI_Alltoallv) so every task of whole DST chunks is assembled on one rank, which\n"
    "encodes and writes it. A source stored as one plain array, such as a contiguous HDF5\n"
    "dataset in one file of its native type, x fastest, is read straight from the file instead:\n"
    "each rank reads the box of its own tasks (pread), with no exchange. Chunked and compressed\n"
    "sources work. Into an existing DST, options that contradict its scale 0 (--encoding,\n"
    "--chunk, --resolution, --sharded) are refused before anything is written (exit 2).\n"
    "  SOURCE           FILE.h5:/DATASET; a stack along z: 'DIR/slice_*.h5:/DATASET' (natural\n"
    "                   order: slice_2 before slice_10) or @LIST.txt:/DATASET (one file a line,\n"
    "                   relative to the list's directory). Files must agree in all but z\n"
    "  TIFF             FILE.tif (its pages along z; BigTIFF too), 'DIR/z_*.tif' (one slice a\n"
    "                   file, natural order) or @LIST.txt; .tif/.tiff/.btf/.tf8. Striped or\n"
    "                   tiled, any compression libtiff decodes (none, LZW, deflate, PackBits,\n"
    "                   zstd, JPEG...); 8-64 bit integers or 32/64 bit floats; samples per\n"
    "                   pixel (RGB, RGBA) are channels. Every page must agree in size and\n"
    "                   sample type (checked before anything is written)\n"
    "  zarr://PATH      a zarr v2 array (PATH: its directory with .zarray; zarr://file://PATH\n"
    "                   too; remote: zarr://s3://, zarr://gs://, zarr://http(s)://, the same\n"
    "                   for n5://): compressor none, gzip, zlib, zstd or blosc (as this build has\n"
    "                   them), order C or F, dtypes |u1 |i1 <u2 ... <f8 (> big-endian),\n"
    "                   fill_value for chunks never written, dimension_separator . or /;\n"
    "                   needs --resolution\n"
    "  n5://PATH        an N5 dataset (attributes.json; raw, gzip, zstd or blosc blocks);\n"
    "                   its axes (listed x first) are reversed, so numpy's (z, y, x) needs no\n"
    "                   --axes; needs --resolution\n"
    "  --axes A         HDF5, zarr, N5: the axis order, slowest first: zyx (default, as NumPy\n"
    "                   write C order), xyz, czyx, zyxc (default for 4-D), cxyz, xyzc\n"
    "  --type T         default segmentation for uint32/uint64, else image\n"
    "  --resolution     nm; wins over the dataset's `resolution' (x,y,z nm) or\n"
    "                   `element_size_um' (dataset order, um) attribute, or a TIFF's OME-XML\n"
    "                   PhysicalSizeX/Y/Z; required when the source has none\n"
    "  --offset X,Y,Z   voxel_offset (default 0,0,0)\n"
    "  --chunk X,Y,Z    chunk size (default 64,64,64)\n"
    "  --encoding E     raw (default) or any encoding this build supports\n"
    "  --compress C     transport compression of written chunks (default as CloudVolume)\n"
    "  --level N        its level: gzip 0..12 (default 9, as CloudFiles), br 0..11\n"
    "                   (default 5)\n"
    "  --memory BYTES   memory per rank (K/M/G suffixes): rounds hold their slabs, exchange and\n"
    "                   chunk buffers and the compressed HDF5 chunks (or a TIFF strip or\n"
    "                   tile, or one decoded zarr chunk or N5 block) a slab touches within\n"
    "                   it;\n"
    "                   a job whose smallest round cannot fit is refused\n"
    "  --threads N      chunks encoded in parallel per rank (default\n"
    "                   the cores the rank may use, at most 4; 4 on remote storage)\n"
    "  --journal DIR    where finished tasks are recorded; default DST/.cvmpi-journal/<job id>\n"
    "                   for a file:// DST, else ~/.local/state/cvmpi/journal/<job id>; removed\n"
    "                   when the job succeeds\n"
    "  --keep-journal   keep the journal after a successful job\n"
    "  --resume         skip tasks a previous run of the same import finished; first remove\n"
    "                   the temporary files (.cvmpi-tmp-*) it left in DST's scale\n"
    "  --independent    no exchange: each rank reads its own tasks' boxes (dynamic schedule)\n"
    "  --collective     the default (slab reads are collective); kept for old job files\n"
    "  --sharded        shard DST as CloudVolume shards images (shards of about\n"
    "                   --shard-bytes, default 3.5e9); each shard file is written whole once\n"
    "  --downsample N   then make N mips of DST in the same job, as `cvmpi downsample DST\n"
    "                   --num-mips N` (its journal is DIR/downsample with --journal); with\n"
    "                   --sharded they are sharded too, parameters chosen per scale (they\n"
    "                   read the imported scale back from DST once); planned before the\n"
    "                   layer is created: a pyramid that cannot be made is refused first\n"
    "  --factor X,Y,Z   downsampling factor per level (default 2,2,1)\n"
    "  --dry-run        print the plan (tasks, rounds, slabs, expected peak memory per rank,\n"
    "                   per-rank reads and exchange, journal size), then --downsample's (per\n"
    "                   sharded level: shard files written, bytes per shard, memory per\n"
    "                   rank); create, read and write nothing\n"
    "  --ranks N        with --dry-run: plan as if N ranks ran the job (per-rank figures)\n";

int cmd_import(int argc, char **argv)
{
    static const struct option opts[] = {
        {"axes", required_argument, NULL, 'a'},
        {"type", required_argument, NULL, 't'},
        {"resolution", required_argument, NULL, 'r'},
        {"offset", required_argument, NULL, 'o'},
        {"chunk", required_argument, NULL, 'C'},
        {"encoding", required_argument, NULL, 'e'},
        {"compress", required_argument, NULL, 'c'},
        {"memory", required_argument, NULL, 'M'},
        {"threads", required_argument, NULL, 'T'},
        {"journal", required_argument, NULL, 'j'},
        {"keep-journal", no_argument, NULL, 2004},
        {"resume", no_argument, NULL, 'R'},
        {"collective", no_argument, NULL, 'L'},
        {"downsample", required_argument, NULL, 2001},
        {"factor", required_argument, NULL, 2002},
        {"independent", no_argument, NULL, 'I'},
        {"sharded", no_argument, NULL, 'S'},
        {"shard-bytes", required_argument, NULL, 'B'},
        {"level", required_argument, NULL, 2003},
        {"dry-run", no_argument, NULL, 'n'},
        {"ranks", required_argument, NULL, 2100},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cv_import_params p;
    memset(&p, 0, sizeof p);
    int64_t n_down = 0, factor[3] = {2, 2, 1};
    int plan_ranks = 0;
    for (int c; (c = cli_getopt(argc, argv, "h", opts)) != -1;) {
        switch (c) {
        case 'h':
            return cli_help(help);
        case 'a':
            p.axes = optarg;
            break;
        case 't':
            if (strcmp(optarg, "image") != 0 && strcmp(optarg, "segmentation") != 0) {
                return cli_usage(argv[0], "--type must be image or segmentation");
            }
            p.type = optarg;
            break;
        case 'r':
            if (!cli_parse_f64x3(optarg, p.resolution, &p.resolution_is_float) ||
                p.resolution[0] <= 0 || p.resolution[1] <= 0 || p.resolution[2] <= 0) {
                return cli_usage(argv[0], "bad --resolution `%s': want X,Y,Z", optarg);
            }
            p.has_resolution = true;
            break;
        case 'o':
            if (!cli_parse_i64x3(optarg, p.offset)) {
                return cli_usage(argv[0], "bad --offset `%s': want X,Y,Z", optarg);
            }
            break;
        case 'C':
            if (!cli_parse_i64x3(optarg, p.chunk_size) || p.chunk_size[0] < 1 ||
                p.chunk_size[1] < 1 || p.chunk_size[2] < 1) {
                return cli_usage(argv[0], "bad --chunk `%s': want X,Y,Z", optarg);
            }
            break;
        case 'e':
            p.encoding = optarg;
            break;
        case 'c':
            if (!cli_parse_compress(optarg, &p.compress)) {
                return cli_usage(argv[0], "--compress must be gzip, br or none");
            }
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
        case 'j':
            p.journal_dir = optarg;
            break;
        case 2004:
            p.keep_journal = true;
            break;
        case 'R':
            p.resume = true;
            break;
        case 'L':
            p.is_collective = true;
            break;
        case 2001:
            if (!cli_opt_pyramid_levels(argv[0], optarg, &n_down)) {
                return CLI_USAGE;
            }
            break;
        case 2002:
            if (!cli_opt_factor(argv[0], optarg, factor)) {
                return CLI_USAGE;
            }
            break;
        case 'I':
            p.is_independent = true;
            break;
        case 'S':
            p.sharded = true;
            break;
        case 'B':
            if (!cli_parse_bytes(optarg, &p.shard_bytes) || p.shard_bytes == 0) {
                return cli_usage(argv[0], "bad --shard-bytes `%s'", optarg);
            }
            break;
        case 2003:
            if (!cli_opt_level(argv[0], optarg, &p.level)) {
                return CLI_USAGE;
            }
            p.has_level = true;
            break;
        case 'n':
            p.dry_run = true;
            break;
        case 2100:
            if (!cli_opt_plan_ranks(argv[0], optarg, &plan_ranks)) {
                return CLI_USAGE;
            }
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind != argc - 2) {
        return cli_usage(
            argv[0], "want FILE.h5:/DATASET (or a TIFF stack, zarr://PATH or n5://PATH) and DST");
    }
    if (!cli_check_level(argv[0], p.has_level, p.level, p.compress)) {
        return CLI_USAGE;
    }
    if (p.shard_bytes && !p.sharded) {
        return cli_usage(argv[0], "--shard-bytes needs --sharded");
    }
    if (!cli_check_plan_ranks(argv[0], plan_ranks, p.dry_run)) {
        return CLI_USAGE;
    }
    p.src = argv[optind];
    p.dst = argv[optind + 1];
    p.threads = p.threads ? p.threads : cli_default_threads(p.src, p.dst, 4);
    bool conflict = false;
    p.conflict = &conflict;
    /* The levels --downsample makes on DST after the import, in the same job. */
    cv_downsample_params d;
    memset(&d, 0, sizeof d);
    d.path = p.dst;
    d.num_mips = (int)n_down;
    memcpy(d.factor, factor, sizeof d.factor);
    d.compress = p.compress;
    d.has_level = p.has_level;
    d.level = p.level;
    d.memory = p.memory;
    d.threads = p.threads;
    d.resume = p.resume;
    d.keep_journal = p.keep_journal;
    d.sharded = p.sharded; /* the new levels are sharded as the imported scale */
    d.shard_bytes = p.shard_bytes;
    d.dry_run = p.dry_run;
    cv_info *planned = NULL;
    if (n_down > 0) {
        /* the pyramid is planned before the layer is created (and printed after the import's
         * plan with --dry-run) */
        p.planned_info = &planned;
        p.before_write = cli_downsample_check;
        p.before_write_arg = &d;
    }
    cv_mpi_install_signal_handlers();
    if (cv_mpi_import(&p) != CV_OK) {
        return cli_fail_job(conflict); /* ranks agreed on the error; rank 0 prints it */
    }
    if (n_down > 0) {
        d.plan_info = planned;
        if (p.dry_run && cv_mpi_rank() == 0) {
            printf("import: then --downsample %" PRId64 " of %s in the same job\n", n_down, p.dst);
        }
        cv_status rc = cli_downsample_after(&d, p.journal_dir);
        cv_info_free(planned);
        if (rc != CV_OK) {
            return cli_fail();
        }
    }
    return CLI_OK;
}
