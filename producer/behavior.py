"""The session state machine: one visit, from landing page to exit, as serialised events.

In: the behaviour table (BehaviorSettings, whose defaults are producer/behavior.toml), the
catalog, the user pool and the seeded generator. Pages are home, category, search, product,
cart and checkout; the table's landing weights, moves per page, funnel rates, delays and
think times are compiled once into slot tables, and a session's segment (device, new or
returning) and scenarios scale its funnel odds. Output: `(event_ms, code, json_text,
session_id, revenue_cents)` tuples in time order."""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Mapping
from statistics import NormalDist
from typing import TYPE_CHECKING, Final

from producer.behavior_table import PAGES, SLOT_BITS, pages, weights
from producer.catalog import NO_PRODUCT, Catalog, Product
from producer.clock import DAY_MS, HMS, MILLIS, DayPrefixes
from producer.config import BehaviorSettings
from producer.ids import MASK48, MULT, IdSpace, random_uuid
from producer.models import (
    ADD_TO_CART,
    CONVERTED,
    ORDER_FIRST,
    PURCHASE,
    SESSION_FIRST,
    USER_FIRST,
    weighted_slots,
)
from producer.users import UserPool

if TYPE_CHECKING:
    from producer.models import User
    from producer.scenario_plan import Plan, SessionPlan

# One message as it travels from the state machine to the sinks: a plain tuple (cheap to build
# by the million), read everywhere by these field names, never by bare numbers.
Event = tuple[int, int, str, str, int]
AT: Final = 0  # event time, ms since the epoch
CODE: Final = 1  # ledger code: type, firsts and fault flags (producer.models)
TEXT: Final = 2  # the JSON text of the message
KEY: Final = 3  # the Kafka key: the session id
CENTS: Final = 4  # revenue of a purchase line, in cents (0 otherwise)

HOME, CATEGORY, SEARCH, PRODUCT, CART, CHECKOUT, EXIT = range(7)
# A move of the behaviour table as (page, fresh): `fresh` draws a new category or product (by
# traffic weight or popularity) instead of staying in the category of the page.
MOVE_OF: dict[str, tuple[int, bool]] = {
    "home": (HOME, False),
    "category": (CATEGORY, True),
    "same_category": (CATEGORY, False),
    "search": (SEARCH, True),
    "same_search": (SEARCH, False),
    "product": (PRODUCT, True),
    "same_category_product": (PRODUCT, False),
    "cart": (CART, False),
    "checkout": (CHECKOUT, False),
    "exit": (EXIT, False),
}
Move = tuple[int, bool]
THINK_CAP_MS = 1_800_000  # a think time of more than 30 minutes would end the session
THINK_BITS = 8  # quantiles per pace
MOVE_BITS = SLOT_BITS  # each table has 1024 slots, drawn with getrandbits(10)
# Pages per bot session, 16 equally likely (mean 16): at the default share of 30% of sessions
# bots make ~60% of page views, near Imperva's ~half of all requests being automated.
BOT_PAGES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 25, 30, 40, 60)
BOT_GAP_MS = (100, 2_000)  # between a bot's page views: no think time
# Page fragments of page views end with the null money fields: `…,"order_id":null,`.
HOME_PART = NO_PRODUCT.format(url="/")
CART_PART = NO_PRODUCT.format(url="/cart")
CHECKOUT_PART = NO_PRODUCT.format(url="/checkout")


def event_text(event_id: str, kind: str, stamp: str, body: str) -> str:
    """The JSON template of every event: id, type and time, then the body (user and session,
    page, money, visitor fields and the closing brace). The page views of SessionModel.generate
    inline the same f-string (a call costs 5% of the generation speed, measured); a test ties
    the two."""
    return f'{{"event_id":"{event_id}","event_type":"{kind}","timestamp":"{stamp}",{body}'


def lognormal_table(median_s: float, sigma: float, bits: int, cap_s: float) -> list[int]:
    """Quantiles (in ms) of a lognormal, for O(1) sampling with `getrandbits(bits)`."""
    n = 1 << bits
    dist = NormalDist(math.log(median_s), sigma)
    return [
        max(1000, min(int(cap_s * 1000), int(math.exp(dist.inv_cdf((i + 0.5) / n)) * 1000)))
        for i in range(n)
    ]


def think_tables(median_s: float, sigma: float, pace_sigma: float) -> list[list[int]]:
    """16 think-time tables (ms, 256 quantiles each), one per pace: a session draws its pace
    once, a lognormal multiplier of spread `pace_sigma` (16 quantiles), and each think time
    from its table. Slow and quick visitors make session durations more spread out than the
    sum of independent think times would. 4096 values in all, as one table of 4096 was: more
    would fall out of the CPU's caches and cost more than their precision is worth."""
    base = lognormal_table(median_s, sigma, THINK_BITS, 1e9)  # uncapped, in ms
    pace = NormalDist(0.0, pace_sigma) if pace_sigma > 0 else None
    tables = []
    for j in range(16):
        m = math.exp(pace.inv_cdf((j + 0.5) / 16)) if pace is not None else 1.0
        tables.append([max(1000, min(THINK_CAP_MS, int(x * m))) for x in base])
    return tables


def move_tables(
    transitions: Mapping[str, Mapping[str, float]], go_to_cart_after_add: float
) -> tuple[list[list[Move]], list[list[Move]], list[Move]]:
    """Slot tables of the next move per page: with an empty cart, while carrying, and just
    after an add on a product page (the cart first with `go_to_cart_after_add`)."""
    empty: list[list[Move]] = []
    carrying: list[list[Move]] = []
    for page in PAGES:
        weights = [(MOVE_OF[m], w) for m, w in transitions[page].items() if w > 0]
        carrying.append(weighted_slots(weights, MOVE_BITS))
        shopping = [(move, w) for move, w in weights if move[0] not in (CART, CHECKOUT)]
        empty.append(
            weighted_slots(shopping, MOVE_BITS) if shopping else [(EXIT, False)] * (1 << MOVE_BITS)
        )
    product = [(MOVE_OF[m], w) for m, w in transitions["product"].items() if w > 0]
    total = sum(w for _, w in product)
    after_add = [((CART, False), go_to_cart_after_add)]
    after_add += [(move, (1 - go_to_cart_after_add) * w / total) for move, w in product]
    return empty, carrying, weighted_slots([(m, w) for m, w in after_add if w > 0], MOVE_BITS)


class SessionModel:
    """Generates whole sessions from the seeded generator; `session(start_ms)` returns events.

    The behaviour table (settings, from producer/behavior.toml) is compiled once here into
    slot tables of 1024 slots: the loop draws each step's move with one `getrandbits(10)`."""

    def __init__(
        self,
        settings: BehaviorSettings,
        rng: random.Random,
        catalog: Catalog,
        users: UserPool,
    ) -> None:
        self._s = s = settings
        self._rng = rng
        self._catalog = catalog
        self._users = users
        self._event_ids = IdSpace(rng)
        self._sessions = 0
        self.observer: dict[str, bool] | None = None  # session_id -> returning, for the profile
        self.plan: Plan | None = None  # the run's scenarios (producer.scenario_plan)
        self._days = DayPrefixes()
        self._think = think_tables(s.think_time_median_s, s.think_time_sigma, s.think_time_pace)
        atc, pay = s.delays["add_to_cart"], s.delays["pay"]
        self._atc_delay = lognormal_table(atc["median"], atc["sigma"], 10, atc["cap"])
        self._pay_delay = lognormal_table(pay["median"], pay["sigma"], 10, pay["cap"])
        table_rng = random.Random(0)  # the engagement curve is part of the model, not the seed
        a, b = s.engagement
        self._stay = sorted(table_rng.betavariate(a, b) for _ in range(2048))
        self._referrers = weighted_slots(
            [
                ('"referrer":null' if r == "direct" else f'"referrer":"{r}"', w)
                for r, w in s.referrers.items()
            ]
        )
        self._quantities = weighted_slots([(i + 1, w) for i, w in enumerate(s.quantities)])
        landing = {page: w for page, w in weights(s.landing).items() if w > 0}
        self._landing = weighted_slots([(PAGES.index(page), w) for page, w in landing.items()])
        odds = weights(s.bounce_odds)
        landing_total = sum(w * odds[page] for page, w in landing.items()) / sum(landing.values())
        self._bounce = [
            min(1.0, s.bounce_rate * odds[page] / landing_total) if page in odds else 0.0
            for page in PAGES
        ]
        self._moves = move_tables(pages(s.transitions), s.go_to_cart_after_add)
        # Conversion multiplier per (device, returning), normalised to a session-mean of 1, then
        # split between adding to cart (m ** conversion_on_cart) and checking out (the rest).
        mix, conv, share = s.device_mix, s.device_conversion, s.returning_share
        visitor = (1.0, s.returning_conversion)
        mean = sum(mix[d] * conv[d] for d in range(3)) / sum(mix)
        mean *= (1 - share) * visitor[0] + share * visitor[1]
        multiplier = [[conv[d] * visitor[r] / mean for r in (0, 1)] for d in range(3)]
        k = s.conversion_on_cart
        self._boost = [[(m**k, m ** (1 - k)) for m in row] for row in multiplier]
        ncat = len(catalog.categories)
        self._prod_cat = [p.category for p in catalog.products]
        # A page's fragment by the category in context (the same for pages without one).
        self._page_parts = [
            [HOME_PART] * ncat,
            catalog.category_parts,
            [],  # search: four terms per category, catalog.search_parts
            [],  # product: catalog.view_parts
            [CART_PART] * ncat,
            [CHECKOUT_PART] * ncat,
        ]

    @property
    def sessions(self) -> int:
        """Sessions generated so far."""
        return self._sessions

    def session(self, t: int) -> list[Event]:
        """Generate one session starting at epoch ms `t`."""
        return self.generate([t])

    def generate(self, starts: list[int]) -> list[Event]:
        """Generate one session per start time (epoch ms); each session's events in order."""
        # The hottest code of the producer: every lookup is bound to a local, the catalog's
        # samplers are inlined (same arithmetic as Catalog.popular/popular_in/category) and
        # event ids are formatted with hex() (bit 48 of `saltb` keeps the leading zeros).
        s, rng, cat = self._s, self._rng, self._catalog
        rand, bits = rng.random, rng.getrandbits
        views, search_parts, page_parts = cat.view_parts, cat.search_parts, self._page_parts
        prod_cat = self._prod_cat
        pop_cum, pop_total = cat.popularity()
        by_cat = cat.by_category()
        cat_cum, cat_total = cat.category_weights()
        visit, boost, stay_table = self._users.visit, self._boost, self._stay
        referrers, landing, bounce = self._referrers, self._landing, self._bounce
        empty, carrying, after_add = self._moves
        atc_delay, quantities, observer = self._atc_delay, self._quantities, self.observer
        returning_share, add_to_cart_rate = s.returning_share, s.add_to_cart_rate
        cart_to_checkout, to_purchase = s.cart_to_checkout, s.checkout_to_purchase
        plan = self.plan
        bot_share = plan.bot_share if plan is not None else 0.0
        converted = CONVERTED if plan is not None else 0
        base_products = cat.products
        ep, salt, n = self._event_ids.state()  # event ids inlined: the hottest line
        saltb = salt | 1 << 48
        days, thinks, max_events = self._days, self._think, s.max_session_events
        out: list[Event] = []
        append = out.append
        # A positive purchase lift redraws a session of the variant that did not buy, with the
        # same user and start (producer.scenario_plan.SessionPlan.retry): `again` holds them.
        again: tuple[int, bool, User, int] | None = None
        i, count = 0, len(starts)
        while i < count:
            if again is None:
                t = starts[i]
                if bot_share and rand() < bot_share:
                    self._event_ids.advance_to(n)
                    out += self._bot(t)
                    _, _, n = self._event_ids.state()
                    i += 1
                    continue
                returning = rand() < returning_share
                user = visit(returning)
            else:
                t, returning, user, mark = again
                del out[mark:]
                user.sessions -= 1
                again = None
            t0, mark = t, len(out)
            i += 1
            flags = SESSION_FIRST | (USER_FIRST if user.sessions == 0 else 0)
            user.sessions += 1
            atc_boost, checkout_boost = boost[user.device][returning]
            atc_p = add_to_cart_rate * atc_boost
            checkout_p = min(0.95, cart_to_checkout * checkout_boost)
            stay, think = stay_table[bits(11)], thinks[bits(4)]
            sid = random_uuid(rng)
            if observer is not None:
                observer[sid] = returning
            head = f'{user.head}{sid}",'
            tail = f"{user.tail}{referrers[bits(10)]}}}"
            cart: dict[int, int] = {}
            moves = empty
            page = landing[bits(10)]
            if page == PRODUCT:
                prod = bisect(pop_cum, rand() * pop_total)
                cc, part = prod_cat[prod], views[prod]
            else:
                prod, cc = 0, bisect(cat_cum, rand() * cat_total)
                part = search_parts[cc][bits(2)] if page == SEARCH else page_parts[page][cc]
            tag, units, pay_code, retry = 0, 1.0, PURCHASE | ORDER_FIRST | converted, 0.0
            products = base_products
            if plan is not None:  # scenarios: variant, sale, campaign (producer.scenario_plan)
                sp = plan.session(t, user.user_id, rand)
                tag, units, retry, products = sp.bits, sp.units, sp.retry, sp.products or products
                pay_code |= tag
                atc_p *= sp.atc
                checkout_p = min(0.99, checkout_p * sp.checkout)
                page, part, prod, cc, tail = planned(sp, page, part, prod, cc, user, tail, cat)
            flags |= tag
            steps = 0
            while True:
                n += 1
                append(
                    (
                        t,
                        flags,
                        f'{{"event_id":"{ep}{hex(((n * MULT) & MASK48) ^ saltb)[3:]}",'
                        f'"event_type":"page_view","timestamp":"{days[t // DAY_MS]}'
                        f'{HMS[t // 1000 % 86400]}{MILLIS[t % 1000]}",'
                        f"{head}{part}{tail}",
                        sid,
                        0,
                    )
                )
                flags = tag
                steps += 1
                added = page == PRODUCT and rand() < atc_p
                if added:
                    t += atc_delay[bits(10)]
                    p = products[prod]
                    qty = quantities[bits(10)]
                    if units != 1.0:  # an order-value lift: more units, rounded at random
                        qty = max(1, int(qty * units + rand()))
                    n += 1
                    eid = f"{ep}{hex(((n * MULT) & MASK48) ^ saltb)[3:]}"
                    at = f"{days[t // DAY_MS]}{HMS[t // 1000 % 86400]}{MILLIS[t % 1000]}"
                    body = f'{head}{p.view_part},{p.price},"quantity":{qty},"order_id":null,{tail}'
                    append(
                        (
                            t,
                            ADD_TO_CART | tag | p.code,
                            event_text(eid, "add_to_cart", at, body),
                            sid,
                            0,
                        )
                    )
                    cart[prod] = cart.get(prod, 0) + qty
                    moves = carrying
                    steps += 1
                if steps >= max_events:
                    break
                if steps == 1:
                    if rand() < bounce[page]:
                        break
                elif page != CHECKOUT and rand() >= stay:  # checkout has its own odds below
                    break
                if added:
                    page, fresh = after_add[bits(10)]
                elif page < CART:  # the shopping pages: no funnel step of their own
                    page, fresh = moves[page][bits(10)]
                elif page == CART and rand() < checkout_p:
                    page, fresh = CHECKOUT, False
                elif page == CHECKOUT and rand() < to_purchase:  # pay
                    t += self._pay_delay[bits(10)]
                    self._event_ids.advance_to(n)
                    out += self._order(t, cart, head, sid, tail, pay_code, products)
                    pay_code = PURCHASE | ORDER_FIRST | tag
                    _, _, n = self._event_ids.state()
                    steps += len(cart)
                    cart, moves = {}, empty
                    page, fresh = (EXIT, False) if rand() < s.exit_after_purchase else (HOME, False)
                else:
                    page, fresh = moves[page][bits(10)]
                if page == PRODUCT:
                    if fresh:
                        prod = bisect(pop_cum, rand() * pop_total)
                    else:
                        members, cum, total = by_cat[cc]
                        prod = members[bisect(cum, rand() * total)]
                    cc, part = prod_cat[prod], views[prod]
                elif page == EXIT:
                    break
                else:
                    if fresh:
                        cc = bisect(cat_cum, rand() * cat_total)
                    part = search_parts[cc][bits(2)] if page == SEARCH else page_parts[page][cc]
                t += think[bits(8)]
            if retry and pay_code & CONVERTED and rand() < retry:  # no order: draw it again
                again = (t0, returning, user, mark)  # its ids stay unused
                i -= 1
        self._sessions += len(starts)
        self._event_ids.advance_to(n)
        return out

    def _order(
        self,
        t: int,
        cart: dict[int, int],
        head: str,
        key: str,
        tail: str,
        code: int,
        products: list[Product],
    ) -> list[Event]:
        """Purchase lines of one order: one event per cart line, all at the same instant.

        `code` is the first line's (ORDER_FIRST, and CONVERTED for a session's first order);
        every line keeps its scenario bits. `products` carry the session's prices."""
        rand = self._rng.random
        ts = self._days[t // DAY_MS] + HMS[t // 1000 % 86400] + MILLIS[t % 1000]
        lines = [item for item in cart.items() if rand() >= self._s.cart_item_removed]
        if not lines:
            lines = [next(iter(cart.items()))]
        order_id = random_uuid(self._rng)
        out: list[Event] = []
        rest = code & ~(ORDER_FIRST | CONVERTED)
        for prod, qty in lines:
            p = products[prod]
            body = f'{head}{p.line_part},{p.price},"quantity":{qty},"order_id":"{order_id}",{tail}'
            value = event_text(self._event_ids.next(), "purchase", ts, body)
            out.append((t, code | p.code, value, key, p.price_cents * qty))
            code = rest
        return out

    def _bot(self, t: int) -> list[Event]:
        """A bot session (producer.scenario_plan): page views only, in quick succession,
        products uniformly (a crawler follows links, not popularity), no referrer."""
        assert self.plan is not None
        rng = self._rng
        rand, bits = rng.random, rng.getrandbits
        user, tag, extra = self.plan.bot(rand)
        flags = SESSION_FIRST | (USER_FIRST if user.sessions == 0 else 0) | tag
        user.sessions += 1
        sid = random_uuid(rng)
        head = f'{user.head}{sid}",'
        tail = f'{user.tail}"referrer":null{extra}}}'
        cat = self._catalog
        views, category_parts = cat.view_parts, cat.category_parts
        pages = min(self._s.max_session_events, BOT_PAGES[bits(4)])
        low, span = BOT_GAP_MS[0], BOT_GAP_MS[1] - BOT_GAP_MS[0]
        days, ids = self._days, self._event_ids
        out: list[Event] = []
        for i in range(pages):
            r = rand()
            if i == 0 and r < 0.2:
                part = HOME_PART
            elif r < 0.8:
                part = views[int(rand() * len(views))]
            else:
                part = category_parts[int(rand() * len(category_parts))]
            at = days[t // DAY_MS] + HMS[t // 1000 % 86400] + MILLIS[t % 1000]
            out.append(
                (t, flags, event_text(ids.next(), "page_view", at, head + part + tail), sid, 0)
            )
            flags = tag
            t += low + int(rand() * span)
        return out

    def bot_users(self) -> list[User]:
        """The bot identities (for a warm start's reset of first-visit counts)."""
        return [] if self.plan is None else [user for user, _ in self.plan.bots]


def planned(
    sp: SessionPlan, page: int, part: str, prod: int, cc: int, user: User, tail: str, cat: Catalog
) -> tuple[int, str, int, int, str]:
    """A session's landing page and JSON tail as the scenarios change them: a campaign's
    referrer and UTM query, the sale's landing page, the variant's fields."""
    tail = f"{tail[:-1]}{sp.extra}}}"
    if sp.referrer is not None:
        tail = f"{user.tail}{sp.referrer}{sp.extra}}}"
    if sp.landing is not None:
        kind, index = sp.landing
        if kind == "category":
            page, cc, part = CATEGORY, index, cat.category_parts[index]
        else:
            page, prod, part = PRODUCT, index, cat.view_parts[index]
            cc = cat.products[index].category
    if sp.utm:
        sep = "&" if page == SEARCH else "?"
        part = part.replace('","category"', f'{sep}{sp.utm}","category"', 1)
    return page, part, prod, cc, tail
