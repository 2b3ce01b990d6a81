"""Hand-made clickstream events for the processor's tests (the producer is tested on its own).

`simulate` gives a small, seeded, realistic stream: sessions of page views, add-to-carts and
multi-line orders, spread over a few hours, in event-time order per session.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2025, 8, 19, 14, 0, 0, tzinfo=UTC)
DEVICES = {
    "desktop": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    "mobile": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148",
    "tablet": "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) Safari/604.1",
}


def uid(rng: random.Random) -> str:
    """A UUID drawn from `rng` (reproducible)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def iso(t: datetime) -> str:
    """RFC 3339 UTC with milliseconds, as the producer writes it."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def event(
    event_type: str = "page_view",
    t: datetime = T0,
    *,
    event_id: str | None = None,
    user_id: str = "00000000-0000-4000-8000-000000000001",
    session_id: str = "00000000-0000-4000-8000-0000000000a1",
    product_id: str | None = None,
    device_type: str = "desktop",
    price: float | None = None,
    quantity: int | None = None,
    order_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One valid event as a dict (add `price`, `quantity`, `order_id` where the type needs)."""
    e: dict[str, Any] = {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "timestamp": iso(t),
        "user_id": user_id,
        "session_id": session_id,
        "product_id": product_id,
        "page_url": f"/product/{product_id}" if product_id else "/",
        "user_agent": DEVICES[device_type],
        "ip_address": "203.0.113.7",
        "device_type": device_type,
    }
    if price is not None:
        e["price"] = price
    if quantity is not None:
        e["quantity"] = quantity
    if order_id is not None:
        e["order_id"] = order_id
    e.update(extra)
    return e


def simulate(sessions: int, seed: int = 7, start: datetime = T0) -> list[dict[str, Any]]:
    """A seeded stream of `sessions` sessions starting within three hours of `start`."""
    rng = random.Random(seed)
    products = [uid(rng) for _ in range(40)]
    prices = {p: round(rng.uniform(2, 300), 2) for p in products}
    users = [(uid(rng), rng.choice(list(DEVICES))) for _ in range(max(sessions // 2, 1))]
    out: list[dict[str, Any]] = []
    for _ in range(sessions):
        user, device = rng.choice(users)
        session = uid(rng)
        t = start + timedelta(seconds=rng.uniform(0, 3 * 3600))
        cart: list[str] = []
        common = {"user_id": user, "session_id": session, "device_type": device}
        for _ in range(rng.randint(1, 8)):
            t += timedelta(seconds=rng.uniform(1, 90))
            product = rng.choice(products) if rng.random() < 0.7 else None
            out.append(event("page_view", t, event_id=uid(rng), product_id=product, **common))
            if product and rng.random() < 0.3:
                t += timedelta(seconds=rng.uniform(1, 30))
                qty = rng.randint(1, 3)
                cart.append(product)
                out.append(
                    event(
                        "add_to_cart",
                        t,
                        event_id=uid(rng),
                        product_id=product,
                        price=prices[product],
                        quantity=qty,
                        category=f"cat-{products.index(product) % 5}",
                        **common,
                    )
                )
        if cart and rng.random() < 0.5:
            t += timedelta(seconds=rng.uniform(5, 120))
            order = uid(rng)
            for product in cart:
                out.append(
                    event(
                        "purchase",
                        t,
                        event_id=uid(rng),
                        product_id=product,
                        price=prices[product],
                        quantity=rng.randint(1, 3),
                        order_id=order,
                        **common,
                    )
                )
    return out


def dumps(e: dict[str, Any]) -> str:
    """The JSON text of an event, as it travels through Kafka."""
    return json.dumps(e, separators=(",", ":"))
