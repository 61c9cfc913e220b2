#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# bench_journal_resume.sh BENCH_JOURNAL_RESUME: the journal load of --resume with 1, 2 and 4
# MPI ranks, after 8 ranks of an earlier run recorded 10^7 finished tasks (300 MB of records;
# the files are written fresh for each rank count, so the page cache is warm). One TSV line per
# rank count: the slowest rank's seconds and the most MB one rank read (rchar), and the tasks
# found done. `--quick` records 10^5 tasks for CTest (label bench). Never fails on speed; fails
# if a rank count finds another number of tasks done.
set -eu
BENCH=${1:?usage: $0 PATH/TO/bench_journal_resume [--quick] [--dir DIR]}
shift
RECORDS=10000000
PARENT=${TMPDIR:-/tmp}
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) RECORDS=100000 ;;
    --dir) PARENT=$2; shift ;;
    *) echo "usage: $0 BENCH [--quick] [--dir DIR]" >&2; exit 2 ;;
    esac
    shift
done
if ! command -v mpirun >/dev/null 2>&1; then
    echo "bench_journal_resume: skipped: needs mpirun"
    exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader
HERE=$(cd "$(dirname "$0")" && pwd)
REV=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "# bench_journal_resume: $RECORDS finished tasks in 8 rank files, resumed by N ranks"
printf 'rev\tranks\tslowest_rank_s\tmost_MB_read_by_a_rank\ttasks_done\n'
for n in 1 2 4; do
    line=$(mpirun -n "$n" "$BENCH" --records "$RECORDS" --files 8 --dir "$PARENT")
    printf '%s\t%s\n' "$REV" "$line"
    [ "$(printf '%s' "$line" | cut -f4)" = "$RECORDS" ] || { echo "wrong count at -n $n" >&2; exit 1; }
done
