"""Pid files: a pid that now belongs to another program is never signalled; ours still stops."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.process import read_pid, start_detached, start_time, stop_pid


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A live process this project did not start through start_detached."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def test_start_time_is_field_22_even_when_the_name_holds_brackets(tmp_path: Path) -> None:
    (tmp_path / "7").mkdir()
    rest = " ".join(str(n) for n in range(4, 22))  # fields 4 to 21
    (tmp_path / "7" / "stat").write_text(f"7 (a) (b c) S {rest} 98765 4096 12\n")
    assert start_time(7, tmp_path) == "98765"
    (tmp_path / "7" / "stat").write_text(f"7 (a) Z {rest} 98765 4096 12\n")
    assert start_time(7, tmp_path) is None  # a zombie is gone
    assert start_time(8, tmp_path) is None


def test_a_pid_with_another_start_time_is_left_alive_and_its_pidfile_removed(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    started = start_time(stranger.pid)
    assert started is not None
    pidfile = tmp_path / "kafka.pid"
    pidfile.write_text(f"{stranger.pid} {int(started) + 1}\n")
    assert read_pid(pidfile) is None
    assert stop_pid(pidfile, timeout=1) is False
    assert stranger.poll() is None
    assert not pidfile.exists()


def test_an_old_one_number_pidfile_counts_only_with_the_services_marker(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    pidfile = tmp_path / "kafka.pid"
    pidfile.write_text(f"{stranger.pid}\n")
    assert read_pid(pidfile) is None  # nothing to check it by
    assert read_pid(pidfile, marker="sleep") == stranger.pid
    assert stop_pid(pidfile, timeout=1, marker="kafka.Kafka") is False
    assert stranger.poll() is None
    assert not pidfile.exists()


def test_start_detached_records_the_start_time_and_stop_pid_stops_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "run" / "svc.pid"
    pid = start_detached(["sleep", "60"], tmp_path / "logs" / "svc.log", pidfile)
    assert pidfile.read_text().split() == [str(pid), start_time(pid)]
    assert read_pid(pidfile) == pid
    assert stop_pid(pidfile, timeout=10) is True
    assert start_time(pid) is None  # gone or a zombie waiting for its parent
    assert not pidfile.exists()
    assert stop_pid(pidfile) is False
