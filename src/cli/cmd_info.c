/* SPDX-License-Identifier: BSD-3-Clause
 * cmd_info.c: `cvmpi info`, a human summary of a layer, or its info JSON with --json. */
#include "cli/cli.h"

#include <inttypes.h>
#include <string.h>

static const char help[] = "usage: cvmpi info PATH [--json]\n\n"
                           "Show a layer's type, data type and scales. For a graphene:// PATH\n"
                           "(a ChunkedGraph server) the info comes from the server and the\n"
                           "layer shown is the watershed layer under its data_dir.\n"
                           "  --json   print the info file as CloudVolume writes it\n";

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool json = false;
    for (int c; (c = cli_getopt(argc, argv, "h", opts)) != -1;) {
        switch (c) {
        case 'h':
            return cli_help(help);
        case 'j':
            json = true;
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        return cli_usage(argv[0], "want exactly one PATH");
    }
    cv_volume *v;
    if (cv_volume_open(argv[optind], NULL, &v) != CV_OK) {
        return cli_fail();
    }
    const cv_info *info = cv_volume_info(v);
    if (json) {
        char *text;
        size_t len;
        if (cv_info_to_json(info, &text, &len) != CV_OK) {
            cv_volume_close(v);
            return cli_fail();
        }
        /* Exactly the bytes CloudVolume stores (json.dumps output, no trailing newline). */
        fwrite(text, 1, len, stdout);
        cv_free(text);
        cv_volume_close(v);
        return CLI_OK;
    }
    printf("layer:     %s%s\n", cv_volume_url(v), cv_volume_is_readonly(v) ? " (read-only)" : "");
    printf("type:      %s\n", info->type);
    printf("data type: %s x %" PRId64 " channel%s\n", cv_dtype_name(info->dtype),
           info->num_channels, info->num_channels == 1 ? "" : "s");
    if (info->mesh) {
        printf("mesh:      %s\n", info->mesh);
    }
    if (info->skeletons) {
        printf("skeletons: %s\n", info->skeletons);
    }
    printf("mip  key                size                 offset          resolution        "
           "chunk        encoding\n");
    for (int i = 0; i < info->n_scales; i++) {
        const cv_scale *s = &info->scales[i];
        char size[64], off[64], res[64], chunk[64];
        snprintf(size, sizeof size, "%" PRId64 "x%" PRId64 "x%" PRId64, s->size[0], s->size[1],
                 s->size[2]);
        snprintf(off, sizeof off, "%" PRId64 ",%" PRId64 ",%" PRId64, s->voxel_offset[0],
                 s->voxel_offset[1], s->voxel_offset[2]);
        snprintf(res, sizeof res, "%g,%g,%g", s->resolution[0], s->resolution[1], s->resolution[2]);
        snprintf(chunk, sizeof chunk, "%" PRId64 "x%" PRId64 "x%" PRId64, s->chunk_sizes[0][0],
                 s->chunk_sizes[0][1], s->chunk_sizes[0][2]);
        printf("%-4d %-18s %-20s %-15s %-17s %-12s %s%s\n", i, s->key, size, off, res, chunk,
               s->encoding, s->sharding_json ? " (sharded)" : "");
    }
    cv_volume_close(v);
    return CLI_OK;
}
