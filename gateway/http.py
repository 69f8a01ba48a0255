"""nameko's ``@http`` speaking JSON: bodies in, documents and errors out.

Stock nameko answers every error as text/plain (400 for expected exceptions,
500 with the exception text otherwise) and unknown routes as HTML. Here every
response is JSON; a ServiceError maps to its own status and code, and anything
else is a 500 that says nothing about its cause (the traceback goes to the
log, not to the client).

A body is read only as JSON (415 for any other media type), at most 1 MiB,
nested at most MAX_BODY_DEPTH deep and with no key twice in one object. What
the HTTP server refuses before any route runs (a request line or headers too
long, a malformed request) is answered in the same JSON error shape, by
JsonHttpProtocol; a connection idle for GATEWAY_IDLE_TIMEOUT seconds is closed.
With GATEWAY_API_KEYS set, a route not declared ``public`` checks the API key
(gateway/auth.py) as soon as the route is found: a 401 reads no body and calls no service.

A single record goes out with its version as a strong ETag; If-Match becomes
the ``if_version`` of the RPC write, If-None-Match a 304. A route declares the
query parameters it takes, and its handler refuses any other.
"""
import errno
import json
import logging
import math
import re
import resource
import socket
import time
import uuid
from decimal import Decimal
from functools import partial
from http import HTTPStatus

import eventlet
from eventlet.wsgi import HeaderLineTooLong, HeadersTooLarge
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer, WsgiApp
from werkzeug.exceptions import ClientDisconnected, HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.exceptions import MethodNotAllowed as WerkzeugMethodNotAllowed
from werkzeug.http import parse_options_header
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Request, Response

from common.errors import (
    BadRequest,
    HeaderFieldsTooLarge,
    HttpVersionNotSupported,
    MethodNotAllowed,
    NotImplementedByServer,
    PayloadTooLarge,
    RequestTimeout,
    RouteNotFound,
    ServiceError,
    Unauthorized,
    UnsupportedMediaType,
    UriTooLong,
    ValidationFailed,
)
from common.observability import REQUEST_ID, REQUEST_ID_HEADER, accepted_request_id
from gateway.auth import ApiKeys, challenge

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# No body the services take nests deeper than 3; a deep one would only cost
# recursion in every layer that walks it (validation, RPC serialisation).
MAX_BODY_DEPTH = 32
DEFAULT_IDLE_TIMEOUT_SECONDS = 60


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
    """The request body as a JSON object, or BadRequest / UnsupportedMediaType / PayloadTooLarge.

    The media type is checked first, so a body of any other type is refused
    unread; that also refuses the "simple" cross-site POSTs a browser sends
    without asking (text/plain, forms), which could not carry application/json.
    """
    check_json_media_type(request)
    # One byte over the limit is read, so a chunked body (which has no
    # Content-Length to check first) that is too large is told apart from
    # one that fits, rather than cut short. A Content-Length over the limit
    # is refused before anything is read.
    request.max_content_length = MAX_BODY_BYTES + 1
    try:
        data = request.get_data()
    except RequestEntityTooLarge:
        data = None
    except ClientDisconnected as exc:
        # werkzeug says so for any read error, raised while handling it: a
        # timeout is the connection's idle timeout, waiting for the rest.
        if isinstance(exc.__context__, TimeoutError):
            raise RequestTimeout("The rest of the body did not arrive in time.") from None
        raise BadRequest("The body ended before its Content-Length.") from None
    if data is None or len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body must be at most {MAX_BODY_BYTES} bytes.")
    try:
        text = data.decode("utf-8-sig")  # JSON is UTF-8; a byte order mark may be ignored
    except UnicodeDecodeError:
        raise BadRequest("The body is not valid UTF-8.") from None
    try:
        body = json.loads(text, parse_constant=_reject_constant, parse_float=_exact_float,
                          object_pairs_hook=_object_without_repeated_keys)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}.") from None
    except _BodyContentError as exc:
        raise BadRequest(exc.message, exc.details) from None
    except ValueError:  # an integer with more digits than Python reads
        raise BadRequest("A number in the body is too long.") from None
    except RecursionError:
        raise _too_deep() from None
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    if _deeper_than(body, MAX_BODY_DEPTH):
        raise _too_deep()
    return body


def check_json_media_type(request):
    """UnsupportedMediaType unless a request with a body says it is JSON in UTF-8.

    application/json or any type/subtype+json; the only parameter taken is a
    charset, which must be UTF-8 (JSON has no other). A request with no body
    and no Content-Type passes: reading it then says the body is missing.
    """
    content_type = request.headers.get("Content-Type")
    if content_type is None:
        if _has_body(request):
            raise UnsupportedMediaType("The body needs a Content-Type: application/json header.",
                                       {"content_type": None})
        return
    media_type, parameters = parse_options_header(content_type)
    media_type = media_type.lower()
    if media_type != "application/json" and not re.fullmatch(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+\+json",
                                                             media_type):
        raise UnsupportedMediaType(f"The body must be application/json, not {media_type or 'empty'}.",
                                   {"content_type": content_type})
    unknown = sorted(name for name in parameters if name.lower() != "charset")
    if unknown:
        raise UnsupportedMediaType(f"The media type takes no parameter but charset: {', '.join(unknown)}.",
                                   {"content_type": content_type})
    charset = {name.lower(): value for name, value in parameters.items()}.get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("A JSON body must be UTF-8.", {"content_type": content_type})


def _has_body(request):
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


class _BodyContentError(ValueError):
    def __init__(self, message, details=None):
        super().__init__(message)
        self.message, self.details = message, details


def _object_without_repeated_keys(pairs):
    """A JSON object as a dict; a key given twice is refused, not settled by the last one winning."""
    document = dict(pairs)
    if len(document) < len(pairs):
        seen = set()
        key = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise _BodyContentError(f"The key {json.dumps(key)} appears more than once in one object.", {"key": key})
    return document


def _deeper_than(document, limit):
    """Whether arrays and objects nest more than ``limit`` deep (walked without recursion)."""
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                return True
            pending.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return False


def _too_deep():
    return BadRequest(f"The body is nested too deeply (at most {MAX_BODY_DEPTH} levels).",
                      {"max_depth": MAX_BODY_DEPTH})


def _reject_constant(name):
    raise _BodyContentError(f"The body is not valid JSON: {name} is not a number.")


def _exact_float(text):
    """A JSON number with a fraction or exponent, as a float that reads back as the same decimal.

    Money reads a float through its shortest repr, exact for 19.99; but read
    as a float, 19.999999999999999999 would come back as 20.0: such a number
    (more significant digits than a float carries) is refused, not rounded.
    """
    number = float(text)
    if math.isinf(number) or Decimal(repr(number)) != Decimal(text):
        raise _BodyContentError(
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
_ELEMENT = r'[ \t]*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)")?[ \t]*'
_LIST_ELEMENT = re.compile(_ELEMENT + r"(?:,|\Z)")
# What entity_tags takes, as one regular expression (the OpenAPI document's).
ENTITY_TAGS_PATTERN = rf"^(?:[ \t]*\*[ \t]*|{_ELEMENT}(?:,{_ELEMENT})*)$"
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


# What the HTTP parser (http.server's, under eventlet's) refuses, by the status it picks.
PROTOCOL_ERRORS = {
    400: BadRequest, 414: UriTooLong, 431: HeaderFieldsTooLarge,
    501: NotImplementedByServer, 505: HttpVersionNotSupported,
}
_DIGITS = re.compile(r"^[0-9]{1,18}$")


class JsonHttpProtocol(HttpOnlyProtocol):
    """eventlet's HTTP/1.1 server, answering what it refuses itself as the API's JSON errors.

    eventlet answers a request line or header over its limits with an empty
    400 or 414 and http.server an HTML page (431 for 101 headers): here each
    is the error body every other refusal has. It also refuses the framings
    that two HTTP parsers could read differently (request smuggling): a
    Content-Length that is not plain digits or is given twice with different
    values, one beside Transfer-Encoding, and any transfer coding but chunked.
    """

    # Set when the connection closes with input unread: see finish().
    closing_unread = False

    def _read_request_line(self):
        line = super()._read_request_line()
        if len(line) >= self.server.url_length_limit:
            self.refuse(UriTooLong(f"The request line must be shorter than {self.server.url_length_limit} bytes."))
            return b""  # eventlet then closes the connection
        return line

    def parse_request(self):
        try:
            if not super().parse_request():
                return False
        except (HeaderLineTooLong, HeadersTooLarge):
            # eventlet's own limits: 8 KiB a header line, 64 KiB in all.
            self.refuse(HeaderFieldsTooLarge("A header line must be under 8 KiB and all headers under 64 KiB."))
            return False
        framing_error = self._framing_error()
        if framing_error:
            self.refuse(framing_error, self.headers.get(REQUEST_ID_HEADER))
            return False
        return True

    def _framing_error(self):
        lengths = set(self.headers.get_all("Content-Length") or ())
        codings = self.headers.get_all("Transfer-Encoding") or ()
        if lengths and not (len(lengths) == 1 and _DIGITS.match(next(iter(lengths)))):
            return BadRequest("Content-Length must be one number of bytes.", {"header": "Content-Length"})
        if codings:
            if [coding.strip().lower() for coding in codings] != ["chunked"]:
                return NotImplementedByServer("The only transfer coding taken is chunked.",
                                              {"header": "Transfer-Encoding"})
            if lengths:
                return BadRequest("Send Content-Length or Transfer-Encoding, not both.",
                                  {"header": "Content-Length"})
        return None

    def get_environ(self):
        environ = super().get_environ()
        if "Content-Type" not in self.headers:
            del environ["CONTENT_TYPE"]  # eventlet fills in text/plain; a body must say what it is
        return environ

    def handle_one_response(self):
        self.application = partial(self._answer, self.application)
        super().handle_one_response()

    def _answer(self, application, environ, start_response):
        response = application(environ, start_response)
        if _unread(environ["eventlet.input"]):
            # eventlet keeps a connection by reading what is left of the body,
            # which for a body refused for its size (or type) is all of it: close
            # it instead (the answer then says Connection: close).
            self.close_connection = 1
            self.closing_unread = True
        return response

    def finish(self):
        """Close the connection, first letting the client read the answer (a lingering close).

        Closing a socket with unread input resets the connection, and a client
        still sending may then lose the answer: stop writing, and read for a
        moment (within LINGER_SECONDS and LINGER_BYTES) before closing.
        """
        if not self.closing_unread:
            super().finish()
            return
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            received = 0
            while received < LINGER_BYTES and (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                chunk = self.connection.recv(64 * 1024)
                if not chunk:
                    break
                received += len(chunk)
        except OSError:
            pass  # the client is gone, or timed out: close all the same
        super().finish()

    def send_error(self, code, message=None, explain=None):
        """http.server's refusals (a malformed request line, too many headers ...), as JSON."""
        error = PROTOCOL_ERRORS.get(code, BadRequest)
        self.refuse(error(f"{message}." if message else None))

    def refuse(self, error, request_id=None):
        """Answer ``error`` in the API's JSON shape and close the connection.

        ``request_id``: the client's X-Request-Id, once this request's headers are read.
        """
        body = (json.dumps(error.to_dict()) + "\n").encode()
        request_id = accepted_request_id(request_id)
        head = (
            f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{REQUEST_ID_HEADER}: {request_id}\r\nConnection: close\r\n\r\n"
        )
        self.close_connection = True
        self.closing_unread = True  # what is left of the request is never read
        self.wfile.write(head.encode("latin-1") + body)
        self.wfile.flush()
        self.server.log.info(f"{self.client_address[0]} refused: {error.status} {error.code}")


def _unread(body):
    """Whether some of a request's body (an eventlet Input) is still unread."""
    if body.chunked_input:
        return body.chunk_length != 0
    return body.position < (body.content_length or 0)


# How long, and how much, a closing connection reads from its client (see JsonHttpProtocol.finish).
LINGER_SECONDS = 2.0
LINGER_BYTES = 4 * 1024 * 1024

# A burst of connections beyond eventlet.listen's backlog of 50 has its SYNs
# dropped, and the client tries again only after 1, 3, 7, 15 s; the kernel
# caps this at net.core.somaxconn.
LISTEN_BACKLOG = 4096
# accept() failing for want of file descriptors or memory: wait, then try again
# (idle connections time out and free theirs) rather than let the error end the
# accept loop, and with it the gateway.
_ACCEPT_SHORTAGES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
ACCEPT_RETRY_SECONDS = 0.1
# The most file descriptors the gateway asks for (soft limit), if its hard limit allows.
MAX_OPEN_FILES = 1 << 20


class JsonWebServer(WebServer):
    """nameko's web server with JSON errors, an idle timeout, an accept loop that survives a
    flood, and the API keys its routes check."""

    def setup(self):
        super().setup()
        # Read at start, so that a malformed setting stops the gateway rather than a request.
        self.api_keys = ApiKeys.from_config(self.container.config)
        if self.api_keys.enabled:
            log.info("API keys required for %s.", "every request" if self.api_keys.guard_reads else "writes")
        raise_open_file_limit()

    @property
    def idle_timeout(self):
        return float(self.container.config.get("GATEWAY_IDLE_TIMEOUT", DEFAULT_IDLE_TIMEOUT_SECONDS))

    def get_wsgi_app(self):
        return _JsonRoutingApp(self)

    def get_wsgi_server(self, sock, wsgi_app, protocol=JsonHttpProtocol, debug=False):
        sock.listen(LISTEN_BACKLOG)  # listen() again only changes the backlog
        server = super().get_wsgi_server(sock, wsgi_app, protocol=protocol, debug=debug)
        # Every read and write of a connection (nameko's run() sets it on each
        # one accepted): a keep-alive connection that sends no next request, or
        # a request that stalls, is closed after this long.
        server.socket_timeout = self.idle_timeout
        return server

    def run(self):
        short_of_resources = False
        while self._is_accepting:
            try:
                sock, address = self._sock.accept()
            except OSError as exc:
                if exc.errno not in _ACCEPT_SHORTAGES:
                    raise
                if not short_of_resources:
                    log.warning("Cannot accept connections (%s); retrying until connections close.",
                                errno.errorcode[exc.errno])
                short_of_resources = True
                eventlet.sleep(ACCEPT_RETRY_SECONDS)
                continue
            if short_of_resources:
                log.warning("Accepting connections again.")
                short_of_resources = False
            sock.settimeout(self._serv.socket_timeout)
            self.container.spawn_managed_thread(partial(self.process_request, sock, address))

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
    """``@http(method, url, query=names, public=False)``: ``query`` names the query parameters
    the route takes; a request with any other (or one twice) is refused before the route runs.
    A ``public`` route never asks for an API key."""

    server = JsonWebServer()

    def __init__(self, method, url, query=(), public=False, **kwargs):
        kwargs.setdefault("expected_exceptions", ServiceError)
        super().__init__(method, url, **kwargs)
        self.query = tuple(query)
        self.public = public

    def handle_request(self, request):
        # Before nameko's handler makes the request deep (its body readable) and
        # spawns a worker: a refused request costs no body read and no RPC.
        try:
            self.server.api_keys.check(request.method, self.public, request.headers.get("Authorization"))
        except Unauthorized as refusal:
            # No worker logs it: said here, with the request id the client was answered with.
            log.info("Refused %s %s: no valid API key.", request.method, request.path,
                     extra={REQUEST_ID: request.headers[REQUEST_ID_HEADER], "outcome": refusal.code})
            response = error_response(refusal)
            response.headers["WWW-Authenticate"] = challenge(refusal)
            return response
        return super().handle_request(request)

    def get_entrypoint_parameters(self, request):
        check_query(request, self.query)
        return super().get_entrypoint_parameters(request)

    def response_from_exception(self, exc):
        if isinstance(exc, ServiceError):
            return error_response(exc)
        return error_response(ServiceError())


http = JsonHttpRequestHandler.decorator


def raise_open_file_limit(ceiling=MAX_OPEN_FILES):
    """Raise the soft limit on open files to the hard limit (at most ``ceiling``): each connection takes one.

    Many systems start processes with a soft limit of 1,024; the hard limit is
    what an administrator allows, and a server may use it all (Go's runtime
    does the same).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = ceiling if hard == resource.RLIM_INFINITY else min(hard, ceiling)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        log.info("Open file limit raised from %s to %s.", soft, wanted)
