"""The REST contract of the gateway, route by route, over real HTTP, RabbitMQ and database."""
import logging
import os
import resource
import socket
import time

import eventlet
import pytest
import requests
from nameko.standalone.events import event_dispatcher

from common.order_events import ORDER_CANCELLED, ORDERS_SERVICE
from support import free_port, wait_until
from customers.service import CustomersService
from gateway.service import GatewayService
from inventory.service import InventoryService
from orders.service import OrdersService
from product.service import ProductService
from shipping.service import ShippingService
from product.storage import ProductStore

MISSING_ID = "5f0000000000000000000000"
# Every service the gateway's health check asks, by name.
BACKENDS = {cls.name: cls for cls in (ProductService, CustomersService, OrdersService,
                                      InventoryService, ShippingService)}
JSON_HEADERS = {"Content-Type": "application/json"}
NO_DEAD_LETTERS = {"inventory": 0, "product": 0, "shipping": 0}


class Api:
    """A tiny HTTP client: every response must be JSON, unless it is a 204."""

    def __init__(self, base_url):
        self.base_url = base_url

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", 20)
        response = requests.request(method, self.base_url + path, **kwargs)
        if response.status_code == 204:
            assert response.content == b""
        else:
            content_type = response.headers.get("Content-Type", "")
            assert content_type.startswith("application/json"), (
                f"{method} {path} -> {response.status_code} {content_type}: {response.text[:200]}"
            )
            response.json()  # the body parses
        return response

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.request("POST", path, **_body(body, kwargs))

    def put(self, path, body=None, **kwargs):
        return self.request("PUT", path, **_body(body, kwargs))

    def patch(self, path, body=None, **kwargs):
        return self.request("PATCH", path, **_body(body, kwargs))

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)


def _body(body, kwargs):
    if body is not None:
        kwargs["json"] = body
    return kwargs


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "details"}, body
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], dict)
    return body


@pytest.fixture
def port():
    return free_port()


@pytest.fixture
def start_stack(start_services, port):
    """Start the gateway with the given backing services, listening on ``port``."""

    def start(*service_classes, **overrides):
        return start_services(
            GatewayService, *service_classes, WEB_SERVER_ADDRESS=f"127.0.0.1:{port}", **overrides
        )

    return start


@pytest.fixture
def api(start_stack, port):
    start_stack(ProductService, CustomersService)
    return Api(f"http://127.0.0.1:{port}")


@pytest.fixture
def stored(database):
    """``stored("product")``: every stored document of a service, in id order."""
    collections = {"product": "products", "customers": "customers"}
    return lambda service: list(database(service)[collections[service]].find().sort("_id", 1))


def new_product(api, **fields):
    body = {"name": "Lamp", "price": "19.99", **fields}
    response = api.post("/products", body)
    assert response.status_code == 201, response.text
    return response.json()


def new_customer(api, **fields):
    body = {"name": "Ada", "email": "ada@example.com", **fields}
    response = api.post("/customers", body)
    assert response.status_code == 201, response.text
    return response.json()


# ---------------------------------------------------------------- products


def test_create_product_is_201_with_location_and_the_document(api, stored):
    response = api.post("/products", {"name": "Lamp", "price": 19.99, "description": "Warm", "stock": 3})

    assert response.status_code == 201
    product = response.json()
    assert response.headers["Location"] == f"/products/{product['id']}"
    assert {k: product[k] for k in ("name", "price", "description", "stock")} == {
        "name": "Lamp", "price": "19.99", "description": "Warm", "stock": 3,
    }
    assert product["created_at"] == product["updated_at"]
    assert "reservations" not in product
    assert [str(doc["_id"]) for doc in stored("product")] == [product["id"]]


def test_create_product_applies_defaults(api):
    product = new_product(api, name="Bare", price=5)

    assert (product["price"], product["description"], product["stock"]) == ("5.00", "", 0)


def test_get_product_returns_what_create_returned(api):
    product = new_product(api)

    response = api.get(f"/products/{product['id']}")

    assert response.status_code == 200
    assert response.json() == product


@pytest.mark.parametrize("product_id", [MISSING_ID, "abc"])
def test_unknown_or_non_id_product_is_404_on_every_method(api, stored, product_id):
    new_product(api)
    before = stored("product")

    for response in (
        api.get(f"/products/{product_id}"),
        api.put(f"/products/{product_id}", {"name": "X", "price": 1}),
        api.patch(f"/products/{product_id}", {"name": "X"}),
        api.post(f"/products/{product_id}/stock-adjustments", {"change": 1}),
        api.post(f"/products/{product_id}/stock-adjustments", {"change": -1}),
        api.delete(f"/products/{product_id}"),
    ):
        body = assert_error(response, 404, "PRODUCT_NOT_FOUND")
        assert body["details"] == {"id": product_id}
    assert stored("product") == before


def test_delete_product_is_204_then_404(api, stored):
    product = new_product(api)
    other = new_product(api, name="Chair")

    response = api.delete(f"/products/{product['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert_error(api.get(f"/products/{product['id']}"), 404, "PRODUCT_NOT_FOUND")
    assert_error(api.delete(f"/products/{product['id']}"), 404, "PRODUCT_NOT_FOUND")
    assert [str(doc["_id"]) for doc in stored("product")] == [other["id"]]


def test_put_replaces_editable_fields_and_defaults_the_omitted_but_keeps_the_stock(api):
    product = new_product(api, description="Warm", stock=7)

    response = api.put(f"/products/{product['id']}", {"name": "Desk Lamp", "price": "25"})

    assert response.status_code == 200
    replaced = response.json()
    # stock is not an editable field: an omitted stock is not reset to its default
    assert (replaced["name"], replaced["price"], replaced["description"], replaced["stock"]) == (
        "Desk Lamp", "25.00", "", 7,
    )
    assert replaced["id"] == product["id"]
    assert replaced["created_at"] == product["created_at"]
    assert api.get(f"/products/{product['id']}").json() == replaced


def test_put_without_a_required_field_is_400_and_changes_nothing(api, stored):
    product = new_product(api, description="Warm")
    before = stored("product")

    body = assert_error(api.put(f"/products/{product['id']}", {"name": "No Price"}), 400, "VALIDATION_FAILED")

    assert set(body["details"]) == {"price"}
    assert stored("product") == before
    assert api.get(f"/products/{product['id']}").json() == product


def test_patch_changes_only_the_fields_sent(api):
    product = new_product(api, description="Warm", stock=7)

    response = api.patch(f"/products/{product['id']}", {"price": "2"})

    assert response.status_code == 200
    patched = response.json()
    assert patched == {**product, "price": "2.00", "updated_at": patched["updated_at"], "version": 2}
    assert patched["updated_at"] >= product["updated_at"]
    assert api.get(f"/products/{product['id']}").json() == patched


@pytest.mark.parametrize("stock", [0, 2, 1_000_000_000])
def test_put_and_patch_set_a_stock_in_the_body(api, stored, stock):
    product = new_product(api, stock=7)
    path = f"/products/{product['id']}"

    replaced = api.put(path, {"name": "Desk", "price": "5", "stock": stock})
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["name"], replaced.json()["stock"]) == ("Desk", stock)
    assert stored("product")[0]["stock"] == stock
    patched = api.patch(path, {"stock": 7})  # the stock alone is an update
    assert patched.status_code == 200, patched.text
    assert (patched.json()["stock"], stored("product")[0]["stock"]) == (7, 7)
    assert api.get(path).json() == patched.json()


@pytest.mark.parametrize("stock", [-1, 1_000_000_001, 1.5, "3", None, True])
def test_an_invalid_stock_in_put_or_patch_is_400_naming_it_and_changes_nothing(api, stored, stock):
    product = new_product(api, stock=7)
    before = stored("product")

    for response in (api.put(f"/products/{product['id']}", {"name": "Desk", "price": "5", "stock": stock}),
                     api.patch(f"/products/{product['id']}", {"stock": stock})):
        body = assert_error(response, 400, "VALIDATION_FAILED")
        assert set(body["details"]) == {"stock"}
    assert stored("product") == before


@pytest.mark.parametrize("field, value", [
    ("id", MISSING_ID), ("created_at", "2000-01-01T00:00:00+00:00"),
    ("updated_at", "2000-01-01T00:00:00+00:00"), ("version", 1),
])
def test_a_read_only_field_in_a_body_is_400_naming_it_and_changes_nothing(api, stored, field, value):
    product = new_product(api)
    before = stored("product")

    for response in (api.post("/products", {"name": "Lamp", "price": 1, field: value}),
                     api.put(f"/products/{product['id']}", {"name": "Lamp", "price": 1, field: value}),
                     api.patch(f"/products/{product['id']}", {"description": "Again", field: value})):
        body = assert_error(response, 400, "VALIDATION_FAILED")
        assert set(body["details"]) == {field}, body
    assert stored("product") == before


def test_an_update_may_carry_the_products_own_id(api):
    product = new_product(api)
    path = f"/products/{product['id']}"

    assert api.put(path, {"id": product["id"], "name": "Desk", "price": 1}).json()["name"] == "Desk"
    assert api.patch(path, {"id": product["id"].upper(), "description": "Oak"}).json()["description"] == "Oak"


def test_unknown_fields_are_400_naming_the_field_and_change_nothing(api, stored):
    product = new_product(api)
    before = stored("product")

    for response in (
        api.post("/products", {"name": "Lamp", "price": 1, "colour": "red"}),
        api.put(f"/products/{product['id']}", {"name": "Lamp", "price": 1, "colour": "red"}),
        api.patch(f"/products/{product['id']}", {"colour": "red"}),
    ):
        body = assert_error(response, 400, "VALIDATION_FAILED")
        assert set(body["details"]) == {"colour"}
    assert stored("product") == before


def test_validation_errors_carry_marshmallow_field_messages(api, stored):
    body = assert_error(
        api.post("/products", {"name": "", "price": "12.345", "stock": -1}), 400, "VALIDATION_FAILED"
    )

    assert set(body["details"]) == {"name", "price", "stock"}
    assert all(isinstance(messages, list) and messages for messages in body["details"].values())
    assert body["details"]["price"] == ["At most 2 decimal places."]
    assert stored("product") == []


@pytest.mark.parametrize("bad", [
    {"price": "abc"}, {"price": -1}, {"price": True},
    {"name": "   "}, {"name": None}, {"price": None},
])
def test_invalid_values_are_rejected_everywhere(api, stored, bad):
    product = new_product(api)
    before = stored("product")

    for response in (
        api.post("/products", {"name": "Lamp", "price": 1, **bad}),
        api.put(f"/products/{product['id']}", {"name": "Lamp", "price": 1, **bad}),
        api.patch(f"/products/{product['id']}", bad),
    ):
        body = assert_error(response, 400, "VALIDATION_FAILED")
        assert set(body["details"]) == set(bad)
    assert stored("product") == before


@pytest.mark.parametrize("stock", [1.5, "3", -1, True, None, 1_000_000_001])
def test_an_invalid_stock_is_rejected_at_creation_only(api, stored, stock):
    body = assert_error(api.post("/products", {"name": "Lamp", "price": 1, "stock": stock}), 400, "VALIDATION_FAILED")
    assert set(body["details"]) == {"stock"}
    assert stored("product") == []


def test_operator_objects_in_fields_are_rejected(api, stored):
    product = new_product(api)
    before = stored("product")

    for response in (
        api.post("/products", {"name": {"$gt": ""}, "price": 1}),
        api.put(f"/products/{product['id']}", {"name": {"$gt": ""}, "price": 1}),
        api.patch(f"/products/{product['id']}", {"name": {"$gt": ""}}),
        api.patch(f"/products/{product['id']}", {"price": {"$inc": 1}}),
    ):
        body = assert_error(response, 400, "VALIDATION_FAILED")
        assert body["details"]
    assert stored("product") == before


@pytest.mark.parametrize("raw", ["{not json", "", "[1, 2]", '"text"', "null", '{"price": NaN}'])
def test_malformed_or_non_object_bodies_are_400_and_change_nothing(api, stored, raw):
    product = new_product(api)
    before = stored("product")

    for method, path in (("POST", "/products"), ("PUT", f"/products/{product['id']}"),
                         ("PATCH", f"/products/{product['id']}"),
                         ("POST", f"/products/{product['id']}/stock-adjustments")):
        response = api.request(method, path, data=raw, headers=JSON_HEADERS)
        assert_error(response, 400, "BAD_REQUEST")
    assert stored("product") == before


def test_empty_patch_is_400(api, stored):
    product = new_product(api)
    before = stored("product")

    assert_error(api.patch(f"/products/{product['id']}", {}), 400, "VALIDATION_FAILED")
    assert stored("product") == before


# ---------------------------------------------------------------- stock adjustments


def adjust(api, product, change):
    return api.post(f"/products/{product['id']}/stock-adjustments", {"change": change})


def test_adding_stock_is_200_with_the_product(api, stored):
    product = new_product(api, description="Warm", stock=3)

    response = adjust(api, product, 5)

    assert response.status_code == 200, response.text
    adjusted = response.json()
    assert adjusted == {**product, "stock": 8, "updated_at": adjusted["updated_at"], "version": 2}
    assert adjusted["updated_at"] >= product["updated_at"]
    assert api.get(f"/products/{product['id']}").json() == adjusted
    assert stored("product")[0]["stock"] == 8


def test_removing_stock_is_200_and_may_reach_zero(api):
    product = new_product(api, stock=10)

    assert adjust(api, product, -4).json()["stock"] == 6
    assert adjust(api, product, -6).json()["stock"] == 0
    assert api.get(f"/products/{product['id']}").json()["stock"] == 0


def test_removing_below_zero_is_409_and_changes_nothing(api, stored):
    product = new_product(api, stock=3)
    before = stored("product")

    body = assert_error(adjust(api, product, -4), 409, "INSUFFICIENT_STOCK")

    assert body["details"] == {"products": [{"product_id": product["id"], "requested": 4, "available": 3}]}
    assert stored("product") == before
    assert api.get(f"/products/{product['id']}").json() == product


def test_only_the_adjusted_product_changes(api):
    lamp, desk = new_product(api, stock=5), new_product(api, name="Desk", stock=5)

    adjust(api, lamp, 2)

    assert [api.get(f"/products/{p['id']}").json()["stock"] for p in (lamp, desk)] == [7, 5]


@pytest.mark.parametrize("body, fields", [
    ({"change": 0}, {"change"}),
    ({"change": 1.5}, {"change"}),
    ({"change": 2.0}, {"change"}),
    ({"change": "5"}, {"change"}),
    ({"change": True}, {"change"}),
    ({"change": None}, {"change"}),
    ({"change": [1]}, {"change"}),
    ({"change": {"$inc": 1}}, {"change"}),
    ({"change": 1_000_000_001}, {"change"}),
    ({"change": -1_000_000_001}, {"change"}),
    ({}, {"change"}),
    ({"change": 1, "reason": "recount"}, {"reason"}),
    ({"stock": 9}, {"stock", "change"}),
])
def test_an_invalid_adjustment_is_400_naming_the_field_and_changes_nothing(api, stored, body, fields):
    product = new_product(api, stock=3)
    before = stored("product")

    error = assert_error(
        api.post(f"/products/{product['id']}/stock-adjustments", body), 400, "VALIDATION_FAILED"
    )

    assert set(error["details"]) == fields
    assert stored("product") == before


def test_the_largest_changes_are_accepted(api):
    product = new_product(api, stock=0)

    assert adjust(api, product, 1_000_000_000).json()["stock"] == 1_000_000_000
    assert adjust(api, product, -1_000_000_000).json()["stock"] == 0


def test_adding_beyond_the_maximum_stock_is_409_and_changes_nothing(api, stored):
    product = new_product(api, stock=999_999_998)
    before = stored("product")

    body = assert_error(adjust(api, product, 3), 409, "STOCK_LIMIT_EXCEEDED")

    assert body["details"] == {"product_id": product["id"], "change": 3, "available": 999_999_998,
                               "maximum": 1_000_000_000}
    assert stored("product") == before
    assert adjust(api, product, 2).json()["stock"] == 1_000_000_000  # up to the maximum is fine


@pytest.fixture
def order_api(start_stack, port):
    start_stack(ProductService, CustomersService, OrdersService)
    return Api(f"http://127.0.0.1:{port}")


def place_order(api, customer, product, quantity):
    response = api.post("/orders", {"customer_id": customer["id"],
                                    "items": [{"product_id": product["id"], "quantity": quantity}]})
    assert response.status_code == 201, response.text
    return response.json()


def test_an_adjustment_and_an_order_reservation_both_apply(order_api):
    api = order_api
    customer = new_customer(api)
    product = new_product(api, stock=10)

    place_order(api, customer, product, 3)
    assert adjust(api, product, 5).json()["stock"] == 12
    assert api.get(f"/products/{product['id']}").json()["stock"] == 12


def test_concurrent_orders_and_adjustments_all_apply(order_api):
    """Orders of 1 and adjustments of +5 and -2 at the same time: every one of them counts."""
    api = order_api
    customer = new_customer(api)
    product = new_product(api, stock=10)

    def act(index):
        kind = ("order", "add", "remove")[index % 3]
        if kind == "order":
            return kind, place_order(api, customer, product, 1)["status"]
        return kind, adjust(api, product, 5 if kind == "add" else -2).status_code

    outcomes = list(eventlet.GreenPool(12).imap(act, range(12)))

    assert sorted(outcomes) == sorted([("order", "confirmed")] * 4 + [("add", 200)] * 4 + [("remove", 200)] * 4)
    assert api.get(f"/products/{product['id']}").json()["stock"] == 10 - 4 + 20 - 8


def test_cancelling_an_order_returns_its_stock_on_top_of_adjustments(order_api):
    api = order_api
    customer = new_customer(api)
    product = new_product(api, stock=10)
    order = place_order(api, customer, product, 3)

    adjust(api, product, -7)
    assert_error(adjust(api, product, -1), 409, "INSUFFICIENT_STOCK")  # the order holds the other 3
    assert api.delete(f"/orders/{order['id']}").status_code == 200

    assert api.get(f"/products/{product['id']}").json()["stock"] == 3


def test_writing_back_a_stock_read_before_an_order_with_if_match_never_undoes_its_reservation(order_api):
    """GET (ETag "1"), an order takes 3, then PUT/PATCH the stock read earlier with If-Match: 412, the 3 stay taken."""
    api = order_api
    customer = new_customer(api)
    product = new_product(api, description="Warm", stock=10)
    path = f"/products/{product['id']}"
    response = api.get(path)
    read, etag = response.json(), response.headers["ETag"]

    place_order(api, customer, product, 3)
    after_the_order = api.get(path)
    stale = {"If-Match": etag}
    editable = {k: read[k] for k in ("name", "price", "description", "stock")}

    for refused in (api.put(path, editable, headers=stale), api.patch(path, {"stock": 10}, headers=stale)):
        details = assert_error(refused, 412, "PRECONDITION_FAILED")["details"]
        assert details == {"id": product["id"], "version": 2, "expected": [1]}
    assert after_the_order.headers["ETag"] == '"2"'
    assert api.get(path).json() == after_the_order.json()
    assert after_the_order.json()["stock"] == 7
    # read again, write again: the current ETag applies
    current = {"If-Match": after_the_order.headers["ETag"]}
    assert api.patch(path, {"stock": 9}, headers=current).json()["stock"] == 9


# ---------------------------------------------------------------- product lists


def test_list_shape_and_default_page_size(api):
    created = [new_product(api, name=f"Item {index:02}") for index in range(23)]

    response = api.get("/products")

    assert response.status_code == 200
    page = response.json()
    assert set(page) == {"items", "total", "page", "page_size"}
    assert (page["total"], page["page"], page["page_size"]) == (23, 1, 20)
    assert len(page["items"]) == 20
    # newest first by default
    assert page["items"][0] == created[-1]


def test_paging_walks_every_product_exactly_once(api):
    created = [new_product(api, name=f"Item {index}", price=index) for index in range(7)]

    seen = []
    for number in (1, 2, 3):
        page = api.get("/products", params={"page": number, "page_size": 3, "sort": "price"}).json()
        assert (page["total"], page["page"], page["page_size"]) == (7, number, 3)
        seen += page["items"]
    beyond = api.get("/products", params={"page": 4, "page_size": 3}).json()

    assert seen == created
    assert (beyond["items"], beyond["total"]) == ([], 7)


def test_page_size_max_is_100(api):
    new_product(api)

    page = api.get("/products", params={"page_size": 100}).json()

    assert (page["page_size"], page["total"], len(page["items"])) == (100, 1, 1)


@pytest.mark.parametrize("params", [
    {"page": 0}, {"page": -1}, {"page": "abc"}, {"page_size": 0}, {"page_size": 101},
    {"page_size": "ten"}, {"sort": "bogus"}, {"sort": "reservations"}, {"q": "x" * 101},
])
def test_bad_list_parameters_are_400(api, params):
    body = assert_error(api.get("/products", params=params), 400, "VALIDATION_FAILED")

    assert set(body["details"]) == set(params)


def test_search_is_case_insensitive_in_name_and_description(api):
    new_product(api, name="Red LAMP")
    new_product(api, name="Chair", description="pairs with a lamp")
    new_product(api, name="Table")

    page = api.get("/products", params={"q": "lamp", "sort": "name"}).json()

    assert [p["name"] for p in page["items"]] == ["Chair", "Red LAMP"]
    assert page["total"] == 2


@pytest.mark.parametrize("q, expected", [
    (".*", ["Dots .* here"]), ("(", ["Paren ( here"]), ("[", []), ("a+", []), ("\\", []),
    ("$", []), ("^", []), ("?", []),
])
def test_search_is_literal(api, q, expected):
    for name in ("Plain", "Dots .* here", "Paren ( here", "aaa"):
        new_product(api, name=name)

    response = api.get("/products", params={"q": q})

    assert response.status_code == 200, response.text
    assert [p["name"] for p in response.json()["items"]] == expected


def test_sort_by_price_is_numeric(api):
    for name, price in [("ten", "10.00"), ("nine-fifty", "9.50"), ("hundred", 100), ("cents", 0.99)]:
        new_product(api, name=name, price=price)

    ascending = api.get("/products", params={"sort": "price"}).json()["items"]
    descending = api.get("/products", params={"sort": "-price"}).json()["items"]

    assert [p["price"] for p in ascending] == ["0.99", "9.50", "10.00", "100.00"]
    assert [p["name"] for p in descending] == ["hundred", "ten", "nine-fifty", "cents"]


def test_sort_by_name_and_stock(api):
    for name, stock in [("b", 3), ("a", 1), ("c", 2)]:
        new_product(api, name=name, stock=stock)

    by_name = api.get("/products", params={"sort": "name"}).json()["items"]
    by_stock = api.get("/products", params={"sort": "-stock"}).json()["items"]

    assert [p["name"] for p in by_name] == ["a", "b", "c"]
    assert [p["stock"] for p in by_stock] == [3, 2, 1]


# ---------------------------------------------------------------- customers


def test_create_customer_is_201_with_location(api, stored):
    response = api.post("/customers", {"name": "Ada", "email": "Ada@Example.com", "phone": "+44 20 7946 0958",
                                       "address": {"city": "London"}})

    assert response.status_code == 201, response.text
    customer = response.json()
    assert response.headers["Location"] == f"/customers/{customer['id']}"
    assert (customer["email"], customer["phone"], customer["address"]) == (
        "Ada@Example.com", "+44 20 7946 0958", {"city": "London"},
    )
    assert "email_key" not in customer
    assert [str(doc["_id"]) for doc in stored("customers")] == [customer["id"]]
    assert api.get(f"/customers/{customer['id']}").json() == customer


@pytest.mark.parametrize("customer_id", [MISSING_ID, "abc"])
def test_unknown_or_non_id_customer_is_404_on_every_method(api, stored, customer_id):
    new_customer(api)
    before = stored("customers")

    for response in (
        api.get(f"/customers/{customer_id}"),
        api.put(f"/customers/{customer_id}", {"name": "X", "email": "x@example.com"}),
        api.patch(f"/customers/{customer_id}", {"name": "X"}),
        api.delete(f"/customers/{customer_id}"),
    ):
        body = assert_error(response, 404, "CUSTOMER_NOT_FOUND")
        assert body["details"] == {"id": customer_id}
    assert stored("customers") == before


def test_delete_customer_is_204_then_404(api, stored):
    customer = new_customer(api)

    response = api.delete(f"/customers/{customer['id']}")

    assert response.status_code == 204
    assert_error(api.get(f"/customers/{customer['id']}"), 404, "CUSTOMER_NOT_FOUND")
    assert stored("customers") == []


def test_put_replaces_customer_and_patch_changes_only_sent_fields(api):
    customer = new_customer(api, phone="555 0100", address={"city": "London"})

    patched = api.patch(f"/customers/{customer['id']}", {"name": "Ada L."})
    assert patched.status_code == 200
    assert patched.json() == {**customer, "name": "Ada L.", "updated_at": patched.json()["updated_at"], "version": 2}

    replaced = api.put(f"/customers/{customer['id']}", {"name": "Ada", "email": "ada@example.com"})
    assert replaced.status_code == 200
    assert (replaced.json()["phone"], replaced.json()["address"]) == (None, None)
    assert api.get(f"/customers/{customer['id']}").json() == replaced.json()


def test_customer_put_without_email_and_unknown_fields_are_400_and_change_nothing(api, stored):
    customer = new_customer(api)
    before = stored("customers")

    missing = assert_error(api.put(f"/customers/{customer['id']}", {"name": "Ada"}), 400, "VALIDATION_FAILED")
    unknown = assert_error(api.post("/customers", {"name": "B", "email": "b@example.com", "vip": True}),
                           400, "VALIDATION_FAILED")
    invalid = assert_error(api.patch(f"/customers/{customer['id']}", {"email": "nope", "phone": "x"}),
                           400, "VALIDATION_FAILED")
    injected = assert_error(api.post("/customers", {"name": "B", "email": {"$gt": ""}}), 400, "VALIDATION_FAILED")
    assert_error(api.post("/customers", data="[]", headers=JSON_HEADERS), 400, "BAD_REQUEST")

    assert set(missing["details"]) == {"email"}
    assert set(unknown["details"]) == {"vip"}
    assert set(invalid["details"]) == {"email", "phone"}
    assert set(injected["details"]) == {"email"}
    assert stored("customers") == before


def test_duplicate_email_ignoring_case_is_409_on_create_put_and_patch(api, stored):
    new_customer(api, email="ada@example.com")
    bob = new_customer(api, name="Bob", email="bob@example.com")
    before = stored("customers")

    for response in (
        api.post("/customers", {"name": "Impostor", "email": "ADA@Example.COM"}),
        api.patch(f"/customers/{bob['id']}", {"email": "Ada@example.com"}),
        api.put(f"/customers/{bob['id']}", {"name": "Bob", "email": "ada@EXAMPLE.com"}),
    ):
        body = assert_error(response, 409, "EMAIL_ALREADY_EXISTS")
        assert body["details"]["email"].lower() == "ada@example.com"
    assert stored("customers") == before
    assert api.get("/customers").json()["total"] == 2


def test_patch_to_own_email_in_another_case_is_fine(api):
    customer = new_customer(api, email="ada@example.com")

    response = api.patch(f"/customers/{customer['id']}", {"email": "ADA@example.com"})

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "ADA@example.com"


def test_customer_list_pages_and_searches(api):
    for index in range(4):
        new_customer(api, name=f"Person {index}", email=f"p{index}@example.com")
    new_customer(api, name="Zed", email="zed@other.org")

    first = api.get("/customers", params={"page_size": 2}).json()
    last = api.get("/customers", params={"page": 3, "page_size": 2}).json()
    found = api.get("/customers", params={"q": "OTHER.org"}).json()
    literal = api.get("/customers", params={"q": ".*"}).json()

    assert set(first) == {"items", "total", "page", "page_size"}
    assert (first["total"], first["page"], first["page_size"]) == (5, 1, 2)
    assert [c["name"] for c in first["items"]] == ["Zed", "Person 3"]
    assert [c["name"] for c in last["items"]] == ["Person 0"]
    assert [c["name"] for c in found["items"]] == ["Zed"]
    assert (literal["items"], literal["total"]) == ([], 0)
    assert found["page_size"] == 20
    for params in ({"page": 0}, {"page_size": 101}, {"page": "abc"}):
        assert_error(api.get("/customers", params=params), 400, "VALIDATION_FAILED")


# ---------------------------------------------------------------- routing and failures


@pytest.mark.parametrize("path", ["/nope", "/products/a/b", "/"])
def test_unknown_route_is_json_404(api, path):
    body = assert_error(api.get(path), 404, "ROUTE_NOT_FOUND")

    assert path in body["message"]


@pytest.mark.parametrize("method, path, allowed", [
    ("DELETE", "/products", {"GET", "POST"}),
    ("PUT", "/customers", {"GET", "POST"}),
    ("POST", f"/products/{MISSING_ID}", {"GET", "PUT", "PATCH", "DELETE"}),
    ("GET", f"/products/{MISSING_ID}/stock-adjustments", {"POST"}),
    ("PUT", f"/products/{MISSING_ID}/stock-adjustments", {"POST"}),
    ("POST", "/health", {"GET"}),
])
def test_wrong_method_is_json_405(api, method, path, allowed):
    response = api.request(method, path)

    body = assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert allowed <= set(body["details"]["allowed"])
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_unexpected_failure_is_a_500_that_leaks_nothing(api, monkeypatch):
    product = new_product(api)

    def broken_get(self, record_id):
        raise RuntimeError("secret-token")

    monkeypatch.setattr(ProductStore, "get", broken_get)
    response = api.get(f"/products/{product['id']}")

    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert "secret-token" not in response.text
    assert "RuntimeError" not in response.text
    assert "Traceback" not in response.text
    assert body["details"] == {}

    monkeypatch.undo()
    assert api.get(f"/products/{product['id']}").json() == product


def test_health_checks_exactly_the_backing_services():
    assert set(GatewayService.checked_services) == set(BACKENDS)


def test_health_reports_every_service_ok(start_stack, port):
    start_stack(*BACKENDS.values())
    api = Api(f"http://127.0.0.1:{port}")

    response = api.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "services": {name: "ok" for name in BACKENDS},
                               "dead_letters": NO_DEAD_LETTERS}
    assert response.json()["services"]["product"] == response.json()["services"]["customers"] == "ok"


def test_health_reports_the_dead_letters_of_each_consumer_and_stays_ok(start_stack, port, service_config):
    start_stack(*BACKENDS.values())
    api = Api(f"http://127.0.0.1:{port}")

    # order_cancelled goes to inventory and shipping (not product); this one breaks the contract
    event_dispatcher(service_config)(ORDERS_SERVICE, ORDER_CANCELLED, {"id": MISSING_ID})

    expected = {"inventory": 1, "product": 0, "shipping": 1}
    [health] = wait_until(
        lambda: [r for r in [api.get("/health")] if r.json()["dead_letters"] == expected],
        timeout=10, message=f"GET /health to report {expected}",
    )
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_missing_product_service_is_503_fast(start_stack, port):
    start_stack(*(cls for name, cls in BACKENDS.items() if name != "product"))
    api = Api(f"http://127.0.0.1:{port}")

    started = time.monotonic()
    health = api.get("/health")
    products = api.get("/products")
    product = api.get(f"/products/{MISSING_ID}")
    elapsed = time.monotonic() - started

    assert health.status_code == 503
    assert health.json() == {
        "status": "unavailable",
        "services": {**{name: "ok" for name in BACKENDS}, "product": "unavailable"},
        # read from the broker, not asked of the services: a queue never declared holds none
        "dead_letters": NO_DEAD_LETTERS,
    }
    assert_error(products, 503, "SERVICE_UNAVAILABLE")
    assert_error(product, 503, "SERVICE_UNAVAILABLE")
    assert elapsed < 10
    # the services that are up still answer
    assert api.get("/customers").status_code == 200


def test_stopped_product_service_is_503_within_the_rpc_deadline(start_stack, port):
    containers = start_stack(ProductService, CustomersService, RPC_TIMEOUT=1)
    api = Api(f"http://127.0.0.1:{port}")
    assert api.get("/products").status_code == 200

    containers["product"].stop()

    started = time.monotonic()
    # (a Response is falsy when not ok, hence the list)
    [response] = wait_until(
        lambda: [r for r in [api.get("/products")] if r.status_code == 503],
        timeout=5, message="GET /products to answer 503 once product is stopped",
    )
    assert time.monotonic() - started < 5
    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    health = api.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "unavailable"
    assert (health.json()["services"]["product"], health.json()["services"]["customers"]) == ("unavailable", "ok")
    assert api.post("/customers", {"name": "Ada", "email": "ada@example.com"}).status_code == 201


@pytest.mark.parametrize("raw", ["[" * 100_000, "[" * 100_000 + "]" * 100_000])
def test_deeply_nested_json_is_400_not_500(api, stored, raw):
    response = api.post("/products", data=raw, headers=JSON_HEADERS)

    assert_error(response, 400, "BAD_REQUEST")
    assert stored("product") == []


# ---------------------------------------------------------------- money input


@pytest.mark.parametrize("price", ["-0", "-0.00", -0.0])
def test_negative_zero_price_is_zero_not_minus_zero(api, stored, price):
    response = api.post("/products", {"name": "Free", "price": price})

    assert response.status_code == 201, response.text
    assert response.json()["price"] == "0.00"
    assert not stored("product")[0]["price"].to_decimal().is_signed()


@pytest.mark.parametrize("price", ["1e2", "1_000", "\u0661\u0662", "Infinity", "-1", "0x10"])
def test_price_strings_must_be_plain_decimals(api, stored, price):
    body = assert_error(api.post("/products", {"name": "Odd", "price": price}), 400, "VALIDATION_FAILED")

    assert set(body["details"]) == {"price"}
    assert stored("product") == []


def test_path_with_double_slash_is_a_json_404(api):
    product = new_product(api)

    response = requests.get(f"{api.base_url}/products//{product['id']}", allow_redirects=False, timeout=20)

    assert response.status_code == 404, response.text
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:100]
    assert response.json()["error"] == "ROUTE_NOT_FOUND"



# the HTTP edge: running out of file descriptors


def test_the_gateway_survives_running_out_of_file_descriptors_and_serves_again(start_stack, port, caplog):
    """accept() failing with EMFILE ended nameko's accept loop, and with it the gateway."""
    gateway = start_stack()[GatewayService.name]
    caplog.set_level(logging.WARNING, logger="gateway.http")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    flood = []
    try:
        # This process holds both ends, so a limit a little above what is open
        # now is used up by the clients' sockets and the gateway's accept() fails.
        resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 20, hard))
        while True:
            try:
                flood.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:  # EMFILE: the limit is reached
                break
        # Until the limit is lifted, the gateway meets EMFILE on every accept.
        wait_until(lambda: "Cannot accept connections (EMFILE)" in caplog.text, timeout=5,
                   message="the gateway to run out of file descriptors")
    finally:
        for connection in flood:
            connection.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    response = wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5),
                          timeout=10, message="the gateway to answer again")
    assert response.status_code == 200
    assert not gateway._died.ready()  # nameko kills a container whose accept loop raised
