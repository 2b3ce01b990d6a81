"""Layered configuration: `.env.example` defaults, then `.env`, then the process environment.

Only entry points call `load_env`; library code receives the resulting mapping or a settings
object built from it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"

SECRET_MARKERS = ("PASSWORD", "SECRET", "TOKEN")


def load_env(root: Path = ROOT, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Merge `.env.example`, `.env` and the environment (later wins) into one flat dict."""
    merged: dict[str, str] = {}
    for name in (".env.example", ".env"):
        path = root / name
        if path.is_file():
            merged.update({k: v or "" for k, v in dotenv_values(path).items()})
    merged.update(os.environ if environ is None else environ)
    return merged


def mask(key: str, value: str) -> str:
    """Return `value`, or asterisks when `key` names a secret."""
    return "****" if any(m in key.upper() for m in SECRET_MARKERS) and value else value


def mask_property(key: str, value: str) -> str:
    """A Kafka client property's value, or asterisks for credentials (`sasl.*`, `ssl.key.*`,
    anything named like a password, secret or token)."""
    lowered = key.lower()
    secret = lowered.startswith(("sasl.", "ssl.key.", "ssl.keystore."))
    return "****" if value and secret else mask(key, value)


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable and an example."""


def require(env: Mapping[str, str], key: str, example: str) -> str:
    """Return a non-empty setting or raise ConfigError naming it and where it was looked for."""
    value = env.get(key, "").strip()
    if not value:
        raise ConfigError(
            f"{key} is not set (looked in the environment, .env and .env.example); "
            f"set it, for example {key}={example}"
        )
    return value


def parse_duration(text: str) -> float:
    """Parse `30s`, `20m`, `2h`, `1d` or plain seconds into seconds."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    raw = text.strip().lower()
    for suffix in sorted(units, key=len, reverse=True):
        if raw.endswith(suffix):
            number = raw[: -len(suffix)]
            break
    else:
        number, suffix = raw, "s"
    try:
        value = float(number) * units[suffix]
    except ValueError:
        raise ConfigError(f"invalid duration {text!r}: write it like 30s, 20m, 2h or 1d") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"invalid duration {text!r}: it must be a finite time, not negative")
    return value
