"""Benchmark the streaming processor against a seed-style baseline, in one invocation.

Drain: a fresh topic gets a fixed producer backfill (default 2,000,000 events, seed 1, with a
few duplicates, late and malformed events). Our processor drains it with --available-now,
maintaining every table; then verify (with the producer's ledger) must find 0 differences. The
seed-style processor (bench/seed_processor.py: four streaming queries, JDBC appends) drains the
same topic into a schema of its own, in the same minute, the order alternating between runs.
Rates are messages / seconds of processing (ours: first batch start to last commit, from
pipeline_batches; the seed's: first query start to last query end); wall time including Spark's
start is printed too. Per core: the rate / the machine's cores.

Freshness: the processor runs as a stream (the default trigger, or --trigger) while the
producer sends a steady rate; once a second the bench sends a probe event with its own session
id and times how long until that session is in user_sessions (hourly_metrics commits in the same
transaction); for the seed-style processor, in its seed_sessions. At --rate (1,000) for both,
and at --high-rate (10,000) for ours. p50 and p95 over the probes of all runs.

Idle CPU: our processor as a stream at --idle-rate (200) events/s; the CPU time of its process
and its children (the Spark JVM) over --idle-seconds, as a share of one core.

Usage: python bench/processor.py [--runs 3] [--events N] [--skip-drain] [--skip-freshness]
       [--skip-idle] [--skip-seed]
Needs ./start_infrastructure.sh. Each run uses its own topic, schemas and checkpoints.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.env import load_env, parse_duration  # noqa: E402
from infra.postgres import PostgresNative  # noqa: E402
from infra.settings import InfraSettings  # noqa: E402
from processor.settings import ProcessorSettings  # noqa: E402
from processor.verify import run_checks  # noqa: E402

_seed_spec = importlib.util.spec_from_file_location("seed", ROOT / "bench" / "seed_processor.py")
assert _seed_spec is not None and _seed_spec.loader is not None
_seed = importlib.util.module_from_spec(_seed_spec)
_seed_spec.loader.exec_module(_seed)
SEED_TABLES: dict[str, str] = _seed.TABLES

PY = sys.executable
LOGS: list[Path] = []  # --logs DIR: the processors' output is kept there


def output(name: str) -> dict[str, Any]:
    """Where a background process's output goes: DEVNULL, or a file under --logs."""
    if not LOGS:
        return {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    LOGS[0].mkdir(parents=True, exist_ok=True)
    file = (LOGS[0] / f"{name}-{uuid.uuid4().hex[:6]}.log").open("w")
    return {"stdout": file, "stderr": subprocess.STDOUT}


class Fixture:
    """A fresh topic, schema and checkpoint folder, removed afterwards."""

    def __init__(self, infra: InfraSettings, name: str) -> None:
        self.infra = infra
        self.topic = f"bench.{name}.{uuid.uuid4().hex[:8]}"
        self.schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
        self.seed_schema = f"{self.schema}_seed"
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-processor-"))
        self.admin = AdminClient({"bootstrap.servers": infra.kafka_bootstrap})

    def __enter__(self) -> Fixture:
        self.admin.create_topics([NewTopic(self.topic, 3, 1)])[self.topic].result(timeout=30)
        native = PostgresNative(self.infra)
        native.apply_schema(schema=self.schema)
        # The seed-style processor's schema: its four tables, made by the setup role (the
        # processor's role may not create tables), writable by the processor's role.
        native.apply_schema(schema=self.seed_schema)
        with psycopg.connect(native.superuser_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(self.infra.pg_owner)))
            for table, columns in SEED_TABLES.items():
                conn.execute(
                    sql.SQL("CREATE TABLE {}.{} ({})").format(
                        sql.Identifier(self.seed_schema), sql.Identifier(table), sql.SQL(columns)
                    )
                )
        return self

    def __exit__(self, *exc: object) -> None:
        try:  # cleanup only: a slow topic deletion must not lose the figures
            self.admin.delete_topics([self.topic], operation_timeout=30)[self.topic].result(60)
        except (KafkaException, TimeoutError) as exc:
            print(f"note: topic {self.topic} not deleted: {exc}", file=sys.stderr)
        PostgresNative(self.infra).drop_schema(self.schema)
        PostgresNative(self.infra).drop_schema(self.seed_schema)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for the producer and processor subprocesses."""
        return {
            **os.environ,
            "KAFKA_TOPIC": self.topic,
            "POSTGRES_SCHEMA": self.schema,
            "PROCESSOR_CHECKPOINT_DIR": str(self.tmp / "checkpoint"),
            **extra,
        }

    def conninfo(self, seed: bool = False) -> str:
        """The processor's role, with search_path at the bench schema (or the seed's)."""
        schema = self.seed_schema if seed else self.schema
        return make_conninfo(self.infra.pg_dsn(), options=f"-c search_path={schema}")

    def settings_trigger(self) -> float:
        """The trigger our processor runs with here (PROCESSOR_TRIGGER_SECONDS)."""
        return ProcessorSettings.from_env(load_env(environ=self.env())).trigger_seconds


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """Run a step to its end; on failure raise with the last lines it printed, not just its
    exit status."""
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True)
    if done.returncode:
        tail = b"\n".join((done.stderr or done.stdout).splitlines()[-15:]).decode(errors="replace")
        raise RuntimeError(f"{command[1]} exited with {done.returncode}:\n{tail}")
    return done


def processor_cmd(*args: str) -> list[str]:
    """Our processor's command line."""
    return [PY, "-m", "processor.streaming_processor", *args]


def seed_cmd(fx: Fixture, *args: str) -> list[str]:
    """The seed-style processor's command line, into the fixture's seed schema."""
    return [
        PY, str(ROOT / "bench" / "seed_processor.py"), "--topic", fx.topic, "--schema",
        fx.seed_schema, "--checkpoint", str(fx.tmp / "seed-checkpoint"), *args,
    ]  # fmt: skip


def fill(fx: Fixture, events: int) -> Path:
    """A producer backfill of `events` into the fixture's topic; returns its ledger."""
    ledger = fx.tmp / "ledger.json"
    faults = ["--duplicates", "0.01", "--late", "0.01", "--malformed", "0.001"]
    run(
        [PY, "-m", "producer.producer", "--mode", "backfill", "--events", str(events),
         "--seed", "1", "--topic", fx.topic, "--ledger", str(ledger), *faults],
        fx.env(),
    )  # fmt: skip
    return ledger


@dataclass(frozen=True)
class Drain:
    """One drain: messages per second of processing, wall seconds including Spark's start."""

    rate: float
    wall: float
    messages: int
    differences: int = 0


def drain_ours(fx: Fixture, ledger: Path) -> Drain:
    """Drain the topic with our processor, then verify every table and the ledger."""
    started = time.monotonic()
    run(processor_cmd("--available-now"), fx.env())
    wall = time.monotonic() - started
    with psycopg.connect(fx.conninfo()) as conn:
        row = conn.execute(
            "SELECT sum(input_rows), extract(epoch FROM max(committed_at) - min(started_at))"
            " FROM pipeline_batches"
        ).fetchone()
    messages, seconds = int(row[0]), float(row[1])  # type: ignore[index]
    _, differences = run_checks(fx.conninfo(), ledger)
    return Drain(messages / seconds, wall, messages, len(differences))


def drain_seed(fx: Fixture, messages: int) -> Drain:
    """Drain the same topic with the seed-style processor (four queries, JDBC)."""
    started = time.monotonic()
    done = run(seed_cmd(fx, "--available-now"), fx.env())
    wall = time.monotonic() - started
    seconds = json.loads(done.stdout.decode().strip().splitlines()[-1])["seconds"]
    return Drain(messages / seconds, wall, messages)


def freshness(
    infra: InfraSettings, rate: int, seconds: int, seed: bool = False, trigger: str = ""
) -> list[float]:
    """Seconds from produce to visible in the sessions table, for one probe per second."""
    with Fixture(infra, "fresh") as fx:
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        extra = {"PROCESSOR_TRIGGER_SECONDS": trigger} if trigger else {}
        kept = output(f"{'seed' if seed else 'ours'}-{rate}")
        if seed:
            every = trigger or str(fx.settings_trigger())
            command = seed_cmd(fx, "--trigger", str(parse_duration(every)))
        else:
            command = processor_cmd()
        processor = subprocess.Popen(command, cwd=ROOT, env=fx.env(**extra), **kept)
        load = subprocess.Popen(
            # The warm-up hour is simulated, not sent: sent, it is a backlog of rate x 3,600
            # events ahead of the probes, and freshness would time the catch-up instead.
            [PY, "-m", "producer.producer", "--mode", "realtime", "--rate", str(rate), "--flat",
             "--warm-up-mode", "simulate",
             "--duration", f"{seconds + 600}s", "--topic", fx.topic, "--seed", "2",
             "--ledger", str(fx.tmp / "ledger.json")],
            cwd=ROOT, env=fx.env(), **quiet,
        )  # fmt: skip
        table = "seed_sessions" if seed else "user_sessions"
        try:
            with psycopg.connect(fx.conninfo(seed), autocommit=True) as conn:
                deadline = time.monotonic() + 180
                while not conn.execute(f"SELECT EXISTS (SELECT FROM {table})").fetchone()[0]:  # type: ignore[index]
                    if time.monotonic() > deadline:
                        raise RuntimeError("the processor stored nothing within 180 s")
                    time.sleep(0.5)
                settle(fx, conn, table)  # past the start's backlog and the JIT warm-up
                return probe(fx, conn, seconds, table)
        finally:
            load.terminate()
            processor.terminate()
            load.wait(60)
            processor.wait(120)


class FellBehind(RuntimeError):
    """The processor did not keep up with the load: there is no steady state to time."""


def settle(fx: Fixture, conn: psycopg.Connection, table: str, limit: float = 180) -> None:  # type: ignore[type-arg]
    """Wait until the processor has caught up with the load: 5 probes in a row seen within 5 s.

    The load starts with the processor, so its first batches work off the backlog that built
    up while Spark started; freshness is about the steady state after that.
    """
    deadline = time.monotonic() + limit
    fast = 0
    while fast < 5:
        if time.monotonic() > deadline:
            raise FellBehind(f"the processor did not catch up with the load within {limit:.0f} s")
        latencies = probe(fx, conn, 1, table)
        fast = fast + 1 if latencies and max(latencies) < 5 else 0


def probe(fx: Fixture, conn: psycopg.Connection, seconds: int, table: str) -> list[float]:  # type: ignore[type-arg]
    """Send one probe a second for `seconds`; poll until each is visible; return latencies."""
    from datetime import UTC, datetime

    from tests.processor.sample_events import dumps, event

    producer = Producer({"bootstrap.servers": fx.infra.kafka_bootstrap, "linger.ms": 0})
    pending: dict[str, float] = {}
    latencies: list[float] = []
    next_send = time.monotonic()
    end = next_send + seconds
    query = f"SELECT session_id::text FROM {table} WHERE session_id::text = ANY(%s)"
    while time.monotonic() < end or pending:
        now = time.monotonic()
        if now >= next_send and now < end:
            session = str(uuid.uuid4())
            e = event(t=datetime.now(UTC), session_id=session)
            producer.produce(fx.topic, dumps(e).encode(), key=session.encode())
            producer.flush(5)
            pending[session] = time.monotonic()
            next_send += 1.0
        if pending:
            rows = conn.execute(query, [list(pending)]).fetchall()
            seen = time.monotonic()
            for (session,) in set(rows):
                latencies.append(seen - pending.pop(session))
        if time.monotonic() > end + 120:
            raise RuntimeError(f"{len(pending)} probes never became visible")
        time.sleep(0.05)
    return latencies


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its descendants so far, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total, pids = 0.0, [pid]
    while pids:
        p = pids.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        pids += [int(c) for c in children]
    return total


def idle_cpu(infra: InfraSettings, rate: int, seconds: int, trigger: str = "") -> float:
    """Our processor's CPU use at a low steady rate, as a share of one core."""
    with Fixture(infra, "idle") as fx:
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        extra = {"PROCESSOR_TRIGGER_SECONDS": trigger} if trigger else {}
        processor = subprocess.Popen(
            processor_cmd(), cwd=ROOT, env=fx.env(**extra), **output("idle")
        )
        load = subprocess.Popen(
            [PY, "-m", "producer.producer", "--mode", "realtime", "--rate", str(rate), "--flat",
             "--warm-up-mode", "simulate", "--duration", f"{seconds + 240}s", "--topic",
             fx.topic, "--seed", "3", "--ledger", str(fx.tmp / "ledger.json")],
            cwd=ROOT, env=fx.env(), **quiet,
        )  # fmt: skip
        try:
            with psycopg.connect(fx.conninfo(), autocommit=True) as conn:
                deadline = time.monotonic() + 180
                while not conn.execute("SELECT count(*) FROM pipeline_batches").fetchone()[0]:  # type: ignore[index]
                    if time.monotonic() > deadline:
                        raise RuntimeError("the processor committed nothing within 180 s")
                    time.sleep(0.5)
            time.sleep(20)  # past the start's catch-up and JIT warm-up
            before, started = cpu_seconds(processor.pid), time.monotonic()
            time.sleep(seconds)
            return (cpu_seconds(processor.pid) - before) / (time.monotonic() - started)
        finally:
            load.terminate()
            processor.terminate()
            load.wait(60)
            processor.wait(120)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def log(line: str) -> None:
    """A progress line on stderr (the figures go to stdout)."""
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark and print one line of figures each, with the baseline ratios."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="runs of each benchmark (medians; 3)")
    p.add_argument("--events", type=int, default=2_000_000, help="drain backlog (default 2M)")
    p.add_argument("--rate", type=int, default=1000, help="events/s for freshness (1,000)")
    p.add_argument("--high-rate", type=int, default=10_000, help="second freshness rate (10,000)")
    p.add_argument("--freshness-seconds", type=int, default=40, help="probes per run (40)")
    p.add_argument("--trigger", default="", help="PROCESSOR_TRIGGER_SECONDS (default: .env's)")
    p.add_argument("--idle-rate", type=int, default=200, help="events/s for idle CPU (200)")
    p.add_argument("--idle-seconds", type=int, default=60, help="idle CPU window (60 s)")
    p.add_argument("--skip-drain", action="store_true")
    p.add_argument("--skip-freshness", action="store_true")
    p.add_argument("--skip-idle", action="store_true")
    p.add_argument("--skip-seed", action="store_true", help="leave out the seed-style baseline")
    p.add_argument("--logs", type=Path, help="keep the processors' output in this folder")
    args = p.parse_args(argv)
    if args.logs:
        LOGS.append(args.logs)
    if args.runs < 1 or args.events < 1000:
        p.error("--runs must be at least 1 and --events at least 1000")
    infra = InfraSettings.from_env(load_env())
    cores = os.cpu_count() or 1
    if not args.skip_drain:
        ours: list[Drain] = []
        seed: list[Drain] = []
        for run in range(args.runs):
            with Fixture(infra, "drain") as fx:
                ledger = fill(fx, args.events)
                order = ("ours", "seed") if run % 2 == 0 else ("seed", "ours")
                for who in order:
                    if who == "ours":
                        ours.append(drain_ours(fx, ledger))
                        log(f"drain run {run + 1}: ours {ours[-1].rate:,.0f} msg/s")
                    elif not args.skip_seed:
                        seed.append(drain_seed(fx, ours[-1].messages if ours else args.events))
                        log(f"drain run {run + 1}: seed {seed[-1].rate:,.0f} msg/s")
        rate = statistics.median(d.rate for d in ours)
        each = ", ".join(f"{d.rate:,.0f}" for d in ours)
        line = (
            f"processor drain: {ours[0].messages:,} messages, {args.runs} run(s): median "
            f"{rate:,.0f} msg/s, {rate / cores:,.0f} per core on {cores} (runs: {each}); wall "
            f"incl. Spark start {statistics.median(d.wall for d in ours):.1f} s; verify "
            f"differences {sum(d.differences for d in ours)}"
        )
        if seed:
            base = statistics.median(d.rate for d in seed)
            ratios = [o.rate / s.rate for o, s in zip(ours, seed, strict=False)]
            line += (
                f"; seed-style {base:,.0f} msg/s (runs: "
                f"{', '.join(f'{d.rate:,.0f}' for d in seed)}): {statistics.median(ratios):.2f}x"
            )
        print(line, flush=True)
    if not args.skip_freshness:
        cases = [("ours", args.rate), ("ours", args.high_rate)]
        if not args.skip_seed:
            cases.append(("seed", args.rate))
        found: dict[tuple[str, int], list[float]] = {}
        behind: dict[tuple[str, int], int] = {}
        for run in range(args.runs):
            for who, rate in cases:
                try:
                    lat = freshness(
                        infra, rate, args.freshness_seconds, who == "seed", args.trigger
                    )
                except FellBehind as e:  # a figure of its own, not a failed benchmark
                    behind[(who, rate)] = behind.get((who, rate), 0) + 1
                    log(f"freshness run {run + 1}: {who} at {rate:,}/s: {e}")
                    continue
                found.setdefault((who, rate), []).extend(lat)
                p95 = percentile(lat, 0.95)
                log(f"freshness run {run + 1}: {who} at {rate:,}/s p95 {p95:.2f} s")
        for (who, rate), n in behind.items():
            name = "processor" if who == "ours" else "seed-style"
            print(
                f"{name} freshness at {rate:,} events/s: fell behind the load in {n} of "
                f"{args.runs} run(s) (not caught up 180 s after the start)",
                flush=True,
            )
        for (who, rate), lat in found.items():
            name = "processor" if who == "ours" else "seed-style"
            print(
                f"{name} freshness at {rate:,} events/s: p50 {statistics.median(lat):.2f} s, "
                f"p95 {percentile(lat, 0.95):.2f} s, max {max(lat):.2f} s ({len(lat)} probes, "
                f"{args.runs} run(s))",
                flush=True,
            )
        if ("seed", args.rate) in found and ("ours", args.rate) in found:
            o, b = found[("ours", args.rate)], found[("seed", args.rate)]
            print(
                f"freshness ratio at {args.rate:,} events/s (seed-style / ours): p50 "
                f"{statistics.median(b) / statistics.median(o):.1f}x, p95 "
                f"{percentile(b, 0.95) / percentile(o, 0.95):.1f}x",
                flush=True,
            )
    if not args.skip_idle:
        shares = [
            idle_cpu(infra, args.idle_rate, args.idle_seconds, args.trigger)
            for _ in range(args.runs)
        ]
        print(
            f"processor CPU at {args.idle_rate} events/s: median {statistics.median(shares):.1%} "
            f"of one core (runs: {', '.join(f'{x:.1%}' for x in shares)})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
