"""The producer's bots scenario and the processor's bot marking keep lists of their own
(producer/scenarios.py, processor/bots.py): on every user agent the producer sends they must
agree, or the ledger's "known" bots and the marked sessions would differ."""

from __future__ import annotations

from processor.bots import is_bot_agent
from producer.scenario_plan import KNOWN_BOTS, PRETENDING_AGENTS
from producer.scenarios import is_known_bot
from producer.users import USER_AGENTS


def test_every_agent_the_producer_sends_gets_the_same_verdict_from_both() -> None:
    known = [agent for agent, _, _ in KNOWN_BOTS]
    humans = [agent for pool in USER_AGENTS.values() for _, agent in pool]
    assert known and humans and PRETENDING_AGENTS
    for agent in (*known, *PRETENDING_AGENTS, *humans):
        assert is_known_bot(agent) == is_bot_agent(agent), agent
    assert all(is_bot_agent(agent) for agent in known)
    assert not any(is_bot_agent(agent) for agent in (*PRETENDING_AGENTS, *humans))
