#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# ls_cp.sh CVMPI: `cvmpi ls` (one level, --recursive, --short, a trailing `*' prefix, names
# without CloudFiles' compression suffixes) and `cvmpi cp` (compression kept byte for byte,
# --compress none|gzip|br checked with Python's gzip and brotli, directories as DST, `-`), and
# their errors on file:// (the cloud tests run the same commands on s3:// and gs://).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

section "a layer with gzip chunks (CloudVolume's default for raw) and one brotli chunk"
expect_exit 0 "$CVMPI" create lay --type image --dtype uint8 --size 64,64,8 --chunk 32,32,8 \
    --resolution 4,4,40
"$PY" -c "import numpy as np; np.random.default_rng(5).integers(0, 4, 64*64*8, dtype=np.uint8).tofile('in.raw')"
expect_exit 0 "$CVMPI" write lay --bbox 0,0,0,64,64,8 -i in.raw
expect_exit 0 "$CVMPI" write lay --bbox 0,0,0,32,32,8 -i <(head -c 8192 in.raw) --compress br
expect_files lay/4_4_40 0-32_0-32_0-8.br 0-32_32-64_0-8.gz 32-64_0-32_0-8.gz 32-64_32-64_0-8.gz

section "ls: one level, subdirectories once with a trailing /"
expect_exit 0 "$CVMPI" ls lay
expect_stdout "file://$WORK/lay/4_4_40/
file://$WORK/lay/info"
expect_exit 0 "$CVMPI" ls "file://$WORK/lay/"
expect_stdout "file://$WORK/lay/4_4_40/
file://$WORK/lay/info"
expect_exit 0 "$CVMPI" ls "lay/*"
expect_stdout "file://$WORK/lay/4_4_40/
file://$WORK/lay/info"

section "ls --recursive --short: every object, suffixes dropped as CloudFiles lists them"
expect_exit 0 "$CVMPI" ls --recursive --short lay
expect_stdout "4_4_40/0-32_0-32_0-8
4_4_40/0-32_32-64_0-8
4_4_40/32-64_0-32_0-8
4_4_40/32-64_32-64_0-8
info"
expect_exit 0 "$CVMPI" ls -r lay/4_4_40/
expect_stdout "file://$WORK/lay/4_4_40/0-32_0-32_0-8
file://$WORK/lay/4_4_40/0-32_32-64_0-8
file://$WORK/lay/4_4_40/32-64_0-32_0-8
file://$WORK/lay/4_4_40/32-64_32-64_0-8"

section "ls PREFIX*: names in the directory that start with PREFIX"
expect_exit 0 "$CVMPI" ls "lay/4_4_40/32-64*"
expect_stdout "file://$WORK/lay/4_4_40/32-64_0-32_0-8
file://$WORK/lay/4_4_40/32-64_32-64_0-8"
expect_exit 0 "$CVMPI" ls "lay/4*"
expect_stdout "file://$WORK/lay/4_4_40/"
expect_exit 0 "$CVMPI" ls "lay/zz*"
[[ ! -s $OUT ]] || fail "an empty listing printed something"

section "cp keeps the stored compression: the .gz bytes arrive unchanged"
mkdir out
expect_exit 0 "$CVMPI" cp lay/4_4_40/32-64_0-32_0-8 out
expect_files out 32-64_0-32_0-8.gz
expect_same_files lay/4_4_40/32-64_0-32_0-8.gz out/32-64_0-32_0-8.gz
expect_exit 0 "$CVMPI" cp lay/4_4_40/0-32_0-32_0-8 "file://$WORK/new/dir/"
expect_files new/dir 0-32_0-32_0-8.br
expect_same_files lay/4_4_40/0-32_0-32_0-8.br new/dir/0-32_0-32_0-8.br

section "cp --compress none|gzip|br, checked with Python's gzip and brotli"
expect_exit 0 "$CVMPI" cp lay/4_4_40/32-64_0-32_0-8 plain.bin --compress none
expect_files . .capture in.raw lay out new plain.bin
"$PY" -c "import gzip,sys; sys.exit(gzip.decompress(open('lay/4_4_40/32-64_0-32_0-8.gz','rb').read()) != open('plain.bin','rb').read())" ||
    fail "cp --compress none differs from Python's gunzip of the source"
expect_exit 0 "$CVMPI" cp plain.bin b/x --compress br --level 11
expect_files b x.br
"$PY" -c "import brotli,sys; sys.exit(brotli.decompress(open('b/x.br','rb').read()) != open('plain.bin','rb').read())" ||
    fail "brotli object does not decode to the source"
expect_exit 0 "$CVMPI" cp b/x b/x --compress gzip
expect_files b x.gz
"$PY" -c "import gzip,sys; sys.exit(gzip.decompress(open('b/x.gz','rb').read()) != open('plain.bin','rb').read())" ||
    fail "recompressed gzip object does not decode to the source"
expect_no_temp_files .

section "cp with - : standard input and output (decompressed)"
expect_exit 0 "$CVMPI" cp lay/info -
expect_same_files lay/info "$OUT"
expect_exit 0 "$CVMPI" cp b/x -
expect_same_files plain.bin "$OUT"
printf 'hello' | "$CVMPI" cp - "file://$WORK/b/hello" --compress gzip || fail "cp from stdin"
"$PY" -c "import gzip,sys; sys.exit(gzip.decompress(open('b/hello.gz','rb').read()) != b'hello')" ||
    fail "stdin copy"

section "errors: one line naming the object, exit 1; usage errors exit 2"
expect_exit 1 "$CVMPI" cp lay/4_4_40/nothere x
expect_one_line_error
expect_stderr_contains "\`nothere' not found in file://$WORK/lay/4_4_40"
expect_no_file x
expect_exit 1 "$CVMPI" cp lay x
expect_one_line_error
expect_stderr_contains "\`lay' is a directory, not an object"
expect_exit 1 "$CVMPI" cp lay/info https://127.0.0.1:9/x/info
expect_one_line_error
expect_stderr_contains "read-only"
expect_exit 1 "$CVMPI" ls nodir
expect_one_line_error
expect_stderr_contains "list \`nodir': no such directory"
CV_HTTP_RETRIES=0 expect_exit 1 "$CVMPI" ls https://127.0.0.1:9/x
expect_one_line_error
expect_stderr_contains "GET \`https://127.0.0.1:9/x/': "
expect_exit 2 "$CVMPI" cp lay/info x --compress zip
expect_stderr_contains "bad --compress"
expect_exit 2 "$CVMPI" cp lay/info
expect_exit 2 "$CVMPI" ls
expect_exit 0 "$CVMPI" ls --help
expect_exit 0 "$CVMPI" cp --help
echo "PASS ($TEST_NAME)"
