"""Export: one self-contained, signed evidence file of a contract (format in docs/evidence.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from automerge.core import Document

from pactclient.errors import FormatError
from pactclient.evidence import fileformat
from pactclient.evidence.countersigns import valid_countersignatures
from pactclient.model import agreements
from pactclient.model.views import ContractView
from pactclient.store.workspace import Workspace

FORMAT = "pact-evidence"
# 2: each party lists its former keys, so a third party can name the author of what a replaced key
# signed without replaying the proposals. Version 1 files stay readable (``pactclient.evidence.verify``).
VERSION = 2
READABLE_VERSIONS = (1, 2, 3)  # 3: a version 2 body that also carries the attached files (evidence.attachments)
PROGRESS_EVERY = 256

Progress = Callable[[int, int], None]  # (done, total) changes gathered


def build_body(workspace: Workspace, contract_id: str, progress: Progress | None = None,
               with_files: bool = False) -> dict:
    """Everything the exporter signs, as plain data (encoded by ``fileformat.canonical``); with
    ``with_files``, the attached files this home holds intact too (body version 3)."""
    doc = workspace.document(contract_id)
    exported_at = workspace.clock()
    view = workspace.view(contract_id, now=exported_at)
    rows = workspace.signed_changes(contract_id)
    signatures = []
    for done, (change_hash, _data, signature) in enumerate(rows, start=1):
        if signature is not None:  # a change without one is vouched for by a later signed change of its author
            signatures.append([change_hash, signature])
        if progress and (done % PROGRESS_EVERY == 0 or done == len(rows)):
            progress(done, len(rows))
    body = {
        "format": FORMAT,
        "version": VERSION,
        "contract": contract_id,
        "exported_at": exported_at,
        "exported_by": workspace.identity.public_key,
        "document": doc.save(),
        "heads": sorted(doc.get_heads()),
        "signatures": sorted(signatures),
        "parties": parties_of(view),
        "agreements": agreements_of(doc, view),
    }
    if with_files:
        from pactclient.evidence.attachments import FILES_VERSION, files_of

        body.update(version=FILES_VERSION, files=files_of(workspace, contract_id)[0])
    return body


def parties_of(view: ContractView, version: int = VERSION) -> list[dict]:
    """The parties in force as a body of ``version`` lists them."""
    out = []
    for p in sorted(view.parties.values(), key=lambda p: p.id):
        entry = {"id": p.id, "name": p.name, "org": p.org, "role": p.role, "key": bytes.fromhex(p.key) if p.key else b""}
        if version >= 2:
            entry["former_keys"] = [bytes.fromhex(k) for k in p.former_keys]
        out.append(entry)
    return out


def agreements_of(doc: Document, view: ContractView) -> list[dict]:
    """Every agreed version with the countersignatures that verify (by their party's key, over its heads)."""
    out = []
    for version in agreements.agreed_versions(view):
        heads = agreements.version_heads(doc, view, version.proposal_id)
        out.append({
            "version": version.number,
            "proposal": version.proposal_id,
            "heads": heads,
            "countersignatures": [
                {"party": c.party, "key": bytes.fromhex(c.key), "signature": bytes.fromhex(c.signature)}
                for c in valid_countersignatures(view, version, heads)
            ],
        })
    return out


def encode(workspace: Workspace, contract_id: str, progress: Progress | None = None,
           stamp: Callable[[bytes], bytes] | None = None, with_files: bool = False) -> bytes:
    """The evidence file's bytes. ``stamp(sha256_digest) -> token`` adds a trusted timestamp."""
    body = fileformat.canonical(build_body(workspace, contract_id, progress, with_files))
    data = fileformat.pack(body, workspace.identity.public_key, workspace.identity.sign)
    if stamp is not None:
        import hashlib

        container = fileformat.unpack(data)
        data = fileformat.with_token(data, stamp(hashlib.sha256(container.stamped).digest()),
                                    workspace.identity.sign)
    return data


def write(path: Path, data: bytes) -> None:
    """Write atomically: a reader never sees half a file."""
    write_all([(path, data)])


def write_all(files: list[tuple[Path, bytes]]) -> None:
    """Write every file or none: each goes to a temporary file first, and all are renamed at the end.

    FormatError (one line) if one cannot be written; no temporary file is left behind.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files:
            path = Path(path)
            tmp = path.with_name(path.name + ".tmp")
            staged.append((tmp, path))
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise FormatError(f"cannot write {exc.filename or 'the output'}: {exc.strerror}") from None
