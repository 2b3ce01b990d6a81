"""The recount's experiment_metrics and bot flags (processor/recount/aggregate.py) on a handful
of events: a session counts under its first event's experiment, variant and start hour, bots
apart, and an earlier event that arrives later moves it. No services, no Spark."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from processor.recount.aggregate import aggregate, experiment_key, hour_key
from processor.recount.tally import Tally
from tests.processor.sample_events import T0, dumps, event
from tests.processor.test_recount_tally import KAFKA_MS, RULES, S1, S2, eid

BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
MIN = timedelta(minutes=1)


def tables(*events: dict[str, object]):  # type: ignore[no-untyped-def]
    tally = Tally(RULES)
    for offset, e in enumerate(events):
        tally.add(0, offset, KAFKA_MS, dumps(e).encode())
    return aggregate(tally.copies())


def test_a_session_counts_under_its_first_events_variant_and_start_hour() -> None:
    ab = {"experiment": "exp", "variant": "B"}
    order = "00000000-0000-4000-8000-0000000000c1"
    product = "00000000-0000-4000-8000-0000000000b1"
    t = tables(
        event("page_view", T0 + 70 * MIN, event_id=eid(1), session_id=S1, **ab),
        event(
            "purchase",
            T0 + 72 * MIN,
            event_id=eid(2),
            session_id=S1,
            product_id=product,
            price=10.5,
            quantity=2,
            order_id=order,
            **ab,
        ),
        # Arrives later, happened earlier (within the bound): the session starts an hour before.
        event(
            "page_view",
            T0 + 50 * MIN,
            event_id=eid(3),
            session_id=S1,
            experiment="exp",
            variant="A",
        ),
    )
    session = t.user_sessions[S1]
    assert (session["experiment"], session["variant"], session["is_bot"]) == ("exp", "A", False)
    start = T0.replace(minute=0)
    assert list(t.experiment_metrics) == [experiment_key("exp", "A", start)]
    row = t.experiment_metrics[f"exp A {hour_key(start)}"]
    assert row == {
        "experiment": "exp", "variant": "A", "window_start": start, "sessions": 1,
        "converted_sessions": 1, "orders": 1, "revenue": Decimal("21.00"), "bot_sessions": 0,
    }  # fmt: skip


def test_bots_count_apart_and_sessions_without_a_variant_not_at_all() -> None:
    t = tables(
        event(
            "page_view",
            T0,
            event_id=eid(1),
            session_id=S1,
            experiment="exp",
            variant="A",
            user_agent=BOT,
        ),
        event("page_view", T0, event_id=eid(2), session_id=S2, experiment="exp"),
    )
    assert t.user_sessions[S1]["is_bot"] and not t.user_sessions[S2]["is_bot"]
    (row,) = t.experiment_metrics.values()
    assert (row["variant"], row["sessions"], row["bot_sessions"]) == ("A", 0, 1)
