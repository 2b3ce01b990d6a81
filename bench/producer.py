"""Producer benchmark: events/s for generation, JSON lines to a file and the local Kafka broker.

Measures our producer (the real Simulator -> Runner -> sink path, backfill mode) and a naive
baseline written the way the seed did it (Faker calls and a kafka-python `send` per event),
alternates runs of the two (so both see the same load on a shared machine), and prints each
run to stderr and one line to stdout: median events/s and the median ratio of the pairs.
With a broker it also runs the CLI into Kafka with `--workers 2` and `--workers 1`
(2N events each), alternating, and prints both and their ratio.
Run: `.local/venv/bin/python bench/producer.py [--events N] [--runs R]`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.env import ROOT, load_env
from producer.clock import WallClock, parse_instant
from producer.config import BehaviorSettings, OutputSettings, TrafficSettings
from producer.data_generator import Simulator, collector_paused
from producer.publish import open_sink
from producer.run import Runner

START = parse_instant("2025-08-01")


def log(line: str) -> None:
    """Bench chatter goes to stderr; the figures line goes to stdout."""
    print(line, file=sys.stderr, flush=True)


def ours(events: int, output: OutputSettings | None, seed: int) -> float:
    """Events/s of our producer: generation only when `output` is None, else through the sink."""
    sim = Simulator(BehaviorSettings(), TrafficSettings(rate=50), seed, START, None, events)
    t0 = time.perf_counter()
    if output is None:  # like a backfill Runner: collector paused (no reference cycles made)
        with collector_paused():
            n = sum(len(window) for window in sim.windows())
        return n / (time.perf_counter() - t0)
    sink = open_sink(output, log)
    runner = Runner(sim, sink, WallClock(), log, realtime=False, progress_s=0)
    result = runner.run()
    sink.close()
    elapsed = time.perf_counter() - t0
    if result.undelivered or result.errors or result.tally.messages != events:
        raise SystemExit(f"benchmark run lost messages: {result}")
    return events / elapsed


class Naive:
    """The seed's way: a dict built with Faker per event, json.dumps, kafka-python send."""

    def __init__(self) -> None:
        from faker import Faker

        self.fake = Faker()
        self.rng = random.Random(1)

    def event(self) -> dict[str, object]:
        """One event, uniformly random, Faker on every call."""
        fake, rng = self.fake, self.rng
        kind = rng.choice(["page_view", "add_to_cart", "purchase"])
        product = fake.uuid4() if kind != "page_view" or rng.random() < 0.5 else None
        return {
            "event_id": str(uuid.uuid4()),
            "event_type": kind,
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "user_id": fake.uuid4(),
            "session_id": fake.uuid4(),
            "product_id": product,
            "page_url": f"/product/{product}" if product else "/" + fake.uri_path(),
            "user_agent": fake.user_agent(),
            "ip_address": fake.ipv4_public(),
            "device_type": rng.choice(["desktop", "mobile", "tablet"]),
            "price": round(rng.uniform(5, 500), 2) if kind != "page_view" else None,
            "quantity": rng.randint(1, 3) if kind != "page_view" else None,
            "order_id": fake.uuid4() if kind == "purchase" else None,
            "country": fake.country_code(),
        }

    def run(self, events: int, target: str, path: str, topic: str, servers: str) -> float:
        """Events/s for target gen | jsonl | kafka."""
        t0 = time.perf_counter()
        if target == "gen":
            for _ in range(events):
                json.dumps(self.event())
        elif target == "jsonl":
            with open(path, "w", encoding="utf-8") as f:
                for _ in range(events):
                    f.write(json.dumps(self.event()) + "\n")
        else:
            from kafka import KafkaProducer

            producer = KafkaProducer(bootstrap_servers=servers)
            t0 = time.perf_counter()
            for _ in range(events):
                event = self.event()
                value = json.dumps(event).encode()
                producer.send(topic, value=value, key=str(event["session_id"]).encode())
            producer.flush()
            elapsed = time.perf_counter() - t0
            producer.close()
            return events / elapsed
        return events / (time.perf_counter() - t0)


def paired(
    name: str, runs: int, mine: Callable[[int], float], theirs: Callable[[int], float]
) -> tuple[float, float, float]:
    """Median events/s of ours and the baseline, and the median ratio of back-to-back pairs.

    Each of our runs is followed by a baseline run, so on a shared machine both see about the
    same load; the ratio of each pair is taken before the median.
    """
    rates, bases, ratios = [], [], []
    for i in range(runs):
        rates.append(mine(i))
        bases.append(theirs(i))
        ratios.append(rates[-1] / bases[-1])
        log(
            f"  {name:<6} run {i + 1}: ours {rates[-1]:>10,.0f}/s, "
            f"baseline {bases[-1]:>8,.0f}/s, {ratios[-1]:5.1f}x"
        )
    return statistics.median(rates), statistics.median(bases), statistics.median(ratios)


def with_workers(events: int, workers: int, topic: str, servers: str, seed: int) -> float:
    """Events/s into Kafka of `python -m producer.producer --workers N` (the ledger's run time:
    from the first worker's start to the last one's end, process start-up left out)."""
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        ledger = Path(tmp) / "ledger.json"
        argv = [sys.executable, "-m", "producer.producer", "--mode", "backfill", "--rate", "50"]
        argv += ["--start", "2025-08-01", "--events", str(events), "--seed", str(seed)]
        argv += ["--workers", str(workers), "--topic", topic, "--bootstrap-servers", servers]
        argv += ["--ledger", str(ledger), "--progress", "0"]
        subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, timeout=900)
        record = json.loads(ledger.read_text())
    if record["delivery"]["undelivered"] or record["events"]["total"] != events:
        raise SystemExit(f"benchmark run lost messages: {record['delivery']}")
    return events / record["run"]["wall_seconds"]


def kafka_topic(servers: str) -> tuple[str | None, Callable[[], None]]:
    """A fresh 3-partition topic (and its cleanup), or None when Kafka does not answer."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": servers})
    name = f"bench.producer.{uuid.uuid4().hex[:8]}"
    try:
        admin.create_topics([NewTopic(name, 3, 1)])[name].result(timeout=15)
    except Exception as exc:
        log(f"Kafka not usable on {servers} ({exc}): run ./start_infrastructure.sh")
        return None, lambda: None
    return name, lambda: admin.delete_topics([name])[name].result(timeout=30)


def main() -> int:
    """Run every case, print the table and the figures line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=400_000, help="events per run of ours")
    ap.add_argument("--baseline-events", type=int, default=10_000, help="per baseline run")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    env = load_env()
    servers = env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    topic, drop_topic = kafka_topic(servers)
    tmp = tempfile.mkdtemp(prefix="bench-producer-")
    path = os.path.join(tmp, "events.jsonl")
    n, nb, runs = args.events, args.baseline_events, args.runs
    naive = Naive()
    cases: list[tuple[str, Callable[[int], float], Callable[[int], float]]] = [
        ("gen", lambda i: ours(n, None, i), lambda i: naive.run(nb, "gen", path, "", servers)),
        (
            "jsonl",
            lambda i: ours(n, OutputSettings(kind="jsonl", path=path), i),
            lambda i: naive.run(nb, "jsonl", path, "", servers),
        ),
    ]
    if topic:
        kafka = OutputSettings(kind="kafka", topic=topic, bootstrap_servers=servers)
        cases.append(
            (
                "kafka",
                lambda i: ours(n, kafka, i),
                lambda i: naive.run(nb, "kafka", path, topic, servers),
            )
        )
    figures: dict[str, tuple[float, float, float]] = {}
    try:
        log(f"ours {n:,} and baseline {nb:,} events per run, alternating, median of {runs}")
        for case, mine, theirs in cases:
            figures[case] = paired(case, runs, mine, theirs)
        if topic:  # the same CLI with 2 workers against 1, alternating
            figures["workers"] = paired(
                "2 vs 1 workers",
                runs,
                lambda i: with_workers(n * 2, 2, topic, servers, i),
                lambda i: with_workers(n * 2, 1, topic, servers, i),
            )
    finally:
        drop_topic()
        if os.path.exists(path):
            os.remove(path)
        os.rmdir(tmp)
    parts, ratios = [], []
    for case in ("gen", "jsonl", "kafka"):
        if case in figures:
            rate, base, ratio = figures[case]
            parts.append(f"{case} {rate:,.0f} (baseline {base:,.0f})")
            ratios.append(f"{case} {ratio:.1f}x")
        else:
            parts.append(f"{case} n/a (no broker)")
    if "workers" in figures:
        two, one, ratio = figures["workers"]
        parts.append(f"kafka via the CLI: 1 worker {one:,.0f}, 2 workers {two:,.0f}")
        ratios.append(f"2 workers / 1 {ratio:.2f}x")
    print(f"producer events/s, median of {runs}: " + "; ".join(parts) + " | " + ", ".join(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
