"""Entry point: `python -m producer.producer` (or ./start_producer.sh) runs the producer.

Parses flags, builds one frozen Settings from defaults < .env.example < .env < environment <
config file < flags, runs simulator -> faults -> sink, and writes the JSON ledger.
"""

from __future__ import annotations

import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from random import SystemRandom
from typing import Any

from infra.env import ROOT, ConfigError, load_env
from producer import cli
from producer.cli import time_range
from producer.clock import Clock, WallClock, format_ms
from producer.config import Settings
from producer.data_generator import Simulator
from producer.faults import FaultInjector
from producer.ledger import write_ledger
from producer.publish import KafkaSink, PublishError, open_sink
from producer.run import Runner, RunResult, result_record

WARM_UP_MAX_EVENTS = 1_500_000  # a few seconds of generation before the first send


def report(line: str) -> None:
    """Progress and notices go to stderr, so stdout can carry events."""
    print(f"[producer] {line}", file=sys.stderr, flush=True)


def ledger_path(settings: Settings, started: datetime) -> Path:
    """Where the ledger goes: --ledger, else a timestamped file in the ledger directory."""
    if settings.run.ledger_path:
        return Path(settings.run.ledger_path)
    folder = Path(settings.run.ledger_dir)
    folder = folder if folder.is_absolute() else ROOT / folder
    return folder / f"producer-{started:%Y%m%dT%H%M%SZ}-seed{settings.run.seed}.json"


def warm_up_ms(settings: Settings) -> int:
    """Realtime: how much simulated time before the start to run unsent (0 in backfill).

    Bounded to about WARM_UP_MAX_EVENTS events, so a high --rate still starts within seconds.
    """
    if settings.run.mode != "realtime":
        return 0
    bound_s = WARM_UP_MAX_EVENTS / settings.traffic.rate
    return int(min(settings.run.warm_up_s, bound_s) * 1000)


def produce(settings: Settings, clock: Clock, now_ms: int) -> tuple[RunResult, dict[str, Any]]:
    """Run once with these settings; return the result and the ledger record."""
    start_ms, end_ms = time_range(settings, now_ms)
    started = datetime.now(UTC)
    warm_ms = warm_up_ms(settings)
    sim = Simulator(
        settings.behavior,
        settings.traffic,
        settings.run.seed,
        start_ms,
        end_ms,
        settings.run.events,
        warm_ms,
    )
    faults = FaultInjector(settings.faults, settings.run.seed) if settings.faults.enabled else None
    sink = open_sink(settings.output, report)
    if isinstance(sink, KafkaSink) and (problem := sink.check()):
        report(problem)
    report(
        f"{settings.run.mode} to {sink.name}: seed {settings.run.seed}, "
        f"rate {settings.traffic.rate:g} events/s, from {format_ms(start_ms)}"
        + (f" to {format_ms(end_ms)}" if end_ms else "")
        + (f", {settings.run.events:,} events" if settings.run.events is not None else "")
        + (
            f", warm start (sessions of the {warm_ms / 60_000:g} min before under way)"
            if warm_ms
            else ""
        )
    )
    runner = Runner(
        sim,
        sink,
        clock,
        report,
        realtime=settings.run.mode == "realtime",
        faults=faults,
        duration_s=settings.run.duration_s,
        progress_s=settings.run.progress_s,
    )

    def on_signal(signum: int, _frame: object) -> None:
        if runner.stop.is_set():
            report(f"{signal.Signals(signum).name} again: giving up on unconfirmed messages")
            runner.abort.set()
            return
        report(f"{signal.Signals(signum).name}: stopping, flushing what is in flight")
        runner.stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = runner.run()
    finally:
        sink.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    finished = datetime.now(UTC)
    record = {
        "ledger_version": 1,
        "run": {
            "mode": settings.run.mode,
            "seed": settings.run.seed,
            "output": sink.name,
            "topic": settings.output.topic if settings.output.kind == "kafka" else None,
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": finished.isoformat(timespec="seconds"),
            "wall_seconds": round(result.wall_s, 3),
            "messages_per_second": round(result.rate, 1),
            "stopped_by": result.stopped_by,
            "first_event_time": format_ms(result.first_event_ms) if result.first_event_ms else None,
            "last_event_time": format_ms(result.last_event_ms) if result.last_event_ms else None,
        },
        **result.tally.summary(),
        "delivery": result_record(result, sink),
        "errors": result.errors,
        "settings": settings.to_dict(),
    }
    return result, record


def summary_lines(record: dict[str, Any]) -> list[str]:
    """The end-of-run summary, from the ledger record."""
    ev, faults, d, run = record["events"], record["faults"], record["delivery"], record["run"]
    return [
        f"done ({run['stopped_by']}): {ev['total']:,} events (page_view {ev['page_view']:,}, "
        f"add_to_cart {ev['add_to_cart']:,}, purchase {ev['purchase']:,}), "
        f"{record['sessions']:,} sessions, {record['orders']:,} orders, "
        f"revenue {record['revenue']}",
        f"faults: {faults['duplicates']:,} duplicates, {faults['late']:,} late, "
        f"{faults['malformed']:,} malformed; {record['messages_sent']:,} messages sent, "
        f"{d['delivered']:,} delivered, {d['resent']:,} re-sent, {d['undelivered']:,} undelivered",
        f"{run['wall_seconds']:,.1f} s at {run['messages_per_second']:,.0f} messages/s",
    ]


def main(argv: list[str] | None = None) -> int:
    """Parse, build settings, run, write the ledger; return the exit code."""
    clock = WallClock()
    try:
        args = cli.parser().parse_args(argv)
        seed = SystemRandom().getrandbits(31)
        settings = cli.build_settings(args, load_env(), seed, now_ms=int(clock.now() * 1000))
        if args.print_config:
            print(json.dumps(settings.to_dict(), indent=2))
            return 0
        if args.profile:
            from producer import profile

            return profile.print_profile(settings)
        started = datetime.now(UTC)
        result, record = produce(settings, clock, int(clock.now() * 1000))
    except ConfigError as exc:
        report(f"configuration error: {exc}")
        return 2
    except PublishError as exc:
        report(f"error: {exc}")
        return 1
    path = write_ledger(ledger_path(settings, started), record)
    for line in summary_lines(record):
        report(line)
    report(f"ledger: {path}")
    for error in result.errors:
        report(f"error: {error}")
    return 1 if result.errors or result.undelivered else 0


if __name__ == "__main__":
    sys.exit(main())
