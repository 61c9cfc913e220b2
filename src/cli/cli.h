/* SPDX-License-Identifier: BSD-3-Clause
 * cli.h: what the cvmpi subcommands share: the command table entry, exit codes, option
 * parsing helpers, and the error/usage printers. Subcommands parse options and call the
 * library or the MPI driver, nothing more. */
#ifndef CV_CLI_H
#define CV_CLI_H

#include "base/cv_internal.h"
#include "mpi/cv_downsample_job.h"

#include <getopt.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

typedef struct cli_cmd {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    const char *summary;
    bool uses_mpi;
} cli_cmd;

int cmd_create(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_write(int argc, char **argv);
int cmd_exists(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_transfer(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_shard(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_downsample(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_du(int argc, char **argv);
int cmd_head(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_mesh(int argc, char **argv);
int cmd_skeleton(int argc, char **argv);
int cmd_cache(int argc, char **argv);

/* The command table entry named `name`, or NULL. */
const cli_cmd *cli_find_command(const char *name);

/* Print "cvmpi: <last error>" and return CLI_FAIL. */
int cli_fail(void);
/* Print "cvmpi CMD: <message>" and a pointer to --help; return CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) CV_PRINTF(2, 3);
/* Run getopt_long over argv; on an unknown option or missing argument print usage.
 * Returns the option char, -1 at the end, or '?' after printing the problem. */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);
/* The candidate closest to `word` by edit distance (a swap of two neighbours counts one), or
 * NULL when none is close enough to be a typo of it. */
const char *cli_closest(const char *word, const char *const *candidates, size_t n);
/* `read`/`write`: a progress bar over the chunks of the box, on a terminal or with --progress
 * (none with --no-progress), until cli_box_progress_end. Other commands: nothing. */
void cli_box_progress_start(const char *what);
void cli_box_progress_end(void);
/* A box read in parts: the next part's chunks follow `before` of the box's `total`, so the bar
 * counts the whole box (total 0: each part is the whole). */
void cli_box_progress_part(size_t before, size_t total);
/* Whether `name` (read, write) draws the box progress bar. */
bool cli_shows_box_progress(const char *name);
/* A job command's name and what to do after it is aborted, for the collective deadline's
 * message; `from_file`: the job came from `cvmpi run`. */
void cli_name_job(const char *cmd, const struct option *longopts, bool from_file);
/* The command main() runs (for cli_help's shared lines). */
void cli_set_command(const char *name);
/* Leading `help` text for every command, printed by --help. */
int cli_help(const char *text);

bool cli_parse_i64(const char *s, int64_t *out);
bool cli_parse_double(const char *s, double *out);
bool cli_parse_i64x3(const char *s, int64_t out[3]);
/* Decimal segment ids "ID,ID,..." into *ids (free with cv_free, also on failure). */
bool cli_parse_ids(const char *text, uint64_t **ids, size_t *n);
/* "2G", "512M", "64K", "1000000" (binary multiples; an optional trailing B). */
bool cli_parse_bytes(const char *s, size_t *out);
/* "4,4,40" or "4.5,4.5,40": *has_point tells whether any component had a decimal point. */
bool cli_parse_f64x3(const char *s, double out[3], bool *has_point);
/* Option values every job command takes: each checks `arg`, stores it, or prints the usage
 * message and returns false (the caller then exits with CLI_USAGE). */
bool cli_opt_bbox(const char *cmd, const char *arg, const char **out);
bool cli_opt_memory(const char *cmd, const char *arg, size_t *out);
bool cli_opt_threads(const char *cmd, const char *arg, int *out);
/* Threads per process when --threads is not given, for work on `src` and `dst` (either may be
 * NULL): `remote` when either is remote storage (an object store or a web server: requests in
 * flight hide its latency), else the cores this process may run on (those the launcher bound
 * it to, else the node's online cores shared among the node's ranks), at most 4. */
int cli_default_threads(const char *src, const char *dst, int remote);
/* --ranks N (1..10^7) of a --dry-run: plan as if N ranks ran the job. */
bool cli_opt_plan_ranks(const char *cmd, const char *arg, int *out);
/* Usage error unless --ranks comes with --dry-run; then plans are made for that many ranks. */
bool cli_check_plan_ranks(const char *cmd, int ranks, bool dry_run);
/* --factor X,Y,Z of a downsampling level: every component >= 1, not 1,1,1. */
bool cli_opt_factor(const char *cmd, const char *arg, int64_t out[3]);
/* --downsample N of a job: the levels of the pyramid made on its destination afterwards. */
bool cli_opt_pyramid_levels(const char *cmd, const char *arg, int64_t *out);

/* The pyramid a job (transfer, import) makes on its destination after --downsample: runs `d`
 * (the caller fills path, levels, factor and the options it shares with the job) with the
 * method chosen by layer type, journaled under JOURNAL_DIR/downsample when the job has a
 * journal directory. */
cv_status cli_downsample_after(cv_downsample_params *d, const char *job_journal_dir);
/* The same pyramid planned on `planned`, the destination's info as the job will leave it,
 * before the job writes anything: printing nothing, it fails as the pyramid's plan would
 * (e.g. a shard that does not fit --memory). `arg` is the cv_downsample_params. */
cv_status cli_downsample_check(const cv_info *planned, void *arg);
/* --compress: gzip|br|none; NULL means CloudVolume's default. */
bool cli_parse_compress(const char *s, const char **out);

/* Write a file atomically (temporary name, then rename); "-" is stdout, and a device or FIFO
 * (cli_is_stream_path) is opened and written in place. `parts` buffers are
 * written one after another. Nothing is left behind on failure. */
cv_status cli_write_output(const char *path, const void *const *parts, const size_t *lens,
                           int n_parts);
/* Read a whole file ("-" = stdin). Free with cv_free. */
cv_status cli_read_input(const char *path, uint8_t **data, size_t *len);
/* Read a whole file ("-" = stdin) of at most `max` bytes into one buffer allocated once (a
 * regular file is sized with fstat; a pipe is read up to max + 1 bytes). A longer input is
 * CV_ERR_ARG: "`F' has more than the MAX <why>". Free with cv_free. */
cv_status cli_read_input_max(const char *path, size_t max, const char *why, uint8_t **data,
                             size_t *len);
/* Whether `path` is an existing device, FIFO or socket (or lies under /dev or /proc):
 * outputs there are written in place, not replaced by a renamed temporary file. */
bool cli_is_stream_path(const char *path);
/* A regular file written in pieces at any offsets, replaced atomically as by
 * cli_write_output: created under a temporary name, renamed over `path` by
 * cli_output_commit, removed by cli_output_abort (each ends it). */
typedef struct cli_output {
    int fd;
    char *tmp;
    const char *path;
} cli_output;
cv_status cli_output_open(const char *path, cli_output *o);
cv_status cli_output_pwrite(cli_output *o, const void *data, size_t n, uint64_t off);
cv_status cli_output_commit(cli_output *o);
void cli_output_abort(cli_output *o);

/* The file format of a `read -o` / `write -i` array. */
typedef enum cli_array_format {
    CLI_FMT_RAW,
    CLI_FMT_NPY,
    CLI_FMT_H5,
    CLI_FMT_TIFF
} cli_array_format;
/* The dataset of FILE.h5 named without :/DATASET. */
#define CLI_H5_DEFAULT_DATASET "/main"
/* The format of `path` from --format (raw, npy, h5, tiff; NULL: by name): .npy; .h5/.hdf5/.hdf/
 * .he5 with or without :/DATASET (*h5_spec gets FILE:/DATASET, free with cv_free); .raw, .bin,
 * `-' or a device/FIFO are raw; .tif/.tiff are TIFF for output (input: refused). Anything else
 * prints a usage error naming --format raw. Returns CLI_OK, CLI_USAGE or CLI_FAIL. */
int cli_array_format_of(const char *cmd, const char *path, const char *format, bool is_input,
                        cli_array_format *fmt, char **h5_spec);
/* The largest .npy header cv_npy_parse_header accepts: magic, version, length, dict. */
#define CLI_NPY_HEADER_MAX (12 + (1 << 20))
/* Check a `write -i` .npy header (parsed from the first `plen` of the file's `flen` bytes)
 * against the layer's dtype and channels and the box in axis order `zyx` or not; *out gets it. */
cv_status cli_npy_check(const char *input, const uint8_t *file, size_t plen, size_t flen,
                        const cv_info *info, cv_bbox box, bool zyx, size_t nbytes, cv_npy *out);
/* Whether the .npy data already is x fastest, channel slowest: (X,Y,Z,C) in Fortran order, or
 * (Z,Y,X) in C order with one channel. */
bool cli_npy_is_xfast(const cv_npy *h, bool zyx, int64_t channels);

/* Options every volume command shares: the volume options, --mip and --bbox. */
typedef struct cli_volume_args {
    cv_opts opts;
    const char *mip_text;  /* NULL: mip 0 */
    const char *bbox_text; /* NULL: the whole volume */
} cli_volume_args;

#define CLI_VOLUME_OPTIONS                                                                         \
    {"mip", required_argument, NULL, 1001}, {"bbox", required_argument, NULL, 1002},               \
        {"fill-missing", no_argument, NULL, 1003}, {"threads", required_argument, NULL, 1004},     \
        {"autocrop", no_argument, NULL, 1005}, {"unbounded", no_argument, NULL, 1006},             \
    {                                                                                              \
        "background", required_argument, NULL, 1007                                                \
    }

#define CLI_VOLUME_HELP                                                                            \
    "  --mip M          mip index, or a resolution X,Y,Z (default 0)\n"                            \
    "  --bbox X0,Y0,Z0,X1,Y1,Z1   half-open box in voxels of that mip, voxel_offset included\n"    \
    "  --fill-missing   absent chunks read as the background value instead of failing\n"           \
    "  --background V   background value (default 0)\n"                                            \
    "  --autocrop       clip the box to the volume; --unbounded allows boxes outside it\n"         \
    "  --threads N      chunks fetched/encoded in parallel (default: local, the cores this\n"      \
    "                   process may use, at most 4; remote, 16)\n"

/* --level N of a command that writes chunks: the transport compression level, 0..12. */
bool cli_opt_level(const char *cmd, const char *arg, int *out);
/* Once every option is read: --level with --compress none, or above br's 11, is a usage error
 * (printed). `compress` as cli_parse_compress gives it, NULL when not given. */
bool cli_check_level(const char *cmd, bool has_level, int level, const char *compress);
/* The exit status of a failed job (rank 0 prints its error): 2 when an option conflicted with
 * the destination, else 1. */
int cli_fail_job(bool conflict);

void cli_volume_args_init(cli_volume_args *a);
/* Handle one of CLI_VOLUME_OPTIONS. Returns 1 if handled, 0 if not ours, -1 on a bad value
 * (usage already printed). */
int cli_volume_option(int c, const char *cmd, cli_volume_args *a);
/* The disk cache and LRU options of the commands that read layers (cli_cache.c): whether
 * `cmd` takes them; add them to a getopt table (returns how many); handle one (1 taken, '?'
 * usage error printed, 0 not one); check them once parsed (false: usage printed) and hand
 * them to the jobs; set them in `o`; print their --help lines. */
bool cli_takes_cache_options(const char *cmd);
size_t cli_cache_longopts(struct option *out, size_t room);
int cli_cache_option(int c, const char *cmd, const char *arg);
bool cli_cache_finish(const char *cmd);
void cli_cache_apply(cv_opts *o);
void cli_cache_help(const char *cmd);

/* Open the layer at `path` with a->opts (and the --cache options) and resolve --mip and --bbox
 * (whole volume if none). */
cv_status cli_open_volume(const char *path, const cli_volume_args *a, cv_volume **v, int *mip,
                          cv_bbox *box);

#endif
