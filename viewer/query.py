"""Run a panel's SQL as the read-only role, the way Grafana's PostgreSQL data source does.

In: SQL already expanded by `viewer.macros`. Out: a `Frame` (column names and rows), or a
`QueryError` carrying the database's own message, which the panel shows as Grafana does.
Every session is a read-only transaction on the configured schema, with a statement timeout,
on top of the role's own privileges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from infra.settings import PostgresTarget

# Grafana's PostgreSQL data source caps rows per query at 1,000,000; panels here need far fewer.
MAX_ROWS = 100_000


class QueryError(RuntimeError):
    """A query failed: the message is the database's (or the connection's), in one line."""


@dataclass(frozen=True)
class Frame:
    """One query's result: names and rows, in the database's order."""

    columns: Sequence[str]
    rows: Sequence[tuple[Any, ...]]

    def column(self, name: str) -> list[Any]:
        """Return the values of column `name`."""
        index = list(self.columns).index(name)
        return [row[index] for row in self.rows]


def _one_line(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag else None
    text = primary or str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


@dataclass(frozen=True)
class Reader:
    """Opens read-only sessions as the reader role on one schema."""

    target: PostgresTarget
    statement_timeout_ms: int = 10_000

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(
                self.target.conninfo(connect_timeout=5, application_name="clickstream-viewer")
            )
        except psycopg.OperationalError as exc:
            raise QueryError(
                f"PostgreSQL is not answering on {self.target.where} ({_one_line(exc)}): "
                "run ./start_infrastructure.sh"
            ) from None
        conn.read_only = True
        return conn

    def run(self, query: str) -> Frame:
        """Run one query and return its frame, or raise QueryError with the database's message."""
        try:
            with self._connect() as conn:
                conn.execute(
                    sql.SQL("SET LOCAL statement_timeout = {}").format(
                        sql.Literal(self.statement_timeout_ms)
                    )
                )
                conn.execute(
                    sql.SQL("SET LOCAL search_path TO {}").format(
                        sql.Identifier(self.target.schema)
                    )
                )
                cursor = conn.execute(query.encode())
                if cursor.description is None:
                    return Frame([], [])
                names = [c.name for c in cursor.description]
                rows = cursor.fetchmany(MAX_ROWS)
                conn.rollback()
        except QueryError:
            raise
        except psycopg.Error as exc:
            raise QueryError(_one_line(exc)) from None
        return Frame(names, [tuple(r) for r in rows])

    def options(self, query: str) -> list[str]:
        """Return the first column of a variable's query as text (the dropdown's options)."""
        return [str(row[0]) for row in self.run(query).rows if row and row[0] is not None]
