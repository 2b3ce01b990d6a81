"""Build a SparkSession that can read Kafka and write PostgreSQL (connector and JDBC jars added)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pyspark.sql import SparkSession

from infra.env import LOCAL, ConfigError
from infra.spark import spark_jar_dir
from processor.settings import SPARK_UI_MODES, ProcessorError

DEFAULT_CONF: dict[str, str] = {
    # Small batches on a 2-core machine: a handful of shuffle partitions beats the default 200.
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    # Hadoop sets the mode of every checkpoint file itself (umask 022 unless told): owner-only.
    "spark.hadoop.fs.permissions.umask-mode": "077",
}

# Spark's UI binds to SPARK_LOCAL_IP from the JVM's environment, else 0.0.0.0; no spark.ui.*
# setting names the address.
UI_HOST = "127.0.0.1"


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


def ui_conf(mode: str) -> dict[str, str]:
    """Spark settings for PROCESSOR_SPARK_UI: `off` (no UI) or `on` (UI without kill links).

    Off by default: Spark's UI would listen on 0.0.0.0:4040 with links that kill jobs.
    """
    if mode == "off":
        return {"spark.ui.enabled": "false"}
    if mode == "on":
        return {"spark.ui.enabled": "true", "spark.ui.killEnabled": "false"}
    raise ConfigError(
        f"PROCESSOR_SPARK_UI={mode!r} must be one of {', '.join(SPARK_UI_MODES)}, "
        "for example PROCESSOR_SPARK_UI=off"
    )


def ui_environment(mode: str, master: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Variables the JVM must start with so that an enabled UI listens on loopback only."""
    if mode != "on" or environ.get("SPARK_LOCAL_IP"):
        return {}
    if not master.startswith("local"):
        # SPARK_LOCAL_IP is the driver's address too: loopback would cut off remote executors.
        raise ConfigError(
            f"PROCESSOR_SPARK_UI=on with SPARK_MASTER={master}: set SPARK_LOCAL_IP to this "
            "host's address that the workers reach (the UI listens there too), "
            "for example SPARK_LOCAL_IP=10.0.0.5, or PROCESSOR_SPARK_UI=off"
        )
    return {"SPARK_LOCAL_IP": UI_HOST}


def spark_conf(
    jars: Sequence[Path], ui: str = "off", conf: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The session's settings: defaults, the jars, the UI mode, then `conf` (later wins)."""
    return {
        **DEFAULT_CONF,
        "spark.jars": ",".join(str(p) for p in jars),
        # The driver is also the executor in local mode; the JDBC driver must be on its classpath.
        "spark.driver.extraClassPath": ":".join(str(p) for p in jars),
        **ui_conf(ui),
        **(conf or {}),
    }


def get_spark_session(
    app_name: str = "clickstream",
    master: str = "local[*]",
    conf: Mapping[str, str] | None = None,
    local: Path = LOCAL,
    ui: str = "off",
) -> SparkSession:
    """Return a SparkSession with the Kafka source and PostgreSQL driver on its classpath."""
    builder = SparkSession.builder.appName(app_name).master(master)
    for key, value in spark_conf(spark_jars(local), ui, conf).items():
        builder = builder.config(key, value)
    # PySpark starts the JVM with this process's environment: the one way to set its variables.
    os.environ.update(ui_environment(ui, master, os.environ))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
