"""Writing result files safely: checked before any work is done, never over a file the run read, and
atomically (a temporary file beside the target, renamed over it only once it is complete), so that a
full disk or a crash leaves the old file as it was and parallel writers never mix their bytes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from attncli.errors import InputError
from attncli.i18n import _
from attncli.parse.files import is_read

if TYPE_CHECKING:
    from pathlib import Path


def check_output(path: Path, argument: str) -> None:
    """Refuse, before the work is done, an output path that cannot be written or is one of the run's inputs."""
    if is_read(path):
        message = _("'{path}' is one of this run's inputs; write the result to another file")
        raise InputError(message.format(path=path), argument=argument)
    if os.path.isdir(path):
        raise InputError(_("'{path}' is a directory, not a file").format(path=path), argument=argument)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        message = _("cannot write '{path}': the folder '{folder}' does not exist")
        raise InputError(message.format(path=path, folder=folder), argument=argument)
    if not os.access(folder, os.W_OK | os.X_OK):
        message = _("cannot write '{path}': {reason}").format(path=path, reason=os.strerror(13))
        raise InputError(message, argument=argument)


def write_atomic(path: Path, write: Callable[[IO[bytes]], object], argument: str) -> None:
    """Write `path` with write(file): into a temporary file in the same folder, synced, then renamed over
    `path`. On failure the temporary file is removed, `path` is left untouched, and the error says why."""
    check_output(path, argument)
    folder = os.path.dirname(os.path.abspath(path))
    import tempfile  # (here: a command that writes no file starts without it)

    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o666 & ~_umask()
        os.chmod(temp, mode)
        os.replace(temp, path)
    except OSError as e:
        _remove(temp)
        kept = _(" (the old file is unchanged)") if os.path.exists(path) else ""
        message = _("cannot write '{path}': {reason}").format(path=path, reason=e.strerror or e) + kept
        raise InputError(message, argument=argument) from None
    except BaseException:
        _remove(temp)
        raise


def write_text_atomic(path: Path, text: str, argument: str) -> None:
    """A UTF-8 text file, written atomically (see write_atomic)."""
    write_atomic(path, lambda f: f.write(text.encode("utf-8")), argument)


def _remove(temp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(temp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
