"""The scenarios' ground truth for the ledger, counted from the codes of what got out.

In: a Tally (messages by code, revenue by code) and the run's Plan. Out: the ledger's
`scenarios` list: each scenario's spec, parameters, windows and counts. The counts are exact
like the rest of the ledger: every event carries its scenario bits (producer.models), so the
truth of any prefix of the stream (a stop, a closed pipe, what Kafka confirmed) is what that
prefix holds. `merge` adds the lists of several shards or workers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from producer.ledger import Tally
from producer.models import (
    BOT_KNOWN,
    BOT_PRETENDING,
    CAMPAIGN,
    CONVERTED,
    DUPLICATE,
    IN_BURST,
    IN_CAMPAIGN,
    IN_PEAK,
    IN_SALE,
    MALFORMED,
    ORDER_FIRST,
    SALE_PRICE,
    SESSION_FIRST,
    TYPE_MASK,
    VARIANT_MASK,
    VARIANT_SHIFT,
)
from producer.scenario_plan import Plan
from producer.scenarios import KNOWN_BOT_PATTERNS

BOTS = BOT_KNOWN | BOT_PRETENDING
FIGURES = ("sessions", "events", "page_views", "add_to_carts", "purchases", "orders",
           "converted_sessions", "revenue_cents")  # fmt: skip


def figures(tally: Tally, keep: Callable[[int], bool]) -> dict[str, Any]:
    """Counts over the valid events whose code `keep` accepts.

    sessions: first events (SESSION_FIRST) among them; converted_sessions: first lines of a
    session's first order (CONVERTED); orders: first lines of an order; revenue of their lines.
    """
    out = dict.fromkeys(FIGURES, 0)
    types = ("page_views", "add_to_carts", "purchases")
    for code, count in tally.codes.items():
        if code & (DUPLICATE | MALFORMED) or not keep(code):
            continue
        out["events"] += count
        out[types[code & TYPE_MASK]] += count
        out["sessions"] += count if code & SESSION_FIRST else 0
        out["orders"] += count if code & ORDER_FIRST else 0
        out["converted_sessions"] += count if code & CONVERTED else 0
    out["revenue_cents"] = sum(
        cents
        for code, cents in tally.cents.items()
        if not code & (DUPLICATE | MALFORMED) and keep(code)
    )
    return with_revenue(out)


def with_revenue(counts: dict[str, Any]) -> dict[str, Any]:
    """`revenue` as text next to `revenue_cents`, in every nested part of `counts`."""
    for value in counts.values():
        if isinstance(value, dict):
            with_revenue(value)
    if "revenue_cents" in counts:
        cents = counts["revenue_cents"]
        counts["revenue"] = f"{cents // 100}.{cents % 100:02d}"
    return counts


def _variant(index: int, leave_out: int = 0) -> Callable[[int], bool]:
    """The codes of a variant's events, those with a bit of `leave_out` left out."""
    bits = (index + 1) << VARIANT_SHIFT
    return lambda code: code & VARIANT_MASK == bits and not code & leave_out


def _has(bit: int) -> Callable[[int], bool]:
    return lambda code: bool(code & bit)


def _human(code: int) -> bool:
    return not code & BOTS


def counts(plan: Plan, name: str, tally: Tally) -> dict[str, Any]:
    """One scenario's counts (docs/producer.md, Scenarios, lists them)."""
    if name == "ab-test":
        out: dict[str, Any] = {}
        for i, v in enumerate(plan.variant_names):
            out[v] = {
                **figures(tally, _variant(i)),
                "humans": figures(tally, _variant(i, BOTS)),
                # what a filter of KNOWN_BOT_PATTERNS leaves: humans and pretending bots
                "without_known_bots": figures(tally, _variant(i, BOT_KNOWN)),
            }
        return {"variants": out}
    if name == "bots":
        return {
            "known": figures(tally, _has(BOT_KNOWN)),
            "pretending": figures(tally, _has(BOT_PRETENDING)),
            "humans": figures(tally, _human),
        }
    if name == "flash-sale":
        return {
            "in_window": figures(tally, _has(IN_SALE)),
            "sale_price_lines": figures(tally, _has(SALE_PRICE)),
        }
    if name == "peak-day":
        return {"in_window": figures(tally, _has(IN_PEAK))}
    if name == "campaign":
        return {
            "campaign_sessions": figures(tally, _has(CAMPAIGN)),
            "in_window": figures(tally, _has(IN_CAMPAIGN)),
            "others_in_window": figures(
                tally, lambda c: bool(c & IN_CAMPAIGN and not c & CAMPAIGN)
            ),
        }
    if name == "outage":
        return {
            "gap": {  # simulated, never sent: the site was down
                "sessions_cut": plan.cut_sessions,
                "events_not_sent": plan.cut_events,
            },
            "burst": figures(tally, _has(IN_BURST)),
        }
    raise ValueError(f"no counts for scenario {name!r}")


def truth(plan: Plan, tally: Tally) -> list[dict[str, Any]]:
    """The ledger's `scenarios`: for each, its name, spec, parameters, windows and counts (and
    for bots the KNOWN_BOT_PATTERNS that made a bot "known")."""
    out = []
    for entry in plan.describe():
        scenario = plan.scenarios[entry["name"]]
        out.append(
            {
                **entry,
                "parameters": scenario.ledger_parameters(),
                **({"known_bot_patterns": list(KNOWN_BOT_PATTERNS)} if entry["name"] == "bots"
                   else {}),
                "counts": counts(plan, entry["name"], tally),
            }
        )  # fmt: skip
    return out


def merge(parts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The scenarios of several shards' ledgers (one run, the same settings): counts added up,
    the rest taken from the first."""
    merged = []
    for entries in zip(*parts, strict=True):
        first = dict(entries[0])
        first["counts"] = with_revenue(_add([e["counts"] for e in entries]))
        merged.append(first)
    return merged


def _add(parts: list[Any]) -> Any:
    if isinstance(parts[0], dict):
        return {k: _add([p[k] for p in parts]) for k in parts[0] if k != "revenue"}
    if all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        return sum(parts)
    return parts[0]
