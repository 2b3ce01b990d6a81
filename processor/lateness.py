"""Checked chunks of one micro-batch in, the same chunks in offset order with `is_late` out.

The lateness rule (docs/processor.md): a valid message at (partition p, offset o) is late when
its event time is earlier than the newest event time of the valid messages of p before o,
minus the lateness bound. It depends only on the topic, never on where batch boundaries fell:
the same topic gives the same flags in one batch or in ten. Chunks arrive from Spark's tasks in
any order, so a chunk waits until the chunks before it in its partition have been seen; the
state carried from batch to batch is each partition's next offset and newest event time
(`partition_progress`, saved in the batch's transaction).

Offsets that jump forward (data aged out of retention before it was read, or skipped by Spark)
are reported as gaps; offsets that go back below what was committed are replays.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_NONE = np.iinfo(np.int64).min


@dataclass
class PartitionState:
    """What the batches before have seen of one partition."""

    next_offset: int | None = None  # one past the last offset seen; None: nothing yet
    max_event_us: int | None = None  # newest valid event time, microseconds since the epoch


@dataclass(frozen=True)
class Gap:
    """Offsets of a partition that were never read: [first_missing, next_seen)."""

    partition: int
    first_missing: int
    next_seen: int


@dataclass
class OffsetOrder:
    """Releases each partition's chunks in offset order, flagging late events on the way."""

    state: dict[int, PartitionState]
    lateness_us: int
    gaps: list[Gap] = field(default_factory=list)
    touched: set[int] = field(default_factory=set)
    _held: dict[int, list[pa.RecordBatch]] = field(default_factory=dict)

    def add(self, rows: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        """Take one chunk; yield every chunk (this or held ones) that can now be flagged."""
        for part in _by_partition(rows):
            p = int(part["kafka_partition"][0].as_py())
            self._held.setdefault(p, []).append(part)
            yield from self._release(p, final=False)

    def rest(self) -> Iterator[pa.RecordBatch]:
        """Yield the chunks still held (their predecessors never came), in offset order."""
        for p in sorted(self._held):
            yield from self._release(p, final=True)

    def _release(self, p: int, final: bool) -> Iterator[pa.RecordBatch]:
        held = self._held[p]
        held.sort(key=_first_offset)
        state = self.state.setdefault(p, PartitionState())
        while held:
            first = _first_offset(held[0])
            if not final and (state.next_offset is None or first != state.next_offset):
                return
            chunk = held.pop(0)
            if state.next_offset is not None and first > state.next_offset:
                self.gaps.append(Gap(p, state.next_offset, first))
            yield self._flag(chunk, state)

    def _flag(self, chunk: pa.RecordBatch, state: PartitionState) -> pa.RecordBatch:
        valid = pc.is_null(chunk["reason"]).to_numpy(zero_copy_only=False)
        times = np.where(valid, event_micros(chunk["event_time"]), _NONE)
        carry = _NONE if state.max_event_us is None else state.max_event_us
        newest = np.maximum.accumulate(np.concatenate(([carry], times)))
        before = newest[:-1]  # the newest event time of the messages before each one
        late = valid & (before != _NONE) & (times < before - self.lateness_us)
        last = int(pc.max(chunk["kafka_offset"]).as_py())
        state.max_event_us = None if newest[-1] == _NONE else int(newest[-1])
        state.next_offset = max(last + 1, state.next_offset or 0)
        self.touched.add(int(chunk["kafka_partition"][0].as_py()))
        return chunk.append_column("is_late", pa.array(late))


def event_micros(column: pa.Array) -> np.ndarray:
    """A timestamp column as microseconds since the epoch (nulls as the smallest int64)."""
    tz = column.type.tz if pa.types.is_timestamp(column.type) else None
    micros = pc.cast(pc.cast(column, pa.timestamp("us", tz=tz)), pa.int64())
    out: np.ndarray = pc.fill_null(micros, _NONE).to_numpy(zero_copy_only=False)
    return out


def _first_offset(chunk: pa.RecordBatch) -> int:
    return int(chunk["kafka_offset"][0].as_py())


def _by_partition(rows: pa.RecordBatch) -> list[pa.RecordBatch]:
    """The chunk's rows per partition, each in offset order (a Spark task reads one range of
    one partition in order, so this is almost always the chunk itself)."""
    if rows.num_rows == 0:
        return []
    partitions = rows["kafka_partition"].to_numpy(zero_copy_only=False)
    offsets = rows["kafka_offset"].to_numpy(zero_copy_only=False)
    if (partitions == partitions[0]).all() and (np.diff(offsets) > 0).all():
        return [rows]
    order = np.lexsort((offsets, partitions))
    rows = rows.take(pa.array(order))
    partitions = partitions[order]
    cuts = np.flatnonzero(np.diff(partitions)) + 1
    bounds = [0, *cuts.tolist(), rows.num_rows]
    return [rows.slice(a, b - a) for a, b in itertools.pairwise(bounds)]
