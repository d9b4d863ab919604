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

    app = create_app(home_of(ctx), engine_factory=_engine_factory())
    app.run()
    if app.failure:  # the home could not be opened: the reason stays in the terminal after the UI is gone
        click.echo(f"pact: {app.failure}", err=True)
        ctx.exit(app.return_code or 1)


def _engine_factory():
    """``pactclient.net.engine_for_tui``: the app calls it once the home has an identity, and stops the
    engine when it ends. None (offline) only if the network package is missing."""
    try:
        from pactclient.net import engine_for_tui
    except ImportError:
        return None
    return engine_for_tui
