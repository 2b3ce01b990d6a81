"""Infrastructure settings: one frozen object built from the layered environment at the edge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from psycopg.conninfo import make_conninfo

from infra.env import LOCAL, ROOT, ConfigError, mask, parse_duration, require


def _port(env: Mapping[str, str], key: str, example: str) -> int:
    raw = require(env, key, example)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{key}={raw!r} is not a TCP port; set it, for example {key}={example}")
    return int(raw)


@dataclass(frozen=True)
class PostgresTarget:
    """One PostgreSQL role's way in: the POSTGRES_* settings, read and checked in one place."""

    host: str
    port: int
    dbname: str
    user: str
    password: str = field(repr=False)
    schema: str

    @classmethod
    def from_env(cls, env: Mapping[str, str], reader: bool = False) -> PostgresTarget:
        """The processor's (runtime) role's target, or the read-only role's with `reader`."""
        prefix = "POSTGRES_READONLY" if reader else "POSTGRES"
        return cls(
            host=require(env, "POSTGRES_HOST", "127.0.0.1"),
            port=_port(env, "POSTGRES_PORT", "5432"),
            dbname=require(env, "POSTGRES_DB", "clickstream"),
            user=require(env, f"{prefix}_USER", "grafana_reader" if reader else "clickstream"),
            password=require(env, f"{prefix}_PASSWORD", "a-long-random-password"),
            schema=require(env, "POSTGRES_SCHEMA", "analytics"),
        )

    def conninfo(self, **extra: str | int) -> str:
        """libpq connection string for this role (quoted by psycopg), plus `extra` keywords."""
        return make_conninfo(
            "",  # no base string; positional, so no `extra` key can be taken for it
            host=self.host,
            port=self.port,
            dbname=self.dbname,
            user=self.user,
            password=self.password,
            **extra,
        )

    @property
    def where(self) -> str:
        """`host:port/db as user`, for messages."""
        return f"{self.host}:{self.port}/{self.dbname} as {self.user}"


@dataclass(frozen=True)
class InfraSettings:
    """Everything start/stop/status need to know, with secrets masked when printed."""

    kafka_bootstrap: str
    kafka_port: int
    kafka_controller_port: int
    kafka_topic: str
    kafka_partitions: int
    kafka_heap: str
    pg_host: str
    pg_port: int
    pg_db: str
    pg_user: str
    pg_password: str
    pg_schema: str
    pg_reader: str
    pg_reader_password: str
    pg_owner: str
    pg_reader_timeout: str
    grafana_port: int
    grafana_admin_user: str
    grafana_admin_password: str
    root: Path = ROOT
    local: Path = LOCAL

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> InfraSettings:
        """Build settings from a `load_env()` mapping; raise ConfigError naming a bad key."""
        bootstrap = require(env, "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
        host, _, port = bootstrap.split(",")[0].rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(
                f"KAFKA_BOOTSTRAP_SERVERS={bootstrap!r} must be host:port, e.g. 127.0.0.1:9092"
            )
        named = (env.get("KAFKA_PORT") or "").strip()
        if named and named != port:
            raise ConfigError(
                f"KAFKA_PORT={named} differs from the port of KAFKA_BOOTSTRAP_SERVERS="
                f"{bootstrap}: set both to the same port (Docker mode publishes KAFKA_PORT, "
                f"clients use KAFKA_BOOTSTRAP_SERVERS), for example KAFKA_PORT={port}"
            )
        partitions = require(env, "KAFKA_PARTITIONS", "3")
        if not partitions.isdigit() or int(partitions) < 1:
            raise ConfigError(f"KAFKA_PARTITIONS={partitions!r} must be a positive integer, e.g. 3")
        owner, reader = PostgresTarget.from_env(env), PostgresTarget.from_env(env, reader=True)
        setup = require(env, "POSTGRES_OWNER", "clickstream_owner")
        roles = {"POSTGRES_OWNER": setup, "POSTGRES_USER": owner.user}
        roles["POSTGRES_READONLY_USER"] = reader.user
        if len(set(roles.values())) < len(roles):
            raise ConfigError(
                "POSTGRES_OWNER, POSTGRES_USER and POSTGRES_READONLY_USER must be three different "
                f"roles (the setup role, the processor's, the reader's); got {roles}"
            )
        raw_timeout = require(env, "POSTGRES_READONLY_STATEMENT_TIMEOUT", "30s")
        try:
            timeout_ms = round(parse_duration(raw_timeout) * 1000)
        except ConfigError:
            timeout_ms = 0
        if not 0 < timeout_ms < 2**31:  # PostgreSQL keeps it in milliseconds, as an int
            raise ConfigError(
                f"POSTGRES_READONLY_STATEMENT_TIMEOUT={raw_timeout!r} must be a duration "
                "between 1ms and 24d, for example POSTGRES_READONLY_STATEMENT_TIMEOUT=30s"
            )
        return cls(
            kafka_bootstrap=bootstrap,
            kafka_port=int(port),
            kafka_controller_port=_port(env, "KAFKA_CONTROLLER_PORT", "9093"),
            kafka_topic=require(env, "KAFKA_TOPIC", "clickstream.raw"),
            kafka_partitions=int(partitions),
            kafka_heap=require(env, "KAFKA_HEAP", "512m"),
            pg_host=owner.host,
            pg_port=owner.port,
            pg_db=owner.dbname,
            pg_user=owner.user,
            pg_password=owner.password,
            pg_schema=owner.schema,
            pg_reader=reader.user,
            pg_reader_password=reader.password,
            pg_owner=setup,
            pg_reader_timeout=f"{timeout_ms}ms",
            grafana_port=_port(env, "GRAFANA_PORT", "3000"),
            grafana_admin_user=require(env, "GRAFANA_ADMIN_USER", "admin"),
            grafana_admin_password=require(env, "GRAFANA_ADMIN_PASSWORD", "a-strong-password"),
        )

    def pg_dsn(self, reader: bool = False) -> str:
        """libpq connection string for the processor's (runtime) role, or the read-only role."""
        user, password = (
            (self.pg_reader, self.pg_reader_password)
            if reader
            else (self.pg_user, self.pg_password)
        )
        return make_conninfo(
            host=self.pg_host, port=self.pg_port, dbname=self.pg_db, user=user, password=password
        )

    def describe(self) -> str:
        """Settings as `key = value` lines with secrets masked."""
        return "\n".join(
            f"{f.name} = {mask(f.name, str(getattr(self, f.name)))}" for f in fields(self)
        )
