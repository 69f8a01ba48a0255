"""The shipping stub's MongoDB queries: one shipment per order.

A shipment only ever moves forward (``FORWARD``): the order events that move
it may arrive twice or out of order (each consumer has its own queue, and a
failed handler's event is retried later), and a late ``order_shipped`` must
not turn a delivered shipment back into a shipped one.
"""
import datetime
import secrets
from enum import Enum

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from common.errors import ShipmentNotFound
from common.storage import Store, canonical_id, from_document, now

SWEEP_BATCH = 100


class ShipmentStatus(str, Enum):
    PENDING = "pending"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


# The statuses a shipment may reach each status from.
FORWARD = {
    ShipmentStatus.SHIPPED: (ShipmentStatus.PENDING,),
    ShipmentStatus.DELIVERED: (ShipmentStatus.PENDING, ShipmentStatus.SHIPPED),
    ShipmentStatus.CANCELLED: (ShipmentStatus.PENDING,),
}

# When each status was reached, kept on the shipment.
MOMENTS = {ShipmentStatus.SHIPPED: "shipped_at", ShipmentStatus.DELIVERED: "delivered_at"}


class ShipmentStore(Store):
    @property
    def shipments(self):
        return self.db.shipments

    def create_indexes(self):
        # What the automatic mode looks for: the oldest shipments in a status.
        self.shipments.create_index([("status", ASCENDING), ("updated_at", ASCENDING)])

    def open(self, order_id, customer_id):
        """Create the order's shipment; a repeat (or a late one after it moved on) changes nothing."""
        moment = now()
        self.shipments.update_one(
            {"_id": order_id},
            {"$setOnInsert": {**_new_shipment(customer_id, moment), "status": ShipmentStatus.PENDING.value}},
            upsert=True,
        )

    def advance(self, order_id, customer_id, status):
        """Move the order's shipment forward to ``status``, creating it so if its earlier events are late.

        A shipment already at or past ``status`` stays as it is.
        """
        moment = now()
        changes = {"status": status.value, "updated_at": moment}
        if status in MOMENTS:
            changes[MOMENTS[status]] = moment
        new = _new_shipment(customer_id, moment)
        del new["updated_at"]
        try:
            self.shipments.update_one(
                {"_id": order_id, "status": {"$in": [earlier.value for earlier in FORWARD[status]]}},
                {"$set": changes, "$setOnInsert": new},
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # it exists, at or past ``status``: the upsert's insert found the id taken

    def get(self, order_id):
        document = self.shipments.find_one({"_id": canonical_id(order_id)})
        if document is None:
            raise ShipmentNotFound(f"No shipment for order {order_id} (yet).", {"order_id": str(order_id)})
        shipment = from_document(document)
        shipment["order_id"] = shipment.pop("id")
        return shipment

    def waiting(self, status, seconds):
        """Ids of orders whose shipment has been in ``status`` for over ``seconds``, oldest first."""
        before = now() - datetime.timedelta(seconds=seconds)
        cursor = (self.shipments.find({"status": status.value, "updated_at": {"$lt": before}}, {"_id": 1})
                  .sort([("updated_at", ASCENDING), ("_id", ASCENDING)]).limit(SWEEP_BATCH))
        return [document["_id"] for document in cursor]


def _new_shipment(customer_id, moment):
    return {"customer_id": customer_id, "tracking_number": new_tracking_number(),
            "created_at": moment, "updated_at": moment}


def new_tracking_number():
    return f"SMS{secrets.token_hex(6).upper()}"
