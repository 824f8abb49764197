"""Confinement of the files an untrusted document may name (`@file` cells of a submission).

A confined document may name only regular files inside its own folder: no absolute path, no `..`, no
symbolic link that leads out of the folder, nothing that is not a regular file (a FIFO, a device or
/dev/stdin would block or never end). Used when a class's submissions are graded; errors name the
argument and say which rule the name breaks.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePath

from attncli.errors import InputError
from attncli.i18n import _


def confine(name: str, base_dir: Path | None, argument: str) -> Path:
    """The file `name` (as written after '@') inside `base_dir`, or an InputError."""
    if base_dir is None:
        raise InputError(
            _("a document read from stdin may not name files ({name})").format(name=name), argument=argument
        )
    written = PurePath(name)
    if "\0" in name:
        raise InputError(_("'{name}' is not a file name").format(name=name.replace("\0", "\\0")), argument=argument)
    if written.is_absolute() or name.startswith("~"):
        message = _("'{name}' is outside the document's folder: only files next to it may be named")
        raise InputError(message.format(name=name), argument=argument)
    if ".." in written.parts:
        message = _("'{name}' goes up a folder (..): only files in the document's folder may be named")
        raise InputError(message.format(name=name), argument=argument)
    folder = base_dir.resolve()
    path = folder / written
    real = path.resolve()
    if real != folder and folder not in real.parents:
        message = _("'{name}' is a link that leads outside the document's folder")
        raise InputError(message.format(name=name), argument=argument)
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        raise InputError(_("file '{path}' not found").format(path=name), argument=argument) from None
    except OSError as e:
        message = _("cannot read '{path}': {reason}").format(path=name, reason=e.strerror)
        raise InputError(message, argument=argument) from None
    if not stat.S_ISREG(mode):
        raise InputError(_("'{name}' is not a regular file").format(name=name), argument=argument)
    return real
