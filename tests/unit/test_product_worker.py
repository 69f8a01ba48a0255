"""ProductService methods with a mocked store (nameko's worker_factory)."""
import datetime
from decimal import Decimal

import pytest
from nameko.testing.services import worker_factory

from common.errors import InsufficientStock, ProductNotFound, StockLimitExceeded, ValidationFailed
from product.service import ProductService

MOMENT = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)


def stored(**fields):
    """A product as the store returns it (from_document output)."""
    return {
        "id": "5f00000000000000000000aa",
        "name": "Lamp",
        "price": Decimal("19.99"),
        "description": "",
        "stock": 0,
        "created_at": MOMENT,
        "updated_at": MOMENT,
        "version": 1,
        **fields,
    }


ID = "5f00000000000000000000aa"


@pytest.fixture
def service():
    return worker_factory(ProductService)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"name": "Lamp"},
        {"name": "", "price": 1},
        {"name": "Lamp", "price": "1.999"},
        {"name": "Lamp", "price": 1, "stock": -1},
        {"name": "Lamp", "price": 1, "colour": "red"},
        {"name": {"$gt": ""}, "price": 1},
        ["Lamp", 1],
        None,
    ],
)
def test_create_with_invalid_data_raises_and_never_stores(service, data):
    with pytest.raises(ValidationFailed):
        service.create(data)
    service.store.create.assert_not_called()


def test_create_passes_cleaned_fields_to_store(service):
    service.store.create.return_value = stored()

    service.create({"name": "  Lamp ", "price": 19.99})

    service.store.create.assert_called_once_with(
        {"name": "Lamp", "price": Decimal("19.99"), "description": "", "stock": 0}, None
    )
    assert isinstance(service.store.create.call_args.args[0]["price"], Decimal)


def test_create_returns_dumped_document(service):
    service.store.create.return_value = stored(stock=3)

    result = service.create({"name": "Lamp", "price": "19.99", "stock": 3})

    assert result == {
        "id": "5f00000000000000000000aa",
        "name": "Lamp",
        "price": "19.99",
        "description": "",
        "stock": 3,
        "created_at": "2024-05-01T12:00:00+00:00",
        "updated_at": "2024-05-01T12:00:00+00:00",
        "version": 1,
    }


@pytest.mark.parametrize("field, value", [
    ("id", ID), ("id", "5f0000000000000000000000"), ("created_at", "2020-01-01T00:00:00+00:00"),
    ("updated_at", "x"), ("version", 1),
])
def test_create_refuses_a_read_only_field_by_name_and_never_stores(service, field, value):
    with pytest.raises(ValidationFailed) as caught:
        service.create({"name": "Lamp", "price": 1, field: value})
    assert set(caught.value.details) == {field}
    service.store.create.assert_not_called()


def test_get_returns_dumped_document(service):
    service.store.get.return_value = stored(price=Decimal("5"))

    result = service.get("5f00000000000000000000aa")

    service.store.get.assert_called_once_with("5f00000000000000000000aa")
    assert result["price"] == "5.00"


def test_get_lets_not_found_through(service):
    service.store.get.side_effect = ProductNotFound.for_id("nope")
    with pytest.raises(ProductNotFound):
        service.get("nope")


def test_update_partial_passes_only_given_fields(service):
    service.store.update.return_value = stored(description="Warm", stock=4)

    result = service.update("5f00000000000000000000aa", {"description": "Warm"}, partial=True)

    service.store.update.assert_called_once_with("5f00000000000000000000aa", {"description": "Warm"}, None)
    assert (result["description"], result["stock"]) == ("Warm", 4)


@pytest.mark.parametrize("stock", [9, 0, 1_000_000_000])
def test_update_partial_sets_a_stock_sent_even_alone(service, stock):
    service.store.update.return_value = stored(stock=stock)

    result = service.update(ID, {"stock": stock}, partial=True)

    service.store.update.assert_called_once_with(ID, {"stock": stock}, None)
    assert result["stock"] == stock


@pytest.mark.parametrize("stock", [-1, 1_000_000_001, "abc", None, 1.5])
def test_update_with_a_bad_stock_names_it_and_never_stores(service, stock):
    for data, partial in (({"stock": stock}, True), ({"name": "Lamp", "price": 1, "stock": stock}, False)):
        with pytest.raises(ValidationFailed) as caught:
            service.update(ID, data, partial=partial)
        assert set(caught.value.details) == {"stock"}
    service.store.update.assert_not_called()


def test_update_full_replaces_with_defaults_and_sets_a_stock_sent(service):
    service.store.update.return_value = stored()

    service.update(ID, {"name": "Lamp", "price": "2", "stock": 0})

    service.store.update.assert_called_once_with(
        ID, {"name": "Lamp", "price": Decimal("2.00"), "description": "", "stock": 0}, None,
    )


def test_update_full_without_a_stock_leaves_it_out(service):
    service.store.update.return_value = stored()

    service.update(ID, {"name": "Lamp", "price": "2"})

    service.store.update.assert_called_once_with(
        ID, {"name": "Lamp", "price": Decimal("2.00"), "description": ""}, None,
    )


@pytest.mark.parametrize("if_version, expected", [(3, [3]), ([3, 5], [3, 5]), ([], [])])
def test_update_passes_the_expected_versions_to_the_store(service, if_version, expected):
    service.store.update.return_value = stored()

    service.update(ID, {"name": "Desk"}, partial=True, if_version=if_version)

    service.store.update.assert_called_once_with(ID, {"name": "Desk"}, expected)


@pytest.mark.parametrize("if_version", [0, "3", [1.5], True])
def test_a_bad_if_version_is_refused_before_the_store(service, if_version):
    for call in (lambda: service.update(ID, {"name": "Desk"}, partial=True, if_version=if_version),
                 lambda: service.adjust_stock(ID, {"change": 1}, if_version=if_version),
                 lambda: service.delete(ID, if_version=if_version)):
        with pytest.raises(ValidationFailed) as caught:
            call()
        assert set(caught.value.details) == {"if_version"}
    service.store.update.assert_not_called()
    service.store.adjust_stock.assert_not_called()
    service.store.delete.assert_not_called()


@pytest.mark.parametrize("sent", [ID, ID.upper()])
def test_update_accepts_the_products_own_id_in_the_body(service, sent):
    service.store.update.return_value = stored()

    service.update(ID, {"id": sent, "name": "Desk"}, partial=True)

    service.store.update.assert_called_once_with(ID, {"name": "Desk"}, None)


@pytest.mark.parametrize("data, refused", [
    ({"id": "5f0000000000000000000000", "name": "Desk"}, {"id"}),
    ({"name": "Desk", "created_at": "2020-01-01T00:00:00+00:00"}, {"created_at"}),
    ({"name": "Desk", "updated_at": "x"}, {"updated_at"}),
    ({"name": "Desk", "version": 1}, {"version"}),
])
def test_update_refuses_read_only_fields_by_name_and_never_stores(service, data, refused):
    for partial in (True, False):
        with pytest.raises(ValidationFailed) as caught:
            service.update(ID, {"price": 1, **data}, partial=partial)
        assert set(caught.value.details) == refused
    service.store.update.assert_not_called()


@pytest.mark.parametrize("data", [{}, {"id": ID}])
def test_update_partial_with_nothing_raises_without_touching_store(service, data):
    with pytest.raises(ValidationFailed):
        service.update("5f00000000000000000000aa", data, partial=True)
    service.store.update.assert_not_called()


def test_update_full_with_missing_fields_raises_without_touching_store(service):
    with pytest.raises(ValidationFailed) as caught:
        service.update("5f00000000000000000000aa", {"stock": 1})
    assert set(caught.value.details) == {"name", "price"}
    service.store.update.assert_not_called()


# adjust_stock


@pytest.mark.parametrize("change", [1, -1, 5, -7, 1_000_000_000, -1_000_000_000])
def test_adjust_stock_passes_the_change_to_the_store(service, change):
    service.store.adjust_stock.return_value = stored(stock=12)

    result = service.adjust_stock("5f00000000000000000000aa", {"change": change})

    service.store.adjust_stock.assert_called_once_with("5f00000000000000000000aa", change, None)
    assert result["stock"] == 12
    assert result["price"] == "19.99"  # the product, dumped
    assert result["updated_at"] == "2024-05-01T12:00:00+00:00"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"change": 0},
        {"change": 1.5},
        {"change": 5.0},
        {"change": "5"},
        {"change": True},
        {"change": False},
        {"change": None},
        {"change": [1]},
        {"change": 1_000_000_001},
        {"change": -1_000_000_001},
        {"change": 1, "reason": "recount"},
        {"stock": 5},
        [1],
        None,
        5,
    ],
)
def test_adjust_stock_with_invalid_data_raises_and_never_touches_store(service, data):
    with pytest.raises(ValidationFailed) as caught:
        service.adjust_stock("5f00000000000000000000aa", data)
    assert caught.value.status == 400
    service.store.adjust_stock.assert_not_called()


def test_adjust_stock_names_the_bad_fields(service):
    with pytest.raises(ValidationFailed) as caught:
        service.adjust_stock("5f00000000000000000000aa", {"change": 0, "colour": "red"})
    assert set(caught.value.details) == {"change", "colour"}


@pytest.mark.parametrize(
    "error",
    [
        ProductNotFound.for_id("5f00000000000000000000aa"),
        InsufficientStock("Cannot remove 3 units: 1 in stock.", {"products": []}),
        StockLimitExceeded("Adding 3 units would exceed the maximum stock.", {"maximum": 1}),
    ],
)
def test_adjust_stock_lets_store_refusals_through(service, error):
    service.store.adjust_stock.side_effect = error
    with pytest.raises(type(error)):
        service.adjust_stock("5f00000000000000000000aa", {"change": -3})


def test_list_defaults(service):
    service.store.search.return_value = ([], 0)

    result = service.list()

    service.store.search.assert_called_once_with(
        "", "-created_at", {"page": 1, "page_size": 20, "q": "", "sort": "-created_at"}
    )
    assert result == {"items": [], "total": 0, "page": 1, "page_size": 20}


def test_list_parses_query_strings_and_dumps_items(service):
    service.store.search.return_value = ([stored()], 41)

    result = service.list(page="3", page_size="10", q="lamp", sort="price")

    text, sort, page = service.store.search.call_args.args
    assert (text, sort) == ("lamp", "price")
    assert (page["page"], page["page_size"]) == (3, 10)
    assert result["total"] == 41
    assert (result["page"], result["page_size"]) == (3, 10)
    assert [item["price"] for item in result["items"]] == ["19.99"]


@pytest.mark.parametrize(
    "params",
    [{"page": "0"}, {"page_size": "101"}, {"page": "abc"}, {"sort": "_id"}, {"q": "x" * 101}],
)
def test_list_rejects_bad_query_without_searching(service, params):
    with pytest.raises(ValidationFailed):
        service.list(**params)
    service.store.search.assert_not_called()


def test_get_many_passes_ids_and_dumps(service):
    service.store.get_many.return_value = [stored()]
    ids = ["5f00000000000000000000aa", "not-an-id"]

    result = service.get_many(ids)

    service.store.get_many.assert_called_once_with(ids)
    assert [item["price"] for item in result] == ["19.99"]


@pytest.mark.parametrize("ids", [None, "5f00000000000000000000aa", [1, 2]])
def test_get_many_rejects_non_list_of_strings(service, ids):
    with pytest.raises(ValidationFailed):
        service.get_many(ids)
    service.store.get_many.assert_not_called()


def test_delete_calls_store(service):
    assert service.delete("5f00000000000000000000aa") is None
    service.store.delete.assert_called_once_with("5f00000000000000000000aa", None)


def test_adjust_stock_and_delete_pass_the_expected_versions_to_the_store(service):
    service.store.adjust_stock.return_value = stored()

    service.adjust_stock(ID, {"change": 2}, if_version=4)
    service.delete(ID, if_version=[4, 5])

    service.store.adjust_stock.assert_called_once_with(ID, 2, [4])
    service.store.delete.assert_called_once_with(ID, [4, 5])


def test_ping_calls_store_ping(service):
    assert service.ping() == "ok"
    service.store.ping.assert_called_once_with()


def test_ping_propagates_store_failure(service):
    service.store.ping.side_effect = ConnectionError("down")
    with pytest.raises(ConnectionError):
        service.ping()
