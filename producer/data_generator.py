"""The simulator: sessions arriving over simulated time, merged into one time-ordered stream.

In: behaviour and traffic settings, a seed and a time range. Out: windows (lists) of
`(event_ms, code, json_text, session_id, revenue_cents)` in event-time order. It knows nothing
of Kafka or files; the same seed and settings give the same bytes.

A warm start (realtime mode) first simulates a stretch of time before the start without
yielding it, so the sessions under way at the start continue from its first instant and the
stream is at its steady rate at once instead of ramping up.
"""

from __future__ import annotations

import gc
import random
from bisect import bisect_left
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from operator import itemgetter

from producer.behavior import AT, Event, SessionModel
from producer.catalog import Catalog
from producer.config import BehaviorSettings, TrafficSettings
from producer.models import SESSION_FIRST, USER_FIRST, user_id_of
from producer.scenario_plan import Plan
from producer.scenarios import parse_all
from producer.traffic import MINUTE_MS, TrafficShape
from producer.users import UserPool

WINDOW_EVENTS = 20_000  # aim for windows of about this many events
PRIOR_SESSION_EVENTS = 5.0  # first guess of events per session, refined as sessions are made
PRIOR_WEIGHT = 200

_time = itemgetter(AT)


class Simulator:
    """Yields the event stream window by window; stops at `end_ms` or after `max_events`.

    With `warm_up_ms`, sessions start from `start_ms - warm_up_ms` on, but only events at or
    after `start_ms` are yielded (see `_carry_over`).
    """

    def __init__(
        self,
        behavior: BehaviorSettings,
        traffic: TrafficSettings,
        seed: int,
        start_ms: int,
        end_ms: int | None = None,
        max_events: int | None = None,
        warm_up_ms: int = 0,
        catalog_seed: int | None = None,
        scenarios: tuple[str, ...] = (),
        origin_ms: int | None = None,
    ) -> None:
        # A shard builds the run's catalog from the run's seed, the rest from its own seed.
        catalog_rng = random.Random(seed if catalog_seed is None else catalog_seed)
        self.rng = catalog_rng if catalog_seed is None else random.Random(seed)
        self.catalog = Catalog(
            catalog_rng, behavior.products, behavior.popularity_exponent, behavior.popularity_offset
        )
        self.users = UserPool(self.rng, behavior.users, behavior.device_mix)
        self.model = SessionModel(behavior, self.rng, self.catalog, self.users)
        self.shape = TrafficShape(traffic)
        # Scenarios' windows count from the run's start (`origin_ms`; a warm start that sends
        # its span begins earlier), a user's variant from the run's seed.
        self.plan: Plan | None = None
        if scenarios:
            self.plan = Plan(
                parse_all(scenarios),
                seed if catalog_seed is None else catalog_seed,
                start_ms if origin_ms is None else origin_ms,
                self.catalog,
                self.shape.at,
                traffic.utc_offset_hours,
                pool_seed=seed,
            )
            self.model.plan = self.plan
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.max_events = max_events
        self.warm_up_ms = max(0, warm_up_ms)
        self._watch: set[str] = set()  # users of sessions under way at a warm start, unflagged
        self.emitted = 0
        self.sim_ms = start_ms  # everything before this instant has been yielded
        self.rate = traffic.rate
        self._rate_per_ms = traffic.rate / 1000.0
        self._window_ms = int(min(3_600_000, max(100, WINDOW_EVENTS / traffic.rate * 1000)))
        self._len_sum = PRIOR_SESSION_EVENTS * PRIOR_WEIGHT
        self._len_n = PRIOR_WEIGHT

    def _starts(self, arrival: float, stop_at: int) -> tuple[list[int], float]:
        """Session start times in [arrival, stop_at) and the first arrival after them.

        Gaps are exponential at the shaped rate: events/s times the day and week multiplier,
        divided by the running mean of events per session.
        """
        starts: list[int] = []
        sessions_per_event = self._len_n / self._len_sum
        rate, expovariate = self._rate_per_ms, self.rng.expovariate
        at: Callable[[int], float] = self.shape.at
        if self.plan is not None:
            at = self.plan.rate(at)
        while arrival < stop_at:
            starts.append(int(arrival))
            per_ms = rate * at(int(arrival)) * sessions_per_event
            if per_ms > 0:
                arrival += expovariate(per_ms)
            else:  # nobody comes this minute: try the next
                arrival += MINUTE_MS - arrival % MINUTE_MS + 1
        return starts, arrival

    def windows(self) -> Iterator[list[Event]]:
        """Yield time-ordered lists of events until the end time or the event limit.

        During a warm start the first lists are empty: one per simulated window, so a caller
        can stop between them.
        """
        w, end, limit, start = self._window_ms, self.end_ms, self.max_events, self.start_ms
        if limit == 0 or (end is not None and end <= start):
            return
        pending: list[Event] = []  # generated, not yet yielded; sorted runs, merged by timsort
        warming = self.warm_up_ms > 0
        arrival = float(start - self.warm_up_ms)
        k = int(arrival) // w
        generate, plan = self.model.generate, self.plan
        while True:
            win_end = (k + 1) * w
            stop_at = win_end if end is None else min(win_end, end)
            if warming:
                stop_at = min(stop_at, start)
            with collector_paused():
                starts, arrival = self._starts(arrival, stop_at)
                events = generate(starts)
                self._len_n += len(starts)
                self._len_sum += len(events)
                if plan is not None and plan.gap is not None:
                    events = plan.cut(events)
                pending += events
                pending.sort(key=_time)  # stable: equal times keep their generation order
                cut = bisect_left(pending, stop_at, key=_time)
            if warming:  # events before the start are simulated, never yielded
                del pending[:cut]
                if stop_at == start:
                    warming = False
                    pending = self._carry_over(pending)
                if stop_at == win_end:
                    k += 1
                yield []  # nothing to send yet; lets the run loop notice a stop
                continue
            batch = pending[:cut]
            del pending[:cut]
            done = end is not None and win_end >= end
            if limit is not None and self.emitted + len(batch) >= limit:
                batch = batch[: limit - self.emitted]
                done = True
            if self._watch:
                self._flag_users(batch)
            if plan is not None and plan.marks:
                plan.mark(batch)
            self.emitted += len(batch)
            self.sim_ms = stop_at
            yield batch
            if done:
                return
            k += 1

    def _carry_over(self, pending: list[Event]) -> list[Event]:
        """Flag the sessions under way at the start, whose first events were never yielded.

        `pending` holds exactly their events from the start on; the first of each session gets
        SESSION_FIRST. Their users are watched: each gets USER_FIRST on its first event yielded
        (see `_flag_users`), and every other user counts as new again, so the ledger's sessions
        and users stay exact.
        """
        sessions: set[str] = set()
        out: list[Event] = []
        for t, code, text, sid, cents in pending:
            if sid not in sessions:
                sessions.add(sid)
                code |= SESSION_FIRST
                self._watch.add(user_id_of(text))
            out.append((t, code, text, sid, cents))
        for user in [*self.users.slots, *self.model.bot_users()]:
            user.sessions = 1 if user.user_id in self._watch else 0
        return out

    def _flag_users(self, batch: list[Event]) -> None:
        """Put USER_FIRST on the first yielded event of each watched user."""
        watch = self._watch
        for i, (t, code, text, sid, cents) in enumerate(batch):
            if code & SESSION_FIRST and (uid := user_id_of(text)) in watch:
                watch.discard(uid)
                batch[i] = (t, code | USER_FIRST, text, sid, cents)
                if not watch:
                    return


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector inside the block, then restore it as it was.

    Events are tuples and strings without reference cycles, so reference counting frees them
    all; the collector would only re-scan tens of thousands of live event tuples per window and
    find nothing (about a fifth of the generation time). Used around each window's generation
    and around a whole backfill run (see producer.run); a test checks a run leaves no cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
