/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_shard.c: `cvmpi shard ls|get`, looking inside the shard files of a sharded scale:
 * which shards exist and how many chunks each holds, and the bytes stored under one key. */
#include "base/checked.h"
#include "cli/cli.h"
#include "io/store.h"
#include "shard/shard.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: cvmpi shard ls  LAYER[/SCALE] [--mip M] [--decoded]\n"
    "       cvmpi shard get LAYER[/SCALE] KEY [--mip M] -o FILE\n\n"
    "ls lists the shard files of a sharded scale: per file its entries, its size in bytes and\n"
    "the bytes its entries take as stored, read from the shard and minishard indexes by byte\n"
    "ranges (memory stays small whatever the file's size); --decoded adds up the entries'\n"
    "sizes once the data_encoding is undone: with gzip it reads every entry, one at a time.\n"
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
    bool decoded;      /* --decoded: read every entry to learn its decoded size */
    const char *shard; /* the shard file being listed */
    cv_buf value, scratch;
    uint64_t entries, stored, decoded_bytes; /* of the shard file being listed */
    uint64_t shards, all_entries, all_bytes, all_stored, all_decoded;
} ls_state;

/* Entries may overlap in a hostile index, so their sizes can add up past 2^64. */
static cv_status add_bytes(const ls_state *s, uint64_t *sum, uint64_t n)
{
    if (!cv__add_u64(*sum, n, sum)) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "shard `%s' in %s: its entries' sizes add up to more than 2^64 bytes "
                       "(overlapping entries)",
                       s->shard, cv_store_url(s->store));
    }
    return CV_OK;
}

static cv_status count_entry(const cv_shard_file_entry *e, void *arg)
{
    ls_state *s = arg;
    s->entries++;
    CV_TRY(add_bytes(s, &s->stored, e->length));
    if (!s->decoded) {
        return CV_OK;
    }
    if (s->spec.data_encoding == CV_SHARD_RAW) {
        return add_bytes(s, &s->decoded_bytes, e->length); /* stored as they are: no read */
    }
    CV_TRY(cv__shard_file_read_entry(s->store, s->shard, &s->spec, e, &s->value, &s->scratch));
    return add_bytes(s, &s->decoded_bytes, s->value.len);
}

/* One shard file: its size from the listing, everything else by ranged reads. */
static cv_status list_one(const char *name, uint64_t size, void *arg)
{
    ls_state *s = arg;
    if (size == UINT64_MAX || !cv__str_ends_with(name, ".shard")) {
        return CV_OK;
    }
    s->shard = name;
    s->entries = s->stored = s->decoded_bytes = 0;
    cv_status rc = cv__shard_file_scan(s->store, name, &s->spec, size, count_entry, s);
    if (rc == CV_ERR_NOTFOUND) { /* listed: a .gz/.br variant, or deleted meanwhile */
        return CV_FAIL(CV_ERR_CORRUPT,
                       "shard `%s' in %s: not found uncompressed (shard files are read by byte "
                       "ranges, which a .gz or .br variant cannot serve)",
                       name, cv_store_url(s->store));
    }
    CV_TRY(rc);
    s->shards++;
    s->all_entries += s->entries;
    CV_TRY(add_bytes(s, &s->all_bytes, size));
    CV_TRY(add_bytes(s, &s->all_stored, s->stored));
    CV_TRY(add_bytes(s, &s->all_decoded, s->decoded_bytes));
    printf("%-24s %10" PRIu64 " entries %14" PRIu64 " bytes (%" PRIu64 " stored",
           name + strlen(s->key) + 1, s->entries, size, s->stored);
    if (s->decoded) {
        printf(", %" PRIu64 " decoded", s->decoded_bytes);
    }
    printf(")\n");
    return CV_OK;
}

static cv_status list_shards(cv_store *store, const cv_scale *sc, bool decoded)
{
    ls_state s = {.store = store, .key = sc->key, .decoded = decoded};
    CV_TRY(cv_shard_spec_parse(sc->sharding_json, strlen(sc->sharding_json), sc->key, &s.spec));
    /* One entry at a time; a value above this is refused as corrupt, as shard get does. */
    cv__buf_init(&s.value, (size_t)1 << 32);
    cv__buf_init(&s.scratch, 0);
    char prefix[CV_SHARD_KEY_MAX];
    snprintf(prefix, sizeof prefix, "%s/", sc->key);
    cv_status rc = cv__store_list_sizes(store, prefix, list_one, &s);
    cv__buf_fini(&s.value);
    cv__buf_fini(&s.scratch);
    CV_TRY(rc);
    printf("%" PRIu64 " shard files, %" PRIu64 " entries, %" PRIu64 " bytes (%" PRIu64 " stored",
           s.shards, s.all_entries, s.all_bytes, s.all_stored);
    if (decoded) {
        printf(", %" PRIu64 " decoded", s.all_decoded);
    }
    printf(")\n");
    return CV_OK;
}

int cmd_shard(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mip", required_argument, NULL, 'm'},
        {"output", required_argument, NULL, 'o'},
        {"decoded", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *mip_text = NULL, *output = NULL;
    bool decoded = false;
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
        case 'd':
            decoded = true;
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
        if (decoded) {
            return cli_usage(argv[0], "--decoded is for ls");
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
        rc = list_shards(cv_volume_store(v), sc, decoded);
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
