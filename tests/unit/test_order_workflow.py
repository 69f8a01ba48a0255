"""OrderWorkflow (orders/workflow.py): placing, cancelling and sweeping orders.

The real OrderStore on a database; the customers and product RPC clients are
fakes, and the event dispatcher records what it is given.
"""
import datetime
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
from bson import ObjectId

from common.errors import (
    CustomerNotFound,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidOrderTransition,
    OrderAlreadyShipped,
    OrderCancelled,
    OrderNotFound,
    OutcomeUnknown,
    PreconditionFailed,
    ReservationClosed,
    ServiceUnavailable,
    UnknownCustomer,
    UnknownProduct,
)
from common.order_events import OrderSchema
from common.storage import now
from orders import storage as order_storage
from orders.storage import OrderStore
from orders import workflow as workflow_module
from orders.workflow import OrderWorkflow
from support import fake_product_client

CUSTOMER = "c-ada"
LAMP = "5f00000000000000000000a1"
DESK = "5f00000000000000000000a2"
CATALOGUE = {
    LAMP: {"id": LAMP, "name": "Lamp", "price": "19.99", "stock": 10},
    DESK: {"id": DESK, "name": "Desk", "price": "120.00", "stock": 10},
}
ONE_MINUTE = datetime.timedelta(minutes=1)


class Customers:
    def __init__(self, *known):
        self.known = set(known)

    def get(self, customer_id):
        if customer_id not in self.known:
            raise CustomerNotFound.for_id(customer_id)
        return {"id": customer_id, "name": "Ada"}


class Dispatch:
    """Records (event_type, payload); raises while ``failing``."""

    def __init__(self):
        self.sent = []
        self.failing = False

    def __call__(self, event_type, payload):
        if self.failing:
            raise ConnectionError("broker away")
        self.sent.append((event_type, payload))

    def types(self):
        return [event_type for event_type, _ in self.sent]


@pytest.fixture
def orders_db(database):
    return database("orders")


@pytest.fixture
def store(orders_db):
    order_store = OrderStore(orders_db)
    order_store.prepare()
    return order_store


@pytest.fixture
def product():
    return fake_product_client(CATALOGUE)


@pytest.fixture
def dispatch():
    return Dispatch()


@pytest.fixture
def workflow(store, product, dispatch):
    return OrderWorkflow(store, Customers(CUSTOMER), product, dispatch)


@pytest.fixture
def later(monkeypatch):
    """Make the sweeper look from a minute in the future (nothing else's clock moves)."""
    monkeypatch.setattr(order_storage, "now", lambda: now() + ONE_MINUTE)


def request(*lines, customer_id=CUSTOMER):
    return {"customer_id": customer_id,
            "items": [{"product_id": product_id, "quantity": quantity} for product_id, quantity in lines]}


def stored(orders_db, order_id):
    return orders_db.orders.find_one({"_id": ObjectId(order_id)})


def age(orders_db, order_id, by=datetime.timedelta(hours=1)):
    """Pretend the order was last changed ``by`` ago."""
    orders_db.orders.update_one({"_id": ObjectId(order_id)}, {"$set": {"updated_at": now() - by}})


def refused_order_id(workflow, error, *lines):
    with pytest.raises(error) as caught:
        workflow.place(request(*lines))
    return caught.value.details["order_id"]


# place


def test_place_confirms_the_order_with_prices_copied(workflow, store):
    order = workflow.place(request((LAMP, 2), (DESK, 1)))

    assert order["status"] == "confirmed"
    assert order["customer_id"] == CUSTOMER
    assert order["total"] == Decimal("159.98")
    assert [(i["product_id"], i["name"], i["unit_price"], i["quantity"], i["line_total"]) for i in order["items"]] == [
        (LAMP, "Lamp", Decimal("19.99"), 2, Decimal("39.98")),
        (DESK, "Desk", Decimal("120.00"), 1, Decimal("120.00")),
    ]
    assert store.get(order["id"])["status"] == "confirmed"


def test_place_reserves_the_lines_for_the_new_order(workflow, product):
    order = workflow.place(request((LAMP, 2), (DESK, 1)))

    product.reserve_stock.assert_called_once_with(
        order["id"], [{"product_id": LAMP, "quantity": 2}, {"product_id": DESK, "quantity": 1}]
    )
    product.release_stock.assert_not_called()


def test_place_dispatches_exactly_one_order_created_with_the_confirmed_order(workflow, dispatch, orders_db):
    order = workflow.place(request((LAMP, 2)))

    assert dispatch.types() == ["order_created"]
    payload = OrderSchema().load(dispatch.sent[0][1])
    assert payload["id"] == order["id"]
    assert payload["status"] == "confirmed"
    assert payload["total"] == Decimal("39.98")
    assert payload["items"][0]["unit_price"] == Decimal("19.99")
    assert stored(orders_db, order["id"])["outbox"] == []


def test_place_prices_the_lines_as_the_reservation_took_them(workflow, product, store):
    # The product service prices the reservation; a price changed since is not the order's.
    reserve = product.reserve_stock.side_effect
    product.reserve_stock.side_effect = lambda order_id, items: {
        **reserve(order_id, items), "items": [{**items[0], "name": "Lamp (old)", "unit_price": "17.50"}]}

    order = workflow.place(request((LAMP, 2)))

    assert [(i["name"], i["unit_price"], i["line_total"]) for i in order["items"]] == [
        ("Lamp (old)", Decimal("17.50"), Decimal("35.00"))]
    assert order["total"] == Decimal("35.00")
    assert store.get(order["id"])["total"] == Decimal("35.00")


def test_a_pending_order_holds_only_what_was_asked(workflow, product, store):
    seen = {}

    def reserve_while_looking(order_id, items):
        seen.update(store.get(order_id))
        return reserve(order_id, items)

    reserve = product.reserve_stock.side_effect
    product.reserve_stock.side_effect = reserve_while_looking

    workflow.place(request((LAMP, 2)))

    assert seen["status"] == "pending"
    assert seen["items"] == [{"product_id": LAMP, "quantity": 2}]
    assert "total" not in seen


def test_insufficient_stock_rejects_the_order_and_reraises_with_its_id(workflow, product, dispatch, store):
    details = {"products": [{"product_id": LAMP, "requested": 20, "available": 10}]}
    product.reserve_stock.side_effect = InsufficientStock("No.", details)

    with pytest.raises(InsufficientStock) as caught:
        workflow.place(request((LAMP, 20)))

    order_id = caught.value.details.pop("order_id")
    assert caught.value.details == details
    rejected = store.get(order_id)
    assert rejected["status"] == "rejected"
    assert dispatch.sent == []
    # A refused reservation took nothing and is closed for good (a late
    # duplicate of the reserve is refused too): there is nothing to release.
    product.release_stock.assert_not_called()
    assert rejected["release_due"] is False


@pytest.mark.parametrize("failure", [ServiceUnavailable("timeout"), ReservationClosed("released")])
def test_unknown_reservation_outcome_rejects_releases_and_raises_unavailable(
        workflow, product, dispatch, store, failure):
    product.reserve_stock.side_effect = failure

    order_id = refused_order_id(workflow, ServiceUnavailable, (LAMP, 1))

    assert store.get(order_id)["status"] == "rejected"
    product.release_stock.assert_called_once_with(order_id)
    assert store.get(order_id)["release_due"] is False
    assert dispatch.sent == []


def test_unknown_outcome_whose_release_also_fails_keeps_release_due(workflow, product, store):
    product.reserve_stock.side_effect = ServiceUnavailable()
    product.release_stock.side_effect = ServiceUnavailable()

    order_id = refused_order_id(workflow, ServiceUnavailable, (LAMP, 1))

    assert store.get(order_id)["status"] == "rejected"
    assert store.get(order_id)["release_due"] is True


def test_unknown_customer_is_refused_and_nothing_is_stored(workflow, product, orders_db, dispatch):
    with pytest.raises(UnknownCustomer) as caught:
        workflow.place(request((LAMP, 1), customer_id="c-nobody"))

    assert caught.value.details == {"customer_id": "c-nobody"}
    assert orders_db.orders.count_documents({}) == 0
    product.reserve_stock.assert_not_called()
    assert dispatch.sent == []


def test_missing_product_is_refused_naming_it_and_nothing_is_stored(workflow, product, orders_db):
    missing = "5f00000000000000000000ff"

    with pytest.raises(UnknownProduct) as caught:
        workflow.place(request((LAMP, 1), (missing, 1), (DESK, 1)))

    assert caught.value.details == {"product_ids": [missing]}
    # Refused before the product service opened anything: the pending order is not kept.
    assert orders_db.orders.count_documents({}) == 0
    product.release_stock.assert_not_called()


def test_place_returns_the_cancelled_order_when_a_cancel_won_the_race(workflow, product, store, dispatch):
    def reserve_while_cancelled(order_id, items):
        workflow.cancel(order_id)  # arrives while the reservation is in flight
        return reserve(order_id, items)

    reserve = product.reserve_stock.side_effect

    product.reserve_stock.side_effect = reserve_while_cancelled

    order = workflow.place(request((LAMP, 1)))

    assert order["status"] == "cancelled"
    assert store.get(order["id"])["status"] == "cancelled"
    product.release_stock.assert_called_once_with(order["id"])
    assert dispatch.sent == []


def test_place_raises_unavailable_when_the_sweeper_rejected_it_meanwhile(workflow, product, store, dispatch):
    def reserve_while_swept(order_id, items):
        age(store.db, order_id)
        workflow.sweep(pending_timeout=30, retry_after=60)
        return reserve(order_id, items)

    reserve = product.reserve_stock.side_effect

    product.reserve_stock.side_effect = reserve_while_swept

    order_id = refused_order_id(workflow, ServiceUnavailable, (LAMP, 1))

    assert store.get(order_id)["status"] == "rejected"
    product.release_stock.assert_called_once_with(order_id)
    assert dispatch.sent == []


# cancel


@pytest.fixture
def confirmed(workflow, dispatch):
    order = workflow.place(request((LAMP, 2)))
    dispatch.sent.clear()
    return order


def test_cancel_confirmed_order_cancels_releases_and_announces(workflow, product, dispatch, store, confirmed):
    cancelled = workflow.cancel(confirmed["id"])

    assert cancelled["status"] == "cancelled"
    assert store.get(confirmed["id"])["status"] == "cancelled"
    product.release_stock.assert_called_once_with(confirmed["id"])
    assert store.get(confirmed["id"])["release_due"] is False
    assert dispatch.types() == ["order_cancelled"]
    payload = OrderSchema().load(dispatch.sent[0][1])
    assert (payload["id"], payload["status"]) == (confirmed["id"], "cancelled")


def test_cancel_twice_releases_and_announces_once(workflow, product, dispatch, store, confirmed):
    first = workflow.cancel(confirmed["id"])

    again = workflow.cancel(confirmed["id"])

    assert again["status"] == "cancelled"
    assert again["updated_at"] == first["updated_at"]
    assert product.release_stock.call_count == 1
    assert dispatch.types() == ["order_cancelled"]


def test_cancel_pending_order_releases_but_announces_nothing(workflow, product, dispatch, store):
    pending = store.create_pending(CUSTOMER, [])[0]

    cancelled = workflow.cancel(pending["id"])

    assert cancelled["status"] == "cancelled"
    product.release_stock.assert_called_once_with(pending["id"])
    assert store.get(pending["id"])["release_due"] is False
    assert dispatch.sent == []
    assert store.get(pending["id"])["outbox"] == []


def test_cancel_rejected_order_is_an_invalid_transition(workflow, product, store):
    product.reserve_stock.side_effect = InsufficientStock("No.", {"products": []})
    order_id = refused_order_id(workflow, InsufficientStock, (LAMP, 1))

    with pytest.raises(InvalidOrderTransition) as caught:
        workflow.cancel(order_id)

    assert caught.value.details == {"status": "rejected", "requested": "cancelled"}
    assert store.get(order_id)["status"] == "rejected"
    product.release_stock.assert_not_called()


def test_cancel_unknown_order_raises_not_found(workflow):
    with pytest.raises(OrderNotFound):
        workflow.cancel("5f00000000000000000000ee")
    with pytest.raises(OrderNotFound):
        workflow.cancel("5f00000000000000000000ee", [1])


# versions: one more with every status change, none for the bookkeeping


def test_every_status_change_moves_the_version_and_its_event_carries_the_new_one(
        workflow, dispatch, store, orders_db):
    order = workflow.place(request((LAMP, 1)))  # saved pending (1), then confirmed (2)
    assert (order["version"], store.get(order["id"])["version"]) == (2, 2)
    # dispatching the event (its outbox entry removed) is bookkeeping: no new version
    assert stored(orders_db, order["id"])["outbox"] == []

    cancelled = workflow.cancel(order["id"])  # releasing (release_due cleared) is bookkeeping too

    assert (cancelled["version"], store.get(order["id"])["version"]) == (3, 3)
    assert [payload["version"] for _, payload in dispatch.sent] == [2, 3]
    assert workflow.cancel(order["id"])["version"] == 3  # cancelling again changes nothing


def test_cancel_at_a_version_it_names_cancels(workflow, product, store, confirmed):
    cancelled = workflow.cancel(confirmed["id"], [1, confirmed["version"]])

    assert (cancelled["status"], cancelled["version"]) == ("cancelled", confirmed["version"] + 1)
    product.release_stock.assert_called_once_with(confirmed["id"])


@pytest.mark.parametrize("if_version", [[1], [], [99]])
def test_cancel_at_another_version_is_a_precondition_failure_that_changes_nothing(
        workflow, product, dispatch, store, orders_db, confirmed, if_version):
    before = stored(orders_db, confirmed["id"])

    with pytest.raises(PreconditionFailed) as caught:
        workflow.cancel(confirmed["id"], if_version)

    assert caught.value.status == 412
    assert caught.value.details == {"id": confirmed["id"], "version": confirmed["version"], "expected": if_version}
    assert stored(orders_db, confirmed["id"]) == before
    product.release_stock.assert_not_called()
    assert dispatch.sent == []


def test_a_cancelled_order_cancelled_again_at_its_old_version_is_a_precondition_failure(workflow, confirmed):
    workflow.cancel(confirmed["id"])

    with pytest.raises(PreconditionFailed) as caught:
        workflow.cancel(confirmed["id"], [confirmed["version"]])
    assert caught.value.details["version"] == confirmed["version"] + 1


def test_a_status_change_between_the_read_and_the_write_fails_a_guarded_cancel(
        workflow, product, store, monkeypatch):
    """The order is read at version 1 (pending); its confirmation lands before the cancel's write."""
    pending = store.create_pending(CUSTOMER, [{"product_id": LAMP, "quantity": 1}])[0]
    read = store.get

    def read_then_confirm(order_id, if_version=None):
        order = read(order_id, if_version)
        if order["status"] == "pending":
            store.change_status(order, "confirmed", now())
        return order

    monkeypatch.setattr(store, "get", read_then_confirm)

    with pytest.raises(PreconditionFailed) as caught:
        workflow.cancel(pending["id"], [1])

    assert caught.value.details["version"] == 2
    assert read(pending["id"])["status"] == "confirmed"
    product.release_stock.assert_not_called()


# shipping and delivery


def test_ship_a_confirmed_order_announces_it_and_releases_nothing(workflow, product, dispatch, store, confirmed):
    shipped = workflow.ship(confirmed["id"])

    assert shipped["status"] == "shipped"
    assert store.get(confirmed["id"])["status"] == "shipped"
    assert store.get(confirmed["id"])["release_due"] is False
    product.release_stock.assert_not_called()
    assert dispatch.types() == ["order_shipped"]
    payload = OrderSchema().load(dispatch.sent[0][1])
    assert (payload["id"], payload["status"], payload["items"]) == (confirmed["id"], "shipped", confirmed["items"])


def test_deliver_a_shipped_order_announces_it(workflow, dispatch, store, confirmed):
    workflow.ship(confirmed["id"])

    delivered = workflow.deliver(confirmed["id"])

    assert delivered["status"] == "delivered"
    assert store.get(confirmed["id"])["status"] == "delivered"
    assert dispatch.types() == ["order_shipped", "order_delivered"]


def test_ship_and_deliver_twice_announce_once(workflow, dispatch, confirmed):
    first = workflow.ship(confirmed["id"])
    assert workflow.ship(confirmed["id"])["updated_at"] == first["updated_at"]
    delivered = workflow.deliver(confirmed["id"])
    assert workflow.deliver(confirmed["id"])["updated_at"] == delivered["updated_at"]
    assert workflow.ship(confirmed["id"])["status"] == "delivered"

    assert dispatch.types() == ["order_shipped", "order_delivered"]


@pytest.mark.parametrize("shipped_to", ["shipped", "delivered"])
def test_a_shipped_order_cannot_be_cancelled(workflow, product, dispatch, store, confirmed, shipped_to):
    workflow.ship(confirmed["id"])
    if shipped_to == "delivered":
        workflow.deliver(confirmed["id"])

    with pytest.raises(OrderAlreadyShipped) as caught:
        workflow.cancel(confirmed["id"])

    assert caught.value.code == "ORDER_ALREADY_SHIPPED"
    assert store.get(confirmed["id"])["status"] == shipped_to
    product.release_stock.assert_not_called()
    assert "order_cancelled" not in dispatch.types()


@pytest.mark.parametrize("move", ["ship", "deliver"])
def test_a_cancelled_order_cannot_ship_or_be_delivered(workflow, dispatch, store, confirmed, move):
    workflow.cancel(confirmed["id"])

    with pytest.raises(OrderCancelled) as caught:
        getattr(workflow, move)(confirmed["id"])

    assert caught.value.code == "ORDER_CANCELLED"
    assert store.get(confirmed["id"])["status"] == "cancelled"
    assert dispatch.types() == ["order_cancelled"]


def test_an_order_not_shipped_cannot_be_delivered(workflow, store, confirmed):
    with pytest.raises(InvalidOrderTransition) as caught:
        workflow.deliver(confirmed["id"])

    assert caught.value.code == "INVALID_ORDER_TRANSITION"
    assert store.get(confirmed["id"])["status"] == "confirmed"


@pytest.mark.parametrize("loser, winner, refusal", [
    ("ship", "cancel", OrderCancelled),
    ("cancel", "ship", OrderAlreadyShipped),
])
def test_a_move_that_loses_the_race_is_judged_against_the_winner(
        workflow, product, dispatch, store, confirmed, monkeypatch, loser, winner, refusal):
    """The loser read the order confirmed, but the winner's change landed before the loser's write."""
    read = store.get
    raced = []

    def read_then_lose_the_race(order_id, if_version=None):
        order = read(order_id, if_version)
        if not raced:
            raced.append(True)
            getattr(workflow, winner)(order_id)
        return order

    monkeypatch.setattr(store, "get", read_then_lose_the_race)

    with pytest.raises(refusal):
        getattr(workflow, loser)(confirmed["id"])

    expected = {"cancel": "cancelled", "ship": "shipped"}[winner]
    assert read(confirmed["id"])["status"] == expected
    assert dispatch.types() == [{"cancel": "order_cancelled", "ship": "order_shipped"}[winner]]
    assert product.release_stock.call_count == (1 if winner == "cancel" else 0)


# the outbox and the sweeper


def test_failed_dispatch_leaves_the_event_in_the_outbox(workflow, dispatch, orders_db):
    dispatch.failing = True

    order = workflow.place(request((LAMP, 1)))

    assert order["status"] == "confirmed"
    outbox = stored(orders_db, order["id"])["outbox"]
    assert [event["type"] for event in outbox] == ["order_created"]
    assert OrderSchema().load(outbox[0]["payload"])["status"] == "confirmed"


def test_sweep_delivers_an_undelivered_event_once_and_empties_the_outbox(
        workflow, dispatch, orders_db, later):
    dispatch.failing = True
    order = workflow.place(request((LAMP, 1)))
    dispatch.failing = False

    workflow.sweep(pending_timeout=3600, retry_after=0)
    workflow.sweep(pending_timeout=3600, retry_after=0)

    assert dispatch.types() == ["order_created"]
    assert OrderSchema().load(dispatch.sent[0][1])["id"] == order["id"]
    assert stored(orders_db, order["id"])["outbox"] == []


def test_sweep_leaves_recent_undelivered_events_for_later(workflow, dispatch, orders_db):
    dispatch.failing = True
    order = workflow.place(request((LAMP, 1)))
    dispatch.failing = False

    workflow.sweep(pending_timeout=3600, retry_after=60)

    assert dispatch.sent == []
    assert len(stored(orders_db, order["id"])["outbox"]) == 1


def test_sweep_keeps_an_event_while_the_broker_is_still_away(workflow, dispatch, orders_db, later):
    dispatch.failing = True
    order = workflow.place(request((LAMP, 1)))

    workflow.sweep(pending_timeout=3600, retry_after=0)

    assert len(stored(orders_db, order["id"])["outbox"]) == 1


def test_events_queued_while_the_broker_was_away_go_out_in_order(workflow, dispatch, orders_db):
    dispatch.failing = True
    order = workflow.place(request((LAMP, 1)))
    dispatch.failing = False

    workflow.cancel(order["id"])

    assert dispatch.types() == ["order_created", "order_cancelled"]
    assert stored(orders_db, order["id"])["outbox"] == []


def test_failed_dispatch_on_cancel_is_delivered_by_the_sweep(workflow, dispatch, orders_db, confirmed, later):
    dispatch.failing = True
    workflow.cancel(confirmed["id"])
    assert [e["type"] for e in stored(orders_db, confirmed["id"])["outbox"]] == ["order_cancelled"]
    dispatch.failing = False

    workflow.sweep(pending_timeout=3600, retry_after=0)

    assert dispatch.types() == ["order_cancelled"]
    assert stored(orders_db, confirmed["id"])["outbox"] == []


def test_failed_release_on_cancel_keeps_release_due(workflow, product, dispatch, store, confirmed):
    product.release_stock.side_effect = ServiceUnavailable()

    cancelled = workflow.cancel(confirmed["id"])

    assert cancelled["status"] == "cancelled"
    assert store.get(confirmed["id"])["status"] == "cancelled"
    assert store.get(confirmed["id"])["release_due"] is True
    assert dispatch.types() == ["order_cancelled"]


def test_sweep_retries_a_failed_release_and_clears_release_due(workflow, product, store, confirmed, later):
    product.release_stock.side_effect = ServiceUnavailable()
    workflow.cancel(confirmed["id"])
    product.release_stock.reset_mock(side_effect=True)

    workflow.sweep(pending_timeout=3600, retry_after=0)
    workflow.sweep(pending_timeout=3600, retry_after=0)

    product.release_stock.assert_called_once_with(confirmed["id"])
    assert store.get(confirmed["id"])["release_due"] is False


def test_sweep_rejects_stale_pending_orders_and_releases_their_stock(workflow, product, store, orders_db, dispatch):
    stale = store.create_pending(CUSTOMER, [])[0]
    fresh = store.create_pending(CUSTOMER, [])[0]
    age(orders_db, stale["id"], by=datetime.timedelta(seconds=31))

    workflow.sweep(pending_timeout=30, retry_after=60)

    assert store.get(stale["id"])["status"] == "rejected"
    assert store.get(stale["id"])["release_due"] is False
    product.release_stock.assert_called_once_with(stale["id"])
    assert store.get(fresh["id"])["status"] == "pending"
    assert dispatch.sent == []


def test_sweep_leaves_old_confirmed_orders_alone(workflow, product, store, orders_db, confirmed):
    age(orders_db, confirmed["id"])

    workflow.sweep(pending_timeout=30, retry_after=60)

    assert store.get(confirmed["id"])["status"] == "confirmed"
    product.release_stock.assert_not_called()


# idempotency keys


def test_the_same_key_and_request_place_one_order_reserved_once(workflow, product, dispatch, orders_db):
    first = workflow.place(request((LAMP, 2)), idempotency_key="k-1")
    again = workflow.place(request((LAMP, 2)), idempotency_key="k-1")

    assert OrderSchema().dump(again) == OrderSchema().dump(first) and first["status"] == "confirmed"
    assert orders_db.orders.count_documents({}) == 1
    assert product.reserve_stock.call_count == 1
    assert dispatch.types() == ["order_created"]
    assert "idempotency" not in first


def test_the_same_key_with_another_request_is_refused_and_places_nothing(workflow, product, orders_db):
    first = workflow.place(request((LAMP, 2)), idempotency_key="k-1")

    with pytest.raises(IdempotencyKeyReused) as refused:
        workflow.place(request((LAMP, 3)), idempotency_key="k-1")

    assert refused.value.status == 422 and refused.value.details == {"idempotency_key": "k-1", "id": first["id"]}
    assert orders_db.orders.count_documents({}) == 1 and product.reserve_stock.call_count == 1


def test_other_keys_and_no_key_place_separate_orders(workflow, orders_db):
    workflow.place(request((LAMP, 1)), idempotency_key="k-1")
    workflow.place(request((LAMP, 1)), idempotency_key="k-2")
    workflow.place(request((LAMP, 1)))
    workflow.place(request((LAMP, 1)))

    assert orders_db.orders.count_documents({"status": "confirmed"}) == 4


def test_a_refused_order_lets_its_key_go_so_sending_it_again_tries_again(workflow, product, orders_db):
    reserve = product.reserve_stock.side_effect
    product.reserve_stock.side_effect = InsufficientStock("Not enough stock.")
    with pytest.raises(InsufficientStock):
        workflow.place(request((LAMP, 11)), idempotency_key="k-1")
    product.reserve_stock.side_effect = reserve  # restocked meanwhile

    placed = workflow.place(request((LAMP, 11)), idempotency_key="k-1")

    assert placed["status"] == "confirmed"
    assert orders_db.orders.count_documents({"status": "rejected"}) == 1


def test_a_request_whose_earlier_copy_is_pending_waits_for_it_and_gets_its_order(
        workflow, product, store, monkeypatch):
    earlier, _ = store.create_pending(CUSTOMER, [{"product_id": LAMP, "quantity": 1}],
                                      {"key": "k-1", "fingerprint": _fingerprint(request((LAMP, 1)))})

    def earlier_copy_confirms(seconds):  # what the copy still being placed does meanwhile
        store.change_status(earlier, "confirmed", now())

    monkeypatch.setattr(workflow_module, "time", SimpleNamespace(time=time.time, sleep=earlier_copy_confirms))

    placed = workflow.place(request((LAMP, 1)), deadline=time.time() + 5, idempotency_key="k-1")

    assert placed["id"] == earlier["id"] and placed["status"] == "confirmed"
    product.reserve_stock.assert_not_called()


def test_a_request_whose_earlier_copy_stays_pending_is_unavailable_by_its_deadline(
        workflow, product, store, monkeypatch):
    earlier, _ = store.create_pending(CUSTOMER, [{"product_id": LAMP, "quantity": 1}],
                                      {"key": "k-1", "fingerprint": _fingerprint(request((LAMP, 1)))})
    clock = [time.time()]
    monkeypatch.setattr(workflow_module, "time", SimpleNamespace(
        time=lambda: clock[0], sleep=lambda seconds: clock.__setitem__(0, clock[0] + seconds)))

    with pytest.raises(ServiceUnavailable) as unavailable:
        workflow.place(request((LAMP, 1)), deadline=clock[0] + 2, idempotency_key="k-1")

    assert unavailable.value.details == {"order_id": earlier["id"]}
    assert store.get(earlier["id"])["status"] == "pending"
    product.reserve_stock.assert_not_called()


def test_a_confirmation_reaching_the_database_after_the_deadline_changes_nothing(
        workflow, product, dispatch, orders_db, monkeypatch):
    # The orders service's clock says there is time; the database's says the deadline has
    # passed (as when the write was held up on its way).
    late = time.time() - 10
    for module in (workflow_module, order_storage):
        monkeypatch.setattr(module, "time", SimpleNamespace(time=lambda: late, sleep=time.sleep))

    with pytest.raises(ServiceUnavailable) as unavailable:
        workflow.place(request((LAMP, 2)), deadline=late + 3)

    order_id = unavailable.value.details["order_id"]
    order = stored(orders_db, order_id)
    assert order["status"] == "rejected" and "total" not in order and order["outbox"] == []
    product.release_stock.assert_called_once_with(order_id)  # what was reserved goes back
    assert dispatch.sent == []


def test_a_confirmation_past_its_guard_is_not_sent(workflow, product, store, monkeypatch):
    sent = []
    monkeypatch.setattr(store.records, "update_one", lambda *args, **kwargs: sent.append(args))
    order, _ = store.create_pending(CUSTOMER, [{"product_id": LAMP, "quantity": 1}])

    assert store.change_status(order, "confirmed", now(), before=time.time() - 0.01) is None
    assert sent == []


def test_an_unacknowledged_confirmation_is_an_unknown_outcome_not_a_failure(
        workflow, product, store, dispatch, monkeypatch):
    change_status = store.change_status

    def applied_but_unacknowledged(order, target, *args, **kwargs):
        changed = change_status(order, target, *args, **kwargs)
        if target == "confirmed":
            raise ServiceUnavailable("The orders database is unavailable.")  # its answer never came
        return changed

    monkeypatch.setattr(store, "change_status", applied_but_unacknowledged)

    with pytest.raises(OutcomeUnknown) as unknown:
        workflow.place(request((LAMP, 2)), deadline=time.time() + 5, idempotency_key="k-1")

    # The client was not told it failed: the order stands, and its key finds it.
    order_id = unknown.value.details["order_id"]
    assert store.get(order_id)["status"] == "confirmed"
    product.release_stock.assert_not_called()
    monkeypatch.setattr(store, "change_status", change_status)
    assert workflow.place(request((LAMP, 2)), deadline=time.time() + 5, idempotency_key="k-1")["id"] == order_id


def _fingerprint(placed_request):
    from common import idempotency
    return idempotency.fingerprint(placed_request)
