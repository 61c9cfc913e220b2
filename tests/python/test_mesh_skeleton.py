#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""vol.mesh and vol.skeleton: meshes written by the independent mesh_skeleton_ref.py read back
as the reference's decoder and CloudVolume's consolidate see them, PLY/OBJ bytes identical to
`cvmpi mesh get`; skeletons uploaded from Python read by the reference decoder, SWC from
to_swc() equal to `cvmpi skeleton get` (header aside)."""
import json
import os
import unittest

import numpy as np

from testlib import TempDirTest, cvmpi, load_ref, tool

msr = load_ref("mesh_skeleton_ref")


def without_header(swc):
    return [ln for ln in swc.splitlines() if not ln.startswith("#")]


class Meshes(TempDirTest):
    def setUp(self):
        super().setUp()
        self.layer = self.path("seg")
        tool("create", self.layer, "--type", "segmentation", "--dtype", "uint64", "--size",
             "64,64,16", "--resolution", "8,8,40", "--mesh", "mesh")
        msr.cmd_mkmesh(self.layer, 7, 5, 1)
        msr.cmd_mkmesh(self.layer, 1099511627781, 3, 2)
        self.vol = cvmpi.CloudVolume(self.layer)

    def test_get_matches_reference(self):
        m = self.vol.mesh.get(7)
        v, f = msr.consolidate(*msr.mesh_of(self.layer, 7))
        np.testing.assert_array_equal(m.vertices, v)
        self.assertEqual(sorted(map(tuple, m.faces.tolist())), sorted(map(tuple, f.tolist())))
        self.assertEqual(m.vertices.dtype, np.float32)
        self.assertEqual(m.faces.dtype, np.uint32)
        self.assertEqual(m.normals.shape, (0, 3))
        self.assertEqual(m.segid, 7)
        raw = self.vol.mesh.get([7], remove_duplicate_vertices=False)
        v, f = msr.mesh_of(self.layer, 7)
        np.testing.assert_array_equal(raw.vertices, v)
        np.testing.assert_array_equal(raw.faces, f)
        sep = self.vol.mesh.get([1099511627781, 7], fuse=False)
        self.assertEqual(sorted(sep), [7, 1099511627781])
        np.testing.assert_array_equal(sep[1099511627781].vertices,
                                      msr.mesh_of(self.layer, 1099511627781)[0])
        self.assertEqual(self.vol.mesh.list(), [7, 1099511627781])

    def test_ply_obj_as_the_tool(self):
        for ids, args, fmt in (("7", (), "ply"), ("7,1099511627781", (), "ply"),
                               ("7", ("--no-dedupe",), "obj")):
            out = self.path("m." + fmt)
            tool("mesh", "get", self.layer, ids, "-o", out, *args)
            with open(out, "rb") as fh:
                want = fh.read()
            m = self.vol.mesh.get([int(i) for i in ids.split(",")],
                                  remove_duplicate_vertices=not args)
            self.assertEqual(m.to_ply() if fmt == "ply" else m.to_obj(), want, ids)

    def test_put(self):
        m = self.vol.mesh.get(7)
        self.vol.mesh.put(m, segid=42)
        back = self.vol.mesh.get(42)
        np.testing.assert_array_equal(back.vertices, m.vertices)
        v, f = msr.mesh_of(self.layer, 42)
        np.testing.assert_array_equal(v, m.vertices)

    def test_missing(self):
        with self.assertRaisesMessage(cvmpi.MeshMissingError, "mesh 8: no manifest "
                                      "`file://%s/mesh/8:0'" % self.layer):
            self.vol.mesh.get([7, 8])


class Skeletons(TempDirTest):
    def setUp(self):
        super().setUp()
        self.layer = self.path("seg")
        tool("create", self.layer, "--type", "segmentation", "--dtype", "uint64", "--size",
             "64,64,16", "--resolution", "8,8,40")
        self.vol = cvmpi.CloudVolume(self.layer)

    def test_upload_get_swc(self):
        msr.cmd_mkswc(self.path("swc"), 6, 3)
        names = sorted(os.listdir(self.path("swc")))
        for name in names:
            segid = int(name[:-4])
            with open(self.path("swc", name)) as f:
                v, e, attrs = msr.parse_swc(f.read())
            skel = cvmpi.Skeleton(v, e, radii=attrs["radius"][:, 0],
                                  vertex_types=attrs["vertex_types"][:, 0], segid=segid)
            self.vol.skeleton.upload(skel)
            # the stored binary equals the SWC file for the reference decoder
            msr.check_one_skeleton(self.layer, segid, self.path("swc", name))
            got = self.vol.skeleton.get(segid)
            np.testing.assert_array_equal(got.vertices, v)
            np.testing.assert_array_equal(got.edges, e)
            np.testing.assert_array_equal(got.radii, attrs["radius"][:, 0])
            np.testing.assert_array_equal(got.vertex_types, attrs["vertex_types"][:, 0])
            self.assertEqual(got.id, segid)
            out = self.path("back.swc")
            tool("skeleton", "get", self.layer, segid, "-o", out)
            with open(out) as f:
                self.assertEqual(without_header(got.to_swc()), without_header(f.read()))
        ids = sorted(int(n[:-4]) for n in names)
        self.assertEqual(self.vol.skeleton.list(), ids)
        self.assertEqual([s.id for s in self.vol.skeleton.get(ids)], ids)

    def test_extra_attributes(self):
        # the info's other vertex attributes: uploaded from attributes named by their id,
        # stored in the info's order (read back by the reference decoder), and read back
        with open(self.path("seg", "info")) as f:
            info = json.load(f)
        info["skeletons"] = "skel"
        with open(self.path("seg", "info"), "w") as f:
            json.dump(info, f)
        attrs = [{"id": "radius", "data_type": "float32", "num_components": 1},
                 {"id": "compartment", "data_type": "uint16", "num_components": 2},
                 {"id": "vertex_types", "data_type": "uint8", "num_components": 1}]
        os.makedirs(self.path("seg", "skel"))
        with open(self.path("seg", "skel", "info"), "w") as f:
            json.dump({"@type": "neuroglancer_skeletons",
                       "transform": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0],
                       "vertex_attributes": attrs}, f)
        vol = cvmpi.CloudVolume(self.layer)
        skel = cvmpi.Skeleton([[0, 0, 0], [8, 0, 40], [16, 8, 80]], [[0, 1], [1, 2]],
                              radii=[1.5, 2, 2.5], vertex_types=[1, 3, 3], segid=9)
        skel.compartment = np.array([[1, 2], [3, 4], [65535, 0]], np.uint16)
        vol.skeleton.upload(skel)
        v, e, stored = msr.decode_skeleton(
            msr.read_maybe_gz(self.path("seg", "skel", "9")), attrs)
        np.testing.assert_array_equal(v, skel.vertices)
        np.testing.assert_array_equal(e, skel.edges)
        np.testing.assert_array_equal(stored["radius"][:, 0], [1.5, 2, 2.5])
        np.testing.assert_array_equal(stored["compartment"], skel.compartment)
        np.testing.assert_array_equal(stored["vertex_types"][:, 0], [1, 3, 3])
        got = vol.skeleton.get(9)
        self.assertEqual(got.extra_attributes,
                         [{"id": "compartment", "data_type": "uint16", "num_components": 2}])
        self.assertEqual(got.compartment.dtype, np.uint16)
        np.testing.assert_array_equal(got.compartment, skel.compartment)
        np.testing.assert_array_equal(got.radii, [1.5, 2, 2.5])
        np.testing.assert_array_equal(got.vertex_types, [1, 3, 3])
        bad = cvmpi.Skeleton([[0, 0, 0]], [], segid=10)
        bad.compartment = np.zeros(3, np.uint16)
        with self.assertRaises(cvmpi.ArgumentError) as cm:
            vol.skeleton.upload(bad)
        self.assertEqual(str(cm.exception), "skeleton 10: attribute compartment has 3 values, "
                         "want 2")

    def test_transform_and_missing(self):
        with self.assertRaisesMessage(cvmpi.SkeletonDecodeError, "skeleton "
                                      "`file://%s/skeletons/5': not found" % self.layer):
            self.vol.skeleton.get(5)  # opens the directory before it exists
        self.vol.skeleton.upload_raw(5, [[1, 2, 3], [4, 5, 6]], [[0, 1]], radii=[1, 2])
        with open(self.path("seg", "info")) as f:
            self.assertIn('"skeletons": "skeletons"', f.read())
        info_path = self.path("seg", "skeletons", "info")
        with open(info_path) as f:
            text = f.read()
        with open(info_path, "w") as f:
            f.write(text.replace("[1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]",
                                 "[2, 0, 0, 10, 0, 2, 0, 0, 0, 0, 1, 0]"))
        s = cvmpi.CloudVolume(self.layer).skeleton.get(5)
        np.testing.assert_array_equal(s.vertices, [[12, 4, 3], [18, 10, 6]])
        with self.assertRaisesMessage(cvmpi.SkeletonDecodeError, "skeleton "
                                      "`file://%s/skeletons/6': not found" % self.layer):
            self.vol.skeleton.get(6)


if __name__ == "__main__":
    unittest.main(verbosity=2)
