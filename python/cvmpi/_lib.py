# SPDX-License-Identifier: BSD-3-Clause
"""Loading libcvmpi and declaring the C functions the binding calls (ctypes).

ctypes releases the GIL around every call into a CDLL, so reads, writes and decoding in C run
while other Python threads go on; it needs no compiler and no package beyond the standard
library."""
import ctypes
import os

import numpy as np

from . import exceptions

_SONAMES = ("libcvmpi.so.0", "libcvmpi.so")


class Bbox_t(ctypes.Structure):
    _fields_ = [("min", ctypes.c_int64 * 3), ("max", ctypes.c_int64 * 3)]


class Err_t(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("sys_errno", ctypes.c_int),
                ("where", ctypes.c_char * 64), ("what", ctypes.c_char * 1024)]


class Opts_t(ctypes.Structure):
    _fields_ = [("fill_missing", ctypes.c_bool), ("bounded", ctypes.c_bool),
                ("autocrop", ctypes.c_bool), ("non_aligned_writes", ctypes.c_bool),
                ("delete_black_uploads", ctypes.c_bool), ("background_color", ctypes.c_double),
                ("compress", ctypes.c_char_p), ("compress_level", ctypes.c_int),
                ("max_redirects", ctypes.c_int), ("threads", ctypes.c_int),
                ("max_bytes", ctypes.c_size_t), ("cache", ctypes.c_char_p),
                ("cache_max_age", ctypes.c_double), ("cache_info_age", ctypes.c_double),
                ("cache_bytes", ctypes.c_uint64), ("lru_bytes", ctypes.c_size_t)]


class Mesh_t(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("n_vertices", ctypes.c_uint32),
                ("n_faces", ctypes.c_uint32), ("vertices", ctypes.POINTER(ctypes.c_float)),
                ("faces", ctypes.POINTER(ctypes.c_uint32))]


class SkelAttr_t(ctypes.Structure):
    _fields_ = [("id", ctypes.c_char * 64), ("dtype", ctypes.c_int),
                ("components", ctypes.c_uint32), ("data", ctypes.POINTER(ctypes.c_uint8))]


class Skeleton_t(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("n_vertices", ctypes.c_uint32),
                ("n_edges", ctypes.c_uint32), ("vertices", ctypes.POINTER(ctypes.c_float)),
                ("edges", ctypes.POINTER(ctypes.c_uint32)), ("n_attrs", ctypes.c_int),
                ("attrs", SkelAttr_t * 16), ("transform", ctypes.c_double * 12)]


class InfoParams_t(ctypes.Structure):
    _fields_ = [("type", ctypes.c_char_p), ("dtype", ctypes.c_int),
                ("num_channels", ctypes.c_int64), ("encoding", ctypes.c_char_p),
                ("resolution", ctypes.c_double * 3), ("resolution_is_float", ctypes.c_bool),
                ("voxel_offset", ctypes.c_int64 * 3), ("size", ctypes.c_int64 * 3),
                ("chunk_size", ctypes.c_int64 * 3), ("cseg_block", ctypes.c_int64 * 3),
                ("mesh", ctypes.c_char_p), ("skeletons", ctypes.c_char_p),
                ("max_mip", ctypes.c_int), ("factor", ctypes.c_int64 * 3)]


class GrapheneReadOpts_t(ctypes.Structure):
    _fields_ = [("agglomerate", ctypes.c_bool), ("timestamp", ctypes.POINTER(ctypes.c_int64)),
                ("root_ids", ctypes.POINTER(ctypes.c_uint64)), ("n_root_ids", ctypes.c_size_t),
                ("stop_layer", ctypes.POINTER(ctypes.c_int)), ("preserve_zeros", ctypes.c_bool)]


class Npy_t(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("ndim", ctypes.c_int), ("shape", ctypes.c_int64 * 4),
                ("fortran_order", ctypes.c_bool), ("data_offset", ctypes.c_size_t)]


P = ctypes.c_void_p
I = ctypes.c_int
S = ctypes.c_char_p
SZ = ctypes.c_size_t
U64 = ctypes.c_uint64
PP = ctypes.POINTER(ctypes.c_void_p)
PSZ = ctypes.POINTER(ctypes.c_size_t)
PU64 = ctypes.POINTER(ctypes.c_uint64)
PMESH = ctypes.POINTER(Mesh_t)
PSKEL = ctypes.POINTER(Skeleton_t)
PD = ctypes.POINTER(ctypes.c_double)

# name: (restype, argtypes)
_PROTOTYPES = {
    "cv_version": (S, []),
    "cv_err_last": (ctypes.POINTER(Err_t), []),
    "cv_err_clear": (None, []),
    "cv_free": (None, [P]),
    "cv_opts_default": (Opts_t, []),
    "cv_secrets_set": (I, [S]),
    "cv_dtype_from_name": (I, [S]),
    "cv_info_create": (I, [ctypes.POINTER(InfoParams_t), PP]),
    "cv_info_parse": (I, [S, SZ, S, PP]),
    "cv_info_to_json": (I, [P, PP, PSZ]),
    "cv_info_free": (None, [P]),
    "cv_info_add_scale": (I, [P, ctypes.POINTER(ctypes.c_int64), P, S, ctypes.POINTER(I)]),
    "cv_volume_open": (I, [S, ctypes.POINTER(Opts_t), PP]),
    "cv_volume_open_info": (I, [S, P, ctypes.POINTER(Opts_t), PP]),
    "cv_volume_close": (None, [P]),
    "cv_volume_info": (P, [P]),
    "cv_volume_set_info": (I, [P, P]),
    "cv_volume_commit_info": (I, [P]),
    "cv_volume_provenance": (I, [P, PP]),
    "cv_volume_commit_provenance": (I, [P, P]),
    "cv_provenance_to_json": (I, [P, PP, PSZ]),
    "cv_provenance_parse": (I, [S, SZ, S, PP]),
    "cv_provenance_free": (None, [P]),
    "cv_volume_url": (S, [P]),
    "cv_volume_resolve_box": (I, [P, I, Bbox_t, ctypes.POINTER(Bbox_t)]),
    "cv_volume_check_box": (I, [P, Bbox_t, PSZ]),
    "cv_volume_read": (I, [P, I, Bbox_t, P, SZ]),
    "cv_volume_write": (I, [P, I, Bbox_t, P, SZ]),
    "cv_volume_is_graphene": (ctypes.c_bool, [P]),
    "cv_graphene_read": (I, [P, I, Bbox_t, ctypes.POINTER(GrapheneReadOpts_t), P, SZ]),
    "cv_graphene_chunk_mappings": (I, [P, U64, ctypes.POINTER(ctypes.c_int64),
                                       ctypes.POINTER(PU64), PSZ]),
    "cv_timestamp_parse": (I, [S, ctypes.POINTER(ctypes.c_int64)]),
    "cv_volume_exists": (I, [P, I, Bbox_t, PU64, PU64]),
    "cv_volume_delete": (I, [P, I, Bbox_t]),
    "cv_volume_chunk_key": (I, [P, I, Bbox_t, ctypes.c_char_p, SZ]),
    "cv_npy_to_xyzc": (None, [ctypes.POINTER(Npy_t), P, P]),
    "cv_mesh_new": (I, [ctypes.c_uint32, ctypes.c_uint32, ctypes.POINTER(PMESH)]),
    "cv_mesh_free": (None, [PMESH]),
    "cv_mesh_concat": (I, [ctypes.POINTER(PMESH), SZ, ctypes.POINTER(PMESH)]),
    "cv_mesh_consolidate": (I, [PMESH, ctypes.POINTER(PMESH)]),
    "cv_mesh_to_ply": (I, [PMESH, PP, PSZ]),
    "cv_mesh_to_obj": (I, [PMESH, PP, PSZ]),
    "cv_meshes_open": (I, [P, ctypes.c_bool, PP]),
    "cv_meshes_close": (None, [P]),
    "cv_meshes_get": (I, [P, U64, I, ctypes.POINTER(PMESH)]),
    "cv_meshes_put": (I, [P, U64, PMESH]),
    "cv_meshes_list": (I, [P, ctypes.POINTER(PU64), PSZ]),
    "cv_skeleton_new": (I, [ctypes.c_uint32, ctypes.c_uint32, ctypes.POINTER(SkelAttr_t), I,
                            ctypes.POINTER(PSKEL)]),
    "cv_skel_default_attrs": (I, [ctypes.POINTER(SkelAttr_t)]),
    "cv_skeleton_free": (None, [PSKEL]),
    "cv_skeleton_apply_transform": (None, [PSKEL, PD]),
    "cv_skeleton_to_swc": (I, [PSKEL, PP, PSZ]),
    "cv_skeletons_open": (I, [P, ctypes.c_bool, PP]),
    "cv_skeletons_close": (None, [P]),
    "cv_skeletons_attrs": (I, [P, ctypes.POINTER(ctypes.POINTER(SkelAttr_t))]),
    "cv_skeletons_get": (I, [P, U64, ctypes.POINTER(PSKEL)]),
    "cv_skeletons_put": (I, [P, ctypes.POINTER(PSKEL), SZ]),
    "cv_skeletons_list": (I, [P, ctypes.POINTER(PU64), PSZ]),
}


def _candidates():
    """(description, path or name) in the order they are tried."""
    out = []
    env = os.environ.get("CVMPI_LIBRARY")
    if env:
        out.append(("CVMPI_LIBRARY", env))
    here = os.path.dirname(os.path.abspath(__file__))
    for name in _SONAMES:
        out.append(("the package directory", os.path.join(here, name)))
    try:
        from . import _installed  # written by `cmake --install`
        out.append(("the library installed with the package",
                    os.path.normpath(_installed.LIBRARY)))
    except ImportError:
        pass
    for name in _SONAMES:
        out.append(("the loader path (LD_LIBRARY_PATH, ld.so.cache)", name))
    return out


def _load():
    tried = []
    for how, where in _candidates():
        if os.sep in where and not os.path.exists(where):
            tried.append("%s: %s (no such file)" % (how, where))
            continue
        try:
            lib = ctypes.CDLL(where)
        except OSError as e:
            tried.append("%s: %s (%s)" % (how, where, e))
            continue
        missing = [n for n in _PROTOTYPES if not hasattr(lib, n)]
        if missing:
            tried.append("%s: %s (lacks %s: an older libcvmpi)" % (how, where, missing[0]))
            continue
        return lib, where
    raise exceptions.LibraryNotFoundError(
        "cvmpi: cannot load libcvmpi; tried:\n  " + "\n  ".join(tried) +
        "\nset CVMPI_LIBRARY to the path of libcvmpi.so.0")


# Functions whose int result is a count or a length, not a cv_status.
_NOT_STATUS = {"cv_dtype_from_name", "cv_skel_default_attrs", "cv_skeletons_attrs",
               "cv_volume_chunk_key"}


def _clearing(f):
    """The error record keeps a thread's first failure until cleared: clear it before each
    call so that a failure's message is this call's."""
    def call(*args):
        clear()
        return f(*args)
    call.__name__ = f.__name__
    call.__wrapped__ = f
    return call


lib, path = _load()
clear = lib.cv_err_clear
for _name, (_res, _args) in _PROTOTYPES.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args
    if _res is I and _name not in _NOT_STATUS:
        setattr(lib, _name, _clearing(_f))

version = lib.cv_version().decode()


def last_error():
    e = lib.cv_err_last().contents
    return e.code, e.what.decode("utf-8", "replace")


def check(rc, classes=None):
    """Raise the exception of a failed call: `classes` maps a status to a more precise class
    than the default one."""
    if rc == 0:
        return
    code, what = last_error()
    lib.cv_err_clear()
    if code == 0:
        code = rc
    cls = (classes or {}).get(rc) or exceptions.for_status(rc)
    raise cls(what or "status %d" % rc, code=rc)


def take_bytes(ptr, n):
    """Copy a buffer the library allocated and free it."""
    try:
        return ctypes.string_at(ptr, n) if n else b""
    finally:
        lib.cv_free(ptr)


def fortran_copy(img):
    """A Fortran-order copy of a C-contiguous 4-D array, made by libcvmpi (a cache-blocked
    transposition, without the GIL): NumPy's own order conversion is several times slower."""
    out = np.empty(img.shape, img.dtype, order="F")
    h = Npy_t(dtype=lib.cv_dtype_from_name(img.dtype.name.encode()), ndim=4,
              shape=(ctypes.c_int64 * 4)(*img.shape), fortran_order=False)
    lib.cv_npy_to_xyzc(ctypes.byref(h), img.ctypes.data, out.ctypes.data)
    return out


def bbox_t(minpt, maxpt):
    b = Bbox_t()
    for d in range(3):
        b.min[d] = int(minpt[d])
        b.max[d] = int(maxpt[d])
    return b
