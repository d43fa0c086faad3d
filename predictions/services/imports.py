"""Files registered from the server's own disk, so a slide never has to travel through a browser.

The staff API may only read below ``CELLSERVE_IMPORT_ROOTS``; the management command, run by an
operator who already has the machine, may read any path. The file is copied into storage as a
stream, like an upload, and then validated and queued by the same code as an upload.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from django.core.files import File


class SourceError(ValueError):
    """A source path that cannot be registered; the message says why."""


def open_source(path: str, roots: Sequence[str | Path] | None) -> File[bytes]:
    """The file at ``path``, opened for reading, if it may be registered (``roots``: where it
    must lie; None: anywhere)."""
    if not path.strip():
        raise SourceError("give the path of a file on the server")
    resolved = Path(path).expanduser().resolve()
    if roots is not None and not any(_within(resolved, Path(root)) for root in roots):
        allowed = ", ".join(str(root) for root in roots) or "none are configured"
        raise SourceError(
            f"{path} is not inside a directory files may be registered from "
            f"(CELLSERVE_IMPORT_ROOTS: {allowed})"
        )
    if not resolved.is_file():
        raise SourceError(f"{path} is not a file on the server")
    descriptor = _open_regular(path, resolved)
    try:
        # The path may have changed since it was resolved: what was opened must lie inside too.
        opened = _opened_path(descriptor) or resolved
        if roots is not None and not any(_within(opened, Path(root)) for root in roots):
            raise SourceError(f"{path} changed while it was being opened; try again")
        os.set_blocking(descriptor, True)
        return File(os.fdopen(descriptor, "rb"), name=resolved.name)
    except BaseException:
        os.close(descriptor)
        raise


def _open_regular(path: str, resolved: Path) -> int:
    """A descriptor on ``resolved``, refusing a link swapped in and anything but a plain file
    (non-blocking, so that a FIFO put there cannot hang the request)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(resolved, flags)
    except OSError as exc:
        raise SourceError(f"{path} cannot be read ({exc.strerror})") from exc
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise SourceError(f"{path} is not a file on the server")
    return descriptor


def _opened_path(descriptor: int) -> Path | None:
    """Where an open descriptor's file lies (Linux's /proc), None where that is not known."""
    try:
        return Path(f"/proc/self/fd/{descriptor}").readlink()
    except OSError:
        return None


def _within(path: Path, root: Path) -> bool:
    return path.is_relative_to(root.expanduser().resolve())
