"""The orders service's request schemas (orders/schemas.py) and the order event contract."""
import datetime
from decimal import Decimal

import pytest
from marshmallow import ValidationError

from common.errors import ValidationFailed
from common.order_events import OrderSchema
from common.schemas import load
from orders.schemas import OrderQuerySchema, OrderRequestSchema

LAMP = "5f00000000000000000000a1"
MOMENT = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)


def order_request(*items, **fields):
    return {"customer_id": "c-ada", "items": list(items) or [{"product_id": LAMP, "quantity": 1}], **fields}


def item(product_id=LAMP, quantity=1, **fields):
    return {"product_id": product_id, "quantity": quantity, **fields}


def items(count):
    return [item(f"p{n}") for n in range(count)]


def errors_of(schema, data):
    with pytest.raises(ValidationError) as caught:
        schema.load(data)
    return caught.value.messages


# OrderRequestSchema


def test_valid_request_loads_unchanged():
    data = order_request(item(LAMP, 2), item("p2", 1000))

    assert OrderRequestSchema().load(data) == data


@pytest.mark.parametrize("count", [1, 100])
def test_one_to_a_hundred_items_are_accepted(count):
    assert len(OrderRequestSchema().load(order_request(*items(count)))["items"]) == count


@pytest.mark.parametrize("count", [0, 101])
def test_no_items_or_more_than_a_hundred_are_rejected(count):
    data = {"customer_id": "c-ada", "items": items(count)}

    assert "items" in errors_of(OrderRequestSchema(), data)


@pytest.mark.parametrize("quantity", [1, 2, 999, 1000])
def test_quantity_within_1_to_1000_is_accepted(quantity):
    assert OrderRequestSchema().load(order_request(item(quantity=quantity)))["items"][0]["quantity"] == quantity


@pytest.mark.parametrize("quantity", [0, -1, 1001, 1.5, 2.0, "2", True, False, None, [1]],
                         ids=["0", "-1", "1001", "1.5", "2.0", "str-2", "true", "false", "null", "list"])
def test_quantity_must_be_an_integer_from_1_to_1000(quantity):
    errors = errors_of(OrderRequestSchema(), order_request(item(quantity=quantity)))

    assert "quantity" in errors["items"][0]


def test_same_product_twice_is_rejected():
    errors = errors_of(OrderRequestSchema(), order_request(item(LAMP, 1), item("p2", 1), item(LAMP, 3)))

    assert errors == {"items": ["Each product may appear only once."]}


def test_unknown_top_level_field_is_rejected():
    assert errors_of(OrderRequestSchema(), order_request(note="gift")) == {"note": ["Unknown field."]}


def test_status_cannot_be_requested():
    assert errors_of(OrderRequestSchema(), order_request(status="confirmed")) == {"status": ["Unknown field."]}


def test_unknown_field_in_an_item_is_rejected():
    errors = errors_of(OrderRequestSchema(), order_request(item(unit_price="0.01")))

    assert errors == {"items": {0: {"unit_price": ["Unknown field."]}}}


@pytest.mark.parametrize("customer_id", [None, 42, "", "x" * 65, ["c-ada"]],
                         ids=["null", "number", "empty", "too-long", "list"])
def test_customer_id_must_be_a_non_empty_string(customer_id):
    assert "customer_id" in errors_of(OrderRequestSchema(), order_request(customer_id=customer_id))


def test_customer_id_is_required():
    assert errors_of(OrderRequestSchema(), {"items": [item()]}) == {
        "customer_id": ["Missing data for required field."]
    }


def test_items_are_required():
    assert errors_of(OrderRequestSchema(), {"customer_id": "c-ada"}) == {
        "items": ["Missing data for required field."]
    }


@pytest.mark.parametrize("line, field", [
    ({"quantity": 1}, "product_id"),
    ({"product_id": LAMP}, "quantity"),
    ({"product_id": "", "quantity": 1}, "product_id"),
    ({"product_id": 7, "quantity": 1}, "product_id"),
], ids=["no-product", "no-quantity", "empty-product", "numeric-product"])
def test_each_item_needs_a_product_id_string_and_a_quantity(line, field):
    errors = errors_of(OrderRequestSchema(), order_request(line))

    assert list(errors["items"][0]) == [field]


def test_load_helper_turns_errors_into_validation_failed_with_field_details():
    with pytest.raises(ValidationFailed) as caught:
        load(OrderRequestSchema(), order_request(item(quantity=0)))

    assert "quantity" in caught.value.details["items"][0]


# OrderQuerySchema


@pytest.mark.parametrize("status", ["pending", "confirmed", "rejected", "cancelled", "shipped", "delivered"])
def test_query_accepts_each_order_status(status):
    assert OrderQuerySchema().load({"status": status})["status"] == status


@pytest.mark.parametrize("status", ["lost", "CONFIRMED", "", "cancelled "])
def test_query_rejects_any_other_status(status):
    assert "status" in errors_of(OrderQuerySchema(), {"status": status})


def test_query_defaults_paging_and_leaves_filters_out():
    assert OrderQuerySchema().load({}) == {"page": 1, "page_size": 20}


def test_query_rejects_empty_customer_id():
    assert "customer_id" in errors_of(OrderQuerySchema(), {"customer_id": ""})


# OrderSchema: the order as the API returns it and every event carries it


def test_order_dumps_money_as_strings_and_times_as_iso():
    order = {
        "id": "o1", "customer_id": "c-ada", "status": "confirmed",
        "items": [{"product_id": LAMP, "name": "Lamp", "unit_price": Decimal("19.99"),
                   "quantity": 2, "line_total": Decimal("39.98")}],
        "total": Decimal("39.98"), "created_at": MOMENT, "updated_at": MOMENT,
        "outbox": [{"type": "order_created"}], "release_due": False,
    }

    dumped = OrderSchema().dump(order)

    assert dumped["total"] == "39.98"
    assert dumped["items"][0]["unit_price"] == "19.99"
    assert dumped["created_at"] == "2024-05-01T12:00:00+00:00"
    assert "outbox" not in dumped and "release_due" not in dumped
    assert OrderSchema().load(dumped)["total"] == Decimal("39.98")


def test_order_event_load_ignores_fields_added_to_the_contract_later():
    dumped = OrderSchema().dump({"id": "o1", "customer_id": "c", "status": "cancelled", "items": [],
                                 "total": Decimal("0"), "created_at": MOMENT, "updated_at": MOMENT})

    assert OrderSchema().load({**dumped, "loyalty_points": 3})["id"] == "o1"


def test_order_event_with_an_unknown_status_does_not_load():
    dumped = OrderSchema().dump({"id": "o1", "customer_id": "c", "status": "lost", "items": [],
                                 "total": Decimal("0"), "created_at": MOMENT, "updated_at": MOMENT})

    assert "status" in errors_of(OrderSchema(), dumped)
