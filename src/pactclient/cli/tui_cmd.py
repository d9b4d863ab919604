"""``pact tui`` (and ``pact`` with no command): the terminal UI."""

from __future__ import annotations

import click

from pactclient.cli.common import home_of


def register(main: click.Group) -> None:
    main.add_command(tui)


@click.command()
@click.pass_context
def tui(ctx: click.Context) -> None:
    """Open the terminal UI: the work queue, each contract, live updates."""
    from pactclient.tui import create_app

    engine = _sync_engine(ctx)
    create_app(home_of(ctx), engine=engine).run()


def _sync_engine(ctx: click.Context):
    """The sync engine of ``pactclient.net``, when that package provides one; None means offline."""
    try:
        from pactclient.net import engine_for_tui  # type: ignore[attr-defined]
    except ImportError:
        return None
    return engine_for_tui(home_of(ctx))
