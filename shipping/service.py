"""The shipping stub: a shipment per confirmed order, dispatched and delivered on request.

No carrier integration; it shows what a consumer of the order events does,
and how a service that acts on an order leaves the order's status to the
orders service: it asks orders to ship (which refuses if the order was
cancelled meanwhile) and only then records the shipment as shipped. The
order events bring the shipment up to date too, so it catches up after a
crash between the two.
"""
import logging

from nameko.dependency_providers import Config
from nameko.timer import timer

# Imported as a module: `nameko run <module>` would take a HealthCheck in the
# module's namespace for a service of its own.
from common import health
from common.observability import WorkerLogging
from common.order_events import (
    ORDER_CANCELLED,
    ORDER_CREATED,
    ORDER_DELIVERED,
    ORDER_SHIPPED,
    order_event_handler,
)
from common.rpc import CallDeadline, RpcClient, rpc
from common.storage import Storage
from shipping.schemas import ShipmentSchema
from shipping.storage import ShipmentStatus, ShipmentStore

log = logging.getLogger(__name__)

AUTO_DISPATCH_CHECK_SECONDS = 1

shipments = ShipmentSchema()


class ShippingService(health.HealthCheck):
    name = "shipping"
    worker_log = WorkerLogging()

    store = Storage(ShipmentStore)
    orders = RpcClient("orders")
    config = Config()
    deadline = CallDeadline()

    @rpc
    def get_shipment(self, order_id):
        return shipments.dump(self.store.get(order_id))

    @rpc
    def dispatch(self, order_id):
        """Ship the order: ORDER_CANCELLED if it was cancelled; repeating it changes nothing."""
        return self._advance(self.orders.ship_order(order_id), ShipmentStatus.SHIPPED)

    @rpc
    def deliver(self, order_id):
        """Mark the order's shipment delivered; the order must have shipped."""
        return self._advance(self.orders.deliver_order(order_id), ShipmentStatus.DELIVERED)

    def _advance(self, order, status):
        self.store.advance(order["id"], order["customer_id"], status)
        return shipments.dump(self.store.get(order["id"]))

    @order_event_handler(ORDER_CREATED)
    def on_order_created(self, order):
        self.store.open(order["id"], order["customer_id"])

    @order_event_handler(ORDER_CANCELLED)
    def on_order_cancelled(self, order):
        self.store.advance(order["id"], order["customer_id"], ShipmentStatus.CANCELLED)

    @order_event_handler(ORDER_SHIPPED)
    def on_order_shipped(self, order):
        self.store.advance(order["id"], order["customer_id"], ShipmentStatus.SHIPPED)

    @order_event_handler(ORDER_DELIVERED)
    def on_order_delivered(self, order):
        self.store.advance(order["id"], order["customer_id"], ShipmentStatus.DELIVERED)

    @timer(interval=AUTO_DISPATCH_CHECK_SECONDS)
    def auto_dispatch(self):
        """For demos: with SHIPPING_AUTO_DISPATCH_SECONDS > 0, ship and then deliver what waited that long."""
        seconds = float(self.config.get("SHIPPING_AUTO_DISPATCH_SECONDS") or 0)
        if seconds <= 0:
            return
        # Deliveries first, so a shipment shipped in this round waits its own turn.
        rounds = ((ShipmentStatus.SHIPPED, self.orders.deliver_order, ShipmentStatus.DELIVERED),
                  (ShipmentStatus.PENDING, self.orders.ship_order, ShipmentStatus.SHIPPED))
        for waiting, move, reached in rounds:
            for order_id in self.store.waiting(waiting, seconds):
                try:
                    self._advance(move(order_id), reached)
                except Exception:  # e.g. cancelled meanwhile, or orders away: the next round sees it again
                    log.warning("automatic dispatch of order %s failed", order_id, exc_info=True)
