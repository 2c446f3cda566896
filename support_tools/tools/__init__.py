"""The `@function_tool`s the realtime model may call: one module per capability.

| tool                    | module         | touches                                   |
|-------------------------|----------------|-------------------------------------------|
| verify_customer         | identity.py    | orders (read), session identity           |
| get_order_status        | orders.py      | orders, items (read); order card to the app |
| cancel_order            | orders.py      | orders, cancellations                     |
| start_return            | returns.py     | order items, returns                      |
| update_contact_details  | account.py     | customers, contact-change audit           |
| schedule_callback       | account.py     | callbacks                                 |
| get_product_info        | catalog.py     | products (read)                           |
| lookup_policy           | catalog.py     | prompts/policies/*.md (read)              |
| escalate_to_human       | escalation.py  | tickets; webhook, hand-off, SIP transfer  |
"""

from .account import schedule_callback, update_contact_details
from .catalog import get_product_info, lookup_policy
from .escalation import escalate_to_human
from .identity import verify_customer
from .orders import cancel_order, get_order_status
from .returns import start_return

ALL_TOOLS = [
    verify_customer,
    get_order_status,
    start_return,
    cancel_order,
    update_contact_details,
    schedule_callback,
    get_product_info,
    lookup_policy,
    escalate_to_human,
]

__all__ = ["ALL_TOOLS"]
