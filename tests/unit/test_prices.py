"""product/prices.py: the PriceBook's own bookkeeping (its use is in test_reservation_rules.py)."""
from decimal import Decimal
from unittest import mock

from product.prices import PriceBook

LAMP = {"name": "Lamp", "unit_price": Decimal("19.99")}


def store_with(entries):
    store = mock.Mock(spec=["prices"])
    store.prices.side_effect = lambda ids: {i: entries[i] for i in ids if i in entries}
    return store


def test_only_unknown_products_are_read_and_missing_ones_are_not_remembered():
    store = store_with({"lamp": LAMP})
    book = PriceBook()

    assert book.prices(store, ["lamp", "gone"]) == {"lamp": LAMP}
    assert book.prices(store, ["lamp", "gone"]) == {"lamp": LAMP}

    assert [call.args[0] for call in store.prices.call_args_list] == [["lamp", "gone"], ["gone"]]


def test_the_oldest_entries_go_first_beyond_the_limit():
    book = PriceBook(max_entries=2)
    for product_id in ("a", "b", "c"):
        book.learn(product_id, LAMP)

    store = store_with({})
    assert book.prices(store, ["a", "b", "c"]) == {"b": LAMP, "c": LAMP}


def test_a_book_of_no_entries_reads_every_time():
    store = store_with({"lamp": LAMP})
    book = PriceBook(max_entries=0)

    for _ in range(2):
        assert book.prices(store, ["lamp"]) == {"lamp": LAMP}

    assert store.prices.call_count == 2
