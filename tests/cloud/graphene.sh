#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# graphene.sh CVMPI CLOUD_CHECK: graphene:// layers against graphene_server.py (a tiny
# ChunkedGraph on 127.0.0.1) whose watershed layer is a file:// data_dir: the info and the
# token files, supervoxel reads, --agglomerate (with and without --timestamp), --root-ids,
# --stop-layer, --preserve-zeros, the Python binding's get_chunk_mappings (L2 children), the
# legacy 1.0 API, meshes through the manifest (unsharded, and sharded initial byte ranges
# when Draco is built), and the errors (401, 404, a short roots answer) naming the URL and
# never the token.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

TOKEN=0123456789abcdef0123456789abcdef
SV1=72057594037927937 SV2=72057594037927938
A=288230376151711751 B=288230376151711753

section "watershed layer and graph server"
"$CVMPI" create ws --type segmentation --dtype uint64 --size 8,8,8 --chunk 4,4,4 \
    --resolution 4,4,40 >/dev/null
# z < 4: label(x, y, z) = [0, SV1, SV2, SV3, SV4][(x + 2y + 3z) % 5]; z >= 4 (the stop-layer
# checks) also holds ids above layer 1: [0, SV1, L2A, A, L3B, SV3][(x + 2y + 3z) % 6]. The
# expected cutouts as raw bytes (x fastest), as `read -o F.raw' writes them.
"$PY" - <<'EOF'
import numpy as np
SV = [0] + [72057594037927937 + i for i in range(4)]
A, B = 288230376151711751, 288230376151711753
L2A, L2B, L3A, L3B = (2 << 56) | 1, (2 << 56) | 2, (3 << 56) | 1, (3 << 56) | 2
MAX = 2**64 - 1
x, y, z = np.meshgrid(np.arange(8), np.arange(8), np.arange(8), indexing="ij")
ws = np.where(z < 4, np.array(SV, dtype=np.uint64)[(x + 2 * y + 3 * z) % 5],
              np.array([0, SV[1], L2A, A, L3B, SV[3]], dtype=np.uint64)[(x + 2 * y + 3 * z) % 6])
np.save("ws.npy", np.asfortranarray(ws))
def want(name, mapping, keep=None, box=slice(0, 8), zs=slice(0, 4), preserve_zeros=False):
    out = np.vectorize(lambda v: mapping.get(int(v), int(v)), otypes=[np.uint64])(ws[box, :, zs])
    if keep is not None and preserve_zeros:
        out = np.where(np.isin(out, keep + [0]), out, MAX).astype(np.uint64)
    elif keep is not None:
        out = np.where(np.isin(out, keep), out, 0).astype(np.uint64)
    open(name, "wb").write(out.tobytes(order="F"))
now = {SV[1]: A, SV[2]: A, SV[3]: B, SV[4]: B}
early = {SV[1]: A, SV[2]: B, SV[3]: B, SV[4]: B}
want("want_now.raw", now)
want("want_early.raw", early)
want("want_rootA.raw", {SV[1]: A, SV[2]: A}, [A], slice(2, 8))
want("want_rootB.raw", early, [B], slice(2, 8))
want("want_rootA_pz.raw", {SV[1]: A, SV[2]: A}, [A], slice(2, 8), preserve_zeros=True)
want("want_rootB_pz.raw", now, [B], slice(2, 8), preserve_zeros=True)
# Ids at the stop layer or the top layer (4) map to themselves; the rest go to the server.
hi = slice(4, 8)
want("want_stop1.raw", {}, zs=hi)
want("want_stop2.raw", {SV[1]: L2A, SV[3]: L2B}, zs=hi)
want("want_stop3.raw", {SV[1]: L3A, L2A: L3A, SV[3]: L3B}, zs=hi)
want("want_stop4.raw", {SV[1]: A, L2A: A, L3B: B, SV[3]: B}, zs=hi)
EOF
"$CVMPI" write ws --bbox 0,0,0,8,8,8 -i ws.npy >/dev/null
mkdir -p srv
make_info()
{
    "$PY" - "$WORK/ws" "$1" >srv/info <<'EOF'
import json, sys
info = json.load(open(sys.argv[1] + "/info"))
info["data_dir"] = "file://" + sys.argv[1]
info["app"] = {"supported_api_versions": json.loads(sys.argv[2])}
info["graph"] = {"chunk_size": [64, 64, 64], "n_layers": 4, "n_bits_for_layer_id": 8,
                 "cv_mip": 0, "spatial_bit_masks": {"1": 10, "2": 10, "3": 9, "4": 8}}
info["chunks_start_at_voxel_offset"] = True
print(json.dumps(info))
EOF
}
make_info "[0, 1]"
PORT=$(free_port)
LOG=$WORK/requests.log
: >"$LOG"
serve graphene "$PORT" "$PY" "$HERE/graphene_server.py" "$PORT" "$WORK/srv/info" "$TOKEN" "$LOG"
URL=graphene://http://127.0.0.1:$PORT/segmentation/table/ds
mkdir -p "$HOME/.cloudvolume/secrets"

section "no token: an error before any request"
expect_exit 1 "$CVMPI" info "$URL"
expect_stderr_contains "no graphene token: none of 127.0.0.1:$PORT-cave-secret.json"
[[ ! -s $LOG ]] || fail "a request was sent without a token"

section "a wrong token (cave-secret.json): 401 naming the URL, not the token"
echo '{"token": "deadbeef"}' >"$HOME/.cloudvolume/secrets/cave-secret.json"
expect_exit 1 "$CVMPI" info "$URL"
expect_stderr_contains "GET \`http://127.0.0.1:$PORT/segmentation/table/ds/info': HTTP 401"
expect_stderr_lacks deadbeef
echo '{"token": "not a token!"}' >"$HOME/.cloudvolume/secrets/chunkedgraph-secret.json"
rm "$HOME/.cloudvolume/secrets/cave-secret.json"
expect_exit 1 "$CVMPI" info "$URL"
expect_stderr_contains "the token is neither hexadecimal nor base64"
expect_stderr_lacks "not a token"
# {fqdn}-cave-secret.json wins over cave-secret.json (which holds a wrong token again).
echo '{"token": "deadbeef"}' >"$HOME/.cloudvolume/secrets/cave-secret.json"
echo "{\"token\": \"$TOKEN\"}" >"$HOME/.cloudvolume/secrets/127.0.0.1:$PORT-cave-secret.json"

section "--secrets {\"token\": ...} instead of the files"
mv "$HOME/.cloudvolume/secrets" "$HOME/secrets.off"
expect_exit 0 "$CVMPI" read "$URL" --secrets "{\"token\": \"$TOKEN\"}" -o s.raw
mv "$HOME/secrets.off" "$HOME/.cloudvolume/secrets"

section "info and supervoxel reads"
expect_exit 0 "$CVMPI" info --json "$URL"
grep -q '"data_dir"' "$OUT" || fail "info --json lacks data_dir"
expect_exit 0 "$CVMPI" info "$URL"
grep -qF "layer:     file://$WORK/ws" "$OUT" || fail "info does not name the watershed layer"
expect_exit 0 "$CVMPI" read "$URL" --bbox 0,0,0,8,8,4 -o sv.npy
cmp sv.npy <("$CVMPI" read ws --bbox 0,0,0,8,8,4 -o - --format npy) ||
    fail "supervoxel read differs from the watershed layer"
: >"$LOG"

# requests TEXT: how many logged requests contain TEXT.
requests()
{
    grep -cF -- "$1" "$LOG" || true
}
# same GOT WANT: exact bytes.
same()
{
    cmp "$1" "$2" >/dev/null || fail "$1 differs from $2"
}

section "--agglomerate: roots now, one roots_binary request as CloudVolume sends it"
expect_exit 0 "$CVMPI" read "$URL" --bbox 0,0,0,8,8,4 --agglomerate -o agg.raw
same agg.raw want_now.raw
[[ $(requests /roots_binary) == 1 ]] || fail "want 1 roots_binary request, got $(requests /roots_binary)"
# POST, no query, no Content-Type, Accept-Encoding identity, the ids sorted little-endian
# without 0.
roots_req='"method": "POST", "path": "/segmentation/api/v1/table/ds/roots_binary", "query": "", '
roots_req+='"content_type": null, "content_encoding": null, "accept_encoding": "identity", '
roots_req+='"auth_ok": true, "body": "01000000000000010200000000000001'
roots_req+='03000000000000010400000000000001"'
[[ $(requests "$roots_req") == 1 ]] || fail "roots_binary request is not CloudVolume's"

section "--agglomerate --timestamp: the earlier graph"
: >"$LOG"
expect_exit 0 "$CVMPI" read "$URL" --bbox 0,0,0,8,8,4 --agglomerate \
    --timestamp 2023-11-14T22:13:19.5Z -o early.raw
same early.raw want_early.raw
[[ $(requests '"query": "timestamp=1700000000"') == 1 ]] || fail "timestamp not sent as ceil(seconds)"
expect_exit 0 "$CVMPI" read "$URL" --bbox 0,0,0,8,8,4 --agglomerate --timestamp 1700000001 \
    -o late.raw
same late.raw want_now.raw

section "--root-ids: leaves of each root in the box, everything else 0"
: >"$LOG"
expect_exit 0 "$CVMPI" read "$URL" --bbox 2,0,0,8,8,4 --root-ids "$A" -o rootA.raw
same rootA.raw want_rootA.raw
[[ $(requests "\"path\": \"/segmentation/api/v1/table/ds/node/$A/leaves\", \"query\": \"bounds=2-8_0-8_0-4\"") == 1 ]] ||
    fail "leaves request is not CloudVolume's"
[[ $(requests /roots_binary) == 0 ]] || fail "--root-ids without --agglomerate asked for roots"
expect_exit 0 "$CVMPI" read "$URL" --bbox 2,0,0,8,8,4 --agglomerate --timestamp 1600000000 \
    --root-ids "$B" -o rootB.raw
same rootB.raw want_rootB.raw

section "--root-ids --preserve-zeros: others the uint64 maximum, 0 kept"
expect_exit 0 "$CVMPI" read "$URL" --bbox 2,0,0,8,8,4 --root-ids "$A" --preserve-zeros \
    -o rootA_pz.raw
same rootA_pz.raw want_rootA_pz.raw
expect_exit 0 "$CVMPI" read "$URL" --bbox 2,0,0,8,8,4 --agglomerate --root-ids "$B" \
    --preserve-zeros -o rootB_pz.raw
same rootB_pz.raw want_rootB_pz.raw

section "--stop-layer: parents at that layer, roots_binary?stop_layer=L"
# roots_binary request with QUERY and the ids sorted little-endian, else fail.
expect_roots_request()
{
    local req='"method": "POST", "path": "/segmentation/api/v1/table/ds/roots_binary", '
    req+="\"query\": \"$1\", \"content_type\": null, \"content_encoding\": null, "
    req+="\"accept_encoding\": \"identity\", \"auth_ok\": true, \"body\": \"$2\""
    [[ $(requests /roots_binary) == 1 && $(requests "$req") == 1 ]] ||
        fail "want one roots_binary request ?$1 with body $2, got: $(grep roots_binary "$LOG")"
}
# SV1, SV3 and L3B ask; L2A (at the stop layer) and A (top layer) are themselves.
: >"$LOG"
expect_exit 0 "$CVMPI" read "$URL" --bbox 0,0,4,8,8,8 --agglomerate --stop-layer 2 -o stop2.raw
same stop2.raw want_stop2.raw
expect_roots_request "stop_layer=2" \
    "010000000000000103000000000000010200000000000003"
: >"$LOG"
expect_exit 0 "$CVMPI" read "$URL" --bbox 0,0,4,8,8,8 --agglomerate --stop-layer 3 \
    --timestamp 1700000000 -o stop3.raw
same stop3.raw want_stop3.raw
expect_roots_request "stop_layer=3&timestamp=1700000000" \
    "010000000000000103000000000000010100000000000002"
: >"$LOG"
expect_exit 0 "$CVMPI" read "$URL" --bbox 0,0,4,8,8,8 --agglomerate --stop-layer 4 -o stop4.raw
same stop4.raw want_stop4.raw
expect_roots_request "stop_layer=4" \
    "0100000000000001030000000000000101000000000000020200000000000003"
# Layer 1 is the supervoxels: the cutout unchanged, no request.
: >"$LOG"
expect_exit 0 "$CVMPI" read "$URL" --bbox 0,0,4,8,8,8 --agglomerate --stop-layer 1 -o stop1.raw
same stop1.raw want_stop1.raw
[[ $(grep -vc '"path": "/segmentation/table/ds/info"' "$LOG") == 0 ]] ||
    fail "--stop-layer 1 sent requests beyond the info: $(cat "$LOG")"
for bad in 0 5 -1; do
    expect_exit 1 "$CVMPI" read "$URL" --agglomerate --stop-layer "$bad" -o x.raw
    expect_stderr_contains "Stop layer $bad must be 1 <= stop_layer <= 4"
done
[[ $(requests /roots_binary) == 0 ]] || fail "a bad stop layer still asked for roots"
[[ ! -e x.raw ]] || fail "a refused read left its output"

if [[ -n ${CVMPI_LIBRARY:-} ]]; then
    section "Python: CloudVolume(graphene://, agglomerate=True, timestamp=...), segids="
    "$PY" - "$URL" "$A" "$B" <<'EOF' || fail "the Python binding's graphene reads differ"
import sys
import cvmpi
url, A, B = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
raw = lambda name: open(name, "rb").read()
vol = cvmpi.CloudVolume(url, agglomerate=True, timestamp="2023-11-14T22:13:19.5Z")
assert vol[0:8, 0:8, 0:4].tobytes(order="F") == raw("want_early.raw")
assert vol.download([0, 0, 0, 8, 8, 4], timestamp=1700000001).tobytes(order="F") == \
    raw("want_now.raw")
plain = cvmpi.CloudVolume(url)
assert plain.download([2, 0, 0, 8, 8, 4], segids=[A]).tobytes(order="F") == raw("want_rootA.raw")
assert plain.download([2, 0, 0, 8, 8, 4], segids=[A], preserve_zeros=True).tobytes(order="F") \
    == raw("want_rootA_pz.raw")
for layer in (1, 2, 3, 4):
    got = plain.download([0, 0, 4, 8, 8, 8], agglomerate=True, stop_layer=layer)
    assert got.tobytes(order="F") == raw("want_stop%d.raw" % layer), layer
for call, text in ((lambda: plain.download([0, 0, 4, 8, 8, 8], agglomerate=True, stop_layer=5),
                    "Stop layer 5 must be 1 <= stop_layer <= 4"),
                   (lambda: plain.download([0, 0, 4, 8, 8, 8], stop_layer=2),
                    "stop_layer applies with agglomerate=True only"),
                   (lambda: plain.download([0, 0, 4, 8, 8, 8], preserve_zeros=True),
                    "preserve_zeros applies with segids only")):
    try:
        call()
        raise SystemExit("no error: " + text)
    except ValueError as e:
        assert text in str(e), str(e)
EOF
    section "Python: get_chunk_mappings (l2_chunk_children_binary)"
    : >"$LOG"
    "$PY" - "$URL" <<'EOF' || fail "the Python binding's get_chunk_mappings differs"
import sys
import numpy as np
import cvmpi
SV = [0] + [72057594037927937 + i for i in range(4)]
L2A, L2B, L2C = (2 << 56) | 1, (2 << 56) | 2, (2 << 56) | 3
vol = cvmpi.CloudVolume(sys.argv[1], timestamp=1700000000)
# Any id of the chunk: the segid bits are zeroed before the request.
got = vol.get_chunk_mappings(L2B)
assert got == {L2A: [SV[1], SV[2]], L2B: [SV[3]], L2C: [SV[4]]}, got
assert list(got) == [L2A, L2B, L2C] and isinstance(list(got)[0], np.uint64)
assert all(isinstance(s, np.uint64) for s in got[L2A])
assert cvmpi.CloudVolume(sys.argv[1]).get_chunk_mappings(np.uint64(L2A))[L2C] == [SV[4]]
for arg, cls, text in ((SV[1], ValueError, "layer 1, want a layer 2 id"),
                       ((2 << 56) | (1 << 46), cvmpi.exceptions.DecodingError,
                        "24 bytes is not a whole number of (l2, supervoxel) uint64 pairs")):
    try:
        vol.get_chunk_mappings(arg)
        raise SystemExit("no error: " + text)
    except cls as e:
        assert text in str(e), str(e)
EOF
    # GET, the chunk id (segid bits zeroed) in the path, as_array=True and the timestamp.
    l2_req='"method": "GET", "path": "/segmentation/api/v1/table/ds/l2_chunk_children_binary/'
    l2_req+='144115188075855872", "query": "as_array=True&timestamp=1700000000", '
    l2_req+='"content_type": null, "content_encoding": null, "accept_encoding": "gzip", '
    l2_req+='"auth_ok": true, "body": ""'
    [[ $(requests "$l2_req") == 1 ]] || fail "l2_chunk_children_binary request: $(cat "$LOG")"
    [[ $(requests '"query": "as_array=True", ') == 1 ]] ||
        fail "l2_chunk_children_binary without a timestamp"
fi

section "usage errors"
expect_exit 2 "$CVMPI" read "$URL" --timestamp 1 -o x.raw
expect_stderr_contains "--timestamp needs --agglomerate"
expect_exit 2 "$CVMPI" read ws --agglomerate -o x.raw
expect_stderr_contains "need a graphene:// PATH"
expect_exit 2 "$CVMPI" read "$URL" --agglomerate --timestamp yesterday -o x.raw
expect_stderr_contains "bad timestamp \`yesterday'"
expect_exit 2 "$CVMPI" read "$URL" --stop-layer 2 -o x.raw
expect_stderr_contains "--stop-layer needs --agglomerate"
expect_exit 2 "$CVMPI" read "$URL" --agglomerate --stop-layer two -o x.raw
expect_stderr_contains "bad --stop-layer \`two': want a graph layer number"
expect_exit 2 "$CVMPI" read "$URL" --agglomerate --preserve-zeros -o x.raw
expect_stderr_contains "--preserve-zeros needs --root-ids"

section "legacy 1.0 API (supported_api_versions [0]): one root request per supervoxel"
make_info "[0]"
: >"$LOG"
expect_exit 0 "$CVMPI" read "$URL" --bbox 0,0,0,8,8,4 --agglomerate --timestamp 1 -o legacy.raw
same legacy.raw want_early.raw
[[ $(requests /root\") == 4 ]] || fail "legacy roots: want one request per supervoxel"
[[ $(requests "\"path\": \"/segmentation/1.0/ds/graph/$SV2/root\"") == 1 ]] || fail "legacy root route"
# CloudVolume's 1.0 roots drop stop_layer (roots come back); cvmpi refuses instead.
expect_exit 1 "$CVMPI" read "$URL" --bbox 0,0,4,8,8,8 --agglomerate --stop-layer 2 -o x.raw
expect_stderr_contains "graphene server http://127.0.0.1:$PORT: API 1.0 does not support stop_layer"
if [[ -n ${CVMPI_LIBRARY:-} ]]; then
    "$PY" - "$URL" <<'EOF' || fail "get_chunk_mappings on a 1.0-only server is not refused"
import sys
import cvmpi
try:
    cvmpi.CloudVolume(sys.argv[1]).get_chunk_mappings((2 << 56) | 1)
    raise SystemExit("no error")
except cvmpi.exceptions.UnsupportedFormatError as e:
    assert "lacks the v1 API" in str(e), str(e)
EOF
fi
make_info "[0, 1]"

section "errors: a short roots answer, 404, 500"
stop graphene
GRAPHENE_SHORT_ROOTS=1 serve graphene "$PORT" "$PY" "$HERE/graphene_server.py" "$PORT" \
    "$WORK/srv/info" "$TOKEN" "$LOG"
expect_exit 1 "$CVMPI" read "$URL" --bbox 0,0,0,8,8,4 --agglomerate -o x.npy
expect_stderr_contains "roots_binary: 24 bytes of roots for 4 ids (want 32: one uint64 per id)"
[[ ! -e x.npy ]] || fail "a failed read left its output"
stop graphene
serve graphene "$PORT" "$PY" "$HERE/graphene_server.py" "$PORT" "$WORK/srv/info" "$TOKEN" "$LOG"
expect_exit 1 "$CVMPI" info "graphene://http://127.0.0.1:$PORT/segmentation/table/nosuch"
expect_stderr_contains "GET \`http://127.0.0.1:$PORT/segmentation/table/nosuch/info': HTTP 404"
expect_stderr_lacks "$TOKEN"
expect_exit 1 "$CVMPI" info "graphene://http://127.0.0.1:$PORT/segmentation/v2/ds"
expect_stderr_contains "the path is none of"

section "meshes through the manifest (unsharded, legacy fragments)"
"$PY" - <<'EOF'
for name, d in (("t1.ply", 0), ("t2.ply", 10)):
    with open(name, "w") as f:
        f.write("ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\n"
                "property float z\nelement face 4\nproperty list uchar int vertex_indices\n"
                "end_header\n")
        for v in ((0, 0, 0), (8, 0, 0), (0, 8, 0), (0, 0, 40)):
            f.write("%g %g %g\n" % (v[0] + d, v[1], v[2]))
        f.write("3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n")
EOF
"$CVMPI" mesh put ws "$SV1" t1.ply >/dev/null
"$CVMPI" mesh put ws "$SV2" t2.ply >/dev/null
cat >srv/manifests.json <<EOF
{"$A": {"fragments": ["$SV2:0:1", "$SV1:0:1"]}, "$B": {"fragments": []}}
EOF
: >"$LOG"
expect_exit 0 "$CVMPI" mesh get "$URL" "$A" -o got.ply
"$CVMPI" mesh get ws "$SV1,$SV2" -o want.ply >/dev/null
cmp got.ply want.ply || fail "graphene mesh differs from its fragments fused"
expect_exit 0 "$CVMPI" mesh get "$URL" "$A" --no-dedupe -o got_raw.ply
"$CVMPI" mesh get ws "$SV1,$SV2" --no-dedupe -o want_raw.ply >/dev/null
cmp got_raw.ply want_raw.ply || fail "graphene fragments are not concatenated in name order"
# GET with the JSON body {"start_layer": 4} and no Content-Type, query verify=True.
manifest_req="\"method\": \"GET\", \"path\": \"/meshing/api/v1/table/ds/manifest/$A:0\", "
manifest_req+='"query": "verify=True", "content_type": null, "content_encoding": null, '
manifest_req+='"accept_encoding": "gzip", "auth_ok": true, "body": "7b2273746172745f6c61796572223a20347d"'
[[ $(requests "$manifest_req") == 2 ]] || fail "manifest request is not CloudVolume's"
expect_exit 1 "$CVMPI" mesh get "$URL" "$B" -o x.ply
expect_stderr_contains "mesh $B: the manifest of http://127.0.0.1:$PORT lists no fragment"
expect_exit 1 "$CVMPI" mesh get "$URL" 7 -o x.ply
expect_stderr_contains "manifest/7:0?verify=True': HTTP 404"
expect_exit 2 "$CVMPI" mesh ls "$URL"

if "$CVMPI" --version | grep -q multires-draco; then
    section "sharded meshes: initial byte ranges and dynamic files (Draco)"
    # One Draco fragment: the unsharded multi-resolution mesh of SV1 holds exactly one.
    cp -r ws wsm
    "$CVMPI" mesh merge-sharded wsm --unsharded --nlod 0 >/dev/null
    frag=wsm/mesh/$SV1
    size=$(stat -c %s "$frag")
    mkdir -p ws/mesh/initial/2 ws/mesh/dynamic
    { head -c 100 /dev/urandom; cat "$frag"; head -c 50 /dev/urandom; } >ws/mesh/initial/2/17-0.shard
    cp "$frag" "ws/mesh/dynamic/$SV2:0:0-64_0-64_0-64"
    cp ws/mesh/info ws/mesh/info.unsharded
    "$PY" -c 'import json
i = json.load(open("ws/mesh/info")); i["sharding"] = {"2": {"@type": "neuroglancer_uint64_sharded_v1"}}
json.dump(i, open("ws/mesh/info", "w"))'
    cat >srv/manifests.json <<EOF
{"$A": {"fragments": ["~2/17-0.shard:100:$size", "$SV2:0:0-64_0-64_0-64", ""],
        "seg_ids": [$SV1, $SV2, 5]}}
EOF
    : >"$LOG"
    expect_exit 0 "$CVMPI" mesh get "$URL" "$A" --no-dedupe -o sharded.ply
    grep -q '"query": "verify=True&return_seg_ids=1"' "$LOG" || fail "sharded manifest query"
    # The same Draco bytes as two unsharded fragment files give the same mesh.
    cp ws/mesh/info ws/mesh/info.sharded
    mv ws/mesh/info.unsharded ws/mesh/info
    cp "$frag" "ws/mesh/$SV1:draco" && cp "$frag" "ws/mesh/$SV2:draco"
    cat >srv/manifests.json <<EOF
{"$A": {"fragments": ["$SV2:draco", "$SV1:draco"]}}
EOF
    expect_exit 0 "$CVMPI" mesh get "$URL" "$A" --no-dedupe -o unsharded.ply
    cmp sharded.ply unsharded.ply || fail "sharded initial range and dynamic file differ"
    # An untrusted range is bounded before anything is allocated.
    cp ws/mesh/info.sharded ws/mesh/info
    cat >srv/manifests.json <<EOF
{"$A": {"fragments": ["~2/17-0.shard:100:18446744073709551515"], "seg_ids": [$SV1]}}
EOF
    expect_exit 1 "$CVMPI" mesh get "$URL" "$A" -o x.ply
    expect_stderr_contains "is 18446744073709551515 bytes, more than the 268435456 a fragment may have"
    grep -q "element vertex" sharded.ply || fail "no mesh written"
fi
echo "graphene: all checks passed"
