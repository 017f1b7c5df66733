#!/usr/bin/env python3
"""A newc cpio writer for Linux initramfs archives, without root and without the cpio package.

    python3 tests/nested/cpio.py DIR OUT.cpio.gz [--dev /dev/console=c,5,1 ...]

packs the tree under DIR (regular files, directories, symbolic links) as an
initramfs: every entry owned by root, paths relative to DIR, gzipped when OUT
ends in .gz. --dev adds a device node, which a non-root build cannot create in
DIR. The Linux kernel unpacks several such archives concatenated one after the
other, each compressed on its own; the nested rig relies on that to append the
test images to the cached base archive.
"""

import gzip
import os
import stat
import sys

_TRAILER = "TRAILER!!!"


class Writer:
    """Writes newc entries to a binary file object; close() writes the trailer."""

    def __init__(self, out):
        self._out = out
        self._ino = 1
        self._closed = False

    def _entry(self, name, mode, data=b"", nlink=1, rdev=(0, 0), mtime=0):
        name_bytes = name.encode() + b"\0"
        fields = [self._ino, mode, 0, 0, nlink, mtime, len(data), 0, 0, rdev[0], rdev[1], len(name_bytes), 0]
        self._ino += 1
        header = b"070701" + b"".join(b"%08x" % f for f in fields)
        self._out.write(header + name_bytes)
        self._out.write(b"\0" * (-(len(header) + len(name_bytes)) % 4))
        self._out.write(data)
        self._out.write(b"\0" * (-len(data) % 4))

    def directory(self, name, perm=0o755):
        self._entry(name, stat.S_IFDIR | perm, nlink=2)

    def file(self, name, data, perm=0o644):
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def device(self, name, kind, major, minor, perm=0o600):
        mode = {"c": stat.S_IFCHR, "b": stat.S_IFBLK}[kind] | perm
        self._entry(name, mode, rdev=(major, minor))

    def tree(self, root):
        """Adds everything under root (parents before children), named relative to it."""
        for top, dirs, files in os.walk(root):
            dirs.sort()
            rel_top = os.path.relpath(top, root)
            for name in sorted(dirs) + sorted(files):
                path = os.path.join(top, name)
                rel = name if rel_top == "." else rel_top + "/" + name
                st = os.lstat(path)
                perm = stat.S_IMODE(st.st_mode)
                if stat.S_ISLNK(st.st_mode):
                    self.symlink(rel, os.readlink(path))
                elif stat.S_ISDIR(st.st_mode):
                    self.directory(rel, perm)
                elif stat.S_ISREG(st.st_mode):
                    with open(path, "rb") as f:
                        self.file(rel, f.read(), perm)
                else:
                    raise ValueError("%s: neither a file, a directory nor a symbolic link" % path)

    def close(self):
        if not self._closed:
            self._entry(_TRAILER, 0)
            self._closed = True


def open_output(path, compress=None):
    """A binary file object for path, gzip-compressing when compress, by default when path ends in .gz."""
    if path.endswith(".gz") if compress is None else compress:
        # mtime=0: the same tree gives the same bytes.
        return gzip.GzipFile(path, "wb", compresslevel=6, mtime=0)
    return open(path, "wb")


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("out")
    ap.add_argument("--dev", action="append", default=[], metavar="PATH=c|b,MAJOR,MINOR")
    a = ap.parse_args(argv)
    tmp = a.out + ".tmp"
    with open_output(tmp, a.out.endswith(".gz")) as out:
        w = Writer(out)
        w.tree(a.dir)
        for spec in a.dev:
            path, _, node = spec.partition("=")
            kind, major, minor = node.split(",")
            w.device(path.lstrip("/"), kind, int(major), int(minor))
        w.close()
    os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
