"""One KPI table (processor/dashboard.py): the SQL files, the docs and both views agree with it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from processor import status
from processor.dashboard import DOCS, KPIS, docs_with_table, markdown_table

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\(\s*'([a-z0-9_]+)'\s*,")


def names_in(sql_file: str) -> list[str]:
    """The metric names a SQL file writes or expects, in the order it lists them."""
    return NAME.findall((ROOT / sql_file).read_text(encoding="utf-8"))


def test_the_refresh_statement_writes_exactly_the_table() -> None:
    written = names_in("db/merge/refresh_dashboard.sql")
    assert len(written) == len(set(written))
    assert set(written) == {k.name for k in KPIS}


def test_verify_recomputes_exactly_the_verified_kpis() -> None:
    checked = names_in("db/verify/dashboard_metrics.sql")
    assert len(checked) == len(set(checked))
    assert set(checked) == {k.name for k in KPIS if k.verified}


def test_the_docs_show_the_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert markdown_table() in text, "run: python -m processor.dashboard --write-docs"
    assert docs_with_table(text) == text


def test_the_terminal_view_shows_every_kpi_with_its_label() -> None:
    shown = {k.name: k.label for k in KPIS if k.terminal}
    assert {n: label for n, (label, _) in status.KPIS.items()} == shown
    assert {k.name for k in KPIS if not k.terminal} == status.HIDDEN
    assert status.KPIS["conversion_rate_1h"][1] == "pct"
    assert status.KPIS["revenue_1h"][1] == "money"


def test_the_dashboard_panels_come_from_the_table() -> None:
    model = json.loads((ROOT / "config/grafana/dashboards/clickstream-overview.json").read_text())
    panels = {p["title"]: p for p in model["panels"] if p["type"] == "stat"}
    for k in KPIS:
        if not k.panel:
            continue
        panel = panels[k.label]
        assert f"metric_name = '{k.name}'" in panel["targets"][0]["rawSql"]
        assert panel["fieldConfig"]["defaults"]["unit"] == k.unit
        assert panel["fieldConfig"]["defaults"].get("decimals") == k.decimals
        assert k.meaning[1:] in panel["description"]
