"""`python -m runner`: run the producer and the processor, show where to look, stop on Ctrl-C.

run_pipeline.sh starts the infrastructure first, then hands over to this. Native mode runs both
as background processes with logs under .local/logs/; Docker mode starts their Compose services.
On a terminal the live view (processor.status) follows in the foreground until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from infra.docker import compose_env
from infra.env import LOCAL, ROOT, ConfigError, load_env
from infra.owner_only import private_dir, restrict_umask, write_private
from infra.version import add_version
from processor import status
from runner.drain import Backlog, backlog, processor_progress, topic_offsets, wait_for_catch_up
from runner.supervise import Child, Stopping, first_exited, raise_on_signals, stop_all

FIRST_BATCH_TIMEOUT = 240.0


def emit(text: str) -> None:
    """Print now; a closed stdout (a pipe whose reader quit) must not stop the shutdown."""
    with contextlib.suppress(OSError):  # BrokenPipeError is an OSError
        print(text, flush=True)


def say(text: str) -> None:
    """Print one progress line now."""
    emit(f"==> {text}")


def docker_engine_answers() -> bool:
    """True when a Docker engine answers (the same rule as start_infrastructure.sh)."""
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def batches_committed(settings: status.StatusSettings) -> int:
    """Return how many micro-batches the processor has committed (0 when unreadable yet)."""
    try:
        with status.connect(settings) as conn:
            row = conn.execute("SELECT count(*) FROM pipeline_batches").fetchone()
            return int(row[0]) if row else 0
    except status.StatusError:
        return 0


def where_to_look(
    env: Mapping[str, str],
    pg: status.StatusSettings,
    logs: Path | None,
    view_url: str | None = None,
) -> str:
    """Return the closing lines: the dashboards, psql, the live view, logs, how to stop."""
    port = int(env.get("GRAFANA_PORT") or 3000)
    if view_url:
        dashboards = f"Dashboards {view_url}  (browser view of the Grafana dashboards)"
    elif port_open("127.0.0.1", port):
        dashboards = (
            f"Grafana    http://127.0.0.1:{port}/d/clickstream-overview  (user "
            f"{env.get('GRAFANA_ADMIN_USER')}, password GRAFANA_ADMIN_PASSWORD in .env)"
        )
    else:
        dashboards = "Dashboards not running (start them with ./show_dashboards.sh)"
    lines = [
        "",
        "Where to look:",
        f"  {dashboards}",
        f"  psql       psql -h {pg.db.host} -p {pg.db.port} -U {pg.db.user} -d {pg.db.dbname}"
        "   (password POSTGRES_READONLY_PASSWORD in .env)",
        "  live view  ./show_metrics.sh",
    ]
    if logs:
        lines.append(f"  logs       {logs}/producer.log, {logs}/processor.log")
    lines.append(
        "Ctrl-C stops the producer, lets the processor catch up, then stops it "
        "(the infrastructure keeps running)."
    )
    return "\n".join(lines)


def live_view(pg: status.StatusSettings, children: list[Child], interval: float) -> None:
    """Redraw the status view until a signal arrives or a child exits."""
    previous = None
    clear = "\033[H\033[2J" if sys.stdout.isatty() else ""
    while first_exited(children) is None:
        try:
            with status.connect(pg) as conn:
                snap = status.read_snapshot(conn, pg.hours)
            screen = status.render(snap, previous, pg.where, interval)
            previous = snap
        except status.StatusError as exc:
            screen = f"live view: {exc}"
        emit(clear + screen + "\n(the pipeline stops with Ctrl-C)")
        time.sleep(interval)


def wait_for_first_batch(pg: status.StatusSettings, children: list[Child], before: int) -> bool:
    """Wait until the processor commits a batch beyond `before`; False if a child dies."""
    say("waiting for the first micro-batch (Spark takes 20-60 s to start) ...")
    began = time.monotonic()
    while time.monotonic() - began < FIRST_BATCH_TIMEOUT:
        if first_exited(children) is not None:
            return False
        if batches_committed(pg) > before:
            say(f"first micro-batch committed after {time.monotonic() - began:.0f} s")
            return True
        time.sleep(2)
    say(f"no micro-batch after {FIRST_BATCH_TIMEOUT:.0f} s; see the processor's log")
    return True


def claim_pidfile(path: Path) -> int | None:
    """Write our pid to `path`; return the pid of a live runner that already holds it, if any."""
    if path.is_file():
        try:
            other = int(path.read_text().strip())
            os.kill(other, 0)
            return other
        except (ValueError, ProcessLookupError, PermissionError):
            pass
    private_dir(path.parent)
    write_private(path, f"{os.getpid()}\n")
    return None


def start_dashboards(env: Mapping[str, str], logs: Path) -> tuple[Child | None, str | None]:
    """Start the browser view when no Grafana answers on GRAFANA_PORT; return it and its URL."""
    grafana = int(env.get("GRAFANA_PORT") or 3000)
    if port_open("127.0.0.1", grafana):
        return None, None
    child = Child("dashboards", [sys.executable, "-m", "viewer"], logs / "viewer.log", 10.0)
    child.start(env, ROOT)
    began, offset = time.monotonic(), child.log.stat().st_size if child.log.exists() else 0
    while time.monotonic() - began < 30 and child.exit_code() is None:
        with contextlib.suppress(OSError):
            text = child.log.read_bytes()[offset:].decode(errors="replace")
            for line in text.splitlines():
                if line.startswith("viewer: dashboards at "):
                    return child, line.split(" at ", 1)[1].split(" ", 1)[0]
        time.sleep(0.3)
    say(f"the browser view did not start; last lines of {child.log}:")
    emit(child.log_tail(5))
    child.stop()
    return None, None


def drain(env: Mapping[str, str], pg: status.StatusSettings, processor: Child, bound: float) -> str:
    """After the producer stopped: wait (bounded) until the processor has read what it sent."""
    topic = env.get("KAFKA_TOPIC") or "clickstream.raw"
    bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS") or "127.0.0.1:9092"

    def read() -> Backlog:
        starts, ends = topic_offsets(bootstrap, topic)
        with status.connect(pg) as conn:
            progress = processor_progress(conn, topic)
        return backlog(ends, progress, starts)

    return wait_for_catch_up(read, lambda: processor.exit_code() is None, bound, say)


def run_native(
    env: dict[str, str], pg: status.StatusSettings, view: bool, interval: float, drain_s: float
) -> int:
    """Start processor and producer as children; supervise them until Ctrl-C or a failure."""
    logs = LOCAL / "logs"
    pidfile = LOCAL / "run" / "pipeline.pid"
    other = claim_pidfile(pidfile)
    if other is not None:
        say(f"the pipeline already runs (runner pid {other}); stop it first: kill {other}")
        return 1
    python = sys.executable
    producer = Child("producer", [python, "-m", "producer.producer"], logs / "producer.log", 30.0)
    processor = Child(
        "processor", [python, "-m", "processor.streaming_processor"], logs / "processor.log", 90.0
    )
    children = [producer, processor]
    dashboards: Child | None = None
    restore = raise_on_signals()
    code = 1
    stopped_by_signal = False
    try:
        before = batches_committed(pg)
        for child in reversed(children):  # the processor first: Spark is the slow starter
            child.start(env, ROOT)
            say(f"{child.name} started (pid {child.pid}), log {child.log}")
        dashboards, url = start_dashboards(env, logs)
        if dashboards is not None:
            say(f"browser view started (pid {dashboards.pid}): {url}")
        if wait_for_first_batch(pg, children, before):
            emit(where_to_look(env, pg, logs, url))
            if view:
                time.sleep(1)
                live_view(pg, children, interval)
            while first_exited(children) is None:
                time.sleep(1)
        dead = first_exited(children)
        if dead is not None:
            say(f"{dead.name} exited with code {dead.exit_code()}; last lines of {dead.log}:")
            emit(dead.log_tail())
    except Stopping as why:
        emit("")
        say(f"{why}: stopping the pipeline (the producer first)")
        code = 0
        stopped_by_signal = True
    finally:
        # Always stop the children (they run in their own sessions, so nothing else will). The
        # producer stops first; then the processor reads what it delivered (a second Ctrl-C
        # skips that wait); each stop is bounded by its grace period and not interruptible.
        restore()
        ignore = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        codes = stop_all([producer], say)
        for sig, handler in ignore.items():
            signal.signal(sig, handler)
        if stopped_by_signal and processor.exit_code() is None and producer.process is not None:
            drain(env, pg, processor, drain_s)
        ignore = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        codes |= stop_all([processor, *([dashboards] if dashboards else [])], say)
        say(f"stopped: exit codes {codes}; the data stays in PostgreSQL")
        for sig, handler in ignore.items():
            signal.signal(sig, handler)
        pidfile.unlink(missing_ok=True)
    return code


def run_docker(env: dict[str, str], pg: status.StatusSettings, view: bool, interval: float) -> int:
    """Start the producer and processor services, then view or follow their logs."""
    compose = ["docker", "compose"]
    # What docker-compose.yml interpolates: Kafka's host port, the producer's uid for the ledgers.
    try:
        os.environ.update(compose_env(env, os.getuid(), os.getgid()))
    except ConfigError as exc:
        print(f"run_pipeline: {exc}", file=sys.stderr)
        return 1
    private_dir(LOCAL / "ledgers")
    say("docker compose up -d --build producer processor")
    subprocess.run([*compose, "up", "-d", "--build", "producer", "processor"], check=True)
    emit(where_to_look(env, pg, None))
    restore = raise_on_signals()
    try:
        if view:
            live_view(pg, [], interval)
        subprocess.run([*compose, "logs", "-f", "producer", "processor"])
        return 0
    except Stopping as why:
        say(f"{why}: docker compose stop producer processor")
        subprocess.run([*compose, "stop", "producer", "processor"], check=False)
        return 0
    finally:
        restore()


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse flags, build settings, run the pipeline in the detected mode."""
    parser = add_version(argparse.ArgumentParser(prog="./run_pipeline.sh", description=__doc__))
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--docker", action="store_true", help="use the Compose services")
    mode.add_argument("--native", action="store_true", help="run producer/processor here")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--view", dest="view", action="store_true", default=None,
                       help="show the live view (default on a terminal)")  # fmt: skip
    shown.add_argument("--no-view", dest="view", action="store_false",
                       help="only supervise; watch with ./show_metrics.sh elsewhere")  # fmt: skip
    parser.add_argument("--interval", type=float, default=5.0, help="live view refresh, seconds")
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="on Ctrl-C, wait up to this many seconds for the processor to read what the "
        "producer delivered (default 120; a second Ctrl-C skips the wait)",
    )
    args = parser.parse_args(argv)
    if not args.interval > 0:
        parser.error("--interval must be positive")
    if not 0 <= args.drain_timeout <= 3600:
        parser.error("--drain-timeout must be between 0 and 3600 seconds")
    view = sys.stdout.isatty() if args.view is None else args.view
    try:
        env = load_env()
        pg = status.StatusSettings.from_env(env, interval=args.interval)
    except ConfigError as exc:
        print(f"run_pipeline: {exc}", file=sys.stderr)
        return 1
    docker = args.docker or (not args.native and docker_engine_answers())
    if docker:
        return run_docker(env, pg, view, args.interval)
    return run_native(env, pg, view, args.interval, args.drain_timeout)


if __name__ == "__main__":
    restrict_umask()  # logs and pid file here, ledgers and checkpoints in the children
    sys.exit(main())
