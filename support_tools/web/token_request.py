"""What `POST /api/token` accepts, checked field by field: every input is hostile until checked.

Body: a JSON object with two optional fields,
    {"name": "Priya", "login": {"username": "priya", "password": "shopme-demo"}}
`name` is the display name shown in the room (1-40 characters, no control characters).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

MAX_NAME_CHARS = 40
MAX_USERNAME_CHARS = 64
MAX_PASSWORD_CHARS = 128
ALLOWED_FIELDS = ("name", "login")
LOGIN_FIELDS = ("username", "password")


class BadTokenRequest(ValueError):
    """The request cannot be served; `str()` is one sentence for the caller."""


@dataclass(frozen=True)
class Login:
    username: str
    password: str


@dataclass(frozen=True)
class TokenRequest:
    display_name: str | None = None
    login: Login | None = None


def parse_token_request(body: Any) -> TokenRequest:
    if not isinstance(body, dict):
        raise BadTokenRequest("The request body must be a JSON object, for example {}.")
    _refuse_unknown(body, ALLOWED_FIELDS, "field")
    return TokenRequest(display_name=_display_name(body.get("name")), login=_login(body.get("login")))


def _refuse_unknown(fields: dict, allowed: tuple[str, str], what: str) -> None:
    """One sentence naming the first unknown field (sorted, so the answer is stable)."""
    unknown = sorted(str(key) for key in fields if key not in allowed)
    if unknown:
        first, second = allowed
        raise BadTokenRequest(
            f'Unknown {what} {_quoted(unknown[0])}: only "{first}" and "{second}" are accepted.'
        )


def _display_name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadTokenRequest("\"name\" must be text.")
    name = " ".join(value.split())
    if not name:
        return None
    if len(name) > MAX_NAME_CHARS:
        raise BadTokenRequest(f"\"name\" must be at most {MAX_NAME_CHARS} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name):
        raise BadTokenRequest("\"name\" contains characters that cannot be shown.")
    return name


def _login(value: Any) -> Login | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadTokenRequest("\"login\" must be an object with \"username\" and \"password\".")
    _refuse_unknown(value, LOGIN_FIELDS, "login field")
    username, password = value.get("username"), value.get("password")
    if not isinstance(username, str) or not username.strip():
        raise BadTokenRequest("\"login.username\" must be non-empty text.")
    if not isinstance(password, str) or not password:
        raise BadTokenRequest("\"login.password\" must be non-empty text.")
    if len(username) > MAX_USERNAME_CHARS or len(password) > MAX_PASSWORD_CHARS:
        raise BadTokenRequest("The username or password is too long.")
    return Login(username=username, password=password)


def _quoted(key: str) -> str:
    # The caller's key is echoed shortened and printable only: it is untrusted text.
    shown = "".join(ch for ch in key[:30] if ch.isprintable())
    return f"\"{shown}\""
