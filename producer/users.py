"""Visitors: a pool of users, each with a stable device, user agent, IP address and country.

Value pools (user agents per device, public IPs via Faker) are built once at start; new
visitors replace a random slot of the pool, so returning visitors always find someone to be.
"""

from __future__ import annotations

import functools
import json
import random
from bisect import bisect
from itertools import accumulate

from faker import Faker

from producer.ids import random_uuid
from producer.models import DEVICE_TYPES, User, weighted_slots

IOS = ("17_4_1", "17_5_1", "17_6_1", "18_0", "18_1_1", "18_2", "18_3_2", "18_5")
ANDROID = ("12", "13", "14", "14", "15", "15")
CHROME = ("124.0.6367.82", "126.0.6478.71", "128.0.6613.127", "130.0.6723.58", "131.0.6778.85")
FIREFOX = ("125.0", "128.0", "131.0", "132.0", "133.0")
PHONES = ("SM-S918B", "SM-A546B", "Pixel 8", "Pixel 7a", "SM-G991B", "moto g54 5G", "K")
TABLETS = ("SM-X710", "SM-X205", "Lenovo TB-X606F", "K")

# (weight, template) per device; every template classifies back to its device.
USER_AGENTS: dict[str, tuple[tuple[float, str], ...]] = {
    "mobile": (
        (
            0.52,
            "Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/{safari} Mobile/15E148 Safari/604.1",
        ),
        (
            0.40,
            "Mozilla/5.0 (Linux; Android {android}; {phone}) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/{chrome} Mobile Safari/537.36",
        ),
        (
            0.08,
            "Mozilla/5.0 (Linux; Android {android}; {phone}) AppleWebKit/537.36 "
            "(KHTML, like Gecko) SamsungBrowser/26.0 Chrome/{chrome} Mobile Safari/537.36",
        ),
    ),
    "tablet": (
        (
            0.65,
            "Mozilla/5.0 (iPad; CPU OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/{safari} Mobile/15E148 Safari/604.1",
        ),
        (
            0.35,
            "Mozilla/5.0 (Linux; Android {android}; {tablet}) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/{chrome} Safari/537.36",
        ),
    ),
    "desktop": (
        (
            0.45,
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/{chrome} Safari/537.36",
        ),
        (
            0.12,
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/{chrome} Safari/537.36 Edg/{chrome}",
        ),
        (
            0.08,
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{firefox}) Gecko/20100101 "
            "Firefox/{firefox}",
        ),
        (
            0.17,
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/{safari} Safari/605.1.15",
        ),
        (
            0.14,
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/{chrome} Safari/537.36",
        ),
        (0.04, "Mozilla/5.0 (X11; Linux x86_64; rv:{firefox}) Gecko/20100101 Firefox/{firefox}"),
    ),
}

COUNTRIES = (
    ("US", 0.42),
    ("GB", 0.10),
    ("DE", 0.08),
    ("CA", 0.06),
    ("FR", 0.05),
    ("IN", 0.05),
    ("AU", 0.04),
    ("NL", 0.03),
    ("BR", 0.03),
    ("ES", 0.03),
    ("IT", 0.03),
    ("MX", 0.02),
    ("SE", 0.02),
    ("JP", 0.02),
    ("PL", 0.02),
)

UA_POOL_SIZE = 150
IP_POOL_SIZE = 4096
PROFILE_BITS = 13  # 8192 precomputed (user agent, IP, country) profiles per device


def _user_agent(rng: random.Random, template: str) -> str:
    ios = rng.choice(IOS)
    major_minor = ".".join(ios.split("_")[:2])
    return template.format(
        ios=ios,
        safari=major_minor,
        android=rng.choice(ANDROID),
        chrome=rng.choice(CHROME),
        firefox=rng.choice(FIREFOX),
        phone=rng.choice(PHONES),
        tablet=rng.choice(TABLETS),
    )


def user_agent_pool(rng: random.Random, device: str, size: int = UA_POOL_SIZE) -> list[str]:
    """Distinct-ish user agents for one device type, drawn by template market share."""
    templates = USER_AGENTS[device]
    cum = list(accumulate(w for w, _ in templates))
    return [
        _user_agent(rng, templates[bisect(cum, rng.random() * cum[-1])][1]) for _ in range(size)
    ]


@functools.cache
def ip_pool() -> tuple[str, ...]:
    """Public IPv4 addresses from Faker, built once per process: part of the model, not the seed."""
    fake = Faker("en_US")
    fake.seed_instance(20250819)
    return tuple(fake.ipv4_public() for _ in range(IP_POOL_SIZE))


class UserPool:
    """A fixed number of user slots; `visit` returns the user of a new session."""

    def __init__(self, rng: random.Random, size: int, device_mix: tuple[float, ...]) -> None:
        self._rng = rng
        self._device = weighted_slots(tuple(zip(range(3), device_mix, strict=True)), 10)
        countries = weighted_slots(COUNTRIES, 10)
        ips = ip_pool()
        # Each device gets a pool of serialised profiles; a new user takes one and keeps it.
        self._profiles: list[list[str]] = []
        for name in DEVICE_TYPES:
            agents = [json.dumps(ua) for ua in user_agent_pool(rng, name)]
            self._profiles.append(
                [
                    f'"user_agent":{agents[int(rng.random() ** 1.5 * len(agents))]},'
                    f'"ip_address":"{ips[rng.getrandbits(12)]}","device_type":"{name}",'
                    f'"country":"{countries[rng.getrandbits(10)]}",'
                    for _ in range(1 << PROFILE_BITS)
                ]
            )
        self.slots: list[User] = [self._new_user() for _ in range(size)]
        self.created = 0

    def _new_user(self) -> User:
        rng = self._rng
        device = self._device[rng.getrandbits(10)]
        uid = random_uuid(rng)
        return User(
            uid,
            device,
            f'"user_id":"{uid}","session_id":"',
            self._profiles[device][rng.getrandbits(PROFILE_BITS)],
        )

    def visit(self, returning: bool) -> User:
        """The user of a new session: an existing one, or a new visitor taking a random slot."""
        slot = int(self._rng.random() * len(self.slots))
        if returning:
            return self.slots[slot]
        user = self.slots[slot] = self._new_user()
        self.created += 1
        return user
