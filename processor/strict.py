"""Suspicious rows in, decided rows out: strict JSON for the few messages Spark read leniently.

Spark's JSON reader takes the first object of `{...} xyz` or `{a}{b}`, turns an object or array
in a text field into its JSON text, and reads NaN as a number. parse.py keeps the payload of
every message that might be such a case (a cheap byte test); here Python's strict parser
decides them, and a message that is not exactly one JSON object of scalar fields is rejected
with the reason the first-match order of parse.py gives it (`invalid_json` comes before every
field rule; `bad_type:<field>`, for an object or array, or for a number or boolean in a text
field, comes before the format and value rules).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from processor.schema import JSON_FIELDS, NUMBER_FIELDS

# Reasons that strict JSON can never overrule: they are decided before JSON is looked at.
_BEFORE_JSON = ("oversized_message", "empty_payload", "bad_kafka_timestamp", "invalid_utf8")
# Reasons that come before the JSON-type rules in parse.py's order.
_BEFORE_TYPES = (*_BEFORE_JSON, "invalid_json", "nul_character", "missing_field:")
_FIELD_ORDER = {name: i for i, name in enumerate(JSON_FIELDS)}
_CENT = Decimal("0.01")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _mistyped(name: str, value: object) -> bool:
    """An object or array anywhere, or a number or boolean in a text field."""
    if isinstance(value, dict | list):
        return True
    return name not in NUMBER_FIELDS and isinstance(value, bool | int | float | Decimal)


# Reasons after which an exact price with more than two decimals still comes first.
_AFTER_PRICE = (None, "bad_quantity")


def _off_cent(price: object) -> bool:
    """A JSON number (read as Decimal) that is not a whole number of cents."""
    if not isinstance(price, Decimal) or not price.is_finite():
        return False
    try:
        return price != price.quantize(_CENT)
    except InvalidOperation:  # beyond the context's digits: the range rule has rejected it
        return False


def strict_reason(payload: str, reason: str | None) -> str | None:
    """The reason for one suspicious message under strict JSON (its parse.py `reason` in)."""
    if reason is not None and reason.startswith(_BEFORE_JSON):
        return reason
    try:
        document = json.loads(payload, parse_constant=_no_constants, parse_float=Decimal)
    except (ValueError, RecursionError):
        return "invalid_json"
    if not isinstance(document, dict):
        return "invalid_json"
    if reason is not None and reason.startswith(_BEFORE_TYPES):
        return reason
    nested = [name for name in JSON_FIELDS if _mistyped(name, document.get(name))]
    if not nested:
        # Spark read the price as a double; its text says whether it has more than two decimals.
        if reason in _AFTER_PRICE and _off_cent(document.get("price")):
            return "bad_value:price"
        return reason
    first = min(nested, key=_FIELD_ORDER.__getitem__)
    if reason is not None and reason.startswith("bad_type:"):
        named = reason.removeprefix("bad_type:")
        if _FIELD_ORDER.get(named, len(_FIELD_ORDER)) < _FIELD_ORDER[first]:
            return reason
    return f"bad_type:{first}"


def recheck(rows: pa.RecordBatch, prefix_bytes: int) -> pa.RecordBatch:
    """Decide parse.py's suspicious rows with strict JSON; drop the column that marks them.

    A suspicious row carries its whole payload. Strict JSON gives it its final reason; a row
    that stays valid drops the payload, a rejected one keeps a prefix of it for storage.
    """
    flagged = rows["suspicious"]
    rows = rows.drop_columns(["suspicious"])
    if not pc.any(flagged).as_py():
        return rows
    marks = flagged.to_pylist()
    reasons = rows["reason"].to_pylist()
    payloads = rows["raw_payload"].to_pylist()
    hashes = rows["payload_sha256"].to_pylist()
    sizes = rows["payload_bytes"].to_pylist()
    for i, marked in enumerate(marks):
        if not marked or payloads[i] is None:
            continue
        decided = strict_reason(payloads[i], reasons[i])
        if decided is None:
            payloads[i] = hashes[i] = sizes[i] = None
        else:
            payloads[i] = payloads[i].encode()[:prefix_bytes].decode(errors="replace")
        reasons[i] = decided
    columns = {
        "reason": pa.array(reasons, pa.string()),
        "raw_payload": pa.array(payloads, pa.string()),
        "payload_sha256": pa.array(hashes, pa.string()),
        "payload_bytes": pa.array(sizes, rows.schema.field("payload_bytes").type),
    }
    arrays = [columns.get(name, rows.column(i)) for i, name in enumerate(rows.schema.names)]
    return pa.RecordBatch.from_arrays(arrays, names=rows.schema.names)
