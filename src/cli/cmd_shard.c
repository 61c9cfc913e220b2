/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_shard.c: `cvmpi shard ls|get`, looking inside the shard files of a sharded scale:
 * which shards exist and how many chunks each holds, and the bytes stored under one key. */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: cvmpi shard ls  LAYER[/SCALE] [--mip M]\n"
    "       cvmpi shard get LAYER[/SCALE] KEY [--mip M] -o FILE\n\n"
    "ls lists the shard files of a sharded scale with their number of entries and bytes;\n"
    "get writes the (decoded) value stored under uint64 KEY (a volume chunk's compressed Morton\n"
    "code, or a segment id for meshes/skeletons) to FILE (`-' for stdout).\n"
    "LAYER/SCALE names the scale by its key (e.g. file:///data/img/8_8_40); else --mip.\n";

/* Open LAYER, or LAYER/SCALE where SCALE is a scale's key. */
static cv_status open_scale(const char *path, const char *mip_text, cv_volume **v, int *mip)
{
    cv_status rc = cv_volume_open(path, NULL, v);
    if (rc == CV_OK) {
        *mip = 0;
        return mip_text ? cv_info_select_mip(cv_volume_info(*v), mip_text, mip) : CV_OK;
    }
    const char *slash = strrchr(path, '/');
    if (rc != CV_ERR_NOTFOUND || !slash || !slash[1]) {
        return rc;
    }
    char *parent = cv__strndup(path, (size_t)(slash - path));
    cv_err saved = *cv_err_last();
    cv_err_clear();
    rc = parent ? cv_volume_open(parent, NULL, v) : CV_FAIL(CV_ERR_NOMEM, "shard");
    cv_free(parent);
    if (rc != CV_OK) {
        cv__err_set(&saved);
        return CV_ERR_NOTFOUND;
    }
    const cv_info *info = cv_volume_info(*v);
    for (int i = 0; i < info->n_scales; i++) {
        if (strcmp(info->scales[i].key, slash + 1) == 0) {
            *mip = i;
            return CV_OK;
        }
    }
    cv_volume_close(*v);
    return CV_FAIL(CV_ERR_ARG, "%s: no scale with key \"%s\"", path, slash + 1);
}

typedef struct ls_state {
    cv_store *store;
    const char *key;
    cv_shard_spec spec;
    uint64_t shards, entries, bytes;
} ls_state;

static cv_status count_entry(uint64_t key, const uint8_t *data, size_t n, void *arg)
{
    (void)key;
    (void)data;
    ls_state *s = arg;
    s->entries++;
    s->bytes += n;
    return CV_OK;
}

static cv_status list_one(const char *name, void *arg)
{
    ls_state *s = arg;
    if (!cv__str_ends_with(name, ".shard")) {
        return CV_OK;
    }
    uint8_t *data;
    size_t len;
    CV_TRY(cv_store_get(s->store, name, 0, &data, &len));
    uint64_t before = s->entries, bytes_before = s->bytes;
    cv_status rc = cv_shard_decode(&s->spec, data, len, name, (size_t)1 << 32, count_entry, s);
    cv_free(data);
    CV_TRY(rc);
    s->shards++;
    printf("%-24s %10" PRIu64 " entries %14zu bytes (%" PRIu64 " decoded)\n",
           name + strlen(s->key) + 1, s->entries - before, len, s->bytes - bytes_before);
    return CV_OK;
}

int cmd_shard(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mip", required_argument, NULL, 'm'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *mip_text = NULL, *output = NULL;
    for (int c; (c = cli_getopt(argc, argv, "ho:", opts)) != -1;) {
        switch (c) {
        case 'h':
            return cli_help(help);
        case 'm':
            mip_text = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        default:
            return CLI_USAGE;
        }
    }
    int nargs = argc - optind;
    const char *verb = nargs > 0 ? argv[optind] : "";
    bool is_ls = strcmp(verb, "ls") == 0, is_get = strcmp(verb, "get") == 0;
    if (!(is_ls && nargs == 2) && !(is_get && nargs == 3)) {
        return cli_usage(argv[0], "want `ls LAYER' or `get LAYER KEY'");
    }
    uint64_t key = 0;
    if (is_get) {
        char *end;
        key = strtoull(argv[optind + 2], &end, 0);
        if (!*argv[optind + 2] || *end) {
            return cli_usage(argv[0], "bad KEY `%s': want an unsigned integer", argv[optind + 2]);
        }
        if (!output) {
            return cli_usage(argv[0], "get needs -o FILE (`-' for stdout)");
        }
    }
    cv_volume *v;
    int mip;
    if (open_scale(argv[optind + 1], mip_text, &v, &mip) != CV_OK) {
        return cli_fail();
    }
    const cv_scale *sc = &cv_volume_info(v)->scales[mip];
    cv_status rc = CV_OK;
    if (!sc->sharding_json) {
        rc = CV_FAIL(CV_ERR_ARG, "%s: scale %s is not sharded", cv_volume_url(v), sc->key);
    } else if (is_ls) {
        ls_state s = {.store = cv_volume_store(v), .key = sc->key};
        rc = cv_shard_spec_parse(sc->sharding_json, strlen(sc->sharding_json), sc->key, &s.spec);
        if (rc == CV_OK) {
            char prefix[4096];
            snprintf(prefix, sizeof prefix, "%s/", sc->key);
            rc = cv_store_list(s.store, prefix, list_one, &s);
        }
        if (rc == CV_OK) {
            printf("%" PRIu64 " shard files, %" PRIu64 " entries, %" PRIu64 " bytes decoded\n",
                   s.shards, s.entries, s.bytes);
        }
    } else {
        cv_shard_reader *r = NULL;
        uint8_t *data = NULL;
        size_t len = 0;
        rc = cv_shard_reader_open(cv_volume_store(v), sc->key, sc->sharding_json, &r);
        if (rc == CV_OK) {
            rc = cv_shard_reader_get(r, key, (size_t)1 << 32, &data, &len);
        }
        if (rc == CV_ERR_NOTFOUND) {
            rc = CV_FAIL(CV_ERR_NOTFOUND, "%s: no entry with key %" PRIu64 " in scale %s",
                         cv_volume_url(v), key, sc->key);
        }
        if (rc == CV_OK) {
            const void *parts[1] = {data};
            size_t lens[1] = {len};
            rc = cli_write_output(output, parts, lens, 1);
        }
        cv_free(data);
        cv_shard_reader_close(r);
    }
    cv_volume_close(v);
    return rc == CV_OK ? CLI_OK : cli_fail();
}
