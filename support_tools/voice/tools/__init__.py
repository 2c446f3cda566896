"""The `@function_tool`s the realtime model may call: one module per capability.

Each tool checks nothing itself: it hands its arguments to `SupportService` (domain/service.py),
which calls the domain module named below, and turns a refusal into a `ToolError`.

| tool                    | module here    | domain module (support_tools/domain/) | touches                        |
|-------------------------|----------------|---------------------------------------|--------------------------------|
| verify_customer         | identity.py    | verification.py                       | orders (read), session identity |
| get_order_status        | orders.py      | orders.py                             | orders, items (read); order card to the app (voice/order_card.py) |
| cancel_order            | orders.py      | cancellations.py                      | orders, cancellations          |
| start_return            | returns.py     | returns.py                            | order items, returns           |
| update_contact_details  | account.py     | contacts.py                           | customers, contact-change audit |
| schedule_callback       | account.py     | callbacks.py                          | callbacks                      |
| get_product_info        | catalog.py     | products.py                           | products (read)                |
| lookup_policy           | catalog.py     | policies.py                           | prompts/policies/*.md (read)   |
| escalate_to_human       | escalation.py  | tickets.py                            | tickets; webhook, hand-off, SIP transfer (voice/escalation_flow.py) |
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
