"""Sinks: where serialised events go: Kafka (producer.kafka_sink), a JSON-lines file, stdout,
or Parquet files (producer.parquet_sink).

In: batches of `(event_ms, code, json_text, session_id, cents)`. A sink takes a prefix of each
batch (all of it, unless a stop or a failure cuts it short) and says how much it took; what it
took and could not deliver it counts in `lost`, by code, so the ledger counts what got out.
"""

from __future__ import annotations

import os
import select
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TextIO

from producer.behavior import TEXT, Event
from producer.clock import WallClock
from producer.config import OutputSettings
from producer.ledger import Tally
from producer.stopping import StopControl

Report = Callable[[str], None]
Write = Callable[[int, memoryview], int]


class PublishError(RuntimeError):
    """The sink cannot go on (a fatal Kafka error, or the output failed).

    `taken` is how many messages of the batch being sent got out before it failed.
    """

    def __init__(self, message: str, taken: int = 0) -> None:
        super().__init__(message)
        self.taken = taken


class OutputClosed(PublishError):
    """The reader closed the pipe (`| head -n 5`): a normal way for a run to end."""


@dataclass
class Delivery:
    """What the sink did with what it took: each message ends delivered, failed or queued."""

    sent: int = 0  # messages taken from the run (a re-send is not counted again)
    delivered: int = 0  # confirmed: a successful delivery report, or written whole
    failed: int = 0  # failed for good: a failed delivery report when the run gave up
    queued: int = 0  # never confirmed: still queued or in flight when the run gave up
    failed_reports: int = 0  # every failed delivery report, re-sent ones included
    resent: int = 0
    in_flight: int = 0  # taken, not yet confirmed or failed for good
    torn_bytes: int = 0  # lines sinks: bytes of a last line that got out only in part

    @property
    def undelivered(self) -> int:
        """Failed for good or never confirmed."""
        return self.failed + self.queued


class Sink(Protocol):
    """The one seam between the simulation and transport."""

    name: str
    stats: Delivery
    lost: Tally  # what the sink took and could not deliver, by code

    def send(self, batch: list[Event]) -> int:
        """Take a batch; return how many (a prefix) were taken: fewer only on a stop request.

        Blocks only while the sink has no room. Raises PublishError (with `taken`) on failure.
        """
        ...

    def poll(self) -> None:
        """Serve delivery reports."""
        ...

    def flush(self, timeout_s: float) -> int:
        """Wait up to `timeout_s` (less once a stop expires); return how many are unconfirmed."""
        ...

    def settle(self) -> None:
        """Give up on whatever is unconfirmed, counting it as queued or failed, and in `lost`."""
        ...

    def close(self) -> None:
        """Release the sink."""
        ...


class LinesSink:
    """JSON lines to a file, a pipe or stdout, written straight to the file descriptor.

    Only whole lines count: when a write is cut short (the reader closed the pipe, the disk is
    full, or a stop ran out of time while the reader was stuck), the lines that got out are
    taken and the rest of the batch is not. Pipes and sockets are written without blocking,
    so a stop is noticed while the reader is slow.
    """

    def __init__(
        self,
        fd: int,
        name: str,
        owned: bool,
        stop: StopControl | None = None,
        write: Write = os.write,
    ) -> None:
        self.name = name
        self.stats = Delivery()
        self.lost = Tally()  # stays empty: only what got out is taken
        self._fd, self._owned, self._write = fd, owned, write
        self._stop = stop or StopControl(WallClock())
        mode = os.fstat(fd).st_mode if fd >= 0 else 0
        self._was_blocking = os.get_blocking(fd) if fd >= 0 else True
        self._waits = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
        if self._waits:
            os.set_blocking(fd, False)  # put back in close()
            self._poll = select.poll()
            self._poll.register(fd, select.POLLOUT)

    def send(self, batch: list[Event]) -> int:
        """Write the batch as lines; return how many lines got out whole."""
        if not batch:
            return 0
        data = ("\n".join([e[TEXT] for e in batch]) + "\n").encode()
        written, error = self._write_all(data)
        if written == len(data):
            taken = len(batch)
        else:  # event texts hold no raw newline (JSON escapes it), so lines are countable
            taken = data.count(b"\n", 0, written)
            self.stats.torn_bytes = written - (data.rfind(b"\n", 0, written) + 1)
        self.stats.sent += taken
        self.stats.delivered += taken
        if isinstance(error, BrokenPipeError):
            raise OutputClosed(f"{self.name} was closed by the reader", taken)
        if error is not None:
            raise PublishError(
                f"cannot write {self.name}: {error.strerror or error}; free some space or "
                "choose another --output (the ledger lists what was written)",
                taken,
            )
        return taken

    def _write_all(self, data: bytes) -> tuple[int, OSError | None]:
        """Write as much of `data` as goes out; stop waiting when a stop request expires."""
        view, done = memoryview(data), 0
        while done < len(view):
            try:
                done += self._write(self._fd, view[done:])
            except BlockingIOError:
                if self._stop.expired():
                    break
                self._poll.poll(200)
            except OSError as exc:
                return done, exc
        return done, None

    def poll(self) -> None:
        """Nothing to serve for files."""

    def flush(self, timeout_s: float) -> int:
        """Nothing is buffered: every send went straight to the descriptor."""
        return 0

    def settle(self) -> None:
        """Nothing is ever unconfirmed."""

    def close(self) -> None:
        """Put the descriptor back as it was; close it unless it is stdout."""
        if self._waits:
            os.set_blocking(self._fd, self._was_blocking)
        if self._owned:
            os.close(self._fd)


def _text_writer(stream: TextIO) -> Write:
    def write(_fd: int, data: memoryview) -> int:
        stream.write(bytes(data).decode())
        stream.flush()
        return len(data)

    return write


def open_sink(output: OutputSettings, report: Report, stop: StopControl | None = None) -> Sink:
    """The sink named by the output settings; `stop` lets its waits end on a stop request."""
    if output.kind == "kafka":
        from producer.kafka_sink import KafkaSink

        return KafkaSink(output, report, stop)
    if output.kind == "parquet":
        from producer.parquet_sink import ParquetSink

        return ParquetSink(output.path)
    if output.kind == "stdout":
        if sys.stdout is None:
            raise PublishError("stdout is closed: give --output jsonl:PATH, or open stdout")
        sys.stdout.flush()  # nothing may sit in Python's buffer ahead of the events
        try:
            return LinesSink(sys.stdout.fileno(), "stdout", owned=False, stop=stop)
        except (OSError, ValueError):  # stdout replaced by a stream (an embedding program)
            return LinesSink(-1, "stdout", owned=False, stop=stop, write=_text_writer(sys.stdout))
    try:
        fd = os.open(output.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    except OSError as exc:
        raise PublishError(
            f"cannot write {output.path}: {exc.strerror}; choose a writable path, "
            "for example --output jsonl:/tmp/events.jsonl"
        ) from None
    return LinesSink(fd, f"file {output.path}", owned=True, stop=stop)
