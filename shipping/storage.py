"""The shipping stub's MongoDB queries: one shipment per order."""
import secrets

from common.errors import ShipmentNotFound
from common.storage import Store, canonical_id, from_document, now


class ShipmentStore(Store):
    @property
    def shipments(self):
        return self.db.shipments

    def open(self, order_id, customer_id):
        """Create the order's shipment; a repeat (or a late one after cancelling) changes nothing."""
        moment = now()
        self.shipments.update_one(
            {"_id": order_id},
            {"$setOnInsert": {
                "customer_id": customer_id, "status": "pending",
                "tracking_number": new_tracking_number(), "created_at": moment, "updated_at": moment,
            }},
            upsert=True,
        )

    def cancel(self, order_id, customer_id):
        """Mark the order's shipment cancelled, creating it so if the cancel arrives first."""
        moment = now()
        self.shipments.update_one(
            {"_id": order_id},
            {"$set": {"status": "cancelled", "updated_at": moment},
             "$setOnInsert": {"customer_id": customer_id,
                              "tracking_number": new_tracking_number(), "created_at": moment}},
            upsert=True,
        )

    def get(self, order_id):
        document = self.shipments.find_one({"_id": canonical_id(order_id)})
        if document is None:
            raise ShipmentNotFound(f"No shipment for order {order_id} (yet).", {"order_id": str(order_id)})
        shipment = from_document(document)
        shipment["order_id"] = shipment.pop("id")
        return shipment


def new_tracking_number():
    return f"SMS{secrets.token_hex(6).upper()}"
