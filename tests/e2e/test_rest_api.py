"""The REST contract, end to end: HTTP to the gateway of the system `make up` started.

Every test makes its own records, with a unique token in their names, and
filters lists by that token: the database lives for the whole session.
"""
import datetime
import uuid

import pytest

OTHER_ID = "5f0000000000000000000000"  # a well-formed id no record has
NOT_AN_ID = "not-an-id"
ERROR_KEYS = {"error", "message", "details"}

# Bodies that are not JSON objects, for every route that reads one; "{tag}"
# is replaced by a unique token, to check afterwards that nothing has it.
_FIELDS = '"name": "{tag}", "price": 1, "email": "{tag}@example.com"'
MALFORMED_BODIES = [
    pytest.param("{" + _FIELDS, id="truncated"),
    pytest.param("{" + _FIELDS.replace('"', "'") + "}", id="single-quotes"),
    pytest.param("", id="empty"),
    pytest.param('{"name": "{tag}", "price": NaN}', id="nan"),
    pytest.param("\udcff{" + _FIELDS + "}", id="not-utf8"),
    pytest.param('{"name": "{tag}\udce9", "price": 1, "email": "{tag}@example.com"}', id="not-utf8-in-a-string"),
    pytest.param('{"name": "{tag}", "price": 19.999999999999999999, "email": "{tag}@example.com"}',
                 id="price-past-float-precision"),
    pytest.param('{"name": "{tag}", "price": 1e400, "email": "{tag}@example.com"}', id="price-overflowing-float"),
]
NON_OBJECT_BODIES = [
    pytest.param("[{" + _FIELDS + "}]", id="array"),
    pytest.param('"{tag}"', id="string"),
    pytest.param("42", id="number"),
    pytest.param("null", id="null"),
]


def token():
    return uuid.uuid4().hex[:16]


def assert_error(response, status, code):
    """``response`` is the JSON error ``code`` with ``status``; returns its details."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == ERROR_KEYS, body
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["details"], dict), body
    return body["details"]


def parse_time(text):
    moment = datetime.datetime.fromisoformat(text)
    assert moment.utcoffset() == datetime.timedelta(0), text
    return moment


def send_raw(http, method, path, template, tag):
    """Send one of the bodies above, as bytes ("\\udcff" becomes the invalid byte 0xff)."""
    data = template.replace("{tag}", tag).encode("utf-8", "surrogateescape")
    return http.request(method, path, data=data, headers={"Content-Type": "application/json"})


# products


def created(http, path, body):
    response = http.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def read(http, path, **params):
    response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def create_product(http, **fields):
    return created(http, "/products", {"name": f"Product {token()}", "price": "19.99", **fields})


def product_total(http, q):
    return read(http, "/products", q=q)["total"]


def get_product(http, product_id):
    return read(http, f"/products/{product_id}")


def create_customer(http, **fields):
    tag = token()
    return created(http, "/customers", {"name": f"Customer {tag}", "email": f"{tag}@example.com", **fields})


def customer_total(http, q):
    return read(http, "/customers", q=q)["total"]


def get_customer(http, customer_id):
    return read(http, f"/customers/{customer_id}")


def test_health_reports_every_service_ok(http):
    response = http.get("/health")

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"status", "services", "dead_letters"}
    assert body["status"] == "ok"
    # Depths, not zeros: tests/e2e/test_dead_letter_replay.py leaves dead letters on this stack.
    assert set(body["dead_letters"]) == {"inventory", "product", "shipping"}, body
    assert all(isinstance(depth, int) and depth >= 0 for depth in body["dead_letters"].values()), body
    # product and customers at least; services added later must be ok as well
    assert {"product": "ok", "customers": "ok"}.items() <= body["services"].items(), body
    assert set(body["services"].values()) == {"ok"}, body


class TestProductCreateAndRead:
    def test_create_answers_201_with_location_and_the_stored_document(self, http):
        name = f"Lamp {token()}"
        response = http.post(
            "/products", json={"name": name, "price": "19.99", "description": "Warm light", "stock": 3}
        )

        assert response.status_code == 201, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        created = response.json()
        assert set(created) == {"id", "name", "price", "description", "stock", "created_at", "updated_at",
                                "version"}
        assert response.headers["Location"] == f"/products/{created['id']}"
        assert (created["version"], response.headers["ETag"]) == (1, '"1"')
        assert (created["name"], created["price"], created["description"], created["stock"]) == (
            name, "19.99", "Warm light", 3,
        )
        assert parse_time(created["created_at"]) == parse_time(created["updated_at"])
        now = datetime.datetime.now(datetime.timezone.utc)
        assert abs(now - parse_time(created["created_at"])) < datetime.timedelta(minutes=1)
        assert get_product(http, created["id"]) == created
        assert http.get(response.headers["Location"]).json() == created

    def test_optional_fields_default(self, http):
        created = create_product(http)

        assert created["description"] == ""
        assert created["stock"] == 0

    @pytest.mark.parametrize(
        "price, expected",
        [(19.99, "19.99"), ("19.99", "19.99"), (5, "5.00"), ("0.5", "0.50"), (0, "0.00"),
         (" 7.10 ", "7.10"), ("-0", "0.00"), (1000000000, "1000000000.00")],
    )
    def test_price_is_an_exact_decimal_string(self, http, price, expected):
        created = create_product(http, price=price)

        assert created["price"] == expected
        assert get_product(http, created["id"])["price"] == expected

    @pytest.mark.parametrize("field, value", [
        ("id", OTHER_ID), ("created_at", "2000-01-01T00:00:00+00:00"),
        ("updated_at", "2000-01-01T00:00:00+00:00"), ("version", 1),
    ])
    def test_a_read_only_field_in_the_body_is_400_naming_it_and_nothing_is_created(self, http, field, value):
        name = f"Echo {token()}"

        details = assert_error(http.post("/products", json={"name": name, "price": "1.00", field: value}),
                               400, "VALIDATION_FAILED")

        assert details == {field: ["Read-only: set by the service."]}
        assert product_total(http, name) == 0
        assert http.get(f"/products/{OTHER_ID}").status_code == 404

    def test_unknown_id_is_404(self, http):
        details = assert_error(http.get(f"/products/{OTHER_ID}"), 404, "PRODUCT_NOT_FOUND")

        assert details == {"id": OTHER_ID}

    @pytest.mark.parametrize("bad_id", [NOT_AN_ID, "123", "5f000000000000000000000g", "%7B%22%24gt%22%3A%22%22%7D"])
    def test_a_string_that_is_no_id_is_404(self, http, bad_id):
        assert_error(http.get(f"/products/{bad_id}"), 404, "PRODUCT_NOT_FOUND")


class TestProductCreateRejects:
    @pytest.mark.parametrize(
        "fields, bad_fields",
        [
            pytest.param({"price": "1.00"}, {"name"}, id="name-missing"),
            pytest.param({"name": "   ", "price": "1.00"}, {"name"}, id="name-blank"),
            pytest.param({"name": "x" * 201, "price": "1.00"}, {"name"}, id="name-too-long"),
            pytest.param({"name": 42, "price": "1.00"}, {"name"}, id="name-number"),
            pytest.param({"name": {"$gt": ""}, "price": "1.00"}, {"name"}, id="name-operator"),
            pytest.param({"name": None, "price": "1.00"}, {"name"}, id="name-null"),
            pytest.param({"name": "N"}, {"price"}, id="price-missing"),
            pytest.param({"name": "N", "price": "abc"}, {"price"}, id="price-text"),
            pytest.param({"name": "N", "price": 19.999}, {"price"}, id="price-3-decimals"),
            pytest.param({"name": "N", "price": "19.999"}, {"price"}, id="price-string-3-decimals"),
            pytest.param({"name": "N", "price": -1}, {"price"}, id="price-negative"),
            pytest.param({"name": "N", "price": 1000000000.01}, {"price"}, id="price-too-big"),
            pytest.param({"name": "N", "price": True}, {"price"}, id="price-bool"),
            pytest.param({"name": "N", "price": None}, {"price"}, id="price-null"),
            pytest.param({"name": "N", "price": "NaN"}, {"price"}, id="price-nan-string"),
            pytest.param({"name": "N", "price": "Infinity"}, {"price"}, id="price-inf-string"),
            pytest.param({"name": "N", "price": "1e2"}, {"price"}, id="price-exponent-string"),
            pytest.param({"name": "N", "price": "1_000"}, {"price"}, id="price-underscore-string"),
            pytest.param({"name": "N", "price": "-0.01"}, {"price"}, id="price-negative-string"),
            pytest.param({"name": "N", "price": [1]}, {"price"}, id="price-list"),
            pytest.param({"name": "N", "price": {"$gt": 0}}, {"price"}, id="price-operator"),
            pytest.param({"name": "N", "price": 1, "stock": -1}, {"stock"}, id="stock-negative"),
            pytest.param({"name": "N", "price": 1, "stock": 1.5}, {"stock"}, id="stock-fraction"),
            pytest.param({"name": "N", "price": 1, "stock": "3"}, {"stock"}, id="stock-string"),
            pytest.param({"name": "N", "price": 1, "stock": True}, {"stock"}, id="stock-bool"),
            pytest.param({"name": "N", "price": 1, "stock": 1000000001}, {"stock"}, id="stock-too-big"),
            pytest.param({"name": "N", "price": 1, "description": "d" * 2001}, {"description"}, id="description-too-long"),
            pytest.param({"name": "N", "price": 1, "description": {"$ne": None}}, {"description"}, id="description-operator"),
            pytest.param({"name": "", "price": "x", "stock": -1}, {"name", "price", "stock"}, id="all-at-once"),
            pytest.param({"name": "N", "price": 1, "colour": "red", "$where": "1"}, {"colour", "$where"}, id="unknown-fields"),
        ],
    )
    def test_invalid_fields_are_400_with_field_errors_and_nothing_is_created(self, http, fields, bad_fields):
        # the token goes in a field that is valid, to look for it afterwards
        tag = token()
        body = dict(fields)
        if isinstance(fields.get("name"), str) and "name" not in bad_fields:
            body["name"] = f"{fields['name']} {tag}"
        else:
            assert "description" not in fields
            body["description"] = tag

        details = assert_error(http.post("/products", json=body), 400, "VALIDATION_FAILED")

        assert set(details) == bad_fields, details
        assert all(isinstance(messages, list) and messages for messages in details.values()), details
        assert product_total(http, tag) == 0

    @pytest.mark.parametrize("data", MALFORMED_BODIES + NON_OBJECT_BODIES)
    def test_a_body_that_is_not_a_json_object_is_400_bad_request(self, http, data):
        tag = token()

        assert_error(send_raw(http, "POST", "/products", data, tag), 400, "BAD_REQUEST")
        assert product_total(http, tag) == 0

    def test_a_body_nested_too_deeply_is_400(self, http):
        tag = token()
        body = '{"name": "{tag}", "price": 1, "description": ' + "[" * 100_000 + "]" * 100_000 + "}"

        assert_error(send_raw(http, "POST", "/products", body, tag), 400, "BAD_REQUEST")
        assert product_total(http, tag) == 0

    def test_a_chunked_body_is_read(self, http):
        name = f"Chunked {token()}"
        chunks = iter([b'{"name": "', name.encode(), b'", ', b'"price": "3.00"}'])

        response = http.post("/products", data=chunks, headers={"Content-Type": "application/json"})

        assert response.status_code == 201, response.text
        assert response.json()["name"] == name
        assert product_total(http, name) == 1

    def test_a_chunked_body_over_the_limit_is_413_not_cut_short(self, http):
        tag = token()
        # Cut at 1 MiB this would still be a valid object.
        chunks = iter([b'{"name": "' + tag.encode() + b'", "price": "1.00"}', b" " * (1024 * 1024), b"GARBAGE"])

        response = http.post("/products", data=chunks, headers={"Content-Type": "application/json"})

        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        assert product_total(http, tag) == 0

    def test_a_lone_surrogate_is_400_naming_the_field(self, http):
        tag = token()
        body = '{"name": "%s \\ud800", "price": "1.00"}' % tag  # valid JSON, but not text

        details = assert_error(send_raw(http, "POST", "/products", body, tag), 400, "VALIDATION_FAILED")

        assert set(details) == {"name"}
        assert product_total(http, tag) == 0

    def test_an_oversized_body_is_413(self, http):
        tag = token()
        body = '{"name": "{tag}", "price": 1, "description": "' + "x" * (1024 * 1024) + '"}'

        assert_error(send_raw(http, "POST", "/products", body, tag), 413, "PAYLOAD_TOO_LARGE")
        assert product_total(http, tag) == 0


class TestProductUpdate:
    def test_put_replaces_editable_fields_and_resets_omitted_optional_ones_but_keeps_an_omitted_stock(self, http):
        product = create_product(http, description="Old", stock=9)
        name = f"Renamed {token()}"

        response = http.put(f"/products/{product['id']}", json={"name": name, "price": 5})

        assert response.status_code == 200, response.text
        replaced = response.json()
        # an omitted stock is not reset to its default: renaming never empties the shelf
        assert {k: replaced[k] for k in ("id", "name", "price", "description", "stock", "created_at")} == {
            "id": product["id"], "name": name, "price": "5.00", "description": "", "stock": 9,
            "created_at": product["created_at"],
        }
        assert (replaced["version"], response.headers["ETag"]) == (2, '"2"')
        assert parse_time(replaced["updated_at"]) >= parse_time(product["updated_at"])
        assert get_product(http, product["id"]) == replaced

    def test_patch_changes_only_the_fields_sent(self, http):
        product = create_product(http, description="Keep me", stock=4)

        response = http.patch(f"/products/{product['id']}", json={"price": "7"})

        assert response.status_code == 200, response.text
        patched = response.json()
        assert patched == {**product, "price": "7.00", "updated_at": patched["updated_at"], "version": 2}
        assert parse_time(patched["updated_at"]) >= parse_time(product["updated_at"])
        assert get_product(http, product["id"]) == patched

    @pytest.mark.parametrize("method", ["PUT", "PATCH"])
    @pytest.mark.parametrize("stock", [0, 7, 1000, 1_000_000_000])
    def test_a_stock_in_an_update_sets_it(self, http, method, stock):
        product = create_product(http, stock=4)
        name = f"Renamed {token()}"

        response = http.request(method, f"/products/{product['id']}",
                                json={"name": name, "price": "19.99", "stock": stock})

        assert response.status_code == 200, response.text
        assert (response.json()["name"], response.json()["stock"]) == (name, stock)
        assert get_product(http, product["id"]) == response.json()

    @pytest.mark.parametrize("stock", [0, 7])
    def test_a_patch_of_only_the_stock_sets_it(self, http, stock):
        product = create_product(http, stock=4)

        response = http.patch(f"/products/{product['id']}", json={"stock": stock})

        assert response.status_code == 200, response.text
        assert response.json() == {**product, "stock": stock, "version": 2, "updated_at": response.json()["updated_at"]}
        assert get_product(http, product["id"]) == response.json()

    @pytest.mark.parametrize("method", ["PUT", "PATCH"])
    @pytest.mark.parametrize("stock", [-5, 1_000_000_001, 1.5, "3", None])
    def test_an_invalid_stock_in_an_update_is_400_naming_it(self, http, method, stock):
        product = create_product(http, stock=4)

        response = http.request(method, f"/products/{product['id']}",
                                json={"name": "N", "price": "19.99", "stock": stock})

        assert set(assert_error(response, 400, "VALIDATION_FAILED")) == {"stock"}
        assert get_product(http, product["id"]) == product

    @pytest.mark.parametrize("method", ["PUT", "PATCH"])
    @pytest.mark.parametrize("field, value", [
        ("id", OTHER_ID), ("created_at", "2000-01-01T00:00:00+00:00"),
        ("updated_at", "2000-01-01T00:00:00+00:00"), ("version", 1),
    ])
    def test_a_read_only_field_in_an_update_is_400_naming_it_and_changes_nothing(self, http, method, field, value):
        product = create_product(http)
        body = {"name": product["name"], "price": "2.50", field: value}

        details = assert_error(http.request(method, f"/products/{product['id']}", json=body),
                               400, "VALIDATION_FAILED")

        assert set(details) == {field}
        assert get_product(http, product["id"]) == product
        assert http.get(f"/products/{OTHER_ID}").status_code == 404

    @pytest.mark.parametrize("method", ["PUT", "PATCH"])
    def test_an_update_may_carry_the_products_own_id(self, http, method):
        product = create_product(http)

        response = http.request(method, f"/products/{product['id']}",
                                json={"id": product["id"].upper(), "name": product["name"], "price": "2.50"})

        assert response.status_code == 200, response.text
        assert (response.json()["id"], response.json()["price"]) == (product["id"], "2.50")

    @pytest.mark.parametrize(
        "method, body, bad_fields",
        [
            pytest.param("PUT", {"name": "Only a name"}, {"price"}, id="put-price-missing"),
            pytest.param("PUT", {"price": "1.00"}, {"name"}, id="put-name-missing"),
            pytest.param("PUT", {}, {"name", "price"}, id="put-empty"),
            pytest.param("PATCH", {"price": "1.234"}, {"price"}, id="patch-price-precision"),
            pytest.param("PATCH", {"name": ""}, {"name"}, id="patch-name-empty"),
            pytest.param("PATCH", {"name": None}, {"name"}, id="patch-name-null"),
            pytest.param("PATCH", {"stock": -5}, {"stock"}, id="patch-only-stock"),
            pytest.param("PATCH", {"name": {"$gt": ""}}, {"name"}, id="patch-operator"),
            pytest.param("PATCH", {"stock": 1, "colour": "red"}, {"colour"}, id="patch-unknown-field"),
            pytest.param("PUT", {"name": "N", "price": 1, "colour": "red"}, {"colour"}, id="put-unknown-field"),
        ],
    )
    def test_invalid_updates_are_400_and_change_nothing(self, http, method, body, bad_fields):
        product = create_product(http, description="Unchanged", stock=2)

        details = assert_error(
            http.request(method, f"/products/{product['id']}", json=body), 400, "VALIDATION_FAILED"
        )

        assert set(details) == bad_fields, details
        assert get_product(http, product["id"]) == product

    @pytest.mark.parametrize("own_id", [False, True])
    def test_patch_with_nothing_to_change_is_400(self, http, own_id):
        product = create_product(http)
        body = {"id": product["id"]} if own_id else {}

        response = http.patch(f"/products/{product['id']}", json=body)

        assert_error(response, 400, "VALIDATION_FAILED")
        assert response.json()["message"].startswith("Nothing to update")
        assert get_product(http, product["id"]) == product

    @pytest.mark.parametrize("method", ["PUT", "PATCH"])
    @pytest.mark.parametrize("data", MALFORMED_BODIES + NON_OBJECT_BODIES)
    def test_a_body_that_is_not_a_json_object_is_400_and_changes_nothing(self, http, method, data):
        product = create_product(http)

        assert_error(send_raw(http, method, f"/products/{product['id']}", data, token()), 400, "BAD_REQUEST")
        assert get_product(http, product["id"]) == product

    @pytest.mark.parametrize("method", ["PUT", "PATCH"])
    @pytest.mark.parametrize("product_id", [OTHER_ID, NOT_AN_ID])
    def test_updating_an_unknown_id_is_404_and_creates_nothing(self, http, method, product_id):
        name = f"Ghost {token()}"

        response = http.request(method, f"/products/{product_id}", json={"name": name, "price": "1.00"})

        details = assert_error(response, 404, "PRODUCT_NOT_FOUND")
        assert details == {"id": product_id}
        assert product_total(http, name) == 0


def adjust(http, product_id, change):
    return http.post(f"/products/{product_id}/stock-adjustments", json={"change": change})


class TestStockAdjustment:
    """Stock moves by deltas: POST /products/{id}/stock-adjustments {"change": n}."""

    def test_adding_is_200_with_the_whole_product(self, http):
        product = create_product(http, description="Warm", stock=3)

        response = adjust(http, product["id"], 5)

        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        adjusted = response.json()
        assert adjusted == {**product, "stock": 8, "updated_at": adjusted["updated_at"], "version": 2}
        assert parse_time(adjusted["updated_at"]) >= parse_time(product["updated_at"])
        assert get_product(http, product["id"]) == adjusted

    def test_removing_is_200_down_to_exactly_zero(self, http):
        product = create_product(http, stock=10)

        assert adjust(http, product["id"], -4).json()["stock"] == 6
        assert adjust(http, product["id"], -6).json()["stock"] == 0
        assert get_product(http, product["id"])["stock"] == 0

    def test_adjustments_add_up(self, http):
        product = create_product(http)
        for change in (1_000_000_000, -999_999_990, 5, -3):
            assert adjust(http, product["id"], change).status_code == 200
        assert get_product(http, product["id"])["stock"] == 12

    @pytest.mark.parametrize("stock, change", [(3, -4), (0, -1), (5, -1_000_000_000)])
    def test_removing_more_than_is_in_stock_is_409_and_changes_nothing(self, http, stock, change):
        product = create_product(http, stock=stock)

        details = assert_error(adjust(http, product["id"], change), 409, "INSUFFICIENT_STOCK")

        assert details == {"products": [{"product_id": product["id"], "requested": -change, "available": stock}]}
        assert get_product(http, product["id"]) == product

    @pytest.mark.parametrize("stock, change", [(1_000_000_000, 1), (1, 1_000_000_000)])
    def test_adding_beyond_the_maximum_stock_is_409_and_changes_nothing(self, http, stock, change):
        product = create_product(http, stock=stock)

        details = assert_error(adjust(http, product["id"], change), 409, "STOCK_LIMIT_EXCEEDED")

        assert details == {"product_id": product["id"], "change": change, "available": stock,
                           "maximum": 1_000_000_000}
        assert get_product(http, product["id"]) == product

    @pytest.mark.parametrize("product_id", [OTHER_ID, NOT_AN_ID])
    @pytest.mark.parametrize("change", [1, -1])
    def test_an_unknown_id_is_404_and_creates_nothing(self, http, product_id, change):
        details = assert_error(adjust(http, product_id, change), 404, "PRODUCT_NOT_FOUND")

        assert details == {"id": product_id}
        assert_error(http.get(f"/products/{product_id}"), 404, "PRODUCT_NOT_FOUND")

    @pytest.mark.parametrize(
        "body, bad_fields",
        [
            pytest.param({"change": 0}, {"change"}, id="zero"),
            pytest.param({"change": 1.5}, {"change"}, id="fraction"),
            pytest.param({"change": 3.0}, {"change"}, id="float"),
            pytest.param({"change": "3"}, {"change"}, id="string"),
            pytest.param({"change": True}, {"change"}, id="bool"),
            pytest.param({"change": None}, {"change"}, id="null"),
            pytest.param({"change": {"$inc": 1}}, {"change"}, id="operator"),
            pytest.param({"change": 1_000_000_001}, {"change"}, id="too-big"),
            pytest.param({"change": -1_000_000_001}, {"change"}, id="too-small"),
            pytest.param({}, {"change"}, id="missing"),
            pytest.param({"stock": 50}, {"stock", "change"}, id="absolute-stock"),
            pytest.param({"change": 1, "reason": "recount"}, {"reason"}, id="unknown-field"),
        ],
    )
    def test_an_invalid_adjustment_is_400_and_changes_nothing(self, http, body, bad_fields):
        product = create_product(http, stock=2)

        response = http.post(f"/products/{product['id']}/stock-adjustments", json=body)

        details = assert_error(response, 400, "VALIDATION_FAILED")
        assert set(details) == bad_fields, details
        assert get_product(http, product["id"]) == product

    @pytest.mark.parametrize("data", MALFORMED_BODIES + NON_OBJECT_BODIES)
    def test_a_body_that_is_not_a_json_object_is_400_and_changes_nothing(self, http, data):
        product = create_product(http, stock=2)

        response = send_raw(http, "POST", f"/products/{product['id']}/stock-adjustments", data, token())

        assert_error(response, 400, "BAD_REQUEST")
        assert get_product(http, product["id"]) == product

    def test_an_oversized_body_is_413_and_changes_nothing(self, http):
        product = create_product(http, stock=2)
        body = '{"change": 1, "pad": "' + "x" * (1024 * 1024) + '"}'

        response = send_raw(http, "POST", f"/products/{product['id']}/stock-adjustments", body, token())

        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        assert get_product(http, product["id"]) == product

    def test_a_deleted_product_cannot_be_adjusted(self, http):
        product = create_product(http, stock=2)
        assert http.delete(f"/products/{product['id']}").status_code == 204

        assert_error(adjust(http, product["id"], 1), 404, "PRODUCT_NOT_FOUND")
        assert product_total(http, product["name"]) == 0


class TestProductDelete:
    def test_delete_is_204_then_the_product_is_gone(self, http):
        product = create_product(http)

        response = http.delete(f"/products/{product['id']}")

        assert response.status_code == 204, response.text
        assert response.content == b""
        assert_error(http.get(f"/products/{product['id']}"), 404, "PRODUCT_NOT_FOUND")
        assert_error(http.delete(f"/products/{product['id']}"), 404, "PRODUCT_NOT_FOUND")
        assert_error(http.patch(f"/products/{product['id']}", json={"name": "x"}), 404, "PRODUCT_NOT_FOUND")
        assert_error(http.post(f"/products/{product['id']}/stock-adjustments", json={"change": 1}),
                     404, "PRODUCT_NOT_FOUND")
        assert product_total(http, product["name"]) == 0

    @pytest.mark.parametrize("product_id", [OTHER_ID, NOT_AN_ID])
    def test_deleting_an_unknown_id_is_404_and_deletes_nothing(self, http, product_id):
        product = create_product(http)

        assert_error(http.delete(f"/products/{product_id}"), 404, "PRODUCT_NOT_FOUND")
        assert get_product(http, product["id"]) == product


class TestProductList:
    def test_a_page_has_items_total_page_and_page_size(self, http):
        tag = token()
        created = [create_product(http, name=f"Shape {tag} {n}") for n in range(3)]

        response = http.get("/products", params={"q": tag})

        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        page = response.json()
        assert set(page) == {"items", "total", "page", "page_size"}
        assert (page["total"], page["page"], page["page_size"]) == (3, 1, 20)
        # newest first by default
        assert page["items"] == list(reversed(created))

    def test_default_page_size_is_20_and_the_maximum_100(self, http):
        everything = http.get("/products").json()
        assert everything["page"] == 1 and everything["page_size"] == 20
        assert len(everything["items"]) == min(20, everything["total"])

        largest = http.get("/products", params={"page_size": 100}).json()
        assert largest["page_size"] == 100
        assert len(largest["items"]) == min(100, largest["total"])

    def test_pages_split_the_matches(self, http):
        tag = token()
        names = [f"Paged {tag} {n}" for n in range(5)]
        for name in names:
            create_product(http, name=name)

        pages = [http.get("/products", params={"q": tag, "sort": "name", "page": n, "page_size": 2}).json()
                 for n in (1, 2, 3, 4)]

        assert [[item["name"] for item in page["items"]] for page in pages] == [names[0:2], names[2:4], names[4:], []]
        assert all(page["total"] == 5 for page in pages)
        assert [page["page"] for page in pages] == [1, 2, 3, 4]
        assert all(page["page_size"] == 2 for page in pages)

    @pytest.mark.parametrize(
        "params, bad",
        [
            ({"page": 0}, "page"), ({"page": -1}, "page"), ({"page": "abc"}, "page"), ({"page": "1.5"}, "page"),
            ({"page": ""}, "page"), ({"page_size": 0}, "page_size"), ({"page_size": 101}, "page_size"),
            ({"page_size": "many"}, "page_size"), ({"sort": "colour"}, "sort"), ({"sort": "-_id"}, "sort"),
            ({"sort": "reservations"}, "sort"), ({"q": "x" * 101}, "q"),
        ],
    )
    def test_out_of_range_paging_or_sort_is_400(self, http, params, bad):
        details = assert_error(http.get("/products", params=params), 400, "VALIDATION_FAILED")

        assert set(details) == {bad}, details

    def test_q_matches_name_or_description_ignoring_case(self, http):
        tag = token()
        by_name = create_product(http, name=f"Chair {tag.upper()}")
        by_description = create_product(http, name="Table", description=f"goes with chair {tag}")
        create_product(http, name=f"Unrelated {token()}")

        page = http.get("/products", params={"q": tag}).json()

        assert page["total"] == 2
        assert {item["id"] for item in page["items"]} == {by_name["id"], by_description["id"]}

    @pytest.mark.parametrize("pattern", [".*", "^", "[a-z]+", "(", "\\", "$where", "a|b"])
    def test_q_is_a_literal_text_not_a_pattern(self, http, pattern):
        tag = token()
        literal = create_product(http, name=f"{tag}{pattern}end")
        create_product(http, name=f"{tag}abcend")

        page = http.get("/products", params={"q": f"{tag}{pattern}"}).json()

        assert [item["id"] for item in page["items"]] == [literal["id"]]
        assert page["total"] == 1

    def test_q_with_no_match_is_an_empty_page(self, http):
        page = http.get("/products", params={"q": f"nothing-{token()}"}).json()

        assert page == {"items": [], "total": 0, "page": 1, "page_size": 20}

    @pytest.mark.parametrize(
        "sort, expected",
        [
            ("name", ["a", "b", "c", "d"]),
            ("-name", ["d", "c", "b", "a"]),
            ("price", ["c", "a", "d", "b"]),
            ("-price", ["b", "d", "a", "c"]),
            ("stock", ["d", "c", "b", "a"]),
            ("-stock", ["a", "b", "c", "d"]),
            ("created_at", ["b", "a", "d", "c"]),
            ("-created_at", ["c", "d", "a", "b"]),
        ],
    )
    def test_sort(self, http, sort, expected):
        tag = token()
        # created in the order b, a, d, c; prices compare as numbers, not text
        for letter, price, stock in [("b", "100.00", 3), ("a", "9.99", 4), ("d", "10.00", 1), ("c", "2.50", 2)]:
            create_product(http, name=f"{tag} {letter}", price=price, stock=stock)

        response = http.get("/products", params={"q": tag, "sort": sort})

        assert response.status_code == 200, response.text
        assert [item["name"].split()[-1] for item in response.json()["items"]] == expected


class TestCustomers:
    def test_create_answers_201_with_location_and_defaults(self, http):
        tag = token()
        response = http.post("/customers", json={"name": f"Ada {tag}", "email": f"Ada.{tag}@Example.com"})

        assert response.status_code == 201, response.text
        created = response.json()
        assert set(created) == {"id", "name", "email", "phone", "address", "created_at", "updated_at", "version"}
        assert response.headers["Location"] == f"/customers/{created['id']}"
        assert (created["version"], response.headers["ETag"]) == (1, '"1"')
        # the email comes back as typed
        assert (created["name"], created["email"], created["phone"], created["address"]) == (
            f"Ada {tag}", f"Ada.{tag}@Example.com", None, None,
        )
        assert parse_time(created["created_at"]) == parse_time(created["updated_at"])
        assert get_customer(http, created["id"]) == created

    def test_create_with_every_field(self, http):
        address = {"street": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}

        created = create_customer(http, phone="+1 (555) 010-9999", address=address)

        assert created["phone"] == "+1 (555) 010-9999"
        assert created["address"] == address
        assert get_customer(http, created["id"]) == created

    def test_read_only_fields_in_the_body_are_400_naming_them(self, http):
        tag = token()
        body = {"name": tag, "email": f"{tag}@example.com", "id": OTHER_ID, "created_at": "2000-01-01T00:00:00+00:00"}

        details = assert_error(http.post("/customers", json=body), 400, "VALIDATION_FAILED")

        assert set(details) == {"id", "created_at"}
        assert customer_total(http, tag) == 0
        customer = create_customer(http)
        for update in ({"name": "Eve", "id": OTHER_ID}, {"name": "Eve", "version": 2},
                       {"name": "Eve", "updated_at": "2000-01-01T00:00:00+00:00"}):
            details = assert_error(http.patch(f"/customers/{customer['id']}", json=update), 400, "VALIDATION_FAILED")
            assert set(details) == set(update) - {"name"}
        assert get_customer(http, customer["id"]) == customer

    @pytest.mark.parametrize(
        "fields, bad_fields",
        [
            pytest.param({"email": "{tag}@example.com"}, {"name"}, id="name-missing"),
            pytest.param({"name": " ", "email": "{tag}@example.com"}, {"name"}, id="name-blank"),
            pytest.param({"name": "{tag}"}, {"email"}, id="email-missing"),
            pytest.param({"name": "{tag}", "email": "not-an-email"}, {"email"}, id="email-invalid"),
            pytest.param({"name": "{tag}", "email": None}, {"email"}, id="email-null"),
            pytest.param({"name": "{tag}", "email": {"$gt": ""}}, {"email"}, id="email-operator"),
            pytest.param({"name": {"$gt": ""}, "email": "{tag}@example.com"}, {"name"}, id="name-operator"),
            pytest.param({"name": "{tag}", "email": "{tag}@example.com", "phone": "call me"}, {"phone"}, id="phone-invalid"),
            pytest.param({"name": "{tag}", "email": "{tag}@example.com", "address": "Main St"}, {"address"}, id="address-not-object"),
            pytest.param({"name": "{tag}", "email": "{tag}@example.com", "address": {"planet": "Mars"}}, {"address"}, id="address-unknown-field"),
            pytest.param({"name": "{tag}", "email": "{tag}@example.com", "vip": True}, {"vip"}, id="unknown-field"),
        ],
    )
    def test_invalid_fields_are_400_with_field_errors_and_nothing_is_created(self, http, fields, bad_fields):
        tag = token()
        body = {key: value.format(tag=tag) if isinstance(value, str) else value for key, value in fields.items()}

        details = assert_error(http.post("/customers", json=body), 400, "VALIDATION_FAILED")

        assert set(details) == bad_fields, details
        assert customer_total(http, tag) == 0

    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
    @pytest.mark.parametrize("data", MALFORMED_BODIES + NON_OBJECT_BODIES)
    def test_a_body_that_is_not_a_json_object_is_400_and_changes_nothing(self, http, method, data):
        customer = create_customer(http)
        path = "/customers" if method == "POST" else f"/customers/{customer['id']}"
        tag = token()

        assert_error(send_raw(http, method, path, data, tag), 400, "BAD_REQUEST")
        assert get_customer(http, customer["id"]) == customer
        assert customer_total(http, tag) == 0

    def test_a_duplicate_email_ignoring_case_is_409(self, http):
        tag = token()
        first = create_customer(http, email=f"Dup.{tag}@example.com")

        response = http.post("/customers", json={"name": "Second", "email": f"dup.{tag.upper()}@EXAMPLE.COM"})

        details = assert_error(response, 409, "EMAIL_ALREADY_EXISTS")
        assert details == {"email": f"dup.{tag.upper()}@EXAMPLE.COM"}
        assert customer_total(http, tag) == 1
        assert get_customer(http, first["id"]) == first

    @pytest.mark.parametrize("method", ["PUT", "PATCH"])
    def test_taking_another_customers_email_is_409_and_changes_nothing(self, http, method):
        taken = create_customer(http)
        customer = create_customer(http, phone="555-0100")

        response = http.request(method, f"/customers/{customer['id']}",
                                json={"name": "Thief", "email": taken["email"].upper()})

        assert_error(response, 409, "EMAIL_ALREADY_EXISTS")
        assert get_customer(http, customer["id"]) == customer
        assert get_customer(http, taken["id"]) == taken

    def test_a_customer_may_change_the_case_of_its_own_email(self, http):
        customer = create_customer(http)

        response = http.patch(f"/customers/{customer['id']}", json={"email": customer["email"].upper()})

        assert response.status_code == 200, response.text
        assert get_customer(http, customer["id"])["email"] == customer["email"].upper()

    def test_a_deleted_customers_email_can_be_used_again(self, http):
        customer = create_customer(http)
        assert http.delete(f"/customers/{customer['id']}").status_code == 204

        again = create_customer(http, email=customer["email"])

        assert again["id"] != customer["id"]

    def test_put_replaces_editable_fields_and_resets_omitted_optional_ones(self, http):
        customer = create_customer(http, phone="555-0100", address={"city": "Paris"})
        tag = token()

        response = http.put(f"/customers/{customer['id']}", json={"name": f"New {tag}", "email": f"{tag}@example.org"})

        assert response.status_code == 200, response.text
        replaced = response.json()
        assert {k: replaced[k] for k in ("id", "name", "email", "phone", "address", "created_at")} == {
            "id": customer["id"], "name": f"New {tag}", "email": f"{tag}@example.org",
            "phone": None, "address": None, "created_at": customer["created_at"],
        }
        assert parse_time(replaced["updated_at"]) >= parse_time(customer["updated_at"])
        assert get_customer(http, customer["id"]) == replaced
        # the old email is free again
        assert create_customer(http, email=customer["email"])["email"] == customer["email"]

    def test_patch_changes_only_the_fields_sent(self, http):
        customer = create_customer(http, phone="555-0100", address={"city": "Paris"})

        # an id naming the customer itself is no change, and accepted
        response = http.patch(f"/customers/{customer['id']}", json={"phone": "555-0199", "id": customer["id"]})

        assert response.status_code == 200, response.text
        patched = response.json()
        assert patched == {**customer, "phone": "555-0199", "updated_at": patched["updated_at"], "version": 2}
        assert get_customer(http, customer["id"]) == patched

    def test_patch_can_clear_an_optional_field(self, http):
        customer = create_customer(http, phone="555-0100")

        response = http.patch(f"/customers/{customer['id']}", json={"phone": None})

        assert response.status_code == 200, response.text
        assert get_customer(http, customer["id"])["phone"] is None

    @pytest.mark.parametrize(
        "method, body, bad_fields",
        [
            pytest.param("PUT", {"name": "Only a name"}, {"email"}, id="put-email-missing"),
            pytest.param("PUT", {}, {"name", "email"}, id="put-empty"),
            pytest.param("PATCH", {"email": "nope"}, {"email"}, id="patch-email-invalid"),
            pytest.param("PATCH", {"email": None}, {"email"}, id="patch-email-null"),
            pytest.param("PATCH", {"name": {"$gt": ""}}, {"name"}, id="patch-operator"),
            pytest.param("PATCH", {"phone": "x"}, {"phone"}, id="patch-phone-invalid"),
            pytest.param("PATCH", {"vip": True}, {"vip"}, id="patch-unknown-field"),
        ],
    )
    def test_invalid_updates_are_400_and_change_nothing(self, http, method, body, bad_fields):
        customer = create_customer(http, phone="555-0100")

        details = assert_error(
            http.request(method, f"/customers/{customer['id']}", json=body), 400, "VALIDATION_FAILED"
        )

        assert set(details) == bad_fields, details
        assert get_customer(http, customer["id"]) == customer

    def test_patch_with_nothing_to_change_is_400(self, http):
        customer = create_customer(http)

        assert_error(http.patch(f"/customers/{customer['id']}", json={}), 400, "VALIDATION_FAILED")
        assert get_customer(http, customer["id"]) == customer

    @pytest.mark.parametrize("customer_id", [OTHER_ID, NOT_AN_ID])
    @pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
    def test_an_unknown_or_malformed_id_is_404(self, http, method, customer_id):
        tag = token()
        body = None if method in ("GET", "DELETE") else {"name": tag, "email": f"{tag}@example.com"}

        details = assert_error(
            http.request(method, f"/customers/{customer_id}", json=body), 404, "CUSTOMER_NOT_FOUND"
        )

        assert details == {"id": customer_id}
        assert customer_total(http, tag) == 0

    def test_delete_is_204_then_the_customer_is_gone(self, http):
        customer = create_customer(http)
        other = create_customer(http)

        response = http.delete(f"/customers/{customer['id']}")

        assert response.status_code == 204, response.text
        assert response.content == b""
        assert_error(http.get(f"/customers/{customer['id']}"), 404, "CUSTOMER_NOT_FOUND")
        assert_error(http.delete(f"/customers/{customer['id']}"), 404, "CUSTOMER_NOT_FOUND")
        assert_error(http.put(f"/customers/{customer['id']}", json={"name": "x", "email": "x@example.com"}),
                     404, "CUSTOMER_NOT_FOUND")
        assert get_customer(http, other["id"]) == other

    def test_list_pages_newest_first_and_q_matches_name_or_email(self, http):
        tag = token()
        by_name = [create_customer(http, name=f"Grace {tag} {n}") for n in range(3)]
        by_email = create_customer(http, email=f"{tag.upper()}@Example.com")
        create_customer(http)

        first = http.get("/customers", params={"q": tag, "page_size": 3}).json()
        second = http.get("/customers", params={"q": tag, "page_size": 3, "page": 2}).json()

        assert set(first) == {"items", "total", "page", "page_size"}
        assert (first["total"], first["page"], first["page_size"]) == (4, 1, 3)
        assert (second["total"], second["page"], second["page_size"]) == (4, 2, 3)
        assert first["items"] + second["items"] == [by_email, *reversed(by_name)]

    def test_list_defaults_and_maximum_page_size(self, http):
        default = http.get("/customers").json()
        largest = http.get("/customers", params={"page_size": 100}).json()

        assert (default["page"], default["page_size"]) == (1, 20)
        assert len(default["items"]) == min(20, default["total"])
        assert largest["page_size"] == 100
        assert len(largest["items"]) == min(100, largest["total"])

    @pytest.mark.parametrize(
        "params, bad",
        [({"page": 0}, "page"), ({"page": "x"}, "page"), ({"page_size": 0}, "page_size"),
         ({"page_size": 101}, "page_size"), ({"q": "y" * 101}, "q")],
    )
    def test_out_of_range_paging_is_400(self, http, params, bad):
        details = assert_error(http.get("/customers", params=params), 400, "VALIDATION_FAILED")

        assert set(details) == {bad}, details

    @pytest.mark.parametrize("pattern", [".*", "+", "[a]"])
    def test_q_is_a_literal_text_not_a_pattern(self, http, pattern):
        tag = token()
        literal = create_customer(http, name=f"{tag}{pattern}")
        create_customer(http, name=f"{tag}aaa")

        page = http.get("/customers", params={"q": f"{tag}{pattern}"}).json()

        assert [item["id"] for item in page["items"]] == [literal["id"]]
        assert page["total"] == 1


class TestRouting:
    @pytest.mark.parametrize(
        "method, path",
        [("GET", "/"), ("GET", "/nope"), ("GET", "/products/"), ("POST", "/invoices"),
         ("GET", f"/products/{OTHER_ID}/extra"), ("DELETE", "/customers/a/b")],
    )
    def test_an_unknown_route_is_404_json(self, http, method, path):
        response = http.request(method, path)

        assert_error(response, 404, "ROUTE_NOT_FOUND")
        assert path in response.json()["message"]

    @pytest.mark.parametrize(
        "method, path, allowed",
        [
            ("DELETE", "/products", {"GET", "POST"}),
            ("PUT", "/customers", {"GET", "POST"}),
            ("POST", f"/products/{OTHER_ID}", {"GET", "PUT", "PATCH", "DELETE"}),
            ("POST", f"/customers/{OTHER_ID}", {"GET", "PUT", "PATCH", "DELETE"}),
            ("PATCH", f"/products/{OTHER_ID}/stock-adjustments", {"POST"}),
            ("POST", "/health", {"GET"}),
        ],
    )
    def test_a_wrong_method_is_405_json_with_allow(self, http, method, path, allowed):
        response = http.request(method, path, json={"name": "x", "price": 1})

        details = assert_error(response, 405, "METHOD_NOT_ALLOWED")
        assert allowed <= set(details["allowed"]), details
        assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}

    def test_a_wrong_method_changes_nothing(self, http):
        product = create_product(http)

        assert_error(http.post(f"/products/{product['id']}", json={"stock": 99}), 405, "METHOD_NOT_ALLOWED")
        assert get_product(http, product["id"]) == product


# versions: ETag, If-Match, If-None-Match


def place_order(http, customer, product, quantity):
    response = http.post("/orders", json={"customer_id": customer["id"],
                                          "items": [{"product_id": product["id"], "quantity": quantity}]})
    assert response.status_code == 201, response.text
    return response


def etag_of(response):
    """The response's ETag, checked to be the strong tag of the version in its body."""
    assert response.headers["ETag"] == f'"{response.json()["version"]}"', (response.headers, response.text)
    return response.headers["ETag"]


class TestVersions:
    def test_every_answer_with_one_product_carries_its_version_as_etag(self, http):
        created = http.post("/products", json={"name": f"Lamp {token()}", "price": "1.00", "stock": 5})
        path = f"/products/{created.json()['id']}"

        answers = [created, http.get(path), http.put(path, json={"name": "Desk", "price": 2}),
                   http.patch(path, json={"stock": 9}), http.post(f"{path}/stock-adjustments", json={"change": 1})]

        assert [response.status_code for response in answers] == [201, 200, 200, 200, 200]
        assert [etag_of(response) for response in answers] == ['"1"', '"1"', '"2"', '"3"', '"4"']
        assert "ETag" not in http.get("/products", params={"q": "Desk"}).headers

    def test_every_answer_with_one_customer_carries_its_version_as_etag(self, http):
        tag = token()
        created = http.post("/customers", json={"name": tag, "email": f"{tag}@example.com"})
        path = f"/customers/{created.json()['id']}"

        answers = [created, http.get(path), http.put(path, json={"name": "Ada", "email": f"{tag}@example.com"}),
                   http.patch(path, json={"phone": "+44 20 7946 0000"})]

        assert [response.status_code for response in answers] == [201, 200, 200, 200]
        assert [etag_of(response) for response in answers] == ['"1"', '"1"', '"2"', '"3"']
        assert "ETag" not in http.get("/customers", params={"q": tag}).headers

    def test_every_answer_with_one_order_carries_its_version_as_etag(self, http):
        product = create_product(http, stock=3)
        placed = place_order(http, create_customer(http), product, 1)
        path = f"/orders/{placed.json()['id']}"

        answers = [placed, http.get(path), http.delete(path), http.delete(path), http.get(path)]

        assert [response.status_code for response in answers] == [201, 200, 200, 200, 200]
        # saved pending (1) and confirmed (2) by the POST; cancelled (3), then unchanged
        assert [etag_of(response) for response in answers] == ['"2"', '"2"', '"3"', '"3"', '"3"']

    def test_an_order_taking_and_giving_back_stock_moves_the_products_etag(self, http):
        product = create_product(http, stock=5)
        path = f"/products/{product['id']}"
        read = http.get(path)

        order = place_order(http, create_customer(http), product, 2).json()
        taken = http.get(path, headers={"If-None-Match": etag_of(read)})
        assert http.delete(f"/orders/{order['id']}").status_code == 200
        given_back = http.get(path)

        assert (taken.status_code, taken.json()["stock"], etag_of(taken)) == (200, 3, '"2"')
        assert (given_back.json()["stock"], etag_of(given_back)) == (5, '"3"')

    def test_a_read_modify_write_of_the_stock_an_order_changed_meanwhile_is_412_and_changes_nothing(self, http):
        product = create_product(http, stock=5)
        path = f"/products/{product['id']}"
        read = http.get(path)
        place_order(http, create_customer(http), product, 2)
        current = get_product(http, product["id"])

        for method, body in (("PUT", {"name": product["name"], "price": product["price"], "stock": 6}),
                             ("PATCH", {"stock": 6})):
            response = http.request(method, path, json=body, headers={"If-Match": etag_of(read)})
            details = assert_error(response, 412, "PRECONDITION_FAILED")
            assert details == {"id": product["id"], "version": 2, "expected": [1]}

        assert get_product(http, product["id"]) == current
        assert current["stock"] == 3  # what the order took is not undone

    @pytest.mark.parametrize("method, suffix, body", [
        ("PUT", "", {"name": "Stale", "price": "1.00"}),
        ("PATCH", "", {"stock": 0}),
        ("DELETE", "", None),
        ("POST", "/stock-adjustments", {"change": -1}),
    ])
    def test_a_product_write_with_a_stale_if_match_is_412_and_changes_nothing(self, http, method, suffix, body):
        product = create_product(http, stock=4)
        path = f"/products/{product['id']}"
        current = http.patch(path, json={"description": "moved on"}).json()

        response = http.request(method, path + suffix, json=body, headers={"If-Match": '"1"'})

        assert assert_error(response, 412, "PRECONDITION_FAILED") == {
            "id": product["id"], "version": 2, "expected": [1]}
        assert get_product(http, product["id"]) == current

    @pytest.mark.parametrize("method, body", [
        ("PUT", {"name": "Stale", "email": "stale@example.com"}), ("PATCH", {"name": "Stale"}), ("DELETE", None),
    ])
    def test_a_customer_write_with_a_stale_if_match_is_412_and_changes_nothing(self, http, method, body):
        customer = create_customer(http)
        path = f"/customers/{customer['id']}"
        current = http.patch(path, json={"name": f"Moved {token()}"}).json()

        response = http.request(method, path, json=body, headers={"If-Match": '"1"'})

        assert assert_error(response, 412, "PRECONDITION_FAILED")["version"] == 2
        assert get_customer(http, customer["id"]) == current

    def test_cancelling_an_order_with_a_stale_if_match_is_412_and_keeps_the_order_and_its_stock(self, http):
        product = create_product(http, stock=4)
        order = place_order(http, create_customer(http), product, 3).json()
        path = f"/orders/{order['id']}"

        details = assert_error(http.delete(path, headers={"If-Match": '"1"'}), 412, "PRECONDITION_FAILED")

        assert details == {"id": order["id"], "version": 2, "expected": [1]}
        assert http.get(path).json() == order
        assert get_product(http, product["id"])["stock"] == 1
        cancelled = http.delete(path, headers={"If-Match": '"2"'})
        assert (cancelled.status_code, cancelled.json()["status"], etag_of(cancelled)) == (200, "cancelled", '"3"')
        assert get_product(http, product["id"])["stock"] == 4

    @pytest.mark.parametrize("if_match", ['"1"', '"7", "1"', "*", 'W/"1", "1"'])
    def test_a_write_with_if_match_naming_the_current_version_applies(self, http, if_match):
        product = create_product(http, stock=4)
        customer = create_customer(http)
        path = f"/products/{product['id']}"

        patched = http.patch(path, json={"stock": 1}, headers={"If-Match": if_match})
        renamed = http.patch(f"/customers/{customer['id']}", json={"name": "Ada"}, headers={"If-Match": if_match})

        assert (patched.status_code, patched.json()["stock"], etag_of(patched)) == (200, 1, '"2"')
        assert (renamed.status_code, etag_of(renamed)) == (200, '"2"')
        assert http.delete(path, headers={"If-Match": '"2"'}).status_code == 204
        assert http.delete(f"/customers/{customer['id']}", headers={"If-Match": etag_of(renamed)}).status_code == 204

    @pytest.mark.parametrize("if_match", ['W/"1"', '"abc"', '"01"', '""'])
    def test_if_match_only_matches_a_strong_tag_of_the_version(self, http, if_match):
        product = create_product(http, stock=4)

        response = http.patch(f"/products/{product['id']}", json={"stock": 1}, headers={"If-Match": if_match})

        assert assert_error(response, 412, "PRECONDITION_FAILED")["version"] == 1
        assert get_product(http, product["id"]) == product

    def test_if_match_on_an_unknown_record_is_still_404(self, http):
        assert_error(http.patch(f"/products/{OTHER_ID}", json={"stock": 1}, headers={"If-Match": '"1"'}),
                     404, "PRODUCT_NOT_FOUND")
        assert_error(http.delete(f"/customers/{OTHER_ID}", headers={"If-Match": "*"}), 404, "CUSTOMER_NOT_FOUND")
        assert_error(http.delete(f"/orders/{OTHER_ID}", headers={"If-Match": '"1"'}), 404, "ORDER_NOT_FOUND")

    @pytest.mark.parametrize("value", ["1", '"1', "W/1", '"1" "2"', '*, "1"'])
    def test_a_malformed_if_match_is_400_json_and_changes_nothing(self, http, value):
        product = create_product(http, stock=4)
        path = f"/products/{product['id']}"

        for method, body in (("PUT", {"name": "N", "price": 1}), ("PATCH", {"stock": 0}), ("DELETE", None)):
            details = assert_error(http.request(method, path, json=body, headers={"If-Match": value}),
                                   400, "BAD_REQUEST")
            assert details == {"header": "If-Match"}
        assert get_product(http, product["id"]) == product

    def test_if_none_match_naming_the_version_is_304_with_the_etag_and_no_body(self, http):
        product = create_product(http, stock=4)
        customer = create_customer(http)
        order = place_order(http, customer, product, 1).json()

        for path in (f"/products/{product['id']}", f"/customers/{customer['id']}", f"/orders/{order['id']}"):
            etag = etag_of(http.get(path))
            for value in (etag, f"W/{etag}", f'"999", {etag}', "*"):
                response = http.get(path, headers={"If-None-Match": value})
                assert (response.status_code, response.content) == (304, b""), (path, value, response.text)
                assert response.headers["ETag"] == etag
                assert "Content-Type" not in response.headers
            stale = http.get(path, headers={"If-None-Match": '"999"'})
            assert (stale.status_code, etag_of(stale)) == (200, etag)
        assert_error(http.get(f"/products/{product['id']}", headers={"If-None-Match": "1"}), 400, "BAD_REQUEST")
        assert_error(http.get(f"/products/{OTHER_ID}", headers={"If-None-Match": "*"}), 404, "PRODUCT_NOT_FOUND")

    @pytest.mark.parametrize("field, value", [
        ("total", "1.00"), ("status", "confirmed"), ("id", OTHER_ID), ("created_at", "2000-01-01T00:00:00+00:00"),
        ("version", 1),
    ])
    def test_an_order_request_with_a_field_the_service_sets_is_400_naming_it(self, http, field, value):
        product = create_product(http, stock=4)
        customer = create_customer(http)
        body = {"customer_id": customer["id"], "items": [{"product_id": product["id"], "quantity": 1}], field: value}

        assert set(assert_error(http.post("/orders", json=body), 400, "VALIDATION_FAILED")) == {field}
        assert read(http, "/orders", customer_id=customer["id"])["total"] == 0
        assert get_product(http, product["id"])["stock"] == 4


class TestQueryParameters:
    @pytest.mark.parametrize("path", [
        "/health", "/products", f"/products/{OTHER_ID}", f"/products/{OTHER_ID}/movements", "/customers",
        f"/customers/{OTHER_ID}", "/orders", f"/orders/{OTHER_ID}", f"/orders/{OTHER_ID}/shipment",
        "/openapi.json", "/docs", "/docs/swagger-ui.css",
    ])
    def test_a_query_parameter_a_route_does_not_take_is_400_naming_it(self, http, path):
        details = assert_error(http.get(path, params={"surprise": "1"}), 400, "VALIDATION_FAILED")

        assert details == {"surprise": ["Unknown query parameter."]}

    @pytest.mark.parametrize("path, params, refused", [
        ("/products", {"page": 1, "page_size": 5, "q": "x", "sort": "name", "limit": 5}, {"limit"}),
        ("/customers", {"q": "x", "sort": "name"}, {"sort"}),
        ("/orders", {"customer_id": OTHER_ID, "status": "pending", "customer": OTHER_ID}, {"customer"}),
        (f"/products/{OTHER_ID}/movements", {"page": 1, "q": "x"}, {"q"}),
    ])
    def test_a_list_names_only_the_parameters_it_does_not_take(self, http, path, params, refused):
        details = assert_error(http.get(path, params=params), 400, "VALIDATION_FAILED")

        assert set(details) == refused

    def test_a_parameter_given_twice_is_400_naming_it(self, http):
        details = assert_error(http.get("/products?page=1&page=2"), 400, "VALIDATION_FAILED")

        assert details == {"page": ["Given more than once."]}

    def test_a_write_with_a_query_parameter_is_400_and_changes_nothing(self, http):
        product = create_product(http, stock=4)
        path = f"/products/{product['id']}"
        name = f"Ghost {token()}"

        for method, target, body in (("PUT", path, {"name": "N", "price": 1}), ("PATCH", path, {"stock": 0}),
                                     ("DELETE", path, None), ("POST", f"{path}/stock-adjustments", {"change": 1}),
                                     ("POST", "/products", {"name": name, "price": 1})):
            response = http.request(method, target, json=body, params={"stock": "9"})
            assert assert_error(response, 400, "VALIDATION_FAILED") == {"stock": ["Unknown query parameter."]}
        assert get_product(http, product["id"]) == product
        assert product_total(http, name) == 0
