"""The processor against a real Spark standalone cluster (SPARK_MASTER=spark://…), not local mode.

Without Docker, the closest thing to Docker mode's spark-master and spark-worker is the same
Master and Worker started natively from the pip pyspark package's `spark-class`: one master and
one worker (1 core, 1 GB) on loopback, for this module. The processor's tasks then run in an
executor the worker launches, which fetches the connector jars from the driver (`spark.jars`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyspark
import pytest

from tests.conftest import Services
from tests.integration.test_processor_stream import (
    differences,
    finish,
    produce_backfill,
    start_processor,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPARK_HOME = Path(pyspark.__file__).parent
APP_NAME = "clickstream-processor"


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, headed by its path (empty if it does not exist)."""
    if not path.is_file():
        return ""
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- {path} ---\n" + "\n".join(text)


class NotReady(Exception):
    """The master's web UI does not serve its JSON status yet."""


@dataclass
class StandaloneCluster:
    """A Spark standalone master and one worker, each its own process group."""

    root: Path
    port: int
    webui_port: int
    worker_webui_port: int
    processes: list[subprocess.Popen[bytes]]

    @property
    def master_url(self) -> str:
        """What SPARK_MASTER points at."""
        return f"spark://127.0.0.1:{self.port}"

    @property
    def work_dir(self) -> Path:
        """The worker's folder: one app-*/<executor>/ with stdout and stderr per executor."""
        return self.root / "work"

    def state(self) -> dict[str, Any]:
        """The master's status as its web UI serves it (workers, active and completed apps).

        Raises NotReady while the UI is still starting: it then answers with an HTML page (or
        not at all) instead of the JSON document.
        """
        url = f"http://127.0.0.1:{self.webui_port}/json/"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = response.read()
        except OSError as exc:
            raise NotReady(f"{url}: {exc}") from exc
        try:
            state = json.loads(body)
        except ValueError as exc:
            raise NotReady(f"{url} answered with no JSON yet: {body[:80]!r}") from exc
        if not isinstance(state, dict):
            raise NotReady(f"{url} answered with {type(state).__name__}, not an object")
        return state

    def logs(self) -> str:
        """Tails of the master's, the worker's and every executor's log, for failure messages."""
        executors = sorted(self.work_dir.glob("app-*/*/stderr"))
        paths = [self.root / "master.log", self.root / "worker.log", *executors]
        return "\n".join(filter(None, (tail(p) for p in paths)))

    def spawn(self, name: str, *args: str) -> None:
        """Start `spark-class <args>` in its own process group, logging to <root>/<name>.log."""
        env = {
            **os.environ,
            "SPARK_HOME": str(SPARK_HOME),
            # Bind the web UIs to loopback too, not every interface.
            "SPARK_LOCAL_IP": "127.0.0.1",
            # The master's REST submission server would take port 6066 whatever --port says.
            "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
        }
        with (self.root / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [str(SPARK_HOME / "bin" / "spark-class"), *args],
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)

    def wait_for_worker(self, timeout: float = 90) -> None:
        """Poll the master until one worker is ALIVE; fail with the logs otherwise."""
        deadline = time.monotonic() + timeout
        last = "not polled yet"
        while time.monotonic() < deadline:
            exited = [p.args for p in self.processes if p.poll() is not None]
            if exited:
                pytest.fail(f"Spark standalone process exited early: {exited}\n{self.logs()}")
            try:
                state = self.state()
            except NotReady as exc:
                last = str(exc)  # the master's web UI is not serving its JSON yet
            else:
                alive = [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]
                if state.get("aliveworkers", 0) >= 1 and alive:
                    return
                last = f"master up, workers: {state.get('workers')}"
            time.sleep(0.5)
        pytest.fail(f"no Spark worker registered within {timeout:.0f}s ({last})\n{self.logs()}")

    def stop(self) -> None:
        """SIGTERM each process group (worker first, then master); SIGKILL what lingers."""
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    """A native standalone master and one worker (1 core, 1 GB) on free loopback ports."""
    root = tmp_path_factory.mktemp("spark-cluster")
    cluster = StandaloneCluster(root, free_port(), free_port(), free_port(), [])
    try:
        cluster.spawn(
            "master",
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(cluster.port)),
            *("--webui-port", str(cluster.webui_port)),
        )
        cluster.spawn(
            "worker",
            "org.apache.spark.deploy.worker.Worker",
            cluster.master_url,
            *("--host", "127.0.0.1", "--cores", "1", "--memory", "1g"),
            *("--webui-port", str(cluster.worker_webui_port)),
            *("--work-dir", str(cluster.work_dir)),
        )
        cluster.wait_for_worker()
        yield cluster
    finally:
        cluster.stop()


def test_processor_on_a_standalone_cluster_verifies_clean(
    services: Services,
    kafka_topic: str,
    pg_schema: str,
    tmp_path: Path,
    spark_cluster: StandaloneCluster,
) -> None:
    ledger = tmp_path / "ledger.json"
    faults = ("--duplicates", "0.03", "--malformed", "0.01")
    produce_backfill(services, kafka_topic, ledger, 3_000, 20251124, *faults)
    process = start_processor(
        services,
        kafka_topic,
        pg_schema,
        tmp_path / "ckpt",
        "--available-now",
        SPARK_MASTER=spark_cluster.master_url,
        PROCESSOR_MAX_OFFSETS_PER_TRIGGER="1500",  # a few batches, so a few jobs on the executor
    )
    try:
        out = finish(process, timeout=180)
    except (AssertionError, subprocess.TimeoutExpired) as exc:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
        raise AssertionError(f"{exc}\n{spark_cluster.logs()}") from exc
    assert "batches committed" in out

    apps = spark_cluster.state()["completedapps"]
    ran = [a for a in apps if a["name"] == APP_NAME and a["state"] == "FINISHED"]
    assert ran, f"the master never saw {APP_NAME} finish: {apps}\n{spark_cluster.logs()}"
    app_dir = spark_cluster.work_dir / ran[-1]["id"]
    executor_logs = "".join(p.read_text(errors="replace") for p in app_dir.glob("*/stderr"))
    # The Kafka source ran in the worker's executor, with the jars it fetched from the driver.
    assert "Finished task" in executor_logs, spark_cluster.logs()
    assert any(app_dir.glob("*/spark-sql-kafka-*.jar")), spark_cluster.logs()

    assert differences(pg_schema, ledger) == []
