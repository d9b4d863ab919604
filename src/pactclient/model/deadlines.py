"""Deadlines: when one is worth a second look, and when an activity is effectively due.

Effective deadlines. An activity that depends on others cannot start before they are finished, so
its deadline is never judged earlier than theirs: the effective deadline of an activity is the later
of its own agreed deadline and the effective deadlines of the activities it depends on (transitively).
Moving "diagnose" to day 9 while "fix", which depends on it, is due on day 5 makes "fix" effectively
due on day 9: the party who could not start it is not scored as having broken it on day 5. The
computation reads only the terms in force (deadlines and dependencies, both signed and agreed), so
every copy computes the same effective deadlines. A dependency on an activity that does not exist or
has no deadline adds nothing; a cycle of dependencies (which hand-made changes could create) changes
nothing either: the effective deadline is the latest over the set of everything reachable.

Deadlines worth a second look. A deadline in the past, or further ahead than ``FAR_AHEAD_MS``, is
almost always a typing mistake (a wrong year, "3000d" for "30d"); once proposed and accepted it is
signed into the contract, so the CLI refuses it unless ``--force`` says it is meant.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Mapping, Sequence

DAY_MS = 86_400_000
FAR_AHEAD_MS = 2 * 366 * DAY_MS  # about two years


def effective_dues(plan: Mapping[str, tuple[int | None, Sequence[str]]]) -> dict[str, int | None]:
    """``{activity id: (agreed due or None, ids it depends on)}`` -> ``{activity id: effective due}``.

    The effective due is the latest agreed deadline among the activity and everything it depends on,
    directly or through others (a set, so cycles and visiting order change nothing). An activity
    without a deadline of its own has none: it binds nobody to a time.
    """
    out: dict[str, int | None] = {}
    for aid, (due, _deps) in plan.items():
        if not isinstance(due, int):
            out[aid] = None
            continue
        latest, seen, todo = due, {aid}, [aid]
        while todo:
            for dep in plan[todo.pop()][1] or ():
                if isinstance(dep, str) and dep in plan and dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
                    dep_due = plan[dep][0]
                    if isinstance(dep_due, int) and dep_due > latest:
                        latest = dep_due
        out[aid] = latest
    return out


def deadline_concern(due_ms: int, now_ms: int) -> str | None:
    """A sentence saying why ``due_ms`` looks mistaken (in the past, or years ahead); None if it looks fine."""
    when = datetime.fromtimestamp(due_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if due_ms < now_ms:
        return f"the deadline {when} is in the past"
    if due_ms - now_ms > FAR_AHEAD_MS:
        return f"the deadline {when} is more than two years ahead"
    return None
