"""The terminal UI (Textual). The only package that imports textual.

``create_app(home, engine=None, clock=None)`` is the one factory: the CLI, the tests and the snapshots
all build the app through it.
"""

from pactclient.tui.app import PactApp, create_app

__all__ = ["PactApp", "create_app"]
