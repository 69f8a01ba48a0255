"""Fulfilment, end to end: orders ship and arrive through the gateway of the running stack.

Dispatch and delivery cross gateway → shipping → orders synchronously; the
product service (settling the reservation), inventory (the shipped movement)
and shipping (its record) follow the order events, so what they record is
polled for with a deadline. The product documents are read straight from the
stack's database to see that no reservation marker outlives its shipment.
"""
import concurrent.futures

import pytest
from bson import ObjectId
from pymongo import MongoClient

from support import wait_until
from test_orders_api import EVENT_DEADLINE_SECONDS, eventually_shipment, get_order, place_order, stocks
from test_rest_api import assert_error, create_customer, create_product

RACES = 40


@pytest.fixture(scope="module")
def products_db(stack_info):
    client = MongoClient(stack_info.mongo_url, serverSelectionTimeoutMS=5000)
    yield client["product"]
    client.close()


def markers(products_db, product):
    """The orders the product document still holds reservation markers for."""
    document = products_db.products.find_one({"_id": ObjectId(product["id"])})
    return set(document.get("reservations", {}))


def dispatch(http, order_id):
    return http.post(f"/orders/{order_id}/shipment/dispatch")


def deliver(http, order_id):
    return http.post(f"/orders/{order_id}/shipment/deliver")


def movement_kinds(http, product, order_id):
    response = http.get(f"/products/{product['id']}/movements")
    assert response.status_code == 200, response.text
    return sorted(m["kind"] for m in response.json()["items"] if m["order_id"] == order_id)


def test_an_order_ships_and_arrives_and_its_reservation_is_settled(http, products_db):
    customer = create_customer(http)
    lamp, chair = create_product(http, stock=10), create_product(http, stock=3)
    order = place_order(http, customer, (lamp, 2), (chair, 1))
    eventually_shipment(http, order["id"], "pending")
    assert markers(products_db, lamp) == {order["id"]}

    response = dispatch(http, order["id"])

    assert response.status_code == 200, response.text
    shipment = response.json()
    assert (shipment["order_id"], shipment["status"]) == (order["id"], "shipped") and shipment["shipped_at"]
    assert get_order(http, order["id"])["status"] == "shipped"
    # Shipped stock stays taken; the product forgets the order once it hears of it.
    assert stocks(http, lamp, chair) == [8, 2]
    wait_until(lambda: not markers(products_db, lamp) and not markers(products_db, chair),
               timeout=EVENT_DEADLINE_SECONDS, message="the reservation markers to be settled")
    assert stocks(http, lamp, chair) == [8, 2]
    wait_until(lambda: movement_kinds(http, lamp, order["id"]) == ["reserved", "shipped"],
               timeout=EVENT_DEADLINE_SECONDS, message="a shipped movement")

    response = deliver(http, order["id"])

    assert response.status_code == 200, response.text
    delivered = response.json()
    assert delivered["status"] == "delivered" and delivered["delivered_at"]
    assert delivered["tracking_number"] == shipment["tracking_number"]
    assert get_order(http, order["id"])["status"] == "delivered"
    assert eventually_shipment(http, order["id"], "delivered") == delivered


def test_the_order_list_filters_by_the_fulfilment_statuses(http):
    customer = create_customer(http)
    lamp = create_product(http, stock=10)
    shipped, delivered, confirmed = (place_order(http, customer, (lamp, 1)) for _ in range(3))
    assert dispatch(http, shipped["id"]).status_code == 200
    assert dispatch(http, delivered["id"]).status_code == 200
    assert deliver(http, delivered["id"]).status_code == 200

    def ids(status):
        response = http.get("/orders", params={"customer_id": customer["id"], "status": status})
        assert response.status_code == 200, response.text
        return [found["id"] for found in response.json()["items"]]

    assert (ids("shipped"), ids("delivered"), ids("confirmed")) == (
        [shipped["id"]], [delivered["id"]], [confirmed["id"]])


def test_dispatching_or_delivering_again_answers_the_same(http):
    order = place_order(http, create_customer(http), (create_product(http, stock=5), 1))
    first = dispatch(http, order["id"]).json()

    again = dispatch(http, order["id"])

    assert again.status_code == 200 and again.json() == first
    delivered = deliver(http, order["id"]).json()
    assert deliver(http, order["id"]).json() == delivered
    # Dispatching a delivered order asks for what already happened.
    assert dispatch(http, order["id"]).json() == delivered


@pytest.mark.parametrize("delivered_first", [False, True])
def test_a_shipped_order_cannot_be_cancelled(http, delivered_first):
    lamp = create_product(http, stock=5)
    order = place_order(http, create_customer(http), (lamp, 2))
    dispatch(http, order["id"])
    if delivered_first:
        deliver(http, order["id"])

    details = assert_error(http.delete(f"/orders/{order['id']}"), 409, "ORDER_ALREADY_SHIPPED")

    assert details["status"] == ("delivered" if delivered_first else "shipped")
    assert get_order(http, order["id"])["status"] == details["status"]
    assert stocks(http, lamp) == [3]


@pytest.mark.parametrize("move", [dispatch, deliver])
def test_a_cancelled_order_neither_ships_nor_arrives(http, move):
    lamp = create_product(http, stock=5)
    order = place_order(http, create_customer(http), (lamp, 2))
    assert http.delete(f"/orders/{order['id']}").status_code == 200

    assert_error(move(http, order["id"]), 409, "ORDER_CANCELLED")

    assert get_order(http, order["id"])["status"] == "cancelled"
    assert stocks(http, lamp) == [5]


def test_an_order_not_shipped_cannot_be_delivered(http):
    order = place_order(http, create_customer(http), (create_product(http, stock=5), 1))

    details = assert_error(deliver(http, order["id"]), 409, "INVALID_ORDER_TRANSITION")

    assert details == {"status": "confirmed", "requested": "delivered"}
    assert get_order(http, order["id"])["status"] == "confirmed"


@pytest.mark.parametrize("move", [dispatch, deliver])
@pytest.mark.parametrize("order_id", ["5f00000000000000000000ee", "not-an-id"])
def test_an_unknown_order_is_not_found(http, move, order_id):
    assert_error(move(http, order_id), 404, "ORDER_NOT_FOUND")


def test_a_cancel_racing_a_dispatch_exactly_one_wins(http, products_db):
    """Each order is cancelled and dispatched at once, many times over: one wins, the other is told why."""
    lamp = create_product(http, stock=RACES)
    customer = create_customer(http)
    orders = [place_order(http, customer, (lamp, 1)) for _ in range(RACES)]

    def race(order_id):
        with concurrent.futures.ThreadPoolExecutor(2) as both:
            cancel = both.submit(http.delete, f"/orders/{order_id}")
            ship = both.submit(dispatch, http, order_id)
            return cancel.result(), ship.result()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(race, [order["id"] for order in orders]))

    shipped = []
    for order, (cancel, ship) in zip(orders, outcomes):
        codes = (cancel.status_code, ship.status_code)
        assert codes in {(200, 409), (409, 200)}, (cancel.text, ship.text)
        status = get_order(http, order["id"])["status"]
        if cancel.status_code == 200:
            assert ship.json()["error"] == "ORDER_CANCELLED" and status == "cancelled", ship.text
        else:
            assert cancel.json()["error"] == "ORDER_ALREADY_SHIPPED" and status == "shipped", cancel.text
            shipped.append(order["id"])
    # What shipped stays taken; every cancelled unit came back; no marker is left
    # for either (released on cancel, settled on shipping).
    wait_until(lambda: stocks(http, lamp) == [RACES - len(shipped)] and not markers(products_db, lamp),
               timeout=EVENT_DEADLINE_SECONDS,
               message=f"stock {RACES - len(shipped)} and no markers (stock {stocks(http, lamp)}, "
                       f"{len(markers(products_db, lamp))} markers)")
    for order_id in shipped:
        eventually_shipment(http, order_id, "shipped")


def test_a_best_seller_keeps_no_markers_for_its_shipped_orders(http, products_db):
    lamp = create_product(http, stock=1000)
    customer = create_customer(http)
    orders = [place_order(http, customer, (lamp, 1)) for _ in range(60)]
    open_order = orders.pop()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(response.status_code == 200 for response in pool.map(
            lambda order: dispatch(http, order["id"]), orders))

    wait_until(lambda: markers(products_db, lamp) == {open_order["id"]}, timeout=EVENT_DEADLINE_SECONDS,
               message="markers only for the order not yet shipped")
    assert stocks(http, lamp) == [1000 - 60]
