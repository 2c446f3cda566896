"""Masking personal data (emails, phone numbers) for confirmations, audit rows, logs and records."""

from __future__ import annotations

import logging
import re

_EMAIL_IN_TEXT = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)
# A phone-looking run: optional +, digits in groups split by spaces, dashes or dots, maybe
# brackets round the area code. Not glued to letters or digits (tracking numbers, SKUs).
# Each further group starts with a separator or a bracket: a plain digit run has one way to match
# (a nested `\d+(?:\d+)*` backtracks exponentially when the run is glued to a letter).
_PHONE_IN_TEXT = re.compile(
    r"(?<![\w+])\+?(?:\(\d{1,5}\)[ \-.]{0,3})?\d+(?:[ \-.]{1,3}\(?\d+\)?|\(\d+\))*(?![\w])"
)
_DATE_LIKE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")
_DIGIT_GROUPS = re.compile(r"\d+")


def mask_email(email: str) -> str:
    """`riya.sharma@example.com` -> `r***@example.com`."""
    local, at, domain = email.strip().rpartition("@")
    if not at or not local or not domain:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_phone(phone: str) -> str:
    """`+91 98765 43210` -> `******3210`: the last four digits only."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return "******" + (digits[-4:] if len(digits) >= 4 else "")


def _looks_like_phone(candidate: str) -> bool:
    groups = _DIGIT_GROUPS.findall(candidate)
    count = sum(len(g) for g in groups)
    if _DATE_LIKE.search(candidate):
        return False
    # Order numbers and PIN codes are 6 digits; a few of them side by side are not a phone.
    if all(len(g) == 6 for g in groups):
        return False
    if candidate.startswith("+"):
        return 8 <= count <= 15
    return 10 <= count <= 15


def _mask_phone_match(match: re.Match[str]) -> str:
    candidate = match.group(0).rstrip(" -.")
    if not _looks_like_phone(candidate):
        return match.group(0)
    return mask_phone(candidate) + match.group(0)[len(candidate):]


def mask_pii(text: str) -> str:
    """Every email address and phone-looking number in free text, masked.

    6-digit order numbers, PIN codes, dates, amounts and tracking numbers stay readable.
    """
    if not text:
        return text
    masked = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE_IN_TEXT.sub(_mask_phone_match, masked)


class MaskPiiInLogs(logging.Filter):
    """livekit-agents logs tool arguments and transcripts in `lk.pii.*` extra fields, which its
    formatters print (DEBUG in dev and console mode): mask emails and phone numbers there."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in list(record.__dict__.items()):
            if key.startswith("lk.pii.") and isinstance(value, str):
                record.__dict__[key] = mask_pii(value)
        return True
