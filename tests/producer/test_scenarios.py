"""Scenarios with ground truth: the ledger's truth is what the events show, recounted here.

Each scenario runs as a small backfill (and in realtime on the manual clock, and as shards); the
events are recounted from their JSON alone (variant and experiment fields, user agents, prices,
referrers and landing URLs, timestamps) and must equal the ledger's `scenarios` counts. Every
event validates against the contract.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest

import contract
from infra.env import ConfigError
from producer import cli, simulate
from producer.api import Simulation
from producer.clock import ManualClock, parse_instant
from producer.config import RunSettings, Settings, TrafficSettings
from producer.ledger import Tally
from producer.producer import simulator, warm_up_ms
from producer.run import Runner
from producer.scenario_plan import Plan
from producer.scenarios import KINDS, KNOWN_BOT_PATTERNS, KNOWN_BOT_REGEX, is_known_bot, parse
from producer.truth import merge, truth
from producer.workers import merge_records
from tests.producer.test_output import ListSink

START = "2025-05-05"
START_MS = parse_instant(START)
BOT = re.compile(KNOWN_BOT_REGEX, re.IGNORECASE)
HOUR = 3_600_000


def run(*scenarios: str, days: float = 0.5, rate: float = 3, seed: int = 11, **options: Any) -> (
    tuple[list[dict[str, Any]], dict[str, Any], Simulation]
):  # fmt: skip
    """Events (as dicts, valid ones) and the ledger summary of a backfill with scenarios."""
    sim = simulate(
        start=START, days=days, rate=rate, seed=seed, scenario=list(scenarios), **options
    )
    events = list(sim)
    return events, sim.summary(), sim


def ms(event: dict[str, Any]) -> int:
    return parse_instant(event["timestamp"])


def by_session(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        out[e["session_id"]].append(e)
    return out


def window_figures(
    events: list[dict[str, Any]], keep: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Figures of the events `keep` accepts, sessions, orders and conversions counted on the
    event that opens them (as the ledger's flags do)."""
    seen_session: set[str] = set()
    seen_order: set[str] = set()
    seen_buy: set[str] = set()
    out = dict.fromkeys(
        ("sessions", "events", "page_views", "add_to_carts", "purchases", "orders"), 0
    )
    out["converted_sessions"] = 0
    cents = 0
    kinds = {"page_view": "page_views", "add_to_cart": "add_to_carts", "purchase": "purchases"}
    for e in events:
        sid = e["session_id"]
        opens_session = sid not in seen_session
        seen_session.add(sid)
        opens_order = opens_buy = False
        if e["event_type"] == "purchase":
            opens_order = e["order_id"] not in seen_order
            seen_order.add(e["order_id"])
            opens_buy = sid not in seen_buy
            seen_buy.add(sid)
        if not keep(e):
            continue
        out["events"] += 1
        out[kinds[e["event_type"]]] += 1
        out["sessions"] += opens_session
        out["orders"] += opens_order
        out["converted_sessions"] += opens_buy
        if e["event_type"] == "purchase":
            cents += int(Decimal(str(e["price"])) * 100) * e["quantity"]
    return {**out, "revenue_cents": cents, "revenue": f"{cents // 100}.{cents % 100:02d}"}


def scenario(summary: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in summary["scenarios"] if s["name"] == name)
    return found


def plan_of(sim: Simulation) -> Plan:
    assert sim.simulator is not None and sim.simulator.plan is not None
    return sim.simulator.plan


def test_every_event_of_every_scenario_validates_against_the_contract() -> None:
    specs = ("ab-test", "bots", "flash-sale:start=20m", "peak-day", "campaign:start=40m",
             "outage:start=60m")  # fmt: skip
    events, summary, _ = run(*specs, days=0.06, rate=2)
    assert events and len(summary["scenarios"]) == len(KINDS)
    bad = Counter(contract.first_reason(e) for e in events)
    assert bad == {None: len(events)}
    for e in events[:2000]:
        assert not list(contract.validator().iter_errors(e))


def test_ab_test_truth_is_what_the_events_carry_and_a_user_keeps_its_variant() -> None:
    events, summary, _ = run("ab-test:name=checkout,variants=A:30,B:70,lift=B:cart:+25%")
    assert {(e["experiment"]) for e in events} == {"checkout"}
    assert all(tuple(e) == contract.FIELDS for e in events)
    variants_of: dict[str, set[str]] = defaultdict(set)
    for e in events:
        variants_of[e["user_id"]].add(e["variant"])
    assert all(len(v) == 1 for v in variants_of.values())
    users = Counter(next(iter(v)) for v in variants_of.values())
    assert 0.25 < users["A"] / sum(users.values()) < 0.35
    truth_ = scenario(summary, "ab-test")
    assert truth_["parameters"]["variants"] == [["A", 30.0], ["B", 70.0]]
    for v in ("A", "B"):
        expected = window_figures(events, lambda e, v=v: e["variant"] == v)
        got = {k: truth_["counts"]["variants"][v][k] for k in expected}
        assert got == expected, v
    # The lift shows: B's add-to-carts per product view beat A's.
    rate = {}
    for v in ("A", "B"):
        views = sum(1 for e in events if e["variant"] == v and e["page_url"].startswith("/prod"))
        carts = truth_["counts"]["variants"][v]["add_to_carts"]
        rate[v] = carts / views
    assert rate["B"] > rate["A"] * 1.1


def test_a_users_variant_is_a_hash_of_seed_experiment_and_user() -> None:
    _, _, sim = run("ab-test", days=0.05)
    plan = plan_of(sim)
    uid = "00000000-0000-4000-8000-000000000001"
    u = int.from_bytes(
        hashlib.blake2b(f"11:checkout-test:{uid}".encode(), digest_size=8).digest(), "big"
    )
    assert plan.variant(uid) == (0 if u / 2**64 < 0.5 else 1)


def test_bots_truth_splits_known_patterns_pretenders_and_humans() -> None:
    events, summary, sim = run("bots:share=0.4,pretending=0.25")
    plan = plan_of(sim)
    bot_users = {user.user_id: kind for user, kind in plan.bots}
    sessions = by_session(events)
    kinds: dict[str, str] = {}
    for sid, evs in sessions.items():
        uid = evs[0]["user_id"]
        if uid in bot_users:
            kinds[sid] = "known" if BOT.search(evs[0]["user_agent"]) else "pretending"
            assert all(e["event_type"] == "page_view" and e["referrer"] is None for e in evs)
            gaps = [ms(b) - ms(a) for a, b in pairwise(evs)]
            assert all(100 <= g <= 2000 for g in gaps)
        else:
            kinds[sid] = "humans"
            assert not BOT.search(evs[0]["user_agent"])
    counts = scenario(summary, "bots")["counts"]
    for kind in ("known", "pretending", "humans"):
        expected = window_figures(events, lambda e, k=kind: kinds[e["session_id"]] == k)
        assert {k: counts[kind][k] for k in expected} == expected, kind
    share = (counts["known"]["sessions"] + counts["pretending"]["sessions"]) / len(sessions)
    assert 0.35 < share < 0.45
    pretending = counts["pretending"]["sessions"]
    assert 0.15 < pretending / (pretending + counts["known"]["sessions"]) < 0.35


def test_flash_sale_prices_are_consistent_and_the_window_is_where_the_ledger_says() -> None:
    spec = "flash-sale:category=books,discount=25%,start=1h,duration=2h,traffic=4"
    events, summary, sim = run(spec, days=0.25, rate=6, flat=True)
    assert sim.simulator is not None
    catalog = sim.simulator.catalog
    base = {p.product_id: p.price_cents for p in catalog.products}
    books = {p.product_id for p in catalog.products if p.category == 5}
    truth_ = scenario(summary, "flash-sale")
    start, end = START_MS + HOUR, START_MS + 3 * HOUR
    assert truth_["windows"] == {
        "window_start": "2025-05-05T01:00:00.000Z",
        "window_end": "2025-05-05T03:00:00.000Z",
    }
    on_sale = 0
    for evs in by_session(events).values():
        in_sale = start <= ms(evs[0]) < end
        for e in evs:
            if e["event_type"] == "page_view":
                continue
            cents = int(Decimal(str(e["price"])) * 100)
            if in_sale and e["product_id"] in books:
                assert cents == max(1, round(base[e["product_id"]] * 0.75))
                on_sale += 1
            else:
                assert cents == base[e["product_id"]]
    assert on_sale > 0
    counts = truth_["counts"]
    assert counts["in_window"] == window_figures(events, lambda e: start <= ms(e) < end)
    discounted = window_figures(
        events,
        lambda e: (
            e["event_type"] != "page_view"
            and int(Decimal(str(e["price"])) * 100) != base[e["product_id"]]
        ),
    )
    assert {k: counts["sale_price_lines"][k] for k in discounted} == discounted

    # Views of the books per hour rise inside the window against the hour before.
    def views(a: int, b: int) -> float:
        hours = (b - a) / HOUR
        return sum(
            1 for e in events
            if a <= ms(e) < b and e["page_url"].startswith("/product/") and e["product_id"] in books
        ) / hours  # fmt: skip

    assert views(start, end) > 2 * views(START_MS, start)


def test_peak_day_triples_the_day_and_records_it() -> None:
    events, summary, _ = run("peak-day:date=2025-05-06,factor=3,evening=2", days=2, rate=1)
    day = START_MS + 24 * HOUR
    first = sum(1 for e in events if ms(e) < day)
    second = sum(1 for e in events if ms(e) >= day)
    assert 2.6 < second / first < 3.4
    truth_ = scenario(summary, "peak-day")
    assert truth_["windows"]["window_start"] == "2025-05-06T00:00:00.000Z"
    assert truth_["counts"]["in_window"] == window_figures(events, lambda e: ms(e) >= day)
    evening = sum(1 for e in events if ms(e) >= day and 20 <= (ms(e) - day) // HOUR < 22)
    usual = sum(1 for e in events if ms(e) < day and 20 <= (ms(e) - START_MS) // HOUR < 22)
    assert evening / usual > 1.6 * 3


def test_campaign_sessions_carry_the_source_and_their_own_conversion() -> None:
    spec = "campaign:name=dec,source=tiktok,start=1h,duration=3h,traffic=3,conversion=3"
    events, summary, _ = run(spec, days=0.25, rate=8)
    sessions = by_session(events)
    campaign = {sid for sid, evs in sessions.items() if "utm_campaign=dec" in evs[0]["page_url"]}
    for sid in campaign:
        assert {e["referrer"] for e in sessions[sid]} == {"https://www.tiktok.com/"}
        assert "utm_source=tiktok&utm_medium=email" in sessions[sid][0]["page_url"]
        assert START_MS + HOUR <= ms(sessions[sid][0]) < START_MS + 4 * HOUR
    counts = scenario(summary, "campaign")["counts"]
    expected = window_figures(events, lambda e: e["session_id"] in campaign)
    assert counts["campaign_sessions"] == expected
    inside = window_figures(events, lambda e: START_MS + HOUR <= ms(e) < START_MS + 4 * HOUR)
    assert counts["in_window"] == inside
    share = expected["sessions"] / inside["sessions"]
    assert 0.55 < share < 0.75  # two thirds of the window's sessions at traffic=3


def test_outage_sends_nothing_in_the_gap_then_a_burst() -> None:
    spec = "outage:start=2h,duration=30m,burst=3,burst_duration=20m"
    events, summary, _ = run(spec, days=0.25, rate=10, flat=True)
    gap_start, gap_end = START_MS + 2 * HOUR, START_MS + 2 * HOUR + 30 * 60_000
    assert not [e for e in events if gap_start <= ms(e) < gap_end]
    truth_ = scenario(summary, "outage")
    assert truth_["windows"]["gap_start"] == "2025-05-05T02:00:00.000Z"
    burst_end = gap_end + 20 * 60_000
    assert truth_["counts"]["burst"] == window_figures(
        events, lambda e: gap_end <= ms(e) < burst_end
    )
    assert truth_["counts"]["gap"]["sessions_cut"] > 0
    # A session cut by the gap never resumes after it.
    for evs in by_session(events).values():
        times = [ms(e) for e in evs]
        assert not (times[0] < gap_start and times[-1] >= gap_end)
    starts = [ms(evs[0]) for evs in by_session(events).values()]
    burst = sum(1 for t in starts if gap_end <= t < gap_end + 10 * 60_000)
    usual = sum(1 for t in starts if gap_start - 40 * 60_000 <= t < gap_start - 30 * 60_000)
    assert burst > 1.8 * usual


def test_same_seed_same_bytes_and_another_seed_differs() -> None:
    options = {"start": START, "days": 0.1, "rate": 3, "scenario": list(KINDS)}
    first = list(simulate(seed=4, **options).lines())
    assert first == list(simulate(seed=4, **options).lines())
    assert first != list(simulate(seed=5, **options).lines())


def test_shards_ledgers_add_up_to_the_truth_of_their_union() -> None:
    specs = ("ab-test", "bots", "flash-sale:start=1h", "campaign:start=2h", "outage:start=3h")
    parts = [run(*specs, days=0.25, rate=6, shard=f"{i}/2") for i in (1, 2)]
    union = [e for events, _, _ in parts for e in events]
    merged = merge([summary["scenarios"] for _, summary, _ in parts])
    ab = scenario({"scenarios": merged}, "ab-test")["counts"]["variants"]
    for v in ("A", "B"):
        expected = window_figures(union, lambda e, v=v: e["variant"] == v)
        assert {k: ab[v][k] for k in expected} == expected
    bots = scenario({"scenarios": merged}, "bots")["counts"]
    assert bots["humans"]["sessions"] + bots["known"]["sessions"] + bots[
        "pretending"]["sessions"] == len(by_session(union))  # fmt: skip
    records = [
        {**summary, "ledger_version": 1, "errors": [], "delivery": {}, "run": _run(i)}
        for i, (_, summary, _) in enumerate(parts)
    ]
    record = merge_records(records, 2)
    assert record["scenarios"] == merged
    sale = scenario(record, "flash-sale")["counts"]["in_window"]
    assert sale["revenue"] == f"{sale['revenue_cents'] // 100}.{sale['revenue_cents'] % 100:02d}"


def _run(i: int) -> dict[str, Any]:
    return {
        "shard": f"{i + 1}/2", "output": "x", "started_at": "a", "finished_at": "b",
        "wall_seconds": 1.0, "stopped_by": "days", "signal": None, "exit_code": 0,
        "first_event_time": None, "last_event_time": None,
    }  # fmt: skip


@pytest.mark.parametrize("mode", ["send", "simulate"])
def test_realtime_runs_count_their_truth_exactly(mode: str) -> None:
    start = parse_instant("2025-05-05T12:00:00Z")
    specs = ("ab-test", "bots", "flash-sale:start=2m,duration=5m", "campaign:start=0s")
    settings = Settings(
        run=RunSettings(warm_up_mode=mode, warm_up_s=600, scenarios=specs),
        traffic=TrafficSettings(rate=40, flat=True),
    )
    clock = ManualClock(start / 1000)
    sim = simulator(settings, 8, start, None, warm_up_ms(settings))
    sink = ListSink(clock)
    runner = Runner(sim, sink, clock, lambda _: None, realtime=True, duration_s=600)
    result = runner.run()
    assert sim.plan is not None
    sent = [e for _, e in sink.sent]
    tally = Tally()
    tally.add(sent)
    events = [json.loads(e[2]) for e in sent]
    record = truth(sim.plan, result.tally)
    assert record == truth(sim.plan, tally)
    sale = scenario({"scenarios": record}, "flash-sale")
    # The window counts from the run's start, not from the history sent before it.
    assert sale["windows"]["window_start"] == "2025-05-05T12:02:00.000Z"
    in_sale = [e for e in events if start + 120_000 <= ms(e) < start + 420_000]
    assert sale["counts"]["in_window"]["events"] == len(in_sale) > 0
    ab = scenario({"scenarios": record}, "ab-test")["counts"]["variants"]
    if mode == "send":  # every session's first event was sent: sessions recount exactly
        for v in ("A", "B"):
            expected = window_figures(events, lambda e, v=v: e["variant"] == v)
            assert {k: ab[v][k] for k in expected} == expected
    else:  # sessions under way at the start count once, where they first show
        assert sum(ab[v]["sessions"] for v in ("A", "B")) == len(by_session(events))


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("nope", "no scenario is called 'nope'; known: ab-test, bots"),
        ("bots:share=1.5", "share=1.5: a share must be from 0 to 1"),
        ("ab-test:variants=A", "write variants as NAME:WEIGHT"),
        ("ab-test:lift=C:cart:+5%", "the lift names variant 'C'"),
        ("ab-test:lift=B:speed:+5%", "write a lift as VARIANT:cart|purchase|value:+N%"),
        ("flash-sale:category=shoes", "unknown category 'shoes'; known: clothing"),
        ("flash-sale:start=soon", "a start must be an offset from the run's start"),
        ("outage:duration=0s", "a duration in seconds must be from"),
        ("campaign:source=a b", "is not a name of letters"),
        ("outage:when=2h", "outage has no parameter 'when'; it takes start"),
    ],
)
def test_a_bad_scenario_is_one_line_naming_the_flag(spec: str, words: str) -> None:
    args = cli.parser().parse_args(["--scenario", spec])
    with pytest.raises(ConfigError) as caught:
        cli.build_settings(args, {}, 1)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"--scenario (config run.scenarios): scenario {spec!r}: ")
    assert words in message and "for example --scenario" in message


def test_scenarios_come_from_the_config_file_and_flags_win(tmp_path: Any) -> None:
    config = tmp_path / "shop.toml"
    config.write_text('[run]\nscenarios = ["bots:share=0.2", "outage"]\n')
    args = cli.parser().parse_args(["--config", str(config)])
    assert cli.build_settings(args, {}, 1).run.scenarios == ("bots:share=0.2", "outage")
    args = cli.parser().parse_args(["--config", str(config), "--scenario", "ab-test"])
    assert cli.build_settings(args, {}, 1).run.scenarios == ("ab-test",)
    config.write_text('[run]\nscenarios = ["bots:share=x"]\n')
    args = cli.parser().parse_args(["--config", str(config)])
    with pytest.raises(ConfigError, match=r"^config run.scenarios \(--scenario\): scenario"):
        cli.build_settings(args, {}, 1)
    args = cli.parser().parse_args(["--scenario", "bots", "--scenario", "bots"])
    with pytest.raises(ConfigError, match="scenario bots is given twice"):
        cli.build_settings(args, {}, 1)


def test_help_lists_every_scenario_and_its_defaults() -> None:
    text = cli.parser().format_help()
    for kind in KINDS.values():
        assert f"  {kind.name}: " in text
        for p in kind.params:
            assert f"{p.name}={p.default}" in text


def test_every_default_parses_and_the_spec_is_written_out_in_full() -> None:
    for name, kind in KINDS.items():
        s = parse(name)
        assert s.text == name + ":" + ",".join(f"{p.name}={p.default}" for p in kind.params)
    s = parse("ab-test:variants=A:1,B:1,C:2,lift=B:purchase:+20%,C:value:-10%")
    assert s["variants"] == (("A", 1.0), ("B", 1.0), ("C", 2.0))
    assert s["lift"] == (("B", "purchase", 0.2), ("C", "value", -0.1))


def test_known_bot_pattern_matches_the_known_agents_and_no_browser() -> None:
    from producer.scenario_plan import KNOWN_BOTS, PRETENDING_AGENTS
    from producer.users import USER_AGENTS

    assert all(BOT.search(agent) for agent, _, _ in KNOWN_BOTS)
    assert not any(BOT.search(agent) for agent in PRETENDING_AGENTS)
    assert not any(BOT.search(t) for templates in USER_AGENTS.values() for _, t in templates)
    assert not any(is_known_bot(t) for templates in USER_AGENTS.values() for _, t in templates)


def test_known_bot_patterns_are_plain_lowercase_substrings_for_any_regex_engine() -> None:
    # The processor uses them in PostgreSQL (~*) and Spark (rlike): nothing to escape.
    assert all(re.fullmatch(r"[a-z0-9/-]+", p) for p in KNOWN_BOT_PATTERNS)
    assert KNOWN_BOT_REGEX.split("|") == list(KNOWN_BOT_PATTERNS)
    for agent in ("Mozilla/5.0 (compatible; Googlebot/2.1)", "CURL/8.0", "HeadlessChrome/1"):
        assert is_known_bot(agent) and BOT.search(agent)
    assert not is_known_bot("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)")


@pytest.mark.parametrize("name", list(KINDS))
def test_each_scenario_alone_validates_in_backfill_and_realtime(name: str) -> None:
    near = {"flash-sale": ":start=30s", "campaign": ":start=30s", "outage": ":start=1m"}
    spec = name + near.get(name, "")
    events, summary, _ = run(spec, days=0.02, rate=4)
    start = parse_instant("2025-05-05T12:00:00Z")
    settings = Settings(
        run=RunSettings(warm_up_s=120, scenarios=(spec,)),
        traffic=TrafficSettings(rate=20, flat=True),
    )
    clock = ManualClock(start / 1000)
    sim = simulator(settings, 3, start, None, warm_up_ms(settings))
    sink = ListSink(clock)
    Runner(sim, sink, clock, lambda _: None, realtime=True, duration_s=180).run()
    realtime = [json.loads(e[2]) for _, e in sink.sent]
    assert events and realtime and scenario(summary, name)["spec"].startswith(name + ":")
    validator = contract.validator()
    for e in events + realtime:
        assert not list(validator.iter_errors(e)), e
        assert ("variant" in e) == (name == "ab-test") == ("experiment" in e)


def counted(spec: str) -> dict[str, Any]:
    """The ab-test truth's variants of a day at 10 events/s (the events left unparsed)."""
    sim = simulate(start=START, days=1, rate=10, seed=5, scenario=[spec])
    for _ in sim.chunks():
        pass
    found: dict[str, Any] = scenario(sim.summary(), "ab-test")["counts"]["variants"]
    return found


@pytest.mark.parametrize(("lift", "expected"), [("B:purchase:+50%", 0.5), ("none", 0.0)])
def test_a_purchase_lift_lifts_session_conversion_by_that_much(lift: str, expected: float) -> None:
    v = counted(f"ab-test:lift={lift}")
    conv = {k: x["converted_sessions"] / x["sessions"] for k, x in v.items()}
    # About 4,000 converted sessions a variant: the realised lift is within 0.12 of it.
    assert abs(conv["B"] / conv["A"] - 1 - expected) < 0.12


def test_a_negative_purchase_lift_and_a_value_lift() -> None:
    v = counted("ab-test:lift=B:purchase:-50%,B:value:+100%")
    conv = {k: x["converted_sessions"] / x["sessions"] for k, x in v.items()}
    assert abs(conv["B"] / conv["A"] - 0.5) < 0.08
    units = {k: x["revenue_cents"] / x["orders"] for k, x in v.items()}
    assert 1.7 < units["B"] / units["A"] < 2.3


def test_profile_prints_configured_and_realised_figures(capsys: pytest.CaptureFixture[str]) -> None:
    from producer.profile import main

    specs = ["ab-test", "bots", "flash-sale", "peak-day", "campaign", "outage"]
    argv = ["--events", "40000", "--days", "2", "--json"]
    assert main(argv + [a for s in specs for a in ("--scenario", s)]) == 0
    report = json.loads(capsys.readouterr().out)
    found = {s["name"]: s for s in report["scenarios"]}
    assert list(found) == specs
    rows = {r["label"]: r for s in report["scenarios"] for r in s["figures"]}
    assert rows["variant A: share of users"]["configured"] == 0.5
    assert rows["B vs A: session conversion lift"]["configured"] == 0.2
    assert rows["bot share of sessions"]["configured"] == 0.3
    assert 0.25 < rows["bot share of sessions"]["realised"] < 0.35
    known = rows["bot sessions matching KNOWN_BOT_PATTERNS"]
    assert known["configured"] == known["realised"] > 0
    assert rows["human sessions matching them"]["realised"] == 0
    assert rows["events in the gap"]["realised"] == 0
    assert rows["of them at list price"]["realised"] == 0
    assert main(["--events", "20000", "--scenario", "ab-test:lift=none"]) == 0
    text = capsys.readouterr().out
    assert "scenario ab-test:name=checkout-test,variants=A:50,B:50,lift=none" in text
    assert "B vs A: session conversion lift" in text and "95% CI" in text


def test_ab_test_with_bots_counts_humans_and_what_a_known_bot_filter_leaves() -> None:
    events, summary, sim = run("ab-test", "bots:share=0.4", days=0.1, rate=3)
    bot_users = {user.user_id for user, _ in plan_of(sim).bots}
    variants = scenario(summary, "ab-test")["counts"]["variants"]
    for v in ("A", "B"):
        for part, keep in (
            ("humans", lambda e: e["user_id"] not in bot_users),
            ("without_known_bots", lambda e: not is_known_bot(e["user_agent"])),
        ):
            expected = window_figures(events, lambda e, v=v, k=keep: e["variant"] == v and k(e))
            assert {k: variants[v][part][k] for k in expected} == expected, (v, part)
        assert variants[v]["humans"]["sessions"] < variants[v]["without_known_bots"]["sessions"]
