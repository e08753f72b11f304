"""Atomic file writes, shared by every writer in rapidfm (model files, libFM model files,
text data files, CLI outputs).

``atomic_write(path, write)`` calls ``write(fh)`` on a temporary binary file in the
target's folder, flushes and fsyncs it, gives it the mode of the file it replaces (or
``0o666 & ~umask`` for a new file) and renames it over `path` with ``os.replace``. On
any exception (KeyboardInterrupt included) the temporary file is removed and an
existing file at `path` is left as it was.
"""

import contextlib
import os
import stat
import tempfile

__all__ = ["atomic_write"]


def _current_umask():
    """The process umask, read without changing it where the platform allows."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # the portable way; briefly changes the process umask
    os.umask(mask)
    return mask


def atomic_write(path, write):
    """Call write(fh) on a temporary binary file beside `path`, fsync it, rename it onto `path`.

    On any exception (KeyboardInterrupt included) the temporary file is removed and an
    existing file at `path` is left as it was. The new file gets the mode of the file it
    replaces, or the usual 0o666 & ~umask. Raises IsADirectoryError, before creating
    anything, when `path` is a directory.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write {path!r}: it is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o666 & ~_current_umask()
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        with open(fd, "w+b") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # make the rename itself durable (best effort: not every platform can fsync a folder)
    with contextlib.suppress(OSError, AttributeError):
        dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
