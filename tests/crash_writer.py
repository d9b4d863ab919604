"""Writer for test_crash.py: commits notes to one contract until killed.

    python crash_writer.py HOME CONTRACT_ID FIRST_INDEX
    python crash_writer.py --fork-server HOME CONTRACT_ID

The second form imports everything once, then for each ``go FIRST_INDEX`` line on stdin forks a writer
(printing ``ready PID`` from it) and, once that writer died (the test SIGKILLs it), prints
``exit PID STATUS``. Forking a warm process takes milliseconds where starting Python and the bindings
takes most of a second: that is what makes hundreds of kills affordable in CI.

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


def fork_server(home: Path, contract_id: str) -> None:
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd != "go":
            break
        pid = os.fork()
        if pid == 0:
            try:
                write(home, contract_id, int(arg), announce_pid=True)
            finally:
                os._exit(1)  # never reached but by an error: the writer runs until killed
        _, status = os.waitpid(pid, 0)
        say(f"exit {pid} {status}")


def main() -> None:
    if sys.argv[1] == "--fork-server":
        setup_compaction()
        return fork_server(Path(sys.argv[2]), sys.argv[3])
    setup_compaction()
    write(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))


def setup_compaction() -> None:
    if os.environ.get("PACT_SNAPSHOT_EVERY"):
        workspace_mod.SNAPSHOT_EVERY = int(os.environ["PACT_SNAPSHOT_EVERY"])
    compact = workspace_mod.Workspace._compact

    def announced_compact(self, *args, **kwargs):
        say("compacting")
        compact(self, *args, **kwargs)
        say("compacted")

    workspace_mod.Workspace._compact = announced_compact


def write(home: Path, contract_id: str, first: int, announce_pid: bool = False) -> None:
    ws = workspace_mod.Workspace.open(home)
    ws.document(contract_id)
    say(f"ready {os.getpid()}" if announce_pid else "ready")
    i = first
    while True:
        ws.act(contract_id, actions.note, f"n{i}")
        say(f"ack n{i}")
        i += 1


if __name__ == "__main__":
    main()
