/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_downsample.c: the downsampling kernels (cvmpi.h cv_downsample_levels) on any dtype,
 * method, factor, odd shape and voxel bytes, and the property the MPI reduction tree rests on:
 * a pyramid made in two pieces (levels 1..k, then k+1..n from the state of level k) equals
 * the same pyramid made at once, byte for byte. Input: 8 header bytes (dtype, method,
 * sparse, factor, shape, levels, split), then the voxels (repeated to fill the volume). */
#include "fuzz_common.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9) {
        return 0;
    }
    static const cv_dtype types[] = {CV_UINT8, CV_INT8,   CV_UINT16, CV_INT16,   CV_UINT32,
                                     CV_INT32, CV_UINT64, CV_INT64,  CV_FLOAT32, CV_FLOAT64};
    static const int64_t factors[][3] = {{2, 2, 1}, {2, 2, 2}, {3, 3, 1}, {1, 2, 3}};
    cv_dtype t = types[data[0] % 10];
    cv_downsample_method m = (cv_downsample_method)(data[1] % 5);
    bool sparse = data[2] & 1;
    const int64_t *f = factors[data[3] % 4];
    int64_t shape[3] = {1 + data[4] % 19, 1 + data[5] % 19, 1 + data[6] % 11};
    int n = 1 + data[7] % 5, split = 1 + (data[7] >> 4) % n;
    int64_t channels = 1 + (data[2] >> 1) % 2;
    size_t esz = cv_dtype_size(t), nv = (size_t)(shape[0] * shape[1] * shape[2] * channels);
    uint8_t *in = malloc(nv * esz);
    FUZZ_ASSERT(in != NULL);
    for (size_t i = 0; i < nv * esz; i++) {
        in[i] = data[8 + i % (size - 8)];
    }
    void *whole[5], *a[5], *b[5];
    int64_t ws[5][3], as[5][3], bs[5][3], cur[3] = {shape[0], shape[1], shape[2]};
    size_t bytes[5];
    for (int k = 0; k < n; k++) {
        cv_downsample_shape(cur, f, cur);
        bytes[k] = (size_t)(cur[0] * cur[1] * cur[2] * channels) * esz;
        whole[k] = malloc(bytes[k]);
        a[k] = malloc(bytes[k]);
        b[k] = malloc(bytes[k]);
    }
    FUZZ_ASSERT(cv_downsample_levels(t, channels, in, shape, f, m, sparse, 0, n, whole, ws, NULL) ==
                CV_OK);
    /* The state of level `split`, then the rest from it. */
    int64_t ss[3];
    memcpy(ss, ws[split - 1], sizeof ss);
    size_t state_n = (size_t)(ss[0] * ss[1] * ss[2] * channels) *
                     cv_downsample_state_size(t, m, sparse, f, split);
    uint8_t *state = malloc(state_n ? state_n : 1);
    FUZZ_ASSERT(cv_downsample_levels(t, channels, in, shape, f, m, sparse, 0, split, a, as,
                                     state) == CV_OK);
    for (int k = 0; k < split; k++) {
        FUZZ_ASSERT(memcmp(as[k], ws[k], sizeof as[k]) == 0);
        FUZZ_ASSERT(memcmp(a[k], whole[k], bytes[k]) == 0);
    }
    if (split < n) {
        FUZZ_ASSERT(cv_downsample_levels(t, channels, state, ss, f, m, sparse, split, n - split,
                                         b + split, bs + split, NULL) == CV_OK);
        for (int k = split; k < n; k++) {
            FUZZ_ASSERT(memcmp(bs[k], ws[k], sizeof bs[k]) == 0);
            FUZZ_ASSERT(memcmp(b[k], whole[k], bytes[k]) == 0);
        }
    }
    free(state);
    for (int k = 0; k < n; k++) {
        free(whole[k]);
        free(a[k]);
        free(b[k]);
    }
    free(in);
    return 0;
}
