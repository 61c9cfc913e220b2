#!/usr/bin/env bash
# A cvmpi job command run as one process with no launcher does not start MPI (MPI_Init takes a
# fraction of a second even as a singleton); CVMPI_MPI=always starts it, CVMPI_MPI=never keeps
# it off, and both write the same bytes. The proof does not rely on cvmpi's own log: Open MPI
# reads its MCA settings in MPI_Init, so a btl that does not exist fails only a run that
# initialises MPI. A launcher's variables still start MPI (and refuse CVMPI_MPI=never).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 # Open MPI's own leaks
unset SLURM_STEPID SLURM_STEP_ID SLURM_STEP_NUM_TASKS SLURM_NTASKS SLURM_PROCID PMI_SIZE \
    PMI_RANK PMI_FD PMIX_RANK OMPI_COMM_WORLD_SIZE MPI_LOCALNRANKS MV2_COMM_WORLD_SIZE \
    ALPS_APP_PE PALS_RANKID CVMPI_MPI
HINT="each process would run the whole job alone; launch with \`srun --mpi=pmix\` (\`srun --mpi=list\` shows the plugins) or mpirun"

"$CVMPI" create src --type image --dtype uint8 --size 64,64,8 --resolution 1,1,1 \
    --chunk 32,32,8 > /dev/null
np_gen a.raw uint8 64,64,8,1 7
"$CVMPI" write src --bbox 0,0,0,64,64,8 -i a.raw

section "one process, no launcher: MPI is not initialised"
expect_exit 0 env OMPI_MCA_btl=cvmpi_no_such_btl "$CVMPI" -v transfer src auto --encoding raw
expect_stderr_contains "cvmpi: info: MPI not started: one process, no launcher (CVMPI_MPI=always starts it)"
[[ $(tail -1 "$OUT") == *" on 1 rank;"* ]] || fail "not one rank"

section "CVMPI_MPI=always initialises it (and so fails on the bad btl)"
expect_exit 1 env OMPI_MCA_btl=cvmpi_no_such_btl CVMPI_MPI=always "$CVMPI" transfer src bad \
    --encoding raw
# Open MPI's report of it varies from run to run (its helper daemon's messages may be lost).
grep -qE "component was not found|MPI_Init|MPI_INIT|ORTE_ERROR_LOG" "$ERR" || fail "MPI_Init did not run"
expect_exit 0 env CVMPI_MPI=always "$CVMPI" -v transfer src always --encoding raw
expect_stderr_contains "cvmpi: info: MPI started (CVMPI_MPI): 1 rank"

section "never, always and the default write the same bytes"
expect_exit 0 env CVMPI_MPI=never "$CVMPI" transfer src never --encoding raw
for d in auto always never; do
    (cd "$d" && find . -path ./.cvmpi-journal -prune -o -type f -print0 | sort -z |
        xargs -0 sha256sum) > "sums-$d"
done
expect_same_files sums-auto sums-always
expect_same_files sums-auto sums-never
[[ $(grep -c . sums-auto) -ge 3 ]] || fail "too few files compared"
expect_exit 0 env CVMPI_MPI=never "$CVMPI" verify src never
expect_stdout "verify: 4 tasks, 0 differ, 0 could not be read"

section "a bad CVMPI_MPI"
expect_exit 1 env CVMPI_MPI=sometimes "$CVMPI" verify src never
expect_one_line_error
[[ $(cat "$ERR") == "cvmpi: CVMPI_MPI=\`sometimes' is not one of always, never, auto" ]] ||
    fail "wrong message"

section "CVMPI_MPI=never under a launcher of 4 tasks"
expect_exit 1 env CVMPI_MPI=never PMI_SIZE=4 PMI_RANK=0 "$CVMPI" verify src never
expect_one_line_error
[[ $(cat "$ERR") == "cvmpi: CVMPI_MPI=never but the launcher started 4 tasks (PMI_SIZE): $HINT" ]] ||
    fail "wrong message"

section "each launcher's variable starts MPI"
# Faked without the launcher, MPI_Init may fail: then the one thing asserted is that cvmpi tried.
for var in OMPI_COMM_WORLD_SIZE PMIX_RANK PMI_RANK PMI_FD MPI_LOCALNRANKS MV2_COMM_WORLD_SIZE \
    ALPS_APP_PE PALS_RANKID; do
    run timeout 60 env "$var=1" "$CVMPI" -v verify src never
    if grep -q "MPI not started" "$ERR"; then
        fail "$var did not start MPI"
    fi
    if [[ $RC == 0 ]]; then
        grep -qF "cvmpi: info: MPI started ($var): 1 rank" "$ERR" || fail "$var: no start line"
    else
        grep -qE "MPI_Init|MPI_INIT|ORTE_ERROR_LOG|PMI|PMIx" "$ERR" ||
            fail "$var: exit $RC without an MPI_Init error"
    fi
done
echo "ux_mpi_start: ok"
