"""The data a bench run needs, and the check that no stock was oversold on the way.

Customers, products and orders go through the REST API, as any client's
would. Only the big catalogue of the growth phase is written straight into
the product database, in the document shape product/storage.py creates, since
100,000 products through the API would take longer than the whole run.
"""
import datetime
import random
import threading
import time
import uuid
from collections import defaultdict

import requests
from bson import Decimal128, ObjectId
from pymongo import MongoClient

from common.order_events import OrderStatus

REQUEST_TIMEOUT_SECONDS = 30
PROGRESS_EVERY_SECONDS = 15
# The databases and collections the services keep these in (nameko-mongodb
# names each database after its service).
PRODUCTS = ("product", "products")
ORDERS = ("orders", "orders")
# Orders that hold their units: confirmed, and shipped or delivered for good.
HOLDING_STATUSES = tuple(status.value for status in (OrderStatus.CONFIRMED, OrderStatus.SHIPPED,
                                                     OrderStatus.DELIVERED))


class Api:
    """The gateway's REST API, for setting a run up."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.session = requests.Session()

    def _post(self, path, body):
        response = self.session.post(self.base_url + path, json=body, timeout=REQUEST_TIMEOUT_SECONDS)
        if response.status_code != 201:
            raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()["id"]

    def customer(self):
        return self._post("/customers", {"name": "Bench customer", "email": f"bench.{uuid.uuid4().hex}@example.com"})

    def product(self, name, stock):
        return self._post("/products", {
            "name": name, "price": "9.90", "stock": stock,
            "description": "A product the benchmark created; its stock only moves by the benchmark's orders.",
        })


def order_body(customer_id, product_ids):
    return {"customer_id": customer_id, "items": [{"product_id": p, "quantity": 1} for p in product_ids]}


def place_orders(base_url, bodies, threads, deadline, label):
    """POST /orders for each body, ``threads`` at a time, until done or ``deadline`` (monotonic).

    Returns the ids of the confirmed orders; bodies left when the deadline
    passes are not sent. Prints progress now and then: loading can take minutes.
    """
    placed = send_all(base_url, (("/orders", body) for body in bodies), 201, threads, deadline, label)
    return [order["id"] for order in placed]


def dispatch_orders(base_url, order_ids, threads, deadline, label):
    """Ship each order (POST /orders/{id}/shipment/dispatch); the ids of those shipped."""
    paths = ((f"/orders/{order_id}/shipment/dispatch", None) for order_id in order_ids)
    return [shipment["order_id"] for shipment in send_all(base_url, paths, 200, threads, deadline, label)]


def send_all(base_url, posts, expected, threads, deadline, label):
    """POST each (path, body) of ``posts``, ``threads`` at a time, until done or ``deadline``.

    Returns the bodies of the responses with status ``expected``; counts the others.
    """
    pending = iter(posts)
    lock = threading.Lock()
    done, refused = [], defaultdict(int)
    started = last_report = time.monotonic()

    def work():
        nonlocal last_report
        with requests.Session() as session:
            while time.monotonic() < deadline:
                with lock:
                    post = next(pending, None)
                if post is None:
                    return
                path, body = post
                try:
                    response = session.post(f"{base_url}{path}", json=body, timeout=REQUEST_TIMEOUT_SECONDS)
                    outcome = response.status_code
                except requests.RequestException as exc:
                    response, outcome = None, type(exc).__name__
                with lock:
                    if outcome == expected:
                        done.append(response.json())
                    else:
                        refused[outcome] += 1
                    now = time.monotonic()
                    if now - last_report >= PROGRESS_EVERY_SECONDS:
                        last_report = now
                        progress(f"{label}: {len(done):,} done so far, {len(done) / (now - started):.1f}/s")

    workers = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if refused:
        progress(f"{label}: not done: {dict(refused)}")
    return done


def reservation_markers(mongo_url, product_id, settle_timeout=0):
    """How many orders the product document holds reservation markers for.

    ``settle_timeout``: seconds to wait for the count to reach zero (markers
    of shipped orders go when the product service handles order_shipped).
    """
    client = MongoClient(mongo_url)
    try:
        products = client[PRODUCTS[0]][PRODUCTS[1]]
        deadline = time.monotonic() + settle_timeout
        while True:
            document = products.find_one({"_id": ObjectId(product_id)}, {"reservations": 1})
            count = len(document.get("reservations", {}))
            if count == 0 or time.monotonic() >= deadline:
                return count
            time.sleep(0.5)
    finally:
        client.close()


def place_confirmed(base_url, make_body, count, threads, deadline, label):
    """Exactly ``count`` confirmed orders (fewer only if ``deadline`` passes first)."""
    confirmed = []
    while len(confirmed) < count and time.monotonic() < deadline:
        wanted = count - len(confirmed)
        confirmed += place_orders(base_url, (make_body() for _ in range(wanted)), threads, deadline, label)
    return confirmed


def insert_catalogue(mongo_url, count, stock, batch=5000):
    """``count`` products written straight into the product database; their ids."""
    client = MongoClient(mongo_url)
    try:
        collection = client[PRODUCTS[0]][PRODUCTS[1]]
        ids = []
        for first in range(0, count, batch):
            # What ProductStore.create stores: the fields, price as Decimal128,
            # both timestamps in whole milliseconds, as MongoDB keeps them, and version 1.
            moment = datetime.datetime.now(datetime.timezone.utc)
            moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
            documents = [{
                "name": f"Catalogue item {number:06d}",
                "price": Decimal128(f"{random.randint(100, 99999) / 100:.2f}"),
                "description": f"Catalogue item number {number}, made by the benchmark.",
                "stock": stock,
                "created_at": moment,
                "updated_at": moment,
                "version": 1,
            } for number in range(first, min(first + batch, count))]
            ids += [str(oid) for oid in collection.insert_many(documents, ordered=False).inserted_ids]
        return ids
    finally:
        client.close()


def check_stock(mongo_url, initial, timeout=45):
    """Is every product's stock its initial stock less what confirmed orders hold of it?

    ``initial``: product id → the stock it was created with; confirmed,
    shipped and delivered orders hold their units for good. Orders still
    pending hold stock they may or may not keep, so the check first waits for
    none to be left (the orders sweeper rejects stale ones), and then, for a
    release just under way, a little longer for the figures to agree.
    """
    client = MongoClient(mongo_url)
    try:
        orders = client[ORDERS[0]][ORDERS[1]]
        products = client[PRODUCTS[0]][PRODUCTS[1]]
        deadline = time.monotonic() + timeout
        while True:
            pending = orders.count_documents({"status": OrderStatus.PENDING.value})
            held = {row["_id"]: row["units"] for row in orders.aggregate([
                {"$match": {"status": {"$in": list(HOLDING_STATUSES)}}},
                {"$unwind": "$items"},
                {"$group": {"_id": "$items.product_id", "units": {"$sum": "$items.quantity"}}},
            ])}
            # Every product, filtered here: a $in of 100,000 ids is far slower.
            stock = {str(d["_id"]): d["stock"] for d in products.find({}, {"stock": 1})}
            wrong = {p: {"initial": start, "held": held.get(p, 0), "stock": stock.get(p)}
                     for p, start in initial.items() if stock.get(p) != start - held.get(p, 0)}
            if (not pending and not wrong) or time.monotonic() > deadline:
                break
            time.sleep(1)
        oversold = [p for p, start in initial.items() if held.get(p, 0) > start or (stock.get(p) or 0) < 0]
        return {
            "ok": not pending and not wrong and not oversold,
            "products": len(initial),
            "ordered_products": sum(1 for p in initial if held.get(p)),
            "confirmed_orders": orders.count_documents({"status": {"$in": list(HOLDING_STATUSES)}}),
            "confirmed_units": sum(held.get(p, 0) for p in initial),
            "pending_orders": pending,
            "mismatched": dict(list(wrong.items())[:10]),
            "oversold": len(oversold),
        }
    finally:
        client.close()


def progress(message):
    print(f"· {message}", flush=True)
