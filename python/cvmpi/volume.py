# SPDX-License-Identifier: BSD-3-Clause
"""cvmpi.CloudVolume: CloudVolume's everyday API over libcvmpi."""
import collections
import ctypes
import json
import math
import numbers
import os

import numpy as np

from . import _lib, exceptions
from ._lib import check, lib
from .bbox import Bbox
from .exceptions import ERR_NOTFOUND


class VolumeCutout(np.ndarray):
    """The array a read returns: (X, Y, Z, C), Fortran order, with the box it came from
    (`bounds`), its `mip`, `layer_type`, `resolution` and `dataset_name`, as CloudVolume's."""

    def __new__(cls, shape, dtype, bounds=None, mip=0, layer_type=None, resolution=None,
                dataset_name=None):
        obj = super().__new__(cls, shape, dtype=dtype, order="F")
        obj.bounds = bounds
        obj.mip = mip
        obj.layer_type = layer_type
        obj.resolution = resolution
        obj.dataset_name = dataset_name
        return obj

    def __array_finalize__(self, obj):
        for name in ("bounds", "mip", "layer_type", "resolution", "dataset_name"):
            setattr(self, name, getattr(obj, name, None))


def _unix_time(timestamp):
    """CloudVolume's to_unix_time: ceil of POSIX seconds; text through cv_timestamp_parse."""
    if hasattr(timestamp, "timestamp"):
        timestamp = timestamp.timestamp()
    if isinstance(timestamp, str):
        out = ctypes.c_int64()
        check(lib.cv_timestamp_parse(timestamp.encode(), ctypes.byref(out)))
        return out.value
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Real):
        raise exceptions.ArgumentError("timestamp: want UNIX seconds, ISO 8601 text or a "
                                       "datetime, got %r" % (timestamp,))
    return int(math.ceil(timestamp))


def _compress_arg(compress):
    """CloudVolume's compress: None = default per encoding, False = none, True = gzip."""
    if compress is None:
        return None
    if compress is False:
        return b""
    if compress is True:
        return b"gzip"
    if isinstance(compress, str) and compress in ("", "gzip", "br"):
        return compress.encode()
    raise exceptions.ArgumentError(
        "compress must be None, True, False, 'gzip' or 'br', got %r" % (compress,))


def _secrets_arg(secrets):
    if secrets is None:
        return None
    if isinstance(secrets, dict):
        return json.dumps(secrets)
    if isinstance(secrets, str):
        return secrets
    raise exceptions.ArgumentError("secrets must be a dict or JSON text")


def _info_handle(info):
    """A C cv_info from a dict (CloudVolume's info layout); free with cv_info_free."""
    text = json.dumps(info).encode()
    h = ctypes.c_void_p()
    check(lib.cv_info_parse(text, len(text), b"info", ctypes.byref(h)))
    return h


def _cache_arg(cache):
    """CloudVolume's cache=: False/None (off), True (the default directory) or a path."""
    if cache is None or cache is False:
        return None
    if cache is True:
        return b""
    if isinstance(cache, (str, bytes, os.PathLike)) and os.fspath(cache):
        path = os.fspath(cache)
        return path.encode() if isinstance(path, str) else path
    raise exceptions.ArgumentError("cache must be True, False or a directory, got %r" % (cache,))


def _seconds_arg(name, value):
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise exceptions.ArgumentError("%s must be seconds >= 0, got %r" % (name, value))
    return float(value)


def _int_arg(name, value, lo, hi):
    """An integer argument (numpy integers too) in [lo, hi), the range of its C type."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise exceptions.ArgumentError("%s must be an integer, got %r" % (name, value))
    value = int(value)
    if not lo <= value < hi:
        raise exceptions.ArgumentError("%s %d is out of range" % (name, value))
    return value


def _bytes_arg(name, value):
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise exceptions.ArgumentError("%s must be a byte count >= 0, got %r" % (name, value))
    return int(value)


def _is_point(obj):
    """Three integers (x, y, z): the start of a write box."""
    if isinstance(obj, (Bbox, str, bytes)) or not hasattr(obj, "__len__") or len(obj) != 3:
        return False
    return all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in obj)


class CloudVolume:
    """A Neuroglancer Precomputed layer. Arguments have CloudVolume's meaning:

    mip                 scale index, or a resolution (x, y, z)
    bounded             requests must lie inside the volume
    autocrop            requests are clipped to the volume first
    fill_missing        absent chunks read as background_color instead of raising
    background_color    value of voxels outside the volume or in missing chunks
    non_aligned_writes  unaligned writes read-modify-write their border chunks
    delete_black_uploads  chunks that are all background_color are deleted, not written
    compress            None (CloudVolume's default per encoding), False, True/'gzip', 'br'
    compress_level      gzip 0..12 / br 0..11 (None: 9 / 5)
    parallel            threads per read or write (True: every CPU)
    secrets             credentials (a dict or JSON text) for s3:// and gs:// paths
    progress            accepted for compatibility; volume calls print no progress bar
    info                use this info dict instead of the stored one (commit_info() writes it)
    max_redirects       redirects followed when opening
    cache               False; True: a local disk cache of gs://, s3:// and http(s):// reads
                        under CLOUD_VOLUME_CACHE_DIR or ~/.cloudvolume/cache; a path: under
                        that directory (file:// is never cached; docs/cache.md)
    cache_max_age       seconds a cached object is served (None: no limit)
    cache_info_age      seconds a cached info is served (0: fetched at every open)
    cache_bytes         size limit of the cache directory, least recently used out (None)
    lru_bytes           decoded chunks kept in memory for repeated overlapping reads (0: off)
    """

    def __init__(self, cloudpath, mip=0, bounded=True, autocrop=False, fill_missing=False,
                 background_color=0, non_aligned_writes=False, delete_black_uploads=False,
                 compress=None, compress_level=None, parallel=1, secrets=None, progress=False,
                 info=None, max_redirects=10, agglomerate=False, timestamp=None,
                 cache=False, cache_max_age=None, cache_info_age=0, cache_bytes=None,
                 lru_bytes=0):
        self._h = None
        self.agglomerate = bool(agglomerate)
        self.timestamp = timestamp
        self.cloudpath = cloudpath
        self.progress = bool(progress)
        if parallel is True:
            parallel = os.cpu_count() or 1
        if isinstance(parallel, bool) or not isinstance(parallel, numbers.Integral) \
                or parallel < 1:
            raise exceptions.ArgumentError("parallel must be a positive number of threads, "
                                           "got %r" % (parallel,))
        self.parallel = int(parallel)
        opts = lib.cv_opts_default()
        opts.bounded = bool(bounded)
        opts.autocrop = bool(autocrop)
        opts.fill_missing = bool(fill_missing)
        opts.background_color = float(background_color)
        opts.non_aligned_writes = bool(non_aligned_writes)
        opts.delete_black_uploads = bool(delete_black_uploads)
        self._compress = _compress_arg(compress)
        opts.compress = self._compress
        opts.compress_level = -1 if compress_level is None else int(compress_level)
        opts.threads = self.parallel
        opts.max_redirects = int(max_redirects)
        self._cache = _cache_arg(cache)
        opts.cache = self._cache
        opts.cache_max_age = _seconds_arg("cache_max_age", cache_max_age)
        opts.cache_info_age = _seconds_arg("cache_info_age", cache_info_age)
        opts.cache_bytes = _bytes_arg("cache_bytes", cache_bytes)
        opts.lru_bytes = _bytes_arg("lru_bytes", lru_bytes)
        if self._cache is None and (opts.cache_max_age or opts.cache_info_age or
                                    opts.cache_bytes):
            raise exceptions.ArgumentError("cache_max_age, cache_info_age and cache_bytes "
                                           "need cache=True or a cache directory")
        self._opts = opts
        secrets = _secrets_arg(secrets)
        if secrets is not None:
            check(lib.cv_secrets_set(secrets.encode()))
        h = ctypes.c_void_p()
        path = os.fspath(cloudpath).encode()
        if info is not None:
            ih = _info_handle(info)
            try:
                check(lib.cv_volume_open_info(path, ih, ctypes.byref(opts), ctypes.byref(h)))
            finally:
                lib.cv_info_free(ih)
        else:
            check(lib.cv_volume_open(path, ctypes.byref(opts), ctypes.byref(h)),
                  {ERR_NOTFOUND: exceptions.InfoUnavailableError})
        self._h = h
        self._load_info()
        self._mesh = None
        self._skeleton = None
        self.mip = mip

    # ---- lifetime ------------------------------------------------------------------------------

    def close(self):
        """Release the C handle (also done when the object is collected)."""
        for k in (getattr(self, "_mesh", None), getattr(self, "_skeleton", None)):
            if k is not None:
                k._close()
        if self._h:
            lib.cv_volume_close(self._h)
            self._h = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handle(self):
        if not self._h:
            raise exceptions.ArgumentError("the volume is closed")
        return self._h

    # ---- metadata ------------------------------------------------------------------------------

    def _load_info(self):
        out, n = ctypes.c_void_p(), ctypes.c_size_t()
        check(lib.cv_info_to_json(lib.cv_volume_info(self._handle()), ctypes.byref(out),
                                  ctypes.byref(n)))
        self.info = json.loads(_lib.take_bytes(out, n.value))

    @property
    def layer_cloudpath(self):
        return lib.cv_volume_url(self._handle()).decode()

    @property
    def scales(self):
        return self.info["scales"]

    @property
    def scale(self):
        return self.scales[self.mip]

    @property
    def available_mips(self):
        return range(len(self.scales))

    @property
    def mip(self):
        return self._mip

    @mip.setter
    def mip(self, mip):
        self._mip = self.to_mip(mip)

    def to_mip(self, mip):
        """A mip index from an index or a resolution (x, y, z)."""
        n = len(self.scales)
        if isinstance(mip, numbers.Integral) and not isinstance(mip, bool):
            if 0 <= mip < n:
                return int(mip)
            if -n <= mip < 0:
                return n + int(mip)
            raise exceptions.ScaleUnavailableError(
                "mip %d: %s has %d scale%s" % (mip, self.cloudpath, n, "" if n == 1 else "s"))
        try:
            res = [float(v) for v in mip]
        except TypeError:
            raise exceptions.ScaleUnavailableError("mip %r: want an index or a resolution"
                                                   % (mip,))
        for i, s in enumerate(self.scales):
            if [float(v) for v in s["resolution"]] == res:
                return i
        raise exceptions.ScaleUnavailableError(
            "no scale of %s has resolution %s (they are %s)"
            % (self.cloudpath, res, [s["resolution"] for s in self.scales]))

    @property
    def layer_type(self):
        return self.info["type"]

    @property
    def dtype(self):
        return np.dtype(self.info["data_type"])

    @property
    def data_type(self):
        return self.info["data_type"]

    @property
    def num_channels(self):
        return int(self.info["num_channels"])

    @property
    def encoding(self):
        return self.scale["encoding"]

    @property
    def key(self):
        return self.scale["key"]

    def mip_resolution(self, mip):
        return np.array(self.scales[self.to_mip(mip)]["resolution"])

    def mip_voxel_offset(self, mip):
        return np.array(self.scales[self.to_mip(mip)]["voxel_offset"], dtype=np.int64)

    def mip_volume_size(self, mip):
        return np.array(self.scales[self.to_mip(mip)]["size"], dtype=np.int64)

    def mip_chunk_size(self, mip):
        return np.array(self.scales[self.to_mip(mip)]["chunk_sizes"][0], dtype=np.int64)

    def mip_bounds(self, mip):
        off = self.mip_voxel_offset(mip)
        return Bbox(off, off + self.mip_volume_size(mip))

    def mip_shape(self, mip):
        return np.array(list(self.mip_volume_size(mip)) + [self.num_channels], dtype=np.int64)

    @property
    def resolution(self):
        return self.mip_resolution(self.mip)

    @property
    def voxel_offset(self):
        return self.mip_voxel_offset(self.mip)

    @property
    def volume_size(self):
        return self.mip_volume_size(self.mip)

    @property
    def chunk_size(self):
        return self.mip_chunk_size(self.mip)

    @property
    def bounds(self):
        return self.mip_bounds(self.mip)

    @property
    def shape(self):
        return self.mip_shape(self.mip)

    @classmethod
    def create_new_info(cls, num_channels, layer_type, data_type, encoding, resolution,
                        voxel_offset, volume_size, mesh=None, skeletons=None,
                        chunk_size=(64, 64, 64), compressed_segmentation_block_size=(8, 8, 8),
                        max_mip=0, factor=(2, 2, 1), redirect=None):
        """CloudVolume's create_new_info(): the info dict of a new layer (not written)."""
        from . import info as _info
        return _info.create_new_info(num_channels, layer_type, data_type, encoding, resolution,
                                     voxel_offset, volume_size, mesh, skeletons, chunk_size,
                                     compressed_segmentation_block_size, max_mip, factor,
                                     redirect)

    def commit_info(self):
        """Validate vol.info (as changed in place) and write it as CloudVolume does."""
        ih = _info_handle(self.info)
        try:
            check(lib.cv_volume_set_info(self._handle(), ih))
        finally:
            lib.cv_info_free(ih)
        check(lib.cv_volume_commit_info(self._handle()))
        self._load_info()

    def refresh_info(self):
        """Read the stored info again."""
        h = ctypes.c_void_p()
        check(lib.cv_volume_open(os.fspath(self.cloudpath).encode(), ctypes.byref(self._opts),
                                 ctypes.byref(h)),
              {ERR_NOTFOUND: exceptions.InfoUnavailableError})
        self.close()
        self._h = h
        self._load_info()
        return self.info

    def add_scale(self, factor, encoding=None, chunk_size=None, info=None):
        """CloudVolume's add_scale(): a scale `factor` (relative to mip 0) is added to vol.info
        (or replaced when one has that resolution); commit_info() writes it. Returns its
        scale dict."""
        target = self.info if info is None else info
        ih = _info_handle(target)
        try:
            f = (ctypes.c_int64 * 3)(*[int(v) for v in factor])
            cs = None
            if chunk_size is not None:
                cs = ctypes.cast((ctypes.c_int64 * 3)(*[int(v) for v in chunk_size]),
                                 ctypes.c_void_p)
            index = ctypes.c_int()
            check(lib.cv_info_add_scale(ih, f, cs, encoding.encode() if encoding else None,
                                        ctypes.byref(index)))
            out, n = ctypes.c_void_p(), ctypes.c_size_t()
            check(lib.cv_info_to_json(ih, ctypes.byref(out), ctypes.byref(n)))
            new = json.loads(_lib.take_bytes(out, n.value))
        finally:
            lib.cv_info_free(ih)
        target.clear()
        target.update(new)
        return target["scales"][index.value]

    @property
    def provenance(self):
        p = ctypes.c_void_p()
        check(lib.cv_volume_provenance(self._handle(), ctypes.byref(p)))
        try:
            out, n = ctypes.c_void_p(), ctypes.c_size_t()
            check(lib.cv_provenance_to_json(p, ctypes.byref(out), ctypes.byref(n)))
            return json.loads(_lib.take_bytes(out, n.value))
        finally:
            lib.cv_provenance_free(p)

    def commit_provenance(self, provenance=None):
        """Write the provenance file as CloudVolume does (the stored one, CloudVolume's
        defaults if there is none, or the dict given)."""
        p = ctypes.c_void_p()
        if provenance is None:
            check(lib.cv_volume_provenance(self._handle(), ctypes.byref(p)))
        else:
            text = json.dumps(provenance).encode()
            check(lib.cv_provenance_parse(text, len(text), b"provenance", ctypes.byref(p)))
        try:
            check(lib.cv_volume_commit_provenance(self._handle(), p))
        finally:
            lib.cv_provenance_free(p)

    # ---- boxes ---------------------------------------------------------------------------------

    def _slices_box(self, slices):
        """(Bbox, channel slice) of an index expression, CloudVolume's reify_slices rules
        (missing parts are the whole volume; an integer is one voxel); steps are refused."""
        if isinstance(slices, Bbox):
            return Bbox.create(slices), slice(None)
        if not isinstance(slices, tuple):
            slices = (slices,)
        slices = list(slices)
        if Ellipsis in slices:
            i = slices.index(Ellipsis)
            if Ellipsis in slices[i + 1:]:
                raise exceptions.ArgumentError("more than one Ellipsis in an index")
            slices[i:i + 1] = [slice(None)] * (4 - len(slices) + 1)
        while len(slices) < 4:
            slices.append(slice(None))
        if len(slices) > 4:
            raise exceptions.ArgumentError("too many indices %r: want x, y, z[, channel]"
                                           % (slices,))
        bounds = self.bounds
        lo, hi = [], []
        for d, s in enumerate(slices[:3]):
            if isinstance(s, numbers.Integral) and not isinstance(s, bool):
                s = slice(int(s), int(s) + 1)
            if not isinstance(s, slice):
                raise exceptions.ArgumentError("index %r of axis %s is not a slice or an integer"
                                               % (s, "xyz"[d]))
            if s.step not in (None, 1):
                raise exceptions.ArgumentError(
                    "slice steps are not supported (axis %s has step %r): read the box and "
                    "step the array" % ("xyz"[d], s.step))
            lo.append(bounds.minpt[d] if s.start is None else int(s.start))
            hi.append(bounds.maxpt[d] if s.stop is None else int(s.stop))
        c = slices[3]
        if isinstance(c, numbers.Integral) and not isinstance(c, bool):
            c = slice(int(c), int(c) + 1)
        if not isinstance(c, slice) or c.step not in (None, 1):
            raise exceptions.ArgumentError("the channel index must be an integer or a slice "
                                           "without step, got %r" % (c,))
        return Bbox(lo, hi), c

    def _bbox_arg(self, bbox):
        if isinstance(bbox, tuple) and all(isinstance(s, (slice, numbers.Integral))
                                           for s in bbox):
            return self._slices_box(bbox)[0]
        return Bbox.create(bbox)

    def _resolve(self, mip, box):
        if box.subvoxel():
            raise exceptions.EmptyRequestException(
                "%s: the box %s holds no voxel" % (self.cloudpath, box))
        out = _lib.Bbox_t()
        check(lib.cv_volume_resolve_box(self._handle(), mip, _lib.bbox_t(box.minpt, box.maxpt),
                                        ctypes.byref(out)))
        return out

    # ---- reads ---------------------------------------------------------------------------------

    def __getitem__(self, slices):
        box, channels = self._slices_box(slices)
        img = self.download(box, self.mip, agglomerate=self.agglomerate or None)
        if channels == slice(None):
            return img
        return img[..., channels]

    def download(self, bbox, mip=None, agglomerate=None, timestamp=None, segids=None,
                 stop_layer=None, preserve_zeros=False):
        """Read a box (Bbox, 6 numbers, (minpt, maxpt) or slices) of `mip` (default vol.mip):
        a VolumeCutout shaped (X, Y, Z, C) in Fortran order. graphene:// layers: agglomerate
        (default vol.agglomerate) maps supervoxels to root ids at timestamp (UNIX seconds, ISO
        8601 text or a datetime; default vol.timestamp, else now), or with stop_layer to their
        lowest parents at or above that layer (1..n_layers); segids keeps only those roots
        (others 0, or with preserve_zeros the dtype maximum with 0 kept)."""
        agglomerate = self.agglomerate if agglomerate is None else bool(agglomerate)
        timestamp = self.timestamp if timestamp is None else timestamp
        graph = agglomerate or segids is not None
        if graph and not lib.cv_volume_is_graphene(self._handle()):
            raise exceptions.ArgumentError("agglomerate and segids need a graphene:// layer")
        if stop_layer is not None and not agglomerate:
            raise exceptions.ArgumentError("stop_layer applies with agglomerate=True only")
        if preserve_zeros and segids is None:
            raise exceptions.ArgumentError("preserve_zeros applies with segids only")
        mip = self.mip if mip is None else self.to_mip(mip)
        box = self._bbox_arg(bbox)
        real = self._resolve(mip, box)
        n = ctypes.c_size_t()
        check(lib.cv_volume_check_box(self._handle(), real, ctypes.byref(n)))
        got = Bbox(list(real.min), list(real.max))
        shape = tuple(int(v) for v in got.size()) + (self.num_channels,)
        img = VolumeCutout(shape, self.dtype, bounds=got, mip=mip, layer_type=self.layer_type,
                           resolution=self.mip_resolution(mip), dataset_name=self.cloudpath)
        # the GIL is released for the call (ctypes): decoding runs beside other threads
        if not graph:
            check(lib.cv_volume_read(self._handle(), mip, real, img.ctypes.data, n.value),
                  {ERR_NOTFOUND: exceptions.EmptyVolumeException})
            return img
        g = _lib.GrapheneReadOpts_t()
        g.agglomerate = agglomerate
        ts = ctypes.c_int64()
        if agglomerate and timestamp is not None:
            ts.value = _unix_time(timestamp)
            g.timestamp = ctypes.pointer(ts)
        ids = None
        if segids is not None:
            ids = np.ascontiguousarray([int(s) for s in segids], dtype=np.uint64)
            g.root_ids = ids.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64))
            g.n_root_ids = ids.size
        layer = ctypes.c_int()
        if stop_layer is not None:
            layer.value = _int_arg("stop_layer", stop_layer, -2**31, 2**31)
            g.stop_layer = ctypes.pointer(layer)
        g.preserve_zeros = bool(preserve_zeros)
        check(lib.cv_graphene_read(self._handle(), mip, real, ctypes.byref(g), img.ctypes.data,
                                   n.value), {ERR_NOTFOUND: exceptions.EmptyVolumeException})
        return img

    def get_chunk_mappings(self, chunk_id, timestamp=None):
        """graphene:// layers: {L2 id: [supervoxel ids]} of the chunk of the layer-2 id
        `chunk_id` at timestamp (default vol.timestamp, else now), as CloudVolume's (the
        server's l2_chunk_children_binary); ids are numpy.uint64, in the server's order."""
        timestamp = self.timestamp if timestamp is None else timestamp
        ts = ctypes.c_int64()
        pts = None
        if timestamp is not None:
            ts.value = _unix_time(timestamp)
            pts = ctypes.pointer(ts)
        chunk_id = _int_arg("chunk_id", chunk_id, 0, 2**64)
        pairs, n = ctypes.POINTER(ctypes.c_uint64)(), ctypes.c_size_t()
        check(lib.cv_graphene_chunk_mappings(self._handle(), chunk_id, pts, ctypes.byref(pairs),
                                             ctypes.byref(n)))
        try:
            flat = np.ctypeslib.as_array(pairs, shape=(2 * n.value,)).copy() if n.value else \
                np.zeros(0, dtype=np.uint64)
        finally:
            lib.cv_free(pairs)
        mappings = collections.defaultdict(list)
        for i in range(0, flat.size, 2):
            mappings[flat[i]].append(flat[i + 1])
        return mappings

    # ---- writes --------------------------------------------------------------------------------

    def __setitem__(self, slices, img):
        box, channels = self._slices_box(slices)
        if channels not in (slice(None), slice(0, self.num_channels)):
            raise exceptions.ArgumentError("writes cover every channel (got channels %r)"
                                           % (channels,))
        if np.isscalar(img):
            img = np.full(tuple(int(v) for v in box.size()) + (self.num_channels,), img,
                          dtype=self.dtype, order="F")
        self.upload(img, box, self.mip)

    def upload(self, img, bbox, mip=None):
        """Write an (X, Y, Z) or (X, Y, Z, C) array (C or Fortran order, the layer's dtype)
        to a box, or to the box starting at a point (x, y, z) with the array's size."""
        mip = self.mip if mip is None else self.to_mip(mip)
        if not isinstance(img, np.ndarray):
            raise exceptions.ArgumentError("want a numpy array, got %s" % type(img).__name__)
        if img.dtype != self.dtype:
            raise exceptions.ArgumentError("array dtype %s does not match the layer's %s"
                                           % (img.dtype, self.dtype))
        if img.ndim == 3:
            img = img[..., np.newaxis]
        if img.ndim != 4:
            raise exceptions.AlignmentError("want a 3-D or 4-D array (X, Y, Z[, C]), got shape %s"
                                            % (img.shape,))
        if _is_point(bbox):
            start = np.array(bbox, dtype=np.int64)
            box = Bbox(start, start + np.array(img.shape[:3]))
        else:
            box = self._bbox_arg(bbox)
        want = tuple(int(v) for v in box.size()) + (self.num_channels,)
        if tuple(img.shape) != want:
            raise exceptions.AlignmentError("array shape %s does not match the box %s "
                                            "(shape %s)" % (img.shape, box, want))
        if self._opts.autocrop:
            real = self._resolve(mip, box)
            got = Bbox(list(real.min), list(real.max))
            if got != box:
                lo = got.minpt - box.minpt
                hi = lo + got.size()
                img = img[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2], :]
                box = got
        elif box.subvoxel():
            raise exceptions.EmptyRequestException(
                "%s: the box %s holds no voxel" % (self.cloudpath, box))
        # x fastest, channel slowest: Fortran order. A C-order array is reordered once, by
        # the library; any other layout (a strided view) by NumPy.
        if img.flags.f_contiguous:
            data = img
        elif img.flags.c_contiguous:
            data = _lib.fortran_copy(img)
        else:
            data = np.asfortranarray(img)
        check(lib.cv_volume_write(self._handle(), mip, _lib.bbox_t(box.minpt, box.maxpt),
                                  data.ctypes.data, data.nbytes))

    # ---- chunks --------------------------------------------------------------------------------

    def _chunk_cells(self, box, mip):
        """The chunk boxes covering `box` (clamped to the volume), in x, then y, then z order
        of CloudVolume's chunknames."""
        bounds = self.mip_bounds(mip)
        lo = np.maximum(box.minpt, bounds.minpt)
        hi = np.minimum(box.maxpt, bounds.maxpt)
        if np.any(hi <= lo):
            return []
        cs = self.mip_chunk_size(mip)
        off = bounds.minpt
        start = off + (lo - off) // cs * cs
        cells = []
        for x in range(int(start[0]), int(hi[0]), int(cs[0])):
            for y in range(int(start[1]), int(hi[1]), int(cs[1])):
                for z in range(int(start[2]), int(hi[2]), int(cs[2])):
                    a = np.array([x, y, z])
                    cells.append(Bbox(a, np.minimum(a + cs, bounds.maxpt)))
        return cells

    def exists(self, bbox, mip=None):
        """{chunk key: True/False} for every chunk the box touches, as CloudVolume's."""
        mip = self.mip if mip is None else self.to_mip(mip)
        box = self._bbox_arg(bbox)
        out = {}
        buf = ctypes.create_string_buffer(512)
        present, total = ctypes.c_uint64(), ctypes.c_uint64()
        for cell in self._chunk_cells(box, mip):
            b = _lib.bbox_t(cell.minpt, cell.maxpt)
            lib.cv_volume_chunk_key(self._handle(), mip, b, buf, len(buf))
            check(lib.cv_volume_exists(self._handle(), mip, b, ctypes.byref(present),
                                       ctypes.byref(total)))
            out[buf.value.decode()] = present.value == total.value
        return out

    def delete(self, bbox, mip=None):
        """Delete the chunks of a chunk-aligned box (AlignmentError otherwise)."""
        mip = self.mip if mip is None else self.to_mip(mip)
        box = self._bbox_arg(bbox)
        real = self._resolve(mip, box)
        check(lib.cv_volume_delete(self._handle(), mip, real))

    # ---- meshes and skeletons ------------------------------------------------------------------

    @property
    def mesh(self):
        if self._mesh is None:
            from .mesh import MeshSource
            self._mesh = MeshSource(self)
        return self._mesh

    @property
    def skeleton(self):
        if self._skeleton is None:
            from .skeleton import SkeletonSource
            self._skeleton = SkeletonSource(self)
        return self._skeleton

    def __repr__(self):
        return "cvmpi.CloudVolume(%r, mip=%d)" % (self.cloudpath, self.mip)
