"""Stock reservation: all or nothing per order, never overselling, idempotent.

The rules, in plain Python over the store's atomic single-document updates:

- Taking stock for one item is one guarded update of the product document:
  decrement only where ``stock >= quantity``, this order holds no units of
  it yet and the name and price are still those the item was priced at,
  recording the units held under ``reservations.<order_id>``. So two orders
  can never take the same unit, a retried call never takes twice, and an item
  priced from an out-of-date PriceBook entry is repriced, never sold at an
  old price.
- A reservation record per order id (``reservations`` collection) says where
  the order stands: reserving, reserved, failed, released, or settled once
  the order shipped (its markers are then removed: the units have left). Releasing marks
  it released first and then gives back whatever the order still holds, so a
  reserve that arrives after a release (a late or duplicated message) finds
  the record closed and takes nothing, and one that races with the release
  gives back what it took.
- Only one call works on an order's reservation at a time: opening it takes
  a lease, and a duplicate arriving while the lease runs is told to retry
  (ReservationInProgress). The per-order holdings cannot tell two calls for
  the same order apart, so two at once could give back each other's stock.
  A lease left by a crash runs out, and the next call resumes the work; the
  record is closed only under the lease's id, so a call that stalled past
  its lease can no longer settle the reservation or give anything back.
"""
from enum import Enum

from common.errors import (
    InsufficientStock,
    ReservationClosed,
    ReservationInProgress,
    ServiceUnavailable,
    UnknownProduct,
)
from product.prices import PriceBook

# Longer than any caller waits for a reserve, so a lease only runs out once
# its caller has given up (and released the reservation, or will).
LEASE_SECONDS = 60
# How many times one item is repriced (and taken again) before giving up.
REPRICINGS = 3
_LEASE_LOST = object()


class ReservationState(str, Enum):
    RESERVING = "reserving"
    RESERVED = "reserved"
    FAILED = "failed"
    RELEASED = "released"
    # The order shipped: its stock left for good, and no marker is kept for it.
    SETTLED = "settled"


def reserve_stock(store, order_id, items, price_book=None):
    """Take ``items`` for ``order_id``: all of them, or none and an error naming the shortfall.

    The reservation's items come back priced (``name``, ``unit_price``) as the
    products were when their stock was taken: the caller needs no separate
    lookup. ``price_book``: the instance's PriceBook; without one every call
    reads the prices.
    The items of the first call for an order id are the ones that count; a
    repeated call returns (or refuses) as the first one did.
    """
    price_book = price_book or PriceBook(max_entries=0)
    prices = price_book.prices(store, [item["product_id"] for item in items])
    missing = [item["product_id"] for item in items if item["product_id"] not in prices]
    if missing:
        earlier = store.get_reservation(order_id)
        if earlier is None:
            # Nothing is opened or taken for an order refused here.
            raise UnknownProduct.for_ids(missing)
        # A repeated call, for a product deleted since the first: the first
        # call's record decides, or the units it took would be held for an
        # order its caller was told does not exist.
        priced = earlier["items"]
    else:
        priced = [{**item, **prices[item["product_id"]]} for item in items]
    record = store.open_reservation(order_id, priced, LEASE_SECONDS)
    lease = record.pop("lease")
    state = ReservationState(record["state"])
    if state is ReservationState.RESERVING and lease is None:
        raise ReservationInProgress(
            f"Stock for order {order_id} is being reserved by another call.", {"order_id": order_id}
        )
    if state is not ReservationState.RESERVING:
        return _settled(store, record)

    # Try every item (not just up to the first failure) so that a refusal
    # names every product that is short.
    shortfall = []
    for index in range(len(record["items"])):
        shortage = _take(store, price_book, record, index, lease)
        if shortage is _LEASE_LOST:
            return _settled(store, store.get_reservation(order_id))
        if shortage is not None:
            shortfall.append(shortage)
    # Closing first, under this call's lease: once closed, no other call can
    # be working on the order, so giving back cannot undo someone else's take.
    if shortfall:
        if not store.close_reservation(order_id, lease, ReservationState.FAILED, shortfall=shortfall):
            return _settled(store, store.get_reservation(order_id))
        _give_back(store, order_id, record["items"])
        raise _refusal(shortfall)
    if not store.close_reservation(order_id, lease, ReservationState.RESERVED):
        return _settled(store, store.get_reservation(order_id))
    return {**record, "state": ReservationState.RESERVED.value}


def _settled(store, record):
    """The outcome of a reservation another call (or a release) has settled."""
    order_id = record["order_id"]
    state = ReservationState(record["state"])
    if state in (ReservationState.RESERVED, ReservationState.SETTLED):
        return record
    if state is ReservationState.FAILED:
        # The call that failed it may have stopped before giving everything
        # back; the caller takes a refusal to mean that nothing is held.
        _give_back(store, order_id, record["items"])
        raise _refusal(record["shortfall"])
    if state is ReservationState.RELEASED:
        # An earlier delivery may have taken stock before it crashed, and the
        # release run before that take landed: nothing may stay held.
        _give_back(store, order_id, record["items"])
        raise ReservationClosed(
            f"The reservation for order {order_id} was released.", {"order_id": order_id}
        )
    raise ReservationInProgress(
        f"Stock for order {order_id} is being reserved by another call.", {"order_id": order_id}
    )


def release_stock(store, order_id):
    """Give back everything ``order_id`` holds; safe to repeat, and closes the reservation.

    Giving back is guarded per product by what the order still holds, so a
    repeated release (or one resumed after a crash) returns nothing twice.
    """
    before = store.release_reservation(order_id)
    if before["state"] == ReservationState.SETTLED:
        return before  # the order shipped: nothing is held for it, and it keeps what it took
    _give_back(store, order_id, before["items"])
    return {**before, "state": ReservationState.RELEASED.value}


def settle_reservation(store, order_id, items):
    """The order shipped: its units stay taken, and the products forget they are held for it.

    Without this a best-seller's document would keep one marker per order it
    ever sold, growing toward MongoDB's 16 MiB limit and slowing every read.
    The record is settled first, so that a release (which only an order not
    yet shipped can ask for) can never give back units that have left; then
    each product's marker goes. Repeating it (a redelivered event, or one
    resumed after a crash) removes whatever markers are left. False when the
    order holds no reservation to settle (it was never reserved, or released).
    """
    if not store.settle_reservation(order_id):
        return False
    for item in items:
        store.forget_holding(item["product_id"], order_id)
    return True


def _give_back(store, order_id, items):
    for item in items:
        store.return_stock(item["product_id"], order_id, item["quantity"])


def _take(store, price_book, record, index, lease):
    """Take the record's item ``index``: None once the order holds it, else its shortage.

    A take priced from an out-of-date entry misses; the item is then repriced
    as the product is now, in the record first (so that a call resuming this
    one takes at the same price), and taken again. _LEASE_LOST: another call
    took the reservation over meanwhile.
    """
    order_id = record["order_id"]
    for repricings in range(REPRICINGS + 1):
        item = record["items"][index]
        product_id = item["product_id"]
        if store.take_stock(product_id, order_id, item["quantity"], item["name"], item["unit_price"]):
            return None
        current = store.product_state(product_id)
        if current is None:
            price_book.forget(product_id)
        if current is None or current["stock"] < item["quantity"] or _price(current) == _price(item):
            available = None if current is None else current["stock"]
            return {"product_id": product_id, "requested": item["quantity"], "available": available}
        price_book.learn(product_id, _price(current))
        if repricings == REPRICINGS:
            break
        record["items"][index] = {**item, **_price(current)}
        if not store.reprice_reservation(order_id, lease, record["items"]):
            return _LEASE_LOST
    # The reservation stays open under this call's lease, holding what it
    # took of the other items: the caller, told "unavailable", releases it.
    raise ServiceUnavailable(
        f"The price of product {product_id} kept changing while order {order_id} was reserved.",
        {"order_id": order_id},
    )


def _price(priced):
    return {"name": priced["name"], "unit_price": priced["unit_price"]}


def _refusal(shortfall):
    missing = [entry["product_id"] for entry in shortfall if entry["available"] is None]
    if missing:
        return UnknownProduct.for_ids(missing)
    short = ", ".join(entry["product_id"] for entry in shortfall)
    return InsufficientStock(f"Not enough stock for: {short}.", {"products": shortfall})
