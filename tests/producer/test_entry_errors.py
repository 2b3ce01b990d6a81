"""Expected failures at the producer's entry point end in one clear line and an exit code."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.env import ROOT

YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI (a backfill to stdout: no Kafka needed)."""
    return subprocess.run(
        [sys.executable, "-m", "producer.producer", "--mode", "backfill", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["--start", "9999-12-31", "--days", "2"], 2, "--start 9999-12-31"),
        (["--start", "0001-01-01", "--days", "1"], 2, "before 2000-01-01"),
        (["--days", "999999999"], 2, "--days"),
        (["--start", YESTERDAY, "--days", "3"], 2, "in the future"),
    ],
)
def test_out_of_range_times_are_one_line_and_exit_2(argv: list[str], code: int, says: str) -> None:
    done = run(*argv, "--output", "-", "--events", "10")
    assert done.returncode == code
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and says in done.stderr


def test_a_ledger_that_cannot_be_created_is_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    done = run("--days", "1", "--events", "10", "--output", "-", "--ledger", f"{tmp_path}/file/x")
    assert (done.returncode, done.stdout) == (2, "")
    assert "Traceback" not in done.stderr and "cannot create" in done.stderr


def test_a_failed_ledger_write_says_exit_1_and_returns_it(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.json"
    ledger.mkdir()  # its folder is writable, so the start check passes; the write itself fails
    done = run("--days", "1", "--events", "10", "--output", "-", "--ledger", str(ledger))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "exit 1 (" in last and "no ledger" in last and "exit 0" not in last
    assert f"cannot write the ledger {ledger}" in done.stderr
