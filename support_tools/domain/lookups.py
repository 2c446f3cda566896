"""The read statements behind the calls a caller waits on, built once at import.

Each is a Core statement with named parameters, so a call only binds values (the compiled SQL
comes from SQLAlchemy's statement cache) and rows come back as plain tuples, not ORM objects.
Each answers its question in one statement: one round trip, one consistent picture.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select

from ..store.models import COUNTED_RETURN_STATUSES, Customer, Order, OrderItem, Return

ORDERS_LISTED = 10

# Verification: the order's delivery postal code and whose order it is.
ORDER_OWNER = (
    select(
        Order.delivery_postal_code,
        Customer.id.label("customer_key"),
        Customer.public_id,
        Customer.first_name,
    )
    .join(Customer, Customer.id == Order.customer_id)
    .where(Order.number == bindparam("number"))
)

CUSTOMER_BY_PUBLIC_ID = select(
    Customer.id.label("customer_key"), Customer.public_id, Customer.first_name
).where(Customer.public_id == bindparam("public_id"))

# The customer's newest orders, each row also carrying how many orders they have in all.
RECENT_ORDERS = (
    select(Order.number, Order.status, Order.placed_at, func.count().over().label("orders_total"))
    .where(Order.customer_id == bindparam("customer_key"))
    .order_by(Order.placed_at.desc(), Order.id.desc())
    .limit(ORDERS_LISTED)
)

_RETURNED = (
    select(func.coalesce(func.sum(Return.quantity), 0))
    .where(Return.order_item_id == OrderItem.id, Return.status.in_(COUNTED_RETURN_STATUSES))
    .scalar_subquery()
)

# Order status: one row per order line (the order's columns repeated), only if the order is
# the verified customer's; lines in the order they were placed.
OWN_ORDER_LINES = (
    select(
        Order.number,
        Order.status,
        Order.placed_at,
        Order.shipped_at,
        Order.delivered_at,
        Order.estimated_delivery,
        Order.carrier,
        Order.tracking_number,
        Order.currency,
        Order.total_minor,
        OrderItem.sku,
        OrderItem.name,
        OrderItem.quantity,
        OrderItem.unit_price_minor,
        OrderItem.final_sale,
        _RETURNED.label("returned_quantity"),
    )
    .join(Customer, Customer.id == Order.customer_id)
    .outerjoin(OrderItem, OrderItem.order_id == Order.id)
    .where(Order.number == bindparam("number"), Customer.public_id == bindparam("public_id"))
    .order_by(OrderItem.id)
)
