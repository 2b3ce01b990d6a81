"""The Kafka sink's accounting, against a closed port: what it took, and what it lost.

No broker: librdkafka queues messages and never delivers them, so every message taken must
end counted as queued (never confirmed), with its ledger code, once the sink settles.
"""

from __future__ import annotations

import threading

import pytest

from producer.behavior import Event
from producer.clock import WallClock
from producer.config import OutputSettings
from producer.kafka_sink import KafkaSink
from producer.ledger import Tally, UserWitness
from producer.stopping import StopControl
from tests.producer.proc import closed_port


def sink(reports: str = "all", queue: int = 100) -> tuple[KafkaSink, StopControl]:
    stop = StopControl(WallClock(), timeout_s=0.5)
    output = OutputSettings(
        bootstrap_servers=f"127.0.0.1:{closed_port()}",
        topic="sink.test",
        delivery_reports=reports,
        kafka={"queue.buffering.max.messages": queue},
    )
    return KafkaSink(output, lambda _: None, stop), stop


@pytest.mark.parametrize("reports", ["all", "errors"])
def test_a_stop_while_the_queue_is_full_takes_a_prefix_and_loses_it_exactly(
    reports: str, sample: list[Event]
) -> None:
    kafka, stop = sink(reports)
    batch = sample[:300]
    timer = threading.Timer(0.3, stop.request, args=("test",))
    timer.start()
    taken = kafka.send(batch)  # blocks on the full queue until the stop
    timer.join()
    assert taken == 100 and kafka.stats.sent == 100
    assert kafka.flush(0.2) == 100  # nothing is confirmed
    kafka.settle()
    d = kafka.stats
    assert (d.delivered, d.queued, d.failed, d.in_flight) == (0, 100, 0, 0)
    expected = Tally()
    expected.add(batch[:taken])
    assert kafka.lost == expected  # codes and revenue of exactly the messages taken
    handed = Tally()
    handed.add(batch[:taken])
    assert handed.minus(kafka.lost).summary() == Tally().summary()


def test_without_a_stop_send_takes_everything(sample: list[Event]) -> None:
    kafka, _ = sink(queue=100_000)
    assert kafka.send(sample[:2000]) == 2000
    kafka.settle()
    assert kafka.stats.queued == 2000 and kafka.lost.messages == 2000


def test_a_user_lost_in_one_session_but_delivered_in_another_still_counts() -> None:
    users = UserWitness()
    users.first_sent("u1")  # u1's first session: its first message is in flight
    users.first_sent("u2")
    assert users.watches("u1") and users
    users.again_delivered("u1")  # a later session of u1, another partition, got through
    users.first_delivered("u2")  # u2 is counted by its own first message
    assert not users.watches("u2")
    users.first_lost("u1")  # u1's first message never will be
    assert users.restored() == 1
