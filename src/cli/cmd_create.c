/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_create.c: `cvmpi create`, CloudVolume's create_new_info() followed by commit_info(). */
#include "cli/cli.h"
#include "shard/shard.h"

#include <string.h>

static const char help[] =
    "usage: cvmpi create PATH --type image|segmentation --dtype T --size X,Y,Z\n"
    "                     --resolution X,Y,Z [--chunk X,Y,Z] [--offset X,Y,Z] [--channels C]\n"
    "                     [--encoding E] [--block X,Y,Z] [--mesh DIR] [--skeletons DIR]\n"
    "                     [--max-mip N [--factor X,Y,Z]] [--sharded [--shard-bytes B] |\n"
    "                     --sharding JSON] [--overwrite]\n\n"
    "Create a layer: write its info file as CloudVolume's create_new_info would.\n"
    "  --type         image or segmentation\n"
    "  --dtype        uint8 int8 uint16 int16 uint32 int32 uint64 int64 float32 float64\n"
    "  --size         volume size in voxels at mip 0\n"
    "  --resolution   voxel size in nanometres (\"4.5,4.5,40\" makes float resolutions)\n"
    "  --chunk        chunk size (default 64,64,64)\n"
    "  --offset       voxel_offset (default 0,0,0)\n"
    "  --channels     num_channels (default 1)\n"
    "  --encoding     raw (default), or any encoding this build supports\n"
    "  --block        compressed_segmentation block size (default 8,8,8)\n"
    "  --mesh, --skeletons   set the mesh / skeleton directory names\n"
    "  --max-mip      also add N downsampled scales, factor^mip each (default factor 2,2,1)\n"
    "  --sharded      shard scale 0 as CloudVolume does for images (identity hash, a shard is a\n"
    "                 box of chunks of about --shard-bytes uncompressed, default 3.5e9)\n"
    "  --sharding J   shard scale 0 with this sharding JSON object (minishard_bits at most\n"
    "                 24: writers hold a shard index of 16 << minishard_bits bytes)\n"
    "  --overwrite    replace an existing info file\n";

/* Shard scale 0: CloudVolume's image parameters, or the given JSON (checked). Non-zero on
 * failure, with the error recorded. */
static int set_sharding(cv_info *info, bool sharded, const char *json, size_t shard_bytes)
{
    if (!sharded && !json) {
        return 0;
    }
    cv_scale *s = &info->scales[0];
    cv_shard_spec spec;
    cv_status rc = json ? cv_shard_spec_parse(json, strlen(json), "--sharding", &spec)
                        : cv_shard_params_for_image(s->size, s->chunk_sizes[0], s->encoding,
                                                    info->dtype, shard_bytes, &spec);
    if (rc == CV_OK && json) {
        rc = cv__shard_check_write_index(&spec, "--sharding", 0, NULL);
    }
    char *text = NULL;
    size_t len;
    if (rc == CV_OK) {
        rc = cv_shard_spec_to_json(&spec, &text, &len);
    }
    if (rc == CV_OK) {
        cv_free(s->sharding_json);
        s->sharding_json = text;
        rc = cv_info_validate(info);
    }
    return rc != CV_OK;
}

int cmd_create(int argc, char **argv)
{
    static const struct option opts[] = {
        {"type", required_argument, NULL, 't'},
        {"dtype", required_argument, NULL, 'd'},
        {"size", required_argument, NULL, 's'},
        {"resolution", required_argument, NULL, 'r'},
        {"chunk", required_argument, NULL, 'c'},
        {"offset", required_argument, NULL, 'o'},
        {"channels", required_argument, NULL, 'C'},
        {"encoding", required_argument, NULL, 'e'},
        {"block", required_argument, NULL, 'b'},
        {"mesh", required_argument, NULL, 'm'},
        {"skeletons", required_argument, NULL, 'k'},
        {"max-mip", required_argument, NULL, 'M'},
        {"factor", required_argument, NULL, 'f'},
        {"overwrite", no_argument, NULL, 'O'},
        {"sharded", no_argument, NULL, 'S'},
        {"shard-bytes", required_argument, NULL, 'B'},
        {"sharding", required_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cv_info_params p;
    memset(&p, 0, sizeof p);
    bool have_size = false, have_res = false, overwrite = false, sharded = false;
    const char *sharding = NULL;
    size_t shard_bytes = 0;
    int64_t n;
    for (int c; (c = cli_getopt(argc, argv, "h", opts)) != -1;) {
        switch (c) {
        case 'h':
            return cli_help(help);
        case 't':
            if (strcmp(optarg, "image") != 0 && strcmp(optarg, "segmentation") != 0) {
                return cli_usage(argv[0], "--type must be image or segmentation");
            }
            p.type = optarg;
            break;
        case 'd':
            p.dtype = cv_dtype_from_name(optarg);
            if (p.dtype == CV_DTYPE_INVALID) {
                return cli_usage(argv[0], "unknown --dtype `%s'", optarg);
            }
            break;
        case 's':
            if (!cli_parse_i64x3(optarg, p.size)) {
                return cli_usage(argv[0], "bad --size `%s': want X,Y,Z", optarg);
            }
            have_size = true;
            break;
        case 'r':
            if (!cli_parse_f64x3(optarg, p.resolution, &p.resolution_is_float)) {
                return cli_usage(argv[0], "bad --resolution `%s': want X,Y,Z", optarg);
            }
            have_res = true;
            break;
        case 'c':
            if (!cli_parse_i64x3(optarg, p.chunk_size)) {
                return cli_usage(argv[0], "bad --chunk `%s': want X,Y,Z", optarg);
            }
            break;
        case 'o':
            if (!cli_parse_i64x3(optarg, p.voxel_offset)) {
                return cli_usage(argv[0], "bad --offset `%s': want X,Y,Z", optarg);
            }
            break;
        case 'C':
            if (!cli_parse_i64(optarg, &p.num_channels) || p.num_channels < 1) {
                return cli_usage(argv[0], "bad --channels `%s'", optarg);
            }
            break;
        case 'e':
            p.encoding = optarg;
            break;
        case 'b':
            if (!cli_parse_i64x3(optarg, p.cseg_block)) {
                return cli_usage(argv[0], "bad --block `%s': want X,Y,Z", optarg);
            }
            break;
        case 'm':
            p.mesh = optarg;
            break;
        case 'k':
            p.skeletons = optarg;
            break;
        case 'M':
            if (!cli_parse_i64(optarg, &n) || n < 0 || n > 32) {
                return cli_usage(argv[0], "bad --max-mip `%s'", optarg);
            }
            p.max_mip = (int)n;
            break;
        case 'f':
            if (!cli_parse_i64x3(optarg, p.factor)) {
                return cli_usage(argv[0], "bad --factor `%s': want X,Y,Z", optarg);
            }
            break;
        case 'O':
            overwrite = true;
            break;
        case 'S':
            sharded = true;
            break;
        case 'B':
            if (!cli_parse_bytes(optarg, &shard_bytes)) {
                return cli_usage(argv[0], "bad --shard-bytes `%s'", optarg);
            }
            break;
        case 'J':
            sharding = optarg;
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        return cli_usage(argv[0], "want exactly one PATH");
    }
    if (!p.type || p.dtype == CV_DTYPE_INVALID || !have_size || !have_res) {
        return cli_usage(argv[0], "--type, --dtype, --size and --resolution are required");
    }
    if (!cv_dtype_is_neuroglancer(p.dtype)) {
        CV_LOG(CV_LOG_WARN, "%s volumes cannot be read by Neuroglancer or TensorStore",
               cv_dtype_name(p.dtype));
    }
    if (sharded && sharding) {
        return cli_usage(argv[0], "give --sharded or --sharding, not both");
    }
    cv_info *info = NULL;
    cv_volume *v = NULL;
    if (cv_info_create(&p, &info) != CV_OK || set_sharding(info, sharded, sharding, shard_bytes) ||
        cv_volume_create(argv[optind], info, overwrite, NULL, &v) != CV_OK) {
        cv_info_free(info);
        return cli_fail();
    }
    printf("created %s (%d scale%s)\n", cv_volume_url(v), info->n_scales,
           info->n_scales == 1 ? "" : "s");
    cv_volume_close(v);
    cv_info_free(info);
    return CLI_OK;
}
