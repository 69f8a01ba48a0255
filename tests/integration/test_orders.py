"""Orders end to end inside the process: real containers, RabbitMQ and database.

Covers the guarantees of the orders issue: all-or-nothing reservation with
rollback, no overselling under concurrency, cancel releasing exactly once,
the sweeper cleaning up after a crash, and order events fanned out to both
stubs and applied once even when delivered twice.
"""
import datetime
import time

import eventlet
import pytest
from bson import ObjectId
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy, ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from common.errors import (
    InsufficientStock,
    OrderAlreadyShipped,
    InvalidOrderTransition,
    PreconditionFailed,
    ReservationClosed,
    UnknownCustomer,
    UnknownProduct,
)
from common.order_events import ORDER_CREATED, ORDER_DELIVERED, ORDER_SHIPPED, ORDERS_SERVICE
from support import wait_until
from customers.service import CustomersService
from inventory.service import InventoryService
from orders.service import OrdersService
from product import reservation
from product.service import ProductService
from shipping.service import ShippingService

ALL_SERVICES = (ProductService, CustomersService, OrdersService, InventoryService, ShippingService)


@pytest.fixture
def containers(start_services):
    return start_services(*ALL_SERVICES)


@pytest.fixture
def rpc(containers, service_config):
    with ClusterRpcProxy(service_config) as cluster:
        yield cluster


@pytest.fixture
def customer(rpc):
    return rpc.customers.create({"name": "Ada", "email": "ada@example.com"})


def new_product(rpc, stock, price="10.00", name="Widget"):
    return rpc.product.create({"name": name, "price": price, "stock": stock})


def stock_of(rpc, product):
    return rpc.product.get(product["id"])["stock"]


def order_request(customer, *lines):
    return {
        "customer_id": customer["id"],
        "items": [{"product_id": product["id"], "quantity": quantity} for product, quantity in lines],
    }


def outcome(reply):
    try:
        return reply.result()["status"]
    except InsufficientStock:
        return "insufficient"


def test_a_confirmed_order_copies_prices_and_takes_stock(rpc, customer):
    lamp = new_product(rpc, stock=5, price="19.99", name="Lamp")
    desk = new_product(rpc, stock=2, price="120.50", name="Desk")

    order = rpc.orders.create_order(order_request(customer, (lamp, 2), (desk, 1)))

    assert order["status"] == "confirmed"
    assert order["total"] == "160.48"
    assert order["items"][0] == {
        "product_id": lamp["id"], "name": "Lamp", "unit_price": "19.99",
        "quantity": 2, "line_total": "39.98",
    }
    assert (stock_of(rpc, lamp), stock_of(rpc, desk)) == (3, 1)
    # a later price change does not touch the order
    rpc.product.update(lamp["id"], {"price": "25.00"}, partial=True)
    assert rpc.orders.get_order(order["id"])["items"][0]["unit_price"] == "19.99"


def test_partial_reservation_is_rolled_back(rpc, customer, database):
    plenty = new_product(rpc, stock=5)
    scarce = new_product(rpc, stock=1)

    with pytest.raises(InsufficientStock) as refused:
        rpc.orders.create_order(order_request(customer, (plenty, 2), (scarce, 3)))

    assert refused.value.details["products"] == [
        {"product_id": scarce["id"], "requested": 3, "available": 1}
    ]
    assert (stock_of(rpc, plenty), stock_of(rpc, scarce)) == (5, 1)
    for product in (plenty, scarce):
        stored = database("product").products.find_one({"_id": ObjectId(product["id"])})
        assert stored.get("reservations", {}) == {}
    rejected = rpc.orders.get_order(refused.value.details["order_id"])
    assert rejected["status"] == "rejected"
    # No release_stock was asked for: the refused reservation stays failed (a release would mark it released).
    record = database("product").reservations.find_one({"_id": rejected["id"]})
    assert record["state"] == "failed"


def test_unknown_customer_or_product_is_refused_before_anything_is_stored(rpc, customer, database):
    product = new_product(rpc, stock=5)
    missing_id = str(ObjectId())

    with pytest.raises(UnknownCustomer) as no_customer:
        rpc.orders.create_order({"customer_id": missing_id, "items": [{"product_id": product["id"], "quantity": 1}]})
    assert no_customer.value.details == {"customer_id": missing_id}

    with pytest.raises(UnknownProduct) as no_product:
        rpc.orders.create_order(order_request(customer, (product, 1), ({"id": missing_id}, 1)))
    assert no_product.value.details == {"product_ids": [missing_id]}

    assert database("orders").orders.count_documents({}) == 0
    assert database("product").reservations.count_documents({}) == 0
    assert stock_of(rpc, product) == 5


def test_thirty_simultaneous_orders_for_ten_units_never_oversell(rpc, customer, monkeypatch):
    product = new_product(rpc, stock=10)
    request = order_request(customer, (product, 1))

    # Count reservations running at once, to show the workers really overlap.
    in_flight, most_in_flight = [0], [0]
    original_reserve = reservation.reserve_stock

    def counted_reserve(*args):
        in_flight[0] += 1
        most_in_flight[0] = max(most_in_flight[0], in_flight[0])
        try:
            eventlet.sleep(0.01)
            return original_reserve(*args)
        finally:
            in_flight[0] -= 1

    monkeypatch.setattr(reservation, "reserve_stock", counted_reserve)

    # All 30 requests are sent before any reply is awaited.
    replies = [rpc.orders.create_order.call_async(request) for _ in range(30)]
    outcomes = [outcome(reply) for reply in replies]

    assert outcomes.count("confirmed") == 10
    assert outcomes.count("insufficient") == 20
    assert stock_of(rpc, product) == 0
    assert rpc.orders.list_orders(status="confirmed")["total"] == 10
    assert rpc.orders.list_orders(status="rejected")["total"] == 20
    assert most_in_flight[0] > 1


def test_cancel_releases_the_stock_exactly_once(rpc, customer):
    product = new_product(rpc, stock=4)
    order = rpc.orders.create_order(order_request(customer, (product, 3)))
    assert stock_of(rpc, product) == 1

    cancelled = rpc.orders.cancel_order(order["id"])
    again = rpc.orders.cancel_order(order["id"])
    rpc.product.release_stock(order["id"])  # a duplicated release message

    assert cancelled["status"] == again["status"] == "cancelled"
    assert again["updated_at"] == cancelled["updated_at"]
    assert stock_of(rpc, product) == 4


def test_concurrent_cancels_release_once(rpc, customer):
    product = new_product(rpc, stock=4)
    order = rpc.orders.create_order(order_request(customer, (product, 3)))

    replies = [rpc.orders.cancel_order.call_async(order["id"]) for _ in range(5)]
    statuses = [reply.result()["status"] for reply in replies]

    assert statuses == ["cancelled"] * 5
    assert stock_of(rpc, product) == 4


def test_a_rejected_order_cannot_be_cancelled(rpc, customer):
    product = new_product(rpc, stock=0)
    with pytest.raises(InsufficientStock) as refused:
        rpc.orders.create_order(order_request(customer, (product, 1)))

    with pytest.raises(InvalidOrderTransition):
        rpc.orders.cancel_order(refused.value.details["order_id"])


def test_sweeper_rejects_an_order_left_pending_by_a_crash(rpc, customer, containers, database):
    product = new_product(rpc, stock=5)
    # The crash: the order was saved pending and its stock reserved, then the
    # orders service died before confirming it.
    long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    order_id = database("orders").orders.insert_one({
        "customer_id": customer["id"], "status": "pending", "total": "20.00", "outbox": [],
        "release_due": False, "created_at": long_ago, "updated_at": long_ago, "version": 1,
        "items": [{"product_id": product["id"], "name": "Widget", "unit_price": "10.00",
                   "quantity": 2, "line_total": "20.00"}],
    }).inserted_id
    order_id = str(order_id)
    rpc.product.reserve_stock(order_id, [{"product_id": product["id"], "quantity": 2}])
    assert stock_of(rpc, product) == 3

    with entrypoint_hook(containers["orders"], "sweep") as sweep:
        sweep()

    assert rpc.orders.get_order(order_id)["status"] == "rejected"
    assert stock_of(rpc, product) == 5
    # the reserve message, redelivered late, takes nothing
    with pytest.raises(ReservationClosed):
        rpc.product.reserve_stock(order_id, [{"product_id": product["id"], "quantity": 2}])
    assert stock_of(rpc, product) == 5


def test_order_events_fan_out_to_inventory_and_shipping(rpc, customer, containers):
    product = new_product(rpc, stock=5)

    with entrypoint_waiter(containers["inventory"], "on_order_created"), \
            entrypoint_waiter(containers["shipping"], "on_order_created"):
        order = rpc.orders.create_order(order_request(customer, (product, 2)))

    movements = rpc.inventory.list_movements(product["id"])
    assert [(m["order_id"], m["kind"], m["quantity"]) for m in movements["items"]] == [(order["id"], "reserved", 2)]
    shipment = rpc.shipping.get_shipment(order["id"])
    assert (shipment["status"], shipment["customer_id"]) == ("pending", customer["id"])

    with entrypoint_waiter(containers["inventory"], "on_order_cancelled"), \
            entrypoint_waiter(containers["shipping"], "on_order_cancelled"):
        rpc.orders.cancel_order(order["id"])

    kinds = [m["kind"] for m in rpc.inventory.list_movements(product["id"])["items"]]
    assert kinds == ["reserved", "released"]
    assert rpc.shipping.get_shipment(order["id"])["status"] == "cancelled"


def test_a_duplicated_event_is_applied_once(rpc, customer, containers, service_config):
    product = new_product(rpc, stock=5)
    with entrypoint_waiter(containers["shipping"], "on_order_created"):
        order = rpc.orders.create_order(order_request(customer, (product, 2)))
    first = rpc.shipping.get_shipment(order["id"])

    dispatch = event_dispatcher(service_config)
    for service in ("inventory", "shipping"):
        with entrypoint_waiter(containers[service], "on_order_created"):
            dispatch(ORDERS_SERVICE, ORDER_CREATED, order)

    assert rpc.inventory.list_movements(product["id"])["total"] == 1
    assert rpc.shipping.get_shipment(order["id"]) == first


def markers(database, product):
    document = database("product").products.find_one({"_id": ObjectId(product["id"])})
    return document.get("reservations", {})


def test_dispatch_ships_the_order_and_every_consumer_follows(rpc, customer, containers, database):
    product = new_product(rpc, stock=5)
    with entrypoint_waiter(containers["shipping"], "on_order_created"):
        order = rpc.orders.create_order(order_request(customer, (product, 2)))
    assert markers(database, product) == {order["id"]: 2}

    with entrypoint_waiter(containers["product"], "on_order_shipped"), \
            entrypoint_waiter(containers["inventory"], "on_order_shipped"), \
            entrypoint_waiter(containers["shipping"], "on_order_shipped"):
        shipment = rpc.shipping.dispatch(order["id"])

    assert shipment["status"] == "shipped"
    assert rpc.orders.get_order(order["id"])["status"] == "shipped"
    assert markers(database, product) == {}
    assert stock_of(rpc, product) == 3
    kinds = [m["kind"] for m in rpc.inventory.list_movements(product["id"])["items"]]
    assert kinds == ["reserved", "shipped"]
    with pytest.raises(OrderAlreadyShipped):
        rpc.orders.cancel_order(order["id"])
    # A release asked for by hand cannot give back what left with the order.
    rpc.product.release_stock(order["id"])
    assert stock_of(rpc, product) == 3

    with entrypoint_waiter(containers["shipping"], "on_order_delivered"):
        delivered = rpc.shipping.deliver(order["id"])
    assert delivered["status"] == "delivered"
    assert rpc.shipping.get_shipment(order["id"]) == delivered


def test_shipping_events_delivered_twice_or_out_of_order_are_applied_once(
        rpc, customer, containers, service_config, database):
    product = new_product(rpc, stock=5)
    with entrypoint_waiter(containers["product"], "on_order_shipped"), \
            entrypoint_waiter(containers["shipping"], "on_order_delivered"):
        order = rpc.orders.create_order(order_request(customer, (product, 2)))
        rpc.shipping.dispatch(order["id"])
        rpc.shipping.deliver(order["id"])
    delivered = rpc.shipping.get_shipment(order["id"])
    shipped_order = {**rpc.orders.get_order(order["id"]), "status": "shipped"}

    dispatch = event_dispatcher(service_config)
    for service in ("product", "inventory", "shipping"):
        with entrypoint_waiter(containers[service], "on_order_shipped"):
            dispatch(ORDERS_SERVICE, ORDER_SHIPPED, shipped_order)
    with entrypoint_waiter(containers["shipping"], "on_order_delivered"):
        dispatch(ORDERS_SERVICE, ORDER_DELIVERED, rpc.orders.get_order(order["id"]))

    assert stock_of(rpc, product) == 3
    assert markers(database, product) == {}
    assert [m["kind"] for m in rpc.inventory.list_movements(product["id"])["items"]] == ["reserved", "shipped"]
    assert rpc.shipping.get_shipment(order["id"]) == delivered


def test_a_failed_handler_gets_the_event_again(rpc, customer, containers, monkeypatch):
    product = new_product(rpc, stock=5)
    from inventory.storage import MovementStore

    original = MovementStore.record
    failures = []

    def fail_once(self, *args):
        if not failures:
            failures.append(True)
            raise ConnectionError("database away")
        return original(self, *args)

    monkeypatch.setattr(MovementStore, "record", fail_once)
    order = rpc.orders.create_order(order_request(customer, (product, 1)))

    movements = wait_until(
        lambda: rpc.inventory.list_movements(product["id"])["items"], timeout=10, message="the redelivered event"
    )
    assert failures == [True]
    assert [(m["order_id"], m["kind"]) for m in movements] == [(order["id"], "reserved")]


def test_an_event_no_consumer_can_receive_yet_waits_in_the_outbox(start_services, service_config, database,
                                                                  caplog):
    # A first deployment where orders runs before any consumer has declared its queue.
    containers = start_services(ProductService, CustomersService, OrdersService, SWEEP_RETRY_AFTER=0)
    with ClusterRpcProxy(service_config) as cluster:
        customer = cluster.customers.create({"name": "Ada", "email": "ada@example.com"})
        product = new_product(cluster, stock=5)
        order = cluster.orders.create_order(order_request(customer, (product, 1)))

    wait_until(lambda: "no consumer's queue is bound for order_created" in caplog.text, timeout=10,
               message="the dispatch to be refused")
    assert [event["type"] for event in database("orders").orders.find_one({})["outbox"]] == ["order_created"]

    start_services(InventoryService)
    with entrypoint_hook(containers["orders"], "sweep") as sweep:
        sweep()

    with ClusterRpcProxy(service_config) as cluster:
        movements = wait_until(lambda: cluster.inventory.list_movements(product["id"])["items"], timeout=10,
                               message="the event to reach the consumer that started later")
    assert [(m["order_id"], m["kind"]) for m in movements] == [(order["id"], "reserved")]
    assert database("orders").orders.find_one({})["outbox"] == []


def test_each_consumer_has_its_own_durable_queue(containers, rabbit_manager, rabbit_config):
    queues = {queue["name"]: queue for queue in rabbit_manager.get_queues(rabbit_config["vhost"])}

    for event_type in ("order_created", "order_cancelled"):
        consumers = sorted(name for name in queues if name.startswith(f"evt-orders-{event_type}--"))
        assert consumers == [
            f"evt-orders-{event_type}--inventory.on_order_{event_type.split('_')[1]}",
            f"evt-orders-{event_type}--shipping.on_order_{event_type.split('_')[1]}",
        ]
        assert all(queues[name]["durable"] and not queues[name]["auto_delete"] for name in consumers)


def test_order_events_are_published_persistent(rpc, customer, containers, rabbit_manager, rabbit_config,
                                               get_message_from_queue):
    # A queue of our own on the events exchange, to look at the message as sent.
    vhost = rabbit_config["vhost"]
    rabbit_manager.create_queue(vhost, "spy", durable=True)
    rabbit_manager.create_queue_binding(vhost, "orders.events", "spy", "order_created")
    product = new_product(rpc, stock=5)

    order = rpc.orders.create_order(order_request(customer, (product, 1)))

    message = get_message_from_queue("spy", timeout=5)
    assert message.properties["delivery_mode"] == 2
    assert message.payload["id"] == order["id"]


def test_order_events_carry_the_request_id_but_not_the_callers_deadline(
        rpc, customer, containers, rabbit_manager, rabbit_config, get_message_from_queue, service_config):
    vhost = rabbit_config["vhost"]
    rabbit_manager.create_queue(vhost, "spy", durable=True)
    rabbit_manager.create_queue_binding(vhost, "orders.events", "spy", "order_created")
    product = new_product(rpc, stock=5)

    # As the gateway calls it: a request id, and a deadline that passes soon after.
    context = {"request_id": "req-42", "deadline": time.time() + 5}
    with ServiceRpcProxy("orders", service_config, context_data=context) as orders:
        orders.create_order(order_request(customer, (product, 1)))

    headers = get_message_from_queue("spy", timeout=5).headers
    assert headers["nameko.request_id"] == "req-42"
    # A handler has no caller waiting; forwarded on its own calls, a passed
    # deadline would have them refused.
    assert "nameko.deadline" not in headers


def test_ids_in_any_case_name_the_same_records(rpc, customer):
    product = new_product(rpc, stock=5)

    order = rpc.orders.create_order({
        "customer_id": customer["id"].upper(),
        "items": [{"product_id": product["id"].upper(), "quantity": 1}],
    })

    assert (order["customer_id"], order["items"][0]["product_id"]) == (customer["id"], product["id"])
    for spelling in (customer["id"], customer["id"].upper()):
        assert [o["id"] for o in rpc.orders.list_orders(customer_id=spelling)["items"]] == [order["id"]]


def test_placing_and_cancelling_move_the_versions_and_a_stale_cancel_changes_nothing(rpc, customer):
    lamp = new_product(rpc, stock=5)

    order = rpc.orders.create_order(order_request(customer, (lamp, 2)))
    assert (order["version"], rpc.product.get(lamp["id"])["version"]) == (2, 2)  # pending, confirmed; taken

    with pytest.raises(PreconditionFailed) as stale:
        rpc.orders.cancel_order(order["id"], if_version=1)
    assert stale.value.details == {"id": order["id"], "version": 2, "expected": [1]}
    assert rpc.orders.get_order(order["id"]) == order
    assert stock_of(rpc, lamp) == 3

    cancelled = rpc.orders.cancel_order(order["id"], if_version=[2])
    assert (cancelled["status"], cancelled["version"]) == ("cancelled", 3)
    assert rpc.orders.get_order(order["id"]) == cancelled
    assert rpc.product.get(lamp["id"])["version"] == 3  # given back
    assert stock_of(rpc, lamp) == 5
