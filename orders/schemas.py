from marshmallow import Schema, fields, validate

from common.order_events import ORDER_STATUSES, OrderSchema  # noqa: F401 (the API shape of an order)
from common.schemas import ItemsRequestSchema, MAX_ORDER_ITEMS, MAX_ORDER_QUANTITY, PageSchema, StrictInteger

ID = validate.Length(min=1, max=64)


class OrderLineRequestSchema(Schema):
    product_id = fields.String(required=True, validate=ID)
    quantity = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_ORDER_QUANTITY))


class OrderRequestSchema(ItemsRequestSchema):
    customer_id = fields.String(required=True, validate=ID)
    items = fields.List(
        fields.Nested(OrderLineRequestSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_ORDER_ITEMS),
    )

class OrderQuerySchema(PageSchema):
    customer_id = fields.String(validate=ID)
    status = fields.String(validate=validate.OneOf(ORDER_STATUSES))
