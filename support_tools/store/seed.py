"""Demo data: deterministic (`random.Random(seed)`), dated relative to a given "now".

Fixed, well-known cases always exist with stable numbers so the README can cite them (customer
Priya Sharma, delivery PIN code 560001):

| order  | situation                                                    |
|--------|--------------------------------------------------------------|
| 482913 | shipped, on its way (status question, order card)            |
| 517204 | delivered 5 days ago, two items (return inside the window)   |
| 529029 | delivered 29 days ago                                        |
| 530030 | delivered exactly 30 days ago: last day of the return window |
| 531031 | delivered 31 days ago: return refused                        |
| 605118 | delivered 8 days ago, a final-sale scarf (return refused)    |
| 640233 | delivered 12 days ago, 3 t-shirts, 1 already returned        |
| 710245 | processing: can still be cancelled                           |
| 488120 | in transit; 499870 out for delivery; 455301 cancelled; 433876 returned |

Around them: 60 more customers (mostly Indian names and 6-digit PIN codes, a few in the US and
the UK) and 330 orders in every status, some with partial returns already recorded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .database import Store
from .models import (
    V1_TABLES,
    Callback,
    Cancellation,
    Customer,
    Order,
    OrderItem,
    Product,
    Return,
)

DEFAULT_SEED = 42
SHOP_TZ = ZoneInfo("Asia/Kolkata")
RANDOM_CUSTOMERS = 60
RANDOM_ORDERS = 330
CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

# sku, name, price in paise, stock, final sale
CATALOG: list[tuple[str, str, int, int, bool]] = [
    ("SM-KURTA-BLU-M", "Cotton kurta, blue, M", 129900, 42, False),
    ("SM-KURTA-WHT-L", "Cotton kurta, white, L", 129900, 0, False),
    ("SM-TSHIRT-BLK-M", "Black cotton t-shirt, M", 59900, 120, False),
    ("SM-TSHIRT-WHT-L", "White cotton t-shirt, L", 59900, 85, False),
    ("SM-JEANS-IND-32", "Indigo slim jeans, 32", 189900, 30, False),
    ("SM-SAREE-SLK-RED", "Red silk saree", 449900, 7, False),
    ("SM-SNEAK-WHT-42", "White sneakers, size 42", 279900, 18, False),
    ("SM-BAG-TAN", "Tan leather tote bag", 329900, 11, False),
    ("SM-CLR-SCARF-GRN", "Green wool scarf (clearance)", 34900, 25, True),
    ("SM-MUG-CER-2", "Ceramic mugs, set of 2", 49900, 60, False),
    ("SM-LAMP-BRS", "Brass table lamp", 219900, 9, False),
    ("SM-BOTTLE-STL-1L", "Steel water bottle, 1 litre", 69900, 200, False),
    ("SM-HEADPH-BT", "Bluetooth headphones", 349900, 14, False),
    ("SM-WATCH-FIT", "Fitness watch", 499900, 5, False),
    ("SM-DUPATTA-PNK", "Pink chiffon dupatta", 79900, 40, False),
    ("SM-BEDSHEET-DBL", "Cotton double bedsheet", 149900, 33, False),
    ("SM-TOWEL-SET-4", "Bath towels, set of 4", 119900, 27, False),
    ("SM-YOGA-MAT", "Yoga mat, 6 mm", 89900, 50, False),
    ("SM-BACKPACK-GRY", "Grey laptop backpack", 179900, 19, False),
    ("SM-SUNGLS-BLK", "Black sunglasses", 99900, 0, False),
    ("SM-LIPSTK-RED", "Matte lipstick, red (opened items final sale)", 44900, 70, True),
    ("SM-PERFUME-50", "Eau de parfum, 50 ml", 199900, 12, True),
    ("SM-GIFTCARD-1000", "Gift card, 1,000 rupees", 100000, 999, True),
    ("SM-CLR-SHIRT-CHK", "Checked shirt (clearance)", 69900, 8, True),
    ("SM-PRESSURE-5L", "Pressure cooker, 5 litre", 259900, 16, False),
    ("SM-TAWA-NS", "Non-stick tawa", 89900, 22, False),
    ("SM-KETTLE-EL", "Electric kettle", 149900, 0, False),
    ("SM-NOTEBOOK-A5", "A5 notebooks, pack of 3", 29900, 150, False),
    ("SM-PHONECASE-CLR", "Clear phone case", 39900, 90, False),
    ("SM-SANDAL-BRN-8", "Brown leather sandals, size 8", 159900, 13, False),
]
PRICE = {sku: price for sku, _, price, _, _ in CATALOG}
NAME = {sku: name for sku, name, _, _, _ in CATALOG}
FINAL_SALE = {sku: final for sku, _, _, _, final in CATALOG}
SKUS = [sku for sku, *_ in CATALOG]

FIRST_NAMES = [
    "Aarav", "Vivaan", "Aditya", "Arjun", "Sai", "Reyansh", "Krishna", "Ishaan", "Rohan", "Kabir",
    "Ananya", "Diya", "Saanvi", "Aadhya", "Kavya", "Meera", "Isha", "Pooja", "Neha", "Lakshmi",
    "Rahul", "Vikram", "Suresh", "Deepak", "Harpreet", "Gurpreet", "Farhan", "Imran", "Zoya", "Fatima",
    "Sneha", "Divya", "Nikhil", "Karthik", "Venkat", "Aparna", "Shreya", "Tanvi", "Manish", "Anil",
]
LAST_NAMES = [
    "Sharma", "Verma", "Gupta", "Iyer", "Nair", "Reddy", "Patel", "Shah", "Mehta", "Singh",
    "Kaur", "Khan", "Das", "Banerjee", "Chatterjee", "Mukherjee", "Rao", "Pillai", "Menon", "Joshi",
    "Kulkarni", "Desai", "Agarwal", "Bose", "Chopra", "Malhotra", "Naidu", "Hegde", "Siddiqui", "Fernandes",
]
IN_PINS = [
    "560001", "560034", "560076", "400001", "400050", "110001", "110017", "600001", "600028",
    "500001", "500081", "700001", "700091", "411001", "411038", "302001", "380001", "226001",
    "682001", "160017", "462001", "452001", "800001", "781001",
]
US_PEOPLE = [("Emily", "Carter"), ("Michael", "Nguyen"), ("Sarah", "Johnson"), ("David", "Kim"), ("Jessica", "Lopez")]
US_ZIPS = ["94107", "10001", "60601", "98101", "73301"]
UK_PEOPLE = [("Oliver", "Bennett"), ("Amelia", "Hughes"), ("Harry", "Patel"), ("Grace", "Wilson")]
UK_POSTCODES = ["SW1A 1AA", "EC1A 1BB", "M1 1AE", "B33 8TH", "EH1 1YZ"]
CARRIERS = {
    "IN": [("Delhivery", "DL{n9}IN"), ("Blue Dart", "BD{n9}IN"), ("Ekart", "FMPC{n10}"), ("India Post", "EE{n9}IN")],
    "US": [("UPS", "1Z{n16}"), ("USPS", "9400{n18}")],
    "GB": [("Royal Mail", "RM{n9}GB"), ("DPD", "15{n12}")],
}
CURRENCY = {"IN": "INR", "US": "USD", "GB": "GBP"}
PAISE_PER_MINOR = {"INR": 1.0, "USD": 83.0, "GBP": 105.0}

FIXED_PIN = "560001"
FIXED_ORDER = "482913"


@dataclass
class DemoData:
    """Rows to insert, table by table, with explicit ids."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    returns: list[dict[str, Any]] = field(default_factory=list)
    cancellations: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)


class _Builder:
    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now.astimezone(UTC)
        self.today = self.now.astimezone(SHOP_TZ).date()
        self.data = DemoData()
        self.used_numbers: set[str] = set()

    # --- helpers ---
    def local_moment(self, days_ago: int, hour: int, minute: int = 0) -> datetime:
        """A moment on the shop-local calendar day `days_ago` days before today."""
        moment = datetime.combine(self.today - timedelta(days=days_ago), time(hour, minute), SHOP_TZ)
        return min(moment.astimezone(UTC), self.now - timedelta(minutes=5))

    def code(self, prefix: str) -> str:
        return prefix + "-" + "".join(self.rng.choice(CODE_ALPHABET) for _ in range(8))

    def tracking(self, country: str) -> tuple[str, str]:
        carrier, pattern = self.rng.choice(CARRIERS[country])
        number = pattern
        for width in (18, 16, 12, 10, 9):
            token = f"{{n{width}}}"
            if token in number:
                number = number.replace(token, "".join(self.rng.choice("0123456789") for _ in range(width)))
        return carrier, number

    def price(self, sku: str, currency: str) -> int:
        return int(round(PRICE[sku] / PAISE_PER_MINOR[currency]))

    def add_customer(self, first: str, last: str, country: str, *, phone: str | None = "auto", email: str | None = "auto") -> int:
        cid = len(self.data.customers) + 1
        if email == "auto":
            email = f"{first}.{last}{cid}@example.{'in' if country == 'IN' else 'com'}".lower()
        if phone == "auto":
            phone = {
                "IN": "+91" + self.rng.choice("6789") + "".join(self.rng.choice("0123456789") for _ in range(9)),
                "US": "+1415555" + "".join(self.rng.choice("0123456789") for _ in range(4)),
                "GB": "+447700900" + "".join(self.rng.choice("0123456789") for _ in range(3)),
            }[country]
        self.data.customers.append(
            {"id": cid, "public_id": f"CUS-{cid:05d}", "first_name": first, "last_name": last,
             "email": email, "phone": phone, "country": country}
        )
        return cid

    def new_number(self) -> str:
        while True:
            number = str(self.rng.randint(100000, 999999))
            if number not in self.used_numbers:
                self.used_numbers.add(number)
                return number

    def add_order(
        self,
        customer_id: int,
        status: str,
        lines: list[tuple[str, int]],
        *,
        number: str | None = None,
        postal: str,
        country: str = "IN",
        age_days: int | None = None,
        shipment: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """An order with consistent dates for its status. `age_days` is days since delivery for
        delivered/returned orders, otherwise days since it was placed."""
        rng = self.rng
        if number is None:
            number = self.new_number()
        else:
            self.used_numbers.add(number)
        currency = CURRENCY[country]
        placed = shipped = delivered = None
        eta: date | None = None
        if status == "processing":
            placed = self.now - timedelta(hours=rng.randint(1, 30))
        elif status in ("shipped", "in_transit", "out_for_delivery"):
            placed_days = age_days if age_days is not None else rng.randint(2, 6)
            placed = self.local_moment(placed_days, rng.randint(8, 22), rng.randint(0, 59))
            shipped = min(placed + timedelta(hours=rng.randint(12, 30)), self.now - timedelta(hours=2))
            ahead = {"shipped": rng.randint(2, 4), "in_transit": rng.randint(1, 3), "out_for_delivery": 0}[status]
            eta = self.today + timedelta(days=ahead)
        elif status in ("delivered", "returned"):
            since = age_days if age_days is not None else rng.randint(1, 120)
            delivered = self.local_moment(since, rng.randint(10, 19), rng.randint(0, 59))
            shipped = delivered - timedelta(days=rng.randint(2, 4), hours=rng.randint(0, 9))
            placed = shipped - timedelta(hours=rng.randint(10, 40))
            eta = self.today - timedelta(days=since)
        elif status == "cancelled":
            placed_days = age_days if age_days is not None else rng.randint(1, 60)
            placed = self.local_moment(placed_days, rng.randint(8, 22), rng.randint(0, 59))
        carrier = tracking = None
        if shipped is not None:
            carrier, tracking = shipment or self.tracking(country)
        order_id = len(self.data.orders) + 1
        total = 0
        for sku, quantity in lines:
            unit = self.price(sku, currency)
            total += unit * quantity
            self.data.items.append(
                {"id": len(self.data.items) + 1, "order_id": order_id, "sku": sku, "name": NAME[sku],
                 "unit_price_minor": unit, "quantity": quantity, "final_sale": FINAL_SALE[sku]}
            )
        order = {
            "id": order_id, "number": number, "customer_id": customer_id, "status": status,
            "placed_at": placed, "shipped_at": shipped, "delivered_at": delivered,
            "estimated_delivery": eta, "carrier": carrier, "tracking_number": tracking,
            "delivery_postal_code": postal, "delivery_country": country, "currency": currency,
            "total_minor": total,
        }
        self.data.orders.append(order)
        if status == "cancelled":
            self.data.cancellations.append(
                {"id": len(self.data.cancellations) + 1, "order_id": order_id, "reason": "Changed my mind",
                 "refund_minor": total, "currency": currency,
                 "created_at": placed + timedelta(hours=rng.randint(1, 12)), "session_id": None}
            )
        if status == "returned":
            for item in self.items_of(order_id):
                self.add_return(order, item, item["quantity"], "refunded")
        return order

    def items_of(self, order_id: int) -> list[dict[str, Any]]:
        return [item for item in self.data.items if item["order_id"] == order_id]

    def add_return(self, order: dict[str, Any], item: dict[str, Any], quantity: int, status: str) -> None:
        earlier = sum(1 for r in self.data.returns if r["order_item_id"] == item["id"])
        created = order["delivered_at"] + timedelta(days=self.rng.randint(1, 4))
        self.data.returns.append(
            {"id": len(self.data.returns) + 1, "rma": self.code("RMA"), "order_item_id": item["id"],
             "quantity": quantity, "reason": self.rng.choice(["Wrong size", "Not as pictured", "Changed my mind", "Arrived late"]),
             "refund_minor": item["unit_price_minor"] * quantity, "currency": order["currency"],
             "status": status, "created_at": min(created, self.now - timedelta(hours=1)),
             "idempotency_key": f"{item['id']}#{earlier + 1}", "session_id": None}
        )


def _fixed_cases(b: _Builder) -> None:
    priya = b.add_customer("Priya", "Sharma", "IN", phone="+919876543210", email="priya.sharma@example.com")
    b.add_order(priya, "shipped", [("SM-KURTA-BLU-M", 1)], number=FIXED_ORDER, postal=FIXED_PIN, age_days=3,
                shipment=("Delhivery", "DL123456789IN"))
    b.add_order(priya, "delivered", [("SM-TSHIRT-BLK-M", 2), ("SM-JEANS-IND-32", 1)], number="517204", postal=FIXED_PIN, age_days=5)
    b.add_order(priya, "delivered", [("SM-SAREE-SLK-RED", 1)], number="529029", postal=FIXED_PIN, age_days=29)
    b.add_order(priya, "delivered", [("SM-SNEAK-WHT-42", 1)], number="530030", postal=FIXED_PIN, age_days=30)
    b.add_order(priya, "delivered", [("SM-BAG-TAN", 1)], number="531031", postal=FIXED_PIN, age_days=31)
    b.add_order(priya, "delivered", [("SM-CLR-SCARF-GRN", 1), ("SM-MUG-CER-2", 1)], number="605118", postal=FIXED_PIN, age_days=8)
    partial = b.add_order(priya, "delivered", [("SM-TSHIRT-WHT-L", 3), ("SM-BOTTLE-STL-1L", 1)], number="640233", postal=FIXED_PIN, age_days=12)
    b.add_return(partial, b.items_of(partial["id"])[0], 1, "refunded")
    b.add_order(priya, "processing", [("SM-LAMP-BRS", 1)], number="710245", postal=FIXED_PIN)
    b.add_order(priya, "in_transit", [("SM-HEADPH-BT", 1)], number="488120", postal=FIXED_PIN, age_days=4)
    b.add_order(priya, "out_for_delivery", [("SM-YOGA-MAT", 1)], number="499870", postal=FIXED_PIN, age_days=5)
    b.add_order(priya, "cancelled", [("SM-WATCH-FIT", 1)], number="455301", postal=FIXED_PIN, age_days=40)
    b.add_order(priya, "returned", [("SM-SANDAL-BRN-8", 1)], number="433876", postal=FIXED_PIN, age_days=50)

    rahul = b.add_customer("Rahul", "Verma", "IN", phone="+919812345678", email="rahul.verma@example.in")
    b.add_order(rahul, "delivered", [("SM-PRESSURE-5L", 1)], number="300125", postal="110001", age_days=3)
    b.add_order(rahul, "processing", [("SM-TAWA-NS", 2)], number="300126", postal="110001")
    emily = b.add_customer("Emily", "Carter", "US", phone="+14155550134", email="emily.carter@example.com")
    b.add_order(emily, "in_transit", [("SM-HEADPH-BT", 1)], number="275310", postal="94107", country="US", age_days=4)
    oliver = b.add_customer("Oliver", "Bennett", "GB", phone="+447700900123", email="oliver.bennett@example.co.uk")
    b.add_order(oliver, "delivered", [("SM-BACKPACK-GRY", 1)], number="268402", postal="SW1A 1AA", country="GB", age_days=6)
    ananya = b.add_customer("Ananya", "Iyer", "IN", phone=None, email="ananya.iyer@example.in")
    b.add_order(ananya, "delivered", [("SM-DUPATTA-PNK", 2)], number="351200", postal="600028", age_days=2)


STATUS_WEIGHTS = [
    ("delivered", 45), ("processing", 10), ("shipped", 10), ("in_transit", 10),
    ("out_for_delivery", 5), ("cancelled", 10), ("returned", 10),
]


def _random_customers_and_orders(b: _Builder) -> None:
    rng = b.rng
    customers: list[tuple[int, str, str]] = []  # id, country, postal code
    for index in range(RANDOM_CUSTOMERS):
        if index % 12 == 5:
            first, last = rng.choice(US_PEOPLE)
            country, postal = "US", rng.choice(US_ZIPS)
        elif index % 15 == 7:
            first, last = rng.choice(UK_PEOPLE)
            country, postal = "GB", rng.choice(UK_POSTCODES)
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            country, postal = "IN", rng.choice(IN_PINS)
        customers.append((b.add_customer(first, last, country), country, postal))
    statuses = [s for s, _ in STATUS_WEIGHTS]
    weights = [w for _, w in STATUS_WEIGHTS]
    for index in range(RANDOM_ORDERS):
        customer_id, country, postal = customers[index % len(customers)] if index < len(customers) else rng.choice(customers)
        status = statuses[index % len(statuses)] if index < len(statuses) * 2 else rng.choices(statuses, weights)[0]
        lines = [(sku, rng.choice([1, 1, 1, 2, 3])) for sku in rng.sample(SKUS, rng.choice([1, 1, 2, 2, 3]))]
        order = b.add_order(customer_id, status, lines, postal=postal, country=country)
        # Partial returns already recorded: one item of some multi-item delivered orders.
        if status == "delivered" and len(lines) > 1 and rng.random() < 0.4:
            item = rng.choice(b.items_of(order["id"]))
            if not item["final_sale"]:
                b.add_return(order, item, rng.randint(1, item["quantity"]), rng.choice(["requested", "refunded"]))
    # A few callbacks already booked.
    for customer_id, _, _ in customers[:3]:
        b.data.callbacks.append(
            {"id": len(b.data.callbacks) + 1, "customer_id": customer_id,
             "scheduled_at": datetime.combine(b.today + timedelta(days=1), time(11, 0), SHOP_TZ).astimezone(UTC),
             "phone": b.data.customers[customer_id - 1]["phone"] or "+919000000000",
             "reason": "Question about a refund", "session_id": None, "created_at": b.now - timedelta(hours=3)}
        )


def build_demo_data(now: datetime, seed: int = DEFAULT_SEED) -> DemoData:
    """The demo rows for `now` (timezone-aware). Same seed and now: the same rows."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    builder = _Builder(random.Random(seed), now)
    builder.data.products = [
        {"id": i, "sku": sku, "name": name, "price_minor": price, "currency": "INR", "stock": stock, "final_sale": final}
        for i, (sku, name, price, stock, final) in enumerate(CATALOG, start=1)
    ]
    _fixed_cases(builder)
    _random_customers_and_orders(builder)
    return builder.data


async def insert_rows(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(table), rows)


async def sync_sequences(conn: AsyncConnection) -> None:
    """After inserting explicit ids, move PostgreSQL's id sequences past them."""
    if conn.dialect.name != "postgresql":
        return
    for table in V1_TABLES:
        if "id" in table.c and table.c.id.autoincrement is not False and table.name != "conversation_records":
            await conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                )
            )


async def seed(store: Store, now: datetime, seed: int = DEFAULT_SEED) -> DemoData:
    """Insert the demo data into an empty store, in one transaction."""
    data = build_demo_data(now, seed)
    async with store.engine.execution_options(shopme_write=True).begin() as conn:
        await insert_rows(conn, Customer.__table__, data.customers)
        await insert_rows(conn, Product.__table__, data.products)
        await insert_rows(conn, Order.__table__, data.orders)
        await insert_rows(conn, OrderItem.__table__, data.items)
        await insert_rows(conn, Return.__table__, data.returns)
        await insert_rows(conn, Cancellation.__table__, data.cancellations)
        await insert_rows(conn, Callback.__table__, data.callbacks)
        await sync_sequences(conn)
    return data


async def seed_if_empty(store: Store, now: datetime, seed_value: int = DEFAULT_SEED) -> bool:
    """Seed the demo data when the store has no customers yet. True when it seeded."""
    async with store.session() as session:
        if await session.scalar(select(func.count()).select_from(Customer)):
            return False
    try:
        await seed(store, now, seed_value)
    except IntegrityError:  # another worker seeded at the same moment
        return False
    return True


async def reset(store: Store, now: datetime, seed_value: int = DEFAULT_SEED) -> DemoData:
    """Wipe every table and seed the demo data again."""
    await store.wipe()
    return await seed(store, now, seed_value)
