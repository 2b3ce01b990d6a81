"""The producer's scenarios through the real pipeline: one backfill with `ab-test` (+20%
purchase lift for B), `bots` (30% of sessions) and `flash-sale` (electronics, one hour) ->
Kafka -> the processor -> PostgreSQL, checked against the producer's own ledger truth.

tests/integration/test_experiments.py checks the same tables with hand-made traffic (late and
out-of-order events, restarts, an A/A test); this one checks that what the simulator injects
is what the tables show: the experiment's counts per variant, the marked bot sessions and the
sale's hour.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from infra.env import ROOT
from tests.conftest import Services
from tests.integration.test_processor_stream import differences, finish, start_processor

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = "2025-08-01T10:00"  # six simulated hours of daytime traffic, about 74,000 events
SALE = "flash-sale:category=electronics,start=2h,duration=1h,discount=20%"
SCENARIOS = ("ab-test:lift=B:purchase:+20%", "bots:share=0.30", SALE)


@dataclass(frozen=True)
class Run:
    """A drained backfill: the ledger's scenario entries by name and where the tables are."""

    truth: dict[str, dict[str, Any]]
    schema: str
    dsn: str


@pytest.fixture(scope="module")
def run(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    from confluent_kafka.admin import AdminClient, NewTopic

    from infra.postgres import PostgresNative

    tmp = tmp_path_factory.mktemp("scenarios")
    suffix = uuid.uuid4().hex[:12]
    topic, schema = f"test.scenarios.{suffix}", f"test_{suffix}"
    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(timeout=30)
    PostgresNative(services.settings).apply_schema(schema=schema)
    try:
        ledger = tmp / "ledger.json"
        cmd = [
            sys.executable, "-m", "producer.producer", "--mode", "backfill", "--start", START,
            "--days", "0.25", "--rate", "2", "--seed", "5", "--topic", topic,
            "--bootstrap-servers", services.bootstrap, "--ledger", str(ledger),
        ]  # fmt: skip
        for scenario in SCENARIOS:
            cmd += ["--scenario", scenario]
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=300)
        process = start_processor(
            services, topic, schema, tmp / "ckpt", "--available-now",
            PROCESSOR_MAX_OFFSETS_PER_TRIGGER="25000",
        )  # fmt: skip
        finish(process, timeout=600)
        assert differences(schema, ledger) == []
        entries = json.loads(ledger.read_text())["scenarios"]
        yield Run({e["name"]: e for e in entries}, schema, services.pg_dsn)
    finally:
        PostgresNative(services.settings).drop_schema(schema)
        admin.delete_topics([topic])[topic].result(timeout=30)


def rows(run: Run, query: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(run.dsn, options=f"-c search_path={run.schema}") as conn:
        cur = conn.cursor(row_factory=dict_row)
        return cur.execute(query, params).fetchall()


def cents(value: Decimal) -> int:
    return round(value * 100)


def test_experiment_counts_are_the_ledgers_and_cover_the_configured_lift(run: Run) -> None:
    truth = run.truth["ab-test"]["counts"]["variants"]
    found = {
        r["variant"]: r
        for r in rows(run, "SELECT * FROM experiment_results WHERE experiment = 'checkout-test'")
    }
    assert set(found) == {"A", "B"}
    for variant, row in found.items():
        human = truth[variant]["without_known_bots"]  # what a filter of known patterns leaves
        assert row["sessions"] == human["sessions"]
        assert row["converted_sessions"] == human["converted_sessions"]
        assert row["orders"] == human["orders"]
        assert cents(row["revenue"]) == human["revenue_cents"]
        assert row["bot_sessions"] == truth[variant]["sessions"] - human["sessions"]
    a, b = found["A"], found["B"]
    assert a["is_control"] and not b["is_control"]
    # The configured +20% lies within the view's 95% interval, and the sample is big enough
    # for the interval to say something (it excludes a lift of +100%).
    assert b["lift_ci_low"] < 0.20 < b["lift_ci_high"] < 1.0
    expected = (b["converted_sessions"] / b["sessions"]) / (
        a["converted_sessions"] / a["sessions"]
    ) - 1
    assert b["lift"] == pytest.approx(expected)


def test_marked_bot_sessions_are_the_ledgers_known_bots(run: Run) -> None:
    truth = run.truth["bots"]["counts"]
    [row] = rows(
        run,
        "SELECT count(*) FILTER (WHERE is_bot) AS bots, count(*) AS sessions,"
        " sum(events) FILTER (WHERE is_bot) AS bot_events FROM user_sessions",
    )
    assert row["bots"] == truth["known"]["sessions"]
    assert row["bot_events"] == truth["known"]["events"]
    parts = ("known", "pretending", "humans")
    assert row["sessions"] == sum(truth[p]["sessions"] for p in parts)
    share = row["bots"] / row["sessions"]
    configured = run.truth["bots"]["parameters"]["share"] * (1 - 0.35)  # pretenders unmarked
    assert share == pytest.approx(configured, abs=0.03)
    # Bots never buy: no marked session has a cart or an order.
    [carts] = rows(
        run, "SELECT count(*) AS n FROM user_sessions WHERE is_bot AND add_to_carts + orders > 0"
    )
    assert carts["n"] == 0


def test_flash_sale_shows_in_hourly_and_product_metrics_where_the_ledger_puts_it(
    run: Run,
) -> None:
    sale = run.truth["flash-sale"]
    start = datetime.fromisoformat(sale["windows"]["window_start"])
    end = datetime.fromisoformat(sale["windows"]["window_end"])
    assert start == datetime(2025, 8, 1, 12, tzinfo=UTC)
    [hour] = rows(
        run,
        "SELECT sum(events) AS events, sum(page_views) AS page_views,"
        " sum(add_to_carts) AS add_to_carts, sum(purchases) AS purchases, sum(revenue) AS revenue"
        " FROM hourly_metrics WHERE window_start >= %s AND window_start < %s",
        start,
        end,
    )
    window = sale["counts"]["in_window"]
    for key in ("events", "page_views", "add_to_carts", "purchases"):
        assert hour[key] == window[key], key
    assert cents(hour["revenue"]) == window["revenue_cents"]
    # The sale's category, hour by hour: the window's hour has the most views, carts and
    # purchases, by far (traffic x3, carts x1.5, checkout x1.3 in the window).
    by_hour = rows(
        run,
        "SELECT window_start, sum(views) AS views, sum(add_to_carts + purchases) AS lines"
        " FROM product_metrics WHERE category = 'Electronics'"
        " GROUP BY window_start ORDER BY window_start",
    )
    assert len(by_hour) == 6
    inside = [r for r in by_hour if start <= r["window_start"] < end]
    outside = [r for r in by_hour if not start <= r["window_start"] < end]
    assert len(inside) == 1
    assert inside[0]["views"] > 2 * max(r["views"] for r in outside)
    assert inside[0]["lines"] > 2 * max(r["lines"] for r in outside)
    # Prices stay consistent: a session sees one price per product.
    [mixed] = rows(
        run,
        "SELECT count(*) AS n FROM (SELECT session_id, product_id FROM raw_events"
        " WHERE price IS NOT NULL GROUP BY 1, 2 HAVING count(DISTINCT price) > 1) AS s",
    )
    assert mixed["n"] == 0
