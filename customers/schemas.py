from marshmallow import Schema, fields, validate

from common.schemas import PageSchema, RecordSchema, StrictString

# 3 to 30 characters of the stripped text (so its last one is no space: the
# OpenAPI document's pattern, which allows blanks around it, relies on that).
PHONE = validate.Regexp(r"^\+?[0-9][0-9 ().\-]{1,28}[0-9().\-]$", error="Not a valid phone number.")


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
