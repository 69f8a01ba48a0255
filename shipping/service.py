"""The shipping stub: opens a shipment per confirmed order, cancels it with the order.

No carrier integration; it shows what a consumer of the order events does.
"""
# Imported as a module: `nameko run <module>` would take a HealthCheck in the
# module's namespace for a service of its own.
from common import health
from common.observability import WorkerLogging
from common.order_events import ORDER_CANCELLED, ORDER_CREATED, order_event_handler
from common.rpc import CallDeadline, rpc
from common.storage import Storage
from shipping.schemas import ShipmentSchema
from shipping.storage import ShipmentStore

shipments = ShipmentSchema()


class ShippingService(health.HealthCheck):
    name = "shipping"
    worker_log = WorkerLogging()

    store = Storage(ShipmentStore)
    deadline = CallDeadline()

    @order_event_handler(ORDER_CREATED)
    def on_order_created(self, order):
        self.store.open(order["id"], order["customer_id"])

    @order_event_handler(ORDER_CANCELLED)
    def on_order_cancelled(self, order):
        self.store.cancel(order["id"], order["customer_id"])

    @rpc
    def get_shipment(self, order_id):
        return shipments.dump(self.store.get(order_id))
