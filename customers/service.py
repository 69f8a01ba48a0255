"""The customers service: who buys."""
# Imported as a module: `nameko run <module>` would take a HealthCheck in the
# module's namespace for a service of its own.
from common import health
from common import idempotency
from common.after_reply import AfterReply
from common.customer_events import CUSTOMER_DELETED
from common.observability import WorkerLogging
from common.rpc import CallDeadline, EventDispatcher, rpc
from common.schemas import expected_versions, given, load, load_changes, page_of
from common.storage import Storage
from customers.schemas import CustomerQuerySchema, CustomerSchema
from customers.storage import CustomerStore

customers = CustomerSchema()
many_customers = CustomerSchema(many=True)
customer_query = CustomerQuerySchema()


class CustomersService(health.HealthCheck):
    name = "customers"
    worker_log = WorkerLogging()

    store = Storage(CustomerStore)
    deadline = CallDeadline()
    dispatch = EventDispatcher()
    after_reply = AfterReply()

    @rpc
    def list(self, page=None, page_size=None, q=None):
        query = load(customer_query, given(page=page, page_size=page_size, q=q))
        found, total = self.store.search(query["q"], query)
        return page_of(many_customers.dump(found), total, query)

    @rpc
    def get(self, customer_id):
        return customers.dump(self.store.get(customer_id))

    @rpc
    def create(self, data, idempotency_key=None):
        """Create; sent again with the same ``idempotency_key``, the record created the first time."""
        fields = load(customers, data)
        return customers.dump(self.store.create(fields, idempotency.claim(idempotency_key, fields)))

    # ``if_version`` (a version or a list of them): the write applies only while the
    # customer is at one of them, else PreconditionFailed and nothing changes.

    @rpc
    def update(self, customer_id, data, partial=False, if_version=None):
        """Replace the editable fields, or with ``partial`` change only those given."""
        fields = load_changes(customers, data, partial, customer_id)
        return customers.dump(self.store.update(customer_id, fields, expected_versions(if_version)))

    @rpc
    def delete(self, customer_id, if_version=None):
        """Delete the customer; services that remember customers (orders) are told after the reply."""
        deleted_id = self.store.delete(customer_id, expected_versions(if_version))
        self.after_reply(self.dispatch, CUSTOMER_DELETED, {"id": deleted_id})
