"""The product catalog: categories, lognormal prices per category and Zipf-like popularity.

Built once from the seeded generator; every product's JSON fragments (id, page URL, category,
price) are serialised here so the hot path only concatenates strings.
"""

from __future__ import annotations

import json
import math
import random
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate

from producer.ids import random_uuid
from producer.models import Category

CATEGORIES = (
    Category("Clothing", "clothing", 0.20, 32.0, 0.55),
    Category("Electronics", "electronics", 0.18, 89.0, 0.95),
    Category("Home & Kitchen", "home-kitchen", 0.15, 38.0, 0.75),
    Category("Beauty", "beauty", 0.10, 19.0, 0.55),
    Category("Sports & Outdoors", "sports-outdoors", 0.09, 42.0, 0.80),
    Category("Books", "books", 0.08, 14.0, 0.45),
    Category("Toys & Games", "toys-games", 0.07, 24.0, 0.65),
    Category("Grocery", "grocery", 0.05, 7.5, 0.50),
    Category("Jewelry", "jewelry", 0.04, 65.0, 1.00),
    Category("Garden", "garden", 0.04, 34.0, 0.75),
)

SEARCH_TERMS = {  # four per category: drawn with getrandbits(2)
    "clothing": ("summer dress", "mens jeans", "running shoes", "hoodie"),
    "electronics": ("wireless earbuds", "usb c charger", "4k tv", "gaming mouse"),
    "home-kitchen": ("air fryer", "coffee maker", "bed sheets", "knife set"),
    "beauty": ("moisturizer", "vitamin c serum", "shampoo", "lipstick"),
    "sports-outdoors": ("yoga mat", "dumbbells", "tent", "cycling helmet"),
    "books": ("cookbook", "thriller", "kids books", "science fiction"),
    "toys-games": ("lego", "board games", "puzzle 1000", "rc car"),
    "grocery": ("coffee beans", "green tea", "protein bar", "olive oil"),
    "jewelry": ("silver necklace", "gold hoops", "engagement ring", "charm bracelet"),
    "garden": ("garden hose", "plant pots", "lawn mower", "seeds"),
}

NO_MONEY = '"price":null,"quantity":null,"order_id":null,'
# A page view's page fragment: product, URL, category and the null money fields.
NO_PRODUCT = '"product_id":null,"page_url":"{url}","category":null,' + NO_MONEY


@dataclass(frozen=True, slots=True)
class Product:
    """One product with its pre-serialised fragments."""

    product_id: str
    category: int
    price_cents: int
    view_part: str  # product_id, page_url (/product/<id>) and category, for views and carts
    line_part: str  # the same product on the order confirmation page
    price: str  # '"price":12.99'
    code: int = 0  # ledger code bits of its cart and purchase lines (SALE_PRICE on sale)


def charm_price_cents(price: float) -> int:
    """Round a raw price to shop-style cents: 12.99, 129.99, 4.49."""
    if price >= 10:
        return max(999, round(price) * 100 - 1)
    return max(99, round(price * 2) * 50 - 1)


class Catalog:
    """Products, their categories and samplers weighted by popularity."""

    def __init__(
        self,
        rng: random.Random,
        products: int,
        popularity_exponent: float,
        popularity_offset: float,
    ) -> None:
        cat_cum = list(accumulate(c.weight for c in CATEGORIES))
        self.categories = CATEGORIES
        self.products: list[Product] = []
        for _ in range(products):
            cat = bisect(cat_cum, rng.random() * cat_cum[-1])
            c = CATEGORIES[cat]
            price = math.exp(rng.gauss(math.log(c.median_price), c.price_sigma))
            cents = charm_price_cents(price)
            pid = random_uuid(rng)
            name = json.dumps(c.name)
            self.products.append(
                Product(
                    product_id=pid,
                    category=cat,
                    price_cents=cents,
                    view_part=f'"product_id":"{pid}","page_url":"/product/{pid}","category":{name}',
                    line_part=f'"product_id":"{pid}","page_url":"/checkout/complete",'
                    f'"category":{name}',
                    price=f'"price":{cents // 100}.{cents % 100:02d}',
                )
            )
        self.view_parts = [f"{p.view_part},{NO_MONEY}" for p in self.products]
        # Popularity is Zipf-Mandelbrot over a random ranking, independent of id or price, with
        # the rank as a share of the catalog: the same curve whatever its size (and so inside
        # each category, a random part of the ranking).
        ranking = list(range(products))
        rng.shuffle(ranking)
        weight = [0.0] * products
        for rank, index in enumerate(ranking):
            x = (rank + 0.5) / products
            weight[index] = (x + popularity_offset) ** -popularity_exponent
        self.weight = weight
        self._cum = list(accumulate(weight))
        self._by_cat: list[tuple[list[int], list[float]]] = []
        for cat in range(len(CATEGORIES)):
            members = [i for i, p in enumerate(self.products) if p.category == cat]
            self._by_cat.append((members, list(accumulate(weight[i] for i in members))))
        # Categories without products (tiny catalogs) are never offered.
        self._cat_cum = list(
            accumulate(c.weight if self._by_cat[i][0] else 0.0 for i, c in enumerate(CATEGORIES))
        )
        self.category_parts = [NO_PRODUCT.format(url=f"/category/{c.slug}") for c in CATEGORIES]
        self.search_parts = [
            [NO_PRODUCT.format(url="/search?q=" + term.replace(" ", "+")) for term in terms]
            for terms in (SEARCH_TERMS[c.slug] for c in CATEGORIES)
        ]

    def popularity(self) -> tuple[list[float], float]:
        """(cumulative weights, total) of the products' popularity: the product at uniform draw
        `u` is `bisect(cum, u * total)` (SessionModel inlines it)."""
        return self._cum, self._cum[-1]

    def by_category(self) -> list[tuple[list[int], list[float], float]]:
        """Per category (members, cumulative weights, total): a product of that category by
        popularity is `members[bisect(cum, u * total)]`. An empty category falls back to the
        whole catalog."""
        every = list(range(len(self.products)))
        return [
            (members, cum, cum[-1]) if members else (every, self._cum, self._cum[-1])
            for members, cum in self._by_cat
        ]

    def category_weights(self) -> tuple[list[float], float]:
        """(cumulative weights, total) of the categories' share of traffic: the category at
        uniform draw `u` is `bisect(cum, u * total)`."""
        return self._cat_cum, self._cat_cum[-1]
