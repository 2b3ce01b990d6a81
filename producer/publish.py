"""Sinks: where serialised events go. Kafka (confluent-kafka), a JSON-lines file, or stdout.

In: batches of `(event_ms, code, json_text, session_id, cents)`. The message key is the
session id. Kafka delivery is acks=all and idempotent; failed deliveries are re-sent with the
same bytes (same event_id), a full queue is waited out, and nothing is dropped.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from confluent_kafka import KafkaError, KafkaException, Producer

from producer.behavior import Event
from producer.config import OutputSettings

Report = Callable[[str], None]

KAFKA_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "compression.type": "lz4",
    "linger.ms": 25,
    "batch.size": 1_000_000,
    "batch.num.messages": 10_000,
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
    "message.timeout.ms": 600_000,  # librdkafka retries this long before reporting a failure
    "retry.backoff.ms": 100,
    "retry.backoff.max.ms": 2_000,
    "socket.keepalive.enable": True,
}


class PublishError(RuntimeError):
    """The sink cannot go on (a fatal Kafka error, or the output was closed)."""


@dataclass
class Delivery:
    """What the sink has confirmed: every message is delivered, failed-and-resent or in flight."""

    sent: int = 0  # messages handed to the sink, counting re-sends
    delivered: int = 0
    failed: int = 0  # failed delivery reports (each one re-sent)
    resent: int = 0
    in_flight: int = 0


class Sink(Protocol):
    """The one seam between the simulation and transport."""

    name: str
    stats: Delivery

    def send(self, batch: list[Event]) -> None:
        """Hand over a batch of messages; blocks only while the sink has no room."""
        ...

    def poll(self) -> None:
        """Serve delivery reports."""
        ...

    def flush(self, timeout_s: float) -> int:
        """Wait up to `timeout_s` for delivery; return how many are still in flight."""
        ...

    def close(self) -> None:
        """Release the sink."""
        ...


class LinesSink:
    """JSON lines to a file or stdout: one event per line, written in large chunks."""

    def __init__(self, stream: TextIO, name: str, owned: bool) -> None:
        self.name = name
        self.stats = Delivery()
        self._stream = stream
        self._owned = owned

    def send(self, batch: list[Event]) -> None:
        """Write the batch as lines."""
        if not batch:
            return
        try:
            self._stream.write("\n".join([e[2] for e in batch]))
            self._stream.write("\n")
        except BrokenPipeError:
            raise PublishError(f"{self.name} was closed by the reader") from None
        self.stats.sent += len(batch)
        self.stats.delivered += len(batch)

    def poll(self) -> None:
        """Nothing to serve for files."""

    def flush(self, timeout_s: float) -> int:
        """Flush buffered lines."""
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise PublishError(f"{self.name} was closed by the reader") from None
        return 0

    def close(self) -> None:
        """Close the file (not stdout)."""
        if self._owned:
            self._stream.close()


class KafkaSink:
    """confluent-kafka producer: batched, compressed, idempotent, every report counted."""

    def __init__(self, output: OutputSettings, report: Report) -> None:
        self.name = f"kafka topic {output.topic} on {output.bootstrap_servers}"
        self.stats = Delivery()
        self._topic = output.topic
        self._servers = output.bootstrap_servers
        self._report = report
        self._retry: list[tuple[Any, Any]] = []
        self._fatal: KafkaError | None = None
        self._last_error = ""
        self._last_error_report = 0.0
        config = {
            **KAFKA_DEFAULTS,
            "delivery.report.only.error": output.delivery_reports == "errors",
            **output.kafka,
            "bootstrap.servers": output.bootstrap_servers,
            "error_cb": self._on_error,
            "on_delivery": self._on_delivery,
        }
        self._per_message = not config.get("delivery.report.only.error", False)
        try:
            self._producer = Producer(config)
        except KafkaException as exc:
            raise PublishError(f"cannot create the Kafka producer: {exc}") from None

    def check(self, timeout_s: float = 5.0) -> str | None:
        """None when the broker answers and has the topic, else what is wrong and what to do."""
        try:
            meta = self._producer.list_topics(self._topic, timeout=timeout_s)
        except KafkaException:
            return (
                f"Kafka is not answering on {self._servers}: run ./start_infrastructure.sh "
                "(the producer keeps retrying and loses nothing)"
            )
        topic = meta.topics.get(self._topic)
        if topic is None or topic.error is not None:
            return f"topic {self._topic} is not there yet; the broker may create it on first send"
        return None

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is None:
            self.stats.delivered += 1
            return
        self.stats.failed += 1
        if err.fatal():
            self._fatal = err
        self._retry.append((msg.value(), msg.key()))
        self._last_error = f"delivery failed: {err.str()}"

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
        self._last_error = err.str()
        now = time.monotonic()
        if now - self._last_error_report >= 15.0:
            self._last_error_report = now
            self._report(
                f"Kafka ({self._servers}): {err.str()}; retrying, "
                f"{len(self._producer)} messages waiting, nothing is dropped"
            )

    def _produce(self, value: Any, key: Any) -> None:
        """Produce one message, waiting (and reporting) while the local queue is full."""
        waited = 0.0
        while True:
            try:
                self._producer.produce(self._topic, value, key)
                return
            except BufferError:
                self._producer.poll(0.1)
                waited += 0.1
                if waited >= 10.0:
                    waited = 0.0
                    cause = self._last_error or "slow broker"
                    self._report(
                        f"Kafka queue full ({len(self._producer)} waiting; {cause}): "
                        "waiting for the broker, nothing is dropped"
                    )
            self._check_fatal()

    def _check_fatal(self) -> None:
        if self._fatal is not None:
            raise PublishError(
                f"Kafka fatal error on {self._topic}: {self._fatal.str()}; "
                "check the broker and run again (the ledger lists what was delivered)"
            )

    def _resend(self) -> None:
        retry, self._retry = self._retry, []
        for value, key in retry:
            self._produce(value, key)
        self.stats.resent += len(retry)
        self.stats.sent += len(retry)

    def send(self, batch: list[Event]) -> None:
        """Queue a batch; the fast path is one produce() call per message."""
        produce, topic = self._producer.produce, self._topic
        for e in batch:
            try:
                produce(topic, e[2], e[3])
            except BufferError:
                self._produce(e[2], e[3])
        self.stats.sent += len(batch)
        self.poll()

    def poll(self) -> None:
        """Serve delivery reports and re-send failures."""
        self._producer.poll(0)
        self._check_fatal()
        if self._retry:
            self._resend()
        self._update()

    def _update(self) -> None:
        self.stats.in_flight = len(self._producer)
        if not self._per_message:  # only failures are reported one by one
            s = self.stats
            s.delivered = s.sent - s.failed - s.in_flight

    def flush(self, timeout_s: float) -> int:
        """Wait for every delivery report (re-sending failures) up to `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
            self._check_fatal()
            if self._retry:
                self._resend()
            self._update()
            if (self.stats.in_flight == 0 and not self._retry) or time.monotonic() >= deadline:
                return self.stats.in_flight

    def close(self) -> None:
        """Nothing to release beyond what flush did."""


def open_sink(output: OutputSettings, report: Report) -> Sink:
    """The sink named by the output settings."""
    if output.kind == "kafka":
        return KafkaSink(output, report)
    if output.kind == "stdout":
        return LinesSink(sys.stdout, "stdout", owned=False)
    try:
        stream = open(output.path, "w", encoding="utf-8", buffering=1 << 20)  # noqa: SIM115
    except OSError as exc:
        raise PublishError(f"cannot write {output.path}: {exc.strerror}") from None
    return LinesSink(stream, f"file {output.path}", owned=True)
