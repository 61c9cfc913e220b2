#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""check_rooms.py [SRC_DIR]: every #include of src/ follows the room rules of src/README.md.

A room is a directory of src/. Internal headers are included by their path from src/
("volume/volume.h"), so the room an include reaches is its first path component. Each room
may include only the rooms listed for it below (and the public header cvmpi.h); a few system
headers belong to one room alone. Prints every broken rule as FILE:LINE and exits 1.
"""
import os
import re
import sys

LIBRARY = ["base", "compress", "codec", "io", "shard", "volume", "mesh", "skeleton"]

# room -> rooms it may include (itself always allowed)
ALLOWED = {
    "base": [],
    "compress": ["base"],
    "codec": ["base"],
    # storage carries transport compression, never the chunk codecs
    "io": ["base", "compress"],
    "shard": ["base", "compress", "io"],
    "volume": ["base", "compress", "codec", "io", "shard"],
    "mesh": ["base", "compress", "io", "shard", "volume"],
    "skeleton": ["base", "compress", "io", "shard", "volume"],
    # the driver and the faces above the library: anything of the library
    "mpi": LIBRARY,
    "serve": LIBRARY,
    "cli": LIBRARY + ["mpi", "serve"],
}

# system header -> the only rooms (or room/file) that may include it
SYSTEM = {
    "mpi.h": ["mpi"],
    "hdf5.h": ["mpi/mpi_h5.c"],
    "tiffio.h": ["mpi/tiff_io.c"],
    "microhttpd.h": ["serve/serve_http.c"],
    "curl/curl.h": ["io"],
}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def check(src):
    errors = []
    for dirpath, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith((".c", ".h", ".cc")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)
            room = rel.split(os.sep)[0] if os.sep in rel else None
            with open(path, encoding="utf-8") as f:
                lines = f.readlines()
            for number, line in enumerate(lines, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                kind, target = m.groups()
                where = "src/%s:%d" % (rel, number)
                if kind == "<":
                    owners = SYSTEM.get(target)
                    if owners and room not in owners and rel not in owners:
                        errors.append("%s: <%s> belongs to %s only" % (where, target,
                                                                      ", ".join(owners)))
                    continue
                if target == "cvmpi.h":
                    continue
                if "/" not in target or target.startswith("."):
                    errors.append('%s: "%s" is not written from src/ (room/name.h)' %
                                  (where, target))
                    continue
                reached = target.split("/")[0]
                if reached not in ALLOWED:
                    errors.append('%s: "%s" names no room' % (where, target))
                elif room is None:
                    errors.append('%s: a file outside every room includes "%s"' % (where, target))
                elif reached != room and reached not in ALLOWED[room]:
                    errors.append('%s: room %s may not include %s ("%s")' %
                                  (where, room, reached, target))
    return errors


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..",
                                                                 "src")
    for room in ALLOWED:
        if not os.path.isdir(os.path.join(src, room)):
            print("check_rooms: no room src/%s" % room, file=sys.stderr)
            return 1
    errors = check(src)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print("check_rooms: %d include(s) break the room rules (src/README.md)" % len(errors),
              file=sys.stderr)
        return 1
    print("check_rooms: every include of %s follows the room rules" % os.path.normpath(src))
    return 0


if __name__ == "__main__":
    sys.exit(main())
