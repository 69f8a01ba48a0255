"""Which customers exist, as the orders service needs to know it: without a call per order.

Every order names a customer, and asking the customers service each time
costs a round trip through the broker (and a database read) per order. Each
orders instance instead remembers the customers it has seen exist, for
``CUSTOMER_CACHE_SECONDS``; a customer it does not know is asked for over
RPC. A deleted customer is forgotten as soon as its ``customer_deleted``
event reaches the instance (every instance gets its own copy). Should that
event be lost (the instance was cut off from the broker at the time), the
entry still expires: an order can name a deleted customer for at most that
long, never longer.
"""
import time
from collections import OrderedDict

from nameko.extensions import DependencyProvider

DEFAULT_CACHE_SECONDS = 60
# Enough for every regular customer of a large shop, at ~100 bytes an entry.
MAX_ENTRIES = 100_000


class ExpiringSet:
    """Keys remembered for ``ttl`` seconds each, at most ``max_entries`` (the oldest go first)."""

    def __init__(self, ttl, max_entries=MAX_ENTRIES, clock=time.monotonic):
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._expiry = OrderedDict()

    def add(self, key):
        self._expiry.pop(key, None)
        self._expiry[key] = self._clock() + self.ttl
        while len(self._expiry) > self.max_entries:
            self._expiry.popitem(last=False)

    def discard(self, key):
        self._expiry.pop(key, None)

    def __contains__(self, key):
        expiry = self._expiry.get(key)
        if expiry is None:
            return False
        if expiry <= self._clock():
            del self._expiry[key]
            return False
        return True


class KnownCustomerIds:
    """Customer ids seen to exist, for ``ttl`` seconds each, and never one deleted meanwhile.

    A deletion can arrive while a lookup of the same customer is in flight
    (its answer, "exists", read before the deletion): the deletions are kept
    as long as an entry, so that answer is not remembered.
    """

    def __init__(self, ttl, clock=time.monotonic):
        self._seen = ExpiringSet(ttl, clock=clock)
        self._deleted = ExpiringSet(ttl, clock=clock)

    def __contains__(self, customer_id):
        return customer_id in self._seen

    def add(self, customer_id):
        if customer_id not in self._deleted:
            self._seen.add(customer_id)

    def forget(self, customer_id):
        self._seen.discard(customer_id)
        self._deleted.add(customer_id)


class KnownCustomers(DependencyProvider):
    """The instance's KnownCustomerIds, shared by all its workers."""

    def setup(self):
        ttl = float(self.container.config.get("CUSTOMER_CACHE_SECONDS", DEFAULT_CACHE_SECONDS))
        self.known = KnownCustomerIds(ttl)

    def get_dependency(self, worker_ctx):
        return self.known


class CustomerCheck:
    """``get(customer_id)`` raising CustomerNotFound, as the customers service's RPC does, asked only on a miss."""

    def __init__(self, known, customers):
        self.known = known
        self.customers = customers

    def get(self, customer_id):
        if customer_id not in self.known:
            self.customers.get(customer_id)  # raises CustomerNotFound
            self.known.add(customer_id)
