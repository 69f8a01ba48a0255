from marshmallow import Schema, fields, validate

from common.order_events import ORDER_STATUSES
from common.schemas import (
    MAX_ORDER_ITEMS,
    MAX_ORDER_QUANTITY,
    ItemsRequestSchema,
    PageSchema,
    Reference,
    StrictInteger,
)


class OrderLineRequestSchema(Schema):
    product_id = Reference(required=True)
    quantity = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_ORDER_QUANTITY))


class OrderRequestSchema(ItemsRequestSchema):
    customer_id = Reference(required=True)
    items = fields.List(
        fields.Nested(OrderLineRequestSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_ORDER_ITEMS),
    )

class OrderQuerySchema(PageSchema):
    customer_id = Reference()
    status = fields.String(validate=validate.OneOf(ORDER_STATUSES))
