"""The sink's Arrow steps and binary COPY: Arrow columns in, the same values out of PostgreSQL."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.encode import copy_arrow, exclude_ids, inet_bytes, prepare_events, uuid_bytes
from processor.schema import EVENT_COLUMNS
from tests.conftest import Services


# No deadline: the first example pays for numpy's and Arrow's warm-up on a busy machine.
@settings(deadline=None)
@given(st.lists(st.one_of(st.none(), st.uuids(), st.uuids().map(lambda u: u.hex)), max_size=40))
def test_uuid_bytes_are_the_uuids_bytes(values: list[uuid.UUID | str | None]) -> None:
    texts = [
        None if v is None else (str(v).upper() if isinstance(v, str) else str(v)) for v in values
    ]
    # Hex-only strings (no dashes) are not uuids here: parse.py never lets them through.
    texts = [t if t is None or len(t) == 36 else str(uuid.UUID(t)).upper() for t in texts]
    expected = [None if t is None else uuid.UUID(t).bytes for t in texts]
    assert uuid_bytes(pa.array(texts, pa.string())).to_pylist() == expected
    if texts:  # a slice (offset into the buffers), as Arrow record batches often are
        assert uuid_bytes(pa.array(texts, pa.string()).slice(1)).to_pylist() == expected[1:]


def test_uuid_bytes_refuses_what_is_not_a_uuid() -> None:
    with pytest.raises(ValueError, match="36-character"):
        uuid_bytes(pa.array(["2c9d8b2a-5ed6-4dff-abbe-716d90665e6", None, "x" * 37]))
    with pytest.raises(ValueError, match="not a uuid"):
        uuid_bytes(pa.array(["2c9d8b2a-5ed6-4dff-abbe-716d90665e6x"]))
    with pytest.raises(ValueError, match="dashes"):
        uuid_bytes(pa.array(["2c9d8b2a-5ed6-4dff-abbe-716d9066-e-6"]))


def test_uuid_bytes_of_only_nulls() -> None:
    assert uuid_bytes(pa.array([None, None], pa.string())).to_pylist() == [None, None]


@pytest.mark.integration
def test_copy_arrow_round_trip(services: Services) -> None:
    ids = [str(uuid.uuid4()), str(uuid.uuid4()).upper(), None]
    times = [
        datetime(2026, 11, 24, 6, 59, 59, 999_999, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 0, tzinfo=UTC),  # before PostgreSQL's epoch (negative)
        None,
    ]
    data = pa.table(
        {
            "id": uuid_bytes(pa.array(ids, pa.string())),
            "name": pa.array(["plain", 'ünïcödé, "quoted"\n\\tab\t', None]),
            "at": pa.array(times, pa.timestamp("us", tz="UTC")),
            "price": pa.array(
                [Decimal("0.01"), Decimal("-9999999999.99"), None], pa.decimal128(12, 2)
            ),
            "quantity": pa.array([1, 2_147_483_647, None], pa.int32()),
            "position": pa.array([0, 2**62, None], pa.int64()),
            "ip": pa.array(["10.0.0.1", "2001:db8::ff00:42:8329", None]),
            "unused": pa.array([1, 2, 3]),
        }
    )
    with psycopg.connect(services.pg_dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE copied (id uuid, name text, at timestamptz, price numeric(12, 2),"
            " quantity integer, position bigint, ip text)"
        )
        columns = ["id", "name", "at", "price", "quantity", "position", "ip"]
        copy_arrow(cur, "copied", columns, data.to_batches()[0])
        copy_arrow(cur, "copied", columns, data.slice(0, 0))  # nothing to copy: no statement
        rows = cur.execute(
            "SELECT id, name, at, price, quantity, position, ip::inet::text FROM copied"
            " ORDER BY position NULLS LAST"
        ).fetchall()
    assert rows == [
        (uuid.UUID(ids[0]), "plain", times[0], Decimal("0.01"), 1, 0, "10.0.0.1/32"),
        (
            uuid.UUID(ids[1]),
            'ünïcödé, "quoted"\n\\tab\t',
            times[1],
            Decimal("-9999999999.99"),
            2_147_483_647,
            2**62,
            "2001:db8::ff00:42:8329/128",
        ),
        (None, None, None, None, None, None, None),
    ]


ADDRESSES = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.ip_addresses(v=6).map(lambda a: a.exploded),
    st.ip_addresses(v=6).map(lambda a: a.exploded.upper()),
)


@settings(deadline=None)
@given(st.lists(st.one_of(st.none(), ADDRESSES), max_size=30))
def test_inet_bytes_are_postgresqls_binary_inet(addresses: list[str | None]) -> None:
    expected = []
    for text in addresses:
        if text is None:
            expected.append(None)
            continue
        address = ipaddress.ip_address(text)
        header = bytes((2, 32, 0, 4)) if address.version == 4 else bytes((3, 128, 0, 16))
        expected.append(header + address.packed)
    assert inet_bytes(pa.array(addresses, pa.string())).to_pylist() == expected
    if addresses:
        assert inet_bytes(pa.array(addresses, pa.string()).slice(1)).to_pylist() == expected[1:]


def test_inet_bytes_refuses_what_is_not_an_address() -> None:
    for bad in ("1.2.3", "1.2.3.256", "a.b.c.d", "1.2.3.4.5"):
        with pytest.raises(ValueError, match="not an"):
            inet_bytes(pa.array(["10.0.0.1", bad]))


T = datetime(2025, 8, 19, 14, 30, tzinfo=UTC)


def events_table(rows: list[dict[str, object]]) -> pa.Table:
    """A chunk of valid events in parse.py's layout (only the columns that matter set)."""
    columns: dict[str, list[object]] = {name: [] for name in EVENT_COLUMNS}
    for row in rows:
        for name in EVENT_COLUMNS:
            columns[name].append(row.get(name))
    types = {
        "event_time": pa.timestamp("us", tz="UTC"),
        "kafka_timestamp": pa.timestamp("us", tz="UTC"),
        "kafka_partition": pa.int32(),
        "kafka_offset": pa.int64(),
        "quantity": pa.int32(),
        "price": pa.decimal128(12, 2),
    }
    return pa.table({n: pa.array(v, types.get(n, pa.string())) for n, v in columns.items()})


def ev(event_id: str, t: datetime, partition: int, offset: int, **extra: object) -> dict:
    return {
        "event_id": event_id,
        "event_type": "page_view",
        "event_time": t,
        "user_id": str(uuid.UUID(int=1)),
        "session_id": str(uuid.UUID(int=2)),
        "page_url": "/",
        "ip_address": "192.0.2.7",
        "device_type": "mobile",
        "kafka_partition": partition,
        "kafka_offset": offset,
        **extra,
    }


def test_prepare_events_keeps_the_earliest_copy_of_each_id_sorted_by_id() -> None:
    a, b = str(uuid.UUID(int=0xA)), str(uuid.UUID(int=0xB))
    rows = [
        ev(b, T, 1, 9, page_url="/b-late"),
        ev(a, T, 2, 5, page_url="/a-p2"),
        ev(b.upper(), T, 0, 40, page_url="/b-first"),  # the same id in upper case
        ev(a, T, 1, 7, page_url="/a-p1"),
        ev(a, T, 1, 8, page_url="/a-p1-later"),
    ]
    prepared = prepare_events(events_table(rows))
    assert prepared.column("event_id").to_pylist() == [uuid.UUID(a).bytes, uuid.UUID(b).bytes]
    assert prepared.column("page_url").to_pylist() == ["/a-p1", "/b-first"]
    assert prepared.column("is_late").to_pylist() == [False, False]
    assert prepared.column("ip_address").to_pylist() == [bytes((2, 32, 0, 4, 192, 0, 2, 7))] * 2


def test_prepare_events_keeps_the_late_flag_of_the_kept_copy_and_sets_the_hour() -> None:
    ids = [str(uuid.UUID(int=i)) for i in (1, 2, 3)]
    bound = T - timedelta(hours=1)
    rows = [
        ev(ids[0], bound - timedelta(microseconds=1), 0, 0),
        ev(ids[1], bound, 0, 1),
        ev(ids[2], T + timedelta(minutes=45), 0, 2),
        ev(ids[0], bound - timedelta(microseconds=1), 0, 3),  # a later copy, flagged otherwise
    ]
    table = events_table(rows).append_column("is_late", pa.array([True, False, False, False]))
    prepared = prepare_events(table)
    assert prepared.column("is_late").to_pylist() == [True, False, False]
    hours = [h.replace(tzinfo=UTC) if h.tzinfo is None else h for h in prepared["hour"].to_pylist()]
    assert hours == [
        datetime(2025, 8, 19, 13, tzinfo=UTC),
        datetime(2025, 8, 19, 13, tzinfo=UTC),
        datetime(2025, 8, 19, 15, tzinfo=UTC),
    ]


def test_exclude_ids_leaves_out_stored_ids() -> None:
    ids = [str(uuid.UUID(int=i)) for i in (1, 2, 3)]
    prepared = prepare_events(events_table([ev(i, T, 0, n) for n, i in enumerate(ids)]))
    kept = exclude_ids(prepared, [uuid.UUID(ids[1]).bytes])
    assert kept.column("event_id").to_pylist() == [uuid.UUID(ids[0]).bytes, uuid.UUID(ids[2]).bytes]
    assert exclude_ids(prepared, []).num_rows == 3


@pytest.mark.integration
def test_inet_bytes_copy_as_postgresql_reads_the_text(services: Services) -> None:
    addresses = ["10.0.0.1", "255.255.255.255", "0.0.0.0", "2001:db8::ff00:42:8329", "::", "::1",
                 "FE80:0000:0000:0000:0202:B3FF:FE1E:8329", None]  # fmt: skip
    data = pa.table({"ip": inet_bytes(pa.array(addresses, pa.string()))})
    with psycopg.connect(services.pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE addrs (n serial, ip inet)")
        copy_arrow(cur, "addrs", ["ip"], data)
        copied = [r[0] for r in cur.execute("SELECT ip FROM addrs ORDER BY n").fetchall()]
        parsed = [
            cur.execute("SELECT %s::inet", [a]).fetchone()[0]  # type: ignore[index]
            for a in addresses
        ]
    assert copied == parsed
