"""The README's nameko shell recipes, run by a real `nameko shell` against the running stack.

`nameko shell` reads its commands from stdin when stdin is not a terminal,
as if they were typed (a blank line ends a block), and stops at the first
exception. The recipes print markers; the test reads them from stdout and
checks through the REST API what the recipes did.
"""
import os
import re
import subprocess

from common.order_events import OrderSchema
from support import BIN, ROOT, wait_until

NAMEKO = BIN / "nameko"
SHELL_TIMEOUT_SECONDS = 60
EVENT_DEADLINE_SECONDS = 10

# What the README shows under "Using the services from Python": paste it into
# `make shell`. Blank lines only after a block, so it can be pasted as is.
RECIPES = '''\
import time, uuid
from common.errors import ShipmentNotFound
product = n.rpc.product.create({"name": "Walnut monitor stand", "price": "64.90", "stock": 5})
customer = n.rpc.customers.create({"name": "Grace Hopper", "email": f"grace.{uuid.uuid4().hex[:8]}@example.com",
                                   "phone": "+1 202 555 0143", "address": {"city": "Arlington", "country": "US"}})
order = n.rpc.orders.create_order({"customer_id": customer["id"],
                                   "items": [{"product_id": product["id"], "quantity": 2}]})
print("ORDER", order["id"], order["status"], order["total"])
for attempt in range(50):  # shipping opens the shipment when the order_created event arrives
    try:
        shipment = n.rpc.shipping.get_shipment(order["id"])
        break
    except ShipmentNotFound:
        time.sleep(0.1)
else:
    raise TimeoutError("no shipment yet")

print("SHIPMENT", shipment["status"], shipment["tracking_number"])
# deliver order_created again, as at-least-once delivery may: the consumers ignore the duplicate
n.dispatch_event("orders", "order_created", order)
'''


def run_shell(code, amqp_uri):
    """Run ``code`` in `nameko shell` as `make shell` starts it; its stdout."""
    result = subprocess.run(
        [str(NAMEKO), "shell", "--config", "config/config.yml"],
        cwd=ROOT, input=code, capture_output=True, text=True, timeout=SHELL_TIMEOUT_SECONDS,
        env={**os.environ, "AMQP_URI": amqp_uri, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def marker(stdout, name, *fields):
    """The fields printed after ``name`` (the console's ">>> " prompts precede them)."""
    found = re.findall(rf"(?:^|\s){name} (.+)$", stdout, re.M)
    assert len(found) == 1, f"expected one {name} line in:\n{stdout}"
    values = found[0].split()
    assert len(values) == len(fields), found[0]
    return dict(zip(fields, values))


def get(http, path):
    response = http.get(path)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_shell_recipes_run_against_the_system(http, stack_info):

    stdout = run_shell(RECIPES, stack_info.amqp_uri)

    printed = marker(stdout, "ORDER", "id", "status", "total")
    assert (printed["status"], printed["total"]) == ("confirmed", "129.80"), stdout
    shell_shipment = marker(stdout, "SHIPMENT", "status", "tracking_number")
    assert shell_shipment["status"] == "pending", stdout

    # what the shell created is what the REST API serves
    order = get(http, f"/orders/{printed['id']}")
    assert (order["status"], order["total"]) == ("confirmed", "129.80"), order
    [line] = order["items"]
    assert (line["name"], line["unit_price"], line["quantity"]) == ("Walnut monitor stand", "64.90", 2), order
    product_id = line["product_id"]
    OrderSchema().load(order)  # what the recipe re-dispatched follows the event contract
    assert get(http, f"/products/{product_id}")["stock"] == 3
    customer = get(http, f"/customers/{order['customer_id']}")
    assert (customer["name"], customer["phone"], customer["address"]) == (
        "Grace Hopper", "+1 202 555 0143", {"city": "Arlington", "country": "US"},
    ), customer
    assert get(http, f"/orders/{order['id']}/shipment")["tracking_number"] == shell_shipment["tracking_number"]

    # The recipe re-dispatched order_created. An order placed after it is
    # announced after it, on the same queues: once inventory and shipping
    # have recorded that one, they have had the duplicate.
    response = http.post("/orders", json={"customer_id": customer["id"],
                                          "items": [{"product_id": product_id, "quantity": 1}]})
    assert response.status_code == 201, response.text
    later = response.json()

    def movements_of_both():
        page = get(http, f"/products/{product_id}/movements")
        return page if {m["order_id"] for m in page["items"]} >= {order["id"], later["id"]} else None

    page = wait_until(movements_of_both, timeout=EVENT_DEADLINE_SECONDS,
                      message=f"movements of orders {order['id']} and {later['id']}")
    wait_until(lambda: http.get(f"/orders/{later['id']}/shipment").status_code == 200,
               timeout=EVENT_DEADLINE_SECONDS, message=f"the shipment of order {later['id']}")

    # the duplicate changed nothing: one "reserved" movement per order, the same shipment
    assert sorted((m["order_id"], m["kind"], m["quantity"]) for m in page["items"]) == sorted(
        [(order["id"], "reserved", 2), (later["id"], "reserved", 1)]
    ), page
    shipment = get(http, f"/orders/{order['id']}/shipment")
    assert (shipment["status"], shipment["tracking_number"]) == ("pending", shell_shipment["tracking_number"])
    assert get(http, f"/products/{product_id}")["stock"] == 2
