#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sharded_neuroglancer.sh: cross-implementation test of the sharded format
# (precomputed-sharded §3). For several sharding specs (both hashes, raw/gzip indexes and data,
# CloudVolume and TensorStore layouts):
#   1. cvmpi writes shard files (shard_tool write); Neuroglancer's own ShardedKvStore (npm
#      neuroglancer 2.41.2, in node) and the independent shard_ref.py read every key back;
#   2. shard_ref.py writes shard files from the spec; cvmpi reads them (shard_tool read, check);
#   3. with raw encodings both writers must produce byte-identical files.
# Usage: sharded_neuroglancer.sh SHARD_TOOL SOURCE_DIR WORK_DIR
# Needs /usr/bin/python3 (or $CV_PYTHON); node and npm for Neuroglancer, installed on first use
# into $CV_NG_DIR (default WORK_DIR/node). Exit 0 pass, 1 fail, 77 skip (no npm/registry).
set -eu

if [ $# -ne 3 ]; then
    echo "usage: $0 SHARD_TOOL SOURCE_DIR WORK_DIR" >&2
    exit 2
fi
TOOL=$1
SRC=$2
WORK=$3
PY=${CV_PYTHON:-/usr/bin/python3}
NG=${CV_NG_DIR:-$WORK/node}
REF="$SRC/shard_ref.py"

mkdir -p "$WORK"
CASES="$WORK/cases"
rm -rf "$CASES"
mkdir -p "$CASES"

# Neuroglancer in node: install once. ikonate (icons, unused here) is fetched from the npm
# registry instead of GitHub.
have_ng=1
if [ ! -d "$NG/node_modules/neuroglancer" ]; then
    if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
        echo "note: node/npm not found: Neuroglancer checks skipped"
        have_ng=0
    else
        mkdir -p "$NG"
        cat >"$NG/package.json" <<'EOF'
{
  "name": "cvmpi-interop-sharded",
  "private": true,
  "type": "module",
  "dependencies": { "neuroglancer": "2.41.2" },
  "overrides": { "ikonate": "1.1.1" }
}
EOF
        if ! (cd "$NG" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error); then
            echo "note: npm install neuroglancer@2.41.2 failed: Neuroglancer checks skipped"
            have_ng=0
        fi
    fi
fi
if [ "$have_ng" = 1 ]; then
    cp "$SRC/sharded_neuroglancer.mjs" "$NG/"
fi

fails=0
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

# Keys that are certainly absent from a payload directory.
absent_keys() {
    for k in 4097 4099 123456789012345 9223372036854775807 18446744073709550000; do
        [ -e "$1/$k" ] || printf '%s ' "$k"
    done
}

spec() { # hash preshift minishard shard mi_encoding data_encoding
    printf '{"@type": "neuroglancer_uint64_sharded_v1", "hash": "%s", "preshift_bits": %s, "minishard_bits": %s, "shard_bits": %s, "minishard_index_encoding": "%s", "data_encoding": "%s"}' \
        "$1" "$2" "$3" "$4" "$5" "$6"
}

run_case() { # name layout n_keys seed spec
    name=$1
    layout=$2
    n=$3
    seed=$4
    sp=$5
    d="$CASES/$name"
    mkdir -p "$d"
    "$PY" "$REF" payloads "$d/payloads" "$n" "$seed"
    keys=$(ls "$d/payloads" | sort -n | tr '\n' ' ')
    absent=$(absent_keys "$d/payloads")

    # 1. cvmpi writes; Neuroglancer and shard_ref.py read
    "$TOOL" write "$d/cvmpi" "$sp" "$d/payloads" "$layout" || fail "$name: shard_tool write"
    "$TOOL" check "$sp" "$d"/cvmpi/*.shard >"$d/check_cvmpi.txt" || fail "$name: check cvmpi"
    # shellcheck disable=SC2086
    "$PY" "$REF" read "$d/cvmpi" "$sp" "$d/py_of_cvmpi" $keys $absent >"$d/py_of_cvmpi.txt" ||
        fail "$name: shard_ref.py read of cvmpi's shards"
    diff -r "$d/payloads" "$d/py_of_cvmpi" >/dev/null || fail "$name: shard_ref.py read of cvmpi's shards differs"
    [ "$(grep -c MISSING "$d/py_of_cvmpi.txt")" = "$(echo $absent | wc -w)" ] ||
        fail "$name: shard_ref.py found keys that were never written"
    if [ "$have_ng" = 1 ]; then
        # shellcheck disable=SC2086
        (cd "$NG" && node sharded_neuroglancer.mjs "$d/cvmpi" "$sp" "$d/ng_of_cvmpi" $keys $absent) \
            >"$d/ng_of_cvmpi.txt" 2>&1 || { cat "$d/ng_of_cvmpi.txt"; fail "$name: Neuroglancer read of cvmpi's shards"; }
        diff -r "$d/payloads" "$d/ng_of_cvmpi" >/dev/null || fail "$name: Neuroglancer read of cvmpi's shards differs"
        [ "$(grep -c MISSING "$d/ng_of_cvmpi.txt")" = "$(echo $absent | wc -w)" ] ||
            fail "$name: Neuroglancer found keys that were never written"
    fi

    # 2. shard_ref.py writes; cvmpi (and Neuroglancer) read
    "$PY" "$REF" write "$d/ref" "$sp" "$d/payloads" "$layout" || fail "$name: shard_ref.py write"
    "$TOOL" check "$sp" "$d"/ref/*.shard >"$d/check_ref.txt" || fail "$name: check shard_ref.py's shards"
    # shellcheck disable=SC2086
    "$TOOL" read "$d/ref" "$sp" "$d/cvmpi_of_ref" $keys $absent >"$d/cvmpi_of_ref.txt" ||
        fail "$name: shard_tool read of shard_ref.py's shards"
    diff -r "$d/payloads" "$d/cvmpi_of_ref" >/dev/null || fail "$name: cvmpi read of shard_ref.py's shards differs"
    [ "$(grep -c MISSING "$d/cvmpi_of_ref.txt")" = "$(echo $absent | wc -w)" ] ||
        fail "$name: cvmpi found keys that were never written"
    if [ "$have_ng" = 1 ]; then
        # shellcheck disable=SC2086
        (cd "$NG" && node sharded_neuroglancer.mjs "$d/ref" "$sp" "$d/ng_of_ref" $keys) \
            >"$d/ng_of_ref.txt" 2>&1 || { cat "$d/ng_of_ref.txt"; fail "$name: Neuroglancer read of shard_ref.py's shards"; }
        diff -r "$d/payloads" "$d/ng_of_ref" >/dev/null || fail "$name: Neuroglancer read of shard_ref.py's shards differs"
    fi

    # 3. the same layout from the same items is the same bytes (gzip members may differ)
    case "$sp" in
    *'"minishard_index_encoding": "raw", "data_encoding": "raw"'*)
        (cd "$d/cvmpi" && ls) >"$d/files_cvmpi.txt"
        (cd "$d/ref" && ls) >"$d/files_ref.txt"
        cmp -s "$d/files_cvmpi.txt" "$d/files_ref.txt" || fail "$name: different shard file names"
        for f in $(cat "$d/files_cvmpi.txt"); do
            cmp -s "$d/cvmpi/$f" "$d/ref/$f" || fail "$name: $f differs from shard_ref.py's"
        done
        ;;
    esac
    echo "case $name: $(ls "$d/cvmpi" | wc -l) shard files, $(echo $keys | wc -w) keys"
}

run_case murmur_gzip_cv cv 300 1 "$(spec murmurhash3_x86_128 0 2 1 gzip gzip)"
run_case identity_raw_cv cv 300 2 "$(spec identity 2 3 3 raw raw)"
run_case murmur_mixed_ts ts 300 3 "$(spec murmurhash3_x86_128 0 6 2 raw gzip)"
run_case identity_one_ts ts 200 4 "$(spec identity 0 0 0 gzip raw)"
run_case murmur_raw_ts ts 250 5 "$(spec murmurhash3_x86_128 1 4 4 raw raw)"
run_case identity_preshift_cv cv 250 6 "$(spec identity 9 2 3 gzip gzip)"
run_case murmur_wide_cv cv 150 7 "$(spec murmurhash3_x86_128 0 9 11 raw raw)"

if [ "$fails" -ne 0 ]; then
    echo "$fails failure(s); files kept in $CASES"
    exit 1
fi
if [ "$have_ng" = 0 ]; then
    echo "SKIP: cvmpi and shard_ref.py agree, but Neuroglancer could not be run"
    exit 77
fi
echo "all cases agree: cvmpi, shard_ref.py and Neuroglancer $(cd "$NG" && node -p 'require("./node_modules/neuroglancer/package.json").version')"
