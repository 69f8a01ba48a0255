from marshmallow import Schema, fields, validate

from common.schemas import PageSchema, Reference


class MovementSchema(Schema):
    product_id = fields.String()
    order_id = fields.String()
    quantity = fields.Integer()
    kind = fields.String(validate=validate.OneOf(("reserved", "released")))
    at = fields.DateTime(format="iso")


class MovementQuerySchema(PageSchema):
    product_id = Reference(required=True)
