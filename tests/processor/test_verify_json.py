"""`verify --json` and `status --json`: one JSON object on stdout for CI, against a schema that a
real run filled."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infra.env import ROOT

pytestmark = pytest.mark.integration


def verify(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "processor.verify", *argv],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_verify_json_is_one_object_with_every_check(filled_schema: str) -> None:
    done = verify("--schema", filled_schema, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # the whole of stdout is the object
    assert report["schema"] == filled_schema and report["ok"] is True
    assert report["differences"] == [] and report["recount"] is None
    assert {"hourly_metrics", "user_sessions", "product_metrics"} <= set(report["checks"])


def test_verify_json_errors_stay_one_line_on_stderr() -> None:
    done = verify("--schema", "no_such_schema_here", "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "lacks a table" in done.stderr


def test_status_json_is_one_snapshot_of_every_kpi(filled_schema: str) -> None:
    from processor.dashboard import KPIS

    done = subprocess.run(
        [sys.executable, "-m", "processor.status", "--json", "--schema", filled_schema],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    snap = json.loads(done.stdout)
    assert set(snap["kpis"]) == {k.name for k in KPIS}
    assert snap["kpis_updated"] and snap["hours"] and snap["health"]
    assert sum(h["events"] for h in snap["hours"]) > 0
