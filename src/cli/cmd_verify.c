/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_verify.c: `cvmpi verify A B`, whether two layers hold the same voxels. */
#include "cli/cli.h"

#include "mpi/cv_verify.h"

#include <string.h>

static const char help[] =
    "usage: [srun|mpirun -n N] cvmpi verify A B [--mip M] [--bbox X0,Y0,Z0,X1,Y1,Z1]\n"
    "                                      [--fill-missing] [--threads N] [--memory BYTES]\n"
    "                                      [--dry-run [--ranks N]]\n\n"
    "Compare the decoded voxels of two layers (any encodings and chunk sizes) in parallel and\n"
    "report the first difference in each task. Exit 0 if identical, 1 otherwise.\n"
    "  --mip M            mip of A (index or resolution); B's scale of the same resolution\n"
    "  --bbox ...         only this box\n"
    "  --fill-missing     read absent chunks as background (zeros) on both sides; without it\n"
    "                     an absent chunk is a difference, reported as \"missing in A\" or\n"
    "                     \"missing in B\" with its key\n"
    "  --strict-missing   the default; kept for old scripts\n"
    "  --threads N        chunks fetched and decoded in parallel per rank (default\n"
    "                     the cores the rank may use, at most 4; 4 on remote storage)\n"
    "  --memory BYTES     memory per rank (K/M/G suffixes): tasks hold the box from both\n"
    "                     layers plus each thread's chunk buffers; a job that cannot fit is\n"
    "                     refused\n"
    "  --dry-run          print the plan (tasks, task shape, expected peak memory per rank and\n"
    "                     the budget) and read no chunk\n"
    "  --ranks N          with --dry-run: plan as if N ranks ran the job\n";

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mip", required_argument, NULL, 'm'},      {"bbox", required_argument, NULL, 'b'},
        {"strict-missing", no_argument, NULL, 's'}, {"fill-missing", no_argument, NULL, 'f'},
        {"threads", required_argument, NULL, 't'},  {"memory", required_argument, NULL, 'M'},
        {"ranks", required_argument, NULL, 2100},   {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    cv_verify_params p;
    memset(&p, 0, sizeof p);
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
        case 's':
            break; /* the default now */
        case 'n':
            p.dry_run = true;
            break;
        case 'f':
            p.fill_missing = true;
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
        return cli_usage(argv[0], "want two layers A and B");
    }
    p.a = argv[optind];
    p.b = argv[optind + 1];
    p.threads = p.threads ? p.threads : cli_default_threads(p.a, p.b, 4);
    if (cv_mpi_verify(&p) != CV_OK) {
        return cli_fail();
    }
    return CLI_OK;
}
