"""Reading a file a user names (a bundle, an evidence file): bounded in size, one-line errors."""

from __future__ import annotations

from pathlib import Path

from pactclient.errors import FormatError
from pactclient.reasons import os_reason, short_path


def read_bounded(path: Path, limit: int, kind: str) -> bytes:
    """The bytes of ``path``; FormatError if it cannot be read or is larger than a ``kind`` may be.

    The size is checked before reading, so a huge file named by mistake is refused, not loaded.
    """
    path = Path(path)
    try:
        if path.stat().st_size > limit:
            raise FormatError(f"{path} is larger than {kind} may be ({limit} bytes)")
        return path.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read {short_path(path)}: {os_reason(exc)}") from None
