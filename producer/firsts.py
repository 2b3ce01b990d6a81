"""Keeps the flag that counts a session, user or order on the first of its messages sent.

The ledger counts sessions, users and orders by a flag on one event of each (the first one
generated). When the fault injector holds that event back as late, other events of the same
session, user or order go out before it; a run cut short in between (a stop, a closed pipe,
Kafka confirming a prefix of a partition) would then count them without the flag. So while a
flagged event is held, the flag moves to whichever event of its session (user, order) goes out
first, and the held event loses it. Any prefix of the sent stream then counts exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from producer.behavior import AT, CENTS, CODE, KEY, TEXT, Event
from producer.models import (
    CONVERTED,
    DUPLICATE,
    MALFORMED,
    ORDER_FIRST,
    PURCHASE,
    SESSION_FIRST,
    TYPE_MASK,
    USER_FIRST,
    order_id_of,
    user_id_of,
)

# CONVERTED rides with its order's first flag.
FIRSTS = SESSION_FIRST | USER_FIRST | ORDER_FIRST | CONVERTED


@dataclass(slots=True)
class Held:
    """The flags a held event still carries, and the ids they count."""

    flags: int
    session: str
    user: str | None
    order: str | None


class FirstFlags:
    """Which held events carry first-flags, by session, user and order id."""

    def __init__(self) -> None:
        self.sessions: dict[str, Held] = {}
        self.users: dict[str, Held] = {}
        self.orders: dict[str, Held] = {}

    def pending(self) -> tuple[dict[str, Held], dict[str, Held], dict[str, Held]]:
        """The held first-flags by session, user and order id (empty dicts: nothing to move)."""
        return self.sessions, self.users, self.orders

    def hold(self, event: Event) -> Held | None:
        """Note a flagged event that is being held back; None when it carries no first-flag."""
        flags = event[CODE] & FIRSTS
        if not flags or event[CODE] & (DUPLICATE | MALFORMED):
            return None
        held = Held(
            flags,
            event[KEY],
            user_id_of(event[TEXT]) if flags & USER_FIRST else None,
            order_id_of(event[TEXT]) if flags & ORDER_FIRST else None,
        )
        if flags & SESSION_FIRST:
            self.sessions[held.session] = held
        if held.user is not None:
            self.users[held.user] = held
        if held.order is not None:
            self.orders[held.order] = held
        return held

    def out(self, event: Event, own: Held | None) -> Event:
        """The event as it goes out: with the flags it still holds (`own`, when it was held)
        and those of held events of its session, user or order that it now goes out before."""
        code = event[CODE]
        if code & (DUPLICATE | MALFORMED):
            return event
        if own is not None:
            code = code & ~FIRSTS | own.flags
            self._forget(own)
        session = self.sessions.get(event[KEY])
        if session is not None:  # goes out before its session's first event
            code |= self._take(session, SESSION_FIRST | USER_FIRST)
        if self.orders and code & TYPE_MASK == PURCHASE and not code & ORDER_FIRST:
            order = self.orders.get(order_id_of(event[TEXT]) or "")
            if order is not None:
                code |= self._take(order, ORDER_FIRST | CONVERTED)
        if self.users and code & SESSION_FIRST and not code & USER_FIRST:
            user = self.users.get(user_id_of(event[TEXT]))
            if user is not None:  # opens a later session of a user whose first is held
                code |= self._take(user, USER_FIRST)
        return (
            event
            if code == event[CODE]
            else (event[AT], code, event[TEXT], event[KEY], event[CENTS])
        )

    def _take(self, held: Held, flags: int) -> int:
        taken = held.flags & flags
        held.flags &= ~taken
        if taken & SESSION_FIRST:
            del self.sessions[held.session]
        if taken & USER_FIRST and held.user is not None:
            del self.users[held.user]
        if taken & ORDER_FIRST and held.order is not None:
            del self.orders[held.order]
        return taken

    def _forget(self, held: Held) -> None:
        self._take(held, held.flags)

    def __bool__(self) -> bool:
        return bool(self.sessions or self.users or self.orders)
