"""The product service in a real container, over real RPC, on a real database."""
import subprocess
from decimal import Decimal

import eventlet
import pytest
from bson import Decimal128, ObjectId
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook

from common.errors import (
    InsufficientStock,
    PreconditionFailed,
    ProductNotFound,
    ServiceUnavailable,
    ValidationFailed,
)
from support import BIN, mongo_answers, free_port, wait_until
from product.service import ProductService


@pytest.fixture
def product_container(start_services):
    return start_services(ProductService)["product"]


@pytest.fixture
def product_rpc(product_container, service_config):
    with ServiceRpcProxy("product", service_config) as proxy:
        yield proxy


def test_create_then_get_round_trips_exact_money(product_rpc, database):
    created = product_rpc.create({"name": "Lamp", "price": 19.99, "stock": 3})

    assert created["price"] == "19.99"
    assert product_rpc.get(created["id"]) == created
    stored = database("product").products.find_one()
    assert stored["price"] == Decimal128(Decimal("19.99"))


def test_errors_arrive_over_rpc_as_the_same_classes(product_rpc):
    with pytest.raises(ProductNotFound) as missing:
        product_rpc.get("5f0000000000000000000000")
    assert missing.value.details == {"id": "5f0000000000000000000000"}

    with pytest.raises(ValidationFailed) as invalid:
        product_rpc.create({"name": "", "price": "abc", "stock": -1})
    assert set(invalid.value.details) == {"name", "price", "stock"}


def test_stock_moves_over_rpc_by_adjustments_and_is_set_by_updates(product_rpc):
    product = product_rpc.create({"name": "Lamp", "price": "1.00", "stock": 3})

    assert product_rpc.adjust_stock(product["id"], {"change": 4})["stock"] == 7
    assert product_rpc.adjust_stock(product["id"], {"change": -2})["stock"] == 5
    assert product_rpc.update(product["id"], {"name": "Lamp", "price": "1.00"})["stock"] == 5  # omitted: kept
    assert product_rpc.update(product["id"], {"name": "Lamp", "price": "1.00", "stock": 0})["stock"] == 0
    assert product_rpc.update(product["id"], {"stock": 50}, partial=True)["stock"] == 50
    with pytest.raises(ValidationFailed) as refused:
        product_rpc.update(product["id"], {"stock": 1_000_000_001}, partial=True)
    assert set(refused.value.details) == {"stock"}
    assert product_rpc.get(product["id"])["stock"] == 50


def test_adjustment_refusals_arrive_over_rpc_with_their_details(product_rpc):
    product = product_rpc.create({"name": "Lamp", "price": "1.00", "stock": 3})

    with pytest.raises(InsufficientStock) as short:
        product_rpc.adjust_stock(product["id"], {"change": -4})
    assert short.value.details == {"products": [{"product_id": product["id"], "requested": 4, "available": 3}]}
    with pytest.raises(ProductNotFound):
        product_rpc.adjust_stock("5f0000000000000000000000", {"change": 1})
    with pytest.raises(ValidationFailed) as invalid:
        product_rpc.adjust_stock(product["id"], {"change": 0})
    assert set(invalid.value.details) == {"change"}
    assert product_rpc.get(product["id"])["stock"] == 3


def test_entrypoint_hook_lists_with_paging(product_container):
    with entrypoint_hook(product_container, "create") as create:
        for index in range(3):
            create({"name": f"Item {index}", "price": index})
    with entrypoint_hook(product_container, "list") as list_products:
        page = list_products(page="2", page_size="2", sort="name")
    assert page["total"] == 3
    assert [item["name"] for item in page["items"]] == ["Item 2"]


def test_a_database_outage_is_a_service_unavailable_error(start_services, service_config, tmp_path):
    # A database of this test's own, so it can be stopped.
    port = free_port()
    database = subprocess.Popen(
        [str(BIN / "secantusd-py"), "--standalone", "--host", "127.0.0.1", "--port", str(port),
         "--storage-path", ":memory:"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=500"
        wait_until(lambda: mongo_answers(url), timeout=30, message="a private SecantusDB")
        start_services(ProductService, MONGODB_CONNECTION_URL=url)
        with ServiceRpcProxy("product", service_config) as product:
            created = product.create({"name": "Lamp", "price": "1.00"})
            database.terminate()
            database.wait(30)

            with pytest.raises(ServiceUnavailable, match="product database"):
                product.get(created["id"])
            with pytest.raises(ServiceUnavailable):
                product.ping()
    finally:
        database.kill()
        database.wait()


# versions over RPC


def test_a_reservation_and_its_release_each_move_the_version_of_every_product_they_touch(product_rpc):
    lamp = product_rpc.create({"name": "Lamp", "price": "1.00", "stock": 5})
    desk = product_rpc.create({"name": "Desk", "price": "9.00", "stock": 5})
    order_id = str(ObjectId())

    product_rpc.reserve_stock(order_id, [{"product_id": lamp["id"], "quantity": 2},
                                         {"product_id": desk["id"], "quantity": 1}])
    reserved = [product_rpc.get(p["id"]) for p in (lamp, desk)]
    product_rpc.release_stock(order_id)
    released = [product_rpc.get(p["id"]) for p in (lamp, desk)]

    assert [(p["stock"], p["version"]) for p in reserved] == [(3, 2), (4, 2)]
    assert [(p["stock"], p["version"]) for p in released] == [(5, 3), (5, 3)]
    assert all("reservations" not in p for p in reserved + released)
    product_rpc.release_stock(order_id)  # again: nothing to give back, no new version
    assert product_rpc.get(lamp["id"])["version"] == 3


def test_a_write_guarded_by_a_version_an_order_moved_on_is_refused_and_changes_nothing(product_rpc):
    lamp = product_rpc.create({"name": "Lamp", "price": "1.00", "stock": 5})
    read = product_rpc.get(lamp["id"])
    product_rpc.reserve_stock(str(ObjectId()), [{"product_id": lamp["id"], "quantity": 2}])
    after_the_order = product_rpc.get(lamp["id"])

    for write in (lambda: product_rpc.update(lamp["id"], {"stock": read["stock"]}, partial=True,
                                             if_version=read["version"]),
                  lambda: product_rpc.update(lamp["id"], {"name": "Lamp", "price": "1.00", "stock": 5},
                                             if_version=[read["version"]]),
                  lambda: product_rpc.adjust_stock(lamp["id"], {"change": 1}, if_version=read["version"]),
                  lambda: product_rpc.delete(lamp["id"], if_version=read["version"])):
        with pytest.raises(PreconditionFailed) as refused:
            write()
        assert refused.value.details == {"id": lamp["id"], "version": 2, "expected": [1]}

    assert product_rpc.get(lamp["id"]) == after_the_order
    assert after_the_order["stock"] == 3  # the order's 2 units were not undone
    assert product_rpc.update(lamp["id"], {"stock": 10}, partial=True, if_version=2)["version"] == 3
    with pytest.raises(ProductNotFound):
        product_rpc.delete("5f0000000000000000000000", if_version=1)
    with pytest.raises(ValidationFailed) as invalid:
        product_rpc.delete(lamp["id"], if_version="3")
    assert set(invalid.value.details) == {"if_version"}


def test_of_two_concurrent_read_modify_writes_at_one_version_one_applies_and_the_other_is_refused(
        product_rpc, service_config):
    lamp = product_rpc.create({"name": "Lamp", "price": "1.00", "stock": 10})
    read = product_rpc.get(lamp["id"])

    def write_back(stock):
        # A proxy each: two writes in flight at once, over real RPC.
        with ServiceRpcProxy("product", service_config) as proxy:
            try:
                return proxy.update(lamp["id"], {"stock": stock}, partial=True, if_version=read["version"])
            except PreconditionFailed as refused:
                return refused

    outcomes = list(eventlet.GreenPool(2).imap(write_back, [7, 8]))

    applied = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if isinstance(o, PreconditionFailed)]
    assert (len(applied), len(refused)) == (1, 1), outcomes
    assert applied[0]["version"] == read["version"] + 1
    assert refused[0].details["version"] == read["version"] + 1
    assert product_rpc.get(lamp["id"]) == applied[0]
