"""Values a user types for number items: what a contract can store, refused in words otherwise.

Automerge stores integers as signed 64-bit and floats as IEEE doubles: 10**30 would end in an
OverflowError deep in the bindings, and "1.0e400" would become infinity. Both are refused here,
before anything is written, with the item's name and the value as typed.
"""

from __future__ import annotations

import math

from pactclient.errors import UsageError

INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def parse_number(label: str, value: object) -> int | float:
    """'42' -> 42, '2.5' -> 2.5; UsageError for text that is not a number or does not fit a contract."""
    text = str(value).strip()
    quoted = repr(text[:40] + ("…" if len(text) > 40 else ""))
    try:
        number: int | float = float(text) if "." in text else int(text)
    except ValueError:
        raise UsageError(f"{label} is a number, not {quoted}") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise UsageError(f"{label} is a number, and {quoted} is not a number a contract can hold")
    if isinstance(number, int) and not INT_MIN <= number <= INT_MAX:
        raise UsageError(f"{quoted} is too large for {label} (at most {INT_MAX:,} either way)")
    return number
