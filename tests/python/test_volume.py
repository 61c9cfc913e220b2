#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""cvmpi.CloudVolume: reads against the reference reader (tests/interop/precomputed_ref.py)
and `cvmpi read`; writes checked by the reference reader; exists/delete; metadata, mip
selection, create_new_info/commit_info/add_scale against `cvmpi create`, provenance."""
import json
import os
import subprocess
import sys
import unittest

import numpy as np

from testlib import TempDirTest, cvmpi, make_layer, ref, ref_read, tool, tool_read

OFF = np.array([-5, 3, -7])


class Reads(TempDirTest):
    def setUp(self):
        super().setUp()
        self.layer = self.path("img")
        self.full = make_layer(self.layer, dtype="uint16", channels=2, seed=3)
        self.vol = cvmpi.CloudVolume("file://" + self.layer)

    def expect(self, lo, hi):
        lo, hi = np.array(lo), np.array(hi)
        a, b = lo - OFF, hi - OFF
        return self.full[a[0]:b[0], a[1]:b[1], a[2]:b[2], :]

    def test_boxes_match_reference_and_tool(self):
        for lo, hi in (((-5, 3, -7), (65, 53, 16)), ((0, 10, -2), (33, 41, 12)),
                       ((26, 34, 8), (27, 35, 9)), ((-5, 3, -7), (-4, 4, -6))):
            img = self.vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
            self.assertIsInstance(img, cvmpi.VolumeCutout)
            self.assertTrue(img.flags.f_contiguous)
            self.assertEqual(img.dtype, np.uint16)
            self.assertEqual(img.shape, tuple(np.subtract(hi, lo)) + (2,))
            self.assertEqual(img.bounds, cvmpi.Bbox(lo, hi))
            np.testing.assert_array_equal(img, ref_read(self.layer, lo, hi))
            np.testing.assert_array_equal(img, tool_read(self.layer, lo, hi))
            np.testing.assert_array_equal(img, self.expect(lo, hi))

    def test_index_forms(self):
        whole = self.vol[:, :, :]
        np.testing.assert_array_equal(whole, self.full)
        np.testing.assert_array_equal(self.vol[...], self.full)
        np.testing.assert_array_equal(self.vol[..., 1:2], self.full[..., 1:2])
        np.testing.assert_array_equal(self.vol[0:4, 5:9, 0:3, 1], self.expect((0, 5, 0),
                                                                             (4, 9, 3))[..., 1:2])
        one = self.vol[2, 4, 6]
        self.assertEqual(one.shape, (1, 1, 1, 2))
        np.testing.assert_array_equal(one, self.expect((2, 4, 6), (3, 5, 7)))
        self.assertEqual(self.vol[..., 1:2].bounds, cvmpi.Bbox((-5, 3, -7), (65, 53, 16)))
        with self.assertRaisesMessage(cvmpi.ArgumentError, "slice steps are not supported "
                                      "(axis y has step 2): read the box and step the array"):
            self.vol[0:4, 3:9:2, 0:3]

    def test_download(self):
        want = self.expect((0, 10, -2), (33, 41, 12))
        for box in (cvmpi.Bbox((0, 10, -2), (33, 41, 12)), [0, 10, -2, 33, 41, 12],
                    ((0, 10, -2), (33, 41, 12)), np.s_[0:33, 10:41, -2:12]):
            np.testing.assert_array_equal(self.vol.download(box), want)
            np.testing.assert_array_equal(self.vol.download(box, mip=0), want)

    def test_gzip_layer(self):
        layer = self.path("gz")
        full = make_layer(layer, dtype="uint8", gzip=True, seed=9)
        vol = cvmpi.CloudVolume(layer)
        np.testing.assert_array_equal(vol[:, :, :], full)

    def test_parallel(self):
        # every thread count reads the same voxels; True is every CPU
        want = self.vol[:, :, :]
        for parallel in (2, 3, True):
            vol = cvmpi.CloudVolume(self.layer, parallel=parallel)
            self.assertEqual(vol.parallel, os.cpu_count() if parallel is True else parallel)
            np.testing.assert_array_equal(vol[:, :, :], want)

    def test_progress_prints_nothing(self):
        code = ("import sys; sys.path.insert(0, %r); from testlib import cvmpi; "
                "v = cvmpi.CloudVolume(%r, progress=True); print(v.progress); v[:, :, :]"
                % (os.path.dirname(os.path.abspath(__file__)), self.layer))
        p = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, "True\n", ""))

    def test_bounds_options(self):
        vol = cvmpi.CloudVolume(self.layer, bounded=False, background_color=7)
        img = vol[-10:0, 0:5, -7:-6]
        self.assertEqual(img.bounds, cvmpi.Bbox((-10, 0, -7), (0, 5, -6)))
        np.testing.assert_array_equal(img[0:5, 0:3], 7)  # outside: background
        np.testing.assert_array_equal(img[5:, 3:], self.expect((-5, 3, -7), (0, 5, -6)))
        crop = cvmpi.CloudVolume(self.layer, autocrop=True)[-10:0, 0:5, -7:-6]
        self.assertEqual(crop.bounds, cvmpi.Bbox((-5, 3, -7), (0, 5, -6)))
        np.testing.assert_array_equal(crop, self.expect((-5, 3, -7), (0, 5, -6)))


class Writes(TempDirTest):
    def setUp(self):
        super().setUp()
        self.layer = self.path("w")
        tool("create", self.layer, "--type", "image", "--dtype", "float32", "--size",
             "70,50,23", "--offset", "-5,3,-7", "--chunk", "32,32,16", "--resolution", "4,4,40",
             "--channels", "3")
        self.vol = cvmpi.CloudVolume(self.layer)
        self.rng = np.random.default_rng(5)

    def test_c_and_fortran_order(self):
        box = ((-5, 3, -7), (65, 53, 16))
        a = self.rng.standard_normal((70, 50, 23, 3)).astype(np.float32)
        for order in ("C", "F"):
            a = a + 1
            arr = np.ascontiguousarray(a) if order == "C" else np.asfortranarray(a)
            self.vol[-5:65, 3:53, -7:16] = arr
            np.testing.assert_array_equal(ref_read(self.layer, *box), a)
            np.testing.assert_array_equal(self.vol.download(box), a)

    def test_strided_view(self):
        big = self.rng.standard_normal((140, 50, 46, 3)).astype(np.float32)
        view = big[::2, :, ::2]  # neither C nor Fortran contiguous
        self.vol[-5:65, 3:53, -7:16] = view
        np.testing.assert_array_equal(ref_read(self.layer, (-5, 3, -7), (65, 53, 16)), view)

    def test_library_reorders_c_order_arrays(self):
        # a C-order array is reordered by libcvmpi (cv_npy_to_xyzc), each dtype as NumPy would
        from cvmpi import _lib
        for dtype in ("uint8", "int16", "uint32", "float32", "uint64", "float64"):
            a = self.rng.integers(0, 100, (37, 5, 33, 2)).astype(dtype)
            got = _lib.fortran_copy(a)
            self.assertTrue(got.flags.f_contiguous)
            self.assertEqual(got.dtype, np.dtype(dtype))
            np.testing.assert_array_equal(got, a)
            self.assertEqual(got.tobytes(order="A"), np.asfortranarray(a).tobytes(order="A"))

    def test_three_dimensional(self):
        tool("create", self.path("one"), "--type", "segmentation", "--dtype", "uint64",
             "--size", "64,64,16", "--chunk", "32,32,16", "--resolution", "8,8,40")
        vol = cvmpi.CloudVolume(self.path("one"))
        a = self.rng.integers(0, 2**64 - 1, (32, 64, 16), dtype=np.uint64, endpoint=True)
        vol[32:64, 0:64, 0:16] = a
        np.testing.assert_array_equal(ref_read(self.path("one"), (32, 0, 0), (64, 64, 16)),
                                      a[..., np.newaxis])
        vol.upload(a, (0, 0, 0))
        np.testing.assert_array_equal(vol[0:32, :, :][..., 0], a)

    def test_dtype_and_shape_checked(self):
        with self.assertRaisesMessage(cvmpi.ArgumentError,
                                      "array dtype float64 does not match the layer's float32"):
            self.vol[-5:27, 3:35, -7:9] = np.zeros((32, 32, 16, 3))
        with self.assertRaisesMessage(cvmpi.AlignmentError, "array shape (32, 32, 16, 2) does "
                                      "not match the box Bbox([-5, 3, -7], [27, 35, 9]) "
                                      "(shape (32, 32, 16, 3))"):
            self.vol[-5:27, 3:35, -7:9] = np.zeros((32, 32, 16, 2), np.float32)
        with self.assertRaisesMessage(cvmpi.AlignmentError, "write to file://%s: box "
                                      "-4,3,-7,27,35,9 is not aligned to the 32x32x16 chunk grid "
                                      "(nearest aligned box -5,3,-7,27,35,9, or --non-aligned to "
                                      "read-modify-write the edge chunks)" % self.layer):
            self.vol[-4:27, 3:35, -7:9] = np.zeros((31, 32, 16, 3), np.float32)

    def test_scalar_and_non_aligned(self):
        self.vol[-5:65, 3:53, -7:16] = 1.5
        vol = cvmpi.CloudVolume(self.layer, non_aligned_writes=True)
        a = self.rng.standard_normal((10, 11, 5, 3)).astype(np.float32)
        vol[0:10, 20:31, 0:5] = a
        whole = np.full((70, 50, 23, 3), 1.5, np.float32)
        whole[5:15, 17:28, 7:12] = a
        np.testing.assert_array_equal(ref_read(self.layer, (-5, 3, -7), (65, 53, 16)), whole)

    def test_autocrop_write(self):
        vol = cvmpi.CloudVolume(self.layer, autocrop=True, non_aligned_writes=True,
                                fill_missing=True)
        a = self.rng.standard_normal((20, 10, 5, 3)).astype(np.float32)
        vol[-15:5, 3:13, -7:-2] = a  # x from -15: the first 10 columns are outside
        np.testing.assert_array_equal(ref_read(self.layer, (-5, 3, -7), (5, 13, -2)), a[10:])
        with self.assertRaisesMessage(cvmpi.OutOfBoundsError, "write to file://%s: box "
                                      "-15,3,-7,5,13,-2 is outside the volume bounds "
                                      "-5,3,-7,65,53,16" % self.layer):
            self.vol[-15:5, 3:13, -7:-2] = a

    def test_exists_and_delete(self):
        self.vol[-5:27, 3:35, -7:9] = np.ones((32, 32, 16, 3), np.float32)
        ex = self.vol.exists(np.s_[-5:65, 3:35, -7:9])
        self.assertEqual(ex, {"4_4_40/-5-27_3-35_-7-9": True, "4_4_40/27-59_3-35_-7-9": False,
                              "4_4_40/59-65_3-35_-7-9": False})
        self.assertEqual(self.vol.exists([0, 4, 0, 1, 5, 1]), {"4_4_40/-5-27_3-35_-7-9": True})
        out = tool("exists", self.layer, "--bbox", "-5,3,-7,65,35,9").stdout
        self.assertEqual(out, "%d/%d chunks present\n" % (sum(ex.values()), len(ex)))
        with self.assertRaisesMessage(cvmpi.AlignmentError, "delete in file://%s: box "
                                      "-5,3,-7,20,35,9 is not aligned to the 32x32x16 chunk grid"
                                      % self.layer):
            self.vol.delete([-5, 3, -7, 20, 35, 9])
        self.vol.delete(cvmpi.Bbox((-5, 3, -7), (27, 35, 9)))
        self.assertFalse(os.path.exists(self.path("w", "4_4_40", "-5-27_3-35_-7-9")))
        self.assertEqual(self.vol.exists([0, 4, 0, 1, 5, 1]), {"4_4_40/-5-27_3-35_-7-9": False})
        with self.assertRaisesMessage(cvmpi.EmptyVolumeException, "chunk "
                                      "`4_4_40/-5-27_3-35_-7-9' of file://%s is missing "
                                      "(use --fill-missing)" % self.layer):
            self.vol[0:1, 4:5, 0:1]
        filled = cvmpi.CloudVolume(self.layer, fill_missing=True, background_color=2)
        np.testing.assert_array_equal(filled[0:1, 4:5, 0:1], 2)

    def test_delete_black_uploads(self):
        vol = cvmpi.CloudVolume(self.layer, delete_black_uploads=True)
        vol[-5:27, 3:35, -7:9] = np.ones((32, 32, 16, 3), np.float32)
        self.assertTrue(os.path.exists(self.path("w", "4_4_40", "-5-27_3-35_-7-9.gz")) or
                        os.path.exists(self.path("w", "4_4_40", "-5-27_3-35_-7-9")))
        vol[-5:27, 3:35, -7:9] = np.zeros((32, 32, 16, 3), np.float32)
        self.assertEqual(vol.exists([0, 4, 0, 1, 5, 1]), {"4_4_40/-5-27_3-35_-7-9": False})

    def test_compress(self):
        for compress, suffix in ((False, ""), ("gzip", ".gz"), ("br", ".br")):
            vol = cvmpi.CloudVolume(self.layer, compress=compress)
            vol[-5:27, 3:35, -7:9] = np.ones((32, 32, 16, 3), np.float32)
            names = os.listdir(self.path("w", "4_4_40"))
            self.assertEqual(names, ["-5-27_3-35_-7-9" + suffix], compress)


class Metadata(TempDirTest):
    def test_properties(self):
        layer = self.path("m")
        tool("create", layer, "--type", "segmentation", "--dtype", "uint32", "--size",
             "100,80,30", "--offset", "1,2,3", "--chunk", "32,32,8", "--resolution", "4,4,40",
             "--max-mip", "2")
        vol = cvmpi.CloudVolume(layer, mip=1)
        with open(os.path.join(layer, "info")) as f:
            self.assertEqual(vol.info, json.load(f))
        self.assertEqual(vol.scales, vol.info["scales"])
        self.assertEqual(vol.mip, 1)
        self.assertEqual(list(vol.available_mips), [0, 1, 2])
        self.assertEqual(vol.bounds, cvmpi.Bbox((0, 1, 3), (50, 41, 33)))
        self.assertEqual(vol.shape.tolist(), [50, 40, 30, 1])
        self.assertEqual(vol.dtype, np.dtype("uint32"))
        self.assertEqual(vol.num_channels, 1)
        self.assertEqual(vol.layer_type, "segmentation")
        self.assertEqual(vol.resolution.tolist(), [8, 8, 40])
        self.assertEqual(vol.voxel_offset.tolist(), [0, 1, 3])
        self.assertEqual(vol.chunk_size.tolist(), [32, 32, 8])
        vol.mip = [16, 16, 40]
        self.assertEqual(vol.mip, 2)
        vol.mip = 0
        self.assertEqual(vol.shape.tolist(), [100, 80, 30, 1])
        with self.assertRaisesMessage(cvmpi.ScaleUnavailableError, "mip 3: %s has 3 scales"
                                      % layer):
            vol.mip = 3
        with self.assertRaisesMessage(cvmpi.ScaleUnavailableError, "no scale of %s has "
                                      "resolution [5.0, 5.0, 5.0] (they are [[4, 4, 40], "
                                      "[8, 8, 40], [16, 16, 40]])" % layer):
            vol.mip = (5, 5, 5)

    def test_mip_functions_and_download_at_another_mip(self):
        layer = self.path("mm")
        tool("create", layer, "--type", "image", "--dtype", "int16", "--size", "100,80,30",
             "--offset", "4,2,3", "--chunk", "16,16,8", "--resolution", "4,4,40",
             "--max-mip", "1", "--channels", "2")
        vol = cvmpi.CloudVolume(layer)
        self.assertEqual(vol.volume_size.tolist(), [100, 80, 30])
        self.assertEqual(vol.mip_volume_size(1).tolist(), [50, 40, 30])
        self.assertEqual(vol.mip_voxel_offset(1).tolist(), [2, 1, 3])
        self.assertEqual(vol.mip_resolution((8, 8, 40)).tolist(), [8, 8, 40])
        self.assertEqual(vol.mip_chunk_size(1).tolist(), [16, 16, 8])
        self.assertEqual(vol.mip_bounds(1), cvmpi.Bbox((2, 1, 3), (52, 41, 33)))
        self.assertEqual(vol.mip_shape(1).tolist(), [50, 40, 30, 2])
        a = np.random.default_rng(3).integers(-2**15, 2**15, (50, 40, 30, 2), dtype=np.int16)
        vol.upload(a, vol.mip_bounds(1), mip=1)  # vol.mip stays 0
        self.assertEqual(vol.mip, 0)
        lo, hi = (5, 7, 4), (40, 33, 29)
        want = a[3:38, 6:32, 1:26]
        for mip in (1, (8, 8, 40)):
            img = vol.download([*lo, *hi], mip=mip)
            self.assertEqual((img.mip, img.resolution.tolist(), img.layer_type, img.bounds),
                             (1, [8, 8, 40], "image", cvmpi.Bbox(lo, hi)))
            np.testing.assert_array_equal(img, want)
        np.testing.assert_array_equal(want, ref_read(layer, lo, hi, mip=1))
        np.testing.assert_array_equal(want, tool_read(layer, lo, hi, mip=1))
        np.testing.assert_array_equal(cvmpi.CloudVolume(layer, mip=1)[5:40, 7:33, 4:29], want)

    def test_refresh_info(self):
        layer = self.path("r")
        tool("create", layer, "--type", "image", "--dtype", "uint8", "--size", "64,64,16",
             "--resolution", "4,4,40")
        vol = cvmpi.CloudVolume(layer)
        tool("create", layer, "--type", "image", "--dtype", "uint8", "--size", "32,64,16",
             "--resolution", "4,4,40", "--overwrite")
        self.assertEqual(vol.shape.tolist(), [64, 64, 16, 1])
        self.assertEqual(vol.refresh_info()["scales"][0]["size"], [32, 64, 16])
        self.assertEqual(vol.shape.tolist(), [32, 64, 16, 1])

    def test_create_new_info_as_the_tool(self):
        for res, extra in (((4, 4, 40), ()), ((4.5, 4.5, 40), ())):
            tool_layer = self.path("t%s" % res[0])
            tool("create", tool_layer, "--type", "segmentation", "--dtype", "uint64",
                 "--size", "512,512,128", "--offset", "10,20,30", "--chunk", "64,64,32",
                 "--resolution", ",".join(map(str, res)), "--encoding",
                 "compressed_segmentation", "--mesh", "mesh", "--max-mip", "2", *extra)
            info = cvmpi.CloudVolume.create_new_info(
                num_channels=1, layer_type="segmentation", data_type="uint64",
                encoding="compressed_segmentation", resolution=list(res),
                voxel_offset=[10, 20, 30], volume_size=[512, 512, 128], mesh="mesh",
                chunk_size=[64, 64, 32], max_mip=2)
            layer = self.path("p%s" % res[0])
            vol = cvmpi.CloudVolume("file://" + layer, info=info)
            self.assertFalse(os.path.exists(os.path.join(layer, "info")))
            vol.commit_info()
            with open(os.path.join(layer, "info"), "rb") as a, \
                    open(os.path.join(tool_layer, "info"), "rb") as b:
                self.assertEqual(a.read(), b.read())

    def test_add_scale_and_commit(self):
        layer = self.path("a")
        info = cvmpi.CloudVolume.create_new_info(1, "image", "uint8", "raw", [4, 4, 40],
                                                 [0, 0, 0], [100, 100, 10])
        vol = cvmpi.CloudVolume(layer, info=info)
        scale = vol.add_scale((4, 4, 1))
        self.assertEqual(scale["resolution"], [16, 16, 40])
        self.assertEqual(scale["size"], [25, 25, 10])
        self.assertEqual(len(vol.info["scales"]), 2)
        vol.info["scales"][1]["encoding"] = "png"
        vol.commit_info()
        with open(os.path.join(layer, "info")) as f:
            text = f.read()
        self.assertEqual(text, ref.info_text(vol.info))
        self.assertEqual(json.loads(text)["scales"][1]["encoding"], "png")
        vol.mip = 1
        vol[0:25, 0:25, 0:10] = np.full((25, 25, 10), 3, np.uint8)
        np.testing.assert_array_equal(cvmpi.CloudVolume(layer, mip=1)[:, :, :], 3)
        vol.info["scales"][1]["size"] = [0, 25, 10]
        with self.assertRaises(cvmpi.InfoError):
            vol.commit_info()

    def test_provenance(self):
        layer = self.path("pv")
        vol = cvmpi.CloudVolume(layer, info=cvmpi.CloudVolume.create_new_info(
            1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [64, 64, 64]))
        vol.commit_info()
        vol.commit_provenance()
        with open(os.path.join(layer, "provenance")) as f:
            stored = json.load(f)
        self.assertEqual(stored, {"description": "", "owners": [], "processing": [],
                                  "sources": []})
        p = dict(stored, description="test layer", owners=["me@example.org"])
        vol.commit_provenance(p)
        self.assertEqual(cvmpi.CloudVolume(layer).provenance["owners"], ["me@example.org"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
