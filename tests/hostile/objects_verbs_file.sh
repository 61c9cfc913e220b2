#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# objects_verbs_file.sh CVMPI: cp -r, rm, du and head on file://: a byte-identical tree (gzip
# objects keep their .gz), --resume after objects went missing, the `..' refusals (a PATH with
# a `..' part, a file named with one), rm without -r refusing a directory before deleting
# anything, rm -r leaving nothing (empty directories gone, the parent kept), and the exact du and
# head lines. Under mpirun -n 2 (when there is one) each object is copied once in all.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"

"$PY" - <<'PY'
import gzip, os
os.makedirs("src/a/b", exist_ok=True)
open("src/a/b/y.gz", "wb").write(gzip.compress(b"y" * 1000, mtime=0))
open("src/a/x", "wb").write(b"hello\n")
open("src/info", "wb").write(b'{"type": "image"}')
for i in range(20):
    open(f"src/a/n{i:02d}", "wb").write(b"%d" % i)
PY
touch -d "2026-01-31 12:00:00 UTC" src/info

section "cp -r: byte-identical, one summary line"
expect_exit 0 "$CVMPI" cp -r src dst
expect_stdout "copied 23 objects (82 bytes), 0 already present"
diff -r src dst >/dev/null || fail "the copy differs"

expect_exit 1 "$CVMPI" cp -r nothing-here dst2
expect_one_line_error
expect_stderr_contains "cp -r: no objects under file://$WORK/nothing-here"
expect_no_file dst2

section "--resume copies what is missing, and what changed size"
rm dst/a/b/y.gz dst/a/n07
printf 'changed' >dst/a/n08
expect_exit 0 "$CVMPI" cp -r --resume src dst
expect_stdout "copied 3 objects (31 bytes), 20 already present"
diff -r src dst >/dev/null || fail "the resumed copy differs"

section "du and head: exact lines"
expect_exit 0 "$CVMPI" du src/a/b src/info
expect_stdout "29	src/a/b/y
17	src/info"
expect_exit 0 "$CVMPI" du -s -c -h src src/a/x
expect_stdout "82 Bytes	src
6 Bytes	src/a/x
88 Bytes	total"
expect_exit 0 "$CVMPI" head src/info
expect_stdout '{
  "Cache-Control": null,
  "Content-Encoding": null,
  "Content-Length": 17,
  "Content-Md5": null,
  "Content-Type": null,
  "ETag": null,
  "Last-Modified": "2026-01-31T12:00:00Z",
  "Storage-Class": null
}'
expect_exit 0 "$CVMPI" head src/a/b/y
grep -q '"Content-Encoding": "gzip",' "$OUT" || fail "head of a .gz object"

section "\`..' in a PATH is refused, whatever it resolves to"
for cmd in rm du head; do
    expect_exit 1 "$CVMPI" "$cmd" dst/a/../info
    expect_one_line_error
    expect_stderr_contains "\`dst/a/../info' has a \`..' part: name the object without it"
done
expect_exit 1 "$CVMPI" rm -r dst/..
expect_stderr_contains "has a \`..' part"
[[ -f dst/info && -f src/info ]] || fail "something was deleted"

section "rm without -r refuses a directory before deleting anything"
expect_exit 1 "$CVMPI" rm dst/info dst/a
expect_one_line_error
expect_stderr_contains "rm \`dst/a': a directory (objects are under it); use -r"
[[ -f dst/info ]] || fail "rm deleted dst/info before refusing dst/a"
expect_exit 1 "$CVMPI" rm dst/nothing
expect_stderr_contains "\`dst/nothing': no such object or directory"

section "rm of an object deletes every variant; rm -r leaves nothing, keeps the parent"
printf 'plain' >dst/a/b/y
expect_exit 0 "$CVMPI" rm dst/a/b/y
[[ ! -e dst/a/b/y && ! -e dst/a/b/y.gz ]] || fail "a variant is left"
expect_exit 0 "$CVMPI" rm -r dst/a
[[ ! -e dst/a && -f dst/info ]] || fail "rm -r dst/a"
expect_exit 0 "$CVMPI" rm -r dst
[[ ! -e dst && -d src ]] || fail "rm -r dst"

if command -v mpirun >/dev/null; then
    section "mpirun -n 2 cp -r: each object once, the same tree"
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader
    export OMPI_MCA_oob_tcp_if_include=lo
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
    expect_exit 0 mpirun -n 2 "$CVMPI" cp -r src mdst
    expect_stdout "copied 23 objects (82 bytes), 0 already present"
    diff -r src mdst >/dev/null || fail "the MPI copy differs"
else
    echo "   (mpirun not found: the MPI part is skipped)"
fi
echo "PASS ($TEST_NAME)"
