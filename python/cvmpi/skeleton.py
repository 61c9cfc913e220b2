# SPDX-License-Identifier: BSD-3-Clause
"""Skeletons: vol.skeleton.get(ids) / upload(...) and Skeleton (vertices, edges, radii,
vertex_types and the info's other attributes; to_swc)."""
import ctypes
import numbers

import numpy as np

from . import _lib, exceptions
from ._directory import DirectorySource
from ._lib import PSKEL, SkelAttr_t, check, lib
from .exceptions import ERR_NOTFOUND, ERR_CORRUPT

# cv_dtype (cvmpi.h) -> numpy
_DTYPES = {1: np.uint8, 2: np.int8, 3: np.uint16, 4: np.int16, 5: np.uint32, 6: np.int32,
           7: np.uint64, 8: np.int64, 9: np.float32, 10: np.float64}

class Skeleton:
    """vertices float32 (N, 3) in nanometres, edges uint32 (M, 2), radii float32 (N,),
    vertex_types uint8 (N,), id; other vertex attributes of the layer's info are attributes
    named by their id, listed in extra_attributes as CloudVolume does."""

    def __init__(self, vertices=None, edges=None, radii=None, vertex_types=None, segid=None,
                 extra_attributes=None):
        self.vertices = np.ascontiguousarray(
            np.zeros((0, 3)) if vertices is None else vertices, dtype=np.float32).reshape(-1, 3)
        self.edges = np.ascontiguousarray(
            np.zeros((0, 2)) if edges is None else edges, dtype=np.uint32).reshape(-1, 2)
        n = len(self.vertices)
        self.radii = (np.full(n, -1, dtype=np.float32) if radii is None
                      else np.ascontiguousarray(radii, dtype=np.float32).reshape(n))
        self.vertex_types = (np.zeros(n, dtype=np.uint8) if vertex_types is None
                             else np.ascontiguousarray(vertex_types, dtype=np.uint8).reshape(n))
        self.id = segid
        self.extra_attributes = list(extra_attributes or [])

    @classmethod
    def _take(cls, p):
        """A Skeleton from a C skeleton, which is freed."""
        try:
            s = p.contents
            nv, ne = s.n_vertices, s.n_edges
            v = np.ctypeslib.as_array(s.vertices, (nv * 3,)).copy() if nv else None
            e = np.ctypeslib.as_array(s.edges, (ne * 2,)).copy() if ne else None
            skel = cls(v, e, segid=int(s.id))
            for i in range(s.n_attrs):
                a = s.attrs[i]
                name = a.id.decode()
                dt = np.dtype(_DTYPES[a.dtype])
                count = nv * a.components
                raw = ctypes.string_at(a.data, count * dt.itemsize) if count else b""
                data = np.frombuffer(raw, dtype=dt).copy()
                if a.components > 1:
                    data = data.reshape(nv, a.components)
                if name == "radius":
                    skel.radii = data.astype(np.float32)
                elif name == "vertex_types":
                    skel.vertex_types = data.astype(np.uint8)
                else:
                    setattr(skel, name, data)
                    skel.extra_attributes.append({"id": name, "data_type": dt.name,
                                                  "num_components": int(a.components)})
            return skel
        finally:
            lib.cv_skeleton_free(p)

    def _attr_values(self, name):
        if name == "radius":
            return self.radii
        if name == "vertex_types":
            return self.vertex_types
        return getattr(self, name, None)

    def _c(self, attrs, n_attrs):
        """A C copy with the attribute list `attrs` (free with cv_skeleton_free)."""
        p = PSKEL()
        check(lib.cv_skeleton_new(len(self.vertices), len(self.edges), attrs, n_attrs,
                                  ctypes.byref(p)))
        s = p.contents
        s.id = int(self.id or 0)
        ctypes.memmove(s.vertices, self.vertices.ctypes.data, self.vertices.nbytes)
        ctypes.memmove(s.edges, self.edges.ctypes.data, self.edges.nbytes)
        for i in range(s.n_attrs):
            a = s.attrs[i]
            values = self._attr_values(a.id.decode())
            if values is None:
                continue  # written as the library's default (radius -1, else zeros)
            want = (len(self.vertices), a.components) if a.components > 1 else \
                (len(self.vertices),)
            arr = np.ascontiguousarray(values, dtype=_DTYPES[a.dtype])
            if arr.size != int(np.prod(want)):
                lib.cv_skeleton_free(p)
                raise exceptions.ArgumentError(
                    "skeleton %s: attribute %s has %d values, want %d" %
                    (self.id, a.id.decode(), arr.size, int(np.prod(want))))
            if arr.nbytes:
                ctypes.memmove(a.data, arr.ctypes.data, arr.nbytes)
        return p

    def to_swc(self):
        """SWC text as osteoid's to_swc()."""
        attrs = (SkelAttr_t * 16)()
        n = lib.cv_skel_default_attrs(attrs)
        p = self._c(attrs, n)
        try:
            out, size = ctypes.c_void_p(), ctypes.c_size_t()
            check(lib.cv_skeleton_to_swc(p, ctypes.byref(out), ctypes.byref(size)))
            return _lib.take_bytes(out, size.value).decode()
        finally:
            lib.cv_skeleton_free(p)

    def __repr__(self):
        return "Skeleton(segid=%s, vertices=(shape=%d, float32), edges=(shape=%d, uint32))" % (
            self.id, len(self.vertices), len(self.edges))


class SkeletonSource(DirectorySource):
    """vol.skeleton: the layer's skeleton directory (info "skeletons", default "skeletons")."""

    _open_name = "cv_skeletons_open"
    _close_name = "cv_skeletons_close"

    def get(self, segids):
        """The skeleton of an id (vertices in nanometres, the info's transform applied), or a
        list for a list of ids. A missing one raises SkeletonDecodeError, as CloudVolume."""
        single = isinstance(segids, numbers.Integral)
        ids = [int(segids)] if single else [int(s) for s in segids]
        out = []
        for segid in ids:
            p = PSKEL()
            check(lib.cv_skeletons_get(self._handle(), segid, ctypes.byref(p)),
                  {ERR_NOTFOUND: exceptions.SkeletonDecodeError,
                   ERR_CORRUPT: exceptions.SkeletonDecodeError})
            lib.cv_skeleton_apply_transform(p, p.contents.transform)
            out.append(Skeleton._take(p))
        return out[0] if single else out

    def upload(self, skeletons):
        """Write one Skeleton or a list, encoded with the info's attributes (gzip, as
        CloudVolume); a sharded directory needs every skeleton of the shards written."""
        if isinstance(skeletons, Skeleton):
            skeletons = [skeletons]
        h = self._handle(create=True)
        attrs = ctypes.POINTER(SkelAttr_t)()
        n = lib.cv_skeletons_attrs(h, ctypes.byref(attrs))
        made = []
        try:
            for s in skeletons:
                if s.id is None:
                    raise exceptions.ArgumentError("a skeleton to upload needs an id")
                made.append(s._c(attrs, n))
            arr = (PSKEL * len(made))(*made)
            check(lib.cv_skeletons_put(h, arr, len(made)))
        finally:
            for p in made:
                lib.cv_skeleton_free(p)

    def upload_raw(self, segid, vertices, edges, radii=None, vertex_types=None):
        self.upload(Skeleton(vertices, edges, radii, vertex_types, segid=segid))

    def list(self):
        """Segment ids that have a skeleton, ascending."""
        ids, n = ctypes.POINTER(ctypes.c_uint64)(), ctypes.c_size_t()
        check(lib.cv_skeletons_list(self._handle(), ctypes.byref(ids), ctypes.byref(n)))
        try:
            return [int(ids[i]) for i in range(n.value)]
        finally:
            lib.cv_free(ids)
