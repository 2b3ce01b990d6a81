"""`--shard I/N`: one of N producers that together simulate one run, with no coordination.

Shard I of N (1-based) simulates its own disjoint part of the users and their sessions at 1/N of
the rate, with 1/N of the user pool and of `--events`. Its seed is derived from the run's seed
and (I, N), so N machines given the same flags and seed and different I make N disjoint streams
that together have the statistics of one run at the full rate. The catalog is built from the
run's seed itself, so every shard sells the same products.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

from infra.env import ConfigError
from producer.config import Settings

_SHARD = re.compile(r"([0-9]{1,6})/([0-9]{1,6})")


def parse_shard(text: str, given_as: str = "--shard") -> tuple[int, int]:
    """`I/N` as (I, N), 1 <= I <= N; ConfigError naming `given_as` otherwise."""
    match = _SHARD.fullmatch(text.strip())
    index, count = (int(match[1]), int(match[2])) if match else (0, 0)
    if not 1 <= index <= count:
        raise ConfigError(
            f"{given_as} {text!r}: give I/N with 1 <= I <= N, for example --shard 2/4 "
            "(the second of four producers)"
        )
    return index, count


def shard_seed(seed: int, index: int, count: int) -> int:
    """The seed of shard `index` of `count`: a hash of the run's seed and the shard (N = 1 keeps
    the seed, so an unsharded run is unchanged)."""
    if count == 1:
        return seed
    digest = hashlib.sha256(f"clickstream-shard:{seed}:{index}/{count}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def share(total: int, index: int, count: int) -> int:
    """Shard `index`'s part of `total` whole things (the parts add up to `total`)."""
    return total // count + (1 if index <= total % count else 0)


def for_shard(settings: Settings) -> Settings:
    """The settings one shard runs with: its part of the rate, the users and the events."""
    index, count = parse_shard(settings.run.shard, "run.shard")
    if count == 1:
        return settings
    users = settings.behavior.users
    if users < count:
        raise ConfigError(
            f"--shard {settings.run.shard}: {users} users cannot be split {count} ways; "
            f"give at least --users {count}"
        )
    run, events = settings.run, settings.run.events
    return replace(
        settings,
        traffic=replace(settings.traffic, rate=settings.traffic.rate / count),
        behavior=replace(settings.behavior, users=share(users, index, count)),
        run=replace(run, events=None if events is None else share(events, index, count)),
    )
