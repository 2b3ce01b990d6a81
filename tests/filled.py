"""A schema filled by a real producer and processor run, shared by every test that reads one.

The producer backfills a few thousand events over the last hours (with duplicates, late and
malformed messages) into a fresh topic, then hand-made sessions of an A/B test and bot sessions
(tests/truth_events.py) follow in its last 45 minutes, and the processor reads that topic once
(availableNow) into a fresh schema. One run serves the whole test session: the panel-query
tests and the browser tests read the same data.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.env import ROOT
from infra.postgres import PostgresNative
from tests.truth_events import Truth, bots, experiment, hours_ago, send

EVENTS = 3000
HOURS = 4


def truth_traffic() -> Truth:
    """An A/B test (B converts more) and bot sessions, in the last 45 minutes: after the
    producer's events, within the lateness bound of its newest ones."""
    start, span = hours_ago(0.75), timedelta(minutes=40)
    truth = experiment("checkout-test", {"A": 0.2, "B": 0.3}, 120, start, span, seed=11)
    truth.add(bots(humans=60, known=30, disguised=10, start=start, span=span, seed=12))
    return truth


def producer_command(topic: str, start: datetime, ledger: Path) -> list[str]:
    """Return the producer's backfill command: EVENTS events spread over the last HOURS."""
    return [
        sys.executable, "-m", "producer.producer",
        "--mode", "backfill",
        "--topic", topic,
        "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--days", f"{HOURS / 24:.4f}",
        "--events", str(EVENTS),
        "--rate", f"{EVENTS / (HOURS * 3600):.3f}",
        "--flat",
        "--seed", "7",
        "--ledger", str(ledger),
        "--duplicates", "0.02",
        "--late", "0.01",
        "--malformed", "0.01",
    ]  # fmt: skip


def run_checked(cmd: list[str], what: str, timeout: float) -> str:
    """Run a command from the project root; fail the test with its output if it fails."""
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        pytest.fail(f"{what} failed ({result.returncode}):\n{output}")
    return result.stdout + result.stderr


@pytest.fixture(scope="session")
def filled_schema(services: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh schema filled by the real producer and processor; dropped at the end."""
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"test.filled.{uuid.uuid4().hex[:8]}"
    schema = f"test_filled_{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(timeout=30)
    PostgresNative(services.settings).apply_schema(schema=schema)
    try:
        start = datetime.now(UTC) - timedelta(hours=HOURS)
        work = tmp_path_factory.mktemp("pipeline")
        run_checked(producer_command(topic, start, work / "ledger.json"), "producer backfill", 300)
        send(services.bootstrap, topic, truth_traffic().messages())
        processor = [
            sys.executable, "-m", "processor.streaming_processor", "--available-now",
            "--topic", topic, "--schema", schema, "--checkpoint-dir", str(work / "checkpoint"),
            "--starting-offsets", "earliest",
        ]  # fmt: skip
        run_checked(processor, "processor --available-now", 600)
        yield schema
    finally:
        admin.delete_topics([topic])[topic].result(timeout=30)
        PostgresNative(services.settings).drop_schema(schema)
