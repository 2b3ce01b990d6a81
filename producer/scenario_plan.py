"""The scenarios of one run, resolved against its start and catalog, as hooks for the simulator.

In: parsed scenarios (producer.scenarios), the run's seed and start, the catalog. Out: an
arrival multiplier by instant, a per-session decision (variant, sale, campaign: code bits,
JSON fields, probability multipliers, prices, landing page), bot identities, the outage's cut
and the windows whose events get a bit. Everything is drawn from the simulator's seeded
generator (or a hash of the seed), so the same seed and settings give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import random
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import Any, NamedTuple

from producer.behavior import AT, KEY, Event
from producer.catalog import Catalog, Product
from producer.clock import DAY_MS, format_ms
from producer.models import (
    BOT_KNOWN,
    BOT_PRETENDING,
    CAMPAIGN,
    IN_BURST,
    IN_CAMPAIGN,
    IN_PEAK,
    IN_SALE,
    SALE_PRICE,
    VARIANT_SHIFT,
    User,
    device_from_user_agent,
)
from producer.scenarios import Scenario

HOUR_MS = 3_600_000
EVENING = (20, 22)  # shop-time hours of the pronounced peak-day evening (Adobe: 8-10 pm)

# Known bots, each matching producer.scenarios.KNOWN_BOT_PATTERNS: (user agent, the operator's
# address prefixes, country). Real strings, as their operators document them; the prefixes are
# the operators' published ranges (or their hosts').
KNOWN_BOTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     ("66.249.66", "66.249.68", "66.249.79"), "US"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
     ("157.55.39", "40.77.167", "207.46.13"), "US"),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
     ("54.36.148", "54.36.149", "51.222.253"), "FR"),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
     ("185.191.171",), "US"),
    ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
     ("5.255.253", "213.180.203"), "RU"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
     "+https://openai.com/gptbot)", ("20.171.206", "20.171.207"), "US"),
    ("python-requests/2.32.3", ("3.85", "18.204", "52.14", "54.210"), "US"),
    ("curl/8.5.0", ("34.74", "35.188", "104.196"), "US"),
    ("Go-http-client/1.1", ("159.89", "167.99", "138.68"), "US"),
    ("Scrapy/2.11.2 (+https://scrapy.org)", ("88.198", "95.216", "49.12"), "DE"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/131.0.6778.85 Safari/537.36", ("3.90", "35.170", "20.55"), "US"),
)  # fmt: skip
# Bots that pretend to be browsers: a desktop browser's user agent from a datacenter address.
PRETENDING_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.85 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.6723.58 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
# AWS, Google Cloud, Azure, DigitalOcean, OVH, Hetzner, Linode address blocks.
DATACENTER: tuple[str, ...] = (
    *("3.80", "18.116", "52.23", "34.141", "35.199", "20.84"),
    *("40.112", "159.203", "51.38", "51.75", "95.217", "172.105"),
)
# A session landing on the sale views its products fewer times than the sessions of the
# whole shop view products: extra sessions are scaled up so the sale's views rise by `traffic`
# (measured with `python -m producer.profile --scenario flash-sale`, docs/producer.md).
SALE_REACH = 2.9
# A purchase lift L multiplies a variant's session conversion c by 1 + L exactly, whatever the
# segment: L < 0, a session cannot buy with probability -L; L > 0, a session that did not buy
# is drawn again (same user and start) with probability q, so c' = c / (1 - (1 - c) q) and
# q = L / (1 + L) / (1 - c). c is the default model's human session conversion (2.1%, from
# `python -m producer.profile`); a model converting at 5% realises +19.3% for +20%.
BASE_CONVERSION = 0.021
BOT_POOL = 96  # bot identities; each keeps its user id, agent and address


class SessionPlan(NamedTuple):
    """What the scenarios decide for one human session."""

    bits: int  # code bits on every event of the session
    extra: str  # JSON fields before the closing brace: ',"experiment":"…","variant":"…"'
    atc: float  # add-to-cart probability, times
    checkout: float  # cart-to-checkout probability, times
    units: float  # units per cart line, times (order value)
    products: list[Product] | None  # the catalog at this session's prices, None: as usual
    landing: tuple[str, int] | None  # ("category", index) or ("product", index)
    referrer: str | None  # '"referrer":"…"' instead of the drawn one
    utm: str  # a query string for the landing URL, without ? or &
    retry: float  # a session that did not buy is drawn again with this probability


PLAIN = SessionPlan(0, "", 1.0, 1.0, 1.0, None, None, None, "", 0.0)


@dataclass
class Window:
    """An event-time window [start, end) whose events get `bit`."""

    start: int
    end: int
    bit: int


class Plan:
    """The run's scenarios as the simulator's hooks (see the module docstring)."""

    def __init__(
        self,
        scenarios: tuple[Scenario, ...],
        seed: int,
        origin_ms: int,
        catalog: Catalog,
        rate_at: Callable[[int], float],
        utc_offset_hours: float = 0.0,
        pool_seed: int | None = None,
    ) -> None:
        self.scenarios = {s.name: s for s in scenarios}
        self.origin_ms = origin_ms
        self.seed = seed  # the run's: a user's variant is the same in every shard
        self.pool_seed = seed if pool_seed is None else pool_seed  # a shard's own bots
        self.marks: list[Window] = []
        self.windows: dict[str, dict[str, str]] = {}
        self._factors: list[tuple[int, int, Callable[[int], float]]] = []
        self.cut_sessions = 0
        self.cut_events = 0
        self.bot_share = 0.0
        self.bots: list[tuple[User, int]] = []
        self.offset_ms = int(utc_offset_hours * HOUR_MS)
        if (s := self.scenarios.get("ab-test")) is not None:
            self._ab(s)
        if (s := self.scenarios.get("bots")) is not None:
            self._bots(s)
        self.sale: tuple[int, int, float, list[Product], list[int], int | None] | None = None
        if (s := self.scenarios.get("flash-sale")) is not None:
            self._sale(s, catalog)
        if (s := self.scenarios.get("peak-day")) is not None:
            self._peak(s, rate_at)
        self.campaign: tuple[int, int, float, str, str, float] | None = None
        if (s := self.scenarios.get("campaign")) is not None:
            self._campaign(s)
        self.gap: tuple[int, int] | None = None
        if (s := self.scenarios.get("outage")) is not None:
            self._outage(s)

    # --- resolving ----------------------------------------------------------------------

    def _start(self, value: tuple[str, int]) -> int:
        kind, ms = value
        return self.origin_ms + ms if kind == "offset" else ms

    def _window(self, name: str, start: int, end: int, bit: int, key: str = "window") -> None:
        self.marks.append(Window(start, end, bit))
        self.windows.setdefault(name, {})
        self.windows[name][f"{key}_start"] = format_ms(start)
        self.windows[name][f"{key}_end"] = format_ms(end)

    def _ab(self, s: Scenario) -> None:
        self.experiment = s["name"]
        names = [v for v, _ in s["variants"]]
        self.variant_names = names
        self._variant_cum = list(accumulate(w for _, w in s["variants"]))
        lift = {(v, kind): 1.0 + amount for v, kind, amount in s["lift"]}
        # (add-to-cart times, purchase lift, units times) per variant; a purchase lift acts on
        # the session's conversion (see `purchase`), the others on their probability or units.
        self._variant_lift = [
            (
                lift.get((v, "cart"), 1.0),
                lift.get((v, "purchase"), 1.0) - 1.0,
                lift.get((v, "value"), 1.0),
            )
            for v in names
        ]
        self._variant_extra = [f',"experiment":"{self.experiment}","variant":"{v}"' for v in names]
        self._salt = f"{self.seed}:{self.experiment}:".encode()

    def variant(self, user_id: str) -> int:
        """The user's variant (index): a hash of the seed, the experiment and the user id, so a
        user keeps it across sessions, shards and workers."""
        digest = hashlib.blake2b(self._salt + user_id.encode(), digest_size=8).digest()
        u = int.from_bytes(digest, "big") / 2**64
        return bisect(self._variant_cum, u * self._variant_cum[-1])

    def _bots(self, s: Scenario) -> None:
        self.bot_share = s["share"]
        rng = random.Random(f"{self.pool_seed}:bots")  # the pool is the seed's, not the stream's
        pretending = s["pretending"]
        for i in range(BOT_POOL):
            if i < round(BOT_POOL * pretending):
                agent, prefixes, country = rng.choice(PRETENDING_AGENTS), DATACENTER, "US"
                kind = BOT_PRETENDING
            else:
                agent, prefixes, country = rng.choice(KNOWN_BOTS)
                kind = BOT_KNOWN
            prefix = rng.choice(prefixes)
            tail_octets = 4 - prefix.count(".") - 1
            ip = ".".join([prefix, *(str(rng.randrange(1, 255)) for _ in range(tail_octets))])
            device = device_from_user_agent(agent)
            uid = "%032x" % rng.getrandbits(128)  # noqa: UP031
            uid = f"{uid[:8]}-{uid[8:12]}-4{uid[13:16]}-a{uid[17:20]}-{uid[20:]}"
            user = User(
                uid,
                ("mobile", "desktop", "tablet").index(device),
                f'"user_id":"{uid}","session_id":"',
                f'"user_agent":{json.dumps(agent)},"ip_address":"{ip}",'
                f'"device_type":"{device}","country":"{country}",',
            )
            self.bots.append((user, kind))

    def _sale(self, s: Scenario, catalog: Catalog) -> None:
        start = self._start(s["start"])
        end = start + s["duration"]
        if s["products"]:
            ranked = sorted(range(len(catalog.products)), key=lambda i: -catalog.weight[i])
            members = sorted(ranked[: s["products"]])
            cat: int | None = None
        else:
            cat = s["category"]
            members = [i for i, p in enumerate(catalog.products) if p.category == cat]
        sale_products = list(catalog.products)
        for i in members:
            p = catalog.products[i]
            cents = max(1, round(p.price_cents * (1 - s["discount"])))
            sale_products[i] = replace(
                p, price_cents=cents, price=f'"price":{cents // 100}.{cents % 100:02d}',
                code=SALE_PRICE,
            )  # fmt: skip
        # Views of the sale rise by `traffic`: the extra sessions land on it.
        weight = sum(catalog.weight[i] for i in members) / sum(catalog.weight) if members else 0
        extra = 1.0 + (s["traffic"] - 1.0) * weight * SALE_REACH
        self.sale = (start, end, extra, sale_products, members, cat)
        self._factors.append((start, end, lambda ms: extra))
        self._window("flash-sale", start, end, IN_SALE)

    def _peak(self, s: Scenario, rate_at: Callable[[int], float]) -> None:
        start = s["date"] if s["date"] is not None else self.origin_ms // DAY_MS * DAY_MS
        end = start + DAY_MS
        minutes = range(start, end, 60_000)
        base = [rate_at(m) for m in minutes]
        weight = [s["evening"] if self._evening(m) else 1.0 for m in minutes]
        total = sum(base)
        shaped = sum(b * w for b, w in zip(base, weight, strict=True))
        scale = s["factor"] * total / shaped if shaped else s["factor"]
        evening = s["evening"]
        self._factors.append(
            (start, end, lambda ms: scale * (evening if self._evening(ms) else 1.0))
        )
        self._window("peak-day", start, end, IN_PEAK)

    def _evening(self, ms: int) -> bool:
        hour = (ms + self.offset_ms) // HOUR_MS % 24
        return EVENING[0] <= hour < EVENING[1]

    def _campaign(self, s: Scenario) -> None:
        start = self._start(s["start"])
        end = start + s["duration"]
        referrer = REFERRERS.get(s["source"], f"https://{s['source']}.example/")
        utm = f"utm_source={s['source']}&utm_medium={s['medium']}&utm_campaign={s['name']}"
        traffic = s["traffic"]
        self.campaign = (start, end, 1.0 - 1.0 / traffic, f'"referrer":"{referrer}"', utm,
                         s["conversion"])  # fmt: skip
        self._factors.append((start, end, lambda ms: traffic))
        self._window("campaign", start, end, IN_CAMPAIGN)

    def _outage(self, s: Scenario) -> None:
        start = self._start(s["start"])
        end = start + s["duration"]
        burst_end = end + s["burst_duration"]
        burst, length = s["burst"], s["burst_duration"]
        self.gap = (start, end)
        self._factors.append((start, end, lambda ms: 0.0))
        self._factors.append(
            (end, burst_end, lambda ms: 1.0 + (burst - 1.0) * (1.0 - (ms - end) / length))
        )
        self.windows["outage"] = {"gap_start": format_ms(start), "gap_end": format_ms(end)}
        self._window("outage", end, burst_end, IN_BURST, "burst")

    # --- the simulator's hooks ----------------------------------------------------------

    def rate(self, base: Callable[[int], float]) -> Callable[[int], float]:
        """The arrival multiplier at an instant: the traffic shape's times the scenarios'."""
        factors = self._factors
        if not factors:
            return base

        def at(ms: int) -> float:
            value = base(ms)
            for start, end, f in factors:
                if start <= ms < end:
                    value *= f(ms)
            return value

        return at

    def session(self, t: int, user_id: str, rand: Callable[[], float]) -> SessionPlan:
        """The scenarios' decisions for a human session starting at `t`."""
        bits, extra, atc, checkout, units, retry = 0, "", 1.0, 1.0, 1.0, 0.0
        products: list[Product] | None = None
        landing: tuple[str, int] | None = None
        referrer, utm = None, ""
        if "ab-test" in self.scenarios:
            v = self.variant(user_id)
            bits |= (v + 1) << VARIANT_SHIFT
            extra = self._variant_extra[v]
            atc, lift, units = self._variant_lift[v]
            if lift > 0:
                retry = min(0.99, lift / (1 + lift) / (1 - BASE_CONVERSION))
            elif lift < 0 and rand() < -lift:
                checkout = 0.0  # this session cannot buy
        if self.sale is not None and self.sale[0] <= t < self.sale[1]:
            _, _, factor, products, members, cat = self.sale
            if rand() * factor >= 1.0 and members:  # one of the extra sessions: on the sale
                s = self.scenarios["flash-sale"]
                atc *= s["cart"]
                checkout *= s["purchase"]
                if cat is not None:
                    landing = ("category", cat)
                else:
                    landing = ("product", members[int(rand() * len(members))])
        if self.campaign is not None and self.campaign[0] <= t < self.campaign[1]:
            _, _, part, ref, query, conversion = self.campaign
            if rand() < part:
                bits |= CAMPAIGN
                referrer, utm = ref, query
                atc *= conversion
        return SessionPlan(
            bits, extra, atc, checkout, units, products, landing, referrer, utm, retry
        )

    def bot(self, rand: Callable[[], float]) -> tuple[User, int, str]:
        """A bot identity for a bot session: the user, its code bits and its JSON extra."""
        user, kind = self.bots[int(rand() * len(self.bots))]
        bits, extra = kind, ""
        if "ab-test" in self.scenarios:  # a testing tool assigns bots a variant too
            v = self.variant(user.user_id)
            bits |= (v + 1) << VARIANT_SHIFT
            extra = self._variant_extra[v]
        return user, bits, extra

    def cut(self, events: list[Event]) -> list[Event]:
        """The outage: no event inside the gap; a session that reaches it ends there.

        `events` are whole sessions, each in time order (as the session model makes them).
        """
        if self.gap is None:
            return events
        start, end = self.gap
        out: list[Event] = []
        cut_sid = None
        for e in events:
            if e[KEY] == cut_sid:
                self.cut_events += 1
                continue
            if start <= e[AT] < end:
                cut_sid = e[KEY]
                self.cut_sessions += 1
                self.cut_events += 1
                continue
            out.append(e)
        return out

    def mark(self, batch: list[Event]) -> None:
        """Put each window's bit on the batch's events inside it (the batch is in time order)."""
        for w in self.marks:
            lo = bisect(batch, w.start - 1, key=_at)
            hi = bisect(batch, w.end - 1, key=_at)
            for i in range(lo, hi):
                t, code, text, key, cents = batch[i]
                batch[i] = (t, code | w.bit, text, key, cents)

    def describe(self) -> list[dict[str, Any]]:
        """Each scenario's name, spec and resolved windows (the ledger adds the counts)."""
        return [
            {"name": name, "spec": s.text, "windows": self.windows.get(name, {})}
            for name, s in self.scenarios.items()
        ]


def _at(e: Event) -> int:
    return e[AT]


# Where a campaign's visitors come from, by utm_source (others: https://<source>.example/).
REFERRERS = {
    "newsletter": "https://newsletter.shop.example/",
    "google": "https://www.google.com/",
    "facebook": "https://www.facebook.com/",
    "instagram": "https://www.instagram.com/",
    "tiktok": "https://www.tiktok.com/",
    "youtube": "https://www.youtube.com/",
}
