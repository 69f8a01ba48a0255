"""Request ids and JSON logs in the running system (the logs `make up` writes)."""
import json
import uuid

from support import wait_until


def log_entries(run_dir, service):
    entries = []
    for line in (run_dir / "logs" / f"{service}.log").read_text().splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries


def entries_for(run_dir, service, request_id):
    return [entry for entry in log_entries(run_dir, service) if entry.get("request_id") == request_id]


def test_a_request_id_is_returned_and_logged_by_every_service_it_reaches(http, stack_info):
    request_id = f"test-{uuid.uuid4().hex}"
    customer = http.post("/customers", json={"name": "Log", "email": f"{request_id}@example.com"}).json()
    product = http.post("/products", json={"name": "Logged", "price": "1.00", "stock": 5}).json()

    response = http.post(
        "/orders",
        json={"customer_id": customer["id"], "items": [{"product_id": product["id"], "quantity": 1}]},
        headers={"X-Request-Id": request_id},
    )

    assert response.status_code == 201
    assert response.headers["X-Request-Id"] == request_id
    # The id travels with the RPC calls and on with the order_created event.
    for service, entrypoint in [
        ("gateway", "create_order"), ("orders", "create_order"), ("customers", "get"),
        ("product", "reserve_stock"),
        ("inventory", "on_order_created"), ("shipping", "on_order_created"),
    ]:
        entries = wait_until(
            lambda: [e for e in entries_for(stack_info.run_dir, service, request_id)
                     if e.get("entrypoint") == entrypoint and "outcome" in e],
            timeout=10, message=f"{service}.{entrypoint} to log request {request_id}",
        )
        finished = entries[-1]
        assert finished["service"] == service
        assert finished["level"] == "INFO"
        assert finished["outcome"] == "ok"
        assert isinstance(finished["duration_ms"], (int, float))


def test_a_request_without_an_id_gets_a_new_one_each_time(http):
    first = http.get("/health").headers["X-Request-Id"]
    second = http.get("/health").headers["X-Request-Id"]

    assert first and second and first != second


def test_an_unusable_request_id_is_replaced(http):
    response = http.get("/products", headers={"X-Request-Id": "bad id with spaces and ${jndi}"})

    assert response.headers["X-Request-Id"] != "bad id with spaces and ${jndi}"
    assert len(response.headers["X-Request-Id"]) == 32


def test_errors_carry_the_request_id_and_their_code_in_the_log(http, stack_info):
    request_id = f"test-{uuid.uuid4().hex}"

    response = http.get("/products/5f0000000000000000000000", headers={"X-Request-Id": request_id})

    assert response.status_code == 404
    assert response.headers["X-Request-Id"] == request_id
    finished = wait_until(
        lambda: [e for e in entries_for(stack_info.run_dir, "product", request_id) if "outcome" in e],
        timeout=10, message="product to log the failed get",
    )
    assert [(e["entrypoint"], e["outcome"]) for e in finished] == [("get", "PRODUCT_NOT_FOUND")]


def test_unknown_routes_answer_with_a_request_id(http):
    response = http.get("/no/such/route", headers={"X-Request-Id": "abc-123"})

    assert response.status_code == 404
    assert response.headers["X-Request-Id"] == "abc-123"
