from marshmallow import Schema, fields, validate

from common.schemas import PageSchema, RecordSchema, StrictString

PHONE = validate.Regexp(r"^\+?[0-9][0-9 ().\-]{2,29}$", error="Not a valid phone number.")


class AddressSchema(Schema):
    street = StrictString(validate=validate.Length(max=200))
    city = StrictString(validate=validate.Length(max=100))
    postal_code = StrictString(validate=validate.Length(max=20))
    country = StrictString(validate=validate.Length(max=100))


class CustomerSchema(RecordSchema):
    name = StrictString(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True, validate=validate.Length(max=254))
    phone = StrictString(load_default=None, allow_none=True, validate=PHONE)
    address = fields.Nested(AddressSchema, load_default=None, allow_none=True)


class CustomerQuerySchema(PageSchema):
    q = fields.String(load_default="", validate=validate.Length(max=100))
