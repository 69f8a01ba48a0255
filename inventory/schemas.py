from marshmallow import Schema, fields, validate

from common.schemas import PageSchema


class MovementSchema(Schema):
    product_id = fields.String()
    order_id = fields.String()
    quantity = fields.Integer()
    kind = fields.String(validate=validate.OneOf(("reserved", "released")))
    at = fields.DateTime(format="iso")


class MovementQuerySchema(PageSchema):
    product_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
