"""A poison event against the running system: dead-lettered, shown by GET /health, replayed by the documented command."""
import os
import subprocess

from bson import ObjectId
from nameko.standalone.events import event_dispatcher

from common.order_events import ORDER_EVENT_CONSUMERS, ORDER_SHIPPED, ORDERS_SERVICE
from support import ROOT, wait_until

JSON = {"Content-Type": "application/json"}


def dead_letters(http):
    return http.get("/health").json()["dead_letters"]


def dead_lettered_in_log(stack_info, service, order_id):
    """How many times the service's log says it dead-lettered the event of ``order_id``."""
    log = (stack_info.run_dir / "logs" / f"{service}.log").read_text(errors="replace")
    return log.count(f"dead-lettered {ORDER_SHIPPED} event of order {order_id} ")


def test_a_malformed_event_is_dead_lettered_replayed_and_dead_lettered_again_nothing_lost(http, stack_info):
    before = dead_letters(http)
    # order_shipped reaches all three consumers; without its other fields it breaks the contract.
    malformed = {"id": str(ObjectId()), "status": "shipped"}

    event_dispatcher({"AMQP_URI": stack_info.amqp_uri})(ORDERS_SERVICE, ORDER_SHIPPED, malformed)

    one_more = {service: before[service] + 1 for service in ORDER_EVENT_CONSUMERS}
    wait_until(lambda: dead_letters(http) == one_more, timeout=20, interval=0.2,
               message=f"GET /health to show {one_more}")
    assert http.get("/health").status_code == 200  # dead letters do not make the system unhealthy

    replayed = subprocess.run(
        ["make", "--no-print-directory", "replay-dead-letters", "SERVICE=inventory"], cwd=ROOT,
        env={**os.environ, "AMQP_URI": stack_info.amqp_uri}, capture_output=True, text=True, timeout=120,
    )

    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    moved = before["inventory"] + 1
    assert f"moved {moved} dead letter(s) from inventory.dead-letters back to their queues" in replayed.stdout
    # Back in its queue, still malformed, it is dead-lettered again: once, not lost, not doubled.
    wait_until(lambda: dead_lettered_in_log(stack_info, "inventory", malformed["id"]) == 2, timeout=20,
               interval=0.2, message="inventory to dead-letter the replayed event again")
    wait_until(lambda: dead_letters(http) == one_more, timeout=10, interval=0.2,
               message=f"GET /health to show {one_more} again")
    assert [dead_lettered_in_log(stack_info, service, malformed["id"]) for service in ("product", "shipping")] == [1, 1]

    # A good event after it is handled: the dead letter holds nothing up.
    customer = http.post("/customers", json={"name": "Ada", "email": f"ada.{ObjectId()}@example.com"}).json()
    product = http.post("/products", json={"name": "Lamp", "price": "19.99", "stock": 3}).json()
    order = http.post("/orders", headers=JSON, json={
        "customer_id": customer["id"], "items": [{"product_id": product["id"], "quantity": 1}]}).json()
    movements = wait_until(lambda: http.get(f"/products/{product['id']}/movements").json()["items"], timeout=20,
                           interval=0.2, message="inventory to handle the order_created event")
    assert [(m["order_id"], m["kind"]) for m in movements] == [(order["id"], "reserved")]
    assert dead_letters(http) == one_more
