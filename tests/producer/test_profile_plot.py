"""`python -m producer.profile --plot F.html` draws the profile next to the real-shop ranges.

The figure is checked twice: as the object the code builds, and as the JSON inside the HTML
file a user opens (self-contained: plotly.js inside, no CDN). A bad path is one line and an
exit code, before any sample is generated.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from infra.env import LOCAL
from producer import profile_plot
from producer.config import RunSettings, Settings
from producer.profile import TARGETS, Profile, generate, main, measure
from producer.profile_plot import TITLES, figure

EVENTS = "20000"
ROOT_SHOTS = LOCAL / "screenshots"


@pytest.fixture(scope="module")
def small() -> Profile:
    stream, visitors = generate(Settings(run=RunSettings(seed=1, events=int(EVENTS))))
    return measure(list(stream), visitors)


def test_the_figure_has_every_panel_with_its_ranges(small: Profile) -> None:
    fig = figure(small, "test")
    notes = [a.text for a in fig.layout.annotations]
    assert set(TITLES) <= set(notes)
    for words in ("quietest hour", "weekend days", "median 2–3", "mean 1–4 min", "top 1% get"):
        assert any(words in n and n.startswith("real shops") for n in notes), words
    kinds = Counter(t.type for t in fig.data)
    assert kinds["funnel"] == 1 and kinds["bar"] >= 6 and kinds["scatter"] >= 4
    bands = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(bands) == 5  # hours, weekend, session length median and p90, duration
    # The two range panels hold every target of their unit, with the sample's value.
    ranges = [t for t in fig.data if t.name == "real-shop range" and t.type == "bar"]
    dots = [t for t in fig.data if t.name == "this sample"]
    for unit, bar, dot in zip(("%", "x"), ranges, dots, strict=True):
        rows = [(label, low, high) for _, label, low, high, u in TARGETS if u == unit]
        assert list(bar.y) == list(dot.y) == [label for label, _, _ in rows]
        assert list(bar.base) == [low for _, low, _ in rows]
        assert [b + w for b, w in zip(bar.base, bar.x, strict=True)] == [h for *_, h in rows]
    funnel = next(t for t in fig.data if t.type == "funnel")
    assert funnel.x[0] == small.events["page_view"] and funnel.x[-1] == small.events["purchase"]
    views = next(t for t in fig.data if t.name == "views")
    assert views.y[-1] == pytest.approx(1.0) and list(views.y) == sorted(views.y)


def plotted(html: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The traces and layout that the HTML file hands to Plotly.newPlot."""
    decoder = json.JSONDecoder()
    at = html.index("Plotly.newPlot(")
    data, end = decoder.raw_decode(html, html.index("[", at))
    layout, _ = decoder.raw_decode(html, html.index("{", end))
    return data, layout


def test_plot_writes_a_self_contained_html_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "profile.html"
    assert main(["--events", EVENTS, "--plot", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"plot: {path}" in out and "cart sessions abandoned" in out
    html = path.read_text(encoding="utf-8")
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and all("src=" not in tag for tag in scripts)  # nothing fetched on opening
    assert len(html) > 1_000_000  # plotly.js is inline
    data, layout = plotted(html)
    assert {t["type"] for t in data} == {"bar", "funnel", "scatter"}
    assert {"real-shop range", "this sample", "views", "no skew"} <= {t.get("name") for t in data}
    notes = {a["text"] for a in layout["annotations"]}
    assert set(TITLES) <= notes
    assert layout["title"]["text"].startswith(f"Behaviour profile: {int(EVENTS):,} events")


def run_bad(path: str, capsys: pytest.CaptureFixture[str], early: bool = True) -> tuple[int, str]:
    """Exit code and the one error line; `early`: refused before any sample was generated."""
    code = main(["--events", EVENTS, "--plot", path])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert (captured.out == "") == early
    return code, lines[0]


def test_a_bad_plot_path_is_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no" / "such" / "profile.html"
    code, line = run_bad(str(missing), capsys)
    assert code == 2 and "does not exist" in line and str(missing.parent) in line
    code, line = run_bad(str(tmp_path / "profile.png"), capsys)
    assert code == 2 and "only HTML" in line and "kaleido" in line
    (tmp_path / "file").write_text("")
    code, line = run_bad(str(tmp_path / "file" / "profile.html"), capsys)
    assert code == 2 and "not a directory" in line
    (tmp_path / "dir.html").mkdir()
    code, line = run_bad(str(tmp_path / "dir.html"), capsys)
    assert code == 2 and "is a directory" in line


def test_an_unwritable_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.access
    monkeypatch.setattr(
        profile_plot.os, "access", lambda p, mode: False if Path(p) == tmp_path else real(p, mode)
    )  # root may write anywhere, so chmod alone would not show it
    code, line = run_bad(str(tmp_path / "profile.html"), capsys)
    assert code == 2 and "not writable" in line


def test_a_write_that_fails_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = tmp_path / "profile.html"
    link.symlink_to(tmp_path / "gone" / "profile.html")  # passes the checks, fails to open
    code, line = run_bad(str(link), capsys, early=False)
    assert code == 1 and line.startswith(f"profile: cannot write the plot {link}")


@pytest.mark.integration
def test_the_plot_draws_offline_in_chromium(tmp_path: Path, browser: Any) -> None:
    """Opened from disk in a real browser with the network cut: every panel is drawn."""
    path = tmp_path / "profile.html"
    assert main(["--events", EVENTS, "--plot", str(path)]) == 0
    context = browser.new_context(viewport={"width": 1400, "height": 1800}, offline=True)
    page = context.new_page()
    errors: list[str] = []
    fetched: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: fetched.append(request.url))
    try:
        page.goto(path.as_uri())
        page.wait_for_selector(".main-svg", timeout=30_000)
        titles = page.locator(".annotation-text").all_text_contents()  # SVG text
        shot = ROOT_SHOTS / "profile.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
        bars = page.locator("g.trace.bars path").count()
        funnel = page.locator("g.trace.bars, g.funnellayer g.trace").count()
    finally:
        context.close()
    assert not errors, errors
    assert fetched == [path.as_uri()], fetched  # nothing but the file itself
    assert set(TITLES) <= set(titles), set(TITLES) - set(titles)
    assert bars > 24 + 7 and funnel >= 1  # at least the hour and weekday bars, and the funnel
