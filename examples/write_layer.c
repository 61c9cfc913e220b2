/* SPDX-License-Identifier: BSD-3-Clause
 * write_layer.c: create a 128x128x16 uint8 image layer at PATH and fill it with a pattern
 * (voxel x,y,z holds (x + 2y + 3z) mod 256).  Usage: write_layer PATH */
#include <cvmpi.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what)
{
    fprintf(stderr, "write_layer: %s: %s\n", what, cv_err_last()->what);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: write_layer PATH\n");
        return 2;
    }
    cv_info_params p = {.type = "image",
                        .dtype = CV_UINT8,
                        .encoding = "raw",
                        .resolution = {4, 4, 40},
                        .size = {128, 128, 16},
                        .chunk_size = {64, 64, 16}};
    cv_info *info;
    if (cv_info_create(&p, &info) != CV_OK)
        return fail("info");
    cv_opts opts = cv_opts_default();
    cv_volume *vol;
    cv_status rc = cv_volume_create(argv[1], info, false, &opts, &vol);
    cv_info_free(info);
    if (rc != CV_OK)
        return fail(argv[1]);
    cv_bbox box = cv_info_bounds(cv_volume_info(vol), 0); /* the whole layer */
    uint8_t *img = malloc(cv_volume_box_bytes(vol, box));
    if (!img)
        return 1;
    for (int64_t z = 0, i = 0; z < 16; z++)
        for (int64_t y = 0; y < 128; y++)
            for (int64_t x = 0; x < 128; x++)
                img[i++] = (uint8_t)(x + 2 * y + 3 * z);
    rc = cv_volume_write(vol, 0, box, img, cv_volume_box_bytes(vol, box));
    free(img);
    cv_volume_close(vol);
    if (rc != CV_OK)
        return fail("write");
    printf("wrote %s\n", argv[1]);
    return 0;
}
