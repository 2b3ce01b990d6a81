"""`verify --from-topic` against a real run: producer (with faults) and hand-made poison -> Kafka
-> processor -> PostgreSQL, then the independent recount from the topic must agree with every
table, and must notice a stored row that is changed afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from infra.env import ROOT
from processor.verify import main
from tests.conftest import Services
from tests.integration.test_processor_stream import finish, produce, send, start_processor
from tests.processor.sample_events import dumps, event

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The bounds the processor and verify share (both read them from the environment).
BOUNDS = {
    "PROCESSOR_MAX_LATENESS": "10m",  # some of the producer's late events (up to 20m) fall beyond
    "PROCESSOR_MAX_FUTURE": "5m",
    "PROCESSOR_MAX_MESSAGE_BYTES": "4096",
}
PRODUCT = "00000000-0000-4000-8000-0000000000b1"


def poison() -> list[bytes]:
    """Hostile or odd messages, one per rule, and valid ones that look odd."""
    view = dumps(event("page_view", event_id="AAAAAAAA-0000-4000-8000-000000000001"))
    cart = event("add_to_cart", product_id=PRODUCT, price=1.005, quantity=1)  # three decimals
    return [
        b"",
        b"\xff\xfe not even text",
        (dumps(event()) + " trailing").encode(),
        (dumps(event()) + dumps(event())).encode(),
        b"[1, 2, 3]",
        dumps(event(page_url="/\u0000")).encode(),
        dumps({**event(), "user_id": None}).encode(),
        dumps({**event(), "price": "12.00"}).encode(),
        dumps({**event(), "ip_address": "010.0.0.1"}).encode(),
        dumps({**event(), "timestamp": "2025-02-30T10:00:00Z"}).encode(),
        dumps({**event(), "timestamp": "1999-12-31T23:59:59Z"}).encode(),
        dumps({**event(), "timestamp": "2999-01-01T00:00:00Z"}).encode(),
        dumps({**event(), "device_type": "fridge"}).encode(),
        dumps(cart).encode(),
        dumps({**event(), "referrer": "x" * 5000}).encode(),  # beyond 4096 bytes
        # Valid: an old event (late or not, as its partition says), the same id in lowercase,
        # invalid UTF-8 inside a string, and a duplicate key (the last one wins).
        view.encode(),
        view.replace("AAAAAAAA", "aaaaaaaa").encode(),
        view.replace("AAAAAAAA", "BBBBBBBB").encode().replace(b'"/"', b'"/\xff"'),
        (view[:-1] + ', "device_type": "mobile"}').replace("AAAAAAAA", "CCCCCCCC").encode(),
    ]


def test_the_recount_from_the_topic_agrees_and_notices_tampering(
    services: Services,
    kafka_topic: str,
    pg_schema: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    faults = ("--duplicates", "0.03", "--late", "0.03", "--max-lateness", "20m")
    faults += ("--malformed", "0.01")
    produce(services, kafka_topic, tmp_path / "ledger.json", 20_000, 20250819, "5", *faults)
    send(services, kafka_topic, poison())
    process = start_processor(
        services, kafka_topic, pg_schema, tmp_path / "ckpt", "--available-now",
        PROCESSOR_MAX_OFFSETS_PER_TRIGGER="6000", **BOUNDS,
    )  # fmt: skip
    finish(process)

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", services.bootstrap)
    for key, value in BOUNDS.items():
        monkeypatch.setenv(key, value)
    args = ["--schema", pg_schema, "--from-topic", kafka_topic, "--limit", "20"]
    assert main(args) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "0 differences" in out and "events/s" in out
    assert " late) + " in out and "(0 late)" not in out  # lateness was exercised

    with psycopg.connect(services.pg_dsn, options=f"-c search_path={pg_schema}") as conn:
        flipped = conn.execute(
            "UPDATE raw_events SET is_late = NOT is_late WHERE event_id = "
            "(SELECT min(event_id::text)::uuid FROM raw_events) RETURNING event_id::text"
        ).fetchone()
        gone = conn.execute(
            "DELETE FROM rejected_events WHERE id = (SELECT min(id) FROM rejected_events) "
            "RETURNING kafka_partition, kafka_offset, reason"
        ).fetchone()
        richer = conn.execute(
            "UPDATE user_sessions SET revenue = revenue + 1 WHERE session_id = "
            "(SELECT min(session_id::text)::uuid FROM user_sessions) RETURNING session_id::text"
        ).fetchone()
    assert flipped and gone and richer
    assert main(args) == 1
    out = capsys.readouterr().out
    assert f"raw_events [{flipped[0]}]: is_late: expected" in out
    assert f"rejected_events [{gone[0]}:{gone[1]}]: missing rejection ({gone[2]})" in out
    assert f"user_sessions [{richer[0]}]: revenue: expected" in out


def test_a_number_or_boolean_in_a_free_text_field_is_bad_type_for_both(
    services: Services,
    kafka_topic: str,
    pg_schema: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Rule 7: every string field must be a JSON string (numbers and booleans too are bad_type)."""
    messages = [
        {**event(), "page_url": 7},
        {**event(), "user_agent": False},
        {**event(), "category": 5},
        {**event(), "referrer": True},
        {**event(), "country": 1.5},
        {**event(), "user_agent": {"name": "x"}},
        event(),
    ]
    send(services, kafka_topic, [dumps(m).encode() for m in messages])
    finish(start_processor(services, kafka_topic, pg_schema, tmp_path / "ckpt", "--available-now"))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", services.bootstrap)
    code = main(["--schema", pg_schema, "--from-topic", kafka_topic])
    assert code == 0, capsys.readouterr().out


def test_verify_from_a_jsonl_file_agrees_with_the_same_messages_sent_to_one_partition(
    services: Services,
    pg_schema: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    jsonl = tmp_path / "events.jsonl"
    # The producer's file, then the same lines through a one-partition topic.
    cmd = ["--events", "3000", "--seed", "5", "--duplicates", "0.05", "--malformed", "0.02"]
    _run_producer(["--mode", "backfill", *cmd, "--output", f"jsonl:{jsonl}"], tmp_path)
    topic = f"test.jsonl.{pg_schema}"
    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    try:
        send(services, topic, jsonl.read_bytes().splitlines())
        finish(start_processor(services, topic, pg_schema, tmp_path / "ckpt", "--available-now"))
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", services.bootstrap)
        ledger = str(tmp_path / "jsonl-ledger.json")
        assert main(["--schema", pg_schema, "--from-jsonl", str(jsonl), "--ledger", ledger]) == 0
        assert main(["--schema", pg_schema, "--from-topic", topic]) == 0
        out = capsys.readouterr().out
        assert "8 checks (topic, rejected_events" in out and "ledger), 0 differences" in out
    finally:
        try:  # cleanup only: the name is unique
            admin.delete_topics([topic], operation_timeout=30)[topic].result(timeout=60)
        except (KafkaException, TimeoutError) as exc:
            print(f"note: topic {topic} not deleted: {exc}", file=sys.stderr)


def _run_producer(args: list[str], tmp_path: Path) -> None:
    ledger = tmp_path / "jsonl-ledger.json"
    cmd = [sys.executable, "-m", "producer.producer", *args, "--ledger", str(ledger)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=300)
    assert json.loads(ledger.read_text())["events"]["total"] == 3000
