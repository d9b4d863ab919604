"""Bundle files: the signed changes of one contract, for parties that exchange files instead of meeting.

A bundle is one msgpack map (see docs/cli.md, "Bundle format")::

    {"format": "pact-bundle", "version": 2, "contract": "<contract id>",
     "exported_by": "<hex key>", "exported_at": <ms>,
     "changes": [[<32-byte change hash>, <change bytes>, <64-byte Ed25519 signature or nil>], ...],
     "files": [[<32-byte SHA-256>, <bytes>], ...]}      (optional: the contract's attached files)

Importing admits the changes exactly as if a peer had sent them: a bundle proves nothing by itself.
The hash beside each change only says which signature belongs to it; admission computes every hash
from the change bytes, so a wrong hash leaves its change unsigned and the bundle refused. A nil
signature is a change the exporting copy holds as vouched for by a later signed change of the same
author (see ``signing.vouching``); that later change travels in the same bundle. Version 1 bundles
(every signature present) are still read. Attached files are checked before any change is admitted
and stored only if the contract names them (``sync.files``); readers without attachments ignore them.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import msgpack

from pactclient.errors import FormatError
from pactclient.files import read_bounded
from pactclient.store.workspace import Received, Workspace
from pactclient.sync import files as attached

FORMAT = "pact-bundle"
VERSION = 2
READABLE_VERSIONS = (1, 2)
MAX_BUNDLE_BYTES = 256 * 1024 * 1024


def encode(workspace: Workspace, contract_id: str) -> bytes:
    changes = [[h, data, sig] for h, data, sig in workspace.signed_changes(contract_id)]
    obj = {
        "format": FORMAT,
        "version": VERSION,
        "contract": contract_id,
        "exported_by": workspace.identity.key_hex,
        "exported_at": workspace.clock(),
        "changes": changes,
    }
    files = attached.bundle_files(workspace, contract_id)
    if files:
        obj["files"] = files
    return msgpack.packb(obj, use_bin_type=True)


def write(workspace: Workspace, contract_id: str, path: Path) -> int:
    data = encode(workspace, contract_id)
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return workspace.store.change_count(contract_id)


def decode(data: bytes) -> tuple[str, list[bytes], dict[bytes, bytes]]:
    """(contract id, change blobs, signatures by hash) of a bundle; FormatError if it is not one."""
    return _decode(data)[:3]


def _decode(data: bytes) -> tuple[str, list[bytes], dict[bytes, bytes], dict[str, bytes]]:
    """``decode`` and the bundle's attached files (each checked against its SHA-256)."""
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=True, max_bin_len=MAX_BUNDLE_BYTES)
    except Exception as exc:  # msgpack raises several unrelated exception types
        raise FormatError(f"not a pact bundle (undecodable: {exc.__class__.__name__})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise FormatError("not a pact bundle")
    if obj.get("version") not in READABLE_VERSIONS:
        raise FormatError(f"unsupported bundle version {obj.get('version')!r}")
    cid, changes = obj.get("contract"), obj.get("changes")
    if not isinstance(cid, str) or not cid or not isinstance(changes, list):
        raise FormatError("malformed bundle: contract or changes missing")
    blobs, sigs = [], {}
    for entry in changes:
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], bytes)
                and isinstance(entry[1], bytes) and (isinstance(entry[2], bytes) or entry[2] is None)):
            raise FormatError("malformed bundle: each change must be [hash, bytes, signature or nil]")
        if entry[2] is not None:
            sigs[entry[0]] = entry[2]
        blobs.append(entry[1])
    return cid, blobs, sigs, attached.checked_bundle_files(obj.get("files"))


def read(workspace: Workspace, path: Path) -> Received:
    cid, blobs, signatures, files = _decode(read_bounded(path, MAX_BUNDLE_BYTES, "a bundle"))
    received = workspace.receive(cid, blobs, signatures)
    return dataclasses.replace(received, files=attached.store_bundle_files(workspace, cid, files))
