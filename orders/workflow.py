"""Placing, cancelling, shipping and sweeping orders: the orders service's business rules.

Plain Python over four collaborators (the order store, the customers and
product RPC clients, and an event dispatcher), so the rules can be tested
without a broker.

The invariant: no path leaves stock reserved without a live (pending or
confirmed) order. An order is saved ``pending`` before any stock is taken;
every move to ``rejected`` or ``cancelled`` sets ``release_due`` in the same
update, and the release is retried by the sweeper until it succeeds. Events
are written to the order's outbox in the same update as the status they
announce, and dispatched (again by the sweeper, if need be) until sent.
"""
import logging
import time
from decimal import Decimal

from nameko.amqp.publish import UndeliverableMessage

from common import idempotency
from common.errors import (
    CustomerNotFound,
    InsufficientStock,
    OrderNotFound,
    OutcomeUnknown,
    ServiceError,
    ServiceUnavailable,
    UnknownCustomer,
    UnknownProduct,
)
from common.order_events import OrderSchema, OrderStatus
from common.rpc import DEFAULT_RPC_TIMEOUT
from common.storage import now
from orders.lifecycle import RELEASES_STOCK, event_for, needs_change
from orders.storage import outbox_event

log = logging.getLogger(__name__)

DEADLINE_MARGIN_SECONDS = 0.5
EARLIER_REQUEST_POLL_SECONDS = 0.05

order_payload = OrderSchema()


class OrderWorkflow:
    """``defer(function, *args)`` runs the dispatching of events; the service passes one
    that waits until the reply is sent, so a slow broker cannot make a confirmation
    late. By default it runs at once."""

    def __init__(self, store, customers, product, dispatch, defer=None):
        self.store = store
        self.customers = customers
        self.product = product
        self.dispatch = dispatch
        self.defer = defer or (lambda function, *args: function(*args))

    def place(self, request, deadline=None, idempotency_key=None):
        """Create an order from a validated request: confirmed, or refused with an error.

        ``deadline`` (epoch seconds): when the caller stops waiting. An order
        is confirmed only in time for the caller to hear of it (the confirmation
        is refused by the database itself once that time has passed); a caller
        that was told "unavailable" must be able to trust that nothing was placed.

        ``idempotency_key``: a request placed earlier under this key is not
        placed again; its order is returned (once it is no longer pending).
        """
        if out_of_time(deadline):
            raise ServiceUnavailable("The request arrived after its caller stopped waiting.")
        customer_id = request["customer_id"]
        self._require_customer(customer_id)
        asked = [{"product_id": item["product_id"], "quantity": item["quantity"]} for item in request["items"]]
        order, created = self.store.create_pending(customer_id, asked, idempotency.claim(idempotency_key, request))
        if not created:
            return self._placed_earlier(order, request, deadline, idempotency_key)
        try:
            reservation = self.product.reserve_stock(order["id"], asked)
        except UnknownProduct:
            # Nothing is held for a refused reservation (what it took, if
            # anything, is given back before the refusal): nothing to keep.
            self.store.discard_pending(order)
            raise
        except InsufficientStock as refusal:
            # All or nothing: a refused reservation took no stock, and it is
            # closed, so no late duplicate can take any: nothing to release.
            self._change(order, OrderStatus.REJECTED, releases_stock=False)
            raise InsufficientStock(refusal.message, {**refusal.details, "order_id": order["id"]}) from None
        except ServiceError:
            # Unknown outcome (timeout, or released meanwhile): give it up safely.
            return self._give_up(order)
        if out_of_time(deadline):
            return self._give_up(order)
        lines = price_lines(reservation["items"])
        priced = {"items": lines, "total": sum(line["line_total"] for line in lines)}
        try:
            confirmed = self._change(order, OrderStatus.CONFIRMED, changes=priced,
                                     before=None if deadline is None else deadline - DEADLINE_MARGIN_SECONDS)
        except ServiceUnavailable:
            # The database did not acknowledge the confirmation in time, which
            # does not mean it did not apply it (a stall, say): "nothing was
            # placed" would be a guess, so the caller is told just that.
            raise OutcomeUnknown(
                "The order may have been placed: send the request again with the same Idempotency-Key "
                "(or read the order) to learn its outcome.", {"order_id": order["id"]},
            ) from None
        # None: cancelled meanwhile, or the confirmation reached the database too late.
        return confirmed if confirmed is not None else self._give_up(order)

    def _placed_earlier(self, order, request, deadline, idempotency_key):
        """The order an earlier request with the same idempotency key placed, once it has settled.

        Still pending: that request is being placed (or its service died and the
        sweeper will reject it); wait for it within our own deadline. Rejected
        meanwhile: its key is free again, so this request is placed afresh.
        """
        wait_until = deadline if deadline is not None else time.time() + DEFAULT_RPC_TIMEOUT
        while order is not None and order["status"] == OrderStatus.PENDING:
            if out_of_time(wait_until):
                raise ServiceUnavailable(
                    "An earlier request with this idempotency key is still being placed; send it again later.",
                    {"order_id": order["id"]},
                )
            time.sleep(EARLIER_REQUEST_POLL_SECONDS)
            try:
                order = self.store.get(order["id"])
            except OrderNotFound:  # refused (an unknown product) and discarded
                order = None
        if order is None or order["status"] == OrderStatus.REJECTED:
            return self.place(request, deadline, idempotency_key)
        return order

    def _give_up(self, order):
        """Reject a placement whose outcome is unknown or too late, releasing whatever it took."""
        if self._change(order, OrderStatus.REJECTED) is None:
            return self._settled_meanwhile(order)
        raise ServiceUnavailable(
            "The order could not be placed in time; it was rejected and no stock is held.",
            {"order_id": order["id"]},
        )

    def _settled_meanwhile(self, order):
        """A placement someone else finished first: a cancel (the order, cancelled) or the sweeper."""
        current = self.store.get(order["id"])
        if current["status"] == OrderStatus.CANCELLED:
            return current
        raise ServiceUnavailable(
            "The order took too long to place and was rejected; no stock is held.", {"order_id": order["id"]}
        )

    def cancel(self, order_id, if_version=None):
        """Cancel a pending or confirmed order; cancelling a cancelled one returns it unchanged.

        ``if_version``: the versions the order must be at (else PreconditionFailed);
        the status-guarded write keeps it so, as only a status change moves the version.
        """
        return self.move(order_id, OrderStatus.CANCELLED, if_version)

    def ship(self, order_id):
        """Mark a confirmed order shipped; shipping a shipped one returns it unchanged."""
        return self.move(order_id, OrderStatus.SHIPPED)

    def deliver(self, order_id):
        """Mark a shipped order delivered; delivering a delivered one returns it unchanged."""
        return self.move(order_id, OrderStatus.DELIVERED)

    def move(self, order_id, target, if_version=None):
        """Move an order to ``target`` if the lifecycle allows it, else raise the refusal.

        Two moves racing on one order (a cancel and a dispatch) are decided by
        the status-guarded write: exactly one lands, and the other is judged
        again against the order as the winner left it.
        """
        order = self.store.get(order_id, if_version)
        if not needs_change(order["status"], target):
            return order
        moved = self._change(order, target)
        # None: its status changed between our read and our write; judge again.
        return moved if moved is not None else self.move(order_id, target, if_version)

    def sweep(self, pending_timeout, retry_after):
        """Finish what a crash or an outage left half done; safe to run at any time."""
        for order in self.store.stale_pending(pending_timeout):
            log.warning("rejecting order %s, pending for over %s s", order["id"], pending_timeout)
            self._change(order, OrderStatus.REJECTED)
        for order in self.store.overdue_releases(retry_after):
            if isinstance(self._release(order), ServiceUnavailable):
                break  # the product service is away: the rest waits for the next sweep
        for order in self.store.undelivered_events(retry_after):
            self._deliver(order)

    def _change(self, order, target, changes=None, releases_stock=None, before=None):
        """Apply one checked status change with what it entails; None if the order changed meanwhile.

        ``releases_stock``: whether the order may hold stock to release; by
        default, whether the target status is one that releases it. ``before``:
        see ``change_status``.
        """
        needs_change(order["status"], target)
        moment = now()
        event_type = event_for(order["status"], target)
        event = None
        if event_type is not None:
            # The event announces the order as this change leaves it: change_status adds one to the version.
            payload = order_payload.dump({**order, **(changes or {}), "status": target.value, "updated_at": moment,
                                          "version": order["version"] + 1})
            event = outbox_event(event_type, payload, moment)
        release_due = target in RELEASES_STOCK if releases_stock is None else releases_stock
        changed = self.store.change_status(order, target.value, moment, event, release_due, changes, before)
        if changed is not None:
            if release_due:
                self._release(changed)
            self.defer(self._deliver, changed)
        return changed

    # After a status change is saved, its follow-ups (the release, the events)
    # never fail the call: the change stands, and the sweeper finishes them.

    def _release(self, order):
        """Release the order's stock and note it; the failure, if the sweeper has to retry."""
        try:
            self.product.release_stock(order["id"])
            self.store.release_done(order["id"])
        except Exception as failure:
            log.warning("releasing the stock of order %s failed; the sweeper retries", order["id"],
                        exc_info=True)
            return failure
        return None

    def _deliver(self, order):
        for event in order.get("outbox", []):
            try:
                self.dispatch(event["type"], event["payload"])
                self.store.event_dispatched(order["id"], event["id"])
            except UndeliverableMessage:
                log.warning("no consumer's queue is bound for %s yet; order %s keeps it and the "
                            "sweeper retries", event["type"], order["id"])
                return
            except Exception:
                log.warning("dispatching %s for order %s failed; the sweeper retries",
                            event["type"], order["id"], exc_info=True)
                return

    def _require_customer(self, customer_id):
        try:
            self.customers.get(customer_id)
        except CustomerNotFound:
            raise UnknownCustomer(
                f"Customer {customer_id} does not exist.", {"customer_id": customer_id}
            ) from None


def out_of_time(deadline):
    # The margin leaves time for the confirmation to be saved and its reply
    # to reach the caller.
    return deadline is not None and time.time() > deadline - DEADLINE_MARGIN_SECONDS


def price_lines(items):
    """Order lines from reserved items, at the name and price their reservation took."""
    lines = []
    for item in items:
        unit_price = Decimal(item["unit_price"])
        lines.append({
            "product_id": item["product_id"],
            "name": item["name"],
            "unit_price": unit_price,
            "quantity": item["quantity"],
            "line_total": unit_price * item["quantity"],
        })
    return lines
