"""Messages out of the Kafka topic (every partition, from its first offset to the end it had when
the read began) or out of a producer's JSON-lines file, handed one by one to `add(partition,
offset, kafka_timestamp_ms, value)` in offset order per partition.

The topic is read with assign() and no consumer group commits, so reading it changes nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from infra.kafka import topic_id

Add = Callable[[int, int, int, bytes | None], None]
Progress = Callable[[int], None]


class SourceError(RuntimeError):
    """The topic or file cannot be read; the message says what to do."""


@dataclass
class Extent:
    """What was read: per partition the first offset and the end offset (exclusive)."""

    name: str
    partitions: dict[int, tuple[int, int]] = field(default_factory=dict)
    topic_id: str | None = None  # Kafka's id of the topic read (None: a file)

    @property
    def messages(self) -> int:
        """Messages between the first and end offsets (control records included)."""
        return sum(end - low for low, end in self.partitions.values())


def read_jsonl(path: Path, now_ms: int, add: Add, progress: Progress | None = None) -> Extent:
    """Each line of the file is one message of partition 0 (offset = line number from 0),
    stamped `now_ms` as its Kafka timestamp."""
    count = 0
    try:
        with path.open("rb") as lines:
            for offset, line in enumerate(lines):
                add(0, offset, now_ms, line[:-1] if line.endswith(b"\n") else line)
                count = offset + 1
                if progress is not None and count % 100_000 == 0:
                    progress(count)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror}; pass a producer's .jsonl") from None
    return Extent(f"file {path}", {0: (0, count)})


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            # assign() needs no group; librdkafka wants an id anyway. Nothing is committed.
            "group.id": f"verify-from-topic-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            # What Spark's Kafka source reads (kafka-clients' default), up to the high watermark.
            "isolation.level": "read_uncommitted",
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
            "queued.max.messages.kbytes": 256 * 1024,
            "log_level": 0,  # a broker that is down is reported once, below, not per retry
            "error_cb": lambda _err: None,
        }
    )


def _extent(consumer: Consumer, bootstrap: str, topic: str, timeout: float) -> Extent:
    down = f"Kafka is not answering on {bootstrap}: run ./start_infrastructure.sh"
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    except KafkaException:
        raise SourceError(down) from None
    if meta is None or meta.error is not None or not meta.partitions:
        raise SourceError(
            f"topic {topic} does not exist on {bootstrap}: name the processor's topic "
            "(--from-topic TOPIC or KAFKA_TOPIC)"
        )
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        extent = Extent(f"topic {topic}", topic_id=topic_id(admin, topic, timeout))
    except (KafkaException, TimeoutError):
        raise SourceError(down) from None
    for partition in sorted(meta.partitions):
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout, cached=False
            )
        except KafkaException:
            raise SourceError(down) from None
        extent.partitions[partition] = (low, high)
    return extent


def read_topic(
    bootstrap: str,
    topic: str,
    add: Add,
    progress: Progress | None = None,
    timeout: float = 10.0,
) -> Extent:
    """Read every partition of `topic` from its low watermark to the end offset seen at start."""
    consumer = _consumer(bootstrap)
    try:
        extent = _extent(consumer, bootstrap, topic, timeout)
        ends = {p: end for p, (low, end) in extent.partitions.items() if end > low}
        consumer.assign([TopicPartition(topic, p, extent.partitions[p][0]) for p in ends])
        _drain(consumer, bootstrap, topic, ends, add, progress, timeout)
    finally:
        consumer.close()
    return extent


def _drain(
    consumer: Consumer,
    bootstrap: str,
    topic: str,
    ends: dict[int, int],
    add: Add,
    progress: Progress | None,
    timeout: float,
) -> None:
    left = dict(ends)  # partitions still to finish
    read, reported, quiet_since = 0, 0, time.monotonic()
    while left:
        try:
            batch = consumer.consume(num_messages=10_000, timeout=0.5)
        except KafkaException as exc:
            raise SourceError(f"reading {topic} on {bootstrap}: {exc}; verify again") from None
        if not batch:
            if time.monotonic() - quiet_since > timeout:
                where = ", ".join(f"partition {p} before offset {end}" for p, end in left.items())
                raise SourceError(
                    f"Kafka on {bootstrap} stopped sending {topic} ({where}): "
                    "check it is up (run ./start_infrastructure.sh), then verify again"
                )
            continue
        quiet_since = time.monotonic()
        for message in batch:
            partition, offset = message.partition(), message.offset()
            error = message.error()
            if error is not None and error.code() != KafkaError._PARTITION_EOF:
                raise SourceError(f"reading {topic} [{partition}]: {error.str()}")
            if partition is None or offset is None:  # records and partition EOFs carry both
                continue
            end = left.get(partition)
            if error is not None:
                if end is not None and offset >= end:  # the end of a partition
                    _finish(consumer, topic, partition, left)
                continue
            if end is None or offset >= end:  # appended since the start: not read
                continue
            add(partition, offset, message.timestamp()[1], message.value())
            read += 1
            if offset == end - 1:
                _finish(consumer, topic, partition, left)
        if progress is not None and read - reported >= 100_000:
            reported = read
            progress(read)


def _finish(consumer: Consumer, topic: str, partition: int, left: dict[int, int]) -> None:
    left.pop(partition, None)
    consumer.pause([TopicPartition(topic, partition)])
