"""Writer for test_crash.py: commits notes to one contract until killed.

    python crash_writer.py HOME CONTRACT_ID FIRST_INDEX

Prints ``ready`` once the store is open, then ``ack n<i>`` (flushed) after each ``act`` returns, so
every acknowledged note was durably committed before the line left the process. Prints
``compacting`` / ``compacted`` around each snapshot write, so the test can kill during compaction.
``PACT_SNAPSHOT_EVERY`` lowers the compaction interval.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pactclient.model import actions
from pactclient.store import workspace as workspace_mod


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    home, contract_id, first = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    if os.environ.get("PACT_SNAPSHOT_EVERY"):
        workspace_mod.SNAPSHOT_EVERY = int(os.environ["PACT_SNAPSHOT_EVERY"])
    compact = workspace_mod.Workspace._compact

    def announced_compact(self, *args, **kwargs):
        say("compacting")
        compact(self, *args, **kwargs)
        say("compacted")

    workspace_mod.Workspace._compact = announced_compact
    ws = workspace_mod.Workspace.open(home)
    ws.document(contract_id)
    say("ready")
    i = first
    while True:
        ws.act(contract_id, actions.note, f"n{i}")
        say(f"ack n{i}")
        i += 1


if __name__ == "__main__":
    main()
