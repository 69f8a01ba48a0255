"""nameko's ``@http`` speaking JSON: bodies in, documents and errors out.

Stock nameko answers every error as text/plain (400 for expected exceptions,
500 with the exception text otherwise) and unknown routes as HTML. Here every
response is JSON; a ServiceError maps to its own status and code, and anything
else is a 500 that says nothing about its cause (the traceback goes to the
log, not to the client).

A single record goes out with its version as a strong ETag; If-Match becomes
the ``if_version`` of the RPC write, If-None-Match a 304. A route declares the
query parameters it takes, and its handler refuses any other.
"""
import json
import math
import re
import uuid
from decimal import Decimal

from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.exceptions import MethodNotAllowed as WerkzeugMethodNotAllowed
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Request, Response

from common.errors import (
    BadRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    RouteNotFound,
    ServiceError,
    ValidationFailed,
)
from common.observability import REQUEST_ID, REQUEST_ID_HEADER, accepted_request_id

MAX_BODY_BYTES = 1024 * 1024


def json_response(payload, status=200, headers=None):
    # The trailing newline keeps curl output readable in a terminal.
    return Response(json.dumps(payload) + "\n", status=status, headers=headers, mimetype="application/json")


def error_response(error):
    return json_response(error.to_dict(), status=error.status)


def document_response(document, status=200, headers=None):
    """One record, with its version as a strong ETag (the same version, the same representation)."""
    return json_response(document, status, {"ETag": etag(document), **(headers or {})})


def created(document, collection_path):
    return document_response(document, 201, {"Location": f"{collection_path}/{document['id']}"})


def read_response(request, document):
    """One record for a GET: 304, with its ETag and no body, when If-None-Match names its version.

    If-None-Match compares weakly: W/"3" names version 3 as "3" does, and * any version.
    """
    tags = entity_tags(request, "If-None-Match")
    if tags is ANY or (tags and str(document["version"]) in {opaque for _, opaque in tags}):
        return Response(status=304, headers={"ETag": etag(document)})
    return document_response(document)


def etag(document):
    return f'"{document["version"]}"'


def no_content():
    return Response(status=204)


def read_json(request):
    """The request body as a JSON object, or BadRequest / PayloadTooLarge."""
    # One byte over the limit is read, so a chunked body (which has no
    # Content-Length to check first) that is too large is told apart from
    # one that fits, rather than cut short.
    request.max_content_length = MAX_BODY_BYTES + 1
    try:
        data = request.get_data()
    except RequestEntityTooLarge:
        data = None
    if data is None or len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body must be at most {MAX_BODY_BYTES} bytes.")
    try:
        text = data.decode("utf-8-sig")  # JSON is UTF-8; a byte order mark may be ignored
    except UnicodeDecodeError:
        raise BadRequest("The body is not valid UTF-8.") from None
    try:
        body = json.loads(text, parse_constant=_reject_constant, parse_float=_exact_float)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}.") from None
    except _BodyNumberError as exc:
        raise BadRequest(str(exc)) from None
    except ValueError:  # an integer with more digits than Python reads
        raise BadRequest("A number in the body is too long.") from None
    except RecursionError:
        raise BadRequest("The body is nested too deeply.") from None
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    return body


class _BodyNumberError(ValueError):
    pass


def _reject_constant(name):
    raise _BodyNumberError(f"The body is not valid JSON: {name} is not a number.")


def _exact_float(text):
    """A JSON number with a fraction or exponent, as a float that reads back as the same decimal.

    Money reads a float through its shortest repr, exact for 19.99; but read
    as a float, 19.999999999999999999 would come back as 20.0: such a number
    (more significant digits than a float carries) is refused, not rounded.
    """
    number = float(text)
    if math.isinf(number) or Decimal(repr(number)) != Decimal(text):
        raise _BodyNumberError(
            f"The number {text[:40]} cannot be read exactly; send an amount as a string like \"19.99\"."
        )
    return number


IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"


def idempotency_key(request):
    """The client's Idempotency-Key, or a new one: a request delivered twice inside the system still creates once.

    The service checks what the client sent (and refuses a malformed key).
    """
    sent = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    return sent if sent is not None else f"gateway-{uuid.uuid4().hex}"


ANY = "*"
# RFC 9110, 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text;
# a list may hold empty elements. Header values reach WSGI as latin-1 text.
_LIST_ELEMENT = re.compile(r'[ \t]*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)")?[ \t]*(?:,|\Z)')
# A version as the ETag spells it; 18 digits stay within BSON's 64-bit integers.
_VERSION = re.compile(r"^[1-9][0-9]{0,17}$")


def if_match(request):
    """The versions If-Match names, as an RPC write's ``if_version``: None without the header, or with *.

    If-Match compares strongly: a weak tag never matches, nor does one that is no
    version, so a header of only such tags gives [], which no write passes.
    """
    tags = entity_tags(request, "If-Match")
    if tags is None or tags is ANY:
        return None
    return [int(opaque) for weak, opaque in tags if not weak and _VERSION.match(opaque)]


def entity_tags(request, header):
    """``header`` as ANY, a list of (weak, opaque tag) pairs, or None when absent; BadRequest if malformed."""
    value = request.headers.get(header)
    if value is None:
        return None
    if value.strip() == ANY:
        return ANY
    tags, position = [], 0
    while position < len(value):
        element = _LIST_ELEMENT.match(value, position)
        if element is None:
            raise BadRequest(f'The {header} header must be * or a list of entity tags like "3".',
                             {"header": header})
        if element.group(2) is not None:
            tags.append((element.group(1) is not None, element.group(2)))
        position = element.end()
    return tags


def query_params(request):
    """The query parameters, as strings (the route's handler let only its own through, each once)."""
    return request.args.to_dict()


def check_query(request, allowed):
    """ValidationFailed naming each query parameter that is not ``allowed`` or is given more than once."""
    errors = {}
    for name in request.args:
        if name not in allowed:
            errors[name] = ["Unknown query parameter."]
        elif len(request.args.getlist(name)) > 1:
            errors[name] = ["Given more than once."]
    if errors:
        raise ValidationFailed("The query string has unknown or repeated parameters.", errors)


class JsonWebServer(WebServer):
    def get_wsgi_app(self):
        return _JsonRoutingApp(self)

    def context_data_from_headers(self, request):
        # nameko passes context data on with every RPC call and event.
        return {REQUEST_ID: request.headers[REQUEST_ID_HEADER]}


class _JsonRoutingApp(WsgiApp):
    """nameko's WSGI app, with routing errors as JSON and a request id on every response."""

    def __call__(self, environ, start_response):
        request_id = accepted_request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ["HTTP_X_REQUEST_ID"] = request_id
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            # eventlet's server de-chunks the body but does not say so; without
            # this werkzeug reads a chunked body as empty.
            environ["wsgi.input_terminated"] = True
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, request.path_values = adapter.match()
        except (NotFound, RequestRedirect):
            # A redirect would be to a canonical path ("/products//x" to
            # "/products/x"); clients of a JSON API get told the path is wrong.
            response = error_response(RouteNotFound(f"No route for {request.path}."))
        except WerkzeugMethodNotAllowed as exc:
            allowed = sorted(exc.valid_methods or ())
            error = MethodNotAllowed(f"{request.method} is not allowed here.", {"allowed": allowed})
            response = error_response(error)
            response.headers["Allow"] = ", ".join(allowed)
        except HTTPException as exc:
            response = exc.get_response(environ)
        else:
            response = provider.handle_request(request)
        response.headers[REQUEST_ID_HEADER] = request_id
        return response(environ, start_response)


class JsonHttpRequestHandler(HttpRequestHandler):
    """``@http(method, url, query=names)``: ``query`` names the query parameters the route
    takes; a request with any other (or one twice) is refused before the route runs."""

    server = JsonWebServer()

    def __init__(self, method, url, query=(), **kwargs):
        kwargs.setdefault("expected_exceptions", ServiceError)
        super().__init__(method, url, **kwargs)
        self.query = tuple(query)

    def get_entrypoint_parameters(self, request):
        check_query(request, self.query)
        return super().get_entrypoint_parameters(request)

    def response_from_exception(self, exc):
        if isinstance(exc, ServiceError):
            return error_response(exc)
        return error_response(ServiceError())


http = JsonHttpRequestHandler.decorator
