"""The browser view in a real Chromium, against a schema filled by a real pipeline run.

The view runs as its own process (`python -m viewer`) on a free loopback port, reading the
provisioned dashboard files as the read-only role; Playwright drives Debian's Chromium (installed
by the fixture when missing). Screenshots go to .local/screenshots/ and their paths are printed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from infra.env import LOCAL, ROOT

pytestmark = pytest.mark.integration

DASHBOARDS = ROOT / "config" / "grafana" / "dashboards"
SHOTS = LOCAL / "screenshots"
# Every panel has answered for the view the URL asks for, and every chart is drawn.
SETTLED = """() => {
    const key = document.getElementById('view-key');
    const p = [...document.querySelectorAll('[data-panel-title]')];
    const want = location.search ? location.pathname + location.search : null;
    return key && key.title && (!want || key.title === want) && p.length > 0
        && p.every(e => e.dataset.state !== 'loading' && e.dataset.view === key.title)
        && [...document.querySelectorAll('.panel-graph')].every(g => {
            // Drawn means Plotly has taken the figure: an svg alone can be a chart mid-draw,
            // its data not set yet.
            const plot = g.classList.contains('js-plotly-plot')
                ? g : g.querySelector('.js-plotly-plot');
            return plot && Array.isArray(plot.data) && plot._fullLayout
                && g.querySelector('.main-svg');
        });
}"""
# Panels that read the processor's running state rather than the stored events: with a single
# availableNow batch their series have one point each, which still counts as data.
CHARTS = ("timeseries", "barchart", "histogram", "piechart", "bargauge")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ViewerProcess:
    """One `python -m viewer` on a free port; stopped with SIGTERM."""

    def __init__(self, schema: str, dashboards: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [sys.executable, "-m", "viewer", "--schema", schema, "--port", str(self.port)]
        cmd += ["--dashboards", str(dashboards)]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, env=dict(os.environ)
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=2) as answer:
                    self.health = json.load(answer)
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"the viewer did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="module")
def viewer(filled_schema: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ViewerProcess]:
    log = tmp_path_factory.mktemp("viewer") / "viewer.log"
    process = ViewerProcess(filled_schema, DASHBOARDS, log)
    yield process
    assert process.stop() == 0, f"the viewer did not stop cleanly:\n{log.read_text()[-2000:]}"
    assert "viewer: stopped" in log.read_text()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1800, "height": 1000}, timezone_id="UTC")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


# The panels' state, read by the same function call that finds them settled: the page redraws
# its charts on every refresh, so a read in a later call could meet a chart mid-draw.
PANELS = """() => Object.fromEntries([...document.querySelectorAll('[data-panel-title]')].map(e => {
    const g = e.querySelector('.js-plotly-plot');
    const traces = g && g.data
        ? g.data.map(t => [t.name, t.x || t.labels || null, t.y || t.values || null]) : null;
    const axis = g && g._fullLayout && g._fullLayout.xaxis;
    return [e.dataset.panelTitle, {
        state: e.dataset.state, type: e.dataset.panelType, text: e.innerText,
        values: [...e.querySelectorAll('.stat-item')].map(s => s.dataset.value),
        traces: traces, xrange: axis ? axis.range : null,
    }];
}))"""


def settle(page: Any, timeout_ms: int = 60_000) -> dict[str, dict[str, Any]]:
    """Wait until every panel has answered and every chart is drawn; return the panels' state
    as it was at that moment."""
    script = f"() => ({SETTLED})() && ({PANELS})()"
    found = page.wait_for_function(script, timeout=timeout_ms)
    state: dict[str, dict[str, Any]] = found.json_value()
    return state


def screenshot(page: Any, name: str, capsys: pytest.CaptureFixture[str]) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    with capsys.disabled():
        print(f"\nscreenshot: {path}")
    return path


def choose(page: Any, control: str, option: str) -> None:
    """Pick `option` in a dropdown the way a user does: open it, click the option."""
    page.click(control)
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


@pytest.mark.parametrize("uid", ["clickstream-overview", "clickstream-funnel"])
def test_every_panel_is_drawn_with_data(
    viewer: ViewerProcess, page: Any, uid: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    page.goto(f"{viewer.url}/d/{uid}")
    state = settle(page)
    seconds = time.monotonic() - started
    expected = [p for p in json.loads((DASHBOARDS / f"{uid}.json").read_text())["panels"]]
    titles = {p["title"] for p in expected if p["type"] != "row"}
    assert set(state) == titles
    not_ok = {t: (s["state"], s["text"][:200]) for t, s in state.items() if s["state"] != "ok"}
    assert not not_ok, f"panels without data: {not_ok}"
    for title, panel in state.items():
        if panel["type"] in CHARTS:
            assert panel["traces"], f"{title}: no chart drawn"
        if panel["type"] == "stat":
            assert any(v for v in panel["values"]), f"{title}: no value"
    path = screenshot(page, uid, capsys)
    assert path.stat().st_size > 50_000
    with capsys.disabled():
        print(f"{uid}: {len(state)} panels drawn in {seconds:.1f} s")


def test_the_device_variable_changes_the_figures(viewer: ViewerProcess, page: Any) -> None:
    page.goto(f"{viewer.url}/d/clickstream-funnel")
    before = settle(page)
    choose(page, ".var-device", "mobile")
    page.wait_for_url("**var-device=mobile**")
    page.wait_for_function(
        "v => { const e = document.querySelector('[data-panel-title=\"Sessions by device type\"]');"
        " const g = e && e.querySelector('.js-plotly-plot');"
        " return g && g.data && g.data[0].values.join() !== v; }",
        arg=",".join(str(v) for v in before["Sessions by device type"]["traces"][0][2] or []),
        timeout=30_000,
    )
    after = settle(page)
    # The donut's values come as the pie's `values`, read again through Plotly's own data.
    pie = page.eval_on_selector(
        "[data-panel-title='Sessions by device type'] .js-plotly-plot", "g => g.data[0].values"
    )
    assert pie[0] == 0 and pie[2] == 0 and pie[1] > 0, f"only mobile sessions expected: {pie}"
    orders_all = float(before["Orders and revenue"]["values"][0])
    orders_mobile = float(after["Orders and revenue"]["values"][0])
    assert 0 < orders_mobile < orders_all
    assert after["Session funnel"]["traces"] != before["Session funnel"]["traces"]


def _range(panel: dict[str, Any]) -> tuple[datetime, datetime]:
    start, end = (datetime.fromisoformat(str(t)).replace(tzinfo=UTC) for t in panel["xrange"])
    return start, end


# The panel's state and its chart are set by separate renders: a chart can still be on its
# previous figure, or between two figures with no axis yet, when the panel already says "ok".
X_SPAN = """([title, hours, endAgoMinutes]) => {
    const g = document.querySelector(`[data-panel-title="${title}"] .js-plotly-plot`);
    const r = g && g._fullLayout && g._fullLayout.xaxis && g._fullLayout.xaxis.range;
    if (!r) return false;
    const start = new Date(r[0] + 'Z'), end = new Date(r[1] + 'Z');
    const span = Math.abs(end - start - hours * 3600e3) < 60e3;
    return span && (endAgoMinutes === null || end < Date.now() - endAgoMinutes * 60e3)
        && [r[0], r[1]];
}"""


def x_range(
    page: Any, title: str, hours: float, end_ago_minutes: float | None = None
) -> tuple[datetime, datetime]:
    """The x-axis of `title` once it spans `hours`, read in the same step as the check (the
    page redraws its charts on every refresh, so a second read could meet a chart mid-draw)."""
    settle(page)
    found = page.wait_for_function(X_SPAN, arg=[title, hours, end_ago_minutes], timeout=30_000)
    return _range({"xrange": found.json_value()})


def test_the_time_range_moves_the_x_axis(viewer: ViewerProcess, page: Any) -> None:
    title = "Traffic by event type"
    page.goto(f"{viewer.url}/d/clickstream-overview")
    six = x_range(page, title, 6)
    assert abs((six[1] - six[0]) - timedelta(hours=6)) < timedelta(minutes=1)
    choose(page, ".control-range", "Last 1 hour")
    page.wait_for_url("**from=now-1h**")
    one = x_range(page, title, 1)
    assert abs((one[1] - one[0]) - timedelta(hours=1)) < timedelta(minutes=1)
    page.fill("#time-from", "now-3h")
    page.fill("#time-to", "now-1h")
    page.press("#time-to", "Enter")
    page.wait_for_url("**to=now-1h**")
    custom = x_range(page, title, 2, end_ago_minutes=50)
    now = datetime.now(UTC)
    assert abs((custom[1] - custom[0]) - timedelta(hours=2)) < timedelta(minutes=1)
    assert abs(custom[1] - (now - timedelta(hours=1))) < timedelta(minutes=2)
    assert page.input_value("#time-from") == "now-3h"


def test_the_url_reproduces_the_view(viewer: ViewerProcess, browser: Any, page: Any) -> None:
    page.goto(f"{viewer.url}/d/clickstream-overview")
    settle(page)
    choose(page, ".var-device", "tablet")
    page.wait_for_url("**var-device=tablet**")
    choose(page, ".control-range", "Last 24 hours")
    page.wait_for_url("**from=now-24h**")
    choose(page, ".control-dashboard", "Funnel and sessions")
    page.wait_for_url("**/d/clickstream-funnel**")
    first = settle(page)
    link = page.url
    assert "var-device=tablet" in link and "from=now-24h" in link
    context = browser.new_context(viewport={"width": 1800, "height": 1000}, timezone_id="UTC")
    again = context.new_page()
    again.goto(link)
    second = settle(again)
    assert again.inner_text(".var-device") == page.inner_text(".var-device")
    assert again.inner_text(".control-range") == "Last 24 hours"
    for title in ("Orders and revenue", "Step conversion", "Session funnel"):
        assert second[title]["values"] == first[title]["values"]
        assert second[title]["traces"] == first[title]["traces"]
    context.close()


def test_a_broken_query_shows_the_database_error(
    filled_schema: str,
    services: Any,
    page: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = json.loads((DASHBOARDS / "clickstream-funnel.json").read_text())
    stats = [p for p in model["panels"] if p["type"] == "stat"]
    stats[0]["targets"][0]["rawSql"] = "SELECT count(*) FROM no_such_table"
    # A panel that tries to write: the view's session is read-only, so nothing changes.
    stats[1]["targets"][0]["rawSql"] = "DELETE FROM dashboard_metrics RETURNING 1"
    folder = tmp_path / "dashboards"
    folder.mkdir()
    (folder / "broken.json").write_text(json.dumps(model))
    viewer = ViewerProcess(filled_schema, folder, tmp_path / "viewer.log")
    try:
        page.goto(f"{viewer.url}/d/{model['uid']}")
        state = settle(page)
        broken = state[stats[0]["title"]]
        assert broken["state"] == "error"
        assert 'relation "no_such_table" does not exist' in broken["text"]
        writer = state[stats[1]["title"]]
        assert writer["state"] == "error" and writer["text"].strip() != stats[1]["title"]
        others = [s for t, s in state.items() if t not in {stats[0]["title"], stats[1]["title"]}]
        assert all(s["state"] == "ok" for s in others)
        screenshot(page, "broken-query", capsys)
    finally:
        viewer.stop()
    with psycopg.connect(services.pg_dsn) as conn:
        count = conn.execute(f'SELECT count(*) FROM "{filled_schema}".dashboard_metrics').fetchone()
    assert count and count[0] > 0


def test_bad_flags_and_settings_are_one_line() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = str(taken.getsockname()[1])
        for args, message in (
            (["--port", port], f"port {port} on 127.0.0.1 is taken"),
            (["--port", "70000"], "is not a TCP port"),
            (["--dashboards", "/nonexistent"], "no dashboard files"),
        ):
            result = subprocess.run(
                [sys.executable, "-m", "viewer", *args],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode != 0
            assert message in result.stderr
            assert "Traceback" not in result.stderr
    finally:
        taken.close()
