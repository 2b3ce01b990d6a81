"""The clickstream simulator and Kafka producer; `from producer import simulate` for the Python API
(producer/api.py)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Imported on first use: the CLI and the tests import producer.* without the API's imports.
    if name == "simulate":
        from producer.api import simulate

        return simulate
    raise AttributeError(f"module 'producer' has no attribute {name!r}")
