"""After the producer stops, let the processor read everything the producer delivered.

In: the topic's end offsets (Kafka) and the processor's next offsets (`partition_progress`, in
the same transaction as the data it covers). Out: how the wait ended. Stopping the producer and
the processor together would lose the tail of a run; this waits, with a progress line and a
bound, and a second Ctrl-C skips the wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from runner.supervise import Stopping, raise_on_signals


@dataclass(frozen=True)
class Backlog:
    """Messages in the topic and messages the processor has committed, summed over partitions."""

    delivered: int
    processed: int

    @property
    def remaining(self) -> int:
        """Messages not yet committed by the processor."""
        return max(0, self.delivered - self.processed)


def backlog(
    ends: Mapping[int, int], progress: Mapping[int, int], starts: Mapping[int, int]
) -> Backlog:
    """Return the backlog from end offsets, the processor's next offsets and the start offsets.

    A partition the processor has not reached yet counts from its start (the oldest offset kept).
    """
    delivered = processed = 0
    for partition, end in ends.items():
        low = starts.get(partition, 0)
        done = min(max(progress.get(partition, low), low), end)
        delivered += end - low
        processed += done - low
    return Backlog(delivered, processed)


def topic_offsets(bootstrap: str, topic: str) -> tuple[dict[int, int], dict[int, int]]:
    """Return (start, end) offsets per partition of `topic`."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "clickstream-runner-drain",
            "enable.auto.commit": False,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return {}, {}
        starts, ends = {}, {}
        for partition in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            starts[partition], ends[partition] = low, high
        return starts, ends
    finally:
        consumer.close()


def processor_progress(conn: psycopg.Connection[Any], topic: str) -> dict[int, int]:
    """Return the processor's next offset per partition of `topic` (committed batches only)."""
    rows = conn.execute(
        "SELECT kafka_partition, next_offset FROM partition_progress WHERE kafka_topic = %s",
        (topic,),
    ).fetchall()
    return {int(p): int(o) for p, o in rows}


def wait_for_catch_up(
    read: Callable[[], Backlog],
    processor_running: Callable[[], bool],
    bound_seconds: float,
    say: Callable[[str], None],
    every: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Wait until the backlog is empty; return `caught up`, `timed out`, `skipped` or `exited`."""
    began = clock()
    restore = raise_on_signals()
    try:
        while True:
            try:
                state = read()
            except Exception as exc:
                say(f"cannot read the backlog ({exc}); not waiting")
                return "unknown"
            if state.remaining == 0:
                say(f"the processor has read all {state.delivered:,} messages")
                return "caught up"
            if not processor_running():
                say(f"the processor exited with {state.remaining:,} messages unread")
                return "exited"
            waited = clock() - began
            if waited >= bound_seconds:
                say(f"gave up after {waited:.0f} s: {state.remaining:,} messages still unread")
                return "timed out"
            say(
                f"waiting for the processor to catch up: {state.remaining:,} of "
                f"{state.delivered:,} messages left ({waited:.0f}/{bound_seconds:.0f} s; "
                "Ctrl-C again skips)"
            )
            sleep(every)
    except Stopping:
        say("not waiting any longer (second Ctrl-C)")
        return "skipped"
    finally:
        restore()
