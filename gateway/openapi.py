"""The gateway's OpenAPI 3 document, generated from the services' marshmallow schemas.

``openapi_spec()`` builds it once; ``GET /openapi.json`` serves it and ``GET /docs``
shows it with Swagger UI. Bodies, query parameters and their ranges come from the
schemas the services validate with (apispec's marshmallow plugin), so they follow
every change of a schema. Which routes exist and which errors each one answers are
listed here, in ``ROUTES``; tests/unit/test_openapi_spec.py checks that this list and
the gateway's ``@http`` routes are the same, and the end-to-end tests check real
responses against the document.
"""
import contextlib
import copy
import functools
from collections import defaultdict

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields, validate

from common.errors import (
    IdempotencyKeyReused,
    BadRequest,
    InvalidApiKey,
    CustomerNotFound,
    EmailAlreadyExists,
    InsufficientStock,
    InvalidOrderTransition,
    OrderAlreadyShipped,
    OrderCancelled,
    MethodNotAllowed,
    OrderNotFound,
    OutcomeUnknown,
    PayloadTooLarge,
    PreconditionFailed,
    RequestTimeout,
    ProductNotFound,
    RouteNotFound,
    ServiceError,
    ServiceUnavailable,
    ShipmentNotFound,
    StockLimitExceeded,
    UnknownCustomer,
    UnknownProduct,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from common.observability import REQUEST_ID_HEADER, REQUEST_ID_PATTERN
from common.order_events import OrderSchema
from common.schemas import CONTROL_CHARACTERS, Money, ObjectIdString, PageSchema, StrictString
from customers.schemas import AddressSchema, CustomerQuerySchema, CustomerSchema
from gateway.auth import REALM
from gateway.http import DEFAULT_IDLE_TIMEOUT_SECONDS, ENTITY_TAGS_PATTERN, MAX_BODY_DEPTH, PROTOCOL_ERRORS
from inventory.schemas import MovementSchema
from orders.schemas import OrderQuerySchema, OrderRequestSchema
from product.schemas import ProductChangesSchema, ProductQuerySchema, ProductSchema, StockAdjustmentSchema
from shipping.schemas import ShipmentSchema

OPENAPI_VERSION = "3.0.3"
TITLE = "Sales Management System"
API_VERSION = "1.0.0"

# Money as the API answers it ("19.99"); what it takes is Money.string_pattern().
MONEY_PATTERN = r"^[0-9]+\.[0-9]{2}$"
# Any text the API takes: every string sent is refused if it holds a control character.
TEXT_PATTERN = f"^[^{CONTROL_CHARACTERS}]*$"
# The null alternative apispec gives a nullable nested object is "any object": only null.
ANY_OBJECT_OR_NULL = {"type": "object", "nullable": True}
ONLY_NULL = {"type": "object", "nullable": True, "enum": [None]}
# Every stored record's id: a MongoDB ObjectId as 24 hex digits (records' own ids are
# lowercase; an order keeps its customer_id as the client sent it).
OBJECT_ID_PATTERN = r"^[0-9a-fA-F]{24}$"
EXAMPLE_ID = "65f1c0ffee0000000000c0de"

JSON = "application/json"
API_KEY = "apiKey"
# API keys are off unless the gateway is given some: a request may come with one or without.
OPTIONAL_API_KEY = [{}, {API_KEY: []}]
REQUEST_ID_REF = {"$ref": "#/components/headers/RequestId"}
ETAG_REF = {"$ref": "#/components/headers/ETag"}
# The records whose every answer carries their version as its ETag.
VERSIONED = ("Product", "Customer", "Order")
# The conditional requests a route takes (its "x-precondition").
IF_MATCH = "IfMatch"
IF_NONE_MATCH = "IfNoneMatch"

# Errors of a route that reads a JSON body (every route refuses query parameters it does
# not take with ValidationFailed: _operation adds it).
BODY_ERRORS = (BadRequest, ValidationFailed, RequestTimeout, PayloadTooLarge, UnsupportedMediaType)

DESCRIPTION = f"""\
The REST gateway of the sales back office: products with stock, customers, and orders
that reserve stock without ever overselling.

**Money** is exact: `price`, `unit_price`, `line_total` and `total` are answered as decimal
strings like `"19.99"`; a price may be sent as a JSON number or such a string, with at most
two decimals.

**Lists** answer `{{"items": [...], "total": N, "page": P, "page_size": S}}` (`page` from 1,
`page_size` 1–100, default 20).

**Nothing sent is ignored.** A body's unknown fields and its read-only fields (`id`,
`created_at`, `updated_at`, `version`) are 400 `VALIDATION_FAILED` naming them; an update may
carry an `id` equal to the one in its path. A query parameter the route does not take, or one
given twice, is 400 `VALIDATION_FAILED` naming it, on every route.

**Versions.** Every product, customer and order has a `version`, one more with every change
(stock taken or given back by orders included), and every answer with one of them carries it
as a strong `ETag` (`"3"`). A `GET` with `If-None-Match` naming it answers 304 without a body.
A write with `If-Match` (`PUT`, `PATCH`, `DELETE`, a stock adjustment, cancelling an order)
applies only while the record is at a version it names: otherwise 412 `PRECONDITION_FAILED`,
with the current version in `details`, and nothing changes. A weak tag (`W/"3"`) never matches
`If-Match`; `*` matches any version; a header that is not `*` or a list of entity tags is 400
`BAD_REQUEST`. So a read-modify-write sends back the `ETag` it read.

**Bodies** are JSON objects sent as `application/json` (or any `type/subtype+json`; a
`charset` parameter must be UTF-8): any other `Content-Type`, or none, is 415
`UNSUPPORTED_MEDIA_TYPE`, refused unread. A body is at most 1 MiB (413 `PAYLOAD_TOO_LARGE`,
answered before it is read whole, chunked or not), nested at most {MAX_BODY_DEPTH} deep, with no key twice
in one object (400 `BAD_REQUEST`, `details.key` naming it). No text field takes a control
character (400 `VALIDATION_FAILED` naming the field); a description may hold tabs and line
breaks, other text is one line.

**Errors** are JSON, `{{"error": "PRODUCT_NOT_FOUND", "message": "...", "details": {{...}}}}`,
with the status and codes each operation lists. Any route answers an unknown path with 404
`ROUTE_NOT_FOUND` and another method with 405 `METHOD_NOT_ALLOWED` (see the `RouteNotFound`
and `MethodNotAllowed` responses under components). Before any route runs, the HTTP server
refuses, in the same shape and closing the connection (the `HttpRefusal` response): a request
line of 8 KiB or more (414 `URI_TOO_LONG`), a header line of 8 KiB or more, headers over 64 KiB
in all or more than 100 of them (431 `HEADER_FIELDS_TOO_LARGE`), a malformed request line or a
`Content-Length` that is not one plain number, or is sent beside `Transfer-Encoding` (400
`BAD_REQUEST`), a transfer coding other than `chunked` (501 `NOT_IMPLEMENTED`) and HTTP/2 or
later on this port (505 `HTTP_VERSION_NOT_SUPPORTED`). A connection that sends nothing for the
gateway's idle timeout (`GATEWAY_IDLE_TIMEOUT`, {DEFAULT_IDLE_TIMEOUT_SECONDS} s by default) is
closed; a body that stalls that long is 408 `REQUEST_TIMEOUT`. A refused request changes nothing.

**API keys** are off unless the gateway is started with some (`GATEWAY_API_KEYS`, comma-separated).
Then every write (`POST`, `PUT`, `PATCH`, `DELETE`) needs `Authorization: Bearer <key>` naming one
of them, and with `GATEWAY_AUTH_READS=true` every read too; without it the answer is 401
`UNAUTHORIZED`, with a key that is not one of them 401 `INVALID_API_KEY`, each with a
`WWW-Authenticate` header, and the request is refused before its body is read or any service is
called. `/health`, `/openapi.json` and `/docs` never need a key (they have no `security`).

Every response carries an `{REQUEST_ID_HEADER}` header: the client's own (a token of up to 128
letters, digits and `._:-`) or a new one; it is logged by every service the request reaches.
"""

TAGS = [
    {"name": "health", "description": "Is every service up?"},
    {"name": "products", "description": "The catalogue and its stock."},
    {"name": "customers", "description": "Who buys."},
    {"name": "orders", "description": "Orders reserve stock when placed and release it when cancelled."},
    {"name": "documentation", "description": "This document and its interactive page."},
]

PARAMETER_DESCRIPTIONS = {
    "page": "Page number, from 1.",
    "page_size": "Items per page.",
    "q": "Case-insensitive literal text to search for.",
    "sort": "Sort key; a leading `-` sorts descending.",
    "customer_id": "Only the orders of this customer.",
    "status": "Only the orders in this status.",
}


class ErrorSchema(Schema):
    """The body of every error response."""

    error = fields.String(required=True, metadata={"description": "A stable code, e.g. PRODUCT_NOT_FOUND."})
    message = fields.String(required=True, metadata={"description": "For people; may change."})
    details = fields.Dict(required=True, metadata={"description": "Facts about the error, per code."})


class HealthSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("ok", "unavailable")))
    services = fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.OneOf(("ok", "unavailable"))),
        required=True,
    )
    dead_letters = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(allow_none=True),
        required=True,
        metadata={"description": "Events each order event consumer gave up on, waiting in its dead-letter "
                                 "queue (`make replay-dead-letters SERVICE=...` moves them back); null when "
                                 "the broker did not tell in time. They do not make the status 503."},
    )


def _path_parameter(name, what):
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": f"The {what}'s id (24 hex digits); any other string is answered 404.",
        "example": EXAMPLE_ID,
    }


PRODUCT_ID = _path_parameter("product_id", "product")
CUSTOMER_ID = _path_parameter("customer_id", "customer")
ORDER_ID = _path_parameter("order_id", "order")
ASSET = {
    "name": "asset",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "A file of Swagger UI, by name (no `/`): `swagger-ui-bundle.js`, `swagger-ui.css`, "
                   "`favicon-32x32.png` or `favicon-16x16.png`; any other name is answered 404.",
    "example": "swagger-ui.css",
}


IF_MATCH_PARAMETER = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": ENTITY_TAGS_PATTERN},
    "description": "Apply only while the record is at one of these versions (strong entity tags, as the "
                   "`ETag` gave them), else 412 and nothing changes; `*`: any version.",
    "example": '"3"',
}
IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
    "description": "Any unique string (a UUID): sent again with the same key and body, the request "
                   "creates nothing new and answers with what the first one created, so a client that got "
                   "no answer (a timeout, a 503, a 504) can retry without creating twice. The same key with another "
                   "body is 422 `IDEMPOTENCY_KEY_REUSED`. A key stays bound as long as its record exists; "
                   "an order refused (409) or given up (503) lets its key go, so its retry is tried again.",
    "example": "5f1c2a9e-0b7d-4b8e-9f43-2f4f3c0f6a11",
}
IF_NONE_MATCH_PARAMETER = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": ENTITY_TAGS_PATTERN},
    "description": "Answer 304, without a body, if the record is at one of these versions "
                   "(weak comparison: `W/\"3\"` names version 3 too); `*`: at any version.",
    "example": '"3"',
}


def _schema_ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


# Every route of GatewayService: (method, path, operation). The operationId is the
# name of the GatewayService method that serves the route.
ROUTES = [
    ("get", "/health", {
        "x-public": True, "operationId": "health", "tags": ["health"], "summary": "Check every service",
        "description": "200 when every service answers a ping (which checks its database) within "
                       "2 s; 503 naming the ones that don't. Either way, the depth of each order event "
                       "consumer's dead-letter queue.",
        "x-ok": (200, "Every service answered.", "Health"),
        "x-extra-responses": {503: ("At least one service did not answer.", "Health")},
        "x-rpc": False,
    }),
    # products
    ("get", "/products", {
        "operationId": "list_products", "tags": ["products"], "summary": "List products",
        "description": "`q` searches name and description; default order `-created_at`.",
        "x-query": ProductQuerySchema, "x-ok": (200, "A page of products.", "ProductPage"),
    }),
    ("post", "/products", {
        "x-idempotent": True, "operationId": "create_product", "tags": ["products"], "summary": "Create a product",
        "x-body": "ProductInput", "x-ok": (201, "Created.", "Product"), "x-errors": BODY_ERRORS,
    }),
    ("get", "/products/{product_id}", {
        "operationId": "get_product", "tags": ["products"], "summary": "Read a product",
        "x-params": [PRODUCT_ID], "x-ok": (200, "The product.", "Product"),
        "x-errors": (ProductNotFound,), "x-precondition": IF_NONE_MATCH,
    }),
    ("put", "/products/{product_id}", {
        "operationId": "replace_product", "tags": ["products"], "summary": "Replace a product",
        "description": "Replaces the editable fields; omitted optional fields get their defaults, "
                       "but an omitted `stock` stays as it is. A `stock` sent is the new count of units "
                       "(0–1000000000), set as given: send the `ETag` you read as `If-Match`, so an order "
                       "that took stock since makes this 412 instead of being undone. To add or remove "
                       "units, use a stock adjustment.",
        "x-params": [PRODUCT_ID], "x-body": "ProductReplace", "x-ok": (200, "The product.", "Product"),
        "x-errors": BODY_ERRORS + (ProductNotFound,), "x-precondition": IF_MATCH,
    }),
    ("patch", "/products/{product_id}", {
        "operationId": "update_product", "tags": ["products"], "summary": "Change some fields of a product",
        "description": "Omitted fields stay as they are. A `stock` sent is the new count of units, set as "
                       "given (send `If-Match`, as for PUT); a stock adjustment adds or removes units.",
        "x-params": [PRODUCT_ID], "x-body": "ProductPatch", "x-ok": (200, "The product.", "Product"),
        "x-errors": BODY_ERRORS + (ProductNotFound,), "x-precondition": IF_MATCH,
    }),
    ("post", "/products/{product_id}/stock-adjustments", {
        "operationId": "adjust_product_stock", "tags": ["products"], "summary": "Add or remove stock",
        "description": "`{\"change\": n}` (n a non-zero integer) adds n units; a negative n removes "
                       "them, refused with 409 if fewer are in stock (or if the stock would pass its "
                       "maximum). A delta, so it never undoes what orders reserved meanwhile.",
        "x-params": [PRODUCT_ID], "x-body": "StockAdjustment", "x-ok": (200, "The product.", "Product"),
        "x-errors": BODY_ERRORS + (ProductNotFound, InsufficientStock, StockLimitExceeded),
        "x-precondition": IF_MATCH,
    }),
    ("delete", "/products/{product_id}", {
        "operationId": "delete_product", "tags": ["products"], "summary": "Delete a product",
        "x-params": [PRODUCT_ID], "x-ok": (204, "Deleted.", None), "x-errors": (ProductNotFound,),
        "x-precondition": IF_MATCH,
    }),
    ("get", "/products/{product_id}/movements", {
        "operationId": "list_product_movements", "tags": ["products"],
        "summary": "List a product's stock movements",
        "description": "The stock movements the inventory service recorded from order events.",
        "x-params": [PRODUCT_ID], "x-query": PageSchema, "x-ok": (200, "A page of movements.", "MovementPage"),
        "x-errors": (ProductNotFound,),
    }),
    # customers
    ("get", "/customers", {
        "operationId": "list_customers", "tags": ["customers"], "summary": "List customers",
        "description": "`q` searches name and email.",
        "x-query": CustomerQuerySchema, "x-ok": (200, "A page of customers.", "CustomerPage"),
    }),
    ("post", "/customers", {
        "x-idempotent": True, "operationId": "create_customer", "tags": ["customers"], "summary": "Create a customer",
        "description": "The email must be unique, ignoring case.",
        "x-body": "CustomerInput", "x-ok": (201, "Created.", "Customer"),
        "x-errors": BODY_ERRORS + (EmailAlreadyExists,),
    }),
    ("get", "/customers/{customer_id}", {
        "operationId": "get_customer", "tags": ["customers"], "summary": "Read a customer",
        "x-params": [CUSTOMER_ID], "x-ok": (200, "The customer.", "Customer"),
        "x-errors": (CustomerNotFound,), "x-precondition": IF_NONE_MATCH,
    }),
    ("put", "/customers/{customer_id}", {
        "operationId": "replace_customer", "tags": ["customers"], "summary": "Replace a customer",
        "description": "Replaces the editable fields; omitted optional fields get their defaults.",
        "x-params": [CUSTOMER_ID], "x-body": "CustomerInput", "x-ok": (200, "The customer.", "Customer"),
        "x-errors": BODY_ERRORS + (CustomerNotFound, EmailAlreadyExists), "x-precondition": IF_MATCH,
    }),
    ("patch", "/customers/{customer_id}", {
        "operationId": "update_customer", "tags": ["customers"], "summary": "Change some fields of a customer",
        "x-params": [CUSTOMER_ID], "x-body": "CustomerPatch", "x-ok": (200, "The customer.", "Customer"),
        "x-errors": BODY_ERRORS + (CustomerNotFound, EmailAlreadyExists), "x-precondition": IF_MATCH,
    }),
    ("delete", "/customers/{customer_id}", {
        "operationId": "delete_customer", "tags": ["customers"], "summary": "Delete a customer",
        "x-params": [CUSTOMER_ID], "x-ok": (204, "Deleted.", None), "x-errors": (CustomerNotFound,),
        "x-precondition": IF_MATCH,
    }),
    # orders
    ("get", "/orders", {
        "operationId": "list_orders", "tags": ["orders"], "summary": "List orders, newest first",
        "x-query": OrderQuerySchema, "x-ok": (200, "A page of orders.", "OrderPage"),
    }),
    ("post", "/orders", {
        "x-idempotent": True, "operationId": "create_order", "tags": ["orders"], "summary": "Place an order",
        "description": "1–100 items, quantity 1–1000, each product once. The stock of every item is "
                       "reserved, or none is: 201 with the confirmed order, or an error and nothing held. "
                       "Only 504 `OUTCOME_UNKNOWN` leaves it open (the database did not acknowledge the "
                       "confirmation in time): send the request again with the same `Idempotency-Key`.",
        "x-body": "OrderRequest", "x-ok": (201, "Placed.", "Order"),
        "x-errors": BODY_ERRORS + (InsufficientStock, UnknownCustomer, UnknownProduct, OutcomeUnknown),
    }),
    ("get", "/orders/{order_id}", {
        "operationId": "get_order", "tags": ["orders"], "summary": "Read an order",
        "x-params": [ORDER_ID], "x-ok": (200, "The order.", "Order"), "x-errors": (OrderNotFound,),
        "x-precondition": IF_NONE_MATCH,
    }),
    ("delete", "/orders/{order_id}", {
        "operationId": "cancel_order", "tags": ["orders"], "summary": "Cancel an order",
        "description": "From `pending` or `confirmed`: the stock comes back. Cancelling a cancelled "
                       "order answers the same, and releases nothing twice (with `If-Match`, only if it "
                       "names the cancelled order's version). A shipped (or delivered) order can no longer "
                       "be cancelled: 409 `ORDER_ALREADY_SHIPPED`.",
        "x-params": [ORDER_ID], "x-ok": (200, "The cancelled order.", "Order"),
        "x-errors": (OrderNotFound, OrderAlreadyShipped, InvalidOrderTransition), "x-precondition": IF_MATCH,
    }),
    ("get", "/orders/{order_id}/shipment", {
        "operationId": "get_order_shipment", "tags": ["orders"], "summary": "Read an order's shipment",
        "description": "404 `SHIPMENT_NOT_FOUND` until shipping has handled the order event.",
        "x-params": [ORDER_ID], "x-ok": (200, "The shipment.", "Shipment"),
        "x-errors": (OrderNotFound, ShipmentNotFound),
    }),
    ("post", "/orders/{order_id}/shipment/dispatch", {
        "operationId": "dispatch_order_shipment", "tags": ["orders"], "summary": "Ship an order",
        "description": "A `confirmed` order becomes `shipped` (announced as `order_shipped`); its stock "
                       "stays taken and it can no longer be cancelled. Dispatching it again answers the same. "
                       "A cancelled order: 409 `ORDER_CANCELLED`.",
        "x-params": [ORDER_ID], "x-ok": (200, "The shipment, shipped.", "Shipment"),
        "x-errors": (OrderNotFound, OrderCancelled, InvalidOrderTransition),
    }),
    ("post", "/orders/{order_id}/shipment/deliver", {
        "operationId": "deliver_order_shipment", "tags": ["orders"], "summary": "Mark an order delivered",
        "description": "A `shipped` order becomes `delivered` (announced as `order_delivered`). Delivering it "
                       "again answers the same; an order not yet shipped: 409 `INVALID_ORDER_TRANSITION`.",
        "x-params": [ORDER_ID], "x-ok": (200, "The shipment, delivered.", "Shipment"),
        "x-errors": (OrderNotFound, OrderCancelled, InvalidOrderTransition),
    }),
    # this document
    ("get", "/openapi.json", {
        "x-public": True, "operationId": "openapi", "tags": ["documentation"], "summary": "This OpenAPI document",
        "x-ok": (200, "The OpenAPI 3 document of this API.", "OpenAPIDocument"), "x-rpc": False,
    }),
    ("get", "/docs", {
        "x-public": True, "operationId": "docs", "tags": ["documentation"], "summary": "Interactive documentation",
        "description": "Swagger UI showing this document; every file it needs is served from `/docs/`.",
        "x-ok": (200, "An HTML page.", None), "x-content": {"text/html": {"schema": {"type": "string"}}},
        "x-rpc": False,
    }),
    ("get", "/docs/{asset}", {
        "x-public": True, "operationId": "docs_asset", "tags": ["documentation"], "summary": "A file of the documentation page",
        "x-params": [ASSET], "x-ok": (200, "The file.", None),
        "x-content": {
            media_type: {"schema": {"type": "string", "format": "binary"}}
            for media_type in ("text/css", "text/javascript", "image/png")
        },
        "x-errors": (RouteNotFound,), "x-rpc": False,
    }),
]


@functools.lru_cache(maxsize=None)
def openapi_spec():
    """The OpenAPI document as a dict, built on first use; treat it as read-only."""
    return build_spec()


def build_spec():
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title=TITLE, version=API_VERSION, openapi_version=OPENAPI_VERSION, plugins=[plugin],
        info={"description": DESCRIPTION}, tags=TAGS,
    )
    converter = plugin.converter
    converter.add_attribute_function(_custom_fields)

    with _describing_input(converter):
        # A customer's address as it is sent; its answers hold it in the same form.
        spec.components.schema("Address", schema=AddressSchema)
    for name, component in _schemas(converter).items():
        spec.components.schema(name, component=component)
    spec.components.header("RequestId", {
        "description": "The request's id, as sent by the client or made up by the gateway.",
        "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN.pattern},
        "required": True,
    })
    spec.components.header("ETag", {
        "description": "The record's `version`, as a strong entity tag: send it back as `If-Match` "
                       "(or `If-None-Match`).",
        "schema": {"type": "string", "pattern": r'^"[1-9][0-9]*"$', "example": '"3"'},
        "required": True,
    })
    spec.components.security_scheme(API_KEY, {
        "type": "http", "scheme": "bearer",
        "description": "One of the gateway's API keys (`GATEWAY_API_KEYS`), when it has any: needed for "
                       "every write, and with `GATEWAY_AUTH_READS=true` for every read.",
    })
    spec.components.parameter(IF_MATCH, "header", IF_MATCH_PARAMETER)
    spec.components.parameter(IF_NONE_MATCH, "header", IF_NONE_MATCH_PARAMETER)
    spec.components.response("RouteNotFound", _error_response([RouteNotFound], "No route has this path."))
    not_allowed = _error_response([MethodNotAllowed], "The path exists, but not with this method.")
    not_allowed["headers"]["Allow"] = {
        "description": "The methods the path allows.", "schema": {"type": "string"}, "required": True,
    }
    spec.components.response("MethodNotAllowed", not_allowed)
    # What the HTTP server refuses before any route runs, on every path.
    spec.components.response("HttpRefusal", _error_response(
        list(PROTOCOL_ERRORS.values()),
        "The HTTP server refused the request before any route ran, and closed the connection.",
    ))

    by_path = defaultdict(dict)
    path_parameters = {}
    for method, path, operation in ROUTES:
        by_path[path][method] = _operation(converter, operation)
        path_parameters[path] = operation.get("x-params", [])
    for path, operations in by_path.items():
        spec.path(path=path, operations=operations, parameters=copy.deepcopy(path_parameters[path]))
    return spec.to_dict()


def _custom_fields(self, field, ret, **kwargs):
    """apispec attribute function (bound to the converter) for this project's own fields.

    What the API takes is described exactly, so that a request the document calls
    valid is never refused for its form, nor one it calls invalid taken: the
    strings' patterns are those their fields load (common/schemas.py).
    """
    taken = getattr(self, "describing_input", False)
    if isinstance(field, Money):
        return _money_input(field) if taken else _money()
    if isinstance(field, ObjectIdString):
        return {"pattern": OBJECT_ID_PATTERN, "example": EXAMPLE_ID}
    if not taken or field.dump_only:
        return {}
    if ANY_OBJECT_OR_NULL in ret.get("anyOf", ()):
        return {"anyOf": [ONLY_NULL if option == ANY_OBJECT_OR_NULL else option for option in ret["anyOf"]]}
    if isinstance(field, StrictString):
        # Its lengths count the text stripped, as its pattern does, not what is sent.
        minimum, maximum = ret.pop("minLength", 0), ret.pop("maxLength", None)
        described = {"pattern": field.pattern()}
        if maximum is not None:
            length = f"{minimum} to {maximum}" if minimum else f"At most {maximum}"
            described["description"] = (f"{length} characters, not counting blanks around them (which are "
                                        f"taken off){'' if field.multiline else '; one line'}.")
        return described
    if isinstance(field, fields.String) and ret.get("type") == "string" and "enum" not in ret and "format" not in ret:
        return {"pattern": TEXT_PATTERN}
    return {}


def _money():
    return {
        "type": "string", "pattern": MONEY_PATTERN, "example": "19.99",
        "description": "An exact amount: a decimal string with two decimals.",
    }


def _money_input(field):
    maximum = int(field.maximum)
    return {
        "oneOf": [
            {"type": "string", "pattern": field.string_pattern(), "example": "19.99"},
            # Not "multipleOf: 0.01": validators that compute it in binary floating point
            # (jsonschema, ajv) call 19.99 no multiple of 0.01.
            {"type": "number", "minimum": 0, "maximum": maximum, "example": 19.99},
        ],
        "description": f"An amount from 0 to {maximum} with at most two decimals, "
                       "as a decimal string (blanks around it are ignored) or a JSON number.",
    }


@contextlib.contextmanager
def _describing_input(converter):
    """Within it, the converter describes what the API takes rather than what it answers."""
    converter.describing_input = True
    try:
        yield
    finally:
        converter.describing_input = False


def _input(converter, schema):
    with _describing_input(converter):
        return converter.schema2jsonschema(schema)


def _patch(converter, schema):
    """A partial update: any of the fields, at least one; omitted fields are kept."""
    component = copy.deepcopy(_input(converter, schema))
    component.pop("required", None)
    for prop in component["properties"].values():
        prop.pop("default", None)
    component["minProperties"] = 1
    return component


def _output(converter, schema, may_be_absent=()):
    """A document as the API answers it: every field present but ``may_be_absent``, no other; ids are ObjectIds."""
    component = converter.schema2jsonschema(schema)
    for name, prop in component["properties"].items():
        prop.pop("default", None)
        if (name == "id" or name.endswith("_id")) and prop.get("type") == "string":
            prop["pattern"] = OBJECT_ID_PATTERN
    component["required"] = sorted(set(component["properties"]) - set(may_be_absent))
    component["additionalProperties"] = False
    return component


def _page(converter, item):
    page = PageSchema()
    limits = {}
    for name in ("page", "page_size"):
        limits[name] = converter.field2property(page.fields[name])
        limits[name].pop("default", None)
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _schema_ref(item)},
            "total": {"type": "integer", "minimum": 0, "description": "How many match, on all pages."},
            **limits,
        },
        "required": ["items", "total", "page", "page_size"],
        "additionalProperties": False,
    }


def _schemas(converter):
    return {
        "Product": _output(converter, ProductSchema()),
        "ProductInput": _input(converter, ProductSchema()),
        "ProductReplace": _input(converter, ProductChangesSchema()),
        "ProductPatch": _patch(converter, ProductChangesSchema()),
        "StockAdjustment": _stock_adjustment(converter),
        "ProductPage": _page(converter, "Product"),
        "Movement": _output(converter, MovementSchema()),
        "MovementPage": _page(converter, "Movement"),
        "Customer": _output(converter, CustomerSchema()),
        "CustomerInput": _input(converter, CustomerSchema()),
        "CustomerPatch": _patch(converter, CustomerSchema()),
        "CustomerPage": _page(converter, "Customer"),
        # A pending or rejected order is not priced (see OrderItemSchema).
        "Order": _output(converter, OrderSchema(), may_be_absent=("total",)),
        "OrderRequest": _order_request(converter),
        "OrderPage": _page(converter, "Order"),
        "Shipment": _output(converter, ShipmentSchema(), may_be_absent=("shipped_at", "delivered_at")),
        "Health": _output(converter, HealthSchema()),
        "Error": _output(converter, ErrorSchema()),
        "OpenAPIDocument": {"type": "object", "description": "An OpenAPI 3 document."},
    }


def _order_request(converter):
    component = _input(converter, OrderRequestSchema())
    # Each product once: no two items alike is as much of it as JSON Schema can say.
    component["properties"]["items"]["uniqueItems"] = True
    return component


def _stock_adjustment(converter):
    component = _input(converter, StockAdjustmentSchema())
    component["properties"]["change"]["not"] = {"enum": [0]}
    return component


def _error_response(error_classes, description=""):
    codes = [cls.code for cls in error_classes]
    lines = "\n".join(f"- `{cls.code}`: {cls.default_message}" for cls in error_classes)
    return {
        "description": f"{description}\n\n{lines}".strip(),
        "headers": {REQUEST_ID_HEADER: REQUEST_ID_REF},
        "content": {JSON: {
            "schema": {"allOf": [
                _schema_ref("Error"),
                {"type": "object", "properties": {"error": {"type": "string", "enum": codes}}},
            ]},
            "example": {"error": codes[0], "message": error_classes[0].default_message, "details": {}},
        }},
    }


def _unauthorized():
    response = _error_response(
        [Unauthorized, InvalidApiKey],
        "Only when the gateway has API keys (`GATEWAY_API_KEYS`): a write, or with "
        "`GATEWAY_AUTH_READS=true` any request, without `Authorization: Bearer <key>` (`UNAUTHORIZED`) "
        "or with a key that is not one of them (`INVALID_API_KEY`). Nothing was read or changed.",
    )
    response["headers"]["WWW-Authenticate"] = {
        "description": f'`Bearer realm="{REALM}"`, with `error="invalid_token"` when the key sent is wrong.',
        "schema": {"type": "string"}, "required": True,
    }
    return response


def _operation(converter, route):
    operation = {key: value for key, value in route.items() if not key.startswith("x-")}
    parameters = []
    if "x-query" in route:
        with _describing_input(converter):
            parameters = converter.schema2parameters(route["x-query"](), location="query")
        for parameter in parameters:
            parameter["description"] = PARAMETER_DESCRIPTIONS[parameter["name"]]
    precondition = route.get("x-precondition")
    if precondition:
        parameters.append(precondition)  # apispec makes the name a $ref to components/parameters
    if route.get("x-idempotent"):
        parameters.append(IDEMPOTENCY_KEY_PARAMETER)
    if parameters:
        operation["parameters"] = parameters
    if "x-body" in route:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": _schema_ref(route["x-body"])}}}

    status, description, schema = route["x-ok"]
    ok = {"description": description, "headers": {REQUEST_ID_HEADER: REQUEST_ID_REF}}
    if schema:
        ok["content"] = {JSON: {"schema": _schema_ref(schema)}}
    if schema in VERSIONED:
        ok["headers"]["ETag"] = ETAG_REF
    elif "x-content" in route:
        ok["content"] = route["x-content"]
    if status == 201:
        ok["headers"]["Location"] = {
            "description": "The path of the new record.", "schema": {"type": "string"}, "required": True,
        }
    responses = {status: ok}
    for extra_status, (extra_description, extra_schema) in route.get("x-extra-responses", {}).items():
        responses[extra_status] = {
            "description": extra_description,
            "headers": {REQUEST_ID_HEADER: REQUEST_ID_REF},
            "content": {JSON: {"schema": _schema_ref(extra_schema)}},
        }

    if not route.get("x-public"):
        operation["security"] = OPTIONAL_API_KEY
        responses[401] = _unauthorized()
    if precondition == IF_NONE_MATCH:
        responses[304] = {
            "description": "Not modified: the record is at a version If-None-Match names.",
            "headers": {REQUEST_ID_HEADER: REQUEST_ID_REF, "ETag": ETAG_REF},
        }

    errors = list(route.get("x-errors", ()))
    if route.get("x-idempotent"):
        errors.append(IdempotencyKeyReused)
    errors.append(ValidationFailed)  # every route refuses query parameters it does not take
    if precondition:
        errors.append(BadRequest)  # a malformed If-Match or If-None-Match
    if precondition == IF_MATCH:
        errors.append(PreconditionFailed)
    if route.get("x-rpc", True):
        errors.append(ServiceUnavailable)
    errors.append(ServiceError)  # a bug: 500 INTERNAL_ERROR, never its cause
    by_status = defaultdict(list)
    for error in dict.fromkeys(errors):
        by_status[error.status].append(error)
    for error_status, classes in sorted(by_status.items()):
        responses.setdefault(error_status, _error_response(classes))
    operation["responses"] = dict(sorted(responses.items()))
    return operation

