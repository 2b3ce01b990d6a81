"""Least privilege against the real PostgreSQL: what each of the three roles can and cannot do.

The setup role owns the schema and cannot log in; the processor's role reads and writes the
tables and nothing else; the reader only reads, whatever it sets in its session. The roles and
database are made by db/roles.sql, the same way `./start_infrastructure.sh` makes them, and a
second set under hostile names and passwords shows that no value can change the SQL.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from infra.postgres import PostgresNative
from infra.settings import InfraSettings
from tests.conftest import Services

pytestmark = pytest.mark.integration


def superuser(settings: InfraSettings, dbname: str | None = None) -> psycopg.Connection[Any]:
    """The cluster's superuser over its owner-only socket (what the start scripts use)."""
    conninfo = PostgresNative(settings).superuser_conninfo(dbname)
    return psycopg.connect(conninfo, autocommit=True)


def login(settings: InfraSettings, reader: bool = False) -> psycopg.Connection[Any]:
    return psycopg.connect(settings.pg_dsn(reader=reader), autocommit=True)


def test_the_setup_role_owns_everything_and_cannot_log_in(services: Services) -> None:
    s = services.settings
    with superuser(s) as conn:
        owner = conn.execute(
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
            "WHERE rolname = %s",
            [s.pg_owner],
        ).fetchone()
        assert owner == (False, False, False, False)
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE n.nspname = %s",
            [s.pg_schema],
        ).fetchall()
        assert owners == [(s.pg_owner,)]
        database = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [s.pg_db]
        ).fetchone()
        assert database == (s.pg_owner,)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dataclasses.replace(s, pg_user=s.pg_owner).pg_dsn()).close()


def test_the_runtime_role_has_only_what_the_processor_needs(services: Services) -> None:
    s = services.settings
    with superuser(s) as conn:
        attributes = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, "
            "(SELECT count(*) FROM pg_auth_members WHERE member = r.oid) "
            "FROM pg_roles AS r WHERE rolname = %s",
            [s.pg_user],
        ).fetchone()
        assert attributes == (False, False, False, False, False, 0)
        conn.execute("DROP SCHEMA IF EXISTS test_private CASCADE")
        conn.execute("CREATE SCHEMA test_private")
        conn.execute("CREATE TABLE test_private.secrets AS SELECT 'hidden' AS word")
    try:
        with login(s) as conn:
            # What the processor does: stage in temporary tables, write the tables, summarize.
            conn.execute("CREATE TEMP TABLE staged (LIKE raw_events)")
            conn.execute("INSERT INTO dashboard_metrics VALUES ('test_role', 1) "
                         "ON CONFLICT (metric_name) DO UPDATE SET metric_value = 1")  # fmt: skip
            conn.execute("DELETE FROM dashboard_metrics WHERE metric_name = 'test_role'")
            conn.execute("SELECT summarize_time_index()")
            refused = [
                "CREATE ROLE test_escalate",
                "GRANT pg_execute_server_program TO CURRENT_USER",
                "COPY (SELECT 1) TO PROGRAM 'id'",
                "SELECT pg_read_file('/etc/passwd')",
                "CREATE SCHEMA test_mine",
                "CREATE TABLE test_mine (x int)",
                "DROP TABLE raw_events",
                "ALTER TABLE raw_events ADD COLUMN x int",
                "SELECT * FROM test_private.secrets",
                "SELECT lo_create(0)",
            ]
            for statement in refused:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
    finally:
        with superuser(s) as conn:
            conn.execute("DROP SCHEMA IF EXISTS test_private CASCADE")


def test_the_reader_cannot_write_even_when_it_turns_read_only_off(services: Services) -> None:
    with login(services.settings, reader=True) as conn:
        assert conn.execute("SELECT count(*) FROM pipeline_batches").fetchone() is not None
        conn.execute("SET default_transaction_read_only = off")
        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        refused = [
            "DELETE FROM raw_events",
            "INSERT INTO dashboard_metrics VALUES ('x', 1)",
            "UPDATE hourly_metrics SET events = 0",
            "CREATE TEMP TABLE mine (x int)",
            "CREATE TABLE mine (x int)",
            "SELECT lo_create(0)",
            "SELECT lo_creat(-1)",
            "SELECT lo_from_bytea(0, 'data')",
            "SELECT nextval('rejected_events_id_seq')",
            "SELECT summarize_time_index()",
        ]
        for statement in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    # Nor may it connect to any other database, to make temporary tables there.
    elsewhere = dataclasses.replace(services.settings, pg_db="postgres")
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(elsewhere.pg_dsn(reader=True)).close()


def test_the_reader_has_a_statement_timeout(services: Services) -> None:
    s = services.settings
    short = dataclasses.replace(s, pg_reader_timeout="500ms")
    PostgresNative(short).ensure_database()
    try:
        with login(s, reader=True) as conn:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("500ms",)
            with pytest.raises(psycopg.errors.QueryCanceled):
                conn.execute("SELECT pg_sleep(3)")
    finally:
        PostgresNative(s).ensure_database()
    with login(s, reader=True) as conn:
        shown = conn.execute("SHOW statement_timeout").fetchone()
        assert shown is not None and shown[0] != "0"


def drop_database_and_roles(settings: InfraSettings, made: InfraSettings) -> None:
    """Remove a test's own database and its three roles."""
    with superuser(settings) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(made.pg_db))
        )
        for role in (made.pg_user, made.pg_reader, made.pg_owner):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture
def hostile(services: Services) -> Iterator[InfraSettings]:
    """A database and three roles whose names and passwords hold quotes and backslashes."""
    tag = uuid.uuid4().hex[:6]
    odd = dataclasses.replace(
        services.settings,
        pg_db=f'test db "{tag}"',
        pg_schema=f'sch\'ema "{tag}" \\',
        pg_owner=f'own"er {tag}',
        pg_user=f"run'ner\\ {tag}",
        pg_password="it's a \\'; DROP ROLE postgres; -- \\\\ \"pass\"",
        pg_reader=f"read\"er'; {tag}",
        pg_reader_password="\\'); SELECT pg_sleep(0); --'\\",
    )
    yield odd
    drop_database_and_roles(services.settings, odd)


def test_names_and_passwords_cannot_change_the_sql(hostile: InfraSettings) -> None:
    pg = PostgresNative(hostile)
    made = pg.ensure_database()
    assert made == [
        f"role {hostile.pg_owner}", f"role {hostile.pg_user}", f"role {hostile.pg_reader}",
        f"database {hostile.pg_db}",
    ]  # fmt: skip
    pg.apply_schema()
    assert pg.ensure_database() == []  # idempotent
    pg.apply_schema()
    with login(hostile) as conn:  # the password arrived exactly as written
        conn.execute("INSERT INTO dashboard_metrics VALUES ('x', 1)")
        path = conn.execute("SELECT current_schemas(false)").fetchone()
        assert path is not None and path[0][0] == hostile.pg_schema
    with login(hostile, reader=True) as conn:
        assert conn.execute("SELECT metric_value FROM dashboard_metrics").fetchall() == [(1.0,)]
    with superuser(hostile) as conn:
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'postgres'").fetchone()


@pytest.fixture
def older(services: Services) -> Iterator[InfraSettings]:
    """A database made the old way: the processor's role has CREATEROLE and owns it all."""
    tag = uuid.uuid4().hex[:6]
    old = dataclasses.replace(
        services.settings,
        pg_db=f"test_old_{tag}",
        pg_owner=f"test_old_owner_{tag}",
        pg_user=f"test_old_runtime_{tag}",
        pg_reader=f"test_old_reader_{tag}",
    )
    with superuser(services.settings) as conn:
        runtime = sql.Identifier(old.pg_user)
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD 'x'").format(runtime))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(old.pg_db), runtime)
        )
    with superuser(services.settings, old.pg_db) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(runtime))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(old.pg_schema)))
        conn.execute(sql.SQL("CREATE TABLE {}.legacy_notes (note text)").format(
            sql.Identifier(old.pg_schema)))  # fmt: skip
    yield old
    drop_database_and_roles(services.settings, old)


def test_an_older_setup_is_converted(older: InfraSettings) -> None:
    pg = PostgresNative(older)
    pg.ensure_database()
    pg.apply_schema()
    with superuser(older, older.pg_db) as conn:
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s "
            "UNION SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE n.nspname = %s "
            "UNION SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
            [older.pg_schema, older.pg_schema, older.pg_db],
        ).fetchall()
        assert owners == [(older.pg_owner,)]
        flags = conn.execute(
            "SELECT rolcreaterole FROM pg_roles WHERE rolname = %s", [older.pg_user]
        ).fetchone()
        assert flags == (False,)
    with login(older) as conn:  # the processor still reads and writes the kept table
        conn.execute("INSERT INTO legacy_notes VALUES (%s)", ["kept"])
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE ROLE test_escalate")
