from marshmallow import Schema, fields, validate

from common.schemas import PageSchema, Reference
from inventory.storage import MovementKind


class MovementSchema(Schema):
    product_id = fields.String()
    order_id = fields.String()
    quantity = fields.Integer()
    kind = fields.String(validate=validate.OneOf([kind.value for kind in MovementKind]))
    at = fields.DateTime(format="iso")


class MovementQuerySchema(PageSchema):
    product_id = Reference(required=True)
