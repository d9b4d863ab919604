"""What every command shares: the home, the workspace, one-line errors, JSON output."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import click

from pactclient.display import shown
from pactclient.errors import PactError, UsageError
from pactclient.identity.device import default_home


class PactGroup(click.Group):
    """Runs the command and turns every PactError, and click's usage errors, into one line on stderr."""

    def main(self, args=None, prog_name=None, **extra):
        try:
            rv = super().main(args=args, prog_name=prog_name or "pact", standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(0)
        except click.UsageError as exc:
            hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
            click.echo(shown(f"pact: {exc.format_message()}{hint}"), err=True)
            sys.exit(2)
        except click.Abort:
            click.echo("pact: aborted", err=True)
            sys.exit(1)
        except PactError as exc:
            # Errors quote what was received (names, reasons, ids): shown as text, on one line.
            click.echo(shown(f"pact: {exc}"), err=True)
            sys.exit(exc.exit_code)
        except OSError as exc:  # a file or folder the user named (or the home) cannot be used: say why, in words
            from pactclient.reasons import os_failure

            click.echo(shown(f"pact: {os_failure(exc)}"), err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def home_option(fn: Callable) -> Callable:
    """``--home DIR`` on the group; falls back to PACT_HOME, then the platform's data directory."""

    def store_home(ctx: click.Context, _param, value):
        if value is not None:
            if not value.strip() or not value.isprintable():  # "" would be the working directory
                raise click.BadParameter(f"not a directory name: {value!r}")
            ctx.ensure_object(dict)["home"] = Path(value).expanduser()
        return value

    return click.option(
        "--home", type=click.Path(file_okay=False), default=None, expose_value=False, callback=store_home,
        is_eager=True, help="Home directory of this party (default: $PACT_HOME or the user data directory).",
    )(fn)


def home_of(ctx: click.Context) -> Path:
    obj = ctx.find_root().obj or {}
    return obj.get("home") or default_home()


def workspace(ctx: click.Context):
    """The open workspace of this home, closed when the command ends."""
    from pactclient.store.workspace import Workspace

    root = ctx.find_root()
    obj = root.ensure_object(dict)
    if "workspace" not in obj:
        ws = Workspace.open(home_of(ctx))
        obj["workspace"] = ws
        root.call_on_close(ws.close)
    return obj["workspace"]


def json_option(fn: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON (keys in docs/cli.md).")(fn)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def fmt_ms(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


MAX_NAME = 100


def checked_names(**named: str | None) -> None:
    """Names a user types for people and organisations (--name, --org, --person, --device): printable,
    one line, at most MAX_NAME characters. They are signed into every contract and shown to every
    party; a control character or a pasted paragraph there is a mistake (UsageError)."""
    for option, value in named.items():
        if value and (not value.isprintable() or len(value) > MAX_NAME):
            raise UsageError(f"--{option.replace('_', '-')}: a name is one line of at most {MAX_NAME} characters, "
                             "without control characters")


def parse_when(text: str, now_ms: int) -> int:
    """'24h' / '3d' (from now) or an ISO date/time ('2026-12-01', '2026-12-01T17:00') -> ms UTC."""
    from pactclient.model.actions import parse_duration

    text = text.strip()
    if text and text[0].isdigit() and text[-1] in "mhdw" and text[:-1].strip().isdigit():
        when = now_ms + parse_duration(text)
    else:
        try:
            dt = datetime.fromisoformat(text)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            when = int(dt.timestamp() * 1000)
        except (ValueError, OverflowError):
            raise UsageError(f"not a time: {text[:40]!r} (use 24h, 3d, 2026-12-01 or 2026-12-01T17:00)") from None
    if not 0 <= when <= LATEST_TIME_MS:
        raise UsageError(f"{text[:40]!r} is not a time pact can record (between 1970 and 9999)")
    return when


LATEST_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: the last time a date can name


def parse_deadline(text: str, now_ms: int, force: bool) -> int:
    """``parse_when`` for a deadline that will be signed into a contract: one in the past or years
    ahead is refused (UsageError) unless ``force`` says it is meant (model/deadlines.py)."""
    from pactclient.model.deadlines import deadline_concern

    due = parse_when(text, now_ms)
    concern = deadline_concern(due, now_ms)
    if concern and not force:
        raise UsageError(f"{concern}: check it, or add --force to use it anyway")
    return due


MAX_VALIDITY_MS = 366 * 24 * 3600 * 1000


def parse_validity(text: str) -> int:
    """How long a one-time code stays valid ('30m', '24h', '3d', '2w') in ms: more than nothing (a code
    valid for 0m is expired when made) and at most a year (UsageError otherwise)."""
    from pactclient.model.actions import parse_duration

    ms = parse_duration(text)
    if not 0 < ms <= MAX_VALIDITY_MS:
        raise UsageError(f"a code is valid for more than 0m and at most a year, not {text[:40]!r}")
    return ms


def force_deadline_option(fn: Callable) -> Callable:
    return click.option("--force", "force_deadline", is_flag=True,
                        help="Accept a deadline in the past or more than two years ahead.")(fn)


def force_option(fn: Callable) -> Callable:
    return click.option("--force", is_flag=True, help="Overwrite an output file that already exists.")(fn)


def check_output_paths(*paths: str | None, force: bool = False) -> list[Path]:
    """Refuse, before anything is written, output paths that cannot be written (UsageError), and
    files that already exist unless ``force``: a typo must not replace an unrelated file."""

    for p in paths:
        if p is not None and (not p.strip() or not p.isprintable()):
            raise UsageError(f"not a file name: {p!r} (it is empty or holds control characters)")
    targets = [Path(p) for p in paths if p]
    if len({t.resolve() for t in targets}) != len(targets):
        raise UsageError("the output files must be different files")
    for t in targets:
        folder = t.parent
        if not folder.is_dir():
            raise UsageError(f"cannot write {t}: there is no directory {folder}")
        if t.is_dir():
            raise UsageError(f"cannot write {t}: it is a directory")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UsageError(f"cannot write {t}: the directory {folder} is not writable (permissions)")
        if not force and (t.exists() or t.is_symlink()):
            raise UsageError(f"{t} already exists: choose another file, or add --force to overwrite it")
    return targets
