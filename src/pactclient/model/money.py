"""Money as integer minor units, always with a direction: who owes whom."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from pactclient.errors import UsageError

# ISO 4217 exponents that differ from the usual two decimal places.
_EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3}
_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥"}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def parse_amount(text: str, currency: str) -> int:
    """'250.00' in GBP -> 25000. Refuses negatives: direction is carried by owed_by/owed_to."""
    try:
        amount = Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        raise UsageError(f"not an amount: {text!r}") from None
    if not amount.is_finite() or amount < 0:
        raise UsageError(f"an amount must be zero or positive (say who owes whom instead of a sign): {text!r}")
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise UsageError(f"{text} has more decimal places than {currency.upper()} allows")
    return int(scaled)


def format_amount(minor: int, currency: str) -> str:
    exp = exponent(currency)
    value = Decimal(minor).scaleb(-exp)
    number = f"{value:,.{exp}f}"
    symbol = _SYMBOLS.get(currency.upper())
    return f"{symbol}{number}" if symbol else f"{number} {currency.upper()}"


def format_debt(minor: int, currency: str, debtor: str, creditor: str) -> str:
    """'BT owes Alice £250.00' — never a bare balance."""
    if minor == 0:
        return f"nothing owed between {debtor} and {creditor}"
    return f"{debtor} owes {creditor} {format_amount(minor, currency)}"
