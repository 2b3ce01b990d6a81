"""The producer against the real broker: N events in, N + injected duplicates (+ malformed) out.

Consumes the fresh topic back and checks every count of the ledger: events by type, sessions,
orders, revenue, duplicates and malformed messages, the key and the partitioning by session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError

from infra.env import ROOT
from producer.producer import main

pytestmark = pytest.mark.integration


def consume_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0) -> list[Any]:
    """Every message of the topic (from the beginning) until `expected` arrived and the topic
    stays quiet for a few seconds, so extra messages would be seen too."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"verify-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[Any] = []
    quiet = 0.0
    waited = 0.0
    try:
        while waited < timeout_s and (len(messages) < expected or quiet < 3.0):
            batch = consumer.consume(10_000, timeout=0.5)
            waited += 0.5 if not batch else 0.0
            quiet = quiet + 0.5 if not batch else 0.0
            for msg in batch:
                if msg.error() and msg.error().code() != KafkaError._PARTITION_EOF:
                    raise AssertionError(msg.error())
                if not msg.error():
                    messages.append(msg)
    finally:
        consumer.close()
    return messages


def check_topic_against_ledger(messages: list[Any], ledger: dict[str, Any]) -> None:
    """The consumed messages match the ledger count for count."""
    faults = ledger["faults"]
    assert len(messages) == ledger["messages_sent"]
    assert len(messages) == ledger["events"]["total"] + faults["duplicates"] + faults["malformed"]
    valid: dict[str, dict[str, Any]] = {}
    copies = malformed = 0
    partitions: dict[str, set[int]] = defaultdict(set)
    for msg in messages:
        try:
            event = json.loads(msg.value())
        except json.JSONDecodeError:
            malformed += 1
            continue
        ok = event.get("event_type") in ("page_view", "add_to_cart", "purchase") and all(
            k in event for k in ("user_id", "session_id", "timestamp", "page_url", "event_type")
        )
        ok = ok and isinstance(event.get("price") or 0, float | int)
        ok = ok and isinstance(event.get("quantity") or 0, int) and event["timestamp"][-1] == "Z"
        if not ok:
            malformed += 1
            continue
        assert msg.key().decode() == event["session_id"]
        partitions[event["session_id"]].add(msg.partition())
        if event["event_id"] in valid:
            assert valid[event["event_id"]] == event  # a duplicate is an exact copy
            copies += 1
        valid[event["event_id"]] = event
    assert malformed == faults["malformed"]
    assert copies == faults["duplicates"]
    assert len(valid) == ledger["events"]["total"]
    by_type = Counter(e["event_type"] for e in valid.values())
    for kind in ("page_view", "add_to_cart", "purchase"):
        assert by_type[kind] == ledger["events"][kind]
    assert len(partitions) == ledger["sessions"]
    assert all(len(p) == 1 for p in partitions.values())  # a session stays on one partition
    orders = {e["order_id"] for e in valid.values() if e["order_id"]}
    assert len(orders) == ledger["orders"]
    revenue = sum(
        (Decimal(str(e["price"])) * e["quantity"] for e in valid.values() if e["order_id"]),
        Decimal("0.00"),
    )
    # An unseeded run may hold no purchase at all: compare at cents either way.
    assert str(revenue.quantize(Decimal("0.01"))) == ledger["revenue"]


def test_n_events_come_back_as_n_plus_the_injected_faults(services, kafka_topic, tmp_path: Path):
    n = 20_000
    ledger_file = tmp_path / "ledger.json"
    argv = ["--mode", "backfill", "--start", "2025-06-02", "--events", str(n), "--seed", "12"]
    argv += ["--topic", kafka_topic, "--bootstrap-servers", services.bootstrap]
    argv += ["--duplicates", "0.01", "--late", "0.01", "--malformed", "0.005"]
    assert main([*argv, "--ledger", str(ledger_file), "--progress", "0"]) == 0
    ledger = json.loads(ledger_file.read_text())
    assert ledger["events"]["total"] == n
    assert ledger["faults"]["duplicates"] > 0 and ledger["faults"]["malformed"] > 0
    assert ledger["delivery"]["delivered"] == ledger["messages_sent"]
    assert ledger["delivery"]["undelivered"] == 0
    messages = consume_all(services.bootstrap, kafka_topic, ledger["messages_sent"])
    check_topic_against_ledger(messages, ledger)


def test_start_producer_sh_takes_the_topic_from_the_environment(
    services, kafka_topic, tmp_path: Path
):
    ledger_file = tmp_path / "ledger.json"
    env = {**os.environ, "KAFKA_TOPIC": kafka_topic, "KAFKA_BOOTSTRAP_SERVERS": services.bootstrap}
    argv = ["--mode", "backfill", "--events", "3000", "--duplicates", "0.02"]
    argv += ["--ledger", str(ledger_file), "--delivery-reports", "errors"]
    result = subprocess.run(
        [str(ROOT / "start_producer.sh"), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"ledger: {ledger_file}" in result.stderr
    ledger = json.loads(ledger_file.read_text())
    assert ledger["run"]["topic"] == kafka_topic
    messages = consume_all(services.bootstrap, kafka_topic, ledger["messages_sent"])
    check_topic_against_ledger(messages, ledger)


@pytest.fixture
def new_topic(services) -> Iterator[str]:
    """A topic name nobody has created; deleted afterwards if a test made it."""
    from confluent_kafka.admin import AdminClient

    name = f"test.new.{uuid.uuid4().hex[:10]}"
    yield name
    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    if name in admin.list_topics(timeout=10).topics:
        admin.delete_topics([name], operation_timeout=30)[name].result(timeout=60)


def partitions_of(bootstrap: str, topic: str) -> int | None:
    from confluent_kafka.admin import AdminClient

    meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    found = meta.topics.get(topic)
    return None if found is None or found.error is not None else len(found.partitions)


def test_start_producer_sh_creates_a_topic_that_does_not_exist(
    services, new_topic: str, tmp_path: Path
):
    ledger_file = tmp_path / "ledger.json"
    env = {**os.environ, "KAFKA_TOPIC": new_topic, "KAFKA_PARTITIONS": "2",
           "KAFKA_BOOTSTRAP_SERVERS": services.bootstrap}  # fmt: skip
    result = subprocess.run(
        [str(ROOT / "start_producer.sh"), "--mode", "backfill", "--events", "2000",
         "--ledger", str(ledger_file)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"created topic {new_topic} with 2 partitions" in result.stderr
    assert partitions_of(services.bootstrap, new_topic) == 2
    ledger = json.loads(ledger_file.read_text())
    assert ledger["delivery"]["delivered"] == ledger["messages_sent"] == 2000
    messages = consume_all(services.bootstrap, new_topic, ledger["messages_sent"])
    check_topic_against_ledger(messages, ledger)


def test_no_create_topic_fails_within_seconds_naming_the_command(
    services, new_topic: str, tmp_path: Path
):
    argv = ["--mode", "backfill", "--events", "1000", "--topic", new_topic, "--no-create-topic"]
    argv += ["--bootstrap-servers", services.bootstrap, "--ledger", str(tmp_path / "l.json")]
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "producer.producer", *argv],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    took = time.monotonic() - began
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and took < 20
    (line,) = [x for x in result.stderr.splitlines() if "does not exist" in x]
    assert f"python -m infra create-topic {new_topic}" in line
    assert partitions_of(services.bootstrap, new_topic) is None  # nothing was created
    # The command it names creates the topic.
    made = subprocess.run(
        [sys.executable, "-m", "infra", "create-topic", new_topic, "--partitions", "4"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0 and f"topic {new_topic}: created" in made.stdout, made.stderr
    assert partitions_of(services.bootstrap, new_topic) == 4
