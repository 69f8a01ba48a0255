"""The product service's MongoDB queries, behind plain methods."""
from bson import Decimal128

from common.errors import ProductNotFound
from common.storage import RecordStore, from_document, matching_text, object_id_or_none
from product.schemas import SORT_FIELDS


class ProductStore(RecordStore):
    collection = "products"
    not_found = ProductNotFound
    # Reservation bookkeeping lives on the product document (it must change in
    # the same atomic update as the stock); the API never returns it.
    hidden = ("reservations",)

    def create_indexes(self):
        self.create_sort_indexes(SORT_FIELDS)

    def to_stored(self, fields):
        if "price" in fields:
            return {**fields, "price": Decimal128(fields["price"])}
        return fields

    def get_many(self, product_ids):
        """The products among ``product_ids`` that exist, in one query."""
        ids = [oid for oid in map(object_id_or_none, product_ids) if oid is not None]
        return [from_document(d) for d in self.records.find({"_id": {"$in": ids}}, self.projection)]

    def search(self, text, sort, page):
        return self.page(matching_text(text, ("name", "description")), sort, page)
