"""The start scripts make sure the virtualenv exists and run from the caller's directory, so a
relative path in a flag is the caller's, while the project's own files are still found."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from infra.env import ROOT
from infra.version import __version__

SCRIPTS = {
    "start_producer.sh": "python -m producer.producer",
    "start_processor.sh": "python -m processor.streaming_processor",
    "show_metrics.sh": "python -m processor.status",
    "show_dashboards.sh": "python -m viewer",
}


def run(script: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(ROOT / script), *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_each_script_runs_from_any_directory(script: str, tmp_path: Path) -> None:
    done = run(script, "--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{SCRIPTS[script]} {__version__} (clickstream-pipeline)"
    text = (ROOT / script).read_text()
    assert "ensure_venv" in text and 'cd "$ROOT"' not in text


def test_relative_paths_in_flags_are_the_callers(tmp_path: Path) -> None:
    argv = ["--mode", "backfill", "--events", "20", "--seed", "3", "--progress", "0"]
    done = run("start_producer.sh", *argv, "--output", "jsonl:out/e.jsonl", "--ledger",
               "l.json", cwd=tmp_path)  # fmt: skip
    assert done.returncode != 0 and "out" in done.stderr  # the folder must exist: one line
    (tmp_path / "out").mkdir()
    done = run("start_producer.sh", *argv, "--output", "jsonl:out/e.jsonl", "--ledger",
               "l.json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "out" / "e.jsonl").read_text().splitlines()
    ledger = json.loads((tmp_path / "l.json").read_text())
    assert len(lines) == ledger["messages_sent"] == 20
    # stdout is data only: nothing but events on it, even when the venv is set up first.
    done = run("start_producer.sh", *argv, "--output", "-", cwd=tmp_path)
    assert done.returncode == 0 and [json.loads(x)["event_id"] for x in done.stdout.splitlines()]
