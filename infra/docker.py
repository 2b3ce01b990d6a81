"""Docker mode as seen from the host: is it in use here, and which Compose services run.

Docker mode is in use when a Docker engine answers and this project's containers exist (the
rule stop_infrastructure.sh follows too); `python -m infra status` then reports the Compose
services instead of the native ones. The `run` argument is the seam tests replace.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.env import ROOT
from infra.settings import InfraSettings

Run = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]

# Kafka and PostgreSQL are what the producer, the processor and verify need.
ESSENTIAL = ("kafka", "postgres")


def _run(argv: Sequence[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=10, cwd=cwd)


def _output(argv: Sequence[str], run: Run) -> str | None:
    """Stdout of a successful command; None when docker is missing, fails or hangs."""
    try:
        done = run(argv)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def compose_in_use(run: Run = _run) -> bool:
    """True when a Docker engine answers and the project has containers (running or not)."""
    if _output(["docker", "info"], run) is None:
        return False
    return bool((_output(["docker", "compose", "ps", "--all", "--quiet"], run) or "").strip())


def compose_env(env: Mapping[str, str], uid: int, gid: int) -> dict[str, str]:
    """What docker-compose.yml interpolates but cannot derive: Kafka's port, the producer's user.

    Compose reads .env and the shell only, and cannot take a port out of KAFKA_BOOTSTRAP_SERVERS.
    """
    return {
        "KAFKA_PORT": str(InfraSettings.from_env(env).kafka_port),  # checks KAFKA_PORT agrees
        "DOCKER_UID": (env.get("DOCKER_UID") or "").strip() or str(uid),
        "DOCKER_GID": (env.get("DOCKER_GID") or "").strip() or str(gid),
    }


@dataclass(frozen=True)
class ServiceState:
    """One row of `docker compose ps`: a container of a Compose service."""

    service: str
    state: str  # running, exited, restarting, ...
    health: str  # healthy, unhealthy, starting, or "" without a healthcheck
    ports: str

    @property
    def up(self) -> bool:
        """Running, and healthy when the service has a healthcheck."""
        return self.state == "running" and self.health in ("", "healthy")


def parse_ps(text: str) -> list[ServiceState]:
    """Parse `docker compose ps --format json`: JSON lines, or one array (older Compose)."""
    stripped = text.strip()
    if not stripped:
        return []
    rows: list[dict[str, Any]] = (
        json.loads(stripped)
        if stripped.startswith("[")
        else [json.loads(line) for line in stripped.splitlines() if line.strip()]
    )
    return [
        ServiceState(
            service=str(row.get("Service") or row.get("Name") or "?"),
            state=str(row.get("State") or "").lower(),
            health=str(row.get("Health") or "").lower(),
            ports=", ".join(
                f"{p['URL']}:{p['PublishedPort']}"
                for p in row.get("Publishers") or []
                if p.get("PublishedPort")
            ),
        )
        for row in rows
    ]


def compose_status(run: Run = _run) -> list[ServiceState] | None:
    """The project's containers, stopped ones too; None when Compose cannot be asked."""
    text = _output(["docker", "compose", "ps", "--all", "--format", "json"], run)
    if text is None:
        return None
    try:
        return parse_ps(text)
    except (ValueError, KeyError, TypeError):
        return None


def print_status(rows: list[ServiceState], emit: Callable[[str], None] = print) -> bool:
    """Print each Compose service as up or down; True when Kafka and PostgreSQL are up."""
    emit("Docker mode (docker compose ps):")
    for row in sorted(rows, key=lambda r: r.service):
        state = row.state + (f" ({row.health})" if row.health else "")
        emit(f"{row.service:<13} {'up' if row.up else 'down':<5} {state:<20} {row.ports}")
    up = {row.service for row in rows if row.up}
    for name in ESSENTIAL:
        if name not in {row.service for row in rows}:
            emit(f"{name:<13} down  (no container: ./start_infrastructure.sh --docker)")
    return all(name in up for name in ESSENTIAL)
