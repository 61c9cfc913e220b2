/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_downsample.c: `cvmpi downsample`, a first single-process version of igneous'
 * downsample tasks (cloudvolume-conventions §7.2-7.4): add the scales as add_scale does, commit
 * the info once, then read the source in blocks of chunk x factor^N voxels (once each) and
 * write N levels made in memory by cv_downsample_pyramid. */
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

static const char help[] =
    "usage: cvmpi downsample PATH [--mip M] [--num-mips N] [--factor X,Y,Z]\n"
    "         [--method auto|average|mode|min|max|striding] [--sparse] [--encoding E]\n"
    "         [--chunk-size X,Y,Z] [--compress gzip|br|none] [--memory BYTES] [--fill-missing]\n\n"
    "Make N mips above mip M (default 0) in one pass over the source. New scales are added as\n"
    "CloudVolume's add_scale does and the info is committed once.\n"
    "  --num-mips N     levels to make (default: as igneous, from the volume and chunk sizes)\n"
    "  --factor X,Y,Z   per level (default 2,2,1)\n"
    "  --method M       auto (default: average for images, mode for segmentation), average,\n"
    "                   mode, min, max or striding\n"
    "  --sparse         ignore background (0) voxels when averaging or taking the mode\n"
    "  --encoding E     encoding of the new scales (default scale 0's)\n"
    "  --chunk-size C   chunk size of the new scales (default: add_scale's)\n"
    "  --compress C     transport compression of written chunks (default as CloudVolume)\n"
    "  --memory BYTES   refuse plans whose blocks need more (default 4G)\n"
    "  --fill-missing   absent source chunks read as 0\n"
    "  --threads N      chunks fetched/encoded in parallel (default 4)\n";

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int64_t lcm64(int64_t a, int64_t b)
{
    return a / gcd64(a, b) * b;
}

typedef struct ds_args {
    const char *mip_text;
    int num_mips; /* 0: igneous' compute_factors */
    int64_t factor[3];
    int method; /* -1: auto */
    bool sparse;
    const char *encoding;
    int64_t chunk_size[3];
    size_t memory;
    cv_opts opts;
} ds_args;

/* igneous compute_factors: over the downsampled axes, log(size/chunk)/log(factor) + 1e-4. */
static int default_num_mips(const cv_scale *s, const int64_t f[3])
{
    double n = INFINITY;
    for (int i = 0; i < 3; i++) {
        if (f[i] > 1) {
            double v = log((double)s->size[i] / (double)s->chunk_sizes[0][i]) / log((double)f[i]);
            n = fmin(n, v + 1e-4);
        }
    }
    return isfinite(n) && n >= 1.0 ? (int)n : 1;
}

static cv_status run_downsample(cv_volume *v, const ds_args *a)
{
    cv_info *info = cv_volume_info_mut(v);
    int mip;
    CV_TRY(cv_info_select_mip(info, a->mip_text ? a->mip_text : "0", &mip));
    const cv_scale src = info->scales[mip];
    int n = a->num_mips ? a->num_mips : default_num_mips(&src, a->factor);
    if (n > 32) {
        return CV_FAIL(CV_ERR_ARG, "--num-mips %d is too many", n);
    }
    int method = a->method;
    if (method < 0) {
        method = strcmp(info->type, "segmentation") == 0 ? CV_DS_MODE : CV_DS_AVERAGE;
    }
    /* The factor of mip M relative to scale 0, from the resolutions. */
    int64_t base[3], pow_f[33][3];
    for (int i = 0; i < 3; i++) {
        base[i] = (int64_t)llround(src.resolution[i] / info->scales[0].resolution[i]);
        pow_f[0][i] = 1;
        for (int k = 1; k <= n; k++) {
            pow_f[k][i] = pow_f[k - 1][i] * a->factor[i];
            if (pow_f[k][i] > (INT64_C(1) << 40)) {
                return CV_FAIL(CV_ERR_ARG, "downsample: factor^%d too large", k);
            }
        }
    }
    int level_mip[33];
    for (int k = 1; k <= n; k++) {
        int64_t f0[3] = {base[0] * pow_f[k][0], base[1] * pow_f[k][1], base[2] * pow_f[k][2]};
        CV_TRY(cv_info_add_scale(info, f0, a->chunk_size[0] ? a->chunk_size : NULL, a->encoding,
                                 &level_mip[k]));
    }
    CV_TRY(cv_info_validate(info));
    CV_TRY(cv_volume_commit_info(v));
    info = cv_volume_info_mut(v);
    /* Block of the top level: a multiple of every level's chunk scaled up, and of the source
     * chunk scaled down, so every read and write is chunk aligned. */
    int64_t top[3], block[3];
    for (int i = 0; i < 3; i++) {
        int64_t c = src.chunk_sizes[0][i];
        top[i] = c / gcd64(c, pow_f[n][i]);
        for (int k = 1; k <= n; k++) {
            int64_t ck = info->scales[level_mip[k]].chunk_sizes[0][i];
            top[i] = lcm64(top[i], ck / gcd64(ck, pow_f[n - k][i]));
        }
        block[i] = top[i] * pow_f[n][i];
    }
    size_t esz = cv_dtype_size(info->dtype);
    double need = (double)block[0] * (double)block[1] * (double)block[2] *
                  (double)info->num_channels * (double)esz * 2.0;
    if (need > (double)a->memory) {
        return CV_FAIL(CV_ERR_ARG,
                       "downsample: blocks of %" PRId64 "x%" PRId64 "x%" PRId64
                       " voxels need %.0f bytes, more than --memory %zu; use fewer --num-mips",
                       block[0], block[1], block[2], need, a->memory);
    }
    size_t in_cap = (size_t)(block[0] * block[1] * block[2] * info->num_channels) * esz;
    uint8_t *in = cv_malloc(in_cap);
    void *lv[32] = {0};
    bool ok = in != NULL;
    int64_t cur[3] = {block[0], block[1], block[2]};
    for (int k = 0; k < n && ok; k++) {
        cv_downsample_shape(cur, a->factor, cur);
        lv[k] = cv_malloc((size_t)(cur[0] * cur[1] * cur[2] * info->num_channels) * esz);
        ok = lv[k] != NULL;
    }
    cv_status rc = ok ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "downsample: out of memory");
    cv_bbox bounds = cv_info_bounds(info, mip);
    uint64_t n_blocks = 0;
    for (int64_t z = bounds.min[2]; rc == CV_OK && z < bounds.max[2]; z += block[2]) {
        for (int64_t y = bounds.min[1]; rc == CV_OK && y < bounds.max[1]; y += block[1]) {
            for (int64_t x = bounds.min[0]; rc == CV_OK && x < bounds.max[0]; x += block[0]) {
                cv_bbox b = cv_bbox_intersect(
                    cv_bbox_make(x, y, z, x + block[0], y + block[1], z + block[2]), bounds);
                int64_t shape[3] = {b.max[0] - b.min[0], b.max[1] - b.min[1], b.max[2] - b.min[2]};
                rc = cv_volume_read(v, mip, b, in, in_cap);
                int64_t shp[32][3];
                if (rc == CV_OK) {
                    rc =
                        cv_downsample_pyramid(info->dtype, info->num_channels, in, shape, a->factor,
                                              (cv_downsample_method)method, a->sparse, n, lv, shp);
                }
                for (int k = 1; k <= n && rc == CV_OK; k++) {
                    const cv_scale *s = &info->scales[level_mip[k]];
                    int64_t o[3];
                    for (int i = 0; i < 3; i++) {
                        o[i] = s->voxel_offset[i] + (b.min[i] - bounds.min[i]) / pow_f[k][i];
                    }
                    cv_bbox ob = cv_bbox_make(o[0], o[1], o[2], o[0] + shp[k - 1][0],
                                              o[1] + shp[k - 1][1], o[2] + shp[k - 1][2]);
                    rc =
                        cv_volume_write(v, level_mip[k], ob, lv[k - 1], cv_volume_box_bytes(v, ob));
                }
                n_blocks++;
            }
        }
    }
    cv_free(in);
    for (int k = 0; k < n; k++) {
        cv_free(lv[k]);
    }
    if (rc == CV_OK) {
        printf("downsampled mip %d to mips %d..%d (%" PRIu64 " blocks of %" PRId64 "x%" PRId64
               "x%" PRId64 ")\n",
               mip, level_mip[1], level_mip[n], n_blocks, block[0], block[1], block[2]);
    }
    return rc;
}

int cmd_downsample(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mip", required_argument, NULL, 'm'},
        {"num-mips", required_argument, NULL, 'n'},
        {"factor", required_argument, NULL, 'f'},
        {"method", required_argument, NULL, 'x'},
        {"sparse", no_argument, NULL, 's'},
        {"encoding", required_argument, NULL, 'e'},
        {"chunk-size", required_argument, NULL, 'C'},
        {"compress", required_argument, NULL, 'c'},
        {"memory", required_argument, NULL, 'M'},
        {"fill-missing", no_argument, NULL, 'F'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ds_args a;
    memset(&a, 0, sizeof a);
    a.factor[0] = a.factor[1] = 2;
    a.factor[2] = 1;
    a.method = -1;
    a.memory = (size_t)4 << 30;
    a.opts = cv_opts_default();
    a.opts.threads = 4;
    int64_t v64;
    for (int c; (c = cli_getopt(argc, argv, "h", opts)) != -1;) {
        switch (c) {
        case 'h':
            return cli_help(help);
        case 'm':
            a.mip_text = optarg;
            break;
        case 'n':
            if (!cli_parse_i64(optarg, &v64) || v64 < 1 || v64 > 32) {
                return cli_usage(argv[0], "bad --num-mips `%s' (1..32)", optarg);
            }
            a.num_mips = (int)v64;
            break;
        case 'f':
            if (!cli_parse_i64x3(optarg, a.factor) || a.factor[0] < 1 || a.factor[1] < 1 ||
                a.factor[2] < 1 || a.factor[0] * a.factor[1] * a.factor[2] < 2) {
                return cli_usage(argv[0], "bad --factor `%s': want X,Y,Z >= 1, not 1,1,1", optarg);
            }
            break;
        case 'x':
            a.method = strcmp(optarg, "auto") == 0 ? -1 : cv_downsample_method_from_name(optarg);
            if (a.method < 0 && strcmp(optarg, "auto") != 0) {
                return cli_usage(argv[0], "--method must be auto, average, mode, min, max or "
                                          "striding");
            }
            break;
        case 's':
            a.sparse = true;
            break;
        case 'e':
            a.encoding = optarg;
            break;
        case 'C':
            if (!cli_parse_i64x3(optarg, a.chunk_size) || a.chunk_size[0] < 1 ||
                a.chunk_size[1] < 1 || a.chunk_size[2] < 1) {
                return cli_usage(argv[0], "bad --chunk-size `%s': want X,Y,Z", optarg);
            }
            break;
        case 'c':
            if (!cli_parse_compress(optarg, &a.opts.compress)) {
                return cli_usage(argv[0], "--compress must be gzip, br or none");
            }
            break;
        case 'M':
            if (!cli_opt_memory(argv[0], optarg, &a.memory)) {
                return CLI_USAGE;
            }
            break;
        case 'F':
            a.opts.fill_missing = true;
            break;
        case 't':
            if (!cli_opt_threads(argv[0], optarg, &a.opts.threads)) {
                return CLI_USAGE;
            }
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        return cli_usage(argv[0], "want exactly one PATH");
    }
    cv_volume *v;
    if (cv_volume_open(argv[optind], &a.opts, &v) != CV_OK) {
        return cli_fail();
    }
    cv_status rc = run_downsample(v, &a);
    cv_volume_close(v);
    return rc == CV_OK ? CLI_OK : cli_fail();
}
