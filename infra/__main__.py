"""`python -m infra up|down|status|fetch-spark-jars`: native-mode services for the pipeline.

start_infrastructure.sh and stop_infrastructure.sh call this after preparing the virtualenv.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Callable

from infra import docker
from infra.env import ConfigError, load_env
from infra.errors import InfraError
from infra.grafana import GrafanaNative
from infra.kafka import KafkaNative
from infra.postgres import PostgresNative
from infra.settings import InfraSettings
from infra.spark import fetch_spark_jars, spark_jar_dir


def _step(label: str, action: Callable[[], object], done: str, already: str) -> object:
    started = time.monotonic()
    print(f"==> {label} ...", flush=True)
    result = action()
    took = time.monotonic() - started
    print(f"    {done if result else already} ({took:.1f}s)", flush=True)
    return result


def up(s: InfraSettings) -> None:
    """Install what is missing and start Kafka, PostgreSQL and (if installed) Grafana."""
    began = time.monotonic()
    kafka, pg, grafana = KafkaNative(s), PostgresNative(s), GrafanaNative(s)

    def apply_schema() -> bool:  # idempotent, so always "applied"
        pg.apply_schema()
        return True

    _step("Kafka jars", kafka.fetch, "fetched from Maven Central", "already present")
    _step("Spark connector and JDBC jars", lambda: fetch_spark_jars(s), "fetched", "present")
    _step("PostgreSQL server package", pg.install, "installed with apt", "installed")
    _step("PostgreSQL cluster", pg.init_cluster, f"created in {pg.data}", "exists")
    _step("PostgreSQL server", pg.start, f"started on 127.0.0.1:{s.pg_port}", "already running")
    roles = f"roles {s.pg_owner}, {s.pg_user}, {s.pg_reader}"
    _step(f"{roles}, database {s.pg_db}", pg.ensure_database, "created", "up to date")
    _step(f"schema {s.pg_schema} (db/init.sql)", apply_schema, "applied", "")
    _step("Kafka broker (KRaft)", kafka.start, f"started on {s.kafka_bootstrap}", "running")
    _step(
        f"topic {s.kafka_topic}",
        lambda: kafka.ensure_topic(s.kafka_topic, s.kafka_partitions),
        f"created with {s.kafka_partitions} partitions",
        "exists",
    )
    grafana_started = grafana.start()
    if grafana_started is None:
        print(
            "==> Grafana: no grafana-server on PATH here; the same dashboards are served by "
            "the browser view on http://127.0.0.1:3000 (./run_pipeline.sh starts it; "
            "alone: ./show_dashboards.sh), and ./show_metrics.sh shows the KPIs in the terminal",
            flush=True,
        )
    else:
        print(f"==> Grafana {'started' if grafana_started else 'already running'}", flush=True)
    print(summary(s, grafana_started is not None, time.monotonic() - began))


def summary(s: InfraSettings, grafana: bool, seconds: float) -> str:
    """Closing lines: what runs where and how to use or stop it."""
    lines = [
        "",
        f"Infrastructure is up (native mode, {seconds:.1f}s):",
        f"  Kafka       {s.kafka_bootstrap}  topic {s.kafka_topic}  log .local/logs/kafka.log",
        f"  PostgreSQL  {s.pg_host}:{s.pg_port}  database {s.pg_db}  schema {s.pg_schema}",
        f"  Spark       local mode (pyspark), jars in {spark_jar_dir(s.local)}",
        f"  Grafana     http://127.0.0.1:{s.grafana_port}"
        if grafana
        else "  Dashboards  ./show_dashboards.sh (browser view on :3000; no Grafana here)",
        "Connect:",
        f"  PGPASSWORD=... psql -h {s.pg_host} -p {s.pg_port} -U {s.pg_user} -d {s.pg_db}",
        f"  read-only:  psql -h {s.pg_host} -p {s.pg_port} -U {s.pg_reader} -d {s.pg_db}",
        "Stop: ./stop_infrastructure.sh   (data kept; add --purge to delete it)",
    ]
    return "\n".join(lines)


def down(s: InfraSettings, purge: bool) -> None:
    """Stop what `up` started, by pid; with `purge`, delete Kafka and PostgreSQL data too."""
    kafka, pg, grafana = KafkaNative(s), PostgresNative(s), GrafanaNative(s)
    for name, stop in (("Grafana", grafana.stop), ("Kafka", kafka.stop), ("PostgreSQL", pg.stop)):
        print(f"==> {name}: {'stopped' if stop() else 'was not running'}", flush=True)
    if purge:
        kafka.purge()
        pg.purge()
        print("==> data purged: .local/kafka/data and .local/postgres", flush=True)


def status(s: InfraSettings) -> bool:
    """Print each service as up or down; True when Kafka and PostgreSQL are both up."""
    kafka, pg, grafana = KafkaNative(s), PostgresNative(s), GrafanaNative(s)
    rows = [
        ("kafka", kafka.running(), s.kafka_bootstrap),
        ("postgresql", pg.running(), f"{s.pg_host}:{s.pg_port}"),
        ("spark-jars", any(spark_jar_dir(s.local).glob("*.jar")), str(spark_jar_dir(s.local))),
        ("grafana", grafana.running(), f"http://127.0.0.1:{s.grafana_port}"),
    ]
    for name, ok, where in rows:
        print(f"{name:<11} {'up' if ok else 'down':<5} {where}")
    return rows[0][1] and rows[1][1]


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse arguments, build settings, run one command."""
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="install what is missing and start the native services")
    down_p = sub.add_parser("down", help="stop the native services (data kept)")
    down_p.add_argument("--purge", action="store_true", help="also delete Kafka and PG data")
    sub.add_parser(
        "status",
        help="report each service as up or down, the Compose services in Docker mode "
        "(exit 1 if Kafka or PostgreSQL is down)",
    )
    sub.add_parser("fetch-spark-jars", help="only fetch Spark's Kafka and JDBC jars")
    sub.add_parser("docker-env", help="print `export` lines of what docker compose interpolates")
    sub.add_parser("settings", help="print the settings in force, secrets masked")
    topic_p = sub.add_parser("create-topic", help="create a Kafka topic unless it exists")
    topic_p.add_argument("name", help="the topic, for example clickstream.raw")
    topic_p.add_argument("--partitions", type=int, help="partitions (default KAFKA_PARTITIONS, 3)")
    args = parser.parse_args(argv)
    try:
        settings = InfraSettings.from_env(load_env())
        if args.command == "up":
            up(settings)
        elif args.command == "down":
            down(settings, args.purge)
        elif args.command == "status":
            compose = docker.compose_status() if docker.compose_in_use() else None
            if compose is not None:
                return 0 if docker.print_status(compose) else 1
            return 0 if status(settings) else 1
        elif args.command == "docker-env":
            for key, value in docker.compose_env(load_env(), os.getuid(), os.getgid()).items():
                print(f"export {key}={shlex.quote(value)}")
        elif args.command == "fetch-spark-jars":
            fetch_spark_jars(settings)
        elif args.command == "create-topic":
            partitions = settings.kafka_partitions if args.partitions is None else args.partitions
            if partitions < 1:
                raise ConfigError(f"--partitions {partitions} must be at least 1")
            made = KafkaNative(settings).ensure_topic(args.name, partitions)
            print(f"topic {args.name}: {'created' if made else 'exists'}")
        else:
            print(settings.describe())
    except (InfraError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
