"""The bytes of attachments, content-addressed by SHA-256, in a ``files`` directory of the home.

    HOME/files/sha256/<first two hex>/<64 hex>

One file per distinct content, whichever contracts name it (a bill attached to two cases is stored
once). Bytes are written to a temporary file, flushed and renamed, so a reader never sees half a file;
they are checked against their name on every read, so bytes changed on disk are reported as altered,
never shown as genuine. Why a directory and not a table in ``pact.db``: see docs/design-decisions.md.

``attach_file`` is what ``pact attach`` and the TUI call: it reads a file the user names (bounded),
stores its bytes, then records the attachment in the contract as one signed change.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from pathlib import Path

from pactclient.errors import FormatError, RefusedOperation, StoreError, UsageError
from pactclient.model import attachments as model
from pactclient.model.actions import Outcome

FILES_DIR = "files"
PRESENT, MISSING, ALTERED = "present", "missing", "altered"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileStore:
    def __init__(self, home: Path):
        self.root = Path(home) / FILES_DIR / "sha256"

    def path(self, sha256: str) -> Path:
        if not model.SHA256_RE.fullmatch(sha256 or ""):
            raise StoreError(f"not a SHA-256: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def status(self, sha256: str) -> str:
        """present (bytes here and matching), missing (not here) or altered (here, not matching)."""
        try:
            self.read(sha256)
        except StoreError as exc:
            return MISSING if "not in this home" in str(exc) else ALTERED
        return PRESENT

    def exists(self, sha256: str) -> bool:
        """Whether bytes are stored under ``sha256`` at all (not read, not checked: cheap)."""
        return self.path(sha256).is_file()

    def read(self, sha256: str) -> bytes:
        """The stored bytes, checked against their hash; StoreError (one line) if missing or altered."""
        path = self.path(sha256)
        try:
            if path.stat().st_size > model.MAX_ATTACHMENT_BYTES:
                raise StoreError(f"the stored file {sha256[:12]} is larger than any attachment may be: altered")
            data = path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"the file {sha256[:12]} is not in this home (not received yet)") from None
        except OSError as exc:
            raise StoreError(f"cannot read the stored file {sha256[:12]}: {exc.strerror}") from None
        if sha256_hex(data) != sha256:
            raise StoreError(f"the stored bytes of {sha256[:12]} do not match their signed SHA-256: altered")
        return data

    def put(self, data: bytes, expected: str | None = None) -> str:
        """Store ``data`` (refused over the size limit, or if ``expected`` is given and is not its
        hash); returns its SHA-256. Bytes already stored and intact are left as they are; altered
        ones are replaced by the good bytes."""
        if len(data) > model.MAX_ATTACHMENT_BYTES:
            raise RefusedOperation(f"a file of {model.human_size(len(data))} is over the limit of "
                                   f"{model.LIMIT_TEXT} per attachment")
        digest = sha256_hex(data)
        if expected is not None and digest != expected:
            raise RefusedOperation(f"the bytes given for {expected[:12]} have another SHA-256 ({digest[:12]})")
        if self.status(digest) == PRESENT:
            return digest
        path = self.path(digest)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot store the file {digest[:12]}: {exc.strerror}") from None
        return digest


def read_user_file(path: Path) -> bytes:
    """The bytes of a file the user names to attach: refused, before reading, over the limit."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise FormatError(f"{path} is a directory, not a file")
        if size > model.MAX_ATTACHMENT_BYTES:
            raise RefusedOperation(f"{path.name} is {model.human_size(size)}; an attachment may be at most "
                                   f"{model.LIMIT_TEXT}")
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > model.MAX_ATTACHMENT_BYTES:  # it grew while being read
        raise RefusedOperation(f"{path.name} is over the limit of {model.LIMIT_TEXT} per attachment")
    return data


def media_type_of(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    guessed = (guessed or "").lower()
    return guessed if model.MEDIA_TYPE_RE.fullmatch(guessed) else model.DEFAULT_MEDIA_TYPE


def stage_file(home: Path, path: Path, name: str | None = None, media_type: str | None = None) -> tuple[str, str, int, str]:
    """Read a file the user names, store its bytes in ``home`` and return the arguments of
    ``model.attachments.attach`` (name, media type, size, SHA-256): the caller records them in the
    contract through whatever writes its edits (``Workspace.act``, or the running peer service's)."""
    path = Path(path)
    name = path.name if name is None else name
    problem = model.name_problem(name)
    if problem is not None:
        raise UsageError(f"cannot attach {name!r}: {problem} (choose one with --name)")
    data = read_user_file(path)
    digest = FileStore(home).put(data)
    return name, media_type or media_type_of(name), len(data), digest


def attach_file(ws, contract_id: str, path: Path, name: str | None = None, media_type: str | None = None) -> Outcome:
    """Store the bytes of ``path`` and record them in the contract as one signed change."""
    return ws.act(contract_id, model.attach, *stage_file(ws.home, path, name, media_type))


def statuses(ws, contract_id: str) -> list[tuple[model.Attachment, str]]:
    """Each attachment of the contract with the status of its bytes in this home."""
    files = FileStore(ws.home)
    return [(a, files.status(a.sha256)) for a in model.attachments(ws.view(contract_id))]


def referenced(ws, contract_id: str) -> set[str]:
    """The hashes the contract names (what a peer or a bundle may bring for it)."""
    return {a.sha256 for a in model.attachments(ws.view(contract_id))}


def missing(ws, contract_id: str) -> list[str]:
    """Hashes the contract names of which this home stores no bytes at all (what to fetch; bytes
    stored but altered are found, and reported, when read)."""
    files = FileStore(ws.home)
    return [h for h in dict.fromkeys(a.sha256 for a in model.attachments(ws.view(contract_id)))
            if not files.exists(h)]
