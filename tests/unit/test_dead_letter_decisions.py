"""What becomes of a failed event (common/dead_letters.py), as plain Python: no broker."""
import pytest
from nameko.events import EventHandler

from common.dead_letters import (
    ATTEMPTS_HEADER,
    REASON_MAX_CHARS,
    Decision,
    DeadLetteringEventHandler,
    attempts_so_far,
    decide,
    reason,
    without_own_headers,
)
from common.errors import MalformedEvent, NotFound, ReservationInProgress, ServiceUnavailable
from common.order_events import ORDER_EVENT_CONSUMERS
from customers.service import CustomersService
from inventory.service import InventoryService
from orders.service import OrdersService
from product.service import ProductService
from shipping.service import ShippingService

MAX = 5


@pytest.mark.parametrize("attempts", [1, MAX, MAX + 10])
@pytest.mark.parametrize("error", [ServiceUnavailable(), ReservationInProgress()], ids=["unavailable", "subclass"])
def test_a_service_unavailable_is_retried_whatever_the_attempts(error, attempts):
    assert decide(error, attempts, MAX) is Decision.RETRY


@pytest.mark.parametrize("attempts", [1, MAX])
def test_a_malformed_event_is_dead_lettered_at_once(attempts):
    assert decide(MalformedEvent(), attempts, MAX) is Decision.DEAD_LETTER


@pytest.mark.parametrize("error", [RuntimeError("bug"), KeyError("x"), NotFound(), ConnectionError()],
                         ids=["runtime", "key", "service-error", "connection"])
def test_any_other_failure_counts_until_the_last_attempt(error):
    decisions = [decide(error, attempts, MAX) for attempts in range(1, MAX + 2)]

    assert decisions == [Decision.COUNT] * (MAX - 1) + [Decision.DEAD_LETTER] * 2


def test_with_one_attempt_allowed_a_failure_is_dead_lettered_at_once():
    assert decide(RuntimeError(), 1, 1) is Decision.DEAD_LETTER


def test_attempts_are_read_from_the_header_and_none_is_zero():
    assert (attempts_so_far(None), attempts_so_far({}), attempts_so_far({ATTEMPTS_HEADER: 3})) == (0, 0, 3)


def test_the_reason_is_the_class_and_message_only_and_short():
    try:
        raise RuntimeError("the handler broke " + "x" * 1000)
    except RuntimeError as error:
        text = reason(error)

    assert text.startswith("RuntimeError: the handler broke x")
    assert len(text) == REASON_MAX_CHARS
    assert "Traceback" not in text and "File " not in text


def test_only_the_dispatchers_headers_travel_on():
    headers = {"nameko.request_id": "req-1", "nameko.call_id_stack": ["orders.x.1"], ATTEMPTS_HEADER: 2,
               "dead-letter-reason": "RuntimeError: x", "dead-letter-queue": "q",
               "dead-letter-exchange": "orders.events", "dead-letter-routing-key": "order_created",
               "dead-lettered-at": "2026-01-01T00:00:00+00:00"}

    assert without_own_headers(headers) == {"nameko.request_id": "req-1", "nameko.call_id_stack": ["orders.x.1"]}


def consumers_with_dead_letters(*service_classes):
    return {
        cls.name for cls in service_classes
        for attribute in vars(cls).values()
        for entrypoint in getattr(attribute, "nameko_entrypoints", ())
        if isinstance(entrypoint, DeadLetteringEventHandler)
    }


def test_the_listed_consumers_are_exactly_the_services_that_dead_letter():
    services = (ProductService, CustomersService, OrdersService, InventoryService, ShippingService)

    assert consumers_with_dead_letters(*services) == set(ORDER_EVENT_CONSUMERS)


def test_the_broadcast_handler_of_orders_has_no_dead_letters():
    # forget_customer is best effort (not reliable delivery): a lost one is bounded by the cache expiry.
    entrypoints = list(OrdersService.forget_customer.nameko_entrypoints)
    assert [type(e) for e in entrypoints] == [EventHandler]
