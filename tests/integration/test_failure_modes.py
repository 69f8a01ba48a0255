"""Failure modes a reviewer found, on real RabbitMQ and database: each guarantee shown concretely."""
import time

import eventlet
import pytest
import requests
from nameko.rpc import ReplyListener
from nameko.standalone.rpc import ClusterRpcProxy, ServiceRpcProxy
from nameko.testing.services import entrypoint_hook

from common.errors import InsufficientStock, PreconditionFailed, ServiceUnavailable, ValidationFailed
from common.rpc import RpcClient, rpc
from customers.service import CustomersService
from gateway.service import GatewayService
from orders.service import OrdersService
from product.service import ProductService
from support import free_port, wait_until


class Caller:
    name = "caller"
    nowhere = RpcClient("nowhere")

    @rpc
    def call(self):
        try:
            self.nowhere.ping()
        except ServiceUnavailable:
            return "unavailable"


def test_calls_to_an_unknown_service_leave_nothing_behind(container_factory, rabbit_config):
    container = container_factory(Caller, {**rabbit_config, "RPC_TIMEOUT": 1})
    container.start()
    for _ in range(5):
        with entrypoint_hook(container, "call") as call:
            assert call() == "unavailable"
    (listener,) = [ext for ext in container.extensions if isinstance(ext, ReplyListener)]
    assert len(listener._reply_events) == 0


def test_an_echoed_product_update_cannot_undo_reservations(start_services, service_config):
    start_services(ProductService, CustomersService, OrdersService)
    with ClusterRpcProxy(service_config) as cluster:
        customer = cluster.customers.create({"name": "Ada", "email": "ada@example.com"})
        lamp = cluster.product.create({"name": "Lamp", "price": "1.00", "stock": 10})
        seen = cluster.product.get(lamp["id"])  # a back-office client reads the product ...

        def order(quantity):
            return cluster.orders.create_order(
                {"customer_id": customer["id"], "items": [{"product_id": lamp["id"], "quantity": quantity}]})

        assert order(3)["status"] == "confirmed"  # ... an order takes 3 meanwhile ...
        # ... it saves its edit: echoed whole, the read-only fields are refused; its editable
        # fields (the stock read among them), guarded by the version read, are refused too
        with pytest.raises(ValidationFailed) as echoed:
            cluster.product.update(lamp["id"], {**seen, "description": "brighter"})
        assert set(echoed.value.details) == {"created_at", "updated_at", "version"}
        edit = {key: seen[key] for key in ("name", "price", "stock")}
        with pytest.raises(PreconditionFailed):
            cluster.product.update(lamp["id"], {**edit, "description": "brighter"}, if_version=seen["version"])
        with pytest.raises(InsufficientStock):
            order(10)
        assert cluster.product.get(lamp["id"])["stock"] == 7


def test_a_503_for_post_orders_means_no_order_was_placed(start_services, database, monkeypatch):
    address = f"127.0.0.1:{free_port()}"
    # One 2 s budget per HTTP request, shared by every call it causes.
    start_services(ProductService, CustomersService, GatewayService, RPC_TIMEOUT=2, WEB_SERVER_ADDRESS=address)
    start_services(OrdersService, RPC_TIMEOUT=2, max_workers=1)  # orders busy: one request at a time
    api = f"http://{address}"
    customer = requests.post(f"{api}/customers", json={"name": "Ada", "email": "ada@example.com"}).json()
    lamp = requests.post(f"{api}/products", json={"name": "Lamp", "price": "1.00", "stock": 10}).json()

    # The first order's hops (customer check, reserve) fit its budget together;
    # the second (its customer now known: only the reserve) spends most of its
    # budget waiting for the busy orders worker, and the reserve overruns it.
    started = []
    for cls, method, pause in ((CustomersService, "get", 0.3), (ProductService, "reserve_stock", 0.8)):
        original = getattr(cls, method)

        def slow(self, *args, __original=original, __method=method, __pause=pause, **kwargs):
            started.append(__method)
            eventlet.sleep(__pause)
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, slow)

    def orders_total(status):
        # Read from the database: the one busy orders worker cannot answer a list meanwhile.
        return database("orders").orders.count_documents({"status": status})

    body = {"customer_id": customer["id"], "items": [{"product_id": lamp["id"], "quantity": 1}]}
    first = eventlet.spawn(requests.post, f"{api}/orders", json=body, timeout=20)
    wait_until(lambda: started, timeout=5, message="the first order to be in progress")
    second = requests.post(f"{api}/orders", json=body, timeout=20)
    assert first.wait().status_code == 201
    assert second.status_code == 503  # the client is told it failed ...

    # ... so once orders has finished with it, exactly one order is confirmed.
    wait_until(lambda: orders_total("pending") == 0, timeout=10, message="orders to settle the second order")
    assert orders_total("confirmed") == 1
    assert requests.get(f"{api}/products/{lamp['id']}").json()["stock"] == 9
    assert started.count("get") == 1  # the second order's customer was known: no customers.get


def test_stock_taken_by_a_reserve_that_outlived_its_deadline_is_released_promptly(
        start_services, service_config, monkeypatch, database):
    # The sweeper is kept out of the way: this is about the in-line release.
    start_services(CustomersService, OrdersService, SWEEP_RETRY_AFTER=600)
    start_services(ProductService, max_workers=1)  # product busy: one request at a time
    with ServiceRpcProxy("customers", service_config) as customers, \
            ServiceRpcProxy("product", service_config) as product:
        customer = customers.create({"name": "Ada", "email": "ada@example.com"})
        lamp = product.create({"name": "Lamp", "price": "1.00", "stock": 10})

    original = ProductService.reserve_stock

    def slow_reserve(self, *args, **kwargs):
        eventlet.sleep(2)  # busy: answers after the caller's deadline
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ProductService, "reserve_stock", slow_reserve)

    deadline = time.time() + 1.5  # as the gateway would send it
    with ServiceRpcProxy("orders", service_config, context_data={"deadline": deadline}) as orders:
        with pytest.raises(ServiceUnavailable):
            orders.create_order(
                {"customer_id": customer["id"], "items": [{"product_id": lamp["id"], "quantity": 1}]})

    (order,) = database("orders").orders.find({})
    assert order["status"] == "rejected"
    # The slow reserve lands after the give-up; its stock comes back at once
    # (the release did not inherit the passed deadline), not at the next sweep.
    wait_until(lambda: database("product").reservations.find_one({"state": "released"}), timeout=5,
               message="the release to run after the late reserve")
    wait_until(lambda: database("product").products.find_one({})["stock"] == 10, timeout=5,
               message="the rejected order's stock to come back")
