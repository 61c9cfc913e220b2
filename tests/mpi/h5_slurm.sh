#!/usr/bin/env bash
# HDF5 import under Slurm: a one-node Slurm started here (loopback only, stopped by PID on
# exit); `srun -n 3 cvmpi import` (ranks started through PMIx) and an sbatch of
# slurm/cvmpi_import.sbatch write the same objects as a 1-rank mpirun import.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c "import h5py" 2> /dev/null || { echo "h5_slurm: skipped (no python3-h5py)"; exit 0; }
command -v srun > /dev/null || fail "srun not installed (.ci/install-test-deps.sh installs Slurm)"
SDIR=$WORK/slurm
chmod 755 "$WORK" # munged needs every directory above its socket searchable
trap '"$ROOT/slurm/local/stop.sh" "$SDIR"; rm -rf "$WORK"' EXIT
/usr/bin/python3 - <<'PY'
import h5py, numpy as np
a = np.random.default_rng(9).integers(0, 65536, (45, 70, 90)).astype("uint16")
with h5py.File("src.h5", "w") as f:
    d = f.create_dataset("img", data=a, chunks=(9, 35, 45), compression="gzip")
    d.attrs["resolution"] = [1, 1, 1]
PY
run_np 1 import src.h5:/img ref --chunk 32,32,16 --memory 1M > log-ref 2>&1 ||
    { cat log-ref; fail "1-rank import"; }
SLURM_CONF=$("$ROOT/slurm/local/start.sh" "$SDIR")
export SLURM_CONF
unset OMPI_MCA_rmaps_base_oversubscribe
timeout 120 srun -n 3 "$CVMPI" import src.h5:/img srun-3 --chunk 32,32,16 --memory 1M \
    > log-3 2>&1 || { cat log-3; fail "srun -n 3"; }
grep -q "on 3 ranks" log-3 || { cat log-3; fail "srun -n 3 did not run 3 ranks"; }
[ "$(digest ref)" = "$(digest srun-3)" ] || fail "srun -n 3 output differs"
CVMPI=$CVMPI timeout 180 sbatch --wait -n 2 --overcommit -o sbatch.log \
    "$ROOT/slurm/cvmpi_import.sbatch" src.h5:/img sbatch-out --chunk 32,32,16 --memory 1M \
    > /dev/null || { cat sbatch.log; fail "sbatch"; }
[ "$(digest ref)" = "$(digest sbatch-out)" ] || fail "sbatch output differs"
echo "h5_slurm: ok"
