"""The product service in a real container, over real RPC, on a real database."""
import subprocess
from decimal import Decimal

import pytest
from bson import Decimal128
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook

from common.errors import InsufficientStock, ProductNotFound, ServiceUnavailable, ValidationFailed
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


def test_stock_moves_over_rpc_by_adjustments_only(product_rpc):
    product = product_rpc.create({"name": "Lamp", "price": "1.00", "stock": 3})

    assert product_rpc.adjust_stock(product["id"], {"change": 4})["stock"] == 7
    assert product_rpc.adjust_stock(product["id"], {"change": -2})["stock"] == 5
    assert product_rpc.update(product["id"], {"name": "Lamp", "price": "1.00", "stock": 0})["stock"] == 5
    assert product_rpc.update(product["id"], {"name": "Desk", "stock": 50}, partial=True)["stock"] == 5
    with pytest.raises(ValidationFailed):
        product_rpc.update(product["id"], {"stock": 50}, partial=True)
    assert product_rpc.get(product["id"])["stock"] == 5


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
