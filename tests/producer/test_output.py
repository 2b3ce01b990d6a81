"""JSON-lines and stdout output, the ledger that describes them, and the paced realtime loop."""

from __future__ import annotations

import gc
import json
import signal
from collections import Counter
from decimal import Decimal
from pathlib import Path

from producer.behavior import Event
from producer.clock import ManualClock, parse_instant
from producer.config import BehaviorSettings, FaultSettings, TrafficSettings
from producer.data_generator import Simulator
from producer.faults import FaultInjector
from producer.ledger import Tally
from producer.producer import main
from producer.publish import Delivery
from producer.run import Runner


def test_jsonl_file_and_ledger_agree(tmp_path: Path) -> None:
    out, ledger = tmp_path / "events.jsonl", tmp_path / "ledger.json"
    argv = ["--mode", "backfill", "--start", "2025-05-05", "--events", "8000", "--seed", "3"]
    argv += ["--output", f"jsonl:{out}", "--ledger", str(ledger), "--duplicates", "0.01"]
    assert main([*argv, "--malformed", "0.01", "--late", "0.01", "--progress", "0"]) == 0
    record = json.loads(ledger.read_text())
    lines = out.read_text().splitlines()
    assert len(lines) == record["messages_sent"] == record["delivery"]["delivered"]
    valid: dict[str, dict] = {}
    malformed = 0
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            malformed += 1
            continue
        if (
            event.get("event_type") not in ("page_view", "add_to_cart", "purchase")
            or any(k not in event for k in ("user_id", "session_id", "timestamp", "page_url"))
            or not isinstance(event.get("price") or 0, float | int)
            or not isinstance(event.get("quantity") or 0, int)
            or not event["timestamp"].endswith("Z")
        ):
            malformed += 1
        else:
            valid[event["event_id"]] = event
    assert malformed == record["faults"]["malformed"]
    assert len(valid) == record["events"]["total"] == 8000
    assert len(lines) - malformed - len(valid) == record["faults"]["duplicates"]
    by_type = Counter(e["event_type"] for e in valid.values())
    assert {k: by_type[k] for k in ("page_view", "add_to_cart", "purchase")} == {
        k: record["events"][k] for k in ("page_view", "add_to_cart", "purchase")
    }
    assert len({e["session_id"] for e in valid.values()}) == record["sessions"]
    assert len({e["user_id"] for e in valid.values()}) == record["users"]
    assert len({e["order_id"] for e in valid.values() if e["order_id"]}) == record["orders"]
    revenue = sum(Decimal(str(e["price"])) * e["quantity"] for e in valid.values() if e["order_id"])
    assert str(revenue) == record["revenue"]
    assert record["run"]["stopped_by"] == "events" and record["errors"] == []


def test_stdout_output(capsys, tmp_path: Path) -> None:
    argv = ["--mode", "backfill", "--events", "25", "--output", "-", "--seed", "1"]
    assert main([*argv, "--ledger", str(tmp_path / "l.json")]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 25 and all(json.loads(x)["event_id"] for x in lines)
    assert "ledger:" in captured.err and "done (events)" in captured.err


class ListSink:
    """An in-memory sink recording when (on the manual clock) each message was sent."""

    name = "list"

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.stats = Delivery()
        self.lost = Tally()
        self.sent: list[tuple[float, Event]] = []

    def send(self, batch: list[Event]) -> int:
        self.sent += [(self.clock.now(), e) for e in batch]
        self.stats.sent += len(batch)
        self.stats.delivered += len(batch)
        return len(batch)

    def poll(self) -> None:
        pass

    def flush(self, timeout_s: float) -> int:
        return 0

    def settle(self) -> None:
        pass

    def close(self) -> None:
        pass


def realtime(duration_s: float | None, events: int | None) -> tuple[ListSink, Runner]:
    start = parse_instant("2025-05-05T12:00:00Z")
    clock = ManualClock(start / 1000)
    sim = Simulator(BehaviorSettings(), TrafficSettings(rate=20, flat=True), 8, start, None, events)
    sink = ListSink(clock)
    lines: list[str] = []
    runner = Runner(sim, sink, clock, lines.append, realtime=True, duration_s=duration_s)
    return sink, runner


def test_realtime_sends_each_event_at_its_time_and_keeps_the_rate() -> None:
    sink, runner = realtime(duration_s=600, events=None)
    result = runner.run()
    assert result.stopped_by == "duration"
    for sent_at, event in sink.sent:
        assert event[0] <= sent_at * 1000 < event[0] + 250
    rate = len(sink.sent) / 600
    # 20/s once sessions are under way; a cold start ramps up first, over minutes (sessions last
    # up to half an hour: p90 10 min, as Coveo's)
    assert 10 < rate < 24


def test_realtime_stops_on_request_and_on_event_count() -> None:
    sink, runner = realtime(duration_s=None, events=50)
    assert runner.run().stopped_by == "events" and len(sink.sent) == 50
    sink, runner = realtime(duration_s=None, events=None)
    send = sink.send

    def send_then_stop(batch: list[Event]) -> int:  # a stop request arrives mid-run
        taken = send(batch)
        if len(sink.sent) > 100:
            runner.stop.set()
        return taken

    sink.send = send_then_stop  # type: ignore[method-assign]
    result = runner.run()
    assert result.stopped_by == "signal" and result.tally.messages == len(sink.sent) > 0


def test_main_puts_the_signal_handlers_back(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    argv = ["--mode", "backfill", "--events", "5", "--output", "jsonl:/dev/null"]
    assert main([*argv, "--ledger", str(tmp_path / "l.json")]) == 0
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_backfill_run_pauses_the_collector_and_leaves_no_cycles() -> None:
    start = parse_instant("2025-05-05")
    clock = ManualClock(start / 1000)
    sim = Simulator(BehaviorSettings(), TrafficSettings(rate=50), 2, start, None, 30_000)
    faults = FaultInjector(FaultSettings(duplicates=0.05, late=0.05, malformed=0.05), 2)
    sink = ListSink(clock)
    runner = Runner(sim, sink, clock, lambda _: None, realtime=False, faults=faults)
    gc.collect()
    assert gc.isenabled()
    assert runner.run().tally.messages == len(sink.sent) > 30_000
    assert gc.isenabled()  # restored
    assert gc.collect() == 0  # nothing the paused collector should have found
