"""Amounts are integer minor units plus an ISO currency code; this formats them for speaking."""

from __future__ import annotations

SYMBOLS = {"INR": "₹", "USD": "$", "GBP": "£", "EUR": "€"}
MINOR_DIGITS = {"JPY": 0}


def _group_indian(whole: int) -> str:
    """1234567 -> 12,34,567 (lakh and crore grouping, as amounts are written in India)."""
    text = str(whole)
    if len(text) <= 3:
        return text
    head, tail = text[:-3], text[-3:]
    pairs = []
    while len(head) > 2:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    return ",".join([head, *pairs, tail]) if head else ",".join([*pairs, tail])


def format_money(minor: int, currency: str) -> str:
    """`format_money(129900, "INR")` -> `₹1,299.00`; `format_money(2499, "USD")` -> `$24.99`."""
    digits = MINOR_DIGITS.get(currency, 2)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**digits) if digits else (abs(minor), 0)
    grouped = _group_indian(whole) if currency == "INR" else f"{whole:,}"
    amount = f"{grouped}.{fraction:0{digits}d}" if digits else grouped
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def money_dict(minor: int, currency: str) -> dict[str, object]:
    """The JSON shape of an amount in tool results."""
    return {"amount": format_money(minor, currency), "minor_units": minor, "currency": currency}
