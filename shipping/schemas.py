from marshmallow import Schema, fields


class ShipmentSchema(Schema):
    order_id = fields.String()
    customer_id = fields.String()
    status = fields.String()
    tracking_number = fields.String()
    shipped_at = fields.DateTime(format="iso", metadata={"description": "Once shipped."})
    delivered_at = fields.DateTime(format="iso", metadata={"description": "Once delivered."})
    created_at = fields.DateTime(format="iso")
    updated_at = fields.DateTime(format="iso")
