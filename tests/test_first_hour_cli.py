"""The first hour with the `pact` command (tracker issue 13): nothing crashes, nothing misleads.

Each test is one thing a new user met: a huge or oddly written amount, a made-up currency, an
evidence file that would not verify, a file overwritten without asking, a mistyped deadline, a
read-only home reported as a corrupt one. Commands run in-process through click's CliRunner (fast),
except where another user's permissions are needed (a subprocess).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from automerge.core import Document
from click.testing import CliRunner

from pactclient import catalog
from pactclient.cli import main
from pactclient.model import actions
from pactclient.model.actions import Actor, view_of

HOUR = 3600 * 1000
DAY = 24 * HOUR


def pact(home: Path, *args: str, ok: bool = True):
    result = CliRunner().invoke(main, ["--home", str(home), *args], env={"PACT_HOME": None})
    if ok and result.exit_code != 0:
        raise AssertionError(f"pact {' '.join(args)} failed ({result.exit_code}): {result.stderr}{result.exception!r}")
    return result


def refused(home: Path, *args: str) -> str:
    """Run a command that must be refused: non-zero, one line on stderr, no traceback. Returns the line."""
    result = pact(home, *args, ok=False)
    assert result.exit_code != 0, f"pact {' '.join(args)} was not refused: {result.stdout}"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pact: "), result.stderr
    assert "Traceback" not in result.output + result.stderr
    return lines[0]


@pytest.fixture
def money_home(tmp_path):
    """Alice's home with a blank contract (only she has a key) and a money item 'refund' in GBP."""
    home = tmp_path / "alice"
    pact(home, "init", "--name", "Alice")
    cid = json.loads(pact(home, "new", "Refund", "--json").stdout)["id"][:8]
    pact(home, "propose", cid, "add-item", "refund", "--kind", "money", "--owner", "customer", "--currency", "GBP")
    return home, cid


def set_amount(home, cid, amount, *extra):
    return ("item", "set", cid, "refund", "--amount", amount, "--owed-by", "supplier", "--owed-to", "customer", *extra)


def refund_amount(home, cid):
    return next(i for i in json.loads(pact(home, "show", cid, "--json", "--no-changes").stdout)["items"] if i["id"] == "refund")


# -- 3 and 4: amounts --------------------------------------------------------------------------------


@pytest.mark.parametrize("amount, words", [
    ("1000000000000000000000", "larger than an amount may be"),
    ("92233720368547758.08", "larger than an amount may be"),
    ("12,50", "use a point for decimals: 12.50"),
    ("1,2,3", "a comma only separates thousands"),
    ("1e3", "write it out in digits"),
    ("$12", "without a currency sign"),
    ("nan", "is not a number"),
    ("inf", "is not a number"),
    ("-5", "zero or positive"),
])
def test_a_mistyped_or_huge_amount_is_refused_in_one_line_and_nothing_is_set(money_home, amount, words):
    home, cid = money_home
    line = refused(home, *set_amount(home, cid, amount))
    assert words in line
    assert "Error" not in line  # no exception class names
    assert refund_amount(home, cid).get("amount_minor") is None


@pytest.mark.parametrize("amount, minor", [("1,250.00", 125000), ("£12.34", 1234), ("12.5", 1250), ("0", 0)])
def test_amounts_written_the_usual_ways_are_read_as_meant(money_home, amount, minor):
    home, cid = money_home
    pact(home, *set_amount(home, cid, amount))
    assert refund_amount(home, cid)["amount_minor"] == minor


# -- 5: currencies -----------------------------------------------------------------------------------


def test_only_iso_currencies_and_an_items_currency_does_not_change(money_home):
    home, cid = money_home
    assert "not an ISO 4217 currency code" in refused(
        home, "propose", cid, "add-item", "fee", "--kind", "money", "--owner", "customer", "--currency", "XYZ")
    pact(home, *set_amount(home, cid, "12.50"))
    line = refused(home, *set_amount(home, cid, "12.50", "--currency", "JPY"))
    assert "in GBP" in line and "cannot be changed" in line
    assert "not an ISO 4217" in refused(home, *set_amount(home, cid, "1", "--currency", "XYZ"))
    money = refund_amount(home, cid)
    assert (money["amount_minor"], money["currency"]) == (1250, "GBP")
    pact(home, *set_amount(home, cid, "13", "--currency", "gbp"))  # its own currency, any case: fine


# -- 6: evidence from a home that is not a party ----------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True])
def test_export_from_a_home_that_is_not_a_party_refuses_and_writes_nothing(money_home, tmp_path, as_json):
    home, cid = money_home
    pact(home, "bundle", "export", cid, "-o", str(tmp_path / "case.bundle"))
    bob = tmp_path / "bob"
    pact(bob, "init", "--name", "Bob")
    pact(bob, "bundle", "import", str(tmp_path / "case.bundle"))
    out = tmp_path / "evidence.pact"
    line = refused(bob, "export", cid, "-o", str(out), *(["--json"] if as_json else []))
    assert "not a party" in line
    assert not out.exists()


# -- 7: no silent overwrite --------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("bundle", "export"), ("export",)])
def test_exports_do_not_overwrite_an_existing_file_without_force(money_home, tmp_path, command):
    home, cid = money_home
    target = tmp_path / "thesis.docx"
    target.write_bytes(b"years of work")
    assert "already exists" in refused(home, *command, cid, "-o", str(target))
    assert target.read_bytes() == b"years of work"
    pact(home, *command, cid, "-o", str(target), "--force")
    assert target.read_bytes() != b"years of work"


# -- 9: deadlines ------------------------------------------------------------------------------------


@pytest.mark.parametrize("when, words", [("2001-01-01", "in the past"), ("3000d", "more than two years ahead")])
def test_a_deadline_in_the_past_or_years_ahead_needs_force(money_home, when, words):
    home, cid = money_home
    assert words in refused(home, "activity", "add", cid, "Call back", "--assignee", "customer", "--due", when)
    assert "--force" in refused(home, "propose", cid, "add-activity", "Call", "--assignee", "customer", "--due", when)
    assert json.loads(pact(home, "show", cid, "--json", "--no-changes").stdout)["activities"] == []
    pact(home, "activity", "add", cid, "Call back", "--assignee", "customer", "--due", when, "--force")
    assert len(json.loads(pact(home, "show", cid, "--json", "--no-changes").stdout)["activities"]) == 1


def test_a_deadline_beyond_any_date_is_refused_even_with_force(money_home):
    home, cid = money_home
    line = refused(home, "activity", "add", cid, "x", "--assignee", "customer", "--due", "99999999999d", "--force")
    assert "not a time pact can record" in line


def test_moving_a_prerequisite_later_moves_what_depends_on_it_and_nobody_is_scored_for_it():
    """fix (BT's, day 7) is moved to day 11, past confirm (Alice's, day 10, which depends on fix): on
    day 10.5 Alice has broken nothing, since she could not confirm a fix not yet due."""
    a, b, t0 = "a" * 64, "b" * 64, 1_800_000_000_000
    doc = Document(bytes.fromhex(a))
    actions.create_contract(doc, Actor(a, t0), "cid1", "Mail", catalog.load("broadband-fault"), "customer", "Alice", "")
    actions.add_party(doc, Actor(a, t0), b, "Priya", "supplier", "BT")
    doc.set_actor(bytes.fromhex(b))
    actions.accept_terms(doc, Actor(b, t0))
    proposed = actions.propose(doc, Actor(b, t0 + HOUR), "change_due", {"id": "fix", "due": t0 + 11 * DAY})
    doc.set_actor(bytes.fromhex(a))
    actions.answer(doc, Actor(a, t0 + 2 * HOUR), proposed.ref, True)

    view = view_of(doc, t0 + 10 * DAY + 12 * HOUR)
    confirm = view.activities["confirm"]
    assert confirm.agreed_due == t0 + 10 * DAY and confirm.due == t0 + 11 * DAY
    scores = {s.party: s for s in view.scorecard().per_party}
    assert scores["customer"].broken == 0
    assert confirm not in view.broken_commitments()
    later = view_of(doc, t0 + 11 * DAY + HOUR)  # once the effective deadline passes, it is judged as usual
    assert {s.party: s for s in later.scorecard().per_party}["customer"].broken == 1


# -- 2: a read-only home is a permissions matter -----------------------------------------------------


def _as_another_user(home: Path, *args: str) -> subprocess.CompletedProcess:
    """Run pact as a user without write permission on ``home`` (root ignores permissions, so when
    the tests run as root the command runs as 'nobody' through setpriv)."""
    cmd = [sys.executable, "-m", "pactclient", "--home", str(home), *args]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a home unwritable")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    env = {k: v for k, v in os.environ.items() if k != "PACT_HOME"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)


def test_a_read_only_home_is_reported_as_not_writable_and_a_corrupt_one_as_corrupt(tmp_path):
    base = Path(tempfile.mkdtemp(prefix="pact-ro-"))  # outside pytest's private tmp: readable by 'nobody'
    try:
        os.chmod(base, 0o755)
        home = base / "alice"
        pact(home, "init", "--name", "Alice")
        pact(home, "new", "Refund")
        if os.geteuid() == 0:
            for path in (home, *home.iterdir()):
                os.chown(path, 65534, 65534)
        os.chmod(home, 0o500)
        result = _as_another_user(home, "list")
        assert result.returncode == 1
        assert "not writable (permissions)" in result.stderr
        assert "corrupt" not in result.stderr and "Traceback" not in result.stderr
    finally:
        os.chmod(base / "alice", 0o700)
        shutil.rmtree(base)

    broken = tmp_path / "bob"
    pact(broken, "init", "--name", "Bob")
    pact(broken, "new", "Refund")
    for extra in broken.glob("pact.db-*"):
        extra.unlink()
    (broken / "pact.db").write_bytes(b"this is not SQLite at all" * 200)
    assert "is not a pact database or is corrupt" in refused(broken, "list")


# -- 11: a damaged invite code gets one clear message ------------------------------------------------


@pytest.fixture
def invite_code(money_home):
    """A code of Alice's contract naming an address where nothing listens (nothing is ever reached)."""
    home, cid = money_home
    code = json.loads(pact(home, "invite", cid, "--address", "127.0.0.1:9", "--json").stdout)["code"]
    return home, cid, code


def test_one_damaged_character_anywhere_in_an_invite_code_says_damaged_and_nothing_else(invite_code, tmp_path):
    _home, _cid, code = invite_code
    bob = tmp_path / "bob"
    pact(bob, "init", "--name", "Bob")
    said = set()
    for i in range(len("pact-"), len(code) - 1, 6):  # every sixth character: each field of the code is hit
        damaged = code[:i] + ("a" if code[i] != "a" else "b") + code[i + 1:]
        said.add(refused(bob, "join", damaged))
    assert said == {"pact: this invite code is damaged: check that it was copied whole, or ask for a new one"}


def test_codes_made_before_checksums_are_still_read(invite_code):
    import base64

    import msgpack

    from pactclient.sync.invites import InviteCode

    _home, _cid, text = invite_code
    code = InviteCode.decode(text)
    body = msgpack.packb([1, bytes.fromhex(code.contract_id), code.inviter_key, code.invite_id, code.secret,
                          code.expires_at, list(code.addresses)], use_bin_type=True)
    assert InviteCode.decode("pact-" + base64.b32encode(body).decode().rstrip("=").lower()) == code


def test_joining_with_a_code_of_a_contract_one_is_already_a_party_of_says_so(invite_code):
    home, cid, code = invite_code
    line = refused(home, "join", code)
    assert "you are already a party of 'Refund'" in line


# -- 12 and 13b: words, not exception names ----------------------------------------------------------


def test_a_refused_connection_is_said_in_words(money_home):
    home, _cid = money_home
    result = pact(home, "sync", "127.0.0.1:9", ok=False)
    assert result.exit_code == 1
    said = result.stdout + result.stderr
    assert "connection refused" in said
    assert "Error" not in said and "Errno" not in said


def test_an_evidence_file_imported_as_a_bundle_and_a_bundle_verified_as_evidence_say_which_they_are(money_home, tmp_path):
    home, cid = money_home
    evidence, bundle = tmp_path / "case-evidence.pact", tmp_path / "case-bundle.pact"
    pact(home, "export", cid, "-o", str(evidence))
    pact(home, "bundle", "export", cid, "-o", str(bundle))
    assert "is an evidence file, not a bundle: check it with `pact verify FILE`" in refused(home, "bundle", "import", str(evidence))
    assert "is a bundle, not an evidence file: import it with `pact bundle import" in refused(home, "verify", str(bundle))
    garbage = tmp_path / "garbage.pact"
    garbage.write_bytes(b"\xc1" * 10)
    line = refused(home, "bundle", "import", str(garbage))
    assert "not a pact bundle" in line and "ExtraData" not in line and "undecodable" not in line


def test_serve_on_a_host_name_that_does_not_resolve_says_so(money_home):
    home, _cid = money_home
    line = refused(home, "serve", "--host", "nosuchhost.invalid", "--port", "0")
    assert "the host name cannot be resolved" in line and "--port" not in line


# -- 10b: the README's join instruction works with several invite files -----------------------------


def test_the_readmes_join_instruction_reads_the_newest_code_when_several_were_saved(money_home):
    import re

    from pactclient.sync.invites import InviteCode
    from pactclient.tui.screens.invite import save_code

    home, cid = money_home
    texts = [json.loads(pact(home, "invite", cid, "--address", "127.0.0.1:9", "--json").stdout)["code"] for _ in range(2)]
    for text in texts:  # as the TUI's invite dialog saves each code it shows
        save_code(home, InviteCode.decode(text), text)
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if re.search(r"pact --home /tmp/bt join \"\$\(cat ", ln))
    substitution = re.search(r"\"(\$\(cat [^)]*\))\"", line).group(1).replace("/tmp/alice", str(home))
    handed_over = subprocess.run(["bash", "-c", f'printf %s "{substitution}"'], capture_output=True, text=True).stdout
    assert InviteCode.decode(handed_over) == InviteCode.decode(texts[-1])


# -- 15 and 16: pact show says when a case is resolved, the scorecard, and --all ---------------------


def test_show_says_resolved_prints_the_scorecard_and_all_prints_every_entry(money_home):
    home, cid = money_home
    pact(home, "activity", "add", cid, "Refund the overcharge", "--assignee", "customer", "--due", "3d")
    before = pact(home, "show", cid).stdout
    assert "Resolved" not in before
    pact(home, "activity", "done", cid, "refund-the-overcharge")
    for i in range(16):
        pact(home, "note", cid, f"note number {i}")
    out = pact(home, "show", cid).stdout
    assert "Resolved: every activity is finished and no proposal is open" in out
    card = json.loads(pact(home, "show", cid, "--json", "--no-changes").stdout)["scorecard"]
    alice = card["per_party"]["customer"]
    assert "Scorecard" in out
    assert f"Alice (customer): {alice['offered']} offered" in out and "16 messages" in out
    assert "note number 0" not in out and "pact show --all prints them all" in out
    everything = pact(home, "show", cid, "--all").stdout
    assert "note number 0" in everything and "opened the contract" in everything and "--all" not in everything


# -- 17b: a bundle is exported where the user is ----------------------------------------------------


async def test_the_tui_offers_to_export_a_bundle_into_the_working_directory(money_home, tmp_path, monkeypatch):
    from pactclient.tui import create_app
    from pactclient.tui.screens.contract import ContractScreen
    from pactclient.tui.screens.form import FormScreen

    home, _cid = money_home
    here = tmp_path / "where-i-am"
    here.mkdir()
    monkeypatch.chdir(here)
    app = create_app(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ContractScreen)
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, FormScreen)
        offered = Path(app.screen.query_one("#field-path").value)
    assert offered.parent == here and offered.suffix == ".pact"


# -- 20: progress on a terminal, nothing for scripts --------------------------------------------------


def _run_with_stderr_on_a_terminal(*args: str) -> tuple[int, str, str]:
    """Run pact with stderr on a pseudo-terminal and stdout on a pipe: (exit code, stdout, what the terminal got)."""
    import pty

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "PACT_HOME"}
    env.update(TERM="xterm-256color", COLUMNS="100")
    proc = subprocess.Popen([sys.executable, "-m", "pactclient", *args], stdout=subprocess.PIPE,
                            stderr=follower, stdin=subprocess.DEVNULL, env=env)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        seen += chunk
    out = proc.stdout.read().decode()
    code = proc.wait(timeout=60)
    os.close(leader)
    return code, out, seen.decode(errors="replace")


def test_verify_shows_progress_on_a_terminal_and_nothing_in_a_pipe(money_home, tmp_path):
    home, cid = money_home
    evidence = tmp_path / "case.pact"
    pact(home, "export", cid, "-o", str(evidence))
    code, out, terminal = _run_with_stderr_on_a_terminal("verify", str(evidence))
    assert code == 0 and "VALID" in out
    assert "verifying" in terminal
    piped = subprocess.run([sys.executable, "-m", "pactclient", "verify", str(evidence)], capture_output=True, text=True,
                           timeout=60)
    assert piped.returncode == 0 and piped.stderr == ""


def test_a_damaged_identity_file_is_said_in_words(tmp_path):
    home = tmp_path / "alice"
    pact(home, "init", "--name", "Alice")
    (home / "identity.json").write_text("{half a file")
    line = refused(home, "list")
    assert line == f"pact: cannot read the identity in {home}: it is damaged, or not a file pact wrote"


def test_show_says_when_a_deadline_was_moved_by_what_it_depends_on(money_home):
    home, cid = money_home
    pact(home, "activity", "add", cid, "Visit", "--assignee", "customer", "--due", "3d")
    pact(home, "activity", "add", cid, "Report", "--assignee", "customer", "--due", "2d", "--depends-on", "visit")
    report = next(a for a in json.loads(pact(home, "show", cid, "--json", "--no-changes").stdout)["activities"]
                  if a["id"] == "report")
    visit = next(a for a in json.loads(pact(home, "show", cid, "--json", "--no-changes").stdout)["activities"]
                 if a["id"] == "visit")
    assert report["due"] == visit["due"] and report["agreed_due"] < report["due"]
    wide = CliRunner().invoke(main, ["--home", str(home), "show", cid], env={"PACT_HOME": None, "COLUMNS": "240"})
    assert "(after its prerequisites; agreed" in wide.stdout
