#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# boss.sh CVMPI CLOUD_CHECK: boss://COLLECTION/EXPERIMENT/CHANNEL against fake_boss.py, a small
# BossDB REST API on 127.0.0.1 (a 70x40x20 uint16 channel, two hierarchy levels): the info made
# from the three metadata answers; reads of both mips through cutouts answered as blosc frames
# (python3-blosc's, and a hand-made memcpyed one), voxel for voxel, with the number of requests
# and "Authorization: Token ..." and "Accept: application/blosc" on each; credentials from
# boss-secret.json or the INTERN_* variables; transfer from boss:// to a local layer; 401 and
# 404 as one line naming the URL; the token never printed. Exit 77 without python3-blosc.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
"$PY" -c 'import blosc, numpy' 2>/dev/null || skip "python3-blosc and python3-numpy are needed"
"$CVMPI" --version | grep -q ' boss' || skip "this build has no boss:// (needs libcurl and libblosc)"

TOKEN=t0ken-SeCrEt-4242
"$PY" -c '
import numpy as np
rng = np.random.default_rng(7)
np.save("vol.npy", rng.integers(0, 65536, size=(20, 40, 70), dtype=np.uint16))'
PORT=$(free_port)
serve boss "$PORT" "$PY" "$HERE/fake_boss.py" "$PORT" "$TOKEN" "$WORK/requests.log" vol.npy
mkdir -p "$HOME/.cloudvolume/secrets"
SECRET=$HOME/.cloudvolume/secrets/boss-secret.json
printf '{"protocol": "http", "host": "127.0.0.1:%s", "token": "%s"}\n' "$PORT" "$TOKEN" >"$SECRET"
URL=http://127.0.0.1:$PORT/v1

# the requests since the last call, then forget them
requests()
{
    cat requests.log
    : >requests.log
}
no_token()
{
    ! grep -q -- "$TOKEN" "$OUT" "$ERR" || fail "the token was printed"
}

section "info: three metadata requests, CloudVolume's boss info"
: >requests.log
expect_exit 0 "$CVMPI" info boss://c/e/ch --json
no_token
"$PY" - "$OUT" <<'EOF' || fail "info differs"
import json, sys
got = json.load(open(sys.argv[1]))
scale = lambda key, res, size, chunk: {"chunk_sizes": [chunk], "encoding": "raw", "key": key,
                                       "resolution": res, "size": size,
                                       "voxel_offset": [0, 0, 0]}
want = {"data_type": "uint16", "num_channels": 1, "type": "image", "scales": [
    scale("4_4_40", [4, 4, 40], [70, 40, 20], [512, 512, 16]),
    scale("8_8_40", [8, 8, 40], [35, 20, 20], [64, 64, 16])]}
sys.exit(0 if got == want else f"got {got}")
EOF
[[ $(requests) == "GET /v1/collection/c/experiment/e auth=ok accept=*/*
GET /v1/coord/cf auth=ok accept=*/*
GET /v1/collection/c/experiment/e/channel/ch auth=ok accept=*/*" ]] || fail "metadata requests"

section "read mip 0 and mip 1: one cutout per chunk, exact voxels"
expect_exit 0 "$CVMPI" read boss://c/e/ch --bbox 0,0,0,70,40,20 -o mip0.npy
expect_exit 0 "$CVMPI" read boss://c/e/ch --mip 1 --bbox 0,0,0,35,20,20 -o mip1.npy
no_token
want="GET /v1/collection/c/experiment/e auth=ok accept=*/*
GET /v1/coord/cf auth=ok accept=*/*
GET /v1/collection/c/experiment/e/channel/ch auth=ok accept=*/*
GET /v1/cutout/c/e/ch/MIP/0:X/0:Y/0:16/?access-mode=no-cache auth=ok accept=application/blosc
GET /v1/cutout/c/e/ch/MIP/0:X/0:Y/16:20/?access-mode=no-cache auth=ok accept=application/blosc"
got=$(requests | sort) # chunks are fetched in parallel: any order
[[ $got == "$({ echo "$want" | sed 's/MIP/0/; s/0:X/0:70/; s/0:Y/0:40/'
    echo "$want" | sed 's/MIP/1/; s/0:X/0:35/; s/0:Y/0:20/'; } | sort)" ]] || fail "requests: $got"
"$PY" - <<'EOF' || fail "voxels differ"
import numpy as np
v = np.load("vol.npy")
m0, m1 = np.load("mip0.npy"), np.load("mip1.npy")
assert m0.shape == (70, 40, 20, 1) and m0.dtype == np.uint16, m0.shape
assert np.array_equal(m0[..., 0], v.transpose(2, 1, 0))
assert np.array_equal(m1[..., 0], v[:, ::2, ::2].transpose(2, 1, 0))
EOF

section "transfer from boss:// to a local layer"
expect_exit 0 "$CVMPI" -q transfer boss://c/e/ch local --mip 0
expect_exit 0 "$CVMPI" read local --bbox 0,0,0,70,40,20 -o local.npy
cmp -s mip0.npy local.npy || fail "the transferred layer differs"
: >requests.log

section "credentials from INTERN_PROTOCOL, INTERN_HOST and INTERN_TOKEN"
mv "$SECRET" "$SECRET.off"
INTERN_PROTOCOL=http INTERN_HOST=127.0.0.1:$PORT INTERN_TOKEN=$TOKEN \
    expect_exit 0 "$CVMPI" read boss://c/e/ch --bbox 0,0,16,35,40,20 -o part.npy
no_token
[[ $(grep -c "auth=ok" requests.log) == 4 && $(grep -c . requests.log) == 4 ]] ||
    fail "env credentials: $(requests)"
: >requests.log
INTERN_PROTOCOL=http INTERN_HOST=127.0.0.1:$PORT expect_exit 1 "$CVMPI" info boss://c/e/ch
expect_stderr_contains "no Boss credentials"
expect_stderr_contains "INTERN_TOKEN"

section "401 and 404: one line naming the URL, never the token"
printf '{"protocol": "http", "host": "127.0.0.1:%s", "token": "%s-wrong"}\n' "$PORT" \
    "$TOKEN" >"$SECRET"
expect_exit 1 "$CVMPI" info boss://c/e/ch
[[ $(cat "$ERR") == "cvmpi: open boss://c/e/ch: GET \`$URL/collection/c/experiment/e': HTTP 401 Unauthorized" ]] ||
    fail "401 message"
no_token
grep -q "auth=bad" requests.log || fail "the wrong token was not sent"
mv "$SECRET.off" "$SECRET"
expect_exit 1 "$CVMPI" read boss://c/e/missing --bbox 0,0,0,1,1,1 -o x.npy
[[ $(cat "$ERR") == "cvmpi: open boss://c/e/missing: GET \`$URL/collection/c/experiment/e/channel/missing': HTTP 404 Not Found" ]] ||
    fail "404 message"
expect_exit 1 "$CVMPI" info boss://c/e
expect_stderr_contains "want boss://COLLECTION/EXPERIMENT/CHANNEL"
expect_exit 1 "$CVMPI" write boss://c/e/ch --bbox 0,0,0,70,40,20 -i mip0.npy
expect_stderr_contains "read-only"
no_token
echo "boss.sh: ok"
