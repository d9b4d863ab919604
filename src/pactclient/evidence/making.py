"""Making an evidence file as a party hands it to someone: the steps `pact export` and the TUI share.

Only a party (or a device certified by one) can give evidence that verifies, so anyone else is refused
before anything is read; what waits to be countersigned is countersigned first; the file is checked
as `pact verify` would check it, and refused rather than handed out if it would not verify.
"""

from __future__ import annotations

from typing import Callable

from pactclient.errors import RefusedOperation
from pactclient.evidence.export import encode
from pactclient.evidence.verify import Verdict, verify_bytes
from pactclient.store.workspace import Workspace

Progress = Callable[[int, int], None]


def check_exporter_is_party(workspace: Workspace, contract_id: str) -> None:
    view = workspace.view(contract_id)
    if view.party_by_key(workspace.identity.party_key_hex) is None:
        raise RefusedOperation(f"this home is not a party of {view.title!r} ({contract_id[:8]}): evidence exported "
                               "from here would not verify; ask one of its parties to export it")


def make_evidence(workspace: Workspace, contract_id: str, progress: Progress | None = None, stamp=None,
                  with_files: bool = False) -> tuple[int, bytes, Verdict]:
    """(agreed versions countersigned now, the file's bytes, their verdict)."""
    check_exporter_is_party(workspace, contract_id)
    countersigned = workspace.countersign(contract_id)
    data = encode(workspace, contract_id, progress, stamp=stamp, with_files=with_files)
    verdict = verify_bytes(data)
    if not verdict.valid:  # never hand anyone evidence that does not verify, nor say it was written
        raise RefusedOperation("the evidence would not verify, so nothing was written: " + "; ".join(verdict.failures))
    return countersigned, data, verdict
