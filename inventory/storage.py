"""The inventory stub's MongoDB queries: a log of stock movements.

One document per order and kind of movement holds every item it moved, so
recording an event is one write; a product's movements are read back through
a (multikey) index on the items' product ids.
"""
from enum import Enum

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from common.storage import Store, from_document, now, page_bounds


class MovementKind(str, Enum):
    RESERVED = "reserved"
    RELEASED = "released"
    SHIPPED = "shipped"


# An order's movements within one millisecond still list in the order they happen.
STEPS = {MovementKind.RESERVED: 0, MovementKind.RELEASED: 1, MovementKind.SHIPPED: 1}


class MovementStore(Store):
    @property
    def movements(self):
        return self.db.movements

    def create_indexes(self):
        self.movements.create_index([("items.product_id", ASCENDING), ("at", ASCENDING)])

    def record(self, order_id, kind, items):
        """The order's movement of ``kind``; recording the same order and kind again changes nothing."""
        kind = MovementKind(kind)
        try:
            # The id is the idempotency key: a redelivered event finds it taken.
            self.movements.insert_one({
                "_id": f"{order_id}:{kind.value}", "order_id": order_id, "kind": kind.value, "at": now(),
                "step": STEPS[kind],
                "items": [{"product_id": item["product_id"], "quantity": item["quantity"]} for item in items],
            })
        except DuplicateKeyError:
            pass

    def for_product(self, product_id, page):
        """One page of the product's movements, oldest first, and how many there are."""
        query = {"items.product_id": product_id}
        skip, limit = page_bounds(page)
        cursor = (self.movements.find(query).sort([("at", ASCENDING), ("step", ASCENDING), ("_id", ASCENDING)])
                  .skip(skip).limit(limit))
        return [_movement_of(document, product_id) for document in cursor], self.movements.count_documents(query)


def _movement_of(document, product_id):
    movement = from_document(document)
    movement.pop("step", None)
    # An order names each product once, so one of its items is this product's.
    item = next(item for item in movement.pop("items") if item["product_id"] == product_id)
    return {**movement, "product_id": product_id, "quantity": item["quantity"]}
