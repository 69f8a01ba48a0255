"""nameko's ``@http`` speaking JSON: bodies in, documents and errors out.

Stock nameko answers every error as text/plain (400 for expected exceptions,
500 with the exception text otherwise) and unknown routes as HTML. Here every
response is JSON; a ServiceError maps to its own status and code, and anything
else is a 500 that says nothing about its cause (the traceback goes to the
log, not to the client).
"""
import json
import math
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
)
from common.observability import REQUEST_ID, REQUEST_ID_HEADER, accepted_request_id

MAX_BODY_BYTES = 1024 * 1024


def json_response(payload, status=200, headers=None):
    # The trailing newline keeps curl output readable in a terminal.
    return Response(json.dumps(payload) + "\n", status=status, headers=headers, mimetype="application/json")


def error_response(error):
    return json_response(error.to_dict(), status=error.status)


def created(document, collection_path):
    return json_response(document, 201, {"Location": f"{collection_path}/{document['id']}"})


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


def query_params(request, *names):
    """The named query parameters that are present, as strings."""
    return {name: request.args[name] for name in names if name in request.args}


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
    server = JsonWebServer()

    def __init__(self, method, url, **kwargs):
        kwargs.setdefault("expected_exceptions", ServiceError)
        super().__init__(method, url, **kwargs)

    def response_from_exception(self, exc):
        if isinstance(exc, ServiceError):
            return error_response(exc)
        return error_response(ServiceError())


http = JsonHttpRequestHandler.decorator
