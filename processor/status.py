"""Live terminal view of the dashboard KPIs and pipeline health, read from PostgreSQL.

In: the tables the processor writes (dashboard_metrics, pipeline_batches, hourly_metrics), read as
the read-only role. Out: a table on the terminal, redrawn every few seconds, with each KPI's
change since the previous refresh; `--once` prints one snapshot and exits.
Usage: python -m processor.status [--once] [--interval 5] (or ./show_metrics.sh)
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from infra.env import ConfigError, load_env
from infra.settings import PostgresTarget
from infra.version import add_version
from processor.dashboard import KPIS as KPI_TABLE

# The terminal's format for each Grafana unit of the KPI table (processor/dashboard.py).
_KINDS = {"short": "int", "percentunit": "pct", "currencyUSD": "money", "s": "sec", "ms": "ms"}
# Known KPIs in display order: name -> (label, format). Others the processor adds follow them.
KPIS: dict[str, tuple[str, str]] = {
    k.name: (k.label, _KINDS.get(k.unit, "plain")) for k in KPI_TABLE if k.terminal
}
HIDDEN = {k.name for k in KPI_TABLE if not k.terminal}  # newest_event_epoch: in the heading

HEALTH_SQL = """
SELECT
  (SELECT count(*) FROM pipeline_batches) AS batches,
  (SELECT coalesce(sum(input_rows), 0) FROM pipeline_batches
     WHERE committed_at > now() - interval '60 seconds') AS input_60s,
  (SELECT coalesce(sum(duplicate_rows), 0) FROM pipeline_batches) AS duplicates,
  (SELECT max(committed_at) FROM pipeline_batches) AS last_commit,
  (SELECT duration_ms FROM pipeline_batches ORDER BY committed_at DESC LIMIT 1) AS last_duration,
  (SELECT max(max_event_time) FROM pipeline_batches) AS newest_event,
  (SELECT coalesce(sum(events), 0) FROM hourly_metrics) AS events_stored,
  now() AS db_now
"""
HOURS_SQL = """
SELECT window_start, events, unique_users, unique_sessions, orders, revenue, conversion_rate
FROM hourly_metrics ORDER BY window_start DESC LIMIT %s
"""


class StatusError(RuntimeError):
    """PostgreSQL cannot be read; the message says what to do next."""


@dataclass(frozen=True)
class StatusSettings:
    """Where to read from and how often; built once from the environment at the entry point."""

    db: PostgresTarget
    interval: float = 5.0
    hours: int = 6

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> StatusSettings:
        """Build settings from a `load_env()` mapping (the read-only role's credentials)."""
        given = {k: v for k, v in overrides.items() if v}
        if "schema" in given:
            env = {**env, "POSTGRES_SCHEMA": given.pop("schema")}
        return cls(db=PostgresTarget.from_env(env, reader=True), **given)

    @property
    def where(self) -> str:
        """Return `host:port/db as user` for messages."""
        return self.db.where


@dataclass(frozen=True)
class Snapshot:
    """One reading of the KPIs, the batch ledger and the newest hours."""

    kpis: dict[str, float | None]
    kpis_updated: datetime | None
    health: dict[str, Any]
    hours: list[tuple[Any, ...]]


def connect(settings: StatusSettings) -> psycopg.Connection[Any]:
    """Open a read-only session on the settings' schema, or raise StatusError with the remedy."""
    try:
        conn = psycopg.connect(
            settings.db.conninfo(connect_timeout=5, application_name="clickstream-status"),
            autocommit=True,
        )
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StatusError(
            f"PostgreSQL is not answering on {settings.where} ({first}): "
            "run ./start_infrastructure.sh"
        ) from None
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(settings.db.schema)))
    return conn


def read_snapshot(conn: psycopg.Connection[Any], hours: int = 6) -> Snapshot:
    """Read the KPIs, pipeline health and the newest hourly rows in one round of queries."""
    try:
        rows = conn.execute("SELECT metric_name, metric_value, updated_at FROM dashboard_metrics")
        metrics = rows.fetchall()
        cursor = conn.execute(HEALTH_SQL)
        names = [c.name for c in cursor.description or []]
        health = dict(zip(names, cursor.fetchone() or (), strict=True))
        hourly = conn.execute(HOURS_SQL, (hours,)).fetchall()
    except psycopg.errors.UndefinedTable as exc:
        raise StatusError(
            f"{exc.diag.message_primary}: the analytics schema is missing; "
            "run ./start_infrastructure.sh"
        ) from None
    except psycopg.OperationalError as exc:
        raise StatusError(f"lost the PostgreSQL connection ({exc}): is it still running?") from None
    return Snapshot(
        kpis={name: value for name, value, _ in metrics},
        kpis_updated=max((updated for _, _, updated in metrics), default=None),
        health=health,
        hours=hourly,
    )


def fmt(value: float | None, kind: str) -> str:
    """Format one value: int, pct (a 0-1 ratio), money, sec or plain."""
    if value is None:
        return "-"
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "money":
        return f"${value:,.2f}"
    if kind == "sec":
        return f"{value:,.1f} s"
    if kind == "ms":
        return f"{value:,.0f} ms"
    return f"{value:,.3g}"


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = max(0.0, (now - moment).total_seconds())
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def _change(now: float | None, before: float | None, kind: str) -> str:
    if now is None or before is None or now == before:
        return ""
    arrow = "▲" if now > before else "▼"
    delta = now - before
    text = fmt(abs(delta), kind if kind != "pct" else "pct")
    return f"{arrow} {text}"


def render(snap: Snapshot, previous: Snapshot | None, where: str, interval: float | None) -> str:
    """Return the whole screen for one snapshot, with changes against the previous one."""
    h = snap.health
    now: datetime = h.get("db_now") or datetime.now(UTC)
    title = f"Clickstream live view — {now:%Y-%m-%d %H:%M:%S %Z} — {where}"
    lines = [title, "=" * len(title)]
    if not snap.kpis and not h.get("batches"):
        lines += ["", "No data yet: start the pipeline with ./run_pipeline.sh (or the processor)."]
    epoch = snap.kpis.get("newest_event_epoch")
    newest = datetime.fromtimestamp(epoch, UTC) if epoch else h.get("newest_event")
    lines += ["", f"KPIs (newest event time {newest:%H:%M:%S} UTC)" if newest else "KPIs"]
    extra = sorted(n for n in snap.kpis if n not in KPIS and n not in HIDDEN)
    names = [n for n in KPIS if n in snap.kpis] + extra
    before = previous.kpis if previous else {}
    for name in names:
        label, kind = KPIS.get(name, (name, "plain"))
        value = snap.kpis[name]
        change = _change(value, before.get(name), kind)
        lines.append(f"  {label:<28}{fmt(value, kind):>14}  {change}".rstrip())
    rate = float(h.get("input_60s") or 0) / 60
    duration = h.get("last_duration")
    lines += [
        "",
        "Pipeline health",
        f"  {'Events in, last 60 s':<28}{rate:>12,.1f}/s",
        f"  {'Micro-batches committed':<28}{h.get('batches') or 0:>14,}",
        (
            f"  {'Last batch':<28}{_ago(h.get('last_commit'), now):>14}  "
            + (f"took {duration / 1000:.1f} s" if duration is not None else "")
        ).rstrip(),
        f"  {'Duplicates dropped':<28}{h.get('duplicates') or 0:>14,}",
        f"  {'Events in hourly totals':<28}{h.get('events_stored') or 0:>14,}",
        f"  {'KPIs updated':<28}{_ago(snap.kpis_updated, now):>14}",
    ]
    if snap.hours:
        lines += ["", "Hours (hourly_metrics)"]
        lines.append(
            f"  {'hour (UTC)':<17}{'events':>9}{'users':>8}{'sessions':>9}{'orders':>8}"
            f"{'revenue':>13}{'conv':>7}"
        )
        for start, events, users, sessions, orders, revenue, conversion in snap.hours:
            lines.append(
                f"  {start.astimezone(UTC):%Y-%m-%d %H:00}{events:>9,}{users:>8,}{sessions:>9,}"
                f"{orders:>8,}{fmt(float(revenue), 'money'):>13}{fmt(conversion, 'pct'):>7}"
            )
    footer = f"refreshing every {interval:g} s — Ctrl-C to quit" if interval else "one snapshot"
    lines += ["", footer]
    return "\n".join(lines)


def snapshot_json(snap: Snapshot) -> str:
    """One snapshot as a JSON object (`--json`): KPIs by name, the ledger's health, the hours."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat()
        if isinstance(value, Decimal):
            return float(value)
        return value

    columns = ("hour", "events", "users", "sessions", "orders", "revenue", "conversion")
    return json.dumps(
        {
            "kpis": snap.kpis,
            "kpis_updated": plain(snap.kpis_updated),
            "health": {k: plain(v) for k, v in snap.health.items()},
            "hours": [dict(zip(columns, map(plain, row), strict=True)) for row in snap.hours],
        }
    )


def run(settings: StatusSettings, once: bool, out: Any = sys.stdout, as_json: bool = False) -> int:
    """Print one snapshot, or redraw every `settings.interval` seconds until interrupted;
    `as_json`: one JSON object, once."""
    if as_json:
        with connect(settings) as conn:
            out.write(snapshot_json(read_snapshot(conn, settings.hours)) + "\n")
        return 0
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    previous: Snapshot | None = None
    clear = "\033[H\033[2J" if out.isatty() and not once else ""
    with connect(settings) as conn:
        try:
            while True:
                snap = read_snapshot(conn, settings.hours)
                screen = render(snap, previous, settings.where, None if once else settings.interval)
                out.write(clear + screen + "\n")
                out.flush()
                if once or stop["now"]:
                    return 0
                previous = snap
                deadline = time.monotonic() + settings.interval
                while time.monotonic() < deadline and not stop["now"]:
                    time.sleep(0.2)
                if stop["now"]:
                    return 0
        except KeyboardInterrupt:
            return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse flags, build settings, show the view; errors become one line."""
    parser = add_version(
        argparse.ArgumentParser(prog="python -m processor.status", description=__doc__)
    )
    parser.add_argument("--once", action="store_true", help="print one snapshot and exit")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between refreshes")
    parser.add_argument("--schema", help="schema to read (default POSTGRES_SCHEMA)")
    parser.add_argument("--hours", type=int, default=6, help="hourly rows to show (default 6)")
    parser.add_argument(
        "--json", action="store_true", help="print one snapshot as a JSON object (implies --once)"
    )
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error("--interval must be positive")
    try:
        settings = StatusSettings.from_env(
            load_env(), schema=args.schema, interval=args.interval, hours=args.hours
        )
        return run(settings, args.once, as_json=args.json)
    except (StatusError, ConfigError) as exc:
        print(f"status: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
