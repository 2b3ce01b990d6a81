"""A tiny hand-computed scenario: eight events in three sessions over two hours.

Session A (user U1, desktop): view P1 14:10, cart P1 (10.00 x 2, books) 14:12, order O1 at
14:20 with P1 (10.00 x 2) and P2 (5.50 x 1), view without product 15:05.
Session B (user U2, mobile): one view of P2 at 14:30 (a bounce).
Session C (user U1, tablet): view P1 15:10, cart P2 (5.50 x 3) 15:11, no order (abandoned).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.processor.sample_events import event

U1 = "00000000-0000-4000-8000-000000000001"
U2 = "00000000-0000-4000-8000-000000000002"
SA = "00000000-0000-4000-8000-0000000000a1"
SB = "00000000-0000-4000-8000-0000000000a2"
SC = "00000000-0000-4000-8000-0000000000a3"
P1 = "00000000-0000-4000-8000-0000000000b1"
P2 = "00000000-0000-4000-8000-0000000000b2"
O1 = "00000000-0000-4000-8000-0000000000c1"


def eid(n: int) -> str:
    """The event id of scenario event number n (1-8)."""
    return f"00000000-0000-4000-8000-{n:012d}"


def at(hour: int, minute: int) -> datetime:
    """A time on the scenario's day (2025-08-19, UTC)."""
    return datetime(2025, 8, 19, hour, minute, tzinfo=UTC)


H14, H15 = at(14, 0), at(15, 0)


def scenario() -> list[dict[str, Any]]:
    """The eight events, in event-time order."""
    a = {"user_id": U1, "session_id": SA, "device_type": "desktop"}
    b = {"user_id": U2, "session_id": SB, "device_type": "mobile"}
    c = {"user_id": U1, "session_id": SC, "device_type": "tablet"}
    return [
        event("page_view", at(14, 10), event_id=eid(1), product_id=P1, **a),
        event(
            "add_to_cart",
            at(14, 12),
            event_id=eid(2),
            product_id=P1,
            price=10.0,
            quantity=2,
            category="books",
            **a,
        ),
        event(
            "purchase",
            at(14, 20),
            event_id=eid(3),
            product_id=P1,
            price=10.0,
            quantity=2,
            order_id=O1,
            **a,
        ),
        event(
            "purchase",
            at(14, 20),
            event_id=eid(4),
            product_id=P2,
            price=5.5,
            quantity=1,
            order_id=O1,
            **a,
        ),
        event("page_view", at(14, 30), event_id=eid(6), product_id=P2, **b),
        event("page_view", at(15, 5), event_id=eid(5), **a),
        event("page_view", at(15, 10), event_id=eid(7), product_id=P1, **c),
        event(
            "add_to_cart",
            at(15, 11),
            event_id=eid(8),
            product_id=P2,
            price=5.5,
            quantity=3,
            **c,
        ),
    ]
