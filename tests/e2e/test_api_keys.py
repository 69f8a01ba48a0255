"""API keys on the running system: a stack of its own, started with two GATEWAY_API_KEYS.

Writes need one of them (either works), reads and the documentation need none, and a
refused request changes nothing: its body is not read, no worker runs and no service is
called. Every 401 is checked against the served OpenAPI document. Reads guarded with
GATEWAY_AUTH_READS are shown on a gateway container (tests/integration/test_settings.py),
which costs less than a third stack.
"""
import base64
import os
import socket
import subprocess
import uuid

import pytest
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from support import BIN, ROOT, free_port, wait_until
from test_readme import bash_block, run_as_pasted
from test_stack_logs import entries_for

KEYS = ("e2e-key-one", "e2e-key-two.v2")
CHALLENGE = 'Bearer realm="sales"'
INVALID_TOKEN = 'Bearer realm="sales", error="invalid_token"'
# Authorization headers a write is refused with: (header, error code, WWW-Authenticate)
REFUSED = [
    (None, "UNAUTHORIZED", CHALLENGE),
    (f"Basic {base64.b64encode(f'user:{KEYS[0]}'.encode()).decode()}", "UNAUTHORIZED", CHALLENGE),
    (KEYS[0], "UNAUTHORIZED", CHALLENGE),  # no scheme
    ("Bearer e2e-key-three", "INVALID_API_KEY", INVALID_TOKEN),
    (f"Bearer {KEYS[0]}x", "INVALID_API_KEY", INVALID_TOKEN),
]


def with_key(key=KEYS[0]):
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def keyed(start_stack):
    with start_stack(GATEWAY_API_KEYS=",".join(KEYS)) as started:
        spec = started.http.get("/openapi.json").json()
        started.openapi = OpenAPI.from_dict(spec)
        yield started


def fits_the_document(keyed, response):
    keyed.openapi.validate_response(RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(response))


@pytest.fixture(scope="module")
def records(keyed):
    """A product, a customer and an order, made with a key."""
    http = keyed.http
    tag = uuid.uuid4().hex[:8]
    product = http.post("/products", json={"name": f"Keyed {tag}", "price": "5.00", "stock": 5},
                        headers=with_key()).json()
    customer = http.post("/customers", json={"name": "Key Holder", "email": f"{tag}@example.com"},
                         headers=with_key()).json()
    order = http.post("/orders", json={"customer_id": customer["id"],
                                       "items": [{"product_id": product["id"], "quantity": 1}]},
                      headers=with_key())
    assert order.status_code == 201, order.text
    return {"product": product["id"], "customer": customer["id"], "order": order.json()["id"]}


def writes(records):
    product, customer, order = records["product"], records["customer"], records["order"]
    return [
        ("POST", "/products", {"name": "Intruder", "price": "1.00"}),
        ("PUT", f"/products/{product}", {"name": "Intruder", "price": "1.00", "stock": 999}),
        ("PATCH", f"/products/{product}", {"stock": 999}),
        ("DELETE", f"/products/{product}", None),
        ("POST", f"/products/{product}/stock-adjustments", {"change": 100}),
        ("POST", "/customers", {"name": "Intruder", "email": f"{uuid.uuid4().hex[:8]}@example.com"}),
        ("PUT", f"/customers/{customer}", {"name": "Intruder", "email": "intruder@example.com"}),
        ("PATCH", f"/customers/{customer}", {"name": "Intruder"}),
        ("DELETE", f"/customers/{customer}", None),
        ("POST", "/orders", {"customer_id": customer, "items": [{"product_id": product, "quantity": 1}]}),
        ("DELETE", f"/orders/{order}", None),
        ("POST", f"/orders/{order}/shipment/dispatch", None),
        ("POST", f"/orders/{order}/shipment/deliver", None),
    ]


def everything(keyed, records):
    """What a client can read of the system's data (reads need no key here)."""
    paths = ["/products?page_size=100", "/customers?page_size=100", "/orders?page_size=100",
             f"/products/{records['product']}", f"/customers/{records['customer']}", f"/orders/{records['order']}"]
    answers = {path: keyed.http.get(path) for path in paths}
    assert all(answer.status_code == 200 for answer in answers.values()), answers
    return {path: answer.json() for path, answer in answers.items()}


@pytest.mark.parametrize("authorization, code, challenge", REFUSED)
def test_a_write_without_one_of_the_keys_is_401_and_changes_nothing(keyed, records, authorization, code, challenge):
    before = everything(keyed, records)

    for method, path, body in writes(records):
        headers = {"Authorization": authorization} if authorization is not None else {}
        response = keyed.http.request(method, path, json=body, headers=headers)

        where = f"{method} {path}"
        assert (response.status_code, response.json()["error"]) == (401, code), (where, response.text)
        assert response.headers["WWW-Authenticate"] == challenge, where
        assert KEYS[0] not in response.text, where
        fits_the_document(keyed, response)

    assert everything(keyed, records) == before


@pytest.mark.parametrize("key", KEYS)
def test_a_write_with_either_key_goes_through(keyed, key):
    created = keyed.http.post("/products", json={"name": f"Keyed {key}", "price": "2.50"}, headers=with_key(key))
    assert created.status_code == 201, created.text
    fits_the_document(keyed, created)

    changed = keyed.http.patch(f"/products/{created.json()['id']}", json={"stock": 3}, headers=with_key(key))
    assert (changed.status_code, changed.json()["stock"]) == (200, 3)
    deleted = keyed.http.delete(f"/products/{created.json()['id']}", headers={"Authorization": f"bearer  {key}"})
    assert deleted.status_code == 204
    assert keyed.http.get(f"/products/{created.json()['id']}").status_code == 404


@pytest.mark.parametrize("authorization", [None, "Bearer e2e-key-three"])
def test_reads_need_no_key(keyed, records, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    for path in ("/products", f"/products/{records['product']}", f"/products/{records['product']}/movements",
                 "/customers", f"/customers/{records['customer']}", "/orders", f"/orders/{records['order']}"):
        response = keyed.http.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        fits_the_document(keyed, response)
    assert keyed.http.head("/products", headers=headers).status_code == 200


@pytest.mark.parametrize("authorization", [None, "Bearer e2e-key-three"])
def test_health_and_the_documentation_need_no_key(keyed, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    for path in ("/health", "/openapi.json", "/docs", "/docs/swagger-ui-bundle.js"):
        response = keyed.http.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text[:200])
        fits_the_document(keyed, response)


def answer_to(base_url, raw):
    """Send ``raw`` over a new connection; the answer's status line and headers, by lowercase name (within 10 s)."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(raw)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(65536)
            assert chunk, f"connection closed without an answer: {answer!r}"
            answer += chunk
    status, *fields = answer.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    # header names are case-insensitive (eventlet writes Www-Authenticate)
    return status, {name.lower(): value.strip() for name, _, value in (field.partition(":") for field in fields)}


@pytest.mark.parametrize("content_type, length", [
    ("application/json", 1000),   # read, it would wait for the body (GATEWAY_IDLE_TIMEOUT, 60 s)
    ("text/plain", 1000),         # read, it would be 415
    ("application/json", 5 * 1024 * 1024),  # read, it would be 413
])
def test_a_refused_write_is_answered_before_its_body_is_read(keyed, content_type, length):
    status, headers = answer_to(keyed.base_url, (
        f"POST /products HTTP/1.1\r\nHost: shop\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode())

    assert status.startswith("HTTP/1.1 401 "), (status, headers)
    assert headers["www-authenticate"] == CHALLENGE, headers
    # what is left of the request is never read: the connection closes after the answer
    assert headers["connection"] == "close", headers


def test_a_refused_request_runs_no_worker_and_calls_no_service(keyed):
    refused_id, allowed_id = f"refused-{uuid.uuid4().hex}", f"allowed-{uuid.uuid4().hex}"
    body = {"name": "Logged", "price": "1.00"}

    refused = keyed.http.post("/products", json=body, headers={"X-Request-Id": refused_id})
    allowed = keyed.http.post("/products", json=body, headers={"X-Request-Id": allowed_id, **with_key()})

    assert (refused.status_code, allowed.status_code) == (401, 201)
    # The allowed request, sent after, is logged by the gateway's worker and the product
    # service; the refused one only by the gateway's refusal, outside any worker.
    for service in ("gateway", "product"):
        wait_until(lambda: [entry for entry in entries_for(keyed.run_dir, service, allowed_id) if "outcome" in entry],
                   timeout=10, message=f"{service} to log request {allowed_id}")
    assert entries_for(keyed.run_dir, "product", refused_id) == []
    [refusal] = entries_for(keyed.run_dir, "gateway", refused_id)
    assert (refusal["outcome"], "entrypoint" in refusal) == ("UNAUTHORIZED", False), refusal
    assert refusal["message"] == "Refused POST /products: no valid API key."


def test_the_readme_example_runs_as_documented(keyed):
    refusal, created, listed = run_as_pasted(bash_block("api-keys"), keyed.base_url,
                                             GATEWAY_API_KEYS=",".join(KEYS))

    assert (refusal.startswith("{"), created, listed) == (True, "201", "200"), (refusal, created, listed)
    assert '"error": "UNAUTHORIZED"' in refusal


@pytest.mark.parametrize("environment, message", [
    ({"GATEWAY_API_KEYS": "key-1,,key-2"}, "GATEWAY_API_KEYS: key 2 of 3 is empty"),
    ({"GATEWAY_AUTH_READS": "yes please"}, "GATEWAY_AUTH_READS must be true or false"),
])
def test_nameko_run_refuses_to_start_the_gateway_with_malformed_settings(environment, message):
    env = {**os.environ, "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}", "LOG_FORMAT": "text",
           "GATEWAY_API_KEYS": "", "GATEWAY_AUTH_READS": "false", **environment}
    result = subprocess.run(
        [str(BIN / "nameko"), "run", "--config", str(ROOT / "config" / "config.yml"), "gateway.service"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )

    assert result.returncode != 0, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
