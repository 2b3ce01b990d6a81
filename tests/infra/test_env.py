"""Layered configuration and infrastructure settings: pure, no services."""

from __future__ import annotations

from pathlib import Path

import pytest
from dotenv import dotenv_values

from infra.env import ROOT, ConfigError, load_env, mask, parse_duration
from infra.settings import InfraSettings, PostgresTarget


def write(path: Path, text: str) -> None:
    path.write_text(text)


def test_env_layers_example_then_dotenv_then_environment(tmp_path: Path) -> None:
    write(tmp_path / ".env.example", "A=example\nB=example\nC=example\n")
    write(tmp_path / ".env", "B=dotenv\nC=dotenv\n")
    env = load_env(tmp_path, environ={"C": "environ"})
    assert (env["A"], env["B"], env["C"]) == ("example", "dotenv", "environ")


def test_env_without_dotenv_uses_example_defaults(tmp_path: Path) -> None:
    write(tmp_path / ".env.example", "KAFKA_TOPIC=clickstream.raw\n")
    assert load_env(tmp_path, environ={})["KAFKA_TOPIC"] == "clickstream.raw"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("20m", 1200), ("2h", 7200), ("1d", 86400), ("45", 45), ("500ms", 0.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "-5s"])
def test_parse_duration_rejects_nonsense(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_mask_hides_secrets_only() -> None:
    assert mask("POSTGRES_PASSWORD", "hunter2") == "****"
    assert mask("POSTGRES_USER", "clickstream") == "clickstream"


def example_env() -> dict[str, str]:
    """Only .env.example's defaults: a developer's .env must not change these tests."""
    return {k: v or "" for k, v in dotenv_values(ROOT / ".env.example").items()}


def test_settings_from_example_defaults() -> None:
    s = InfraSettings.from_env(example_env())
    assert s.kafka_port == 9092 and s.pg_port == 5432 and s.kafka_partitions == 3
    assert "password=" in s.pg_dsn() and s.pg_reader in s.pg_dsn(reader=True)
    assert s.pg_password not in s.describe()


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("POSTGRES_PORT", "not-a-port", "POSTGRES_PORT"),
        ("POSTGRES_PASSWORD", "", "POSTGRES_PASSWORD"),
        ("KAFKA_BOOTSTRAP_SERVERS", "nohostport", "KAFKA_BOOTSTRAP_SERVERS"),
        ("KAFKA_PARTITIONS", "0", "KAFKA_PARTITIONS"),
    ],
)
def test_bad_setting_names_the_variable(key: str, value: str, named: str) -> None:
    env = {**example_env(), key: value}
    with pytest.raises(ConfigError, match=named):
        InfraSettings.from_env(env)


def test_postgres_target_owner_and_reader_share_host_but_not_role() -> None:
    env = {**example_env(), "POSTGRES_HOST": "db.local", "POSTGRES_READONLY_USER": "viewer"}
    owner, reader = PostgresTarget.from_env(env), PostgresTarget.from_env(env, reader=True)
    assert (owner.host, reader.host) == ("db.local", "db.local")
    assert (owner.user, reader.user) == ("clickstream", "viewer")
    assert owner.password not in repr(owner)


def test_connection_strings_quote_a_password_with_spaces_and_quotes() -> None:
    from psycopg.conninfo import conninfo_to_dict

    secret = "two words' and \\ backslash"
    env = {**example_env(), "POSTGRES_PASSWORD": secret, "POSTGRES_READONLY_PASSWORD": secret}
    target = PostgresTarget.from_env(env)
    parsed = conninfo_to_dict(target.conninfo(options="-c search_path=x"))
    assert (parsed["password"], parsed["options"]) == (secret, "-c search_path=x")
    settings = InfraSettings.from_env(env)
    for reader in (False, True):
        assert conninfo_to_dict(settings.pg_dsn(reader=reader))["password"] == secret


def test_settings_stay_dataclasses_that_replace_checks() -> None:
    """The integration tests derive settings with dataclasses.replace; it validates too."""
    import dataclasses

    from pydantic import ValidationError

    s = InfraSettings.from_env(example_env())
    moved = dataclasses.replace(s, pg_db="postgres", pg_reader_timeout="500ms")
    assert (moved.pg_db, moved.pg_port) == ("postgres", s.pg_port)
    with pytest.raises(ValidationError):
        dataclasses.replace(s, pg_port="not a port")
    assert s.pg_password not in repr(s) and s.grafana_admin_password not in repr(s)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("GRAFANA_PORT", "70000", "GRAFANA_PORT='70000' must be a TCP port (1 to 65535);"),
        ("POSTGRES_READONLY_STATEMENT_TIMEOUT", "0s", "must be a duration between 1ms and 24d"),
        ("KAFKA_HEAP", "", "KAFKA_HEAP is not set (looked in the environment, .env and"),
    ],
)
def test_each_error_is_one_line_with_an_example(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        InfraSettings.from_env({**example_env(), key: value})
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert f"for example {key}=" in str(caught.value)
