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
    assert set(body) == {"status", "services"}
    assert body["status"] == "ok"
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
        assert set(created) == {"id", "name", "price", "description", "stock", "created_at", "updated_at"}
        assert response.headers["Location"] == f"/products/{created['id']}"
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

    def test_read_only_fields_in_the_body_are_ignored(self, http):
        name = f"Echo {token()}"
        response = http.post("/products", json={
            "name": name, "price": "1.00", "id": OTHER_ID, "_id": OTHER_ID,
            "created_at": "2000-01-01T00:00:00+00:00", "updated_at": "2000-01-01T00:00:00+00:00",
        })

        assert response.status_code == 201, response.text
        created = response.json()
        assert created["id"] != OTHER_ID
        assert parse_time(created["created_at"]).year > 2000
        assert parse_time(created["updated_at"]).year > 2000
        assert http.get(f"/products/{OTHER_ID}").status_code == 404
        assert get_product(http, created["id"])["name"] == name

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
    def test_put_replaces_editable_fields_and_resets_omitted_optional_ones_but_not_stock(self, http):
        product = create_product(http, description="Old", stock=9)
        name = f"Renamed {token()}"

        response = http.put(f"/products/{product['id']}", json={"name": name, "price": 5})

        assert response.status_code == 200, response.text
        replaced = response.json()
        # stock is not editable: PUT neither resets it to its default nor sets it
        assert {k: replaced[k] for k in ("id", "name", "price", "description", "stock", "created_at")} == {
            "id": product["id"], "name": name, "price": "5.00", "description": "", "stock": 9,
            "created_at": product["created_at"],
        }
        assert parse_time(replaced["updated_at"]) >= parse_time(product["updated_at"])
        assert get_product(http, product["id"]) == replaced

    def test_patch_changes_only_the_fields_sent(self, http):
        product = create_product(http, description="Keep me", stock=4)

        response = http.patch(f"/products/{product['id']}", json={"price": "7"})

        assert response.status_code == 200, response.text
        patched = response.json()
        assert patched == {**product, "price": "7.00", "updated_at": patched["updated_at"]}
        assert parse_time(patched["updated_at"]) >= parse_time(product["updated_at"])
        assert get_product(http, product["id"]) == patched

    @pytest.mark.parametrize("method", ["PUT", "PATCH"])
    @pytest.mark.parametrize("stock", [0, 7, 1000, -5, "3", None])
    def test_a_stock_in_an_update_is_ignored(self, http, method, stock):
        product = create_product(http, stock=4)
        name = f"Renamed {token()}"

        response = http.request(method, f"/products/{product['id']}",
                                json={"name": name, "price": "19.99", "stock": stock})

        assert response.status_code == 200, response.text
        assert (response.json()["name"], response.json()["stock"]) == (name, 4)
        assert get_product(http, product["id"]) == response.json()

    @pytest.mark.parametrize("stock", [0, 7, -5, 1.5])
    def test_a_patch_of_only_the_stock_is_nothing_to_update(self, http, stock):
        product = create_product(http, stock=4)

        response = http.patch(f"/products/{product['id']}", json={"stock": stock})

        assert assert_error(response, 400, "VALIDATION_FAILED") == {}
        assert response.json()["message"].startswith("Nothing to update")
        assert get_product(http, product["id"]) == product

    @pytest.mark.parametrize("method", ["PUT", "PATCH"])
    def test_read_only_fields_in_an_update_are_ignored(self, http, method):
        product = create_product(http)
        body = {"name": product["name"], "price": "2.50", "id": OTHER_ID, "_id": OTHER_ID,
                "created_at": "2000-01-01T00:00:00+00:00", "updated_at": "2000-01-01T00:00:00+00:00"}

        response = http.request(method, f"/products/{product['id']}", json=body)

        assert response.status_code == 200, response.text
        updated = response.json()
        assert (updated["id"], updated["price"], updated["created_at"]) == (
            product["id"], "2.50", product["created_at"],
        )
        assert parse_time(updated["updated_at"]).year > 2000
        assert get_product(http, product["id"]) == updated
        assert http.get(f"/products/{OTHER_ID}").status_code == 404

    @pytest.mark.parametrize(
        "method, body, bad_fields",
        [
            pytest.param("PUT", {"name": "Only a name"}, {"price"}, id="put-price-missing"),
            pytest.param("PUT", {"price": "1.00"}, {"name"}, id="put-name-missing"),
            pytest.param("PUT", {}, {"name", "price"}, id="put-empty"),
            pytest.param("PATCH", {"price": "1.234"}, {"price"}, id="patch-price-precision"),
            pytest.param("PATCH", {"name": ""}, {"name"}, id="patch-name-empty"),
            pytest.param("PATCH", {"name": None}, {"name"}, id="patch-name-null"),
            pytest.param("PATCH", {"stock": -5}, set(), id="patch-only-stock"),
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

    @pytest.mark.parametrize("body", [{}, {"id": OTHER_ID, "created_at": "2000-01-01T00:00:00+00:00"}])
    def test_patch_with_nothing_to_change_is_400(self, http, body):
        product = create_product(http)

        assert_error(http.patch(f"/products/{product['id']}", json=body), 400, "VALIDATION_FAILED")
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
        assert adjusted == {**product, "stock": 8, "updated_at": adjusted["updated_at"]}
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
        assert set(created) == {"id", "name", "email", "phone", "address", "created_at", "updated_at"}
        assert response.headers["Location"] == f"/customers/{created['id']}"
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

    def test_read_only_fields_in_the_body_are_ignored(self, http):
        created = create_customer(http, id=OTHER_ID, _id=OTHER_ID, created_at="2000-01-01T00:00:00+00:00")

        assert created["id"] != OTHER_ID
        assert parse_time(created["created_at"]).year > 2000
        assert http.get(f"/customers/{OTHER_ID}").status_code == 404

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

        response = http.patch(f"/customers/{customer['id']}", json={"phone": "555-0199", "id": OTHER_ID})

        assert response.status_code == 200, response.text
        patched = response.json()
        assert patched == {**customer, "phone": "555-0199", "updated_at": patched["updated_at"]}
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
