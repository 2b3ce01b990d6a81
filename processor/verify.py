"""`python -m processor.verify`: recompute every analytics table from raw_events with plain SQL
(db/verify/*.sql) and report each difference row by row; optionally check a producer ledger.

In: the PostgreSQL schema the processor writes (and a producer ledger JSON). Out: one line per
difference and a summary; the exit code is 1 on any difference, 2 on a usage or setup error.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from infra.env import ConfigError, load_env
from processor.ledger_check import LedgerError, ledger_differences
from processor.settings import ProcessorSettings
from processor.sql import load_sql, sql_names


@dataclass(frozen=True)
class Difference:
    """One row-level difference between the stored and the recomputed figures."""

    check: str
    key: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check} [{self.key}]: {self.detail}"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float | Decimal) and isinstance(b, int | float | Decimal):
        return Decimal(str(a)) == Decimal(str(b))
    return bool(a == b)


def describe(expected: dict[str, Any] | None, stored: dict[str, Any] | None) -> str:
    """Say how a stored row differs from the recomputed one, column by column."""
    if stored is None:
        return f"missing row; expected {json.dumps(expected, sort_keys=True)}"
    if expected is None:
        return f"unexpected row; stored {json.dumps(stored, sort_keys=True)}"
    parts = [
        f"{name}: expected {expected.get(name)!r}, stored {stored.get(name)!r}"
        for name in sorted(set(expected) | set(stored))
        if not _same(expected.get(name), stored.get(name))
    ]
    return "; ".join(parts) or "rows differ"


def table_differences(conn: psycopg.Connection[Any], check: str) -> list[Difference]:
    """Run db/verify/<check>.sql and turn its rows into Differences."""
    rows = conn.execute(load_sql("verify", check)).fetchall()
    return [Difference(check, str(key), describe(exp, got)) for key, exp, got in rows]


def run_checks(
    conninfo: str, ledger: Path | None = None, checks: list[str] | None = None
) -> tuple[list[str], list[Difference]]:
    """Run the table checks (all by default) and the ledger check; return names and differences."""
    names = checks or sql_names("verify")
    differences: list[Difference] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = on")
        for name in names:
            differences += table_differences(conn, name)
        if ledger is not None:
            names = [*names, "ledger"]
            differences += [
                Difference("ledger", key, detail)
                for key, detail in ledger_differences(conn, ledger)
            ]
    return names, differences


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line flags."""
    p = argparse.ArgumentParser(
        prog="python -m processor.verify",
        description="Recompute the analytics tables from raw_events and report every difference.",
    )
    p.add_argument("--schema", help="PostgreSQL schema to check (POSTGRES_SCHEMA)")
    p.add_argument("--ledger", type=Path, help="producer ledger JSON to check raw_events against")
    p.add_argument(
        "--check",
        action="append",
        choices=sql_names("verify"),
        help="run only this check (repeatable); default: all",
    )
    p.add_argument("--limit", type=int, default=50, help="print at most this many differences")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Verify; print differences and a summary; exit 1 on any difference."""
    args = parse_args(argv)
    env = load_env()
    if args.schema:
        env["POSTGRES_SCHEMA"] = args.schema
    try:
        settings = ProcessorSettings.from_env(env)
        names, differences = run_checks(settings.pg_conninfo(), args.ledger, args.check)
    except (ConfigError, LedgerError) as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        print(
            f"verify: PostgreSQL is not answering ({exc}); run ./start_infrastructure.sh",
            file=sys.stderr,
        )
        return 2
    for difference in differences[: args.limit]:
        print(difference)
    if len(differences) > args.limit:
        print(f"... and {len(differences) - args.limit} more")
    print(
        f"verify: schema {settings.pg.schema}: {len(names)} checks ({', '.join(names)}), "
        f"{len(differences)} differences"
    )
    if any(d.check == "ledger" and d.key == "events" for d in differences):
        print(
            "verify: fewer events than the producer sent usually means the processor has not "
            "caught up with the topic yet (a stop leaves the rest in Kafka): "
            "./start_processor.sh --available-now processes what is left; then verify again"
        )
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
