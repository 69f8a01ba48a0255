from marshmallow import Schema, fields, validate

from common.schemas import (
    ItemsRequestSchema,
    MAX_ORDER_ITEMS,
    MAX_ORDER_QUANTITY,
    ObjectIdString,
    Money,
    PageSchema,
    RecordSchema,
    StrictInteger,
    StrictString,
)

MAX_STOCK = 1_000_000_000
SORT_FIELDS = ("name", "price", "stock", "created_at")
SORT_KEYS = tuple(SORT_FIELDS) + tuple(f"-{name}" for name in SORT_FIELDS)


class ProductSchema(RecordSchema):
    name = StrictString(required=True, validate=validate.Length(min=1, max=200))
    price = Money(required=True)
    description = StrictString(multiline=True, load_default="", validate=validate.Length(max=2000))
    stock = StrictInteger(load_default=0, validate=validate.Range(min=0, max=MAX_STOCK))


class ProductChangesSchema(ProductSchema):
    """What PUT and PATCH change: every field, the stock an absolute count.

    An omitted stock is left as it is, also by PUT: defaulting it to 0 would
    empty the shelf of a client that only meant to rename the product. A stock
    set from a count read earlier would undo what orders took since, unless
    the write is guarded by the version read (If-Match), which every take and
    return of stock moves.
    """

    stock = StrictInteger(validate=validate.Range(min=0, max=MAX_STOCK), metadata={
        "description": "The new count of units, set as given; left out, the stock stays as it is."})


class StockAdjustmentSchema(Schema):
    change = StrictInteger(
        required=True,
        validate=[
            validate.Range(min=-MAX_STOCK, max=MAX_STOCK),
            validate.NoneOf([0], error="A change of 0 changes nothing."),
        ],
    )


class ProductQuerySchema(PageSchema):
    q = fields.String(load_default="", validate=validate.Length(max=100))
    sort = fields.String(load_default="-created_at", validate=validate.OneOf(SORT_KEYS))


class ProductIdsSchema(Schema):
    # Ids that cannot exist are simply not found, like unknown ones.
    ids = fields.List(fields.String(), required=True, validate=validate.Length(max=1000))


class ReservedItemSchema(Schema):
    # An id that cannot exist is an unknown product (UnknownProduct), like any other.
    product_id = fields.String(required=True)
    quantity = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_ORDER_QUANTITY))


class ReservationRequestSchema(ItemsRequestSchema):
    order_id = ObjectIdString(required=True)
    items = fields.List(
        fields.Nested(ReservedItemSchema), required=True, validate=validate.Length(min=1, max=MAX_ORDER_ITEMS)
    )


class PricedItemSchema(ReservedItemSchema):
    """A reserved item with the product's name and price as the reservation took it."""

    name = fields.String()
    unit_price = Money()


class ReservationSchema(Schema):
    order_id = fields.String()
    state = fields.String()
    items = fields.List(fields.Nested(PricedItemSchema))
