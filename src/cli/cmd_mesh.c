/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_mesh.c: `cvmpi mesh get|put|ls|merge-sharded|forge`: a segment's mesh out of a layer's mesh
 * directory as .ply/.obj (several ids fused into one mesh or one file each), a .ply/.obj
 * uploaded as a legacy mesh the way CloudVolume's mesh.put writes it, the ids that have
 * meshes, and the legacy meshes turned into multi-resolution ones across MPI ranks. */
#include "mpi/cv_mesh_merge.h"
#include "mpi/cv_mpi.h"
#include "cli/cli.h"

#include "mpi/cv_mesh_forge.h"
#include "mpi/cv_transfer.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: cvmpi mesh get PATH SEGID[,SEGID...] [--lod L] [--no-fuse] [--no-dedupe] -o "
    "OUT.ply|.obj\n"
    "       cvmpi mesh put PATH SEGID FILE.ply|FILE.obj\n"
    "       cvmpi mesh ls  PATH\n"
    "       mpirun -n N cvmpi mesh merge-sharded PATH [--nlod K] [--vqb 10|16] [--min-chunk C]\n"
    "                   [--compress-level L] [--max-labels-per-shard M] [--sharded|--unsharded]\n"
    "       [mpirun -n N] cvmpi mesh forge PATH [--mip M] [--bbox X0,Y0,Z0,X1,Y1,Z1] [--dust V]\n"
    "         [--simplify NM] [--memory BYTES] [--threads N] [--fill-missing]\n"
    "         [--journal DIR [--keep-journal]] [--resume] [--dry-run [--ranks N]]\n"
    "         [--legacy | --sharded [--lods K] [--vqb 10|16] [--min-chunk C]\n"
    "          [--compress-level L] [--max-labels-per-shard M]]\n\n"
    "PATH is a segmentation layer; its mesh directory is the info's \"mesh\" member (default\n"
    "\"mesh\"). Legacy meshes (SEGID:0 manifests) and multi-resolution Draco meshes (read only)\n"
    "are understood; vertices come out in nanometres. A graphene:// PATH (ChunkedGraph) gets\n"
    "each id's fragments through the server's mesh manifest (`mesh get' only).\n\n"
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
    "      legacy files stay). Segments flat in an axis or without triangles get no mesh.\n"
    "forge makes the legacy mesh of every label of the segmentation PATH (igneous' mesh forge\n"
    "      and mesh merge in one job, under mpirun or as one process): marching cubes over\n"
    "      voxel centres as zmesh (no interpolation, vertices in nm, voxel g spans\n"
    "      [g, g+1) x resolution), surfaces closed on every face of the region. The region\n"
    "      is cut into chunk-aligned tiles; each tile is read once and the voxel planes\n"
    "      adjacent tiles share travel between ranks, so fragments meet at identical\n"
    "      vertices. Writes SEGID:0:<tile bbox> (gzip) per label and tile, the manifests\n"
    "      SEGID:0, the mesh info and the layer's \"mesh\" member (when absent:\n"
    "      mesh_mip_<M>_err_<NM>, NM the --simplify bound or 0). Output bytes do not depend\n"
    "      on the number of ranks.\n"
    "  --legacy        write legacy meshes as above (the default)\n"
    "  --sharded       write sharded multi-resolution meshes instead, in one pass: no\n"
    "                  fragment is written; each travels by MPI to the rank owning its\n"
    "                  label's shard, which builds each label's levels of detail as\n"
    "                  merge-sharded does and writes each of its shard files once. The files\n"
    "                  are byte for byte those of forge --legacy then merge-sharded (same\n"
    "                  options) into an empty directory. The fragments a rank holds count\n"
    "                  against --memory: past it the job stops and says so. --lods K is\n"
    "                  merge-sharded's --nlod (default 1); --vqb, --min-chunk, --compress-level\n"
    "                  and --max-labels-per-shard as merge-sharded's\n"
    "  --mip M         mip to mesh: index or resolution X,Y,Z (default 0)\n"
    "  --bbox B        mesh only this box (voxels at the mip; widened to whole chunks); its\n"
    "                  faces are closed like the volume's\n"
    "  --dust V        no mesh for labels with fewer than V voxels in the whole region\n"
    "                  (counted over every tile, not per tile as igneous does)\n"
    "  --simplify NM   quadric edge collapse of each fragment: no vertex ends farther than NM\n"
    "                  nanometres from the surface marching cubes made (a distance, not\n"
    "                  igneous' squared quadric value); vertices on tile borders stay put\n"
    "  --memory BYTES  memory per rank for a tile (K/M/G suffixes; sets the tile size)\n"
    "  --threads N     chunks fetched/decoded in parallel per rank (default\n"
    "                  the cores the rank may use, at most 4; 4 on remote storage)\n"
    "  --fill-missing  absent chunks read as 0\n"
    "  --journal DIR   where finished tiles are recorded (default as transfer's)\n"
    "  --keep-journal  keep the journal after a successful job\n"
    "  --resume        do not write again the fragments of tiles a previous run of the same\n"
    "                  job finished (every tile is still read: its planes and voxel counts\n"
    "                  are needed by its neighbours and --dust); manifests are rewritten.\n"
    "                  With --sharded: the shard files it wrote are not built again\n"
    "  --dry-run       print the plan (tiles, fragments, shards, memory per rank) and stop\n"
    "  --ranks N       with --dry-run: plan as if N ranks ran the job\n";

static int mesh_forge(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mip", required_argument, NULL, 'm'},
        {"bbox", required_argument, NULL, 'b'},
        {"dust", required_argument, NULL, 'd'},
        {"simplify", required_argument, NULL, 's'},
        {"memory", required_argument, NULL, 'M'},
        {"threads", required_argument, NULL, 't'},
        {"fill-missing", no_argument, NULL, 'F'},
        {"journal", required_argument, NULL, 'j'},
        {"keep-journal", no_argument, NULL, 'k'},
        {"resume", no_argument, NULL, 'r'},
        {"dry-run", no_argument, NULL, 'D'},
        {"ranks", required_argument, NULL, 'R'},
        {"legacy", no_argument, NULL, 'g'},
        {"sharded", no_argument, NULL, 'S'},
        {"lods", required_argument, NULL, 'N'},
        {"vqb", required_argument, NULL, 'Q'},
        {"min-chunk", required_argument, NULL, 'C'},
        {"compress-level", required_argument, NULL, 'L'},
        {"max-labels-per-shard", required_argument, NULL, 'X'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static char name[] = "mesh forge";
    argv[0] = name;
    cv_mesh_forge_params p;
    memset(&p, 0, sizeof p);
    p.multires = (cv_mesh_merge_opts){.nlod = 1,
                                      .vqb = 16,
                                      .level = 7,
                                      .min_chunk = 256,
                                      .sharded = true,
                                      .max_labels_per_shard = 1000};
    int plan_ranks = 0, layouts = 0;
    const char *sharded_flag = NULL; /* an option of --sharded only, for errors */
    int64_t v;
    for (int c; (c = cli_getopt(argc, argv, "h", opts)) != -1;) {
        switch (c) {
        case 'h':
            return cli_help(help);
        case 'g':
        case 'S':
            p.sharded = c == 'S';
            layouts |= c == 'S' ? 1 : 2;
            break;
        case 'N':
            sharded_flag = "--lods";
            if (!cli_parse_i64(optarg, &v) || v < 0 || v > 10) {
                return cli_usage(argv[0], "bad --lods `%s': want 0..10", optarg);
            }
            p.multires.nlod = (int)v;
            break;
        case 'Q':
            sharded_flag = "--vqb";
            if (!cli_parse_i64(optarg, &v) || (v != 10 && v != 16)) {
                return cli_usage(argv[0], "bad --vqb `%s': want 10 or 16", optarg);
            }
            p.multires.vqb = (int)v;
            break;
        case 'C':
            sharded_flag = "--min-chunk";
            if (!cli_parse_i64(optarg, &v) || v < 1 || v > (1 << 24)) {
                return cli_usage(argv[0], "bad --min-chunk `%s': want voxels, 1..16777216", optarg);
            }
            p.multires.min_chunk = (double)v;
            break;
        case 'L':
            sharded_flag = "--compress-level";
            if (!cli_parse_i64(optarg, &v) || v < 0 || v > 10) {
                return cli_usage(argv[0], "bad --compress-level `%s': want 0..10", optarg);
            }
            p.multires.level = (int)v;
            break;
        case 'X':
            sharded_flag = "--max-labels-per-shard";
            if (!cli_parse_i64(optarg, &v) || v < 1) {
                return cli_usage(argv[0], "bad --max-labels-per-shard `%s'", optarg);
            }
            p.multires.max_labels_per_shard = (uint64_t)v;
            break;
        case 'm':
            p.mip_text = optarg;
            break;
        case 'b':
            if (!cli_opt_bbox(argv[0], optarg, &p.bbox_text)) {
                return CLI_USAGE;
            }
            break;
        case 'd':
            if (!cli_parse_i64(optarg, &v) || v < 0) {
                return cli_usage(argv[0], "bad --dust `%s': want a voxel count >= 0", optarg);
            }
            p.dust = (uint64_t)v;
            break;
        case 's':
            if (!cli_parse_double(optarg, &p.simplify_nm) || !(p.simplify_nm > 0) ||
                p.simplify_nm > 1e9) {
                return cli_usage(argv[0], "bad --simplify `%s': want a distance in nm > 0", optarg);
            }
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
        case 'F':
            p.fill_missing = true;
            break;
        case 'j':
            p.journal_dir = optarg;
            break;
        case 'k':
            p.keep_journal = true;
            break;
        case 'r':
            p.resume = true;
            break;
        case 'D':
            p.dry_run = true;
            break;
        case 'R':
            if (!cli_opt_plan_ranks(argv[0], optarg, &plan_ranks)) {
                return CLI_USAGE;
            }
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (argc - optind != 1) {
        return cli_usage(argv[0], "want `forge PATH'");
    }
    if (!cli_check_plan_ranks(argv[0], plan_ranks, p.dry_run)) {
        return CLI_USAGE;
    }
    if (p.resume && p.dry_run) {
        return cli_usage(argv[0], "--resume and --dry-run do not go together");
    }
    if (layouts == 3) {
        return cli_usage(argv[0], "--legacy and --sharded do not go together");
    }
    if (sharded_flag && !p.sharded) {
        return cli_usage(argv[0], "%s is an option of --sharded", sharded_flag);
    }
    p.layer = argv[optind];
    p.threads = p.threads ? p.threads : cli_default_threads(p.layer, NULL, 4);
    if (cv_mpi_init(&argc, &argv) != CV_OK) {
        return cli_fail();
    }
    if (plan_ranks) {
        cv_mpi_plan_for(plan_ranks);
    }
    cv_mpi_install_signal_handlers();
    cv_mesh_forge_stats st;
    memset(&st, 0, sizeof st);
    if (cv_mpi_mesh_forge(&p, &st) != CV_OK) {
        return cli_fail();
    }
    if (cv_mpi_rank() == 0 && !p.dry_run && p.sharded) {
        printf("mesh forge: %" PRIu64 " tiles, %" PRIu64 " fragments sent to shard owners (%" PRIu64
               " bytes between ranks, at most %" PRIu64 " bytes held by one rank), %" PRIu64
               " labels below --dust\n",
               st.tiles, st.fragments, st.sent_bytes, st.held_peak, st.dust_labels);
        printf("mesh forge: %" PRIu64 " labels: %" PRIu64 " multi-resolution meshes (%" PRIu64
               " bytes) in %" PRIu64 " shard files in %s/ (%" PRIu64 " written before), %" PRIu64
               " skipped\n",
               st.labels, st.meshes, st.mesh_bytes, st.shards, st.dir, st.shards_before,
               st.skipped);
    } else if (cv_mpi_rank() == 0 && !p.dry_run) {
        printf("mesh forge: %" PRIu64 " tiles (%" PRIu64 " written before), %" PRIu64
               " fragments, %" PRIu64 " meshes in %s/, %" PRIu64 " labels below --dust\n",
               st.tiles + st.tiles_skipped, st.tiles_skipped, st.fragments, st.manifests, st.dir,
               st.dust_labels);
    }
    if (cv_mpi_rank() == 0 && !p.dry_run) {
        printf("mesh forge: %" PRIu64 " of %" PRIu64 " chunks read (%" PRIu64 " bytes), %" PRIu64
               " bytes of tile faces sent between ranks\n",
               st.chunks_read, st.chunks, st.bytes_read, st.halo_bytes);
        printf("mesh forge: %.2f Mvoxels in %.2f s (%.2f Mvoxels/s) on %d rank%s\n",
               (double)st.voxels / 1e6, st.seconds,
               st.seconds > 0 ? (double)st.voxels / 1e6 / st.seconds : 0.0, cv_mpi_size(),
               cv_mpi_size() == 1 ? "" : "s");
    }
    return CLI_OK;
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

/* One id's mesh from the mesh directory `k`, or through the graph server when k is NULL. */
static cv_status fetch_mesh(cv_volume *v, cv_meshes *k, uint64_t id, int lod, cv_mesh **out)
{
    return k ? cv_meshes_get(k, id, lod, out) : cv_graphene_mesh_get(v, id, out);
}

/* One id's mesh, consolidated unless raw. */
static cv_status get_one(cv_volume *v, cv_meshes *k, uint64_t id, int lod, bool dedupe,
                         cv_mesh **out)
{
    cv_mesh *m;
    cv_status rc = fetch_mesh(v, k, id, lod, &m);
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
    cv_meshes *k = NULL;
    if (!cv_volume_is_graphene(v)) {
        CV_TRY(cv_meshes_open(v, false, &k));
    }
    cv_status rc = CV_OK;
    if (!fuse) {
        const char *dot = strrchr(output, '.');
        for (size_t i = 0; i < n && rc == CV_OK; i++) {
            cv_mesh *m;
            rc = get_one(v, k, ids[i], lod, dedupe, &m);
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
            rc = fetch_mesh(v, k, ids[i], lod, &parts[i]);
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
    cv_meshes *k = NULL;
    if (!cv_volume_is_graphene(v)) {
        CV_TRY(cv_meshes_open(v, false, &k));
    }
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
    if (argc > 1 && strcmp(argv[1], "forge") == 0) {
        return mesh_forge(argc - 1, argv + 1);
    }
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
                                  "`ls PATH', `merge-sharded PATH' or `forge PATH'");
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
    if (!is_ls && !cli_parse_ids(argv[optind + 2], &ids, &n_ids)) {
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
    if (strncmp(argv[optind + 1], "graphene://", 11) == 0 && (!is_get || lod != 0)) {
        cv_free(ids);
        return cli_usage(argv[0], "graphene:// layers: only `mesh get', without --lod");
    }
    cv_volume *v;
    cv_opts o = cv_opts_default();
    cli_cache_apply(&o);
    if (cv_volume_open(argv[optind + 1], &o, &v) != CV_OK) {
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
