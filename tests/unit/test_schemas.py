"""Product, customer and paging schemas, and the load helpers that wrap them."""
import copy
import datetime
from decimal import Decimal

import pytest
from marshmallow import ValidationError

from common.errors import ValidationFailed
from common.schemas import PageSchema, expected_versions, given, load, load_changes, page_of
from customers.schemas import CustomerQuerySchema, CustomerSchema
from orders.schemas import OrderQuerySchema, OrderRequestSchema
from product.schemas import (
    MAX_STOCK,
    ProductChangesSchema,
    ProductIdsSchema,
    ProductQuerySchema,
    ProductSchema,
    StockAdjustmentSchema,
)

ID = "5f00000000000000000000aa"
VALID_PRODUCT = {"name": "Lamp", "price": "19.99"}
VALID_CUSTOMER = {"name": "Ada", "email": "ada@example.com"}


def errors_of(schema, data, **kwargs):
    with pytest.raises(ValidationError) as caught:
        schema.load(data, **kwargs)
    return caught.value.messages


# ProductSchema


def test_product_load_fills_defaults():
    assert ProductSchema().load(VALID_PRODUCT) == {
        "name": "Lamp",
        "price": Decimal("19.99"),
        "description": "",
        "stock": 0,
    }


def test_product_name_is_stripped():
    assert ProductSchema().load({**VALID_PRODUCT, "name": "  Lamp \n"})["name"] == "Lamp"


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "x" * 201])
def test_product_rejects_blank_or_too_long_name(name):
    assert "name" in errors_of(ProductSchema(), {**VALID_PRODUCT, "name": name})


@pytest.mark.parametrize("name", ["x", "x" * 200, "  " + "x" * 200 + "  "])
def test_product_accepts_name_of_1_to_200_chars_after_stripping(name):
    assert ProductSchema().load({**VALID_PRODUCT, "name": name})["name"] == name.strip()


@pytest.mark.parametrize("field", ["name", "price"])
def test_product_requires_name_and_price(field):
    data = {k: v for k, v in VALID_PRODUCT.items() if k != field}
    assert errors_of(ProductSchema(), data) == {field: ["Missing data for required field."]}


def test_product_description_may_be_2000_chars():
    loaded = ProductSchema().load({**VALID_PRODUCT, "description": "d" * 2000})
    assert loaded["description"] == "d" * 2000


def test_product_description_longer_than_2000_is_rejected():
    assert "description" in errors_of(ProductSchema(), {**VALID_PRODUCT, "description": "d" * 2001})


@pytest.mark.parametrize("stock", [0, 7, 1_000_000_000])
def test_product_accepts_stock_in_range(stock):
    assert ProductSchema().load({**VALID_PRODUCT, "stock": stock})["stock"] == stock


@pytest.mark.parametrize("stock", [-1, 1_000_000_001, True, False, 1.5, 5.0, "5", None, [5]])
def test_product_rejects_bad_stock(stock):
    assert "stock" in errors_of(ProductSchema(), {**VALID_PRODUCT, "stock": stock})


def test_product_rejects_unknown_field_by_name():
    assert errors_of(ProductSchema(), {**VALID_PRODUCT, "colour": "red"}) == {
        "colour": ["Unknown field."]
    }


@pytest.mark.parametrize("schema, body", [
    (ProductSchema(), VALID_PRODUCT), (ProductChangesSchema(), VALID_PRODUCT), (CustomerSchema(), VALID_CUSTOMER),
])
@pytest.mark.parametrize("field, value", [
    ("id", "5f0000000000000000000000"), ("created_at", "2020-01-01T00:00:00+00:00"),
    ("updated_at", "not even a date"), ("version", 3), ("version", None),
])
def test_a_read_only_field_is_refused_by_name(schema, body, field, value):
    assert errors_of(schema, {**body, field: value}) == {field: ["Read-only: set by the service."]}


def test_every_read_only_field_sent_is_named():
    data = {**VALID_PRODUCT, "id": "x", "created_at": "y", "updated_at": "z", "version": 1}
    assert set(errors_of(ProductSchema(), data)) == {"id", "created_at", "updated_at", "version"}


def test_a_stored_id_field_is_an_unknown_field():
    assert errors_of(ProductSchema(), {**VALID_PRODUCT, "_id": "5f0000000000000000000000"}) == {
        "_id": ["Unknown field."]
    }


@pytest.mark.parametrize("field", ["name", "description"])
def test_product_rejects_operator_objects_in_text_fields(field):
    data = {**VALID_PRODUCT, field: {"$gt": ""}}
    assert errors_of(ProductSchema(), data) == {field: ["Not a valid string."]}


def test_product_partial_load_applies_no_defaults():
    assert ProductSchema().load({"price": 3}, partial=True) == {"price": Decimal("3.00")}


def test_product_partial_load_still_validates_given_fields():
    assert "stock" in errors_of(ProductSchema(), {"stock": -1}, partial=True)


def test_product_dump_gives_money_string_and_iso_dates():
    moment = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
    document = {
        "id": "abc",
        "name": "Lamp",
        "price": Decimal("5"),
        "description": "",
        "stock": 2,
        "created_at": moment,
        "updated_at": moment,
        "reservations": {"order": 1},
    }
    assert ProductSchema().dump({**document, "version": 4}) == {
        "id": "abc",
        "name": "Lamp",
        "price": "5.00",
        "description": "",
        "stock": 2,
        "created_at": "2024-05-01T12:30:00+00:00",
        "updated_at": "2024-05-01T12:30:00+00:00",
        "version": 4,
    }


# ProductChangesSchema: what PUT and PATCH change (the stock as an absolute count)


def test_product_changes_load_fills_defaults_but_leaves_an_omitted_stock_out():
    # A PUT without stock keeps the stock: no default may stand in for it.
    assert ProductChangesSchema().load(VALID_PRODUCT) == {
        "name": "Lamp",
        "price": Decimal("19.99"),
        "description": "",
    }


@pytest.mark.parametrize("stock", [0, 7, MAX_STOCK])
def test_product_changes_take_a_stock_in_range(stock):
    assert ProductChangesSchema().load({**VALID_PRODUCT, "stock": stock})["stock"] == stock
    assert ProductChangesSchema().load({"stock": stock}, partial=True) == {"stock": stock}


@pytest.mark.parametrize("stock", [-1, MAX_STOCK + 1, 1.5, "5", True, None, {"$set": 1}])
def test_product_changes_refuse_a_bad_stock(stock):
    assert set(errors_of(ProductChangesSchema(), {**VALID_PRODUCT, "stock": stock})) == {"stock"}
    assert set(errors_of(ProductChangesSchema(), {"stock": stock}, partial=True)) == {"stock"}


def test_product_changes_of_only_the_stock_are_an_update():
    assert load_changes(ProductChangesSchema(), {"stock": 4}, partial=True, record_id=ID) == {"stock": 4}


def test_product_changes_still_validate_the_other_fields():
    assert set(errors_of(ProductChangesSchema(), {"name": "", "price": "x", "colour": "red", "stock": 1})) == {
        "name", "price", "colour",
    }


def test_product_changes_dump_still_shows_the_stock():
    assert ProductChangesSchema().dump({"name": "Lamp", "stock": 4})["stock"] == 4


def test_product_schema_for_creation_still_takes_stock():
    assert ProductSchema().load({**VALID_PRODUCT, "stock": 4})["stock"] == 4


# StockAdjustmentSchema


@pytest.mark.parametrize("change", [1, -1, 12, -12, MAX_STOCK, -MAX_STOCK])
def test_stock_adjustment_accepts_non_zero_integers_in_range(change):
    assert StockAdjustmentSchema().load({"change": change}) == {"change": change}


@pytest.mark.parametrize(
    "change",
    [0, MAX_STOCK + 1, -MAX_STOCK - 1, 1.5, 5.0, -2.0, "5", "-5", True, False, None, [1], {"$inc": 1}],
)
def test_stock_adjustment_rejects_bad_change(change):
    assert "change" in errors_of(StockAdjustmentSchema(), {"change": change})


def test_stock_adjustment_zero_says_it_changes_nothing():
    assert errors_of(StockAdjustmentSchema(), {"change": 0}) == {"change": ["A change of 0 changes nothing."]}


def test_stock_adjustment_requires_change():
    assert errors_of(StockAdjustmentSchema(), {}) == {"change": ["Missing data for required field."]}


@pytest.mark.parametrize("field", ["stock", "reason", "id"])
def test_stock_adjustment_rejects_unknown_fields(field):
    assert errors_of(StockAdjustmentSchema(), {"change": 1, field: "x"}) == {field: ["Unknown field."]}


@pytest.mark.parametrize("body", [None, [], [{"change": 1}], 1, "change"])
def test_stock_adjustment_load_rejects_non_object_body(body):
    with pytest.raises(ValidationFailed):
        load(StockAdjustmentSchema(), body)


def test_product_ids_schema_requires_a_list():
    assert "ids" in errors_of(ProductIdsSchema(), {"ids": "abc"})


# load() / load_changes()


@pytest.mark.parametrize("body", [None, [], ["name"], "text", 5, True])
def test_load_rejects_non_object_body(body):
    with pytest.raises(ValidationFailed):
        load(ProductSchema(), body)


def test_load_puts_field_errors_in_details():
    with pytest.raises(ValidationFailed) as caught:
        load(ProductSchema(), {"name": "", "price": "abc", "stock": -1})
    assert set(caught.value.details) == {"name", "price", "stock"}
    assert caught.value.status == 400


LONE_SURROGATE = "\ud800"  # what the JSON escape "\\ud800" decodes to


def test_load_refuses_a_lone_surrogate_naming_where_it_is():
    body = {"name": "Ada", "email": "ada@example.com",
            "address": {"city": f"Par{LONE_SURROGATE}is", "country": "FR"}}

    with pytest.raises(ValidationFailed) as caught:
        load(CustomerSchema(), body)

    assert caught.value.details == {"address": {"city": ["Not valid text: it holds a lone UTF-16 surrogate."]}}


def test_load_refuses_a_lone_surrogate_in_a_list_or_a_key():
    with pytest.raises(ValidationFailed) as caught:
        load(ProductIdsSchema(), {"ids": ["5f0000000000000000000000", LONE_SURROGATE]})
    assert set(caught.value.details["ids"]) == {1}

    with pytest.raises(ValidationFailed) as caught:
        load(ProductSchema(), {"name": "Lamp", "price": "1.00", LONE_SURROGATE: 1})
    assert set(caught.value.details) == {LONE_SURROGATE}


def test_load_takes_text_outside_the_basic_plane():
    assert load(ProductSchema(), {"name": "Lamp \U0001F4A1", "price": "1.00"})["name"] == "Lamp \U0001F4A1"


def test_load_returns_cleaned_fields():
    assert load(ProductSchema(), {"name": " Lamp ", "price": 2})["price"] == Decimal("2.00")


@pytest.mark.parametrize("body", [{}, {"id": ID}])
def test_load_changes_with_partial_and_nothing_to_change_fails(body):
    with pytest.raises(ValidationFailed) as caught:
        load_changes(ProductSchema(), body, partial=True, record_id=ID)
    assert caught.value.message.startswith("Nothing to update")


def test_load_changes_without_partial_requires_all_required_fields():
    with pytest.raises(ValidationFailed) as caught:
        load_changes(ProductSchema(), {"stock": 1}, partial=False, record_id=ID)
    assert set(caught.value.details) == {"name", "price"}


def test_load_changes_with_partial_returns_only_given_fields():
    assert load_changes(ProductSchema(), {"stock": 4}, partial=True, record_id=ID) == {"stock": 4}


@pytest.mark.parametrize("sent", [ID, ID.upper()])
def test_load_changes_accepts_the_id_of_the_record_updated_and_leaves_it_out(sent):
    assert load_changes(ProductSchema(), {"id": sent, "price": 2}, partial=True, record_id=ID) == {
        "price": Decimal("2.00")
    }
    assert load_changes(CustomerSchema(), {**VALID_CUSTOMER, "id": sent}, partial=False, record_id=ID.upper())


@pytest.mark.parametrize("sent", ["5f0000000000000000000001", "", None, 5, [ID], {"$ne": ""}, ID + " "])
def test_load_changes_refuses_any_other_id_by_name(sent):
    with pytest.raises(ValidationFailed) as caught:
        load_changes(ProductSchema(), {"id": sent, "price": 2}, partial=True, record_id=ID)
    assert set(caught.value.details) == {"id"}
    assert ID in caught.value.details["id"][0]


def test_load_changes_refuses_the_other_read_only_fields_even_with_the_right_id():
    with pytest.raises(ValidationFailed) as caught:
        load_changes(ProductSchema(), {"id": ID, "version": 2, "created_at": "x"}, partial=True, record_id=ID)
    assert set(caught.value.details) == {"version", "created_at"}


# expected_versions(): an RPC method's if_version


@pytest.mark.parametrize("if_version, expected", [
    (None, None), (3, [3]), ([3], [3]), ([1, 7], [1, 7]), ((2, 4), [2, 4]), ([], []), (2**63 - 1, [2**63 - 1]),
])
def test_expected_versions_takes_none_one_version_or_a_list(if_version, expected):
    assert expected_versions(if_version) == expected


@pytest.mark.parametrize("if_version", [0, -1, 2**63, True, 1.5, "3", [None], [3, "4"], {"version": 3}])
def test_expected_versions_refuses_what_is_no_version_naming_if_version(if_version):
    with pytest.raises(ValidationFailed) as caught:
        expected_versions(if_version)
    assert set(caught.value.details) == {"if_version"}


def test_given_drops_none_values_only():
    assert given(page=None, q="", page_size=0) == {"q": "", "page_size": 0}


def test_page_of_shape():
    assert page_of(["a"], 9, {"page": 2, "page_size": 5, "q": ""}) == {
        "items": ["a"],
        "total": 9,
        "page": 2,
        "page_size": 5,
    }


# Paging and query schemas


QUERY_SCHEMAS = [PageSchema, ProductQuerySchema, CustomerQuerySchema]


@pytest.mark.parametrize("schema_cls", QUERY_SCHEMAS)
def test_paging_defaults(schema_cls):
    loaded = schema_cls().load({})
    assert (loaded["page"], loaded["page_size"]) == (1, 20)


@pytest.mark.parametrize("schema_cls", QUERY_SCHEMAS)
@pytest.mark.parametrize(
    "params, expected",
    [
        ({"page": "2"}, (2, 20)),
        ({"page_size": "1"}, (1, 1)),
        ({"page_size": "100"}, (1, 100)),
        ({"page": 3, "page_size": 50}, (3, 50)),
    ],
)
def test_paging_accepts_numbers_and_numeric_strings(schema_cls, params, expected):
    loaded = schema_cls().load(params)
    assert (loaded["page"], loaded["page_size"]) == expected


@pytest.mark.parametrize("schema_cls", QUERY_SCHEMAS)
@pytest.mark.parametrize(
    "params, field",
    [
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": True}, "page"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "101"}, "page_size"),
        ({"page_size": "abc"}, "page_size"),
    ],
)
def test_paging_rejects_out_of_range_or_non_numeric(schema_cls, params, field):
    assert field in errors_of(schema_cls(), params)


def test_a_negative_page_is_told_it_is_out_of_range_not_that_it_is_no_integer():
    messages = errors_of(PageSchema(), {"page": "-1"})["page"]
    assert messages == ["Must be greater than or equal to 1 and less than or equal to 1000000."]


def test_product_query_defaults():
    assert ProductQuerySchema().load({}) == {
        "page": 1,
        "page_size": 20,
        "q": "",
        "sort": "-created_at",
    }


@pytest.mark.parametrize(
    "sort",
    ["name", "-name", "price", "-price", "stock", "-stock", "created_at", "-created_at"],
)
def test_product_query_accepts_allowed_sorts(sort):
    assert ProductQuerySchema().load({"sort": sort})["sort"] == sort


@pytest.mark.parametrize("sort", ["", "description", "--name", "name desc", "_id", "reservations"])
def test_product_query_rejects_other_sorts(sort):
    assert "sort" in errors_of(ProductQuerySchema(), {"sort": sort})


@pytest.mark.parametrize("schema_cls", [ProductQuerySchema, CustomerQuerySchema])
def test_query_text_longer_than_100_is_rejected(schema_cls):
    assert "q" in errors_of(schema_cls(), {"q": "x" * 101})


# CustomerSchema


def test_customer_minimal_load_fills_nullable_defaults():
    assert CustomerSchema().load(VALID_CUSTOMER) == {
        "name": "Ada",
        "email": "ada@example.com",
        "phone": None,
        "address": None,
    }


@pytest.mark.parametrize("field", ["name", "email"])
def test_customer_requires_name_and_email(field):
    data = {k: v for k, v in VALID_CUSTOMER.items() if k != field}
    assert errors_of(CustomerSchema(), data) == {field: ["Missing data for required field."]}


@pytest.mark.parametrize("email", ["not-an-email", "ada@", "@example.com", "", "a b@example.com", 5])
def test_customer_rejects_invalid_email(email):
    assert "email" in errors_of(CustomerSchema(), {**VALID_CUSTOMER, "email": email})


def test_customer_rejects_blank_name():
    assert "name" in errors_of(CustomerSchema(), {**VALID_CUSTOMER, "name": "   "})


@pytest.mark.parametrize("phone", ["+44 20 7946 0958", "555-1234", "1 (555) 123.4567", "123"])
def test_customer_accepts_phone_numbers(phone):
    assert CustomerSchema().load({**VALID_CUSTOMER, "phone": phone})["phone"] == phone


@pytest.mark.parametrize("phone", ["abc", "12", "+", "555-CALL-NOW", "1" * 31, ""])
def test_customer_rejects_invalid_phone(phone):
    assert errors_of(CustomerSchema(), {**VALID_CUSTOMER, "phone": phone}) == {
        "phone": ["Not a valid phone number."]
    }


def test_customer_phone_and_address_may_be_null():
    loaded = CustomerSchema().load({**VALID_CUSTOMER, "phone": None, "address": None})
    assert (loaded["phone"], loaded["address"]) == (None, None)


def test_customer_accepts_full_address():
    address = {"street": "1 Main St", "city": "Oslo", "postal_code": "0150", "country": "NO"}
    assert CustomerSchema().load({**VALID_CUSTOMER, "address": address})["address"] == address


def test_customer_address_rejects_unknown_key():
    data = {**VALID_CUSTOMER, "address": {"city": "Oslo", "zip": "0150"}}
    assert errors_of(CustomerSchema(), data) == {"address": {"zip": ["Unknown field."]}}


@pytest.mark.parametrize("address", ["1 Main St", ["Oslo"], 5])
def test_customer_address_must_be_an_object(address):
    assert "address" in errors_of(CustomerSchema(), {**VALID_CUSTOMER, "address": address})


def test_customer_rejects_unknown_field():
    assert errors_of(CustomerSchema(), {**VALID_CUSTOMER, "email_key": "x"}) == {
        "email_key": ["Unknown field."]
    }


def test_customer_partial_load_applies_no_defaults():
    assert CustomerSchema().load({"name": "Bo"}, partial=True) == {"name": "Bo"}


# control characters: refused by load in every string of every schema; one-line text refuses line breaks


VALID_ORDER = {"customer_id": ID, "items": [{"product_id": ID, "quantity": 1}]}


def set_at(document, path, value):
    """A copy of ``document`` with ``value`` at ``path`` (keys and list indexes)."""
    document = copy.deepcopy(document)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


def error_at(details, path):
    for key in path:
        details = details[key]
    return details


# Every text field a client can send, by schema: what each loads from HTTP bodies and query strings.
TEXT_FIELDS = [
    (ProductSchema(), VALID_PRODUCT, ("name",)),
    (ProductSchema(), VALID_PRODUCT, ("description",)),
    (ProductChangesSchema(), VALID_PRODUCT, ("name",)),
    (CustomerSchema(), VALID_CUSTOMER, ("name",)),
    (CustomerSchema(), VALID_CUSTOMER, ("email",)),
    (CustomerSchema(), VALID_CUSTOMER, ("phone",)),
    (CustomerSchema(), {**VALID_CUSTOMER, "address": {"city": "London"}}, ("address", "street")),
    (CustomerSchema(), {**VALID_CUSTOMER, "address": {"city": "London"}}, ("address", "city")),
    (CustomerSchema(), {**VALID_CUSTOMER, "address": {"city": "London"}}, ("address", "postal_code")),
    (CustomerSchema(), {**VALID_CUSTOMER, "address": {"city": "London"}}, ("address", "country")),
    (OrderRequestSchema(), VALID_ORDER, ("customer_id",)),
    (OrderRequestSchema(), VALID_ORDER, ("items", 0, "product_id")),
    (ProductQuerySchema(), {}, ("q",)),
    (ProductQuerySchema(), {}, ("sort",)),
    (CustomerQuerySchema(), {}, ("q",)),
    (OrderQuerySchema(), {}, ("customer_id",)),
    (OrderQuerySchema(), {}, ("status",)),
]


@pytest.mark.parametrize("schema, valid, path", TEXT_FIELDS,
                         ids=[f"{type(s).__name__}.{'.'.join(map(str, p))}" for s, _, p in TEXT_FIELDS])
@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\x9f"],
                         ids=["NUL", "SOH", "ESC", "DEL", "NEL", "APC"])
def test_a_control_character_in_any_text_field_is_refused_naming_the_field(schema, valid, path, character):
    with pytest.raises(ValidationFailed) as caught:
        load(schema, set_at(valid, path, f"a{character}b"))
    assert error_at(caught.value.details, path) == [
        f"Not valid text: it holds the control character U+{ord(character):04X}."
    ]


def test_a_control_character_in_a_key_is_refused():
    with pytest.raises(ValidationFailed) as caught:
        load(ProductSchema(), {**VALID_PRODUCT, "na\x00me": "Lamp"})
    assert list(caught.value.details) == ["na\x00me"]


@pytest.mark.parametrize("text", ["Warm light.\nDimmable.", "Size:\t40 cm", "Line one\r\nLine two"])
def test_a_description_may_hold_tabs_and_line_breaks(text):
    assert load(ProductSchema(), {**VALID_PRODUCT, "description": text})["description"] == text


ONE_LINE_FIELDS = [(schema, valid, path) for schema, valid, path in TEXT_FIELDS
                   if path[-1] in ("name", "street", "city", "postal_code", "country", "phone")]


@pytest.mark.parametrize("schema, valid, path", ONE_LINE_FIELDS,
                         ids=[f"{type(s).__name__}.{'.'.join(map(str, p))}" for s, _, p in ONE_LINE_FIELDS])
@pytest.mark.parametrize("character", ["\n", "\r", "\t", "\u2028", "\u2029"])
def test_one_line_text_refuses_a_tab_or_line_break_inside_it(schema, valid, path, character):
    with pytest.raises(ValidationFailed) as caught:
        load(schema, set_at(valid, path, f"1{character}2"))
    assert error_at(caught.value.details, path) == ["Must be one line: no tab or line break."]


def test_one_line_text_still_drops_surrounding_blanks():
    assert load(ProductSchema(), {**VALID_PRODUCT, "name": "\n Lamp\t"})["name"] == "Lamp"


@pytest.mark.parametrize("text", ["Café Ünïcode", "日本語の名前", "emoji \U0001F600", "a\u00a0b"])
def test_text_beyond_ascii_is_taken(text):
    assert load(ProductSchema(), {**VALID_PRODUCT, "name": text})["name"] == text
