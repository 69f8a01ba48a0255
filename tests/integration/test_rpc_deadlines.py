"""Deadlines travel with RPC calls (common/rpc.py), over the real broker."""
import time

import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from common.errors import ServiceUnavailable
from common.rpc import CallDeadline, RpcClient, rpc
from customers.service import CustomersService
from inventory.service import InventoryService
from orders.service import OrdersService
from product.service import ProductService
from shipping.service import ShippingService


class Callee:
    name = "callee"
    deadline = CallDeadline()

    @rpc
    def deadline_seen(self):
        return self.deadline

    @rpc
    def slow(self, seconds):
        time.sleep(seconds)
        return "done"


class Middle:
    name = "middle"
    callee = RpcClient("callee")
    deadline = CallDeadline()

    @rpc
    def relay(self):
        return {"mine": self.deadline, "callee": self.callee.deadline_seen()}


class Front:
    name = "front"
    middle = RpcClient("middle")
    callee = RpcClient("callee")

    @rpc
    def start(self):
        return self.middle.relay()

    @rpc
    def wait_for_slow(self, seconds):
        return self.callee.slow(seconds)


@pytest.fixture
def front(container_factory, rabbit_config):
    config = {**rabbit_config, "RPC_TIMEOUT": 2}
    for service in (Callee, Middle, Front):
        container_factory(service, config).start()
    with ServiceRpcProxy("front", rabbit_config) as proxy:
        yield proxy


def test_a_call_carries_its_deadline_and_nested_calls_keep_the_earlier_one(front):
    started = time.time()

    seen = front.start()

    assert started + 2 - 0.5 < seen["mine"] <= time.time() + 2
    # The middle service's own call would allow 2 s from later on; its
    # caller's deadline comes first, so that is the one passed on.
    assert seen["callee"] == seen["mine"]


def test_a_call_past_its_deadline_is_unavailable_quickly(front):
    started = time.monotonic()

    with pytest.raises(ServiceUnavailable):
        front.wait_for_slow(6)

    # The 2 s deadline, not the 6 s answer (a wide margin: test machines are noisy).
    assert time.monotonic() - started < 4.5


RPC_SERVICES = (ProductService, CustomersService, OrdersService, InventoryService, ShippingService)


def test_every_service_refuses_a_call_whose_caller_stopped_waiting(start_services, service_config):
    # A message a busy service took in but only gets to after its deadline:
    # sent here without the broker-side expiry, which would drop it earlier.
    start_services(*RPC_SERVICES)
    for service in RPC_SERVICES:
        with ServiceRpcProxy(service.name, service_config,
                             context_data={"deadline": time.time() - 0.1}) as late:
            with pytest.raises(ServiceUnavailable):
                late.ping()
        with ServiceRpcProxy(service.name, service_config,
                             context_data={"deadline": time.time() + 5}) as in_time:
            assert in_time.ping() == "ok"


def test_a_write_that_comes_too_late_is_not_made(start_services, service_config, database):
    start_services(ProductService, CustomersService)
    late = {"deadline": time.time() - 0.1}
    with ServiceRpcProxy("product", service_config, context_data=late) as product, \
            ServiceRpcProxy("customers", service_config, context_data=late) as customers:
        with pytest.raises(ServiceUnavailable):
            product.create({"name": "Lamp", "price": "1.00", "stock": 1})
        with pytest.raises(ServiceUnavailable):
            customers.create({"name": "Ada", "email": "ada@example.com"})

    assert database("product").products.count_documents({}) == 0
    assert database("customers").customers.count_documents({}) == 0
