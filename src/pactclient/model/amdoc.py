"""Plain-Python reads and writes of an Automerge document.

The model keeps every contract field as a plain scalar, map or list, so a whole document (or the
document as it was at some heads) can be read into dicts and lists and reasoned about without
Automerge object ids leaking into the rest of the code.
"""

from __future__ import annotations

from typing import Any

from automerge.core import ROOT, Document, ObjType, ScalarType

from pactclient.errors import FormatError


def bindings_failed(exc: BaseException) -> bool:
    """Whether ``exc`` is how the Automerge bindings refuse malformed input: a plain ``Exception``, or
    pyo3's ``PanicException`` when the Rust code panics on it. The latter derives from BaseException,
    so ``except Exception`` lets it through; catch BaseException and re-raise when this is False."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


class ReadCache:
    """What reading one contract's document can reuse between reads of its current state.

    * Timeline entries by element id: they never change once written, and the timeline only grows,
      so reading it costs a lookup per entry instead of a walk of each.
    * The timeline as last read (element ids and entries): a later read that finds the same elements
      first reads only the ones after them.
    * The last view built and the heads it was built at: a document's content is fixed by its heads,
      so a view is reused for as long as the document does not move (see ``actions.view_of``).

    Only used for the current state (no ``heads``).
    """

    def __init__(self) -> None:
        self.entries: dict[bytes, Any] = {}
        self.view_heads: tuple[bytes, ...] | None = None
        self.view: Any = None
        self.timeline: tuple[bytes, list, tuple] | None = None  # (list id, element ids, entries) last read
        self.signers: tuple[list[bytes], frozenset[str]] | None = None  # (heads, keys that signed up to them)

    def forget(self) -> None:
        """Drop everything: after a write was rolled back, element ids may be reused for other content."""
        self.entries.clear()
        self.view_heads = self.view = self.timeline = self.signers = None


def materialize(doc: Document, obj: bytes = ROOT, heads: list[bytes] | None = None,
                cache: ReadCache | None = None, skip: tuple[str, ...] = ()) -> Any:
    """Read ``obj`` (default: the root map) into dicts, lists, strings and numbers, leaving out the
    keys in ``skip``."""
    kind = doc.object_type(obj)
    if kind == ObjType.Map:
        out: dict[str, Any] = {}
        # ``values`` lists a map's values in the order ``keys`` lists its keys: one call instead of one per key
        for key, got in zip(doc.keys(obj, heads), doc.values(obj, heads)):
            if key in skip:
                continue
            if got is None:
                continue
            if key == "timeline" and obj == ROOT and cache is not None and heads is None and isinstance(got[0], ObjType):
                out[key] = _cached_list(doc, got[1], cache)
            else:
                out[key] = _value(doc, got, heads)
        return out
    if kind == ObjType.List:
        return [_value(doc, got, heads) for got in doc.values(obj, heads)]
    return doc.text(obj, heads)


def read_timeline(doc: Document, heads: list[bytes], cache: ReadCache | None = None) -> list:
    """The root ``timeline`` list as it stood at ``heads``; through ``cache`` when that is the current state."""
    current = sorted(doc.get_heads()) == sorted(heads)
    got = doc.get(ROOT, "timeline") if current else doc.get(ROOT, "timeline", heads)
    if got is None or not isinstance(got[0], ObjType):
        return []
    if current and cache is not None:
        return _cached_list(doc, got[1], cache)
    at = None if current else heads
    return [_entry(doc, value, obj_id, at) for value, obj_id in doc.values(got[1], at)]


def timeline_entry(doc: Document, got: tuple) -> Any:
    """The current timeline entry ``got`` (a ``(value, id)`` pair from the timeline list)."""
    return _entry(doc, got[0], got[1], None)


def _entry(doc: Document, value, obj_id: bytes, heads: list[bytes] | None) -> Any:
    """A timeline entry, with ``device``: the key that wrote it, from the id of the op that made it
    (whatever the entry itself says)."""
    if not isinstance(value, ObjType):
        return _value(doc, (value, obj_id), heads)
    entry = materialize(doc, obj_id, heads)
    if isinstance(entry, dict):
        entry["device"] = obj_key(obj_id)[0].hex()
    return entry


def _cached_list(doc: Document, obj: bytes, cache: ReadCache) -> list:
    values = doc.values(obj)
    ids = [got[1] for got in values]
    known = cache.timeline
    if known is not None and known[0] == obj and ids[: len(known[1])] == known[1]:
        # The list still starts with the elements read last time (it usually grows at the end): only
        # the ones after them are looked at.
        out, start = list(known[2]), len(known[1])
    else:
        out, start = [], 0
    for got in values[start:]:
        value, obj_id = got
        if isinstance(value, ObjType):
            entry = cache.entries.get(obj_id)
            if entry is None:
                entry = cache.entries[obj_id] = _entry(doc, value, obj_id, None)
            out.append(entry)
        else:
            out.append(_value(doc, got, None))
    cache.timeline = (obj, ids, tuple(out))
    return out


def _value(doc: Document, got: tuple, heads: list[bytes] | None) -> Any:
    value, obj_id = got
    if isinstance(value, ObjType):
        return materialize(doc, obj_id, heads)
    scalar_type, scalar = value
    if scalar_type == ScalarType.Null:
        return None
    return scalar


def put_value(tx, obj: bytes, key: str | int, value: Any, insert: bool = False) -> None:
    """Write a plain Python value under ``key`` (or insert it at list index ``key``)."""
    if isinstance(value, dict):
        child = tx.insert_object(obj, key, ObjType.Map) if insert else tx.put_object(obj, key, ObjType.Map)
        for k, v in value.items():
            put_value(tx, child, k, v)
        return
    if isinstance(value, (list, tuple)):
        child = tx.insert_object(obj, key, ObjType.List) if insert else tx.put_object(obj, key, ObjType.List)
        for i, v in enumerate(value):
            put_value(tx, child, i, v, insert=True)
        return
    scalar_type, scalar = _scalar(value)
    if insert:
        tx.insert(obj, key, scalar_type, scalar)
    else:
        tx.put(obj, key, scalar_type, scalar)


def _scalar(value: Any) -> tuple[ScalarType, Any]:
    if value is None:
        return ScalarType.Null, None
    if isinstance(value, bool):
        return ScalarType.Boolean, value
    if isinstance(value, int):
        return ScalarType.Int, value
    if isinstance(value, float):
        return ScalarType.F64, value
    if isinstance(value, str):
        return ScalarType.Str, value
    raise FormatError(f"cannot store a value of type {type(value).__name__} in a contract")


def obj_key(obj_id: bytes) -> tuple[bytes, int]:
    """(actor, counter) of an object id as the bindings give it: 0x10, actor length, actor, index, counter.
    The object's id is the id of the op that made it, so the counter orders it causally (see
    ``signing.wellformed``: a change's counters are one more than anything it has seen)."""
    length, pos = _uleb(obj_id, 1)
    actor = obj_id[pos : pos + length]
    pos += length
    _, pos = _uleb(obj_id, pos)
    counter, _ = _uleb(obj_id, pos)
    return actor, counter


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def proposal_stamps(doc: Document, heads: list[bytes] | None = None) -> dict[str, tuple]:
    """For each proposal: the id of the op that made it and, per party, of the op that made its answer
    — ``{pid: ((counter, actor), {party: (counter, actor)})}``. Terms replay agreements in the causal
    order these give (see ``model.terms``), never in an order a writer picks by the times it writes."""
    got = doc.get(ROOT, "proposals", heads) if heads is not None else doc.get(ROOT, "proposals")
    if got is None or not isinstance(got[0], ObjType):
        return {}
    parent, out = got[1], {}
    for pid in doc.keys(parent, heads):
        one = doc.get(parent, pid, heads) if heads is not None else doc.get(parent, pid)
        if one is None or not isinstance(one[0], ObjType):
            continue
        actor, counter = obj_key(one[1])
        answers: dict[str, tuple] = {}
        inner = doc.get(one[1], "answers", heads) if heads is not None else doc.get(one[1], "answers")
        if inner is not None and isinstance(inner[0], ObjType):
            for party in doc.keys(inner[1], heads):
                ans = doc.get(inner[1], party, heads) if heads is not None else doc.get(inner[1], party)
                if ans is not None and isinstance(ans[0], ObjType):
                    a, c = obj_key(ans[1])
                    answers[party] = (c, a)
        out[pid] = ((counter, actor), answers)
    return out


def child(doc_or_tx, parent: bytes, key: str) -> bytes | None:
    """The object id under ``parent[key]``, or None if there is no object there."""
    got = doc_or_tx.get(parent, key)
    if got is None or not isinstance(got[0], ObjType):
        return None
    return got[1]


def scalar(doc_or_tx, parent: bytes, key: str, heads: list[bytes] | None = None) -> Any:
    got = doc_or_tx.get(parent, key, heads) if heads is not None else doc_or_tx.get(parent, key)
    if got is None or isinstance(got[0], ObjType):
        return None
    return got[0][1]
