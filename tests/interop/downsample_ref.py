#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# downsample_ref.py: an independent numpy implementation of the downsampling rules of
# cloudvolume-conventions §7.4 as cvmpi.h pins them down (average with replicated odd edges
# for 2x2x1/2x2x2 and the float32 numpy path otherwise, countless mode, 2x2x2 mode, generic
# mode with ties to the first, sparse, min/max, striding). Several levels are made as one
# tinybrain call with num_mips levels makes them: 2x2x1/2x2x2 averages of 8/16-bit integers
# carry the untruncated sums (edges replicated) and render level k as sum >> bits*(levels since
# the last reset), resetting (sum >>= bits*period) every period levels: 4 for 2x2x1, 8 for
# 2x2x2 8-bit, 5 for 2x2x2 16-bit (tinybrain's accumulator widths); 8/16-bit averages with
# other factors are carried in float32 (tinybrain's numpy path: each level from the previous
# level's float32 values, only the outputs truncated); everything else is recursive, level k+1
# from level k.
#
# usage: downsample_ref.py MANIFEST DIR
#   MANIFEST lines: NAME DTYPE CHANNELS SX SY SZ FX FY FZ METHOD SPARSE(0|1) LEVELS
#   reads DIR/NAME.in (raw, x fastest, channel slowest), writes DIR/NAME.<k>.out, k=1..LEVELS
import sys

import numpy as np

INT_LIMITS = {}


def to_dtype(q, dt):
    """float accumulator -> dt: truncate toward zero, clamp to the range."""
    if dt.kind == "f":
        return q.astype(dt)
    info = np.iinfo(dt)
    lim = float(2 ** (info.bits if dt.kind == "u" else info.bits - 1))
    q64 = q.astype(np.float64)
    low = ~(q64 > float(info.min))
    big = q64 >= lim
    q64 = np.where(low | big, 0.0, q64)
    out = np.trunc(q64).astype(dt)
    out[low] = info.min
    out[big] = info.max
    return out


def offsets(f):
    """Block offsets in block order: x fastest, then y, then z."""
    return [(dz, dy, dx) for dz in range(f[2]) for dy in range(f[1]) for dx in range(f[0])]


def out_shape(a, f):
    c, sz, sy, sx = a.shape
    return (c, -(-sz // f[2]), -(-sy // f[1]), -(-sx // f[0]))


def stack(a, f):
    """(values, valid) of shape (n_offsets, c, oz, oy, ox): each block's voxels in order."""
    shp = out_shape(a, f)
    offs = offsets(f)
    vals = np.zeros((len(offs),) + shp, dtype=a.dtype)
    valid = np.zeros((len(offs),) + shp, dtype=bool)
    for i, (dz, dy, dx) in enumerate(offs):
        s = a[:, dz::f[2], dy::f[1], dx::f[0]]
        vals[i, :, : s.shape[1], : s.shape[2], : s.shape[3]] = s
        valid[i, :, : s.shape[1], : s.shape[2], : s.shape[3]] = True
    return vals, valid


def first_max(vals, valid):
    """Most frequent valid value, ties to the first in block order; 0 if none valid."""
    n = vals.shape[0]
    best = np.zeros(vals.shape[1:], dtype=vals.dtype)
    best_n = np.zeros(vals.shape[1:], dtype=np.int64)
    for t in range(n):
        cnt = np.zeros(vals.shape[1:], dtype=np.int64)
        for j in range(n):
            cnt += (valid[j] & (vals[j] == vals[t])).astype(np.int64)
        upd = valid[t] & (cnt > best_n)
        best = np.where(upd, vals[t], best)
        best_n = np.where(upd, cnt, best_n)
    return best


def padded_corners(a, f):
    """The 4 or 8 block values with the odd edge replicated (edge padding)."""
    pad = [(0, 0)]
    for ax, fac in ((2, f[2]), (1, f[1]), (0, f[0])):
        n = a.shape[3 - ax]
        pad.append((0, 1 if fac == 2 and n % 2 else 0))
    p = np.pad(a, pad, mode="edge")
    return [p[:, dz::f[2], dy::f[1], dx::f[0]] for (dz, dy, dx) in offsets(f)]


def average(a, f, sparse):
    dt = a.dtype
    fast = (tuple(f) in ((2, 2, 1), (2, 2, 2)) and not sparse and
            dt in (np.uint8, np.int8, np.uint16, np.int16, np.float32, np.float64))
    if fast:
        vs = padded_corners(a, f)
        k = 2 if len(vs) == 4 else 3
        if dt.kind == "f":
            # sums in a wider type: float32 in float64, rounded once (tinybrain's single mip)
            s = vs[0].astype(np.float64)
            for v in vs[1:]:
                s = s + v
            return (s * (0.25 if k == 2 else 0.125)).astype(dt)
        s = np.zeros(vs[0].shape, dtype=np.int32)
        for v in vs:
            s += v.astype(np.int32)
        r = np.where(s >= 0, s >> k, -((-s) >> k))
        return r.astype(dt)
    acc_t = np.float64 if dt == np.float64 else np.float32
    shp = out_shape(a, f)
    acc = np.zeros(shp, dtype=acc_t)
    cnt = np.zeros(shp, dtype=np.int64)
    for (dz, dy, dx) in offsets(f):
        s = a[:, dz::f[2], dy::f[1], dx::f[0]]
        sl = (slice(None), slice(0, s.shape[1]), slice(0, s.shape[2]), slice(0, s.shape[3]))
        m = (s != 0) if sparse else np.ones(s.shape, dtype=bool)
        acc[sl] = np.where(m, acc[sl] + s.astype(acc_t), acc[sl])
        cnt[sl] += m
    q = np.where(cnt > 0, acc / np.maximum(cnt, 1).astype(acc_t), acc_t(0)).astype(acc_t)
    return to_dtype(q, dt)


def countless(a):
    a_, b, c, d = padded_corners(a, (2, 2, 1))
    return np.where(a_ == b, a_, np.where(a_ == c, a_, np.where(b == c, b, d)))


def mode222(a):
    v = padded_corners(a, (2, 2, 2))
    best = np.zeros(v[0].shape, dtype=a.dtype)
    best_n = np.zeros(v[0].shape, dtype=np.int64)
    for t in range(8):
        cnt = sum((v[j] == v[t]).astype(np.int64) for j in range(8))
        upd = cnt > best_n
        best = np.where(upd, v[t], best)
        best_n = np.where(upd, cnt, best_n)
    first4 = (v[0] == v[1]) & (v[1] == v[2]) & (v[2] == v[3])
    last4 = (v[4] == v[5]) & (v[5] == v[6]) & (v[6] == v[7])
    return np.where(first4, v[0], np.where(last4, v[4], best))


def pow2(n):
    return n > 0 and n & (n - 1) == 0


def one_level(a, f, method, sparse):
    if tuple(f) == (1, 1, 1):
        return a.copy()
    if method == "striding":
        return a[:, :: f[2], :: f[1], :: f[0]].copy()
    if method in ("min", "max"):
        vals, valid = stack(a, f)
        if sparse:
            valid &= vals != 0
        if a.dtype.kind == "f":
            fill = np.inf if method == "min" else -np.inf
        else:
            info = np.iinfo(a.dtype)
            fill = info.max if method == "min" else info.min
        w = np.where(valid, vals, a.dtype.type(fill))
        r = w.min(axis=0) if method == "min" else w.max(axis=0)
        return np.where(valid.any(axis=0), r, a.dtype.type(0)).astype(a.dtype)
    if method == "average":
        return average(a, f, sparse)
    # mode
    if sparse:
        vals, valid = stack(a, f)
        return first_max(vals, valid & (vals != 0))
    if not all(pow2(x) for x in f):
        return a[:, :: f[2], :: f[1], :: f[0]].copy()
    rem = list(f)
    while rem != [1, 1, 1]:
        step = [2 if r > 1 else 1 for r in rem]
        rem = [r // s for r, s in zip(rem, step)]
        if step == [2, 2, 1]:
            a = countless(a)
        elif step == [2, 2, 2]:
            a = mode222(a)
        else:
            vals, valid = stack(a, step)
            a = first_max(vals, valid)
    return a


def carries_sums(dt, f, method, sparse):
    return (method == "average" and not sparse and tuple(f) in ((2, 2, 1), (2, 2, 2)) and
            dt in (np.uint8, np.int8, np.uint16, np.int16))


def carries_float(dt, f, method):
    return (method == "average" and tuple(f) not in ((2, 2, 1), (2, 2, 2)) and
            dt in (np.uint8, np.int8, np.uint16, np.int16))


def carried_levels(a, f, levels):
    """Levels 1..levels of one multi-mip call: sums carried, truncated every period levels."""
    dt = a.dtype
    bits = 2 if f[2] == 1 else 3
    period = 4 if f[2] == 1 else (8 if dt.itemsize == 1 else 5)
    s = a.astype(np.int64)
    out = []
    for lvl in range(1, levels + 1):
        vs = padded_corners(s, f)
        s = vs[0].copy()
        for v in vs[1:]:
            s += v
        sh = bits * ((lvl - 1) % period + 1)
        out.append(np.where(s >= 0, s >> sh, -((-s) >> sh)).astype(dt))
        if lvl % period == 0:
            s = s >> (bits * period)
    return out


def main():
    manifest, d = sys.argv[1], sys.argv[2]
    with open(manifest) as fh:
        lines = [ln.split() for ln in fh if ln.strip()]
    with np.errstate(all="ignore"):
        for (name, dtype, ch, sx, sy, sz, fx, fy, fz, method, sparse, levels) in lines:
            dt = np.dtype(dtype)
            shape = (int(ch), int(sz), int(sy), int(sx))
            a = np.fromfile(f"{d}/{name}.in", dtype=dt).reshape(shape)
            f = (int(fx), int(fy), int(fz))
            if carries_sums(dt, f, method, sparse == "1"):
                for k, lv in enumerate(carried_levels(a, f, int(levels)), 1):
                    lv.tofile(f"{d}/{name}.{k}.out")
                continue
            if carries_float(dt, f, method):
                # tinybrain's numpy path: float32 once, levels from float32, each output cast
                a = a.astype(np.float32)
                for k in range(1, int(levels) + 1):
                    a = average(a, f, sparse == "1")
                    to_dtype(a, dt).tofile(f"{d}/{name}.{k}.out")
                continue
            for k in range(1, int(levels) + 1):
                a = one_level(a, f, method, sparse == "1")
                a.astype(dt).tofile(f"{d}/{name}.{k}.out")


if __name__ == "__main__":
    main()
