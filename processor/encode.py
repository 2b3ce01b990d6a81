"""Arrow columns in, PostgreSQL's binary COPY format out (with pgpq), and the per-chunk steps
that the sink does in Arrow rather than in the database: ids as 16 bytes, addresses as inet,
one copy of each event_id, the lateness flag and the event's hour.

Binary rows spare PostgreSQL parsing every value from text, and doing these steps here lets a
chunk's events be copied straight into raw_events (processor/sink.py), which is about twice as
fast as copying them into a staging table and inserting from there.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from pgpq import ArrowToPostgresBinaryEncoder
from psycopg import sql

from processor.schema import UUID_FIELDS


def copy_arrow(
    cur: psycopg.Cursor[Any],
    table: str,
    columns: Sequence[str],
    data: pa.Table | pa.RecordBatch,
) -> None:
    """COPY Arrow rows into `table` in PostgreSQL's binary format (pgpq encodes them).

    Each Arrow column must have the binary layout of its target column: strings for text,
    int32/int64 for integer/bigint, decimal128 for numeric, microsecond timestamps for
    timestamptz, booleans, and binary values already in the type's wire format (uuid_bytes,
    inet_bytes).
    """
    if data.num_rows == 0:
        return
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    data = data.select(list(columns))
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    encoder = ArrowToPostgresBinaryEncoder(data.schema)
    with cur.copy(statement) as copy:
        copy.write(encoder.write_header())
        for chunk in data.to_batches(max_chunksize=50_000):
            copy.write(encoder.write_batch(chunk))
        copy.write(encoder.finish())


def uuid_bytes(text: pa.Array) -> pa.FixedSizeBinaryArray:
    """Canonical uuid strings (8-4-4-4-12 hex digits, either case) as 16-byte values.

    Nulls stay null. Raises ValueError for a value that is not 36 characters long or not hex;
    where the dashes stand is not checked again (parse.py only lets uuids through).
    """
    present = len(text) - text.null_count
    if present == 0:
        return pa.nulls(len(text), pa.binary(16))
    lengths = pc.min_max(pc.binary_length(text)).as_py()
    offsets = np.frombuffer(text.buffers()[1], dtype=_offset_type(text.type))
    start, end = offsets[text.offset], offsets[text.offset + len(text)]
    # Every present value is 36 characters and null slots are empty, so the values lie end to
    # end in the data buffer: drop the dashes and decode the hex of all of them at once.
    if lengths != {"min": 36, "max": 36} or end - start != 36 * present:
        raise ValueError("uuid column holds a value that is not a 36-character uuid")
    digits = text.buffers()[2][start:end].to_pybytes().translate(None, b"-")
    try:
        packed = np.frombuffer(bytes.fromhex(digits.decode("ascii")), np.uint8)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"uuid column holds a value that is not a uuid: {exc}") from exc
    if len(packed) != 16 * present:
        raise ValueError("uuid column holds a value that is not a uuid (dashes misplaced)")
    if text.null_count:
        out = np.zeros((len(text), 16), dtype=np.uint8)
        out[text.is_valid().to_numpy(zero_copy_only=False)] = packed.reshape(-1, 16)
        packed = out.reshape(-1)
    buffers = [_validity(text), pa.py_buffer(packed)]
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), len(text), buffers, null_count=text.null_count
    )


# PostgreSQL's binary inet: family (PGSQL_AF_INET 2, PGSQL_AF_INET6 3), prefix bits, is_cidr,
# address length, then the address in network order (network_send in PostgreSQL's network.c).
_INET4_HEADER = (2, 32, 0, 4)
_INET6_HEADER = bytes((3, 128, 0, 16))


def inet_bytes(text: pa.Array) -> pa.BinaryArray:
    """IPv4 and IPv6 address strings (already checked by parse.py) as binary inet values.

    IPv4 addresses are converted column-wise; IPv6 ones (rare in practice) one by one. Nulls
    stay null. Raises ValueError for a value that is not an address.
    """
    n = len(text)
    present = text.is_valid().to_numpy(zero_copy_only=False)
    is_v6 = pc.fill_null(pc.match_substring(text, ":"), False).to_numpy(zero_copy_only=False)
    is_v4 = present & ~is_v6
    lengths = np.where(is_v4, 8, np.where(is_v6, 20, 0))
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = np.empty(int(offsets[-1]), dtype=np.uint8)
    if is_v4.any():
        parts = pc.split_pattern(text.filter(pa.array(is_v4)), ".")
        if pc.min_max(pc.list_value_length(parts)).as_py() != {"min": 4, "max": 4}:
            raise ValueError("ip_address holds a value that is not an IPv4 or IPv6 address")
        try:
            octets = pc.cast(pc.list_flatten(parts), pa.uint8()).to_numpy().reshape(-1, 4)
        except (pa.ArrowInvalid, ValueError) as exc:
            raise ValueError(f"ip_address holds a value that is not an address: {exc}") from exc
        rows = np.empty((len(octets), 8), dtype=np.uint8)
        rows[:, :4] = _INET4_HEADER
        rows[:, 4:] = octets
        data[offsets[:-1][is_v4][:, None] + np.arange(8)] = rows
    for i in np.flatnonzero(is_v6):
        packed = ipaddress.IPv6Address(text[int(i)].as_py()).packed
        data[offsets[i] : offsets[i + 1]] = np.frombuffer(_INET6_HEADER + packed, np.uint8)
    return pa.Array.from_buffers(
        pa.binary(),
        n,
        [_validity(text), pa.py_buffer(offsets), pa.py_buffer(data)],
        null_count=text.null_count,
    )


def _validity(values: pa.Array) -> pa.Buffer | None:
    return None if values.null_count == 0 else pc.is_valid(values).buffers()[1]


def _offset_type(string_type: pa.DataType) -> type[np.integer[Any]]:
    return np.int64 if pa.types.is_large_string(string_type) else np.int32


def prepare_events(events: pa.RecordBatch | pa.Table) -> pa.Table:
    """Valid events as raw_events stores them: one row per event_id, sorted by it.

    uuids become their 16 bytes and ip_address binary inet; of several copies of one event_id
    (either case) the one at the earliest Kafka position stays, with its `is_late` (set by
    processor/lateness.py; absent means none is late); `hour` is the event's UTC hour.
    """
    table = events if isinstance(events, pa.Table) else pa.Table.from_batches([events])
    table = table.combine_chunks()
    for name in (*UUID_FIELDS, "ip_address"):
        i = table.schema.get_field_index(name)
        column = table.column(i).combine_chunks()
        encoded = uuid_bytes(column) if name != "ip_address" else inet_bytes(column)
        table = table.set_column(i, name, encoded)
    order = pc.sort_indices(
        table,
        sort_keys=[
            ("event_id", "ascending"),
            ("kafka_partition", "ascending"),
            ("kafka_offset", "ascending"),
        ],
    )
    table = table.take(order)
    if table.num_rows > 1:
        ids = table.column("event_id").combine_chunks()
        raw = np.frombuffer(ids.buffers()[1], np.uint8)[ids.offset * 16 :][: len(ids) * 16]
        raw = raw.reshape(-1, 16)
        first = np.ones(table.num_rows, dtype=bool)
        first[1:] = (raw[1:] != raw[:-1]).any(axis=1)
        if not first.all():
            table = table.filter(pa.array(first))
    event_time = table.column("event_time")
    if "is_late" not in table.schema.names:
        table = table.append_column("is_late", pa.array(np.zeros(table.num_rows, dtype=bool)))
    return table.append_column("hour", pc.floor_temporal(event_time, unit="hour"))


def exclude_ids(table: pa.Table, existing: Sequence[bytes]) -> pa.Table:
    """Rows of `table` whose 16-byte event_id is not among `existing`."""
    if not existing:
        return table
    stored = pc.is_in(table.column("event_id"), value_set=pa.array(existing, pa.binary(16)))
    return table.filter(pc.invert(stored))
