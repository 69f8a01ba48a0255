"""GatewayService routes with mocked RPC clients (nameko's worker_factory)."""
import json
import time

import eventlet
import pytest
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder

from common.errors import BadRequest, InsufficientStock, ProductNotFound, ServiceUnavailable
from common.order_events import ORDER_EVENT_CONSUMERS
from gateway import service as gateway_service
from gateway.service import HEALTH_TIMEOUT_SECONDS, GatewayService

PRODUCT = {"id": "5f00000000000000000000aa", "name": "Lamp", "price": "19.99", "version": 3}
CUSTOMER = {"id": "5f00000000000000000000bb", "name": "Ada", "email": "ada@example.com", "version": 2}
ORDER = {"id": "5f00000000000000000000cc", "status": "cancelled", "version": 4}


def request(method, path, body=None, query_string=None, headers=None):
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    return EnvironBuilder(
        method=method, path=path, data=data, query_string=query_string,
        content_type="application/json", headers=headers,
    ).get_request()


def body_of(response):
    return json.loads(response.get_data(as_text=True))


SERVICES = ("product", "customers", "orders", "inventory", "shipping")
NO_DEAD_LETTERS = {"inventory": 0, "product": 0, "shipping": 0}


@pytest.fixture
def gateway():
    gateway = worker_factory(GatewayService)
    gateway.dead_letter_depths.side_effect = lambda names: {name: 0 for name in names}
    return gateway


def all_answer(gateway, except_for=()):
    for name in SERVICES:
        if name not in except_for:
            ping_returns(gateway, name, "ok")


def test_health_checks_every_backend_service():
    assert set(GatewayService.checked_services) == set(SERVICES)


def ping_returns(gateway, service_name, value=None, error=None):
    call = getattr(gateway, service_name).ping.with_timeout.return_value
    call.return_value = value
    call.side_effect = error


# health


def test_health_ok_when_every_service_answers(gateway):
    all_answer(gateway)

    response = gateway.health(request("GET", "/health"))

    assert response.status_code == 200
    assert body_of(response) == {"status": "ok", "services": {name: "ok" for name in SERVICES},
                                 "dead_letters": NO_DEAD_LETTERS}
    gateway.dead_letter_depths.assert_called_once_with(ORDER_EVENT_CONSUMERS)


def test_health_pings_with_short_timeout(gateway):
    all_answer(gateway)

    gateway.health(request("GET", "/health"))

    gateway.product.ping.with_timeout.assert_called_once_with(HEALTH_TIMEOUT_SECONDS)
    gateway.customers.ping.with_timeout.assert_called_once_with(HEALTH_TIMEOUT_SECONDS)
    gateway.product.ping.with_timeout.return_value.assert_called_once_with()


@pytest.mark.parametrize("error", [ServiceUnavailable(), RuntimeError("boom"), TimeoutError()])
def test_health_503_names_the_failing_service(gateway, error):
    all_answer(gateway, except_for=["product"])
    ping_returns(gateway, "product", error=error)

    response = gateway.health(request("GET", "/health"))

    assert response.status_code == 503
    assert response.mimetype == "application/json"
    assert body_of(response) == {
        "status": "unavailable",
        "services": {name: "unavailable" if name == "product" else "ok" for name in SERVICES},
        "dead_letters": NO_DEAD_LETTERS,
    }


def test_dead_letters_are_reported_and_leave_health_ok(gateway):
    all_answer(gateway)
    gateway.dead_letter_depths.side_effect = None
    gateway.dead_letter_depths.return_value = {"inventory": 2, "product": 0, "shipping": 1}

    response = gateway.health(request("GET", "/health"))

    assert response.status_code == 200
    assert body_of(response)["status"] == "ok"
    assert body_of(response)["dead_letters"] == {"inventory": 2, "product": 0, "shipping": 1}


def test_dead_letter_depths_the_broker_cannot_give_are_null(gateway):
    all_answer(gateway)
    gateway.dead_letter_depths.side_effect = ConnectionError("broker away")

    response = gateway.health(request("GET", "/health"))

    assert body_of(response)["dead_letters"] == {"inventory": None, "product": None, "shipping": None}


def test_dead_letter_depths_that_take_too_long_are_null(gateway, monkeypatch):
    monkeypatch.setattr(gateway_service, "HEALTH_TIMEOUT_SECONDS", 0.05)
    all_answer(gateway)
    gateway.dead_letter_depths.side_effect = lambda names: eventlet.sleep(5)

    started = time.monotonic()
    response = gateway.health(request("GET", "/health"))

    assert time.monotonic() - started < 2
    assert body_of(response)["dead_letters"] == {"inventory": None, "product": None, "shipping": None}


def test_health_503_when_a_ping_answers_something_else(gateway):
    all_answer(gateway, except_for=["customers"])
    ping_returns(gateway, "customers", None)

    response = gateway.health(request("GET", "/health"))

    assert response.status_code == 503
    assert body_of(response)["status"] == "unavailable"
    assert body_of(response)["services"]["customers"] == "unavailable"


def test_health_503_when_every_service_fails(gateway):
    for name in SERVICES:
        ping_returns(gateway, name, error=ServiceUnavailable())

    response = gateway.health(request("GET", "/health"))

    assert response.status_code == 503
    assert body_of(response)["services"] == {name: "unavailable" for name in SERVICES}


# products


def test_create_product_returns_201_with_location(gateway):
    gateway.product.create.return_value = PRODUCT

    response = gateway.create_product(request("POST", "/products", {"name": "Lamp", "price": 19.99}))

    body, key = gateway.product.create.call_args.args
    # Without an Idempotency-Key, the gateway makes one up (a redelivered request still creates once).
    assert body == {"name": "Lamp", "price": 19.99} and key.startswith("gateway-")
    assert response.status_code == 201
    assert response.headers["Location"] == "/products/5f00000000000000000000aa"
    assert response.headers["ETag"] == '"3"'
    assert body_of(response) == PRODUCT


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '{"price": NaN}'])
def test_create_product_bad_body_raises_before_rpc(gateway, body):
    with pytest.raises(BadRequest):
        gateway.create_product(request("POST", "/products", body))
    gateway.product.create.assert_not_called()


def test_list_products_passes_the_present_query_params(gateway):
    page = {"items": [PRODUCT], "total": 1, "page": 2, "page_size": 20}
    gateway.product.list.return_value = page

    response = gateway.list_products(request("GET", "/products", query_string="page=2&sort=-price"))

    gateway.product.list.assert_called_once_with(page="2", sort="-price")
    assert response.status_code == 200
    assert "ETag" not in response.headers
    assert body_of(response) == page


def test_get_product_passes_id(gateway):
    gateway.product.get.return_value = PRODUCT

    response = gateway.get_product(request("GET", "/products/abc"), "abc")

    gateway.product.get.assert_called_once_with("abc")
    assert response.headers["ETag"] == '"3"'
    assert body_of(response) == PRODUCT


@pytest.mark.parametrize("route, client, method, document", [
    ("get_product", "product", "get", PRODUCT),
    ("get_customer", "customers", "get", CUSTOMER),
    ("get_order", "orders", "get_order", ORDER),
])
def test_a_get_naming_the_current_version_in_if_none_match_is_304(gateway, route, client, method, document):
    getattr(getattr(gateway, client), method).return_value = document
    etag = f'"{document["version"]}"'

    fresh = getattr(gateway, route)(request("GET", "/x", headers={"If-None-Match": etag}), "abc")
    stale = getattr(gateway, route)(request("GET", "/x", headers={"If-None-Match": '"1"'}), "abc")

    assert (fresh.status_code, fresh.headers["ETag"], fresh.get_data()) == (304, etag, b"")
    assert (stale.status_code, stale.headers["ETag"], body_of(stale)) == (200, etag, document)


def test_get_product_lets_service_error_through(gateway):
    gateway.product.get.side_effect = ProductNotFound.for_id("abc")
    with pytest.raises(ProductNotFound):
        gateway.get_product(request("GET", "/products/abc"), "abc")


def test_replace_product_is_a_full_update(gateway):
    gateway.product.update.return_value = PRODUCT

    response = gateway.replace_product(request("PUT", "/products/abc", {"name": "Lamp"}), "abc")

    gateway.product.update.assert_called_once_with("abc", {"name": "Lamp"}, if_version=None)
    assert response.status_code == 200
    assert response.headers["ETag"] == '"3"'


def test_update_product_is_a_partial_update(gateway):
    gateway.product.update.return_value = PRODUCT

    response = gateway.update_product(request("PATCH", "/products/abc", {"name": "Desk"}), "abc")

    gateway.product.update.assert_called_once_with("abc", {"name": "Desk"}, partial=True, if_version=None)
    assert response.headers["ETag"] == '"3"'
    assert body_of(response) == PRODUCT


IF_MATCH = {"If-Match": '"3", W/"4", "5"'}


def test_every_conditional_write_passes_the_strong_versions_of_if_match(gateway):
    for client in (gateway.product, gateway.customers):
        client.update.return_value = client.adjust_stock.return_value = PRODUCT
    gateway.orders.cancel_order.return_value = ORDER

    gateway.replace_product(request("PUT", "/products/abc", {"name": "Lamp"}, headers=IF_MATCH), "abc")
    gateway.update_product(request("PATCH", "/products/abc", {"stock": 4}, headers=IF_MATCH), "abc")
    gateway.adjust_product_stock(request("POST", "/x", {"change": 1}, headers=IF_MATCH), "abc")
    gateway.delete_product(request("DELETE", "/products/abc", headers=IF_MATCH), "abc")
    gateway.replace_customer(request("PUT", "/customers/abc", {"name": "Ada"}, headers=IF_MATCH), "abc")
    gateway.update_customer(request("PATCH", "/customers/abc", {"name": "Ada"}, headers=IF_MATCH), "abc")
    gateway.delete_customer(request("DELETE", "/customers/abc", headers=IF_MATCH), "abc")
    cancelled = gateway.cancel_order(request("DELETE", "/orders/abc", headers=IF_MATCH), "abc")

    assert gateway.product.update.call_args_list == [
        (("abc", {"name": "Lamp"}), {"if_version": [3, 5]}),
        (("abc", {"stock": 4}), {"partial": True, "if_version": [3, 5]}),
    ]
    gateway.product.adjust_stock.assert_called_once_with("abc", {"change": 1}, if_version=[3, 5])
    gateway.product.delete.assert_called_once_with("abc", if_version=[3, 5])
    assert gateway.customers.update.call_args_list == [
        (("abc", {"name": "Ada"}), {"if_version": [3, 5]}),
        (("abc", {"name": "Ada"}), {"partial": True, "if_version": [3, 5]}),
    ]
    gateway.customers.delete.assert_called_once_with("abc", if_version=[3, 5])
    gateway.orders.cancel_order.assert_called_once_with("abc", if_version=[3, 5])
    assert (cancelled.headers["ETag"], body_of(cancelled)) == ('"4"', ORDER)


def test_a_malformed_if_match_is_refused_before_any_call(gateway):
    malformed = {"If-Match": "3"}

    for call in (
        lambda: gateway.replace_product(request("PUT", "/products/abc", {"name": "Lamp"}, headers=malformed), "abc"),
        lambda: gateway.delete_customer(request("DELETE", "/customers/abc", headers=malformed), "abc"),
        lambda: gateway.cancel_order(request("DELETE", "/orders/abc", headers=malformed), "abc"),
    ):
        with pytest.raises(BadRequest):
            call()
    gateway.product.update.assert_not_called()
    gateway.customers.delete.assert_not_called()
    gateway.orders.cancel_order.assert_not_called()


def test_adjust_product_stock_passes_the_body_and_answers_the_product(gateway):
    gateway.product.adjust_stock.return_value = {**PRODUCT, "stock": 7}

    response = gateway.adjust_product_stock(
        request("POST", "/products/abc/stock-adjustments", {"change": -3}), "abc"
    )

    gateway.product.adjust_stock.assert_called_once_with("abc", {"change": -3}, if_version=None)
    assert response.status_code == 200
    assert response.headers["ETag"] == '"3"'
    assert body_of(response) == {**PRODUCT, "stock": 7}


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '{"change": NaN}', ""])
def test_adjust_product_stock_with_a_malformed_body_never_calls_the_service(gateway, body):
    with pytest.raises(BadRequest):
        gateway.adjust_product_stock(request("POST", "/products/abc/stock-adjustments", body), "abc")
    gateway.product.adjust_stock.assert_not_called()


def test_adjust_product_stock_lets_service_errors_through(gateway):
    gateway.product.adjust_stock.side_effect = InsufficientStock("short", {"products": []})
    with pytest.raises(InsufficientStock):
        gateway.adjust_product_stock(
            request("POST", "/products/abc/stock-adjustments", {"change": -3}), "abc"
        )


def test_delete_product_returns_204_empty(gateway):
    response = gateway.delete_product(request("DELETE", "/products/abc"), "abc")

    gateway.product.delete.assert_called_once_with("abc", if_version=None)
    assert response.status_code == 204
    assert response.get_data() == b""


# customers


def test_create_customer_returns_201_with_location(gateway):
    gateway.customers.create.return_value = CUSTOMER

    response = gateway.create_customer(request("POST", "/customers", {"name": "Ada"}))

    body, key = gateway.customers.create.call_args.args
    assert body == {"name": "Ada"} and key.startswith("gateway-")
    assert response.status_code == 201
    assert response.headers["Location"] == "/customers/5f00000000000000000000bb"
    assert response.headers["ETag"] == '"2"'


def test_list_customers_passes_the_present_query_params(gateway):
    gateway.customers.list.return_value = {"items": [], "total": 0, "page": 1, "page_size": 20}

    gateway.list_customers(request("GET", "/customers", query_string="q=ada&page_size=5"))

    gateway.customers.list.assert_called_once_with(q="ada", page_size="5")


def test_update_customer_is_a_partial_update(gateway):
    gateway.customers.update.return_value = CUSTOMER

    gateway.update_customer(request("PATCH", "/customers/abc", {"phone": None}), "abc")

    gateway.customers.update.assert_called_once_with("abc", {"phone": None}, partial=True, if_version=None)


def test_replace_customer_is_a_full_update(gateway):
    gateway.customers.update.return_value = CUSTOMER

    gateway.replace_customer(request("PUT", "/customers/abc", {"name": "Ada"}), "abc")

    gateway.customers.update.assert_called_once_with("abc", {"name": "Ada"}, if_version=None)


def test_delete_customer_returns_204_empty(gateway):
    response = gateway.delete_customer(request("DELETE", "/customers/abc"), "abc")

    gateway.customers.delete.assert_called_once_with("abc", if_version=None)
    assert response.status_code == 204
    assert response.get_data() == b""


# orders


def test_cancel_order_without_if_match_passes_no_versions_and_answers_the_order_with_its_etag(gateway):
    gateway.orders.cancel_order.return_value = ORDER

    response = gateway.cancel_order(request("DELETE", "/orders/abc"), "abc")

    gateway.orders.cancel_order.assert_called_once_with("abc", if_version=None)
    assert (response.status_code, response.headers["ETag"], body_of(response)) == (200, '"4"', ORDER)


def test_create_order_answers_201_with_location_and_etag(gateway):
    gateway.orders.create_order.return_value = {**ORDER, "version": 2}

    response = gateway.create_order(request("POST", "/orders", {"customer_id": "x", "items": []}))

    assert response.status_code == 201
    assert (response.headers["Location"], response.headers["ETag"]) == ("/orders/5f00000000000000000000cc", '"2"')
