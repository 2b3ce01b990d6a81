"""The runner's edges: one pipeline at a time, and the closing lines say where to look."""

from __future__ import annotations

import os
from pathlib import Path

from infra.settings import PostgresTarget
from processor.status import StatusSettings
from runner.__main__ import claim_pidfile, where_to_look

PG = StatusSettings(
    PostgresTarget("127.0.0.1", 5432, "clickstream", "grafana_reader", "secret-pw", "analytics")
)


def test_pidfile_is_claimed_once_and_stale_ones_are_taken_over(tmp_path: Path) -> None:
    pidfile = tmp_path / "run" / "pipeline.pid"
    assert claim_pidfile(pidfile) is None
    assert pidfile.read_text().strip() == str(os.getpid())
    assert claim_pidfile(pidfile) == os.getpid()  # a live runner holds it
    pidfile.write_text("999999999\n")  # no such process
    assert claim_pidfile(pidfile) is None


def test_where_to_look_names_psql_live_view_and_logs_without_the_password(tmp_path: Path) -> None:
    env = {"GRAFANA_PORT": "1", "GRAFANA_ADMIN_USER": "admin"}
    text = where_to_look(env, PG, tmp_path)
    assert "psql -h 127.0.0.1 -p 5432 -U grafana_reader -d clickstream" in text
    assert "./show_metrics.sh" in text and f"{tmp_path}/processor.log" in text
    assert "Dashboards not running (start them with ./show_dashboards.sh)" in text
    assert "secret-pw" not in text
    shown = where_to_look(env, PG, tmp_path, "http://127.0.0.1:3000/d/clickstream-overview")
    assert "Dashboards http://127.0.0.1:3000/d/clickstream-overview" in shown
