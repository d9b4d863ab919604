"""People and devices: ``pact org init``, ``pact device add|pair|list|revoke|recover``, ``pact owner``,
``pact party backup``."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import click
from rich.table import Table

from pactclient.cli.common import parse_validity, check_output_paths, checked_names, emit_json, fmt_ms, home_of, json_option, workspace
from pactclient.cli.contracts import console, party
from pactclient.display import text
from pactclient.errors import IdentityError, UsageError
from pactclient.identity.device import KEY_FILE, PARTY_KEY_FILE, DeviceIdentity


def register(main: click.Group) -> None:
    main.add_command(org)
    main.add_command(device)
    main.add_command(owner)
    if "backup" not in party.commands:
        party.add_command(backup)


def _now() -> int:
    return int(time.time() * 1000)


def _contact(phone: str, email: str, hours: str) -> dict:
    return {k: v for k, v in (("phone", phone), ("email", email), ("hours", hours)) if v}


def _contact_options(fn):
    for name, what in (("hours", "when they can be reached, e.g. 'Mon-Fri 9-17'"), ("email", "e-mail address"),
                       ("phone", "phone number")):
        fn = click.option(f"--{name}", default="", help=f"The person's {what}, shown to customers.")(fn)
    return fn


# -- organisations -------------------------------------------------------------------------------------


@click.group()
def org():
    """An organisation as one party: its key certifies its people's devices."""


@org.command(name="init")
@click.option("--name", required=True, help="The organisation's name, as customers will see it (e.g. BT).")
@click.option("--person", default="", help="Who uses this home (default: the organisation's desk).")
@click.option("--device", "device_name", default="desk", show_default=True, help="A name for this device.")
@_contact_options
@json_option
@click.pass_context
def org_init(ctx, name, person, device_name, phone, email, hours, as_json):
    """Create an organisation in this (new) home: its party key, kept here, and this device certified by it.
    Run `pact serve` here; add your agents' devices with `pact device add`."""
    from pactclient.identity.party import init_org

    checked_names(name=name, person=person, device=device_name)
    identity = init_org(home_of(ctx), name, person or f"{name} desk", device_name, _now(), _contact(phone, email, hours))
    if as_json:
        emit_json({"home": str(home_of(ctx)), **identity.to_public_dict()})
        return
    console.print(text(f"Created the organisation {identity.org} in {home_of(ctx)}"))
    console.print(f"Party key fingerprint: {identity.to_public_dict()['party_fingerprint']}")
    console.print(text(f"Its key is in {home_of(ctx) / PARTY_KEY_FILE}: keep a copy offline (`pact party backup FILE`); "
                       "it certifies your people's devices, and is the only way back if this home is lost."))


# -- devices --------------------------------------------------------------------------------------------


@click.group()
def device():
    """This party's devices: pair a new one, list them, revoke one, recover after losing them."""


@device.command(name="add")
@click.option("--person", required=True, help="Who will use the new device (shown to the other parties).")
@click.option("--device", "device_name", default="", help="A name for the device (laptop, phone, ...).")
@_contact_options
@click.option("--ttl", default="24h", show_default=True, help="How long the code stays valid (e.g. 30m, 24h).")
@click.option("--address", "addresses", multiple=True, help="HOST:PORT of the invite listener (default: from `pact serve`).")
@json_option
@click.pass_context
def device_add(ctx, person, device_name, phone, email, hours, ttl, addresses, as_json):
    """Print a one-time pairing code for a new device of this party (run `pact serve` here first)."""
    from pactclient.net.service import split_address
    from pactclient.net.threaded import running_server
    from pactclient.sync.pairing import create_pairing

    ws = workspace(ctx)
    for a in addresses:
        split_address(a)
    if not addresses:
        server = running_server(home_of(ctx))
        addresses = tuple(server.get("invite_addresses", [])) if server else ()
    code = create_pairing(ws, person, device_name, _contact(phone, email, hours), list(addresses), parse_validity(ttl))
    if as_json:
        emit_json({"code": code.encode(), "person": person, "device": device_name, "addresses": list(code.addresses),
                   "expires_at": code.expires_at})
        return
    click.echo(code.encode())
    click.echo(f"(one-time code for {person}'s {device_name or 'device'}, expires {fmt_ms(code.expires_at)} UTC; "
               "on the new device run: pact device pair CODE)", err=True)


@device.command(name="pair")
@click.argument("code")
@json_option
@click.pass_context
def device_pair(ctx, code, as_json):
    """Make this new home a device of the party whose CODE this is (from `pact device add` there)."""
    from pactclient.net.oneshot import pair
    from pactclient.store.workspace import Workspace
    from pactclient.sync.pairing import PairingCode

    home = home_of(ctx)
    if (home / KEY_FILE).exists():
        raise IdentityError(f"{home} already has an identity; pair into a new home (--home DIR)")
    parsed = PairingCode.decode(code)
    identity, address, host_name = asyncio.run(pair(home, parsed))
    ws = Workspace(home, identity)
    try:
        with ws.store.write():
            ws.store.put_peer(parsed.party_key.hex(), host_name, address, "known")
    finally:
        ws.close()
    info = identity.to_public_dict()
    if as_json:
        emit_json({"home": str(home), "peer": address, **info})
        return
    console.print(text(f"This home is now {identity.person}'s device for {identity.org or host_name}."))
    console.print(text(f"Run `pact sync {address}` (or `pact serve`) to fetch the party's contracts." if address else
                       "Run `pact sync HOST:PORT` to fetch the party's contracts."))


@device.command(name="list")
@json_option
@click.pass_context
def device_list(ctx, as_json):
    """This party's devices as this home knows them (the home that holds the party key knows them all)."""
    from pactclient.store import devices

    ws = workspace(ctx)
    rows = devices.known(ws)
    if as_json:
        emit_json([{k: v for k, v in r.items() if k not in ("statement", "signature")} for r in rows])
        return
    table = Table("person", "device", "key", "contact", "state", box=None)
    for r in rows:
        state = "this device" if r["this_device"] else ("revoked " + fmt_ms(r["revoked_at"]) if r["revoked_at"] else "certified")
        table.add_row(text(r["person"]), text(r["device"]), r["key"][:16], text(" · ".join(r["contact"].values())), state)
    console.print(table)


@device.command(name="revoke")
@click.argument("who")
@click.option("--why", default="", help="A reason, kept in the signed revocation.")
@json_option
@click.pass_context
def device_revoke(ctx, who, why, as_json):
    """Revoke a device of this party (by person or key): signed by the party key and written into
    every contract of the party, so every copy refuses what it writes from now on."""
    from pactclient.store import devices

    ws = workspace(ctx)
    gone, carried = devices.revoke(ws, who, why)
    if as_json:
        emit_json({"device": gone["key"], "person": gone["person"], "contracts": carried})
        return
    console.print(text(f"Revoked {gone['person']}'s {gone['device'] or 'device'} ({gone['key'][:16]}) in "
                       f"{len(carried)} contract(s); sync to tell the other parties."))


@device.command(name="recover")
@click.argument("party_key_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", required=True, help="Who uses this new device.")
@click.option("--device", "device_name", default="", help="A name for this device.")
@json_option
@click.pass_context
def device_recover(ctx, party_key_file, name, device_name, as_json):
    """Start a new home for a party that lost its devices, from its party key kept offline (the file
    `pact party backup` wrote). Then revoke the lost devices and sync with the other parties."""
    from pactclient.identity.party import recover

    home = home_of(ctx)
    identity = recover(home, Path(party_key_file), name, device_name or "recovered", _now())
    if as_json:
        emit_json({"home": str(home), **identity.to_public_dict()})
        return
    console.print(text(f"{home} is now a new device of the party {identity.to_public_dict()['party_fingerprint'][:9]}; "
                       "next: `pact sync HOST:PORT` with another party to get your contracts back, then "
                       "`pact device revoke` each lost device."))


# -- the problem owner and the party key ----------------------------------------------------------------


@click.command()
@click.argument("contract")
@click.argument("person")
@click.pass_context
def owner(ctx, contract, person):
    """Hand CONTRACT to PERSON of your party (a name, a device key, or "me"): they own the problem now.
    The other parties are told, and asked nothing."""
    from pactclient.store import devices

    ws = workspace(ctx)
    outcome = devices.hand_over(ws, ws.resolve(contract), person)
    console.print(text(outcome.message))


@click.command(name="backup")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def backup(ctx, file):
    """Copy this party's key to FILE (mode 0600), to keep offline: with it, `pact device recover`
    brings the party back after every device is lost."""
    home = home_of(ctx)
    identity = DeviceIdentity.load(home)
    source = home / PARTY_KEY_FILE if (home / PARTY_KEY_FILE).exists() else home / KEY_FILE
    if identity.party_signer is None:
        raise UsageError("this home does not hold its party's key; back it up on the home that does")
    target = Path(file).expanduser()
    if target.exists():
        raise UsageError(f"{target} exists; choose a new file name")
    check_output_paths(str(target), force=True)  # a sensible name, in a folder that exists and is writable
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out)
    console.print(text(f"Wrote the party key to {target}: keep it offline and private (anyone with it can "
                       "certify devices for your party)."))
