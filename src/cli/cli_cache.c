/* SPDX-License-Identifier: BSD-3-Clause
 * cli_cache.c: --cache[=DIR], --cache-max-age, --cache-info-age and --cache-bytes of the
 * commands that read layers (docs/cache.md): parsed once by cli_getopt, applied to the layers
 * the command reads (cli_cache_apply) and handed to the jobs (cv_source_cache.h). The
 * in-memory LRU (cv_opts.lru_bytes) is not among them: these commands read each chunk once
 * (jobs plan their tasks so); only `serve`, whose slice viewer reads the same chunks slice
 * after slice, takes --lru-bytes (cmd_serve.c). */
#include "cli/cli.h"
#include "mpi/cv_source_cache.h"

#include <string.h>

enum { OPT_CACHE = 0x5ed0, OPT_CACHE_MAX_AGE, OPT_CACHE_INFO_AGE, OPT_CACHE_BYTES };

static cv_opts cache_opts; /* only the cache fields are used */
static bool cache_tuned;   /* a --cache-* option was given */

bool cli_takes_cache_options(const char *cmd)
{
    static const char *const readers[] = {"read",   "export", "transfer",
                                          "verify", "mesh",   "skeleton"};
    for (size_t i = 0; cmd && i < sizeof readers / sizeof readers[0]; i++) {
        if (strcmp(cmd, readers[i]) == 0) {
            return true;
        }
    }
    return false;
}

size_t cli_cache_longopts(struct option *out, size_t room)
{
    const struct option opts[] = {
        {"cache", optional_argument, NULL, OPT_CACHE},
        {"cache-max-age", required_argument, NULL, OPT_CACHE_MAX_AGE},
        {"cache-info-age", required_argument, NULL, OPT_CACHE_INFO_AGE},
        {"cache-bytes", required_argument, NULL, OPT_CACHE_BYTES},
    };
    size_t n = sizeof opts / sizeof opts[0];
    if (n > room) {
        return 0;
    }
    memcpy(out, opts, sizeof opts);
    return n;
}

static bool seconds(const char *cmd, const char *flag, const char *arg, double *out)
{
    if (!cli_parse_double(arg, out) || !(*out >= 0) || *out > 1e12) {
        cli_usage(cmd, "bad %s `%s': want seconds (0 or more)", flag, arg);
        return false;
    }
    return true;
}

int cli_cache_option(int c, const char *cmd, const char *arg)
{
    size_t bytes = 0;
    switch (c) {
    case OPT_CACHE:
        if (arg && !*arg) {
            cli_usage(cmd, "--cache= needs a directory (or --cache alone for the default)");
            return '?';
        }
        cache_opts.cache = arg ? arg : "";
        return 1;
    case OPT_CACHE_MAX_AGE:
        cache_tuned = true;
        return seconds(cmd, "--cache-max-age", arg, &cache_opts.cache_max_age) ? 1 : '?';
    case OPT_CACHE_INFO_AGE:
        cache_tuned = true;
        return seconds(cmd, "--cache-info-age", arg, &cache_opts.cache_info_age) ? 1 : '?';
    case OPT_CACHE_BYTES:
        cache_tuned = true;
        if (!cli_parse_bytes(arg, &bytes) || bytes == 0) {
            cli_usage(cmd, "bad --cache-bytes `%s': want a size such as 10G", arg);
            return '?';
        }
        cache_opts.cache_bytes = bytes;
        return 1;
    default:
        return 0;
    }
}

bool cli_cache_finish(const char *cmd)
{
    if (cache_tuned && !cache_opts.cache) {
        cli_usage(cmd, "--cache-max-age, --cache-info-age and --cache-bytes need --cache");
        return false;
    }
    cv_mpi_set_source_cache(&cache_opts);
    return true;
}

void cli_cache_apply(cv_opts *o)
{
    o->cache = cache_opts.cache;
    o->cache_max_age = cache_opts.cache_max_age;
    o->cache_info_age = cache_opts.cache_info_age;
    o->cache_bytes = cache_opts.cache_bytes;
}

void cli_cache_help(const char *cmd)
{
    if (cmd && strcmp(cmd, "mesh") == 0) {
        fputs("  (the --cache options apply to get and ls, not to forge or merge-sharded)\n",
              stdout);
    }
    fputs("  --cache[=DIR]    keep what is read from gs://, s3:// and http(s):// in a local\n"
          "                   disk cache, laid out as CloudVolume's cache=True (DIR/PROTOCOL/\n"
          "                   BUCKET/PATH; default CLOUD_VOLUME_CACHE_DIR or\n"
          "                   ~/.cloudvolume/cache); file:// layers are never cached\n"
          "  --cache-max-age S  re-fetch cached objects older than S seconds (default: never)\n"
          "  --cache-info-age S  serve the info from the cache while younger than S seconds\n"
          "                   (default 0: fetched at every start)\n"
          "  --cache-bytes N  evict least recently used objects to keep the cache directory\n"
          "                   under N bytes (e.g. 10G; default: no limit)\n",
          stdout);
}
