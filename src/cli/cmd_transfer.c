/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_transfer.c: `cvmpi transfer SRC DST`, the MPI job that copies and re-encodes a layer.
 * Runs the same under mpirun/srun (many ranks) and as a plain command (one rank). */
#include "cli/cli.h"

#include "mpi/cv_transfer.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char help[] =
    "usage: [srun|mpirun -n N] cvmpi transfer SRC DST [--mip M] [--bbox X0,Y0,Z0,X1,Y1,Z1]\n"
    "         [--encoding E] [--compress gzip|br|none] [--level N] [--chunk-size X,Y,Z]\n"
    "         [--fill-missing] [--delete-black] [--skip-existing] [--memory BYTES] [--threads N]\n"
    "         [--schedule dynamic|static] [--journal DIR [--keep-journal]] [--resume]\n"
    "         [--fail-fast] [--dry-run [--ranks N]] [--check]\n"
    "         [--sharded [--shard-bytes B] | --sharding JSON] [--report FILE.json]\n"
    "         [--stall-warning SECONDS] [--downsample N [--factor X,Y,Z]] [--decode]\n\n"
    "Copy SRC to DST: every scale of SRC, one after another (each through the copy or the\n"
    "re-encode path), or only --mip M's. DST's info is made from SRC's when DST has none and\n"
    "declares only the scales the job writes (plus --downsample's); an existing DST gains the\n"
    "scales it lacks. --encoding, --compress, --level, --chunk-size and --sharded/--sharding\n"
    "apply to every copied scale. An option that contradicts a scale DST already has (another\n"
    "encoding, chunk size or sharding) is refused before anything is written (exit 2).\n"
    "When both sides have the same encoding (and its parameters), chunk size and bounds, are\n"
    "unsharded and --delete-black is not given, chunks are copied as stored, never decoded, as\n"
    "CloudVolume's transfer_to does: NAME.gz stays NAME.gz; another --compress (or --level)\n"
    "only changes the transport compression. A missing source chunk fails its task (with\n"
    "--fill-missing it is written as background, as when decoding). Into shards that are boxes\n"
    "of chunks (--sharded), or hashed shards (--sharding), with otherwise the same chunks,\n"
    "raw and compressed_segmentation chunks go into the shard files as stored where that is\n"
    "what encoding them gives (the same bytes, not decoded); other chunks are decoded and\n"
    "encoded again.\n"
    "  --mip M          only this scale: mip index or resolution X,Y,Z (default: every scale;\n"
    "                   mip 0 with --bbox)\n"
    "  --bbox ...       only this box of the mip (expanded to whole destination chunks)\n"
    "  --encoding E     encoding of the scales DST does not have yet\n"
    "  --compress C     transport compression of written chunks (default as CloudVolume)\n"
    "  --level N        its level: gzip 0..12 (default 9, as CloudFiles), br 0..11\n"
    "                   (default 5); chunks are then recompressed even on the copy path\n"
    "  --chunk-size     chunk size of the scales DST does not have yet\n"
    "  --sharded        shard the new scales as CloudVolume does images (identity hash,\n"
    "                   shards are boxes of about --shard-bytes, default 3.5e9; parameters\n"
    "                   chosen per scale from its size); every shard file is written whole by\n"
    "                   one rank (on s3:// and gs://, when larger than CV_UPLOAD_PART_BYTES,\n"
    "                   8 MiB, in upload parts: a multipart or resumable upload)\n"
    "  --sharding JSON  shard the new scales with this sharding object, or a JSON array of one\n"
    "                   per scale written: the copied scales, then --downsample's levels;\n"
    "                   hashed shards with --bbox: each shard file with a chunk in the box is\n"
    "                   rewritten whole, keeping its existing chunks outside the box;\n"
    "                   minishard_bits at most 24 (a shard index of 16 << bits bytes)\n"
    "  --fill-missing   absent source chunks are read as zeros\n"
    "  --delete-black   delete destination chunks that are all zero instead of writing them\n"
    "  --skip-existing  skip tasks whose destination chunks all exist\n"
    "  --memory BYTES   memory per rank (K/M/G suffixes); default: the job's memory\n"
    "                   (Slurm, cgroup or physical) divided among the node's ranks\n"
    "  --threads N      chunks in flight per rank (default\n"
    "                   the cores the rank may use, at most 4; 4 on remote storage)\n"
    "  --schedule S     dynamic (default: ranks claim tasks from a shared counter) or static\n"
    "  --journal DIR    where finished tasks are recorded; default DST/.cvmpi-journal/<job id>\n"
    "                   for a file:// DST, else ~/.local/state/cvmpi/journal/<job id>; removed\n"
    "                   when the job succeeds; DIR/mip-M for each scale when several are copied\n"
    "  --keep-journal   keep the journal after a successful job\n"
    "  --resume         skip tasks a previous run of the same job finished (any rank count;\n"
    "                   exchange rounds keep the journal's rounds); first remove the\n"
    "                   temporary files (.cvmpi-tmp-*) it left in the region's objects\n"
    "  --fail-fast      stop every rank at the first failed task\n"
    "  --dry-run        print the plan (tasks, task shape, bytes, memory; sharded: shard\n"
    "                   files, bytes per shard, an owner's memory; or the exchange rounds,\n"
    "                   the ranks a rank trades with, messages and collectives per round,\n"
    "                   and each rank's bytes read, sent, received, written), then\n"
    "                   --downsample's (per sharded level: shard files written, bytes per\n"
    "                   shard, memory per rank), and stop\n"
    "  --ranks N        with --dry-run: plan as if N ranks ran the job (per-rank figures)\n"
    "  --report F.json  write per-rank numbers: tasks, bytes, chunks, I/O and codec seconds\n"
    "  --stall-warning S  name a rank that has been on one task for S seconds (default 300)\n"
    "  --downsample N   then make N mips above the (last) copied mip of DST in the same job, as\n"
    "                   `cvmpi downsample DST --num-mips N` (with --memory, --threads,\n"
    "                   --compress, --resume; its journal is DIR/downsample with --journal);\n"
    "                   with --sharded/--sharding the new levels are sharded too (they read\n"
    "                   the copied scale back from DST once); planned before anything is\n"
    "                   written: a pyramid that cannot be made is refused first\n"
    "  --factor X,Y,Z   downsampling factor per level (default 2,2,1)\n"
    "  --decode         decode and encode every chunk even where it could be copied as stored\n"
    "  --check          where chunks are copied as stored, also decode each one before writing\n"
    "                   it, so a corrupt source chunk fails its task naming its key (chunks\n"
    "                   that are re-encoded are always decoded)\n";

/* --downsample's plan before the copy writes anything: a `--sharding` array's first new level
 * follows the copied scales, counted by then (last_resolution is set too). */
static int *copied_scales;

static cv_status check_pyramid(const cv_info *planned, void *arg)
{
    cv_downsample_params *d = arg;
    d->sharding_first = *copied_scales;
    return cli_downsample_check(planned, d);
}

int cmd_transfer(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mip", required_argument, NULL, 'm'},
        {"bbox", required_argument, NULL, 'b'},
        {"encoding", required_argument, NULL, 'e'},
        {"compress", required_argument, NULL, 'c'},
        {"chunk-size", required_argument, NULL, 'C'},
        {"fill-missing", no_argument, NULL, 'f'},
        {"delete-black", no_argument, NULL, 'd'},
        {"skip-existing", no_argument, NULL, 's'},
        {"memory", required_argument, NULL, 'M'},
        {"threads", required_argument, NULL, 't'},
        {"schedule", required_argument, NULL, 'S'},
        {"journal", required_argument, NULL, 'j'},
        {"resume", no_argument, NULL, 'r'},
        {"fail-fast", no_argument, NULL, 'F'},
        {"ranks", required_argument, NULL, 2100},
        {"dry-run", no_argument, NULL, 'n'},
        {"sharded", no_argument, NULL, 'H'},
        {"sharding", required_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {"shard-bytes", required_argument, NULL, 'B'},
        {"report", required_argument, NULL, 'R'},
        {"stall-warning", required_argument, NULL, 'W'},
        {"downsample", required_argument, NULL, 2001},
        {"factor", required_argument, NULL, 2002},
        {"decode", no_argument, NULL, 2003},
        {"level", required_argument, NULL, 2004},
        {"keep-journal", no_argument, NULL, 2006},
        {"check", no_argument, NULL, 2005},
        {NULL, 0, NULL, 0},
    };
    cv_transfer_params p;
    memset(&p, 0, sizeof p);
    int64_t n_down = 0, factor[3] = {2, 2, 1};
    int plan_ranks = 0;
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
        case 'e':
            p.encoding = optarg;
            break;
        case 'c':
            if (!cli_parse_compress(optarg, &p.compress)) {
                return cli_usage(argv[0], "--compress must be gzip, br or none");
            }
            break;
        case 'C':
            if (!cli_parse_i64x3(optarg, p.chunk_size) || p.chunk_size[0] < 1 ||
                p.chunk_size[1] < 1 || p.chunk_size[2] < 1) {
                return cli_usage(argv[0], "bad --chunk-size `%s': want X,Y,Z", optarg);
            }
            break;
        case 'f':
            p.fill_missing = true;
            break;
        case 'd':
            p.delete_black = true;
            break;
        case 's':
            p.skip_existing = true;
            break;
        case 'M':
            if (!cli_opt_memory(argv[0], optarg, &p.memory)) {
                return CLI_USAGE;
            }
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
        case 'r':
            p.resume = true;
            break;
        case 'F':
            p.fail_fast = true;
            break;
        case 'n':
            p.dry_run = true;
            break;
        case 'R':
            p.report_path = optarg;
            break;
        case 'W':
            if (!cli_parse_double(optarg, &p.stall_seconds) || p.stall_seconds <= 0) {
                return cli_usage(argv[0], "bad --stall-warning `%s': want seconds", optarg);
            }
            break;
        case 2003:
            p.decode = true;
            break;
        case 2004:
            if (!cli_opt_level(argv[0], optarg, &p.level)) {
                return CLI_USAGE;
            }
            p.has_level = true;
            break;
        case 2006:
            p.keep_journal = true;
            break;
        case 2005:
            p.check = true;
            break;
        case 'H':
            p.sharded = true;
            break;
        case 'J':
            p.sharding = optarg;
            break;
        case 'B':
            if (!cli_parse_bytes(optarg, &p.shard_bytes)) {
                return cli_usage(argv[0], "bad --shard-bytes `%s'", optarg);
            }
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
        case 2100:
            if (!cli_opt_plan_ranks(argv[0], optarg, &plan_ranks)) {
                return CLI_USAGE;
            }
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (!cli_check_plan_ranks(argv[0], plan_ranks, p.dry_run)) {
        return CLI_USAGE;
    }
    if (optind != argc - 2) {
        return cli_usage(argv[0], "want SRC and DST");
    }
    if (!cli_check_level(argv[0], p.has_level, p.level, p.compress)) {
        return CLI_USAGE;
    }
    p.src = argv[optind];
    p.dst = argv[optind + 1];
    p.threads = p.threads ? p.threads : cli_default_threads(p.src, p.dst, 4);
    bool conflict = false;
    char last[128] = "";
    int copied = 0;
    p.sharding_after = (int)n_down;
    p.scales_copied = &copied;
    copied_scales = &copied;
    p.conflict = &conflict;
    p.last_resolution = last;
    p.last_resolution_cap = sizeof last;
    /* The levels --downsample makes on DST after the copy, in the same job. */
    cv_downsample_params d;
    memset(&d, 0, sizeof d);
    d.path = p.dst;
    d.mip_text = last; /* the destination's index of a scale may differ from the source's */
    d.num_mips = (int)n_down;
    memcpy(d.factor, factor, sizeof d.factor);
    d.compress = p.compress;
    d.has_level = p.has_level;
    d.level = p.level;
    d.memory = p.memory;
    d.threads = p.threads;
    d.resume = p.resume;
    d.keep_journal = p.keep_journal;
    d.fail_fast = p.fail_fast;
    d.is_static = p.is_static;
    d.stall_seconds = p.stall_seconds;
    d.sharded = p.sharded; /* the new levels are sharded as the copied scales */
    d.sharding = p.sharding;
    d.shard_bytes = p.shard_bytes;
    d.dry_run = p.dry_run;
    cv_info *planned = NULL;
    if (n_down > 0) {
        /* the pyramid is planned on DST as the copy will leave it before anything is written
         * (and printed after the copy's plan with --dry-run) */
        p.planned_info = &planned;
        p.before_write = check_pyramid;
        p.before_write_arg = &d;
    }
    cv_mpi_install_signal_handlers();
    cv_status rc = cv_mpi_transfer(&p);
    if (rc == CV_OK && n_down > 0) {
        d.sharding_first = copied;
        d.plan_info = planned;
        if (p.dry_run && cv_mpi_rank() == 0) {
            printf("transfer: then --downsample %" PRId64 " of %s in the same job\n", n_down,
                   p.dst);
        }
        rc = cli_downsample_after(&d, p.journal_dir);
    }
    cv_info_free(planned);
    if (rc != CV_OK) {
        return cli_fail_job(conflict); /* ranks agreed on the error; rank 0 prints it */
    }
    return CLI_OK;
}
