# SPDX-License-Identifier: BSD-3-Clause
# check.py: the pages the browser test opens, and the comparison of their screenshots with the
# slices cvmpi reads.
#   check.py cases RUN NG_URL Z NAME=BASE_URL...   print the case list for shots.mjs
#   check.py check RUN CASES.json RESULTS.json     compare; exit 1 on any difference
# Neuroglancer draws a slice scaled about the centre of its data panel (crossSectionScale
# voxels per screen pixel, `position` at the centre), so the centre of every 16x16 block is
# compared (its median colour) with what cvmpi read there. /view draws each voxel as a
# zoom x zoom square from the canvas corner, so there every voxel is compared exactly.
# Each comparison is also run against the expected slice shifted by one block, which must
# fail: the check would notice wrong data.
# Meshes (mode "silhouette"): a ball of BALL_R voxels drawn in the 3D view, orthographic,
# projectionScale BALL_SCALE voxels per panel height, centred: its disc has radius
# r = BALL_R x height / BALL_SCALE pixels about the panel centre. A pixel is drawn when a
# channel exceeds 24 (black background). At least 98 % of the pixels within 0.85 r must be
# drawn and at most 0.5 % of those beyond 1.15 r; the disc moved by r/2 must fail the first
# test (the check is not blind). No pixel-exact comparison: shading differs between GPUs.
import json
import sys
import urllib.parse

import numpy as np
from PIL import Image

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import layers  # noqa: E402

IMAGE_SHADER = "void main() { emitGrayscale(toNormalized(getDataValue())); }"
BALL_R, BALL_SCALE, BALL_CENTRE = 20.0, 64.0, [32, 32, 32]
INSIDE, OUTSIDE, MIN_INSIDE, MAX_OUTSIDE = 0.85, 1.15, 0.98, 0.005


def view_label_color(labels):
    """The colour /view gives each label (view.html labelColor), for uint32 labels."""
    lo = labels.astype(np.uint64)
    h = lo & 0xFFFFFFFF  # hi word is 0 for uint32; lo ^ imul(hi, k) == lo

    def imul(a, b):
        return (a * b) & 0xFFFFFFFF

    h = imul(h ^ (h >> 16), 0x85EBCA6B)
    h = imul(h ^ (h >> 13), 0xC2B2AE35)
    h = h ^ (h >> 16)
    rgb = np.stack([64 + (h & 255) % 192, 64 + ((h >> 8) & 255) % 192,
                    64 + ((h >> 16) & 255) % 192], axis=-1)
    rgb[labels == 0] = 0
    return rgb.astype(np.int64)


def ng_palette(labels):
    """Distinct colours for the labels of a slice, given to Neuroglancer as segmentColors."""
    out = {}
    for i, lab in enumerate(sorted(int(v) for v in np.unique(labels) if v != 0)):
        r, g, b = 40 + (i * 67) % 200, 40 + (i * 131) % 200, 40 + (i * 29) % 200
        out[str(lab)] = "#%02x%02x%02x" % (r, g, b)
    return out


def ng_url(app, base, ltype, pos, scale, extra):
    layer = {"type": ltype, "source": "precomputed://" + base, "name": "cvmpi"}
    layer.update(extra)
    state = {"dimensions": {"x": [8e-9, "m"], "y": [8e-9, "m"], "z": [8e-9, "m"]},
             "position": pos, "crossSectionScale": scale, "projectionScale": 256,
             "layers": [layer], "layout": "xy", "showAxisLines": False, "showScaleBar": False,
             "showDefaultAnnotations": False, "crossSectionBackgroundColor": "#000000",
             "selectedLayer": {"visible": False}}
    return app + "#!" + urllib.parse.quote(json.dumps(state, separators=(",", ":")), safe="")


def make_cases(run, app, z, bases):
    z = int(z)
    cases = []

    def add(name, kind, url, **check):
        cases.append({"name": name, "kind": kind, "url": url, "out": f"{run}/{name}.png",
                      **check})

    for l in ("raw", "gzip", "jpeg", "sharded"):
        add(f"ng_{l}", "ng", ng_url(app, bases[l], "image", [64, 64, z + 0.5], 0.25,
                                    {"shader": IMAGE_SHADER}),
            expect=f"expect_{l}.npy", mode="gray", scale=0.25, pos=[64, 64], vox=1, block=16,
            tol=6 if l == "jpeg" else 1)
    seg = np.load(f"{run}/expect_cseg.npy")[:, :, 0, 0]
    colors = ng_palette(seg)
    add("ng_cseg", "ng", ng_url(app, bases["cseg"], "segmentation", [64, 64, z + 0.5], 0.25,
                                {"segmentColors": colors, "selectedAlpha": 1}),
        expect="expect_cseg.npy", mode="ngseg", colors=colors, scale=0.25, pos=[64, 64],
        vox=1, block=16, tol=2)
    # 4 mip-0 voxels per pixel: Neuroglancer should draw mip 2 (32x32x8 nm voxels), the only
    # level where the checkerboards of layers.pyramid() average out.
    add("ng_pyramid", "ng", ng_url(app, bases["pyramid"], "image", [128, 128, 2.5], 4.0,
                                   {"shader": IMAGE_SHADER}),
        expect="expect_pyramid.npy", mode="gray", scale=4.0, pos=[128, 128], vox=4, block=8,
        tol=1)
    # negative controls: a layer with one chunk changed, checked against the raw layer's slice
    add("ng_tampered", "ng", ng_url(app, bases["tampered"], "image", [64, 64, z + 0.5], 0.25,
                                    {"shader": IMAGE_SHADER}),
        expect="expect_raw.npy", mode="gray", scale=0.25, pos=[64, 64], vox=1, block=16, tol=1,
        must_differ=4)
    add("view_tampered", "view", bases["tampered"] + f"view#mip=0&z={z}&zoom=4",
        expect="expect_raw.npy", mode="gray", zoom=4, block=16, tol=0, must_differ=32 * 32)
    # the state URL `cvmpi serve --neuroglancer-dir` prints (4 panels, default shader): its
    # xy panel (the first) at the printed position and zoom
    state = json.loads(urllib.parse.unquote(bases["printed"].split("#!", 1)[1]))
    assert int(state["position"][2]) == 4, state["position"]
    add("ng_printed", "ng", bases["printed"], expect="expect_raw_z4.npy", mode="gray",
        scale=state["crossSectionScale"], pos=state["position"][:2], vox=1, block=16, tol=1,
        skip_bottom_left=[130, 60])  # the scale bar
    add("view_raw", "view", bases["raw"] + f"view#mip=0&z={z}&zoom=4",
        expect="expect_raw.npy", mode="gray", zoom=4, block=16, tol=0)
    add("view_jpeg", "view", bases["jpeg"] + f"view#mip=0&z={z}&zoom=4",
        expect="expect_jpeg.npy", mode="gray", zoom=4, block=16, tol=0)
    add("view_cseg", "view", bases["cseg"] + f"view#mip=0&z={z}&zoom=4",
        expect="expect_cseg.npy", mode="viewseg", zoom=4, block=16, tol=0)
    add("view_pyramid", "view", bases["pyramid"] + "view#mip=2&z=2&zoom=8",
        expect="expect_pyramid.npy", mode="gray", zoom=8, block=8, tol=0)
    # the pyramid whose new scales are sharded: Neuroglancer at mip 2 as above, and every mip
    # voxel for voxel through /view
    add("ng_spyramid", "ng", ng_url(app, bases["spyramid"], "image", [128, 128, 2.5], 4.0,
                                    {"shader": IMAGE_SHADER}),
        expect="expect_spyramid_m2.npy", mode="gray", scale=4.0, pos=[128, 128], vox=4, block=8,
        tol=1)
    # (block: the 32-voxel blocks of mip 0's base values at each mip, for the blindness check)
    for m, zoom in ((0, 2), (1, 4), (2, 8)):
        add(f"view_spyramid_m{m}", "view", bases["spyramid"] + f"view#mip={m}&z=2&zoom={zoom}",
            expect=f"expect_spyramid_m{m}.npy", mode="gray", zoom=zoom, block=32 >> m, tol=0)
    # meshes: the ball, legacy and multi-resolution, in the 3D view only
    for l in ("mball", "sball"):
        layer = {"type": "segmentation", "source": "precomputed://" + bases[l], "name": l,
                 "segments": ["1"], "segmentColors": {"1": "#ffffff"}}
        state = {"dimensions": {"x": [8e-9, "m"], "y": [8e-9, "m"], "z": [8e-9, "m"]},
                 "position": BALL_CENTRE, "projectionScale": BALL_SCALE,
                 "projectionOrientation": [0, 0, 0, 1], "layers": [layer],
                 "layout": {"type": "3d", "orthographicProjection": True},
                 "showSlices": False, "showAxisLines": False, "showScaleBar": False,
                 "showDefaultAnnotations": False, "projectionBackgroundColor": "#000000",
                 "selectedLayer": {"visible": False}}
        url = app + "#!" + urllib.parse.quote(json.dumps(state, separators=(",", ":")), safe="")
        add(f"ng_mesh_{l}", "ng", url, mode="silhouette")
    json.dump(cases, sys.stdout, indent=1)


def silhouette(shot, rect, shift=0.0):
    """Fractions of drawn pixels within INSIDE r and beyond OUTSIDE r of the expected disc
    (moved right by shift r), and r."""
    r = BALL_R * rect["height"] / BALL_SCALE
    cx = rect["x"] + rect["width"] / 2 + shift * r
    cy = rect["y"] + rect["height"] / 2
    x0, y0 = int(rect["x"]), int(rect["y"])
    x1, y1 = int(rect["x"] + rect["width"]), int(rect["y"] + rect["height"])
    panel = shot[y0:y1, x0:x1, :3].astype(np.int64)
    drawn = panel.max(axis=2) > 24
    ys, xs = np.mgrid[y0:y1, x0:x1]
    d = np.hypot(xs + 0.5 - cx, ys + 0.5 - cy)
    return drawn[d <= INSIDE * r].mean(), drawn[d >= OUTSIDE * r].mean(), r


def check_silhouette(case, r):
    """Problems of a mesh case (empty: passed) and a note."""
    shot = np.asarray(Image.open(case["out"]).convert("RGB"))
    inside, outside, radius = silhouette(shot, r["rect"])
    note = (f"disc of {radius:.0f} px: {100 * inside:.1f} % drawn within {INSIDE} r, "
            f"{100 * outside:.2f} % beyond {OUTSIDE} r")
    problems = []
    if inside < MIN_INSIDE or outside > MAX_OUTSIDE:
        problems.append(f"the ball's silhouette is not the expected disc: {note}")
    moved, _, _ = silhouette(shot, r["rect"], 0.5)
    if moved >= MIN_INSIDE:
        problems.append(f"check is blind: the disc moved by r/2 matches too ({100 * moved:.1f} %)")
    return problems, note


def expected_rgb(case, exp):
    """Expected colour of each expected voxel, [x, y, rgb]."""
    if case["mode"] == "gray":
        return np.repeat(exp[:, :, None].astype(np.int64), 3, axis=2)
    if case["mode"] == "viewseg":
        return view_label_color(exp)
    rgb = np.zeros(exp.shape + (3,), np.int64)
    for lab, hexc in case["colors"].items():
        rgb[exp == int(lab)] = [int(hexc[i:i + 2], 16) for i in (1, 3, 5)]
    return rgb


def compare(case, shot, rect, want):
    """Number of mismatching blocks (ng) or voxels (view), and the first few."""
    bad, notes = 0, []
    nx, ny = want.shape[:2]
    if case["kind"] == "view":
        k = case["zoom"]
        if abs(rect["width"] - nx * k) > 0.5 or abs(rect["height"] - ny * k) > 0.5:
            return nx * ny, [f"canvas is {rect['width']}x{rect['height']}, want {nx * k}x{ny * k}"]
        xs = (rect["x"] + (np.arange(nx) + 0.5) * k).astype(int)
        ys = (rect["y"] + (np.arange(ny) + 0.5) * k).astype(int)
        got = shot[ys[None, :], xs[:, None], :3].astype(np.int64)  # [x, y, rgb]
        diff = np.abs(got - want).max(axis=2)
        badv = np.argwhere(diff > case["tol"])
        for x, y in badv[:5]:
            notes.append(f"voxel ({x},{y}): got {got[x, y].tolist()} want {want[x, y].tolist()}")
        return len(badv), notes
    s, vox, B = case["scale"], case["vox"], case["block"]
    skipped = 0
    cx, cy = rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2
    px, py = case["pos"]
    for bx in range(nx // B):
        for by in range(ny // B):
            # the middle half of the block, in expected voxels, then in screen pixels
            x0, x1 = bx * B + B // 4, bx * B + 3 * B // 4
            y0, y1 = by * B + B // 4, by * B + 3 * B // 4
            sx0 = int(np.ceil(cx + (x0 * vox - px) / s))
            sx1 = int(np.floor(cx + (x1 * vox - px) / s))
            sy0 = int(np.ceil(cy + (y0 * vox - py) / s))
            sy1 = int(np.floor(cy + (y1 * vox - py) / s))
            if "skip_bottom_left" in case:
                w_skip, h_skip = case["skip_bottom_left"]
                bottom = rect["y"] + rect["height"]
                if sx0 < rect["x"] + w_skip and sy1 > bottom - h_skip:
                    skipped += 1
                    continue
            region = shot[sy0:sy1, sx0:sx1, :3].reshape(-1, 3).astype(np.int64)
            w = np.median(want[x0:x1, y0:y1].reshape(-1, 3), axis=0)
            g = np.median(region, axis=0) if len(region) else np.array([-999] * 3)
            if np.abs(g - w).max() > case["tol"]:
                bad += 1
                if len(notes) < 5:
                    notes.append(f"block ({bx},{by}) at screen x {sx0}..{sx1} y {sy0}..{sy1}: "
                                 f"got {g.tolist()} want {w.tolist()}")
    if skipped:
        notes.append(f"{skipped} under the scale bar were not compared")
    return bad, notes


def check(run, cases_file, results_file):
    cases = json.load(open(f"{run}/{cases_file}"))
    results = {r["name"]: r for r in json.load(open(f"{run}/{results_file}"))}
    failures = 0
    raw = layers.blocks((128, 128, 8), layers.image_value, np.uint8)
    seg = layers.blocks((128, 128, 8), layers.seg_label, np.uint32)
    for case in cases:
        name = case["name"]
        r = results.get(name)
        problems = []
        if case["mode"] == "silhouette":
            if r is None or r["ready"] is not True or r["rect"] is None:
                problems.append(f"not drawn: {r and r['ready']}")
            else:
                problems += [f"page errors: {r['errors'][:3]}"] if r["errors"] else []
                problems += [f"requests left 127.0.0.1: {r['foreign'][:3]}"] if r["foreign"] else []
                more, note = check_silhouette(case, r)
                problems += more
            if problems:
                failures += 1
                print(f"FAIL {name}: " + " | ".join(problems))
            else:
                print(f"ok   {name}: {note} ({r['ms']} ms)")
            continue
        exp = np.load(f"{run}/{case['expect']}")[:, :, 0, 0]
        # cvmpi's own reading is checked against what was written first
        layer = case["expect"][len("expect_"):-len(".npy")]
        if layer in ("raw", "gzip", "sharded", "tampered") and not np.array_equal(exp, raw[:, :, 5]):
            problems.append("cvmpi read differs from the data written")
        if layer == "raw_z4" and not np.array_equal(exp, raw[:, :, 4]):
            problems.append("cvmpi read differs from the data written")
        if layer == "jpeg" and np.abs(exp.astype(int) - raw[:, :, 5]).max() > 8:
            problems.append("cvmpi read of the jpeg layer is far from the data written")
        if layer == "cseg" and not np.array_equal(exp, seg[:, :, 5]):
            problems.append("cvmpi read differs from the labels written")
        if layer in ("pyramid", "spyramid_m2") and not np.array_equal(
                exp, layers.pyramid_base((64, 64), 2)):
            problems.append("mip 2 of the pyramid is not the 4x4 average of mip 0")
        if r is None:
            problems.append("no result (the browser did not get to it)")
        elif r["ready"] is not True:
            problems.append(f"never ready: {r['ready']}")
        elif r["rect"] is None:
            problems.append("no data panel/canvas on the page")
        if r and r["foreign"]:
            problems.append(f"requests left 127.0.0.1: {r['foreign'][:3]}")
        if r and r["errors"]:
            problems.append(f"page errors: {r['errors'][:3]}")
        n_units, notes = 0, []
        if not problems:
            shot = np.asarray(Image.open(case["out"]).convert("RGB"))
            want = expected_rgb(case, exp)
            bad, notes = compare(case, shot, r["rect"], want)
            unit = "voxels" if case["kind"] == "view" else "blocks"
            n_units = (want.shape[0] * want.shape[1] if case["kind"] == "view" else
                       (want.shape[0] // case["block"]) * (want.shape[1] // case["block"]))
            if "must_differ" in case:
                if bad != case["must_differ"]:
                    problems.append(f"the changed chunk is not seen: {bad} {unit} differ, want "
                                    f"exactly {case['must_differ']}")
            elif bad:
                problems.append(f"{bad} of {n_units} {'voxels' if case['kind'] == 'view' else 'blocks'}"
                                f" differ: " + "; ".join(notes))
            # sensitivity: the expected slice shifted by one block must not match
            shifted = np.roll(want, case["block"], axis=0)
            bad_shift, _ = compare(case, shot, r["rect"], shifted)
            if bad_shift < n_units // 2:
                problems.append(f"check is blind: the shifted slice matches too ({bad_shift} "
                                f"of {n_units} differ)")
        if problems:
            failures += 1
            print(f"FAIL {name}: " + " | ".join(problems))
        elif "must_differ" in case:
            print(f"ok   {name}: exactly the {case['must_differ']} {unit} of the changed chunk "
                  f"differ ({r['ms']} ms)")
        elif notes:
            print(f"ok   {name}: {n_units} {unit} as expected, except that {'; '.join(notes)} "
                  f"({r['ms']} ms)")
        else:
            print(f"ok   {name}: {n_units} {unit} as expected ({r['ms']} ms)")
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1] == "cases":
        run, app, z = sys.argv[2:5]
        bases = dict(a.split("=", 1) for a in sys.argv[5:])
        make_cases(run, app, z, bases)
    elif sys.argv[1] == "check":
        sys.exit(check(*sys.argv[2:5]))
    else:
        sys.exit("usage: check.py cases|check ...")
