"""The sink's binary COPY: Arrow columns in, the same values out of PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.sink import copy_arrow, uuid_bytes
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


def test_uuid_bytes_of_only_nulls() -> None:
    assert uuid_bytes(pa.array([None, None], pa.string())).to_pylist() == [None, None]


def test_copy_arrow_round_trip(services: Services) -> None:
    ids = [str(uuid.uuid4()), str(uuid.uuid4()).upper(), None]
    times = [
        datetime(2026, 11, 24, 6, 59, 59, 999_999, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 0, tzinfo=UTC),  # before PostgreSQL's epoch (negative)
        None,
    ]
    data = pa.table(
        {
            "id": pa.array(ids, pa.string()),
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
        copy_arrow(cur, "copied", columns, data.to_batches()[0], uuid_columns=["id"])
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
