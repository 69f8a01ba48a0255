"""The order events: a contract for any service that consumes them.

The orders service dispatches, through nameko's EventDispatcher on RabbitMQ:

- ``order_created`` when an order is confirmed (its stock is reserved);
- ``order_cancelled`` when a confirmed order is cancelled (a pending order
  was never announced, so its cancellation is not either);
- ``order_shipped`` when a confirmed order leaves the warehouse (its stock
  is gone for good: the product service settles the reservation);
- ``order_delivered`` when a shipped order reaches its customer.

The payload of each is the whole order, as ``OrderSchema`` dumps it (the same
document ``GET /orders/{id}`` returns). Delivery is at least once: a consumer
must give the same event delivered twice the effect of once, for example by
keying what it records on the order id and the event type. Events of one
order may also arrive out of order (each consuming queue is its own, and a
failed handler's event is retried later): a consumer must not let a late
``order_shipped`` undo an ``order_delivered``.

A consumer in a few lines::

    from nameko.events import event_handler
    from common.order_events import ORDER_CREATED, ORDERS_SERVICE, OrderSchema

    class Mailer:
        name = "mailer"

        @event_handler(ORDERS_SERVICE, ORDER_CREATED)
        def on_order_created(self, payload):
            order = OrderSchema().load(payload)
            ...
"""
import functools
from enum import Enum

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from common.dead_letters import DeadLetteringEventHandler
from common.errors import MalformedEvent
from common.schemas import MAX_ORDER_TOTAL, Money, Version

ORDERS_SERVICE = "orders"
# The services that consume order events, each with a dead-letter queue of
# its own (the gateway's GET /health reports their depths).
ORDER_EVENT_CONSUMERS = ("inventory", "product", "shipping")
ORDER_CREATED = "order_created"
ORDER_CANCELLED = "order_cancelled"
ORDER_SHIPPED = "order_shipped"
ORDER_DELIVERED = "order_delivered"


class OrderStatus(str, Enum):
    """An order's status; orders/lifecycle.py decides which changes are allowed."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    SHIPPED = "shipped"
    DELIVERED = "delivered"


ORDER_STATUSES = tuple(status.value for status in OrderStatus)


class OrderItemSchema(Schema):
    """An order line; ``name``, ``unit_price`` and ``line_total`` are set once the order is
    confirmed (a pending or rejected order holds only what was asked). Events carry confirmed orders."""

    product_id = fields.String(required=True)
    name = fields.String()
    unit_price = Money()
    quantity = fields.Integer(required=True)
    line_total = Money(maximum=MAX_ORDER_TOTAL)


class OrderSchema(Schema):
    """An order as the API returns it and as every order event carries it."""

    class Meta:
        # Consumers keep working when the contract gains fields.
        unknown = EXCLUDE

    id = fields.String(required=True)
    customer_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ORDER_STATUSES))
    items = fields.List(fields.Nested(OrderItemSchema), required=True)
    total = Money(maximum=MAX_ORDER_TOTAL, metadata={
        "description": "Set once the order is confirmed, like its lines' prices."})
    created_at = fields.DateTime(required=True, format="iso")
    updated_at = fields.DateTime(required=True, format="iso")
    # Not required: events written to an outbox before versions existed lack it.
    version = Version()


# Built once: building a schema copies its fields, which costs more than a load.
order_schema = OrderSchema()


def order_event_handler(event_type):
    """``@event_handler`` for an order event, as this system's consumers use it.

    The handler gets the order loaded with ``OrderSchema``. Each consuming
    service has its own durable queue (nameko's SERVICE_POOL), so every
    service gets every event and instances of one service share the work.
    A message is acknowledged only after the handler succeeds; one that fails
    is tried again, a bounded number of times unless the failure is a service
    being unavailable, and then moved to the service's dead-letter queue (see
    common/dead_letters.py), so it is never lost and never blocks the events
    behind it. A payload that breaks the contract raises MalformedEvent: it is
    dead-lettered at once, since retrying it could never succeed.
    """

    def decorate(method):
        @functools.wraps(method)
        def handle(self, payload):
            try:
                order = order_schema.load(payload)
            except ValidationError as exc:
                messages = exc.normalized_messages()
                raise MalformedEvent(f"A malformed {event_type} event: {messages}", messages) from None
            return method(self, order)

        return DeadLetteringEventHandler.decorator(ORDERS_SERVICE, event_type)(handle)

    return decorate
