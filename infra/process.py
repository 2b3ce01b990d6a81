"""Background services by pid file: start detached, check alive, stop gracefully then firmly.

A pid file holds the pid and the process's start time, so a pid reused by another program after
the service ended (or after a reboot) is never taken for the service, and never signalled.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from infra.owner_only import UMASK, append_private, private_dir, write_private

PROC = Path("/proc")


def start_time(pid: int, proc: Path = PROC) -> str | None:
    """When `pid` started (field 22 of /proc/<pid>/stat); None if it is gone or a zombie."""
    try:
        # The command name (field 2) may hold spaces and ")": the fields start after the last ")".
        fields = (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if len(fields) < 20 or fields[0] == "Z":  # fields[0] is field 3, the state
        return None
    return fields[19]


def read_pid(pidfile: Path, marker: str | None = None, proc: Path = PROC) -> int | None:
    """Pid recorded in `pidfile` if that very process is still alive, else None.

    The pidfile holds the pid and its start time: the same pid with another start time is a
    program that got the number later (after a reboot, say). An old one-number pidfile cannot
    be checked that way, so it counts only when `marker` is in the process's command line.
    """
    try:
        recorded = pidfile.read_text().split()
        pid = int(recorded[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    started = start_time(pid, proc)
    if started is None:
        return None
    if len(recorded) > 1:
        return pid if recorded[1] == started else None
    try:
        cmdline = (proc / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, UnicodeDecodeError):
        return None
    return pid if marker and marker in cmdline else None


def start_detached(
    cmd: Sequence[str],
    log: Path,
    pidfile: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start `cmd` in its own session with output appended to `log`; record and return its pid.

    The log, the pid file, their folders and whatever the process creates are owner-only.
    """
    private_dir(log.parent)
    private_dir(pidfile.parent)
    with append_private(log) as out:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            umask=UMASK,
        )
    # A process that is gone already gets a start time no process has: its pid is never trusted.
    write_private(pidfile, f"{proc.pid} {start_time(proc.pid) or 'exited'}\n")
    return proc.pid


def stop_pid(pidfile: Path, timeout: float = 30.0, marker: str | None = None) -> bool:
    """SIGTERM the recorded process, SIGKILL it after `timeout`; True if one was running.

    Only a process `read_pid` vouches for is signalled; a pidfile naming any other is removed.
    """
    pid = read_pid(pidfile, marker)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and read_pid(pidfile, marker) is not None:
        time.sleep(0.2)
    if read_pid(pidfile, marker) is not None:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    pidfile.unlink(missing_ok=True)
    return True


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], object], timeout: float, interval: float = 0.5) -> bool:
    """Poll `check()` until it returns truthy or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
