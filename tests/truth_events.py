"""Hand-made traffic whose truth is known: A/B experiments with a set conversion per variant,
and bot sessions with known and disguised user agents. Written here, not by the producer, so
that the processor's side is tested on its own (the producer's `--scenario` has its own tests).

`Truth` records what was made, session by session, so a test can compare the processor's
tables and views with it exactly.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.processor.sample_events import DEVICES, event, uid

# Real crawler and scraper user agents (each matches processor/bots.py), and bots that pretend
# to be browsers (which no user-agent filter can tell from a person, and none should mark).
KNOWN_BOTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36",
    "python-requests/2.31.0",
    "curl/8.5.0",
    "Scrapy/2.11.0 (+https://scrapy.org)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0)",
)
DISGUISED_BOTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
)


@dataclass
class Session:
    """What one made session is, by construction."""

    session_id: str
    start: datetime
    experiment: str | None
    variant: str | None
    known_bot: bool
    converted: bool
    orders: int
    revenue: Decimal


@dataclass
class Truth:
    """Every made session, and the events that make them."""

    sessions: list[Session] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: Truth) -> None:
        """Take another's sessions and events too."""
        self.sessions += other.sessions
        self.events += other.events

    def variants(self, experiment: str) -> dict[str, tuple[int, int]]:
        """(human sessions, converted ones) per variant of an experiment."""
        out: dict[str, tuple[int, int]] = {}
        for s in self.sessions:
            if s.experiment == experiment and not s.known_bot and s.variant is not None:
                n, x = out.get(s.variant, (0, 0))
                out[s.variant] = (n + 1, x + s.converted)
        return out

    def messages(self) -> list[tuple[bytes, bytes]]:
        """(key, value) Kafka messages: the session id, and the event as compact JSON (as the
        producer writes it), in event-time order."""
        ordered = sorted(self.events, key=lambda e: (e["timestamp"], e["event_id"]))
        return [
            (e["session_id"].encode(), json.dumps(e, separators=(",", ":")).encode())
            for e in ordered
        ]


def send(bootstrap: str, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> None:
    """Send (key, value) messages and wait for every delivery."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20})
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.5)
        producer.poll(0)
    assert producer.flush(60) == 0, "not every message was delivered"


def _session(
    rng: random.Random,
    start: datetime,
    agent: str,
    device: str,
    converts: bool,
    extra: dict[str, str],
    products: list[tuple[str, float]],
    truth: Truth,
    known_bot: bool,
) -> None:
    user, session = uid(rng), uid(rng)
    t = start
    made: list[dict[str, Any]] = []
    common = {"user_id": user, "session_id": session, "device_type": device}
    for _ in range(rng.randint(1, 3)):
        product, _price = rng.choice(products)
        made.append(event("page_view", t, product_id=product, **common, **extra))
        t += timedelta(seconds=rng.uniform(1, 40))
    orders, revenue = 0, Decimal(0)
    if converts:
        product, price = rng.choice(products)
        quantity = rng.randint(1, 3)
        cart = {"price": price, "quantity": quantity}
        made.append(event("add_to_cart", t, product_id=product, **cart, **common, **extra))
        t += timedelta(seconds=rng.uniform(1, 60))
        order = uid(rng)
        made.append(
            event("purchase", t, product_id=product, order_id=order, **cart, **common, **extra)
        )
        orders, revenue = 1, Decimal(str(price)) * quantity
    for e in made:
        e["user_agent"] = agent
    truth.events += made
    experiment, variant = extra.get("experiment"), extra.get("variant")
    truth.sessions.append(
        Session(session, start, experiment, variant, known_bot, converts, orders, revenue)
    )


def experiment(
    name: str,
    rates: dict[str, float],
    sessions_per_variant: int,
    start: datetime,
    span: timedelta,
    seed: int,
) -> Truth:
    """Human sessions of an A/B test: each variant's sessions convert (one order) with its rate;
    every event of a session carries `experiment` and `variant`."""
    rng = random.Random(seed)
    products = [(uid(rng), round(rng.uniform(5, 120), 2)) for _ in range(30)]
    truth = Truth()
    for variant, rate in rates.items():
        for _ in range(sessions_per_variant):
            device = rng.choice(list(DEVICES))
            at = start + timedelta(seconds=rng.uniform(0, span.total_seconds()))
            extra = {"experiment": name, "variant": variant}
            converts = rng.random() < rate
            _session(rng, at, DEVICES[device], device, converts, extra, products, truth, False)
    return truth


def bots(
    humans: int,
    known: int,
    disguised: int,
    start: datetime,
    span: timedelta,
    seed: int,
    experiment: str | None = None,
) -> Truth:
    """Human sessions, bot sessions with known bot user agents, and bots that pretend to be
    browsers (counted as humans by any user-agent filter); bots never buy. With `experiment`,
    every session is in its variant A."""
    rng = random.Random(seed)
    products = [(uid(rng), round(rng.uniform(5, 120), 2)) for _ in range(10)]
    extra = {} if experiment is None else {"experiment": experiment, "variant": "A"}
    truth = Truth()
    kinds = ["human"] * humans + ["known"] * known + ["disguised"] * disguised
    rng.shuffle(kinds)
    for kind in kinds:
        at = start + timedelta(seconds=rng.uniform(0, span.total_seconds()))
        if kind == "human":
            device = rng.choice(list(DEVICES))
            converts = rng.random() < 0.1
            _session(rng, at, DEVICES[device], device, converts, extra, products, truth, False)
        else:
            agent = rng.choice(KNOWN_BOTS if kind == "known" else DISGUISED_BOTS)
            _session(rng, at, agent, "desktop", False, extra, products, truth, kind == "known")
    return truth


Z95 = 1.959964


def katz_interval(n: int, x: int, n_c: int, x_c: int) -> tuple[float, float, float]:
    """The relative lift of conversion x/n over x_c/n_c and its 95% interval (log ratio, Katz),
    computed here independently of the SQL view."""
    ratio = (x / n) / (x_c / n_c)
    se = math.sqrt(1 / x - 1 / n + 1 / x_c - 1 / n_c)
    return (
        ratio - 1,
        math.exp(math.log(ratio) - Z95 * se) - 1,
        math.exp(math.log(ratio) + Z95 * se) - 1,
    )


def difference_interval(n: int, x: int, n_c: int, x_c: int) -> tuple[float, float, float]:
    """p - p_c and its two-proportion (unpooled) 95% interval."""
    p, p_c = x / n, x_c / n_c
    se = math.sqrt(p * (1 - p) / n + p_c * (1 - p_c) / n_c)
    return p - p_c, p - p_c - Z95 * se, p - p_c + Z95 * se


def hours_ago(hours: float, now: datetime | None = None) -> datetime:
    """A whole second `hours` before now (UTC)."""
    base = (now or datetime.now(UTC)).replace(microsecond=0)
    return base - timedelta(hours=hours)


def known_bot_share(sessions: Iterable[Session]) -> tuple[int, int]:
    """(sessions with a known bot user agent, all sessions)."""
    made = list(sessions)
    return sum(s.known_bot for s in made), len(made)
