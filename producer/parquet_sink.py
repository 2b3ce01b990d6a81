"""`--output parquet:DIR`: the stream as typed Parquet files, partitioned by event date.

Layout, as Spark, pandas, DuckDB and pyarrow.dataset read it (hive partitioning):

  DIR/event_date=2025-08-19/part-00000.parquet   valid events, duplicates and late ones included
  DIR/_malformed/part-00000.parquet              the malformed messages, as their raw text

Columns follow contract/event.schema.json: uuids and texts as strings (low-cardinality ones
dictionary-encoded), `timestamp` as the JSON text and `event_time` as timestamp[ms, UTC], money
as decimal128(12, 2), quantity as int32. A file is written under a hidden name and renamed when
it is closed, so a reader never sees half a file; a stop closes every file whole. Row groups
hold up to `row_group_rows` rows (128Ki by default: a few MB compressed, large enough for
column pruning and small enough to stream); at most `open_files` dates are open at once.
"""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

import contract
from producer.behavior import AT, CODE, TEXT, Event
from producer.ledger import Tally
from producer.models import MALFORMED
from producer.publish import Delivery, PublishError

_TEXT = pa.string()
# The contract's fields, in its order; all are text but these.
_TYPES = {"price": pa.decimal128(12, 2), "quantity": pa.int32()}
FIELDS = pa.schema([(name, _TYPES.get(name, _TEXT)) for name in contract.FIELDS])
SCHEMA = FIELDS.append(pa.field("event_time", pa.timestamp("ms", tz="UTC")))
MALFORMED_SCHEMA = pa.schema(
    [("event_time", pa.timestamp("ms", tz="UTC")), ("kind", pa.int8()), ("raw", _TEXT)]
)
DICTIONARY = ["event_type", "category", "device_type", "country", "referrer", "user_agent"]
_PARSE = pj.ParseOptions(explicit_schema=FIELDS, unexpected_field_behavior="ignore")
_DAY_MS = 86_400_000


def to_arrow(events: list[Event]) -> pa.Table:
    """Valid events as a table of SCHEMA's columns (Arrow's JSON reader, typed by FIELDS)."""
    text = ("\n".join([e[TEXT] for e in events]) + "\n").encode()
    table = pj.read_json(io.BytesIO(text), parse_options=_PARSE)
    times = pa.array([e[AT] for e in events], pa.timestamp("ms", tz="UTC"))
    return table.append_column("event_time", times)


class _File:
    """One Parquet file being written, under a hidden name until it is closed."""

    def __init__(self, final: Path, schema: pa.Schema, dictionary: list[str]) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        self.final = final
        self.hidden = final.with_name(f".{final.name}.inprogress")
        self.writer = pq.ParquetWriter(
            self.hidden, schema, compression="zstd", use_dictionary=dictionary
        )
        self.pending: list[pa.Table] = []
        self.rows = 0

    def add(self, table: pa.Table, row_group_rows: int) -> None:
        self.pending.append(table)
        self.rows += table.num_rows
        if self.rows >= row_group_rows:
            self.write(row_group_rows, whole_only=True)

    def write(self, row_group_rows: int, whole_only: bool = False) -> None:
        """Write the pending rows as row groups of `row_group_rows` (the rest too unless
        `whole_only`, which keeps a last partial group pending)."""
        if not self.pending:
            return
        rows = pa.concat_tables(self.pending)
        keep = rows.num_rows % row_group_rows if whole_only else 0
        if rows.num_rows > keep:
            self.writer.write_table(rows.slice(0, rows.num_rows - keep), row_group_rows)
        self.pending = [rows.slice(rows.num_rows - keep)] if keep else []
        self.rows = keep

    def close(self, row_group_rows: int) -> None:
        self.write(row_group_rows)
        self.writer.close()
        os.replace(self.hidden, self.final)


class ParquetSink:
    """Typed Parquet files under one directory, one set of parts per event date."""

    def __init__(self, directory: str, row_group_rows: int = 131_072, open_files: int = 4) -> None:
        self.name = f"parquet {directory}"
        self.stats = Delivery()
        self.lost = Tally()  # stays empty: rows are written at the latest on close, or it fails
        self._dir = Path(directory)
        self._row_group_rows, self._open_files = row_group_rows, open_files
        self._files: OrderedDict[str, _File] = OrderedDict()  # by partition, least recent first
        self._parts: dict[str, int] = {}
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            held = next(self._dir.rglob("*.parquet"), None)
        except OSError as exc:
            raise PublishError(
                f"cannot write {directory}: {exc.strerror}; choose a writable directory, "
                "for example --output parquet:/tmp/events"
            ) from None
        if held is not None:
            raise PublishError(
                f"{directory} already holds Parquet files ({held.relative_to(self._dir)}); "
                "choose a new or empty directory so that two runs do not mix"
            )

    def _file(self, partition: str, schema: pa.Schema, dictionary: list[str]) -> _File:
        if partition in self._files:
            self._files.move_to_end(partition)
            return self._files[partition]
        if len(self._files) >= self._open_files:
            _, oldest = self._files.popitem(last=False)
            oldest.close(self._row_group_rows)
        part = self._parts.get(partition, 0)
        self._parts[partition] = part + 1
        opened = _File(self._dir / partition / f"part-{part:05d}.parquet", schema, dictionary)
        self._files[partition] = opened
        return opened

    def send(self, batch: list[Event]) -> int:
        """Convert the batch to Arrow and buffer it by event date; all of it is taken."""
        if not batch:
            return 0
        try:
            self._send(batch)
        except (OSError, pa.ArrowException) as exc:
            raise PublishError(f"cannot write {self.name}: {exc}", 0) from None
        self.stats.sent += len(batch)
        self.stats.delivered += len(batch)
        return len(batch)

    def _send(self, batch: list[Event]) -> None:
        good = [e for e in batch if not e[CODE] & MALFORMED]
        if len(good) < len(batch):
            bad = [e for e in batch if e[CODE] & MALFORMED]
            table = pa.table(
                {
                    "event_time": pa.array([e[AT] for e in bad], pa.timestamp("ms", tz="UTC")),
                    "kind": pa.array([e[CODE] & ~MALFORMED for e in bad], pa.int8()),
                    "raw": pa.array([e[TEXT] for e in bad], _TEXT),
                },
                schema=MALFORMED_SCHEMA,
            )
            self._file("_malformed", MALFORMED_SCHEMA, []).add(table, self._row_group_rows)
        if not good:
            return
        table = to_arrow(good)
        days = [e[AT] // _DAY_MS for e in good]
        start = 0
        for i in range(1, len(days) + 1):  # runs of one date (the stream is in time order)
            if i == len(days) or days[i] != days[start]:
                date = pa.scalar(days[start], pa.int32()).cast(pa.date32())
                self._file(f"event_date={date}", SCHEMA, DICTIONARY).add(
                    table.slice(start, i - start), self._row_group_rows
                )
                start = i

    def poll(self) -> None:
        """Nothing to serve."""

    def flush(self, timeout_s: float) -> int:
        """Buffered rows are written on close; nothing waits for confirmation."""
        return 0

    def settle(self) -> None:
        """Nothing is ever unconfirmed."""

    def close(self) -> None:
        """Write what is buffered and close every file, so each is whole under its name."""
        errors = []
        while self._files:
            _, file = self._files.popitem(last=False)
            try:
                file.close(self._row_group_rows)
            except (OSError, pa.ArrowException) as exc:
                errors.append(str(exc))
        if errors:
            raise PublishError(f"cannot close {self.name}: {errors[0]}")
