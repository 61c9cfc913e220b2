#!/usr/bin/env bash
# A journal whose last record was cut by a crash must not swallow the next record appended on
# --resume (the old text journal turned a torn "1" plus "1\n" into task 11, which was then
# skipped though never written). Records are fixed-size and checksummed; the torn tail is cut
# off before appending; a damaged record only means its task is redone.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

# 16 one-chunk tasks, task id = x + 4 y.
random_layer src 128 128 32 5
run "$CVMPI" transfer src ref --memory 200K --journal jref --keep-journal
[[ $RC == 0 ]] || fail "clean run"
[[ $(grep -vc '^cvmpi-journal' jref/rank-0.log) == 16 ]] || fail "want 16 records"
record() { grep "^0*$1 " jref/rank-0.log; }
expect_summary() { grep -qF "transfer: $1;" "$OUT" || fail "summary is not \"$1\""; }
header() { head -n 1 jref/rank-0.log | sed 's#/ref mip=#/out mip=#'; } # the same job into out

section "torn record of task 1 at the end, tasks 1 and 11 not written"
cp -r ref out
rm out/4_4_40/32-64_0-32_0-32.gz out/4_4_40/96-128_64-96_0-32.gz
mkdir j
{
    header
    for t in 0 2 3 4 5 6 7 8 9 10 12 13 14 15; do record $t; done
    record 1 | head -c 20 # the id, cut before its checksum
} >j/rank-0.log
run "$CVMPI" transfer src out --memory 200K --journal j --resume --keep-journal
[[ $RC == 0 ]] || fail "resume"
expect_summary "2 tasks written, 14 skipped, 0 failed of 16"
expect_same_files ref/4_4_40/32-64_0-32_0-32.gz out/4_4_40/32-64_0-32_0-32.gz
expect_same_files ref/4_4_40/96-128_64-96_0-32.gz out/4_4_40/96-128_64-96_0-32.gz
run "$CVMPI" verify ref out
[[ $RC == 0 ]] || fail "verify after resume"
# Every line after the header is one whole record; every task is there once.
tail -n +2 j/rank-0.log | grep -vxE '[0-9]{20} [0-9a-f]{8}' && fail "a malformed record is left"
[[ $(tail -n +2 j/rank-0.log | cut -c1-20 | sort -u | wc -l) == 16 ]] || fail "want 16 tasks"
run "$CVMPI" transfer src out --memory 200K --journal j --resume
expect_summary "0 tasks written, 16 skipped, 0 failed of 16"
expect_no_file j

section "a record with a wrong checksum is not trusted: its task is redone"
rm -rf out j && cp -r ref out && mkdir j
rm out/4_4_40/0-32_32-64_0-32.gz # task 4
{
    header
    for t in 0 1 2 3 5 6 7 8 9 10 11 12 13 14 15; do record $t; done
    record 5 | sed 's/^0*5 /00000000000000000004 /' # task 4's id under task 5's checksum
} >j/rank-0.log
run "$CVMPI" transfer src out --memory 200K --journal j --resume
expect_summary "1 tasks written, 15 skipped, 0 failed of 16"
expect_same_files ref/4_4_40/0-32_32-64_0-32.gz out/4_4_40/0-32_32-64_0-32.gz

section "a header cut by a crash: nothing was recorded, everything is redone"
rm -rf out j && mkdir j
header | head -c 10 >j/rank-0.log
run "$CVMPI" transfer src out --memory 200K --journal j --resume --keep-journal
expect_summary "16 tasks written, 0 skipped, 0 failed of 16"
head -n 1 j/rank-0.log | cmp -s - <(header) || fail "header not rewritten"
echo "torn_journal: ok"
