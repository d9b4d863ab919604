"""Attachments: a document (a bill, a screenshot, a line-test result) named in a contract by its SHA-256.

The contract holds no file bytes. Attaching writes one timeline entry of kind ``attachment``::

    {kind: "attachment", author, at, text, ref: "", name, media_type, size, sha256}

in one signed change, like any note: the name, media type, size and the hash of the bytes are in the
signed history, so every copy and every evidence export says exactly which bytes were attached, by
whom and when. The bytes themselves are kept content-addressed beside the contract in each home
(``pactclient.store.attachments``) and travel separately (``pactclient.sync.files``, bundles); any copy
can check them against the signed hash, so a file that is missing or altered is reported as such.

Why a timeline entry and not a new root section: root keys are written only by a contract's first
change, so a new section could never be added to the contracts that exist; the timeline is
append-only and each entry names its author (checked on receipt), which is what an attachment needs.
A copy made before attachments existed admits the entry and shows it as a line of the timeline.

``check_entry`` is the well-formedness rule every copy applies on receipt
(``pactclient.signing.attachment_checks``); the model applies it before writing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from pactclient.errors import RefusedOperation, UsageError
from automerge.core import ROOT

from pactclient.model.actions import Actor, Outcome, _me, view_of
from pactclient.model.amdoc import child, put_value
from pactclient.model.views import ContractView

ENTRY_KIND = "attachment"
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # 10 MiB per file: a bill, a photo of a letter, a test log
MAX_NAME_CHARS = 200
DEFAULT_MEDIA_TYPE = "application/octet-stream"
FIELDS = ("name", "media_type", "size", "sha256")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
MEDIA_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")


@dataclass(frozen=True)
class Attachment:
    sha256: str  # 64 lowercase hex: the SHA-256 of the file's bytes
    name: str
    media_type: str
    size: int  # bytes
    author: str  # the party that attached it
    at: int  # ms since epoch, as its author wrote it
    device: str = ""  # the key that wrote the entry, when known


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


LIMIT_TEXT = human_size(MAX_ATTACHMENT_BYTES)


def name_problem(name) -> str | None:
    """Why ``name`` is not a sane file name for an attachment, or None. A name is what a saved copy is
    called by default, so it may not name a directory or reach outside one."""
    if not isinstance(name, str) or not name:
        return "its name is empty"
    if len(name) > MAX_NAME_CHARS:
        return f"its name is longer than {MAX_NAME_CHARS} characters"
    if name != name.strip():
        return "its name starts or ends with white space"
    if name in (".", "..") or "/" in name or "\\" in name:
        return "its name is a path, not a file name"
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        return "its name holds control or invisible characters"
    return None


def check_entry(fields: dict) -> str | None:
    """Why the fields of an ``attachment`` timeline entry are not well formed, or None. Every copy
    applies the same rule on receipt; the writer applies it before signing."""
    sha = fields.get("sha256")
    if not isinstance(sha, str) or not SHA256_RE.fullmatch(sha):
        return "its hash is not 64 lowercase hex characters (a SHA-256)"
    size = fields.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return "its size is not a whole number of bytes"
    if size > MAX_ATTACHMENT_BYTES:
        return f"it is {human_size(size)}, over the limit of {LIMIT_TEXT} per attachment"
    problem = name_problem(fields.get("name"))
    if problem is not None:
        return problem
    media = fields.get("media_type")
    if not isinstance(media, str) or not MEDIA_TYPE_RE.fullmatch(media):
        return "its media type is not of the form type/subtype"
    return None


def attachments(view: ContractView) -> tuple[Attachment, ...]:
    """The contract's attachments, in the order they were attached (well-formed entries only: a copy
    admits no other, and one read from elsewhere is not shown as an attachment)."""
    out = []
    for entry in view.raw_timeline:
        if entry.get("kind") != ENTRY_KIND or check_entry(entry) is not None:
            continue
        out.append(Attachment(entry["sha256"], entry["name"], entry["media_type"], entry["size"],
                              entry.get("author", ""), entry.get("at", 0), entry.get("device", "")))
    return tuple(out)


def find(view: ContractView, ref: str) -> Attachment:
    """The attachment named ``ref``: its exact name, or its hash or a unique prefix of it (6+ hex)."""
    found = attachments(view)
    if not found:
        raise RefusedOperation("this contract has no attachments")
    by_name = [a for a in found if a.name == ref]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1 and len({a.sha256 for a in by_name}) == 1:
        return by_name[-1]
    if len(by_name) > 1:
        raise UsageError(f"several attachments are called {ref!r}; name one by its hash: "
                         + ", ".join(a.sha256[:12] for a in by_name))
    ref_hex = ref.strip().lower()
    by_hash = {a.sha256: a for a in found if len(ref_hex) >= 6 and a.sha256.startswith(ref_hex)}
    if len(by_hash) == 1:
        return next(iter(by_hash.values()))
    if len(by_hash) > 1:
        raise UsageError(f"{ref!r} matches several attachments: {', '.join(h[:12] for h in by_hash)}; give more of the hash")
    raise RefusedOperation(f"no attachment {ref!r}; attachments: {', '.join(a.name for a in found)}")


def attach(doc, actor: Actor, name: str, media_type: str, size: int, sha256: str) -> Outcome:
    """Record an attachment (its bytes are stored by the caller) as one signed timeline entry."""
    view = view_of(doc, actor.now, actor.cache)
    me = _me(view, actor)
    fields = {"name": name, "media_type": media_type or DEFAULT_MEDIA_TYPE, "size": size, "sha256": sha256}
    problem = check_entry(fields)
    if problem is not None:
        raise UsageError(f"cannot attach {name!r}: {problem}")
    same = next((a for a in attachments(view) if a.sha256 == sha256), None)
    if same is not None:
        raise RefusedOperation(f"this file is already attached to the contract as {same.name!r}")
    text = f"{me.label} attached {name} ({human_size(size)}, sha256 {sha256[:12]}…)"
    with doc.transaction() as tx:
        timeline = child(tx, ROOT, "timeline")
        entry = {"kind": ENTRY_KIND, "author": me.id, "at": actor.now, "text": text, "ref": "", **fields}
        put_value(tx, timeline, tx.length(timeline), entry, insert=True)
    return Outcome(text, ref=sha256)
