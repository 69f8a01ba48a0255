"""The Money field: exact two-decimal amounts in, "19.99" strings out."""
from decimal import Decimal

import pytest
from marshmallow import Schema, ValidationError

from common.schemas import Money


class PriceSchema(Schema):
    price = Money(required=True)


def load_price(value):
    return PriceSchema().load({"price": value})["price"]


def price_errors(value):
    with pytest.raises(ValidationError) as caught:
        load_price(value)
    return caught.value.messages["price"]


@pytest.mark.parametrize(
    "given, expected",
    [
        (19.99, Decimal("19.99")),
        (5, Decimal("5")),
        (0, Decimal("0")),
        ("19.99", Decimal("19.99")),
        (" 7 ", Decimal("7")),
        ("0.1", Decimal("0.10")),
        (Decimal("3.5"), Decimal("3.5")),
        (1000000000, Decimal("1000000000")),
        ("1000000000.00", Decimal("1000000000")),
    ],
)
def test_accepts_numbers_decimal_strings_and_decimals(given, expected):
    amount = load_price(given)

    assert isinstance(amount, Decimal)
    assert amount == expected


def test_loaded_amount_has_exactly_two_decimal_places():
    assert load_price(5).as_tuple().exponent == -2


def test_json_float_is_read_exactly_not_as_binary_float():
    # Decimal(0.1) would be 0.1000000000000000055511151231257827...
    assert load_price(0.1) == Decimal("0.10")


@pytest.mark.parametrize(
    "amount, text",
    [
        (Decimal("19.99"), "19.99"),
        (Decimal("5"), "5.00"),
        (Decimal("0"), "0.00"),
        (Decimal("1000000000"), "1000000000.00"),
    ],
)
def test_dumps_as_string_with_two_decimals(amount, text):
    assert PriceSchema().dump({"price": amount}) == {"price": text}


def test_dumps_none_as_none():
    assert PriceSchema().dump({"price": None}) == {"price": None}


@pytest.mark.parametrize("value", ["1.999", 1.999, "0.001", 0.30000000000000004])
def test_rejects_more_than_two_decimal_places(value):
    assert price_errors(value) == ["At most 2 decimal places."]


@pytest.mark.parametrize("value", [-1, -0.01, "-5", "1000000000.01", 1000000001, Decimal("-1")])
def test_rejects_amounts_out_of_range(value):
    assert price_errors(value) == ["Must be between 0 and 1000000000."]


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        "NaN",
        "Infinity",
        "abc",
        "",
        "  ",
        True,
        False,
        [1],
        {"$gt": 0},
        {},
        Decimal("NaN"),
    ],
)
def test_rejects_non_amounts_as_invalid(value):
    messages = price_errors(value)

    assert len(messages) == 1
    assert messages[0].startswith("Must be a decimal amount")


def test_rejects_null_when_required():
    assert price_errors(None) == ["Field may not be null."]


def test_missing_when_required_is_reported():
    with pytest.raises(ValidationError) as caught:
        PriceSchema().load({})
    assert caught.value.messages == {"price": ["Missing data for required field."]}


@pytest.mark.parametrize("value", ["1e30", 1e30, 10**30])
def test_rejects_huge_amounts_as_validation_error(value):
    with pytest.raises(ValidationError):
        load_price(value)


@pytest.mark.parametrize("value", ["-0", -0.0, "-0.00"])
def test_negative_zero_is_returned_as_plain_zero(value):
    assert PriceSchema().dump({"price": load_price(value)}) == {"price": "0.00"}
