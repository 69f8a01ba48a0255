"""The name and price of products as a product instance last saw them: pricing a reservation without a read.

An entry may be out of date (another instance renamed or repriced the
product). That never sells at an old price: each take of stock is guarded by
the name and price its item was priced at, so a take priced from an old entry
misses, and the reservation rules read the product again and take it at its
price as it is now (product/reservation.py).
"""
from collections import OrderedDict

from nameko.extensions import DependencyProvider

# Far more products than orders name in any minute, at ~300 bytes an entry.
MAX_ENTRIES = 10_000


class PriceBook:
    """``{product_id: {"name", "unit_price"}}`` as last seen, at most ``max_entries`` (the oldest go first)."""

    def __init__(self, max_entries=MAX_ENTRIES):
        self.max_entries = max_entries
        self._entries = OrderedDict()

    def prices(self, store, product_ids):
        """The entries of those of ``product_ids`` that exist; the store is read for the ones not known."""
        known = {product_id: self._entries[product_id] for product_id in product_ids if product_id in self._entries}
        unknown = [product_id for product_id in product_ids if product_id not in known]
        if unknown:
            found = store.prices(unknown)
            for product_id, entry in found.items():
                self.learn(product_id, entry)
            known.update(found)
        return known

    def learn(self, product_id, entry):
        self._entries.pop(product_id, None)
        if self.max_entries:
            self._entries[product_id] = entry
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, product_id):
        self._entries.pop(product_id, None)


class Prices(DependencyProvider):
    """The instance's PriceBook, shared by all its workers."""

    def setup(self):
        self.book = PriceBook()

    def get_dependency(self, worker_ctx):
        return self.book
