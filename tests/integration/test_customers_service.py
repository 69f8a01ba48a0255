"""The customers service in a real container, over real RPC, on a real database."""
import pytest
from bson import ObjectId
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook

from common.errors import CustomerNotFound, EmailAlreadyExists, PreconditionFailed, ValidationFailed
from customers.service import CustomersService

MISSING_ID = "5f0000000000000000000000"


@pytest.fixture
def customers_container(start_services):
    return start_services(CustomersService)["customers"]


@pytest.fixture
def customers_rpc(customers_container, service_config):
    with ServiceRpcProxy("customers", service_config) as proxy:
        yield proxy


@pytest.fixture
def collection(database):
    return database("customers").customers


def test_create_then_get_round_trips(customers_rpc, collection):
    created = customers_rpc.create({
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+44 20 7946 0958",
        "address": {"street": "1 Main St", "city": "London", "postal_code": "N1", "country": "UK"},
    })

    assert ObjectId.is_valid(created["id"])
    assert created["name"] == "Ada Lovelace"
    assert created["address"]["city"] == "London"
    assert created["created_at"] == created["updated_at"]
    assert "email_key" not in created
    assert customers_rpc.get(created["id"]) == created
    stored = collection.find_one({"_id": ObjectId(created["id"])})
    assert stored["email"] == "ada@example.com"


def test_optional_fields_default_to_null(customers_rpc):
    created = customers_rpc.create({"name": "Bob", "email": "bob@example.com"})

    assert created["phone"] is None
    assert created["address"] is None


def test_email_is_returned_as_typed_and_keyed_lower_case(customers_rpc, collection):
    created = customers_rpc.create({"name": "Ada", "email": "Ada.Lovelace@Example.COM"})

    assert created["email"] == "Ada.Lovelace@Example.COM"
    assert customers_rpc.get(created["id"])["email"] == "Ada.Lovelace@Example.COM"
    stored = collection.find_one({"_id": ObjectId(created["id"])})
    assert stored["email"] == "Ada.Lovelace@Example.COM"
    assert stored["email_key"] == "ada.lovelace@example.com"


def test_unique_email_and_idempotency_key_indexes_exist(customers_container, database):
    indexes = database("customers").customers.index_information()

    unique = sorted(list(map(tuple, info["key"])) for info in indexes.values() if info.get("unique"))
    assert unique == [[("email_key", 1)], [("idempotency.key", 1)]]


def test_duplicate_email_ignoring_case_arrives_as_email_already_exists(customers_rpc, collection):
    customers_rpc.create({"name": "Ada", "email": "ada@example.com"})

    with pytest.raises(EmailAlreadyExists) as error:
        customers_rpc.create({"name": "Impostor", "email": "ADA@Example.com"})

    assert error.value.code == "EMAIL_ALREADY_EXISTS"
    assert error.value.details == {"email": "ADA@Example.com"}
    assert collection.count_documents({}) == 1
    assert collection.find_one()["name"] == "Ada"


def test_updating_to_another_customers_email_is_a_conflict(customers_rpc, collection):
    customers_rpc.create({"name": "Ada", "email": "ada@example.com"})
    bob = customers_rpc.create({"name": "Bob", "email": "bob@example.com"})

    with pytest.raises(EmailAlreadyExists):
        customers_rpc.update(bob["id"], {"email": "Ada@example.com"}, partial=True)
    with pytest.raises(EmailAlreadyExists):
        customers_rpc.update(bob["id"], {"name": "Bobby", "email": "ADA@EXAMPLE.COM"})

    assert customers_rpc.get(bob["id"]) == bob
    assert collection.find_one({"_id": ObjectId(bob["id"])})["email_key"] == "bob@example.com"


def test_updating_to_own_email_in_any_case_is_fine(customers_rpc):
    ada = customers_rpc.create({"name": "Ada", "email": "ada@example.com"})

    same = customers_rpc.update(ada["id"], {"email": "ada@example.com"}, partial=True)
    recased = customers_rpc.update(ada["id"], {"email": "ADA@example.com"}, partial=True)

    assert same["email"] == "ada@example.com"
    assert recased["email"] == "ADA@example.com"
    assert customers_rpc.get(ada["id"])["email"] == "ADA@example.com"


def test_email_freed_by_delete_or_change_can_be_reused(customers_rpc):
    ada = customers_rpc.create({"name": "Ada", "email": "ada@example.com"})
    bob = customers_rpc.create({"name": "Bob", "email": "bob@example.com"})

    customers_rpc.delete(ada["id"])
    customers_rpc.update(bob["id"], {"email": "robert@example.com"}, partial=True)

    assert customers_rpc.create({"name": "Ada 2", "email": "Ada@example.com"})["email"] == "Ada@example.com"
    assert customers_rpc.create({"name": "Bob 2", "email": "bob@example.com"})["email"] == "bob@example.com"


def test_replace_resets_omitted_optional_fields_and_patch_keeps_them(customers_rpc):
    ada = customers_rpc.create({"name": "Ada", "email": "ada@example.com", "phone": "555 0100",
                                "address": {"city": "London"}})

    patched = customers_rpc.update(ada["id"], {"name": "Ada L."}, partial=True)
    assert (patched["name"], patched["phone"], patched["address"]) == ("Ada L.", "555 0100", {"city": "London"})
    assert patched["created_at"] == ada["created_at"]

    replaced = customers_rpc.update(ada["id"], {"name": "Ada", "email": "ada@example.com"})
    assert (replaced["phone"], replaced["address"]) == (None, None)
    assert customers_rpc.get(ada["id"]) == replaced


def test_replace_requires_required_fields_and_changes_nothing(customers_rpc):
    ada = customers_rpc.create({"name": "Ada", "email": "ada@example.com"})

    with pytest.raises(ValidationFailed) as error:
        customers_rpc.update(ada["id"], {"name": "No Email"})

    assert set(error.value.details) == {"email"}
    assert customers_rpc.get(ada["id"]) == ada


def test_invalid_fields_are_validation_failed(customers_rpc, collection):
    with pytest.raises(ValidationFailed) as error:
        customers_rpc.create({"name": " ", "email": "not-an-email", "phone": "abc", "extra": 1})

    assert set(error.value.details) == {"name", "email", "phone", "extra"}
    assert collection.count_documents({}) == 0


def test_read_only_fields_are_refused_by_name_and_change_nothing(customers_rpc, collection):
    with pytest.raises(ValidationFailed) as refused:
        customers_rpc.create({"name": "Ada", "email": "ada@example.com",
                              "id": MISSING_ID, "created_at": "2000-01-01T00:00:00+00:00"})
    assert set(refused.value.details) == {"id", "created_at"}
    assert collection.count_documents({}) == 0

    ada = customers_rpc.create({"name": "Ada", "email": "ada@example.com"})
    for body in ({"id": MISSING_ID, "name": "Eve"}, {"name": "Eve", "version": 5},
                 {"name": "Eve", "updated_at": "2000-01-01T00:00:00+00:00"}):
        with pytest.raises(ValidationFailed) as refused:
            customers_rpc.update(ada["id"], body, partial=True)
        assert set(refused.value.details) == set(body) - {"name"}
    assert customers_rpc.get(ada["id"]) == ada
    # its own id is no change: accepted
    assert customers_rpc.update(ada["id"], {"id": ada["id"].upper(), "name": "Eve"}, partial=True)["name"] == "Eve"


def test_every_change_moves_the_version_and_if_version_guards_the_writes(customers_rpc, collection):
    ada = customers_rpc.create({"name": "Ada", "email": "ada@example.com"})
    assert ada["version"] == 1

    renamed = customers_rpc.update(ada["id"], {"name": "Ada L."}, partial=True, if_version=1)
    replaced = customers_rpc.update(ada["id"], {"name": "Ada", "email": "ada@example.com"}, if_version=[1, 2])
    assert (renamed["version"], replaced["version"]) == (2, 3)

    for write in (lambda: customers_rpc.update(ada["id"], {"name": "Stale"}, partial=True, if_version=2),
                  lambda: customers_rpc.update(ada["id"], {"name": "Stale", "email": "s@example.com"}, if_version=[]),
                  lambda: customers_rpc.delete(ada["id"], if_version=[1, 2])):
        with pytest.raises(PreconditionFailed) as stale:
            write()
        assert stale.value.details["version"] == 3
    assert customers_rpc.get(ada["id"]) == replaced
    assert collection.count_documents({}) == 1

    with pytest.raises(CustomerNotFound):
        customers_rpc.update(MISSING_ID, {"name": "x"}, partial=True, if_version=1)
    assert customers_rpc.delete(ada["id"], if_version=3) is None
    assert collection.count_documents({}) == 0


@pytest.mark.parametrize("customer_id", [MISSING_ID, "abc", "", "0" * 25])
def test_missing_and_invalid_ids_are_customer_not_found(customers_rpc, customer_id):
    with pytest.raises(CustomerNotFound) as error:
        customers_rpc.get(customer_id)
    assert error.value.details == {"id": customer_id}
    with pytest.raises(CustomerNotFound):
        customers_rpc.update(customer_id, {"name": "x"}, partial=True)
    with pytest.raises(CustomerNotFound):
        customers_rpc.delete(customer_id)


def test_delete_removes_the_customer(customers_rpc, collection):
    ada = customers_rpc.create({"name": "Ada", "email": "ada@example.com"})
    bob = customers_rpc.create({"name": "Bob", "email": "bob@example.com"})

    assert customers_rpc.delete(ada["id"]) is None

    with pytest.raises(CustomerNotFound):
        customers_rpc.get(ada["id"])
    assert [doc["name"] for doc in collection.find()] == ["Bob"]
    assert customers_rpc.get(bob["id"]) == bob


def test_list_pages_newest_first_and_searches_name_or_email(customers_container):
    with entrypoint_hook(customers_container, "create") as create:
        for index in range(5):
            create({"name": f"Person {index}", "email": f"p{index}@example.com"})
        create({"name": "Zed", "email": "zed@Other.org"})

    with entrypoint_hook(customers_container, "list") as list_customers:
        first = list_customers(page="1", page_size="4")
        second = list_customers(page=2, page_size=4)
        by_email = list_customers(q="OTHER.ORG")
        by_name = list_customers(q="person 3")
        literal = list_customers(q=".*")

    assert (first["total"], first["page"], first["page_size"]) == (6, 1, 4)
    assert [c["name"] for c in first["items"]] == ["Zed", "Person 4", "Person 3", "Person 2"]
    assert [c["name"] for c in second["items"]] == ["Person 1", "Person 0"]
    assert [c["name"] for c in by_email["items"]] == ["Zed"]
    assert [c["name"] for c in by_name["items"]] == ["Person 3"]
    assert (literal["items"], literal["total"]) == ([], 0)
    assert by_email["page_size"] == 20


def test_list_rejects_bad_paging(customers_rpc):
    for params in ({"page": 0}, {"page_size": 101}, {"page": "abc"}, {"q": "x" * 101}):
        with pytest.raises(ValidationFailed):
            customers_rpc.list(**params)


def test_ping_checks_the_database(customers_container):
    with entrypoint_hook(customers_container, "ping") as ping:
        assert ping() == "ok"
