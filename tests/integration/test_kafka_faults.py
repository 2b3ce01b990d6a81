"""The processor against faults of Kafka itself: a broker restart and a recreated topic.

A broker restart would disturb every other test, so this module runs a private broker of its
own (the same jars and scripts as the shared one, on free loopback ports, data in tmp).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.kafka import KafkaNative
from tests.conftest import Services
from tests.integration.test_processor_stream import (
    differences,
    finish,
    produce_backfill,
    recount_differences,
    scalar,
    start_processor,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DOWN_SECONDS = 75  # above the Kafka clients' 60 s default API timeout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def private_kafka(services: Services, tmp_path: Path) -> Iterator[tuple[Services, KafkaNative]]:
    """A broker of this test's own, started like the shared one; stopped afterwards."""
    port, controller = free_port(), free_port()
    local = tmp_path / "local"
    (local / "kafka").mkdir(parents=True)
    (local / "kafka" / "libs").symlink_to(services.settings.local / "kafka" / "libs")
    settings = dataclasses.replace(
        services.settings,
        kafka_bootstrap=f"127.0.0.1:{port}",
        kafka_port=port,
        kafka_controller_port=controller,
        kafka_heap="256m",
        local=local,
    )
    broker = KafkaNative(settings)
    broker.start()
    try:
        yield (
            dataclasses.replace(services, settings=settings, bootstrap=settings.kafka_bootstrap),
            broker,
        )
    finally:
        broker.stop()


def count(services: Services, schema: str) -> int:
    return scalar(services.pg_dsn, schema, "SELECT count(*) FROM raw_events")


def test_a_broker_restart_mid_stream_loses_nothing_and_doubles_nothing(
    private_kafka: tuple[Services, KafkaNative], pg_schema: str, tmp_path: Path
) -> None:
    services, broker = private_kafka
    topic = "faults.restart"
    broker.ensure_topic(topic, 3)
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    produce_backfill(services, topic, first, 3_000, 101)
    process = start_processor(
        services, topic, pg_schema, tmp_path / "ckpt", PROCESSOR_TRIGGER_SECONDS="1"
    )
    try:
        wait_for(lambda: count(services, pg_schema) >= 2_900, 240, "the first events")
        broker.stop()
        time.sleep(DOWN_SECONDS)  # long enough for every Kafka client timeout in the processor
        assert process.poll() is None, "the processor exited while the broker was down"
        broker.start()
        produce_backfill(services, topic, second, 3_000, 102)
        wait_for(lambda: count(services, pg_schema) >= 5_800, 300, "the events sent after")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    out = finish(process, timeout=120)
    assert "batches committed" in out
    assert differences(pg_schema) == []
    assert recount_differences(services, pg_schema, topic) == ""
    # Both runs' unique events, each exactly once (the ledgers are checked one by one).
    stored = count(services, pg_schema)
    assert stored == sum(unique_events(p) for p in (first, second))


def unique_events(ledger: Path) -> int:
    """Events the producer delivered, each once (the ledger's total by type)."""
    return int(json.loads(ledger.read_text())["events"]["total"])


def recreate(services: Services, topic: str) -> None:
    """Delete the topic and create it again under the same name (a new topic id)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    admin.delete_topics([topic], operation_timeout=30)[topic].result(timeout=60)
    deadline = time.monotonic() + 60
    while topic in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, f"topic {topic} was not deleted"
        time.sleep(0.5)
    while True:
        try:
            admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(timeout=30)
            return
        except Exception:  # the deletion may still be finishing on the broker
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def malformed(ledger: Path) -> int:
    """Messages the producer malformed on purpose."""
    faults = json.loads(ledger.read_text())["faults"]
    return int(faults["malformed"])


@pytest.mark.parametrize("policy", ["fail", "continue"])
def test_a_recreated_topic_is_never_silently_skipped(
    private_kafka: tuple[Services, KafkaNative], pg_schema: str, tmp_path: Path, policy: str
) -> None:
    services, broker = private_kafka
    topic = f"faults.recreated.{policy}"
    broker.ensure_topic(topic, 3)
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    checkpoint = tmp_path / "ckpt"
    env = {"PROCESSOR_ON_DATA_LOSS": policy}
    produce_backfill(services, topic, old, 3_000, 201, "--malformed", "0.02")
    finish(start_processor(services, topic, pg_schema, checkpoint, "--available-now", **env))
    recreate(services, topic)
    # Fewer messages than before: the old checkpoint's offsets lie beyond the new topic's end,
    # so Spark alone would plan no batch at all and never read them.
    produce_backfill(services, topic, new, 1_500, 202, "--malformed", "0.02")
    process = start_processor(services, topic, pg_schema, checkpoint, "--available-now", **env)
    try:
        out, _ = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # never leave a hung processor behind
        process.wait(30)
        raise
    gaps = scalar(services.pg_dsn, pg_schema, "SELECT count(*) FROM data_gaps")
    stored = count(services, pg_schema)
    rejected = scalar(services.pg_dsn, pg_schema, "SELECT count(*) FROM rejected_events")
    if policy == "fail":
        assert process.returncode != 0
        assert "deleted and created again" in out and "PROCESSOR_ON_DATA_LOSS=continue" in out
        assert gaps == 0 and stored == unique_events(old)
    else:
        assert process.returncode == 0, out[-3000:]
        assert "DATA LOSS" in out and "reading the new topic from its start" in out
        assert gaps == 1
        assert stored == unique_events(old) + unique_events(new)
        # New bad messages at offsets the old topic used are new messages, not duplicates.
        assert rejected == malformed(old) + malformed(new)
        assert differences(pg_schema) == []
        # The topic itself, with the old topic's events as raw_events holds them (Kafka has
        # them no more): raw_events records which topic id each event was read from.
        assert recount_differences(services, pg_schema, topic) == ""
        earlier = "SELECT count(*) FROM raw_events WHERE kafka_topic_id <> ''"
        assert scalar(services.pg_dsn, pg_schema, earlier) == stored
