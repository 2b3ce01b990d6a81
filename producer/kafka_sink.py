"""The Kafka sink (confluent-kafka): batched, compressed, idempotent, every report counted.

In: batches of `(event_ms, code, json_text, session_id, cents)`; the message key is the session
id. Each message carries a delivery callback that knows its ledger code, so a message that
fails for good, or is never confirmed, is taken off the ledger exactly. Failed deliveries are
re-sent with the same bytes (same event_id); a full local queue is waited out unless a stop is
asked for; at the end, what Kafka has not confirmed is purged and counted as queued.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from infra.env import ConfigError
from infra.errors import InfraError
from infra.kafka import create_topic
from producer.behavior import CENTS, CODE, KEY, TEXT, Event
from producer.clock import WallClock
from producer.config import OutputSettings
from producer.ledger import Tally, UserWitness
from producer.models import (
    DUPLICATE,
    MALFORMED,
    PURCHASE,
    SESSION_FIRST,
    TYPE_MASK,
    USER_FIRST,
    user_id_of,
)
from producer.publish import Delivery, PublishError, Report
from producer.stopping import StopControl

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
    # librdkafka's own log repeats a refused connection every few ms; error_cb reports it.
    "log_level": 2,
}
PURGED = (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT)
SETTLE_QUIET_S = 1.0  # settling ends when no report of a purged message came for this long
Callback = Callable[[KafkaError | None, Any], None]
FIRST_OF_USER = USER_FIRST | SESSION_FIRST  # a user's first message, or a session's


def _needs_own_callback(code: int, watch_users: bool) -> bool:
    """Valid purchase lines carry revenue; first messages of users and sessions are watched."""
    if code & (DUPLICATE | MALFORMED):
        return False
    return code & TYPE_MASK == PURCHASE or (watch_users and bool(code & FIRST_OF_USER))


class _SharedCallbacks(dict[int, Callback | None]):
    """The shared delivery callback of each code (None: the message needs its own), made on
    first use: scenario bits (producer.models) make codes up to 2**21, too many to build."""

    def __init__(self, watch_users: bool, on_report: Callable[..., None]) -> None:
        super().__init__()
        self._watch_users = watch_users
        self._on_report = on_report

    def __missing__(self, code: int) -> Callback | None:
        shared = (
            None
            if _needs_own_callback(code, self._watch_users)
            else partial(self._on_report, code, 0)
        )
        self[code] = shared
        return shared


class KafkaSink:
    """confluent-kafka producer: batched, compressed, idempotent, every report counted.

    Sessions and orders live on one partition, which Kafka delivers in order, so their first
    messages go out first. A user spans partitions: see ledger.UserWitness.
    """

    def __init__(self, output: OutputSettings, report: Report, stop: StopControl | None) -> None:
        self.name = f"kafka topic {output.topic} on {output.bootstrap_servers}"
        self.stats = Delivery()
        self.lost = Tally()
        self._topic = output.topic
        self._servers = output.bootstrap_servers
        self._create = output.create_topic
        self._partitions = output.partitions
        self._report = report
        self._stop = stop or StopControl(WallClock())
        self._retry: list[tuple[Any, Any, partial[None]]] = []
        self._fatal: KafkaError | None = None
        self._last_error = ""
        self._last_error_report = 0.0
        self._produced = 0  # produce() calls that succeeded, re-sends included
        self._reported = 0  # delivery reports served
        self._settling = False
        self._users = UserWitness()
        self._down_at: int | None = None  # delivered count when all brokers went down
        config = {
            **KAFKA_DEFAULTS,
            "delivery.report.only.error": output.delivery_reports == "errors",
            **output.kafka,
            "bootstrap.servers": output.bootstrap_servers,
            "error_cb": self._on_error,
        }
        self._per_message = not config.get("delivery.report.only.error", False)
        self._callbacks = _SharedCallbacks(self._per_message, self._on_report)
        try:
            self._producer = Producer(config)
        except KafkaException as exc:
            raise ConfigError(
                f"the Kafka client refuses its settings ([output] kafka in the config file, "
                f"--compression): {exc.args[0].str() if exc.args else exc}"
            ) from None

    def check(self, timeout_s: float = 1.0) -> str | None:
        """None when the broker answers and has the topic, else what is wrong and what to do."""
        deadline = time.monotonic() + timeout_s
        meta = None
        while meta is None and time.monotonic() < deadline and not self._stop.is_requested():
            try:
                meta = self._producer.list_topics(self._topic, timeout=0.25)
            except KafkaException:
                continue
        if meta is None:
            return (
                f"Kafka is not answering on {self._servers}: run ./start_infrastructure.sh "
                "(the producer keeps retrying; a stop writes the ledger within seconds)"
            )
        topic = meta.topics.get(self._topic)
        if topic is None or topic.error is not None:
            self._create_topic()
        return None

    def _create_topic(self, timeout_s: float = 15.0) -> None:
        """Create the missing topic (output.create_topic), or raise ConfigError naming the
        command that does."""
        command = (
            f"python -m infra create-topic {self._topic} --partitions {self._partitions}"
            f"   (or kafka-topics.sh --bootstrap-server {self._servers} --create "
            f"--topic {self._topic} --partitions {self._partitions})"
        )
        if not self._create:
            raise ConfigError(
                f"topic {self._topic} does not exist on {self._servers} and --no-create-topic "
                f"is set: nothing would be delivered; create it with: {command}"
            )
        try:
            made = create_topic(self._servers, self._topic, self._partitions, timeout_s)
        except InfraError as exc:
            raise ConfigError(f"{exc}; create it with: {command}") from None
        if made:
            self._report(f"created topic {self._topic} with {self._partitions} partitions")

    # Delivery callbacks: bound to the message's code and revenue (and user, when watched).

    def _on_report(self, code: int, cents: int, err: KafkaError | None, msg: Any) -> None:
        self._reported += 1
        if err is None:
            self.stats.delivered += 1
            return
        self._failed(err, msg, partial(self._on_report, code, cents))

    def _on_first(self, code: int, cents: int, user: str, err: KafkaError | None, msg: Any) -> None:
        self._reported += 1
        if err is None:
            self.stats.delivered += 1
            self._users.first_delivered(user)
            return
        self._failed(err, msg, partial(self._on_first, code, cents, user))

    def _on_again(self, code: int, cents: int, user: str, err: KafkaError | None, msg: Any) -> None:
        self._reported += 1
        if err is None:
            self.stats.delivered += 1
            self._users.again_delivered(user)
            return
        self._failed(err, msg, partial(self._on_again, code, cents, user))

    def _failed(self, err: KafkaError, msg: Any, callback: partial[None]) -> None:
        if err.code() in PURGED:  # not a failure: settle() gave up on it
            self._give_up(callback, queued=True)
            return
        self.stats.failed_reports += 1
        if err.fatal():
            self._fatal = err
        if self._settling or self._fatal is not None:
            self._give_up(callback, queued=False)
        else:
            self._retry.append((msg.value(), msg.key(), callback))
            self._last_error = f"delivery failed: {err.str()}"

    def _give_up(self, callback: partial[None], queued: bool) -> None:
        """Count a message as lost for good: never confirmed (queued) or failed."""
        code, cents = callback.args[0], callback.args[1]
        if queued:
            self.stats.queued += 1
        else:
            self.stats.failed += 1
        self.lost.add_one(code, cents)
        if code & USER_FIRST and callback.func == self._on_first:
            self._users.first_lost(callback.args[2])

    def _callback(self, e: Event) -> Callback:
        """The callback of a message whose code needs more than the shared per-code one."""
        code, cents = e[CODE], e[CENTS]
        if self._per_message:  # users can only be watched when successes are reported
            if code & USER_FIRST:
                user = user_id_of(e[TEXT])
                self._users.first_sent(user)
                return partial(self._on_first, code, cents, user)
            if code & SESSION_FIRST and self._users:
                user = user_id_of(e[TEXT])
                if self._users.watches(user):
                    return partial(self._on_again, code, cents, user)
        return partial(self._on_report, code, cents)

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self._down_at = self.stats.delivered
        self._last_error = err.str()
        now = time.monotonic()
        if now - self._last_error_report >= 15.0:
            self._last_error_report = now
            self._report(
                f"Kafka ({self._servers}): {err.str()}; retrying, "
                f"{self._waiting():,} messages waiting, nothing is dropped"
            )

    def _check_fatal(self) -> None:
        if self._fatal is not None:
            raise PublishError(
                f"Kafka fatal error on {self._topic}: {self._fatal.str()}; "
                "check the broker and run again (the ledger lists what was delivered)"
            )

    def _wait_for_room(self, value: Any, key: Any, callback: Callback) -> bool:
        """Produce once the local queue has room; False when a stop is asked for first."""
        report_at = time.monotonic() + 1.0  # then every 10 s
        while not self._stop.is_requested():
            self._producer.poll(0.1)
            self._check_fatal()
            try:
                self._producer.produce(self._topic, value, key, -1, callback)
                return True
            except BufferError:
                if time.monotonic() >= report_at:
                    report_at += 10.0
                    self._report(
                        f"Kafka queue full ({self._waiting():,} waiting; "
                        f"{self._last_error or 'slow broker'}): waiting for the broker, "
                        "nothing is dropped; Ctrl-C or SIGTERM stops and writes the ledger"
                    )
        return False

    def _waiting(self) -> int:
        """Messages in the client's queue (also in the middle of a send)."""
        return len(self._producer) + len(self._retry)

    def send(self, batch: list[Event]) -> int:
        """Queue a batch (one produce() call per message); fewer taken only on a stop request."""
        produce, topic, callbacks = self._producer.produce, self._topic, self._callbacks
        taken = 0
        try:
            try:
                for e in batch:
                    callback = callbacks[e[CODE]] or self._callback(e)
                    try:
                        produce(topic, e[TEXT], e[KEY], -1, callback)
                    except BufferError:
                        if not self._wait_for_room(e[TEXT], e[KEY], callback):
                            break
                    taken += 1
            finally:
                self.stats.sent += taken
                self._produced += taken
            self.poll()
        except PublishError as exc:  # fatal: what was queued is counted by settle()
            raise PublishError(str(exc), taken) from None
        return taken

    def _resend(self) -> None:
        retry, self._retry = self._retry, []
        for i, (value, key, callback) in enumerate(retry):
            try:
                self._producer.produce(self._topic, value, key, -1, callback)
            except BufferError:
                if not self._wait_for_room(value, key, callback):
                    self._retry = retry[i:] + self._retry  # given up at settle()
                    return
            self.stats.resent += 1
            self._produced += 1

    def poll(self) -> None:
        """Serve delivery reports and re-send failures (not once a stop is asked for)."""
        self._producer.poll(0)
        self._check_fatal()
        if self._retry and not self._stop.is_requested():
            self._resend()
        self._update()

    def _unconfirmed(self) -> int:
        if self._per_message:
            return self._produced - self._reported + len(self._retry)
        return len(self._producer) + len(self._retry)

    def _update(self) -> None:
        s = self.stats
        s.in_flight = self._unconfirmed()
        if not self._per_message:  # only failures are reported one by one
            s.delivered = s.sent - s.in_flight - s.failed - s.queued

    def flush(self, timeout_s: float) -> int:
        """Wait up to `timeout_s` for delivery reports (re-sending failures, not once stopping).

        After a stop request, when no broker answers, waiting cannot help: give up at once.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            self._producer.flush(max(0.0, min(0.2, deadline - time.monotonic())))
            self.poll()
            if not self.stats.in_flight or time.monotonic() >= deadline or self._stop.expired():
                return self.stats.in_flight
            if self._stop.is_requested() and self._kafka_down():
                self._report(f"Kafka is not answering on {self._servers}: not waiting")
                self._stop.give_up()
                return self.stats.in_flight

    def _kafka_down(self) -> bool:
        """No broker connection, and nothing delivered since librdkafka said so."""
        return self._down_at is not None and self.stats.delivered == self._down_at

    def settle(self) -> None:
        """Give up on what is unconfirmed: purge it and count each report (queued or failed).

        Reports of purged messages are served locally (about 2 µs each); waiting ends when
        they stop coming.
        """
        self._settling = True
        retry, self._retry = self._retry, []
        for _, _, callback in retry:
            self._give_up(callback, queued=False)
        self._producer.purge(True, True, False)
        heard, quiet_since = self._reported, time.monotonic()
        while self._unconfirmed() and time.monotonic() - quiet_since < SETTLE_QUIET_S:
            self._producer.flush(0.1)
            if self._reported != heard:
                heard, quiet_since = self._reported, time.monotonic()
        self.lost.users_adjust -= self._users.restored()
        self._update()

    def close(self) -> None:
        """Nothing to release beyond what settle() did."""
