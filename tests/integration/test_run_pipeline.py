"""The whole pipeline as `./run_pipeline.sh` runs it, stopped with Ctrl-C: nothing is lost.

The runner (python -m runner --native --no-view) starts the real producer (realtime), the real
processor and the browser view on a fresh topic and schema. After the first micro-batch and a
few more seconds, SIGINT (Ctrl-C) stops the producer first; the runner waits for the processor
to read what the producer delivered, then stops it. `verify --ledger` then finds 0 differences.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from infra.env import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = path.read_text(errors="replace") if path.exists() else ""
        if text in out:
            return out
        if proc.poll() is not None:
            pytest.fail(f"the runner exited ({proc.returncode}) before {text!r}:\n{out[-4000:]}")
        time.sleep(0.5)
    proc.kill()
    pytest.fail(f"no {text!r} after {timeout:.0f} s:\n{path.read_text(errors='replace')[-4000:]}")


def test_ctrl_c_lets_the_processor_catch_up_and_loses_nothing(
    services: Any, kafka_topic: str, pg_schema: str, tmp_path: Path
) -> None:
    env = dict(os.environ)
    env |= {
        "KAFKA_TOPIC": kafka_topic,
        "POSTGRES_SCHEMA": pg_schema,
        "PRODUCER_LEDGER_DIR": str(tmp_path / "ledgers"),
        "PRODUCER_SEED": "11",
        "PRODUCER_RATE": "300",
        "PRODUCER_WARM_UP": "10m",
        "PROCESSOR_CHECKPOINT_DIR": str(tmp_path / "checkpoint"),
        "PROCESSOR_TRIGGER_SECONDS": "5",
        "SPARK_MASTER": "local[2]",
    }
    out = tmp_path / "runner.log"
    with out.open("wb") as sink:
        runner = subprocess.Popen(
            [sys.executable, "-m", "runner", "--native", "--no-view", "--drain-timeout", "180"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        text = _wait_for(out, "first micro-batch committed", runner, 300)
        url = next(
            (line.split("Dashboards ", 1)[1].split()[0] for line in text.splitlines()
             if "Dashboards http" in line),
            None,
        )  # fmt: skip
        assert url, f"the runner did not print the dashboards' URL:\n{text[-2000:]}"
        assert url.endswith("/d/clickstream-overview")
        health = url.split("/d/")[0] + "/api/health"
        with urllib.request.urlopen(health, timeout=5) as answer:
            assert json.load(answer)["database"] == "ok"
        time.sleep(12)  # the producer keeps sending while the processor works on its batches
        runner.send_signal(signal.SIGINT)
        code = runner.wait(timeout=400)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    log = out.read_text(errors="replace")
    print("\n".join(line for line in log.splitlines() if line.startswith("==> ")))
    assert code == 0, log[-4000:]
    assert "stopping the pipeline (the producer first)" in log
    assert "the processor has read all" in log, log[-4000:]
    order = [log.index("stopping producer"), log.index("the processor has read all")]
    assert order == sorted(order)
    ledgers = sorted((tmp_path / "ledgers").glob("producer-*.json"))
    assert len(ledgers) == 1, f"expected one ledger, found {ledgers}"
    verify = subprocess.run(
        [
            sys.executable,
            "-m",
            "processor.verify",
            "--schema",
            pg_schema,
            "--ledger",
            str(ledgers[0]),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verify.returncode == 0, f"{verify.stdout[-3000:]}\n{verify.stderr[-3000:]}"
