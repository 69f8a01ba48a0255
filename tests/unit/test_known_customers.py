"""The orders service's KnownCustomers cache and its customer_deleted handler."""
from unittest import mock

import pytest
from nameko.testing.services import worker_factory

from common.errors import CustomerNotFound
from orders.known_customers import CustomerCheck, ExpiringSet, KnownCustomerIds
from orders.service import OrdersService

CUSTOMER_ID = "5f00000000000000000000bb"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_known_customer_is_not_asked_for_again():
    customers = mock.Mock()
    check = CustomerCheck(ExpiringSet(60), customers)

    check.get(CUSTOMER_ID)
    check.get(CUSTOMER_ID)

    customers.get.assert_called_once_with(CUSTOMER_ID)


def test_a_missing_customer_is_not_remembered():
    customers = mock.Mock()
    customers.get.side_effect = CustomerNotFound("gone")
    known = ExpiringSet(60)
    check = CustomerCheck(known, customers)

    for _ in range(2):
        with pytest.raises(CustomerNotFound):
            check.get(CUSTOMER_ID)

    assert customers.get.call_count == 2
    assert CUSTOMER_ID not in known


def test_an_entry_expires_after_its_ttl():
    clock = Clock()
    known = ExpiringSet(10, clock=clock)
    known.add(CUSTOMER_ID)

    clock.now = 9.9
    assert CUSTOMER_ID in known
    clock.now = 10.0
    assert CUSTOMER_ID not in known


def test_the_oldest_entries_go_first_beyond_the_limit():
    known = ExpiringSet(60, max_entries=2)
    for key in ("a", "b", "c"):
        known.add(key)

    assert ("a" in known, "b" in known, "c" in known) == (False, True, True)


def test_a_customer_deleted_while_being_looked_up_is_not_remembered():
    known = KnownCustomerIds(60)
    customers = mock.Mock()
    # The lookup read the customer; its deletion reaches this instance before the answer does.
    customers.get.side_effect = lambda customer_id: known.forget(customer_id)
    check = CustomerCheck(known, customers)

    check.get(CUSTOMER_ID)

    assert CUSTOMER_ID not in known


def test_forget_customer_drops_the_deleted_customer():
    known = KnownCustomerIds(60)
    known.add(CUSTOMER_ID)
    known.add("other")
    service = worker_factory(OrdersService, known_customers=known)

    service.forget_customer({"id": CUSTOMER_ID})

    assert CUSTOMER_ID not in known and "other" in known


@pytest.mark.parametrize("payload", [None, [], "x", {}])
def test_forget_customer_ignores_a_malformed_event(payload):
    known = KnownCustomerIds(60)
    known.add(CUSTOMER_ID)
    service = worker_factory(OrdersService, known_customers=known)

    service.forget_customer(payload)

    assert CUSTOMER_ID in known
