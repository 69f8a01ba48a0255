"""Orders, end to end: every order route and error through the gateway of the running stack.

Placing an order crosses four services synchronously (gateway, orders,
customers, product) and two more asynchronously (inventory and shipping
consume the order events), so what those two record is polled for with a
deadline. Every test makes its own customer and products: the database lives
for the whole session, and lists are filtered by the test's own customer.
"""
import concurrent.futures
import datetime

import pytest
import requests

from support import wait_until
from test_rest_api import (
    OTHER_ID,
    assert_error,
    create_customer,
    create_product,
    get_product,
    parse_time,
)

EVENT_DEADLINE_SECONDS = 10
ORDER_KEYS = {"id", "customer_id", "status", "items", "total", "created_at", "updated_at", "version"}
LINE_KEYS = {"product_id", "name", "unit_price", "quantity", "line_total"}
PAGE_KEYS = {"items", "total", "page", "page_size"}
SHIPMENT_KEYS = {"order_id", "customer_id", "status", "tracking_number", "created_at", "updated_at"}
MOVEMENT_KEYS = {"product_id", "order_id", "quantity", "kind", "at"}


def order_body(customer, *lines):
    """A POST /orders body; ``lines`` are (product or product id, quantity) pairs."""
    return {
        "customer_id": customer["id"] if isinstance(customer, dict) else customer,
        "items": [
            {"product_id": product["id"] if isinstance(product, dict) else product, "quantity": quantity}
            for product, quantity in lines
        ],
    }


def place_order(http, customer, *lines):
    response = http.post("/orders", json=order_body(customer, *lines))
    assert response.status_code == 201, response.text
    return response.json()


def get_order(http, order_id):
    response = http.get(f"/orders/{order_id}")
    assert response.status_code == 200, response.text
    return response.json()


def stocks(http, *products):
    return [get_product(http, product["id"])["stock"] for product in products]


def customer_orders(http, customer, **params):
    response = http.get("/orders", params={"customer_id": customer["id"], **params})
    assert response.status_code == 200, response.text
    return response.json()


def eventually_shipment(http, order_id, status, timeout=EVENT_DEADLINE_SECONDS):
    """The order's shipment, once shipping has recorded it with ``status``."""

    def shipment():
        response = http.get(f"/orders/{order_id}/shipment")
        if response.status_code == 404 and response.json()["error"] == "SHIPMENT_NOT_FOUND":
            return None
        assert response.status_code == 200, response.text
        found = response.json()
        return found if found["status"] == status else None

    return wait_until(shipment, timeout=timeout,
                      message=f"a {status} shipment for order {order_id}")


def movements(http, product_id, **params):
    response = http.get(f"/products/{product_id}/movements", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def eventually_movements(http, product_id, count):
    """The product's movements, once inventory has recorded ``count`` of them.

    Judged by the items, not ``total``: the page and its count are two reads, so a movement
    recorded between them is counted before it is listed.
    """
    return wait_until(
        lambda: (lambda page: page if len(page["items"]) >= count else None)(movements(http, product_id)),
        timeout=EVENT_DEADLINE_SECONDS, message=f"{count} movements of product {product_id}",
    )


@pytest.fixture
def customer(http):
    return create_customer(http)


def test_health_lists_every_service_ok(http):
    response = http.get("/health")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    expected = {"product", "customers", "orders", "inventory", "shipping"}
    assert {name: body["services"].get(name) for name in expected} == dict.fromkeys(expected, "ok"), body


class TestPlaceOrder:
    def test_201_with_location_the_confirmed_order_and_exact_money(self, http, customer):
        lamp = create_product(http, price="19.99", stock=10)
        bulb = create_product(http, price="0.10", stock=5)

        response = http.post("/orders", json=order_body(customer, (lamp, 3), (bulb, 1)))

        assert response.status_code == 201, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        order = response.json()
        assert set(order) == ORDER_KEYS, order
        assert response.headers["Location"] == f"/orders/{order['id']}"
        assert order["customer_id"] == customer["id"]
        assert order["status"] == "confirmed"
        assert order["items"] == [
            {"product_id": lamp["id"], "name": lamp["name"], "unit_price": "19.99", "quantity": 3,
             "line_total": "59.97"},
            {"product_id": bulb["id"], "name": bulb["name"], "unit_price": "0.10", "quantity": 1,
             "line_total": "0.10"},
        ]
        assert order["total"] == "60.07"
        now = datetime.datetime.now(datetime.timezone.utc)
        assert abs(now - parse_time(order["created_at"])) < datetime.timedelta(minutes=1)
        assert parse_time(order["updated_at"]) >= parse_time(order["created_at"])
        assert http.get(response.headers["Location"]).json() == order

    def test_stock_drops_by_the_quantities(self, http, customer):
        lamp = create_product(http, stock=10)
        bulb = create_product(http, stock=5)

        place_order(http, customer, (lamp, 3), (bulb, 5))

        assert stocks(http, lamp, bulb) == [7, 0]

    def test_name_and_price_are_copied_at_order_time(self, http, customer):
        lamp = create_product(http, price="19.99", stock=10)
        order = place_order(http, customer, (lamp, 2))

        changed = http.patch(f"/products/{lamp['id']}", json={"price": "25.00", "name": f"Renamed {lamp['name']}"})
        assert changed.status_code == 200, changed.text

        again = get_order(http, order["id"])
        assert (again["items"][0]["name"], again["items"][0]["unit_price"]) == (lamp["name"], "19.99")
        assert again["total"] == "39.98"

    def test_the_limits_are_accepted_100_lines_and_quantity_1000(self, http, customer):
        big = create_product(http, price="0.01", stock=1000)
        others = [create_product(http, price="1.00", stock=1) for _ in range(99)]

        order = place_order(http, customer, (big, 1000), *[(product, 1) for product in others])

        assert len(order["items"]) == 100
        assert order["items"][0]["line_total"] == "10.00"
        assert order["total"] == "109.00"
        assert stocks(http, big, others[0], others[-1]) == [0, 0, 0]

    def test_an_order_over_a_billion_is_announced_like_any_other(self, http, customer):
        # each price and line is within the limits; only the sum is over 1000000000
        expensive = create_product(http, price="999999999.99", stock=1)
        cheap = create_product(http, price="0.02", stock=1)
        order = place_order(http, customer, (expensive, 1), (cheap, 1))
        assert order["total"] == "1000000000.01"
        # A normal order placed after it: once the stubs recorded it, they
        # have had the big one's event as well.
        marker = place_order(http, customer, (create_product(http, stock=1), 1))
        eventually_shipment(http, marker["id"], "pending")

        shipment = eventually_shipment(http, order["id"], "pending", timeout=2)

        assert shipment["order_id"] == order["id"]
        assert [m["order_id"] for m in eventually_movements(http, expensive["id"], 1)["items"]] == [order["id"]]


class TestReadOrders:
    def test_get_returns_the_order(self, http, customer):
        order = place_order(http, customer, (create_product(http, stock=1), 1))

        response = http.get(f"/orders/{order['id']}")

        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json() == order

    @pytest.mark.parametrize("order_id", [OTHER_ID, "abc"])
    def test_unknown_id_is_404(self, http, order_id):
        details = assert_error(http.get(f"/orders/{order_id}"), 404, "ORDER_NOT_FOUND")

        assert details == {"id": order_id}

    def test_list_filters_by_customer_and_status_newest_first(self, http, customer):
        product = create_product(http, stock=10)
        first = place_order(http, customer, (product, 1))
        second = place_order(http, customer, (product, 2))
        third = place_order(http, customer, (product, 3))
        cancelled = http.delete(f"/orders/{second['id']}").json()
        place_order(http, create_customer(http), (product, 1))  # someone else's

        everything = customer_orders(http, customer)
        assert set(everything) == PAGE_KEYS
        assert (everything["total"], everything["page"], everything["page_size"]) == (3, 1, 20)
        assert [order["id"] for order in everything["items"]] == [third["id"], second["id"], first["id"]]
        assert everything["items"][1] == cancelled

        confirmed = customer_orders(http, customer, status="confirmed")
        assert [order["id"] for order in confirmed["items"]] == [third["id"], first["id"]]
        assert confirmed["total"] == 2
        assert customer_orders(http, customer, status="cancelled")["items"] == [cancelled]
        assert customer_orders(http, customer, status="rejected") == {
            "items": [], "total": 0, "page": 1, "page_size": 20,
        }

    def test_list_pages(self, http, customer):
        product = create_product(http, stock=10)
        orders = [place_order(http, customer, (product, 1)) for _ in range(3)]

        pages = [customer_orders(http, customer, page=page, page_size=2) for page in (1, 2, 3)]

        assert [[order["id"] for order in page["items"]] for page in pages] == [
            [orders[2]["id"], orders[1]["id"]], [orders[0]["id"]], [],
        ]
        assert [(page["total"], page["page"], page["page_size"]) for page in pages] == [(3, 1, 2), (3, 2, 2), (3, 3, 2)]

    def test_list_of_an_unknown_customer_is_empty(self, http):
        response = http.get("/orders", params={"customer_id": OTHER_ID})

        assert response.status_code == 200, response.text
        assert response.json() == {"items": [], "total": 0, "page": 1, "page_size": 20}

    @pytest.mark.parametrize(
        "params, bad",
        [({"status": "bogus"}, "status"), ({"page_size": 101}, "page_size"), ({"page_size": 0}, "page_size"),
         ({"page": 0}, "page"), ({"page": "x"}, "page")],
    )
    def test_bad_list_parameters_are_400(self, http, params, bad):
        details = assert_error(http.get("/orders", params=params), 400, "VALIDATION_FAILED")

        assert set(details) == {bad}, details


class TestCancelOrder:
    def test_cancel_answers_the_cancelled_order_and_returns_the_stock(self, http, customer):
        lamp = create_product(http, stock=10)
        bulb = create_product(http, stock=4)
        order = place_order(http, customer, (lamp, 3), (bulb, 4))
        assert stocks(http, lamp, bulb) == [7, 0]

        response = http.delete(f"/orders/{order['id']}")

        assert response.status_code == 200, response.text
        cancelled = response.json()
        assert cancelled["status"] == "cancelled"
        assert {key: value for key, value in cancelled.items() if key not in ("status", "updated_at", "version")} == {
            key: value for key, value in order.items() if key not in ("status", "updated_at", "version")
        }
        assert cancelled["version"] == order["version"] + 1
        assert parse_time(cancelled["updated_at"]) >= parse_time(order["updated_at"])
        assert get_order(http, order["id"]) == cancelled
        assert stocks(http, lamp, bulb) == [10, 4]

    def test_cancelling_again_answers_the_same_and_releases_nothing_twice(self, http, customer):
        lamp = create_product(http, stock=10)
        order = place_order(http, customer, (lamp, 3))
        cancelled = http.delete(f"/orders/{order['id']}").json()
        # Someone else takes stock in between: a second release would show as 10.
        place_order(http, create_customer(http), (lamp, 2))
        assert stocks(http, lamp) == [8]

        response = http.delete(f"/orders/{order['id']}")

        assert response.status_code == 200, response.text
        assert response.json() == cancelled
        assert stocks(http, lamp) == [8]

    @pytest.mark.parametrize("order_id", [OTHER_ID, "abc"])
    def test_cancelling_an_unknown_order_is_404(self, http, order_id):
        details = assert_error(http.delete(f"/orders/{order_id}"), 404, "ORDER_NOT_FOUND")

        assert details == {"id": order_id}


class TestShipment:
    def test_a_pending_shipment_then_cancelled_with_the_order(self, http, customer):
        order = place_order(http, customer, (create_product(http, stock=1), 1))

        shipment = eventually_shipment(http, order["id"], "pending")

        assert set(shipment) == SHIPMENT_KEYS, shipment
        assert (shipment["order_id"], shipment["customer_id"]) == (order["id"], customer["id"])
        assert isinstance(shipment["tracking_number"], str) and shipment["tracking_number"].strip()

        assert http.delete(f"/orders/{order['id']}").status_code == 200
        cancelled = eventually_shipment(http, order["id"], "cancelled")

        assert cancelled["tracking_number"] == shipment["tracking_number"]
        assert cancelled["created_at"] == shipment["created_at"]
        assert parse_time(cancelled["updated_at"]) >= parse_time(shipment["updated_at"])

    @pytest.mark.parametrize("order_id", [OTHER_ID, "abc"])
    def test_unknown_order_is_404_order_not_found(self, http, order_id):
        details = assert_error(http.get(f"/orders/{order_id}/shipment"), 404, "ORDER_NOT_FOUND")

        assert details == {"id": order_id}


class TestMovements:
    def test_one_reserved_movement_per_line_then_released_on_cancel(self, http, customer):
        lamp = create_product(http, stock=10)
        bulb = create_product(http, stock=10)
        order = place_order(http, customer, (lamp, 3), (bulb, 2))

        for product, quantity in ((lamp, 3), (bulb, 2)):
            page = eventually_movements(http, product["id"], 1)
            assert set(page) == PAGE_KEYS
            assert (page["total"], page["page"], page["page_size"]) == (1, 1, 20)
            [movement] = page["items"]
            assert set(movement) == MOVEMENT_KEYS, movement
            assert (movement["product_id"], movement["order_id"], movement["kind"], movement["quantity"]) == (
                product["id"], order["id"], "reserved", quantity,
            )

        assert http.delete(f"/orders/{order['id']}").status_code == 200

        page = eventually_movements(http, lamp["id"], 2)
        assert [(m["kind"], m["order_id"], m["quantity"]) for m in page["items"]] == [
            ("reserved", order["id"], 3), ("released", order["id"], 3),
        ]
        assert page["total"] == 2
        # paging applies to movements too
        assert [m["kind"] for m in movements(http, lamp["id"], page=2, page_size=1)["items"]] == ["released"]

    @pytest.mark.parametrize("product_id", [OTHER_ID, "abc"])
    def test_unknown_product_is_404(self, http, product_id):
        details = assert_error(http.get(f"/products/{product_id}/movements"), 404, "PRODUCT_NOT_FOUND")

        assert details == {"id": product_id}

    def test_bad_paging_is_400(self, http):
        product = create_product(http)

        assert_error(http.get(f"/products/{product['id']}/movements", params={"page_size": 101}),
                     400, "VALIDATION_FAILED")


class TestRefusedOrders:
    """Every refusal answers its error and leaves every product's stock as it was."""

    @pytest.mark.parametrize("customer_id", [OTHER_ID, "abc"])
    def test_unknown_customer_is_422(self, http, customer_id):
        product = create_product(http, stock=5)

        response = http.post("/orders", json=order_body(customer_id, (product, 1)))

        details = assert_error(response, 422, "UNKNOWN_CUSTOMER")
        assert details["customer_id"] == customer_id
        assert stocks(http, product) == [5]
        assert http.get("/orders", params={"customer_id": customer_id}).json()["total"] == 0

    def test_unknown_products_are_422_naming_each(self, http, customer):
        product = create_product(http, stock=5)

        response = http.post("/orders", json=order_body(customer, (product, 1), (OTHER_ID, 1), ("abc", 1)))

        details = assert_error(response, 422, "UNKNOWN_PRODUCT")
        assert details["product_ids"] == [OTHER_ID, "abc"]
        assert stocks(http, product) == [5]
        assert customer_orders(http, customer)["total"] == 0

    def test_insufficient_stock_is_409_naming_every_short_product(self, http, customer):
        fine = create_product(http, stock=10)
        short_a = create_product(http, stock=2)
        short_b = create_product(http, stock=0)

        response = http.post("/orders", json=order_body(customer, (fine, 4), (short_a, 3), (short_b, 1)))

        details = assert_error(response, 409, "INSUFFICIENT_STOCK")
        assert sorted(details["products"], key=lambda entry: entry["product_id"]) == sorted([
            {"product_id": short_a["id"], "requested": 3, "available": 2},
            {"product_id": short_b["id"], "requested": 1, "available": 0},
        ], key=lambda entry: entry["product_id"])
        # the fine line took nothing either: all or nothing
        assert stocks(http, fine, short_a, short_b) == [10, 2, 0]
        rejected = get_order(http, details["order_id"])
        assert (rejected["status"], rejected["customer_id"]) == ("rejected", customer["id"])
        assert customer_orders(http, customer, status="confirmed")["total"] == 0

    def test_a_rejected_order_announces_nothing(self, http, customer):
        fine = create_product(http, stock=10)
        short = create_product(http, stock=0)
        refused = http.post("/orders", json=order_body(customer, (fine, 4), (short, 1)))
        rejected_id = assert_error(refused, 409, "INSUFFICIENT_STOCK")["order_id"]

        # An order placed after it is recorded; had the rejected one been
        # announced, inventory would have recorded it (earlier) as well.
        later = place_order(http, customer, (fine, 1))
        eventually_shipment(http, later["id"], "pending")
        page = eventually_movements(http, fine["id"], 1)

        assert [m["order_id"] for m in page["items"]] == [later["id"]]
        assert_error(http.get(f"/orders/{rejected_id}/shipment"), 404, "SHIPMENT_NOT_FOUND")

    def test_cancelling_a_rejected_order_is_409(self, http, customer):
        fine = create_product(http, stock=10)
        short = create_product(http, stock=1)
        refused = http.post("/orders", json=order_body(customer, (fine, 1), (short, 2)))
        order_id = assert_error(refused, 409, "INSUFFICIENT_STOCK")["order_id"]

        details = assert_error(http.delete(f"/orders/{order_id}"), 409, "INVALID_ORDER_TRANSITION")

        assert details == {"status": "rejected", "requested": "cancelled"}
        assert get_order(http, order_id)["status"] == "rejected"
        assert stocks(http, fine, short) == [10, 1]

    @pytest.mark.parametrize(
        "change, bad",
        [
            pytest.param(lambda body: body.update(items=[]), "items", id="no-items"),
            pytest.param(lambda body: body.update(items=[{"product_id": f"{n:024x}", "quantity": 1}
                                                         for n in range(101)]), "items", id="101-items"),
            pytest.param(lambda body: body["items"][0].update(quantity=0), "items", id="quantity-0"),
            pytest.param(lambda body: body["items"][0].update(quantity=1001), "items", id="quantity-1001"),
            pytest.param(lambda body: body["items"][0].update(quantity=1.5), "items", id="quantity-1.5"),
            pytest.param(lambda body: body["items"][0].update(quantity="2"), "items", id="quantity-string"),
            pytest.param(lambda body: body["items"][0].update(quantity=True), "items", id="quantity-true"),
            pytest.param(lambda body: body["items"][0].update(quantity=None), "items", id="quantity-null"),
            pytest.param(lambda body: body["items"][0].pop("quantity"), "items", id="quantity-missing"),
            pytest.param(lambda body: body["items"].append(dict(body["items"][0])), "items", id="same-product-twice"),
            pytest.param(lambda body: body.update(note="x"), "note", id="unknown-field"),
            pytest.param(lambda body: body["items"][0].update(price="0.01"), "items", id="unknown-item-field"),
            pytest.param(lambda body: body.update(items=body["items"][0]), "items", id="items-not-a-list"),
            pytest.param(lambda body: body.update(items=["x"]), "items", id="item-not-an-object"),
            pytest.param(lambda body: body.pop("customer_id"), "customer_id", id="customer-missing"),
            pytest.param(lambda body: body.update(customer_id={"$gt": ""}), "customer_id", id="customer-operator"),
        ],
    )
    def test_a_bad_shape_is_400_validation_failed(self, http, customer, change, bad):
        product = create_product(http, stock=5)
        body = order_body(customer, (product, 2))
        change(body)

        details = assert_error(http.post("/orders", json=body), 400, "VALIDATION_FAILED")

        assert bad in details, details
        assert stocks(http, product) == [5]
        assert customer_orders(http, customer)["total"] == 0

    @pytest.mark.parametrize(
        "template",
        [
            pytest.param('{"customer_id": "C", "items": [{"product_id": "P", "quantity": 2}]', id="truncated"),
            pytest.param("{'customer_id': 'C', 'items': [{'product_id': 'P', 'quantity': 2}]}", id="single-quotes"),
            pytest.param("", id="empty"),
            pytest.param('{"customer_id": "C", "items": [{"product_id": "P", "quantity": NaN}]}', id="nan"),
            pytest.param('\udcff{"customer_id": "C", "items": [{"product_id": "P", "quantity": 2}]}', id="not-utf8"),
            pytest.param('[{"customer_id": "C", "items": [{"product_id": "P", "quantity": 2}]}]', id="array"),
            pytest.param('"C"', id="string"),
            pytest.param("2", id="number"),
            pytest.param("null", id="null"),
        ],
    )
    def test_malformed_json_or_a_non_object_is_400_bad_request(self, http, customer, template):
        product = create_product(http, stock=5)
        data = template.replace("C", customer["id"]).replace("P", product["id"])

        response = http.post("/orders", data=data.encode("utf-8", "surrogateescape"),
                             headers={"Content-Type": "application/json"})

        assert_error(response, 400, "BAD_REQUEST")
        assert stocks(http, product) == [5]
        assert customer_orders(http, customer)["total"] == 0


def test_concurrent_orders_never_oversell(http, stack, customer):
    """30 simultaneous orders of 1 for a stock of 10: exactly 10 are placed."""
    product = create_product(http, stock=10)
    body = order_body(customer, (product, 1))

    def order(_):
        # One connection per request: a requests.Session is not made for sharing between threads.
        return requests.post(f"{stack}/orders", json=body, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        responses = list(pool.map(order, range(30)))

    by_status = sorted(response.status_code for response in responses)
    assert by_status == [201] * 10 + [409] * 20, [response.text for response in responses]
    for response in responses:
        if response.status_code == 409:
            details = assert_error(response, 409, "INSUFFICIENT_STOCK")
            assert details["products"] == [{"product_id": product["id"], "requested": 1, "available": 0}]
        else:
            assert response.json()["status"] == "confirmed"
    assert stocks(http, product) == [0]
    confirmed = customer_orders(http, customer, status="confirmed", page_size=100)
    assert confirmed["total"] == 10
    assert {order["id"] for order in confirmed["items"]} == {
        response.json()["id"] for response in responses if response.status_code == 201
    }
    assert customer_orders(http, customer, status="rejected")["total"] == 20



def test_concurrent_cancels_release_the_stock_once(http, stack, customer):
    product = create_product(http, stock=10)
    order = place_order(http, customer, (product, 4))

    def cancel(_):
        return requests.delete(f"{stack}/orders/{order['id']}", timeout=60)

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(cancel, range(10)))

    assert [response.status_code for response in responses] == [200] * 10, [r.text for r in responses]
    assert len({response.text for response in responses}) == 1, [r.text for r in responses]
    assert responses[0].json()["status"] == "cancelled"
    assert stocks(http, product) == [10]
    page = eventually_movements(http, product["id"], 2)
    assert sorted(m["kind"] for m in page["items"]) == ["released", "reserved"]


# stock moves only by deltas, so orders and stock keeping never undo each other


def adjust_stock(http, product, change):
    response = http.post(f"/products/{product['id']}/stock-adjustments", json={"change": change})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_echoing_a_product_read_before_an_order_keeps_the_order_s_stock_taken(http, customer, method):
    """GET a product, an order takes 3, then the GET body goes back unchanged: refused, the 3 stay taken."""
    product = create_product(http, description="Warm", stock=10)
    read = get_product(http, product["id"])

    place_order(http, customer, (product, 3))
    response = http.request(method, f"/products/{product['id']}", json=read)

    # its read-only fields are refused (its id, the product's own, would be accepted)
    details = assert_error(response, 400, "VALIDATION_FAILED")
    assert set(details) == {"created_at", "updated_at", "version"}
    assert stocks(http, product) == [7]


def test_an_adjustment_after_an_order_adds_to_what_the_order_left(http, customer):
    product = create_product(http, stock=10)

    place_order(http, customer, (product, 3))
    assert adjust_stock(http, product, 5)["stock"] == 12

    assert stocks(http, product) == [12]


def test_an_adjustment_cannot_remove_what_an_order_holds_and_a_cancel_returns_it(http, customer):
    product = create_product(http, stock=10)
    order = place_order(http, customer, (product, 4))

    details = assert_error(
        http.post(f"/products/{product['id']}/stock-adjustments", json={"change": -7}), 409, "INSUFFICIENT_STOCK"
    )
    assert details == {"products": [{"product_id": product["id"], "requested": 7, "available": 6}]}
    adjust_stock(http, product, -6)
    assert http.delete(f"/orders/{order['id']}").status_code == 200

    assert stocks(http, product) == [4]


def test_concurrent_orders_and_adjustments_all_apply(http, stack, customer):
    """10 orders of 1 and 10 additions of 2 at once on a stock of 10: every one of them counts."""
    product = create_product(http, stock=10)
    body = order_body(customer, (product, 1))

    def act(index):
        if index % 2:
            return requests.post(f"{stack}/orders", json=body, timeout=60)
        return requests.post(f"{stack}/products/{product['id']}/stock-adjustments", json={"change": 2}, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(act, range(20)))

    assert sorted(r.status_code for r in responses) == [200] * 10 + [201] * 10, [r.text for r in responses]
    assert stocks(http, product) == [10 - 10 + 20]
    assert customer_orders(http, customer, status="confirmed")["total"] == 10
