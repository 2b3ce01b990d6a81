"""The event contract: contract/event.schema.json (JSON Schema, draft 2020-12) and its validator.

The schema file is the one definition of a valid event. The producer's tests and profile check
events against it, the processor takes its enums and bounds from it, and downstream systems can
be given the file as is. Each rule carries the processor's rejection reason (`x-reason`,
`x-reasons` by keyword), so `reasons` answers in the vocabulary of `rejected_events.reason`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema.protocols import Validator

SCHEMA_PATH = Path(__file__).with_name("event.schema.json")


@cache
def schema() -> dict[str, Any]:
    """The schema, as read from SCHEMA_PATH."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(), parse_float=Decimal)
    return loaded


def _properties() -> dict[str, Any]:
    properties: dict[str, Any] = schema()["properties"]
    return properties


FIELDS: tuple[str, ...] = tuple(_properties())
REQUIRED_FIELDS: tuple[str, ...] = tuple(schema()["required"])
EVENT_TYPES: tuple[str, ...] = tuple(_properties()["event_type"]["enum"])
DEVICE_TYPES: tuple[str, ...] = tuple(_properties()["device_type"]["enum"])
MAX_PRICE = Decimal(_properties()["price"]["maximum"])
MAX_QUANTITY = int(_properties()["quantity"]["maximum"])

# The processor's order of reasons (docs/processor.md, Validation): the first that applies wins.
# Message-level reasons (size, emptiness, UTF-8, the Kafka timestamp) come before any of these.
ORDER = (
    "invalid_json",
    "nul_character",
    "missing_field:",
    "bad_type:",
    "timestamp_too_old",
    "unknown_event_type",
    "bad_value:device_type",
    "bad_value:page_url",
    "missing_field:product_id",
    "missing_field:price",
    "missing_field:quantity",
    "missing_field:order_id",
    "unexpected_field:order_id",
    "bad_value:price",
    "negative_price",
    "bad_quantity",
)


def _instant(text: str) -> datetime:
    """The instant of an RFC 3339 date-time; year 0000 (RFC 3339 allows it, Python has no year
    0) comes out as datetime.min. Raises ValueError when it is no real date and time."""
    if text.startswith("0000"):  # year 0 has year 2000's calendar (divisible by 400)
        datetime.fromisoformat("2000" + text[4:].replace("Z", "+00:00"))
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _date_time(instance: object) -> bool:
    """RFC 3339 date-time as a real date and time (the pattern checks the form)."""
    if not isinstance(instance, str):
        return True
    try:
        _instant(instance)
    except ValueError:
        return False
    return True


def _multiple_of(
    validator: Validator, step: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    """multipleOf in exact decimal arithmetic, for ints, floats and Decimals of any size."""
    if not validator.is_type(instance, "number"):
        return
    if isinstance(instance, float):  # its shortest decimal form: the JSON text, as a rule
        instance = Decimal(repr(instance))
    try:
        exact = Fraction(instance) / Fraction(str(step))
    except (OverflowError, ValueError):  # infinite: the range rules say why
        exact = Fraction(1, 3)
    if exact.denominator != 1:
        yield ValidationError(f"{instance!r} is not a multiple of {step}")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _no_nul(
    validator: Validator, on: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if on and _has_nul(instance):
        yield ValidationError("a string or name holds a NUL character")


def _not_before(
    validator: Validator, floor: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not isinstance(instance, str):
        return
    try:
        at = _instant(instance)
    except (ValueError, OverflowError):
        return  # the format rule says why
    if at.tzinfo is not None and at < datetime.fromisoformat(floor):
        yield ValidationError(f"{instance!r} is before {floor}")


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    # ECMA-262's `$` (what JSON Schema means) is the end of the text; Python's also matches
    # before a final newline, which would let "<uuid>\n" through.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(
    validator: Validator, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_formats = FormatChecker()
_formats.checks("date-time")(_date_time)
_Validator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    {
        "multipleOf": _multiple_of,
        "pattern": _pattern,
        "x-no-nul": _no_nul,
        "x-not-before": _not_before,
    },
)


@cache
def validator() -> Validator:
    """A validator of the schema with formats asserted and this file's own keywords checked."""
    checker: Validator = _Validator(schema(), format_checker=_formats)
    return checker


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: str | bytes) -> Any:
    """Strict JSON as the contract reads it (no NaN or Infinity; of duplicate names the last
    wins), numbers with a fraction or exponent as exact Decimals. Raises ValueError."""
    return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)


def _reason(error: ValidationError) -> str:
    path = list(error.absolute_path)
    field = str(path[0]) if path else None
    if error.instance is None and len(path) == 1 and field is not None:
        return f"missing_field:{field}"  # null is absent
    for where in (error.schema, _properties().get(field, {}) if field else schema()):
        if not isinstance(where, Mapping):
            continue
        named = where.get("x-reasons", {}).get(error.validator) or where.get("x-reason")
        if named:
            return str(named)
    return f"bad_type:{field}" if field else "invalid_json"


def reasons(event: Any) -> list[str]:
    """Every rejection reason that applies to a parsed event ([] when it is valid), in order."""
    found: set[str] = set()
    for error in validator().iter_errors(event):
        names = error.validator_value
        if error.validator == "required" and isinstance(names, list):
            given = event if isinstance(event, dict) else {}
            found.update(f"missing_field:{name}" for name in names if name not in given)
        else:
            found.add(_reason(error))
    return sorted(found, key=_rank)


def _rank(reason: str) -> tuple[int, int, str]:
    if reason in ORDER:
        kind = ORDER.index(reason)
    else:
        kind = next(i for i, start in enumerate((*ORDER, "")) if reason.startswith(start))
    field = reason.partition(":")[2]
    return kind, FIELDS.index(field) if field in FIELDS else len(FIELDS), reason


def first_reason(event: Any) -> str | None:
    """The reason the processor gives a parsed event (None when valid), message rules aside."""
    found = reasons(event)
    return found[0] if found else None
