"""`--workers N`: N producer processes on one machine, one shard each, as one run.

The parent starts N processes (spawned, so each has its own Kafka client and interpreter). Worker
w of N is shard ((I-1)·N + w)/(M·N) of a run given `--shard I/M` (1/1 by default), so workers on
several machines still make disjoint parts. The parent prints one progress line for all of them,
turns Ctrl-C or SIGTERM into a stop of every worker (a second one gives up waiting, as for one
process), and writes one ledger: the workers' counts added up, with each worker's own record
under `workers`.

Outputs: Kafka as given; `jsonl:PATH` becomes one file per worker (`events.w1.jsonl`, …);
`parquet:DIR` one Hive partition per worker (`DIR/worker=1/event_date=…/`); stdout is refused
(the lines of N processes would interleave).
"""

from __future__ import annotations

import multiprocessing
import queue as queues
import signal
import threading
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any

from infra.env import ConfigError
from producer.clock import WallClock
from producer.config import Settings
from producer.publish import PublishError
from producer.run import Progress, progress_text
from producer.shards import parse_shard
from producer.stopping import Report, StopControl
from producer.truth import merge as merge_truth

# Ledger sections whose whole numbers add up over the workers.
SUMMED = ("events", "faults", "delivery")
TOTALS = ("sessions", "users", "orders", "revenue_cents", "messages_sent")


def worker_settings(settings: Settings, worker: int, workers: int) -> Settings:
    """The settings of worker `worker` (1-based) of `workers`: its shard and its own output."""
    index, count = parse_shard(settings.run.shard)
    shard = f"{(index - 1) * workers + worker}/{count * workers}"
    output = settings.output
    if output.kind == "stdout":
        raise ConfigError(
            "--workers writes from several processes: give --output kafka, jsonl:PATH (one file "
            "per worker) or parquet:DIR, not stdout"
        )
    if output.kind == "jsonl":
        path = Path(output.path)
        output = replace(output, path=str(path.with_name(f"{path.stem}.w{worker}{path.suffix}")))
    elif output.kind == "parquet":
        output = replace(output, path=str(Path(output.path) / f"worker={worker}"))
    run = replace(settings.run, shard=shard, workers=1, ledger_path="")
    return replace(settings, run=run, output=output)


def _worker(
    settings: Settings,
    worker: int,
    now_ms: int,
    out: multiprocessing.Queue[tuple[Any, ...]],
    stop_requested: Any,
    stop_aborted: Any,
    signal_number: Any,
) -> None:
    """One worker process: produce, with lines and progress sent to the parent."""
    from producer.producer import produce

    for sig in (signal.SIGINT, signal.SIGTERM):  # the parent decides, and tells every worker
        signal.signal(sig, signal.SIG_IGN)
    clock = WallClock()
    stop = StopControl(clock, settings.run.stop_timeout_s)

    def watch() -> None:
        stop_requested.wait()
        stop.request(signal.Signals(signal_number.value or signal.SIGTERM).name)
        stop_aborted.wait()
        stop.request()

    threading.Thread(target=watch, daemon=True).start()
    try:
        _, record = produce(
            settings,
            clock,
            now_ms,
            stop,
            say=lambda line: out.put(("line", worker, line)),
            on_progress=lambda figures: out.put(("progress", worker, figures)),
        )
    except ConfigError as exc:
        out.put(("failed", worker, f"configuration error: {exc}", 2))
    except PublishError as exc:
        out.put(("failed", worker, f"error: {exc}", 1))
    except Exception as exc:
        out.put(("failed", worker, f"error: {type(exc).__name__}: {exc}", 1))
    else:
        out.put(("done", worker, record))


def merge_records(records: list[dict[str, Any]], workers: int) -> dict[str, Any]:
    """One ledger for the workers' records: counts added up, each record kept under `workers`."""
    first = records[0]
    merged: dict[str, Any] = {"ledger_version": first["ledger_version"]}
    runs = [r["run"] for r in records]
    run = dict(runs[0])
    wall = max(r["wall_seconds"] for r in runs)
    stopped = {r["stopped_by"] for r in runs}
    run.update(
        shard=",".join(r["shard"] for r in runs),
        workers=workers,
        output=", ".join(r["output"] for r in runs),
        started_at=min(r["started_at"] for r in runs),
        finished_at=max(r["finished_at"] for r in runs),
        wall_seconds=wall,
        stopped_by=stopped.pop()
        if len(stopped) == 1
        else "signal"
        if "signal" in stopped
        else "error",
        signal=next((r["signal"] for r in runs if r["signal"]), None),
        exit_code=max(r["exit_code"] for r in runs),
        first_event_time=min(
            (r["first_event_time"] for r in runs if r["first_event_time"]), default=None
        ),
        last_event_time=max(
            (r["last_event_time"] for r in runs if r["last_event_time"]), default=None
        ),
    )
    merged["run"] = run
    for section in SUMMED:
        merged[section] = _sum([r[section] for r in records])
    for name in TOTALS:
        merged[name] = sum(r[name] for r in records)
    merged["revenue"] = str(Decimal(merged["revenue_cents"]) / 100)
    run["messages_per_second"] = round(merged["messages_sent"] / wall, 1) if wall else 0.0
    if "scenarios" in first:  # the ground truth's counts add up like the rest
        merged["scenarios"] = merge_truth([r["scenarios"] for r in records])
    merged["errors"] = [e for r in records for e in r["errors"]]
    merged["settings"] = first.get("settings")
    merged["workers"] = records
    return merged


def _sum(parts: list[Any]) -> Any:
    if isinstance(parts[0], dict):
        return {k: _sum([p[k] for p in parts]) for k in parts[0]}
    if all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        return sum(parts)
    return parts[0]


class _Progress:
    """The one progress line of all workers."""

    def __init__(self, workers: int, interval_s: float) -> None:
        self.latest: dict[int, Progress] = {}
        self.workers, self.interval_s = workers, interval_s
        self._next = time.monotonic() + interval_s
        self._last = (time.monotonic(), 0)
        self._started = time.monotonic()

    def line(self) -> str | None:
        now = time.monotonic()
        if self.interval_s <= 0 or now < self._next or not self.latest:
            return None
        self._next = now + self.interval_s
        figures = list(self.latest.values())
        known = [f.done for f in figures if f.done is not None]
        merged = Progress(
            messages=sum(f.messages for f in figures),
            delivered=sum(f.delivered for f in figures),
            in_flight=sum(f.in_flight for f in figures),
            held=sum(f.held for f in figures),
            event_ms=min(f.event_ms for f in figures),
            # The run is as far as its slowest worker, known once every worker has said.
            done=min(known) if len(known) == self.workers else None,
            lag_ms=max(f.lag_ms for f in figures),
        )
        t0, n0 = self._last
        rate = (merged.messages - n0) / (now - t0) if now > t0 else 0.0
        self._last = (now, merged.messages)
        return f"{self.workers} workers: " + progress_text(merged, rate, now - self._started)


def run_workers(
    settings: Settings, workers: int, now_ms: int, say: Report
) -> tuple[dict[str, Any] | None, list[str]]:
    """Run `workers` processes as one run; the merged ledger record (None if no worker left
    one) and the errors of workers that ended without their record."""
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[tuple[Any, ...]] = context.Queue()
    requested, aborted = context.Event(), context.Event()
    number = context.Value("i", 0)
    plan = [worker_settings(settings, w, workers) for w in range(1, workers + 1)]
    processes = [
        context.Process(
            target=_worker,
            args=(plan[w - 1], w, now_ms, out, requested, aborted, number),
            name=f"producer-worker-{w}",
        )
        for w in range(1, workers + 1)
    ]

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not requested.is_set():
            number.value = signum
            requested.set()
            say(
                f"{name}: stopping {workers} workers; waiting up to "
                f"{settings.run.stop_timeout_s:g} s for unconfirmed messages (stop again to "
                "give up at once)"
            )
        else:
            aborted.set()
            say(f"{name} again: giving up on unconfirmed messages, writing the ledger")

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    records: dict[int, dict[str, Any]] = {}
    failures: dict[int, str] = {}
    progress = _Progress(workers, settings.run.progress_s)
    try:
        for process in processes:
            process.start()
        while len(records) + len(failures) < workers:
            try:
                message = out.get(timeout=0.2)
            except queues.Empty:
                for w, process in enumerate(processes, start=1):
                    if not process.is_alive() and w not in records and w not in failures:
                        time.sleep(0.5)  # its last message may still be in the pipe
                        if out.empty():
                            failures[w] = f"worker {w} ended (exit code {process.exitcode}) "
                            failures[w] += "without its ledger: its messages are not counted"
                continue
            kind, w = message[0], message[1]
            if kind == "line":
                say(f"worker {w}: {message[2]}")
            elif kind == "progress":
                progress.latest[w] = message[2]
                if (line := progress.line()) is not None:
                    say(line)
            elif kind == "done":
                records[w] = message[2]
            else:
                failures[w] = f"worker {w}: {message[2]}"
        for process in processes:
            process.join(timeout=30)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for process in processes:
            if process.is_alive():
                process.kill()
    merged = merge_records([records[w] for w in sorted(records)], workers) if records else None
    return merged, [failures[w] for w in sorted(failures)]
