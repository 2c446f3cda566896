"""Turning what the model passes (any JSON value) into clean domain values, or a `SupportError`.

Every tool argument arrives untyped from the model. These checks run before any database work,
so a bad argument never causes a write, and each refusal is a sentence the agent can say back.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import SupportError

MAX_TEXT_CHARS = 200
MAX_REASON_CHARS = 500

ORDER_NUMBER_HELP = (
    "That does not look like a ShopMe order number. Order numbers have 6 digits, for example "
    "482913; please ask the caller to read it again."
)
# "SM-482913", "sm 482913", "#482913", "order no. 482913": the prefix is dropped.
_ORDER_PREFIX = re.compile(r"^(?:order\s*(?:number|num|no)?|sm)?[\s\-#:.]*", re.IGNORECASE)
# Spoken digits come grouped: "4 8 2 9 1 3", "482-913".
_DIGIT_SEPARATORS = frozenset(" -.\u00a0")
# Zero-width (non-)joiners are part of Indic scripts, not junk.
_ALLOWED_FORMAT_CHARS = frozenset("\u200c\u200d")
# Free text that reads like an injection attempt rather than a caller's words.
_CODE_LIKE = re.compile(
    r"--|/\*|\*/|;\s*(?:drop|delete|insert|update|select|alter|truncate|create)\b"
    r"|\bdrop\s+table\b|\bunion\s+select\b|<\s*script",
    re.IGNORECASE,
)
_SKU = re.compile(r"^[A-Z0-9][A-Z0-9\-_.]{1,39}$")
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def _is_junk_char(ch: str) -> bool:
    """Emoji, symbols, control, private-use and unassigned characters."""
    if ch in _ALLOWED_FORMAT_CHARS:
        return False
    category = unicodedata.category(ch)
    return category in ("So", "Sk", "Cc", "Cf", "Co", "Cs", "Cn") or ch == "\ufe0f"


def require_text(value: object, what: str, *, max_chars: int = MAX_TEXT_CHARS) -> str:
    """A non-empty, single-line text without emoji, control characters or code, at most
    `max_chars`. Any script is fine: Hindi, Tamil, Latin."""
    if not isinstance(value, str):
        raise SupportError(f"The {what} must be given as text.")
    if len(value) > max_chars * 4:  # don't even normalise a runaway argument
        raise SupportError(f"The {what} is too long: at most {max_chars} characters.")
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if not text:
        raise SupportError(f"The {what} is empty: please ask the caller for it.")
    if len(text) > max_chars:
        raise SupportError(f"The {what} is too long: at most {max_chars} characters.")
    if any(_is_junk_char(ch) for ch in text):
        raise SupportError(f"The {what} may contain only words, digits and punctuation, no emoji or symbols.")
    if _CODE_LIKE.search(text):
        raise SupportError(f"The {what} should be plain words, as the caller said them.")
    return text


def require_reason(value: object, what: str = "reason") -> str:
    """The caller's reason in their own words (any script), up to 500 characters."""
    return require_text(value, what, max_chars=MAX_REASON_CHARS)


def _ascii_digits(text: str, *, skip: frozenset[str] = frozenset()) -> str | None:
    """Every Unicode decimal digit as ASCII (Devanagari ४ -> 4); None when another char appears."""
    digits = []
    for ch in text:
        if ch in skip:
            continue
        digit = unicodedata.decimal(ch, None)
        if digit is None:
            return None
        digits.append(str(digit))
    return "".join(digits)


def normalize_order_number(value: object) -> str:
    """The canonical order number (6 ASCII digits) of `482913`, `4 8 2 9 1 3`, `SM-482913`,
    `sm 482913`, `#482913`, `४८२९१३` and other Unicode digits, or the int 482913."""
    if isinstance(value, bool):
        raise SupportError(ORDER_NUMBER_HELP)
    if isinstance(value, int):
        if 0 <= value <= 999_999:
            return f"{value:06d}"
        raise SupportError(ORDER_NUMBER_HELP)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT_CHARS:
        raise SupportError(ORDER_NUMBER_HELP)
    text = _ORDER_PREFIX.sub("", unicodedata.normalize("NFC", value.strip()), count=1)
    digits = _ascii_digits(text, skip=_DIGIT_SEPARATORS)
    if digits is None or len(digits) != 6:
        raise SupportError(ORDER_NUMBER_HELP)
    return digits


def normalize_postal_code(value: object) -> str:
    """Postal codes compare without spaces and case: "sw1a 1aa" == "SW1A1AA"; digits in any script."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
        raise SupportError("The postal code must be given as text, for example 560001.")
    chars = []
    for ch in "".join(value.split()).upper():
        digit = unicodedata.decimal(ch, None)
        chars.append(str(digit) if digit is not None else ch)
    code = "".join(chars)
    if not (3 <= len(code) <= 10) or not code.isascii() or not code.replace("-", "").isalnum():
        raise SupportError(
            "That does not look like a postal code. Please ask the caller for the PIN or postal "
            "code the order was delivered to."
        )
    return code


def require_sku(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
        raise SupportError("The SKU must be given as text, as listed by get_order_status.")
    sku = value.strip().upper()
    if not _SKU.match(sku):
        raise SupportError("That is not a valid SKU: use the item's SKU exactly as get_order_status lists it.")
    return sku


def require_quantity(value: object) -> int:
    """A whole number 1..999 (an int, or digits as text); floats and booleans are refused."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 3:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not (1 <= value <= 999):
        raise SupportError("The quantity must be a whole number of items, 1 or more.")
    return value


def normalize_email(value: object) -> str:
    if not isinstance(value, str) or len(value) > 1000:
        raise SupportError("The email address must be given as text, like name@example.com.")
    email = value.strip()
    if len(email) > 254 or not _EMAIL.match(email) or len(email.split("@")[0]) > 64:
        raise SupportError("That is not a valid email address. Please ask the caller to spell it again.")
    local, domain = email.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def normalize_phone(value: object) -> str:
    """8-15 digits with an optional leading +; spaces, dashes, dots and brackets are dropped."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > 40:
        raise SupportError("The phone number must be given as text, with the country code, like +91 98765 43210.")
    text = unicodedata.normalize("NFC", value.strip())
    digits = _ascii_digits(text.removeprefix("+"), skip=frozenset(" -.()\u00a0"))
    if digits is None or not (8 <= len(digits) <= 15):
        raise SupportError(
            "That is not a valid phone number: it should have 8 to 15 digits, with the country "
            "code, like +91 98765 43210."
        )
    return ("+" if text.startswith("+") else "") + digits
