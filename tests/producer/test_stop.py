"""A stop (SIGTERM or Ctrl-C) with Kafka down or hanging ends within seconds, with an exact ledger.

No broker runs: the producer is pointed at a closed loopback port (or one that accepts and
never answers), so nothing is ever delivered. It used to wait 600 s for deliveries after
SIGTERM, or loop forever on a full queue without looking at the signal; the runner and Docker
kill it after 30 s, and the ledger was lost. Now a stop gives up at once when no broker
answers, waits at most --stop-timeout for one that hangs, ends at once on a second stop, and
the ledger says what was delivered (nothing), failed and still queued.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.producer.proc import Producer, SilentBroker, kafka_args

STOP_TIMEOUT_S = 1.0
SLACK_S = 4.0  # settling the queue, writing the ledger, interpreter exit on a busy machine


def ledger(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "ledger.json").read_text())


def assert_nothing_delivered(record: dict, queued: int | None = None) -> None:
    d = record["delivery"]
    assert d["delivered"] == 0 and record["messages_sent"] == 0
    assert record["events"]["total"] == record["sessions"] == record["orders"] == 0
    assert record["revenue"] == "0.00" and record["faults"]["duplicates"] == 0
    assert d["handed_over"] > 0
    assert d["queued"] + d["failed"] == d["undelivered"] == d["handed_over"]
    if queued is not None:
        assert d["queued"] == queued


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_with_kafka_down_writes_the_ledger_within_seconds(
    sig: signal.Signals, tmp_path: Path
) -> None:
    producer = Producer(kafka_args(tmp_path, "--stop-timeout", f"{STOP_TIMEOUT_S}s"))
    producer.wait_for("in flight")  # a progress line: messages are queued in the client
    sent_at = producer.signal(sig)
    code, exited_at = producer.finish(timeout_s=30)
    assert exited_at - sent_at < SLACK_S  # no broker answers: waiting would not help
    assert code == 3  # messages were left unconfirmed
    record = ledger(tmp_path)
    assert_nothing_delivered(record)
    assert record["run"]["stopped_by"] == "signal" and record["run"]["signal"] == sig.name
    last = producer.lines[-1]
    assert f"stopped by {sig.name}" in last and "exit 3" in last and "ledger:" in last
    assert f"0 of {record['delivery']['handed_over']:,} messages delivered" in last


def test_a_stop_while_the_local_queue_is_full_is_noticed(tmp_path: Path) -> None:
    config = tmp_path / "small-queue.toml"
    config.write_text('[output]\nkafka = { "queue.buffering.max.messages" = 1000 }\n')
    argv = kafka_args(tmp_path, "--config", str(config), "--stop-timeout", "1s")
    producer = Producer([*argv, "--duplicates", "0.05", "--late", "0.05", "--malformed", "0.01"])
    producer.wait_for("Kafka queue full (1,0")  # stuck in the middle of a hand-over
    sent_at = producer.signal()
    code, exited_at = producer.finish(timeout_s=30)
    assert exited_at - sent_at < STOP_TIMEOUT_S + SLACK_S
    assert code == 3
    record = ledger(tmp_path)
    assert_nothing_delivered(record, queued=1000)
    assert record["delivery"]["handed_over"] == 1000  # what the queue held, no more
    assert record["faults"]["late"] == record["faults"]["malformed"] == 0


def test_with_a_broker_that_hangs_the_stop_waits_its_timeout_then_writes_the_ledger(
    tmp_path: Path,
) -> None:
    with SilentBroker() as port:
        producer = Producer(kafka_args(tmp_path, "--stop-timeout", "2s", port=port))
        producer.wait_for("in flight")
        sent_at = producer.signal()
        code, exited_at = producer.finish(timeout_s=30)
    assert 2.0 <= exited_at - sent_at < 2.0 + SLACK_S  # waited for confirmations, bounded
    assert code == 3
    assert_nothing_delivered(ledger(tmp_path))


def test_a_second_stop_gives_up_at_once_and_still_writes_the_ledger(tmp_path: Path) -> None:
    with SilentBroker() as port:
        producer = Producer(kafka_args(tmp_path, "--stop-timeout", "60s", port=port))
        producer.wait_for("in flight")
        producer.signal(signal.SIGTERM)
        producer.wait_for("SIGTERM: stopping")
        second_at = producer.signal(signal.SIGINT)
        code, exited_at = producer.finish(timeout_s=30)
    assert exited_at - second_at < SLACK_S  # not the 60 s the first stop would wait
    assert code == 3
    assert any("SIGINT again: giving up" in line for line in producer.lines), producer.lines
    record = ledger(tmp_path)
    assert_nothing_delivered(record)
    assert record["run"]["signal"] == "SIGTERM"  # what stopped it


def test_a_stop_during_a_realtime_warm_up_is_noticed(tmp_path: Path) -> None:
    """Realtime simulates the hour before the start first (seconds at a high rate), unsent."""
    argv = kafka_args(tmp_path, "--stop-timeout", "1s")
    argv[argv.index("--mode") + 1] = "realtime"
    for flag in ("--start", "--days"):
        del argv[argv.index(flag) : argv.index(flag) + 2]
    producer = Producer([*argv, "--rate", "100000", "--warm-up", "1h"])
    producer.wait_for("realtime to kafka")
    sent_at = producer.signal()
    code, exited_at = producer.finish(timeout_s=30)
    assert exited_at - sent_at < STOP_TIMEOUT_S + SLACK_S
    record = ledger(tmp_path)
    assert record["messages_sent"] == 0 and record["run"]["stopped_by"] == "signal"
    assert code in (0, 3)  # 0 when it stopped before handing anything over
