#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# e2e.sh: what cvmpi writes renders right in Neuroglancer and in cvmpi's own /view page, in a
# real browser. Layers written by cvmpi (raw uint8 image, gzip, jpeg, compressed_segmentation
# segmentation, a sharded image, a 3-mip pyramid from `cvmpi downsample`, and the same pyramid
# from `cvmpi downsample --sharded`) are served by
# `cvmpi serve`; headless Chromium (Debian chromium + npm playwright-core) opens each in
# Neuroglancer (npm neuroglancer 2.41.2 built with vite, served by cvmpi serve at /ng/) and
# in /view, waits until everything is drawn, takes a screenshot, and check.py compares the
# pixels with the slice `cvmpi read` returns (itself checked against the data written).
# Meshes: a ball meshed by `cvmpi mesh forge` (legacy) and by `mesh forge --sharded`
# (multi-resolution, sharded) is drawn in Neuroglancer's 3D view with a fixed orthographic
# camera; check.py compares its silhouette with the expected disc.
#
# Usage: e2e.sh CVMPI SOURCE_DIR WORK_DIR
# WORK_DIR keeps the npm install and the Neuroglancer build between runs (rebuilt when
# ng-app/ changes). The browser part runs inside `unshare -n` (a network namespace with only
# loopback) when possible; in any case every request the browser makes must go to 127.0.0.1.
# Exit 0 pass, 1 fail, 77 skip (only when chromium is missing and cannot be installed).
set -euo pipefail

if [[ ${1:-} == --isolated ]]; then
    shift
    ip link set lo up
    ISOLATED=1
else
    ISOLATED=0
fi
if [[ $# -ne 3 ]]; then
    echo "usage: $0 CVMPI SOURCE_DIR WORK_DIR" >&2
    exit 2
fi
CVMPI=$(realpath "$1")
SRC=$(realpath "$2")
WORK=$(mkdir -p "$3" && realpath "$3")
PY=${CV_PYTHON:-/usr/bin/python3}
CHROMIUM=${CV_CHROMIUM:-/usr/bin/chromium}
APP=$WORK/ng-app

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# ---- 1. tools and the Neuroglancer build (needs the npm registry the first time) ----------
if [[ $ISOLATED == 0 ]]; then
    if [[ ! -x $CHROMIUM ]] && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        echo "installing chromium (apt-get)"
        apt-get install -o DPkg::Lock::Timeout=600 -y -q --no-install-recommends chromium \
            >"$WORK/apt.log" 2>&1 || true
    fi
    if [[ ! -x $CHROMIUM ]]; then
        echo "SKIP: no chromium at $CHROMIUM and it could not be installed" \
            "(Debian: apt-get install chromium; or set CV_CHROMIUM)"
        exit 77
    fi
    for prog in node npm; do
        command -v "$prog" >/dev/null ||
            fail "this test needs '$prog' (Debian: apt-get install nodejs npm); it is not skipped"
    done
    mkdir -p "$APP"
    for f in package.json package-lock.json vite.config.js index.html; do
        cmp -s "$SRC/ng-app/$f" "$APP/$f" || cp "$SRC/ng-app/$f" "$APP/$f"
    done
    cp "$SRC/shots.mjs" "$APP/"
    if ! cmp -s "$APP/package-lock.json" "$APP/.installed-lock" ||
        [[ ! -d $APP/node_modules/neuroglancer ]]; then
        echo "installing the pinned neuroglancer, vite and playwright-core into $APP (npm ci)"
        (cd "$APP" && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline \
            --loglevel=error) || fail "npm ci in $APP failed (is the npm registry reachable?)"
        cp "$APP/package-lock.json" "$APP/.installed-lock"
        rm -rf "$APP/dist"
    fi
    stamp=$(cat "$APP/package-lock.json" "$APP/vite.config.js" "$APP/index.html" | sha256sum)
    if [[ ! -f $APP/dist/index.html ]] || [[ $(cat "$APP/.built" 2>/dev/null) != "$stamp" ]]; then
        echo "building Neuroglancer with vite into $APP/dist"
        t0=$SECONDS
        (cd "$APP" && npx vite build >"$APP/build.log" 2>&1) ||
            { tail -20 "$APP/build.log"; fail "vite build of Neuroglancer failed"; }
        echo "built in $((SECONDS - t0)) s"
        echo "$stamp" >"$APP/.built"
    else
        echo "reusing the Neuroglancer build in $APP/dist"
    fi
    # The rest needs no network: run it where there is none, if this kernel lets us.
    # (-r maps the caller to root in a new user namespace, for runs without root)
    for flags in -n -rn; do
        if unshare $flags true 2>/dev/null && command -v ip >/dev/null; then
            echo "running the browser part inside unshare $flags (loopback only)"
            exec unshare $flags bash "$0" --isolated "$@"
        fi
    done
    echo "note: unshare -n is not available here; relying on the browser's request log" \
        "(every request must go to 127.0.0.1)"
fi

# ---- 2. layers written by cvmpi ----------------------------------------------------------
RUN=$WORK/run
rm -rf "$RUN"
mkdir -p "$RUN/layers"
cd "$RUN"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT

"$PY" "$SRC/layers.py" "$RUN"
cv() {
    "$CVMPI" "$@" >>"$RUN/cvmpi.log" 2>&1 || { tail -5 "$RUN/cvmpi.log"; fail "cvmpi $*"; }
}
L=$RUN/layers
common=(--size 128,128,8 --resolution 8,8,8 --chunk 32,32,4)
cv create "$L/raw" --type image --dtype uint8 "${common[@]}"
cv write "$L/raw" --bbox 0,0,0,128,128,8 -i image.npy --compress none
cv create "$L/gzip" --type image --dtype uint8 "${common[@]}"
cv write "$L/gzip" --bbox 0,0,0,128,128,8 -i image.npy --compress gzip
cv create "$L/jpeg" --type image --dtype uint8 "${common[@]}" --encoding jpeg
cv write "$L/jpeg" --bbox 0,0,0,128,128,8 -i image.npy
cv create "$L/cseg" --type segmentation --dtype uint32 "${common[@]}" \
    --encoding compressed_segmentation
cv write "$L/cseg" --bbox 0,0,0,128,128,8 -i seg.npy
cv create "$L/sharded" --type image --dtype uint8 "${common[@]}" --sharding \
    '{"@type": "neuroglancer_uint64_sharded_v1", "hash": "murmurhash3_x86_128", "preshift_bits": 0, "minishard_bits": 1, "shard_bits": 2, "minishard_index_encoding": "gzip", "data_encoding": "raw"}'
cv write "$L/sharded" --bbox 0,0,0,128,128,8 -i image.npy
cv create "$L/pyramid" --type image --dtype uint8 --size 256,256,4 --resolution 8,8,8 \
    --chunk 64,64,4
cv write "$L/pyramid" --bbox 0,0,0,256,256,4 -i pyramid.npy
cv downsample "$L/pyramid" --num-mips 2 --factor 2,2,1 --method average
# The same pyramid with its new scales sharded (identity hash, parameters per level).
cv create "$L/spyramid" --type image --dtype uint8 --size 256,256,4 --resolution 8,8,8 \
    --chunk 64,64,4
cv write "$L/spyramid" --bbox 0,0,0,256,256,4 -i pyramid.npy
cv downsample "$L/spyramid" --num-mips 2 --factor 2,2,1 --method average --sharded

# A ball of radius 20 voxels about (32, 32, 32), meshed both ways (check.py: BALL_*).
"$PY" -c "
import numpy as np
g = np.arange(64) + 0.5 - 32
x, y, z = np.meshgrid(g, g, g, indexing='ij')
np.save('ball.npy', (x * x + y * y + z * z <= 20 * 20).astype(np.uint64))"
for l in mball sball; do
    cv create "$L/$l" --type segmentation --dtype uint64 --size 64,64,64 --resolution 8,8,8 \
        --chunk 32,32,32
    cv write "$L/$l" --bbox 0,0,0,64,64,64 -i ball.npy
done
cv mesh forge "$L/mball"
cv mesh forge "$L/sball" --sharded --min-chunk 16
ls "$L/mball/mesh_mip_0_err_0" | grep -q '^1:0$' || fail "legacy ball: no manifest 1:0"
ls "$L/sball/mesh_mip_0_err_0" | grep -q '\.shard$' || fail "multi-resolution ball: no shard"

# A negative control: the raw layer with one 32x32x4 chunk rewritten (255 - value). Compared
# with the raw layer's expected slice, exactly that chunk's 2x2 blocks must be reported.
cp -r "$L/raw" "$L/tampered"
"$PY" -c "import numpy as np; a = np.load('image.npy'); np.save('patch.npy', 255 - a[32:64, 32:64, 4:8])"
cv write "$L/tampered" --bbox 32,32,4,64,64,8 -i patch.npy --compress none

ls "$L/raw/8_8_8" | grep -q '\.gz$' && fail "raw layer: chunks were compressed"
ls "$L/gzip/8_8_8" | grep -q '\.gz$' || fail "gzip layer: no .gz chunks"
n_shards=$(ls "$L/sharded/8_8_8" | grep -c '\.shard$' || true)
[[ $n_shards -ge 2 ]] || fail "sharded layer: want several .shard files, have $n_shards"
[[ -d $L/pyramid/32_32_8 ]] || fail "pyramid: no mip 2 (32_32_8) after cvmpi downsample"
for s in 16_16_8 32_32_8; do
    ls "$L/spyramid/$s" | grep -q '\.shard$' || fail "sharded pyramid: no shard files in $s"
    ls "$L/spyramid/$s" | grep -vq '\.shard$' && fail "sharded pyramid: unsharded files in $s"
done

# The expected slices, as cvmpi itself reads them.
Z=5
for l in raw gzip jpeg cseg sharded; do
    cv read "$L/$l" --bbox 0,0,$Z,128,128,$((Z + 1)) -o "expect_$l.npy"
done
cv read "$L/raw" --bbox 0,0,4,128,128,5 -o expect_raw_z4.npy # where the printed URL looks
cv read "$L/pyramid" --mip 2 --bbox 0,0,2,64,64,3 -o expect_pyramid.npy
# Each mip of the sharded pyramid reads as the unsharded one's (whose mip 2 check.py checks).
for m in 0 1 2; do
    n=$((256 >> m))
    cv read "$L/spyramid" --mip $m --bbox 0,0,2,$n,$n,3 -o "expect_spyramid_m$m.npy"
    cv read "$L/pyramid" --mip $m --bbox 0,0,2,$n,$n,3 -o "unsharded_m$m.npy"
    cmp -s "expect_spyramid_m$m.npy" "unsharded_m$m.npy" ||
        fail "sharded pyramid: mip $m differs from the unsharded pyramid's"
done

# ---- 3. serve every layer, open each page, screenshot, compare ------------------------------
declare -A BASE
LAYERS="raw gzip jpeg cseg sharded pyramid tampered spyramid mball sball"
for l in $LAYERS; do
    ng=()
    [[ $l == raw ]] && ng=(--neuroglancer-dir "$APP/dist")
    "$CVMPI" serve "$L/$l" --port 0 "${ng[@]}" >"serve_$l.out" 2>"serve_$l.err" &
    PIDS+=($!)
done
for i in "${!PIDS[@]}"; do
    l=$(echo $LAYERS | cut -d' ' -f$((i + 1)))
    for _ in $(seq 100); do
        grep -q '^source:' "serve_$l.out" 2>/dev/null && break
        kill -0 "${PIDS[$i]}" 2>/dev/null || { cat "serve_$l.err"; fail "cvmpi serve $l died"; }
        sleep 0.1
    done
    BASE[$l]=$(sed -n 's|^source: *precomputed://||p' "serve_$l.out")
    [[ ${BASE[$l]} == http://127.0.0.1:* ]] || fail "cvmpi serve $l printed no 127.0.0.1 URL"
done
NG=${BASE[raw]}ng/
curl -sf -o /dev/null "$NG" || fail "the Neuroglancer build is not served at $NG"

"$PY" "$SRC/check.py" cases "$RUN" "$NG" "$Z" \
    "raw=${BASE[raw]}" "gzip=${BASE[gzip]}" "jpeg=${BASE[jpeg]}" "cseg=${BASE[cseg]}" \
    "sharded=${BASE[sharded]}" "pyramid=${BASE[pyramid]}" "tampered=${BASE[tampered]}" "spyramid=${BASE[spyramid]}" \
    "mball=${BASE[mball]}" "sball=${BASE[sball]}" \
    "printed=$(sed -n 's|^neuroglancer: *||p' serve_raw.out)" >cases.json
(cd "$APP" && node shots.mjs "$RUN/cases.json" "$RUN/results.json") ||
    fail "the browser run failed"
"$PY" "$SRC/check.py" check "$RUN" cases.json results.json || fail "screenshots differ (in $RUN)"
echo "PASS: $(grep -c '"name"' cases.json) pages rendered as expected" \
    "$([[ $ISOLATED == 1 ]] && echo '(no network but loopback)')"
