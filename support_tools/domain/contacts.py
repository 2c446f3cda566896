"""Changing the verified customer's email address or phone number, with a masked audit row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..masking import mask_email, mask_phone
from ..store.database import Store
from ..store.models import ContactChange
from .caller import CallerState
from .errors import SupportError
from .normalize import normalize_email, normalize_phone
from .verification import current_customer, require_verified

if TYPE_CHECKING:
    from datetime import datetime

FIELDS = {"email": (normalize_email, mask_email, "email address"), "phone": (normalize_phone, mask_phone, "phone number")}
ONLY_THESE = 'Only the email address or the phone number can be changed: field must be "email" or "phone".'


def _field(value: object) -> tuple[str, tuple]:
    """The field's name and its (normalize, mask, words); anything but email or phone is refused."""
    name = value.strip().lower() if isinstance(value, str) and len(value) <= 20 else None
    if name not in FIELDS:
        raise SupportError(ONLY_THESE)
    return name, FIELDS[name]


async def update_contact_details(
    store: Store, now: datetime, caller: CallerState, field: object, value: object
) -> dict[str, Any]:
    require_verified(caller)
    name, (normalize, mask, words) = _field(field)
    new_value = normalize(value)

    async def operation(session: AsyncSession) -> dict[str, Any]:
        customer = await current_customer(session, caller, for_update=True)
        old_value = getattr(customer, name)
        result = {"field": name, "new_value": mask(new_value)}
        if old_value == new_value:
            return {**result, "changed": False, "message": f"That {words} is already the one on file."}
        setattr(customer, name, new_value)
        session.add(
            ContactChange(
                customer_id=customer.id,
                field=name,
                old_masked=mask(old_value) if old_value else None,
                new_masked=mask(new_value),
                changed_at=now,
                session_id=caller.session_id,
            )
        )
        return {**result, "changed": True, "message": f"The {words} on file is now {mask(new_value)}."}

    return await store.write(operation)
