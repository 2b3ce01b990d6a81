"""The recount against the stored tables: every rejected position and reason, every stored
event_id and its is_late, the late count, and each row of user_sessions, product_metrics,
hourly_metrics and experiment_metrics, column by column. Out: (check, key, detail) triples, as
verify prints them.

The stored rows are read in one read-only, repeatable-read transaction (one snapshot) and
compared in Python: for 1M events, reading raw_events' ids and diffing them here took 2.1 s,
loading the expected ids into a temp table and diffing in SQL 5.1 s, and a Python diff needs
no write access to the database.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from processor.recount.aggregate import Row, Tables, aggregate, experiment_key, hour_key
from processor.recount.rules import Event, Rules
from processor.recount.source import Add, Extent, Progress
from processor.recount.tally import Copy, Counts, Tally

Found = tuple[str, str, str]  # (check, key, detail)
Read = Callable[[Add, Progress | None], Extent]
CHECKS = (
    *("topic", "rejected_events", "raw_events", "late_events", "user_sessions"),
    *("product_metrics", "hourly_metrics", "experiment_metrics"),
)

# Plain reads of stored columns, kept beside the code that reads them; uuids come as text (one
# lowercase form, and no uuid objects to build), times as UTC datetimes (the session's TimeZone).
EVENTS_COPY = "COPY (SELECT event_id, is_late FROM raw_events) TO STDOUT"
PARTITIONS = (
    "SELECT event_id::text, kafka_partition FROM raw_events WHERE event_id = ANY(%s::uuid[])"
)
REJECTED = (
    "SELECT kafka_topic, kafka_partition, kafka_offset, reason FROM rejected_events"
    " WHERE %(current)s::text IS NULL OR kafka_topic_id IN ('', %(current)s::text)"
)
# Events of earlier topics of the same name (deleted and created again): Kafka no longer has
# them, so they are taken as stored, with their stored lateness.
EARLIER = (
    "SELECT event_id::text, event_type, event_time, user_id::text, session_id::text,"
    " product_id::text, price, quantity, order_id::text, category, device_type, user_agent,"
    " experiment, variant, kafka_partition, kafka_offset, is_late FROM raw_events"
    " WHERE kafka_topic_id NOT IN ('', %(current)s::text)"
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
TABLES_THERE = (
    "SELECT FROM raw_events, rejected_events, dashboard_metrics, user_sessions, product_metrics,"
    " hourly_metrics, experiment_metrics LIMIT 0"
)
LATE_KPI = "SELECT metric_value FROM dashboard_metrics WHERE metric_name = 'late_events_total'"
ROWS = {
    "user_sessions": (
        "SELECT session_id::text, user_id::text, session_start, session_end, duration_seconds,"
        " events, page_views, add_to_carts, purchases, orders, revenue, converted,"
        " cart_abandoned, is_bounce, device_type, first_event_id::text, experiment, variant,"
        " is_bot FROM user_sessions"
    ),
    "product_metrics": (
        "SELECT window_start, product_id::text, category, views, add_to_carts, purchases,"
        " units_sold, revenue FROM product_metrics"
    ),
    "hourly_metrics": (
        "SELECT window_start, events, page_views, add_to_carts, purchases, orders, revenue,"
        " unique_users, unique_sessions, conversion_rate, avg_order_value FROM hourly_metrics"
    ),
    "experiment_metrics": (
        "SELECT experiment, variant, window_start, sessions, converted_sessions, orders, revenue,"
        " bot_sessions FROM experiment_metrics"
    ),
}


@dataclass(frozen=True)
class Summary:
    """What the recount read and how long it took."""

    source: str
    partitions: int
    counts: Counts
    tables: Tables
    read_seconds: float
    total_seconds: float

    @property
    def rate(self) -> float:
        """Messages per second, end to end (reading, checking, comparing)."""
        return self.counts.messages / self.total_seconds if self.total_seconds else 0.0


@dataclass(frozen=True)
class StoredEvents:
    """raw_events as the recount needs it: every event_id (lowercase text) and the late ones."""

    ids: set[str]
    late: set[str]


def stored_events(conn: psycopg.Connection[Any]) -> StoredEvents:
    """The event_ids of raw_events and which of them are late (one COPY, one scan)."""
    with conn.cursor() as cur, cur.copy(EVENTS_COPY) as copy:
        data = b"".join(copy).decode()
    return parse_events_copy(data)


def parse_events_copy(data: str) -> StoredEvents:
    """COPY's text form of (event_id, is_late) rows: a uuid is 36 characters, a boolean t or f."""
    lines = data.split("\n")
    return StoredEvents(
        ids={line[:36] for line in lines if line},
        late={line[:36] for line in lines if line.endswith("t")},
    )


def stored_partitions(conn: psycopg.Connection[Any], event_ids: list[str]) -> dict[str, int]:
    """The kafka_partition raw_events holds for each of these event_ids."""
    if not event_ids:
        return {}
    return dict(conn.execute(PARTITIONS, (event_ids,)).fetchall())


def stored_rows(
    conn: psycopg.Connection[Any], table: str, key: Callable[[Row], str]
) -> dict[str, Row]:
    """The stored rows of `table` by verify's key."""
    with conn.cursor() as cur:
        cur.execute(ROWS[table])
        names = [c.name for c in cur.description or []]
        return {key(row): row for row in (dict(zip(names, r, strict=True)) for r in cur)}


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, Decimal) else repr(value)


def _same(a: Any, b: Any) -> bool:
    if type(a) is bool or type(b) is bool:
        return a is b
    if isinstance(a, int | float | Decimal) and isinstance(b, int | float | Decimal):
        return Decimal(str(a)) == Decimal(str(b))  # exactly, as verify compares numbers
    return bool(a == b)


def _shown(row: Row) -> str:
    return "{" + ", ".join(f"{k}={_text(v)}" for k, v in row.items()) + "}"


def row_differences(check: str, expected: dict[str, Row], stored: dict[str, Row]) -> list[Found]:
    """A difference per missing, unexpected or differing row, naming the differing columns."""
    found: list[Found] = []
    left = dict(stored)
    for key, want in expected.items():
        got = left.pop(key, None)
        if want == got:  # the bulk: same columns, equal values (a Decimal equals its 2-place form)
            continue
        if got is None:
            found.append((check, key, f"missing row; expected {_shown(want)}"))
            continue
        detail = "; ".join(
            f"{name}: expected {_text(want.get(name))}, stored {_text(got.get(name))}"
            for name in want
            if not _same(want.get(name), got.get(name))
        )
        if detail:
            found.append((check, key, detail))
    found += [(check, key, f"unexpected row {_shown(got)}") for key, got in left.items()]
    found.sort(key=lambda f: f[1])
    return found


def event_differences(copies: list[Copy], stored: StoredEvents) -> list[Found]:
    """raw_events: the same event_ids, and each one's is_late as the recount decides it."""
    found: list[Found] = []
    ids, late, matched = stored.ids, stored.late, 0
    for copy in copies:
        event_id = copy.event.event_id
        if event_id not in ids:
            where = f"partition {copy.partition} offset {copy.offset}"
            found.append(("raw_events", event_id, f"missing event (first valid copy at {where})"))
            continue
        matched += 1
        if (event_id in late) != copy.is_late:
            found.append(
                ("raw_events", event_id, f"is_late: expected {copy.is_late}, stored "
                 f"{not copy.is_late} (copy at partition {copy.partition} offset {copy.offset})")
            )  # fmt: skip
    if matched < len(ids):
        for event_id in ids - {c.event.event_id for c in copies}:
            found.append(
                ("raw_events", event_id,
                 "unexpected event: the topic holds no valid message with this event_id")
            )  # fmt: skip
    found.sort(key=lambda f: f[1])
    return found


def rejection_differences(
    expected: dict[tuple[int, int], str],
    stored: list[tuple[str | None, int, int, str]],
    extent: Extent,
    topic: str | None,
) -> list[Found]:
    """rejected_events: the same Kafka positions, each with the same reason (and, read from a
    topic, that topic's name)."""
    found: list[Found] = []
    left = dict(expected)
    matched: set[tuple[int, int]] = set()
    for stored_topic, partition, offset, reason in stored:
        key, position = f"{partition}:{offset}", (partition, offset)
        if topic is not None and stored_topic != topic:
            found.append(("rejected_events", key, f"kafka_topic: expected {topic}, stored "
                          f"{stored_topic} ({reason})"))  # fmt: skip
        want = left.pop(position, None)
        if want is not None:
            matched.add(position)
            if want != reason:
                found.append(("rejected_events", key, f"reason: expected {want}, stored {reason}"))
            continue
        low, end = extent.partitions.get(partition, (0, 0))
        if position in matched:
            why = "the position is stored more than once"
        elif low <= offset < end:
            why = "the recount finds a valid event there"
        else:
            why = f"outside what was read (offsets {low} to {end - 1})"
        found.append(("rejected_events", key, f"unexpected rejection ({reason}): {why}"))
    for (partition, offset), reason in left.items():
        found.append(("rejected_events", f"{partition}:{offset}", f"missing rejection ({reason})"))
    found.sort(key=lambda f: tuple(int(x) for x in f[1].split(":")))
    return found


def extent_differences(extent: Extent) -> list[Found]:
    """A partition whose first messages are gone cannot be recounted in full."""
    return [
        (
            "topic",
            f"partition {p}",
            f"starts at offset {low}, not 0: older messages were "
            "deleted (retention), so their stored rows show as unexpected",
        )
        for p, (low, _end) in sorted(extent.partitions.items())
        if low > 0
    ]


def _late_differences(
    conn: psycopg.Connection[Any], tables: Tables, stored_late: int
) -> list[Found]:
    found: list[Found] = []
    if stored_late != tables.late:
        found.append(("late_events", "raw_events", f"expected {tables.late}, stored {stored_late}"))
    row = conn.execute(LATE_KPI).fetchone()
    if row is not None and row[0] != tables.late:
        found.append(
            (
                "late_events",
                "dashboard late_events_total",
                f"expected {tables.late}, stored {row[0]:g}",
            )
        )
    return found


# Stored rows by verify's key (an hour as PostgreSQL prints a timestamptz in UTC).
ROW_KEYS: dict[str, Callable[[Row], str]] = {
    "user_sessions": lambda r: r["session_id"],
    "product_metrics": lambda r: f"{hour_key(r['window_start'])} {r['product_id']}",
    "hourly_metrics": lambda r: hour_key(r["window_start"]),
    "experiment_metrics": lambda r: experiment_key(
        r["experiment"], r["variant"], r["window_start"]
    ),
}


def earlier_copies(conn: psycopg.Connection[Any], current: str | None) -> list[Copy]:
    """The stored events read from earlier topics of the name (another Kafka topic id)."""
    if current is None:
        return []
    copies = []
    for row in conn.execute(EARLIER, {"current": current}):
        (event_id, event_type, at, user, session, product, price, quantity, order, category,
         device, agent, experiment, variant, partition, offset, is_late) = row  # fmt: skip
        time_us = (at - EPOCH) // MICROSECOND
        event = Event(event_id, event_type, time_us, user, session, product, price, quantity,
                      order, category, device, agent, experiment, variant)  # fmt: skip
        copies.append(Copy(event, partition, offset, is_late))
    return copies


def compare(
    conn: psycopg.Connection[Any], tally: Tally, extent: Extent, topic: str | None
) -> tuple[list[Found], Tables]:
    """Every difference between the tally and the stored tables, and the expected tables.

    After the topic was deleted and created again, the events stored from the earlier topics
    count in the aggregates as stored, and the comparison of raw_events and rejected_events
    is of the current topic's messages alone."""
    found = extent_differences(extent)
    events = stored_events(conn)  # the transaction's snapshot starts here
    stored_late = len(events.late)
    earlier = earlier_copies(conn, extent.topic_id)
    old = {c.event.event_id for c in earlier}
    if old:
        events = StoredEvents(ids=events.ids - old, late=events.late - old)
    # A message of the current topic whose event_id an earlier topic stored is a duplicate.
    stored_partition = stored_partitions(conn, tally.spread())
    copies = [c for c in tally.copies(stored_partition) if c.event.event_id not in old]
    rejected = conn.execute(REJECTED, {"current": extent.topic_id}).fetchall()
    found += rejection_differences(tally.rejected, rejected, extent, topic)
    found += event_differences(copies, events)
    tables = aggregate([*earlier, *copies])
    tables.earlier = len(earlier)
    found += _late_differences(conn, tables, stored_late)
    for table, key in ROW_KEYS.items():
        found += row_differences(table, getattr(tables, table), stored_rows(conn, table, key))
    return found, tables


@contextmanager
def _without_cycle_collector() -> Iterator[None]:
    """The recount holds millions of small objects and makes no reference cycles: the cyclic
    collector's passes over them cost about a fifth of its time, and would free nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def recount(
    conninfo: str,
    read: Read,
    rules: Rules,
    topic: str | None = None,
    progress: Progress | None = None,
) -> tuple[list[str], list[Found], Summary]:
    """Recount the tables from the source and compare them with the stored ones."""
    started = time.perf_counter()
    with _without_cycle_collector(), psycopg.connect(conninfo) as conn:  # fail before reading
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.execute(TABLES_THERE)  # a wrong schema fails now, not after the read
        conn.rollback()  # the snapshot is taken after the read, not now
        tally = Tally(rules)
        extent = read(tally.add, progress)
        read_seconds = time.perf_counter() - started
        found, tables = compare(conn, tally, extent, topic)
    total = time.perf_counter() - started
    partitions = len(extent.partitions)
    summary = Summary(extent.name, partitions, tally.counts, tables, read_seconds, total)
    return list(CHECKS), found, summary
