#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# bad_input.sh CVMPI: every kind of bad input fails cleanly: exit 1 with a one-line
# "cvmpi: ..." message naming the file, key or field at fault, and no output file or
# temporary file left behind; usage errors exit 2; every --help exits 0.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

mkdir out
# read_fails LAYER TEXT [OPTIONS...]: reading LAYER into out/ fails with a one-line message
# containing TEXT, and leaves nothing in out/ or in the layer.
read_fails()
{
    local layer=$1 text=$2
    shift 2
    local f
    for f in out/cut.raw out/cut.npy; do
        expect_exit 1 "$CVMPI" read "$layer" "$@" -o "$f"
        expect_one_line_error
        expect_stderr_contains "$text"
        expect_no_file "$f"
    done
    expect_files out
    [[ ! -d $layer ]] || expect_no_temp_files "$layer"
}

# make_info LAYER JSON: a layer directory whose info file holds JSON.
make_info()
{
    rm -rf "$1"
    mkdir -p "$1"
    printf '%s' "$2" >"$1/info"
}

scale='"key": "1_1_1", "resolution": [1, 1, 1], "chunk_sizes": [[8, 8, 8]], "voxel_offset": [0, 0, 0]'
top='"type": "image", "data_type": "uint8", "num_channels": 1'

# ---- the info file -------------------------------------------------------------------------
section "info file missing"
read_fails nolayer "no info file at file://$WORK/nolayer"
mkdir empty
read_fails empty "no info file at file://$WORK/empty"
for cmd in info exists; do
    expect_exit 1 "$CVMPI" "$cmd" empty
    expect_one_line_error
    expect_stderr_contains "no info file at file://$WORK/empty"
done

section "malformed info JSON"
make_info bad '{"type": "image", "data_type": "uint8", "num_channels": 1, "scales": [{'
read_fails bad "file://$WORK/bad/info"
expect_stderr_contains "invalid JSON"
make_info bad ''
read_fails bad "file://$WORK/bad/info"
make_info bad "{$top, \"scales\": [{$scale, \"size\": [10, 10, 10], \"encoding\": \"raw\"}]} trailing"
read_fails bad "file://$WORK/bad/info"
expect_exit 1 "$CVMPI" info bad
expect_one_line_error
expect_stderr_contains "file://$WORK/bad/info"

section "info without scales"
make_info bad "{$top}"
read_fails bad "file://$WORK/bad/info"
expect_stderr_contains "scales: missing"
make_info bad "{$top, \"scales\": []}"
read_fails bad "scales"

section "size of the wrong type"
for size in '"10,10,10"' '[10, 10]' '[10, "10", 10]' '[10, 10.5, 10]' 'null'; do
    make_info bad "{$top, \"scales\": [{$scale, \"size\": $size, \"encoding\": \"raw\"}]}"
    read_fails bad "scales[0].size"
    expect_stderr_contains "file://$WORK/bad/info"
done

section "negative and zero size"
for size in '[10, -1, 10]' '[0, 10, 10]'; do
    make_info bad "{$top, \"scales\": [{$scale, \"size\": $size, \"encoding\": \"raw\"}]}"
    read_fails bad "scales[0].size"
done

section "unknown encoding"
make_info bad "{$top, \"scales\": [{$scale, \"size\": [10, 10, 10], \"encoding\": \"zzip\"}]}"
read_fails bad "scales[0].encoding"
expect_stderr_contains zzip

section "other bad members"
make_info bad "{\"type\": \"image\", \"data_type\": \"uint7\", \"num_channels\": 1, \"scales\": [{$scale, \"size\": [10, 10, 10], \"encoding\": \"raw\"}]}"
read_fails bad data_type
make_info bad "{$top, \"scales\": [{\"key\": \"1_1_1\", \"resolution\": [1, 1, 1], \"size\": [10, 10, 10], \"encoding\": \"raw\"}]}"
read_fails bad "scales[0].chunk_sizes"

# ---- chunks --------------------------------------------------------------------------------
section "a layer to damage"
expect_exit 0 "$CVMPI" create L --type image --dtype uint16 --size 40,24,10 --chunk 16,16,10 \
    --offset -8,0,5 --resolution 1,1,1
np_gen L.in uint16 40,24,10,1 3
expect_exit 0 "$CVMPI" write L --bbox -8,0,5,32,24,15 -i L.in --format raw --compress none
expect_exit 0 "$CVMPI" read L -o out/ok.raw
expect_same_files L.in out/ok.raw
rm out/ok.raw

section "raw chunk of the wrong length"
cp L/1_1_1/8-24_0-16_5-15 saved
truncate -s 100 L/1_1_1/8-24_0-16_5-15
read_fails L "1_1_1/8-24_0-16_5-15"
expect_stderr_contains "expected 5120 bytes"
# A box that does not touch the damaged chunk still reads.
expect_exit 0 "$CVMPI" read L --bbox -8,0,5,8,16,15 -o out/ok.raw
rm out/ok.raw
# Too long is as bad as too short.
cat saved saved >L/1_1_1/8-24_0-16_5-15
read_fails L "1_1_1/8-24_0-16_5-15"
cp saved L/1_1_1/8-24_0-16_5-15

section "corrupt gzip chunk"
expect_exit 0 "$CVMPI" write L --bbox -8,0,5,32,24,15 -i L.in --format raw --compress gzip
[[ -f L/1_1_1/24-32_16-24_5-15.gz ]] || fail "gzip chunk 24-32_16-24_5-15.gz not written"
cp L/1_1_1/24-32_16-24_5-15.gz saved.gz
# deflate data overwritten in the middle
printf 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX' |
    dd of=L/1_1_1/24-32_16-24_5-15.gz bs=1 seek=40 conv=notrunc status=none
read_fails L "1_1_1/24-32_16-24_5-15"
expect_stderr_contains gzip
# the gzip magic overwritten
cp saved.gz L/1_1_1/24-32_16-24_5-15.gz
printf 'PK' | dd of=L/1_1_1/24-32_16-24_5-15.gz bs=1 seek=0 conv=notrunc status=none
read_fails L "1_1_1/24-32_16-24_5-15"
expect_stderr_contains "not in gzip format"
# the CRC32 trailer overwritten
cp saved.gz L/1_1_1/24-32_16-24_5-15.gz
size=$(stat -c %s saved.gz)
printf '\x01\x02\x03\x04' | dd of=L/1_1_1/24-32_16-24_5-15.gz bs=1 seek=$((size - 8)) conv=notrunc status=none
read_fails L "1_1_1/24-32_16-24_5-15"
# truncated
cp saved.gz L/1_1_1/24-32_16-24_5-15.gz
truncate -s $((size / 2)) L/1_1_1/24-32_16-24_5-15.gz
read_fails L "1_1_1/24-32_16-24_5-15"
cp saved.gz L/1_1_1/24-32_16-24_5-15.gz
expect_exit 0 "$CVMPI" read L -o out/ok.raw
expect_same_files L.in out/ok.raw
rm out/ok.raw

section "missing chunk"
rm L/1_1_1/8-24_16-24_5-15.gz
read_fails L "1_1_1/8-24_16-24_5-15"
expect_stderr_contains "missing"
expect_exit 0 "$CVMPI" read L --fill-missing -o out/filled.raw
[[ ! -s $ERR ]] || fail "--fill-missing printed a message"
"$PY" -c '
import sys, numpy as np
got = np.fromfile(sys.argv[1], "<u2").reshape((40, 24, 10), order="F")
want = np.fromfile(sys.argv[2], "<u2").reshape((40, 24, 10), order="F")
want[16:32, 16:24, :] = 0
sys.exit(0 if np.array_equal(got, want) else "--fill-missing read is wrong")' out/filled.raw L.in ||
    fail "read --fill-missing did not fill the missing chunk with zeros"
rm out/filled.raw
# A zero-length chunk counts as missing (CloudVolume).
: >L/1_1_1/8-24_16-24_5-15
read_fails L "1_1_1/8-24_16-24_5-15"
expect_exit 0 "$CVMPI" read L --fill-missing -o out/filled.raw
rm out/filled.raw L/1_1_1/8-24_16-24_5-15

section "failed reads leave an existing output file alone; unwritable output"
printf 'keep me' >out/existing.raw
expect_exit 1 "$CVMPI" read L -o out/existing.raw
expect_one_line_error
[[ $(cat out/existing.raw) == "keep me" ]] || fail "a failed read replaced its output file"
rm out/existing.raw
expect_exit 1 "$CVMPI" read L --fill-missing -o no_such_dir/cut.raw
expect_one_line_error
expect_stderr_contains "no_such_dir/cut.raw"
expect_no_file no_such_dir
expect_files out

section "box outside the volume"
for box in -9,0,5,0,10,10 -8,0,5,33,24,15 0,0,0,10,10,10 100,100,100,101,101,101; do
    read_fails L "outside the volume" --bbox "$box"
done
read_fails L "empty" --bbox 0,0,5,0,10,10
# --unbounded reads background outside the volume (and nothing is fetched there).
expect_exit 0 "$CVMPI" read L --unbounded --fill-missing --bbox -10,0,5,-6,2,6 -o out/ub.raw
"$PY" -c '
import sys, numpy as np
got = np.fromfile(sys.argv[1], "<u2").reshape((4, 2, 1), order="F")
want = np.fromfile(sys.argv[2], "<u2").reshape((40, 24, 10), order="F")
sys.exit(0 if (got[:2] == 0).all() and np.array_equal(got[2:], want[0:2, 0:2, 0:1]) else "unbounded read is wrong")
' out/ub.raw L.in || fail "read --unbounded outside the volume"
rm out/ub.raw

# ---- writes --------------------------------------------------------------------------------
section "write with the wrong input length"
cp -r L L.before
head -c 1000 L.in >short.raw
expect_exit 1 "$CVMPI" write L --bbox -8,0,5,32,24,15 -i short.raw
expect_one_line_error
expect_stderr_contains "short.raw"
expect_stderr_contains "1000 bytes"
cat L.in L.in >long.raw
expect_exit 1 "$CVMPI" write L --bbox -8,0,5,32,24,15 -i long.raw
expect_one_line_error
expect_stderr_contains "long.raw"
"$PY" -c 'import numpy as np; np.save("wrong_shape.npy", np.zeros((40, 24, 9), np.uint16))'
expect_exit 1 "$CVMPI" write L --bbox -8,0,5,32,24,15 -i wrong_shape.npy
expect_one_line_error
expect_stderr_contains "wrong_shape.npy"
expect_stderr_contains "shape"
"$PY" -c 'import numpy as np; np.save("wrong_type.npy", np.zeros((40, 24, 10), np.int16))'
expect_exit 1 "$CVMPI" write L --bbox -8,0,5,32,24,15 -i wrong_type.npy
expect_one_line_error
expect_stderr_contains "wrong_type.npy"
expect_stderr_contains int16
printf 'not a npy file' >junk.npy
expect_exit 1 "$CVMPI" write L --bbox -8,0,5,32,24,15 -i junk.npy
expect_one_line_error
expect_stderr_contains "junk.npy"
expect_exit 1 "$CVMPI" write L --bbox -8,0,5,32,24,15 -i no_such_file.raw
expect_one_line_error
expect_stderr_contains "no_such_file.raw"
diff -r L.before L >/dev/null || fail "a failed write changed the layer"

section "unaligned write without --non-aligned"
np_gen patch uint16 10,10,10,1 5
expect_exit 1 "$CVMPI" write L --bbox 0,0,5,10,10,15 -i patch --format raw
expect_one_line_error
expect_stderr_contains "aligned"
expect_stderr_contains "file://$WORK/L"
diff -r L.before L >/dev/null || fail "a refused unaligned write changed the layer"

section "write outside the volume"
np_gen big uint16 48,24,10,1 5
expect_exit 1 "$CVMPI" write L --bbox -16,0,5,32,24,15 -i big --format raw
expect_one_line_error
expect_stderr_contains "outside the volume"
diff -r L.before L >/dev/null || fail "a refused write outside the volume changed the layer"
expect_no_temp_files L .

# ---- usage errors (exit 2) -----------------------------------------------------------------
section "usage errors"
usage_fails()
{
    expect_exit 2 "$@"
    [[ -s $ERR ]] || fail "usage error without a message"
    [[ ! -s $OUT ]] || fail "usage error printed to stdout"
}
for cmd in create info read write exists delete; do
    usage_fails "$CVMPI" "$cmd" --no-such-option L
    expect_stderr_contains "no-such-option"
    usage_fails "$CVMPI" "$cmd"
done
usage_fails "$CVMPI" read -o out/x.raw
expect_stderr_contains "PATH"
usage_fails "$CVMPI" read L
usage_fails "$CVMPI" read L M -o out/x.raw
usage_fails "$CVMPI" write L --bbox -8,0,5,32,24,15
usage_fails "$CVMPI" write L -i L.in
usage_fails "$CVMPI" delete L
for bbox in 1,2,3 1,2,3,4,5,6,7 a,b,c,d,e,f 1,2,3,4,5,6x "" 1,,3,4,5,6 "1 2 3 4 5 6"; do
    usage_fails "$CVMPI" read L --bbox "$bbox" -o out/x.raw
    usage_fails "$CVMPI" exists L --bbox "$bbox"
    usage_fails "$CVMPI" delete L --bbox "$bbox"
    usage_fails "$CVMPI" write L --bbox "$bbox" -i L.in
done
expect_stderr_contains "bad box"
usage_fails "$CVMPI" create N --type image --dtype uint9 --size 1,1,1 --resolution 1,1,1
expect_stderr_contains "uint9"
usage_fails "$CVMPI" create N --type image --dtype float16 --size 1,1,1 --resolution 1,1,1
usage_fails "$CVMPI" create N --type picture --dtype uint8 --size 1,1,1 --resolution 1,1,1
usage_fails "$CVMPI" create N --type image --dtype uint8 --size 1,1 --resolution 1,1,1
usage_fails "$CVMPI" create N --type image --dtype uint8 --size 1,1,1
usage_fails "$CVMPI" create N --type image --dtype uint8 --size 1,1,1 --resolution 1,1,1 --channels 0
usage_fails "$CVMPI" write L --bbox -8,0,5,32,24,15 -i L.in --compress lzma
usage_fails "$CVMPI" read L --threads 0 -o out/x.raw
usage_fails "$CVMPI" no-such-command
usage_fails "$CVMPI" --no-such-global-option
usage_fails "$CVMPI"
expect_no_file N
expect_files out
diff -r L.before L >/dev/null || fail "a usage error changed the layer"

# A layer that cannot be created is a failure, not a usage error.
expect_exit 1 "$CVMPI" create L --type image --dtype uint8 --size 1,1,1 --resolution 1,1,1
expect_one_line_error
expect_stderr_contains "already exists"
expect_exit 1 "$CVMPI" create N --type segmentation --dtype uint8 --channels 2 --size 1,1,1 \
    --resolution 1,1,1
expect_one_line_error
expect_stderr_contains num_channels
expect_no_file N

# ---- help ------------------------------------------------------------------------------------
section "--help"
for cmd in create info read write exists delete; do
    expect_exit 0 "$CVMPI" "$cmd" --help
    [[ $(head -c $((13 + ${#cmd})) "$OUT") == "usage: cvmpi $cmd" ]] ||
        fail "cvmpi $cmd --help does not start with \"usage: cvmpi $cmd\""
    [[ ! -s $ERR ]] || fail "cvmpi $cmd --help wrote to stderr"
done
expect_exit 0 "$CVMPI" --help
grep -q "^usage: cvmpi" "$OUT" || fail "cvmpi --help does not print usage"

expect_no_temp_files .
echo "bad_input: all checks passed"
