"""Expand a panel's SQL the way Grafana does before PostgreSQL sees it.

In: a rawSql string, the dashboard's template variables with their selected values, and a time
range. Out: plain SQL. Two stages, as in Grafana: the browser interpolates template variables
(quoting multi-value ones, `$__interval`, ...), then the PostgreSQL data source's backend expands
its macros (`$__timeFilter`, `$__timeGroupAlias`, `$__timeFrom`, ...), see Grafana's
pkg/tsdb/grafana-postgresql-datasource/macros.go.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

ALL = "$__all"
_UNITS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
    "M": 2592000,
    "y": 31536000,
}
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]")
# Grafana's rangeutil.roundInterval: (upper bound in ms, interval) pairs, first match wins.
_ROUND = [
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
    (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000),
    (45000, 30000), (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000),
    (1050000, 900000), (1500000, 1200000), (2700000, 1800000), (5400000, 3600000),
    (9000000, 7200000), (16200000, 10800000), (32400000, 21600000), (86400000, 43200000),
]  # fmt: skip


class ExpandError(ValueError):
    """A query uses a macro or variable that Grafana would not expand."""


@dataclass(frozen=True)
class TimeRange:
    """The dashboard's time picker: an absolute UTC range."""

    start: datetime
    end: datetime

    @classmethod
    def last(cls, span: timedelta, now: datetime) -> TimeRange:
        """Return the range `now - span` .. `now` (like `now-6h` .. `now`)."""
        return cls(now - span, now)


@dataclass(frozen=True)
class Variable:
    """A template variable: its model fields and the values currently selected."""

    name: str
    multi: bool
    include_all: bool
    all_value: str | None
    options: Sequence[str]
    selected: Sequence[str] = field(default_factory=lambda: [ALL])


def parse_interval(text: str) -> float:
    """Return the seconds of a Grafana interval such as `20s`, `5m`, `1h` or `500ms`."""
    match = re.fullmatch(r"\s*['\"]?(\d+(?:\.\d+)?)(ms|s|m|h|d|w|M|y)['\"]?\s*", text)
    if not match:
        raise ExpandError(f"invalid interval {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def format_interval(seconds: float) -> str:
    """Return Grafana's text for an interval: `500ms`, `20s`, `5m`, `1h`, `1d`."""
    ms = round(seconds * 1000)
    for unit, size in (("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def auto_interval(span: TimeRange, max_data_points: int = 1000, min_interval: str = "5s") -> float:
    """Return `$__interval` in seconds: range / data points, rounded, at least `min_interval`."""
    raw_ms = (span.end - span.start).total_seconds() * 1000 / max_data_points
    rounded = next((ms for bound, ms in _ROUND if raw_ms < bound), 86400000)
    return max(rounded / 1000, parse_interval(min_interval))


def quote_literal(value: str) -> str:
    """Return `value` as a PostgreSQL string literal, as Grafana's SQL datasources quote it."""
    return "'" + value.replace("'", "''") + "'"


def interpolate_variable(variable: Variable) -> str:
    """Return the text Grafana puts in place of `$name` for the variable's current selection."""
    if list(variable.selected) == [ALL]:
        if variable.all_value is not None:
            return variable.all_value  # custom All values are inserted raw, unquoted
        values = list(variable.options)
    else:
        values = list(variable.selected)
    if not (variable.multi or variable.include_all):
        return values[0].replace("'", "''")
    if not values:
        raise ExpandError(f"variable ${variable.name} has no values to expand to")
    return ",".join(quote_literal(v) for v in values)


def expand_variables(sql: str, variables: Mapping[str, Variable], interval_s: float) -> str:
    """Replace template and global variables as the browser does; others are left as written."""
    globals_ = {
        "__interval": format_interval(interval_s),
        "__interval_ms": str(round(interval_s * 1000)),
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        if match.group(3) not in (None, "sqlstring"):
            raise ExpandError(f"format :{match.group(3)} of ${name} is not supported here")
        if name in globals_:
            return globals_[name]
        if name in variables:
            return interpolate_variable(variables[name])
        return match.group(0)

    return _VARIABLE.sub(replace, sql)


def _rfc3339(moment: datetime) -> str:
    """Format like Go's time.RFC3339Nano in UTC: trailing zeros of the fraction dropped."""
    stamp = moment.astimezone(UTC)
    fraction = f"{stamp.microsecond:06d}".rstrip("0")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def _seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def expand_macros(sql: str, span: TimeRange) -> str:
    """Expand the PostgreSQL data source's macros for a time range, as its backend does."""
    start, end = _rfc3339(span.start), _rfc3339(span.end)
    from_s, to_s = math.floor(span.start.timestamp()), math.floor(span.end.timestamp())

    def group(args: list[str], epoch: bool) -> str:
        if len(args) < 2:
            raise ExpandError("macro $__timeGroup needs a column and an interval")
        step = _seconds(parse_interval(args[1]))
        column = args[0]
        if epoch:
            return f"floor(({column})/{step})*{step}"
        return f"floor(extract(epoch from {column})/{step})*{step}"

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        args = [a.strip() for a in match.group(2).split(",")]
        expansions: dict[str, Any] = {
            "__time": lambda: f'{args[0]} AS "time"',
            "__timeEpoch": lambda: f'extract(epoch from {args[0]}) as "time"',
            "__timeFilter": lambda: f"{args[0]} BETWEEN '{start}' AND '{end}'",
            "__timeFrom": lambda: f"'{start}'",
            "__timeTo": lambda: f"'{end}'",
            "__timeGroup": lambda: group(args, epoch=False),
            "__timeGroupAlias": lambda: group(args, epoch=False) + ' AS "time"',
            "__unixEpochFilter": lambda: f"{args[0]} >= {from_s} AND {args[0]} <= {to_s}",
            "__unixEpochFrom": lambda: str(from_s),
            "__unixEpochTo": lambda: str(to_s),
            "__unixEpochGroup": lambda: group(args, epoch=True),
            "__unixEpochGroupAlias": lambda: group(args, epoch=True) + ' AS "time"',
        }
        if name not in expansions:
            raise ExpandError(f"undefined macro: ${name}")
        if name.startswith("__timeGroup") and len(args) > 2:
            raise ExpandError(f"${name} with a fill mode is not supported by this expander")
        return str(expansions[name]())

    return _MACRO.sub(replace, sql)


def expand(
    sql: str,
    variables: Mapping[str, Variable],
    span: TimeRange,
    interval_s: float | None = None,
) -> str:
    """Return `sql` with variables, then macros, expanded; refuse anything left unexpanded."""
    step = auto_interval(span) if interval_s is None else interval_s
    expanded = expand_macros(expand_variables(sql, variables, step), span)
    leftover = re.search(r"\$\{?\w+|\[\[\w+\]\]", expanded)
    if leftover:
        raise ExpandError(f"{leftover.group(0)} was left unexpanded in: {expanded}")
    return expanded


def dashboard_variables(
    model: Mapping[str, Any], query_options: Mapping[str, Sequence[str]], strict: bool = True
) -> dict[str, Variable]:
    """Return the dashboard's variables with All selected; query variables take their options
    from `query_options` (the rows their query returned). `strict`: a variable of another type
    than custom or query is an ExpandError (else it is read like a query variable)."""
    result = {}
    for var in model.get("templating", {}).get("list", []):
        name = var["name"]
        if var.get("type") == "custom":
            options = [v.strip() for v in str(var.get("query", "")).split(",") if v.strip()]
        elif var.get("type") == "query" or not strict:
            options = list(query_options.get(name, []))
        else:
            raise ExpandError(f"variable ${name} has unsupported type {var.get('type')!r}")
        result[name] = Variable(
            name=name,
            multi=bool(var.get("multi")),
            include_all=bool(var.get("includeAll")),
            all_value=var.get("allValue") or None,
            options=options,
        )
    return result
