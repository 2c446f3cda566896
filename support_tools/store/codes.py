"""Public reference codes: `RMA-` / `TCK-` / `REC-` followed by random upper-case letters and digits."""

from __future__ import annotations

import secrets
import string

ALPHABET = string.ascii_uppercase + string.digits


def new_code(prefix: str, length: int = 8) -> str:
    return f"{prefix}-" + "".join(secrets.choice(ALPHABET) for _ in range(length))
