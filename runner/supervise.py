"""Run the producer and the processor as background processes and stop them cleanly.

In: the commands to run and where their logs go. Out: running children, each in its own process
group so that Ctrl-C in the terminal reaches only this supervisor, which then sends SIGTERM to
each child, waits for it to flush and commit, and kills it only after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infra.owner_only import append_private, private_dir


@dataclass
class Child:
    """One supervised process: its name, command, log file, grace period and Popen handle."""

    name: str
    command: Sequence[str]
    log: Path
    grace_seconds: float = 30.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, env: Mapping[str, str], cwd: Path) -> None:
        """Start the process in its own session, appending stdout and stderr to the log."""
        private_dir(self.log.parent)
        with append_private(self.log) as out:
            out.write(f"\n==> {time.strftime('%F %T')} {' '.join(self.command)}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                list(self.command),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        """Return the child's pid once started."""
        return self.process.pid if self.process else None

    def exit_code(self) -> int | None:
        """Return the exit code, or None while running (or never started)."""
        return self.process.poll() if self.process else None

    def stop(self) -> int | None:
        """SIGTERM, wait up to the grace period, then SIGKILL; return the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.exit_code()
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=self.grace_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()

    def log_tail(self, lines: int = 15) -> str:
        """Return the last lines of the child's log."""
        if not self.log.is_file():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class Stopping(Exception):
    """Raised in the main thread when SIGINT or SIGTERM arrives."""


def raise_on_signals() -> Callable[[], None]:
    """Turn SIGINT and SIGTERM into `Stopping`; return a function that restores the handlers."""

    def handler(signum: int, _frame: object) -> None:
        raise Stopping(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def stop_all(children: Sequence[Child], say: Callable[[str], None]) -> dict[str, int | None]:
    """Stop children in order (producer first, so the processor drains what was sent)."""
    codes = {}
    for child in children:
        if child.exit_code() is None and child.process is not None:
            say(
                f"stopping {child.name} (pid {child.pid}, SIGTERM, up to {child.grace_seconds:g} s)"
            )
        codes[child.name] = child.stop()
    return codes


def first_exited(children: Sequence[Child]) -> Child | None:
    """Return a child that has exited, if any."""
    return next((c for c in children if c.exit_code() is not None), None)
