"""Stock reservation rules (product/reservation.py), held against two stores.

``FakeProductStore`` is an in-memory twin of ProductStore's reservation steps
(same per-order markers, guarded decrement and reservation records); every
scenario runs against it and against the real ProductStore on a database, so
the fake cannot drift from the store it stands in for.
"""
import copy
from decimal import Decimal
from unittest import mock

import pytest
from bson import ObjectId

from common.errors import (
    InsufficientStock,
    ReservationClosed,
    ReservationInProgress,
    ServiceUnavailable,
    UnknownProduct,
)
from product import reservation
from product.prices import PriceBook
from product.reservation import ReservationState

MISSING_PRODUCT = "5f0000000000000000000000"


class FakeProductStore:
    """ProductStore's reservation steps over dicts, with the same semantics."""

    def __init__(self):
        self.products = {}  # id -> {"stock": int, "reservations": {order_id: quantity}}
        self.records = {}  # order_id -> reservation record
        self.clock = 0.0  # seconds; leases run out when a test moves it on

    def create(self, fields):
        product_id = str(ObjectId())
        self.products[product_id] = {**fields, "reservations": {}}
        return {"id": product_id, **fields}

    def update(self, product_id, fields):
        self.products[product_id].update(fields)

    def delete(self, product_id):
        del self.products[product_id]

    def prices(self, product_ids):
        return {
            product_id: {"name": self.products[product_id]["name"], "unit_price": self.products[product_id]["price"]}
            for product_id in product_ids
            if product_id in self.products
        }

    def take_stock(self, product_id, order_id, quantity, name, unit_price):
        product = self.products.get(product_id)
        if product is None:
            return False
        if order_id in product["reservations"]:
            return True
        if product["stock"] < quantity or (product["name"], product["price"]) != (name, unit_price):
            return False
        product["stock"] -= quantity
        product["reservations"][order_id] = quantity
        return True

    def return_stock(self, product_id, order_id, quantity):
        product = self.products.get(product_id)
        if product is not None and product["reservations"].get(order_id) == quantity:
            del product["reservations"][order_id]
            product["stock"] += quantity

    def available_stock(self, product_id):
        product = self.products.get(product_id)
        return None if product is None else product["stock"]

    def product_state(self, product_id):
        product = self.products.get(product_id)
        if product is None:
            return None
        return {"stock": product["stock"], "name": product["name"], "unit_price": product["price"]}

    def reprice_reservation(self, order_id, lease, items):
        record = self.records.get(order_id)
        if record is None or record["state"] != "reserving" or record["lease"]["id"] != lease["id"]:
            return False
        record["items"] = copy.deepcopy(items)
        return True

    def open_reservation(self, order_id, items, lease_seconds):
        lease = {"id": str(ObjectId()), "until": self.clock + lease_seconds}
        record = self.records.get(order_id)
        if record is None:
            record = self.records[order_id] = {"order_id": order_id, "items": copy.deepcopy(items),
                                               "state": "reserving", "lease": lease}
            return copy.deepcopy(record)
        if record["state"] == "reserving" and record["lease"]["until"] < self.clock:
            record["lease"] = lease
            return copy.deepcopy(record)
        return {**copy.deepcopy(record), "lease": None}

    def close_reservation(self, order_id, lease, state, shortfall=None):
        record = self.records.get(order_id)
        if record is None or record["state"] != "reserving" or record["lease"]["id"] != lease["id"]:
            return False
        record["state"] = state.value
        if shortfall is not None:
            record["shortfall"] = copy.deepcopy(shortfall)
        return True

    def release_reservation(self, order_id):
        before = self.records.get(order_id)
        if before is None:
            self.records[order_id] = {"order_id": order_id, "items": [], "state": "released"}
            return {"order_id": order_id, "items": [], "state": "released"}
        before = copy.deepcopy(before)
        if before["state"] != "settled":
            self.records[order_id]["state"] = "released"
        return before

    def settle_reservation(self, order_id):
        record = self.records.get(order_id)
        if record is None or record["state"] not in ("reserved", "settled"):
            return False
        record["state"] = "settled"
        return True

    def forget_holding(self, product_id, order_id):
        product = self.products.get(product_id)
        if product is not None:
            product["reservations"].pop(order_id, None)

    def get_reservation(self, order_id):
        record = copy.deepcopy(self.records.get(order_id))
        if record is not None:
            record.pop("lease", None)
        return record

    # test helpers, not part of the store interface

    def held(self, product_id, order_id):
        return self.products[product_id]["reservations"].get(order_id)


def real_held(store, product_id, order_id):
    document = store.records.find_one({"_id": ObjectId(product_id)})
    return document.get("reservations", {}).get(order_id)


@pytest.fixture(params=["fake", "real"])
def store(request):
    if request.param == "fake":
        return FakeProductStore()
    return request.getfixturevalue("product_store")


def held(store, product_id, order_id):
    """Units of the product the order holds, or None."""
    if isinstance(store, FakeProductStore):
        return store.held(product_id, order_id)
    return real_held(store, product_id, order_id)


def add_product(store, stock):
    return store.create({"name": "Widget", "price": Decimal("1.00"), "description": "", "stock": stock})["id"]


def new_order_id():
    return str(ObjectId())


def line(product_id, quantity):
    return {"product_id": product_id, "quantity": quantity}


# What add_product names and prices a product.
WIDGET = ("Widget", Decimal("1.00"))


def priced(product_id, quantity):
    """A reservation record's item: the line with the product's name and price."""
    return {**line(product_id, quantity), "name": WIDGET[0], "unit_price": WIDGET[1]}


def stocks(store, *product_ids):
    return [store.available_stock(product_id) for product_id in product_ids]


# taking stock


def test_reserve_takes_every_item_and_marks_the_record_reserved(store):
    lamp, desk = add_product(store, 5), add_product(store, 3)
    order_id = new_order_id()

    record = reservation.reserve_stock(store, order_id, [line(lamp, 2), line(desk, 3)])

    assert record["state"] == ReservationState.RESERVED.value
    assert record["order_id"] == order_id
    assert record["items"] == [priced(lamp, 2), priced(desk, 3)]
    assert stocks(store, lamp, desk) == [3, 0]
    assert (held(store, lamp, order_id), held(store, desk, order_id)) == (2, 3)


def test_one_short_item_takes_nothing_and_names_it(store):
    lamp, desk = add_product(store, 5), add_product(store, 1)

    with pytest.raises(InsufficientStock) as caught:
        reservation.reserve_stock(store, new_order_id(), [line(lamp, 2), line(desk, 3)])

    assert caught.value.details == {"products": [{"product_id": desk, "requested": 3, "available": 1}]}
    assert stocks(store, lamp, desk) == [5, 1]


def test_refusal_names_every_short_product_not_just_the_first(store):
    lamp, desk, chair = add_product(store, 1), add_product(store, 9), add_product(store, 0)
    order_id = new_order_id()

    with pytest.raises(InsufficientStock) as caught:
        reservation.reserve_stock(store, order_id, [line(lamp, 2), line(desk, 4), line(chair, 1)])

    assert caught.value.details["products"] == [
        {"product_id": lamp, "requested": 2, "available": 1},
        {"product_id": chair, "requested": 1, "available": 0},
    ]
    assert stocks(store, lamp, desk, chair) == [1, 9, 0]
    assert held(store, desk, order_id) is None


def test_taking_the_exact_stock_on_hand_succeeds(store):
    lamp = add_product(store, 4)

    reservation.reserve_stock(store, new_order_id(), [line(lamp, 4)])

    assert store.available_stock(lamp) == 0


def test_missing_product_raises_unknown_product_naming_it_and_takes_nothing(store):
    lamp = add_product(store, 5)

    with pytest.raises(UnknownProduct) as caught:
        reservation.reserve_stock(store, new_order_id(), [line(lamp, 1), line(MISSING_PRODUCT, 1)])

    assert caught.value.details == {"product_ids": [MISSING_PRODUCT]}
    assert store.available_stock(lamp) == 5


def test_a_repeat_after_a_product_was_deleted_answers_as_the_first_call_did(store):
    lamp, desk = add_product(store, 5), add_product(store, 3)
    order_id = new_order_id()
    first = reservation.reserve_stock(store, order_id, [line(lamp, 2), line(desk, 1)])
    store.delete(desk)  # the first answer was lost; the call is delivered again

    again = reservation.reserve_stock(store, order_id, [line(lamp, 2), line(desk, 1)])

    # Not "unknown product": that would make the caller drop an order whose units are held.
    assert (again["state"], again["items"]) == ("reserved", first["items"])
    assert (store.available_stock(lamp), held(store, lamp, order_id)) == (3, 2)
    reservation.release_stock(store, order_id)
    assert (store.available_stock(lamp), held(store, lamp, order_id)) == (5, None)


def test_unknown_product_is_refused_before_any_reservation_record_is_opened(store, monkeypatch):
    lamp = add_product(store, 5)
    order_id = new_order_id()
    open_reservation = mock.Mock(wraps=store.open_reservation)
    monkeypatch.setattr(store, "open_reservation", open_reservation)

    with pytest.raises(UnknownProduct):
        reservation.reserve_stock(store, order_id, [line(lamp, 1), line(MISSING_PRODUCT, 1)])

    open_reservation.assert_not_called()
    assert store.get_reservation(order_id) is None
    assert held(store, lamp, order_id) is None


def test_the_record_items_carry_the_name_and_price_the_products_had(store):
    lamp = store.create({"name": "Lamp", "price": Decimal("12.50"), "description": "", "stock": 5})["id"]
    order_id = new_order_id()

    record = reservation.reserve_stock(store, order_id, [line(lamp, 2)])

    assert record["items"] == [{"product_id": lamp, "quantity": 2, "name": "Lamp", "unit_price": Decimal("12.50")}]
    assert store.get_reservation(order_id)["items"] == record["items"]


def test_failed_reservation_is_recorded_with_its_shortfall(store):
    lamp = add_product(store, 1)
    order_id = new_order_id()

    with pytest.raises(InsufficientStock):
        reservation.reserve_stock(store, order_id, [line(lamp, 2)])

    record = store.get_reservation(order_id)
    assert record["state"] == ReservationState.FAILED.value
    assert record["shortfall"] == [{"product_id": lamp, "requested": 2, "available": 1}]


def test_two_orders_cannot_take_the_same_units(store):
    lamp = add_product(store, 3)
    reservation.reserve_stock(store, new_order_id(), [line(lamp, 2)])

    with pytest.raises(InsufficientStock) as caught:
        reservation.reserve_stock(store, new_order_id(), [line(lamp, 2)])

    assert caught.value.details["products"] == [{"product_id": lamp, "requested": 2, "available": 1}]
    assert store.available_stock(lamp) == 1


# repeating a reserve


def test_repeated_reserve_returns_the_record_and_takes_stock_once(store):
    lamp = add_product(store, 5)
    order_id = new_order_id()
    first = reservation.reserve_stock(store, order_id, [line(lamp, 2)])

    second = reservation.reserve_stock(store, order_id, [line(lamp, 2)])

    # The first call answers from memory, a repeat from the stored record
    # (whose timestamps the database rounds): what they say must be the same.
    assert {k: second[k] for k in ("order_id", "state", "items")} == {k: first[k] for k in ("order_id", "state", "items")}
    assert second["state"] == ReservationState.RESERVED.value
    assert store.available_stock(lamp) == 3


def test_repeated_reserve_keeps_the_items_of_the_first_call(store):
    lamp = add_product(store, 5)
    order_id = new_order_id()
    reservation.reserve_stock(store, order_id, [line(lamp, 2)])

    second = reservation.reserve_stock(store, order_id, [line(lamp, 4)])

    assert second["items"] == [priced(lamp, 2)]
    assert store.available_stock(lamp) == 3


def test_reserve_resumed_after_a_crash_takes_only_what_is_missing(store):
    lamp, desk = add_product(store, 5), add_product(store, 5)
    order_id = new_order_id()
    items = [line(lamp, 2), line(desk, 1)]
    # A first attempt opened the record and took the lamps, then died; its
    # lease has run out since.
    store.open_reservation(order_id, [priced(lamp, 2), priced(desk, 1)], -1)
    assert store.take_stock(lamp, order_id, 2, *WIDGET)

    record = reservation.reserve_stock(store, order_id, items)

    assert record["state"] == ReservationState.RESERVED.value
    assert stocks(store, lamp, desk) == [3, 4]


@pytest.mark.parametrize("shortage", ["insufficient", "unknown"])
def test_repeated_failed_reserve_raises_the_same_refusal_and_takes_nothing(store, shortage):
    lamp = add_product(store, 1)
    other = add_product(store, 1) if shortage == "insufficient" else MISSING_PRODUCT
    items = [line(lamp, 1), line(other, 2)]
    order_id = new_order_id()
    expected = InsufficientStock if shortage == "insufficient" else UnknownProduct
    with pytest.raises(expected) as first:
        reservation.reserve_stock(store, order_id, items)
    with pytest.raises(expected) as second:
        reservation.reserve_stock(store, order_id, items)

    assert second.value.details == first.value.details
    assert store.available_stock(lamp) == 1


def test_failed_reserve_repeated_after_restock_still_refuses(store):
    """The first call's outcome counts: a retry of a refused order never takes stock."""
    lamp = add_product(store, 1)
    order_id = new_order_id()
    with pytest.raises(InsufficientStock):
        reservation.reserve_stock(store, order_id, [line(lamp, 3)])
    store.update(lamp, {"stock": 10})

    with pytest.raises(InsufficientStock):
        reservation.reserve_stock(store, order_id, [line(lamp, 3)])

    assert store.available_stock(lamp) == 10
    assert held(store, lamp, order_id) is None


def test_repeated_failed_reserve_gives_back_what_the_failing_call_left_held(store):
    """A failing call that died before giving back: the retry gives back, then refuses."""
    lamp, desk = add_product(store, 5), add_product(store, 0)
    order_id = new_order_id()
    items = [line(lamp, 2), line(desk, 1)]
    opened = store.open_reservation(order_id, [priced(lamp, 2), priced(desk, 1)], 60)
    assert store.take_stock(lamp, order_id, 2, *WIDGET)
    shortfall = [{"product_id": desk, "requested": 1, "available": 0}]
    assert store.close_reservation(order_id, opened["lease"], ReservationState.FAILED, shortfall=shortfall)
    assert store.available_stock(lamp) == 3

    with pytest.raises(InsufficientStock) as caught:
        reservation.reserve_stock(store, order_id, items)

    assert caught.value.details == {"products": shortfall}
    assert store.available_stock(lamp) == 5
    assert held(store, lamp, order_id) is None


# releasing


def test_release_gives_back_everything_the_order_holds(store):
    lamp, desk = add_product(store, 5), add_product(store, 3)
    order_id = new_order_id()
    reservation.reserve_stock(store, order_id, [line(lamp, 2), line(desk, 3)])

    released = reservation.release_stock(store, order_id)

    assert released["state"] == ReservationState.RELEASED.value
    assert released["items"] == [priced(lamp, 2), priced(desk, 3)]
    assert stocks(store, lamp, desk) == [5, 3]
    assert store.get_reservation(order_id)["state"] == ReservationState.RELEASED.value


def test_release_twice_gives_back_once(store):
    lamp = add_product(store, 5)
    order_id = new_order_id()
    reservation.reserve_stock(store, order_id, [line(lamp, 2)])
    reservation.release_stock(store, order_id)

    again = reservation.release_stock(store, order_id)

    assert again["state"] == ReservationState.RELEASED.value
    assert store.available_stock(lamp) == 5


def test_release_of_an_order_that_reserved_nothing_is_harmless(store):
    lamp = add_product(store, 5)
    order_id = new_order_id()

    released = reservation.release_stock(store, order_id)

    assert released == {"order_id": order_id, "items": [], "state": "released"}
    assert store.available_stock(lamp) == 5


def test_release_does_not_touch_what_other_orders_hold(store):
    lamp = add_product(store, 5)
    mine, theirs = new_order_id(), new_order_id()
    reservation.reserve_stock(store, mine, [line(lamp, 2)])
    reservation.reserve_stock(store, theirs, [line(lamp, 1)])

    reservation.release_stock(store, mine)

    assert store.available_stock(lamp) == 4
    assert held(store, lamp, theirs) == 1


@pytest.mark.parametrize("reserved_first", [True, False], ids=["reserved-then-released", "released-first"])
def test_reserve_after_release_is_closed_and_takes_nothing(store, monkeypatch, reserved_first):
    lamp = add_product(store, 5)
    order_id = new_order_id()
    if reserved_first:
        reservation.reserve_stock(store, order_id, [line(lamp, 2)])
    reservation.release_stock(store, order_id)
    take_stock = mock.Mock(wraps=store.take_stock)
    monkeypatch.setattr(store, "take_stock", take_stock)

    with pytest.raises(ReservationClosed) as caught:
        reservation.reserve_stock(store, order_id, [line(lamp, 2)])

    assert caught.value.details == {"order_id": order_id}
    take_stock.assert_not_called()  # not even for a moment
    assert store.available_stock(lamp) == 5


@pytest.mark.parametrize("released_on_take", [1, 2], ids=["before-first-take", "between-takes"])
def test_released_while_taking_stock_gives_back_and_raises_closed(store, monkeypatch, released_on_take):
    lamp, desk = add_product(store, 5), add_product(store, 3)
    order_id = new_order_id()
    take_stock = store.take_stock
    calls = []

    def take_while_a_release_arrives(product_id, taker, quantity, *price):
        calls.append(product_id)
        if len(calls) == released_on_take:
            reservation.release_stock(store, order_id)  # the concurrent cancel
        return take_stock(product_id, taker, quantity, *price)

    monkeypatch.setattr(store, "take_stock", take_while_a_release_arrives)

    with pytest.raises(ReservationClosed) as caught:
        reservation.reserve_stock(store, order_id, [line(lamp, 2), line(desk, 1)])

    assert caught.value.details == {"order_id": order_id}
    assert calls == [lamp, desk]
    assert stocks(store, lamp, desk) == [5, 3]
    assert (held(store, lamp, order_id), held(store, desk, order_id)) == (None, None)
    assert store.get_reservation(order_id)["state"] == ReservationState.RELEASED.value


def test_released_while_taking_stock_of_a_short_order_gives_back_and_says_closed(store, monkeypatch):
    lamp, desk = add_product(store, 5), add_product(store, 0)
    order_id = new_order_id()
    take_stock = store.take_stock

    def take_while_a_release_arrives(product_id, taker, quantity, *price):
        if product_id == desk:
            reservation.release_stock(store, order_id)
        return take_stock(product_id, taker, quantity, *price)

    monkeypatch.setattr(store, "take_stock", take_while_a_release_arrives)

    # The release settled the reservation first: that, not the shortage, is the answer.
    with pytest.raises(ReservationClosed):
        reservation.reserve_stock(store, order_id, [line(lamp, 2), line(desk, 1)])

    assert stocks(store, lamp, desk) == [5, 0]
    assert store.get_reservation(order_id)["state"] == ReservationState.RELEASED.value


def test_released_after_every_take_but_before_closing_gives_back_and_raises_closed(store, monkeypatch):
    lamp, desk = add_product(store, 5), add_product(store, 3)
    order_id = new_order_id()
    close_reservation = store.close_reservation

    def close_after_a_release(taker, lease, state, shortfall=None):
        reservation.release_stock(store, order_id)  # the concurrent cancel wins the close
        return close_reservation(taker, lease, state, shortfall)

    monkeypatch.setattr(store, "close_reservation", close_after_a_release)

    with pytest.raises(ReservationClosed):
        reservation.reserve_stock(store, order_id, [line(lamp, 2), line(desk, 1)])

    assert stocks(store, lamp, desk) == [5, 3]
    assert store.get_reservation(order_id)["state"] == ReservationState.RELEASED.value


def test_a_duplicate_arriving_during_a_reserve_is_told_to_retry_and_takes_nothing(store, monkeypatch):
    lamp = add_product(store, 5)
    order_id = new_order_id()
    items = [line(lamp, 2)]
    close_reservation = store.close_reservation
    duplicates = []

    def close_after_a_duplicate_arrived(taker, lease, state, shortfall=None):
        if not duplicates:
            with pytest.raises(ReservationInProgress) as busy:
                reservation.reserve_stock(store, order_id, items)  # the redelivered message
            duplicates.append(busy.value)
            assert store.available_stock(lamp) == 3
        return close_reservation(taker, lease, state, shortfall)

    monkeypatch.setattr(store, "close_reservation", close_after_a_duplicate_arrived)

    record = reservation.reserve_stock(store, order_id, items)

    assert len(duplicates) == 1 and duplicates[0].status == 503
    assert record["state"] == ReservationState.RESERVED.value
    assert store.available_stock(lamp) == 3
    assert held(store, lamp, order_id) == 2


def test_a_reserve_finding_its_reservation_released_gives_back_what_an_earlier_delivery_took(store):
    lamp = add_product(store, 5)
    order_id = new_order_id()
    items = [line(lamp, 2)]
    # A first delivery opened the record; the caller gave up and released it;
    # then the first delivery's take landed and the process died.
    store.open_reservation(order_id, [priced(lamp, 2)], -1)
    reservation.release_stock(store, order_id)
    assert store.take_stock(lamp, order_id, 2, *WIDGET)

    with pytest.raises(ReservationClosed):
        reservation.reserve_stock(store, order_id, items)  # the redelivered message

    assert store.available_stock(lamp) == 5
    assert held(store, lamp, order_id) is None


# pricing from the instance's PriceBook


def test_products_the_price_book_knows_are_priced_without_a_read(store, monkeypatch):
    lamp, desk = add_product(store, 5), add_product(store, 5)
    book = PriceBook()
    reservation.reserve_stock(store, new_order_id(), [line(lamp, 1), line(desk, 1)], book)
    prices = mock.Mock(wraps=store.prices)
    monkeypatch.setattr(store, "prices", prices)

    record = reservation.reserve_stock(store, new_order_id(), [line(lamp, 1), line(desk, 1)], book)

    prices.assert_not_called()
    assert record["items"] == [priced(lamp, 1), priced(desk, 1)]
    assert stocks(store, lamp, desk) == [3, 3]


@pytest.mark.parametrize("change", [{"price": Decimal("2.50")}, {"name": "Widget II"}])
def test_a_product_changed_since_the_book_saw_it_is_taken_as_it_is_now(store, change):
    lamp, desk = add_product(store, 5), add_product(store, 5)
    book = PriceBook()
    reservation.reserve_stock(store, new_order_id(), [line(lamp, 1)], book)
    store.update(lamp, change)  # by another instance: this one's book still has the old entry
    order_id = new_order_id()

    record = reservation.reserve_stock(store, order_id, [line(desk, 1), line(lamp, 2)], book)

    now_priced = {**priced(lamp, 2), **({"unit_price": change["price"]} if "price" in change else change)}
    assert record["items"] == [priced(desk, 1), now_priced]
    assert store.get_reservation(order_id)["items"] == record["items"]  # a repeat answers the same
    assert (store.available_stock(lamp), held(store, lamp, order_id)) == (2, 2)
    assert book.prices(store, [lamp])[lamp] == {"name": now_priced["name"], "unit_price": now_priced["unit_price"]}


def test_a_product_deleted_since_the_book_saw_it_is_refused_and_nothing_is_held(store):
    lamp, desk = add_product(store, 5), add_product(store, 5)
    book = PriceBook()
    reservation.reserve_stock(store, new_order_id(), [line(lamp, 1), line(desk, 1)], book)
    store.delete(desk)
    order_id = new_order_id()

    with pytest.raises(UnknownProduct) as caught:
        reservation.reserve_stock(store, order_id, [line(lamp, 1), line(desk, 1)], book)

    assert caught.value.details == {"product_ids": [desk]}
    assert (store.available_stock(lamp), held(store, lamp, order_id)) == (4, None)
    assert book.prices(store, [desk]) == {}


def test_a_price_that_keeps_changing_under_the_take_gives_up_and_holds_nothing(monkeypatch):
    store = FakeProductStore()
    lamp = add_product(store, 5)
    order_id = new_order_id()
    take_stock = store.take_stock
    takes = []

    def take_while_repriced(product_id, taker, quantity, name, unit_price):
        takes.append(unit_price)
        store.update(product_id, {"price": unit_price + 1})  # another instance, every time
        return take_stock(product_id, taker, quantity, name, unit_price)

    monkeypatch.setattr(store, "take_stock", take_while_repriced)

    with pytest.raises(ServiceUnavailable) as caught:
        reservation.reserve_stock(store, order_id, [line(lamp, 1)], PriceBook())

    assert caught.value.details == {"order_id": order_id}
    # The first take and one after each repricing, each at the price it had just read.
    assert takes == [Decimal("1.00") + n for n in range(reservation.REPRICINGS + 1)]
    # The caller gives the order up and releases it: nothing was taken, and nothing can be.
    reservation.release_stock(store, order_id)
    assert (store.available_stock(lamp), held(store, lamp, order_id)) == (5, None)


# settling, once the order shipped


def test_settling_keeps_the_units_taken_and_removes_the_markers(store):
    lamp, desk = add_product(store, 5), add_product(store, 3)
    order_id = new_order_id()
    reservation.reserve_stock(store, order_id, [line(lamp, 2), line(desk, 1)])

    assert reservation.settle_reservation(store, order_id, [line(lamp, 2), line(desk, 1)]) is True

    assert stocks(store, lamp, desk) == [3, 2]
    assert (held(store, lamp, order_id), held(store, desk, order_id)) == (None, None)
    assert store.get_reservation(order_id)["state"] == ReservationState.SETTLED.value


def test_settling_twice_changes_nothing_more(store):
    lamp = add_product(store, 5)
    order_id = new_order_id()
    reservation.reserve_stock(store, order_id, [line(lamp, 2)])
    reservation.settle_reservation(store, order_id, [line(lamp, 2)])

    assert reservation.settle_reservation(store, order_id, [line(lamp, 2)]) is True

    assert stocks(store, lamp) == [3]
    assert held(store, lamp, order_id) is None


def test_settling_resumed_after_a_crash_removes_the_markers_left(store, monkeypatch):
    lamp, desk = add_product(store, 5), add_product(store, 3)
    order_id = new_order_id()
    items = [line(lamp, 2), line(desk, 1)]
    reservation.reserve_stock(store, order_id, items)
    forget = store.forget_holding
    calls = []

    def crash_after_the_first(product_id, held_for):
        calls.append(product_id)
        if len(calls) == 2:
            raise ConnectionError("the service died")
        forget(product_id, held_for)

    monkeypatch.setattr(store, "forget_holding", crash_after_the_first)
    with pytest.raises(ConnectionError):
        reservation.settle_reservation(store, order_id, items)
    assert held(store, desk, order_id) == 1
    monkeypatch.setattr(store, "forget_holding", forget)

    reservation.settle_reservation(store, order_id, items)

    assert (held(store, lamp, order_id), held(store, desk, order_id)) == (None, None)
    assert stocks(store, lamp, desk) == [3, 2]


@pytest.mark.parametrize("first", ["nothing", "released", "failed"])
def test_only_a_reserved_order_is_settled(store, first):
    lamp = add_product(store, 1)
    order_id = new_order_id()
    if first == "released":
        reservation.reserve_stock(store, order_id, [line(lamp, 1)])
        reservation.release_stock(store, order_id)
    elif first == "failed":
        with pytest.raises(InsufficientStock):
            reservation.reserve_stock(store, order_id, [line(lamp, 2)])

    assert reservation.settle_reservation(store, order_id, [line(lamp, 1)]) is False

    assert stocks(store, lamp) == [1]
    record = store.get_reservation(order_id)
    assert record is None or record["state"] != ReservationState.SETTLED.value


def test_a_release_after_settling_gives_nothing_back(store):
    lamp = add_product(store, 5)
    order_id = new_order_id()
    reservation.reserve_stock(store, order_id, [line(lamp, 2)])
    reservation.settle_reservation(store, order_id, [line(lamp, 2)])

    released = reservation.release_stock(store, order_id)

    assert released["state"] == ReservationState.SETTLED.value
    assert stocks(store, lamp) == [3]
    assert store.get_reservation(order_id)["state"] == ReservationState.SETTLED.value


def test_a_late_reserve_for_a_settled_order_takes_nothing_and_answers_as_reserved(store):
    lamp = add_product(store, 5)
    order_id = new_order_id()
    reservation.reserve_stock(store, order_id, [line(lamp, 2)])
    reservation.settle_reservation(store, order_id, [line(lamp, 2)])

    again = reservation.reserve_stock(store, order_id, [line(lamp, 2)])

    assert again["state"] == ReservationState.SETTLED.value
    assert again["items"] == [priced(lamp, 2)]
    assert stocks(store, lamp) == [3]
    assert held(store, lamp, order_id) is None
