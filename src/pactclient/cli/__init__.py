"""The ``pact`` command: thin. It parses, calls the layers below, and prints (rich) or ``--json``.

Each area registers its commands from its own module: ``contracts`` (identity, contracts, bundles),
``trust_cmds`` (key rotation), ``net_cmds`` (sync), ``evidence_cmds`` (export, verify) and ``tui_cmd``
(the terminal UI). Every error a user can cause is a ``PactError`` printed as one line on stderr: exit 2
for usage, 1 for refusals.
"""

from __future__ import annotations

import importlib

import click

from pactclient import __version__
from pactclient.cli.common import PactGroup, home_option

COMMAND_MODULES = ("contracts", "trust_cmds", "people_cmds", "net_cmds", "evidence_cmds", "tui_cmd",
                   "attachment_cmds", "case_cmds")


@click.group(cls=PactGroup, invoke_without_command=True)
@home_option
@click.version_option(__version__, prog_name="pact")
@click.pass_context
def main(ctx: click.Context) -> None:
    """pact: signed contracts between a customer and a supplier, each keeping its own copy.

    Run with no command to open the terminal UI.
    """
    if ctx.invoked_subcommand is None:
        tui = main.get_command(ctx, "tui")
        if tui is None:
            click.echo(ctx.get_help())
            return
        ctx.invoke(tui)


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"pactclient.cli.{_name}")
    except ModuleNotFoundError as _exc:  # an area not built yet
        if _exc.name != f"pactclient.cli.{_name}":
            raise
        continue
    _module.register(main)
