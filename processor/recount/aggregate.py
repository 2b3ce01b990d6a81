"""The stored copies of the events in; the expected rows of user_sessions, product_metrics,
hourly_metrics and experiment_metrics out (docs/design.md §4, the columns db/verify/*.sql
compares). Late events count in none of them. Hours are UTC; money is exact Decimal; rows are
keyed as verify prints them. A session's bot flag is processor/bots.py's test of its first
event's user agent; experiment_metrics counts a session under its first event's experiment and
variant and the hour it started, bot sessions apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from processor.bots import is_bot_agent
from processor.recount.rules import US
from processor.recount.tally import Copy

HOUR_US = 3_600 * US
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CENT = Decimal("0.01")
ZERO = Decimal(0)

Row = dict[str, Any]


def instant(time_us: int) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime."""
    return EPOCH + timedelta(microseconds=time_us)


def hour_key(window_start: datetime) -> str:
    """An hour as PostgreSQL prints a timestamptz in UTC (verify's keys)."""
    return window_start.strftime("%Y-%m-%d %H:%M:%S+00")


def experiment_key(experiment: str, variant: str, window_start: datetime) -> str:
    """An experiment_metrics key as db/verify/experiment_metrics.sql prints it."""
    return f"{experiment} {variant} {hour_key(window_start)}"


# The first event's fields a session carries: user_id, device_type, user_agent, experiment, variant.
Firsts = tuple[str, str, str | None, str | None, str | None]


class _Session:
    __slots__ = (
        *("add_to_carts", "end", "events", "first", "orders", "page_views", "purchases"),
        *("revenue", "start", "user_device"),
    )

    def __init__(self, time_us: int, event_id: str, user_device: Firsts) -> None:
        self.first = (time_us, event_id)
        self.user_device = user_device
        self.start = self.end = time_us
        self.events = self.page_views = self.add_to_carts = self.purchases = 0
        self.orders: set[str] | None = None
        self.revenue = ZERO


class _Hour:
    __slots__ = (
        *("add_to_carts", "events", "orders", "page_views", "purchases", "revenue"),
        *("sessions", "users"),
    )

    def __init__(self) -> None:
        self.events = self.page_views = self.add_to_carts = self.purchases = 0
        self.orders: set[str] = set()
        self.users: set[str] = set()
        self.sessions: set[str] = set()
        self.revenue = ZERO


class _Product:
    __slots__ = ("add_to_carts", "category", "purchases", "revenue", "units", "views")

    def __init__(self) -> None:
        self.category: str | None = None
        self.views = self.add_to_carts = self.purchases = self.units = 0
        self.revenue = ZERO


@dataclass
class Tables:
    """Expected rows by verify's key, and how many stored events are late."""

    user_sessions: dict[str, Row] = field(default_factory=dict)
    product_metrics: dict[str, Row] = field(default_factory=dict)
    hourly_metrics: dict[str, Row] = field(default_factory=dict)
    experiment_metrics: dict[str, Row] = field(default_factory=dict)
    events: int = 0
    late: int = 0
    earlier: int = 0  # events of earlier topics of the name, taken as stored


def aggregate(copies: Iterable[Copy]) -> Tables:
    """Aggregate the non-late copies (one per event_id) into the three tables."""
    sessions: dict[str, _Session] = {}
    hours: dict[int, _Hour] = {}
    products: dict[tuple[int, str], _Product] = {}
    events = late = 0
    for copy in copies:
        events += 1
        if copy.is_late:
            late += 1
            continue
        (event_id, kind, t, user_id, session_id, product_id, price, quantity, order_id,
         category, device_type, user_agent, experiment, variant) = copy.event  # fmt: skip
        hour = t // HOUR_US
        s = sessions.get(session_id)
        if s is None:
            firsts = (user_id, device_type, user_agent, experiment, variant)
            s = sessions[session_id] = _Session(t, event_id, firsts)
        else:
            if t < s.start:
                s.start = t
            elif t > s.end:
                s.end = t
            if t <= s.first[0] and (t, event_id) < s.first:
                s.first = (t, event_id)
                s.user_device = (user_id, device_type, user_agent, experiment, variant)
        h = hours.get(hour)
        if h is None:
            h = hours[hour] = _Hour()
        h.users.add(user_id)
        h.sessions.add(session_id)
        p = None
        if product_id is not None:
            p = products.get((hour, product_id))
            if p is None:
                p = products[hour, product_id] = _Product()
            if category is not None and (p.category is None or category < p.category):
                p.category = category
        s.events += 1
        h.events += 1
        if kind == "page_view":
            s.page_views += 1
            h.page_views += 1
            if p is not None:
                p.views += 1
        elif kind == "add_to_cart":
            s.add_to_carts += 1
            h.add_to_carts += 1
            if p is not None:
                p.add_to_carts += 1
        else:  # purchase: price, quantity, product and order are there (the rules say so)
            assert price is not None and quantity is not None and order_id is not None
            amount = price * quantity
            s.purchases += 1
            s.revenue += amount
            if s.orders is None:
                s.orders = set()
            s.orders.add(order_id)
            h.purchases += 1
            h.orders.add(order_id)
            h.revenue += amount
            if p is not None:
                p.purchases += 1
                p.units += quantity
                p.revenue += amount
    tables = Tables(events=events, late=late)
    tables.user_sessions = {k: _session_row(k, s) for k, s in sessions.items()}
    tables.hourly_metrics = _hour_rows(hours)
    tables.product_metrics = _product_rows(products)
    tables.experiment_metrics = _experiment_rows(tables.user_sessions.values())
    return tables


def _session_row(session_id: str, s: _Session) -> Row:
    orders = len(s.orders) if s.orders else 0
    return {
        "session_id": session_id,
        "user_id": s.user_device[0],
        "session_start": instant(s.start),
        "session_end": instant(s.end),
        "duration_seconds": (s.end - s.start) / US,
        "events": s.events,
        "page_views": s.page_views,
        "add_to_carts": s.add_to_carts,
        "purchases": s.purchases,
        "orders": orders,
        "revenue": s.revenue,
        "converted": orders > 0,
        "cart_abandoned": s.add_to_carts > 0 and orders == 0,
        "is_bounce": s.events == 1 and s.page_views == 1,
        "device_type": s.user_device[1],
        "first_event_id": s.first[1],
        "experiment": s.user_device[3],
        "variant": s.user_device[4],
        "is_bot": is_bot_agent(s.user_device[2]),
    }


def _experiment_rows(sessions: Iterable[Row]) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for s in sessions:
        experiment, variant = s["experiment"], s["variant"]
        if experiment is None or variant is None:
            continue
        start = s["session_start"].replace(minute=0, second=0, microsecond=0)
        key = experiment_key(experiment, variant, start)
        row = rows.get(key)
        if row is None:
            row = rows[key] = {
                "experiment": experiment,
                "variant": variant,
                "window_start": start,
                "sessions": 0,
                "converted_sessions": 0,
                "orders": 0,
                "revenue": ZERO,
                "bot_sessions": 0,
            }
        if s["is_bot"]:
            row["bot_sessions"] += 1
            continue
        row["sessions"] += 1
        row["converted_sessions"] += s["converted"]
        row["orders"] += s["orders"]
        row["revenue"] += s["revenue"]
    return rows


def _hour_rows(hours: dict[int, _Hour]) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for hour, h in hours.items():
        start = instant(hour * HOUR_US)
        orders, sessions = len(h.orders), len(h.sessions)
        rows[hour_key(start)] = {
            "window_start": start,
            "events": h.events,
            "page_views": h.page_views,
            "add_to_carts": h.add_to_carts,
            "purchases": h.purchases,
            "orders": orders,
            "revenue": h.revenue,
            "unique_users": len(h.users),
            "unique_sessions": sessions,
            "conversion_rate": orders / sessions,
            "avg_order_value": (h.revenue / orders).quantize(CENT, ROUND_HALF_UP)
            if orders
            else None,
        }
    return rows


def _product_rows(products: dict[tuple[int, str], _Product]) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for (hour, product_id), p in products.items():
        start = instant(hour * HOUR_US)
        rows[f"{hour_key(start)} {product_id}"] = {
            "window_start": start,
            "product_id": product_id,
            "category": p.category,
            "views": p.views,
            "add_to_carts": p.add_to_carts,
            "purchases": p.purchases,
            "units_sold": p.units,
            "revenue": p.revenue,
        }
    return rows
