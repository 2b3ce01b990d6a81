"""docker-compose.yml cannot run here (no Docker engine), so its structure is checked instead."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.env import ROOT, load_env
from infra.postgres import SERVER_TUNING

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
INFRA = ("kafka", "postgres", "spark-master", "spark-worker", "grafana")
APPS = ("producer", "processor")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def _pinned_version(requirement: str) -> str:
    text = (ROOT / "requirements-runtime.txt").read_text()
    match = re.search(rf"^{requirement}(?:\[[^\]]*\])?==([^\s#]+)", text, re.M)
    assert match, f"{requirement} is not pinned in requirements-runtime.txt"
    return match.group(1)


def _pom_property(pom: str, name: str) -> str:
    match = re.search(rf"<{name}>([^<]+)</{name}>", (ROOT / pom).read_text())
    assert match, f"{pom} has no <{name}>"
    return match.group(1)


def _image_tag(service: str) -> tuple[str, str]:
    image, _, tag = SERVICES[service]["image"].rpartition(":")
    return image, tag


def _env(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _mounts(service: str) -> dict[str, str]:
    """Return {container path: source} of a service's volumes."""
    result = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        result[target] = source
    return result


def test_the_whole_pipeline_is_defined() -> None:
    assert set(INFRA + APPS) <= set(SERVICES)


@pytest.mark.parametrize("service", sorted(s for s in SERVICES if "build" not in SERVICES[s]))
def test_pulled_images_are_pinned(service: str) -> None:
    image, tag = _image_tag(service)
    assert image and re.match(r"\d+\.\d+", tag), f"{service}: pin a version, not {tag!r}"


def test_kafka_image_matches_native_kafka() -> None:
    assert _image_tag("kafka") == (
        "apache/kafka",
        _pom_property("config/kafka/pom.xml", "kafka.version"),
    )
    assert _image_tag("kafka-init")[1] == _image_tag("kafka")[1]


def test_spark_image_matches_pyspark() -> None:
    pyspark = _pinned_version("pyspark")
    for service in ("spark-master", "spark-worker"):
        assert _image_tag(service) == ("apache/spark", pyspark)
    assert _pom_property("config/spark/pom.xml", "spark.version") == pyspark


def test_kafka_runs_kraft_single_node() -> None:
    env = _env("kafka")
    assert not any("ZOOKEEPER" in key for key in env)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@kafka:")
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    listeners = {item.split("://")[0] for item in env["KAFKA_LISTENERS"].split(",")}
    advertised = {item.split("://")[0] for item in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    assert listeners == set(protocols) and advertised <= listeners
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners - advertised
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    assert _mounts("kafka")[env["KAFKA_LOG_DIRS"]] == "kafka-data"


@pytest.mark.parametrize("service", INFRA)
def test_long_running_services_have_healthchecks(service: str) -> None:
    check = SERVICES[service].get("healthcheck", {})
    assert check.get("test") and check.get("interval") and check.get("retries")


def test_depends_on_uses_valid_conditions_on_existing_services() -> None:
    for name, service in SERVICES.items():
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            assert spec["condition"] in CONDITIONS
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{dependency} has no healthcheck"
    processor = SERVICES["processor"]["depends_on"]
    assert processor["postgres"]["condition"] == "service_healthy"
    assert processor["spark-worker"]["condition"] == "service_healthy"
    assert processor["kafka-init"]["condition"] == "service_completed_successfully"


def test_named_volumes_are_declared_and_used() -> None:
    declared = set(COMPOSE["volumes"])
    used = {
        source
        for service in SERVICES
        for source in _mounts(service).values()
        if not source.startswith(".")
    }
    assert used == declared
    for data_dir, service in (
        ("/var/lib/postgresql/data", "postgres"),
        ("/var/lib/grafana", "grafana"),
    ):
        assert _mounts(service)[data_dir] in declared


def test_bind_mounts_exist() -> None:
    for service in SERVICES:
        for source in _mounts(service).values():
            # ./.local/ is run-time state: the start scripts create it (owner-only) before use.
            if source.startswith(".") and not source.startswith("./.local/"):
                assert (ROOT / source).exists(), f"{service} mounts missing {source}"


def test_postgres_makes_the_roles_and_applies_init_sql_as_native_mode_does() -> None:
    mounts = _mounts("postgres")
    script_path = next(t for t in mounts if t.startswith("/docker-entrypoint-initdb.d/"))
    assert mounts[script_path] == "./db/docker-init.sh"
    script = (ROOT / "db/docker-init.sh").read_text()
    passed = set(re.findall(r"-v (\w+)=", script)) - {"ON_ERROR_STOP"}
    # roles.sql first (as the image's superuser), then init.sql, each with what it reads.
    files = [t for t, s in mounts.items() if s in ("./db/roles.sql", "./db/init.sql")]
    assert sorted(files, key=script.index) == ["/sql/roles.sql", "/sql/init.sql"]
    init = (ROOT / "db/init.sql").read_text()
    assert set(re.findall(r"\\if :\{\?(\w+)\}", init)) <= passed
    roles = (ROOT / "db/roles.sql").read_text()
    from_env = dict(re.findall(r"\\getenv (\w+) (\w+)", roles))
    used = set(re.findall(r":'(\w+)'", roles))
    assert used - set(from_env) == passed  # every variable it splices, and nothing else
    env = _env("postgres")
    # The passwords reach psql through the environment, which the image passes on.
    assert set(from_env.values()) <= set(env)
    assert all(f"${{{name}:?" in script for name in from_env.values())
    # The image's superuser is not the processor's role.
    assert "POSTGRES_ADMIN_USER" in env["POSTGRES_USER"]
    assert "POSTGRES_ADMIN_PASSWORD" in env["POSTGRES_PASSWORD"]
    assert "POSTGRES_USER" in env["CLICKSTREAM_RUNTIME_USER"]
    assert "POSTGRES_PASSWORD" in env["CLICKSTREAM_RUNTIME_PASSWORD"]


def test_postgres_has_the_native_server_tuning() -> None:
    command = SERVICES["postgres"]["command"]
    assert command[0] == "postgres"
    pairs = [command[i + 1] for i, arg in enumerate(command) if arg == "-c"]
    assert dict(p.split("=", 1) for p in pairs) == SERVER_TUNING


def test_grafana_gets_our_provisioning_and_the_reader() -> None:
    mounts, env = _mounts("grafana"), _env("grafana")
    assert mounts["/etc/grafana/provisioning"] == "./config/grafana/provisioning"
    assert mounts[env["GRAFANA_DASHBOARDS_DIR"]] == "./config/grafana/dashboards"
    assert mounts["/etc/grafana/grafana.ini"] == "./config/grafana/grafana.ini"
    assert env["POSTGRES_HOST"] == "postgres"
    assert "POSTGRES_READONLY_USER" in env and "POSTGRES_READONLY_PASSWORD" in env
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GRAFANA_ADMIN_PASSWORD" in env["GF_SECURITY_ADMIN_PASSWORD"]


def test_apps_reach_services_by_compose_names() -> None:
    for app in APPS:
        assert _env(app)["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:19092"
    processor = _env("processor")
    assert processor["SPARK_MASTER"] == "spark://spark-master:7077"
    assert processor["POSTGRES_HOST"] == "postgres"
    master = SERVICES["spark-master"]["command"]
    assert master[master.index("--host") + 1] == "spark-master"
    assert "spark://spark-master:7077" in SERVICES["spark-worker"]["command"]
    checkpoint = processor["PROCESSOR_CHECKPOINT_DIR"]
    shared = {t for t, s in _mounts("processor").items() if checkpoint.startswith(t + "/")}
    assert shared and all(_mounts("spark-worker").get(t) == _mounts("processor")[t] for t in shared)


def test_app_commands_name_modules_that_exist() -> None:
    for app in APPS:
        command = SERVICES[app]["command"]
        module = command[command.index("-m") + 1]
        assert (ROOT / Path(*module.split("."))).with_suffix(".py").is_file(), module
        assert SERVICES[app]["build"] == "."


def test_dockerfile_builds_the_app_with_java_and_the_spark_jars() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", dockerfile, re.M)
    assert "openjdk-17-jre-headless" in dockerfile
    assert "pip install -r requirements-runtime.txt" in dockerfile
    assert "python -m infra fetch-spark-jars" in dockerfile


def test_variables_used_by_compose_exist_in_env_example() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    known = load_env(ROOT, environ={})
    assert used - set(known) == set(), "add these to .env.example"


def test_docker_and_native_brokers_take_the_same_largest_message() -> None:
    template = (ROOT / "config" / "kafka" / "server.properties.template").read_text()
    native = re.search(r"^message\.max\.bytes=(\d+)$", template, re.M)
    assert native, "the native broker sets no message.max.bytes"
    docker = SERVICES["kafka"]["environment"]["KAFKA_MESSAGE_MAX_BYTES"]
    assert int(docker) == int(native.group(1)) == 1048588  # Kafka's own default, 1 MiB
    # The processor rejects (never parses) a value larger than what the broker takes.
    env = load_env()
    assert int(env["PROCESSOR_MAX_MESSAGE_BYTES"]) <= int(native.group(1))
