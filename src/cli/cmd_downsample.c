/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_downsample.c: `cvmpi downsample PATH`, igneous' downsample tasks as one MPI job
 * (cloudvolume-conventions §7.2-7.4). Parses the options and runs cv_mpi_downsample; runs the
 * same under mpirun/srun and as a plain command (one rank). */
#include "cli/cli.h"

#include "mpi/cv_transfer.h"

#include <string.h>

static const char help[] =
    "usage: [srun|mpirun -n N] cvmpi downsample PATH [--mip M] [--num-mips N] [--factor X,Y,Z]\n"
    "         [--method auto|average|mode|min|max|striding] [--sparse] [--encoding E]\n"
    "         [--chunk-size X,Y,Z] [--sharded [--shard-bytes B] | --sharding JSON]\n"
    "         [--compress gzip|br|none] [--level N] [--memory BYTES]\n"
    "         [--fill-missing] [--threads N] [--schedule dynamic|static]\n"
    "         [--journal DIR [--keep-journal]] [--resume] [--fail-fast] [--dry-run [--ranks N]]\n"
    "         [--stall-warning SECONDS]\n\n"
    "Make N mips above mip M (default 0) reading the source once. New scales are added as\n"
    "CloudVolume's add_scale does and the info is committed once. Tasks read blocks of the\n"
    "source and make the levels that fit in --memory; the levels above are made by a reduction\n"
    "tree: the tasks' small top levels are sent between ranks, never re-read from storage.\n"
    "Each rank's peak memory (tasks, chunk threads, the tree's exchange and nodes) is planned\n"
    "within --memory; the tree's states wait in files beside the journal between stages.\n"
    "With --sharded or --sharding every new scale is written sharded in the same job: chunks\n"
    "are encoded where they are made and spilled beside the journal; after the tree, each\n"
    "level's chunks travel to their shards' owners, which write every shard file once, whole,\n"
    "chunk by chunk (on s3:// and gs:// in upload parts of CV_UPLOAD_PART_BYTES, 8 MiB).\n"
    "  --mip M          source mip: index or resolution X,Y,Z (default 0)\n"
    "  --num-mips N     levels to make (default: as igneous, from the volume and chunk sizes);\n"
    "                   levels stop, with a warning, where an axis would reach 0 voxels\n"
    "  --factor X,Y,Z   per level (default 2,2,1)\n"
    "  --method M       auto (default: average for images, mode for segmentation), average,\n"
    "                   mode, min, max or striding\n"
    "  --sparse         ignore background (0) voxels when averaging or taking the mode\n"
    "  --encoding E     encoding of the new scales (default scale 0's)\n"
    "  --chunk-size C   chunk size of the new scales (default: add_scale's)\n"
    "  --sharded        shard every new scale as Igneous does images: identity hash,\n"
    "                   parameters chosen per scale from its size (create_sharded_image_info)\n"
    "                   for shards of about --shard-bytes decoded (default 3.5e9)\n"
    "  --sharding JSON  shard the new scales with this sharding object, or a JSON array of one\n"
    "                   object per new scale (e.g. murmurhash3_x86_128 for segmentation);\n"
    "                   minishard_bits at most 24 (a shard index of 16 << bits bytes)\n"
    "  --compress C     transport compression of written chunks (default as CloudVolume)\n"
    "  --level N        its level: gzip 0..12 (default 9, as CloudFiles), br 0..11\n"
    "                   (default 5)\n"
    "  --memory BYTES   memory per rank (K/M/G suffixes); default: the job's memory (Slurm,\n"
    "                   cgroup or physical) divided among the node's ranks\n"
    "  --fill-missing   absent source chunks read as 0\n"
    "  --threads N      chunks fetched/encoded in parallel per rank (default\n"
    "                   the cores the rank may use, at most 4; 4 on remote storage)\n"
    "  --schedule S     dynamic (default) or static task assignment\n"
    "  --journal DIR    where finished tasks and tree state are kept; default\n"
    "                   PATH/.cvmpi-journal/<job id> for a file:// PATH, else\n"
    "                   ~/.local/state/cvmpi/journal/<job id>; removed when the job succeeds\n"
    "  --keep-journal   keep the journal after a successful job\n"
    "  --resume         skip tasks and tree nodes a previous run of the same job finished;\n"
    "                   first remove the temporary files (.cvmpi-tmp-*) it left in the new scales\n"
    "  --fail-fast      stop every rank at the first failed task\n"
    "  --dry-run        print the plan (tasks, levels per task, levels made by the tree,\n"
    "                   bytes, expected peak memory per rank; per sharded level its sharding,\n"
    "                   shard files written, bytes per shard and memory per rank) and stop\n"
    "  --ranks N        with --dry-run: plan as if N ranks ran the job (per-rank figures)\n"
    "  --stall-warning S  name a rank that has been on one task for S seconds (default 300)\n";

int cmd_downsample(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mip", required_argument, NULL, 'm'},
        {"num-mips", required_argument, NULL, 'n'},
        {"factor", required_argument, NULL, 'f'},
        {"method", required_argument, NULL, 'x'},
        {"sparse", no_argument, NULL, 's'},
        {"encoding", required_argument, NULL, 'e'},
        {"chunk-size", required_argument, NULL, 'C'},
        {"compress", required_argument, NULL, 'c'},
        {"memory", required_argument, NULL, 'M'},
        {"fill-missing", no_argument, NULL, 'F'},
        {"threads", required_argument, NULL, 't'},
        {"schedule", required_argument, NULL, 'S'},
        {"journal", required_argument, NULL, 'j'},
        {"keep-journal", no_argument, NULL, 2001},
        {"resume", no_argument, NULL, 'r'},
        {"fail-fast", no_argument, NULL, 'X'},
        {"ranks", required_argument, NULL, 2100},
        {"dry-run", no_argument, NULL, 'D'},
        {"stall-warning", required_argument, NULL, 'W'},
        {"level", required_argument, NULL, 'l'},
        {"sharded", no_argument, NULL, 'H'},
        {"sharding", required_argument, NULL, 'J'},
        {"shard-bytes", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cv_downsample_params p;
    memset(&p, 0, sizeof p);
    p.factor[0] = p.factor[1] = 2;
    p.factor[2] = 1;
    p.method = -1;
    int64_t v64;
    int plan_ranks = 0;
    bool shard_bytes_given = false;
    for (int c; (c = cli_getopt(argc, argv, "h", opts)) != -1;) {
        switch (c) {
        case 'h':
            return cli_help(help);
        case 'm':
            p.mip_text = optarg;
            break;
        case 'n':
            if (!cli_parse_i64(optarg, &v64) || v64 < 1 || v64 > 32) {
                return cli_usage(argv[0], "bad --num-mips `%s' (1..32)", optarg);
            }
            p.num_mips = (int)v64;
            break;
        case 'f':
            if (!cli_opt_factor(argv[0], optarg, p.factor)) {
                return CLI_USAGE;
            }
            break;
        case 'x':
            p.method = strcmp(optarg, "auto") == 0 ? -1 : cv_downsample_method_from_name(optarg);
            if (p.method < 0 && strcmp(optarg, "auto") != 0) {
                return cli_usage(argv[0], "--method must be auto, average, mode, min, max or "
                                          "striding");
            }
            break;
        case 's':
            p.sparse = true;
            break;
        case 'e':
            p.encoding = optarg;
            break;
        case 'C':
            if (!cli_parse_i64x3(optarg, p.chunk_size) || p.chunk_size[0] < 1 ||
                p.chunk_size[1] < 1 || p.chunk_size[2] < 1) {
                return cli_usage(argv[0], "bad --chunk-size `%s': want X,Y,Z", optarg);
            }
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
        case 'F':
            p.fill_missing = true;
            break;
        case 't':
            if (!cli_opt_threads(argv[0], optarg, &p.threads)) {
                return CLI_USAGE;
            }
            break;
        case 'S':
            if (strcmp(optarg, "static") != 0 && strcmp(optarg, "dynamic") != 0) {
                return cli_usage(argv[0], "--schedule must be dynamic or static");
            }
            p.is_static = strcmp(optarg, "static") == 0;
            break;
        case 'j':
            p.journal_dir = optarg;
            break;
        case 2001:
            p.keep_journal = true;
            break;
        case 'r':
            p.resume = true;
            break;
        case 'X':
            p.fail_fast = true;
            break;
        case 'D':
            p.dry_run = true;
            break;
        case 'W':
            if (!cli_parse_double(optarg, &p.stall_seconds) || p.stall_seconds <= 0) {
                return cli_usage(argv[0], "bad --stall-warning `%s': want seconds", optarg);
            }
            break;
        case 'l':
            if (!cli_opt_level(argv[0], optarg, &p.level)) {
                return CLI_USAGE;
            }
            p.has_level = true;
            break;
        case 2100:
            if (!cli_opt_plan_ranks(argv[0], optarg, &plan_ranks)) {
                return CLI_USAGE;
            }
            break;
        case 'H':
            p.sharded = true;
            break;
        case 'J':
            p.sharding = optarg;
            break;
        case 'B':
            if (!cli_parse_bytes(optarg, &p.shard_bytes) || p.shard_bytes == 0) {
                return cli_usage(argv[0], "bad --shard-bytes `%s'", optarg);
            }
            shard_bytes_given = true;
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (!cli_check_plan_ranks(argv[0], plan_ranks, p.dry_run)) {
        return CLI_USAGE;
    }
    if (p.sharded && p.sharding) {
        return cli_usage(argv[0], "--sharded and --sharding exclude each other");
    }
    if (shard_bytes_given && !p.sharded) {
        return cli_usage(argv[0], "--shard-bytes needs --sharded");
    }
    if ((p.sharded || p.sharding) && p.compress && strcmp(p.compress, "gzip") != 0) {
        /* shard files are stored as they are; their chunks follow the data_encoding */
        return cli_usage(argv[0],
                         "--compress %s does not apply to sharded scales (their chunks are "
                         "compressed as the sharding's data_encoding says)",
                         *p.compress ? p.compress : "none");
    }
    if (!cli_check_level(argv[0], p.has_level, p.level, p.compress)) {
        return CLI_USAGE;
    }
    if (optind != argc - 1) {
        return cli_usage(argv[0], "want exactly one PATH");
    }
    p.path = argv[optind];
    p.threads = p.threads ? p.threads : cli_default_threads(p.path, NULL, 4);
    bool conflict = false;
    p.conflict = &conflict;
    cv_mpi_install_signal_handlers();
    if (cv_mpi_downsample(&p) != CV_OK) {
        return cli_fail_job(conflict); /* ranks agreed on the error; rank 0 prints it */
    }
    return CLI_OK;
}
