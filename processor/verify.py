"""`python -m processor.verify`: recompute every analytics table from raw_events with plain SQL
(db/verify/*.sql) and report each difference row by row; optionally check a producer ledger.
With --from-topic (or --from-jsonl) the tables are recounted instead from the messages
themselves, by an independent implementation of the rules (processor/recount/).

In: the PostgreSQL schema the processor writes (and a producer ledger JSON). Out: one line per
difference and a summary; the exit code is 1 on any difference, 2 on a usage or setup error.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from infra.env import ConfigError, load_env
from infra.version import add_version
from processor.ledger_check import LedgerError, ledger_differences
from processor.recount.compare import Read, Summary, recount
from processor.recount.rules import Rules
from processor.recount.source import Progress, SourceError, read_jsonl, read_topic
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
    conninfo: str,
    ledger: Path | Sequence[Path] | None = None,
    checks: list[str] | None = None,
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


@dataclass(frozen=True)
class Retention:
    """What retention dropped (retention_log): verify cannot check those events any more."""

    partitions: int
    events: int
    rejected: int
    first_event_time: Any
    last_event_time: Any

    def __str__(self) -> str:
        line = (
            f"verify: retention (PROCESSOR_RAW_RETENTION) dropped {self.partitions} "
            f"partition(s): {self.events:,} raw events and {self.rejected:,} rejected messages "
            "are counted from retention_log"
        )
        if self.events:
            line += (
                f"; hours, products and sessions with events from {self.first_event_time} to "
                f"{self.last_event_time} are not checked against raw events, nor the ledger's "
                "sessions, users and orders"
            )
        return line


def retention(conninfo: str) -> Retention | None:
    """What retention has dropped so far, or None when it dropped nothing."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(sum(rows) FILTER (WHERE table_name = 'raw_events'), 0),"
            " coalesce(sum(rows) FILTER (WHERE table_name = 'rejected_events'), 0),"
            " min(first_event_time), max(last_event_time) FROM retention_log"
        ).fetchone()
    if row is None or not row[0]:
        return None
    return Retention(int(row[0]), int(row[1]), int(row[2]), row[3], row[4])


def run_recount(
    settings: ProcessorSettings,
    rules: Rules,
    topic: str | None = None,
    jsonl: Path | None = None,
    ledger: Path | Sequence[Path] | None = None,
    progress: Progress | None = None,
) -> tuple[list[str], list[Difference], Summary]:
    """Recount the tables from the topic (or a JSON-lines file) and compare them with the stored
    ones; then the ledger check, if asked for."""
    read: Read
    if jsonl is not None:
        read, topic = functools.partial(read_jsonl, jsonl, int(time.time() * 1000)), None
    else:
        topic = topic or settings.kafka_topic
        read = functools.partial(read_topic, settings.kafka_bootstrap, topic)
    conninfo = settings.pg_conninfo()
    names, found, summary = recount(conninfo, read, rules, topic, progress)
    differences = [Difference(*f) for f in found]
    if ledger is not None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("SET default_transaction_read_only = on")
            differences += [Difference("ledger", k, d) for k, d in ledger_differences(conn, ledger)]
        names = [*names, "ledger"]
    return names, differences, summary


DESCRIPTION = """\
Recompute the analytics tables and report every difference, row by row.

By default the tables are recomputed from raw_events with the SQL in db/verify/: this checks
the aggregates against the stored events, not the events themselves.

--from-topic reads the Kafka topic itself instead (every partition, from its first offset to the
end it has when verify starts; nothing is committed), applies the validation, dedupe and
lateness rules with an independent implementation (processor/recount/, not the processor's
code) and compares: the rejected positions and reasons, the stored event_ids and their is_late,
the late count, user_sessions, product_metrics and hourly_metrics. --from-jsonl does the same
for a producer's JSON-lines file (one message per line: partition 0, offset = line number,
Kafka timestamp = now). The bounds come from PROCESSOR_MAX_MESSAGE_BYTES, PROCESSOR_MAX_FUTURE
and PROCESSOR_MAX_LATENESS, as for the processor. Run it once the processor has caught up.

exit codes: 0 everything matches, 1 differences, 2 usage or setup error.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line flags."""
    p = argparse.ArgumentParser(
        prog="python -m processor.verify",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_version(p)
    p.add_argument("--schema", help="PostgreSQL schema to check (POSTGRES_SCHEMA)")
    p.add_argument(
        "--ledger",
        type=Path,
        action="append",
        help="producer ledger JSON to check raw_events against; repeat it for the ledgers of "
        "several producers into one topic (the shards of a run), whose counts add up",
    )
    p.add_argument(
        "--check",
        action="append",
        choices=sql_names("verify"),
        help="run only this SQL check (repeatable); default: all",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--from-topic",
        nargs="?",
        const="",
        metavar="TOPIC",
        help="recount every table from this Kafka topic (default KAFKA_TOPIC) and compare",
    )
    source.add_argument(
        "--from-jsonl",
        type=Path,
        metavar="PATH",
        help="recount every table from a producer's JSON-lines file and compare",
    )
    p.add_argument("--limit", type=int, default=50, help="print at most this many differences")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (schema, checks, ok, every difference, the recount's "
        "counts) instead of text lines, for CI; the exit code is the same",
    )
    return p.parse_args(argv)


def report_json(
    schema: str,
    names: list[str],
    differences: list[Difference],
    summary: Summary | None,
    dropped: Retention | None = None,
) -> str:
    """The outcome as one JSON object (`--json`)."""
    recount = None
    if summary is not None:
        c = summary.counts
        recount = {
            "source": summary.source,
            "partitions": summary.partitions,
            "messages": c.messages,
            "events": summary.tables.events,
            "late": summary.tables.late,
            "earlier_topic_events": summary.tables.earlier,
            "duplicates": c.duplicates,
            "rejected": c.rejected,
            "seconds": round(summary.total_seconds, 3),
        }
    return json.dumps(
        {
            "schema": schema,
            "checks": names,
            "ok": not differences,
            "differences": [
                {"check": d.check, "key": d.key, "detail": d.detail} for d in differences
            ],
            "recount": recount,
            "retention": None
            if dropped is None
            else {
                "partitions": dropped.partitions,
                "events": dropped.events,
                "rejected": dropped.rejected,
                "first_event_time": str(dropped.first_event_time),
                "last_event_time": str(dropped.last_event_time),
            },
        }
    )


def _print_progress(read: int) -> None:
    print(f"verify: {read:,} messages read", file=sys.stderr, flush=True)


def _recount_line(summary: Summary) -> str:
    c, t = summary.counts, summary.tables
    plural = "" if summary.partitions == 1 else "s"
    line = (
        f"verify: recounted {summary.source} ({summary.partitions} partition{plural}) in "
        f"{summary.total_seconds:.1f} s, {summary.rate:,.0f} events/s (reading and checking "
        f"{summary.read_seconds:.1f} s): {c.messages:,} messages = {t.events - t.earlier:,} "
        f"events ({t.late:,} late) + {c.duplicates:,} duplicates + {c.rejected:,} rejected"
    )
    if t.earlier:
        line += (
            f"; plus {t.earlier:,} events of an earlier topic of this name (deleted and created "
            "again), taken as raw_events stores them"
        )
    return line


def _missing_events(d: Difference) -> bool:
    if d.check == "raw_events":
        return d.detail.startswith("missing event")
    return d.check == "ledger" and d.key == "events"


def main(argv: list[str] | None = None) -> int:
    """Verify; print differences and a summary; exit 1 on any difference."""
    args = parse_args(argv)
    from_messages = args.from_topic is not None or args.from_jsonl is not None
    if from_messages and args.check:
        print("verify: --check picks SQL checks; leave it out with --from-topic", file=sys.stderr)
        return 2
    env = load_env()
    if args.schema:
        env["POSTGRES_SCHEMA"] = args.schema
    summary: Summary | None = None
    try:
        settings = ProcessorSettings.from_env(env)
        dropped = retention(settings.pg_conninfo())
        if from_messages and dropped is not None:
            print(
                f"verify: retention dropped {dropped.events:,} raw events and "
                f"{dropped.rejected:,} rejected messages (retention_log), which a recount from "
                "the messages would miss: run verify without --from-topic/--from-jsonl, which "
                "counts them from retention_log (or set PROCESSOR_RAW_RETENTION=off for runs "
                "you recount)",
                file=sys.stderr,
            )
            return 2
        if from_messages:
            names, differences, summary = run_recount(
                settings,
                Rules.from_settings(settings),
                topic=args.from_topic or None,
                jsonl=args.from_jsonl,
                ledger=args.ledger,
                progress=_print_progress,
            )
        else:
            names, differences = run_checks(settings.pg_conninfo(), args.ledger, args.check)
    except (ConfigError, LedgerError, SourceError) as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(
            f"verify: PostgreSQL is not answering ({first}); run ./start_infrastructure.sh",
            file=sys.stderr,
        )
        return 2
    except psycopg.errors.UndefinedTable as exc:
        print(
            f"verify: schema {settings.pg.schema} lacks a table ({exc.diag.message_primary}): "
            "pass the processor's schema with --schema, or run ./start_infrastructure.sh",
            file=sys.stderr,
        )
        return 2
    if args.json:
        print(report_json(settings.pg.schema, list(names), differences, summary, dropped))
        return 1 if differences else 0
    for difference in differences[: args.limit]:
        print(difference)
    if len(differences) > args.limit:
        print(f"... and {len(differences) - args.limit} more")
    if summary is not None:
        print(_recount_line(summary))
    if dropped is not None:
        print(dropped)
    print(
        f"verify: schema {settings.pg.schema}: {len(names)} checks ({', '.join(names)}), "
        f"{len(differences)} differences"
    )
    if summary is not None and any(_missing_events(d) for d in differences):
        print(
            "verify: events the topic holds are missing from raw_events: the processor may not "
            "have caught up (./start_processor.sh --available-now processes what is left); "
            "then verify again"
        )
    elif any(_missing_events(d) for d in differences):
        print(
            "verify: fewer events than the producer sent usually means the processor has not "
            "caught up with the topic yet (a stop leaves the rest in Kafka): "
            "./start_processor.sh --available-now processes what is left; then verify again"
        )
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
