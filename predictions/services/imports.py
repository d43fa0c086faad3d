"""Files registered from the server's own disk, so a slide never has to travel through a browser.

The staff API may only read below ``CELLSERVE_IMPORT_ROOTS``; the management command, run by an
operator who already has the machine, may read any path. The file is copied into storage as a
stream, like an upload, and then validated and queued by the same code as an upload.
"""

from __future__ import annotations

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
    try:
        handle = resolved.open("rb")
    except OSError as exc:
        raise SourceError(f"{path} cannot be read ({exc.strerror})") from exc
    return File(handle, name=resolved.name)


def _within(path: Path, root: Path) -> bool:
    return path.is_relative_to(root.expanduser().resolve())
