"""Product search by SKU or by words of the name: name, price, stock. Open to every caller."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from ..store.database import Store
from ..store.models import Product
from .errors import SupportError
from .money import format_money
from .normalize import require_text

MAX_RESULTS = 5
MAX_WORDS = 6
_WORD = re.compile(r"\w+", re.UNICODE)


def _like_escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _view(product: Product) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "price": format_money(product.price_minor, product.currency),
        "in_stock": product.stock > 0,
        "stock": product.stock,
        "final_sale": product.final_sale,
    }


async def get_product_info(store: Store, query: object) -> dict[str, Any]:
    text = require_text(query, "product search")
    async with store.session() as session:
        by_sku = await session.scalar(select(Product).where(Product.sku == text.upper()))
        if by_sku is not None:
            return {"query": text, "products": [_view(by_sku)], "more": False}
        words = [w for w in _WORD.findall(text.lower()) if len(w) >= 2][:MAX_WORDS]
        if not words:
            raise SupportError("Ask the caller for a product name or SKU to search for.")
        conditions = [func.lower(Product.name).like(f"%{_like_escape(w)}%", escape="\\") for w in words]
        found = (
            await session.scalars(select(Product).where(*conditions).order_by(Product.name).limit(MAX_RESULTS + 1))
        ).all()
    result: dict[str, Any] = {
        "query": text,
        "products": [_view(p) for p in found[:MAX_RESULTS]],
        "more": len(found) > MAX_RESULTS,
    }
    if not found:
        result["message"] = "No product matches that search. Ask for other words or the SKU."
    return result
