"""The session state machine: one visit, from landing page to exit, as serialised events.

Pages are home, category, search, product, cart, checkout, purchase and exit. A session gets a
user (new or returning), a per-page stay probability drawn from a Beta distribution (so lengths
have a long tail), heavy-tailed think times, and conversion odds scaled by device and visitor
type. Output: `(event_ms, code, json_text, session_id, revenue_cents)` tuples in time order.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from statistics import NormalDist
from typing import TYPE_CHECKING, Final

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
    from producer.scenario_plan import Plan

# One message as it travels from the state machine to the sinks: a plain tuple (cheap to build
# by the million), read everywhere by these field names, never by bare numbers.
Event = tuple[int, int, str, str, int]
AT: Final = 0  # event time, ms since the epoch
CODE: Final = 1  # ledger code: type, firsts and fault flags (producer.models)
TEXT: Final = 2  # the JSON text of the message
KEY: Final = 3  # the Kafka key: the session id
CENTS: Final = 4  # revenue of a purchase line, in cents (0 otherwise)

HOME, CATEGORY, SEARCH, PRODUCT, CART, CHECKOUT = range(6)
LANDING = ((HOME, 0.30), (CATEGORY, 0.15), (SEARCH, 0.10), (PRODUCT, 0.45))
# Relative bounce odds per landing page; rescaled so the overall share is `bounce_rate`.
BOUNCE_ODDS = {HOME: 0.85, CATEGORY: 0.90, SEARCH: 0.75, PRODUCT: 1.15}
ATC_SHARE = 0.7  # how much of a segment's conversion multiplier acts on adding to cart
# Pages per bot session, 16 equally likely (mean 16): at the default share of 30% of sessions
# bots make ~60% of page views, near Imperva's ~half of all requests being automated.
BOT_PAGES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 25, 30, 40, 60)
BOT_GAP_MS = (100, 2_000)  # between a bot's page views: no think time
QUANTITIES = (1,) * 52 + (2,) * 9 + (3,) * 2 + (4,)  # 64 slots: mostly one
REFERRERS = (
    (None, 0.38),
    ("https://www.google.com/", 0.32),
    ("https://www.bing.com/", 0.04),
    ("https://duckduckgo.com/", 0.02),
    ("https://www.facebook.com/", 0.06),
    ("https://www.instagram.com/", 0.05),
    ("https://www.pinterest.com/", 0.03),
    ("https://www.youtube.com/", 0.03),
    ("https://t.co/", 0.02),
    ("https://newsletter.shop.example/", 0.05),
)
# Page fragments of page views end with the null money fields: `…,"order_id":null,`.
HOME_PART = NO_PRODUCT.format(url="/")
CART_PART = NO_PRODUCT.format(url="/cart")
CHECKOUT_PART = NO_PRODUCT.format(url="/checkout")


def lognormal_table(median_s: float, sigma: float, bits: int, cap_s: float) -> list[int]:
    """Quantiles (in ms) of a lognormal, for O(1) sampling with `getrandbits(bits)`."""
    n = 1 << bits
    dist = NormalDist(math.log(median_s), sigma)
    return [
        max(1000, min(int(cap_s * 1000), int(math.exp(dist.inv_cdf((i + 0.5) / n)) * 1000)))
        for i in range(n)
    ]


class SessionModel:
    """Generates whole sessions from the seeded generator; `session(start_ms)` returns events."""

    def __init__(
        self,
        settings: BehaviorSettings,
        rng: random.Random,
        catalog: Catalog,
        users: UserPool,
    ) -> None:
        self._s = settings
        self._rng = rng
        self._catalog = catalog
        self._users = users
        self._event_ids = IdSpace(rng)
        self._sessions = 0
        self.observer: dict[str, bool] | None = None  # session_id -> returning, for the profile
        self.plan: Plan | None = None  # the run's scenarios (producer.scenario_plan)
        self._days = DayPrefixes()
        self._think = lognormal_table(
            settings.think_time_median_s, settings.think_time_sigma, 12, 1800
        )
        self._atc_delay = lognormal_table(8.0, 0.7, 10, 600)
        self._pay_delay = lognormal_table(40.0, 0.6, 10, 900)
        table_rng = random.Random(0)  # the engagement curve is part of the model, not the seed
        a, b = settings.engagement
        self._stay = sorted(table_rng.betavariate(a, b) for _ in range(2048))
        self._referrers = [
            '"referrer":null' if r is None else f'"referrer":"{r}"'
            for r in weighted_slots(REFERRERS, 10)
        ]
        self._landing = weighted_slots(LANDING, 8)
        landing_total = sum(w * BOUNCE_ODDS[page] for page, w in LANDING)
        self._bounce = {
            page: min(1.0, settings.bounce_rate * odds / landing_total)
            for page, odds in BOUNCE_ODDS.items()
        }
        # Conversion multiplier per (device, returning), normalised to a session-mean of 1, then
        # split between adding to cart (m ** ATC_SHARE) and checking out (the rest).
        mix, conv, share = settings.device_mix, settings.device_conversion, settings.returning_share
        visitor = (1.0, settings.returning_conversion)
        mean = sum(mix[d] * conv[d] for d in range(3)) / sum(mix)
        mean *= (1 - share) * visitor[0] + share * visitor[1]
        multiplier = [[conv[d] * visitor[r] / mean for r in (0, 1)] for d in range(3)]
        self._boost = [[(m**ATC_SHARE, m ** (1 - ATC_SHARE)) for m in row] for row in multiplier]

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
        products, views = cat.products, cat.view_parts
        category_parts, search_parts = cat.category_parts, cat.search_parts
        pop_cum, pop_total = cat.popularity()
        by_cat = cat.by_category()
        cat_cum, cat_total = cat.category_weights()
        visit, boost, stay_table = self._users.visit, self._boost, self._stay
        referrers, landing, bounce = self._referrers, self._landing, self._bounce
        atc_delay, observer = self._atc_delay, self.observer
        returning_share, add_to_cart_rate = s.returning_share, s.add_to_cart_rate
        cart_to_checkout, go_to_cart = s.cart_to_checkout, s.go_to_cart_after_add
        to_purchase, exit_after = s.checkout_to_purchase, s.exit_after_purchase
        plan = self.plan
        bot_share = plan.bot_share if plan is not None else 0.0
        converted = CONVERTED if plan is not None else 0
        base_products = products
        ep, salt, n = self._event_ids.state()  # event ids inlined: the hottest line
        saltb = salt | 1 << 48
        days, think, max_events = self._days, self._think, s.max_session_events
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
            stay = stay_table[bits(11)]
            sid = random_uuid(rng)
            if observer is not None:
                observer[sid] = returning
            head = f'{user.head}{sid}",'
            tail = f"{user.tail}{referrers[bits(10)]}}}"
            cart: dict[int, int] = {}
            page = landing[bits(8)]
            cc = bisect(cat_cum, rand() * cat_total)  # category in context (category, search)
            prod = bisect(pop_cum, rand() * pop_total)
            if page == PRODUCT:
                part = views[prod]
            elif page == CATEGORY:
                part = category_parts[cc]
            elif page == SEARCH:
                part = search_parts[cc][bits(2)]
            else:
                part = HOME_PART
            tag, units, pay_code, retry = 0, 1.0, PURCHASE | ORDER_FIRST | converted, 0.0
            if plan is not None:  # scenarios: variant, sale, campaign (producer.scenario_plan)
                sp = plan.session(t, user.user_id, rand)
                tag, units, retry = sp.bits, sp.units, sp.retry
                pay_code |= tag
                atc_p *= sp.atc
                checkout_p = min(0.99, checkout_p * sp.checkout)
                products = base_products if sp.products is None else sp.products
                tail = f"{tail[:-1]}{sp.extra}}}"
                if sp.referrer is not None:
                    tail = f"{user.tail}{sp.referrer}{sp.extra}}}"
                if sp.landing is not None:
                    kind, index = sp.landing
                    if kind == "category":
                        page, cc, part = CATEGORY, index, category_parts[index]
                    else:
                        page, prod, part = PRODUCT, index, views[index]
                if sp.utm:
                    sep = "&" if page == SEARCH else "?"
                    part = part.replace('","category"', f'{sep}{sp.utm}","category"', 1)
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
                added = False
                if page == PRODUCT and rand() < atc_p:
                    t += atc_delay[bits(10)]
                    p = products[prod]
                    qty = QUANTITIES[bits(6)]
                    if units != 1.0:  # an order-value lift: more units, rounded at random
                        qty = max(1, int(qty * units + rand()))
                    n += 1
                    append(
                        (
                            t,
                            ADD_TO_CART | tag | p.code,
                            f'{{"event_id":"{ep}{hex(((n * MULT) & MASK48) ^ saltb)[3:]}",'
                            f'"event_type":"add_to_cart","timestamp":"{days[t // DAY_MS]}'
                            f'{HMS[t // 1000 % 86400]}{MILLIS[t % 1000]}",'
                            f'{head}{p.view_part},{p.price},"quantity":{qty},"order_id":null,{tail}',
                            sid,
                            0,
                        )
                    )
                    cart[prod] = cart.get(prod, 0) + qty
                    added = True
                    steps += 1
                if steps >= max_events:
                    break
                if steps == 1:
                    if rand() < bounce[page]:
                        break
                elif page != CHECKOUT and rand() >= stay:  # checkout has its own odds below
                    break
                r = rand()
                if page == PRODUCT:
                    if (added and r < go_to_cart) or (cart and r < 0.08):
                        page, part = CART, CART_PART
                    elif r < 0.50:  # a related product: same category mostly
                        if rand() < 0.65:
                            members, cum, total = by_cat[products[prod].category]
                            prod = members[bisect(cum, rand() * total)]
                        else:
                            prod = bisect(pop_cum, rand() * pop_total)
                        part = views[prod]
                    elif r < 0.72:
                        cc = products[prod].category
                        page, part = CATEGORY, category_parts[cc]
                    elif r < 0.88:
                        cc = bisect(cat_cum, rand() * cat_total)
                        page, part = SEARCH, search_parts[cc][bits(2)]
                    else:
                        page, part = HOME, HOME_PART
                elif page in (CATEGORY, SEARCH):
                    if r < 0.72:
                        members, cum, total = by_cat[cc]
                        prod = members[bisect(cum, rand() * total)]
                        page, part = PRODUCT, views[prod]
                    elif r < 0.86:
                        if rand() >= 0.4:
                            cc = bisect(cat_cum, rand() * cat_total)
                        page, part = SEARCH, search_parts[cc][bits(2)]
                    elif r < 0.95:
                        cc = bisect(cat_cum, rand() * cat_total)
                        page, part = CATEGORY, category_parts[cc]
                    else:
                        page, part = HOME, HOME_PART
                elif page == HOME:
                    if cart and r < 0.05:
                        page, part = CART, CART_PART
                    elif r < 0.45:
                        cc = bisect(cat_cum, rand() * cat_total)
                        page, part = CATEGORY, category_parts[cc]
                    elif r < 0.65:
                        cc = bisect(cat_cum, rand() * cat_total)
                        page, part = SEARCH, search_parts[cc][bits(2)]
                    else:
                        prod = bisect(pop_cum, rand() * pop_total)
                        page, part = PRODUCT, views[prod]
                elif page == CART:
                    if cart and r < checkout_p:
                        page, part = CHECKOUT, CHECKOUT_PART
                    elif rand() < 0.6:  # back to shopping
                        prod = bisect(pop_cum, rand() * pop_total)
                        page, part = PRODUCT, views[prod]
                    else:
                        cc = bisect(cat_cum, rand() * cat_total)
                        page, part = CATEGORY, category_parts[cc]
                elif r < to_purchase and cart:  # on the checkout page: pay
                    t += self._pay_delay[bits(10)]
                    self._event_ids.advance_to(n)
                    out += self._order(t, cart, head, sid, tail, pay_code, products)
                    pay_code = PURCHASE | ORDER_FIRST | tag
                    _, _, n = self._event_ids.state()
                    steps += len(cart)
                    cart = {}
                    if rand() < exit_after:
                        break
                    page, part = HOME, HOME_PART
                elif rand() < 0.5:
                    break  # abandoned at checkout
                else:
                    page, part = CART, CART_PART
                t += think[bits(12)]
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
            value = (
                f'{{"event_id":"{self._event_ids.next()}","event_type":"purchase",'
                f'"timestamp":"{ts}",{head}{p.line_part},{p.price},"quantity":{qty},'
                f'"order_id":"{order_id}",{tail}'
            )
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
            out.append(
                (
                    t,
                    flags,
                    f'{{"event_id":"{ids.next()}","event_type":"page_view","timestamp":"'
                    f'{days[t // DAY_MS]}{HMS[t // 1000 % 86400]}{MILLIS[t % 1000]}",'
                    f"{head}{part}{tail}",
                    sid,
                    0,
                )
            )
            flags = tag
            t += low + int(rand() * span)
        return out

    def bot_users(self) -> list[User]:
        """The bot identities (for a warm start's reset of first-visit counts)."""
        return [] if self.plan is None else [user for user, _ in self.plan.bots]
