"""ProductStore on a real database over a socket: queries, money, paging, hidden fields."""
from decimal import Decimal

import pytest
from bson import Decimal128, ObjectId
from pymongo import MongoClient, monitoring

from common.errors import InsufficientStock, PreconditionFailed, ProductNotFound
from product.storage import ProductStore

MISSING_ID = "5f0000000000000000000000"


@pytest.fixture
def store(product_store):
    return product_store


def add(store, name, price="1.00", description="", stock=0):
    return store.create(
        {"name": name, "price": Decimal(price), "description": description, "stock": stock}
    )


def everything(page_size=100):
    return {"page": 1, "page_size": page_size}


def names(found):
    return [product["name"] for product in found]


class CommandRecorder(monitoring.CommandListener):
    def __init__(self):
        self.commands = []

    def started(self, event):
        self.commands.append((event.command_name, event.command))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    def named(self, *command_names):
        return [command for name, command in self.commands if name in command_names]


@pytest.fixture
def recorded(mongo_url, db_prefix):
    """A ProductStore on its own client, with every command it sends recorded."""
    recorder = CommandRecorder()
    client = MongoClient(mongo_url, event_listeners=[recorder])
    product_store = ProductStore(client[f"{db_prefix}_product"])
    product_store.create_indexes()
    try:
        yield product_store, recorder
    finally:
        client.close()


def test_create_stores_decimal128_and_returns_exact_decimal(store, database):
    created = add(store, "Lamp", "19.99", "Warm light", 3)

    assert created["price"] == Decimal("19.99")
    assert isinstance(created["price"], Decimal)
    assert created["created_at"] == created["updated_at"]
    assert created["created_at"].tzinfo is not None
    stored = database("product").products.find_one({"_id": ObjectId(created["id"])})
    assert stored["price"] == Decimal128(Decimal("19.99"))
    assert store.get(created["id"]) == created


def test_create_indexes_is_idempotent_and_indexes_sort_fields(store, database):
    store.create_indexes()  # again: must not fail

    keys = [info["key"] for info in database("product").products.index_information().values()]
    for field in ("name", "price", "stock", "created_at"):
        assert [(field, 1), ("_id", 1)] in [list(map(tuple, key)) for key in keys]


def test_search_matches_name_or_description_ignoring_case(store):
    add(store, "Red Lamp")
    add(store, "Chair", description="goes well with a LAMP")
    add(store, "Table", description="oak")

    found, total = store.search("lamp", "name", everything())

    assert names(found) == ["Chair", "Red Lamp"]
    assert total == 2
    found, total = store.search("OAK", "name", everything())
    assert names(found) == ["Table"] and total == 1


def test_search_text_is_literal_not_a_regex(store):
    add(store, "Plain")
    add(store, "Dot.Star .* inside")
    add(store, "Paren (open")
    add(store, "a+b", description="[x]")

    assert names(store.search(".*", "name", everything())[0]) == ["Dot.Star .* inside"]
    assert names(store.search("(", "name", everything())[0]) == ["Paren (open"]
    assert names(store.search("a+b", "name", everything())[0]) == ["a+b"]
    assert names(store.search("[x]", "name", everything())[0]) == ["a+b"]
    assert store.search("^P", "name", everything()) == ([], 0)
    assert store.search("$", "name", everything()) == ([], 0)


def test_empty_search_text_matches_everything(store):
    for name in ("A", "B", "C"):
        add(store, name)

    found, total = store.search("", "name", everything())

    assert names(found) == ["A", "B", "C"] and total == 3


def test_sort_by_price_is_numeric_with_decimal128(store, database):
    for name, price in [("ten", "10.00"), ("nine-fifty", "9.50"), ("hundred", "100.00"),
                        ("cents", "0.99"), ("two", "2")]:
        add(store, name, price)
    assert isinstance(database("product").products.find_one()["price"], Decimal128)

    ascending, _ = store.search("", "price", everything())
    descending, _ = store.search("", "-price", everything())

    assert [p["price"] for p in ascending] == [
        Decimal("0.99"), Decimal("2"), Decimal("9.50"), Decimal("10.00"), Decimal("100.00")
    ]
    assert names(descending) == ["hundred", "ten", "nine-fifty", "two", "cents"]


def test_sort_ties_are_broken_by_id_so_pages_never_overlap(store):
    created = [add(store, f"Same {index}", "5.00") for index in range(5)]

    seen = []
    for page in (1, 2, 3):
        found, total = store.search("", "price", {"page": page, "page_size": 2})
        assert total == 5
        seen += [p["id"] for p in found]

    assert seen == [p["id"] for p in created]  # ObjectIds ascend in creation order


def test_paging_skips_and_limits_and_counts_all_matches(store):
    for index in range(7):
        add(store, f"Item {index}", stock=index)
    add(store, "Other")

    first, total = store.search("item", "stock", {"page": 1, "page_size": 3})
    third, total_again = store.search("item", "stock", {"page": 3, "page_size": 3})
    beyond, total_beyond = store.search("item", "stock", {"page": 4, "page_size": 3})

    assert names(first) == ["Item 0", "Item 1", "Item 2"]
    assert names(third) == ["Item 6"]
    assert beyond == []
    assert total == total_again == total_beyond == 7


def test_get_many_returns_only_existing_products_in_one_query(recorded):
    store, recorder = recorded
    lamp = add(store, "Lamp")
    chair = add(store, "Chair")
    add(store, "Not asked for")
    store.records.update_one({"_id": ObjectId(lamp["id"])}, {"$set": {"reservations": {"order-1": 1}}})
    recorder.commands.clear()

    found = store.get_many([lamp["id"], "abc", MISSING_ID, chair["id"], "", "0" * 25])

    assert sorted(names(found)) == ["Chair", "Lamp"]
    assert all("reservations" not in product for product in found)
    reads = recorder.named("find", "aggregate", "getMore", "count")
    assert len(reads) == 1, reads
    assert reads[0]["find"] == "products"
    asked = sorted(str(oid) for oid in reads[0]["filter"]["_id"]["$in"])
    assert asked == sorted([lamp["id"], chair["id"], MISSING_ID])  # invalid ids never reach the query


def test_get_many_of_nothing_valid_is_empty(store):
    add(store, "Lamp")

    assert store.get_many([]) == []
    assert store.get_many(["abc", MISSING_ID]) == []


def test_get_update_delete_of_missing_or_invalid_ids_raise_product_not_found(store):
    add(store, "Lamp")

    for record_id in (MISSING_ID, "abc", "", "5f00000000000000000000zz"):
        with pytest.raises(ProductNotFound) as error:
            store.get(record_id)
        assert error.value.details == {"id": record_id}
        with pytest.raises(ProductNotFound):
            store.update(record_id, {"name": "x"})
        with pytest.raises(ProductNotFound):
            store.delete(record_id)

    assert store.records.count_documents({}) == 1
    assert store.records.count_documents({"name": "x"}) == 0


def test_update_sets_only_given_fields_and_moves_updated_at(store):
    created = add(store, "Lamp", "19.99", "Warm", 3)

    updated = store.update(created["id"], {"price": Decimal("9.50")})

    assert updated["price"] == Decimal("9.50")
    assert (updated["name"], updated["description"], updated["stock"]) == ("Lamp", "Warm", 3)
    assert updated["created_at"] == created["created_at"]
    assert updated["updated_at"] >= created["updated_at"]
    assert store.records.find_one()["price"] == Decimal128("9.50")
    assert store.get(created["id"]) == updated


def test_delete_removes_the_product(store):
    lamp = add(store, "Lamp")
    chair = add(store, "Chair")

    store.delete(lamp["id"])

    with pytest.raises(ProductNotFound):
        store.get(lamp["id"])
    with pytest.raises(ProductNotFound):
        store.delete(lamp["id"])
    assert store.get(chair["id"])["name"] == "Chair"


def test_reservations_are_never_returned(store):
    lamp = add(store, "Lamp", stock=5)
    assert store.take_stock(lamp["id"], "order-1", 2, lamp["name"], lamp["price"])

    assert "reservations" not in store.get(lamp["id"])
    assert store.get(lamp["id"])["stock"] == 3
    assert "reservations" not in store.update(lamp["id"], {"name": "Desk Lamp"})
    assert all("reservations" not in p for p in store.search("", "name", everything())[0])
    assert all("reservations" not in p for p in store.get_many([lamp["id"]]))
    # ...while they are kept on the document itself
    assert store.records.find_one()["reservations"] == {"order-1": 2}


def test_create_never_returns_reservations_given_to_it(store):
    created = store.create({"name": "Lamp", "price": Decimal("1.00"), "reservations": []})

    assert "reservations" not in created
    assert "reservations" not in store.get(created["id"])


def test_ping_answers(store):
    store.ping()


def test_prices_names_the_existing_products_with_their_price_in_one_query(recorded):
    store, recorder = recorded
    lamp = add(store, "Lamp", price="12.50")
    chair = add(store, "Chair", price="3.00")
    recorder.commands.clear()

    prices = store.prices([lamp["id"], "abc", MISSING_ID, chair["id"]])

    assert prices == {
        lamp["id"]: {"name": "Lamp", "unit_price": Decimal("12.50")},
        chair["id"]: {"name": "Chair", "unit_price": Decimal("3.00")},
    }
    assert len(recorder.named("find", "aggregate", "getMore", "count")) == 1


def test_writes_use_no_find_and_modify(recorded):
    store, recorder = recorded
    lamp = add(store, "Lamp", stock=5)
    recorder.commands.clear()

    assert store.update(lamp["id"], {"description": "bright"})["description"] == "bright"
    assert store.adjust_stock(lamp["id"], -2)["stock"] == 3
    store.release_reservation("order-1")
    store.release_reservation("order-1")
    assert store.delete(lamp["id"]) == lamp["id"]

    assert recorder.named("findAndModify") == []


def test_delete_returns_the_canonical_id(store):
    lamp = add(store, "Lamp")

    assert store.delete(lamp["id"].upper()) == lamp["id"]


# versions: one more with every change of the product, guarded writes


def version_of(store, product_id):
    return store.records.find_one({"_id": ObjectId(product_id)})["version"]


def test_every_change_of_the_product_moves_its_version_reservations_included(store):
    lamp = add(store, "Lamp", stock=5)
    assert lamp["version"] == 1 == version_of(store, lamp["id"])

    versions = [
        store.update(lamp["id"], {"description": "bright"})["version"],
        store.update(lamp["id"], {"stock": 9})["version"],
        store.adjust_stock(lamp["id"], -1)["version"],
    ]
    assert store.take_stock(lamp["id"], "order-1", 2, lamp["name"], lamp["price"])
    versions.append(store.get(lamp["id"])["version"])
    store.return_stock(lamp["id"], "order-1", 2)
    versions.append(store.get(lamp["id"])["version"])

    assert versions == [2, 3, 4, 5, 6]
    assert store.get(lamp["id"])["stock"] == 8


def test_what_changes_nothing_leaves_the_version(store):
    lamp = add(store, "Lamp", stock=1)
    assert store.take_stock(lamp["id"], "order-1", 1, lamp["name"], lamp["price"])
    before = store.records.find_one({"_id": ObjectId(lamp["id"])})

    assert store.take_stock(lamp["id"], "order-1", 1, lamp["name"], lamp["price"])  # held already
    assert not store.take_stock(lamp["id"], "order-2", 1, lamp["name"], lamp["price"])  # none left
    store.return_stock(lamp["id"], "order-2", 1)  # holds nothing
    with pytest.raises(InsufficientStock):
        store.adjust_stock(lamp["id"], -1)

    assert store.records.find_one({"_id": ObjectId(lamp["id"])}) == before


def test_a_write_at_a_version_it_names_applies(store):
    lamp = add(store, "Lamp", stock=5)

    assert store.update(lamp["id"], {"name": "Desk"}, [1])["version"] == 2
    assert store.adjust_stock(lamp["id"], 3, [7, 2])["version"] == 3
    assert store.delete(lamp["id"], [3]) == lamp["id"]
    assert store.records.count_documents({}) == 0


@pytest.mark.parametrize("if_version", [[1], [3], [], [1, 3]])
def test_a_write_at_another_version_is_precondition_failed_and_changes_nothing(store, if_version):
    lamp = add(store, "Lamp", stock=5)
    store.update(lamp["id"], {"description": "moved on"})  # now at version 2
    before = store.records.find_one({"_id": ObjectId(lamp["id"])})

    for write in (lambda: store.update(lamp["id"], {"stock": 0}, if_version),
                  lambda: store.adjust_stock(lamp["id"], -5, if_version),
                  lambda: store.adjust_stock(lamp["id"], 5, if_version),
                  lambda: store.delete(lamp["id"], if_version),
                  lambda: store.get(lamp["id"], if_version)):
        with pytest.raises(PreconditionFailed) as refused:
            write()
        assert refused.value.status == 412
        assert refused.value.details == {"id": lamp["id"], "version": 2, "expected": if_version}

    assert store.records.find_one({"_id": ObjectId(lamp["id"])}) == before


def test_a_guarded_write_to_a_missing_product_is_still_not_found(store):
    for record_id in (MISSING_ID, "abc"):
        for write in (lambda: store.update(record_id, {"name": "x"}, [1]),
                      lambda: store.adjust_stock(record_id, 1, [1]),
                      lambda: store.delete(record_id, [1])):
            with pytest.raises(ProductNotFound):
                write()


def test_an_adjustment_at_its_version_is_still_refused_for_the_stock(store):
    lamp = add(store, "Lamp", stock=2)

    with pytest.raises(InsufficientStock):
        store.adjust_stock(lamp["id"], -3, [1])
    assert version_of(store, lamp["id"]) == 1


def test_a_guarded_write_costs_no_more_commands_than_an_unguarded_one(recorded):
    store, recorder = recorded
    lamp = add(store, "Lamp", stock=5)

    def commands_of(write):
        recorder.commands.clear()
        write()
        return [name for name, _ in recorder.commands]

    assert commands_of(lambda: store.update(lamp["id"], {"description": "x"})) == ["update", "find"]
    assert commands_of(lambda: store.update(lamp["id"], {"description": "y"}, [2])) == ["update", "find"]
    assert commands_of(lambda: store.adjust_stock(lamp["id"], 1, [3])) == ["update", "find"]
    update = recorder.named("update")[0]["updates"][0]
    assert update["q"]["version"] == {"$in": [3]}
    assert update["u"]["$inc"] == {"stock": 1, "version": 1}


def test_prepare_gives_products_stored_before_versions_version_1(store):
    old = store.records.insert_one({"name": "Old", "price": Decimal128("1.00"), "stock": 1}).inserted_id
    lamp = add(store, "Lamp")
    store.update(lamp["id"], {"name": "Lamp 2"})

    store.prepare()
    store.prepare()

    assert store.get(str(old))["version"] == 1
    assert store.get(lamp["id"])["version"] == 2
