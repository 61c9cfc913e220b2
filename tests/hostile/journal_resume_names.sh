#!/usr/bin/env bash
# --resume finds the journal files by listing the directory once (rank 0), not by probing rank
# numbers: a file of a very high rank (a run with billions of ranks would be needed to write it;
# a probing loop would take hours) is read at once, and names that are not rank-<n>.log as
# cvmpi writes them (leading zeros, no number) are ignored even when they belong to another job.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

# 16 one-chunk tasks.
random_layer src 128 128 32 5
run "$CVMPI" transfer src ref --memory 200K --journal jref --keep-journal
[[ $RC == 0 ]] || fail "clean run"
[[ $(grep -vc '^cvmpi-journal' jref/rank-0.log) == 16 ]] || fail "want 16 records"
record() { grep "^0*$1 " jref/rank-0.log; }
header() { head -n 1 jref/rank-0.log | sed 's#/ref mip=#/out mip=#'; } # the same job into out
expect_summary() { grep -qF "transfer: $1;" "$OUT" || fail "summary is not \"$1\""; }

section "records in rank-0.log and rank-4000000000.log are both found"
cp -r ref out
mkdir j
{ header; for t in 0 1 2 3 4; do record $t; done; } >j/rank-0.log
{ header; for t in 5 6 7 8 9 10; do record $t; done; } >j/rank-4000000000.log
{ echo "cvmpi-journal 2 another job"; } >j/rank-01.log
{ echo "cvmpi-journal 2 another job"; } >j/rank-x.log
{ echo "cvmpi-journal 2 another job"; } >j/rank-.log
start=$(date +%s)
run timeout 60 "$CVMPI" -vv transfer src out --memory 200K --journal j --resume --keep-journal
[[ $RC == 0 ]] || fail "resume"
expect_summary "5 tasks written, 11 skipped, 0 failed of 16"
grep -q "journal: read 2 of the 2 files in" "$ERR" || fail "want 2 journal files read"
(($(date +%s) - start < 30)) || fail "resume took $(($(date +%s) - start)) s"
run "$CVMPI" verify ref out
[[ $RC == 0 ]] || fail "verify after resume"
echo "journal_resume_names: ok"
