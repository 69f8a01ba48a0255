"""The inventory stub: records the stock movements that order events imply.

No business decision depends on it (the product service owns stock); it
shows what a consumer of the order events sees and does.
"""
# Imported as a module: `nameko run <module>` would take a HealthCheck in the
# module's namespace for a service of its own.
from common import health
from common.observability import WorkerLogging
from common.order_events import ORDER_CANCELLED, ORDER_CREATED, ORDER_SHIPPED, order_event_handler
from common.rpc import CallDeadline, rpc
from common.schemas import given, load, page_of
from common.storage import Storage
from inventory.schemas import MovementQuerySchema, MovementSchema
from inventory.storage import MovementKind, MovementStore

many_movements = MovementSchema(many=True)
movement_query = MovementQuerySchema()


class InventoryService(health.HealthCheck):
    name = "inventory"
    worker_log = WorkerLogging()

    store = Storage(MovementStore)
    deadline = CallDeadline()

    @order_event_handler(ORDER_CREATED)
    def on_order_created(self, order):
        self.store.record(order["id"], MovementKind.RESERVED, order["items"])

    @order_event_handler(ORDER_CANCELLED)
    def on_order_cancelled(self, order):
        self.store.record(order["id"], MovementKind.RELEASED, order["items"])

    @order_event_handler(ORDER_SHIPPED)
    def on_order_shipped(self, order):
        self.store.record(order["id"], MovementKind.SHIPPED, order["items"])

    @rpc
    def list_movements(self, product_id, page=None, page_size=None):
        query = load(movement_query, given(product_id=product_id, page=page, page_size=page_size))
        found, total = self.store.for_product(query["product_id"], query)
        return page_of(many_movements.dump(found), total, query)
