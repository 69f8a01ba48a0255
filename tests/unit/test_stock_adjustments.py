"""ProductStore.adjust_stock on a real database: stock moves by deltas, never below zero.

adjust_stock adds or removes units in one atomic update, so it composes with
the reservations orders make at the same time. (PUT/PATCH set an absolute
count, safe only guarded by the version read: see the integration tests.)
"""
from decimal import Decimal

import eventlet
import pytest
from bson import ObjectId
from nameko.testing.services import worker_factory

from common.errors import InsufficientStock, ProductNotFound, StockLimitExceeded, ValidationFailed
from product.schemas import MAX_STOCK
from product.service import ProductService

MISSING_ID = "5f0000000000000000000000"


@pytest.fixture
def store(product_store):
    return product_store


def add(store, stock):
    return store.create({"name": "Lamp", "price": Decimal("19.99"), "description": "", "stock": stock})


def stored_stock(store, product_id):
    return store.records.find_one({"_id": ObjectId(product_id)})["stock"]


def test_adding_raises_the_stock_and_returns_the_product(store):
    lamp = add(store, 3)

    adjusted = store.adjust_stock(lamp["id"], 5)

    assert adjusted["stock"] == 8
    assert {k: adjusted[k] for k in ("id", "name", "price", "description", "created_at")} == {
        k: lamp[k] for k in ("id", "name", "price", "description", "created_at")
    }
    assert adjusted["updated_at"] >= lamp["updated_at"]
    assert stored_stock(store, lamp["id"]) == 8
    assert store.get(lamp["id"]) == adjusted


def test_removing_lowers_the_stock(store):
    lamp = add(store, 10)

    assert store.adjust_stock(lamp["id"], -4)["stock"] == 6
    assert store.adjust_stock(lamp["id"], -6)["stock"] == 0  # down to exactly zero is fine
    assert stored_stock(store, lamp["id"]) == 0


def test_adjustments_add_up(store):
    lamp = add(store, 0)
    for change in (5, -2, 10, -13, 1):
        store.adjust_stock(lamp["id"], change)
    assert stored_stock(store, lamp["id"]) == 1


def test_removing_more_than_is_in_stock_is_refused_and_changes_nothing(store):
    lamp = add(store, 3)
    before = store.records.find_one({"_id": ObjectId(lamp["id"])})

    with pytest.raises(InsufficientStock) as refused:
        store.adjust_stock(lamp["id"], -4)

    assert refused.value.status == 409
    assert refused.value.details == {"products": [{"product_id": lamp["id"], "requested": 4, "available": 3}]}
    assert store.records.find_one({"_id": ObjectId(lamp["id"])}) == before  # not even updated_at


def test_removing_from_an_empty_stock_is_refused(store):
    lamp = add(store, 0)
    with pytest.raises(InsufficientStock) as refused:
        store.adjust_stock(lamp["id"], -1)
    assert refused.value.details["products"][0]["available"] == 0
    assert stored_stock(store, lamp["id"]) == 0


@pytest.mark.parametrize("product_id", [MISSING_ID, "abc", "", "5f00000000000000000000zz", None, 5])
@pytest.mark.parametrize("change", [3, -3])
def test_an_unknown_or_invalid_id_is_product_not_found(store, product_id, change):
    lamp = add(store, 5)

    with pytest.raises(ProductNotFound):
        store.adjust_stock(product_id, change)

    assert stored_stock(store, lamp["id"]) == 5
    assert store.records.count_documents({}) == 1  # nothing upserted


def test_a_deleted_product_is_not_found(store):
    lamp = add(store, 5)
    store.delete(lamp["id"])
    with pytest.raises(ProductNotFound):
        store.adjust_stock(lamp["id"], 1)
    assert store.records.count_documents({}) == 0


def test_the_id_is_case_insensitive_like_everywhere(store):
    lamp = add(store, 5)
    assert store.adjust_stock(lamp["id"].upper(), 1)["stock"] == 6


def test_only_that_product_changes(store):
    lamp, desk = add(store, 5), add(store, 5)
    store.adjust_stock(lamp["id"], 2)
    assert (stored_stock(store, lamp["id"]), stored_stock(store, desk["id"])) == (7, 5)


def test_adjusting_keeps_what_orders_hold_and_composes_with_their_reservations(store):
    lamp = add(store, 10)
    assert store.take_stock(lamp["id"], "order-1", 3, lamp["name"], lamp["price"])

    adjusted = store.adjust_stock(lamp["id"], 5)

    assert adjusted["stock"] == 12
    assert "reservations" not in adjusted
    assert store.records.find_one({"_id": ObjectId(lamp["id"])})["reservations"] == {"order-1": 3}
    # the order's units come back on top of the adjustment
    store.return_stock(lamp["id"], "order-1", 3)
    assert stored_stock(store, lamp["id"]) == 15


def test_removal_counts_only_what_orders_left(store):
    lamp = add(store, 10)
    assert store.take_stock(lamp["id"], "order-1", 8, lamp["name"], lamp["price"])

    with pytest.raises(InsufficientStock) as refused:
        store.adjust_stock(lamp["id"], -3)

    assert refused.value.details["products"][0]["available"] == 2
    assert store.adjust_stock(lamp["id"], -2)["stock"] == 0


def test_concurrent_removals_never_take_the_stock_below_zero(store):
    """30 simultaneous removals of 1 from a stock of 10: exactly 10 succeed."""
    lamp = add(store, 10)

    def remove_one(_):
        try:
            store.adjust_stock(lamp["id"], -1)
            return True
        except InsufficientStock:
            return False

    outcomes = list(eventlet.GreenPool(30).imap(remove_one, range(30)))

    assert outcomes.count(True) == 10
    assert stored_stock(store, lamp["id"]) == 0


def test_concurrent_adjustments_and_reservations_all_apply(store):
    lamp = add(store, 100)

    def act(index):
        if index % 2:
            assert store.take_stock(lamp["id"], f"order-{index}", 1, lamp["name"], lamp["price"])
        else:
            store.adjust_stock(lamp["id"], 3)

    list(eventlet.GreenPool(20).imap(act, range(20)))

    assert stored_stock(store, lamp["id"]) == 100 - 10 + 30


@pytest.mark.parametrize("stock, change", [(MAX_STOCK, 1), (1, MAX_STOCK), (MAX_STOCK - 5, 6)])
def test_adding_beyond_the_maximum_stock_is_refused_and_changes_nothing(store, stock, change):
    lamp = add(store, stock)
    before = store.records.find_one({"_id": ObjectId(lamp["id"])})

    with pytest.raises(StockLimitExceeded) as refused:
        store.adjust_stock(lamp["id"], change)

    assert refused.value.status == 409
    assert refused.value.details == {
        "product_id": lamp["id"], "change": change, "available": stock, "maximum": MAX_STOCK,
    }
    assert store.records.find_one({"_id": ObjectId(lamp["id"])}) == before


def test_adding_up_to_exactly_the_maximum_stock_is_fine(store):
    lamp = add(store, MAX_STOCK - 5)
    assert store.adjust_stock(lamp["id"], 5)["stock"] == MAX_STOCK


# ProductService.adjust_stock over the real store


@pytest.fixture
def service(store):
    return worker_factory(ProductService, store=store)


def test_the_service_adjusts_and_answers_the_dumped_product(service, store):
    lamp = add(store, 2)

    adjusted = service.adjust_stock(lamp["id"], {"change": 7})

    assert adjusted["stock"] == 9
    assert adjusted["price"] == "19.99"
    assert adjusted == service.get(lamp["id"])


def test_the_service_refuses_a_bad_change_before_touching_the_stock(service, store):
    lamp = add(store, 2)
    for data in ({"change": 0}, {"change": -2.0}, {"change": "1"}, {"change": 1, "stock": 50}):
        with pytest.raises(ValidationFailed):
            service.adjust_stock(lamp["id"], data)
    assert stored_stock(store, lamp["id"]) == 2


def test_the_service_update_sets_a_stock_sent_and_keeps_an_omitted_one(service, store):
    lamp = add(store, 2)

    replaced = service.update(lamp["id"], {"name": "Desk", "price": "5"})
    assert (replaced["stock"], stored_stock(store, lamp["id"])) == (2, 2)
    patched = service.update(lamp["id"], {"stock": 99}, partial=True)
    assert (patched["stock"], stored_stock(store, lamp["id"])) == (99, 99)
    replaced = service.update(lamp["id"], {"name": "Desk", "price": "5", "stock": 0})
    assert (replaced["stock"], stored_stock(store, lamp["id"])) == (0, 0)
    assert (replaced["name"], replaced["version"]) == ("Desk", 4)
