"""On receipt: every new ``attachment`` timeline entry is well formed (``model.attachments.check_entry``).

Permissions already hold an entry to the timeline's own rules (appended, naming its writer, each field
of the type the model writes, never changed later): so every field of an entry is written by the
change that makes it, and this check reads them from that change's operations alone. A hash that is
not a SHA-256, a size over the limit, or a name that is a path would otherwise be shown, fetched or
saved by every other copy.
"""

from __future__ import annotations

from pactclient.model.attachments import ENTRY_KIND, check_entry
from pactclient.signing.change_ops import SET, value_of
from pactclient.signing.proposal_checks import Refusal

ENTRY_PATH = ("timeline", "[]")


def check_new_entries(ops, made: dict) -> Refusal | None:
    """``ops`` of one change; ``made`` its new objects -> their paths (as permissions found them)."""
    entries: dict = {}
    for op in ops:
        if op.action == SET and op.key is not None and made.get(op.obj) == ENTRY_PATH:
            entries.setdefault(op.obj, {})[op.key] = value_of(op)
    for fields in entries.values():
        if fields.get("kind") == ENTRY_KIND:
            problem = check_entry(fields)
            if problem is not None:
                return Refusal("attachment", f"it attaches a file but {problem}")
    return None
