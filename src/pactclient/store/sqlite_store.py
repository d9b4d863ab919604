"""The database of one home: signed changes (append-only), snapshots, a summary index, peers.

Crash safety comes from SQLite's atomic commit (WAL, synchronous=FULL): a change is acknowledged only
after the transaction holding it committed. The file is identified by ``PRAGMA application_id``; a
file that is not a SQLite database, or is another application's, is refused and never written to.

The file and its ``-wal`` and ``-shm`` companions are mode 0600 whatever the umask: the file is made
that way before SQLite opens it (SQLite gives its companions the database file's mode), and files left
readable by earlier versions are tightened on open when this user owns them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pactclient.errors import StoreError
from pactclient.store.writable import NOT_WRITABLE_CODES, refuse_unwritable

APPLICATION_ID = 0x50414354  # "PACT"
STORE_VERSION = 2  # 2: a change's signature may be NULL (vouched for by a later signed change, see signing)
AUTOCHECKPOINT_PAGES = 1000  # SQLite's default

_CHANGES = """
CREATE TABLE changes (
    rowid       INTEGER PRIMARY KEY,
    contract_id TEXT NOT NULL REFERENCES contracts(id),
    hash        BLOB NOT NULL,
    actor       BLOB NOT NULL,
    seq         INTEGER NOT NULL,
    data        BLOB NOT NULL,
    signature   BLOB,
    received_at INTEGER NOT NULL,
    UNIQUE (contract_id, hash)
);
CREATE INDEX changes_by_actor ON changes (contract_id, actor, seq);
CREATE INDEX changes_by_contract ON changes (contract_id);
CREATE TRIGGER changes_are_append_only_u BEFORE UPDATE ON changes
    BEGIN SELECT RAISE(ABORT, 'signed changes are append-only'); END;
CREATE TRIGGER changes_are_append_only_d BEFORE DELETE ON changes
    BEGIN SELECT RAISE(ABORT, 'signed changes are append-only'); END;
"""

_SCHEMA = """
CREATE TABLE contracts (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    summary     TEXT NOT NULL,
    summary_rowid INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE snapshots (
    contract_id TEXT PRIMARY KEY REFERENCES contracts(id),
    data        BLOB NOT NULL,
    heads       BLOB NOT NULL,
    last_rowid  INTEGER NOT NULL,
    signature   BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE peers (
    key         TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    address     TEXT NOT NULL DEFAULT '',
    last_seen   INTEGER,
    state       TEXT NOT NULL DEFAULT 'known'
);
CREATE TABLE seen (
    contract_id TEXT PRIMARY KEY REFERENCES contracts(id),
    last_rowid  INTEGER NOT NULL
);
"""


def _private_files(path: Path) -> None:
    """Create ``path`` with mode 0600 if it is missing; tighten it and its WAL and SHM to 0600."""
    # Never open and close an existing database file: closing any descriptor of it drops every POSIX
    # lock this process holds on it, including those of SQLite connections already open here.
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError:
        return  # e.g. a read-only home: opening reports it as SQLite sees it
    for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            st = each.stat()
            if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
                os.chmod(each, stat.S_IMODE(st.st_mode) & 0o600)
        except OSError:
            continue  # absent (no WAL yet), or not ours to change


class SqliteStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._after_commit: list = []
        self._peer_writes = 0  # see peers_mark
        refuse_unwritable(self.path)
        _private_files(self.path)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0, check_same_thread=False)
            app_id = self.db.execute("PRAGMA application_id").fetchone()[0]
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            tables = self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in NOT_WRITABLE_CODES:
                raise StoreError(f"cannot open {self.path}: {exc} (check the permissions of the home "
                                 f"{self.path.parent}); it was left untouched") from None
            raise StoreError(f"{self.path} is not a pact database or is corrupt ({exc}); it was left untouched") from None
        # A database with no tables holds nothing to lose (a new file, or a crash during creation).
        fresh = app_id == 0 and tables == 0
        if not fresh and app_id != APPLICATION_ID:
            self.db.close()
            raise StoreError(f"{self.path} is not a pact database (it belongs to another application); it was left untouched")
        if version > STORE_VERSION:
            self.db.close()
            raise StoreError(f"{self.path} was written by a newer pact (store version {version}); upgrade pact")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        _private_files(self.path)  # the WAL and SHM exist from here on
        if fresh:
            with self.write():
                self._run(_SCHEMA + _CHANGES)
                self.db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                self.db.execute(f"PRAGMA user_version={STORE_VERSION}")
        else:
            self._add_missing_parts()
        self._check_integrity_quick()
        if not fresh and version < STORE_VERSION:
            self._migrate(version)

    def _run(self, script: str) -> None:
        for stmt in script.split(";\n"):
            if stmt.strip():
                self.db.execute(stmt)

    def _migrate(self, version: int) -> None:
        """Bring a store of an earlier version up to this one, in one transaction (all or nothing)."""
        with self.write():
            if version < 2:
                # SQLite cannot relax NOT NULL in place: copy the changes into a table that allows
                # NULL signatures, keeping every rowid (snapshots and seen marks refer to them).
                self.db.execute("ALTER TABLE changes RENAME TO changes_v1")
                self.db.execute("DROP TRIGGER IF EXISTS changes_are_append_only_u")
                self.db.execute("DROP TRIGGER IF EXISTS changes_are_append_only_d")
                self.db.execute("DROP INDEX IF EXISTS changes_by_actor")
                self.db.execute("DROP INDEX IF EXISTS changes_by_contract")
                self._run(_CHANGES)
                self.db.execute("INSERT INTO changes SELECT * FROM changes_v1")
                self.db.execute("DROP TABLE changes_v1")
            self.db.execute(f"PRAGMA user_version={STORE_VERSION}")

    def _add_missing_parts(self) -> None:
        """Bring a store made by an earlier pact up to the current schema; both additions are ignored
        by earlier versions, so the store version stays the same."""
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(contracts)")}
        indexes = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        if "summary_rowid" in columns and "changes_by_contract" in indexes:
            return
        with self.write():
            if "changes_by_contract" not in indexes:
                self.db.execute("CREATE INDEX changes_by_contract ON changes (contract_id)")
            if "summary_rowid" not in columns:
                self.db.execute("ALTER TABLE contracts ADD COLUMN summary_rowid INTEGER NOT NULL DEFAULT 0")
                # Earlier versions wrote the summary in the same transaction as each change: all are current.
                self.db.execute("UPDATE contracts SET summary_rowid ="
                                " (SELECT coalesce(max(rowid), 0) FROM changes WHERE contract_id = contracts.id)")

    def _check_integrity_quick(self) -> None:
        try:
            row = self.db.execute("PRAGMA quick_check").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is corrupt ({exc}); it was left untouched") from None
        if row[0] != "ok":
            raise StoreError(f"{self.path} is corrupt ({row[0]}); it was left untouched")

    def close(self) -> None:
        self.db.close()

    def defer_checkpoints(self, deferred: bool) -> None:
        """With ``deferred``, no commit copies the WAL back into the database file (a checkpoint, which
        costs further syncs); the owner calls ``checkpoint()`` when idle instead. Checkpointing often
        also keeps the WAL short, so commits overwrite its blocks rather than grow the file."""
        self.db.execute(f"PRAGMA wal_autocheckpoint={0 if deferred else AUTOCHECKPOINT_PAGES}")

    def checkpoint(self) -> None:
        """Copy committed pages from the WAL into the database file, as far as readers allow."""
        self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    @contextmanager
    def write(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE) so concurrent writers queue here.

        ``durable=False`` is for derived data only (summaries, snapshots): its commit does not wait for
        the disk, so a power cut may lose this transaction — never an earlier one, and never a later
        durable one, whose sync of the WAL carries it too (WAL frames are replayed in order).
        """
        if not durable:
            self.db.execute("PRAGMA synchronous=NORMAL")
        try:
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"the store is busy or read-only: {exc}") from None
            try:
                yield self.db
            except BaseException:
                self._after_commit.clear()
                self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")
                done, self._after_commit = self._after_commit, []
                for callback in done:
                    callback()
        finally:
            if not durable:
                self.db.execute("PRAGMA synchronous=FULL")

    def after_commit(self, callback) -> None:
        """Run ``callback()`` once the current write transaction has committed (never if it rolls back):
        for records kept outside the database that must never be ahead of it."""
        self._after_commit.append(callback)

    # -- contracts ----------------------------------------------------------------------------------

    def contract_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM contracts ORDER BY id")]

    def has_contract(self, contract_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM contracts WHERE id=?", (contract_id,)).fetchone() is not None

    def ensure_contract(self, contract_id: str, now: int) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO contracts (id, created_at, updated_at, summary) VALUES (?, ?, ?, '{}')",
            (contract_id, now, now),
        )

    def put_summary(self, contract_id: str, summary: dict, now: int, rowid: int) -> None:
        """Store the summary of the contract as it stands after change ``rowid``."""
        self.db.execute(
            "UPDATE contracts SET summary=?, updated_at=?, summary_rowid=? WHERE id=?",
            (json.dumps(summary), now, rowid, contract_id),
        )

    def stale_summaries(self) -> list[str]:
        """Contracts whose summary does not yet reflect their newest change."""
        return [r[0] for r in self.db.execute(
            "SELECT id FROM contracts WHERE summary_rowid <"
            " (SELECT coalesce(max(rowid), 0) FROM changes WHERE contract_id = contracts.id)")]

    def summaries(self) -> list[tuple[str, dict, int]]:
        """(id, summary, updated_at) for every contract, read from the index alone."""
        return [
            (cid, json.loads(s), upd)
            for cid, s, upd in self.db.execute("SELECT id, summary, updated_at FROM contracts ORDER BY updated_at DESC")
        ]

    def match_prefix(self, prefix: str) -> list[str]:
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return [r[0] for r in self.db.execute("SELECT id FROM contracts WHERE id LIKE ? ESCAPE '\\' LIMIT 5", (like,))]

    # -- changes ----------------------------------------------------------------------------------

    def add_change(self, contract_id: str, hash_: bytes, actor: bytes, seq: int, data: bytes, signature: bytes | None,
                   now: int) -> bool:
        """Insert one change with its own signature, or None when a later signed change of its author
        vouches for it; False if it was already there."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO changes (contract_id, hash, actor, seq, data, signature, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (contract_id, hash_, actor, seq, data, signature, now),
        )
        return cur.rowcount == 1

    def add_changes(self, contract_id: str, rows: list[tuple[bytes, bytes, int, bytes, bytes | None]], now: int) -> None:
        """Insert many changes, each ``(hash, actor, seq, data, signature or None)``; known ones are skipped."""
        self.db.executemany(
            "INSERT OR IGNORE INTO changes (contract_id, hash, actor, seq, data, signature, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(contract_id, h, actor, seq, data, sig, now) for h, actor, seq, data, sig in rows],
        )

    def changes_after(self, contract_id: str, rowid: int) -> list[tuple[int, bytes, bytes, bytes, bytes | None]]:
        """(rowid, hash, actor, data, signature or None) of changes stored after ``rowid``, in storage order."""
        return self.db.execute(
            "SELECT rowid, hash, actor, data, signature FROM changes WHERE contract_id=? AND rowid>? ORDER BY rowid",
            (contract_id, rowid),
        ).fetchall()

    def last_rowid(self, contract_id: str) -> int:
        row = self.db.execute("SELECT max(rowid) FROM changes WHERE contract_id=?", (contract_id,)).fetchone()
        return row[0] or 0

    def signatures(self, contract_id: str, hashes: list[bytes] | None = None) -> dict[bytes, bytes]:
        """The stored signatures (of all changes, or of ``hashes``); vouched changes have none."""
        if hashes is None:
            rows = self.db.execute(
                "SELECT hash, signature FROM changes WHERE contract_id=? AND signature IS NOT NULL", (contract_id,))
            return dict(rows.fetchall())
        out = {}
        for h in hashes:
            row = self.db.execute("SELECT signature FROM changes WHERE contract_id=? AND hash=?", (contract_id, h)).fetchone()
            if row and row[0] is not None:
                out[h] = row[0]
        return out

    def latest_by_author(self, contract_id: str) -> dict[bytes, bytes]:
        """Each author's change with the highest sequence number: actor -> hash."""
        rows = self.db.execute(  # SQLite takes the bare column ``hash`` from the row holding max(seq)
            "SELECT actor, hash, max(seq) FROM changes WHERE contract_id=? GROUP BY actor", (contract_id,))
        return {actor: h for actor, h, _ in rows}

    def change_count(self, contract_id: str) -> int:
        return self.db.execute("SELECT count(*) FROM changes WHERE contract_id=?", (contract_id,)).fetchone()[0]

    # -- snapshots ----------------------------------------------------------------------------------

    def snapshot(self, contract_id: str) -> tuple[bytes, bytes, int, bytes] | None:
        """(data, heads, last_rowid, signature) of the contract's compacted snapshot, if any."""
        return self.db.execute(
            "SELECT data, heads, last_rowid, signature FROM snapshots WHERE contract_id=?", (contract_id,)
        ).fetchone()

    def snapshot_rowid(self, contract_id: str) -> int:
        """The last change rowid the contract's snapshot covers (0: no snapshot)."""
        row = self.db.execute("SELECT last_rowid FROM snapshots WHERE contract_id=?", (contract_id,)).fetchone()
        return row[0] if row else 0

    def put_snapshot(self, contract_id: str, data: bytes, heads: bytes, last_rowid: int, signature: bytes, now: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO snapshots (contract_id, data, heads, last_rowid, signature, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (contract_id, data, heads, last_rowid, signature, now),
        )

    # -- seen marks (for "unseen changes") ----------------------------------------------------------

    def mark_seen(self, contract_id: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO seen (contract_id, last_rowid) VALUES (?, ?)",
            (contract_id, self.last_rowid(contract_id)),
        )

    def unseen_count(self, contract_id: str, not_by: bytes | None = None) -> int:
        """Changes stored since the contract was last seen; ``not_by`` (this device's key) leaves out the
        device's own edits (made with the CLI, say): they are not news to the one who made them."""
        row = self.db.execute("SELECT last_rowid FROM seen WHERE contract_id=?", (contract_id,)).fetchone()
        seen = row[0] if row else 0
        return self.db.execute(
            "SELECT count(*) FROM changes WHERE contract_id=? AND rowid>? AND actor IS NOT ?", (contract_id, seen, not_by)
        ).fetchone()[0]

    # -- equivocations: two changes signed with one key and one sequence number ----------------------

    def _ensure_equivocations(self) -> None:
        # Created on first use so that stores made before it existed need no migration.
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS equivocations (contract_id TEXT NOT NULL, actor BLOB NOT NULL,"
            " seq INTEGER NOT NULL, held_hash BLOB NOT NULL, held_data BLOB NOT NULL, held_signature BLOB NOT NULL,"
            " other_hash BLOB NOT NULL, other_data BLOB NOT NULL, other_signature BLOB NOT NULL,"
            " source TEXT NOT NULL, detected_at INTEGER NOT NULL, PRIMARY KEY (contract_id, held_hash, other_hash))"
        )

    def change_at(self, contract_id: str, actor: bytes, seq: int) -> tuple[bytes, bytes, bytes] | None:
        """(hash, data, signature) of the stored change with this author and sequence number, if any."""
        return self.db.execute(
            "SELECT hash, data, signature FROM changes WHERE contract_id=? AND actor=? AND seq=? LIMIT 1",
            (contract_id, actor, seq),
        ).fetchone()

    def has_change(self, contract_id: str, hash_: bytes) -> bool:
        return self.db.execute("SELECT 1 FROM changes WHERE contract_id=? AND hash=?", (contract_id, hash_)).fetchone() is not None

    def hashes(self, contract_id: str) -> set[bytes]:
        return {r[0] for r in self.db.execute("SELECT hash FROM changes WHERE contract_id=?", (contract_id,))}

    def seqs_of(self, contract_id: str, actor: bytes) -> dict[int, bytes]:
        """Sequence number -> hash of every stored change by one author."""
        return dict(self.db.execute(
            "SELECT seq, hash FROM changes WHERE contract_id=? AND actor=?", (contract_id, actor)).fetchall())

    def add_equivocation(self, contract_id: str, actor: bytes, seq: int, held: tuple[bytes, bytes, bytes],
                         other: tuple[bytes, bytes, bytes], source: str, now: int) -> bool:
        """Keep both changes as evidence; False if this pair was already recorded."""
        self._ensure_equivocations()
        cur = self.db.execute(
            "INSERT OR IGNORE INTO equivocations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (contract_id, actor, seq, *held, *other, source, now),
        )
        return cur.rowcount == 1

    def equivocations(self, contract_id: str) -> list[dict]:
        exists = self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='equivocations'").fetchone()
        if not exists:  # reading must not write: the table appears with the first equivocation
            return []
        rows = self.db.execute(
            "SELECT actor, seq, held_hash, held_data, held_signature, other_hash, other_data, other_signature,"
            " source, detected_at FROM equivocations WHERE contract_id=? ORDER BY detected_at, seq",
            (contract_id,),
        )
        keys = ("actor", "seq", "held_hash", "held_data", "held_signature", "other_hash", "other_data",
                "other_signature", "source", "detected_at")
        return [dict(zip(keys, r)) for r in rows]

    # -- peers and invites (used by pactclient.net) ------------------------------------------------

    def peers_mark(self) -> tuple[int, int]:
        """Moves whenever the peers table may have changed: by this connection (counted here) or by
        another process (SQLite's data_version). A poller compares marks instead of reading the table."""
        return (self.db.execute("PRAGMA data_version").fetchone()[0], self._peer_writes)

    def put_peer(self, key: str, name: str = "", address: str = "", state: str = "known") -> None:
        """Add a peer or update it; empty name or address leave the stored one as it was."""
        self._peer_writes += 1
        self.db.execute(
            "INSERT INTO peers (key, name, address, state) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(key) DO UPDATE SET name=CASE WHEN excluded.name='' THEN name ELSE excluded.name END,"
            " address=CASE WHEN excluded.address='' THEN address ELSE excluded.address END, state=excluded.state",
            (key, name, address, state),
        )

    def peer_seen(self, key: str, now: int, state: str) -> None:
        self._peer_writes += 1
        self.db.execute("UPDATE peers SET last_seen=?, state=? WHERE key=?", (now, state, key))

    def peers(self) -> list[dict]:
        rows = self.db.execute("SELECT key, name, address, last_seen, state FROM peers ORDER BY name, key")
        return [dict(zip(("key", "name", "address", "last_seen", "state"), r)) for r in rows]

    def _ensure_invites(self) -> None:
        # Created on first use so that stores made before invites existed need no migration; ``mac`` was
        # added later (rows without one are refused at redemption: see pactclient.sync.invites).
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS invites (id BLOB PRIMARY KEY, contract_id TEXT NOT NULL,"
            " role TEXT NOT NULL, secret_hash BLOB NOT NULL, created_at INTEGER NOT NULL,"
            " expires_at INTEGER NOT NULL, used_at INTEGER, used_by TEXT, mac BLOB)"
        )
        if "mac" not in {r[1] for r in self.db.execute("PRAGMA table_info(invites)")}:
            self.db.execute("ALTER TABLE invites ADD COLUMN mac BLOB")

    def add_invite(self, invite_id: bytes, contract_id: str, role: str, secret_hash: bytes, now: int, expires_at: int,
                   mac: bytes) -> None:
        self._ensure_invites()
        self.db.execute(
            "INSERT INTO invites (id, contract_id, role, secret_hash, created_at, expires_at, mac)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (invite_id, contract_id, role, secret_hash, now, expires_at, mac),
        )

    def invite(self, invite_id: bytes) -> dict | None:
        self._ensure_invites()
        keys = ("id", "contract_id", "role", "secret_hash", "created_at", "expires_at", "used_at", "used_by", "mac")
        row = self.db.execute(f"SELECT {', '.join(keys)} FROM invites WHERE id=?", (invite_id,)).fetchone()
        return dict(zip(keys, row)) if row else None

    def peer_state(self, key: str) -> str | None:
        row = self.db.execute("SELECT state FROM peers WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def use_invite(self, invite_id: bytes, now: int, used_by: str) -> bool:
        """Mark an invite used; False if it already was (single use, even under concurrent redemption)."""
        self._ensure_invites()
        cur = self.db.execute("UPDATE invites SET used_at=?, used_by=? WHERE id=? AND used_at IS NULL", (now, used_by, invite_id))
        return cur.rowcount == 1

    def open_invites(self, now: int) -> int:
        self._ensure_invites()
        return self.db.execute("SELECT count(*) FROM invites WHERE used_at IS NULL AND expires_at>?", (now,)).fetchone()[0]

    # -- devices this home certified for its party (used by pairing and revocation) ----------------

    def _ensure_devices(self) -> None:
        # Created on first use, like invites: stores made earlier need no migration.
        self.db.execute("CREATE TABLE IF NOT EXISTS certified_devices (key TEXT PRIMARY KEY, record TEXT NOT NULL,"
                        " revoked_at INTEGER)")

    def put_certified_device(self, key: str, record: str) -> None:
        self._ensure_devices()
        self.db.execute("INSERT INTO certified_devices (key, record) VALUES (?, ?)"
                        " ON CONFLICT(key) DO UPDATE SET record=excluded.record", (key, record))

    def revoke_certified_device(self, key: str, now: int, record: str) -> None:
        self._ensure_devices()
        self.db.execute("INSERT INTO certified_devices (key, record, revoked_at) VALUES (?, ?, ?)"
                        " ON CONFLICT(key) DO UPDATE SET revoked_at=excluded.revoked_at", (key, record, now))

    def certified_devices(self) -> list[tuple[str, str, int | None]]:
        self._ensure_devices()
        return self.db.execute("SELECT key, record, revoked_at FROM certified_devices ORDER BY rowid").fetchall()

