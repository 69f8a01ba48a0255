"""The orders service's MongoDB queries, behind plain methods.

Besides the order itself, a document carries two pieces of bookkeeping that
change in the same atomic update as its status, so that a crash between two
steps never loses work:

- ``outbox``: events to dispatch for the change (removed once dispatched);
- ``release_due``: the order's stock reservation must still be released.
"""
import contextlib
import datetime
import time
import uuid

import pymongo
from bson import Decimal128
from pymongo import ASCENDING

from common import idempotency
from common.errors import OrderNotFound
from common.order_events import OrderStatus
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
            stored["items"] = [_stored_money(item, ("unit_price", "line_total")) for item in stored["items"]]
        return _stored_money(stored, ("total",))

    def create_pending(self, customer_id, items, claim=None):
        """Save an order as asked (``product_id`` and ``quantity`` per item), before any stock is taken.

        ``(order, True)``; or ``(order, False)`` for the order placed earlier under
        the idempotency ``claim``'s key. It is priced when confirmed, with the
        prices its reservation took.
        """
        return self.create_once({
            "customer_id": customer_id, "status": OrderStatus.PENDING.value, "items": items,
            "outbox": [], "release_due": False,
        }, claim)

    def change_status(self, order, target, moment, event=None, release_due=False, changes=None, before=None):
        """Move ``order`` from the status it was read with to ``target``, atomically, with ``changes``.

        ``before`` (epoch seconds): the change applies only if the database
        applies it before then, and its acknowledgement is awaited no longer
        (a later one could not be told to anyone). Returns the order as updated,
        or None when its status changed meanwhile (or ``before`` had passed).
        """
        fields = {**(changes or {}), "status": target, "updated_at": moment}
        if release_due:
            fields["release_due"] = True
        awaited = contextlib.nullcontext()
        if before is not None:
            if before <= time.time():
                return None  # the database would refuse it: no need to ask
            update = _applied_only_before(before, self.to_stored(fields), event)
            awaited = pymongo.timeout(before - time.time())
        else:
            update = {"$set": self.to_stored(fields), "$inc": {"version": 1}}
            if event is not None:
                update["$push"] = {"outbox": event}
            if target == OrderStatus.REJECTED.value:
                # A refused order lets its idempotency key go: sent again, it is tried again.
                update["$unset"] = {idempotency.FIELD: ""}
        # The status guard makes the order as read plus these changes the
        # order as stored, version included (only a status change moves it,
        # and no status comes back): no need to read it back (nor a findAndModify).
        with awaited:
            result = self.records.update_one({"_id": self._oid(order["id"]), "status": order["status"]}, update)
        if not result.modified_count:
            return None
        changed = {**order, **fields, "version": order["version"] + 1}
        if event is not None:
            changed["outbox"] = [*order.get("outbox", []), event]
        return changed

    def discard_pending(self, order):
        """Delete an order still pending (one refused before anything was taken); False if it moved on."""
        pending = {"_id": self._oid(order["id"]), "status": OrderStatus.PENDING.value}
        return self.records.delete_one(pending).deleted_count == 1

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
        return self._batch({"status": OrderStatus.PENDING.value, "updated_at": {"$lt": _before(older_than)}})

    def overdue_releases(self, older_than):
        return self._batch({"release_due": True, "updated_at": {"$lt": _before(older_than)}})

    def undelivered_events(self, older_than):
        return self._batch({"outbox.at": {"$lt": _before(older_than)}})

    def _batch(self, query):
        # Oldest first: every order gets its turn.
        cursor = self.records.find(query).sort([("updated_at", ASCENDING), ("_id", ASCENDING)])
        return [from_document(d) for d in cursor.limit(SWEEP_BATCH)]


def _applied_only_before(before, stored, event):
    """An update (a pipeline) that sets ``stored``, adds one to the version and appends ``event``, if in time.

    A write held up on its way (a stalled database) can reach the server after
    its caller was told it failed; it must then change nothing. ``$$NOW`` is
    the server's clock as it applies the update; the condition sits in the
    update, not the filter, so the filter stays a lookup by ``_id``. (Dates
    compared as ``$toLong`` milliseconds: the development server compares
    dates in expressions wrongly.)
    """
    in_time = {"$lt": [{"$toLong": "$$NOW"}, int(before * 1000)]}

    def unless_late(new_value, field):
        return {"$cond": [in_time, new_value, f"${field}"]}

    stage = {field: unless_late({"$literal": value}, field) for field, value in stored.items()}
    stage["version"] = unless_late({"$add": ["$version", 1]}, "version")
    if event is not None:
        stage["outbox"] = unless_late({"$concatArrays": ["$outbox", [{"$literal": event}]]}, "outbox")
    return [{"$set": stage}]


def _stored_money(document, names):
    return {key: Decimal128(value) if key in names else value for key, value in document.items()}


def outbox_event(event_type, payload, moment):
    return {"id": uuid.uuid4().hex, "type": event_type, "payload": payload, "at": moment}


def _before(seconds):
    return now() - datetime.timedelta(seconds=seconds)
