"""The inventory and shipping stubs as order event consumers (worker_factory, real stores).

The handlers are wrapped by common.order_events.order_event_handler: they take
the raw payload as OrderSchema dumps it, and refuse one that breaks the contract
with MalformedEvent (which their entrypoint dead-letters at once, see
tests/unit/test_dead_letter_decisions.py and tests/integration/test_dead_letters.py).
"""
import datetime
from decimal import Decimal

import pytest
from nameko.testing.services import worker_factory

from common.errors import MalformedEvent, OrderCancelled, ShipmentNotFound
from common.order_events import OrderSchema
from inventory.service import InventoryService
from inventory.storage import MovementStore
from shipping.service import ShippingService
from shipping.storage import ShipmentStore

MOMENT = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)
ORDER_ID = "5f00000000000000000000c1"
LAMP = "5f00000000000000000000a1"
DESK = "5f00000000000000000000a2"


def payload(status="confirmed", order_id=ORDER_ID, lines=((LAMP, 2), (DESK, 1))):
    """An order event payload, exactly as the orders service dispatches it."""
    items = [
        {"product_id": product_id, "name": "Thing", "unit_price": Decimal("10.00"),
         "quantity": quantity, "line_total": Decimal("10.00") * quantity}
        for product_id, quantity in lines
    ]
    return OrderSchema().dump({
        "id": order_id, "customer_id": "c-ada", "status": status, "items": items,
        "total": sum((i["line_total"] for i in items), Decimal("0")),
        "created_at": MOMENT, "updated_at": MOMENT,
    })


def without(data, field):
    return {key: value for key, value in data.items() if key != field}


MALFORMED = [
    pytest.param(without(payload(), "id"), id="no-id"),
    pytest.param(without(payload(), "items"), id="no-items"),
    pytest.param(without(payload(), "customer_id"), id="no-customer"),
    pytest.param({**payload(), "status": "lost"}, id="bad-status"),
    pytest.param({**payload(), "items": [{"product_id": LAMP}]}, id="bad-item"),
    pytest.param({}, id="empty"),
    pytest.param(None, id="null"),
    pytest.param([payload()], id="list"),
]


# inventory


@pytest.fixture
def movements_db(database):
    return database("inventory").movements


@pytest.fixture
def inventory(database):
    store = MovementStore(database("inventory"))
    store.create_indexes()
    return worker_factory(InventoryService, store=store)


def recorded(movements_db):
    """(order, kind, product, quantity) for every item of every stored movement document."""
    return sorted(
        (m["order_id"], m["kind"], item["product_id"], item["quantity"])
        for m in movements_db.find()
        for item in m["items"]
    )


def test_order_created_records_one_reserved_movement_per_item(inventory, movements_db):
    inventory.on_order_created(payload())

    assert recorded(movements_db) == [
        (ORDER_ID, "reserved", LAMP, 2),
        (ORDER_ID, "reserved", DESK, 1),
    ]


def test_an_event_is_stored_as_one_document_per_order_and_kind(inventory, movements_db):
    inventory.on_order_created(payload())
    inventory.on_order_cancelled(payload(status="cancelled"))

    documents = sorted(movements_db.find(), key=lambda m: m["_id"])
    assert [(m["_id"], m["order_id"], m["kind"], m["items"]) for m in documents] == [
        (f"{ORDER_ID}:released", ORDER_ID, "released",
         [{"product_id": LAMP, "quantity": 2}, {"product_id": DESK, "quantity": 1}]),
        (f"{ORDER_ID}:reserved", ORDER_ID, "reserved",
         [{"product_id": LAMP, "quantity": 2}, {"product_id": DESK, "quantity": 1}]),
    ]


def test_order_created_twice_records_nothing_more(inventory, movements_db):
    inventory.on_order_created(payload())
    first = list(movements_db.find())

    inventory.on_order_created(payload())

    assert list(movements_db.find()) == first


def test_order_cancelled_records_released_movements(inventory, movements_db):
    inventory.on_order_created(payload())

    inventory.on_order_cancelled(payload(status="cancelled"))
    inventory.on_order_cancelled(payload(status="cancelled"))

    assert recorded(movements_db) == [
        (ORDER_ID, "released", LAMP, 2),
        (ORDER_ID, "released", DESK, 1),
        (ORDER_ID, "reserved", LAMP, 2),
        (ORDER_ID, "reserved", DESK, 1),
    ]


def test_movements_of_different_orders_are_kept_apart(inventory, movements_db):
    other = "5f00000000000000000000c2"

    inventory.on_order_created(payload())
    inventory.on_order_created(payload(order_id=other, lines=((LAMP, 5),)))

    assert [m for m in recorded(movements_db) if m[2] == LAMP] == [
        (ORDER_ID, "reserved", LAMP, 2),
        (other, "reserved", LAMP, 5),
    ]


def test_movements_are_listed_per_product(inventory):
    inventory.on_order_created(payload())

    listed = inventory.list_movements(LAMP)

    assert listed["total"] == 1
    assert [(m["order_id"], m["kind"], m["quantity"]) for m in listed["items"]] == [(ORDER_ID, "reserved", 2)]


def test_each_listed_movement_names_its_product_alone(inventory):
    inventory.on_order_created(payload())
    inventory.on_order_cancelled(payload(status="cancelled"))

    listed = inventory.list_movements(DESK)

    assert listed["total"] == 2
    assert [(m["product_id"], m["order_id"], m["kind"], m["quantity"]) for m in listed["items"]] == [
        (DESK, ORDER_ID, "reserved", 1),
        (DESK, ORDER_ID, "released", 1),
    ]
    assert all("items" not in m and m["at"] for m in listed["items"])


def test_order_shipped_records_shipped_movements_once(inventory, movements_db):
    inventory.on_order_created(payload())

    inventory.on_order_shipped(payload(status="shipped"))
    inventory.on_order_shipped(payload(status="shipped"))

    assert recorded(movements_db) == [
        (ORDER_ID, "reserved", LAMP, 2),
        (ORDER_ID, "reserved", DESK, 1),
        (ORDER_ID, "shipped", LAMP, 2),
        (ORDER_ID, "shipped", DESK, 1),
    ]


@pytest.mark.parametrize("handler", ["on_order_created", "on_order_cancelled", "on_order_shipped"])
@pytest.mark.parametrize("data", MALFORMED)
def test_malformed_event_is_refused_and_records_nothing(inventory, movements_db, handler, data):
    with pytest.raises(MalformedEvent) as refused:
        getattr(inventory, handler)(data)

    assert refused.value.details  # what was wrong, field by field
    assert movements_db.count_documents({}) == 0


def test_a_failing_handler_raises_on_so_its_entrypoint_can_decide(inventory, movements_db, monkeypatch):
    def database_away(*args):
        raise ConnectionError("database away")

    monkeypatch.setattr(MovementStore, "record", database_away)

    with pytest.raises(ConnectionError):
        inventory.on_order_created(payload())

    assert movements_db.count_documents({}) == 0


# shipping


@pytest.fixture
def shipping(database):
    return worker_factory(ShippingService, store=ShipmentStore(database("shipping")))


def test_order_created_opens_a_pending_shipment(shipping):
    shipping.on_order_created(payload())

    shipment = shipping.get_shipment(ORDER_ID)
    assert (shipment["order_id"], shipment["customer_id"], shipment["status"]) == (ORDER_ID, "c-ada", "pending")
    assert shipment["tracking_number"].startswith("SMS")


def test_order_created_twice_keeps_the_same_tracking_number(shipping):
    shipping.on_order_created(payload())
    first = shipping.get_shipment(ORDER_ID)

    shipping.on_order_created(payload())

    assert shipping.get_shipment(ORDER_ID) == first


def test_different_orders_get_different_tracking_numbers(shipping):
    other = "5f00000000000000000000c2"
    shipping.on_order_created(payload())
    shipping.on_order_created(payload(order_id=other))

    assert shipping.get_shipment(ORDER_ID)["tracking_number"] != shipping.get_shipment(other)["tracking_number"]


def test_order_cancelled_cancels_the_shipment_keeping_its_tracking_number(shipping):
    shipping.on_order_created(payload())
    opened = shipping.get_shipment(ORDER_ID)

    shipping.on_order_cancelled(payload(status="cancelled"))

    cancelled = shipping.get_shipment(ORDER_ID)
    assert cancelled["status"] == "cancelled"
    assert cancelled["tracking_number"] == opened["tracking_number"]


def test_cancel_arriving_before_create_ends_cancelled(shipping):
    shipping.on_order_cancelled(payload(status="cancelled"))
    cancelled = shipping.get_shipment(ORDER_ID)

    shipping.on_order_created(payload())

    assert cancelled["status"] == "cancelled"
    assert shipping.get_shipment(ORDER_ID) == cancelled


def test_get_shipment_of_unknown_order_raises_not_found(shipping):
    with pytest.raises(ShipmentNotFound) as caught:
        shipping.get_shipment(ORDER_ID)

    assert caught.value.details == {"order_id": ORDER_ID}


def test_order_shipped_then_delivered_moves_the_shipment_and_notes_when(shipping):
    shipping.on_order_created(payload())
    opened = shipping.get_shipment(ORDER_ID)

    shipping.on_order_shipped(payload(status="shipped"))
    shipped = shipping.get_shipment(ORDER_ID)
    shipping.on_order_delivered(payload(status="delivered"))
    delivered = shipping.get_shipment(ORDER_ID)

    assert (shipped["status"], delivered["status"]) == ("shipped", "delivered")
    assert delivered["tracking_number"] == opened["tracking_number"]
    assert delivered["shipped_at"] == shipped["shipped_at"] and delivered["delivered_at"] >= shipped["shipped_at"]
    assert "delivered_at" not in shipped


@pytest.mark.parametrize("late", [
    ["on_order_shipped"], ["on_order_created"], ["on_order_created", "on_order_shipped"],
])
def test_late_events_never_move_a_delivered_shipment_back(shipping, late):
    shipping.on_order_delivered(payload(status="delivered"))
    delivered = shipping.get_shipment(ORDER_ID)

    for handler in late:
        # order_created carries a confirmed order; the others the status they are named after
        status = {"on_order_created": "confirmed"}.get(handler, handler.removeprefix("on_order_"))
        getattr(shipping, handler)(payload(status=status))

    assert delivered["status"] == "delivered"
    assert shipping.get_shipment(ORDER_ID) == delivered


def test_a_repeated_shipped_event_changes_nothing(shipping):
    shipping.on_order_shipped(payload(status="shipped"))
    shipped = shipping.get_shipment(ORDER_ID)

    shipping.on_order_shipped(payload(status="shipped"))

    assert shipping.get_shipment(ORDER_ID) == shipped


def test_dispatch_asks_orders_to_ship_then_records_the_shipment(shipping):
    shipping.on_order_created(payload())
    shipping.orders.ship_order.return_value = payload(status="shipped")

    shipment = shipping.dispatch(ORDER_ID)

    shipping.orders.ship_order.assert_called_once_with(ORDER_ID)
    assert shipment["status"] == "shipped" and shipment["shipped_at"]
    assert shipping.get_shipment(ORDER_ID) == shipment


def test_dispatch_refused_by_orders_records_nothing(shipping):
    shipping.on_order_created(payload())
    shipping.orders.ship_order.side_effect = OrderCancelled("An order that is cancelled cannot become shipped.")

    with pytest.raises(OrderCancelled):
        shipping.dispatch(ORDER_ID)

    assert shipping.get_shipment(ORDER_ID)["status"] == "pending"


def test_deliver_asks_orders_then_records_the_delivery(shipping):
    shipping.orders.deliver_order.return_value = payload(status="delivered")

    shipment = shipping.deliver(ORDER_ID)

    shipping.orders.deliver_order.assert_called_once_with(ORDER_ID)
    assert shipment["status"] == "delivered" and shipment["delivered_at"]


def test_automatic_dispatch_is_off_unless_configured(database):
    shipping = worker_factory(ShippingService, store=ShipmentStore(database("shipping")), config={})
    shipping.on_order_created(payload())

    shipping.auto_dispatch()

    shipping.orders.ship_order.assert_not_called()
    assert shipping.get_shipment(ORDER_ID)["status"] == "pending"


def test_automatic_dispatch_ships_what_waited_long_enough_then_delivers_it(database):
    shipments = database("shipping").shipments
    shipping = worker_factory(ShippingService, store=ShipmentStore(database("shipping")),
                              config={"SHIPPING_AUTO_DISPATCH_SECONDS": "30"})
    shipping.orders.ship_order.side_effect = lambda order_id: payload(status="shipped", order_id=order_id)
    shipping.orders.deliver_order.side_effect = lambda order_id: payload(status="delivered", order_id=order_id)
    recent = "5f00000000000000000000c2"
    shipping.on_order_created(payload())
    shipping.on_order_created(payload(order_id=recent))
    an_hour_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    shipments.update_one({"_id": ORDER_ID}, {"$set": {"updated_at": an_hour_ago}})

    shipping.auto_dispatch()

    shipping.orders.ship_order.assert_called_once_with(ORDER_ID)
    assert (shipping.get_shipment(ORDER_ID)["status"], shipping.get_shipment(recent)["status"]) == (
        "shipped", "pending")

    shipments.update_one({"_id": ORDER_ID}, {"$set": {"updated_at": an_hour_ago}})
    shipping.auto_dispatch()

    shipping.orders.deliver_order.assert_called_once_with(ORDER_ID)
    assert shipping.get_shipment(ORDER_ID)["status"] == "delivered"


def test_automatic_dispatch_goes_on_past_an_order_it_cannot_ship(database):
    shipments = database("shipping").shipments
    shipping = worker_factory(ShippingService, store=ShipmentStore(database("shipping")),
                              config={"SHIPPING_AUTO_DISPATCH_SECONDS": "30"})
    cancelled, other = ORDER_ID, "5f00000000000000000000c2"

    def ship(order_id):
        if order_id == cancelled:
            raise OrderCancelled("cancelled meanwhile")
        return payload(status="shipped", order_id=order_id)

    shipping.orders.ship_order.side_effect = ship
    an_hour_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    for order_id in (cancelled, other):
        shipping.on_order_created(payload(order_id=order_id))
        shipments.update_one({"_id": order_id}, {"$set": {"updated_at": an_hour_ago}})

    shipping.auto_dispatch()

    assert (shipping.get_shipment(cancelled)["status"], shipping.get_shipment(other)["status"]) == (
        "pending", "shipped")


@pytest.mark.parametrize("handler", ["on_order_created", "on_order_cancelled", "on_order_shipped",
                                     "on_order_delivered"])
@pytest.mark.parametrize("data", MALFORMED)
def test_malformed_event_opens_no_shipment(shipping, handler, data):
    with pytest.raises(MalformedEvent):
        getattr(shipping, handler)(data)

    with pytest.raises(ShipmentNotFound):
        shipping.get_shipment(ORDER_ID)
