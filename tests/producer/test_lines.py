"""JSON lines to stdout or a file: a run cut short counts exactly the lines that got out.

Cut by a closed pipe (`| head -n 5`), a full disk, or SIGTERM (with a reader that keeps up, or
one that is stuck), the ledger equals a recount of the output actually written: events by
type, sessions, users, orders, revenue, and the injected duplicates, late and malformed
messages. Nothing here needs Kafka.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from producer.clock import ManualClock, parse_instant
from producer.config import BehaviorSettings, FaultSettings, TrafficSettings
from producer.data_generator import Simulator
from producer.faults import FaultInjector
from producer.publish import LinesSink
from producer.run import Runner
from tests.producer.proc import Producer
from tests.producer.recount import from_ledger, late_texts, recount, valid_lines

START, SEED, RATE = "2025-05-05", 6, 50.0
FAULTS = FaultSettings(duplicates=0.05, late=0.2, malformed=0.03, max_lateness_s=120)
FAULT_FLAGS = ["--duplicates", "0.05", "--late", "0.2", "--malformed", "0.03"]
FAULT_FLAGS += ["--max-lateness", "2m"]


class Budget:
    """A writer that takes `limit` bytes (in pieces of at most `piece`), then fails."""

    def __init__(self, limit: int, error: OSError, piece: int = 70_000) -> None:
        self.limit, self.error, self.piece = limit, error, piece
        self.data = bytearray()

    def __call__(self, _fd: int, view: memoryview) -> int:
        room = min(self.limit - len(self.data), self.piece, len(view))
        if room <= 0:
            raise self.error
        self.data += view[:room]
        return room

    def whole_lines(self) -> list[str]:
        text = self.data.decode()
        return text.split("\n")[:-1]  # the part after the last newline is a torn line


def cut_run(limit: int, error: OSError) -> tuple[Budget, LinesSink, dict, str]:
    """A backfill with faults into a writer that fails after `limit` bytes."""
    start = parse_instant(START)
    sim = Simulator(BehaviorSettings(), TrafficSettings(rate=RATE), SEED, start, None, 30_000)
    writer = Budget(limit, error)
    sink = LinesSink(-1, "test output", owned=False, write=writer)
    runner = Runner(
        sim, sink, ManualClock(), lambda _: None, realtime=False, faults=FaultInjector(FAULTS, SEED)
    )
    result = runner.run()
    record = {**result.tally.summary(), "delivery": sink.stats}
    return writer, sink, record, result.stopped_by


def check_against_output(lines: list[str], record: dict) -> None:
    late = late_texts(SEED, START, RATE, FAULTS, wanted=valid_lines(lines))
    assert from_ledger(record) == recount(lines, late)


@pytest.mark.parametrize("limit", [0, 1, 300, 70_000, 1_000_001, 3_333_333, 9_000_000])
def test_a_closed_pipe_mid_batch_counts_exactly_the_whole_lines(limit: int) -> None:
    writer, sink, record, stopped_by = cut_run(limit, BrokenPipeError(errno.EPIPE, "closed"))
    assert stopped_by == "output closed"
    lines = writer.whole_lines()
    check_against_output(lines, record)
    assert sink.stats.delivered == len(lines) == record["messages_sent"]
    assert sink.stats.torn_bytes == len(writer.data) - len("".join(f"{x}\n" for x in lines))


def test_a_full_disk_is_an_error_and_counts_what_was_written() -> None:
    writer, _, record, stopped_by = cut_run(2_000_000, OSError(errno.ENOSPC, "No space left"))
    assert stopped_by == "error"
    check_against_output(writer.whole_lines(), record)


def read_lines(stream: socket.socket | object, count: int) -> bytes:
    """Read from a socket or pipe until `count` newlines have arrived."""
    data = b""
    while data.count(b"\n") < count:
        chunk = stream.recv(65536) if isinstance(stream, socket.socket) else os.read(stream, 65536)
        assert chunk, data[-500:]
        data += chunk
    return data


def read_rest(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 1 << 20):
        data += chunk
    return data


def stdout_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--mode", "backfill", "--start", START, "--days", "30", "--rate", f"{RATE:g}",
        "--seed", str(SEED), "--output", "-", "--ledger", str(tmp_path / "ledger.json"),
        "--progress", "0", *FAULT_FLAGS, *extra,
    ]  # fmt: skip


def ledger(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "ledger.json").read_text())


def whole_lines(data: bytes) -> list[str]:
    return data.decode().split("\n")[:-1]


def test_head_closing_the_pipe_ends_the_run_with_a_ledger(tmp_path: Path) -> None:
    """`--output - | head -n 5`: the reader goes away; exit 0, the ledger says so."""
    producer = Producer(stdout_args(tmp_path), stdout=subprocess.PIPE)
    stdout = producer.process.stdout
    assert stdout is not None
    first = [stdout.readline() for _ in range(5)]
    stdout.close()
    code, _ = producer.finish(timeout_s=20)
    assert code == 0
    record = ledger(tmp_path)
    assert record["run"]["stopped_by"] == "output closed"
    assert record["messages_sent"] == record["delivery"]["delivered"] >= 5
    faults = record["faults"]
    assert (
        record["events"]["total"] + faults["duplicates"] + faults["malformed"]
        == (record["messages_sent"])
    )
    assert all(json.loads(line)["event_id"] for line in first if line.endswith("}\n"))
    assert "the reader closed the output" in producer.lines[-1] and "exit 0" in producer.lines[-1]


def test_a_reader_that_stops_reading_gets_exactly_what_the_ledger_says(tmp_path: Path) -> None:
    """Like head, but on a socket whose unread data stays readable after the reader shuts
    its side: so everything the producer wrote can be recounted."""
    ours, theirs = socket.socketpair()
    producer = Producer(stdout_args(tmp_path), stdout=theirs)
    theirs.close()
    data = read_lines(ours, 5)
    ours.shutdown(socket.SHUT_RD)  # from now on the producer's writes fail (EPIPE)
    code, _ = producer.finish(timeout_s=20)
    data += read_rest(ours.fileno())
    ours.close()
    assert code == 0
    record = ledger(tmp_path)
    assert record["run"]["stopped_by"] == "output closed"
    check_against_output(whole_lines(data), record)


@pytest.mark.parametrize("reader", ["keeps reading", "is stuck"])
def test_sigterm_on_stdout_leaves_a_ledger_equal_to_the_output(reader: str, tmp_path: Path) -> None:
    producer = Producer(stdout_args(tmp_path, "--stop-timeout", "1s"), stdout=subprocess.PIPE)
    stdout = producer.process.stdout
    assert stdout is not None
    fd = stdout.fileno()
    data = read_lines(fd, 300)  # the producer now waits on a full pipe, mid-batch
    sent_at = producer.signal()
    if reader == "keeps reading":
        data += read_rest(fd)
    code, exited_at = producer.finish(timeout_s=20)
    assert exited_at - sent_at < 5.0
    data += read_rest(fd)
    assert code == 0
    record = ledger(tmp_path)
    assert record["run"]["stopped_by"] == "signal"
    lines = whole_lines(data)
    check_against_output(lines, record)
    torn = len(data) - len("".join(f"{x}\n" for x in lines))
    assert record["delivery"]["torn_bytes"] == torn
    if reader == "keeps reading":
        assert torn == 0  # the batch under way was finished, and the held faults sent


def test_sigterm_on_a_jsonl_file_leaves_a_ledger_equal_to_the_file(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    argv = stdout_args(tmp_path, "--progress", "0.2s")
    argv[argv.index("--output") + 1] = f"jsonl:{out}"
    producer = Producer(argv)
    producer.wait_for("sent (")
    producer.signal()
    code, _ = producer.finish(timeout_s=20)
    assert code == 0
    record = ledger(tmp_path)
    assert record["run"]["stopped_by"] == "signal"
    check_against_output(out.read_text().splitlines(), record)


def test_a_stop_on_stdout_restores_the_descriptor(tmp_path: Path) -> None:
    """The lines sink writes a pipe without blocking; the pipe is blocking again afterwards."""
    read, write = os.pipe()
    try:
        sink = LinesSink(write, "pipe", owned=False)
        assert not os.get_blocking(write)
        sink.close()
        assert os.get_blocking(write)
    finally:
        os.close(read)
        os.close(write)
