"""Money as integer minor units, always with a direction: who owes whom."""

from __future__ import annotations

import re
from decimal import Decimal

from pactclient.errors import UsageError
from pactclient.model.currencies import SYMBOLS, minor_digits

# The largest amount a contract stores: Automerge integers are signed 64-bit.
MAX_MINOR = 2**63 - 1
_PLAIN = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)")
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")  # 1,250.00: commas only between thousands
_DECIMAL_COMMA = re.compile(r"\d+,\d{1,2}")  # 12,50: a decimal comma, which pact does not read
_NOT_A_NUMBER = {"nan", "snan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


def exponent(currency: str) -> int:
    return minor_digits(currency)


def parse_amount(text: str, currency: str) -> int:
    """'250.00' in GBP -> 25000. One way to write an amount, so none is misread (docs/cli.md, "Amounts"):

    digits with an optional decimal point ('1250', '1250.5'); commas only as thousands separators in
    their places ('1,250.00'); the currency's own sign may lead ('£12.34' for GBP). Refused, each with
    its reason: a decimal comma ('12,50'), misplaced commas ('1,2,3'), exponents ('1e3'), another
    currency's sign, nan/inf, a sign (direction is carried by owed_by/owed_to), more decimals than the
    currency has, and amounts beyond what a contract can store.
    """
    raw = "" if text is None else str(text)
    quoted = repr(raw[:40] + ("…" if len(raw) > 40 else ""))
    body = raw.strip()
    cur = currency.upper()
    sign = SYMBOLS.get(cur)
    if sign and body.startswith(sign):
        body = body[len(sign):].strip()
    elif body[:1] and not body[:1].isdigit() and body[:1] not in ".+-" and not body[:1].isalpha():
        raise UsageError(f"give the amount as a number without a currency sign, e.g. 12.34 (not {quoted}); "
                         f"the currency is {cur}")
    if not body:
        raise UsageError(f"not an amount: {quoted} (write it like 250.00)")
    if body.lower() in _NOT_A_NUMBER:
        raise UsageError(f"an amount must be a number, and {quoted} is not a number (write it like 250.00)")
    if body[0] in "+-":
        raise UsageError(f"an amount must be zero or positive (say who owes whom instead of a sign): {quoted}")
    if _GROUPED.fullmatch(body):
        body = body.replace(",", "")
    elif _DECIMAL_COMMA.fullmatch(body):
        raise UsageError(f"use a point for decimals: {body.replace(',', '.')} rather than {quoted} "
                         "(a comma only separates thousands, as in 1,250.00)")
    elif "," in body:
        raise UsageError(f"a comma only separates thousands, as in 1,250.00: {quoted} is not an amount")
    elif not _PLAIN.fullmatch(body):
        raise UsageError(f"not an amount: {quoted} (write it out in digits, like 250.00)")
    if len(body) > 40:
        raise UsageError(f"{quoted} is larger than an amount may be")
    amount = Decimal(body)
    scaled = amount.scaleb(exponent(cur))
    if scaled != scaled.to_integral_value():
        raise UsageError(f"{body} has more decimal places than {cur} allows ({exponent(cur)})")
    if scaled > MAX_MINOR:
        raise UsageError(f"{quoted} is larger than an amount may be (at most {format_amount(MAX_MINOR, cur)})")
    return int(scaled)


def format_amount(minor: int, currency: str) -> str:
    exp = exponent(currency)
    value = Decimal(minor).scaleb(-exp)
    number = f"{value:,.{exp}f}"
    symbol = SYMBOLS.get(currency.upper())
    return f"{symbol}{number}" if symbol else f"{number} {currency.upper()}"


def format_debt(minor: int, currency: str, debtor: str, creditor: str) -> str:
    """'BT owes Alice £250.00' — never a bare balance."""
    if minor == 0:
        return f"nothing owed between {debtor} and {creditor}"
    return f"{debtor} owes {creditor} {format_amount(minor, currency)}"
