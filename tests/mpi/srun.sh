#!/usr/bin/env bash
# The real Slurm path: a one-node Slurm started here (loopback only, stopped by PID on exit);
# `srun -n 2` and `srun -n 4` transfers and an sbatch of slurm/cvmpi_transfer.sbatch write the
# same objects as a 1-rank run. srun without MPI wiring is refused (each task would run the whole
# job alone); a plain cvmpi in the batch shell of an allocation is one process and runs; the
# README's sbatch line works from a checkout with cvmpi not on PATH.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v srun > /dev/null || fail "srun not installed (.ci/install-test-deps.sh installs Slurm)"
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

# --mpi=none: every task would be a 1-rank world running all tasks; refused before MPI starts.
if timeout 120 srun --mpi=none -n 2 "$CVMPI" transfer src none-2 > log-none 2>&1; then
    cat log-none
    fail "srun --mpi=none ran"
fi
grep -qxF "cvmpi: srun started 2 tasks without MPI wiring (no PMIx or PMI): each process would run\
 the whole job alone; launch with \`srun --mpi=pmix\` (\`srun --mpi=list\` shows the plugins) or mpirun" \
    log-none || { cat log-none; fail "srun --mpi=none message"; }
[ ! -e none-2 ] || fail "srun --mpi=none wrote something"

# The batch shell has SLURM_NTASKS=2 but is one process: cvmpi runs there as one rank.
printf '#!/bin/bash\n"$CVMPI" transfer src shell-out --memory 1M\n' > shell.sbatch
CVMPI=$CVMPI timeout 180 sbatch --wait -n 2 --overcommit -o shell.log shell.sbatch > /dev/null ||
    { cat shell.log; fail "cvmpi in the batch shell"; }
grep -q " on 1 rank;" shell.log || { cat shell.log; fail "batch shell run was not 1 rank"; }
digest shell-out | diff d-ref - > /dev/null || fail "batch shell output differs"

# As the README says: from a checkout, CVMPI unset and cvmpi not on PATH.
mkdir -p checkout/build/src
cp -r "$ROOT/slurm" checkout/
ln -s "$CVMPI" checkout/build/src/cvmpi
cp -r src checkout/
(cd checkout && env -u CVMPI timeout 180 sbatch --wait -n 2 --overcommit -o readme.log \
    slurm/cvmpi_transfer.sbatch src readme-out --memory 1M > /dev/null) ||
    { cat checkout/readme.log; fail "sbatch from a checkout"; }
digest checkout/readme-out | diff d-ref - > /dev/null || fail "sbatch from a checkout differs"
echo "srun: ok"
