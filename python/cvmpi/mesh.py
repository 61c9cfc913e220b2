# SPDX-License-Identifier: BSD-3-Clause
"""Meshes: vol.mesh.get(ids) and Mesh (vertices, faces, normals; to_ply, to_obj)."""
import ctypes
import numbers

import numpy as np

from . import _lib, exceptions
from ._directory import DirectorySource
from ._lib import PMESH, check, lib
from .exceptions import ERR_NOTFOUND


class Mesh:
    """vertices float32 (N, 3) in nanometres, faces uint32 (M, 3), normals float32 (0, 3)
    (precomputed meshes store none), segid."""

    def __init__(self, vertices, faces, normals=None, segid=None):
        self.vertices = np.ascontiguousarray(vertices, dtype=np.float32).reshape(-1, 3)
        self.faces = np.ascontiguousarray(faces, dtype=np.uint32).reshape(-1, 3)
        if normals is None:
            normals = np.zeros((0, 3), dtype=np.float32)
        self.normals = np.asarray(normals, dtype=np.float32).reshape(-1, 3)
        self.segid = segid

    @classmethod
    def _take(cls, p):
        """A Mesh from a C mesh, which is freed."""
        try:
            m = p.contents
            v = np.ctypeslib.as_array(m.vertices, (m.n_vertices * 3,)).copy() \
                if m.n_vertices else np.zeros(0, np.float32)
            f = np.ctypeslib.as_array(m.faces, (m.n_faces * 3,)).copy() \
                if m.n_faces else np.zeros(0, np.uint32)
            return cls(v, f, segid=int(m.id))
        finally:
            lib.cv_mesh_free(p)

    def _c(self):
        """A C copy (free with cv_mesh_free)."""
        p = PMESH()
        check(lib.cv_mesh_new(len(self.vertices), len(self.faces), ctypes.byref(p)))
        m = p.contents
        m.id = int(self.segid or 0)
        ctypes.memmove(m.vertices, self.vertices.ctypes.data, self.vertices.nbytes)
        ctypes.memmove(m.faces, self.faces.ctypes.data, self.faces.nbytes)
        return p

    def _serialize(self, fn):
        p = self._c()
        try:
            out, n = ctypes.c_void_p(), ctypes.c_size_t()
            check(fn(p, ctypes.byref(out), ctypes.byref(n)))
            return _lib.take_bytes(out, n.value)
        finally:
            lib.cv_mesh_free(p)

    def to_ply(self):
        """Binary little-endian PLY bytes, as CloudVolume's to_ply()."""
        return self._serialize(lib.cv_mesh_to_ply)

    def to_obj(self):
        """Wavefront OBJ bytes, as CloudVolume's to_obj()."""
        return self._serialize(lib.cv_mesh_to_obj)

    def __len__(self):
        return len(self.vertices)

    def __eq__(self, other):
        return (isinstance(other, Mesh) and np.array_equal(self.vertices, other.vertices)
                and np.array_equal(self.faces, other.faces)
                and np.array_equal(self.normals, other.normals))

    def __repr__(self):
        return "Mesh(vertices<%d>, faces<%d>, normals<%d>, segid=%s)" % (
            len(self.vertices), len(self.faces), len(self.normals), self.segid)


def _ids(segids):
    if isinstance(segids, numbers.Integral):
        return [int(segids)]
    return [int(s) for s in segids]


class MeshSource(DirectorySource):
    """vol.mesh: the layer's mesh directory (info "mesh", default "mesh")."""

    _open_name = "cv_meshes_open"
    _close_name = "cv_meshes_close"

    def _get_c(self, segid, lod):
        p = PMESH()
        check(lib.cv_meshes_get(self._handle(), segid, lod, ctypes.byref(p)),
              {ERR_NOTFOUND: exceptions.MeshMissingError})
        return p

    def get(self, segids, remove_duplicate_vertices=True, fuse=True, lod=0):
        """As CloudVolume: the meshes of `segids` (an id or a list) fused into one Mesh,
        identical vertices merged unless remove_duplicate_vertices=False; with fuse=False a
        dict {segid: Mesh}. A segment without a mesh raises MeshMissingError."""
        ids = sorted(set(_ids(segids)))
        got = []
        try:
            for segid in ids:
                got.append(self._get_c(segid, lod))
            if not fuse:
                out = {}
                while got:
                    p = got.pop(0)
                    segid = int(p.contents.id)
                    out[segid] = Mesh._take(p)
                return out
            arr = (PMESH * len(got))(*got)
            fused = PMESH()
            check(lib.cv_mesh_concat(arr, len(got), ctypes.byref(fused)))
            if remove_duplicate_vertices:
                cons = PMESH()
                try:
                    check(lib.cv_mesh_consolidate(fused, ctypes.byref(cons)))
                finally:
                    lib.cv_mesh_free(fused)
                fused = cons
            mesh = Mesh._take(fused)
            mesh.segid = ids[0] if len(ids) == 1 else None
            return mesh
        finally:
            for p in got:
                lib.cv_mesh_free(p)

    def put(self, mesh, segid=None):
        """Write a Mesh as CloudVolume's legacy mesh.put (fragment "<id>:0:1" and manifest)."""
        segid = mesh.segid if segid is None else segid
        if segid is None:
            raise exceptions.ArgumentError("the mesh has no segid: pass segid=")
        p = mesh._c()
        try:
            check(lib.cv_meshes_put(self._handle(create=True), int(segid), p))
        finally:
            lib.cv_mesh_free(p)

    upload = put

    def list(self):
        """Segment ids that have a mesh, ascending."""
        ids, n = ctypes.POINTER(ctypes.c_uint64)(), ctypes.c_size_t()
        check(lib.cv_meshes_list(self._handle(), ctypes.byref(ids), ctypes.byref(n)))
        try:
            return [int(ids[i]) for i in range(n.value)]
        finally:
            lib.cv_free(ids)
