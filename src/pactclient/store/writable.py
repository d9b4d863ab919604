"""A home that cannot be written is a permissions matter: said so, never reported as a corrupt store."""

from __future__ import annotations

import os
from pathlib import Path

from pactclient.errors import StoreError

# SQLite's primary result codes for "cannot write or create here": a permissions problem, not damage.
NOT_WRITABLE_CODES = {3, 8, 14}  # SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN


def refuse_unwritable(path: Path) -> None:
    """StoreError if the database or its folder cannot be written: pact writes on every open (WAL,
    upkeep), and a read-only home is a permissions matter, never to be reported as a corrupt store."""
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"the home {folder} is not writable (permissions): pact must write its database "
                         "there; make it writable (chmod u+w) or use another --home")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(f"{path} is not writable (permissions): make it writable (chmod u+rw) or use another --home")
