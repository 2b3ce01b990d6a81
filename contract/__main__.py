"""python -m contract: print the event schema, check events against it, regenerate the docs table.

python -m contract schema              the schema file, to hand to downstream systems
python -m contract check FILE|-        each line of a JSON-lines file against the schema;
                                       prints the count by reason, exit 1 if any is invalid
python -m contract docs [--write]      the event table of docs/producer.md (--write: update it)
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Sequence

import contract
from contract import docs
from infra.version import add_version


def _check(lines: Iterable[str], show: int) -> int:
    counts: Counter[str] = Counter()
    total = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        total += 1
        try:
            reason = contract.first_reason(contract.loads(line))
        except (ValueError, RecursionError):
            reason = "invalid_json"
        if reason is not None:
            counts[reason] += 1
            if sum(counts.values()) <= show:
                print(f"line {number}: {reason}: {line.strip()[:120]}", file=sys.stderr)
    bad = sum(counts.values())
    print(f"{total:,} events checked: {total - bad:,} valid, {bad:,} invalid")
    for reason, count in counts.most_common():
        print(f"  {reason:<28} {count:>10,}")
    return 1 if bad else 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m contract",
        description="The clickstream event contract (contract/event.schema.json).",
    )
    add_version(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("schema", help="print the schema file")
    checking = commands.add_parser("check", help="check a JSON-lines file of events")
    checking.add_argument("file", help="a JSON-lines file, or - for standard input")
    checking.add_argument(
        "--show", type=int, default=10, metavar="N", help="print the first N invalid lines"
    )
    documenting = commands.add_parser("docs", help="the event table of docs/producer.md")
    documenting.add_argument("--write", action="store_true", help="update docs/producer.md")
    args = parser.parse_args(argv)
    if args.command == "schema":
        sys.stdout.write(contract.SCHEMA_PATH.read_text())
        return 0
    if args.command == "check":
        if args.file == "-":
            return _check(sys.stdin, args.show)
        try:
            with open(args.file, encoding="utf-8", errors="replace") as lines:
                return _check(lines, args.show)
        except OSError as exc:
            print(f"contract: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 2
    if args.write:
        print(f"{docs.DOCS}: {'updated' if docs.write() else 'already up to date'}")
        return 0
    sys.stdout.write(docs.render_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
