"""A/B experiments and bots through the real pipeline: hand-made traffic whose truth is known
(tests/truth_events.py) -> Kafka -> the processor (three runs on one checkpoint, the second
killed mid-run) -> PostgreSQL, then the experiment view, the bot share and verify.

One topic holds everything: an experiment with a +20% conversion lift for variant B, an A/A
experiment (no lift), bot sessions with known and disguised user agents, duplicates, events
out of order within the lateness bound (they move their sessions to an earlier start hour) and
events beyond it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from infra.env import ROOT
from tests.conftest import Services
from tests.integration.test_processor_stream import (
    differences,
    finish,
    recount_differences,
    scalar,
    start_processor,
    wait_for,
)
from tests.processor.sample_events import event
from tests.truth_events import (
    Truth,
    bots,
    difference_interval,
    experiment,
    hours_ago,
    katz_interval,
    known_bot_share,
    send,
)
from viewer.macros import TimeRange, dashboard_variables, expand

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LIFT = "checkout-button"  # B converts 20% more often than A
AA = "same-page"  # control and alpha are the same page
BOTS_IN_LIFT = 40  # known bots in LIFT's variant A: bot_sessions, never sessions


@dataclass(frozen=True)
class Run:
    """The pipeline's result: what was made, and where it was stored."""

    truth: Truth
    schema: str
    topic: str
    services: Services
    moved: int  # sessions an out-of-order event moved to an earlier start
    late: int  # events beyond the lateness bound


def make_truth(now: datetime) -> Truth:
    """Every session of the run, over the 3 hours before `now`."""
    start, span = hours_ago(3, now), timedelta(hours=2, minutes=50)
    truth = experiment(LIFT, {"A": 0.10, "B": 0.12}, 3000, start, span, seed=101)
    truth.add(experiment(AA, {"alpha": 0.10, "control": 0.10}, 3000, start, span, seed=102))
    truth.add(bots(humans=400, known=150, disguised=50, start=start, span=span, seed=103))
    lift_bots = bots(0, BOTS_IN_LIFT, 0, start=start, span=span, seed=104, experiment=LIFT)
    truth.add(lift_bots)
    return truth


def out_of_order(truth: Truth, now: datetime, rng: random.Random) -> list[dict[str, Any]]:
    """An extra page view 20 minutes before the start of 30 recent sessions of LIFT, sent
    last: within the 1 h bound of the newest events, it becomes their first event."""
    since = now - timedelta(minutes=25)
    recent = [
        s for s in truth.sessions if s.experiment == LIFT and not s.known_bot and s.start > since
    ]
    chosen = rng.sample(recent, 30)
    by_session = {e["session_id"]: e for e in truth.events}
    extra = []
    for s in chosen:
        first = by_session[s.session_id]
        t = s.start - timedelta(minutes=20)
        ids = {"user_id": first["user_id"], "session_id": s.session_id}
        e = event("page_view", t, **ids, device_type=first["device_type"],
                  experiment=s.experiment, variant=s.variant)  # fmt: skip
        e["user_agent"] = first["user_agent"]
        extra.append(e)
        s.start = t
    return extra


def too_late(truth: Truth, now: datetime) -> list[dict[str, Any]]:
    """Page views 2 hours before the newest events, for sessions of the A/A test: beyond the
    bound, they are stored late and counted nowhere."""
    sessions = [s for s in truth.sessions if s.experiment == AA][:25]
    return [
        event("page_view", now - timedelta(hours=2, minutes=30), session_id=s.session_id,
              experiment=AA, variant="alpha" if s.variant == "control" else "control")
        for s in sessions
    ]  # fmt: skip


def encoded(events: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    return [
        (e["session_id"].encode(), json.dumps(e, separators=(",", ":")).encode()) for e in events
    ]


@pytest.fixture(scope="module")
def run(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Send the traffic in three parts and process it in three runs (the second one killed
    after its second batch), with one checkpoint; then the tables are what a single clean
    run would have made."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from infra.postgres import PostgresNative

    rng = random.Random(5)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    truth = make_truth(now)
    messages = truth.messages()
    half = len(messages) // 2
    moved = out_of_order(truth, now, rng)
    late = too_late(truth, now)
    # Resent copies: in the first part only of its own messages (a copy of a newer one would
    # move the lateness watermark ahead of the second part), at the end of any.
    early = rng.sample(messages[:half], len(messages) // 100)
    again = rng.sample(messages, len(messages) // 100)

    topic = f"test.experiments.{os.urandom(4).hex()}"
    schema = f"test_experiments_{os.urandom(4).hex()}"
    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(timeout=30)
    PostgresNative(services.settings).apply_schema(schema=schema)
    work = tmp_path_factory.mktemp("experiments")
    checkpoint = work / "ckpt"
    env = {"PROCESSOR_MAX_OFFSETS_PER_TRIGGER": "4000", "PROCESSOR_TRIGGER_SECONDS": "1"}
    try:
        send(services.bootstrap, topic, messages[:half] + early)
        finish(start_processor(services, topic, schema, checkpoint, "--available-now", **env))
        send(services.bootstrap, topic, messages[half:])
        committed = "SELECT count(*) FROM pipeline_batches WHERE input_rows > 0"
        before = scalar(services.pg_dsn, schema, committed)
        process = start_processor(services, topic, schema, checkpoint, **env)
        try:
            wait_for(lambda: scalar(services.pg_dsn, schema, committed) >= before + 2, 240,
                     "two more committed batches")  # fmt: skip
            time.sleep(0.5)  # most likely inside the next batch
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
        send(services.bootstrap, topic, encoded(moved) + encoded(late))
        send(services.bootstrap, topic, again)
        finish(start_processor(services, topic, schema, checkpoint, "--available-now", **env))
        yield Run(truth, schema, topic, services, len(moved), len(late))
    finally:
        admin.delete_topics([topic])[topic].result(timeout=30)
        PostgresNative(services.settings).drop_schema(schema)


def rows(run: Run, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with psycopg.connect(
        run.services.pg_readonly_dsn, options=f"-c search_path={run.schema}", row_factory=dict_row
    ) as conn:
        return conn.execute(query, params or None).fetchall()  # type: ignore[arg-type]


def results(run: Run, name: str) -> dict[str, dict[str, Any]]:
    found = rows(run, "SELECT * FROM experiment_results WHERE experiment = %s", (name,))
    return {r["variant"]: r for r in found}


def test_verify_finds_no_difference_after_duplicates_late_events_and_a_kill(run: Run) -> None:
    assert differences(run.schema) == []
    assert recount_differences(run.services, run.schema, run.topic) == ""
    late = scalar(run.services.pg_dsn, run.schema, "SELECT count(*) FROM raw_events WHERE is_late")
    assert late == run.late
    duplicates = scalar(
        run.services.pg_dsn, run.schema, "SELECT sum(duplicate_rows) FROM pipeline_batches"
    )
    assert duplicates >= 2 * (len(run.truth.events) // 100)  # every resent copy (and replays)


def test_the_stored_counts_are_the_made_ones(run: Run) -> None:
    for name in (LIFT, AA):
        made = run.truth.variants(name)
        got = {v: (r["sessions"], r["converted_sessions"]) for v, r in results(run, name).items()}
        assert got == made
    query = "SELECT sum(bot_sessions) AS bots, sum(revenue) AS revenue FROM experiment_metrics"
    (row,) = rows(run, query + " WHERE experiment = %s", (LIFT,))
    humans = [s for s in run.truth.sessions if s.experiment == LIFT and not s.known_bot]
    assert (row["bots"], row["revenue"]) == (BOTS_IN_LIFT, sum(s.revenue for s in humans))
    # The moved sessions count under their new, earlier start hour (verify checks each row).
    hours = rows(run, "SELECT count(DISTINCT window_start) AS n FROM experiment_metrics")
    assert hours[0]["n"] >= 3


def test_the_lift_interval_covers_the_configured_lift(run: Run) -> None:
    found = results(run, LIFT)
    a, b = found["A"], found["B"]
    assert a["is_control"] and b["control_variant"] == "A" and a["lift"] == 0
    (n, x), (n_c, x_c) = run.truth.variants(LIFT)["B"], run.truth.variants(LIFT)["A"]
    lift, low, high = katz_interval(n, x, n_c, x_c)
    assert b["lift"] == pytest.approx(lift) and b["lift_ci_low"] == pytest.approx(low)
    assert b["lift_ci_high"] == pytest.approx(high)
    assert low <= 0.20 <= high, f"lift {lift:.3f}, interval {low:.3f} to {high:.3f}"
    diff, d_low, d_high = difference_interval(n, x, n_c, x_c)
    assert (b["difference"], b["difference_ci_low"], b["difference_ci_high"]) == pytest.approx(
        (diff, d_low, d_high)
    )
    assert d_low <= 0.12 - 0.10 <= d_high
    assert b["conversion_ci_low"] < b["conversion_rate"] < b["conversion_ci_high"]


def test_the_a_a_interval_covers_no_lift(run: Run) -> None:
    found = results(run, AA)
    control, alpha = found["control"], found["alpha"]
    assert control["is_control"] and alpha["control_variant"] == "control"  # by name, not order
    assert alpha["lift_ci_low"] <= 0 <= alpha["lift_ci_high"]
    assert alpha["difference_ci_low"] <= 0 <= alpha["difference_ci_high"]
    assert abs(alpha["z_score"]) < 1.959964


def test_the_bot_share_panel_shows_the_known_share(run: Run) -> None:
    bot_sessions, sessions = known_bot_share(run.truth.sessions)
    query = "SELECT count(*) FILTER (WHERE is_bot) AS bots, count(*) AS n FROM user_sessions"
    stored = rows(run, query)
    assert (stored[0]["bots"], stored[0]["n"]) == (bot_sessions, sessions)
    model = json.loads((ROOT / "config/grafana/dashboards/clickstream-funnel.json").read_text())
    (panel,) = [p for p in model["panels"] if p["title"] == "Bot share"]
    now = datetime.now(UTC)
    span = TimeRange(now - timedelta(hours=6), now + timedelta(minutes=1))
    query = expand(panel["targets"][0]["rawSql"], dashboard_variables(model, {"category": []}),
                   span, interval_s=86_400)  # fmt: skip
    buckets = rows(run, query)
    total = sum(r["sessions"] for r in buckets)
    marked = sum(r["bot sessions"] for r in buckets)
    assert (marked, total) == (bot_sessions, sessions)
    assert len(buckets) <= 2 and all(0 < r["bot share"] < 1 for r in buckets)
    # The disguised bots look like people: the marked share is below all automated traffic.
    assert marked / total == pytest.approx(bot_sessions / sessions)


def test_the_kpis_leave_bot_sessions_out(run: Run) -> None:
    newest = max(datetime.fromisoformat(e["timestamp"]) for e in run.truth.events)
    since = newest - timedelta(hours=1)
    humans = {s.session_id for s in run.truth.sessions if not s.known_bot}
    active = {
        e["session_id"]
        for e in run.truth.events
        if datetime.fromisoformat(e["timestamp"]) > since and e["session_id"] in humans
    }
    converted = {s.session_id for s in run.truth.sessions if s.converted} & active
    (kpi,) = rows(run, "SELECT metric_value AS v FROM dashboard_metrics"
                       " WHERE metric_name = 'conversion_rate_1h'")  # fmt: skip
    assert kpi["v"] == pytest.approx(len(converted) / len(active))
