"""Attachments: ``pact attach`` and ``pact attachment list|get`` (docs/cli.md, "Attachments")."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from pactclient.cli.common import emit_json, fmt_ms, json_option, workspace
from pactclient.display import text
from pactclient.errors import RefusedOperation, StoreError, UsageError
from pactclient.model.attachments import human_size

console = Console(highlight=False)
STATUS_WORDS = {"present": "present", "missing": "MISSING (not received yet)",
                "altered": "ALTERED (stored bytes do not match the signed hash)"}


def register(main: click.Group) -> None:
    main.add_command(attach)
    main.add_command(attachment)


@click.command()
@click.argument("contract")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--name", default=None, help="The name the other parties see (default: the file's name).")
@click.option("--type", "media_type", default=None, help="Media type, e.g. application/pdf (default: guessed from the name).")
@json_option
@click.pass_context
def attach(ctx, contract, file, name, media_type, as_json):
    """Attach FILE (at most 10 MiB) to CONTRACT: its SHA-256 is signed into the contract, its bytes
    travel to the other parties with it."""
    from pactclient.store.attachments import attach_file

    ws = workspace(ctx)
    cid = ws.resolve(contract)
    outcome = attach_file(ws, cid, Path(file), name, media_type)
    if as_json:
        emit_json({"contract": cid, "sha256": outcome.ref, "message": outcome.message})
        return
    console.print(text(outcome.message))


@click.group()
def attachment():
    """List and save the files attached to a contract."""


def attachment_json(a, status: str, view) -> dict:
    return {"name": a.name, "media_type": a.media_type, "size": a.size, "sha256": a.sha256, "author": a.author,
            "author_label": view.label(a.author), "at": a.at, "status": status}


@attachment.command(name="list")
@click.argument("contract")
@json_option
@click.pass_context
def attachment_list(ctx, contract, as_json):
    """Each attachment with its size, hash and whether its bytes are here (present / missing / altered)."""
    from pactclient.store.attachments import statuses

    ws = workspace(ctx)
    cid = ws.resolve(contract)
    view = ws.view(cid)
    rows = statuses(ws, cid)
    if as_json:
        emit_json([attachment_json(a, status, view) for a, status in rows])
        return
    if not rows:
        console.print("No attachments.")
        return
    table = Table("name", "type", "size", "sha256", "by", "at", "status")
    for a, status in rows:
        style = "" if status == "present" else "bold red"
        table.add_row(text(a.name), text(a.media_type), human_size(a.size), a.sha256[:16] + "…",
                      text(view.label(a.author)), fmt_ms(a.at), text(STATUS_WORDS[status], style))
    console.print(table)


@attachment.command(name="get")
@click.argument("contract")
@click.argument("ref", metavar="NAME|HASH")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Where to save it (a file, or a directory to save it in under its name; default: its name here).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@json_option
@click.pass_context
def attachment_get(ctx, contract, ref, output, force, as_json):
    """Save an attachment, after checking its bytes against the signed SHA-256."""
    from pactclient.evidence.export import write_all
    from pactclient.model.attachments import find
    from pactclient.store.attachments import FileStore

    ws = workspace(ctx)
    cid = ws.resolve(contract)
    found = find(ws.view(cid), ref)
    target = Path(output) if output else Path(found.name)
    if target.is_dir():
        target = target / found.name
    if not target.parent.is_dir():
        raise UsageError(f"cannot write {target}: there is no directory {target.parent}")
    if target.exists() and not force:
        raise RefusedOperation(f"{target} exists; not overwritten (use --force)")
    try:
        data = FileStore(ws.home).read(found.sha256)
    except StoreError as exc:  # missing or altered: never written out as if genuine
        raise RefusedOperation(f"cannot save {found.name!r}: {exc}") from None
    write_all([(target, data)])
    if as_json:
        emit_json({"contract": cid, "name": found.name, "sha256": found.sha256, "size": len(data), "output": str(target)})
        return
    console.print(text(f"saved {found.name} to {target} ({len(data)} bytes, sha256 verified)"))
