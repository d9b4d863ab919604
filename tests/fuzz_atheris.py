"""Coverage-guided fuzzing of the peer protocol with atheris (a long run, not part of CI).

    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python tests/fuzz_atheris.py -atheris_runs=200000      # or -max_total_time=600

Each input is fed, as raw bytes after an honest hello and offer, to Alice's side of a connection from
Bob (a party: only the frames can hurt). The run fails on any exception out of ``receive_data``, on a
connection closed without the protocol's ``error`` frame, and on any change to Alice's store (checked
every 1,000 inputs and at the end). The same world as tests/test_hostile_frames.py.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import msgpack  # noqa: F401

    from pactclient.sync import connection  # noqa: F401
    from pactclient.sync import frames  # noqa: F401

sys.path.insert(0, str(Path(__file__).parent))
from conftest import new_party, shared_contract  # noqa: E402
from hostile import build_world, frames_of  # noqa: E402
from pactclient.sync import events as ev  # noqa: E402
from pactclient.sync.frames import encode_frame  # noqa: E402

base = Path(tempfile.mkdtemp(prefix="pact-atheris-"))
_, wa = new_party(base / "alice", "Alice")
_, wb = new_party(base / "bob", "Bob", "BT")
world = build_world(wa, wb, shared_contract)
baseline = world.state()
runs = [0]
started = time.monotonic()


def one_input(data: bytes) -> None:
    conn = world.connection(shared=True)
    conn.receive_data(data)
    sent = frames_of(conn.data_to_send())
    refused = [e for e in conn.events() if isinstance(e, ev.PeerRefused)]
    if refused and not (sent and sent[-1].get("t") == "error"):
        raise AssertionError("refused without the protocol's error frame")
    runs[0] += 1
    if runs[0] % 1000 == 0:
        if world.state() != baseline:
            raise AssertionError("the store changed")
        print(f"#{runs[0]} inputs, {time.monotonic() - started:.0f} s, store unchanged", flush=True)


def seeded(argv: list[str]) -> list[str]:
    """Start from the honest frames (one per file, and each followed by the next): without them the
    fuzzer spends its time discovering the length prefix and msgpack. A corpus directory given on the
    command line is used instead."""
    if any(not a.startswith("-") for a in argv[1:]):
        return argv
    seeds = base / "corpus"
    seeds.mkdir()
    encoded = [encode_frame(f) for f in world.honest + [world.foreign_doc]]
    for i, data in enumerate(encoded):
        (seeds / f"frame-{i}").write_bytes(data)
        (seeds / f"pair-{i}").write_bytes(data + encoded[(i + 1) % len(encoded)])
    return argv + [str(seeds)]


if __name__ == "__main__":
    atheris.Setup(seeded(sys.argv), one_input)
    try:
        atheris.Fuzz()
    finally:
        assert world.state() == baseline
