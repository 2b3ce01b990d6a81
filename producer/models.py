"""The event schema (docs/design.md §3) and the small records the simulator is built from.

Events travel as pre-serialised JSON bytes; this module names their fields and the codes the
simulator tags them with for the ledger. What a valid event is, and the order of its fields,
is contract/event.schema.json (`contract.first_reason` checks one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import contract

# From the contract, in its order: the codes below index EVENT_TYPES, users index DEVICE_TYPES.
EVENT_TYPES = contract.EVENT_TYPES
DEVICE_TYPES = contract.DEVICE_TYPES

# Codes carried next to each serialised message so the ledger can count without parsing.
# Bits 0-1: event type index; flags above. Fault copies use the high bits.
TYPE_MASK = 3
SESSION_FIRST = 4
USER_FIRST = 8
ORDER_FIRST = 16
LATE = 32
DUPLICATE = 64
MALFORMED = 128
MALFORMED_KINDS = ("invalid_json", "missing_field", "bad_type", "unknown_event_type")
# Scenario bits (producer/scenarios.py), so the ledger's ground truth is counted like the rest:
# exactly, from the codes of what got out. Duplicates and malformed copies carry none.
VARIANT_SHIFT = 8  # bits 8-11: the A/B variant's index + 1 (0: no experiment)
VARIANT_MASK = 15 << VARIANT_SHIFT
BOT_KNOWN = 1 << 12  # a bot session with a known bot user agent
BOT_PRETENDING = 1 << 13  # a bot session with a browser's user agent
IN_SALE = 1 << 14  # event time inside the flash sale's window
CAMPAIGN = 1 << 15  # an event of a campaign session
IN_PEAK = 1 << 16  # event time inside the peak day
IN_BURST = 1 << 17  # event time inside the burst after an outage
CONVERTED = 1 << 18  # the first purchase line of a session's first order
SALE_PRICE = 1 << 19  # a cart or purchase line at the flash sale's price
IN_CAMPAIGN = 1 << 20  # event time inside the campaign's window
SCENARIO_BITS = (1 << 21) - (1 << 8)

PAGE_VIEW, ADD_TO_CART, PURCHASE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Category:
    """A catalog category: display name, URL slug and its lognormal price parameters."""

    name: str
    slug: str
    weight: float
    median_price: float
    price_sigma: float


@dataclass(slots=True)
class User:
    """One visitor: a stable id, device, user agent, IP and country, pre-serialised once."""

    user_id: str
    device: int  # index into DEVICE_TYPES
    head: str  # '"user_id":"…","session_id":"' (the session id follows)
    tail: str  # '"user_agent":…,"ip_address":…,"device_type":…,"country":…'
    sessions: int = 0


T = TypeVar("T")


def weighted_slots(items: Sequence[tuple[T, float]], bits: int = 10) -> list[T]:
    """A lookup table of 2**bits slots, each value in proportion to its weight, for O(1)
    sampling with `getrandbits(bits)` (largest remainders: the counts add up to 2**bits exactly;
    a weight of 0 gets no slot)."""
    n = 1 << bits
    total = sum(w for _, w in items)
    exact = [w / total * n for _, w in items]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: counts[i] - exact[i])
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return [value for (value, _), k in zip(items, counts, strict=True) for _ in range(k)]


def device_from_user_agent(user_agent: str) -> str:
    """Classify a user agent the way analytics tools do: iPad/Android-without-Mobile = tablet."""
    if "iPad" in user_agent or ("Android" in user_agent and "Mobile" not in user_agent):
        return "tablet"
    if "iPhone" in user_agent or "Mobile" in user_agent:
        return "mobile"
    return "desktop"


_USER_ID = '"user_id":"'
_ORDER_ID = '"order_id":"'


def user_id_of(text: str) -> str:
    """The user_id of a serialised valid event, without parsing it."""
    at = text.index(_USER_ID) + len(_USER_ID)
    return text[at : at + 36]


def order_id_of(text: str) -> str | None:
    """The order_id of a serialised event (None when it has none), without parsing it."""
    at = text.find(_ORDER_ID)
    return None if at < 0 else text[at + len(_ORDER_ID) : at + len(_ORDER_ID) + 36]
