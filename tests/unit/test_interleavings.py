"""Failure modes a reviewer found by interleaving: each guarantee shown concretely.

Real stores on the test database; RPC clients and the dispatcher are fakes.
"""
import datetime
import time
from decimal import Decimal
from types import SimpleNamespace
from unittest import mock

import pytest
from bson import ObjectId

from common.errors import InsufficientStock, ReservationInProgress, ServiceUnavailable
from orders import workflow as workflow_module
from orders.workflow import DEADLINE_MARGIN_SECONDS, OrderWorkflow
from product import reservation
from shipping.storage import ShipmentStore
from support import fake_product_client

LAMP = "5f00000000000000000000a1"
CATALOGUE = {LAMP: {"id": LAMP, "name": "Lamp", "price": "19.99", "stock": 10}}


@pytest.fixture
def products(product_store):
    return product_store


def add_product(store, stock):
    return store.create({"name": "Widget", "price": Decimal("1.00"), "description": "", "stock": stock})["id"]


def line(product_id, quantity):
    return {"product_id": product_id, "quantity": quantity}


# product/reservation.py


def test_a_duplicate_during_a_refused_reserve_cannot_leave_stock_held(products, monkeypatch):
    lamp, desk = add_product(products, 5), add_product(products, 0)
    order_id = str(ObjectId())
    items = [line(lamp, 2), line(desk, 1)]
    close_reservation = products.close_reservation
    duplicate = []

    def close(taker, lease, state, shortfall=None):
        if not duplicate:
            products.records.update_one({"_id": ObjectId(desk)}, {"$set": {"stock": 1}})  # restock
            with pytest.raises(ReservationInProgress):
                reservation.reserve_stock(products, order_id, items)  # the duplicate delivery
            duplicate.append(True)
        return close_reservation(taker, lease, state, shortfall)

    monkeypatch.setattr(products, "close_reservation", close)

    with pytest.raises(InsufficientStock):
        reservation.reserve_stock(products, order_id, items)
    # The refusal promises "took nothing", and it holds.
    assert duplicate == [True]
    assert (products.available_stock(lamp), products.available_stock(desk)) == (5, 1)


# orders/workflow.py


class Customers:
    def get(self, customer_id):
        return {"id": customer_id}


@pytest.fixture
def product_client():
    return fake_product_client(CATALOGUE)


def test_a_confirmed_order_is_not_reported_as_unavailable(order_store, product_client, monkeypatch):
    sent = []
    workflow = OrderWorkflow(order_store, Customers(), product_client, lambda t, p: sent.append(t))
    # The order is confirmed and announced, then noting the event as sent fails.
    monkeypatch.setattr(order_store, "event_dispatched", mock.Mock(
        side_effect=ServiceUnavailable("The orders database is unavailable.")))

    order = workflow.place({"customer_id": "c-1", "items": [line(LAMP, 1)]})

    assert (order["status"], sent) == ("confirmed", ["order_created"])
    (stored,) = order_store.records.find({})
    assert len(stored["outbox"]) == 1  # the sweeper will send it again; consumers apply it once


# shipping/storage.py


def test_shipment_is_found_by_any_spelling_of_the_order_id(database):
    shipments = ShipmentStore(database("shipping"))
    order_id = str(ObjectId())
    shipments.open(order_id, "c-1")
    assert shipments.get(order_id.upper())["order_id"] == order_id


def test_an_order_reserved_too_late_for_its_caller_is_rejected_and_released(
        order_store, product_client, monkeypatch):
    sent = []
    workflow = OrderWorkflow(order_store, Customers(), product_client, lambda t, p: sent.append(t))
    clock = [1000.0]
    monkeypatch.setattr(workflow_module, "time", SimpleNamespace(time=lambda: clock[0]))
    deadline = clock[0] + 5

    def slow_reserve(order_id, items):
        # The reservation succeeds, but leaves less than the margin to confirm and reply.
        clock[0] = deadline - DEADLINE_MARGIN_SECONDS / 2
        return reserve(order_id, items)

    reserve = product_client.reserve_stock.side_effect

    product_client.reserve_stock.side_effect = slow_reserve

    with pytest.raises(ServiceUnavailable):
        workflow.place({"customer_id": "c-1", "items": [line(LAMP, 1)]}, deadline)

    (stored,) = order_store.records.find({})
    assert stored["status"] == "rejected"
    product_client.reserve_stock.assert_called_once()
    product_client.release_stock.assert_called_once_with(str(stored["_id"]))
    assert sent == []


def test_a_request_arriving_after_its_caller_gave_up_stores_nothing(order_store, product_client):
    workflow = OrderWorkflow(order_store, Customers(), product_client, lambda t, p: None)

    with pytest.raises(ServiceUnavailable):
        workflow.place({"customer_id": "c-1", "items": [line(LAMP, 1)]}, time.time() - 1)

    assert order_store.records.count_documents({}) == 0
    product_client.reserve_stock.assert_not_called()


def test_an_order_in_time_is_confirmed(order_store, product_client):
    workflow = OrderWorkflow(order_store, Customers(), product_client, lambda t, p: None)

    order = workflow.place({"customer_id": "c-1", "items": [line(LAMP, 1)]}, time.time() + 30)

    assert order["status"] == "confirmed"


def test_a_call_whose_lease_ran_out_cannot_undo_the_call_that_took_it_over(product_store, monkeypatch):
    store = product_store
    lamp, desk = add_product(store, 5), add_product(store, 0)
    order_id = str(ObjectId())
    items = [{"product_id": lamp, "quantity": 2}, {"product_id": desk, "quantity": 1}]
    # The first call stalls past its lease (LEASE_SECONDS = 60 in production; here it has
    # already run out by the time anyone else looks).
    monkeypatch.setattr(reservation, "LEASE_SECONDS", -1)
    product_state = store.product_state
    second = []

    def stalled_then_takeover(product_id):
        # The first call found the desk short; while it is away, the desk is restocked and
        # the broker redelivers the request, which claims the expired lease.
        if not second:
            store.records.update_one({"_id": ObjectId(desk)}, {"$set": {"stock": 1}})
            second.append(reservation.reserve_stock(store, order_id, items))
        return product_state(product_id)

    monkeypatch.setattr(store, "product_state", stalled_then_takeover)

    first = reservation.reserve_stock(store, order_id, items)

    # The stalled call finds the reservation settled by the takeover and says so,
    # instead of giving back what the takeover took.
    assert second[0]["state"] == first["state"] == "reserved"
    assert store.get_reservation(order_id)["state"] == "reserved"
    assert (store.available_stock(lamp), store.available_stock(desk)) == (3, 0)


def test_a_confirmation_is_answered_before_the_event_is_dispatched(order_store, product_client, monkeypatch):
    # The database's clock decides whether the confirmation is in time: start from the real one.
    clock = [time.time()]
    monkeypatch.setattr(workflow_module, "time", SimpleNamespace(time=lambda: clock[0]))
    deadline = clock[0] + 2  # enough left to confirm: more than the 0.5 s margin
    sent, deferred = [], []

    def slow_broker(event_type, payload):
        clock[0] += 3  # publishing the event takes a while (reconnect, retries, flow control)
        sent.append(event_type)

    workflow = OrderWorkflow(order_store, Customers(), product_client, slow_broker,
                             defer=lambda function, *args: deferred.append((function, args)))

    order = workflow.place({"customer_id": "c-1", "items": [{"product_id": LAMP, "quantity": 1}]}, deadline)

    # The answer is ready within the deadline; the event goes out after it.
    assert order["status"] == "confirmed" and clock[0] <= deadline and sent == []
    for function, args in deferred:
        function(*args)
    assert sent == ["order_created"]
    assert order_store.records.find_one({})["outbox"] == []


def test_one_order_whose_release_keeps_failing_does_not_block_the_others(order_store, product_client):
    first = order_store.create_pending("c-1", [])[0]["id"]
    second = order_store.create_pending("c-1", [])[0]["id"]
    long_ago = datetime.datetime(2000, 1, 1)
    order_store.records.update_many({}, {"$set": {"status": "rejected", "release_due": True,
                                                  "updated_at": long_ago}})
    def release_stock(order_id):
        if order_id == first:
            raise RuntimeError("unexpected error for this order")  # a RemoteError, over RPC
        return {"state": "released"}

    product_client.release_stock.side_effect = release_stock
    workflow = OrderWorkflow(order_store, Customers(), product_client, lambda t, p: None)

    for _ in range(3):
        workflow.sweep(pending_timeout=3600, retry_after=0)

    released = [call.args[0] for call in product_client.release_stock.call_args_list]
    assert second in released, f"only {released} attempted"
