"""The order lifecycle table (orders/lifecycle.py): which status changes are allowed and announced."""
import itertools

import pytest

from common.errors import InvalidOrderTransition, OrderAlreadyShipped, OrderCancelled
from common.order_events import ORDER_CANCELLED, ORDER_STATUSES, OrderStatus
from orders.lifecycle import event_for, needs_change

PENDING, CONFIRMED, REJECTED, CANCELLED = "pending", "confirmed", "rejected", "cancelled"
SHIPPED, DELIVERED = "shipped", "delivered"
STATUSES = (PENDING, CONFIRMED, REJECTED, CANCELLED, SHIPPED, DELIVERED)

# The whole table, spelled out independently of orders/lifecycle.py.
ALLOWED = {
    (PENDING, CONFIRMED),
    (PENDING, REJECTED),
    (PENDING, CANCELLED),
    (CONFIRMED, CANCELLED),
    (CONFIRMED, SHIPPED),
    (SHIPPED, DELIVERED),
}
NO_OPS = {(CANCELLED, CANCELLED), (SHIPPED, SHIPPED), (DELIVERED, SHIPPED), (DELIVERED, DELIVERED)}
FORBIDDEN = set(itertools.product(STATUSES, STATUSES)) - ALLOWED - NO_OPS
# Refusals with a code of their own (the rest are INVALID_ORDER_TRANSITION).
NAMED_REFUSALS = {
    (SHIPPED, CANCELLED): ("ORDER_ALREADY_SHIPPED", OrderAlreadyShipped),
    (DELIVERED, CANCELLED): ("ORDER_ALREADY_SHIPPED", OrderAlreadyShipped),
    (CANCELLED, SHIPPED): ("ORDER_CANCELLED", OrderCancelled),
    (CANCELLED, DELIVERED): ("ORDER_CANCELLED", OrderCancelled),
}


def test_the_six_statuses_are_the_order_statuses():
    assert [status.value for status in OrderStatus] == list(STATUSES)
    assert ORDER_STATUSES == STATUSES


@pytest.mark.parametrize("current, target", sorted(ALLOWED))
def test_allowed_transition_needs_change(current, target):
    assert needs_change(current, target) is True


@pytest.mark.parametrize("current, target", sorted(ALLOWED))
def test_allowed_transition_accepts_enum_members_too(current, target):
    assert needs_change(OrderStatus(current), OrderStatus(target)) is True


@pytest.mark.parametrize("current, target", sorted(NO_OPS))
def test_asking_for_what_already_happened_is_a_no_op(current, target):
    assert needs_change(current, target) is False


@pytest.mark.parametrize("current, target", sorted(FORBIDDEN))
def test_forbidden_transition_raises_naming_both_statuses(current, target):
    with pytest.raises(InvalidOrderTransition) as caught:
        needs_change(current, target)

    assert caught.value.details == {"status": current, "requested": target}
    assert current in caught.value.message and target in caught.value.message
    code, error_class = NAMED_REFUSALS.get((current, target), ("INVALID_ORDER_TRANSITION", InvalidOrderTransition))
    assert type(caught.value) is error_class and caught.value.code == code


@pytest.mark.parametrize("current, target", [("pending", "lost"), ("archived", "cancelled")])
def test_unknown_status_is_rejected(current, target):
    with pytest.raises(ValueError):
        needs_change(current, target)


# The event names are a wire contract with every consumer: spelled out literally.
EVENTS = {
    (PENDING, CONFIRMED): "order_created",
    (CONFIRMED, CANCELLED): "order_cancelled",
    (CONFIRMED, SHIPPED): "order_shipped",
    (SHIPPED, DELIVERED): "order_delivered",
}


@pytest.mark.parametrize("current, target", sorted(itertools.product(STATUSES, STATUSES)))
def test_event_for_every_pair(current, target):
    assert event_for(current, target) == EVENTS.get((current, target))


@pytest.mark.parametrize("target", [CANCELLED, REJECTED])
def test_a_pending_order_was_never_announced_so_ending_it_announces_nothing(target):
    assert event_for(PENDING, target) is None


def test_event_for_accepts_enum_members():
    assert event_for(OrderStatus.CONFIRMED, OrderStatus.CANCELLED) == ORDER_CANCELLED
