"""The gateway: the single REST entry point, turning routes into RPC calls."""
import eventlet

from common.dead_letters import DeadLetterDepths
from common.observability import WorkerLogging
from common.order_events import ORDER_EVENT_CONSUMERS
from common.rpc import RequestBudget, RpcClient
from gateway.docs import asset_response, docs_page
from gateway.http import (
    created,
    document_response,
    http,
    idempotency_key,
    if_match,
    json_response,
    no_content,
    query_params,
    read_json,
    read_response,
)
from gateway.openapi import openapi_spec

# The health check must answer fast even when a service hangs.
HEALTH_TIMEOUT_SECONDS = 2.0


class GatewayService:
    name = "gateway"
    worker_log = WorkerLogging()

    # Every call a request makes (and each call those make) shares its one deadline.
    budget = RequestBudget()
    product = RpcClient("product")
    customers = RpcClient("customers")
    orders = RpcClient("orders")
    inventory = RpcClient("inventory")
    shipping = RpcClient("shipping")
    dead_letter_depths = DeadLetterDepths()

    checked_services = ("product", "customers", "orders", "inventory", "shipping")

    # public: open even with API keys set (gateway/auth.py), for health checks and for
    # the API's own description and its page.
    @http("GET", "/health", public=True)
    def health(self, request):
        pool = eventlet.GreenPool(len(self.checked_services) + 1)
        depths = pool.spawn(self._dead_letters)
        states = dict(zip(self.checked_services, pool.imap(self._ping, self.checked_services)))
        healthy = all(state == "ok" for state in states.values())
        # Dead letters do not make the system unhealthy: the events behind them
        # flow; they are reported for someone to look at and replay.
        return json_response(
            {"status": "ok" if healthy else "unavailable", "services": states, "dead_letters": depths.wait()},
            200 if healthy else 503,
        )

    def _dead_letters(self):
        """Each order event consumer's dead-letter depth; None for all if the broker cannot tell in time."""
        try:
            with eventlet.Timeout(HEALTH_TIMEOUT_SECONDS):
                return self.dead_letter_depths(ORDER_EVENT_CONSUMERS)
        except (Exception, eventlet.Timeout):  # whatever the failure, health reports it rather than raising
            return dict.fromkeys(ORDER_EVENT_CONSUMERS)

    def _ping(self, service_name):
        try:
            answer = getattr(self, service_name).ping.with_timeout(HEALTH_TIMEOUT_SECONDS)()
        except Exception:  # whatever the failure, health reports it rather than raising
            answer = None
        return "ok" if answer == "ok" else "unavailable"

    # products

    @http("GET", "/products", query=("page", "page_size", "q", "sort"))
    def list_products(self, request):
        return json_response(self.product.list(**query_params(request)))

    @http("POST", "/products")
    def create_product(self, request):
        return created(self.product.create(read_json(request), idempotency_key(request)), "/products")

    @http("GET", "/products/<product_id>")
    def get_product(self, request, product_id):
        return read_response(request, self.product.get(product_id))

    @http("PUT", "/products/<product_id>")
    def replace_product(self, request, product_id):
        body = read_json(request)
        return document_response(self.product.update(product_id, body, if_version=if_match(request)))

    @http("PATCH", "/products/<product_id>")
    def update_product(self, request, product_id):
        body = read_json(request)
        return document_response(self.product.update(product_id, body, partial=True, if_version=if_match(request)))

    @http("DELETE", "/products/<product_id>")
    def delete_product(self, request, product_id):
        self.product.delete(product_id, if_version=if_match(request))
        return no_content()

    @http("POST", "/products/<product_id>/stock-adjustments")
    def adjust_product_stock(self, request, product_id):
        body = read_json(request)
        return document_response(self.product.adjust_stock(product_id, body, if_version=if_match(request)))

    @http("GET", "/products/<product_id>/movements", query=("page", "page_size"))
    def list_product_movements(self, request, product_id):
        self.product.get(product_id)  # an unknown product is a 404, not an empty list
        return json_response(self.inventory.list_movements(product_id, **query_params(request)))

    # customers

    @http("GET", "/customers", query=("page", "page_size", "q"))
    def list_customers(self, request):
        return json_response(self.customers.list(**query_params(request)))

    @http("POST", "/customers")
    def create_customer(self, request):
        return created(self.customers.create(read_json(request), idempotency_key(request)), "/customers")

    @http("GET", "/customers/<customer_id>")
    def get_customer(self, request, customer_id):
        return read_response(request, self.customers.get(customer_id))

    @http("PUT", "/customers/<customer_id>")
    def replace_customer(self, request, customer_id):
        body = read_json(request)
        return document_response(self.customers.update(customer_id, body, if_version=if_match(request)))

    @http("PATCH", "/customers/<customer_id>")
    def update_customer(self, request, customer_id):
        body = read_json(request)
        return document_response(
            self.customers.update(customer_id, body, partial=True, if_version=if_match(request))
        )

    @http("DELETE", "/customers/<customer_id>")
    def delete_customer(self, request, customer_id):
        self.customers.delete(customer_id, if_version=if_match(request))
        return no_content()

    # orders

    @http("GET", "/orders", query=("customer_id", "status", "page", "page_size"))
    def list_orders(self, request):
        return json_response(self.orders.list_orders(**query_params(request)))

    @http("POST", "/orders")
    def create_order(self, request):
        return created(self.orders.create_order(read_json(request), idempotency_key(request)), "/orders")

    @http("GET", "/orders/<order_id>")
    def get_order(self, request, order_id):
        return read_response(request, self.orders.get_order(order_id))

    @http("DELETE", "/orders/<order_id>")
    def cancel_order(self, request, order_id):
        return document_response(self.orders.cancel_order(order_id, if_version=if_match(request)))

    @http("GET", "/orders/<order_id>/shipment")
    def get_order_shipment(self, request, order_id):
        self.orders.get_order(order_id)  # an unknown order is ORDER_NOT_FOUND
        return json_response(self.shipping.get_shipment(order_id))

    @http("POST", "/orders/<order_id>/shipment/dispatch")
    def dispatch_order_shipment(self, request, order_id):
        return json_response(self.shipping.dispatch(order_id))

    @http("POST", "/orders/<order_id>/shipment/deliver")
    def deliver_order_shipment(self, request, order_id):
        return json_response(self.shipping.deliver(order_id))

    # the API's own description

    @http("GET", "/openapi.json", public=True)
    def openapi(self, request):
        return json_response(openapi_spec())

    @http("GET", "/docs", public=True)
    def docs(self, request):
        return docs_page()

    @http("GET", "/docs/<asset>", public=True)
    def docs_asset(self, request, asset):
        return asset_response(asset)
