"""Activity transitions on receipt: a progress write moves an activity only as the model allows.

``permissions`` has already checked *who* writes an activity's progress (its assignee or a
coordinator). Here the question is *what* the write does, judged from the activity as it stood at the
change's dependencies (read from the document at those heads: progress, unlike the terms, is written
over):

* a finished activity (done or cancelled) is final: nothing writes its progress again;
* a status follows the previous one as ``rules.NEXT_STATUS`` allows (nothing goes back to open);
* starting or finishing (in_progress, done) needs every activity it depends on finished;
* an activity's progress record is made once; later writes set its fields;
* finishing sets a mark that nothing else writes: ``done_at`` only with status done, ``cancelled_at``
  only with status cancelled. The marks are how the views tell that an activity is finished: a status
  written concurrently by the other party allowed to move it (assignee and coordinator) may win
  Automerge's conflict on ``status``, but it writes no mark, so it cannot undo a finish.

Only changes that write progress pay for the read at past heads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from automerge.core import Document, ObjType

from pactclient.model import rules
from pactclient.model.schema import FINISHED


FINISH_MARKS = {"done_at": "done", "cancelled_at": "cancelled"}


@dataclass
class ProgressWrite:
    """What one change writes of one activity's progress."""

    status: object = None  # the status written, if any
    made_anew: bool = False  # the change makes the activity's progress record
    marks: set = field(default_factory=set)  # finish marks written (``FINISH_MARKS``)


def check(doc: Document, progress_obj: bytes | None, deps, terms, writes: dict[str, ProgressWrite]) -> tuple[str, str] | None:
    """Returns (rule, detail) for the first write that breaks a rule, else None."""
    heads = list(deps)
    for activity, write in writes.items():
        status, made_anew = write.status, write.made_anew
        for mark in write.marks:
            if status != FINISH_MARKS[mark]:
                return "transition", f"it writes {mark} of {activity!r} without making it {FINISH_MARKS[mark]}"
        record, before = _status_at(doc, progress_obj, activity, heads)
        if record and made_anew:
            return "transition", f"it makes the progress record of {activity!r} again, over the one that exists"
        if before in FINISHED:
            return "transition", f"{activity!r} is {before}, which is final; it writes its progress again"
        if status is None:
            continue
        if status not in rules.NEXT_STATUS.get(before, ()):
            return "transition", f"{activity!r} goes from {before} to {status}, which the transition table does not allow"
        if status in rules.NEEDS_DEPENDENCIES:
            act = terms.activities.get(activity) or {}
            for dep in act.get("depends_on") or ():
                if dep in terms.activities and _status_at(doc, progress_obj, dep, heads)[1] not in FINISHED:
                    return "transition", f"{activity!r} becomes {status} while {dep!r}, which it depends on, is not finished"
    return None


def _status_at(doc: Document, progress_obj: bytes | None, activity: str, heads: list[bytes]) -> tuple[bool, str]:
    """(whether a progress record exists, the status) of ``activity`` at ``heads``."""
    if progress_obj is None:
        return False, "open"
    try:
        got = doc.get(progress_obj, activity, heads)
    except Exception:  # the progress section itself is not among those heads' objects
        return False, "open"
    if got is None or not isinstance(got[0], ObjType):
        return False, "open"
    for mark, finished in FINISH_MARKS.items():  # as the views read it: a finish mark decides first
        if doc.get(got[1], mark, heads) is not None:
            return True, finished
    status = doc.get(got[1], "status", heads)
    if status is None or isinstance(status[0], ObjType):
        return True, "open"
    return True, status[0][1] if isinstance(status[0][1], str) else "open"
