"""Peer-to-peer commands: serve, sync, peers, invite, join (see docs/protocol.md for the wire side)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys

import click
from rich.console import Console

from pactclient.cli.common import emit_json, fmt_ms, home_of, json_option, workspace
from pactclient.display import assemble, shown
from pactclient.errors import RefusedOperation, UsageError
from pactclient.identity.device import short_fingerprint

console = Console(highlight=False)


def register(main: click.Group) -> None:
    for cmd in (serve, sync, peers, invite, join):
        main.add_command(cmd)


def _port(value: int) -> int:
    if not 0 <= value < 65536:
        raise UsageError(f"not a port: {value}")
    return value


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 to accept peers from the network.")
@click.option("--port", default=7400, show_default=True, type=int, help="Port for pinned peers.")
@click.option("--invite-port", default=None, type=int,
              help="Port for redeeming invites  [default: the next port after --port; any free one with --port 0]")
@click.option("--discover/--no-discover", default=False, help="Advertise and find peers on the LAN (zeroconf).")
@click.pass_context
def serve(ctx, host, port, invite_port, discover):
    """Run an always-on peer: accept pinned peers, dial known ones, keep every shared contract in step.

    Logs what it does on stderr. Ctrl-C or SIGTERM stops it cleanly.
    """
    from pactclient.net.service import PeerService
    from pactclient.net.threaded import RUNNING_FILE, running_server

    ws = workspace(ctx)
    home = home_of(ctx)
    running = running_server(home)
    if running:
        # One device, one engine: a second would dial the same peers and fight over the connections.
        raise UsageError(f"`{running.get('by', 'pact serve')}` (pid {running['pid']}) already syncs {home}; "
                         "it accepts peers and invites for this home")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ShownFormatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    if invite_port is None:
        # Two homes on one machine each run `pact serve --port 0`: their invite ports must not clash either.
        invite_port = port + 1 if port else 0
    service = PeerService(ws, host, _port(port), discovery=discover, invite_port=_port(invite_port))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await service.start()
        except OSError as exc:
            raise UsageError(f"cannot listen on {host} (port {port}, invite port {invite_port}): {exc.strerror};"
                             " choose others with --port and --invite-port") from None
        record = home / RUNNING_FILE
        record.write_text(json.dumps({"pid": os.getpid(), "address": service.address,
                                      "invite_addresses": service.invite_addresses()}))
        click.echo(shown(f"pact serve: {ws.identity.name} ({ws.identity.short_fingerprint}) on {service.address}; "
                         f"invites on port {service.invite_port}. Ctrl-C to stop."), err=True)
        try:
            await stop.wait()
        finally:
            record.unlink(missing_ok=True)
            await service.stop()
            click.echo("pact serve: stopped", err=True)

    asyncio.run(run())


class ShownFormatter(logging.Formatter):
    """The log names peers, contracts and refusal reasons that others chose: shown as text (pactclient.display)."""

    def format(self, record: logging.LogRecord) -> str:
        # The message on one line (a peer's newline must not start a fake log line); a traceback keeps its lines.
        record = logging.makeLogRecord(record.__dict__)
        record.msg, record.args = shown(record.getMessage()), None
        return shown(super().format(record), multiline=True)


def _targets(ws, peer: str | None) -> list[str]:
    known = ws.store.peers()
    if peer is None:
        found = [p["address"] for p in known if p["address"] and p["state"] != "blocked"]
        if not found:
            raise UsageError("no known peer with an address; add one: pact peers add HOST:PORT")
        return found
    if ":" in peer:
        return [peer]
    wanted = peer.lower()
    found = [p["address"] for p in known if p["address"] and (p["key"].startswith(wanted) or p["name"].lower() == wanted)]
    if not found:
        raise UsageError(f"no known peer {peer!r} with an address (see: pact peers)")
    return found


@click.command()
@click.argument("peer", required=False)
@json_option
@click.pass_context
def sync(ctx, peer, as_json):
    """Sync once with PEER (HOST:PORT, a key prefix or a name) or every known peer, and print what changed."""
    from pactclient.net.oneshot import sync_once
    from pactclient.sync.events import ChangesAdmitted, PeerRefused, RefusedByPeer
    from pactclient.sync.files import FileReceived

    ws = workspace(ctx)
    events, failures, sent = asyncio.run(sync_once(ws, _targets(ws, peer)))
    titles = {s["id"]: s.get("title", "") for s in ws.summaries()}
    changed = [e for e in events if isinstance(e, ChangesAdmitted)]
    refusals = [e for e in events if isinstance(e, (PeerRefused, RefusedByPeer))]
    files = [e for e in events if isinstance(e, FileReceived)]  # attached files fetched (sync.files)
    if as_json:
        emit_json({
            "changes": [{"contract": e.contract_id, "title": titles.get(e.contract_id, ""), "count": len(e.hashes),
                         "from": e.peer_key.hex(), "authors": [a.hex() for a in e.authors], "new_contract": e.new_contract}
                        for e in changed],
            "refused": [{"peer": e.peer_key.hex(), "reason": e.reason} for e in refusals],
            "sent": [{"contract": cid, "title": titles.get(cid, ""), "count": n} for cid, n in sent.items() if n],
            "failures": failures,
            "files": [{"contract": e.contract_id, "sha256": e.sha256} for e in files],
        })
    else:
        for e in changed:
            what = "new contract" if e.new_contract else f"{len(e.hashes)} change(s)"
            console.print(assemble(f"{what} in ", (titles.get(e.contract_id, e.contract_id[:12]), "bold"),
                                   f" ({e.contract_id[:8]}) from {short_fingerprint(e.peer_key)}"))
        for cid, n in sent.items():
            if n:
                console.print(assemble(f"sent {n} change(s) of ", (titles.get(cid, cid[:12]), "bold"), f" ({cid[:8]})"))
        if files:
            console.print(f"received {len(files)} attached file(s), each matching its signed SHA-256")
        for e in refusals:
            console.print(assemble(("refused", "red"), f" {short_fingerprint(e.peer_key)}: {e.reason}"))
        for f in failures:
            console.print(assemble(("unreachable", "yellow"), f" {f}"))
        if not changed and not refusals and not failures and not files and not any(sent.values()):
            console.print("already in step")
    if failures and not changed:
        sys.exit(1)


@click.group(invoke_without_command=True)
@json_option
@click.pass_context
def peers(ctx, as_json):
    """List known peers with their address, last-seen time and state."""
    if ctx.invoked_subcommand is not None:
        return
    ws = workspace(ctx)
    rows = ws.store.peers()
    if as_json:
        emit_json([{**r, "fingerprint": short_fingerprint(bytes.fromhex(r["key"]))} for r in rows])
        return
    if not rows:
        console.print("no known peers (pact peers add HOST:PORT, or pact join CODE)")
    for r in rows:
        console.print(assemble(f"{short_fingerprint(bytes.fromhex(r['key']))}  {shown(r['name']) or '-':20} "
                               f"{r['address'] or '-':22} {r['state']:8} last seen {fmt_ms(r['last_seen'])}"))


@peers.command("add")
@click.argument("address")
@click.option("--key", default=None, help="The peer's public key (64 hex), as printed by its `pact whoami`.")
@click.option("--name", default="", help="A name to list the peer under.")
@click.pass_context
def peers_add(ctx, address, key, name):
    """Remember a peer at HOST:PORT.

    With --key the key is pinned as given. Without it, pact connects once and accepts the peer only if
    its certificate's key is already pinned (a party of one of your contracts).
    """
    from pactclient.net.oneshot import sync_once
    from pactclient.net.service import split_address

    split_address(address)
    ws = workspace(ctx)
    if key is not None:
        key = key.strip().lower()
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise UsageError("a key is 64 hex characters, as printed by `pact whoami --json` (public_key)")
        with ws.store.write():
            ws.store.put_peer(key, name, address, "known")
        console.print(assemble(f"added peer {short_fingerprint(bytes.fromhex(key))} at {address}"))
        return
    _events, failures, _sent = asyncio.run(sync_once(ws, [address]))
    if failures:
        raise UsageError(f"{failures[0]}; to pin a peer that is not a party yet, give --key")
    for row in ws.store.peers():
        if row["address"] == address:
            console.print(assemble(f"added peer {short_fingerprint(bytes.fromhex(row['key']))} ({row['name'] or '-'}) at {address}"))


@click.command()
@click.argument("contract")
@click.option("--role", default=None, help="Role of the invitee (default: the first unfilled role of the contract).")
@click.option("--ttl", default="24h", show_default=True, help="How long the code stays valid (e.g. 30m, 24h, 3d).")
@click.option("--address", "addresses", multiple=True, help="HOST:PORT of the invite listener (default: from `pact serve`).")
@json_option
@click.pass_context
def invite(ctx, contract, role, ttl, addresses, as_json):
    """Print a one-time code that lets another device join CONTRACT as a party."""
    from pactclient.model.actions import parse_duration
    from pactclient.net.service import split_address
    from pactclient.net.threaded import running_server
    from pactclient.sync.invites import create_invite

    ws = workspace(ctx)
    cid = ws.resolve(contract)
    for a in addresses:
        split_address(a)
    if not addresses:
        server = running_server(home_of(ctx))
        addresses = tuple(server.get("invite_addresses", [])) if server else ()
    code = create_invite(ws, cid, role, list(addresses), parse_duration(ttl))
    role = ws.store.invite(code.invite_id)["role"]
    text = code.encode()
    if as_json:
        emit_json({"code": text, "contract": cid, "role": role, "inviter_fingerprint": ws.identity.fingerprint,
                   "addresses": list(code.addresses), "expires_at": code.expires_at})
        return
    click.echo(text)
    click.echo(f"(one-time code: joins as {role}, expires {fmt_ms(code.expires_at)} UTC, inviter "
               f"{ws.identity.short_fingerprint}; the other party runs: pact join CODE)", err=True)


@click.command()
@click.argument("code")
@json_option
@click.pass_context
def join(ctx, code, as_json):
    """Join a contract: with a one-time invite CODE (connect, prove it, receive the contract), or name a
    CONTRACT already here (received as a bundle) that adds you as a party. Joining accepts the terms
    as they stand, in a change signed by this device."""
    from pactclient.net.oneshot import accept_on_joining, join as join_with
    from pactclient.sync.invites import CODE_PREFIX, InviteCode

    ws = workspace(ctx)
    if not "".join(code.split()).lower().startswith(CODE_PREFIX):
        cid = ws.resolve(code)
        view = ws.view(cid)
        me = view.party_by_key(ws.identity.party_key_hex)
        if me is None:
            raise RefusedOperation("this device is not a party of that contract (yet): the parties who must "
                                   "accept adding you have not all done so, or the bundle is older")
        already = me.accepted
        accept_on_joining(ws, cid)
        message = "already joined" if already else "joined: you accepted the terms as they stand"
        if as_json:
            emit_json({"contract": cid, "title": view.title, "message": message})
        else:
            console.print(assemble(f"{message} — ", view.title, f" ({cid[:8]})"))
        return
    parsed = InviteCode.decode(code)
    done = asyncio.run(join_with(ws, parsed))
    title = ws.view(done.contract_id).title
    if as_json:
        emit_json({"contract": done.contract_id, "title": title, "inviter": done.inviter_key.hex(),
                   "message": done.message, "changes": done.changes})
        return
    console.print(assemble("joined ", (title, "bold"), f" ({done.contract_id[:8]}) from {short_fingerprint(done.inviter_key)}: "
                           f"{done.message}"))
