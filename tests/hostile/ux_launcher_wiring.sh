#!/usr/bin/env bash
# A launcher that started N tasks while MPI sees a world of 1 (srun without PMIx, a PMI
# launcher cvmpi's MPI does not speak) must refuse: every process would run the whole job
# alone. The batch shell of an sbatch allocation (SLURM_NTASKS set, no step variables) is one
# process and runs. The launchers are imitated by their environment variables.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 # Open MPI's own leaks
unset SLURM_STEPID SLURM_STEP_ID SLURM_STEP_NUM_TASKS SLURM_NTASKS SLURM_PROCID PMI_SIZE \
    PMI_RANK PMI_FD PMIX_RANK OMPI_COMM_WORLD_SIZE
HINT="each process would run the whole job alone; launch with \`srun --mpi=pmix\` (\`srun --mpi=list\` shows the plugins) or mpirun"

"$CVMPI" create src --type image --dtype uint8 --size 64,64,8 --resolution 1,1,1 \
    --chunk 32,32,8 > /dev/null

section "an srun step of 4 tasks without PMIx or PMI"
expect_exit 1 env SLURM_STEPID=0 SLURM_STEP_NUM_TASKS=4 SLURM_NTASKS=4 SLURM_PROCID=0 \
    "$CVMPI" transfer src dst --fill-missing
expect_one_line_error
[[ ! -s $OUT ]] || fail "stdout not empty"
[[ $(cat "$ERR") == "cvmpi: srun started 4 tasks without MPI wiring (no PMIx or PMI): $HINT" ]] ||
    fail "wrong message"
expect_no_file dst

section "a PMI launcher of 4 tasks, MPI world of 1"
expect_exit 1 env PMI_SIZE=4 PMI_RANK=0 "$CVMPI" verify src src
expect_one_line_error
[[ $(cat "$ERR") == "cvmpi: the launcher started 4 tasks (PMI_SIZE) but MPI sees 1 rank: $HINT" ]] ||
    fail "wrong message"

section "the batch shell of a 4-task allocation: one process, runs"
expect_exit 0 env SLURM_NTASKS=4 SLURM_PROCID=0 SLURM_JOB_ID=7 \
    "$CVMPI" transfer src dst --fill-missing
[[ $(tail -1 "$OUT") == *" on 1 rank;"* ]] || fail "not one rank"

section "an srun step of 1 task runs"
expect_exit 0 env SLURM_STEPID=0 SLURM_STEP_NUM_TASKS=1 SLURM_PROCID=0 \
    "$CVMPI" verify src dst --fill-missing
echo "ux_launcher_wiring: ok"
