"""The behaviour table (producer/behavior.toml): it loads and validates, a config file overrides
any entry (a bad one is one line naming it), an override changes what sessions do, and the
default profile's popularity head and session durations land near Coveo's figures."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from infra.env import ConfigError
from producer import cli
from producer.behavior import event_text
from producer.behavior_table import DEFAULTS, ENTRY_LIMITS, MOVES, PAGES, TABLE_FILE
from producer.config import BehaviorSettings, RunSettings, Settings
from producer.models import weighted_slots
from producer.profile import measure, sample
from tests.producer.conftest import generate

TABLE = Path(__file__).resolve().parents[2] / "producer" / TABLE_FILE


def behavior_from(tmp_path: Path, text: str) -> BehaviorSettings:
    """The behaviour settings a config file holding `text` gives."""
    config = tmp_path / "shop.toml"
    config.write_text(text)
    return cli.build_settings(cli.parser().parse_args(["--config", str(config)]), {}, 1).behavior


def parsed(behavior: BehaviorSettings, events: int = 20_000, seed: int = 5) -> list[dict[str, Any]]:
    return [json.loads(e[2]) for e in generate(events, seed=seed, behavior=behavior)]


def test_the_table_file_is_the_default_and_validates() -> None:
    validated = BehaviorSettings(**{name: value for name, value in DEFAULTS.items()})
    assert validated == BehaviorSettings()
    assert (
        BehaviorSettings().transitions["product"]["home"]
        == DEFAULTS["transitions"]["product"]["home"]
    )
    assert set(BehaviorSettings().transitions) == set(PAGES)


def test_every_number_of_the_table_file_says_where_it_comes_from() -> None:
    lines = TABLE.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[\w\"].*=", line) and not line.startswith("["):
            above = next(x for x in reversed(lines[:i]) if not re.match(r"^[\w\"].*=", x))
            assert "#" in line or above.startswith(("#", "[")), f"no comment for {line!r}"


def test_an_override_changes_one_entry_and_keeps_the_rest(tmp_path: Path) -> None:
    b = behavior_from(tmp_path, "[behavior.transitions.product]\nhome = 0.3\n")
    assert b.transitions["product"]["home"] == 0.3
    assert b.transitions["product"]["product"] == DEFAULTS["transitions"]["product"]["product"]
    assert b.transitions["home"] == DEFAULTS["transitions"]["home"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[behavior.transitions.product]\nhme = 0.3\n",
         "unknown setting behavior.transitions.product.hme in "),
        ("[behavior.transitions.produt]\nhome = 0.3\n",
         "unknown setting behavior.transitions.produt in "),
        ("[behavior.transitions.product]\nhome = 1.5\n",
         "config behavior.transitions.product.home must be a probability from 0 to 1, not 1.5"),
        ("[behavior.landing]\nproduct = -0.1\n",
         "config behavior.landing.product must be a probability from 0 to 1, not -0.1"),
        ("[behavior.delays.pay]\nmedian = 0\n",
         "config behavior.delays.pay.median must be a number above 0"),
        ("[behavior.transitions.cart]\nproduct = 0\ncategory = 0\n",
         "config behavior.transitions: every weight of transitions.cart is 0"),
        ('[behavior.referrers]\n"ftp://x" = 0.3\n', "config behavior.referrers: referrer 'ftp://x'"),
        ("[behavior]\nquantities = []\n", "config behavior.quantities must be a list of 1 to 100"),
        ("[behavior]\nthink_time_pace = 9\n", "config behavior.think_time_pace must be a number"),
    ],
)  # fmt: skip
def test_a_bad_entry_is_one_line_naming_it(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        behavior_from(tmp_path, text)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(message), str(caught.value)


def test_every_entry_has_a_limit_with_the_table_files_value_as_example() -> None:
    assert ENTRY_LIMITS["behavior.transitions.product.home"].example == "0.12"
    for page in PAGES:
        for move in MOVES:
            assert f"behavior.transitions.{page}.{move}" in ENTRY_LIMITS


def test_no_add_to_cart_rate_no_carts(tmp_path: Path) -> None:
    events = parsed(behavior_from(tmp_path, "[behavior]\nadd_to_cart_rate = 0\n"))
    kinds = Counter(e["event_type"] for e in events)
    assert kinds["add_to_cart"] == 0 and kinds["purchase"] == 0 and kinds["page_view"] > 0


def after_home(events: list[dict[str, Any]]) -> Counter[str]:
    """What the page after a home page is, by kind (search, category, product, cart)."""
    pages: dict[str, list[str]] = {}
    for e in events:
        if e["event_type"] == "page_view":
            pages.setdefault(e["session_id"], []).append(e["page_url"].split("/")[1][:6])
    return Counter(b for urls in pages.values() for a, b in itertools.pairwise(urls) if a == "")


def test_raising_a_transition_gives_more_of_that_page(tmp_path: Path) -> None:
    plain = after_home(parsed(BehaviorSettings()))
    raised = after_home(
        parsed(behavior_from(tmp_path, "[behavior.transitions.home]\nsearch = 1\n"))
    )
    # search: 0.20 of home's moves (of 1.0; 1.05 while carrying), then 1.0 of 1.8
    assert plain["search"] / plain.total() == pytest.approx(0.2, abs=0.03)
    assert raised["search"] / raised.total() == pytest.approx(1 / 1.8, abs=0.03)


def test_an_exit_move_ends_sessions_there(tmp_path: Path) -> None:
    plain_ends, exit_ends = (
        home_ends(parsed(BehaviorSettings())),
        home_ends(parsed(behavior_from(tmp_path, "[behavior.transitions.home]\nexit = 1.0\n"))),
    )
    assert exit_ends > plain_ends + 0.2  # exit takes half of home's moves


def home_ends(events: list[dict[str, Any]]) -> float:
    """The share of home page views that end their session."""
    last = {e["session_id"]: i for i, e in enumerate(events)}
    homes = [i for i, e in enumerate(events) if e["page_url"] == "/"]
    return sum(1 for i in homes if last[events[i]["session_id"]] == i) / len(homes)


def test_same_seed_and_table_same_bytes_another_table_another_stream(tmp_path: Path) -> None:
    b = behavior_from(tmp_path, "[behavior.transitions.product]\nhome = 0.3\n")
    first = generate(3000, seed=7, behavior=b)
    assert first == generate(3000, seed=7, behavior=b)
    assert [e[2] for e in first] != [e[2] for e in generate(3000, seed=7)]


def test_every_event_is_the_one_template() -> None:
    for _, _, text, _, _ in generate(2000, seed=3):
        e = json.loads(text)
        body = text.split(f'"timestamp":"{e["timestamp"]}",', 1)[1]
        assert text == event_text(e["event_id"], e["event_type"], e["timestamp"], body)


def test_slots_follow_the_weights_exactly() -> None:
    table = weighted_slots([("a", 0.5), ("b", 0.25), ("c", 0.25), ("d", 0.0)], 4)
    assert Counter(table) == {"a": 8, "b": 4, "c": 4}
    assert len(weighted_slots([("a", 1 / 3), ("b", 1 / 3), ("c", 1 / 3)], 12)) == 4096


@pytest.fixture(scope="module")
def rates() -> dict[str, float]:
    """The default profile on 60,000 events over two days (a second or two; at a high rate
    the sample's end would cut its sessions short)."""
    run = RunSettings(mode="backfill", seed=2, events=60_000, days=2)
    stream, visitors, _, _ = sample(Settings(run=run))
    return measure(list(stream), visitors).rates()


@pytest.mark.parametrize(
    ("key", "target", "tolerance"),
    [
        ("top_1pct_product_view_share", 0.347, 0.08),
        ("top_10pct_product_view_share", 0.817, 0.06),
        ("product_view_gini", 0.885, 0.04),
        ("category_top_10pct_share", 0.817, 0.07),
        ("category_product_view_gini", 0.885, 0.06),
        ("session_duration_p50_s", 22, 9),
        ("session_duration_p75_s", 174, 50),
        ("session_duration_p90_s", 618, 160),
        ("session_duration_p95_s", 1134, 350),
    ],
)
def test_popularity_and_durations_land_near_coveo(
    rates: dict[str, float], key: str, target: float, tolerance: float
) -> None:
    assert abs(rates[key] - target) <= tolerance, f"{key}: {rates[key]:.3f}, Coveo {target}"


def test_at_least_two_fifths_of_sessions_are_a_single_instant(rates: dict[str, float]) -> None:
    assert 0.40 <= rates["single_instant_share"] <= 0.50


def test_a_page_left_with_only_cart_moves_ends_an_empty_cart_session(tmp_path: Path) -> None:
    text = "[behavior.transitions.home]\ncategory = 0\nsearch = 0\nproduct = 0\ncart = 1\n"
    events = parsed(behavior_from(tmp_path, text))
    last = {e["session_id"]: i for i, e in enumerate(events)}
    carts: set[str] = {e["session_id"] for e in events if e["event_type"] == "add_to_cart"}
    for i, e in enumerate(events):
        if e["page_url"] == "/" and e["session_id"] not in carts:
            assert last[e["session_id"]] == i  # nowhere to go from home with an empty cart
