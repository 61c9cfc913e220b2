/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_cp.c: `cvmpi cp`, copy one object from any store to any store, as CloudFiles' `cp`:
 * the stored bytes travel with their compression (a .gz file becomes an object with
 * Content-Encoding gzip and back) unless --compress asks for another; `-` is standard input
 * or output. With -r, every object under a prefix, on threads and across MPI ranks
 * (mpi_dcp.c). */
#include "cli/cli.h"
#include "cli/cli_objects.h"

#include "io/store.h"
#include "mpi/cv_dcp.h"
#include "mpi/cv_mpi.h"

#include <string.h>

static const char help[] =
    "usage: cvmpi cp SRC DST [--compress same|none|gzip|br] [--level N]\n"
    "       cvmpi cp -r SRC DST [--threads N] [--resume] [--compress C] [--level N]\n\n"
    "Copy one object between any two stores (file://, plain paths, gs://, s3://, mem://; http(s)\n"
    "as a source). A DST ending in `/', or an existing local directory, receives the object\n"
    "under SRC's name. The object keeps its compression: a gzip object copied to file:// is\n"
    "stored as NAME.gz, and a file:// SRC .../NAME (found as NAME.gz, as a layer's chunks are)\n"
    "is uploaded with Content-Encoding gzip. The object is held in memory while it is copied.\n"
    "SRC `-' reads standard input; DST `-' writes the object, decompressed, to standard output;\n"
    "a DST that is a device or FIFO (/dev/null, a named pipe) gets it the same way, in place.\n"
    "With -r, SRC and DST are directories or prefixes: every object under SRC/ is copied to\n"
    "DST/ under the same relative name (as `cp -r SRC/. DST'), N at a time; under mpirun the\n"
    "objects are shared out among the ranks, each copied once. Rank 0 lists SRC once and\n"
    "prints `copied N objects (B bytes), K already present' at the end. A listed name with an\n"
    "empty, `.' or `..' part stops the copy before anything is copied; so does an empty SRC.\n"
    "An http(s) SRC directory is listed from its index pages (as `cvmpi ls').\n"
    "  --compress C  same (default): as stored; none: decompress; gzip|br: recompress if needed\n"
    "  --level N     compression level for gzip (1-12) or br (0-11)\n"
    "  -r, --recursive  copy every object under SRC\n"
    "  --threads N   -r: copies in flight per process (default: local,\n"
    "                the cores this process may use, at most 4; remote, 16)\n"
    "  --resume      -r: skip the objects DST already has with the size they have in SRC (a\n"
    "                copy killed part way is finished without copying anything twice)\n";

/* info files and *.json are JSON, as CloudVolume uploads them; anything else is bytes. */
static const char *content_type(const char *name)
{
    if (strcmp(name, "info") == 0 || strcmp(name, "provenance") == 0 ||
        cv__str_ends_with(name, ".json")) {
        return "application/json";
    }
    return "application/octet-stream";
}

/* Open the store that holds object `path` and name its key. With `into_dir`, a path ending in
 * '/' or naming a local directory gets `default_name` inside it. */
static cv_status open_object(const char *path, const char *default_name, cv_store **s, char **key)
{
    size_t n = strlen(path);
    char *dir = NULL, *name = NULL;
    if (default_name && ((n > 0 && path[n - 1] == '/') || cli_is_local_dir(path))) {
        dir = cv__strdup(path);
        name = cv__strdup(default_name);
        if (!dir || !name) {
            cv_free(dir);
            cv_free(name);
            return CV_FAIL(CV_ERR_NOMEM, "cp");
        }
    } else if (!default_name && ((n > 0 && path[n - 1] == '/') || cli_is_local_dir(path))) {
        return CV_FAIL(CV_ERR_ARG, "`%s' is a directory, not an object", path);
    } else {
        CV_TRY(cv__cloudpath_split(path, &dir, &name));
    }
    cv_status rc = cv_store_open(dir, s);
    cv_free(dir);
    if (rc != CV_OK) {
        cv_free(name);
        return rc;
    }
    *key = name;
    return CV_OK;
}

static cv_status copy_stdin(const char *dst, const char *compress, int level)
{
    uint8_t *data = NULL;
    size_t len = 0;
    CV_TRY(cli_read_input("-", &data, &len));
    cv_store *s = NULL;
    char *key = NULL;
    cv_status rc = open_object(dst, NULL, &s, &key);
    if (rc == CV_OK) {
        rc = cv_store_put(s, key, data, len, compress, level, content_type(key));
    }
    cv_free(key);
    cv_store_close(s);
    cv_free(data);
    return rc;
}

/* To standard output or a device/FIFO: the object's bytes, decompressed, written in place. */
static cv_status copy_to_stream(const char *src, const char *dst)
{
    cv_store *s = NULL;
    char *key = NULL;
    CV_TRY(open_object(src, NULL, &s, &key));
    uint8_t *data = NULL;
    size_t len = 0;
    cv_status rc = cv_store_get(s, key, 0, &data, &len);
    if (rc == CV_OK) {
        const void *parts[1] = {data};
        rc = cli_write_output(dst, parts, &len, 1);
    }
    cv_free(data);
    cv_free(key);
    cv_store_close(s);
    return rc;
}

/* cp -r: the prefix SRC/ to DST/ (trailing slashes make no difference). */
static int copy_tree(const char *src, const char *dst, const char *compress, int level, int threads,
                     bool resume)
{
    if (strcmp(src, "-") == 0 || strcmp(dst, "-") == 0) {
        return cli_usage("cp", "-r copies between stores, not standard input or output");
    }
    cv_dcp_opts o = {.src = src,
                     .dst = dst,
                     .compress = compress,
                     .level = level,
                     .threads = threads ? threads : cli_default_threads(src, dst, 16),
                     .resume = resume,
                     .content_type = content_type};
    cv_dcp_result r;
    if (cv_dcp_run(&o, &r) != CV_OK) {
        return cli_fail();
    }
    if (cv_mpi_rank() == 0) {
        printf("copied %llu object%s (%llu bytes), %llu already present\n",
               (unsigned long long)r.copied, r.copied == 1 ? "" : "s", (unsigned long long)r.bytes,
               (unsigned long long)r.skipped);
    }
    return CLI_OK;
}

int cmd_cp(int argc, char **argv)
{
    static const struct option opts[] = {{"compress", required_argument, NULL, 'c'},
                                         {"level", required_argument, NULL, 'l'},
                                         {"recursive", no_argument, NULL, 'r'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"resume", no_argument, NULL, 'R'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *compress = NULL; /* same */
    int level = -1, threads = 0;
    bool is_recursive = false, resume = false;
    for (int c; (c = cli_getopt(argc, argv, "hr", opts)) != -1;) {
        int64_t v;
        switch (c) {
        case 'h':
            return cli_help(help);
        case 'r':
            is_recursive = true;
            break;
        case 't':
            if (!cli_opt_threads(argv[0], optarg, &threads)) {
                return CLI_USAGE;
            }
            break;
        case 'R':
            resume = true;
            break;
        case 'c':
            if (strcmp(optarg, "same") == 0) {
                compress = NULL;
            } else if (!cli_parse_compress(optarg, &compress)) {
                return cli_usage(argv[0], "bad --compress `%s': want same, none, gzip or br",
                                 optarg);
            }
            break;
        case 'l':
            if (!cli_parse_i64(optarg, &v) || v < 0 || v > 12) {
                return cli_usage(argv[0], "bad --level `%s' (0..12)", optarg);
            }
            level = (int)v;
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind != argc - 2) {
        return cli_usage(argv[0], "want SRC and DST");
    }
    const char *src = argv[optind], *dst = argv[optind + 1];
    if (is_recursive) {
        return copy_tree(src, dst, compress, level, threads, resume);
    }
    if (threads || resume) {
        return cli_usage(argv[0], "--%s goes with -r", threads ? "threads" : "resume");
    }
    if (strcmp(src, "-") == 0 && strcmp(dst, "-") == 0) {
        return cli_usage(argv[0], "SRC and DST cannot both be `-'");
    }
    if (cv_mpi_rank() != 0) {
        return CLI_OK; /* one object: rank 0 copies it */
    }
    cv_status rc;
    if (strcmp(src, "-") == 0) {
        rc = copy_stdin(dst, compress ? compress : "", level);
    } else if (strcmp(dst, "-") == 0 || cli_is_stream_path(dst)) {
        rc = copy_to_stream(src, dst);
    } else {
        cv_store *from = NULL, *to = NULL;
        char *from_key = NULL, *to_key = NULL;
        rc = open_object(src, NULL, &from, &from_key);
        if (rc == CV_OK) {
            rc = open_object(dst, from_key, &to, &to_key);
        }
        if (rc == CV_OK) {
            rc = cv__store_copy(from, from_key, to, to_key, compress, level, content_type(to_key));
        }
        cv_free(from_key);
        cv_free(to_key);
        cv_store_close(from);
        cv_store_close(to);
    }
    return rc == CV_OK ? CLI_OK : cli_fail();
}
