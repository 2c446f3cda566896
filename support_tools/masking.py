"""Masking personal data (emails, phone numbers) for confirmations, audit rows, logs and records.

`mask_pii` must catch every phone number and email the tools accept, in whatever form it reaches
a record, a ticket or a log line: digits in any script (Devanagari, full-width), grouped by
spaces of any kind (NBSP, thin space), dashes, dots or brackets, and inside JSON text where any
of those characters may be written as a `\\uXXXX` escape. So it looks at the text as decoded
(JSON escapes read as the characters they stand for) and replaces what it finds in the text as
written. It keeps the last 4 digits of a phone number and the first letter and domain of an
email; dates and times written by the shop (ISO 8601), order numbers, PIN codes, amounts and
codes glued to letters (tracking numbers, SKUs) stay readable.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

_EMAIL_IN_TEXT = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)
# An ISO date the shop wrote, alone or with its time: readable, and never part of a phone
# number. A date followed by more digits (no time) is not taken for one: "2026-11-23 4567" may
# be a phone number, and is masked.
_SHOP_DATE_TIME = re.compile(
    r"(?<![0-9])(?:19|20)[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?(?![0-9])"
    r"|(?![-.\s(]*[0-9]))"
)
_JSON_ESCAPE = re.compile(
    r'\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|(["\\/bfnrt]))'
)
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
MIN_PHONE_DIGITS = 8  # the tools accept 8 to 15; longer runs (card numbers) are masked too
MAX_SEPARATOR_RUN = 3
_BLOCKED = "\x00"
_DIGIT = re.compile(r"\d")  # any script's decimal digits, as str.isdecimal


def _ascii_digit(ch: str) -> str:
    return str(unicodedata.decimal(ch))


def mask_email(email: str) -> str:
    """`riya.sharma@example.com` -> `r***@example.com`."""
    local, at, domain = email.strip().rpartition("@")
    if not at or not local or not domain:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_phone(phone: str) -> str:
    """`+91 98765 43210` -> `******3210`: the last four digits only (as ASCII digits)."""
    digits = [_ascii_digit(ch) for ch in phone if ch.isdecimal()]
    return "******" + ("".join(digits[-4:]) if len(digits) >= 4 else "")


def _is_separator(ch: str) -> bool:
    """Between digit groups of a phone number: any space (NBSP, thin, ...), a dash or a dot."""
    return ch in "-." or unicodedata.category(ch) in ("Zs", "Pd")


def _glued(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _decoded(text: str) -> tuple[str, list[int] | None]:
    """The text with JSON escapes decoded, and where each decoded character starts in `text`
    (None: nothing to decode, positions are the same)."""
    if "\\" not in text:
        return text, None
    chars: list[str] = []
    starts: list[int] = []
    position = 0
    for match in _JSON_ESCAPE.finditer(text):
        for index in range(position, match.start()):
            chars.append(text[index])
            starts.append(index)
        high, low, single, simple = match.groups()
        if high:
            chars.append(chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00)))
        elif single:
            chars.append(chr(int(single, 16)))
        else:
            chars.append(_SIMPLE_ESCAPES[simple])
        starts.append(match.start())
        position = match.end()
    for index in range(position, len(text)):
        chars.append(text[index])
        starts.append(index)
    starts.append(len(text))
    return "".join(chars), starts


def _phone_runs(text: str) -> list[tuple[int, int]]:
    """Spans of phone-looking runs: an optional +, digit groups joined by separators or
    brackets, not glued to letters or digits, with at least MIN_PHONE_DIGITS digits. One pass."""
    spans = []
    length, i = len(text), 0
    while i < length:
        ch = text[i]
        starts_run = ch == "+" or ch == "(" or ch.isdecimal()
        if not starts_run or (i > 0 and (_glued(text[i - 1]) or text[i - 1] == "+")):
            i += 1
            continue
        j, separators, digits = i + (ch == "+"), 0, 0
        while j < length:
            cj = text[j]
            if cj.isdecimal():
                digits, separators = digits + 1, 0
            elif cj in "()":
                separators = 0
            elif _is_separator(cj) and separators < MAX_SEPARATOR_RUN:
                separators += 1
            else:
                break
            j += 1
        end = j
        while end > i and (_is_separator(text[end - 1]) or text[end - 1] == "("):
            end -= 1
        if digits >= MIN_PHONE_DIGITS and not (end < length and _glued(text[end])):
            spans.append((i, end))
        i = max(j, i + 1)
    return spans


def mask_pii(text: str) -> str:
    """Every email address and phone-looking number in free text or JSON text, masked."""
    if not text:
        return text
    decoded, starts = _decoded(text)
    replacements: list[tuple[int, int, str]] = []  # in decoded positions
    scan = list(decoded)
    for match in _EMAIL_IN_TEXT.finditer(decoded):
        replacements.append((match.start(), match.end(), mask_email(match.group(0))))
        scan[match.start():match.end()] = _BLOCKED * (match.end() - match.start())
    for match in _SHOP_DATE_TIME.finditer(decoded):
        scan[match.start():match.end()] = _BLOCKED * (match.end() - match.start())
    scanned = "".join(scan)
    # Most text (a question, a tool's answer) has too few digits for any phone number.
    phone_runs = _phone_runs(scanned) if len(_DIGIT.findall(scanned)) >= MIN_PHONE_DIGITS else []
    for start, end in phone_runs:
        replacements.append((start, end, mask_phone(decoded[start:end])))
    if not replacements:
        return text
    replacements.sort()
    pieces, position = [], 0
    for start, end, masked in replacements:
        raw_start, raw_end = (start, end) if starts is None else (starts[start], starts[end])
        pieces += [text[position:raw_start], masked]
        position = raw_end
    pieces.append(text[position:])
    return "".join(pieces)


def mask_value(value: Any) -> Any:
    """`mask_pii` through JSON-like values (dicts, lists, strings); other values as they are."""
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {key: mask_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(item) for item in value]
    return value


class MaskPiiInLogs(logging.Filter):
    """livekit-agents logs tool arguments and transcripts in `lk.pii.*` extra fields, which its
    formatters print (DEBUG in dev and console mode): mask emails and phone numbers there,
    whatever their shape (text, or the parsed arguments as a dict)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in list(record.__dict__.items()):
            if key.startswith("lk.pii."):
                record.__dict__[key] = mask_value(value)
        message = record.getMessage()
        masked = mask_pii(message)
        if masked != message:  # a message may quote a value too ("could not parse ...: <args>")
            record.msg, record.args = masked, None
        return True
