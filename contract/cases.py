"""One vocabulary of rejection reasons: (change to a valid event, expected reason) cases.

Each case breaks one rule of contract/event.schema.json. The producer's malformed-event
injection draws its broken messages from the cases of its kinds (`kind`), and the processor's
parse tests, the recount's tests and the contract's own tests expect the same reasons from the
same payloads, so the producer's labels and the processor's reasons cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

ABSENT: Final = object()  # a change to this removes the field


@dataclass(frozen=True)
class Case:
    """A change that breaks one rule of a valid purchase, and the reason the processor gives.

    `kind` is the producer's malformed kind that injects it (None: the producer never does);
    `needs` is a field the event must carry for the change to apply (price on a page view is no
    mistyped price)."""

    name: str
    changes: Mapping[str, Any]
    reason: str
    kind: str | None = None
    needs: str | None = None

    def apply(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The event with this case's change made (a new dict)."""
        out = {**event, **self.changes}
        return {k: v for k, v in out.items() if v is not ABSENT}


CASES: Final[tuple[Case, ...]] = (
    *(
        Case(f"no {name}", {name: ABSENT}, f"missing_field:{name}", "missing_field")
        for name in ("user_id", "session_id", "timestamp", "event_type", "page_url")
    ),
    Case("no event_id", {"event_id": ABSENT}, "missing_field:event_id"),
    Case("null device_type", {"device_type": None}, "missing_field:device_type"),
    Case("purchase without order_id", {"order_id": ABSENT}, "missing_field:order_id"),
    Case("an order on a cart", {"event_type": "add_to_cart"}, "unexpected_field:order_id"),
    Case("purchase without price", {"price": None}, "missing_field:price"),
    Case("purchase without quantity", {"quantity": ABSENT}, "missing_field:quantity"),
    Case("purchase without product", {"product_id": ABSENT}, "missing_field:product_id"),
    Case("day first", {"timestamp": "19/08/2025 14:05:22"}, "bad_type:timestamp", "bad_type"),
    Case("price with unit", {"price": "12.99 USD"}, "bad_type:price", "bad_type", "price"),
    Case("quantity in words", {"quantity": "two"}, "bad_type:quantity", "bad_type", "quantity"),
    Case("date only", {"timestamp": "2025-08-19"}, "bad_type:timestamp"),
    Case("no zone", {"timestamp": "2025-08-19T14:05:22"}, "bad_type:timestamp"),
    Case("zone name", {"timestamp": "2025-08-19T14:05:22 America/New_York"}, "bad_type:timestamp"),
    Case("time only", {"timestamp": "14:05:22"}, "bad_type:timestamp"),
    Case("not a real day", {"timestamp": "2025-02-29T10:00:00Z"}, "bad_type:timestamp"),
    Case("before 2000", {"timestamp": "1999-12-31T23:59:59.999Z"}, "timestamp_too_old"),
    Case("year 0", {"timestamp": "0000-02-29T00:00:00Z"}, "timestamp_too_old"),
    Case("year 0, not a real day", {"timestamp": "0000-02-30T00:00:00Z"}, "bad_type:timestamp"),
    Case(
        "uuid and a newline",
        {"session_id": "00000000-0000-4000-8000-000000000003\n"},
        "bad_type:session_id",
    ),
    Case("event_id not a uuid", {"event_id": "abc"}, "bad_type:event_id"),
    Case("user_id a number", {"user_id": 7}, "bad_type:user_id"),
    Case("order_id not a uuid", {"order_id": "o-1"}, "bad_type:order_id"),
    Case("ip with leading zero", {"ip_address": "01.2.3.4"}, "bad_type:ip_address"),
    Case("ip with zone index", {"ip_address": "fe80::1%eth0"}, "bad_type:ip_address"),
    Case("category a number", {"category": 5}, "bad_type:category"),
    Case("experiment a number", {"experiment": 7}, "bad_type:experiment"),
    Case("variant a boolean", {"variant": True}, "bad_type:variant"),
    Case("quantity a fraction", {"quantity": 2.5}, "bad_type:quantity"),
    *(
        Case(f"event type {t}", {"event_type": t}, "unknown_event_type", "unknown_event_type")
        for t in ("wishlist_add", "product_share", "refund_requested")
    ),
    Case("device tv", {"device_type": "tv"}, "bad_value:device_type"),
    Case("blank page_url", {"page_url": " \t"}, "bad_value:page_url"),
    Case("price above the bound", {"price": 1_000_000.01}, "bad_value:price"),
    Case("price with three decimals", {"price": 19.999}, "bad_value:price"),
    Case("price a hair off a cent", {"price": 19.990000001}, "bad_value:price"),
    Case("price below a cent", {"price": 1e-7}, "bad_value:price"),
    Case("negative price", {"price": -1}, "negative_price"),
    Case("quantity zero", {"quantity": 0}, "bad_quantity"),
    Case("quantity above the bound", {"quantity": 10_001}, "bad_quantity"),
    Case("NUL in a text", {"referrer": "a\x00b"}, "nul_character"),
)


def of_kind(kind: str) -> tuple[Case, ...]:
    """The cases the producer injects as malformed messages of `kind`."""
    return tuple(c for c in CASES if c.kind == kind)


def ids() -> list[str]:
    """Test ids: each case's name."""
    return [c.name for c in CASES]
