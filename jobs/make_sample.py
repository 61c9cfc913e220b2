#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""make_sample.py OUT.h5: the sample microscope stack of the quick start, as h5py writes one.

Smooth blobs plus noise, 64 x 256 x 256 uint8 (z, y, x), 4 x 4 x 40 nm voxels (the dataset's
`resolution` attribute, x,y,z), in /raw, gzip-chunked. Seeded: the same bytes every time.
"""
import sys

import h5py
import numpy as np

rng = np.random.default_rng(7)
z, y, x = np.meshgrid(np.arange(64), np.arange(256), np.arange(256), indexing="ij")
img = 120 + 60 * np.sin(x / 17.0) * np.cos(y / 23.0) + 40 * np.sin(z / 9.0)
img += rng.normal(0, 8, img.shape)
with h5py.File(sys.argv[1], "w") as f:
    d = f.create_dataset("raw", data=np.clip(img, 0, 255).astype(np.uint8), chunks=(16, 64, 64),
                         compression="gzip")
    d.attrs["resolution"] = [4.0, 4.0, 40.0]
