#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# mesh_forge.sh: `cvmpi mesh forge` on shapes with known surfaces (mesh_forge_ref.py shapes:
# a ball, a box, a torus, two boxes sharing a face, a box across 12 tiles, a box in a corner of
# the volume) in a 96x80x64 layer with voxel_offset 5,-7,3, resolution 4,6,40 and 16^3 chunks
# (120 tiles). Read back by the independent reader: every label closed and oriented after
# merging fragments by position (no cracks at tile borders, none at the volume's faces); boxes
# have exactly the volume abc - (a+b+c-3)/2 - 5/6 and area 2((a-1)(b-1)+...) + 2sqrt(2)(a+b+c-3)
# + sqrt(3) (voxel units); the ball and torus are within 1% of their voxel counts in volume
# and within 10% above the analytic area. Then the mesh info, the layer's "mesh", manifests,
# `mesh get`, --dust counted over the whole region, --bbox (closed at its faces), --mip 1,
# --dry-run, --simplify (still closed, fewer triangles) and --resume after a failed write (the
# same bytes as a clean run).
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"
REF="$TEST_DIR/mesh_forge_ref.py"
M=mesh_mip_0_err_0

make_layer() {
    "$CVMPI" create "$1" --type segmentation --dtype uint64 --size 96,80,64 --offset 5,-7,3 \
        --resolution 4,6,40 --chunk 16,16,16 > /dev/null
    "$CVMPI" write "$1" --bbox 5,-7,3,101,73,67 -i shapes.npy
}

section "shapes"
"$PY" "$REF" shapes shapes.npy > counts.json
[[ $(cat counts.json) == '{"1": 5575, "2": 1680, "3": 5724, "4": 1000, "5": 800, "6": 17664, "9": 512}' ]] ||
    fail "voxel counts $(cat counts.json)"
make_layer seg
run "$CVMPI" mesh forge seg
[[ $RC == 0 ]] || fail "mesh forge"
grep -q '^mesh forge: 120 tiles (0 written before), 48 fragments, 7 meshes in mesh_mip_0_err_0/, 0 labels below --dust$' "$OUT" ||
    fail "summary: $(cat "$OUT")"
grep -q '^mesh forge: 120 of 120 chunks read (3932160 bytes), 0 bytes of tile faces' "$OUT" ||
    fail "each chunk read once: $(cat "$OUT")"
"$PY" "$REF" check seg $M 4,6,40 > check.jsonl || { cat check.jsonl; fail "not closed"; }
cat > boxes.expected <<'EOF'
{"label": 2, "fragments": 4, "vertices": 856, "faces": 1708, "closed": true, "volume": 1662.666667, "area": 813.070146}
{"label": 4, "fragments": 4, "vertices": 600, "faces": 1196, "closed": true, "volume": 985.666667, "area": 564.099583}
{"label": 5, "fragments": 2, "vertices": 520, "faces": 1036, "closed": true, "volume": 786.666667, "area": 486.442729}
{"label": 6, "fragments": 18, "vertices": 7376, "faces": 14748, "closed": true, "volume": 17599.666667, "area": 7222.942296}
{"label": 9, "fragments": 1, "vertices": 384, "faces": 764, "closed": true, "volume": 500.666667, "area": 355.12902}
EOF
grep -E '"label": (2|4|5|6|9),' check.jsonl > boxes.got
diff boxes.expected boxes.got || fail "box meshes"
# The formulas behind those numbers, so the expected lines are not just what the code made.
"$PY" - check.jsonl <<'PY' || fail "box formulas, ball or torus out of tolerance"
import json, math, sys
got = {d["label"]: d for d in map(json.loads, open(sys.argv[1]))}
def box(a, b, c):
    vol = a * b * c - (a + b + c - 3) / 2 - 5 / 6
    area = (2 * ((a - 1) * (b - 1) + (b - 1) * (c - 1) + (a - 1) * (c - 1))
            + 4 * (a + b + c - 3) / math.sqrt(2) + math.sqrt(3))
    return vol, area
for label, dims in {2: (10, 12, 14), 4: (10, 10, 10), 5: (8, 10, 10), 6: (92, 6, 32), 9: (8, 8, 8)}.items():
    vol, area = box(*dims)
    assert abs(got[label]["volume"] - vol) < 1e-5 and abs(got[label]["area"] - area) < 1e-5, label
ball, torus = got[1], got[3]
assert ball["closed"] and torus["closed"]
assert abs(ball["volume"] / 5575 - 1) < 0.01, ball      # voxel count
assert abs(torus["volume"] / 5724 - 1) < 0.01, torus
assert 1 <= ball["area"] / (4 * math.pi * 11**2) < 1.10, ball
assert 1 <= torus["area"] / (4 * math.pi**2 * 12 * 5) < 1.10, torus
PY

section "mesh info, layer info, manifests, mesh get"
[[ $(cat seg/$M/info) == '{"@type": "neuroglancer_legacy_mesh", "mip": 0, "chunk_size": [16, 16, 16], "spatial_index": null}' ]] ||
    fail "mesh info: $(cat seg/$M/info)"
grep -q '"mesh": "mesh_mip_0_err_0"' seg/info || fail "layer info has no mesh member"
[[ $(cat "seg/$M/9:0") == '{"fragments": ["9:0:5-21_57-73_51-67"]}' ]] || fail "manifest 9: $(cat "seg/$M/9:0")"
[[ $(cat "seg/$M/2:0") == '{"fragments": ["2:0:53-69_-7-9_19-35", "2:0:53-69_-7-9_3-19", "2:0:53-69_9-25_19-35", "2:0:53-69_9-25_3-19"]}' ]] ||
    fail "manifest 2: $(cat "seg/$M/2:0")"
[[ -f "seg/$M/9:0:5-21_57-73_51-67.gz" ]] || fail "fragments are gzip'd"
run "$CVMPI" mesh ls seg
expect_stdout "$(printf '1\n2\n3\n4\n5\n6\n9')"
run "$CVMPI" mesh get seg 4 -o four.obj
[[ $RC == 0 ]] || fail "mesh get"
[[ $(grep -c '^v ' four.obj) == 600 && $(grep -c '^f ' four.obj) == 1196 ]] || fail "mesh get 4"

section "--dust: counted over the whole region"
make_layer dusty
run "$CVMPI" mesh forge dusty --dust 1000
grep -q '5 meshes in mesh_mip_0_err_0/, 2 labels below --dust$' "$OUT" || fail "dust: $(cat "$OUT")"
run "$CVMPI" mesh ls dusty
# 5 (800 voxels) and 9 (512) go; 6 stays though no tile holds 1000 of its voxels
expect_stdout "$(printf '1\n2\n3\n4\n6')"
for f in 1:0 2:0 6:0 "6:0:85-101_-7-9_35-51.gz"; do
    expect_same_files "seg/$M/$f" "dusty/$M/$f"
done

section "--bbox: closed on its faces"
make_layer part
run "$CVMPI" mesh forge part --bbox 21,-7,3,53,73,51
grep -q '^mesh forge: 30 tiles' "$OUT" || fail "bbox tiles: $(cat "$OUT")"
"$PY" "$REF" check part $M 4,6,40 > part.jsonl || { cat part.jsonl; fail "bbox not closed"; }
# box 6 cut to x 16..48, z 30..48 (array coordinates): 32 x 6 x 18 voxels
grep -q '"label": 6, "fragments": 4, .*"volume": 3428.666667' part.jsonl || fail "bbox box 6: $(cat part.jsonl)"
run "$CVMPI" mesh forge part --bbox 500,500,500,600,600,600
[[ $RC == 1 ]] || fail "bbox outside accepted"
expect_one_line_error
expect_stderr_contains "mesh forge: --bbox 500,500,500,600,600,600 lies outside the volume (5,-7,3,101,73,67 at mip 0)"

section "--mip by resolution: a downsampled scale"
make_layer m1
"$CVMPI" downsample m1 --num-mips 1 > /dev/null 2>&1
run "$CVMPI" mesh forge m1 --mip 8,12,40
grep -q '^mesh forge: 36 tiles (0 written before), 26 fragments, 7 meshes in mesh_mip_1_err_0/' "$OUT" ||
    fail "mip 1: $(cat "$OUT")"
"$PY" "$REF" check m1 mesh_mip_1_err_0 8,12,40 > m1.jsonl || { cat m1.jsonl; fail "mip 1 not closed"; }
# box 4 (10x10x10 at mip 0) is 5x5x10 at mip 1: 250 - 17/2 - 5/6
grep -q '"label": 4, .*"volume": 240.666667' m1.jsonl || fail "mip 1 box: $(cat m1.jsonl)"

section "--dry-run"
run "$CVMPI" mesh forge seg --dry-run --ranks 4
grep -q '^plan: 120 tiles of 16x16x16 voxels (6x5x4) over 5,-7,3,101,73,67 at mip 0, resolution 4,6,40 nm$' "$OUT" ||
    fail "dry run: $(cat "$OUT")"
grep -q '^plan: 4 ranks, up to 30 tiles each' "$OUT" || fail "dry run ranks: $(cat "$OUT")"

section "--simplify: closed, fewer triangles, borders kept"
make_layer simp
run "$CVMPI" mesh forge simp --simplify 10
grep -q '^mesh forge: 120 tiles (0 written before), 48 fragments, 7 meshes in mesh_mip_0_err_10/' "$OUT" ||
    fail "simplify: $(cat "$OUT")"
"$PY" "$REF" check simp mesh_mip_0_err_10 4,6,40 > simp.jsonl || { cat simp.jsonl; fail "simplified meshes not closed"; }
"$PY" - check.jsonl simp.jsonl <<'PY' || fail "simplified meshes"
import json, sys
full = {d["label"]: d for d in map(json.loads, open(sys.argv[1]))}
simp = {d["label"]: d for d in map(json.loads, open(sys.argv[2]))}
for label, d in simp.items():
    assert d["closed"] and d["fragments"] == full[label]["fragments"], d
    assert d["faces"] * 2 < full[label]["faces"], (d, full[label])
    assert abs(d["volume"] / full[label]["volume"] - 1) < 0.1, (d, full[label])
PY
run "$CVMPI" mesh forge simp --simplify 0
[[ $RC == 2 ]] || fail "--simplify 0"
expect_stderr_contains "bad --simplify \`0': want a distance in nm > 0"

section "--resume after a failed write"
make_layer again
mkdir -p "again/$M/9:0:5-21_57-73_51-67.gz" # the last label's write fails on this directory
run "$CVMPI" mesh forge again
[[ $RC == 1 ]] || fail "a failed write must fail the job"
expect_one_line_error
expect_stderr_contains "tile 114 (5,57,51,21,73,67)"
rmdir "again/$M/9:0:5-21_57-73_51-67.gz"
[[ ! -e "again/$M/9:0" ]] || fail "manifests written by a failed job"
run "$CVMPI" mesh forge again --resume
[[ $RC == 0 ]] || fail "resume"
grep -q '^mesh forge: 120 tiles (114 written before), 48 fragments' "$OUT" || fail "resume: $(cat "$OUT")"
(cd seg/$M && find . -type f | sort | xargs sha256sum) > a.sum
(cd again/$M && find . -type f | sort | xargs sha256sum) > b.sum
diff a.sum b.sum || fail "resumed output differs from a clean run"
expect_no_file again/.cvmpi-journal
echo "mesh_forge: ok"
