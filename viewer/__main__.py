"""`python -m viewer`: serve the provisioned dashboards in a browser, on Grafana's URL.

It listens on http://127.0.0.1:3000 (Grafana's address), or on DASHBOARD_PORT when 3000 is
taken, and reads PostgreSQL as the read-only role. Stop it with Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from infra.env import ROOT, ConfigError, load_env, require
from infra.settings import PostgresTarget
from infra.version import add_version
from viewer.app import Dashboards, ViewerApp, home_uid
from viewer.model import DashboardError
from viewer.query import Reader

DEFAULT_PORT = 3000
DASHBOARDS = ROOT / "config" / "grafana" / "dashboards"


class ViewerError(RuntimeError):
    """The view cannot start: the message says why and what to do."""


@dataclass(frozen=True)
class ViewerSettings:
    """Everything the view needs, read once from the environment and the flags."""

    db: PostgresTarget
    host: str
    port: int | None
    fallback_port: int
    dashboards: Path
    statement_timeout_ms: int
    home: str

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        schema: str | None = None,
        host: str | None = None,
        port: int | None = None,
        dashboards: Path | None = None,
    ) -> ViewerSettings:
        """Build the settings; flags win over DASHBOARD_* and POSTGRES_* settings."""
        if schema:
            env = {**env, "POSTGRES_SCHEMA": schema}
        fallback = require(env, "DASHBOARD_PORT", "3001")
        timeout = require(env, "DASHBOARD_QUERY_TIMEOUT_MS", "10000")
        for key, raw in (("DASHBOARD_PORT", fallback), ("DASHBOARD_QUERY_TIMEOUT_MS", timeout)):
            if not raw.isdigit() or int(raw) <= 0:
                raise ConfigError(f"{key}={raw!r} must be a positive whole number")
        if int(fallback) >= 65536:
            raise ConfigError(
                f"DASHBOARD_PORT={fallback!r} is not a TCP port; try DASHBOARD_PORT=3001"
            )
        return cls(
            db=PostgresTarget.from_env(env, reader=True),
            host=host or require(env, "DASHBOARD_HOST", "127.0.0.1"),
            port=port,
            fallback_port=int(fallback),
            dashboards=dashboards or DASHBOARDS,
            statement_timeout_ms=int(timeout),
            home=require(env, "DASHBOARD_HOME", "clickstream-overview"),
        )


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port and we may bind it."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def choose_port(settings: ViewerSettings) -> int:
    """Return --port if given; else 3000, or DASHBOARD_PORT when 3000 is taken."""
    if settings.port is not None:
        if not port_free(settings.host, settings.port):
            raise ViewerError(
                f"port {settings.port} on {settings.host} is taken; choose another --port"
            )
        return settings.port
    for port in (DEFAULT_PORT, settings.fallback_port):
        if port_free(settings.host, port):
            return port
    raise ViewerError(
        f"ports {DEFAULT_PORT} and {settings.fallback_port} on {settings.host} are taken: "
        "set DASHBOARD_PORT to a free port, or pass --port"
    )


def _port_arg(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)")
    return int(text)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse flags, build settings, serve until Ctrl-C; errors become one line."""
    parser = add_version(argparse.ArgumentParser(prog="python -m viewer", description=__doc__))
    parser.add_argument("--host", help="address to listen on (default DASHBOARD_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=_port_arg, help="port (default 3000, else DASHBOARD_PORT)")
    parser.add_argument("--schema", help="schema to read (default POSTGRES_SCHEMA)")
    parser.add_argument(
        "--dashboards", type=Path, help=f"folder of dashboard JSON files (default {DASHBOARDS})"
    )
    parser.add_argument("--threads", type=int, default=8, help="request threads (default 8)")
    args = parser.parse_args(argv)
    if not 0 < args.threads <= 64:
        parser.error("--threads must be between 1 and 64")
    try:
        settings = ViewerSettings.from_env(
            load_env(), args.schema, args.host, args.port, args.dashboards
        )
        dashboards = Dashboards(settings.dashboards)
        port = choose_port(settings)
    except (ConfigError, DashboardError, ViewerError) as exc:
        print(f"viewer: {exc}", file=sys.stderr)
        return 1
    from waitress.server import create_server

    app = ViewerApp(dashboards, Reader(settings.db, settings.statement_timeout_ms), settings.home)
    try:
        server = create_server(app.dash.server, host=settings.host, port=port, threads=args.threads)
    except OSError as exc:
        print(f"viewer: cannot listen on {settings.host}:{port} ({exc})", file=sys.stderr)
        return 1
    first = home_uid(dashboards.get(), settings.home)
    print(
        f"viewer: dashboards at http://{settings.host}:{port}/d/{first} "
        f"(schema {settings.db.schema}, as {settings.db.user}); Ctrl-C stops",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    print("viewer: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
