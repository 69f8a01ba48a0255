"""Stock reservation: all or nothing per order, never overselling, idempotent.

The rules, in plain Python over the store's atomic single-document updates:

- Taking stock for one item is one guarded update of the product document:
  decrement only where ``stock >= quantity`` and this order holds no units of
  it yet, recording the units held under ``reservations.<order_id>``. So two
  orders can never take the same unit, and a retried call never takes twice.
- A reservation record per order id (``reservations`` collection) says where
  the order stands: reserving, reserved, failed or released. Releasing marks
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

from common.errors import InsufficientStock, ReservationClosed, ReservationInProgress, UnknownProduct

# Longer than any caller waits for a reserve, so a lease only runs out once
# its caller has given up (and released the reservation, or will).
LEASE_SECONDS = 60


class ReservationState(str, Enum):
    RESERVING = "reserving"
    RESERVED = "reserved"
    FAILED = "failed"
    RELEASED = "released"


def reserve_stock(store, order_id, items):
    """Take ``items`` for ``order_id``: all of them, or none and an error naming the shortfall.

    The reservation's items come back priced (``name``, ``unit_price``) as the
    products were when it was opened: the caller needs no separate lookup.
    The items of the first call for an order id are the ones that count; a
    repeated call returns (or refuses) as the first one did.
    """
    prices = store.prices([item["product_id"] for item in items])
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
    shortfall = [
        _shortage(store, item)
        for item in record["items"]
        if not store.take_stock(item["product_id"], order_id, item["quantity"])
    ]
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
    if state is ReservationState.RESERVED:
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
    _give_back(store, order_id, before["items"])
    return {**before, "state": ReservationState.RELEASED.value}


def _give_back(store, order_id, items):
    for item in items:
        store.return_stock(item["product_id"], order_id, item["quantity"])


def _shortage(store, item):
    available = store.available_stock(item["product_id"])
    return {
        "product_id": item["product_id"],
        "requested": item["quantity"],
        "available": available,
    }


def _refusal(shortfall):
    missing = [entry["product_id"] for entry in shortfall if entry["available"] is None]
    if missing:
        return UnknownProduct.for_ids(missing)
    short = ", ".join(entry["product_id"] for entry in shortfall)
    return InsufficientStock(f"Not enough stock for: {short}.", {"products": shortfall})
