"""The product service: the catalogue and the stock it owns."""
import logging

# Imported as a module: `nameko run <module>` would take a HealthCheck in the
# module's namespace for a service of its own.
from common import health
from common import idempotency
from common.observability import WorkerLogging
from common.order_events import ORDER_SHIPPED, order_event_handler
from common.rpc import CallDeadline, rpc
from common.schemas import expected_versions, given, load, load_changes, page_of
from common.storage import Storage
from product import reservation
from product.prices import Prices
from product.schemas import (
    ProductChangesSchema,
    ProductIdsSchema,
    ProductQuerySchema,
    ProductSchema,
    ReservationRequestSchema,
    ReservationSchema,
    StockAdjustmentSchema,
)
from product.storage import ProductStore

log = logging.getLogger(__name__)

products = ProductSchema()
many_products = ProductSchema(many=True)
product_changes = ProductChangesSchema()
reservations = ReservationSchema()
product_query = ProductQuerySchema()
product_ids = ProductIdsSchema()
stock_adjustment = StockAdjustmentSchema()
reservation_request = ReservationRequestSchema()


class ProductService(health.HealthCheck):
    name = "product"
    worker_log = WorkerLogging()

    store = Storage(ProductStore)
    deadline = CallDeadline()
    price_book = Prices()

    @rpc
    def list(self, page=None, page_size=None, q=None, sort=None):
        query = load(product_query, given(page=page, page_size=page_size, q=q, sort=sort))
        found, total = self.store.search(query["q"], query["sort"], query)
        return page_of(many_products.dump(found), total, query)

    @rpc
    def get(self, product_id):
        return products.dump(self.store.get(product_id))

    @rpc
    def get_many(self, ids):
        request = load(product_ids, {"ids": ids})
        return many_products.dump(self.store.get_many(request["ids"]))

    @rpc
    def create(self, data, idempotency_key=None):
        """Create; sent again with the same ``idempotency_key``, the record created the first time."""
        fields = load(products, data)
        return products.dump(self.store.create(fields, idempotency.claim(idempotency_key, fields)))

    # ``if_version`` (a version or a list of them): the write applies only while the
    # product is at one of them, else PreconditionFailed and nothing changes.

    @rpc
    def update(self, product_id, data, partial=False, if_version=None):
        """Replace the editable fields (an omitted stock stays), or with ``partial`` change only those given."""
        fields = load_changes(product_changes, data, partial, product_id)
        return products.dump(self.store.update(product_id, fields, expected_versions(if_version)))

    @rpc
    def adjust_stock(self, product_id, data, if_version=None):
        """``{"change": n}`` adds n units (n < 0 removes them); InsufficientStock below zero."""
        request = load(stock_adjustment, data)
        return products.dump(self.store.adjust_stock(product_id, request["change"], expected_versions(if_version)))

    @rpc
    def delete(self, product_id, if_version=None):
        self.store.delete(product_id, expected_versions(if_version))

    @rpc
    def reserve_stock(self, order_id, items):
        """Take stock for every item of the order, or none (InsufficientStock / UnknownProduct)."""
        request = load(reservation_request, {"order_id": order_id, "items": items})
        return reservations.dump(
            reservation.reserve_stock(self.store, request["order_id"], request["items"], self.price_book)
        )

    @rpc
    def release_stock(self, order_id):
        """Give back what the order holds; idempotent, and no later reserve for it takes stock."""
        return reservations.dump(reservation.release_stock(self.store, str(order_id)))

    @order_event_handler(ORDER_SHIPPED)
    def on_order_shipped(self, order):
        """The order's units left with it: settle its reservation, so no marker stays behind."""
        if not reservation.settle_reservation(self.store, order["id"], order["items"]):
            log.warning("order %s shipped without a reservation to settle", order["id"])
