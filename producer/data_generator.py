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

    def _starts(self, arrival: float, stop_at: int) -> tuple[list[int], float]:
        """Session start times in [arrival, stop_at) and the first arrival after them.

        Gaps are exponential at the shaped rate: events/s times the day and week multiplier,
        divided by the running mean of events per session.
        """
        starts: list[int] = []
        sessions_per_event = self._len_n / self._len_sum
        rate, at, expovariate = self._rate_per_ms, self.shape.at, self.rng.expovariate
        while arrival < stop_at:
            starts.append(int(arrival))
            per_ms = rate * at(int(arrival)) * sessions_per_event
            if per_ms > 0:
                arrival += expovariate(per_ms)
            else:  # nobody comes this minute: try the next
                arrival += MINUTE_MS - arrival % MINUTE_MS + 1
        return starts, arrival

    def windows(self) -> Iterator[list[Event]]:
        """Yield time-ordered lists of events until the end time or the event limit."""
        w, end, limit = self._window_ms, self.end_ms, self.max_events
        if limit == 0 or (end is not None and end <= self.start_ms):
            return
        pending: list[Event] = []  # generated, not yet yielded; sorted runs, merged by timsort
        k = self.start_ms // w
        arrival = float(self.start_ms)
        generate = self.model.generate
        while True:
            win_end = (k + 1) * w
            stop_at = win_end if end is None else min(win_end, end)
            starts, arrival = self._starts(arrival, stop_at)
            events = generate(starts)
            pending += events
            self._len_n += len(starts)
            self._len_sum += len(events)
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
