# SPDX-License-Identifier: BSD-3-Clause
"""create_new_info(): CloudVolume's info of a new layer, made by the C library."""
import ctypes
import json

import numpy as np

from . import _lib, exceptions
from ._lib import InfoParams_t, check, lib


def _triple(values, what, kind=int):
    values = list(values)
    if len(values) != 3:
        raise exceptions.ArgumentError("%s: want 3 values, got %r" % (what, values))
    return [kind(v) for v in values]


def _has_decimals(v):
    """CloudVolume's getprecision(v) > 0: str(v) has a decimal point (4.0 counts)."""
    return "." in str(v)


def create_new_info(num_channels, layer_type, data_type, encoding, resolution, voxel_offset,
                    volume_size, mesh=None, skeletons=None, chunk_size=(64, 64, 64),
                    compressed_segmentation_block_size=(8, 8, 8), max_mip=0, factor=(2, 2, 1),
                    redirect=None):
    if not isinstance(data_type, str):
        data_type = np.dtype(data_type).name
    p = InfoParams_t()
    p.type = str(layer_type).encode()
    p.dtype = lib.cv_dtype_from_name(data_type.encode())
    if p.dtype == 0:
        raise exceptions.ArgumentError("data_type %r is not one of uint8, int8, uint16, int16, "
                                       "uint32, int32, uint64, int64, float32, float64"
                                       % (data_type,))
    p.num_channels = int(num_channels)
    p.encoding = str(encoding).encode()
    p.resolution = (ctypes.c_double * 3)(*_triple(resolution, "resolution", float))
    p.resolution_is_float = any(_has_decimals(v) for v in resolution)
    p.voxel_offset = (ctypes.c_int64 * 3)(*_triple(voxel_offset, "voxel_offset"))
    p.size = (ctypes.c_int64 * 3)(*_triple(volume_size, "volume_size"))
    p.chunk_size = (ctypes.c_int64 * 3)(*_triple(chunk_size, "chunk_size"))
    p.cseg_block = (ctypes.c_int64 * 3)(*_triple(compressed_segmentation_block_size,
                                                 "compressed_segmentation_block_size"))
    if mesh:
        p.mesh = (mesh if isinstance(mesh, str) else "mesh").encode()
    if skeletons:
        p.skeletons = (skeletons if isinstance(skeletons, str) else "skeletons").encode()
    p.max_mip = int(max_mip)
    p.factor = (ctypes.c_int64 * 3)(*_triple(factor, "factor"))
    h = ctypes.c_void_p()
    check(lib.cv_info_create(ctypes.byref(p), ctypes.byref(h)))
    try:
        out, n = ctypes.c_void_p(), ctypes.c_size_t()
        check(lib.cv_info_to_json(h, ctypes.byref(out), ctypes.byref(n)))
        info = json.loads(_lib.take_bytes(out, n.value))
    finally:
        lib.cv_info_free(h)
    if redirect is not None:
        info["redirect"] = str(redirect)
    return info
