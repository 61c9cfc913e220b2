# SPDX-License-Identifier: BSD-3-Clause
"""The binding's exceptions: one base, cvmpi.Error, and CloudVolume's names where CloudVolume
has one (with CloudVolume's built-in base too, so `except ValueError` keeps working). Each
carries the C library's one-line message and its status code (`.code`)."""

# The C library's status codes (cvmpi.h, CV_STATUS_MAP).
OK, ERR_NOMEM, ERR_ARG, ERR_IO, ERR_NOTFOUND, ERR_CORRUPT = 0, -1, -2, -3, -4, -5
ERR_UNSUPPORTED, ERR_INFO, ERR_BOUNDS, ERR_ALIGN, ERR_READONLY = -6, -7, -8, -9, -10
ERR_MPI, ERR_HDF5 = -11, -12


class Error(Exception):
    """Every error the binding raises. `code` is the C status (0 when raised by Python)."""

    def __init__(self, message, code=0):
        super().__init__(message)
        self.message = message
        self.code = code


class LibraryNotFoundError(Error, ImportError):
    """libcvmpi could not be loaded (the message lists every place tried)."""


class ArgumentError(Error, ValueError):
    """An argument the library refuses (a bad box, dtype, option...)."""


class StorageError(Error, OSError):
    """Storage failed (disk, network)."""


class OutOfMemoryError(Error, MemoryError):
    """The library could not allocate, or a box exceeds the memory limit."""


class NotFoundError(Error, KeyError):
    """A key is absent from storage."""

    def __str__(self):  # KeyError would quote the message
        return self.message


class InfoError(Error):
    """The info file is invalid."""


class InfoUnavailableError(InfoError):
    """There is no info file at the path."""


class ScaleUnavailableError(Error, IndexError):
    """No such mip."""


class ReadOnlyException(Error):
    """The layer was reached through redirects and is read-only."""


class AlignmentError(Error, ValueError):
    """A write or delete is not chunk aligned (or an array's shape does not fit the box)."""


class EmptyVolumeException(Error):
    """A chunk is missing and fill_missing is off."""


class EmptyRequestException(Error, ValueError):
    """The box holds no voxel."""


class OutOfBoundsError(Error, ValueError):
    """The box leaves the volume while bounded."""


class DecodingError(Error):
    """Stored bytes are corrupt or truncated."""


class UnsupportedFormatError(Error):
    """An encoding, scheme or format this build does not support."""


class MeshMissingError(Error, ValueError):
    """A segment has no mesh."""


class SkeletonDecodeError(Error):
    """A skeleton is missing or cannot be decoded (CloudVolume raises this for both)."""


class MPIError(Error):
    """An MPI failure."""


class HDF5Error(Error):
    """An HDF5 failure."""


class JobError(Error):
    """An MPI job (transfer, downsample, import) failed: the tool's message, exit status
    (`returncode`), its whole standard error (`stderr`) and its report when it wrote one."""

    def __init__(self, message, returncode, stderr="", report=None):
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr
        self.report = report


_BY_STATUS = {
    ERR_NOMEM: OutOfMemoryError,
    ERR_ARG: ArgumentError,
    ERR_IO: StorageError,
    ERR_NOTFOUND: NotFoundError,
    ERR_CORRUPT: DecodingError,
    ERR_UNSUPPORTED: UnsupportedFormatError,
    ERR_INFO: InfoError,
    ERR_BOUNDS: OutOfBoundsError,
    ERR_ALIGN: AlignmentError,
    ERR_READONLY: ReadOnlyException,
    ERR_MPI: MPIError,
    ERR_HDF5: HDF5Error,
}


def for_status(code):
    return _BY_STATUS.get(code, Error)
