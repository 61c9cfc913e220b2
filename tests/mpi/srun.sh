#!/usr/bin/env bash
# The real Slurm path: a one-node Slurm started here (loopback only, stopped by PID on exit);
# `srun -n 2` and `srun -n 4` transfers and an sbatch of slurm/cvmpi_transfer.sbatch write the
# same objects as a 1-rank run.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v srun > /dev/null || fail "srun not installed (.ci/install-deps.sh installs Slurm)"
SDIR=$WORK/slurm
chmod 755 "$WORK" # munged needs every directory above its socket searchable
trap '"$ROOT/slurm/local/stop.sh" "$SDIR"; rm -rf "$WORK"' EXIT
SLURM_CONF=$("$ROOT/slurm/local/start.sh" "$SDIR")
export SLURM_CONF
# Under srun, ranks are started by Slurm through PMIx, not by mpirun.
unset OMPI_MCA_rmaps_base_oversubscribe

make_source src uint8 200,150,40 3,4,5 64,64,16
run_np 1 transfer src ref --memory 1M > log-ref 2>&1 || { cat log-ref; fail "1-rank run"; }
digest ref > d-ref
for n in 2 4; do
    timeout 120 srun -n "$n" "$CVMPI" transfer src "srun-$n" --memory 1M > "log-$n" 2>&1 ||
        { cat "log-$n"; fail "srun -n $n"; }
    grep -q "on $n ranks" "log-$n" || { cat "log-$n"; fail "srun -n $n did not run $n ranks"; }
    digest "srun-$n" | diff d-ref - > /dev/null || fail "srun -n $n output differs"
done
CVMPI=$CVMPI timeout 180 sbatch --wait -n 2 --overcommit -o sbatch.log \
    "$ROOT/slurm/cvmpi_transfer.sbatch" src sbatch-out --memory 1M > /dev/null ||
    { cat sbatch.log; fail "sbatch"; }
digest sbatch-out | diff d-ref - > /dev/null || fail "sbatch output differs"
echo "srun: ok"
