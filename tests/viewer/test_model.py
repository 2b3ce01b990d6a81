"""The view reads the provisioned dashboard files as they are, and can draw every panel type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from viewer.model import DashboardError, load_dashboards
from viewer.panels import RENDERERS

DASHBOARDS = Path(__file__).resolve().parents[2] / "config" / "grafana" / "dashboards"


def test_every_panel_of_every_dashboard_has_a_renderer() -> None:
    boards = load_dashboards(DASHBOARDS)
    assert set(boards) == {"clickstream-overview", "clickstream-funnel"}
    for board in boards.values():
        assert board.panels
        for panel in board.panels:
            assert panel.type in RENDERERS, f"{board.uid}: {panel.title} ({panel.type})"
            assert panel.targets and all(t.get("rawSql") for t in panel.targets)


def test_panels_follow_the_json_layout_and_field_overrides() -> None:
    board = load_dashboards(DASHBOARDS)["clickstream-overview"]
    raw = json.loads((DASHBOARDS / "clickstream-overview.json").read_text())
    count = sum(1 for p in raw["panels"] if p["type"] != "row")
    assert len(board.panels) == count
    assert [r.title for r in board.rows][:2] == ["Live KPIs", "Business KPIs"]
    table = next(p for p in board.panels if p.title == "Behaviour by device type")
    assert table.field("conversion").unit == "percentunit"
    assert table.field("conversion").decimals == 1
    assert table.field("sessions").unit == "short"
    bars = next(p for p in board.panels if p.title == "Revenue and orders per hour")
    assert bars.field("orders").axis_right and not bars.field("revenue").axis_right
    assert board.refresh == "5s" and board.time_from == "now-6h"


def test_a_folder_without_dashboards_or_with_a_bad_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DashboardError, match="no dashboard files"):
        load_dashboards(tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DashboardError, match=r"bad\.json"):
        load_dashboards(tmp_path)
    (tmp_path / "bad.json").write_text('{"title": "no uid"}')
    with pytest.raises(DashboardError, match="not a Grafana dashboard"):
        load_dashboards(tmp_path)


def test_a_long_stat_text_gets_the_smaller_font() -> None:
    from datetime import UTC, datetime, timedelta

    from viewer.panels import stat
    from viewer.query import Frame
    from viewer.timerange import TimeRange

    board = load_dashboards(DASHBOARDS)["clickstream-overview"]
    now = datetime.now(UTC)
    span = TimeRange(now - timedelta(hours=1), now)

    def classes(title: str, value: object) -> list[str]:
        panel = next(p for p in board.panels if p.title == title)
        column = panel.targets[0].get("refId", "value")
        drawn = stat(panel, [Frame([str(column)], [(value,)])], span, None)
        return [item.children[-1].className for item in drawn.children]

    assert classes("KPIs updated", now - timedelta(minutes=9)) == ["stat-value stat-long"]
    assert classes("Batches", 18) == ["stat-value"]
