"""The orders service: places and cancels orders, and announces them."""
from nameko.dependency_providers import Config
from nameko.events import BROADCAST, event_handler
from nameko.timer import timer

# Imported as a module: `nameko run <module>` would take a HealthCheck in the
# module's namespace for a service of its own.
from common import health
from common.after_reply import AfterReply
from common.customer_events import CUSTOMER_DELETED, CUSTOMERS_SERVICE
from common.observability import WorkerLogging
from common.order_events import OrderSchema
from common.rpc import CallDeadline, EventDispatcher, RpcClient, rpc
from common.schemas import expected_versions, given, load, page_of
from common.storage import Storage
from orders.known_customers import CustomerCheck, KnownCustomers
from orders.schemas import OrderQuerySchema, OrderRequestSchema
from orders.storage import OrderStore
from orders.workflow import OrderWorkflow

SWEEP_INTERVAL_SECONDS = 5

orders = OrderSchema()
many_orders = OrderSchema(many=True)
order_request = OrderRequestSchema()
order_query = OrderQuerySchema()


class OrdersService(health.HealthCheck):
    name = "orders"
    worker_log = WorkerLogging()

    store = Storage(OrderStore)
    customers = RpcClient("customers")
    known_customers = KnownCustomers()
    product = RpcClient("product", cleanup={"release_stock"})
    # Mandatory: an event that no consumer's queue is bound to yet is refused
    # by the broker and stays in the order's outbox, rather than vanish.
    dispatch = EventDispatcher(mandatory=True)
    config = Config()
    deadline = CallDeadline()
    after_reply = AfterReply()

    @property
    def workflow(self):
        return OrderWorkflow(self.store, CustomerCheck(self.known_customers, self.customers), self.product,
                             self.dispatch, self.after_reply)

    @rpc
    def create_order(self, data, idempotency_key=None):
        """Place an order; sent again with the same ``idempotency_key``, the order placed the first time."""
        return orders.dump(self.workflow.place(load(order_request, data), self.deadline, idempotency_key))

    @rpc
    def get_order(self, order_id):
        return orders.dump(self.store.get(order_id))

    @rpc
    def list_orders(self, customer_id=None, status=None, page=None, page_size=None):
        query = load(
            order_query,
            given(customer_id=customer_id, status=status, page=page, page_size=page_size),
        )
        found, total = self.store.search(query.get("customer_id"), query.get("status"), query)
        return page_of(many_orders.dump(found), total, query)

    @rpc
    def cancel_order(self, order_id, if_version=None):
        """Cancel the order; with ``if_version`` (a version or a list of them) only at one of them."""
        return orders.dump(self.workflow.cancel(order_id, expected_versions(if_version)))

    @rpc
    def ship_order(self, order_id):
        """Mark a confirmed order shipped (shipping calls this); its stock is then settled, not released."""
        return orders.dump(self.workflow.ship(order_id))

    @rpc
    def deliver_order(self, order_id):
        """Mark a shipped order delivered (shipping calls this)."""
        return orders.dump(self.workflow.deliver(order_id))

    # Every instance keeps its own KnownCustomers, so each needs its own copy
    # of the event; a copy missed while disconnected is made good by expiry.
    @event_handler(CUSTOMERS_SERVICE, CUSTOMER_DELETED, handler_type=BROADCAST, reliable_delivery=False)
    def forget_customer(self, payload):
        if isinstance(payload, dict):
            self.known_customers.forget(payload.get("id"))

    @timer(interval=SWEEP_INTERVAL_SECONDS)
    def sweep(self):
        """Reject orders left pending by a crash, retry failed releases and undelivered events."""
        self.workflow.sweep(
            pending_timeout=float(self.config.get("PENDING_ORDER_TIMEOUT", 30)),
            retry_after=float(self.config.get("SWEEP_RETRY_AFTER", 5)),
        )
