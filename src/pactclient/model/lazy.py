"""``LazyEntries``: a sequence that reads its entries only when first used."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Callable


class LazyEntries(Sequence):
    """An immutable sequence of timeline entries, read only when first used.

    The timeline is the part of a contract that grows without bound, and most uses of a view (the
    checks every action makes) never look at it. Compares, copies and iterates like a tuple.
    """

    def __init__(self, read: Callable[[], Sequence[dict]]):
        self._read: Callable[[], Sequence[dict]] | None = read
        self._entries: tuple[dict, ...] = ()

    def _all(self) -> tuple[dict, ...]:
        if self._read is not None:
            self._entries, self._read = tuple(self._read()), None
        return self._entries

    def was_read(self) -> bool:
        return self._read is None

    def __getitem__(self, index):
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self):
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (LazyEntries, tuple)):
            return self._all() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # entries are dicts

    def __repr__(self) -> str:
        return f"LazyEntries({self._all()!r})" if self._read is None else "LazyEntries(<not read yet>)"

    def __deepcopy__(self, memo: dict) -> tuple[dict, ...]:
        # ``dataclasses.asdict`` deep-copies field values: give it the plain tuple.
        return copy.deepcopy(self._all(), memo)
