"""The order lifecycle: every status change is checked against this one table.

    pending ──> confirmed ──> cancelled
       │  └───────────────────────^
       └──> rejected

An order is saved ``pending`` before its stock is reserved, becomes
``confirmed`` when the reservation succeeds and ``rejected`` when it fails (or
when the orders service died in between and the sweeper gives up on it).
``cancelled`` keeps the order readable; cancelling it again changes nothing.
"""
from enum import Enum

from common.errors import InvalidOrderTransition
from common.order_events import ORDER_CANCELLED, ORDER_CREATED


class OrderStatus(str, Enum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


TRANSITIONS = {
    OrderStatus.PENDING: {OrderStatus.CONFIRMED, OrderStatus.REJECTED, OrderStatus.CANCELLED},
    OrderStatus.CONFIRMED: {OrderStatus.CANCELLED},
    OrderStatus.REJECTED: set(),
    OrderStatus.CANCELLED: set(),
}

# Asking for the status an order already has is a no-op for these, not an error.
REPEATABLE = {OrderStatus.CANCELLED}

# What the rest of the system is told. A pending order was never announced,
# so cancelling it announces nothing either.
EVENTS = {
    (OrderStatus.PENDING, OrderStatus.CONFIRMED): ORDER_CREATED,
    (OrderStatus.CONFIRMED, OrderStatus.CANCELLED): ORDER_CANCELLED,
}

# An order reaching these no longer needs stock: its reservation is released.
RELEASES_STOCK = {OrderStatus.REJECTED, OrderStatus.CANCELLED}


def needs_change(current, target):
    """Whether moving from ``current`` to ``target`` changes anything; raises if not allowed."""
    current, target = OrderStatus(current), OrderStatus(target)
    if current == target and target in REPEATABLE:
        return False
    if target not in TRANSITIONS[current]:
        raise InvalidOrderTransition(
            f"An order that is {current.value} cannot become {target.value}.",
            {"status": current.value, "requested": target.value},
        )
    return True


def event_for(current, target):
    """The event type announcing this change, or None."""
    return EVENTS.get((OrderStatus(current), OrderStatus(target)))
