"""Infrastructure settings: one frozen object built from the layered environment at the edge.

pydantic-settings validates the variables (`InfraVariables`, `PostgresVariables`); the results
are frozen pydantic dataclasses, so `dataclasses.replace` still works and still validates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field, fields
from pathlib import Path
from typing import Annotated, Any

from psycopg.conninfo import make_conninfo
from pydantic import BeforeValidator, Field
from pydantic.dataclasses import dataclass

from infra.env import LOCAL, ROOT, ConfigError, mask
from infra.layers import FROZEN, Count, Duration, Layered, Spec, from_variables


def _text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


Text = Annotated[str, BeforeValidator(_text), Field(min_length=1)]
Port = Annotated[Count, Field(gt=0, lt=65536)]
PORT = "a TCP port (1 to 65535)"
SET = "set"  # a required value: the message says where it was looked for


def _postgres_specs(reader: bool) -> dict[str, Spec]:
    prefix = "POSTGRES_READONLY" if reader else "POSTGRES"
    return {
        "host": Spec(env="POSTGRES_HOST", example="127.0.0.1", text=SET),
        "port": Spec(env="POSTGRES_PORT", example="5432", text=PORT),
        "dbname": Spec(env="POSTGRES_DB", example="clickstream", text=SET),
        "user": Spec(
            env=f"{prefix}_USER", example="grafana_reader" if reader else "clickstream", text=SET
        ),
        "password": Spec(
            env=f"{prefix}_PASSWORD", example="a-long-random-password", text=SET, secret=True
        ),
        "schema_name": Spec(env="POSTGRES_SCHEMA", example="analytics", text=SET),
    }


class PostgresVariables(Layered):
    """One role's POSTGRES_* variables, as pydantic-settings validates them."""

    host: Text
    port: Port
    dbname: Text
    user: Text
    password: Text = Field(repr=False)
    schema_name: Text


@dataclass(frozen=True, config=FROZEN)
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
        v = from_variables(PostgresVariables, _postgres_specs(reader), env)
        return cls(v.host, v.port, v.dbname, v.user, v.password, v.schema_name)

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

    def variables(self, reader: bool = False) -> list[tuple[str, str, object]]:
        """(variable, field, value) of each setting, for printing (mask the password)."""
        specs = _postgres_specs(reader)
        names = {"schema": "schema_name"}
        return [
            (specs[names.get(f.name, f.name)].env, f.name, getattr(self, f.name))
            for f in fields(self)
        ]


INFRA_SPECS = {
    "kafka_bootstrap": Spec(env="KAFKA_BOOTSTRAP_SERVERS", example="127.0.0.1:9092",
                            text="host:port"),
    "kafka_port": Spec(env="KAFKA_PORT", example="9092", text=PORT),
    "kafka_controller_port": Spec(env="KAFKA_CONTROLLER_PORT", example="9093", text=PORT),
    "kafka_topic": Spec(env="KAFKA_TOPIC", example="clickstream.raw", text=SET),
    "kafka_partitions": Spec(env="KAFKA_PARTITIONS", example="3", text="a positive integer"),
    "kafka_heap": Spec(env="KAFKA_HEAP", example="512m", text=SET),
    "pg_owner": Spec(env="POSTGRES_OWNER", example="clickstream_owner", text=SET),
    "pg_reader_timeout": Spec(env="POSTGRES_READONLY_STATEMENT_TIMEOUT", example="30s",
                              text="a duration between 1ms and 24d"),
    "grafana_port": Spec(env="GRAFANA_PORT", example="3000", text=PORT),
    "grafana_admin_user": Spec(env="GRAFANA_ADMIN_USER", example="admin", text=SET),
    "grafana_admin_password": Spec(env="GRAFANA_ADMIN_PASSWORD", example="a-strong-password",
                                   text=SET, secret=True),
}  # fmt: skip


class InfraVariables(Layered):
    """The variables of start/stop/status besides POSTGRES_*, as pydantic-settings validates
    them."""

    kafka_bootstrap: Text
    kafka_port: Port | None = None  # Docker mode publishes it; it must agree with the above
    kafka_controller_port: Port
    kafka_topic: Text
    kafka_partitions: Annotated[Count, Field(ge=1)]
    kafka_heap: Text
    pg_owner: Text
    # PostgreSQL keeps it in milliseconds, as an int
    pg_reader_timeout: Annotated[Duration, Field(ge=0.001, lt=2**31 / 1000)]
    grafana_port: Port
    grafana_admin_user: Text
    grafana_admin_password: Text = Field(repr=False)


@dataclass(frozen=True, config=FROZEN)
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
    pg_password: str = field(repr=False)
    pg_schema: str
    pg_reader: str
    pg_reader_password: str = field(repr=False)
    pg_owner: str
    pg_reader_timeout: str
    grafana_port: int
    grafana_admin_user: str
    grafana_admin_password: str = field(repr=False)
    root: Path = ROOT
    local: Path = LOCAL

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> InfraSettings:
        """Build settings from a `load_env()` mapping; raise ConfigError naming a bad key."""
        v = from_variables(InfraVariables, INFRA_SPECS, env)
        bootstrap = v.kafka_bootstrap
        host, _, port = bootstrap.split(",")[0].rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(
                f"KAFKA_BOOTSTRAP_SERVERS={bootstrap!r} must be host:port, e.g. 127.0.0.1:9092"
            )
        if v.kafka_port is not None and v.kafka_port != int(port):
            raise ConfigError(
                f"KAFKA_PORT={v.kafka_port} differs from the port of KAFKA_BOOTSTRAP_SERVERS="
                f"{bootstrap}: set both to the same port (Docker mode publishes KAFKA_PORT, "
                f"clients use KAFKA_BOOTSTRAP_SERVERS), for example KAFKA_PORT={port}"
            )
        owner, reader = PostgresTarget.from_env(env), PostgresTarget.from_env(env, reader=True)
        roles = {"POSTGRES_OWNER": v.pg_owner, "POSTGRES_USER": owner.user}
        roles["POSTGRES_READONLY_USER"] = reader.user
        if len(set(roles.values())) < len(roles):
            raise ConfigError(
                "POSTGRES_OWNER, POSTGRES_USER and POSTGRES_READONLY_USER must be three different "
                f"roles (the setup role, the processor's, the reader's); got {roles}"
            )
        return cls(
            kafka_bootstrap=bootstrap,
            kafka_port=int(port),
            kafka_controller_port=v.kafka_controller_port,
            kafka_topic=v.kafka_topic,
            kafka_partitions=v.kafka_partitions,
            kafka_heap=v.kafka_heap,
            pg_host=owner.host,
            pg_port=owner.port,
            pg_db=owner.dbname,
            pg_user=owner.user,
            pg_password=owner.password,
            pg_schema=owner.schema,
            pg_reader=reader.user,
            pg_reader_password=reader.password,
            pg_owner=v.pg_owner,
            pg_reader_timeout=f"{round(v.pg_reader_timeout * 1000)}ms",
            grafana_port=v.grafana_port,
            grafana_admin_user=v.grafana_admin_user,
            grafana_admin_password=v.grafana_admin_password,
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
