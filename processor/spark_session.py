"""Build a SparkSession that can read Kafka and write PostgreSQL (connector and JDBC jars added)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pyspark.sql import SparkSession

from infra.env import LOCAL
from infra.spark import spark_jar_dir
from processor.settings import ProcessorError

DEFAULT_CONF: dict[str, str] = {
    # Small batches on a 2-core machine: a handful of shuffle partitions beats the default 200.
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}


class SparkJarsMissing(ProcessorError):
    """The Kafka connector or JDBC jars have not been fetched yet (entry points print the fix)."""


def spark_jars(local: Path = LOCAL) -> list[Path]:
    """Jar files to pass through `spark.jars`; raise SparkJarsMissing when none are there."""
    jars = sorted(spark_jar_dir(local).glob("*.jar"))
    if not jars:
        raise SparkJarsMissing(
            f"no Spark connector jars in {spark_jar_dir(local)}: run ./start_infrastructure.sh "
            "(or `python -m infra fetch-spark-jars`)"
        )
    return jars


def get_spark_session(
    app_name: str = "clickstream",
    master: str = "local[*]",
    conf: Mapping[str, str] | None = None,
    local: Path = LOCAL,
) -> SparkSession:
    """Return a SparkSession with the Kafka source and PostgreSQL driver on its classpath."""
    builder = SparkSession.builder.appName(app_name).master(master)
    jars = spark_jars(local)
    settings = {
        **DEFAULT_CONF,
        "spark.jars": ",".join(str(p) for p in jars),
        # The driver is also the executor in local mode; the JDBC driver must be on its classpath.
        "spark.driver.extraClassPath": ":".join(str(p) for p in jars),
    }
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
