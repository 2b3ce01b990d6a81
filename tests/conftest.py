"""Shared fixtures: the real services are started once per test run, through the project's scripts.

Each test that needs isolation gets a fresh Kafka topic or a fresh PostgreSQL schema.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.env import ROOT, load_env
from infra.postgres import PostgresNative
from infra.settings import InfraSettings
from tests.browser import browser, chromium  # noqa: F401  (shared fixtures, see tests/browser.py)
from tests.filled import filled_schema  # noqa: F401  (a shared fixture, see tests/filled.py)


@dataclass(frozen=True)
class Services:
    """Handles on the running services, for tests."""

    env: dict[str, str]
    settings: InfraSettings
    bootstrap: str
    pg_dsn: str
    pg_readonly_dsn: str
    root: Path = ROOT


@pytest.fixture(scope="session")
def services() -> Services:
    """Start (or find running) Kafka and PostgreSQL with ./start_infrastructure.sh --native."""
    result = subprocess.run(
        [str(ROOT / "start_infrastructure.sh"), "--native"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        pytest.fail(f"start_infrastructure.sh failed:\n{result.stdout}\n{result.stderr}")
    env = load_env()
    settings = InfraSettings.from_env(env)
    return Services(
        env=env,
        settings=settings,
        bootstrap=settings.kafka_bootstrap,
        pg_dsn=settings.pg_dsn(),
        pg_readonly_dsn=settings.pg_dsn(reader=True),
    )


@pytest.fixture
def kafka_topic(services: Services) -> Iterator[str]:
    """A fresh topic with 3 partitions, deleted after the test."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"test.{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    admin.create_topics([NewTopic(name, 3, 1)])[name].result(timeout=30)
    yield name
    try:  # cleanup only: the name is unique, so a slow deletion must not fail the test
        admin.delete_topics([name], operation_timeout=30)[name].result(timeout=60)
    except (KafkaException, TimeoutError) as exc:
        print(f"note: topic {name} not deleted: {exc}", file=sys.stderr)


@pytest.fixture
def pg_schema(services: Services) -> Iterator[str]:
    """A fresh schema with db/init.sql applied, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    PostgresNative(services.settings).apply_schema(schema=name)
    yield name
    PostgresNative(services.settings).drop_schema(name)


@pytest.fixture(scope="session")
def spark(services: Services):
    """One local SparkSession (2 cores) for the whole run, with Kafka and JDBC jars."""
    from processor.spark_session import get_spark_session

    session = get_spark_session("tests", master="local[2]")
    yield session
    session.stop()
