"""SQLite storage (stdlib, WAL) and the workspace that ties identity, model, signing and store together."""

from pactclient.store.sqlite_store import SqliteStore
from pactclient.store.workspace import Workspace

__all__ = ["SqliteStore", "Workspace"]
