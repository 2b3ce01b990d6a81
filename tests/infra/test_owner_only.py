"""What the pipeline writes (logs, pid files, Kafka's folder, ledgers, checkpoints) is private."""

from __future__ import annotations

import dataclasses
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.env import ROOT, load_env
from infra.kafka import KafkaNative
from infra.owner_only import append_private, private_dir, write_private
from infra.process import start_detached, stop_pid
from infra.settings import InfraSettings
from processor.spark_session import DEFAULT_CONF
from producer import producer
from producer.ledger import write_ledger
from runner.__main__ import claim_pidfile
from runner.supervise import Child


def shared_bits(path: Path) -> int:
    """The group and other permission bits of `path` (0 when owner-only)."""
    return stat.S_IMODE(path.stat().st_mode) & 0o077


def test_private_dir_makes_missing_parents_owner_only_and_tightens_an_old_folder(
    tmp_path: Path,
) -> None:
    leaf = private_dir(tmp_path / "a" / "b")
    assert stat.S_IMODE(leaf.stat().st_mode) == 0o700
    assert shared_bits(tmp_path / "a") == 0
    old = tmp_path / "old"
    old.mkdir(mode=0o755)
    old.chmod(0o755)
    private_dir(old)
    assert stat.S_IMODE(old.stat().st_mode) == 0o700


def test_private_files_are_0600_also_when_they_existed(tmp_path: Path) -> None:
    log, text = tmp_path / "x.log", tmp_path / "x.txt"
    for path in (log, text):
        path.write_text("old\n")
        path.chmod(0o644)
    with append_private(log) as out:
        out.write(b"new\n")
    write_private(text, "new\n")
    assert log.read_text() == "old\nnew\n" and text.read_text() == "new\n"
    assert stat.S_IMODE(log.stat().st_mode) == stat.S_IMODE(text.stat().st_mode) == 0o600


def test_a_detached_service_its_log_pidfile_and_what_it_creates_are_owner_only(
    tmp_path: Path,
) -> None:
    made = tmp_path / "made"
    script = f"open({str(made)!r}, 'w').close(); import time; time.sleep(60)"
    log, pidfile = tmp_path / "logs" / "svc.log", tmp_path / "run" / "svc.pid"
    start_detached([sys.executable, "-c", script], log, pidfile)
    try:
        deadline = time.monotonic() + 10
        while not made.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for path in (made, log, pidfile, log.parent, pidfile.parent):
            assert shared_bits(path) == 0, path
    finally:
        assert stop_pid(pidfile, timeout=10)


def test_kafkas_folder_and_config_are_owner_only(tmp_path: Path) -> None:
    settings = dataclasses.replace(InfraSettings.from_env(load_env()), local=tmp_path)
    kafka = KafkaNative(settings)
    kafka.data.mkdir(parents=True)
    kafka.home.chmod(0o755)
    kafka.data.chmod(0o755)
    kafka.write_config()
    for path in (kafka.home, kafka.data, kafka.config):
        assert shared_bits(path) == 0, path


def test_ledgers_are_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_ledger(tmp_path / "ledgers" / "producer-1.json", {"run": {}})
    assert shared_bits(path) == 0 and shared_bits(path.parent) == 0
    # The ledger folder under .local/ is tightened; another folder the user names is not.
    monkeypatch.setattr(producer, "LOCAL", tmp_path / "local")
    ours, theirs = tmp_path / "local" / "ledgers", tmp_path / "shared"
    for folder in (ours, theirs):
        folder.mkdir(parents=True)
        folder.chmod(0o755)
        producer.check_writable(folder / "ledger.json")
    assert shared_bits(ours) == 0
    assert stat.S_IMODE(theirs.stat().st_mode) == 0o755
    producer.check_writable(tmp_path / "new" / "ledger.json")
    assert shared_bits(tmp_path / "new") == 0


def test_the_runners_logs_and_pidfile_are_owner_only(tmp_path: Path) -> None:
    child = Child("true", ["true"], tmp_path / "logs" / "true.log")
    child.start({}, tmp_path)
    assert child.process is not None and child.process.wait(10) == 0
    assert claim_pidfile(tmp_path / "run" / "pipeline.pid") is None
    for path in (child.log, child.log.parent, tmp_path / "run", tmp_path / "run" / "pipeline.pid"):
        assert shared_bits(path) == 0, path


def test_spark_writes_checkpoint_files_owner_only() -> None:
    # Hadoop sets each checkpoint file's mode itself, from this umask, not the process's.
    assert DEFAULT_CONF["spark.hadoop.fs.permissions.umask-mode"] == "077"


def test_the_entry_points_restrict_the_umask_and_env_is_created_owner_only() -> None:
    for module in (
        "producer/producer.py",
        "processor/streaming_processor.py",
        "runner/__main__.py",
    ):
        main_block = (ROOT / module).read_text().split('if __name__ == "__main__":')[1]
        assert "restrict_umask()" in main_block, module
    script = (ROOT / "start_infrastructure.sh").read_text()
    assert "(umask 077 && cp .env.example .env)" in script


def test_a_producer_run_writes_its_output_and_ledger_owner_only(tmp_path: Path) -> None:
    out, ledger = tmp_path / "events.jsonl", tmp_path / "ledgers" / "ledger.json"
    argv = ["--mode", "backfill", "--events", "20", "--seed", "1", "--progress", "0"]
    argv += ["--output", f"jsonl:{out}", "--ledger", str(ledger)]
    run = subprocess.run(
        [sys.executable, "-m", "producer.producer", *argv],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    for path in (out, ledger, ledger.parent):
        assert shared_bits(path) == 0, path
