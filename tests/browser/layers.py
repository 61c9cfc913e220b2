# SPDX-License-Identifier: BSD-3-Clause
# layers.py: the volumes of the browser test, as .npy arrays indexed [x, y, z] (what
# `cvmpi write -i` takes), and the expected look of any xy slice. Every 16x16 block of a slice
# has its own value, which also changes with z, so a wrong block, slice or mip shows.
#   python3 layers.py OUTDIR   writes image.npy (uint8 128x128x8), seg.npy (uint32 128x128x8)
#                              and pyramid.npy (uint8 256x256x4, see below)
import sys

import numpy as np

BLOCK = 16


def image_value(bx, by, z):
    """uint8 value of block (bx, by) at z: 30..229, neighbours differ by >= 20."""
    return 30 + (37 * bx + 71 * by + 53 * z) % 10 * 20


def seg_label(bx, by, z):
    """uint32 label of block (bx, by) at z; 0 (background) on one block diagonal."""
    if (bx + by) % 5 == 0:
        return 0
    return 1 + ((bx + 8 * by + 64 * z) * 2654435761) % 4000000000


def blocks(shape, fn, dtype):
    a = np.zeros(shape, dtype=dtype)
    for z in range(shape[2]):
        for bx in range(shape[0] // BLOCK):
            for by in range(shape[1] // BLOCK):
                a[bx * BLOCK:(bx + 1) * BLOCK, by * BLOCK:(by + 1) * BLOCK, z] = fn(bx, by, z)
    return a


def pyramid():
    """uint8 256x256x4 whose 2x2 averages (mip 1) and 4x4 averages (mip 2) differ: a base value
    per 32x32 block, plus +-16 on a 1-voxel checkerboard (gone at mip 1) and +-8 on a 2-voxel
    checkerboard (gone at mip 2). Only mip 2 shows the plain base values."""
    x = np.arange(256)[:, None, None]
    y = np.arange(256)[None, :, None]
    z = np.arange(4)[None, None, :]
    base = 60 + (3 * (x // 32) + 5 * (y // 32) + 7 * z) % 7 * 20
    c1 = np.where((x + y) % 2 == 0, 16, -16)
    c2 = np.where((x // 2 + y // 2) % 2 == 0, 8, -8)
    return (base + c1 + c2).astype(np.uint8)


def pyramid_base(mip2_slice_shape, z):
    """The expected mip-2 slice: the base values only."""
    x = np.arange(mip2_slice_shape[0])[:, None] * 4
    y = np.arange(mip2_slice_shape[1])[None, :] * 4
    return (60 + (3 * (x // 32) + 5 * (y // 32) + 7 * z) % 7 * 20).astype(np.uint8)


if __name__ == "__main__":
    out = sys.argv[1]
    np.save(f"{out}/image.npy", blocks((128, 128, 8), image_value, np.uint8))
    np.save(f"{out}/seg.npy", blocks((128, 128, 8), seg_label, np.uint32))
    np.save(f"{out}/pyramid.npy", pyramid())
