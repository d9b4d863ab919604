"""This device's own latest change per contract, kept where deleting rows cannot hide it.

Automerge numbers an author's changes 1, 2, 3, ... from what the document holds. If someone with write
access to ``pact.db`` (but not the device key) deletes this device's newest changes of a contract, the
next local edit would be numbered like one of the deleted ones: a second change with one key and one
sequence number, which every peer records as an equivocation by this (honest) device. To never do that:

* **In the database**: table ``own_tails`` holds, per contract, the sequence number and hash of this
  device's newest change, with an HMAC-SHA256 over ``contract id || seq || hash`` under a key derived
  from the device key (``DeviceIdentity.derived_key("own-tail")``). It is written in the same
  transaction that stores the change (local edits, and this device's own changes received back from a
  peer). Before every local write the contract's row is checked: its MAC, and that the store still
  holds that very change. If not, the write is refused (``StoreError``) before anything is signed.
* **Beside the database**: the file ``own-tail`` in the home holds the number of rows and the sum of
  their sequence numbers, with an HMAC under the same key. Both only grow. It is replaced (atomic
  rename) after each such transaction commits, so it is never ahead of the database (a crash leaves it
  behind at worst, which only weakens the check) — or, in a process that defers upkeep (``pact
  serve``), with the upkeep that follows the write, a fraction of a second later, so that the rename
  is not in the path of a live edit. Before every local write, the table must reach it:
  a deleted row, a row set back to an older one, a dropped table or a whole older copy of ``pact.db``
  shows as fewer rows or a smaller sum, and the write is refused.

Recovery is the honest path: sync with a peer (or import a bundle of the contract) — the peer sends
this device's own changes back, they are admitted like any other, and the row and the sum catch up.
A store made by an earlier version (no table and no file) trusts what it holds once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import struct
from pathlib import Path

from pactclient.errors import StoreError

FILE = "own-tail"
_RECOVER = ("sync with a peer of the contract (pact sync) or import a bundle of it from a peer to get "
            "them back; writing now would reuse this device's sequence numbers")


class OwnTail:
    """The checks and records described in the module docstring, for one workspace."""

    def __init__(self, home: Path, store, identity):
        self.path = Path(home) / FILE
        self.store = store
        self.me = identity.public_key
        self._key = identity.derived_key("own-tail")
        self._table_seen = False  # once seen, a table that vanishes makes queries fail: see before_write
        self._file_seen: tuple | None = None  # (stat identity, totals) of the file as last read
        self.defer_file = False  # True: rows and file follow in deferred upkeep (``flush``, ``catch_up``)
        self._file_behind = False
        self._pending: dict[str, tuple[int, bytes]] = {}  # contract -> (seq, hash) of rows not yet written

    # -- MACs --------------------------------------------------------------------------------------

    def _row_mac(self, contract_id: str, seq: int, hash_: bytes) -> bytes:
        return hmac.new(self._key, b"row\x00" + contract_id.encode() + b"\x00" + struct.pack(">Q", seq) + hash_,
                        hashlib.sha256).digest()

    def _total_mac(self, rows: int, total: int) -> str:
        return hmac.new(self._key, b"total\x00" + struct.pack(">QQ", rows, total), hashlib.sha256).hexdigest()

    # -- the table -----------------------------------------------------------------------------------

    def _has_table(self) -> bool:
        if not self._table_seen:
            self._table_seen = self.store.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='own_tails'").fetchone() is not None
        return self._table_seen

    def _ensure_table(self) -> None:
        """Inside a write transaction: create the table if missing. Only a store that never had one
        (made by an earlier version: no file either) is trusted as it stands and recorded."""
        if self._has_table():
            return
        rows, _total = self._file_totals()
        if rows:
            raise StoreError("the store lost its record of this device's own changes (table own_tails is "
                             f"gone, {self.path} says {rows} contract(s) have them); the store was altered: "
                             + _RECOVER.replace("sync with a peer of the contract", "sync with your peers"))
        self.store.db.execute("CREATE TABLE own_tails (contract_id TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
                              " hash BLOB NOT NULL, mac BLOB NOT NULL)")
        latest = self.store.db.execute(
            "SELECT contract_id, hash, max(seq) FROM changes WHERE actor=? GROUP BY contract_id", (self.me,))
        for contract_id, hash_, seq in latest.fetchall():
            self._put(contract_id, seq, hash_)

    def _put(self, contract_id: str, seq: int, hash_: bytes) -> None:
        self.store.db.execute("INSERT OR REPLACE INTO own_tails VALUES (?, ?, ?, ?)",
                              (contract_id, seq, hash_, self._row_mac(contract_id, seq, hash_)))

    def _table_totals(self) -> tuple[int, int]:
        rows, total = self.store.db.execute("SELECT count(*), coalesce(sum(seq), 0) FROM own_tails").fetchone()
        return rows, total

    # -- the file ------------------------------------------------------------------------------------

    def _file_totals(self) -> tuple[int, int]:
        try:
            st = self.path.stat()
            mark = (st.st_ino, st.st_mtime_ns, st.st_size)
            if self._file_seen is not None and self._file_seen[0] == mark:
                return self._file_seen[1]  # every write replaces the file: a new inode and time
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return 0, 0
        except OSError as exc:
            raise StoreError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            got = json.loads(raw)
            rows, total, mac = got["rows"], got["total"], got["mac"]
            valid = isinstance(rows, int) and isinstance(total, int) and isinstance(mac, str)
        except (ValueError, TypeError, KeyError):
            valid = False
        if not valid or not hmac.compare_digest(mac, self._total_mac(rows, total)):
            raise StoreError(f"{self.path} is not this device's record of its own changes (altered, or "
                             "copied from another home); restore it, or remove it to trust the store as it is")
        self._file_seen = (mark, (rows, total))
        return rows, total

    def _write_file(self) -> None:
        """After commit: raise the file to the table's totals (never lower it: another process of this
        home may have written more meanwhile)."""
        try:
            rows, total = self._table_totals()
            old_rows, old_total = self._file_totals()
        except StoreError:
            return  # the next write reports it
        rows, total = max(rows, old_rows), max(total, old_total)
        if (rows, total) == (old_rows, old_total):
            return
        tmp = self.path.with_name(f"{FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"rows": rows, "total": total, "mac": self._total_mac(rows, total)}, f)
        os.replace(tmp, self.path)
        st = self.path.stat()
        self._file_seen = ((st.st_ino, st.st_mtime_ns, st.st_size), (rows, total))

    # -- what the workspace calls, inside its write transactions ---------------------------------------

    def file_unchanged(self) -> bool:
        """Whether the file is as this process last read or wrote it (one ``stat``): then, for a
        document this process holds in memory and already checked, nothing needs reading again."""
        try:
            st = self.path.stat()
        except OSError:
            return False
        return self._file_seen is not None and self._file_seen[0] == (st.st_ino, st.st_mtime_ns, st.st_size)

    def before_write(self, contract_id: str) -> None:
        """Refuse (StoreError) to write a change of ``contract_id`` if the store lost any of this
        device's own changes that the records know of."""
        try:
            self._check(contract_id)
        except sqlite3.OperationalError:  # the table was dropped while this process ran
            self._table_seen = False
            self._check(contract_id)

    def _check(self, contract_id: str) -> None:
        self._ensure_table()
        rows, total = self._table_totals()
        file_rows, file_total = self._file_totals()
        if rows < file_rows or total < file_total:
            raise StoreError(f"the store lost this device's own changes ({self.path} records {file_total} in "
                             f"{file_rows} contract(s), the store {total} in {rows}): it was altered or an older "
                             "copy of pact.db was put back; " + _RECOVER.replace("of the contract", "of each contract"))
        pending = self._pending.get(contract_id)
        if pending is not None:
            # This process wrote the newest change and has not flushed its row yet (deferred upkeep):
            # its own memory is the record, and the store must still hold that change.
            held = self.store.change_at(contract_id, self.me, pending[0])
            if held is None or held[0] != pending[1]:
                raise StoreError(f"the store lost this device's own changes of {contract_id[:12]} (this device "
                                 f"wrote up to number {pending[0]}): " + _RECOVER)
            return
        row = self.store.db.execute("SELECT seq, hash, mac FROM own_tails WHERE contract_id=?", (contract_id,)).fetchone()
        newest = self.store.db.execute("SELECT max(seq) FROM changes WHERE contract_id=? AND actor=?",
                                       (contract_id, self.me)).fetchone()[0]
        if row is None:
            if newest is not None:
                raise StoreError(f"the store's record of this device's changes of {contract_id[:12]} is gone; "
                                 "the store was altered: " + _RECOVER)
            return
        seq, hash_, mac = row
        if not hmac.compare_digest(mac, self._row_mac(contract_id, seq, hash_)):
            raise StoreError(f"the store's record of this device's changes of {contract_id[:12]} was altered: "
                             + _RECOVER)
        held = self.store.change_at(contract_id, self.me, seq)
        if held is None or held[0] != hash_:
            raise StoreError(f"the store lost this device's own changes of {contract_id[:12]} (it holds up to "
                             f"number {newest or 0}, this device wrote up to number {seq}): " + _RECOVER)

    def wrote(self, contract_id: str, changes) -> None:
        """After this device stored its own new ``changes`` (Automerge changes) of ``contract_id``.
        In a process that defers upkeep the row is written by that upkeep (``flush``), not in the
        live edit's own commit: one page less for the edit's sync to the disk. A row that lags
        behind (a crash in between) still names a change the store holds: the check stays sound,
        only later by that much."""
        if changes:
            newest = max(changes, key=lambda c: c.seq)
            if self.defer_file:
                self._pending[contract_id] = (newest.seq, newest.hash)
                self._file_behind = True
            else:
                self._put(contract_id, newest.seq, newest.hash)
                self._raise_file_later()

    def pending(self) -> bool:
        return bool(self._pending)

    def flush(self) -> None:
        """Inside a write transaction (deferred upkeep): write the rows that ``wrote`` left pending."""
        pending, self._pending = self._pending, {}
        for contract_id, (seq, hash_) in pending.items():
            self._put(contract_id, seq, hash_)

    def received(self, contract_id: str, admitted) -> None:
        """After changes of ``contract_id`` were admitted from elsewhere: this device's own changes
        among them (given back by a peer after a loss) move the record forward."""
        if not any(c.actor == self.me for c in admitted) or not self._has_table():
            return
        newest = self.store.db.execute("SELECT hash, max(seq) FROM changes WHERE contract_id=? AND actor=?",
                                       (contract_id, self.me)).fetchone()
        try:
            row = self.store.db.execute("SELECT seq FROM own_tails WHERE contract_id=?", (contract_id,)).fetchone()
        except sqlite3.OperationalError:  # dropped while this process ran: the next local write reports it
            self._table_seen = False
            return
        if row is None or row[0] < newest[1]:
            self._put(contract_id, newest[1], newest[0])
            self._raise_file_later()

    def _raise_file_later(self) -> None:
        if self.defer_file:
            self._file_behind = True
        else:
            self.store.after_commit(self._write_file)

    def catch_up(self) -> None:
        """Raise the file to what was committed, if writes left it behind (deferred upkeep calls this)."""
        if self._file_behind:
            self._file_behind = False
            self._write_file()
