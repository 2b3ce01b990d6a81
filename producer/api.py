"""`simulate(...)`: the simulator as a Python iterator, for tests and notebooks without Kafka.

    from producer import simulate

    sim = simulate(events=10_000, seed=7, start="2025-08-01", duplicates=0.01)
    for event in sim:                  # dicts of the valid messages
        ...
    sim.summary()                      # the ledger's counts of what was generated so far

    lines = simulate(events=1_000, seed=7, start="2025-08-01").lines()   # exact JSON texts
    for batch in simulate(days=1, seed=7, start="2025-08-01").batches():  # pyarrow batches
        ...

Keyword options are the producer's flags (`--max-lateness 10m` is `max_lateness="10m"`, a
switch such as `--flat` is `flat=True`), checked the same way; the mode is always backfill.
The same seed and options give the same messages, byte for byte, as
`python -m producer.producer --mode backfill --output jsonl:F` with those flags, faults
included. The environment (.env, PRODUCER_*) is not read unless given as `env`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from random import SystemRandom
from typing import TYPE_CHECKING, Any

from infra.env import ConfigError
from producer import cli
from producer.behavior import TEXT, Event
from producer.clock import WallClock
from producer.config import Settings
from producer.data_generator import Simulator
from producer.ledger import Tally
from producer.models import MALFORMED
from producer.producer import fault_injector, simulator
from producer.run import pieces
from producer.truth import truth

if TYPE_CHECKING:
    import pyarrow as pa

# Flags of the command line that make no sense without a transport or a clock.
_NOT_HERE = {"mode", "output", "topic", "bootstrap_servers", "no_create_topic", "ledger"}
_NOT_HERE |= {"delivery_reports", "compression", "progress", "stop_timeout", "duration"}
_NOT_HERE |= {"print_config", "profile", "warm_up", "warm_up_mode", "version"}
_NOT_HERE |= {"show_settings", "config_schema"}


def _argv(options: Mapping[str, Any]) -> list[str]:
    argv = ["--mode", "backfill"]
    known = set(vars(cli.parser().parse_args([])))
    for name, value in options.items():
        if name in _NOT_HERE:
            raise ConfigError(f"simulate() takes no {name}=: it yields the messages itself")
        if name not in known:
            raise ConfigError(
                f"simulate() has no option {name}=: it takes the producer's flags, "
                "for example simulate(events=1000, seed=7, start='2025-08-01')"
            )
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, list | tuple):  # a repeatable flag: scenario=["bots", ...]
            for item in value:
                argv += [flag, str(item)]
        elif value is not False and value is not None:
            argv += [flag, str(value)]
    return argv


class Simulation:
    """The messages of one simulated backfill, generated lazily; see the module's docstring."""

    def __init__(self, settings: Settings, now_ms: int) -> None:
        self.settings = settings
        self.seed: int = settings.run.seed or 0
        self._start_ms, self._end_ms = cli.time_range(settings, now_ms)
        self._tally = Tally()
        self.simulator: Simulator | None = None  # the last run's, once chunks() started

    def chunks(self) -> Iterator[list[Event]]:
        """The messages as the producer hands them to its sink, chunk by chunk: tuples of
        (event_ms, code, json_text, session_id, cents), faults included, in send order."""
        settings = self.settings
        sim = self.simulator = simulator(settings, self.seed, self._start_ms, self._end_ms, 0)
        faults = fault_injector(settings, self.seed)
        for piece in pieces(sim):
            out = faults.apply(piece) if faults else piece
            if out:
                self._tally.add(out)
                yield out
        held = faults.drain() if faults else []
        if held:
            self._tally.add(held)
            yield held

    def lines(self) -> Iterator[str]:
        """Every message's JSON text, malformed ones included, exactly as the CLI writes them."""
        for chunk in self.chunks():
            for message in chunk:
                yield message[TEXT]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The valid messages (duplicates and late ones included) as dicts."""
        loads = json.loads
        for chunk in self.chunks():
            for message in chunk:
                if not message[1] & MALFORMED:
                    yield loads(message[TEXT])

    def batches(self, rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The valid messages as Arrow record batches of at most `rows` rows, in the columns
        of the Parquet output (producer.parquet_sink.SCHEMA)."""
        from producer.parquet_sink import to_arrow

        pending: list[Event] = []
        for chunk in self.chunks():
            pending += [m for m in chunk if not m[1] & MALFORMED]
            while len(pending) >= rows:
                yield from to_arrow(pending[:rows]).to_batches(max_chunksize=rows)
                pending = pending[rows:]
        if pending:
            yield from to_arrow(pending).to_batches(max_chunksize=rows)

    def summary(self) -> dict[str, Any]:
        """The ledger's counts (events by type, sessions, users, orders, revenue, faults) of
        what has been generated so far, and the scenarios' ground truth (producer.truth)."""
        summary = self._tally.summary()
        plan = self.simulator.plan if self.simulator is not None else None
        if plan is not None:
            summary["scenarios"] = truth(plan, self._tally)
        return summary


def simulate(*, env: Mapping[str, str] | None = None, **options: Any) -> Simulation:
    """A simulated backfill with the producer's flags as keywords (see the module docstring).

    Raises ConfigError, with the flag named, for a bad value. Without `seed` one is drawn at
    random (it is then `Simulation.seed`); without `start`, the last whole days, as the CLI.
    """
    args = cli.parser().parse_args(_argv(options))
    now_ms = int(WallClock().now() * 1000)
    settings = cli.build_settings(args, env or {}, SystemRandom().getrandbits(31), now_ms)
    return Simulation(settings, now_ms)
