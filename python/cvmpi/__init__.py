# SPDX-License-Identifier: BSD-3-Clause
"""cvmpi: Neuroglancer Precomputed volumes, meshes and skeletons with CloudVolume's everyday
API, read and written by the C library libcvmpi (loaded with ctypes), and cvmpi's MPI jobs."""
from . import exceptions
from .exceptions import (AlignmentError, ArgumentError, DecodingError, EmptyRequestException,
                         EmptyVolumeException, Error, HDF5Error, InfoError, InfoUnavailableError,
                         JobError, LibraryNotFoundError, MeshMissingError, MPIError,
                         NotFoundError, OutOfBoundsError, OutOfMemoryError, ReadOnlyException,
                         ScaleUnavailableError, SkeletonDecodeError, StorageError,
                         UnsupportedFormatError)
from ._lib import path as library_path, version as library_version
from .bbox import Bbox
from .volume import CloudVolume, VolumeCutout
from .mesh import Mesh
from .skeleton import Skeleton
from .jobs import downsample, import_hdf5, transfer

__version__ = "0.1.0"
__all__ = [
    "AlignmentError", "ArgumentError", "Bbox", "CloudVolume", "DecodingError",
    "EmptyRequestException", "EmptyVolumeException", "Error", "HDF5Error", "InfoError",
    "InfoUnavailableError", "JobError", "LibraryNotFoundError", "MPIError", "Mesh",
    "MeshMissingError", "NotFoundError", "OutOfBoundsError", "OutOfMemoryError",
    "ReadOnlyException", "ScaleUnavailableError", "Skeleton", "SkeletonDecodeError",
    "StorageError", "UnsupportedFormatError", "VolumeCutout", "downsample", "exceptions",
    "import_hdf5", "library_path", "library_version", "transfer",
]
