"""Each setting the README lists, set in the environment, changes what the services do.

The services run in real containers on RabbitMQ and the test database, with
config/config.yml loaded as `nameko run --config` loads it (``load_config``)
and nothing else: they reach this test's vhost and database only through
AMQP_URI and MONGODB_CONNECTION_URL. The settings `make run` alone reads
(GATEWAY_ADDRESS, MONGO_PORT) are shown by the end-to-end tests, which start
the system on free ports through them.

The orders timer sweeps every 5 s, as long as SWEEP_RETRY_AFTER's default:
the sweeper tests run the sweep entrypoint themselves, at every poll, so that
an effect well inside the default shows the setting at work.
"""
import datetime
import io
import json
import logging
import logging.config
import socket
import time

import eventlet
import pytest
import requests
from bson import ObjectId
from kombu import Connection
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_hook

from common.dead_letters import dead_letter_queue_name, queue_depth
from common.errors import ServiceUnavailable, UnknownCustomer
from common.order_events import ORDER_CREATED, ORDERS_SERVICE, OrderSchema, OrderStatus
from common.storage import now
from customers.service import CustomersService
from gateway.auth import SettingError
from gateway.service import GatewayService
from inventory.service import InventoryService
from inventory.storage import MovementStore
from orders.service import OrdersService
from orders.storage import outbox_event
from orders.workflow import price_lines
from product.service import ProductService
from shipping.service import ShippingService
from support import free_port, wait_until

CUSTOMER_ID = str(ObjectId())
# Older than the defaults of PENDING_ORDER_TIMEOUT (30 s) and SWEEP_RETRY_AFTER (5 s).
LONG_AGO = datetime.timedelta(seconds=60)


@pytest.fixture
def start(container_factory, load_config, rabbit_config, mongo_url, db_prefix):
    """``start([ServiceClass, ...], SETTING=value, ...)``: started containers by service name."""

    def start_services(service_classes, **environment):
        config = load_config(AMQP_URI=rabbit_config["AMQP_URI"], MONGODB_CONNECTION_URL=mongo_url,
                             **environment)
        containers = {}
        for service_cls in service_classes:
            database_name = f"{db_prefix}_{service_cls.name}"
            container = container_factory(service_cls, {**config, "MONGODB_DB_NAME": database_name})
            container.start()
            containers[service_cls.name] = container
        return containers

    return start_services


@pytest.fixture
def cluster(service_config):
    with ClusterRpcProxy(service_config) as proxy:
        yield proxy


def sweep(container):
    with entrypoint_hook(container, "sweep") as run:
        run()


def sweep_until(container, condition, timeout, message):
    def swept():
        sweep(container)
        return condition()

    return wait_until(swept, timeout=timeout, interval=0.2, message=message)


def stock_of(cluster, product):
    return cluster.product.get(product["id"])["stock"]


def reserved_order(order_store, cluster, product, quantity):
    """An order saved pending with its stock taken: what a crash right after the reservation leaves."""
    asked = [{"product_id": product["id"], "quantity": quantity}]
    order, _ = order_store.create_pending(CUSTOMER_ID, asked)
    return order, cluster.product.reserve_stock(order["id"], asked)


def backdate(database, order, age):
    database("orders").orders.update_one({"_id": ObjectId(order["id"])}, {"$set": {"updated_at": now() - age}})


def status_of(order_store, order):
    return order_store.get(order["id"])["status"]


def test_services_reach_the_broker_and_database_the_environment_names(start, cluster, database):
    start([ProductService])

    product = cluster.product.create({"name": "Lamp", "price": "19.99", "stock": 3})

    assert database("product").products.find_one({"_id": ObjectId(product["id"])})["name"] == "Lamp"


def test_an_order_left_pending_is_rejected_once_older_than_PENDING_ORDER_TIMEOUT(start, cluster, order_store):
    containers = start([ProductService, OrdersService], PENDING_ORDER_TIMEOUT=1)
    product = cluster.product.create({"name": "Lamp", "price": "19.99", "stock": 5})
    order, _ = reserved_order(order_store, cluster, product, 2)
    assert stock_of(cluster, product) == 3

    # Well inside the default's 30 s.
    sweep_until(containers["orders"], lambda: status_of(order_store, order) == OrderStatus.REJECTED.value,
                timeout=1 + 3, message="the sweeper to reject the order")
    assert stock_of(cluster, product) == 5


@pytest.mark.parametrize("environment, outcome", [
    ({"PENDING_ORDER_TIMEOUT": 3600}, OrderStatus.PENDING.value),
    ({}, OrderStatus.REJECTED.value),
], ids=["set-high", "default"])
def test_an_order_pending_for_a_minute_is_swept_only_past_PENDING_ORDER_TIMEOUT(
        start, cluster, order_store, database, environment, outcome):
    containers = start([ProductService, OrdersService], **environment)
    product = cluster.product.create({"name": "Lamp", "price": "19.99", "stock": 5})
    order, _ = reserved_order(order_store, cluster, product, 2)
    backdate(database, order, LONG_AGO)

    sweep(containers["orders"])

    assert status_of(order_store, order) == outcome
    assert stock_of(cluster, product) == (3 if outcome == OrderStatus.PENDING.value else 5)


def left_unfinished(order_store, cluster, product, age):
    """Two orders whose follow-ups failed ``age`` ago: a rejection whose stock release
    failed, and a confirmation whose order_created event was never dispatched."""
    rejected, _ = reserved_order(order_store, cluster, product, 1)
    order_store.change_status(rejected, OrderStatus.REJECTED.value, now() - age, release_due=True)

    confirmed, reservation = reserved_order(order_store, cluster, product, 2)
    lines = price_lines(reservation["items"])
    priced = {"items": lines, "total": sum(line["line_total"] for line in lines)}
    moment = now() - age
    payload = OrderSchema().dump({**confirmed, **priced, "status": OrderStatus.CONFIRMED.value,
                                  "updated_at": moment})
    order_store.change_status(confirmed, OrderStatus.CONFIRMED.value, moment,
                              event=outbox_event(ORDER_CREATED, payload, moment), changes=priced)
    return rejected, confirmed


def finished(order_store, cluster, product, rejected, confirmed):
    """Whether the release and the event of ``left_unfinished`` have been retried, with their effect."""
    released = not order_store.get(rejected["id"]).get("release_due") and stock_of(cluster, product) == 3
    delivered = (order_store.get(confirmed["id"])["outbox"] == []
                 and cluster.inventory.list_movements(product["id"])["total"] == 1)
    return released and delivered


def test_a_failed_release_and_an_undelivered_event_are_retried_after_SWEEP_RETRY_AFTER(
        start, cluster, order_store):
    containers = start([ProductService, OrdersService, InventoryService], SWEEP_RETRY_AFTER=1)
    product = cluster.product.create({"name": "Lamp", "price": "19.99", "stock": 5})
    rejected, confirmed = left_unfinished(order_store, cluster, product, datetime.timedelta(0))

    # Well inside the default's 5 s.
    sweep_until(containers["orders"], lambda: finished(order_store, cluster, product, rejected, confirmed),
                timeout=1 + 2.5, message="the sweeper to retry the release and the event")


@pytest.mark.parametrize("environment, retried", [
    ({"SWEEP_RETRY_AFTER": 3600}, False),
    ({}, True),
], ids=["set-high", "default"])
def test_follow_ups_that_failed_a_minute_ago_are_retried_only_past_SWEEP_RETRY_AFTER(
        start, cluster, order_store, environment, retried):
    containers = start([ProductService, OrdersService, InventoryService], **environment)
    product = cluster.product.create({"name": "Lamp", "price": "19.99", "stock": 5})
    rejected, confirmed = left_unfinished(order_store, cluster, product, LONG_AGO)

    sweep(containers["orders"])

    if retried:
        # The event reaches inventory asynchronously.
        wait_until(lambda: finished(order_store, cluster, product, rejected, confirmed), timeout=5,
                   message="the retried release and event to take effect")
    else:
        assert order_store.get(rejected["id"])["release_due"] is True
        assert len(order_store.get(confirmed["id"])["outbox"]) == 1
        assert stock_of(cluster, product) == 2


@pytest.mark.parametrize("environment, slower_than_the_budget", [
    ({"RPC_TIMEOUT": 1}, True),
    ({}, False),
], ids=["set-low", "default"])
def test_a_call_that_outlasts_RPC_TIMEOUT_is_given_up(start, cluster, monkeypatch, environment,
                                                      slower_than_the_budget):
    start([ProductService, CustomersService, OrdersService], **environment)
    customer = cluster.customers.create({"name": "Ada", "email": "ada@example.com"})
    product = cluster.product.create({"name": "Lamp", "price": "19.99", "stock": 5})
    original = ProductService.reserve_stock

    def slow_reserve(self, *args, **kwargs):
        eventlet.sleep(3)  # inside the default budget (5 s), past the one set (1 s)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ProductService, "reserve_stock", slow_reserve)
    request = {"customer_id": customer["id"], "items": [{"product_id": product["id"], "quantity": 1}]}

    if slower_than_the_budget:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            cluster.orders.create_order(request)
        assert time.monotonic() - started < 3
    else:
        assert cluster.orders.create_order(request)["status"] == OrderStatus.CONFIRMED.value


def test_a_deleted_customer_is_trusted_for_CUSTOMER_CACHE_SECONDS_at_most(start, cluster, database):
    start([ProductService, CustomersService, OrdersService], CUSTOMER_CACHE_SECONDS=2)
    customer = cluster.customers.create({"name": "Ada", "email": "ada@example.com"})
    product = cluster.product.create({"name": "Lamp", "price": "19.99", "stock": 100})
    request = {"customer_id": customer["id"], "items": [{"product_id": product["id"], "quantity": 1}]}
    assert cluster.orders.create_order(request)["status"] == OrderStatus.CONFIRMED.value

    # Deleted with its customer_deleted event lost: orders still trusts what it saw ...
    database("customers").customers.delete_one({"_id": ObjectId(customer["id"])})
    assert cluster.orders.create_order(request)["status"] == OrderStatus.CONFIRMED.value

    def refused():
        try:
            cluster.orders.create_order(request)
        except UnknownCustomer:
            return True
        return False

    # ... for 2 s, well inside the default's 60 s.
    wait_until(refused, timeout=2 + 3, interval=0.25, message="orders to ask the customers service again")


@pytest.mark.parametrize("max_workers", [1, 3])
def test_a_service_runs_at_most_MAX_WORKERS_calls_at_once(start, cluster, monkeypatch, max_workers):
    start([ProductService], MAX_WORKERS=max_workers)
    product = cluster.product.create({"name": "Lamp", "price": "19.99", "stock": 5})
    original = ProductService.get
    in_flight, most_in_flight = [0], [0]

    def counted_get(self, *args, **kwargs):
        in_flight[0] += 1
        most_in_flight[0] = max(most_in_flight[0], in_flight[0])
        try:
            eventlet.sleep(0.3)
            return original(self, *args, **kwargs)
        finally:
            in_flight[0] -= 1

    monkeypatch.setattr(ProductService, "get", counted_get)

    replies = [cluster.product.get.call_async(product["id"]) for _ in range(2 * max_workers + 2)]
    assert all(reply.result()["id"] == product["id"] for reply in replies)
    assert most_in_flight[0] == max_workers


def test_an_event_that_keeps_failing_is_dead_lettered_after_EVENT_MAX_ATTEMPTS(start, monkeypatch, rabbit_config):
    attempts = []

    def broken(self, order_id, kind, items):
        attempts.append(order_id)
        raise RuntimeError("a bug in recording")

    monkeypatch.setattr(MovementStore, "record", broken)
    start([InventoryService], EVENT_MAX_ATTEMPTS=2)
    order = {"id": CUSTOMER_ID, "customer_id": CUSTOMER_ID, "status": "confirmed", "items": [],
             "created_at": "2024-05-01T12:00:00+00:00", "updated_at": "2024-05-01T12:00:00+00:00"}

    event_dispatcher(rabbit_config)(ORDERS_SERVICE, ORDER_CREATED, order)

    def dead_letters():
        with Connection(rabbit_config["AMQP_URI"]) as connection:
            return queue_depth(connection, dead_letter_queue_name("inventory"))

    wait_until(lambda: dead_letters() == 1, timeout=20, message="the event in inventory's dead-letter queue")
    assert attempts == [CUSTOMER_ID] * 2


@pytest.mark.parametrize("environment, shown", [
    ({"LOG_LEVEL": "WARNING", "LOG_FORMAT": "text"}, ["WARNING -.- [-] demo: a warning"]),
    ({}, [{"level": "INFO", "message": "some news"}, {"level": "WARNING", "message": "a warning"}]),
], ids=["set", "default"])
def test_LOG_LEVEL_and_LOG_FORMAT_shape_the_log(load_config, environment, shown):
    config = load_config(**environment)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        logging.config.dictConfig(config["LOGGING"])  # as `nameko run` applies it
        root.handlers[0].setStream(stream)
        logging.getLogger("demo").info("some news")
        logging.getLogger("demo").warning("a warning")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)

    lines = stream.getvalue().splitlines()
    if environment:
        # after the time (date and clock)
        assert [line.split(" ", 2)[2] for line in lines] == shown
    else:
        assert [{key: json.loads(line)[key] for key in ("level", "message")} for line in lines] == shown


def placed_order(cluster):
    customer = cluster.customers.create({"name": "Ada", "email": "ada@example.com"})
    product = cluster.product.create({"name": "Lamp", "price": "19.99", "stock": 5})
    return cluster.orders.create_order({"customer_id": customer["id"],
                                        "items": [{"product_id": product["id"], "quantity": 1}]})


FULFILMENT = (ProductService, CustomersService, OrdersService, InventoryService, ShippingService)


def test_SHIPPING_AUTO_DISPATCH_SECONDS_ships_and_delivers_by_itself(start, cluster):
    start(FULFILMENT, SHIPPING_AUTO_DISPATCH_SECONDS=1)
    order = placed_order(cluster)

    # Shipping's timer alone (every second) moves it: shipped after 1 s, delivered 1 s later.
    wait_until(lambda: cluster.orders.get_order(order["id"])["status"] == OrderStatus.DELIVERED.value,
               timeout=10, interval=0.2, message="the order to ship and arrive by itself")
    assert cluster.shipping.get_shipment(order["id"])["status"] == "delivered"


def test_without_SHIPPING_AUTO_DISPATCH_SECONDS_nothing_ships_by_itself(start, cluster, database):
    containers = start(FULFILMENT)
    order = placed_order(cluster)
    shipments = database("shipping").shipments
    wait_until(lambda: shipments.find_one({"_id": order["id"]}), timeout=10, interval=0.1,
               message="the shipment to open")
    shipments.update_one({"_id": order["id"]}, {"$set": {"updated_at": now() - LONG_AGO}})

    with entrypoint_hook(containers["shipping"], "auto_dispatch") as auto_dispatch:
        auto_dispatch()

    assert cluster.orders.get_order(order["id"])["status"] == OrderStatus.CONFIRMED.value
    assert cluster.shipping.get_shipment(order["id"])["status"] == "pending"


def read_one_response(connection):
    """One HTTP response's bytes from ``connection``, by its Content-Length."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += connection.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += connection.recv(65536)
    return head


@pytest.mark.parametrize("idle_timeout", [1, 2])
def test_the_gateway_closes_a_connection_idle_for_GATEWAY_IDLE_TIMEOUT(start, idle_timeout):
    port = free_port()
    start([GatewayService], GATEWAY_IDLE_TIMEOUT=str(idle_timeout), WEB_SERVER_ADDRESS=f"127.0.0.1:{port}")

    with socket.create_connection(("127.0.0.1", port), timeout=10) as silent, \
            socket.create_connection(("127.0.0.1", port), timeout=10) as kept_alive:
        opened = time.monotonic()
        kept_alive.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: shop\r\n\r\n")
        assert read_one_response(kept_alive).startswith(b"HTTP/1.1 200 ")
        answered = time.monotonic()

        # Each is closed by the server (the read ends) once idle that long, not before.
        assert silent.recv(1) == b""
        silent_for = time.monotonic() - opened
        assert kept_alive.recv(1) == b""
        kept_alive_for = time.monotonic() - answered

    assert idle_timeout - 0.2 < silent_for < idle_timeout + 1.5
    assert idle_timeout - 0.2 < kept_alive_for < idle_timeout + 1.5


API_KEY = "integration-key-1"


@pytest.fixture
def guarded_gateway(start):
    """The gateway (and the product service) with an API key asked for on reads too: its base URL."""
    port = free_port()
    start([GatewayService, ProductService], GATEWAY_API_KEYS=f"{API_KEY},integration-key-2",
          GATEWAY_AUTH_READS="true", WEB_SERVER_ADDRESS=f"127.0.0.1:{port}")
    return f"http://127.0.0.1:{port}"


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("method, path", [("GET", "/products"), ("HEAD", "/products"),
                                          ("GET", "/products/65f1c0ffee0000000000c0de")])
def test_with_GATEWAY_AUTH_READS_a_read_needs_one_of_the_GATEWAY_API_KEYS(guarded_gateway, method, path):
    url = guarded_gateway + path

    without = requests.request(method, url, timeout=10)
    wrong = requests.request(method, url, headers=bearer("integration-key-3"), timeout=10)
    right = requests.request(method, url, headers=bearer("integration-key-2"), timeout=10)

    assert (without.status_code, without.headers["WWW-Authenticate"]) == (401, 'Bearer realm="sales"')
    assert (wrong.status_code, wrong.headers["WWW-Authenticate"]) == (
        401, 'Bearer realm="sales", error="invalid_token"')
    if method == "GET":
        assert (without.json()["error"], wrong.json()["error"]) == ("UNAUTHORIZED", "INVALID_API_KEY")
    # with a key the request reaches the service: the list, or the product's own 404
    assert right.status_code == (200 if path == "/products" else 404)


def test_with_GATEWAY_AUTH_READS_a_write_still_needs_a_key_and_the_documentation_none(guarded_gateway):
    body = {"name": "Guarded lamp", "price": "1.00"}

    refused = requests.post(guarded_gateway + "/products", json=body, timeout=10)
    created = requests.post(guarded_gateway + "/products", json=body, headers=bearer(API_KEY), timeout=10)
    listed = requests.get(guarded_gateway + "/products", headers=bearer(API_KEY), timeout=10).json()

    assert (refused.status_code, refused.json()["error"]) == (401, "UNAUTHORIZED")
    assert created.status_code == 201
    assert [product["id"] for product in listed["items"]] == [created.json()["id"]]
    for path in ("/openapi.json", "/docs", "/docs/swagger-ui.css"):
        assert requests.get(guarded_gateway + path, timeout=10).status_code == 200, path
    # /health too: here 503 (only the product service runs), but not 401
    assert requests.get(guarded_gateway + "/health", timeout=10).status_code == 503


@pytest.mark.parametrize("environment, message", [
    ({"GATEWAY_API_KEYS": "key-1,,key-2"}, "GATEWAY_API_KEYS: key 2 of 3 is empty"),
    ({"GATEWAY_API_KEYS": " "}, "GATEWAY_API_KEYS: key 1 of 1 is empty"),
    ({"GATEWAY_API_KEYS": "key 1"}, "GATEWAY_API_KEYS: key 1 of 1 is not a Bearer token"),
    ({"GATEWAY_API_KEYS": "key-1", "GATEWAY_AUTH_READS": "maybe"}, "GATEWAY_AUTH_READS must be true or false"),
    ({"GATEWAY_AUTH_READS": "true"}, "GATEWAY_AUTH_READS is true but GATEWAY_API_KEYS names no key"),
])
def test_the_gateway_does_not_start_with_malformed_api_key_settings(start, environment, message):
    with pytest.raises(SettingError) as refused:
        start([GatewayService], WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}", **environment)

    assert message in str(refused.value)
    assert "key-1" not in str(refused.value)  # never the keys themselves
