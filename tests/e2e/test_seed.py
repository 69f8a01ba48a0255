"""`make seed` (scripts/seed.py), end to end: run as a process against the running stack, twice.

The database lives for the whole session and other tests share it, so what
the seed made is found by its own names and emails (exact matches among the
results of the `q` filters), never by list totals.
"""
import importlib.util
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from support import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "seed.py"
SUMMARY_LINE = re.compile(r"^\s+(products|customers|orders)\s+(\d+) created,\s+(\d+) already present$", re.M)
NOTHING_CREATED = "Done: nothing created; everything was already present."


def _load_seed():
    spec = importlib.util.spec_from_file_location("seed_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


seed = _load_seed()


def run_seed(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
        timeout=60, stdin=subprocess.DEVNULL,
    )


def summary(result):
    """{kind: (created, already present)} from the script's output."""
    found = {kind: (int(created), int(present)) for kind, created, present in SUMMARY_LINE.findall(result.stdout)}
    assert set(found) == {"products", "customers", "orders"}, result.stdout
    return found


def exact(http, path, q, key, value):
    """The records of ``path`` whose ``key`` is exactly ``value`` (found with ``q``)."""
    response = http.get(path, params={"q": q, "page_size": 100})
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] <= 100, f"too many matches for {q!r} to check: {page['total']}"
    return [record for record in page["items"] if record[key].lower() == value.lower()]


def seeded_products(http):
    return {spec["name"]: exact(http, "/products", spec["name"], "name", spec["name"]) for spec in seed.PRODUCTS}


def seeded_customers(http):
    return {spec["email"]: exact(http, "/customers", spec["email"], "email", spec["email"]) for spec in seed.CUSTOMERS}


def orders_of(http, customer_id):
    response = http.get("/orders", params={"customer_id": customer_id, "page_size": 100})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def snapshot(http):
    """What the seed is about: its products (with stock), customers and their orders."""
    products = seeded_products(http)
    customers = seeded_customers(http)
    return {
        "products": {name: [(p["id"], p["stock"]) for p in found] for name, found in products.items()},
        "customers": {email: [c["id"] for c in found] for email, found in customers.items()},
        "orders": {email: sorted((o["id"], o["status"]) for c in found for o in orders_of(http, c["id"]))
                   for email, found in customers.items()},
    }


def test_seeding_twice_creates_the_data_once(stack, http):
    before = snapshot(http)
    products_before = sum(1 for found in before["products"].values() if found)
    customers_before = sum(1 for found in before["customers"].values() if found)
    # The stack's database is fresh, but MONGODB_CONNECTION_URL may name one
    # that a previous session seeded: then the seed only fills the gaps.
    orders_due = sum(1 for spec in seed.ORDERS if not before["orders"][spec["customer"]])

    first = run_seed("--url", stack)

    assert first.returncode == 0, f"{first.stdout}\n{first.stderr}"
    assert first.stderr == "", first.stderr
    first_summary = summary(first)
    assert first_summary == {
        "products": (len(seed.PRODUCTS) - products_before, products_before),
        "customers": (len(seed.CUSTOMERS) - customers_before, customers_before),
        "orders": (orders_due, len(seed.ORDERS) - orders_due),
    }, first.stdout
    assert (NOTHING_CREATED in first.stdout) == (sum(created for created, _ in first_summary.values()) == 0)

    # every product once, as specified, its stock lowered by what the seed orders took
    products = seeded_products(http)
    quantities = Counter()
    for spec in seed.ORDERS:
        for name, quantity in spec["items"]:
            quantities[name] += quantity
    assert quantities, "the seed places no orders"
    for spec in seed.PRODUCTS:
        [product] = products[spec["name"]]
        assert (product["price"], product["description"]) == (spec["price"], spec["description"]), product
        assert product["stock"] == spec["stock"] - quantities[spec["name"]], (product, spec)

    # every customer once, with phone and address
    customers = seeded_customers(http)
    for spec in seed.CUSTOMERS:
        [customer] = customers[spec["email"]]
        assert {key: customer[key] for key in spec} == spec, customer

    # each seed order placed and confirmed, with the lines it specifies
    product_ids = {name: found[0]["id"] for name, found in products.items()}
    for email, found in customers.items():
        planned = [spec for spec in seed.ORDERS if spec["customer"] == email]
        placed = orders_of(http, found[0]["id"])
        assert len(placed) == len(planned), (email, placed)
        assert all(order["status"] == "confirmed" for order in placed), placed
        placed_lines = sorted([(line["product_id"], line["quantity"]) for line in order["items"]] for order in placed)
        planned_lines = sorted([(product_ids[name], quantity) for name, quantity in spec["items"]] for spec in planned)
        assert placed_lines == planned_lines, placed

    after_first = snapshot(http)

    second = run_seed("--url", stack)

    assert second.returncode == 0, f"{second.stdout}\n{second.stderr}"
    assert second.stderr == "", second.stderr
    assert summary(second) == {
        "products": (0, len(seed.PRODUCTS)),
        "customers": (0, len(seed.CUSTOMERS)),
        "orders": (0, len(seed.ORDERS)),
    }, second.stdout
    assert NOTHING_CREATED in second.stdout
    # same records, same stock, same orders
    assert snapshot(http) == after_first


def assert_clean_failure(result, *fragments):
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_an_unreachable_gateway_fails_with_a_message():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    result = run_seed("--url", url)

    assert_clean_failure(result, f"cannot reach the gateway at {url}", "make up")


def test_an_error_answer_fails_with_a_message(stack):
    # a gateway that answers, but not at this base path: every route is 404
    result = run_seed("--url", f"{stack}/not-the-api")

    assert_clean_failure(result, "GET /health answered 404", "ROUTE_NOT_FOUND")


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://127.0.0.1:8000"])
def test_a_url_that_is_not_http_is_a_usage_error(url):
    result = run_seed("--url", url)

    assert result.returncode == 2
    assert_clean_failure(result, "--url must be an http(s) URL")
