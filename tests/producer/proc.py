"""Run the producer as a subprocess for stop tests: a closed Kafka port, stderr read as it comes.

"Broker down" is a bootstrap address on a loopback port nobody listens on: bound, then closed.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from infra.env import ROOT


def closed_port() -> int:
    """A loopback port that refuses connections (bound to find a free one, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SilentBroker:
    """A loopback port that accepts connections and never answers: a broker that hangs.

    The kernel completes the handshakes (listen backlog); nothing is ever read or written, so
    the client sees a connection, sends its first request and waits.
    """

    def __enter__(self) -> int:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        return self._socket.getsockname()[1]

    def __exit__(self, *_: object) -> None:
        self._socket.close()


class Producer:
    """`python -m producer.producer ARGS` with its stderr lines collected by a thread."""

    def __init__(self, argv: list[str], stdout: Any = subprocess.DEVNULL) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCER_", "KAFKA_"))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "producer.producer", *argv],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        assert self.process.stderr is not None
        threading.Thread(target=self._read, args=(self.process.stderr,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout_s: float = 20.0) -> str:
        """Block until a stderr line containing `text` appears; return it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self.process.poll() is not None and self._queue.empty():
                    break
                continue
            self.lines.append(line)
            if text in line:
                return line
        self.kill()
        raise AssertionError(f"no line with {text!r} within {timeout_s} s: {self.lines}")

    def signal(self, sig: signal.Signals = signal.SIGTERM) -> float:
        """Send a signal; return when (monotonic seconds)."""
        self.process.send_signal(sig)
        return time.monotonic()

    def finish(self, timeout_s: float) -> tuple[int, float]:
        """Wait for the exit (killing it after `timeout_s`); return exit code and exit time."""
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running after {timeout_s} s: {self.lines}") from None
        at = time.monotonic()
        time.sleep(0.05)
        while not self._queue.empty():
            self.lines.append(self._queue.get())
        return code, at

    def kill(self) -> None:
        """End the process at once (tests that fail must not leave it behind)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def kafka_args(tmp_path: Path, *extra: str, port: int | None = None) -> list[str]:
    """A backfill into a Kafka that is not there (or at `port`), with a ledger in `tmp_path`."""
    return [
        "--mode", "backfill", "--start", "2025-05-05", "--days", "30", "--seed", "4",
        "--bootstrap-servers", f"127.0.0.1:{port or closed_port()}", "--topic", "stop.test",
        "--ledger", str(tmp_path / "ledger.json"), "--progress", "0.2s", *extra,
    ]  # fmt: skip
