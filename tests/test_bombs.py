"""Files and frames of a few hundred bytes declaring millions of operations (issue 11, item 5).

Each bomb is written by hand (``tests/bombs.py``) and signed with a real party's key: a change whose
run-length columns declare 3 or 30 million list inserts, the same change deflated (chunk type 2), a
change whose deflated body inflates past 32 MiB, and a saved document declaring 30 million ops. They
are offered the ways outside bytes reach this device — `pact bundle import` and `pact verify` run as
users run them (in a subprocess, under an address-space limit, their peak RSS measured), and a pinned
party's ``sync`` and ``doc`` frames to the sans-IO protocol — and each must be refused at once, with
the limit named, and nothing stored. Honest large inputs still pass.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest
from automerge.core import ROOT, Document

from pactclient.errors import FormatError, StoreError
from pactclient.evidence import fileformat
from pactclient.signing import chunk_limits
from pactclient.signing.changes import sign_change
from pactclient.sync import bundle
from pactclient.sync import events as ev
from pactclient.sync.connection import PeerConnection
from pactclient.sync.frames import encode_frame

from bombs import (base_document, busy_change, change_hash, honest_list_change, honest_list_document, list_change, list_document,
                   value_change)
from conftest import copy_state, new_party, shared_contract
from hostile import hello, sync_frame, sync_message

PACT = [sys.executable, "-m", "pactclient"]
ADDRESS_SPACE = 1 << 30  # RLIMIT_AS of the child: Python, the bindings and their threads fit in it
PEAK_RSS = 200 << 20  # what a refused bomb may cost at most, measured
HANG_GUARD_S = 60  # only a guard against a hang; the measured times are printed
FIGURES: list[str] = []


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """Alice and Bob, parties of one contract, and Bob's bombs: each keeps the header of a real change
    of his (his key, his next sequence number, his heads) and is signed with his key where it travels
    with a signature. Nothing a test does here may change Alice's copy: every bomb is refused."""
    base = tmp_path_factory.mktemp("bombs")
    _, wa = new_party(base / "alice", "Alice")
    _, wb = new_party(base / "bob", "Bob", "BT")
    cid = shared_contract([wa, wb])
    fork = wb.document(cid).fork()
    fork.set_actor(wb.identity.public_key)
    template = honest_list_change(fork, 1)
    yield wa, wb, cid, _bombs(wb.identity.public_key, wb.document(cid).get_heads(), template)
    wa.close()
    wb.close()


def _bombs(actor: bytes, heads: list[bytes], template: bytes) -> dict[str, bytes]:
    return {
        "change declaring 3,000,000 inserts": list_change(template, 3_000_000),
        "change declaring 30,000,000 inserts": list_change(template, 30_000_000),
        "deflated change declaring 30,000,000 inserts": list_change(template, 30_000_000, deflate=True),
        "change inflating to 48 MiB": value_change(template, 48 << 20),
        "document declaring 3,000,000 ops": list_document(actor, heads, 3_000_000),
        "document declaring 30,000,000 ops": list_document(actor, heads, 30_000_000),
        "document with deflated columns declaring 30,000,000 ops": list_document(actor, heads, 30_000_000,
                                                                                  deflate=True),
    }


# -- the builders make real bombs ------------------------------------------------------------------


def test_the_bomb_builders_write_what_the_bindings_write():
    """At a small size the hand-made bytes are the bindings' own (or load into exactly what they
    declare): at 30 million they are bombs, not malformed bytes the bindings would refuse anyway."""
    actor = bytes(range(32))
    for n in (3, 1000):
        doc = base_document(actor)
        template = honest_list_change(base_document(actor), 1)  # same author, deps, seq and start op
        real = honest_list_change(base_document(actor), n)
        assert list_change(template, n) == real
        honest = honest_list_document(actor, n)
        assert list_document(actor, honest.get_heads(), n) == honest.save()
        base = doc.get_changes([])[0].bytes
        for data in (base + list_change(template, n, deflate=True),
                     list_document(actor, honest.get_heads(), n, deflate=True)):
            loaded = Document.load(data)
            assert loaded.length(loaded.get(ROOT, "bomb")[1]) == n
        loaded = Document.load(base + value_change(template, 1000 * n))
        assert len(loaded.get(ROOT, "blob")[0][1]) == 1000 * n  # ((type, value), op id)


def test_each_bomb_is_refused_by_the_check_with_the_limit_named(case):
    for name, data in case[3].items():
        t = time.perf_counter()
        with pytest.raises(FormatError) as caught:
            chunk_limits.check_declared([data], "the bundle")
        elapsed = time.perf_counter() - t
        message = str(caught.value)
        assert "\n" not in message and "limit" in message, message
        assert elapsed < 5, f"{name}: {elapsed:.2f} s"  # a hang guard; figures below
        FIGURES.append(f"check: {name}, {len(data):,} bytes: {elapsed * 1000:.1f} ms: {message}")


# -- through pact, as users run it ----------------------------------------------------------------


def _limited(argv: list[str], out: Path) -> tuple[int, str, float, int]:
    """Run ``argv`` under RLIMIT_AS; (exit code, output, seconds, peak RSS in bytes) of that child alone
    (``wait4`` reports the rusage of the one process it reaps)."""
    env = {k: v for k, v in os.environ.items() if k != "PACT_HOME"}
    env["RUST_BACKTRACE"] = "0"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    with open(out, "wb") as sink:
        t = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env, preexec_fn=limit)
        deadline = t + HANG_GUARD_S
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                raise AssertionError(f"{argv} still running after {HANG_GUARD_S} s")
            time.sleep(0.005)
        elapsed = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    return proc.returncode, out.read_text(errors="replace"), elapsed, usage.ru_maxrss * 1024


def _bundle(wb, cid: str, data: bytes) -> bytes:
    digest = change_hash(data) if data[8] in (1, 2) else os.urandom(32)
    return msgpack.packb({"format": "pact-bundle", "version": 2, "contract": cid,
                          "exported_by": wb.identity.key_hex, "exported_at": 1,
                          "changes": [[digest, data, sign_change(wb.identity, digest)]]}, use_bin_type=True)


def test_bomb_bundles_are_refused_by_pact_bundle_import(case, tmp_path):
    wa, wb, cid, bombs = case
    before = copy_state(wa, cid)
    junk = tmp_path / "junk.bundle"
    junk.write_bytes(b"junk")
    code, output, seconds, peak = _limited([*PACT, "--home", str(wa.home), "bundle", "import", str(junk)],
                                           tmp_path / "out.txt")
    assert code == 1 and "not a pact bundle" in output, output
    FIGURES.append(f"pact bundle import of a 4-byte non-bundle (the command's own start-up, for scale): exit {code} "
                   f"in {seconds:.2f} s, peak RSS {peak / 2**20:.0f} MiB")
    for i, (name, data) in enumerate(bombs.items()):
        path = tmp_path / f"bomb{i}.bundle"
        path.write_bytes(_bundle(wb, cid, data))
        code, output, seconds, peak = _limited([*PACT, "--home", str(wa.home), "bundle", "import", str(path)],
                                               tmp_path / "out.txt")
        lines = output.strip().splitlines()
        assert code == 1 and len(lines) == 1 and "limit" in lines[0], (name, code, output[-2000:])
        assert peak < PEAK_RSS, f"{name}: peak RSS {peak / 2**20:.0f} MiB"
        FIGURES.append(f"pact bundle import: {name}, bundle of {path.stat().st_size:,} bytes: exit {code} in "
                       f"{seconds:.2f} s, peak RSS {peak / 2**20:.0f} MiB: {lines[0]}")
        wa.forget_cached(cid)
        assert copy_state(wa, cid) == before


def _evidence(wb, cid: str, document: bytes) -> bytes:
    body = fileformat.canonical({
        "format": "pact-evidence", "version": 1, "contract": cid, "exported_at": 1,
        "exported_by": wb.identity.public_key, "document": document, "heads": [], "signatures": [],
        "parties": [], "agreements": [],
    })
    return fileformat.pack(body, wb.identity.public_key, wb.identity.sign)


def test_bomb_evidence_files_are_refused_by_pact_verify(case, tmp_path):
    _, wb, cid, bombs = case
    for i, name in enumerate(n for n in bombs if n.startswith("document")):
        path = tmp_path / f"bomb{i}.pact"
        path.write_bytes(_evidence(wb, cid, bombs[name]))
        code, output, seconds, peak = _limited([*PACT, "verify", str(path)], tmp_path / "out.txt")
        failures = [line for line in output.splitlines() if "failed:" in line]
        assert code == 1 and output.startswith("INVALID"), (name, code, output[-2000:])
        assert len(failures) == 1 and "limit" in failures[0], output
        assert peak < PEAK_RSS, f"{name}: peak RSS {peak / 2**20:.0f} MiB"
        FIGURES.append(f"pact verify: {name}, evidence file of {path.stat().st_size:,} bytes: exit {code} in "
                       f"{seconds:.2f} s, peak RSS {peak / 2**20:.0f} MiB: {failures[0].strip()}")


# -- through the sync protocol, from a pinned party ---------------------------------------------------


def _connection(wa, wb, offer: dict) -> PeerConnection:
    conn = PeerConnection(wa, wb.identity.public_key, dialer=False)
    conn.receive_data(encode_frame(hello(wb.identity.public_key))
                      + encode_frame({"t": "offer", "contracts": offer, "more": False}))
    conn.data_to_send()
    conn.events()
    return conn


def _refused(conn: PeerConnection) -> str:
    refusals = [e for e in conn.events() if isinstance(e, ev.PeerRefused)]
    sent = conn.data_to_send()
    assert conn.closed and len(refusals) == 1 and b"error" in sent, "not refused with an error frame"
    return refusals[0].reason


def test_bombs_in_sync_and_doc_frames_are_refused(case):
    wa, wb, cid, bombs = case
    before = copy_state(wa, cid)
    heads = wa.document(cid).get_heads()
    contracts = list(wa.store.contract_ids())
    for name, data in bombs.items():
        sigs = {change_hash(data): sign_change(wb.identity, change_hash(data))} if data[8] in (1, 2) else {}
        for wire in ("z+s", "m+sigs"):
            conn = _connection(wa, wb, {cid: heads})
            frame = sync_frame(cid, sync_message(heads, [], [data]), sigs, wire=wire)
            t = time.perf_counter()
            conn.receive_data(encode_frame(frame))
            elapsed = time.perf_counter() - t
            reason = _refused(conn)
            assert "limit" in reason, reason
            FIGURES.append(f"sync frame ({wire}): {name}: refused in {elapsed * 1000:.1f} ms: {reason}")
        assert copy_state(wa, cid) == before
    unknown = "f" * 32
    for name, data in bombs.items():
        if not name.startswith("document"):
            continue
        conn = _connection(wa, wb, {unknown: []})
        t = time.perf_counter()
        conn.receive_data(encode_frame({"t": "doc", "c": unknown, "n": 7, "data": data, "sigs": []}))
        elapsed = time.perf_counter() - t
        reason = _refused(conn)
        assert "limit" in reason, reason
        FIGURES.append(f"doc frame: {name}: refused in {elapsed * 1000:.1f} ms: {reason}")
    assert list(wa.store.contract_ids()) == contracts
    assert copy_state(wa, cid) == before


def test_a_bomb_row_written_into_the_store_is_refused_on_opening(tmp_path, make_party):
    """A tampered disk: a party's signed bomb added as the newest row of Alice's store. Opening the
    contract (in a subprocess under the memory limit, as `pact show`) fails with one line, and fast."""
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Bob", "BT")
    cid = shared_contract([wa, wb])
    fork = wb.document(cid).fork()
    fork.set_actor(wb.identity.public_key)
    bomb = list_change(honest_list_change(fork, 1), 30_000_000)
    digest = change_hash(bomb)
    with wa.store.write():
        wa.store.add_changes(cid, [(digest, wb.identity.public_key, 99, bomb, sign_change(wb.identity, digest))], 1)
    wa.forget_cached(cid)
    with pytest.raises(StoreError, match="limit is 100,000 per change"):
        wa.document(cid)
    code, output, seconds, peak = _limited([*PACT, "--home", str(wa.home), "show", cid], tmp_path / "out.txt")
    lines = output.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "the store was altered" in lines[0], output[-2000:]
    assert peak < PEAK_RSS
    FIGURES.append(f"pact show of a store holding a bomb row: exit {code} in {seconds:.2f} s, "
                   f"peak RSS {peak / 2**20:.0f} MiB: {lines[0]}")


# -- honest large inputs still pass ------------------------------------------------------------------


def test_honest_large_inputs_pass(tmp_path, make_party):
    """A 2,000-change contract's bundle imports whole (its check timed against the import), a saved
    document of 100,000 ops and a change of 5,000 ops are within the bounds."""
    from pactclient import catalog
    from pactclient.model import actions

    _, wa = make_party(tmp_path, "Alice")
    _, wc = make_party(tmp_path, "Colin", "Openreach")
    cid = wa.create("Mail re-downloads", catalog.load("broadband-fault"), "customer")
    wa.act(cid, actions.add_party, wc.identity.key_hex, "Colin", "supplier", "Openreach")
    wa.defer_upkeep = True
    for i in range(2000 - wa.store.change_count(cid)):
        wa.act(cid, actions.note, f"note {i}")
    wa.defer_upkeep = False
    path = tmp_path / "all.bundle"
    bundle.write(wa, cid, path)
    _, blobs, _ = bundle.decode(path.read_bytes())
    t = time.perf_counter()
    declared = chunk_limits.check_declared(blobs, "the bundle")
    check_s = time.perf_counter() - t
    t = time.perf_counter()
    got = bundle.read(wc, path)
    import_s = time.perf_counter() - t
    assert len(got.admitted) == 2000 == declared.changes
    FIGURES.append(f"honest bundle of 2,000 changes ({declared.ops:,} ops): check {check_s * 1000:.0f} ms, "
                   f"import {import_s * 1000:.0f} ms (check included)")

    actor = bytes(range(32))
    big = honest_list_document(actor, 100_000)
    assert chunk_limits.check_declared([big.save()], "the document").ops == 100_002
    change = honest_list_change(base_document(actor), 5_000)
    assert chunk_limits.check_declared([change], "the change").ops == 5_001


def test_the_bounds_are_exact():
    """A batch declaring exactly the limit passes, one more is refused (a document of ``n`` inserts
    declares n + 2 ops; a change, n + 1)."""
    actor = bytes(range(32))
    template = honest_list_change(base_document(actor), 1)
    ops = chunk_limits.MAX_BATCH_OPS
    assert chunk_limits.check_declared([list_document(actor, [bytes(32)], ops - 2)], "it").ops == ops
    with pytest.raises(FormatError, match=f"limit is {ops:,} per batch"):
        chunk_limits.check_declared([list_document(actor, [bytes(32)], ops - 1)], "it")
    per_change = chunk_limits.MAX_CHANGE_OPS
    assert chunk_limits.check_declared([list_change(template, per_change - 1)], "it").ops == per_change
    with pytest.raises(FormatError, match=f"limit is {per_change:,} per change"):
        chunk_limits.check_declared([list_change(template, per_change)], "it")
    three = [list_change(template, per_change - 1)] * 3  # 300,000 ops in three changes: the batch's limit
    assert chunk_limits.check_declared(three, "it").ops == ops
    with pytest.raises(FormatError, match=f"limit is {ops:,} per batch"):
        chunk_limits.check_declared(three + [list_change(template, 1)], "it")


def test_a_change_that_is_slow_to_measure_is_refused():
    """Deflated columns of one-value runs: each within the op bounds, but measuring them all would
    take 3 million steps (seconds). The walk stops at its own bound."""
    template = honest_list_change(base_document(bytes(range(32))), 1)
    data = busy_change(template, 30, 99_999)
    t = time.perf_counter()
    with pytest.raises(FormatError, match=f"over {chunk_limits.MAX_BATCH_STEPS:,} steps"):
        chunk_limits.check_declared([data], "the bundle")
    elapsed = time.perf_counter() - t
    assert elapsed < 20  # a hang guard
    FIGURES.append(f"check: a {len(data):,}-byte change of 30 columns of 99,999 runs: refused in {elapsed:.2f} s")


def test_declared_sizes_are_compared_with_the_bytes_present():
    """A chunk or column declaring more bytes than follow, a stream that is not chunks, an unknown
    chunk type: refused as such, before anything reads past the end."""
    doc = honest_list_document(bytes(range(32)), 3)
    data = doc.get_changes([])[-1].bytes
    cases = {
        "declaring": data[:8] + data[8:9] + b"\xff\xff\x03" + data[10:],  # a chunk length far past the end
        "not a sequence": b"junk" + data,
        "unknown type": data[:8] + b"\x05" + data[9:],
        "remain": data[:-3],  # truncated
    }
    for expected, bad in cases.items():
        with pytest.raises(FormatError) as caught:
            chunk_limits.check_declared([bad], "the bundle")
        assert expected in str(caught.value), (expected, caught.value)


def teardown_module(module) -> None:
    if FIGURES:
        print("\n" + "\n".join(FIGURES))
