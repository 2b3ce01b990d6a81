"""Entry point: `python -m producer.producer` (or ./start_producer.sh) runs the producer.

Parses flags, builds one frozen Settings from defaults < .env.example < .env < environment <
config file < flags, runs simulator -> faults -> sink, and writes the JSON ledger.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from random import SystemRandom
from typing import Any

from infra.env import LOCAL, ROOT, ConfigError, load_env
from infra.owner_only import private_dir, restrict_umask
from producer import cli
from producer.cli import time_range
from producer.clock import Clock, WallClock, format_ms
from producer.config import Settings, config_schema
from producer.data_generator import Simulator
from producer.faults import FaultInjector
from producer.kafka_sink import KafkaSink
from producer.ledger import write_ledger
from producer.publish import PublishError, open_sink
from producer.run import Progress, Runner, RunResult, result_record
from producer.shards import for_shard, parse_shard, shard_seed
from producer.stopping import StopControl, handle_signals
from producer.truth import truth

WARM_UP_MAX_EVENTS = 1_500_000  # a few seconds of generation (or history) before realtime
EXIT_OK, EXIT_ERROR, EXIT_CONFIG, EXIT_UNDELIVERED = 0, 1, 2, 3


def report(line: str) -> None:
    """Progress and notices go to stderr, so stdout can carry events.

    Written straight to the descriptor: stderr may share a pipe with stdout that the lines
    sink made non-blocking, and a closed stderr must not end the run.
    """
    text = f"[producer] {line}\n"
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a test harness, or closed
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(text)
            sys.stderr.flush()
        return
    data = memoryview(text.encode())
    for _ in range(50):  # a full pipe gets up to ~1 s
        try:
            data = data[os.write(fd, data) :]
        except BlockingIOError:
            time.sleep(0.02)
            continue
        except OSError:
            return
        if not data:
            return


def ledger_path(settings: Settings, started: datetime) -> Path:
    """Where the ledger goes: --ledger, else a timestamped file in the ledger directory."""
    if settings.run.ledger_path:
        return Path(settings.run.ledger_path)
    folder = Path(settings.run.ledger_dir)
    folder = folder if folder.is_absolute() else ROOT / folder
    index, count = parse_shard(settings.run.shard)
    shard = f"-shard{index}of{count}" if count > 1 else ""
    return folder / f"producer-{started:%Y%m%dT%H%M%SZ}-seed{settings.run.seed}{shard}.json"


def warm_up_ms(settings: Settings) -> int:
    """Realtime: how much simulated time before the start to run first (0 in backfill).

    Bounded to about WARM_UP_MAX_EVENTS events, so a high --rate still starts within seconds.
    """
    if settings.run.mode != "realtime":
        return 0
    bound_s = WARM_UP_MAX_EVENTS / settings.traffic.rate
    return int(min(settings.run.warm_up_s, bound_s) * 1000)


def simulator(
    settings: Settings, seed: int, start_ms: int, end_ms: int | None, warm_ms: int
) -> Simulator:
    """The run's simulator; a warm start either sends its span first or only simulates it.

    `send`: the stream simply starts `warm_ms` earlier, so the realtime runner hands the span
    over at once (its times have passed) and paces from the start on; the dashboards get that
    much history and every session under way at the start has its earlier events downstream.
    `simulate`: the span runs unsent, and the sessions under way are flagged at the start.
    """
    origin_ms = start_ms  # the scenarios' windows count from the run's start
    if settings.run.warm_up_mode == "send":
        start_ms, warm_ms = start_ms - warm_ms, 0
    index, count = parse_shard(settings.run.shard)
    shard = for_shard(settings)
    return Simulator(
        shard.behavior,
        shard.traffic,
        shard_seed(seed, index, count),
        start_ms,
        end_ms,
        shard.run.events,
        warm_ms,
        catalog_seed=seed if count > 1 else None,
        scenarios=settings.run.scenarios,
        origin_ms=origin_ms,
    )


def fault_injector(settings: Settings, seed: int) -> FaultInjector | None:
    """The run's fault injector (None when no fault is asked for), seeded like its shard."""
    if not settings.faults.enabled:
        return None
    return FaultInjector(settings.faults, shard_seed(seed, *parse_shard(settings.run.shard)))


def warm_start_note(settings: Settings, warm_ms: int) -> str:
    """What the start line says about the warm start ("" for a cold start)."""
    if not warm_ms:
        return ""
    minutes = f"{warm_ms / 60_000:g} min"
    if settings.run.warm_up_mode == "send":
        return f", warm start: sending the last {minutes} as history first"
    return f", warm start (sessions of the {minutes} before under way, unsent)"


def produce(
    settings: Settings,
    clock: Clock,
    now_ms: int,
    stop: StopControl | None = None,
    say: Callable[[str], None] = report,
    on_progress: Callable[[Progress], None] | None = None,
) -> tuple[RunResult, dict[str, Any]]:
    """Run once with these settings; return the result and the ledger record. Lines go to
    `say`; with `on_progress`, progress goes there as figures instead of lines."""
    seed = settings.run.seed
    if seed is None:  # the entry point draws one; without it the run could not be repeated
        raise ConfigError("the seed must be a whole number, for example --seed 42")
    stop = stop or StopControl(clock, settings.run.stop_timeout_s)
    start_ms, end_ms = time_range(settings, now_ms)
    started = datetime.now(UTC)
    warm_ms = warm_up_ms(settings)
    sim = simulator(settings, seed, start_ms, end_ms, warm_ms)
    faults = fault_injector(settings, seed)
    sink = open_sink(settings.output, say, stop)
    try:
        if isinstance(sink, KafkaSink) and (problem := sink.check()):
            say(problem)
        say(
            f"{settings.run.mode} to {sink.name}: seed {settings.run.seed}, "
            + (f"shard {settings.run.shard} at " if parse_shard(settings.run.shard)[1] > 1 else "")
            + f"rate {sim.rate:g} events/s, from {format_ms(start_ms)}"
            + (f" to {format_ms(end_ms)}" if end_ms else "")
            + (f", {settings.run.events:,} events" if settings.run.events is not None else "")
            + warm_start_note(settings, warm_ms)
        )
        runner = Runner(
            sim,
            sink,
            clock,
            say,
            realtime=settings.run.mode == "realtime",
            faults=faults,
            duration_s=settings.run.duration_s,
            progress_s=settings.run.progress_s,
            stop=stop,
            on_progress=on_progress,
        )
        result = runner.run()
    finally:
        sink.close()
    finished = datetime.now(UTC)
    record = {
        "ledger_version": 1,
        "run": {
            "mode": settings.run.mode,
            "seed": settings.run.seed,
            "shard": settings.run.shard,
            "output": sink.name,
            "topic": settings.output.topic if settings.output.kind == "kafka" else None,
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": finished.isoformat(timespec="seconds"),
            "wall_seconds": round(result.wall_s, 3),
            "messages_per_second": round(result.rate, 1),
            "stopped_by": result.stopped_by,
            "signal": result.signal,
            "exit_code": exit_code(result),
            "first_event_time": format_ms(result.first_event_ms) if result.first_event_ms else None,
            "last_event_time": format_ms(result.last_event_ms) if result.last_event_ms else None,
        },
        **result.tally.summary(),
        **({"scenarios": truth(sim.plan, result.tally)} if sim.plan is not None else {}),
        "delivery": result_record(result, sink),
        "errors": result.errors,
        "settings": settings.to_dict(),
    }
    return result, record


def exit_code(result: RunResult) -> int:
    """0 all delivered, 1 an error stopped the run, 3 messages were left unconfirmed."""
    if result.errors:
        return EXIT_ERROR
    return EXIT_UNDELIVERED if result.undelivered else EXIT_OK


def summary_lines(record: dict[str, Any]) -> list[str]:
    """The end-of-run summary, from the ledger record."""
    ev, faults, d, run = record["events"], record["faults"], record["delivery"], record["run"]
    return [
        f"done ({run['stopped_by']}): {ev['total']:,} events delivered (page_view "
        f"{ev['page_view']:,}, add_to_cart {ev['add_to_cart']:,}, purchase {ev['purchase']:,}), "
        f"{record['sessions']:,} sessions, {record['orders']:,} orders, "
        f"revenue {record['revenue']}",
        f"faults delivered: {faults['duplicates']:,} duplicates, {faults['late']:,} late, "
        f"{faults['malformed']:,} malformed; {d['handed_over']:,} messages sent, "
        f"{d['delivered']:,} delivered, {d['resent']:,} re-sent, {d['failed']:,} failed, "
        f"{d['queued']:,} never confirmed",
        f"{run['wall_seconds']:,.1f} s at {run['messages_per_second']:,.0f} messages/s",
    ]


WHY = {
    "events": "finished (--events reached)",
    "days": "finished (end of the simulated time)",
    "duration": "finished (--duration reached)",
    "output closed": "stopped: the reader closed the output",
    "error": "failed",
}
MEANING = {
    EXIT_OK: "everything sent was delivered",
    EXIT_ERROR: "an error stopped the run",
    EXIT_UNDELIVERED: "messages were left unconfirmed",
}


def verdict(record: dict[str, Any], path: Path | None) -> str:
    """The one line that says what happened: why it ended, what got out, exit code, ledger.

    `path` is None when writing the ledger failed.
    """
    run, d = record["run"], record["delivery"]
    why = WHY.get(run["stopped_by"]) or f"stopped by {run['signal'] or 'a stop request'}"
    line = f"{why}: {d['delivered']:,} of {d['handed_over']:,} messages delivered"
    if d["undelivered"]:
        line += (
            f", {d['failed']:,} failed, {d['queued']:,} never confirmed "
            "(is Kafka running? ./start_infrastructure.sh; the ledger counts only what got out)"
        )
    if d["torn_bytes"]:
        line += f", the last line was cut after {d['torn_bytes']:,} bytes"
    if path is None:  # main returns EXIT_ERROR: the run's own code would be a false claim
        return f"{line}; exit {EXIT_ERROR} (the ledger could not be written); no ledger"
    code = run["exit_code"]
    return f"{line}; exit {code} ({MEANING[code]}); ledger: {path}"


def main(argv: list[str] | None = None) -> int:
    """Parse, build settings, run, write the ledger; return the exit code."""
    clock = WallClock()
    try:
        args = cli.parser().parse_args(argv)
        if args.config_schema:
            sys.stdout.write(config_schema())
            return EXIT_OK
        seed = SystemRandom().getrandbits(31)
        settings = cli.build_settings(args, load_env(), seed, now_ms=int(clock.now() * 1000))
        if args.print_config:
            print(json.dumps(settings.to_dict(), indent=2))
            return EXIT_OK
        if args.show_settings:
            print(settings.describe())
            return EXIT_OK
        if args.profile:
            from producer import profile

            return profile.print_profile(settings)
        started = datetime.now(UTC)
        path = ledger_path(settings, started)
        check_writable(path)
        if settings.run.workers > 1:
            from producer.workers import worker_settings

            worker_settings(settings, 1, settings.run.workers)  # the output suits workers
    except ConfigError as exc:
        report(f"configuration error: {exc}")
        return EXIT_CONFIG
    if settings.run.workers > 1:
        return _main_workers(settings, path, int(clock.now() * 1000))
    stop = StopControl(clock, settings.run.stop_timeout_s)
    restore = handle_signals(stop, report)  # until the ledger is written: a stop never loses it
    try:
        try:
            result, record = produce(settings, clock, int(clock.now() * 1000), stop)
        except ConfigError as exc:
            report(f"configuration error: {exc}")
            return EXIT_CONFIG
        except PublishError as exc:
            report(f"error: {exc}")
            return EXIT_ERROR
        return finish(record, result.errors, path)
    finally:
        restore()


def _main_workers(settings: Settings, path: Path, now_ms: int) -> int:
    """--workers N: run the workers, write their merged ledger; return the exit code."""
    from producer.workers import run_workers

    record, failures = run_workers(settings, settings.run.workers, now_ms, report)
    for failure in failures:
        report(failure)
    if record is None:
        report("no worker left a ledger: nothing is known to have been delivered")
        return EXIT_ERROR
    code = finish(record, record["errors"], path)
    return EXIT_ERROR if failures else code


def finish(record: dict[str, Any], errors: list[str], path: Path) -> int:
    """Print the summary and the errors, write the ledger; return the run's exit code."""
    for line in summary_lines(record):
        report(line)
    for error in errors:
        report(f"error: {error}")
    try:
        write_ledger(path, record)
    except OSError as exc:
        report(f"error: cannot write the ledger {path}: {exc.strerror or exc}")
        report(verdict(record, None))
        return EXIT_ERROR
    report(verdict(record, path))
    return int(record["run"]["exit_code"])


def check_writable(path: Path) -> None:
    """Fail at start, not after the run, when the ledger cannot be written.

    A new folder is made owner-only; one under .local/ (the default) is made so if it was not.
    """
    try:
        if path.parent.resolve().is_relative_to(LOCAL.resolve()):
            private_dir(path.parent)
        else:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--ledger / PRODUCER_LEDGER_DIR: cannot create {path.parent} ({exc.strerror}); "
            "for example --ledger /tmp/ledger.json"
        ) from None
    if not os.access(path.parent, os.W_OK):
        raise ConfigError(
            f"--ledger / PRODUCER_LEDGER_DIR: {path.parent} is not writable; "
            "for example --ledger /tmp/ledger.json"
        )


if __name__ == "__main__":
    restrict_umask()  # the ledger and --output files are the user's alone
    sys.exit(main())
