"""The inventory stub's MongoDB queries: a log of stock movements."""
from pymongo import ASCENDING

from common.storage import Store, from_document, now, page_bounds


class MovementStore(Store):
    @property
    def movements(self):
        return self.db.movements

    def create_indexes(self):
        self.movements.create_index([("product_id", ASCENDING), ("at", ASCENDING)])

    def record(self, order_id, kind, items):
        """One movement per item; recording the same order and kind again changes nothing."""
        moment = now()
        for item in items:
            # The id is the idempotency key: a redelivered event finds it taken
            # (and a delivery cut short by a crash is completed).
            key = f"{order_id}:{kind}:{item['product_id']}"
            self.movements.update_one(
                {"_id": key},
                {"$setOnInsert": {
                    "product_id": item["product_id"], "order_id": order_id,
                    "quantity": item["quantity"], "kind": kind, "at": moment,
                }},
                upsert=True,
            )

    def for_product(self, product_id, page):
        query = {"product_id": product_id}
        skip, limit = page_bounds(page)
        cursor = self.movements.find(query).sort([("at", ASCENDING), ("_id", ASCENDING)]).skip(skip).limit(limit)
        return [from_document(d) for d in cursor], self.movements.count_documents(query)
