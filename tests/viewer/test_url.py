"""The URL is the view's state: Grafana's parameters in, the same view out, bad parts reported."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from viewer.app import View, _selection, parse_view
from viewer.macros import ALL, TimeRange, expand
from viewer.model import load_dashboards

BOARDS = load_dashboards(Path(__file__).resolve().parents[2] / "config" / "grafana" / "dashboards")


def test_grafana_urls_parse_and_round_trip() -> None:
    view = parse_view(
        "/d/clickstream-overview/clickstream-overview",
        "?from=now-1h&to=now&var-device=mobile&var-device=tablet&var-category=Books&refresh=10s",
        BOARDS,
    )
    assert view.uid == "clickstream-overview" and not view.problems
    assert (view.picker.start, view.picker.end, view.refresh) == ("now-1h", "now", "10s")
    assert view.variables == {"device": ["mobile", "tablet"], "category": ["Books"]}
    again = parse_view("/d/clickstream-overview", view.query_string(), BOARDS)
    assert again == view


def test_defaults_come_from_the_dashboard() -> None:
    view = parse_view("/", "", BOARDS)
    board = BOARDS[view.uid]
    assert (view.picker.start, view.picker.end) == (board.time_from, board.time_to)
    assert view.refresh == board.refresh
    assert all(v == [ALL] for v in view.variables.values())


def test_bad_parts_fall_back_and_are_reported() -> None:
    view = parse_view("/d/nope", "?from=yesterday&to=now&refresh=1ms&var-device=", BOARDS)
    assert view.uid in BOARDS
    assert len(view.problems) == 3
    assert view.picker.start == BOARDS[view.uid].time_from
    assert view.variables["device"] == [ALL]


def test_multi_select_follows_grafana() -> None:
    assert _selection([ALL], [ALL, "mobile"]) == ["mobile"]
    assert _selection(["mobile"], ["mobile", ALL]) == [ALL]
    assert _selection(["mobile"], []) == [ALL]
    assert _selection(["mobile"], "tablet") == ["tablet"]


def test_refresh_off_is_kept() -> None:
    view = View("clickstream-funnel", parse_view("/", "", BOARDS).picker, {}, None)
    assert "refresh=off" in view.query_string()
    assert parse_view("/d/clickstream-funnel", "?refresh=off", BOARDS).refresh is None


def test_hostile_values_stay_literals() -> None:
    hostile = "x'); DELETE FROM raw_events; --"
    view = parse_view("/d/clickstream-funnel", f"?var-device={hostile}&from=now-1h'--", BOARDS)
    assert view.variables["device"] == [hostile]
    assert any("time range" in p for p in view.problems)  # the bad `from` is refused
    board = BOARDS["clickstream-funnel"]
    models = board.variable_models({"category": ["Books"]})
    chosen = {n: replace(m, selected=list(view.variables.get(n, [ALL]))) for n, m in models.items()}
    now = datetime(2026, 12, 2, tzinfo=UTC)
    sql = expand(
        "SELECT 1 FROM user_sessions WHERE device_type IN ($device)",
        chosen,
        TimeRange.last(timedelta(hours=1), now),
    )
    assert sql.endswith("IN ('x''); DELETE FROM raw_events; --')")
