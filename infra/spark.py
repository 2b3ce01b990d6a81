"""Spark's extra jars for native mode: the Kafka source and the PostgreSQL JDBC driver."""

from __future__ import annotations

from pathlib import Path

from infra.maven import fetch_jars
from infra.settings import InfraSettings


def spark_jar_dir(local: Path) -> Path:
    """Folder holding the jars passed to Spark through `spark.jars`."""
    return local / "jars" / "spark"


def fetch_spark_jars(settings: InfraSettings) -> bool:
    """Download the connector and driver jars once; True if they were fetched now."""
    pom = settings.root / "config" / "spark" / "pom.xml"
    return fetch_jars(pom, spark_jar_dir(settings.local), transitive=False, label="Spark jars")
