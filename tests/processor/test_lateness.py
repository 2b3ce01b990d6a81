"""Lateness per partition in offset order (processor/lateness.py): pure Arrow, no services."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.lateness import Gap, OffsetOrder, PartitionState

T = datetime(2025, 8, 19, 14, tzinfo=UTC)
HOUR_US = 3_600_000_000


def chunk(partition: int, first: int, minutes: list[int | None]) -> pa.RecordBatch:
    """Rows at consecutive offsets; None is a rejected message (no event time)."""
    times = [None if m is None else T + timedelta(minutes=m) for m in minutes]
    return pa.RecordBatch.from_pydict(
        {
            "kafka_partition": pa.array([partition] * len(minutes), pa.int32()),
            "kafka_offset": pa.array(range(first, first + len(minutes)), pa.int64()),
            "event_time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "reason": pa.array([None if m is not None else "invalid_json" for m in minutes]),
        }
    )


def flags(order: OffsetOrder, chunks: list[pa.RecordBatch]) -> dict[tuple[int, int], bool]:
    out: list[pa.RecordBatch] = []
    for c in chunks:
        out += list(order.add(c))
    out += list(order.rest())
    return {
        (p, o): late
        for c in out
        for p, o, late in zip(
            c["kafka_partition"].to_pylist(),
            c["kafka_offset"].to_pylist(),
            c["is_late"].to_pylist(),
            strict=True,
        )
    }


def test_late_is_judged_against_earlier_offsets_of_the_same_partition_only() -> None:
    order = OffsetOrder({}, HOUR_US)
    got = flags(order, [chunk(0, 0, [120, 30, 59, 60]), chunk(1, 0, [0, 10])])
    # partition 0: 30 and 59 are more than an hour before 120; 60 is exactly an hour: not late.
    assert [got[(0, o)] for o in range(4)] == [False, True, True, False]
    # partition 1 never saw 120: nothing is late there.
    assert [got[(1, o)] for o in range(2)] == [False, False]


def test_rejected_messages_never_move_the_watermark() -> None:
    got = flags(OffsetOrder({}, HOUR_US), [chunk(0, 0, [0, None, 10])])
    assert got == {(0, 0): False, (0, 1): False, (0, 2): False}


def test_chunks_wait_for_their_predecessors_whatever_order_they_arrive_in() -> None:
    state = {0: PartitionState(next_offset=0)}
    order = OffsetOrder(state, HOUR_US)
    later = chunk(0, 3, [0])  # would be late after the chunk before it (offset 0..2)
    assert list(order.add(later)) == []  # held: offsets 0..2 have not been seen
    released = list(order.add(chunk(0, 0, [200, 201, 202])))
    assert [c["kafka_offset"][0].as_py() for c in released] == [0, 3]
    assert released[1]["is_late"].to_pylist() == [True]
    assert state[0].next_offset == 4 and order.gaps == []


def test_state_carries_from_batch_to_batch_and_gaps_are_found() -> None:
    state: dict[int, PartitionState] = {}
    flags(OffsetOrder(state, HOUR_US), [chunk(0, 0, [200])])
    order = OffsetOrder(state, HOUR_US)
    got = flags(order, [chunk(0, 5, [100, 150])])  # offsets 1..4 never came
    assert got == {(0, 5): True, (0, 6): False}
    assert order.gaps == [Gap(0, 1, 5)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.integers(0, 600)), min_size=1, max_size=60),
    st.lists(st.integers(1, 59), max_size=6),
    st.randoms(use_true_random=False),
)
def test_batch_boundaries_and_arrival_order_never_change_the_flags(
    minutes: list[int | None], cuts: list[int], rng: random.Random
) -> None:
    whole = flags(OffsetOrder({}, HOUR_US), [chunk(0, 0, minutes)])
    # The same partition cut into batches, each cut into chunks that arrive shuffled.
    bounds = sorted({0, len(minutes), *(c for c in cuts if c < len(minutes))})
    state: dict[int, PartitionState] = {}
    split: dict[tuple[int, int], bool] = {}
    for a, b in itertools.pairwise(bounds):
        middle = rng.randint(a, b)
        pieces = [chunk(0, a, minutes[a:middle]), chunk(0, middle, minutes[middle:b])]
        pieces = [p for p in pieces if p.num_rows]
        rng.shuffle(pieces)
        split |= flags(OffsetOrder(state, HOUR_US), pieces)
    assert split == whole
