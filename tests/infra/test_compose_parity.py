"""Docker mode behaves like native mode: Kafka's address, the checkpoint rule, the ledgers, and a
runtime image without the development tools. Structure tests: there is no Docker engine here."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.docker import compose_env
from infra.env import ROOT, ConfigError, load_env
from infra.settings import InfraSettings
from processor.settings import default_checkpoint_dir

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DEV_TOOLS = ("pytest", "ruff", "mypy", "hypothesis", "playwright", "kafka-python", "setuptools")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${NAME:-default}` and `${NAME}` (enough for this file)."""

    def one(match: re.Match[str]) -> str:
        return env.get(match.group(1)) or (match.group(3) or "")

    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", one, value)


def test_kafka_port_comes_from_the_environment_and_binds_loopback() -> None:
    env = SERVICES["kafka"]["environment"]
    for port in ("9092", "9192"):
        vars_ = {"KAFKA_PORT": port}
        [mapping] = [interpolate(p, vars_) for p in SERVICES["kafka"]["ports"]]
        assert mapping == f"127.0.0.1:{port}:{port}"
        assert f"EXTERNAL://:{port}" in interpolate(env["KAFKA_LISTENERS"], vars_).split(",")
        advertised = interpolate(env["KAFKA_ADVERTISED_LISTENERS"], vars_).split(",")
        assert f"EXTERNAL://127.0.0.1:{port}" in advertised  # what the host's clients dial
        assert "INTERNAL://kafka:19092" in advertised  # the containers' listener stays
        health = interpolate(SERVICES["kafka"]["healthcheck"]["test"][1], vars_)
        assert f"--bootstrap-server 127.0.0.1:{port}" in health
    assert "localhost" not in env["KAFKA_ADVERTISED_LISTENERS"]


def test_compose_gets_the_port_of_kafka_bootstrap_servers() -> None:
    env = load_env(ROOT, environ={})
    assert env["KAFKA_PORT"] == ""  # derived, so one setting decides
    moved = {**env, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9192"}
    assert compose_env(moved, 1234, 5678) == {
        "KAFKA_PORT": "9192",
        "DOCKER_UID": "1234",
        "DOCKER_GID": "5678",
    }
    assert (
        compose_env({**moved, "KAFKA_PORT": "9192", "DOCKER_UID": "7"}, 1, 2)["DOCKER_UID"] == "7"
    )
    with pytest.raises(ConfigError, match="KAFKA_PORT=9092 differs"):
        InfraSettings.from_env({**moved, "KAFKA_PORT": "9092"})


def test_docker_env_prints_exports_for_the_start_script() -> None:
    done = subprocess.run(
        [str(ROOT / ".local/venv/bin/python"), "-m", "infra", "docker-env"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
        env={"PATH": "/usr/bin:/bin", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9393"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "export KAFKA_PORT=9393" in done.stdout.splitlines()
    script = (ROOT / "start_infrastructure.sh").read_text()
    docker_branch = script[script.index('if [[ "$mode" == docker ]]') :]
    assert docker_branch.index("-m infra docker-env") < docker_branch.index("docker compose up -d")
    assert "mkdir -p -m 700 .local/ledgers" in docker_branch


@pytest.mark.parametrize("topic", ["clickstream.raw", "other-topic_2"])
def test_processor_checkpoint_follows_the_topic_like_native_mode(topic: str) -> None:
    env = SERVICES["processor"]["environment"]
    checkpoint = Path(interpolate(env["PROCESSOR_CHECKPOINT_DIR"], {"KAFKA_TOPIC": topic}))
    assert checkpoint.name == default_checkpoint_dir(topic).name == topic
    default = load_env(ROOT, environ={})["KAFKA_TOPIC"]
    assert interpolate(env["PROCESSOR_CHECKPOINT_DIR"], {}).endswith("/" + default)
    # On the volume the Spark worker (the executors) shares at the same path.
    shared = "/opt/spark/work-dir"
    assert str(checkpoint).startswith(shared + "/")
    assert f"spark-work:{shared}" in SERVICES["processor"]["volumes"]
    assert f"spark-work:{shared}" in SERVICES["spark-worker"]["volumes"]


def test_ledgers_are_bind_mounted_where_verify_reads_them() -> None:
    producer = SERVICES["producer"]
    assert "./.local/ledgers:/app/.local/ledgers" in producer["volumes"]
    assert "ledgers" not in (COMPOSE.get("volumes") or {})
    assert load_env(ROOT, environ={})["PRODUCER_LEDGER_DIR"] == ".local/ledgers"  # under /app
    # Runs as the host user, so it can write the owner-only folder (0700) the scripts create.
    assert (
        interpolate(producer["user"], {"DOCKER_UID": "1001", "DOCKER_GID": "1002"}) == "1001:1002"
    )
    assert {"DOCKER_UID", "DOCKER_GID"} <= set(load_env(ROOT, environ={}))


def _requirements(name: str) -> set[str]:
    text = (ROOT / name).read_text()
    return {m.lower() for m in re.findall(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==", text, re.M)}


def test_runtime_requirements_hold_only_what_the_apps_import() -> None:
    runtime = _requirements("requirements-runtime.txt")
    assert {
        "confluent-kafka",
        "psycopg",
        "pyspark",
        "pyarrow",
        "pgpq",
        "faker",
        "pyyaml",
    } <= runtime
    assert not runtime & set(DEV_TOOLS)
    dev = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^-r requirements-runtime\.txt$", dev, re.M)
    assert re.search(r"^-r requirements-dev\.txt$", dev, re.M)
    assert set(DEV_TOOLS) <= _requirements("requirements-dev.txt")
    assert not runtime & _requirements("requirements-dev.txt")  # each pin in one place
    assert not _requirements("requirements.txt")  # only the two includes


def test_runtime_image_has_no_maven_dev_tools_or_bench() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
    assert len(stages) == 2, "a jars build stage, then the runtime stage"
    build, runtime = stages
    assert "maven" in build and "python -m infra fetch-spark-jars" in build
    assert "maven" not in runtime and "requirements.txt" not in runtime
    assert "pip install -r requirements-runtime.txt" in runtime
    assert "COPY --from=jars /app/.local/jars/ /app/.local/jars/" in runtime
    assert not re.search(r"^COPY (bench|tests)", runtime, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"bench", "tests", ".local"} <= set(ignored)


def test_make_setup_still_installs_everything_and_notices_either_file() -> None:
    common = (ROOT / "infra" / "common.sh").read_text()
    assert '-r "$ROOT/requirements.txt"' in common
    stamp_line = next(line for line in common.splitlines() if "want=" in line)
    assert "requirements{,-runtime,-dev}.txt" in stamp_line
