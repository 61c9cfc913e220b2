/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_mesh.c: `cvmpi mesh get|put|ls|merge-sharded`: a segment's mesh out of a layer's mesh
 * directory as .ply/.obj (several ids fused into one mesh or one file each), a .ply/.obj
 * uploaded as a legacy mesh the way CloudVolume's mesh.put writes it, the ids that have
 * meshes, and the legacy meshes turned into multi-resolution ones across MPI ranks. */
#include "mpi/cv_mesh_merge.h"
#include "mpi/cv_mpi.h"
#include "cli/cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: cvmpi mesh get PATH SEGID[,SEGID...] [--lod L] [--no-fuse] [--no-dedupe] -o "
    "OUT.ply|.obj\n"
    "       cvmpi mesh put PATH SEGID FILE.ply|FILE.obj\n"
    "       cvmpi mesh ls  PATH\n"
    "       mpirun -n N cvmpi mesh merge-sharded PATH [--nlod K] [--vqb 10|16] [--min-chunk C]\n"
    "                   [--compress-level L] [--max-labels-per-shard M] [--sharded|--unsharded]\n\n"
    "PATH is a segmentation layer; its mesh directory is the info's \"mesh\" member (default\n"
    "\"mesh\"). Legacy meshes (SEGID:0 manifests) and multi-resolution Draco meshes (read only)\n"
    "are understood; vertices come out in nanometres.\n\n"
    "get   fragments of each id are concatenated and identical vertices merged (CloudVolume's\n"
    "      consolidate; --no-dedupe keeps the plain concatenation); several ids are fused into\n"
    "      one mesh unless --no-fuse, which writes OUT with the id before the extension\n"
    "      (out.ply -> out.12.ply). --lod picks the level of detail of multi-resolution meshes\n"
    "      (0 = finest). .ply is binary little endian, as CloudVolume's to_ply; .obj as to_obj.\n"
    "put   writes SEGID:0:1 (gzip) and the manifest SEGID:0, removing the fragments of an\n"
    "      older manifest; creates the mesh info and the layer's \"mesh\" member if absent.\n"
    "ls    prints the segment ids that have a mesh, one per line.\n"
    "merge-sharded  turns the legacy meshes of PATH into multi-resolution Draco meshes\n"
    "      (neuroglancer_multilod_draco), as igneous' mesh merge-sharded: each segment's\n"
    "      fragments are joined (identical vertices merged), simplified into up to K coarser\n"
    "      levels of detail (default 1; as many as log2(extent / C) allows, C default 256\n"
    "      voxels), cut along its octree so levels mix without cracks, quantized to --vqb bits\n"
    "      (default 16) and Draco-encoded (--compress-level, default 7). --sharded (default)\n"
    "      writes neuroglancer_uint64_sharded_v1 files (murmurhash, at most M segments per\n"
    "      shard, default 1000), each written once by the rank that owns it; --unsharded\n"
    "      writes SEGID and SEGID.index. Then the mesh info becomes multi-resolution (the\n"
    "      legacy files stay). Segments flat in an axis or without triangles get no mesh.\n";

static bool parse_ids(const char *text, uint64_t **ids, size_t *n)
{
    size_t cap = 1;
    for (const char *p = text; *p; p++) {
        cap += *p == ',';
    }
    *ids = cv_malloc(cap * sizeof **ids);
    *n = 0;
    if (!*ids) {
        return false;
    }
    for (const char *p = text;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char buf[32];
        if (len == 0 || len >= sizeof buf) {
            return false;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (!cv__parse_segid(buf, &(*ids)[(*n)++])) {
            return false;
        }
        if (!comma) {
            return true;
        }
        p = comma + 1;
    }
}

typedef enum { FMT_NONE, FMT_PLY, FMT_OBJ } mesh_format;

static mesh_format format_of(const char *path)
{
    return cv__str_ends_with(path, ".ply")   ? FMT_PLY
           : cv__str_ends_with(path, ".obj") ? FMT_OBJ
                                             : FMT_NONE;
}

static cv_status write_mesh(const char *path, mesh_format fmt, const cv_mesh *m)
{
    uint8_t *data;
    char *text;
    size_t len;
    if (fmt == FMT_PLY) {
        CV_TRY(cv_mesh_to_ply(m, &data, &len));
    } else {
        CV_TRY(cv_mesh_to_obj(m, &text, &len));
        data = (uint8_t *)text;
    }
    const void *parts[1] = {data};
    size_t lens[1] = {len};
    cv_status rc = cli_write_output(path, parts, lens, 1);
    cv_free(data);
    return rc;
}

/* One id's mesh, consolidated unless raw. */
static cv_status get_one(cv_meshes *k, uint64_t id, int lod, bool dedupe, cv_mesh **out)
{
    cv_mesh *m;
    cv_status rc = cv_meshes_get(k, id, lod, &m);
    if (rc == CV_ERR_NOTFOUND && cv_err_last()->code == CV_ERR_NOTFOUND) {
        /* Make the quiet not-found the reported failure. */
        cv_err e = *cv_err_last();
        cv_err_clear();
        return CV_FAIL(CV_ERR_NOTFOUND, "%s", e.what);
    }
    CV_TRY(rc);
    if (!dedupe) {
        *out = m;
        return CV_OK;
    }
    rc = cv_mesh_consolidate(m, out);
    cv_mesh_free(m);
    return rc;
}

static cv_status mesh_get(cv_volume *v, const uint64_t *ids, size_t n, int lod, bool fuse,
                          bool dedupe, const char *output)
{
    mesh_format fmt = format_of(output);
    cv_meshes *k;
    CV_TRY(cv_meshes_open(v, false, &k));
    cv_status rc = CV_OK;
    if (!fuse) {
        const char *dot = strrchr(output, '.');
        for (size_t i = 0; i < n && rc == CV_OK; i++) {
            cv_mesh *m;
            rc = get_one(k, ids[i], lod, dedupe, &m);
            if (rc != CV_OK) {
                break;
            }
            char *path = n == 1 ? cv__strdup(output)
                                : cv__asprintf("%.*s.%" PRIu64 "%s", (int)(dot - output), output,
                                               ids[i], dot);
            rc = path ? write_mesh(path, fmt, m) : CV_FAIL(CV_ERR_NOMEM, "mesh get");
            cv_free(path);
            cv_mesh_free(m);
        }
    } else {
        cv_mesh **parts = cv_calloc(n, sizeof *parts);
        rc = parts ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh get");
        for (size_t i = 0; i < n && rc == CV_OK; i++) {
            rc = cv_meshes_get(k, ids[i], lod, &parts[i]);
            if (rc == CV_ERR_NOTFOUND && cv_err_last()->code == CV_ERR_NOTFOUND) {
                cv_err e = *cv_err_last();
                cv_err_clear();
                rc = CV_FAIL(CV_ERR_NOTFOUND, "%s", e.what);
            }
        }
        cv_mesh *all = NULL, *m = NULL;
        if (rc == CV_OK) {
            rc = cv_mesh_concat((const cv_mesh *const *)parts, n, &all);
        }
        if (rc == CV_OK && dedupe) {
            rc = cv_mesh_consolidate(all, &m);
        } else if (rc == CV_OK) {
            m = all;
            all = NULL;
        }
        if (rc == CV_OK) {
            rc = write_mesh(output, fmt, m);
        }
        cv_mesh_free(all);
        cv_mesh_free(m);
        for (size_t i = 0; parts && i < n; i++) {
            cv_mesh_free(parts[i]);
        }
        cv_free(parts);
    }
    cv_meshes_close(k);
    return rc;
}

static cv_status mesh_put(cv_volume *v, uint64_t id, const char *input)
{
    uint8_t *data;
    size_t len;
    CV_TRY(cli_read_input(input, &data, &len));
    cv_mesh *m;
    cv_status rc = format_of(input) == FMT_PLY
                       ? cv_mesh_from_ply(data, len, input, &m)
                       : cv_mesh_from_obj((const char *)data, len, input, &m);
    cv_free(data);
    CV_TRY(rc);
    cv_meshes *k;
    rc = cv_meshes_open(v, true, &k);
    if (rc == CV_OK) {
        rc = cv_meshes_put(k, id, m);
        cv_meshes_close(k);
    }
    cv_mesh_free(m);
    return rc;
}

static cv_status mesh_ls(cv_volume *v)
{
    cv_meshes *k;
    CV_TRY(cv_meshes_open(v, false, &k));
    uint64_t *ids;
    size_t n;
    cv_status rc = cv_meshes_list(k, &ids, &n);
    if (rc == CV_OK) {
        for (size_t i = 0; i < n; i++) {
            printf("%" PRIu64 "\n", ids[i]);
        }
        cv_free(ids);
    }
    cv_meshes_close(k);
    return rc;
}

static int mesh_merge(int argc, char **argv, const cv_mesh_merge_opts *o)
{
    if (cv_mpi_init(&argc, &argv) != CV_OK) {
        return cli_fail();
    }
    cv_mesh_merge_stats st;
    if (cv_mpi_mesh_merge(argv[optind + 1], o, &st) != CV_OK) {
        return cli_fail();
    }
    if (cv_mpi_rank() == 0) {
        printf("%" PRIu64 " segments: %" PRIu64 " multi-resolution meshes (%" PRIu64
               " bytes) in %" PRIu64 " shard files, %" PRIu64 " skipped, %d ranks, %.3f s\n",
               st.labels, st.written, st.bytes, st.shards, st.skipped, cv_mpi_size(), st.seconds);
    }
    return CLI_OK;
}

int cmd_mesh(int argc, char **argv)
{
    static const struct option opts[] = {
        {"lod", required_argument, NULL, 'l'},
        {"no-fuse", no_argument, NULL, 'F'},
        {"no-dedupe", no_argument, NULL, 'D'},
        {"output", required_argument, NULL, 'o'},
        {"nlod", required_argument, NULL, 'N'},
        {"vqb", required_argument, NULL, 'Q'},
        {"min-chunk", required_argument, NULL, 'C'},
        {"compress-level", required_argument, NULL, 'L'},
        {"max-labels-per-shard", required_argument, NULL, 'M'},
        {"sharded", no_argument, NULL, 'S'},
        {"unsharded", no_argument, NULL, 'U'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL;
    int64_t lod = 0, num;
    bool fuse = true, dedupe = true;
    cv_mesh_merge_opts mo = {.nlod = 1,
                             .vqb = 16,
                             .level = 7,
                             .min_chunk = 256,
                             .sharded = true,
                             .max_labels_per_shard = 1000};
    const char *get_flag = NULL, *merge_flag = NULL; /* one of each kind seen, for errors */
    int layout_flags = 0;
    for (int c; (c = cli_getopt(argc, argv, "ho:", opts)) != -1;) {
        const char *name = c == 'l'   ? "--lod"
                           : c == 'F' ? "--no-fuse"
                           : c == 'D' ? "--no-dedupe"
                           : c == 'o' ? "-o"
                           : c == 'N' ? "--nlod"
                           : c == 'Q' ? "--vqb"
                           : c == 'C' ? "--min-chunk"
                           : c == 'L' ? "--compress-level"
                           : c == 'M' ? "--max-labels-per-shard"
                           : c == 'S' ? "--sharded"
                           : c == 'U' ? "--unsharded"
                                      : NULL;
        if (c == 'l' || c == 'F' || c == 'D' || c == 'o') {
            get_flag = name;
        } else if (name) {
            merge_flag = name;
        }
        switch (c) {
        case 'h':
            return cli_help(help);
        case 'N':
            if (!cli_parse_i64(optarg, &num) || num < 0 || num > 10) {
                return cli_usage(argv[0], "bad --nlod `%s': want 0..10", optarg);
            }
            mo.nlod = (int)num;
            break;
        case 'Q':
            if (!cli_parse_i64(optarg, &num) || (num != 10 && num != 16)) {
                return cli_usage(argv[0], "bad --vqb `%s': want 10 or 16", optarg);
            }
            mo.vqb = (int)num;
            break;
        case 'C':
            if (!cli_parse_i64(optarg, &num) || num < 1 || num > (1 << 24)) {
                return cli_usage(argv[0], "bad --min-chunk `%s': want voxels, 1..16777216", optarg);
            }
            mo.min_chunk = (double)num;
            break;
        case 'L':
            if (!cli_parse_i64(optarg, &num) || num < 0 || num > 10) {
                return cli_usage(argv[0], "bad --compress-level `%s': want 0..10", optarg);
            }
            mo.level = (int)num;
            break;
        case 'M':
            if (!cli_parse_i64(optarg, &num) || num < 1) {
                return cli_usage(argv[0], "bad --max-labels-per-shard `%s'", optarg);
            }
            mo.max_labels_per_shard = (uint64_t)num;
            break;
        case 'S':
        case 'U':
            mo.sharded = c == 'S';
            layout_flags |= c == 'S' ? 1 : 2;
            break;
        case 'l':
            if (!cli_parse_i64(optarg, &lod) || lod < 0 || lod > 1000) {
                return cli_usage(argv[0], "bad --lod `%s'", optarg);
            }
            break;
        case 'F':
            fuse = false;
            break;
        case 'D':
            dedupe = false;
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
    bool is_get = strcmp(verb, "get") == 0, is_put = strcmp(verb, "put") == 0,
         is_ls = strcmp(verb, "ls") == 0, is_merge = strcmp(verb, "merge-sharded") == 0;
    if (!(is_get && nargs == 3) && !(is_put && nargs == 4) && !(is_ls && nargs == 2) &&
        !(is_merge && nargs == 2)) {
        return cli_usage(argv[0], "want `get PATH SEGID -o OUT', `put PATH SEGID FILE', "
                                  "`ls PATH' or `merge-sharded PATH'");
    }
    if (layout_flags == 3) {
        return cli_usage(argv[0], "--sharded and --unsharded exclude each other");
    }
    if (is_merge && get_flag) {
        return cli_usage(argv[0], "%s is not an option of merge-sharded", get_flag);
    }
    if (!is_merge && merge_flag) {
        return cli_usage(argv[0], "%s is an option of merge-sharded only", merge_flag);
    }
    if (is_merge) {
        return mesh_merge(argc, argv, &mo);
    }
    uint64_t *ids = NULL;
    size_t n_ids = 0;
    if (!is_ls && !parse_ids(argv[optind + 2], &ids, &n_ids)) {
        cv_free(ids);
        return cli_usage(argv[0], "bad SEGID `%s': want unsigned integers separated by commas",
                         argv[optind + 2]);
    }
    if (is_put && n_ids != 1) {
        cv_free(ids);
        return cli_usage(argv[0], "put takes one SEGID");
    }
    if (is_get && (!output || format_of(output) == FMT_NONE)) {
        cv_free(ids);
        return cli_usage(argv[0], "get needs -o OUT.ply or -o OUT.obj");
    }
    if (is_put && format_of(argv[optind + 3]) == FMT_NONE) {
        cv_free(ids);
        return cli_usage(argv[0], "put reads a .ply or .obj file, not `%s'", argv[optind + 3]);
    }
    cv_volume *v;
    if (cv_volume_open(argv[optind + 1], NULL, &v) != CV_OK) {
        cv_free(ids);
        return cli_fail();
    }
    cv_status rc = is_get   ? mesh_get(v, ids, n_ids, (int)lod, fuse, dedupe, output)
                   : is_put ? mesh_put(v, ids[0], argv[optind + 3])
                            : mesh_ls(v);
    cv_volume_close(v);
    cv_free(ids);
    return rc == CV_OK ? CLI_OK : cli_fail();
}
