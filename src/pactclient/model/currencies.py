"""ISO 4217 currency codes and their minor-unit digits (how many decimal places an amount may have).

Only these codes are accepted for a new money item or a new amount: "XYZ" is a typing mistake, not a
currency. Amounts already signed into a contract with another code are still shown (two decimals), so
no copy refuses to display history written before this table existed.

The table lists the active codes of ISO 4217 (list one, 2025) that have minor units; fund codes and
precious metals without minor units (XAU, XDR, ...) and the test codes (XTS, XXX) are left out.
"""

from __future__ import annotations

from pactclient.errors import UsageError

_BY_DIGITS = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    2: "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD "
       "CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL "
       "GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD "
       "LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN "
       "PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL "
       "THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL",
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
}

MINOR_DIGITS: dict[str, int] = {code: digits for digits, codes in _BY_DIGITS.items() for code in codes.split()}

# The sign a user may type before an amount, for the currencies whose sign is unambiguous enough.
SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥"}


def is_currency(code: str) -> bool:
    return code.upper() in MINOR_DIGITS


def minor_digits(code: str) -> int:
    """Decimal places of ``code``; 2 for a code not in the table (only old, already signed amounts)."""
    return MINOR_DIGITS.get(code.upper(), 2)


def checked_currency(code: str) -> str:
    """``code`` upper-cased if it is an ISO 4217 code; UsageError (one line) otherwise."""
    cleaned = (code or "").strip().upper()
    if not cleaned:
        raise UsageError("money needs a currency: an ISO 4217 code such as GBP, EUR or USD (e.g. --currency GBP)")
    if cleaned not in MINOR_DIGITS:
        shown = cleaned if cleaned.isprintable() and len(cleaned) <= 12 else repr(cleaned[:12])
        raise UsageError(f"{shown} is not an ISO 4217 currency code (e.g. GBP, EUR, USD, JPY)")
    return cleaned


def currency_of_new_amount(item, requested: str | None) -> str:
    """The currency a new amount of money ``item`` is written in.

    An item keeps the currency it was created with (its terms) or first set in: "--currency JPY" on a
    GBP item would turn £12.50 into ¥13 without anyone agreeing to it, so it is refused.
    """
    established = (item.currency or "").upper()
    if requested is None or not str(requested).strip():
        return checked_currency(established) if established else checked_currency("")
    wanted = checked_currency(requested)
    if established and wanted != established and is_currency(established):  # a non-ISO one may be corrected
        raise UsageError(f"{item.label} is in {established}: its currency cannot be changed to {wanted} "
                         "(give the amount in " + established + ", or propose a new item in " + wanted + ")")
    return wanted
