/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_skeleton.c: `cvmpi skeleton get|put|ls`: a segment's skeleton out of a layer's skeleton
 * directory as SWC (in nm, as CloudVolume's get) or the precomputed binary, an SWC or binary
 * file stored under a segment id (sharded layers keep the other skeletons of the shard), and
 * the ids that have skeletons. */
#include "mpi/cv_mpi.h"
#include "mpi/cv_skeleton_convert.h"
#include "cli/cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: cvmpi skeleton get PATH SEGID -o OUT.swc|OUT.bin\n"
    "       cvmpi skeleton put PATH SEGID IN.swc|IN.bin\n"
    "       cvmpi skeleton ls  PATH\n"
    "       mpirun -n N cvmpi skeleton convert SWC_DIR PATH [--sharded [--min-shards S]]\n\n"
    "PATH is a segmentation layer; its skeleton directory is the info's \"skeletons\" member\n"
    "(default \"skeletons\"), described by its own info (transform, vertex_attributes,\n"
    "sharding).\n\n"
    "get   .swc: the skeleton in nanometres (the info's transform applied, as CloudVolume's\n"
    "      get), written as osteoid's to_swc; .bin (any other name): the precomputed binary\n"
    "      with the info's attributes, in stored coordinates.\n"
    "put   .swc is read as osteoid's from_swc (radius, vertex_types) and stored as is, as\n"
    "      CloudVolume's upload; other files are read as the precomputed binary. Unsharded\n"
    "      layers get SEGID (gzip); sharded layers get the shard rewritten with the others\n"
    "      kept. Creates the skeleton info and the layer's \"skeletons\" member if absent.\n"
    "ls    prints the segment ids that have a skeleton, one per line.\n"
    "convert  stores every SWC_DIR/<segid>.swc under its id, across MPI ranks (plain\n"
    "      `cvmpi' is one rank). --sharded first gives an unsharded skeleton directory\n"
    "      CloudVolume's hashed sharding for that many ids (at least S shard files with\n"
    "      --min-shards). Files are dealt to ranks; encoded skeletons travel to the rank\n"
    "      owning their shard, which writes each shard file once, whole (replacing what\n"
    "      was there).\n";

static cv_status skel_get(cv_skeletons *k, uint64_t id, const char *output)
{
    cv_skeleton *s;
    cv_status rc = cv_skeletons_get(k, id, &s);
    if (rc == CV_ERR_NOTFOUND && cv_err_last()->code == CV_ERR_NOTFOUND) {
        cv_err e = *cv_err_last();
        cv_err_clear();
        return CV_FAIL(CV_ERR_NOTFOUND, "%s", e.what);
    }
    CV_TRY(rc);
    uint8_t *data = NULL;
    char *text = NULL;
    size_t len = 0;
    if (cv__str_ends_with(output, ".swc")) {
        cv_skeleton_apply_transform(s, s->transform);
        rc = cv_skeleton_to_swc(s, &text, &len);
        data = (uint8_t *)text;
    } else {
        const cv_skel_attr *attrs;
        int n = cv_skeletons_attrs(k, &attrs);
        rc = cv_skeleton_encode(s, attrs, n, &data, &len);
    }
    if (rc == CV_OK) {
        const void *parts[1] = {data};
        size_t lens[1] = {len};
        rc = cli_write_output(output, parts, lens, 1);
    }
    cv_free(data);
    cv_skeleton_free(s);
    return rc;
}

static cv_status skel_put(cv_skeletons *k, uint64_t id, const char *input)
{
    uint8_t *data;
    size_t len;
    CV_TRY(cli_read_input(input, &data, &len));
    cv_skeleton *s;
    cv_status rc;
    if (cv__str_ends_with(input, ".swc")) {
        rc = cv_skeleton_from_swc((const char *)data, len, input, &s);
    } else {
        const cv_skel_attr *attrs;
        int n = cv_skeletons_attrs(k, &attrs);
        rc = cv_skeleton_decode(data, len, attrs, n, input, &s);
    }
    cv_free(data);
    CV_TRY(rc);
    s->id = id;
    rc = cv_skeletons_update(k, (const cv_skeleton *const[]){s}, 1);
    cv_skeleton_free(s);
    return rc;
}

static cv_status skel_ls(cv_skeletons *k)
{
    uint64_t *ids;
    size_t n;
    CV_TRY(cv_skeletons_list(k, &ids, &n));
    for (size_t i = 0; i < n; i++) {
        printf("%" PRIu64 "\n", ids[i]);
    }
    cv_free(ids);
    return CV_OK;
}

static int convert(int argc, char **argv, const char *swc_dir, const char *layer, bool sharded,
                   uint64_t min_shards)
{
    if (cv_mpi_init(&argc, &argv) != CV_OK) {
        return cli_fail();
    }
    cv_convert_stats st;
    if (cv_mpi_skeletons_convert(layer, swc_dir, sharded, min_shards, &st) != CV_OK) {
        return cli_fail();
    }
    if (cv_mpi_rank() == 0) {
        printf("converted %" PRIu64 " skeletons (%" PRIu64 " bytes) into %" PRIu64
               " shard files with %d ranks in %.3f s (%.0f skeletons/s)\n",
               st.skeletons, st.bytes, st.shards, cv_mpi_size(), st.seconds,
               st.seconds > 0 ? (double)st.skeletons / st.seconds : 0.0);
    }
    return CLI_OK;
}

int cmd_skeleton(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"sharded", no_argument, NULL, 's'},
        {"min-shards", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL;
    bool sharded = false;
    int64_t min_shards = 0;
    for (int c; (c = cli_getopt(argc, argv, "ho:", opts)) != -1;) {
        switch (c) {
        case 'h':
            return cli_help(help);
        case 'o':
            output = optarg;
            break;
        case 's':
            sharded = true;
            break;
        case 'S':
            if (!cli_parse_i64(optarg, &min_shards) || min_shards < 1 || min_shards > (1 << 20)) {
                return cli_usage(argv[0], "bad --min-shards `%s'", optarg);
            }
            break;
        default:
            return CLI_USAGE;
        }
    }
    int nargs = argc - optind;
    const char *verb = nargs > 0 ? argv[optind] : "";
    bool is_get = strcmp(verb, "get") == 0, is_put = strcmp(verb, "put") == 0,
         is_ls = strcmp(verb, "ls") == 0;
    if (strcmp(verb, "convert") == 0 && nargs == 3) {
        return convert(argc, argv, argv[optind + 1], argv[optind + 2], sharded,
                       (uint64_t)min_shards);
    }
    if (!(is_get && nargs == 3) && !(is_put && nargs == 4) && !(is_ls && nargs == 2)) {
        return cli_usage(argv[0], "want `get PATH SEGID -o OUT', `put PATH SEGID FILE' or "
                                  "`ls PATH'");
    }
    uint64_t id = 0;
    if (!is_ls && !cv__parse_segid(argv[optind + 2], &id)) {
        return cli_usage(argv[0], "bad SEGID `%s': want an unsigned integer", argv[optind + 2]);
    }
    if (is_get && !output) {
        return cli_usage(argv[0], "get needs -o OUT.swc or -o OUT.bin");
    }
    cv_volume *v;
    cv_opts o = cv_opts_default();
    cli_cache_apply(&o);
    if (cv_volume_open(argv[optind + 1], &o, &v) != CV_OK) {
        return cli_fail();
    }
    cv_skeletons *k;
    cv_status rc = cv_skeletons_open(v, is_put, &k);
    if (rc == CV_OK) {
        rc = is_get   ? skel_get(k, id, output)
             : is_put ? skel_put(k, id, argv[optind + 3])
                      : skel_ls(k);
        cv_skeletons_close(k);
    }
    cv_volume_close(v);
    return rc == CV_OK ? CLI_OK : cli_fail();
}
