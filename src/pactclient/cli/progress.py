"""Progress for commands that can take more than a second: a spinner and what is happening, on stderr.

Shown only when stderr is a terminal: a script, a pipe or a test reading stderr gets exactly the
lines it got before (one-line errors included), and stdout (``--json``) is never touched. The spinner
is transient: it disappears when the work ends, leaving the command's own output.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager, nullcontext
from typing import Iterator


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


@contextmanager
def working(message: str) -> Iterator[None]:
    """``with working("joining …"):`` — a spinner with ``message`` on a terminal's stderr, else nothing."""
    if not stderr_is_terminal():
        with nullcontext():
            yield
        return
    from rich.console import Console

    from pactclient.display import shown

    with Console(stderr=True).status(shown(message), spinner="dots"):
        yield
