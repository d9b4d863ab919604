"""Activity transitions on receipt: a progress write moves an activity only as the model allows.

``permissions`` has already checked *who* writes an activity's progress (its assignee or a
coordinator). Here the question is *what* the write does, judged from the activity as it stood at the
change's dependencies (read from the document at those heads: progress, unlike the terms, is written
over):

* a finished activity (done or cancelled) is final: nothing writes its progress again;
* a status follows the previous one as ``rules.NEXT_STATUS`` allows (nothing goes back to open);
* starting or finishing (in_progress, done) needs every activity it depends on finished;
* an activity's progress record is made once; later writes set its fields;
* finishing (status done or cancelled) writes, in the same change, the activity's record in the root
  section ``finished`` — once, ``{status, at, by}`` naming the writer — and only finishing writes it.
  That record is how the views tell that an activity is finished: a status written concurrently by the
  other party allowed to move it (assignee and coordinator) may win Automerge's conflict in
  ``progress`` (even hide a progress record made at the same time), but it cannot undo a finish.

Only changes that write progress pay for the read at past heads.
"""

from __future__ import annotations

from dataclasses import dataclass

from automerge.core import Document, ObjType

from pactclient.model import rules
from pactclient.model.schema import FINISHED


@dataclass
class ProgressWrite:
    """What one change writes of one activity's progress and finish."""

    status: object = None  # the status written in ``progress``, if any
    made_anew: bool = False  # the change makes the activity's progress record
    finish: object = None  # the status its ``finished`` record gives, if the change makes one
    finish_made: bool = False  # the change makes the activity's ``finished`` record


def check(doc: Document, sections: dict, deps, terms, writes: dict[str, ProgressWrite]) -> tuple[str, str] | None:
    """``sections``: the root sections' object ids. Returns (rule, detail) for the first write that
    breaks a rule, else None."""
    heads = list(deps)
    progress_obj, finished_obj = sections.get("progress"), sections.get("finished")
    for activity, write in writes.items():
        status = write.status
        if write.finish_made or write.finish is not None:
            if not write.finish_made or write.finish not in FINISHED:
                return "transition", f"the finish of {activity!r} is not a new record of done or cancelled"
            if status is not None and status != write.finish:
                return "transition", f"{activity!r} is finished as {write.finish} but its status is set to {status}"
            status = write.finish
        elif status in FINISHED:
            return "transition", f"{activity!r} becomes {status} without its record in 'finished'"
        record, before = _status_at(doc, progress_obj, finished_obj, activity, heads)
        if record and write.made_anew:
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
                if dep in terms.activities and _status_at(doc, progress_obj, finished_obj, dep, heads)[1] not in FINISHED:
                    return "transition", f"{activity!r} becomes {status} while {dep!r}, which it depends on, is not finished"
    return None


def _status_at(doc: Document, progress_obj: bytes | None, finished_obj: bytes | None, activity: str,
               heads: list[bytes]) -> tuple[bool, str]:
    """(whether a progress or finish record exists, the status) of ``activity`` at ``heads``, read as
    the views read it: a finish record decides first."""
    end = _record_at(doc, finished_obj, activity, heads)
    if end is not None:
        got = doc.get(end, "status", heads)
        return True, got[0][1] if got is not None and not isinstance(got[0], ObjType) else "done"
    record = _record_at(doc, progress_obj, activity, heads)
    if record is None:
        return False, "open"
    status = doc.get(record, "status", heads)
    if status is None or isinstance(status[0], ObjType):
        return True, "open"
    return True, status[0][1] if isinstance(status[0][1], str) else "open"


def _record_at(doc: Document, parent: bytes | None, key: str, heads: list[bytes]) -> bytes | None:
    if parent is None:
        return None
    try:
        got = doc.get(parent, key, heads)
    except Exception:  # the section itself is not among those heads' objects
        return None
    return got[1] if got is not None and isinstance(got[0], ObjType) else None
