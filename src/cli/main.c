/* SPDX-License-Identifier: BSD-3-Clause
 * main.c: the only main(): global flags, the subcommand table, MPI start-up for the commands
 * that run across ranks, and exit codes (0 ok, 1 failure, 2 usage). */
#include "cli/cli.h"
#include "mpi/cv_mpi.h"
#include "mpi/cv_report.h"

#include <string.h>

static const cli_cmd commands[] = {
    {"create", cmd_create, "create a new layer (write its info)", false},
    {"info", cmd_info, "show a layer's info", false},
    {"read", cmd_read, "read a box into a .npy, HDF5 or raw file", false},
    {"write", cmd_write, "write a .npy, HDF5 or raw file into a box", false},
    {"exists", cmd_exists, "count the chunks of a box that exist", false},
    {"delete", cmd_delete, "delete the chunks of a chunk-aligned box", false},
    {"ls", cmd_ls, "list the objects under a cloud path (any store)", false},
    {"cp", cmd_cp, "copy an object, or with -r a prefix (across MPI ranks)", true},
    {"rm", cmd_rm, "delete objects, or with -r every object under a prefix", false},
    {"du", cmd_du, "the stored sizes of objects (any store)", false},
    {"head", cmd_head, "the metadata of objects as JSON (any store)", false},
    {"shard", cmd_shard, "list the shard files of a scale, or get one entry", false},
    {"mesh", cmd_mesh, "get/put/list segment meshes (.ply/.obj), forge them", false},
    {"skeleton", cmd_skeleton, "get/put/list segment skeletons (.swc/.bin)", false},
    {"cache", cmd_cache, "list, measure or clear the local disk cache of --cache", false},
    {"downsample", cmd_downsample, "make lower-resolution mips of a layer across MPI ranks", true},
    {"transfer", cmd_transfer, "copy/re-encode a layer across MPI ranks", true},
    {"verify", cmd_verify, "compare the voxels of two layers across MPI ranks", true},
    {"import", cmd_import, "HDF5, TIFF, zarr or N5 into a new layer across MPI ranks", true},
    {"export", cmd_export, "a layer into HDF5, TIFF or zarr across MPI ranks", true},
    {"serve", cmd_serve, "serve a local layer over HTTP for Neuroglancer (and /view)", false},
    {"run", cmd_run, "run a job described in a JSON file (jobs/*.json)", true},
};

const cli_cmd *cli_find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

static int usage(FILE *out)
{
    fprintf(out, "usage: cvmpi [-v|-q] COMMAND [OPTIONS] PATH ...\n\n"
                 "Read and write Neuroglancer Precomputed volumes (as CloudVolume does).\n"
                 "PATH is a cloud path: file:///abs/dir, a plain directory, gs://b/p, s3://b/p,\n"
                 "s3://https://host:port/b/p, http(s)://host/p (read-only), mem://b/p or\n"
                 "boss://COLLECTION/EXPERIMENT/CHANNEL (BossDB, read-only).\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\nRun 'cvmpi COMMAND --help' for a command's options.\n"
                 "Global: -v/--verbose, -q/--quiet (or CV_LOG=error|warn|info|debug), "
                 "--version, --help.\n");
    return out == stdout ? CLI_OK : CLI_USAGE;
}

int main(int argc, char **argv)
{
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        const char *a = argv[first];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            return usage(stdout);
        }
        if (strcmp(a, "--version") == 0) {
            printf("cvmpi %s\n", cv_version());
            return CLI_OK;
        }
        if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            cv__log_set_level(CV_LOG_INFO);
        } else if (strcmp(a, "-vv") == 0) {
            cv__log_set_level(CV_LOG_DEBUG);
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            cv__log_set_level(CV_LOG_ERROR);
        } else {
            static const char *const globals[] = {"--help", "--version", "--verbose", "--quiet"};
            const char *guess = cli_closest(a, globals, sizeof globals / sizeof globals[0]);
            if (!guess && cli_find_command(a + strspn(a, "-"))) {
                guess = a + strspn(a, "-");
            }
            fprintf(stderr, "cvmpi: unknown option `%s'%s%s%s\n", a,
                    guess ? "; did you mean `" : "", guess ? guess : "", guess ? "'?" : "");
            return usage(stderr);
        }
    }
    if (first >= argc) {
        return usage(stderr);
    }
    const cli_cmd *cmd = cli_find_command(argv[first]);
    if (!cmd) {
        const char *names[sizeof commands / sizeof commands[0]];
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
            names[i] = commands[i].name;
        }
        const char *guess = cli_closest(argv[first], names, sizeof names / sizeof names[0]);
        fprintf(stderr, "cvmpi: unknown command `%s'%s%s%s\n", argv[first],
                guess ? "; did you mean `" : "", guess ? guess : "", guess ? "'?" : "");
        return usage(stderr);
    }
    if (cmd->uses_mpi && cv_mpi_init(&argc, &argv) != CV_OK) {
        return cli_fail();
    }
    cv_err_clear();
    cli_set_command(cmd->name);
    cv_report_begin(argc, argv);
    cli_box_progress_start(cmd->name);
    int rc = cmd->run(argc - first, argv + first);
    cli_box_progress_end();
    if (rc != CLI_USAGE && cv_report_path()) {
        cv_status job = rc == CLI_OK ? CV_OK : CV_ERR_IO;
        if (cv_report_finish(job) != CV_OK) {
            rc = cli_fail();
        }
    }
    cv_report_end();
    cv_mpi_finalize();
    return rc;
}
