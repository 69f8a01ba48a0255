"""The OpenAPI document against the gateway's code: same routes, valid, true to the schemas.

The end-to-end tests (tests/e2e/test_openapi.py) check real responses of the running
system against the document; these check what needs no system: that every ``@http``
route of GatewayService is documented and nothing else is, that the document is valid
OpenAPI 3, that what the services' schemas dump and accept fits it, and the routes
that serve it (through nameko's worker_factory).
"""
import copy
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, validate
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.testing.services import worker_factory
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, oas30_format_checker
from openapi_spec_validator import validate as validate_spec
from swagger_ui_bundle import swagger_ui_path
from werkzeug.test import EnvironBuilder

from common.errors import BadRequest, RouteNotFound, ServiceError, ServiceUnavailable, ValidationFailed
from common.order_events import OrderSchema
from common.schemas import Money, StrictString, load
from customers.schemas import AddressSchema, CustomerSchema
from gateway import docs
from gateway.http import ENTITY_TAGS_PATTERN, JsonHttpRequestHandler, entity_tags, error_response
from gateway.openapi import build_spec, openapi_spec
from gateway.service import GatewayService
from product.schemas import MAX_STOCK, ProductChangesSchema, ProductSchema, StockAdjustmentSchema

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
ID = "65f1c0ffee0000000000c0de"
NOW = "2026-01-02T03:04:05.678000+00:00"


def gateway_handlers():
    """{(method, OpenAPI path): (GatewayService method name, its handler)} of every @http entrypoint."""
    routes = {}
    for name in dir(GatewayService):
        for entrypoint in getattr(getattr(GatewayService, name), ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if not isinstance(entrypoint, JsonHttpRequestHandler):
                continue
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", entrypoint.url)
            for method in entrypoint.method.split(","):
                key = (method.strip().lower(), path)
                assert key not in routes, f"two entrypoints for {key}"
                routes[key] = (name, entrypoint)
    return routes


def gateway_routes():
    """{(method, OpenAPI path): GatewayService method name} of every @http entrypoint."""
    return {key: name for key, (name, _) in gateway_handlers().items()}


def documented_operations(spec):
    return {
        (method, path): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def component_validator(spec, name, validator=OAS30ReadValidator):
    """A validator for components/schemas/<name>, its $refs resolved in the document."""
    return validator(
        {"$ref": f"#/components/schemas/{name}", "components": spec["components"]},
        format_checker=oas30_format_checker,
    )


@pytest.fixture(scope="module")
def spec():
    return openapi_spec()


# the routes


def test_gateway_routes_are_found():
    routes = gateway_routes()

    # the inspection itself works: known routes, werkzeug converters turned into {names}
    assert routes[("get", "/health")] == "health"
    assert routes[("get", "/products/{product_id}/movements")] == "list_product_movements"
    assert routes[("get", "/docs/{asset}")] == "docs_asset"
    assert len(routes) >= 22


def test_every_gateway_route_is_documented_with_its_method(spec):
    missing = set(gateway_routes()) - set(documented_operations(spec))

    assert not missing, f"routes of GatewayService missing from the OpenAPI document: {sorted(missing)}"


def test_every_documented_operation_is_a_gateway_route(spec):
    extra = set(documented_operations(spec)) - set(gateway_routes())

    assert not extra, f"operations documented that GatewayService does not serve: {sorted(extra)}"


def test_operation_ids_name_the_methods_that_serve_them(spec):
    routes = gateway_routes()
    operations = documented_operations(spec)

    assert {key: operations[key]["operationId"] for key in routes} == routes


def test_path_parameters_are_declared_for_every_placeholder(spec):
    for path, item in spec["paths"].items():
        placeholders = set(re.findall(r"{([^}]+)}", path))
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert declared == placeholders, path


# the document


def test_the_document_is_valid_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    validate_spec(spec)


def test_it_is_built_once_and_is_plain_json(spec):
    assert openapi_spec() is spec
    assert json.loads(json.dumps(spec)) == build_spec()


def test_every_operation_documents_its_errors(spec):
    for (method, path), operation in documented_operations(spec).items():
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        assert "500" in responses, where
        assert [status for status in responses if status.startswith("2")], where
        if "{" in path:
            assert "404" in responses, where
        if "requestBody" in operation:
            assert {"400", "413"} <= set(responses), where
        # every route refuses query parameters it does not take
        assert "VALIDATION_FAILED" in _codes(responses["400"]), where
        for status, response in responses.items():
            assert "X-Request-Id" in response["headers"], (where, status)
            if status[0] in "45" and path != "/health":
                schema = response["content"]["application/json"]["schema"]
                assert schema["allOf"][0] == {"$ref": "#/components/schemas/Error"}, (where, status)
                for code in schema["allOf"][1]["properties"]["error"]["enum"]:
                    error = next(cls for cls in _error_classes() if cls.code == code)
                    assert str(error.status) == status, (where, code)


def _codes(response):
    return response["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"]["enum"]


def _error_classes(cls=ServiceError):
    yield cls
    for subclass in cls.__subclasses__():
        yield from _error_classes(subclass)


def test_created_answers_document_the_location_header(spec):
    created = [
        (key, operation) for key, operation in documented_operations(spec).items()
        if "201" in operation["responses"]
    ]

    assert {key for key, _ in created} == {("post", "/products"), ("post", "/customers"), ("post", "/orders")}
    for _, operation in created:
        assert operation["responses"]["201"]["headers"]["Location"]["required"] is True


def test_list_query_parameters_carry_the_schema_ranges(spec):
    parameters = {p["name"]: p for p in spec["paths"]["/products"]["get"]["parameters"]}

    assert parameters["page_size"]["schema"] == {"type": "integer", "default": 20, "minimum": 1, "maximum": 100}
    assert parameters["page"]["schema"]["minimum"] == 1
    assert "-price" in parameters["sort"]["schema"]["enum"]
    assert parameters["q"]["schema"]["maxLength"] == 100
    statuses = {p["name"]: p for p in spec["paths"]["/orders"]["get"]["parameters"]}["status"]
    assert statuses["schema"]["enum"] == ["pending", "confirmed", "rejected", "cancelled", "shipped", "delivered"]


# the schemas: what the services dump and accept fits the document


def test_money_is_a_decimal_string_out_and_a_string_or_number_in(spec):
    schemas = spec["components"]["schemas"]

    assert schemas["Product"]["properties"]["price"]["type"] == "string"
    assert schemas["Product"]["properties"]["price"]["example"] == "19.99"
    assert [s["type"] for s in schemas["ProductInput"]["properties"]["price"]["oneOf"]] == ["string", "number"]
    product = component_validator(spec, "ProductInput", OAS30WriteValidator)
    for price in ("19.99", 19.99, 5, " 7.10 ", "1000000000"):
        assert product.is_valid({"name": "Lamp", "price": price}), price
    for price in ("abc", "1e2", -1, 1000000000.01, None, True):
        assert not product.is_valid({"name": "Lamp", "price": price}), price


# What the API takes is described exactly: schemathesis (tests/e2e/test_fuzz.py) sends what
# the document calls valid and expects it taken, and what it calls invalid and expects it
# refused. Each pattern is checked against the field it describes, on text near its edges.
# (A lone surrogate, which load() refuses too, is left out: no pattern can refuse it in
# ECMAScript, where text is UTF-16, without refusing every character outside the BMP.)
CHARACTERS = st.sampled_from(list("a0+-(). \u00e9\t\n\r\x00\x0b\x1f\x7f\x85\x9f\u00a0\u2028\u3000"))
EDGES = st.sampled_from(["", " ", "\t", "\n ", "\u3000", "\u00a0", "\x00", "\x85", "a", "-"]) | st.text(
    alphabet=CHARACTERS | st.characters(blacklist_categories=("Cs",)), max_size=4)
BLANKS = st.sampled_from(["", " ", "\t\n", "\u3000", "\x1f", "\x0b"])


def around(middle):
    return st.tuples(EDGES, middle, EDGES).map("".join)


def loads(field, value):
    """Whether the API takes ``value`` for ``field``: common.schemas.load, as every service calls it."""
    try:
        load(Schema.from_dict({"value": copy.deepcopy(field)})(), {"value": value})
    except ValidationFailed:
        return False
    return True


def text_fields():
    for schema in (ProductSchema(), CustomerSchema(), AddressSchema()):
        for name, field in schema.fields.items():
            if isinstance(field, StrictString):
                yield pytest.param(field, id=f"{type(schema).__name__}.{name}")


@pytest.mark.parametrize("field", text_fields())
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_text_fields_pattern_takes_what_the_field_loads(field, data):
    (length,) = [rule.max for rule in field.validators if isinstance(rule, validate.Length)] or [30]
    # Text of about the longest length, or a phone number, with blanks or a character refused at its ends.
    middle = (st.text(alphabet="ab \t", min_size=max(length - 3, 0), max_size=length + 1)
              | st.sampled_from(["555-1234", "+44 20 7946", "1 (555) 123.4567", "12", "+1", "123 4"])
              | st.text(alphabet=CHARACTERS, max_size=6))
    text = data.draw(around(middle))
    assert bool(re.fullmatch(field.pattern(), text)) == loads(field, text), repr(text)


DIGITS = st.text(alphabet="0123456789", max_size=11)


@settings(max_examples=500, deadline=None)
@given(text=st.tuples(BLANKS, st.sampled_from(["", "-", "+"]), DIGITS, st.sampled_from(["", ".", ".."]),
                      st.text(alphabet="0123456789", max_size=4), BLANKS).map("".join)
       | st.sampled_from(["1000000000", "1000000000.00", "1000000000.01", "999999999.99", "-0.00", "-0.01"]))
def test_the_money_pattern_takes_the_strings_money_loads(text):
    assert bool(re.fullmatch(Money().string_pattern(), text)) == loads(Money(), text), repr(text)


class _Headers:
    def __init__(self, value):
        self.headers = {"If-Match": value}


@settings(max_examples=500, deadline=None)
@given(value=st.lists(st.sampled_from(['"3"', 'W/"3"', '""', '"a#"', "*", ",", " ", "\t", '"', "W/", "3", ";", "\x7f",
                                       '"\xe9"']), max_size=6).map("".join))
def test_the_entity_tags_pattern_takes_what_the_gateway_reads(value):
    try:
        entity_tags(_Headers(value), "If-Match")
        read = True
    except BadRequest:
        read = False
    assert bool(re.fullmatch(ENTITY_TAGS_PATTERN, value)) == read, repr(value)


def test_request_schemas_refuse_what_the_fuzzer_found_the_api_refuses(spec):
    """Requests schemathesis found refused although the document allowed them (see the e2e test)."""
    product = component_validator(spec, "ProductInput", OAS30WriteValidator)
    for body in ({"name": "Lamp", "price": "-1"}, {"name": "Lamp", "price": "19.999"},
                 {"name": "La\u0015mp", "price": "1"}, {"name": "  ", "price": "1"},
                 {"name": "Lamp", "price": "1", "description": "\u009fk"}):
        assert not product.is_valid(body), body
    customer = component_validator(spec, "CustomerInput", OAS30WriteValidator)
    ada = {"name": "Ada", "email": "ada@example.com"}
    for address in ({"planet": "Mars"}, {"country": "\u0010"}):
        assert not customer.is_valid({**ada, "address": address}), address
    assert customer.is_valid({**ada, "address": None}) and customer.is_valid({**ada, "address": {"city": "Oslo"}})
    order = component_validator(spec, "OrderRequest", OAS30WriteValidator)
    line = {"product_id": ID, "quantity": 1}
    assert not order.is_valid({"customer_id": ID, "items": [line, line]})
    for path, name in (("/products", "q"), ("/customers", "q"), ("/orders", "customer_id")):
        (schema,) = [p["schema"] for p in spec["paths"][path]["get"]["parameters"] if p["name"] == name]
        assert not re.fullmatch(schema["pattern"], "a\u0003"), (path, name)
    if_match = spec["components"]["parameters"]["IfMatch"]["schema"]
    assert not re.fullmatch(if_match["pattern"], "3") and re.fullmatch(if_match["pattern"], '"3", W/"4"')


def test_documents_the_services_dump_fit_the_response_schemas(spec):
    product = ProductSchema().dump({
        "id": ID, "name": "Lamp", "price": "19.9", "description": "", "stock": 3,
        "created_at": _time(), "updated_at": _time(), "version": 1,
    })
    customer = CustomerSchema().dump({
        "id": ID, "name": "Ada", "email": "ada@example.com", "phone": None, "address": {"city": "London"},
        "created_at": _time(), "updated_at": _time(), "version": 2,
    })
    order = OrderSchema().dump({
        "id": ID, "customer_id": ID, "status": "confirmed", "total": "39.80",
        "items": [{"product_id": ID, "name": "Lamp", "unit_price": "19.90", "quantity": 2, "line_total": "39.80"}],
        "created_at": _time(), "updated_at": _time(), "version": 2,
    })

    rejected = OrderSchema().dump({
        "id": ID, "customer_id": ID, "status": "rejected", "items": [{"product_id": ID, "quantity": 2}],
        "created_at": _time(), "updated_at": _time(), "version": 2,
    })

    component_validator(spec, "Order").validate(rejected)  # never priced: no total, no line prices
    for name, document in (("Product", product), ("Customer", customer), ("Order", order)):
        component_validator(spec, name).validate(document)
        # every field is required (but an order's total): a document missing one does not fit
        for field in document:
            partial = {key: value for key, value in document.items() if key != field}
            fits = component_validator(spec, name).is_valid(partial)
            assert fits == ((name, field) == ("Order", "total")), (name, field)
        assert not component_validator(spec, name).is_valid({**document, "surprise": 1}), name


def _time():
    import datetime

    return datetime.datetime.fromisoformat(NOW)


def test_patch_bodies_need_a_field_and_keep_omitted_ones(spec):
    patch = spec["components"]["schemas"]["ProductPatch"]

    assert "required" not in patch and patch["minProperties"] == 1
    assert not any("default" in prop for prop in patch["properties"].values())
    assert spec["components"]["schemas"]["ProductInput"]["required"] == ["name", "price"]


def test_stock_may_be_set_by_post_put_and_patch_and_an_omitted_one_is_kept(spec):
    schemas = spec["components"]["schemas"]
    assert spec["paths"]["/products"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ProductInput"
    }
    for method, name in (("put", "ProductReplace"), ("patch", "ProductPatch")):
        operation = spec["paths"]["/products/{product_id}"][method]
        assert operation["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{name}"
        }
        stock = schemas[name]["properties"]["stock"]
        assert (stock["minimum"], stock["maximum"]) == (0, MAX_STOCK), name
        assert "readOnly" not in stock and "default" not in stock, name
        assert "stock" not in schemas[name].get("required", []), name
        assert "stays" in stock["description"] and "If-Match" in operation["description"], name
        body = component_validator(spec, name, OAS30WriteValidator)
        assert body.is_valid({"name": "Lamp", "price": "1.00", "stock": 3}), name
        assert not body.is_valid({"name": "Lamp", "price": "1.00", "stock": -1}), name
    assert "stays as it is" in spec["paths"]["/products/{product_id}"]["put"]["description"]
    assert "readOnly" not in schemas["ProductInput"]["properties"]["stock"]


def test_what_put_and_patch_accept_fits_their_documented_bodies(spec):
    for name, partial, body in (
        ("ProductReplace", False, {"name": "Lamp", "price": "1.00", "description": "Warm"}),
        ("ProductReplace", False, {"name": "Lamp", "price": "1.00", "stock": 0}),
        ("ProductPatch", True, {"description": "Warm"}),
        ("ProductPatch", True, {"stock": 9}),
    ):
        assert ProductChangesSchema().load(body, partial=partial)
        component_validator(spec, name, OAS30WriteValidator).validate(body)


@pytest.mark.parametrize("name", ["ProductInput", "ProductReplace", "ProductPatch", "CustomerInput", "CustomerPatch"])
def test_read_only_fields_are_read_only_in_every_body_as_the_services_refuse_them(spec, name):
    body = component_validator(spec, name, OAS30WriteValidator)
    fields = {"name": "N", "price": "1.00"} if name.startswith("Product") else {"name": "N", "email": "n@example.com"}
    for field in ("id", "created_at", "updated_at", "version"):
        assert spec["components"]["schemas"][name]["properties"][field]["readOnly"] is True, (name, field)
        assert not body.is_valid({**fields, field: ID if field == "id" else NOW}), (name, field)


@pytest.mark.parametrize("name", ["Product", "Customer", "Order"])
def test_every_record_answers_its_version(spec, name):
    version = spec["components"]["schemas"][name]["properties"]["version"]

    assert (version["type"], version["minimum"], version["readOnly"]) == ("integer", 1, True)
    assert "ETag" in version["description"]
    assert "version" in spec["components"]["schemas"][name]["required"]


SINGLE_RECORD_ANSWERS = {
    ("get", "/products/{product_id}"), ("put", "/products/{product_id}"), ("patch", "/products/{product_id}"),
    ("post", "/products"), ("post", "/products/{product_id}/stock-adjustments"),
    ("get", "/customers/{customer_id}"), ("put", "/customers/{customer_id}"),
    ("patch", "/customers/{customer_id}"), ("post", "/customers"),
    ("get", "/orders/{order_id}"), ("post", "/orders"), ("delete", "/orders/{order_id}"),
}
IF_MATCH_OPERATIONS = {
    ("put", "/products/{product_id}"), ("patch", "/products/{product_id}"), ("delete", "/products/{product_id}"),
    ("post", "/products/{product_id}/stock-adjustments"),
    ("put", "/customers/{customer_id}"), ("patch", "/customers/{customer_id}"),
    ("delete", "/customers/{customer_id}"), ("delete", "/orders/{order_id}"),
}
IF_NONE_MATCH_OPERATIONS = {
    ("get", "/products/{product_id}"), ("get", "/customers/{customer_id}"), ("get", "/orders/{order_id}"),
}


def test_exactly_the_single_record_answers_carry_an_etag(spec):
    with_etag = {
        key for key, operation in documented_operations(spec).items()
        if "ETag" in next(r for s, r in operation["responses"].items() if s.startswith("2"))["headers"]
    }

    assert with_etag == SINGLE_RECORD_ANSWERS
    header = spec["components"]["headers"]["ETag"]
    assert header["required"] is True
    assert re.match(header["schema"]["pattern"], '"12"') and not re.match(header["schema"]["pattern"], 'W/"12"')


def test_conditional_requests_are_documented_where_they_are_taken(spec):
    def takes(operation, name):
        return {"$ref": f"#/components/parameters/{name}"} in operation.get("parameters", [])

    operations = documented_operations(spec)
    assert {key for key, operation in operations.items() if takes(operation, "IfMatch")} == IF_MATCH_OPERATIONS
    assert {key for key, operation in operations.items() if takes(operation, "IfNoneMatch")} == IF_NONE_MATCH_OPERATIONS
    for key in IF_MATCH_OPERATIONS:
        assert _codes(operations[key]["responses"]["412"]) == ["PRECONDITION_FAILED"], key
        assert "BAD_REQUEST" in _codes(operations[key]["responses"]["400"]), key
    for key in IF_NONE_MATCH_OPERATIONS:
        not_modified = operations[key]["responses"]["304"]
        assert "content" not in not_modified, key
        assert set(not_modified["headers"]) == {"ETag", "X-Request-Id"}, key
        assert "BAD_REQUEST" in _codes(operations[key]["responses"]["400"]), key
    assert not [key for key, operation in operations.items()
                if ("412" in operation["responses"]) != (key in IF_MATCH_OPERATIONS)]
    parameters = spec["components"]["parameters"]
    assert (parameters["IfMatch"]["name"], parameters["IfMatch"]["in"]) == ("If-Match", "header")
    assert (parameters["IfNoneMatch"]["name"], parameters["IfNoneMatch"]["in"]) == ("If-None-Match", "header")


def test_each_route_takes_exactly_the_query_parameters_documented_for_it(spec):
    operations = documented_operations(spec)
    for key, (_, handler) in gateway_handlers().items():
        documented = {p["name"] for p in operations[key].get("parameters", []) if p.get("in") == "query"}
        assert set(handler.query) == documented, key
    assert set(gateway_handlers()[("get", "/orders")][1].query) == {"customer_id", "status", "page", "page_size"}


def test_every_route_the_api_keys_guard_documents_an_optional_key_and_its_401(spec):
    operations = documented_operations(spec)
    public = {key for key, (_, handler) in gateway_handlers().items() if handler.public}

    assert public == {("get", "/health"), ("get", "/openapi.json"), ("get", "/docs"), ("get", "/docs/{asset}")}
    for key, operation in operations.items():
        if key in public:
            assert "security" not in operation and "401" not in operation["responses"], key
            continue
        # optional: off unless the gateway has keys, so a request without one fits the document
        assert operation["security"] == [{}, {"apiKey": []}], key
        unauthorized = operation["responses"]["401"]
        assert _codes(unauthorized) == ["UNAUTHORIZED", "INVALID_API_KEY"], key
        assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True, key
        assert "GATEWAY_API_KEYS" in unauthorized["description"], key
    assert "security" not in spec  # no global requirement: the public routes need nothing


def test_the_api_key_is_an_http_bearer_scheme(spec):
    scheme = spec["components"]["securitySchemes"]["apiKey"]

    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "GATEWAY_API_KEYS" in scheme["description"] and "GATEWAY_AUTH_READS" in scheme["description"]
    assert "GATEWAY_API_KEYS" in spec["info"]["description"]


def test_the_stock_adjustment_operation_is_documented(spec):
    operation = spec["paths"]["/products/{product_id}/stock-adjustments"]["post"]

    assert operation["operationId"] == "adjust_product_stock"
    assert operation["requestBody"]["required"] is True
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StockAdjustment"
    }
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Product"
    }
    codes = {
        status: response["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"]["enum"]
        for status, response in operation["responses"].items()
        if status[0] == "4"
    }
    assert set(codes["400"]) == {"BAD_REQUEST", "VALIDATION_FAILED"}
    assert codes["404"] == ["PRODUCT_NOT_FOUND"]
    assert set(codes["409"]) == {"INSUFFICIENT_STOCK", "STOCK_LIMIT_EXCEEDED"}


@pytest.mark.parametrize("change", [1, -1, 12, -12, MAX_STOCK, -MAX_STOCK])
def test_changes_the_service_accepts_fit_the_stock_adjustment_schema(spec, change):
    assert StockAdjustmentSchema().load({"change": change})
    component_validator(spec, "StockAdjustment", OAS30WriteValidator).validate({"change": change})


@pytest.mark.parametrize(
    "body",
    [{}, {"change": 1.5}, {"change": "5"}, {"change": True}, {"change": None},
     {"change": MAX_STOCK + 1}, {"change": -MAX_STOCK - 1}, {"change": 1, "reason": "recount"}],
)
def test_bodies_the_service_refuses_do_not_fit_the_stock_adjustment_schema(spec, body):
    assert not component_validator(spec, "StockAdjustment", OAS30WriteValidator).is_valid(body)


def test_a_change_of_zero_does_not_fit_the_stock_adjustment_schema(spec):
    # the service refuses it (400); the document says so too
    assert not component_validator(spec, "StockAdjustment", OAS30WriteValidator).is_valid({"change": 0})
    assert "non-zero" in spec["paths"]["/products/{product_id}/stock-adjustments"]["post"]["description"]


# the routes that serve it, through worker_factory


def request(path, method="GET"):
    return EnvironBuilder(method=method, path=path).get_request()


@pytest.fixture
def gateway():
    return worker_factory(GatewayService)


def test_openapi_route_serves_the_document(gateway, spec):
    response = gateway.openapi(request("/openapi.json"))

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert json.loads(response.get_data(as_text=True)) == spec


def with_request_id(response):
    # What the gateway's WSGI app adds to every response (the e2e tests see it).
    response.headers["X-Request-Id"] = "req-1"
    return response


def test_error_answers_the_tests_cannot_provoke_end_to_end_fit_the_document(gateway, spec):
    openapi = OpenAPI.from_dict(spec)
    for name in GatewayService.checked_services:
        call = getattr(gateway, name).ping.with_timeout.return_value
        call.return_value = "ok" if name != "orders" else None
    gateway.dead_letter_depths.side_effect = ConnectionError("broker away")  # the depths are null

    health = with_request_id(gateway.health(request("/health")))
    assert health.status_code == 503
    openapi.validate_response(WerkzeugOpenAPIRequest(request("/health")), WerkzeugOpenAPIResponse(health))

    for error in (ServiceUnavailable("The product service is unavailable."), ServiceError()):
        answer = with_request_id(JsonHttpRequestHandler("GET", "/products").response_from_exception(error))
        assert answer.status_code in (500, 503)
        openapi.validate_response(
            WerkzeugOpenAPIRequest(request("/products")), WerkzeugOpenAPIResponse(answer)
        )


def test_docs_page_loads_swagger_ui_from_the_gateway_and_the_document(gateway):
    response = gateway.docs(request("/docs"))
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert 'src="docs/swagger-ui-bundle.js"' in html
    assert 'href="docs/swagger-ui.css"' in html
    assert 'url: "openapi.json"' in html
    assert "validatorUrl: null" in html
    # nothing from elsewhere: no absolute URL at all
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("name, content_type", sorted(docs.ASSETS.items()))
def test_each_asset_is_the_package_file_with_its_content_type(gateway, name, content_type):
    response = gateway.docs_asset(request(f"/docs/{name}"), name)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.get_data() == (Path(str(swagger_ui_path)) / name).read_bytes()
    assert response.get_data(), name


@pytest.mark.parametrize("name", [
    "index.html", "swagger-initializer.js", "../__init__.py", "../../swagger_ui_bundle/__init__.py",
    "/etc/passwd", "swagger-ui.css/..", "./swagger-ui.css", "SWAGGER-UI.CSS", "",
])
def test_any_other_asset_name_is_a_json_404(gateway, name):
    with pytest.raises(RouteNotFound) as raised:
        gateway.docs_asset(request("/docs/x"), name)

    response = error_response(raised.value)
    assert response.status_code == 404
    assert json.loads(response.get_data(as_text=True))["error"] == "ROUTE_NOT_FOUND"


def test_the_pinned_swagger_ui_ships_the_files_the_page_uses():
    bundle = (Path(str(swagger_ui_path)) / "swagger-ui-bundle.js").read_text()

    # requirements.txt pins swagger-ui-bundle 1.1.0, which ships Swagger UI 4.15.5
    assert 'PACKAGE_VERSION:"4.15.5"' in bundle
    for name in docs.ASSETS:
        assert (Path(str(swagger_ui_path)) / name).stat().st_size > 0, name
