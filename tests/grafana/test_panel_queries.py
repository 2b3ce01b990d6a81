"""Every panel query, expanded as Grafana expands it, runs as the read-only role on real data.

The data comes from a real pipeline run (`filled_schema`, tests/filled.py).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql

from infra.env import ROOT
from tests.filled import run_checked
from tests.grafana.dashboards import load, queries
from viewer.macros import ALL, TimeRange, dashboard_variables, expand

pytestmark = pytest.mark.integration

QUERIES = list(queries())
NUMBER = (int, float, Decimal, type(None))


@pytest.fixture(scope="module")
def reader(services: Any, filled_schema: str) -> Iterator[psycopg.Connection[Any]]:
    """A read-only session (Grafana's role) on the filled schema."""
    with psycopg.connect(services.pg_readonly_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(filled_schema)))
        yield conn


@pytest.fixture(scope="module")
def options(reader: psycopg.Connection[Any]) -> dict[str, list[str]]:
    """The query variables' options, from their own queries (as Grafana fills the dropdowns)."""
    result: dict[str, list[str]] = {}
    for path in sorted((ROOT / "config/grafana/dashboards").glob("*.json")):
        for var in load(path)["templating"]["list"]:
            if var["type"] == "query":
                result[var["name"]] = [str(r[0]) for r in reader.execute(var["query"])]
    return result


def _check_shape(panel: dict[str, Any], names: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Assert that the result has the columns and rows this panel type needs."""
    kind, title = panel["type"], panel["title"]
    assert len(names) == len(set(names)), f"{title}: duplicate column names {names}"
    assert rows, f"{title}: no rows"
    columns = list(zip(*rows, strict=True))
    if kind == "timeseries":
        assert names[0] == "time" and len(names) >= 2, f"{title}: needs time + series: {names}"
        times = [t.timestamp() if isinstance(t, datetime) else float(t) for t in columns[0]]
        assert times == sorted(times), f"{title}: rows must be ordered by time"
        for name, values in zip(names[1:], columns[1:], strict=True):
            assert all(isinstance(v, NUMBER) for v in values), f"{title}: {name} is not numeric"
    elif kind in ("stat", "bargauge", "piechart"):
        assert len(rows) == 1, f"{title}: expected one row, got {len(rows)}"
        assert any(v is not None for v in rows[0]), f"{title}: every value is null"
        assert all(isinstance(v, (*NUMBER, datetime)) for v in rows[0]), f"{title}: {rows[0]}"
    elif kind == "histogram":
        assert len(names) == 1 and all(isinstance(v, NUMBER) for v in columns[0]), title
    elif kind == "barchart":
        x_field = panel["options"]["xField"]
        assert x_field in names, f"{title}: x field {x_field!r} not in {names}"
        numeric = [
            n for n, c in zip(names, columns, strict=True) if all(isinstance(v, NUMBER) for v in c)
        ]
        assert numeric, f"{title}: no numeric column"
    wanted = {o["matcher"]["options"] for o in panel["fieldConfig"]["overrides"]}
    wanted |= {s["displayName"] for s in panel.get("options", {}).get("sortBy", [])}
    assert wanted <= set(names), (
        f"{title}: overrides/sort name missing columns {wanted - set(names)}"
    )


def test_variable_queries_return_options(options: dict[str, list[str]]) -> None:
    assert options["category"], "the category variable has no values"


@pytest.mark.parametrize(("qid", "model", "panel", "target"), QUERIES, ids=[q[0] for q in QUERIES])
def test_panel_query_returns_what_the_panel_needs(
    reader: psycopg.Connection[Any],
    options: dict[str, list[str]],
    qid: str,
    model: dict[str, Any],
    panel: dict[str, Any],
    target: dict[str, Any],
) -> None:
    span = TimeRange.last(timedelta(hours=6), datetime.now(UTC))
    query = expand(target["rawSql"], dashboard_variables(model, options), span)
    cursor = reader.execute(query)
    names = [c.name for c in cursor.description or []]
    _check_shape(panel, names, cursor.fetchall())


@pytest.mark.parametrize(("qid", "model", "panel", "target"), QUERIES, ids=[q[0] for q in QUERIES])
def test_panel_query_runs_with_filters_selected(
    reader: psycopg.Connection[Any],
    options: dict[str, list[str]],
    qid: str,
    model: dict[str, Any],
    panel: dict[str, Any],
    target: dict[str, Any],
) -> None:
    variables = dashboard_variables(model, options)
    chosen = {"device": ["mobile"], "category": options["category"][:1]}
    narrowed = {name: replace(v, selected=chosen.get(name, [ALL])) for name, v in variables.items()}
    span = TimeRange.last(timedelta(minutes=30), datetime.now(UTC))
    reader.execute(expand(target["rawSql"], narrowed, span)).fetchall()


def test_status_once_shows_the_kpis(filled_schema: str) -> None:
    out = run_checked(
        [sys.executable, "-m", "processor.status", "--once", "--schema", filled_schema],
        "python -m processor.status --once",
        60,
    )
    assert "No data yet" not in out
    for label in ("Events, 1 min", "Conversion, 1 h", "Revenue, 1 h", "Rejected"):
        assert label in out
    assert "Micro-batches committed" in out and "Hours (hourly_metrics)" in out


def test_reader_cannot_write(reader: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        reader.execute("DELETE FROM dashboard_metrics")
