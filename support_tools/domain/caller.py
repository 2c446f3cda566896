"""What the support domain knows about the person on the line, for one session."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_VERIFICATION_ATTEMPTS = 3


@dataclass
class CallerState:
    """Identity and progress of one caller; lives as long as the session.

    `customer_id` is the customer's public id (for example `CUS-00042`), set only by a successful
    verification or by a trusted `customer_id` participant attribute.
    """

    session_id: str
    room: str | None = None
    customer_id: str | None = None
    failed_verifications: int = 0
    ticket_number: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return self.customer_id is not None

    @property
    def verification_locked(self) -> bool:
        return self.failed_verifications >= MAX_VERIFICATION_ATTEMPTS
