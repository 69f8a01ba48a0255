"""The order lifecycle: every status change is checked against this one table.

    pending ──> confirmed ──> shipped ──> delivered
      │  │          │
      │  └──────────┴──> cancelled
      └──> rejected

An order is saved ``pending`` before its stock is reserved, becomes
``confirmed`` when the reservation succeeds and ``rejected`` when it fails (or
when the orders service died in between and the sweeper gives up on it).
Shipping moves a confirmed order to ``shipped`` and then ``delivered``; once
shipped, its stock has left and it can no longer be cancelled.
``cancelled`` keeps the order readable.
"""
from common.errors import InvalidOrderTransition, OrderAlreadyShipped, OrderCancelled
from common.order_events import (
    ORDER_CANCELLED,
    ORDER_CREATED,
    ORDER_DELIVERED,
    ORDER_SHIPPED,
    OrderStatus,
)

TRANSITIONS = {
    OrderStatus.PENDING: {OrderStatus.CONFIRMED, OrderStatus.REJECTED, OrderStatus.CANCELLED},
    OrderStatus.CONFIRMED: {OrderStatus.SHIPPED, OrderStatus.CANCELLED},
    OrderStatus.SHIPPED: {OrderStatus.DELIVERED},
    OrderStatus.DELIVERED: set(),
    OrderStatus.REJECTED: set(),
    OrderStatus.CANCELLED: set(),
}

# (current, asked) pairs that are a no-op, not an error: what was asked has
# already happened, so a client (or shipping) that retries after a lost
# answer gets the order as it is.
ALREADY_DONE = {
    (OrderStatus.CANCELLED, OrderStatus.CANCELLED),
    (OrderStatus.SHIPPED, OrderStatus.SHIPPED),
    (OrderStatus.DELIVERED, OrderStatus.SHIPPED),
    (OrderStatus.DELIVERED, OrderStatus.DELIVERED),
}

# Refusals a client can act on get their own error code; the rest are
# INVALID_ORDER_TRANSITION.
REFUSALS = {
    (OrderStatus.SHIPPED, OrderStatus.CANCELLED): OrderAlreadyShipped,
    (OrderStatus.DELIVERED, OrderStatus.CANCELLED): OrderAlreadyShipped,
    (OrderStatus.CANCELLED, OrderStatus.SHIPPED): OrderCancelled,
    (OrderStatus.CANCELLED, OrderStatus.DELIVERED): OrderCancelled,
}

# What the rest of the system is told. A pending order was never announced,
# so cancelling it announces nothing either.
EVENTS = {
    (OrderStatus.PENDING, OrderStatus.CONFIRMED): ORDER_CREATED,
    (OrderStatus.CONFIRMED, OrderStatus.CANCELLED): ORDER_CANCELLED,
    (OrderStatus.CONFIRMED, OrderStatus.SHIPPED): ORDER_SHIPPED,
    (OrderStatus.SHIPPED, OrderStatus.DELIVERED): ORDER_DELIVERED,
}

# An order reaching these no longer needs stock: its reservation is released.
RELEASES_STOCK = {OrderStatus.REJECTED, OrderStatus.CANCELLED}


def needs_change(current, target):
    """Whether moving from ``current`` to ``target`` changes anything; raises if not allowed."""
    current, target = OrderStatus(current), OrderStatus(target)
    if (current, target) in ALREADY_DONE:
        return False
    if target not in TRANSITIONS[current]:
        refusal = REFUSALS.get((current, target), InvalidOrderTransition)
        raise refusal(
            f"An order that is {current.value} cannot become {target.value}.",
            {"status": current.value, "requested": target.value},
        )
    return True


def event_for(current, target):
    """The event type announcing this change, or None."""
    return EVENTS.get((OrderStatus(current), OrderStatus(target)))
