"""The orders service's MongoDB queries, behind plain methods.

Besides the order itself, a document carries two pieces of bookkeeping that
change in the same atomic update as its status, so that a crash between two
steps never loses work:

- ``outbox``: events to dispatch for the change (removed once dispatched);
- ``release_due``: the order's stock reservation must still be released.
"""
import datetime
import uuid

from bson import Decimal128
from pymongo import ASCENDING, ReturnDocument

from common.errors import OrderNotFound
from common.storage import RecordStore, from_document, now

SWEEP_BATCH = 100


class OrderStore(RecordStore):
    collection = "orders"
    not_found = OrderNotFound

    def create_indexes(self):
        self.create_sort_indexes(["created_at"])
        self.records.create_index([("customer_id", ASCENDING), ("created_at", ASCENDING)])
        self.records.create_index([("status", ASCENDING), ("updated_at", ASCENDING)])
        self.records.create_index("outbox.at", sparse=True)
        self.records.create_index([("release_due", ASCENDING), ("updated_at", ASCENDING)])

    def to_stored(self, fields):
        stored = dict(fields)
        if "items" in stored:
            stored["items"] = [
                {**item, "unit_price": Decimal128(item["unit_price"]),
                 "line_total": Decimal128(item["line_total"])}
                for item in stored["items"]
            ]
        if "total" in stored:
            stored["total"] = Decimal128(stored["total"])
        return stored

    def create_pending(self, customer_id, items, total):
        return self.create({
            "customer_id": customer_id, "status": "pending", "items": items, "total": total,
            "outbox": [], "release_due": False,
        })

    def change_status(self, order, target, moment, event=None, release_due=False):
        """Move ``order`` from the status it was read with to ``target``, atomically.

        Returns the updated order, or None when its status changed meanwhile.
        """
        update = {"$set": {"status": target, "updated_at": moment}}
        if release_due:
            update["$set"]["release_due"] = True
        if event is not None:
            update["$push"] = {"outbox": event}
        document = self.records.find_one_and_update(
            {"_id": self._oid(order["id"]), "status": order["status"]},
            update,
            return_document=ReturnDocument.AFTER,
        )
        return from_document(document)

    def event_dispatched(self, order_id, event_id):
        self.records.update_one({"_id": self._oid(order_id)}, {"$pull": {"outbox": {"id": event_id}}})

    def release_done(self, order_id):
        self.records.update_one({"_id": self._oid(order_id)}, {"$set": {"release_due": False}})

    def search(self, customer_id, status, page):
        query = {}
        if customer_id is not None:
            query["customer_id"] = customer_id
        if status is not None:
            query["status"] = status
        return self.page(query, "-created_at", page)

    # what the sweeper looks for

    def stale_pending(self, older_than):
        return self._batch({"status": "pending", "updated_at": {"$lt": _before(older_than)}})

    def overdue_releases(self, older_than):
        return self._batch({"release_due": True, "updated_at": {"$lt": _before(older_than)}})

    def undelivered_events(self, older_than):
        return self._batch({"outbox.at": {"$lt": _before(older_than)}})

    def _batch(self, query):
        # Oldest first: every order gets its turn.
        cursor = self.records.find(query).sort([("updated_at", ASCENDING), ("_id", ASCENDING)])
        return [from_document(d) for d in cursor.limit(SWEEP_BATCH)]


def outbox_event(event_type, payload, moment):
    return {"id": uuid.uuid4().hex, "type": event_type, "payload": payload, "at": moment}


def _before(seconds):
    return now() - datetime.timedelta(seconds=seconds)
