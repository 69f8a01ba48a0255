"""Orders placed against a running system during a fault, and the audit of what the fault left behind.

Every order carries an Idempotency-Key of its own. A client whose answer was
not final (a 503, a dropped connection) sends the same request again with
the same key once the fault is over, as the README tells clients to; the
audit then reads the databases directly and counts what the fault broke.
"""
import collections
import threading
import time
import uuid

import requests
from pymongo import MongoClient

from support import wait_until

FINAL = {201, 409}  # placed, or refused for lack of stock
CLIENT_TIMEOUT_SECONDS = 30  # far beyond the 5 s deadline: a hang shows as a slow answer, not a cut one


class Answer(collections.namedtuple("Answer", "status body seconds at")):
    @property
    def final(self):
        return self.status in FINAL


class OrderLoad:
    """``clients`` threads placing one-unit orders of the given products until stopped."""

    def __init__(self, base_url, customer_id, product_ids, clients):
        self.base_url = base_url
        self.customer_id = customer_id
        self.product_ids = list(product_ids)
        self.clients = clients
        self.requests = {}  # key -> body
        self.answers = collections.defaultdict(list)  # key -> [Answer]
        self._stop = threading.Event()
        self._threads = []
        self._lock = threading.Lock()
        self._sent = 0

    def __enter__(self):
        for number in range(self.clients):
            thread = threading.Thread(target=self._client, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(CLIENT_TIMEOUT_SECONDS + 5)

    def _client(self, number):
        with requests.Session() as session:
            while not self._stop.is_set():
                with self._lock:
                    product_id = self.product_ids[self._sent % len(self.product_ids)]
                    self._sent += 1
                key = f"fault-{uuid.uuid4().hex}"
                body = {"customer_id": self.customer_id, "items": [{"product_id": product_id, "quantity": 1}]}
                self.requests[key] = body
                self.send(session, key)

    def send(self, session, key):
        started = time.monotonic()
        try:
            response = session.post(f"{self.base_url}/orders", json=self.requests[key],
                                    headers={"Idempotency-Key": key}, timeout=CLIENT_TIMEOUT_SECONDS)
            status, body = response.status_code, response.json()
        except requests.RequestException as exc:
            status, body = type(exc).__name__, None
        answer = Answer(status, body, time.monotonic() - started, time.monotonic())
        self.answers[key].append(answer)
        return answer

    def wait_for(self, condition, timeout, message):
        wait_until(lambda: condition(self.all_answers()), timeout=timeout, interval=0.05, message=message)

    def all_answers(self):
        return [answer for answers in list(self.answers.values()) for answer in list(answers)]

    def unfinished(self):
        return [key for key, answers in self.answers.items() if not answers[-1].final]

    def retry_unfinished(self, timeout=60):
        """Send every request whose last answer was not final again, with its key, until it is."""
        deadline = time.monotonic() + timeout
        with requests.Session() as session:
            for key in self.unfinished():
                while not self.send(session, key).final:
                    assert time.monotonic() < deadline, f"request {key} still not placed nor refused: " \
                                                        f"{self.answers[key]}"

    def placed(self):
        """key -> order id, for every request answered 201 (first time or on retry)."""
        return {key: answers[-1].body["id"] for key, answers in self.answers.items()
                if answers[-1].status == 201}

    def client_errors(self):
        counts = collections.Counter(answer.status for answer in self.all_answers() if answer.status != 201)
        return dict(counts)

    def sent(self):
        return len(self.all_answers())


class Audit:
    """What the databases hold once the system has settled, against what the clients were told."""

    def __init__(self, mongo_url):
        self.client = MongoClient(mongo_url, serverSelectionTimeoutMS=5000)

    def close(self):
        self.client.close()

    @property
    def orders(self):
        return list(self.client.orders.orders.find())

    def settled(self):
        """No order pending, no release due, no event waiting, every confirmed order shipped and moved."""
        orders = self.orders
        if any(o["status"] == "pending" or o.get("release_due") or o.get("outbox") for o in orders):
            return False
        confirmed = [str(o["_id"]) for o in orders if o["status"] == "confirmed"]
        return (self.client.shipping.shipments.count_documents({"_id": {"$in": confirmed}}) == len(confirmed)
                and self.client.inventory.movements.count_documents(
                    {"order_id": {"$in": confirmed}, "kind": "reserved"}) == len(confirmed))

    def wait_until_settled(self, timeout):
        wait_until(self.settled, timeout=timeout, interval=0.25,
                   message="every order to leave pending, every release and event to be done")

    def findings(self, load, initial_stock):
        """{"lost", "doubled", "oversold", ...}: each should be 0."""
        orders = self.orders
        by_id = {str(o["_id"]): o for o in orders}
        confirmed = [o for o in orders if o["status"] == "confirmed"]
        placed = load.placed()
        per_key = collections.Counter(o["idempotency"]["key"] for o in confirmed if "idempotency" in o)
        told = set(placed.values())
        held = collections.Counter()
        for order in confirmed:
            for item in order["items"]:
                held[item["product_id"]] += item["quantity"]
        products = {str(p["_id"]): p for p in self.client.product.products.find()}
        rejected = [str(o["_id"]) for o in orders if o["status"] == "rejected"]
        markers = {order_id for p in products.values() for order_id in p.get("reservations", {})}
        return {
            # answered 201 but not a confirmed order now
            "lost": sum(1 for order_id in told if by_id.get(order_id, {}).get("status") != "confirmed"),
            # a key with two confirmed orders, or a confirmed order no client was told of
            "doubled": sum(n - 1 for n in per_key.values()) + sum(
                1 for o in confirmed if str(o["_id"]) not in told),
            "oversold": sum(max(0, -p["stock"]) for p in products.values()),
            "stock_mismatch": {product_id: initial_stock[product_id] - p["stock"] - held[product_id]
                               for product_id, p in products.items()
                               if initial_stock[product_id] - p["stock"] != held[product_id]},
            "rejected_with_shipment": self.client.shipping.shipments.count_documents({"_id": {"$in": rejected}}),
            "rejected_with_movement": self.client.inventory.movements.count_documents(
                {"order_id": {"$in": rejected}}),
            "markers_not_of_confirmed_orders": len(markers - {str(o["_id"]) for o in confirmed}),
            "confirmed": len(confirmed),
        }


def assert_nothing_broken(findings):
    broken = {name: value for name, value in findings.items() if name != "confirmed" and value}
    assert not broken, f"the fault broke: {broken} (of {findings['confirmed']} confirmed orders)"
