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
import logging
from enum import Enum

from eventlet import sleep
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from nameko.events import event_handler

from common.schemas import MAX_ORDER_TOTAL, Money, Version

log = logging.getLogger(__name__)

# A failed handler holds on to its event this long before giving it back:
# RabbitMQ redelivers a requeued message at once, and an event that keeps
# failing would otherwise spin at the broker's speed.
REDELIVERY_PAUSE_SECONDS = 1

ORDERS_SERVICE = "orders"
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
    A message is acknowledged only after the handler succeeds; if it fails
    (say, its database is away) the event goes back to the queue, after a
    pause, to be tried again, so it is never lost. A payload that breaks the
    contract is logged and dropped: retrying it could never succeed.
    """

    def decorate(method):
        @functools.wraps(method)
        def handle(self, payload):
            try:
                order = order_schema.load(payload)
            except ValidationError as exc:
                log.error("dropping a malformed %s event: %s", event_type, exc.normalized_messages())
                return None
            try:
                return method(self, order)
            except Exception:
                sleep(REDELIVERY_PAUSE_SECONDS)
                raise

        return event_handler(ORDERS_SERVICE, event_type, requeue_on_error=True)(handle)

    return decorate
