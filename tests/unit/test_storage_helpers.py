"""Pure helpers of common/storage.py: no database involved."""
import datetime
import re
from decimal import Decimal

import pytest
from bson import Decimal128, ObjectId

from common.storage import from_document, matching_text, object_id_or_none, page_bounds

OID = ObjectId("5f00000000000000000000aa")
UTC = datetime.timezone.utc


def test_from_document_turns_object_id_into_id_string():
    result = from_document({"_id": OID, "name": "Lamp"})

    assert result == {"id": "5f00000000000000000000aa", "name": "Lamp"}
    assert "_id" not in result


def test_from_document_none_is_none():
    assert from_document(None) is None


def test_from_document_converts_decimal128_to_decimal():
    price = from_document({"_id": OID, "price": Decimal128("19.99")})["price"]

    assert isinstance(price, Decimal)
    assert price == Decimal("19.99")


def test_from_document_makes_naive_datetimes_utc_aware():
    naive = datetime.datetime(2024, 1, 2, 3, 4, 5)

    moment = from_document({"_id": OID, "created_at": naive})["created_at"]

    assert moment.tzinfo is not None
    assert moment.utcoffset() == datetime.timedelta(0)
    assert moment.replace(tzinfo=None) == naive


def test_from_document_keeps_aware_datetimes():
    aware = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert from_document({"_id": OID, "at": aware})["at"] == aware


def test_from_document_converts_nested_dicts_and_lists():
    naive = datetime.datetime(2024, 1, 2)
    document = {
        "_id": OID,
        "lines": [{"price": Decimal128("1.50"), "at": naive}, Decimal128("2.00")],
        "meta": {"total": Decimal128("3.50"), "tags": ["a"]},
    }

    result = from_document(document)

    assert result["lines"] == [
        {"price": Decimal("1.50"), "at": naive.replace(tzinfo=UTC)},
        Decimal("2.00"),
    ]
    assert result["meta"] == {"total": Decimal("3.50"), "tags": ["a"]}
    assert isinstance(result["meta"]["total"], Decimal)


def test_from_document_does_not_change_its_input():
    document = {"_id": OID, "price": Decimal128("1.00")}
    from_document(document)
    assert document == {"_id": OID, "price": Decimal128("1.00")}


@pytest.mark.parametrize("text", ["", None])
def test_matching_text_matches_everything_for_empty_text(text):
    assert matching_text(text, ("name",)) == {}


def test_matching_text_ors_over_the_fields():
    query = matching_text("lamp", ("name", "description"))

    pattern = {"$regex": "lamp", "$options": "i"}
    assert query == {"$or": [{"name": pattern}, {"description": pattern}]}


@pytest.mark.parametrize("text", ["a.b", "(x|y)", "c++", "[a-z]*", "^start$", "50%", "back\\slash", "$where"])
def test_matching_text_pattern_matches_text_literally(text):
    pattern = matching_text(text, ("name",))["$or"][0]["name"]["$regex"]

    assert re.search(pattern, f"before {text} after")
    assert pattern == re.escape(text)


def test_matching_text_metacharacters_do_not_act_as_regex():
    pattern = matching_text("a.c", ("name",))["$or"][0]["name"]["$regex"]
    assert not re.search(pattern, "abc")


def test_matching_text_is_case_insensitive():
    clause = matching_text("LaMp", ("name",))["$or"][0]["name"]

    assert clause["$options"] == "i"
    assert re.search(clause["$regex"], "desk lamp", re.IGNORECASE)


@pytest.mark.parametrize(
    "page, page_size, skip, limit",
    [(1, 20, 0, 20), (2, 20, 20, 20), (3, 7, 14, 7), (1, 1, 0, 1)],
)
def test_page_bounds(page, page_size, skip, limit):
    assert page_bounds({"page": page, "page_size": page_size}) == (skip, limit)


def test_object_id_or_none_parses_hex_id():
    assert object_id_or_none("5f00000000000000000000aa") == OID


@pytest.mark.parametrize(
    "value",
    ["", "abc", "5f00000000000000000000zz", "5f00000000000000000000aa0", "twelve bytes", None, 5, {"$ne": 1}],
)
def test_object_id_or_none_rejects_non_ids(value):
    assert object_id_or_none(value) is None
