"""Evidence commands: ``pact export``, ``pact verify`` and ``pact report`` (format: docs/evidence.md)."""

from __future__ import annotations

from pathlib import Path

import click

from pactclient.cli.progress import working
from pactclient.cli.common import check_output_paths, emit_json, fmt_ms, force_option, json_option, workspace
from pactclient.display import shown
from pactclient.errors import FormatError
from pactclient.files import read_bounded

PROGRESS_FROM = 1000  # contracts with fewer changes export too fast for a progress bar to help
MAX_READ = 512 * 1024 * 1024


def register(main: click.Group) -> None:
    for cmd in (export, verify, report):
        main.add_command(cmd)


def _read(path: str) -> bytes:
    """The bytes of an evidence file whose container is whole; FormatError (one line) otherwise.

    A file that is not an evidence file at all, or whose container is cut short or overlong, gets an
    error rather than a verdict: nothing inside it could be checked, and saying INVALID about a
    holiday photo would suggest it had been an evidence file once.
    """
    from pactclient.evidence import fileformat

    p = Path(path)
    data = read_bounded(p, MAX_READ, "an evidence file")
    if not data:
        raise FormatError(f"{p} is empty, not a pact evidence file")
    from pactclient.sync.bundle import looks_like_bundle

    if looks_like_bundle(data):
        raise FormatError(f"{p} is a bundle, not an evidence file: import it with `pact bundle import {p}` "
                          "(evidence comes from `pact export`)")
    try:
        fileformat.unpack(data)
    except FormatError as exc:
        raise FormatError(f"{p}: {exc}") from None
    return data


@click.command()
@click.argument("contract")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Evidence file to write.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Also write the readable HTML report here.")
@click.option("--tsa", metavar="URL", help="Ask this RFC 3161 timestamp authority to stamp the evidence.")
@click.option("--with-files", is_flag=True, help="Also carry the attached files (their hashes are signed in any case).")
@json_option
@force_option
@click.pass_context
def export(ctx, contract, output, html_path, tsa, with_files, as_json, force):
    """Write a signed evidence file of CONTRACT that anyone can verify offline (only a party can)."""
    from rich.console import Console
    from rich.progress import Progress

    from pactclient import evidence
    from pactclient.errors import UsageError
    from pactclient.evidence import report as report_mod
    from pactclient.evidence.making import make_evidence

    if not output and not html_path:
        raise UsageError("say where to write: -o FILE (evidence) and/or --html FILE (report)")
    check_output_paths(output, html_path, force=force)
    if tsa is not None:
        from pactclient.evidence.timestamp import check_url

        check_url(tsa)
    ws = workspace(ctx)
    cid = ws.resolve(contract)
    total = ws.store.change_count(cid)
    stamp = None
    if tsa:
        from pactclient.evidence import timestamp

        stamp = lambda digest: timestamp.request(tsa, digest)  # noqa: E731
    if total >= PROGRESS_FROM:
        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("gathering signed changes", total=total)
            countersigned, data, verdict = make_evidence(
                ws, cid, lambda done, _total: bar.update(task, completed=done), stamp, with_files)
    else:
        with working("gathering and checking the signed changes…"):
            countersigned, data, verdict = make_evidence(ws, cid, stamp=stamp, with_files=with_files)
    total = ws.store.change_count(cid)  # with the countersignatures just made
    files = [(Path(output), data)] if output else []
    if html_path:
        files.append((Path(html_path), report_mod.render(verdict).encode()))
    evidence.write_all(files)
    result = {"contract": cid, "output": output, "html": html_path, "bytes": len(data), "changes": total,
              "sha256": verdict.sha256, "countersigned": countersigned, "timestamped": bool(tsa),
              "valid": verdict.valid, "attachments": verdict.attachments or []}
    if as_json:
        emit_json(result)
        return
    if countersigned:
        click.echo(f"countersigned {countersigned} agreed version(s) first")
    if output:
        click.echo(f"wrote {output}: {total} signed changes, {len(data)} bytes, sha256 {verdict.sha256}")
    if html_path:
        click.echo(f"wrote report {html_path}")
    for a in verdict.attachments or []:
        if with_files and a["status"] != "included":
            click.echo(shown(f"not included: {a['name']} (its bytes are missing or altered in this home)"))
    click.echo(f"give the recipient your key fingerprint to compare: {ws.identity.fingerprint}")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--tsa-ca", type=click.Path(dir_okay=False), help="CA certificate(s) trusted for the timestamp authority.")
@json_option
def verify(file, tsa_ca, as_json):
    """Check an evidence FILE offline: signatures, parties, heads. Exit 1 if anything fails."""
    from pactclient.evidence import summary, verify_bytes

    with working(f"verifying {file}…"):
        verdict = verify_bytes(_read(file), tsa_ca)
    data = summary(verdict)
    if as_json:
        emit_json(data)
    else:
        _print_verdict(data)
    if not verdict.valid:
        raise click.exceptions.Exit(1)


def _print_verdict(data: dict) -> None:
    """The verdict in words. Everything after VALID / INVALID comes from the file: shown as text."""
    from pactclient.evidence.attachments import lines as attachment_lines
    from pactclient.evidence import case_report
    from pactclient.evidence.report import lateness

    def say(line: str) -> None:
        click.echo(shown(line))

    if data["valid"]:
        click.echo(click.style("VALID", fg="green", bold=True) + shown(f"  {data.get('title', '')}"))
    else:
        click.echo(click.style("INVALID", fg="red", bold=True) + (shown(f"  {data['title']}") if data.get("title") else ""))
        for failure in data["failures"]:
            say(f"  failed: {failure}")
    for check in data["checks"]:
        say(f"  ok: {check}")
    by_id, by_key = {}, {}
    for p in data.get("parties", []):
        by_id[p["id"]] = by_key[p["key"]] = p["org"] or p["name"] or p["id"]
    if "contract" in data:
        device = next((d["device"] for d in data.get("devices", []) if d["key"] == data["exported_by"]), "")
        exporter = data.get("exported_by_person") or by_key.get(data["exported_by"], "a key that is not a party")
        exporter += f" on {device}" if device else ""
        say(f"contract {data['contract']}, exported {fmt_ms(data['exported_at'])} UTC by {exporter}, "
            f"sha256 {data['sha256']}")
    for p in data.get("parties", []):
        say(f"  party {p['id']}: {p['name']}{' (' + p['org'] + ')' if p['org'] else ''}, {p['role']}, "
            f"key {p['fingerprint'] or '(none)'}")
    _print_people(data, by_id, say)
    if "light" in data:
        say(f"light {data['light']}; broken commitments: {data['broken']}")
        for b in data["broken_commitments"]:
            say(f"  broken: {b['title']} — {by_id.get(b['assignee'], b['assignee'])}, due {fmt_ms(b['due'])} UTC, "
                + lateness(b["due"], b["status"], b["done_at"], data["exported_at"]))
    for line in case_report.verify_lines(data, by_id):
        say(line)
    for a in data.get("agreements", []):
        signed = ", ".join(by_id.get(p, p) for p in a["signed_by"]) or "nobody yet"
        say(f"agreed version {a['version']} ({a['proposal']}): countersigned by {signed}")
    for line in attachment_lines(data):
        say(line)
    if "timestamp" in data:
        say(f"timestamp: {data['timestamp'].get('time', '')} by {data['timestamp'].get('tsa', '')}")


def _print_people(data: dict, by_id: dict, say) -> None:
    """Who acted for which party with which device: the problem owner, the devices, the authors."""
    devices = {d["key"]: d for d in data.get("devices", [])}

    def on(person: str, key: str) -> str:
        device = devices.get(key)
        return f"{person} on {device['device']}" if device and device["device"] else person

    owner = data.get("problem_owner")
    if owner:
        device = devices.get(owner["device"])
        person = on(device and _person(device["person"], by_id.get(owner["party"], owner["party"]))
                    or by_id.get(owner["party"], owner["party"]), owner["device"])
        contact = " · ".join(owner["contact"].values())
        say(f"problem owner: {person}" + (f" — {contact}" if contact else ""))
    for d in sorted(devices.values(), key=lambda d: (d["party"], d["person"], d["device"])):
        say(f"  device {d['fingerprint']}: {on(_person(d['person'], by_id.get(d['party'], d['party'])), d['key'])}"
            + (", revoked by its party" if d["revoked"] else ""))
    for a in data.get("authors", []):
        say(f"  {a['changes']} change(s) by {on(a['person'] or 'key ' + a['key'][:16] + '…, no party', a['key'])}")


def _person(person: str, party: str) -> str:
    return f"{person} ({party})" if person and person != party else party


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="HTML file to write.")
@force_option
def report(file, output, force):
    """Render the readable HTML report of an evidence FILE (no home needed)."""
    from pactclient import evidence
    from pactclient.evidence import verify_bytes
    from pactclient.evidence import report as report_mod

    from pactclient.errors import UsageError

    if Path(output).resolve() == Path(file).resolve():
        raise UsageError("the report would overwrite the evidence file: choose another -o")
    check_output_paths(output, force=force)
    verdict = verify_bytes(_read(file))
    evidence.write_all([(Path(output), report_mod.render(verdict).encode())])
    click.echo(shown(f"wrote {output} ({'verified' if verdict.valid else 'NOT VERIFIED: ' + '; '.join(verdict.failures)})"))
