"""The profile's scenario figures: what each scenario was set to do next to what the sample shows.

In: the sample's events (parsed), the run's Plan (producer.scenario_plan), its catalog and the
ledger truth (producer.truth). Out: for each scenario a list of Rows (label, configured value,
realised value, unit) that `python -m producer.profile --scenario ...` prints or puts in its JSON:
variant shares and lifts with a 95% interval, bot share, sale and campaign uplift, the peak day's
factor and evening, the outage's gap and burst.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from statistics import median
from typing import Any

from producer.catalog import Catalog
from producer.clock import DAY_MS, parse_instant
from producer.models import BOT_KNOWN
from producer.scenario_plan import EVENING, HOUR_MS, Plan
from producer.scenarios import is_known_bot

Z95 = 1.959964


@dataclass(frozen=True)
class Row:
    """One figure: configured (None: nothing was configured) and realised, in `unit`."""

    label: str
    configured: float | None
    realised: float | None
    unit: str  # "%" a share, "+%" a relative change, "x" a factor, "n" a count, "s" seconds
    note: str = ""

    def cells(self) -> tuple[str, str]:
        """Configured and realised as printed."""
        return _show(self.configured, self.unit), _show(self.realised, self.unit) + (
            f" {self.note}" if self.note else ""
        )


def _show(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "%":
        return f"{value:.1%}"
    if unit == "+%":
        return f"{value:+.1%}"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:,.0f}"


class Sample:
    """The sample's events with their times and sessions, measured once."""

    def __init__(self, events: list[dict[str, Any]], start_ms: int, end_ms: int) -> None:
        self.events = events
        self.times = [_ms(e["timestamp"]) for e in events]
        # A sample cut short by its event count ends at its last event: baselines use only the
        # days it covers.
        self.start_ms, self.end_ms = start_ms, min(end_ms, max(self.times, default=start_ms) + 1)
        self.sessions: dict[str, list[int]] = defaultdict(list)  # session_id -> event indexes
        for i, e in enumerate(events):
            self.sessions[e["session_id"]].append(i)

    def count(self, keep: Callable[[int], bool], start: int, end: int) -> int:
        """Events (indexes `keep` accepts) with a time in [start, end)."""
        return sum(1 for i, t in enumerate(self.times) if start <= t < end and keep(i))

    def baseline(self, keep: Callable[[int], bool], start: int, end: int) -> float | None:
        """The mean count of the same clock window on the sample's other days (or, with no other
        whole day, of the window just before), for `count` to be compared with."""
        counts = [
            self.count(keep, start + d * DAY_MS, end + d * DAY_MS)
            for d in range(-30, 31)
            if d and self.start_ms <= start + d * DAY_MS and end + d * DAY_MS <= self.end_ms
        ]
        if not counts and self.start_ms <= 2 * start - end:
            counts = [self.count(keep, 2 * start - end, start)]
        return sum(counts) / len(counts) if counts else None


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _lift(a: float | None, b: float | None) -> float | None:
    r = _ratio(a, b)
    return None if r is None else r - 1


def _cents(e: dict[str, Any]) -> int:
    return int(Decimal(str(e["price"])) * 100) * int(e["quantity"])


def ab_test(s: Sample, plan: Plan) -> list[Row]:
    """Variant shares, each variant's funnel, and every lift against the control (humans)."""
    bots = {user.user_id for user, _ in plan.bots}
    scenario = plan.scenarios["ab-test"]
    weights = dict(scenario["variants"])
    total_weight = sum(weights.values())
    users: dict[str, set[str]] = defaultdict(set)
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for indexes in s.sessions.values():
        first = s.events[indexes[0]]
        if first["user_id"] in bots:
            continue
        v = first["variant"]
        users[v].add(first["user_id"])
        c = per[v]
        c["sessions"] += 1
        orders = set()
        for i in indexes:
            e = s.events[i]
            kind = e["event_type"]
            if kind == "page_view":
                c["product_views"] += e["product_id"] is not None
            elif kind == "add_to_cart":
                c["carts"] += 1
            else:
                orders.add(e["order_id"])
                c["cents"] += _cents(e)
        c["orders"] += len(orders)
        c["converted"] += bool(orders)
    all_users = sum(len(u) for u in users.values()) or 1
    rows: list[Row] = []
    for v, w in weights.items():
        rows.append(Row(f"variant {v}: share of users", w / total_weight,
                        len(users[v]) / all_users, "%"))  # fmt: skip
    for v in weights:
        c = per[v]
        rows.append(Row(f"variant {v}: session conversion", None,
                        _ratio(c["converted"], c["sessions"]), "%",
                        f"({c['converted']:,} of {c['sessions']:,} sessions)"))  # fmt: skip
    control = next(iter(weights))
    lifts = {(v, kind): amount for v, kind, amount in scenario["lift"]}
    a = per[control]
    for v in list(weights)[1:]:
        b = per[v]
        plain = not any(key[0] == v for key in lifts)

        def configured(kind: str, v: str = v, plain: bool = plain) -> float | None:
            return lifts.get((v, kind), 0.0 if plain else None)

        lift, low, high = conversion_lift(a["converted"], a["sessions"], b["converted"],
                                          b["sessions"])  # fmt: skip
        note = "" if low is None else f"(95% CI {low:+.1%} to {high:+.1%})"
        rows.append(Row(f"{v} vs {control}: session conversion lift", configured("purchase"),
                        lift, "+%", note))  # fmt: skip
        rows.append(Row(f"{v} vs {control}: add-to-cart per product view lift",
                        configured("cart"),
                        _lift(_ratio(b["carts"], b["product_views"]),
                              _ratio(a["carts"], a["product_views"])), "+%"))  # fmt: skip
        rows.append(Row(f"{v} vs {control}: order value lift", configured("value"),
                        _lift(_ratio(b["cents"], b["orders"]), _ratio(a["cents"], a["orders"])),
                        "+%"))  # fmt: skip
    return rows


def conversion_lift(
    xa: int, na: int, xb: int, nb: int
) -> tuple[float | None, float | None, float | None]:
    """B's relative lift in conversion over A, with the 95% interval of a two-proportion test
    (the difference's normal interval, divided by A's rate)."""
    if not na or not nb or not xa:
        return None, None, None
    pa, pb = xa / na, xb / nb
    half = Z95 * math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
    return (pb - pa) / pa, (pb - pa - half) / pa, (pb - pa + half) / pa


def bots(s: Sample, plan: Plan) -> list[Row]:
    """Bot share, pretenders, the known-pattern match, and how bots differ from humans."""
    scenario = plan.scenarios["bots"]
    kinds = {user.user_id: kind for user, kind in plan.bots}
    n = {"bot": 0, "human": 0, "known": 0, "matched": 0, "human_matched": 0}
    views = {"bot": 0, "human": 0}
    carts, gaps = 0, []
    for indexes in s.sessions.values():
        first = s.events[indexes[0]]
        who = "bot" if first["user_id"] in kinds else "human"
        n[who] += 1
        views[who] += sum(1 for i in indexes if s.events[i]["event_type"] == "page_view")
        matched = is_known_bot(first["user_agent"])
        if who == "bot":
            n["known"] += kinds[first["user_id"]] == BOT_KNOWN
            n["matched"] += matched
            carts += sum(1 for i in indexes if s.events[i]["event_type"] != "page_view")
            gaps += [(s.times[j] - s.times[i]) / 1000 for i, j in pairwise(indexes)]
        else:
            n["human_matched"] += matched
    sessions = n["bot"] + n["human"] or 1
    return [
        Row("bot share of sessions", scenario["share"], n["bot"] / sessions, "%"),
        Row("bots pretending to be browsers", scenario["pretending"],
            _ratio(n["bot"] - n["known"], n["bot"]), "%"),
        Row("bot sessions matching KNOWN_BOT_PATTERNS", n["known"], n["matched"], "n",
            "(configured: the ledger's known bots)"),
        Row("human sessions matching them", 0, n["human_matched"], "n"),
        Row("bot share of page views", None,
            _ratio(views["bot"], views["bot"] + views["human"]), "%"),
        Row("page views per session, bots / humans", None,
            _ratio(_ratio(views["bot"], n["bot"]), _ratio(views["human"], n["human"])), "x"),
        Row("add-to-carts and purchases by bots", 0, carts, "n"),
        Row("median gap between a bot's page views", None, median(gaps) if gaps else None, "s",
            "(no think time: 0.1-2 s)"),
    ]  # fmt: skip


def flash_sale(s: Sample, plan: Plan, catalog: Catalog) -> list[Row]:
    """The sale window against the same hours of the other days: views, carts, the discount."""
    assert plan.sale is not None
    scenario = plan.scenarios["flash-sale"]
    start, end, _, _, members, _ = plan.sale
    ids = {catalog.products[i].product_id: i for i in members}
    ev = s.events

    def of(kind: str) -> Callable[[int], bool]:
        return lambda i: ev[i]["event_type"] == kind and ev[i]["product_id"] in ids

    rows = []
    for kind, label, configured in (
        ("page_view", "views of the sale's products", scenario["traffic"]),
        ("add_to_cart", "add-to-carts of them", None),
        ("purchase", "purchase lines of them", None),
    ):
        rows.append(Row(f"{label}, window / same hours other days", configured,
                        _ratio(s.count(of(kind), start, end), s.baseline(of(kind), start, end)),
                        "x"))  # fmt: skip
    cut, full = [], 0  # a session keeps the prices it started with, so sale lines' sessions
    for indexes in s.sessions.values():
        if not start <= s.times[indexes[0]] < end:
            continue
        for i in indexes:
            e = ev[i]
            if e["event_type"] != "page_view" and e["product_id"] in ids:
                p = catalog.products[ids[e["product_id"]]]
                cents = int(Decimal(str(e["price"])) * 100)
                cut.append(1 - cents / p.price_cents)
                full += cents == p.price_cents
    rows.append(Row("discount on the sale's lines (sessions started in the window)",
                    scenario["discount"], sum(cut) / len(cut) if cut else None, "%"))  # fmt: skip
    rows.append(Row("of them at list price", 0, full, "n"))
    return rows


def peak_day(s: Sample, plan: Plan) -> list[Row]:
    """The day against the sample's other days, and how pronounced its evening is."""
    scenario = plan.scenarios["peak-day"]
    window = plan.windows["peak-day"]
    start, end = parse_instant(window["window_start"]), parse_instant(window["window_end"])
    offset = plan.offset_ms
    evening_of = [EVENING[0] <= (t + offset) // HOUR_MS % 24 < EVENING[1] for t in s.times]
    day_events = s.count(lambda i: True, start, end)
    other = s.baseline(lambda i: True, start, end)

    def odds(a: int, b: int) -> float | None:
        ev = sum(1 for i, t in enumerate(s.times) if a <= t < b and evening_of[i])
        total = sum(1 for t in s.times if a <= t < b)
        return _ratio(ev, total - ev)

    others = [
        odds(start + d * DAY_MS, end + d * DAY_MS)
        for d in range(-30, 31)
        if d and s.start_ms <= start + d * DAY_MS and end + d * DAY_MS <= s.end_ms
    ]
    known = [o for o in others if o is not None]
    normal = sum(known) / len(known) if known else None
    return [
        Row("events on the day / the sample's other days", scenario["factor"],
            _ratio(day_events, other), "x"),
        Row(f"odds of {EVENING[0]}-{EVENING[1]} h (shop time) in the day / other days",
            scenario["evening"], _ratio(odds(start, end), normal), "x"),
    ]  # fmt: skip


def campaign(s: Sample, plan: Plan) -> list[Row]:
    """The campaign's share of the window, its traffic and its own conversion."""
    assert plan.campaign is not None
    scenario = plan.scenarios["campaign"]
    start, end, share, *_ = plan.campaign
    ev = s.events
    query = f"utm_campaign={scenario['name']}"
    starts = {sid: s.times[ix[0]] for sid, ix in s.sessions.items()}
    of_campaign = {sid for sid, ix in s.sessions.items() if query in ev[ix[0]]["page_url"]}
    opened = {ix[0] for ix in s.sessions.values()}
    in_window = [sid for sid, t in starts.items() if start <= t < end]
    counts: dict[bool, Counter[str]] = {True: Counter(), False: Counter()}
    for sid in in_window:
        c = counts[sid in of_campaign]
        c["sessions"] += 1
        kinds = [ev[i]["event_type"] for i in s.sessions[sid]]
        c["product_views"] += sum(
            1 for i in s.sessions[sid] if ev[i]["event_type"] == "page_view" and ev[i]["product_id"]
        )
        c["carts"] += kinds.count("add_to_cart")
        c["converted"] += "purchase" in kinds
    yes, no = counts[True], counts[False]
    return [
        Row("sessions starting in the window / same hours other days", scenario["traffic"],
            _ratio(s.count(lambda i: i in opened, start, end),
                   s.baseline(lambda i: i in opened, start, end)), "x"),
        Row("campaign share of the window's sessions", share,
            _ratio(yes["sessions"], yes["sessions"] + no["sessions"]), "%"),
        Row("add-to-cart per product view, campaign / others", scenario["conversion"],
            _ratio(_ratio(yes["carts"], yes["product_views"]),
                   _ratio(no["carts"], no["product_views"])), "x"),
        Row("session conversion, campaign / others", None,
            _ratio(_ratio(yes["converted"], yes["sessions"]),
                   _ratio(no["converted"], no["sessions"])), "x"),
    ]  # fmt: skip


def outage(s: Sample, plan: Plan) -> list[Row]:
    """Nothing in the gap; the burst after it against the same time of the other days."""
    assert plan.gap is not None
    scenario = plan.scenarios["outage"]
    start, end = plan.gap
    burst_end = end + scenario["burst_duration"]
    opened = {ix[0] for ix in s.sessions.values()}
    return [
        Row("events in the gap", 0, s.count(lambda i: True, start, end), "n"),
        Row("sessions cut by the gap", None, plan.cut_sessions, "n"),
        Row("sessions starting in the burst / same time other days",
            1 + (scenario["burst"] - 1) / 2,
            _ratio(s.count(lambda i: i in opened, end, burst_end),
                   s.baseline(lambda i: i in opened, end, burst_end)), "x",
            "(configured: the burst's mean)"),
    ]  # fmt: skip


def rows(s: Sample, plan: Plan, catalog: Catalog) -> dict[str, list[Row]]:
    """Every scenario's rows, by name, in the order given."""
    makers: dict[str, Callable[[], list[Row]]] = {
        "ab-test": lambda: ab_test(s, plan),
        "bots": lambda: bots(s, plan),
        "flash-sale": lambda: flash_sale(s, plan, catalog),
        "peak-day": lambda: peak_day(s, plan),
        "campaign": lambda: campaign(s, plan),
        "outage": lambda: outage(s, plan),
    }
    return {name: makers[name]() for name in plan.scenarios}


def report_lines(figures: dict[str, list[Row]], plan: Plan) -> list[str]:
    """The rows as printable lines, a header per scenario with its spec and windows."""
    lines: list[str] = []
    for name, found in figures.items():
        windows = ", ".join(f"{k} {v}" for k, v in plan.windows.get(name, {}).items())
        lines.append(f"scenario {plan.scenarios[name].text}" + (f" ({windows})" if windows else ""))
        lines.append(f"  {'figure':<62} {'configured':>10}   realised")
        for row in found:
            configured, realised = row.cells()
            lines.append(f"  {row.label:<62} {configured:>10}   {realised}")
    return lines


def as_json(figures: dict[str, list[Row]], plan: Plan) -> list[dict[str, Any]]:
    """The rows for `--json`: per scenario its spec, windows and figures."""
    return [
        {
            "name": name,
            "spec": plan.scenarios[name].text,
            "windows": plan.windows.get(name, {}),
            "figures": [
                {
                    "label": r.label,
                    "configured": r.configured,
                    "realised": r.realised,
                    "unit": r.unit,
                    "note": r.note,
                }
                for r in found
            ],
        }
        for name, found in figures.items()
    ]
