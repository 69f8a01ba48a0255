"""CustomersService methods with a mocked store (nameko's worker_factory)."""
import datetime

import pytest
from nameko.testing.services import worker_factory

from common.errors import CustomerNotFound, EmailAlreadyExists, ValidationFailed
from customers.service import CustomersService

MOMENT = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)
CUSTOMER_ID = "5f00000000000000000000bb"


def stored(**fields):
    return {
        "id": CUSTOMER_ID,
        "name": "Ada",
        "email": "Ada@Example.com",
        "phone": None,
        "address": None,
        "created_at": MOMENT,
        "updated_at": MOMENT,
        "version": 1,
        **fields,
    }


@pytest.fixture
def service():
    return worker_factory(CustomersService)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"name": "Ada"},
        {"name": "Ada", "email": "not-an-email"},
        {"name": "  ", "email": "ada@example.com"},
        {"name": "Ada", "email": "ada@example.com", "phone": "call me"},
        {"name": "Ada", "email": "ada@example.com", "address": {"planet": "Earth"}},
        {"name": "Ada", "email": {"$ne": None}},
        "ada@example.com",
    ],
)
def test_create_with_invalid_data_raises_and_never_stores(service, data):
    with pytest.raises(ValidationFailed):
        service.create(data)
    service.store.create.assert_not_called()


def test_create_passes_cleaned_fields_to_store(service):
    service.store.create.return_value = stored()

    service.create({"name": " Ada ", "email": "Ada@Example.com"})

    service.store.create.assert_called_once_with(
        {"name": "Ada", "email": "Ada@Example.com", "phone": None, "address": None}, None
    )


def test_create_with_an_idempotency_key_claims_it_for_this_request(service):
    service.store.create.return_value = stored()

    service.create({"name": "Ada", "email": "ada@example.com"}, idempotency_key="k-1")
    service.create({"name": "Ada", "email": "ada@example.com"}, idempotency_key="k-1")
    service.create({"name": "Bob", "email": "ada@example.com"}, idempotency_key="k-1")

    claims = [call.args[1] for call in service.store.create.call_args_list]
    assert {claim["key"] for claim in claims} == {"k-1"}
    # The same request, the same fingerprint; another request, another.
    assert claims[0]["fingerprint"] == claims[1]["fingerprint"] != claims[2]["fingerprint"]


@pytest.mark.parametrize("field", ["id", "created_at", "updated_at", "version"])
def test_create_and_update_refuse_a_read_only_field_by_name(service, field):
    data = {"name": "Ada", "email": "ada@example.com", field: "5f0000000000000000000000"}

    for call in (lambda: service.create(data), lambda: service.update(CUSTOMER_ID, data),
                 lambda: service.update(CUSTOMER_ID, data, partial=True)):
        with pytest.raises(ValidationFailed) as caught:
            call()
        assert set(caught.value.details) == {field}
    service.store.create.assert_not_called()
    service.store.update.assert_not_called()


def test_update_accepts_the_customers_own_id_and_passes_the_expected_versions(service):
    service.store.update.return_value = stored()

    service.update(CUSTOMER_ID, {"id": CUSTOMER_ID, "name": "Ada L."}, partial=True, if_version=2)

    service.store.update.assert_called_once_with(CUSTOMER_ID, {"name": "Ada L."}, [2])


def test_create_returns_dumped_document_without_internal_fields(service):
    address = {"city": "London"}
    service.store.create.return_value = stored(address=address, email_key="ada@example.com")

    result = service.create({"name": "Ada", "email": "Ada@Example.com", "address": address})

    assert result == {
        "id": CUSTOMER_ID,
        "name": "Ada",
        "email": "Ada@Example.com",
        "phone": None,
        "address": {"city": "London"},
        "created_at": "2024-05-01T12:00:00+00:00",
        "updated_at": "2024-05-01T12:00:00+00:00",
        "version": 1,
    }


def test_create_lets_email_conflict_through(service):
    service.store.create.side_effect = EmailAlreadyExists()
    with pytest.raises(EmailAlreadyExists):
        service.create({"name": "Ada", "email": "ada@example.com"})


def test_update_partial_passes_only_given_fields(service):
    service.store.update.return_value = stored(phone="+44 20 7946 0958")

    result = service.update(CUSTOMER_ID, {"phone": "+44 20 7946 0958"}, partial=True)

    service.store.update.assert_called_once_with(CUSTOMER_ID, {"phone": "+44 20 7946 0958"}, None)
    assert result["phone"] == "+44 20 7946 0958"


def test_update_full_resets_optional_fields(service):
    service.store.update.return_value = stored()

    service.update(CUSTOMER_ID, {"name": "Ada", "email": "ada@example.com"})

    service.store.update.assert_called_once_with(
        CUSTOMER_ID, {"name": "Ada", "email": "ada@example.com", "phone": None, "address": None}, None
    )


def test_update_partial_with_nothing_raises_without_touching_store(service):
    with pytest.raises(ValidationFailed):
        service.update(CUSTOMER_ID, {}, partial=True)
    service.store.update.assert_not_called()


def test_list_passes_parsed_query_and_returns_page(service):
    service.store.search.return_value = ([stored()], 1)

    result = service.list(page="2", page_size="5", q="ada")

    text, page = service.store.search.call_args.args
    assert text == "ada"
    assert (page["page"], page["page_size"]) == (2, 5)
    assert (result["total"], result["page"], result["page_size"]) == (1, 2, 5)
    assert [item["email"] for item in result["items"]] == ["Ada@Example.com"]
    assert result["items"][0]["created_at"] == "2024-05-01T12:00:00+00:00"


def test_list_defaults(service):
    service.store.search.return_value = ([], 0)

    assert service.list() == {"items": [], "total": 0, "page": 1, "page_size": 20}
    text, page = service.store.search.call_args.args
    assert text == ""
    assert (page["page"], page["page_size"]) == (1, 20)


@pytest.mark.parametrize("params", [{"page": "0"}, {"page_size": "101"}, {"page_size": "abc"}])
def test_list_rejects_bad_paging_without_searching(service, params):
    with pytest.raises(ValidationFailed):
        service.list(**params)
    service.store.search.assert_not_called()


def test_get_and_delete_pass_the_id(service):
    service.store.get.return_value = stored()

    assert service.get(CUSTOMER_ID)["id"] == CUSTOMER_ID
    service.delete(CUSTOMER_ID)

    service.store.get.assert_called_once_with(CUSTOMER_ID)
    service.store.delete.assert_called_once_with(CUSTOMER_ID, None)


def test_delete_passes_the_expected_versions(service):
    service.store.delete.return_value = CUSTOMER_ID

    service.delete(CUSTOMER_ID, if_version=[3, 4])

    service.store.delete.assert_called_once_with(CUSTOMER_ID, [3, 4])


def test_ping_calls_store_ping(service):
    assert service.ping() == "ok"
    service.store.ping.assert_called_once_with()


def test_delete_announces_customer_deleted_after_the_reply_with_the_canonical_id(service):
    service.store.delete.return_value = CUSTOMER_ID

    assert service.delete(CUSTOMER_ID.upper()) is None

    service.store.delete.assert_called_once_with(CUSTOMER_ID.upper(), None)
    service.after_reply.assert_called_once_with(service.dispatch, "customer_deleted", {"id": CUSTOMER_ID})
    service.dispatch.assert_not_called()  # deferred: not sent before the reply


def test_a_failed_delete_announces_nothing(service):
    service.store.delete.side_effect = CustomerNotFound("gone")

    with pytest.raises(CustomerNotFound):
        service.delete(CUSTOMER_ID)

    service.after_reply.assert_not_called()
