#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# cseg_neuroglancer.sh: compressed_segmentation (precomputed-volume spec §5.5) against
# Neuroglancer's own encoder and decoder (npm neuroglancer 2.41.2, run in node by
# neuroglancer/cseg_ng.mjs). For uint32 and uint64, several shapes (clipped and empty chunks),
# block sizes, channel counts and label patterns: cvmpi's encoding must equal Neuroglancer's
# byte for byte, and each side must decode the other's bytes back to the labels.
# Usage: cseg_neuroglancer.sh CSEG_TOOL WORKDIR
# Needs node and npm (Debian 12: nodejs, npm). The first run installs the pinned packages
# (neuroglancer/package-lock.json) into WORKDIR from the npm registry; later runs reuse them.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 CSEG_TOOL WORKDIR" >&2
    exit 2
fi
tool=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
src=$here/neuroglancer

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

for prog in node npm; do
    command -v "$prog" >/dev/null ||
        fail "this test needs '$prog' on PATH (Debian: apt-get install nodejs npm); it is not skipped"
done
[ -x "$tool" ] || fail "cseg_tool \`$tool' is not executable"

# ---- the pinned Neuroglancer in WORKDIR ----------------------------------------------------
mkdir -p "$work"
for f in package.json package-lock.json cseg_ng.mjs; do
    cmp -s "$src/$f" "$work/$f" || cp "$src/$f" "$work/$f"
done
if ! cmp -s "$src/package-lock.json" "$work/.installed-lock" ||
    [ ! -f "$work/node_modules/neuroglancer/package.json" ]; then
    echo "installing the pinned neuroglancer into $work (npm ci)"
    # --ignore-scripts: only plain ES modules are used, nothing needs building
    (cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline) ||
        fail "npm ci in $work failed (is the npm registry reachable?)"
    cp "$src/package-lock.json" "$work/.installed-lock"
fi
ng_version=$(cd "$work" && node -p 'require("./node_modules/neuroglancer/package.json").version')
[ "$ng_version" = "2.41.2" ] || fail "installed neuroglancer is $ng_version, want 2.41.2"
echo "node $(node --version), neuroglancer $ng_version"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cseg_ng.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ---- cases: "SIZE(x,y,z,c) BLOCK(bx,by,bz)" x patterns x dtypes ------------------------------
geometries=(
    "64,64,64,1 8,8,8"
    "37,20,9,1 8,8,8"
    "37,20,9,2 4,4,4"
    "33,17,11,1 3,5,7"
    "5,6,7,2 32,32,32"
    "1,1,1,1 8,8,8"
    "130,7,3,3 16,2,1"
    "16,16,16,1 2,2,2"
    "0,4,4,1 8,8,8"
    "64,64,17,1 64,64,17"
)
# distinct K: every full block has min(K, voxels) labels, so all bit widths 0..16 appear
patterns=(
    "distinct 1" "distinct 2" "distinct 3" "distinct 5" "distinct 9" "distinct 17"
    "distinct 300" "runs 16" "noise 5" "noise 1000"
)

cases=()
jobs="["
sep=""
seed=0
for dtype in uint32 uint64; do
    for geom in "${geometries[@]}"; do
        read -r size block <<<"$geom"
        for pat in "${patterns[@]}"; do
            read -r name k <<<"$pat"
            seed=$((seed + 1))
            id=c$seed
            "$tool" gen "$dtype" "$size" "$block" "$name" "$k" "$seed" "$tmp/$id.raw" ||
                fail "$id: cseg_tool gen $dtype $size $block $name $k $seed"
            "$tool" encode "$dtype" "$size" "$block" "$tmp/$id.raw" "$tmp/$id.cv" ||
                fail "$id: cvmpi encode $dtype $size $block"
            j="\"dtype\": \"$dtype\", \"size\": [$size], \"block\": [$block]"
            jobs+="$sep{\"op\": \"encode\", $j, \"input\": \"$tmp/$id.raw\", \"output\": \"$tmp/$id.ng\"}"
            sep=", "
            jobs+="$sep{\"op\": \"decode\", $j, \"input\": \"$tmp/$id.cv\", \"output\": \"$tmp/$id.ngdec\"}"
            cases+=("$id $dtype $size $block $name $k")
        done
    done
done
jobs+="]"
printf '%s\n' "$jobs" >"$tmp/jobs.json"

(cd "$work" && node cseg_ng.mjs "$tmp/jobs.json") || fail "Neuroglancer's codec failed"

# ---- compare -----------------------------------------------------------------------------
n_bad=0
for c in "${cases[@]}"; do
    read -r id dtype size block name k <<<"$c"
    what="$dtype size $size block $block $name $k"
    if ! cmp -s "$tmp/$id.cv" "$tmp/$id.ng"; then
        echo "MISMATCH $what: cvmpi and Neuroglancer encodings differ" \
            "($(stat -c %s "$tmp/$id.cv") vs $(stat -c %s "$tmp/$id.ng") bytes;" \
            "first difference: $(cmp "$tmp/$id.cv" "$tmp/$id.ng" 2>&1 | head -1))"
        n_bad=$((n_bad + 1))
    fi
    if ! cmp -s "$tmp/$id.ngdec" "$tmp/$id.raw"; then
        echo "MISMATCH $what: Neuroglancer decodes cvmpi's encoding wrongly"
        n_bad=$((n_bad + 1))
    fi
    if ! "$tool" decode "$dtype" "$size" "$block" "$tmp/$id.ng" "$tmp/$id.cvdec"; then
        echo "FAILED $what: cvmpi cannot decode Neuroglancer's encoding"
        n_bad=$((n_bad + 1))
    elif ! cmp -s "$tmp/$id.cvdec" "$tmp/$id.raw"; then
        echo "MISMATCH $what: cvmpi decodes Neuroglancer's encoding wrongly"
        n_bad=$((n_bad + 1))
    fi
done
echo "${#cases[@]} cases, $n_bad failures"
[ "$n_bad" -eq 0 ] || fail "$n_bad comparisons with Neuroglancer failed"
