"""The simulator: sessions arriving over simulated time, merged into one time-ordered stream.

In: behaviour and traffic settings, a seed and a time range. Out: windows (lists) of
`(event_ms, code, json_bytes, key_bytes, revenue_cents)` in event-time order. It knows nothing
of Kafka or files; the same seed and settings give the same bytes.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Iterator
from operator import itemgetter

from producer.behavior import Event, SessionModel
from producer.catalog import Catalog
from producer.config import BehaviorSettings, TrafficSettings
from producer.traffic import MINUTE_MS, TrafficShape
from producer.users import UserPool

WINDOW_EVENTS = 20_000  # aim for windows of about this many events
PRIOR_SESSION_EVENTS = 5.0  # first guess of events per session, refined as sessions are made
PRIOR_WEIGHT = 200

_time = itemgetter(0)


class Simulator:
    """Yields the event stream window by window; stops at `end_ms` or after `max_events`."""

    def __init__(
        self,
        behavior: BehaviorSettings,
        traffic: TrafficSettings,
        seed: int,
        start_ms: int,
        end_ms: int | None = None,
        max_events: int | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.catalog = Catalog(self.rng, behavior.products, behavior.popularity_exponent)
        self.users = UserPool(self.rng, behavior.users, behavior.device_mix)
        self.model = SessionModel(behavior, self.rng, self.catalog, self.users)
        self.shape = TrafficShape(traffic)
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.max_events = max_events
        self.emitted = 0
        self.sim_ms = start_ms  # everything before this instant has been yielded
        self._rate_per_ms = traffic.rate / 1000.0
        self._window_ms = int(min(3_600_000, max(100, WINDOW_EVENTS / traffic.rate * 1000)))
        self._len_sum = PRIOR_SESSION_EVENTS * PRIOR_WEIGHT
        self._len_n = PRIOR_WEIGHT

    def _gap(self, t: float) -> float:
        """Milliseconds to the next session start after `t`, from the shaped rate."""
        per_ms = self._rate_per_ms * self.shape.at(int(t)) * self._len_n / self._len_sum
        if per_ms <= 0:
            return MINUTE_MS - t % MINUTE_MS + 1  # nobody comes this minute: try the next
        return self.rng.expovariate(per_ms)

    def windows(self) -> Iterator[list[Event]]:
        """Yield time-ordered lists of events until the end time or the event limit."""
        w, end, limit = self._window_ms, self.end_ms, self.max_events
        if limit == 0 or (end is not None and end <= self.start_ms):
            return
        pending: list[Event] = []  # generated, not yet yielded; sorted runs, merged by timsort
        k = self.start_ms // w
        arrival = self.start_ms + self._gap(self.start_ms)
        session = self.model.session
        while True:
            win_end = (k + 1) * w
            stop_at = win_end if end is None else min(win_end, end)
            sessions_before, events_before = self.model.sessions, len(pending)
            while arrival < stop_at:
                pending += session(int(arrival))
                arrival += self._gap(arrival)
            # The running mean of events per session turns the event rate into a session rate.
            self._len_n += self.model.sessions - sessions_before
            self._len_sum += len(pending) - events_before
            pending.sort(key=_time)  # stable: equal times keep their generation order
            cut = bisect_left(pending, stop_at, key=_time)
            batch = pending[:cut]
            del pending[:cut]
            done = end is not None and win_end >= end
            if limit is not None and self.emitted + len(batch) >= limit:
                batch = batch[: limit - self.emitted]
                done = True
            self.emitted += len(batch)
            self.sim_ms = stop_at
            yield batch
            if done:
                return
            k += 1
