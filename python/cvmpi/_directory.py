# SPDX-License-Identifier: BSD-3-Clause
"""The handle of a layer's mesh or skeleton directory, shared by vol.mesh and vol.skeleton:
opened on first use, reopened once to write the directory's info."""
import ctypes
import threading

from ._lib import check, lib


class DirectorySource:
    """Subclasses name the C functions that open and close their directory."""

    _open_name = None
    _close_name = None

    def __init__(self, vol):
        self._vol = vol
        self._h = None
        self._created = False
        self._lock = threading.Lock()  # threads may open the directory at once

    def _handle(self, create=False):
        with self._lock:
            if self._h and create and not self._created:
                getattr(lib, self._close_name)(self._h)  # reopened to write the directory's info
                self._h = None
            if not self._h:
                h = ctypes.c_void_p()
                check(getattr(lib, self._open_name)(self._vol._handle(), create, ctypes.byref(h)))
                self._h = h
                self._created = create
            return self._h

    def _close(self):
        if self._h:
            getattr(lib, self._close_name)(self._h)
            self._h = None
