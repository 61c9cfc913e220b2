# SPDX-License-Identifier: BSD-3-Clause
"""Bbox: a half-open box [minpt, maxpt) in voxels of one mip, as CloudVolume's Bbox."""
import numpy as np

from . import exceptions


class Bbox:
    __slots__ = ("minpt", "maxpt")

    def __init__(self, a, b):
        self.minpt = np.array(a, dtype=np.int64).reshape(3)
        self.maxpt = np.array(b, dtype=np.int64).reshape(3)

    @classmethod
    def from_slices(cls, slices):
        slices = list(slices)[:3]
        return cls([s.start for s in slices], [s.stop for s in slices])

    @classmethod
    def from_list(cls, values):
        values = [int(v) for v in values]
        if len(values) != 6:
            raise exceptions.ArgumentError("a box is 6 integers x0,y0,z0,x1,y1,z1, got %r"
                                           % (values,))
        return cls(values[:3], values[3:])

    @classmethod
    def create(cls, obj):
        """A Bbox from a Bbox, 6 numbers, (minpt, maxpt) or 3 slices."""
        if isinstance(obj, Bbox):
            return cls(obj.minpt, obj.maxpt)
        obj = list(obj)
        if len(obj) == 6:
            return cls.from_list(obj)
        if len(obj) == 2 and all(np.size(p) == 3 for p in obj):
            return cls(obj[0], obj[1])
        if len(obj) in (3, 4) and all(isinstance(s, slice) for s in obj):
            if any(s.start is None or s.stop is None for s in obj[:3]):
                raise exceptions.ArgumentError("a box needs every slice's start and stop")
            return cls.from_slices(obj)
        raise exceptions.ArgumentError("cannot make a box of %r" % (obj,))

    def size(self):
        return self.maxpt - self.minpt

    size3 = size

    def volume(self):
        return int(np.prod(np.maximum(self.size(), 0)))

    def subvoxel(self):
        return bool(np.any(self.size() <= 0))

    def to_slices(self):
        return tuple(slice(int(a), int(b)) for a, b in zip(self.minpt, self.maxpt))

    def to_list(self):
        return [int(v) for v in self.minpt] + [int(v) for v in self.maxpt]

    def contains_bbox(self, other):
        return bool(np.all(other.minpt >= self.minpt) and np.all(other.maxpt <= self.maxpt))

    def __eq__(self, other):
        return (isinstance(other, Bbox) and np.array_equal(self.minpt, other.minpt)
                and np.array_equal(self.maxpt, other.maxpt))

    def __hash__(self):
        return hash(tuple(self.to_list()))

    def __repr__(self):
        return "Bbox(%s, %s)" % (self.minpt.tolist(), self.maxpt.tolist())
