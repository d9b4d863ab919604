"""Every `pact` command, fed hostile arguments: no traceback, ever; an error is one line, in words.

For each command (found by walking the click group, so a new command is covered without editing
this file) and each kind of hostile value — huge, negative, empty, unicode, control characters, a
path that is a file, a path under a file, a directory, a path that cannot be written — every
argument and every option that takes a value gets that value at once (the contract argument gets a
real contract, so the other arguments are reached). The command must either do what was asked (a
title may well be unicode) or refuse with a non-zero exit and one line on stderr starting `pact:`
that names no Python exception. Values no command can take (huge numbers, control characters in
names, paths that are not what the command needs) must be refused.

Runs in-process through click's CliRunner, each command in a fresh copy of a prepared home.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pactclient.cli import main

HUGE = "9" * 400
HOSTILE = {
    "huge": HUGE,
    "negative": "-1",
    "empty": "",
    "unicode": "Ünïcødé ✓ 中文 🙂",
    "control": "a\x1b[2J\x07\r\nb\x9b",
    "file": "@FILE",  # an existing regular file
    "under-a-file": "@FILE/sub/x.pact",  # a path whose folder is a file
    "directory": "@DIR",
    "unwritable": "/proc/pact-cannot-write-here/x.pact",  # not writable even by root
}
# Kinds that are never a valid id, number, key, code, time, address or file to read: always refused.
NEVER_VALID = {"huge", "negative", "control", "under-a-file", "unwritable", "directory"}
# Commands that are never run here: the terminal UI, and `serve` (a valid value would keep it running;
# its hostile values are tested below).
NOT_RUN = {("tui",), ("serve",)}
# Commands that may legitimately succeed with a given kind of value (free text, or nothing to refuse).
MAY_SUCCEED = {
    ("note",): {"unicode", "file", "directory", "empty", "huge", "control", "negative", "under-a-file", "unwritable"},
    ("new",): {"unicode", "file", "directory", "huge", "control", "negative", "under-a-file", "unwritable"},
    ("whoami",): set(HOSTILE), ("templates",): set(HOSTILE), ("list",): set(HOSTILE), ("device", "list"): set(HOSTILE),
    ("show",): set(HOSTILE),  # its only argument is the contract (given for real here)
    ("attachment", "list"): set(HOSTILE),  # likewise
    ("bundle", "export"): {"negative"}, ("party", "backup"): {"negative"},  # "-1" is a fine file name
    # A name may look like anything printable: "-1" or "/tmp/x" is someone's (odd) name.
    ("init",): {"negative", "file", "directory", "under-a-file", "unwritable"},
    ("org", "init"): {"negative", "file", "directory", "under-a-file", "unwritable"},
}
# Commands that make a home's identity: run in a new home (an existing one refuses them all alike).
IN_A_NEW_HOME = {("init",), ("org", "init"), ("device", "pair"), ("device", "recover")}
EXCEPTION_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b|Errno|Traceback|\bundecodable\b")


def leaf_commands(group: click.Group, path: tuple[str, ...] = (), carried: tuple = ()):
    """(path, [(params, at which depth)]) of every command below ``group``, with its groups' own params."""
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from leaf_commands(cmd, path + (name,), carried + ((len(path) + 1, cmd.params),))
        else:
            yield path + (name,), carried + ((len(path) + 1, cmd.params),)


COMMANDS = [(path, params) for path, params in leaf_commands(main) if path not in NOT_RUN]


def build_args(path: tuple[str, ...], params, value: str, contract: str) -> list[str]:
    """The command line: each level's name, then its arguments and value options, all ``value``
    (the contract argument: ``contract``)."""
    args: list[str] = []
    levels = dict(params)
    for depth, name in enumerate(path, start=1):
        args.append(name)
        for p in levels.get(depth, ()):
            if isinstance(p, click.Argument):
                args.append(contract if p.name == "contract" else value)
            elif isinstance(p, click.Option) and not p.is_flag and p.name not in ("kind",):
                args += [p.opts[-1], value]
    return args


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A home with an identity, a broadband contract (only this party has a key) and a money item."""
    base = tmp_path_factory.mktemp("hostile-home")
    home = base / "home"
    runner = CliRunner()
    assert runner.invoke(main, ["--home", str(home), "init", "--name", "Alice"]).exit_code == 0
    made = runner.invoke(main, ["--home", str(home), "new", "Case", "--template", "broadband-fault", "--json"])
    cid = json.loads(made.stdout)["id"][:8]
    runner.invoke(main, ["--home", str(home), "propose", cid, "add-item", "refund", "--kind", "money", "--owner",
                         "customer", "--currency", "GBP"])
    for item, extra in (("count", ["--kind", "number"]), ("visit", ["--kind", "date"]),
                        ("speed", ["--kind", "choice", "--choice", "fast", "--choice", "slow"])):
        runner.invoke(main, ["--home", str(home), "propose", cid, "add-item", item, "--owner", "customer", *extra])
    return home, cid


def run(home: Path, args: list[str]):
    return CliRunner().invoke(main, ["--home", str(home), *args], env={"PACT_HOME": None})


def check_outcome(result, label: str, must_refuse: bool) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{label}: raised {result.exception!r}")
    if must_refuse:
        assert result.exit_code != 0, f"{label}: accepted ({result.stdout[:200]!r})"
    if result.exit_code != 0:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pact: "), f"{label}: {result.stderr!r}"
        assert not EXCEPTION_NAME.search(lines[0]), f"{label}: {lines[0]}"
    assert "\x1b" not in result.stderr and "\x1b[2J" not in result.stdout, f"{label}: raw escape printed"


@pytest.mark.parametrize("path, params", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_refuses_hostile_arguments_in_one_line(prepared, tmp_path, monkeypatch, path, params):
    home, cid = prepared
    monkeypatch.chdir(tmp_path)  # a relative output file ("-1") lands here
    afile = tmp_path / "a-file.txt"
    afile.write_text("not what you think\n")
    adir = tmp_path / "a-dir"
    adir.mkdir()
    for kind, raw in HOSTILE.items():
        value = raw.replace("@FILE", str(afile)).replace("@DIR", str(adir))
        work = tmp_path / f"home-{kind}"
        if path not in IN_A_NEW_HOME:
            shutil.copytree(home, work)
        args = build_args(path, params, value, cid)
        result = run(work, args)
        must_refuse = kind in NEVER_VALID and kind not in MAY_SUCCEED.get(path, set())
        check_outcome(result, f"pact {' '.join(path)} with {kind} values", must_refuse)
        assert afile.read_text() == "not what you think\n", f"pact {' '.join(path)} overwrote a file"


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_contract_or_home_is_refused_in_one_line(prepared, tmp_path, monkeypatch, kind):
    home, _cid = prepared
    monkeypatch.chdir(tmp_path)  # an empty home must not become the working directory, but if it did: here
    afile = tmp_path / "a-file.txt"
    afile.write_text("x")
    adir = tmp_path / "a-dir"
    adir.mkdir()
    value = HOSTILE[kind].replace("@FILE", str(afile)).replace("@DIR", str(adir))
    check_outcome(run(home, ["show", value]), f"pact show with a {kind} contract", must_refuse=True)
    result = CliRunner().invoke(main, ["--home", value, "list"], env={"PACT_HOME": None})
    check_outcome(result, f"pact --home {kind} list", must_refuse=kind != "directory")
    assert not (tmp_path / "pact.db").exists()


@pytest.mark.parametrize("option, value", [
    ("--host", "nosuchhost.invalid"), ("--host", "a\x1b[2Jb"), ("--host", HUGE), ("--host", "203.0.113.77"),
    ("--port", "-1"), ("--port", HUGE), ("--port", "70000"), ("--invite-port", "-5"), ("--port", "Ünïcødé"),
])
def test_serve_refuses_hostile_hosts_and_ports_in_one_line(prepared, tmp_path, option, value):
    home, _cid = prepared
    work = tmp_path / "home"
    shutil.copytree(home, work)
    check_outcome(run(work, ["serve", option, value, *([] if option != "--host" else ["--port", "0"])]),
                  f"pact serve {option} {value!r}", must_refuse=True)


@pytest.mark.parametrize("item", ["count", "visit", "speed", "account", "refund"])
def test_hostile_item_values_are_refused_in_one_line(prepared, tmp_path, monkeypatch, item):
    """The ids are real here, so the values themselves reach the model: numbers beyond 64 bits,
    dates beyond the calendar, choices not offered, amounts with control characters."""
    home, cid = prepared
    monkeypatch.chdir(tmp_path)
    work = tmp_path / "home"
    shutil.copytree(home, work)
    for kind, value in HOSTILE.items():
        if item == "refund":
            args = ["item", "set", cid, item, "--amount", value, "--owed-by", "supplier", "--owed-to", "customer"]
        else:
            args = ["item", "set", cid, item, "--", value]
        must_refuse = item != "account" and kind in NEVER_VALID | {"empty", "unicode"} and not (
            item == "count" and kind == "negative")  # a number item may be negative
        check_outcome(run(work, args), f"pact item set {item} with a {kind} value", must_refuse)


# One hostile value at a time, everything else valid: the value reaches the check that is its own.
ONE_AT_A_TIME = [
    ("invite", "@CID", "--address", "127.0.0.1:9", "--ttl", "@V"),
    ("invite", "@CID", "--address", "@V"),
    ("device", "add", "--person", "Raj", "--address", "127.0.0.1:9", "--ttl", "@V"),
    ("activity", "add", "@CID", "Call", "--assignee", "customer", "--due", "@V"),
    ("activity", "add", "@CID", "Call", "--assignee", "customer", "--depends-on", "@V"),
    ("activity", "add", "@CID", "Call", "--assignee", "@V"),
    ("propose", "@CID", "due", "callback", "@V"),
    ("propose", "@CID", "add-activity", "Call", "--assignee", "customer", "--due", "@V"),
    ("propose", "@CID", "add-item", "fee", "--owner", "customer", "--kind", "money", "--currency", "@V"),
    ("propose", "@CID", "add-item", "fee", "--owner", "@V"),
    ("propose", "@CID", "assignee", "callback", "@V"),
    ("propose", "@CID", "change-item", "refund", "--owner", "@V"),
    ("item", "set", "@CID", "refund", "--amount", "5", "--currency", "@V", "--owed-by", "supplier", "--owed-to", "customer"),
    ("item", "set", "@CID", "refund", "--amount", "5", "--owed-by", "@V", "--owed-to", "customer"),
    ("party", "add", "@CID", "--key", "@V", "--name", "Bob", "--role", "coordinator"),
    ("party", "rotate", "@CID", "--new-key", "@V"),
    ("activity", "wait", "@CID", "callback", "--on", "@V"),
    ("export", "@CID", "-o", "@V"),
    ("export", "@CID", "--html", "@V"),
    ("export", "@CID", "-o", "x.pact", "--tsa", "@V"),
    ("bundle", "export", "@CID", "-o", "@V"),
    ("peers", "add", "@V"),
    ("sync", "@V"),
    ("join", "@V"),
    ("device", "revoke", "@V"),
    ("owner", "@CID", "@V"),
    ("attach", "@CID", "@V"),
    ("attachment", "get", "@CID", "@V"),
]
WRITES_A_FILE_NAMED = {"-o", "--html"}  # "-1" or a unicode name is a fine file name to write
EMPTY_MEANS_NONE = {"--due", "--currency"}  # --due "": no deadline; --currency "": the item's own, or later


@pytest.mark.parametrize("template", ONE_AT_A_TIME, ids=[" ".join(t) for t in ONE_AT_A_TIME])
def test_one_hostile_value_among_valid_ones_is_refused_in_one_line(prepared, tmp_path, monkeypatch, template):
    home, cid = prepared
    monkeypatch.chdir(tmp_path)
    afile = tmp_path / "a-file.txt"
    afile.write_text("not what you think\n")
    adir = tmp_path / "a-dir"
    adir.mkdir()
    for kind, raw in HOSTILE.items():
        value = raw.replace("@FILE", str(afile)).replace("@DIR", str(adir))
        work = tmp_path / f"home-{kind}"
        shutil.copytree(home, work)
        args = [cid if a == "@CID" else value if a == "@V" else a for a in template]
        option = template[template.index("@V") - 1]
        may_succeed = {"negative", "unicode"} if option in WRITES_A_FILE_NAMED else set()
        if option in EMPTY_MEANS_NONE:
            may_succeed.add("empty")
        must_refuse = kind in (NEVER_VALID | {"empty"}) - may_succeed
        check_outcome(run(work, args), f"pact {' '.join(template)} with a {kind} value", must_refuse)
        assert afile.read_text() == "not what you think\n"
