"""Work that takes a while (evidence export, join, connect, bundle export) shows its progress in the
status line of every screen: "⟳ exporting evidence: 1,200 of 4,000 changes". No Textual here: the
status bar reads ``app.busy``; workers on other threads report through ``app.call_from_thread``.
"""

from __future__ import annotations

from typing import Any, Callable


def show(app: Any, task: str, what: str | None) -> None:
    """Say what ``task`` is doing (``what``), or that it has ended (``None``); repaint the status line."""
    if what is None:
        app.busy.pop(task, None)
    else:
        app.busy[task] = what
    from pactclient.tui.widgets.status_bar import StatusBar

    for bar in app.screen.query(StatusBar):
        bar.update_status()


def counter(app: Any, task: str, doing: str, unit: str) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback for a worker thread: reports each new whole percent only,
    so a long export posts about a hundred updates, not one per change."""
    last = [-1]

    def progress(done: int, total: int) -> None:
        percent = done * 100 // total if total else 100
        if percent != last[0]:
            last[0] = percent
            app.call_from_thread(show, app, task, f"{doing}: {done:,} of {total:,} {unit}")
    return progress
