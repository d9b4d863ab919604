"""Crash safety: a writer killed with SIGKILL at any moment — mid-change or mid-compaction — loses nothing
it acknowledged, and the store always reopens and verifies.

The writer (``crash_writer.py``) prints ``ack n<i>`` only after ``Workspace.act`` returned, i.e. after the
SQLite transaction committed. Kills come after random delays, and some right after the writer
announces a compaction (snapshots every few changes here instead of every 256).
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from pactclient import catalog
from pactclient.store import Workspace

from conftest import new_party

WRITER = Path(__file__).with_name("crash_writer.py")
KILLS = int(os.environ.get("PACT_CRASH_KILLS", "24"))
SNAPSHOT_EVERY = 16
START_TIMEOUT = 30.0  # seconds for a writer to open the store; far above what it needs
BUDGET = 60.0  # seconds for the whole test: stop killing (but still check) once spent


def _lines(stream, out: queue.Queue) -> None:
    for line in stream:
        out.put(line.strip())
    out.put(None)


def _run_and_kill(home: Path, cid: str, first: int, rng: random.Random, at_compaction: bool) -> tuple[list[str], bool]:
    """Start a writer, kill it, return (acknowledged notes, whether the kill fell inside a compaction)."""
    env = dict(os.environ, PACT_SNAPSHOT_EVERY=str(SNAPSHOT_EVERY))
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, str(WRITER), str(home), cid, str(first)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "ready" not in seen:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            assert line is not None, f"writer died before it was ready: {proc.stderr.read()}"
            seen.append(line)
        if at_compaction:
            # Kill on the first compaction, a random few hundred microseconds in.
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                assert line is not None, f"writer died: {proc.stderr.read()}"
                seen.append(line)
                if line == "compacting":
                    time.sleep(rng.uniform(0, 0.002))
                    break
        else:
            time.sleep(rng.uniform(0.0, 0.4))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=START_TIMEOUT)
        reader.join(timeout=START_TIMEOUT)
        proc.stderr.close()
    while True:
        line = lines.get_nowait() if not lines.empty() else None
        if line is None:
            break
        seen.append(line)
    assert proc.returncode == -signal.SIGKILL, f"writer ended by itself ({proc.returncode})"
    acked = [line.split()[1] for line in seen if line.startswith("ack ")]
    states = [line for line in seen if line in ("compacting", "compacted")]
    return acked, bool(states) and states[-1] == "compacting"


def test_acknowledged_changes_survive_sigkill(tmp_path):
    _, ws = new_party(tmp_path / "home", "Alice")
    cid = ws.create("Crash test", catalog.load("broadband-fault"), "customer")
    ws.close()
    rng = random.Random(20260105)
    acked_all: list[str] = []
    kills = in_compaction = 0
    started = time.monotonic()
    next_index = 0
    while kills < KILLS and time.monotonic() - started < BUDGET:
        acked, during = _run_and_kill(tmp_path / "home", cid, next_index, rng, at_compaction=kills % 3 == 2)
        kills += 1
        in_compaction += during
        acked_all.extend(acked)
        next_index += 100_000  # each run writes its own range of notes, so none is confused with another
        # Reopen as a user would: the store opens, the document loads and re-verifies every signature.
        reopened = Workspace.open(tmp_path / "home")
        try:
            notes = [e.text for e in reopened.view(cid).timeline if e.kind == "message"]
            stored = reopened.store.change_count(cid)
        finally:
            reopened.close()
        present = set(notes)
        lost = [n for n in acked_all if n not in present]
        assert not lost, f"acknowledged notes lost after kill {kills}: {lost[:5]}"
        assert len(notes) == len(present), "a note was recorded twice"
        # One writer: notes appear in the order they were acknowledged.
        order = [n for n in notes if n in set(acked_all)]
        assert order == acked_all
        assert stored == len(notes) + 1  # the creating change plus one change per note
    elapsed = time.monotonic() - started
    print(f"\ncrash test: {kills} kills ({in_compaction} during compaction), {len(acked_all)} acknowledged "
          f"changes, {len(present)} stored, lost = 0, {elapsed:.1f} s")
    assert kills >= min(KILLS, 20)
    assert len(acked_all) > 0
