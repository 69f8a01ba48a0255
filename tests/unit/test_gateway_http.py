"""The gateway's JSON HTTP helpers, on werkzeug requests built in memory, and its HTTP
protocol, speaking over a socket pair to a tiny WSGI app."""
import io
import json
import logging
import socket

import eventlet
import pytest
from eventlet import wsgi
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from common.errors import (
    BadRequest,
    EmailAlreadyExists,
    MethodNotAllowed,
    PayloadTooLarge,
    ProductNotFound,
    RequestTimeout,
    ServiceUnavailable,
    UnknownProduct,
    UnsupportedMediaType,
    ValidationFailed,
)
from gateway.http import (
    MAX_BODY_BYTES,
    MAX_BODY_DEPTH,
    JsonHttpProtocol,
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


def post(data, content_type="application/json", **kwargs):
    builder = EnvironBuilder(method="POST", path="/products", data=data, content_type=content_type, **kwargs)
    return builder.get_request()


def body_of(response):
    return json.loads(response.get_data(as_text=True))


# read_json


def test_read_json_returns_object():
    body = {"name": "Lamp", "price": 19.99, "tags": [1, None]}
    assert read_json(post(json.dumps(body))) == body


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
    builder = EnvironBuilder(method="POST", path="/products", input_stream=io.BytesIO(data),
                             content_type="application/json")
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


@pytest.mark.parametrize("opening", ["[", '{"a":', '{"a": ['])
def test_read_json_deeply_nested_body_is_bad_request(opening):
    with pytest.raises(BadRequest) as caught:
        read_json(post(opening * 100_000))
    assert caught.value.details == {"max_depth": MAX_BODY_DEPTH}


def nested(depth):
    """An object ``depth`` levels deep (the outer object counts as one)."""
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


def test_read_json_takes_a_body_nested_up_to_the_limit_and_refuses_one_level_more():
    assert read_json(post(nested(MAX_BODY_DEPTH)))
    # Deep enough to refuse, shallow enough that json itself reads it: the
    # limit, not the recursion limit, refuses it.
    for depth in (MAX_BODY_DEPTH + 1, 900):
        with pytest.raises(BadRequest) as caught:
            read_json(post(nested(depth)))
        assert caught.value.details == {"max_depth": MAX_BODY_DEPTH}


@pytest.mark.parametrize("data, key", [
    ('{"quantity": 1, "quantity": 3}', "quantity"),
    ('{"items": [{"product_id": "a", "quantity": 1, "quantity": 3}]}', "quantity"),
    ('{"address": {"city": "A", "city": "B"}}', "city"),
    ('{"a": 1, "b": 2, "a": 1}', "a"),
    ('{"\\u0061": 1, "a": 2}', "a"),  # the same key, one spelled as an escape
])
def test_read_json_refuses_a_key_given_twice_in_one_object_at_any_depth(data, key):
    with pytest.raises(BadRequest) as caught:
        read_json(post(data))
    assert caught.value.details == {"key": key}
    assert f'"{key}"' in caught.value.message


def test_read_json_takes_the_same_key_in_different_objects():
    data = '{"items": [{"product_id": "a", "quantity": 1}, {"product_id": "b", "quantity": 2}]}'
    assert read_json(post(data))["items"][1] == {"product_id": "b", "quantity": 2}


# the body's media type


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8",
    'application/json; charset="utf-8"', "Application/JSON", "application/merge-patch+json",
    "application/vnd.api+json; charset=utf-8",
])
def test_read_json_takes_json_media_types(content_type):
    assert read_json(post('{"a": 1}', content_type=content_type)) == {"a": 1}


@pytest.mark.parametrize("content_type", [
    "text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "application/xml", "text/json", "application/jsonx",
    "application/json; charset=latin-1", "application/json; charset=utf-16", "application/json; version=2",
    "json", "",
])
def test_read_json_refuses_any_other_media_type_unread(content_type):
    request = post('{"a": 1}', content_type=content_type)

    with pytest.raises(UnsupportedMediaType) as caught:
        read_json(request)

    assert caught.value.status == 415
    assert caught.value.details == {"content_type": content_type}
    assert request.stream.read() == b'{"a": 1}'  # nothing was read


def without_content_type(**kwargs):
    environ = EnvironBuilder(method="POST", path="/products", **kwargs).get_environ()
    environ.pop("CONTENT_TYPE", None)
    return environ


def test_read_json_refuses_a_body_without_a_content_type():
    request = Request(without_content_type(data=b'{"a": 1}'))

    with pytest.raises(UnsupportedMediaType) as caught:
        read_json(request)
    assert caught.value.details == {"content_type": None}


def test_read_json_refuses_a_chunked_body_without_a_content_type():
    environ = without_content_type(input_stream=io.BytesIO(b'{"a": 1}'))
    del environ["CONTENT_LENGTH"]
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    with pytest.raises(UnsupportedMediaType):
        read_json(Request(environ))


def test_read_json_of_no_body_and_no_content_type_is_a_bad_request_not_a_media_type_error():
    with pytest.raises(BadRequest) as caught:
        read_json(Request(without_content_type()))
    assert type(caught.value) is BadRequest


# a body that does not arrive in full


def test_read_json_body_shorter_than_its_content_length_is_bad_request():
    environ = EnvironBuilder(method="POST", path="/products", content_type="application/json",
                             input_stream=io.BytesIO(b'{"a": 1}')).get_environ()
    environ["CONTENT_LENGTH"] = "100"
    with pytest.raises(BadRequest) as caught:
        read_json(Request(environ))
    assert caught.value.message == "The body ended before its Content-Length."


class StalledStream(io.RawIOBase):
    """A body whose client stops sending: the socket's idle timeout fires."""

    def readable(self):
        return True

    def readinto(self, buffer):
        raise TimeoutError("timed out")


def test_read_json_body_that_stalls_past_the_idle_timeout_is_408():
    environ = EnvironBuilder(method="POST", path="/products", content_type="application/json",
                             data=b"{}").get_environ()
    environ["wsgi.input"] = StalledStream()
    with pytest.raises(RequestTimeout) as caught:
        read_json(Request(environ))
    assert caught.value.status == 408


# JsonHttpProtocol: what the HTTP server refuses before any route runs


def echo_app(environ, start_response):
    """Answers 200 with what it was given: its body if ``?read``, else nothing of it."""
    body = environ["wsgi.input"].read() if environ.get("QUERY_STRING") == "read" else b""
    seen = {"content_type": environ.get("CONTENT_TYPE"), "body": body.decode()}
    payload = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def exchange(raw):
    """Send ``raw`` bytes to JsonHttpProtocol over a socket pair; everything it answered before closing."""
    server_side, client_side = socket.socketpair()
    server = wsgi.Server(server_side, ("127.0.0.1", 0), echo_app, protocol=JsonHttpProtocol,
                         log=logging.getLogger("test.wsgi"))
    server_side.settimeout(5)
    connection = eventlet.spawn(server.process_request, [("127.0.0.1", 1), server_side, wsgi.STATE_IDLE])
    client_side.sendall(raw)
    client_side.shutdown(socket.SHUT_WR)
    client_side.settimeout(5)
    answer = b""
    while chunk := client_side.recv(65536):
        answer += chunk
    connection.wait()
    client_side.close()
    return answer


def responses(answer):
    """(status, headers, JSON body) of each response in ``answer``."""
    found = []
    while answer:
        head, _, rest = answer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in header_lines)}
        length = int(headers["content-length"])
        found.append((int(status_line.split()[1]), headers, json.loads(rest[:length])))
        answer = rest[length:]
    return found


def refusal(raw):
    """The one JSON error the server answered ``raw`` with: (status, error code, details)."""
    (status, headers, body), = responses(exchange(raw))
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert headers["x-request-id"]
    assert set(body) == {"error", "message", "details"} and body["message"]
    return status, body["error"], body["details"]


GET = b"GET /products HTTP/1.1\r\nHost: shop\r\n"


@pytest.mark.parametrize("raw, status, code", [
    pytest.param(b"GET /products?q=" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: shop\r\n\r\n", 414, "URI_TOO_LONG",
                 id="long-url"),
    pytest.param(GET + b"X-Big: " + b"a" * 65_536 + b"\r\n\r\n", 431, "HEADER_FIELDS_TOO_LARGE",
                 id="64KB-header"),
    pytest.param(GET + b"".join(b"X-H%d: v\r\n" % i for i in range(2000)) + b"\r\n", 431,
                 "HEADER_FIELDS_TOO_LARGE", id="2000-headers"),
    pytest.param(GET + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 8000) for i in range(9)) + b"\r\n", 431,
                 "HEADER_FIELDS_TOO_LARGE", id="72KB-of-headers"),
    pytest.param(b"GARBAGE\r\n\r\n", 400, "BAD_REQUEST", id="one-word"),
    pytest.param(b"GET /products HTTP/x\r\n\r\n", 400, "BAD_REQUEST", id="bad-version"),
    pytest.param(b"GET /products HTTP/2.0\r\n\r\n", 505, "HTTP_VERSION_NOT_SUPPORTED", id="http2"),
])
def test_what_the_http_parser_refuses_is_a_json_error(raw, status, code):
    assert refusal(raw)[:2] == (status, code)


POST = b"POST /products?read HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n"


@pytest.mark.parametrize("headers, status, details", [
    (b"Content-Length: 5_0\r\n", 400, {"header": "Content-Length"}),
    (b"Content-Length: +2\r\n", 400, {"header": "Content-Length"}),
    (b"Content-Length: -1\r\n", 400, {"header": "Content-Length"}),
    (b"Content-Length: 2\r\nContent-Length: 3\r\n", 400, {"header": "Content-Length"}),
    (b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", 400, {"header": "Content-Length"}),
    (b"Transfer-Encoding: gzip, chunked\r\n", 501, {"header": "Transfer-Encoding"}),
    (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 501, {"header": "Transfer-Encoding"}),
])
def test_a_body_framed_ambiguously_is_refused_before_it_is_read(headers, status, details):
    assert refusal(POST + headers + b"\r\n{}")[::2] == (status, details)


def test_the_same_content_length_twice_is_one_length():
    (status, _, body), = responses(exchange(POST + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"))
    assert (status, body["body"]) == (200, "{}")


def test_a_request_without_a_content_type_reaches_the_app_without_one():
    (_, _, body), = responses(exchange(b"POST /products HTTP/1.1\r\nHost: shop\r\nContent-Length: 2\r\n\r\n{}"))
    assert body["content_type"] is None  # eventlet alone would say text/plain


def test_a_body_read_in_full_keeps_the_connection_and_one_left_unread_closes_it():
    read = POST + b"Content-Length: 2\r\n\r\n{}"
    unread = b"POST /products HTTP/1.1\r\nHost: shop\r\nContent-Length: 2\r\n\r\n{}"

    first, second, third = responses(exchange(read + read + unread + read))

    assert [status for status, _, _ in (first, second, third)] == [200, 200, 200]
    assert "connection" not in first[1] and "connection" not in second[1]
    # the fourth request was never read: the connection closed rather than read the unread body
    assert third[1]["connection"] == "close"


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
