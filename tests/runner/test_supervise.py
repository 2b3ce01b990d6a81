"""The supervisor stops children with SIGTERM, and kills only those that ignore it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from runner.supervise import Child, first_exited, stop_all

GRACEFUL = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\nprint('RE' + 'ADY', flush=True)\ntime.sleep(60)"  # noqa: E501
STUBBORN = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('RE' + 'ADY', flush=True)\ntime.sleep(60)"  # noqa: E501


def _started(child: Child, tmp_path: Path) -> Child:
    child.start({"PATH": "/usr/bin:/bin"}, tmp_path)
    deadline = time.monotonic() + 10
    while "READY" not in child.log_tail().splitlines() and time.monotonic() < deadline:
        time.sleep(0.05)
    return child


def test_sigterm_stops_a_graceful_child_with_its_own_exit_code(tmp_path: Path) -> None:
    child = _started(Child("ok", [sys.executable, "-c", GRACEFUL], tmp_path / "ok.log"), tmp_path)
    assert first_exited([child]) is None
    messages: list[str] = []
    assert stop_all([child], messages.append) == {"ok": 0}
    assert "SIGTERM" in messages[0]
    assert "==> " in (tmp_path / "ok.log").read_text()


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", STUBBORN]
    child = _started(Child("stubborn", cmd, tmp_path / "s.log", grace_seconds=0.5), tmp_path)
    began = time.monotonic()
    assert child.stop() == -9
    assert time.monotonic() - began < 5


def test_an_exited_child_is_reported(tmp_path: Path) -> None:
    child = Child("quick", [sys.executable, "-c", "print('bye')"], tmp_path / "q.log")
    child.start({}, tmp_path)
    assert child.process is not None
    child.process.wait(timeout=10)
    assert first_exited([child]) is child
    assert child.stop() == 0
