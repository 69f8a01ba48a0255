"""The gateway's JSON HTTP helpers, on werkzeug requests built in memory."""
import io
import json

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from common.errors import (
    BadRequest,
    EmailAlreadyExists,
    MethodNotAllowed,
    PayloadTooLarge,
    ProductNotFound,
    ServiceUnavailable,
    UnknownProduct,
    ValidationFailed,
)
from gateway.http import (
    MAX_BODY_BYTES,
    JsonHttpRequestHandler,
    check_query,
    created,
    document_response,
    if_match,
    json_response,
    no_content,
    query_params,
    read_json,
    read_response,
)


def post(data, **kwargs):
    return EnvironBuilder(method="POST", path="/products", data=data, **kwargs).get_request()


def body_of(response):
    return json.loads(response.get_data(as_text=True))


# read_json


def test_read_json_returns_object():
    body = {"name": "Lamp", "price": 19.99, "tags": [1, None]}
    assert read_json(post(json.dumps(body), content_type="application/json")) == body


def test_read_json_ignores_content_type():
    assert read_json(post('{"a": 1}', content_type="text/plain")) == {"a": 1}


@pytest.mark.parametrize("data", ['{"name": ', "{'a': 1}", "not json", "", "{\"a\": 1}}", "\x00"])
def test_read_json_malformed_is_bad_request(data):
    with pytest.raises(BadRequest) as caught:
        read_json(post(data))
    assert type(caught.value) is BadRequest
    assert caught.value.status == 400


@pytest.mark.parametrize("data", ["[]", '[{"a": 1}]', '"text"', "5", "null", "true"])
def test_read_json_non_object_is_bad_request(data):
    with pytest.raises(BadRequest) as caught:
        read_json(post(data))
    assert caught.value.message == "The body must be a JSON object."


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_read_json_rejects_non_finite_constants(constant):
    with pytest.raises(BadRequest):
        read_json(post('{"price": %s}' % constant))


def test_read_json_body_over_limit_is_payload_too_large():
    data = '{"a": "' + "x" * MAX_BODY_BYTES + '"}'
    with pytest.raises(PayloadTooLarge) as caught:
        read_json(post(data))
    assert caught.value.status == 413


def chunked(data):
    """A request whose body streams in without a Content-Length, as a chunked one does."""
    builder = EnvironBuilder(method="POST", path="/products", input_stream=io.BytesIO(data))
    environ = builder.get_environ()
    del environ["CONTENT_LENGTH"]
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    environ["wsgi.input_terminated"] = True  # what the gateway's app sets for chunked bodies
    return Request(environ)


def test_read_json_chunked_body_over_limit_is_payload_too_large_not_cut_short():
    # Cut at the limit, this would be a valid object: the tail must not be ignored.
    data = b'{"name": "Lamp"}' + b" " * MAX_BODY_BYTES + b"GARBAGE"
    with pytest.raises(PayloadTooLarge):
        read_json(chunked(data))


def test_read_json_chunked_body_within_limit_is_read():
    assert read_json(chunked(b'{"name": "Lamp"}')) == {"name": "Lamp"}


def test_read_json_invalid_utf8_is_bad_request_not_replaced():
    with pytest.raises(BadRequest) as caught:
        read_json(post('{"name": "caf\xe9"}'.encode("latin-1")))
    assert caught.value.message == "The body is not valid UTF-8."


def test_read_json_ignores_a_byte_order_mark():
    assert read_json(post(b'\xef\xbb\xbf{"a": 1}')) == {"a": 1}


@pytest.mark.parametrize("number", ["19.999999999999999999", "0.1000000000000000001", "1e400", "-1e400", "1e-400"])
def test_read_json_refuses_a_number_a_float_cannot_hold_exactly(number):
    with pytest.raises(BadRequest) as caught:
        read_json(post('{"price": %s}' % number))
    assert "cannot be read exactly" in caught.value.message


@pytest.mark.parametrize("number, value", [("19.99", 19.99), ("1E+2", 100.0), ("0.5", 0.5), ("-0.0", 0.0)])
def test_read_json_reads_a_number_a_float_holds_exactly(number, value):
    assert read_json(post('{"price": %s}' % number)) == {"price": value}


def test_read_json_too_long_an_integer_is_bad_request_in_our_words():
    with pytest.raises(BadRequest) as caught:
        read_json(post('{"stock": %s}' % ("9" * 5000)))
    assert caught.value.message == "A number in the body is too long."


def test_read_json_body_at_limit_is_accepted():
    padding = MAX_BODY_BYTES - len('{"a": ""}')
    data = '{"a": "' + "x" * padding + '"}'
    assert len(data.encode()) == MAX_BODY_BYTES
    assert read_json(post(data)) == {"a": "x" * padding}


def test_read_json_deeply_nested_body_is_bad_request():
    with pytest.raises(BadRequest):
        read_json(post("[" * 100_000))


# query parameters: checked by the route's handler, then read


def query(query_string, path="/products"):
    return EnvironBuilder(path=path, query_string=query_string).get_request()


def test_query_params_returns_the_present_ones_as_strings():
    assert query_params(query("page=2&q=lamp")) == {"page": "2", "q": "lamp"}
    assert query_params(query("q=&page=")) == {"page": "", "q": ""}
    assert query_params(query("")) == {}


def test_check_query_lets_the_allowed_ones_through():
    check_query(query("page=2&q=lamp"), ("page", "page_size", "q", "sort"))
    check_query(query(""), ())


@pytest.mark.parametrize("query_string, allowed, refused", [
    ("page=2&other=x", ("page",), {"other": ["Unknown query parameter."]}),
    ("q=lamp", (), {"q": ["Unknown query parameter."]}),
    ("x=1&y=&page=1", ("page",), {"x": ["Unknown query parameter."], "y": ["Unknown query parameter."]}),
    ("page=1&page=2", ("page",), {"page": ["Given more than once."]}),
    ("Page=1", ("page",), {"Page": ["Unknown query parameter."]}),
])
def test_check_query_names_each_unknown_or_repeated_parameter(query_string, allowed, refused):
    with pytest.raises(ValidationFailed) as caught:
        check_query(query(query_string), allowed)
    assert caught.value.details == refused


def test_the_handler_refuses_a_query_parameter_its_route_does_not_take_before_the_route_runs():
    listing = JsonHttpRequestHandler("GET", "/products", query=("page", "q"))
    single = JsonHttpRequestHandler("GET", "/products/<product_id>")
    request = query("page=2&q=lamp")
    request.path_values = {}

    assert listing.get_entrypoint_parameters(request) == ((request,), {})
    with pytest.raises(ValidationFailed) as caught:
        single.get_entrypoint_parameters(request)
    assert set(caught.value.details) == {"page", "q"}


# ETag, If-Match, If-None-Match


def with_header(name, value):
    return EnvironBuilder(path="/products/x", headers={name: value}).get_request()


def test_a_document_response_carries_the_version_as_a_strong_etag():
    response = document_response({"id": "5f00000000000000000000aa", "version": 12})

    assert response.status_code == 200
    assert response.headers["ETag"] == '"12"'
    assert body_of(response) == {"id": "5f00000000000000000000aa", "version": 12}


@pytest.mark.parametrize("value, versions", [
    ('"3"', [3]),
    ('"3", "5"', [3, 5]),
    ('  "3" ,"4",, ', [3, 4]),
    ('W/"3"', []),
    ('W/"3", "4"', [4]),
    ('"abc"', []),
    ('"03"', []),
    ('"0"', []),
    ('""', []),
    ('"1,2"', []),
    ('"' + "9" * 19 + '"', []),
    ("", []),
])
def test_if_match_gives_the_versions_its_strong_tags_name(value, versions):
    assert if_match(with_header("If-Match", value)) == versions


def test_if_match_absent_or_any_guards_nothing():
    assert if_match(EnvironBuilder(path="/products/x").get_request()) is None
    assert if_match(with_header("If-Match", "*")) is None
    assert if_match(with_header("If-Match", " * ")) is None


@pytest.mark.parametrize("value", ['3', '"3', '3"', '"3" "4"', '*, "3"', 'w/"3"', 'W/ "3"', '"a"b"', "'3'",
                                   '"3";', '"tab\there"'])
def test_a_malformed_if_match_is_a_bad_request_naming_the_header(value):
    with pytest.raises(BadRequest) as caught:
        if_match(with_header("If-Match", value))
    assert type(caught.value) is BadRequest
    assert caught.value.details == {"header": "If-Match"}


PRODUCT = {"id": "5f00000000000000000000aa", "name": "Lamp", "version": 7}


@pytest.mark.parametrize("value", ['"7"', 'W/"7"', '"6", "7"', "*", ' W/"1" , "7"'])
def test_if_none_match_naming_the_version_is_304_with_the_etag_and_no_body(value):
    response = read_response(with_header("If-None-Match", value), PRODUCT)

    assert response.status_code == 304
    assert response.headers["ETag"] == '"7"'
    assert response.get_data() == b""


@pytest.mark.parametrize("value", ['"6"', 'W/"8"', '"07"', '""', ""])
def test_if_none_match_naming_other_versions_is_the_document(value):
    response = read_response(with_header("If-None-Match", value), PRODUCT)

    assert response.status_code == 200
    assert response.headers["ETag"] == '"7"'
    assert body_of(response) == PRODUCT


def test_a_get_without_if_none_match_is_the_document():
    response = read_response(EnvironBuilder(path="/products/x").get_request(), PRODUCT)

    assert (response.status_code, response.headers["ETag"]) == (200, '"7"')


def test_a_malformed_if_none_match_is_a_bad_request():
    with pytest.raises(BadRequest) as caught:
        read_response(with_header("If-None-Match", "7"), PRODUCT)
    assert caught.value.details == {"header": "If-None-Match"}


# responses


def test_created_is_201_with_json_body_location_and_etag():
    document = {"id": "5f00000000000000000000aa", "name": "Lamp", "version": 1}

    response = created(document, "/products")

    assert response.status_code == 201
    assert response.headers["Location"] == "/products/5f00000000000000000000aa"
    assert response.headers["ETag"] == '"1"'
    assert response.mimetype == "application/json"
    assert body_of(response) == document


def test_json_response_default_status_and_type():
    response = json_response({"a": [1, None]})

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert body_of(response) == {"a": [1, None]}


def test_no_content_is_204_with_empty_body():
    response = no_content()
    assert response.status_code == 204
    assert response.get_data() == b""


# JsonHttpRequestHandler.response_from_exception


@pytest.fixture
def handler():
    return JsonHttpRequestHandler("GET", "/x")


@pytest.mark.parametrize(
    "error, status",
    [
        (ValidationFailed(details={"price": ["At most 2 decimal places."]}), 400),
        (BadRequest("Bad body."), 400),
        (ProductNotFound.for_id("abc"), 404),
        (MethodNotAllowed(details={"allowed": ["GET"]}), 405),
        (EmailAlreadyExists(details={"email": "a@b.co"}), 409),
        (PayloadTooLarge(), 413),
        (UnknownProduct(details={"ids": ["x"]}), 422),
        (ServiceUnavailable(), 503),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_service_error_maps_to_its_status_and_json(handler, error, status):
    response = handler.response_from_exception(error)

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert body_of(response) == {
        "error": error.code,
        "message": error.message,
        "details": error.details,
    }


def test_not_found_body(handler):
    response = handler.response_from_exception(ProductNotFound.for_id("abc"))
    assert body_of(response) == {
        "error": "PRODUCT_NOT_FOUND",
        "message": "Product abc does not exist.",
        "details": {"id": "abc"},
    }


@pytest.mark.parametrize(
    "exc", [RuntimeError("secret db password"), KeyError("secret db password"), ValueError("secret db password")]
)
def test_unexpected_exception_is_opaque_500(handler, exc):
    response = handler.response_from_exception(exc)

    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json"
    assert body_of(response)["error"] == "INTERNAL_ERROR"
    assert "secret" not in response.get_data(as_text=True)


def test_handler_expects_service_errors_by_default(handler):
    # Expected exceptions are logged without a traceback by nameko.
    assert handler.expected_exceptions is not None
    assert issubclass(ProductNotFound, handler.expected_exceptions)
