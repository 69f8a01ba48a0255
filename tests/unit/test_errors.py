"""The error hierarchy: HTTP statuses, JSON shape, and surviving nameko's wire format."""
import inspect
import json

import pytest
from bson import ObjectId
from nameko.exceptions import RemoteError, deserialize, serialize

from common import errors
from common.errors import (
    BadRequest,
    Conflict,
    CustomerNotFound,
    EmailAlreadyExists,
    InsufficientStock,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ProductNotFound,
    RouteNotFound,
    ServiceError,
    ServiceUnavailable,
    UnknownCustomer,
    UnknownProduct,
    ValidationFailed,
)

ALL_ERRORS = sorted(
    (c for c in vars(errors).values() if inspect.isclass(c) and issubclass(c, ServiceError)),
    key=lambda c: c.__name__,
)


def over_the_wire(exc):
    """What an RPC caller receives: nameko serialises to JSON-able data and back."""
    return deserialize(json.loads(json.dumps(serialize(exc))))


def test_every_error_class_is_found():
    # Guards the parametrisation below against an empty or partial list.
    assert {ServiceError, ValidationFailed, ProductNotFound, ServiceUnavailable} <= set(ALL_ERRORS)


@pytest.mark.parametrize("error_cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_round_trips_as_same_class_with_message_and_details(error_cls):
    details = {"count": 3, "missing": None, "ids": [1, None, "x"], "nested": {"ok": True}}

    received = over_the_wire(error_cls("Something went wrong.", details))

    assert type(received) is error_cls
    assert received.message == "Something went wrong."
    assert received.details == details


@pytest.mark.parametrize("error_cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_round_trips_with_default_message_and_no_details(error_cls):
    received = over_the_wire(error_cls())

    assert type(received) is error_cls
    assert received.message == error_cls.default_message
    assert received.details == {}


def test_round_trip_keeps_to_dict():
    sent = ValidationFailed(details={"price": ["At most 2 decimal places."]})
    assert over_the_wire(sent).to_dict() == sent.to_dict()


def test_unregistered_exception_still_arrives_as_remote_error():
    assert isinstance(over_the_wire(KeyError("x")), RemoteError)


def test_to_dict_shape():
    error = EmailAlreadyExists("Taken.", {"email": "a@b.co"})
    assert error.to_dict() == {
        "error": "EMAIL_ALREADY_EXISTS",
        "message": "Taken.",
        "details": {"email": "a@b.co"},
    }


def test_defaults_when_no_message_or_details():
    assert ProductNotFound().to_dict() == {
        "error": "PRODUCT_NOT_FOUND",
        "message": "Product not found.",
        "details": {},
    }


def test_str_is_the_message():
    assert str(BadRequest("Bad body.", {"x": 1})) == "Bad body."


@pytest.mark.parametrize(
    "error_cls, status",
    [
        (ServiceError, 500),
        (BadRequest, 400),
        (ValidationFailed, 400),
        (NotFound, 404),
        (RouteNotFound, 404),
        (ProductNotFound, 404),
        (CustomerNotFound, 404),
        (MethodNotAllowed, 405),
        (Conflict, 409),
        (EmailAlreadyExists, 409),
        (InsufficientStock, 409),
        (UnknownProduct, 422),
        (UnknownCustomer, 422),
        (PayloadTooLarge, 413),
        (ServiceUnavailable, 503),
    ],
    ids=lambda v: v.__name__ if inspect.isclass(v) else str(v),
)
def test_status_codes(error_cls, status):
    assert error_cls().status == status


def test_error_codes_are_unique():
    codes = [c.code for c in ALL_ERRORS]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize(
    "error_cls, resource", [(ProductNotFound, "Product"), (CustomerNotFound, "Customer")]
)
def test_not_found_for_id(error_cls, resource):
    error = error_cls.for_id("abc123")

    assert type(error) is error_cls
    assert error.message == f"{resource} abc123 does not exist."
    assert error.details == {"id": "abc123"}


def test_not_found_for_id_stringifies_object_id():
    oid = ObjectId("5f0000000000000000000000")
    assert ProductNotFound.for_id(oid).details == {"id": "5f0000000000000000000000"}
