"""The recount's comparison with stored rows and its sources (processor/recount/compare.py,
source.py), on rows and files written by hand. No services."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from processor.recount.compare import (
    StoredEvents,
    event_differences,
    extent_differences,
    parse_events_copy,
    rejection_differences,
    row_differences,
)
from processor.recount.rules import Rules
from processor.recount.source import Extent, SourceError, read_jsonl, read_topic
from processor.recount.tally import Tally
from tests.processor.sample_events import T0, dumps, event

A = "00000000-0000-4000-8000-00000000000a"
B = "00000000-0000-4000-8000-00000000000b"
C = "00000000-0000-4000-8000-00000000000c"


def test_rows_that_agree_give_nothing_and_each_differing_column_is_named() -> None:
    t = datetime(2025, 8, 19, 14, tzinfo=UTC)
    expected = {
        "k1": {"window_start": t, "revenue": Decimal("10.5"), "rate": 0.25, "flag": True},
        "k2": {"window_start": t, "revenue": Decimal("1.00"), "rate": None, "flag": False},
    }
    stored = {
        "k1": {"window_start": t, "revenue": Decimal("10.50"), "rate": 0.25, "flag": True},
        "k2": {"window_start": t, "revenue": Decimal("1.01"), "rate": 0.5, "flag": 0},
        "k3": {"window_start": t, "revenue": Decimal(0), "rate": None, "flag": True},
    }
    found = row_differences("hourly_metrics", expected, stored)
    assert [(f[0], f[1]) for f in found] == [("hourly_metrics", "k2"), ("hourly_metrics", "k3")]
    assert found[0][2] == (
        "revenue: expected 1.00, stored 1.01; rate: expected None, stored 0.5; "
        "flag: expected False, stored 0"
    )
    assert found[1][2].startswith("unexpected row {window_start=2025-08-19T14:00:00+00:00")
    missing = row_differences("user_sessions", {"s": {"events": 2}}, {})
    assert missing == [("user_sessions", "s", "missing row; expected {events=2}")]


def test_event_ids_and_lateness_against_raw_events() -> None:
    tally = Tally(Rules(max_lateness_us=60_000_000))
    tally.add(0, 0, 2**41, dumps(event(t=T0.replace(hour=16), event_id=A)).encode())
    tally.add(0, 1, 2**41, dumps(event(t=T0, event_id=B)).encode())  # late
    copies = tally.copies()
    assert event_differences(copies, StoredEvents({A, B}, late={B})) == []
    found = event_differences(copies, StoredEvents({A, C}, late={A}))
    assert found == [
        ("raw_events", A, "is_late: expected False, stored True (copy at partition 0 offset 0)"),
        ("raw_events", B, "missing event (first valid copy at partition 0 offset 1)"),
        ("raw_events", C, "unexpected event: the topic holds no valid message with this "
         "event_id"),
    ]  # fmt: skip


def test_rejections_by_position_and_reason() -> None:
    extent = Extent("topic t", {0: (0, 10), 1: (0, 5)})
    expected = {(0, 3): "invalid_json", (0, 4): "bad_type:price", (1, 0): "empty_payload"}
    stored = [
        ("t", 0, 3, "invalid_json"),
        ("t", 0, 4, "bad_value:price"),
        ("t", 0, 9, "invalid_json"),  # the recount finds an event there
        ("t", 1, 7, "invalid_json"),  # beyond what was read
        (None, 1, 0, "empty_payload"),  # the right row without its topic
        ("t", 0, 3, "invalid_json"),  # twice
    ]
    found = rejection_differences(expected, stored, extent, "t")
    assert found == [
        ("rejected_events", "0:3",
         "unexpected rejection (invalid_json): the position is stored more than once"),
        ("rejected_events", "0:4", "reason: expected bad_type:price, stored bad_value:price"),
        ("rejected_events", "0:9",
         "unexpected rejection (invalid_json): the recount finds a valid event there"),
        ("rejected_events", "1:0", "kafka_topic: expected t, stored None (empty_payload)"),
        ("rejected_events", "1:7",
         "unexpected rejection (invalid_json): outside what was read (offsets 0 to 4)"),
    ]  # fmt: skip
    # From a file there is no topic to hold the rows to.
    assert len(rejection_differences(expected, stored, extent, None)) == 4
    assert rejection_differences(expected, [], extent, None)[0][2] == (
        "missing rejection (invalid_json)"
    )


def test_a_partition_that_lost_its_first_messages_is_reported() -> None:
    extent = Extent("topic t", {0: (0, 10), 1: (4, 9)})
    assert [f[1] for f in extent_differences(extent)] == ["partition 1"]


def test_copy_text_of_raw_events() -> None:
    assert parse_events_copy(f"{A}\tt\n{B}\tf\n") == StoredEvents({A, B}, late={A})
    assert parse_events_copy("") == StoredEvents(set(), late=set())


def test_a_jsonl_file_is_partition_0_with_line_numbers_as_offsets(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    good = dumps(event(event_id=A))
    path.write_bytes(f"{good}\n\nnot json\n{good}".encode())  # no newline at the end
    seen: list[tuple[int, int, int, bytes | None]] = []
    extent = read_jsonl(path, 123, lambda *m: seen.append(m))
    assert [(p, o, ts) for p, o, ts, _ in seen] == [(0, 0, 123), (0, 1, 123), (0, 2, 123),
                                                     (0, 3, 123)]  # fmt: skip
    assert [v for *_, v in seen] == [good.encode(), b"", b"not json", good.encode()]
    assert extent.partitions == {0: (0, 4)} and extent.messages == 4

    tally = Tally(Rules())
    read_jsonl(path, int(time.time() * 1000), tally.add)
    assert tally.rejected == {(0, 1): "empty_payload", (0, 2): "invalid_json"}
    assert tally.counts.duplicates == 1

    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert read_jsonl(empty, 0, tally.add).partitions == {0: (0, 0)}
    with pytest.raises(SourceError, match="cannot read"):
        read_jsonl(tmp_path / "absent.jsonl", 0, tally.add)


def test_a_broker_that_does_not_answer_is_one_line_naming_the_fix() -> None:
    with pytest.raises(SourceError) as caught:
        read_topic("127.0.0.1:1", "clickstream.raw", lambda *m: None, timeout=1.0)
    message = str(caught.value)
    assert "Kafka is not answering on 127.0.0.1:1" in message
    assert "./start_infrastructure.sh" in message and "\n" not in message
