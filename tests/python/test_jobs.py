#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""cvmpi.transfer / downsample / import_hdf5: the MPI tool run on 2 ranks under mpirun (skipped
without mpirun), its report returned, its message raised as JobError on failure."""
import os
import shutil
import unittest

import numpy as np

from testlib import TempDirTest, cvmpi, make_layer, ref_read

# mpirun as root, oversubscribed, on loopback (as tests/mpi/lib.sh)
os.environ.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                  OMPI_MCA_rmaps_base_oversubscribe="1", OMPI_MCA_btl="self,vader",
                  OMPI_MCA_oob_tcp_if_include="lo", OMPI_MCA_mpi_yield_when_idle="1")
os.environ.pop("SLURM_JOB_ID", None)  # mpirun here even inside an allocation


@unittest.skipUnless(shutil.which("mpirun"), "mpirun is not installed")
class Jobs(TempDirTest):
    def test_transfer_and_downsample(self):
        src, dst = self.path("src"), self.path("dst")
        full = make_layer(src, dtype="uint8", size=(64, 64, 32), offset=(0, 0, 0),
                          chunk=(32, 32, 16))
        report = cvmpi.transfer(src, dst, ranks=2, encoding="raw", compress="br",
                                chunk_size=(16, 16, 16))
        self.assertEqual(report["job"], "transfer")
        self.assertEqual(report["status"], "ok")
        self.assertEqual(report["n_ranks"], 2)
        self.assertEqual(sum(r["chunks_written"] for r in report["ranks"]), 32)
        self.assertTrue(all(n.endswith(".br") for n in os.listdir(os.path.join(dst, "4_4_40"))))
        vol = cvmpi.CloudVolume(dst)
        self.assertEqual(vol.chunk_size.tolist(), [16, 16, 16])
        np.testing.assert_array_equal(vol[:, :, :], full)
        report = cvmpi.downsample(dst, ranks=2, num_mips=2, factor=(2, 2, 1))
        self.assertEqual((report["job"], report["status"], report["n_ranks"]),
                         ("downsample", "ok", 2))
        vol = cvmpi.CloudVolume(dst, mip=2)
        self.assertEqual(vol.shape.tolist(), [16, 16, 32, 1])
        self.assertEqual(len(vol.scales), 3)

    def test_failure_raises_the_tool_message(self):
        with self.assertRaises(cvmpi.JobError) as cm:
            cvmpi.transfer(self.path("nosuch"), self.path("dst"), ranks=2)
        e = cm.exception
        self.assertIsInstance(e, cvmpi.Error)
        self.assertEqual(str(e), "cvmpi: no info file at file://%s" % self.path("nosuch"))
        self.assertEqual(e.returncode, 1)
        self.assertEqual(e.report["status"], "failed")
        with self.assertRaisesMessage(cvmpi.JobError, "cvmpi downsample: option "
                                      "`--no-such-flag' is not known") as cm:
            cvmpi.downsample(self.path("x"), ranks=1, no_such_flag=3)
        self.assertEqual((cm.exception.returncode, cm.exception.report), (2, None))
        with self.assertRaisesMessage(cvmpi.JobError, "cvmpi: no info file at file://%s"
                                      % self.path("nosuch")) as cm:
            cvmpi.downsample(self.path("nosuch"), ranks=2, num_mips=1)
        self.assertEqual((cm.exception.returncode, cm.exception.report["job"],
                          cm.exception.report["status"]), (1, "downsample", "failed"))
        with self.assertRaisesMessage(cvmpi.JobError, "cvmpi: import: cannot read %s: no such "
                                      "file" % self.path("no.h5")) as cm:
            cvmpi.import_hdf5(self.path("no.h5") + ":/vol", self.path("imp"), ranks=2,
                              resolution=(4, 4, 40))
        self.assertEqual((cm.exception.returncode, cm.exception.report["status"]), (1, "failed"))
        self.assertTrue(cm.exception.stderr.startswith(str(cm.exception) + "\n"))

    def test_import_hdf5(self):
        try:
            import h5py
        except ImportError:
            self.skipTest("h5py is not installed")
        a = np.random.default_rng(2).integers(0, 60000, (20, 40, 30), dtype=np.uint16)
        with h5py.File(self.path("s.h5"), "w") as f:
            f["vol"] = a  # z, y, x as h5py writes it
        dst = self.path("imp")
        report = cvmpi.import_hdf5(self.path("s.h5") + ":/vol", dst, ranks=2,
                                   resolution=(4, 4, 40), chunk=(16, 16, 16))
        self.assertEqual(report["status"], "ok")
        np.testing.assert_array_equal(ref_read(dst, (0, 0, 0), (30, 40, 20))[..., 0],
                                      a.transpose(2, 1, 0))


if __name__ == "__main__":
    unittest.main(verbosity=2)
