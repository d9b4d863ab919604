"""Attachments in evidence: the files themselves, optionally, and what a verifier says about each.

The signed document already names every attachment by its SHA-256 (``model.attachments``), so an
evidence file proves which bytes were attached whether or not it carries them. ``pact export
--with-files`` adds them: the body (then of version 3) gets one more field,

    "files": [[<32-byte SHA-256>, <the file's bytes>], ...]     sorted by hash, each at most 10 MiB

holding the bytes the exporter's home has intact (missing or altered ones are left out, and said so).
A verifier hashes each file: one whose bytes do not match the hash beside them, or that no attachment
of the document names, makes the evidence invalid. Each attachment is then reported as ``included``
(its bytes are in the file and match), ``not included`` (the export did not carry them) or
``altered``: never shown as genuine unless its bytes hash to what was signed.
"""

from __future__ import annotations

import hashlib

from pactclient.errors import FormatError, StoreError
from pactclient.model.attachments import MAX_ATTACHMENT_BYTES, attachments, human_size
from pactclient.store.attachments import FileStore

FILES_VERSION = 3  # the body version that may carry "files"
INCLUDED, NOT_INCLUDED, ALTERED = "included", "not included", "altered"


def files_of(workspace, contract_id: str) -> tuple[list[list[bytes]], list[str]]:
    """The contract's attached files this home holds intact, as the body carries them, and the names
    of those it cannot include (missing or altered here)."""
    store = FileStore(workspace.home)
    out, left_out = {}, []
    for a in attachments(workspace.view(contract_id)):
        if a.sha256 in out:
            continue
        try:
            out[a.sha256] = store.read(a.sha256)
        except StoreError:
            left_out.append(a.name)
    return [[bytes.fromhex(h), data] for h, data in sorted(out.items())], left_out


def body_files(body: dict) -> dict[str, bytes] | None:
    """The files an evidence body carries (None: it carries none); FormatError if malformed."""
    if "files" not in body:
        return None
    entries = body["files"]
    if not isinstance(entries, list):
        raise FormatError("the body's field 'files' is not a list")
    out: dict[str, bytes] = {}
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], bytes) and len(entry[0]) == 32
                and isinstance(entry[1], bytes)):
            raise FormatError("each file must be [32-byte SHA-256, bytes]")
        if entry[0].hex() in out:
            raise FormatError(f"the file {entry[0].hex()[:12]} is given twice")
        out[entry[0].hex()] = entry[1]
    return out


def check(v) -> None:
    """Report each attachment of the verified document (``v.attachments``); fail the verdict for
    carried bytes that do not match their hash or that the document does not name."""
    if v.view is None or v.body is None:
        return
    try:
        carried = body_files(v.body)
    except FormatError as exc:
        v.fail(str(exc))
        return
    listed = attachments(v.view)
    named = {a.sha256 for a in listed}
    altered = set()
    for h, data in (carried or {}).items():
        if h not in named:
            v.fail(f"the file carries bytes ({h[:12]}) that no attachment of the contract names")
        elif len(data) > MAX_ATTACHMENT_BYTES or hashlib.sha256(data).hexdigest() != h:
            altered.add(h)
    v.attachments = []
    for a in listed:
        status = ALTERED if a.sha256 in altered else INCLUDED if carried and a.sha256 in carried else NOT_INCLUDED
        if status == ALTERED:
            v.fail(f"the attached file {a.name!r} carried in the evidence does not match its signed SHA-256: altered")
        v.attachments.append({"name": a.name, "media_type": a.media_type, "size": a.size, "sha256": a.sha256,
                              "author": a.author, "at": a.at, "status": status})
    good = sum(1 for a in v.attachments if a["status"] == INCLUDED)
    if listed:
        v.passed(f"{len(listed)} attachment(s) named by SHA-256 in the signed history; {good} carried and matching")


def lines(data: dict) -> list[str]:
    """``pact verify``'s lines about the attachments (from ``summary``)."""
    out = []
    for a in data.get("attachments", []):
        word = {"included": "included, matches its signed hash", "not included": "not included in this file",
                "altered": "ALTERED: the bytes in this file do not match the signed hash"}[a["status"]]
        out.append(f"  attachment {a['name']} ({a['media_type']}, {human_size(a['size'])}, sha256 {a['sha256']}): {word}")
    return out


def html(v, label, escape) -> str:
    """The report's section on attachments (empty if there are none); ``escape`` makes text HTML."""
    rows = getattr(v, "attachments", None)
    if not rows:
        return ""
    out = ["<h2 id=attachments>Attachments</h2><table><tr><th>Name</th><th>Type</th><th>Size</th><th>SHA-256</th>"
           "<th>Attached by</th><th>Status</th></tr>"]
    for a in rows:
        status = {"included": "included; matches its signed hash", "not included": "not included in the evidence file",
                  "altered": "<b>ALTERED</b>: does not match its signed hash"}[a["status"]]
        out.append(f"<tr><td>{escape(a['name'])}</td><td>{escape(a['media_type'])}</td><td>{human_size(a['size'])}</td>"
                   f"<td><code>{a['sha256']}</code></td><td>{escape(label(a['author']))}</td><td>{status}</td></tr>")
    out.append("</table>")
    return "".join(out)
