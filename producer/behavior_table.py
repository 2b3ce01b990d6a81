"""The behaviour table: producer/behavior.toml, read once, and the shapes an override must have.

In: the table file shipped with the package (the defaults of `[behavior]`) and, through
producer.config, a config file's `[behavior]` entries. Out: each entry's default, the types
that check an override of a table (landing, bounce odds, transitions, delays, referrers) where
it is given, so a bad entry is one line naming it, and slot tables for O(1) sampling.
"""

from __future__ import annotations

import copy
import math
import tomllib
from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Annotated, Any, cast

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, with_config
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from producer.checks import Limit

TABLE_FILE = "behavior.toml"
DEFAULTS: dict[str, Any] = tomllib.loads(
    files("producer").joinpath(TABLE_FILE).read_text(encoding="utf-8")
)
PAGES = ("home", "category", "search", "product", "cart", "checkout")
LANDING_PAGES = PAGES[:4]
MOVES = (
    *("home", "category", "same_category", "search", "same_search"),
    *("product", "same_category_product", "cart", "checkout", "exit"),
)
CART_MOVES = ("cart", "checkout")  # open only while the cart holds something
DELAYS = ("add_to_cart", "pay")
SLOT_BITS = 10  # weights are realised in steps of 1/1024 (small tables stay in the CPU cache)


def default(key: str) -> Any:
    """The table file's value of `key` (a fresh copy: a setting never shares it)."""
    return copy.deepcopy(DEFAULTS[key])


Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Odds = Annotated[float, Field(ge=0.0, le=10.0, allow_inf_nan=False)]
Seconds = Annotated[float, Field(gt=0.0, le=86_400.0, allow_inf_nan=False)]
Sigma = Annotated[float, Field(ge=0.0, le=10.0, allow_inf_nan=False)]
FORBID = ConfigDict(extra="forbid")


@with_config(FORBID)
class PageWeights(TypedDict, total=False):
    """Weights of the landing pages."""

    home: Probability
    category: Probability
    search: Probability
    product: Probability


@with_config(FORBID)
class PageOdds(TypedDict, total=False):
    """Relative bounce odds of the landing pages."""

    home: Odds
    category: Odds
    search: Odds
    product: Odds


@with_config(FORBID)
class Moves(TypedDict, total=False):
    """Weights of the moves from one page."""

    home: Probability
    category: Probability
    same_category: Probability
    search: Probability
    same_search: Probability
    product: Probability
    same_category_product: Probability
    cart: Probability
    checkout: Probability
    exit: Probability


@with_config(FORBID)
class Transitions(TypedDict, total=False):
    """The moves of every page."""

    home: Moves
    category: Moves
    search: Moves
    product: Moves
    cart: Moves
    checkout: Moves


@with_config(FORBID)
class Delay(TypedDict, total=False):
    """A lognormal delay: median and cap in seconds, sigma of its logarithm."""

    median: Seconds
    sigma: Sigma
    cap: Seconds


@with_config(FORBID)
class Delays(TypedDict, total=False):
    """The delays of the funnel's steps."""

    add_to_cart: Delay
    pay: Delay


def _merged(key: str) -> BeforeValidator:
    """Lay an override over the table file's entries: `{"product": {"home": 0.2}}` changes that
    one entry and keeps the rest (nested tables merge, entries replace)."""

    def merge(value: Any) -> Any:
        return _merge(default(key), value) if isinstance(value, Mapping) else value

    return BeforeValidator(merge)


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    for name, value in override.items():
        inner = base.get(name)
        if isinstance(inner, dict) and isinstance(value, Mapping):
            base[name] = _merge(inner, value)
        else:
            base[name] = value
    return base


def _some_weight(key: str, nested: bool = False) -> AfterValidator:
    """A table of weights (`nested`: of pages of weights) where each holds one above 0."""

    def check(value: Any) -> Any:
        groups = [(f"{key}.{name}", g) for name, g in value.items()] if nested else [(key, value)]
        for where, group in groups:
            if not any(w > 0 for w in group.values()):
                raise ValueError(f"every weight of {where} is 0: give one a weight above 0")
        return value

    return AfterValidator(check)


def _referrers(value: dict[str, float]) -> dict[str, float]:
    for name in value:
        if name != "direct" and not name.startswith(("https://", "http://")):
            raise ValueError(f"referrer {name!r} is not a URL: write https://... or direct")
    return value


def _quantities(value: tuple[float, ...]) -> tuple[float, ...]:
    in_range = 1 <= len(value) <= 100 and all(math.isfinite(w) and w >= 0 for w in value)
    if not in_range or sum(value) <= 0:
        raise PydanticCustomError("rule", "out of range")
    return value


LandingTable = Annotated[PageWeights, _merged("landing"), _some_weight("landing")]
BounceTable = Annotated[PageOdds, _merged("bounce_odds"), _some_weight("bounce_odds")]
TransitionTable = Annotated[Transitions, _merged("transitions"), _some_weight("transitions", True)]
DelayTable = Annotated[Delays, _merged("delays")]
ReferrerTable = Annotated[
    dict[str, Probability], _merged("referrers"), _some_weight("referrers"),
    AfterValidator(_referrers),
]  # fmt: skip
QuantityList = Annotated[tuple[float, ...], AfterValidator(_quantities)]


def _entry_limits() -> list[Limit]:
    """A limit per table entry (`behavior.transitions.product.home`), so a bad value is named
    by its own key, with its range and the table file's value as the example."""
    out: list[Limit] = []
    for page in LANDING_PAGES:
        out.append(Limit(f"behavior.landing.{page}", 0, 1, f"{DEFAULTS['landing'][page]:g}"))
        out.append(
            Limit(f"behavior.bounce_odds.{page}", 0, 10, f"{DEFAULTS['bounce_odds'][page]:g}")
        )
    for page in PAGES:
        for move in MOVES:
            example = DEFAULTS["transitions"][page].get(move, 0.1)
            out.append(Limit(f"behavior.transitions.{page}.{move}", 0, 1, f"{example:g}"))
    for step in DELAYS:
        d = DEFAULTS["delays"][step]
        out.append(
            Limit(f"behavior.delays.{step}.median", 0, 86_400, f"{d['median']:g}", above=True)
        )
        out.append(Limit(f"behavior.delays.{step}.sigma", 0, 10, f"{d['sigma']:g}"))
        out.append(Limit(f"behavior.delays.{step}.cap", 0, 86_400, f"{d['cap']:g}", above=True))
    return out


ENTRY_LIMITS = {limit.key: limit for limit in _entry_limits()}
# The keys a table takes where an unknown one was found (config.known_keys).
KNOWN: dict[tuple[str, ...], Sequence[str]] = {
    ("behavior", "landing"): LANDING_PAGES,
    ("behavior", "bounce_odds"): LANDING_PAGES,
    ("behavior", "transitions"): PAGES,
    **{("behavior", "transitions", page): MOVES for page in PAGES},
    ("behavior", "delays"): DELAYS,
    **{("behavior", "delays", step): ("median", "sigma", "cap") for step in DELAYS},
}


def weights(table: Mapping[str, object]) -> dict[str, float]:
    """A table of weights as a plain dict (a TypedDict types its keys one by one)."""
    return cast(dict[str, float], dict(table))


def pages(table: Mapping[str, object]) -> dict[str, dict[str, float]]:
    """A table of pages of weights as plain dicts."""
    return {page: weights(cast(Mapping[str, object], moves)) for page, moves in table.items()}
