"""Opening the files attncli reads: regular files only, opened without blocking, optionally confined to
a folder, and remembered, so that no output of the same run is written over one of them.

Every file a command reads (@file in a flag or a document, --input, --embeddings, …) is opened here:
a FIFO, a device, a socket or a symlink to /dev/stdin is refused at once instead of blocking or
swallowing another program's input. `within` confines a path to a folder (symlinks resolved), for
documents from someone else; `is_read` tells whether a path is one of the files read so far.
"""

from __future__ import annotations

import os
import stat
from typing import IO, TYPE_CHECKING

from attncli.errors import InputError
from attncli.i18n import _

if TYPE_CHECKING:
    from pathlib import Path

_read: set[tuple[int, int]] = set()  # (device, inode) of every file read since forget_reads()


def forget_reads() -> None:
    """Start a new run: no file has been read yet (the in-process tests run many commands in one process)."""
    _read.clear()


def is_read(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is (the same file as) one of the files read so far."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return False
    return (st.st_dev, st.st_ino) in _read


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, _("a named pipe (FIFO)")),
        (stat.S_ISCHR, _("a character device")),
        (stat.S_ISBLK, _("a block device")),
        (stat.S_ISSOCK, _("a socket")),
    ):
        if test(mode):
            return name
    return _("a special file")


def check_within(path: Path, within: Path, argument: str) -> str:
    """The real path of `path`, which must lie inside the folder `within` once symlinks are resolved."""
    real, root = os.path.realpath(path), os.path.realpath(within)
    if os.path.commonpath([real, root]) != root:
        message = _("'{path}' is outside the document's folder; only files inside it may be read")
        raise InputError(message.format(path=path), argument=argument)
    return real


def open_regular_file(path: Path, argument: str, *, within: Path | None = None) -> IO[bytes]:
    """`path` opened for reading in binary, if it is a regular file (inside `within`, when given).

    The file is opened with O_NONBLOCK, so that a FIFO without a writer does not hang, and checked with
    fstat on the open descriptor (no race between the check and the read)."""
    target = check_within(path, within, argument) if within is not None else os.fspath(path)
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(_("file '{path}' not found").format(path=path), argument=argument) from None
    except IsADirectoryError:
        raise InputError(_("'{path}' is a directory, not a file").format(path=path), argument=argument) from None
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) else str(e)
        message = _("cannot read '{path}': {reason}").format(path=path, reason=reason)
        raise InputError(message, argument=argument) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError(_("'{path}' is a directory, not a file").format(path=path), argument=argument)
        if not stat.S_ISREG(st.st_mode):
            message = _("'{path}' is {kind}, not a regular file; attncli reads only regular files")
            raise InputError(message.format(path=path, kind=_kind(st.st_mode)), argument=argument)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    _read.add((st.st_dev, st.st_ino))
    return os.fdopen(fd, "rb")


def read_regular_file(path: Path, argument: str, *, limit: int | None = None, within: Path | None = None) -> bytes:
    """The bytes of a regular file (see open_regular_file); at most limit + 1 of them when a limit is given,
    so that the caller can tell a file over its limit without reading it to the end."""
    with open_regular_file(path, argument, within=within) as f:
        try:
            return f.read() if limit is None else f.read(limit + 1)
        except OSError as e:
            message = _("cannot read '{path}': {reason}").format(path=path, reason=e.strerror)
            raise InputError(message, argument=argument) from None
