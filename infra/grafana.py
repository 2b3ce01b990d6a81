"""Native Grafana, started only when a Grafana server binary is installed on this machine."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from infra.owner_only import private_dir
from infra.process import port_open, read_pid, start_detached, stop_pid, wait_until
from infra.settings import InfraSettings

HOMEPATHS = ("/usr/share/grafana", "/opt/grafana", "/usr/local/share/grafana")


def grafana_binary() -> list[str] | None:
    """Command that runs a Grafana server here, or None when none is installed."""
    if shutil.which("grafana"):
        return ["grafana", "server"]
    if shutil.which("grafana-server"):
        return ["grafana-server"]
    return None


class GrafanaNative:
    """A Grafana server with our provisioning and its state under `.local/grafana`."""

    def __init__(self, settings: InfraSettings) -> None:
        self.s = settings
        self.home = settings.local / "grafana"
        self.pidfile = settings.local / "run" / "grafana.pid"
        self.log = settings.local / "logs" / "grafana.log"
        # What an old one-number pidfile's process must run to count as our Grafana.
        self.marker = "grafana"

    def running(self) -> bool:
        """True when our Grafana process is alive."""
        return read_pid(self.pidfile, self.marker) is not None

    def start(self) -> bool | None:
        """Start Grafana if installed; None when no binary exists, else True if started now."""
        binary = grafana_binary()
        if binary is None:
            return None
        if self.running():
            return False
        s = self.s
        config = s.root / "config" / "grafana"
        homepath = next((p for p in HOMEPATHS if Path(p).is_dir()), None)
        env = dict(
            os.environ,
            GF_PATHS_DATA=str(self.home / "data"),
            GF_PATHS_LOGS=str(self.home / "logs"),
            GF_PATHS_PLUGINS=str(self.home / "plugins"),
            GF_PATHS_PROVISIONING=str(config / "provisioning"),
            GRAFANA_DASHBOARDS_DIR=str(config / "dashboards"),
            GF_SERVER_HTTP_ADDR="127.0.0.1",
            GF_SERVER_HTTP_PORT=str(s.grafana_port),
            GF_SECURITY_ADMIN_USER=s.grafana_admin_user,
            GF_SECURITY_ADMIN_PASSWORD=s.grafana_admin_password,
            GF_AUTH_ANONYMOUS_ENABLED="false",
            GF_ANALYTICS_REPORTING_ENABLED="false",
            GF_ANALYTICS_CHECK_FOR_UPDATES="false",
            POSTGRES_HOST=s.pg_host,
            POSTGRES_PORT=str(s.pg_port),
            POSTGRES_DB=s.pg_db,
            POSTGRES_READONLY_USER=s.pg_reader,
            POSTGRES_READONLY_PASSWORD=s.pg_reader_password,
        )
        cmd = [
            *binary,
            f"--config={config / 'grafana.ini'}",
            *([f"--homepath={homepath}"] if homepath else []),
        ]
        private_dir(self.home)  # grafana.db holds the admin's password hash
        start_detached(cmd, self.log, self.pidfile, env=env, cwd=self.home.parent)
        wait_until(lambda: port_open("127.0.0.1", s.grafana_port), 60)
        return True

    def stop(self) -> bool:
        """Stop Grafana by pid; True if it was running."""
        return stop_pid(self.pidfile, marker=self.marker)
