"""Scenarios with ground truth: their names, parameters, documented defaults and parsing.

In: `--scenario NAME[:key=value,...]` texts (repeatable; `run.scenarios` in a config file).
Out: `Scenario` values with every parameter parsed and defaults filled, or a ValueError whose
one line says what to write instead. What each scenario does to the stream is
producer/scenario_plan.py; what it records in the ledger is producer/truth.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from infra.env import ConfigError, parse_duration
from producer.catalog import CATEGORIES
from producer.clock import parse_instant

# Known bot patterns: case-insensitive substrings of a user agent, the way analytics tools
# filter known bots (the IAB/ABC list and GA4 work the same way). A bot scenario session whose
# agent contains one is a "known" bot in the ledger's truth; one that pretends to be a browser
# contains none. The processor marks user_sessions with the same list: import it, or use
# KNOWN_BOT_REGEX (an alternation of these, no metacharacter among them) with PostgreSQL's `~*`
# or Spark's `rlike` after `(?i)`. No agent of the human pool (producer.users) matches one.
KNOWN_BOT_PATTERNS: tuple[str, ...] = (
    "bot",  # Googlebot, bingbot, AhrefsBot, SemrushBot, YandexBot, GPTBot, ...
    "crawl",
    "spider",
    "slurp",  # Yahoo
    "facebookexternalhit",
    "python-requests",
    "python-urllib",
    "curl/",
    "wget/",
    "go-http-client",
    "scrapy",
    "headlesschrome",
    "phantomjs",
)
KNOWN_BOT_REGEX = "|".join(KNOWN_BOT_PATTERNS)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def is_known_bot(user_agent: str) -> bool:
    """Whether a user agent contains one of KNOWN_BOT_PATTERNS, A-Z folded to a-z and nothing
    else (as SQL's lower() in the C locale and the processor's processor/bots.py)."""
    agent = user_agent.translate(_ASCII_LOWER)
    return any(p in agent for p in KNOWN_BOT_PATTERNS)


LIFT_KINDS = ("cart", "purchase", "value")  # add-to-cart probability, conversion, units
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def _number(text: str, what: str) -> float:
    if not _NUMBER.fullmatch(text.strip()):
        raise ValueError(f"{what} must be a number, not {text!r}")
    return float(text)


def _range(low: float, high: float, what: str, value: float) -> float:
    if not low <= value <= high:
        raise ValueError(f"{what} must be from {low:g} to {high:g}, not {value:g}")
    return value


def percent(text: str) -> float:
    """`20%`, `+20%`, `-5%` or `20` (percent) as a fraction: 0.2."""
    return _number(text.strip().removesuffix("%"), "a percentage") / 100


def share(text: str) -> float:
    """A share of sessions: `0.3` or `30%`."""
    t = text.strip()
    value = percent(t) if t.endswith("%") else _number(t, "a share")
    return _range(0, 1, "a share", value)


def factor(text: str) -> float:
    """A multiplier such as `3` or `3x`, above 0 and at most 100."""
    value = _number(text.strip().removesuffix("x"), "a factor")
    if value <= 0:
        raise ValueError(f"a factor must be above 0, not {text!r}")
    return _range(0, 100, "a factor", value)


def slug(text: str) -> str:
    """A name of letters, digits, `.`, `_` and `-` (it goes into JSON and URLs as is)."""
    if not _SLUG.fullmatch(text.strip()):
        raise ValueError(f"{text!r} is not a name of letters, digits, '.', '_' and '-'")
    return text.strip()


def when(text: str) -> tuple[str, int]:
    """A window's start: an offset from the run's start (`2h`, `+90m`) or an instant
    (`2025-08-01T14:00`), as ("offset", ms) or ("at", epoch ms)."""
    t = text.strip()
    if re.fullmatch(r"\+?[0-9.]+\s*(ms|s|m|h|d)?", t):
        try:
            return "offset", int(parse_duration(t.removeprefix("+")) * 1000)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    try:
        return "at", parse_instant(t)
    except ConfigError:
        raise ValueError(
            f"a start must be an offset from the run's start such as 2h or a time such as "
            f"2025-08-01T14:00, not {text!r}"
        ) from None


def duration_ms(text: str) -> int:
    """A window's length, `1h`, `10m`: above 0, at most 30 days."""
    try:
        seconds = parse_duration(text)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    _range(0.001, 30 * 86_400, "a duration in seconds", seconds)
    return int(seconds * 1000)


def day(text: str) -> int | None:
    """`start` (the run's first day) or a date such as 2025-11-28, as epoch ms of its 00:00."""
    if text.strip() == "start":
        return None
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text.strip()):
        raise ValueError(f"a day must be a date such as 2025-11-28 or start, not {text!r}")
    try:
        return parse_instant(text)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def variants(text: str) -> tuple[tuple[str, float], ...]:
    """`A:50,B:50`: two to fifteen distinct variant names with positive weights."""
    out: list[tuple[str, float]] = []
    for part in text.split(","):
        name, sep, weight = part.partition(":")
        if not sep:
            raise ValueError(f"write variants as NAME:WEIGHT,..., such as A:50,B:50, not {text!r}")
        value = _number(weight, "a variant's weight")
        if value <= 0:
            raise ValueError(f"a variant's weight must be above 0, not {weight!r}")
        out.append((slug(name), value))
    names = [n for n, _ in out]
    if not 2 <= len(out) <= 15 or len(set(names)) != len(names):
        raise ValueError(f"give 2 to 15 distinct variants, such as A:50,B:50, not {text!r}")
    return tuple(out)


def lifts(text: str) -> tuple[tuple[str, str, float], ...]:
    """`B:purchase:+20%[,...]` (or `none`): which variant lifts what by how much."""
    if text.strip() == "none":
        return ()
    out = []
    for part in text.split(","):
        bits = part.strip().split(":")
        if len(bits) != 3 or bits[1] not in LIFT_KINDS:
            raise ValueError(
                f"write a lift as VARIANT:{'|'.join(LIFT_KINDS)}:+N%, such as B:purchase:+20%, "
                f"or none, not {part!r}"
            )
        amount = percent(bits[2])
        _range(-0.99, 10, "a lift", amount)
        out.append((slug(bits[0]), bits[1], amount))
    return tuple(out)


def category(text: str) -> int:
    """A category's slug or name (`electronics`, `Home & Kitchen`), as its index."""
    for i, c in enumerate(CATEGORIES):
        if text.strip().lower() in (c.slug, c.name.lower()):
            return i
    known = ", ".join(c.slug for c in CATEGORIES)
    raise ValueError(f"unknown category {text!r}; known: {known}")


def top(text: str) -> int:
    """`0` (the category instead) or N: the N most popular products of the catalog."""
    value = _number(text, "a number of products")
    if not value.is_integer():
        raise ValueError(f"a number of products must be whole, not {text!r}")
    return int(_range(0, 100_000, "a number of products", value))


def source(text: str) -> str:
    """A utm_source such as newsletter, google, facebook."""
    return slug(text)


@dataclass(frozen=True)
class Param:
    """One parameter: its name, default (as written), meaning and parser."""

    name: str
    default: str
    text: str
    parse: Callable[[str], Any]


@dataclass(frozen=True)
class Kind:
    """A scenario: its name, what it does and its parameters."""

    name: str
    summary: str
    params: tuple[Param, ...]


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "ab-test",
            "sessions split into variants by weight; a user keeps its variant; every event "
            "carries experiment and variant",
            (
                Param("name", "checkout-test", "the experiment's name", slug),
                Param("variants", "A:50,B:50", "NAME:WEIGHT,...; the first is the control",
                      variants),
                Param("lift", "B:purchase:+20%",
                      "VARIANT:cart|purchase|value:+N%,... or none (an A/A test): add-to-cart "
                      "probability, session conversion or units per cart line",
                      lifts),
            ),
        ),
        Kind(
            "bots",
            "a share of sessions from crawlers, scrapers and headless browsers: bot user "
            "agents (some pretending to be browsers), datacenter IPs, fast page views, no carts",
            (
                Param("share", "0.30", "share of sessions (Imperva 2024: ~half of web traffic "
                      "automated, bad bots 37%)", share),
                Param("pretending", "0.35", "share of bot sessions with a browser's user agent",
                      share),
            ),
        ),
        Kind(
            "flash-sale",
            "a category (or the top products) discounted over a window: more traffic to it, "
            "more carts and purchases, the sale price on every cart and purchase line",
            (
                Param("category", "electronics", "the category on sale (slug or name)",
                      category),
                Param("products", "0", "N > 0: the N most popular products instead", top),
                Param("discount", "20%", "price cut", percent),
                Param("start", "2h", "offset from the run's start, or a time", when),
                Param("duration", "1h", "length of the window", duration_ms),
                Param("traffic", "3", "views of the sale rise by this factor", factor),
                Param("cart", "1.5", "add-to-cart probability of sale sessions, times", factor),
                Param("purchase", "1.3", "cart-to-checkout probability of sale sessions, times",
                      factor),
            ),
        ),
        Kind(
            "peak-day",
            "a Black-Friday-like day: about 3x a normal day's traffic, the evening peak "
            "pronounced (Adobe: $16M a minute at the Cyber Monday 2025 peak, 8-10 pm)",
            (
                Param("date", "start", "the day (UTC), or start: the run's first day", day),
                Param("factor", "3", "the day's traffic against a normal day", factor),
                Param("evening", "2", "20:00-22:00 (shop time) weighs this much more", factor),
            ),
        ),
        Kind(
            "campaign",
            "a utm_source spike over a window: campaign sessions on top of the usual ones, "
            "with their own referrer, landing URL and conversion",
            (
                Param("name", "newsletter-week", "utm_campaign", slug),
                Param("source", "newsletter", "utm_source", source),
                Param("medium", "email", "utm_medium", slug),
                Param("start", "4h", "offset from the run's start, or a time", when),
                Param("duration", "2h", "length of the window", duration_ms),
                Param("traffic", "2", "sessions in the window, times", factor),
                Param("conversion", "1.5", "campaign sessions' add-to-cart probability, times",
                      factor),
            ),
        ),
        Kind(
            "outage",
            "the site sends nothing for a window (sessions under way end), then traffic "
            "returns with a burst that fades",
            (
                Param("start", "6h", "offset from the run's start, or a time", when),
                Param("duration", "10m", "length of the gap", duration_ms),
                Param("burst", "2", "arrivals right after the gap, times (fading to 1)", factor),
                Param("burst_duration", "15m", "how long the burst takes to fade",
                      duration_ms),
            ),
        ),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    """One scenario as asked for: its kind, every parameter parsed, and how it was written."""

    name: str
    values: dict[str, Any]
    text: str  # NAME:key=value,... with every parameter, defaults included
    written: dict[str, str]  # every parameter as written (or its default's text)

    def ledger_parameters(self) -> dict[str, Any]:
        """The parameters for the ledger: numbers and names as parsed, times as written."""
        kind = KINDS[self.name]
        out: dict[str, Any] = {}
        for p in kind.params:
            value = self.values[p.name]
            if p.parse in (when, day, duration_ms, category):
                out[p.name] = self.written[p.name]
            elif isinstance(value, tuple):
                out[p.name] = [list(v) if isinstance(v, tuple) else v for v in value]
            else:
                out[p.name] = value
        return out

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


def _pairs(body: str, spec: str) -> list[tuple[str, str]]:
    """`key=value,...`; a part without `=` continues the value before (`variants=A:50,B:50`)."""
    pairs: list[tuple[str, str]] = []
    for part in body.split(","):
        key, sep, value = part.partition("=")
        if sep:
            pairs.append((key.strip(), value.strip()))
        elif pairs:
            pairs[-1] = (pairs[-1][0], f"{pairs[-1][1]},{part.strip()}")
        else:
            raise ValueError("write its parameters as key=value,...")
    return pairs


def parse(spec: str) -> Scenario:
    """One `NAME[:key=value,...]` as a Scenario; ValueError in one line otherwise, which
    quotes the spec."""
    try:
        return _parse(spec)
    except ValueError as exc:
        raise ValueError(f"scenario {spec!r}: {exc}") from None


def _parse(spec: str) -> Scenario:
    name, _, body = spec.strip().partition(":")
    kind = KINDS.get(name.strip())
    if kind is None:
        raise ValueError(f"no scenario is called {name.strip()!r}; known: {', '.join(KINDS)}")
    given = dict(_pairs(body, spec)) if body.strip() else {}
    params = {p.name: p for p in kind.params}
    for key in given:
        if key not in params:
            raise ValueError(f"{kind.name} has no parameter {key!r}; it takes {', '.join(params)}")
    values: dict[str, Any] = {}
    for p in kind.params:
        raw = given.get(p.name, p.default)
        try:
            values[p.name] = p.parse(raw)
        except ValueError as exc:
            raise ValueError(f"{p.name}={raw}: {exc}") from None
    text = (
        kind.name + ":" + ",".join(f"{p.name}={given.get(p.name, p.default)}" for p in kind.params)
    )
    written = {p.name: given.get(p.name, p.default) for p in kind.params}
    scenario = Scenario(kind.name, values, text, written)
    if kind.name == "ab-test":
        names = {v for v, _ in values["variants"]}
        for variant, _, _ in values["lift"]:
            if variant not in names:
                raise ValueError(
                    f"the lift names variant {variant!r}, not one of {', '.join(sorted(names))}"
                )
    return scenario


def parse_all(specs: Iterable[str]) -> tuple[Scenario, ...]:
    """Every spec parsed; each scenario at most once."""
    out = tuple(parse(s) for s in specs)
    names = [s.name for s in out]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"scenario {name} is given twice; give each scenario once")
    return out


def check(specs: tuple[str, ...]) -> tuple[str, ...]:
    """The specs as written, once every one parses (the settings' validator)."""
    parse_all(specs)
    return specs


def help_text() -> str:
    """Every scenario with its parameters and defaults, for --help and the docs."""
    lines = ["scenarios (--scenario NAME[:key=value,...], repeatable; config run.scenarios):"]
    for kind in KINDS.values():
        lines.append(f"  {kind.name}: {kind.summary}")
        for p in kind.params:
            lines.append(f"      {p.name}={p.default}  {p.text}")
    return "\n".join(lines)
