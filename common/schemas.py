"""Schema building blocks shared by the services: money, ids, paging."""
import re
from decimal import Decimal

from bson import ObjectId
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from common.errors import ValidationFailed

MAX_PAGE_SIZE = 100
# Limits of one order, shared by the orders service and the stock reservation.
MAX_ORDER_ITEMS = 100
MAX_ORDER_QUANTITY = 1000
DEFAULT_PAGE_SIZE = 20
CENT = Decimal("0.01")
MAX_MONEY = Decimal("1000000000")
# The most an order can add up to: 100 lines of 1,000 units at the top price.
MAX_ORDER_TOTAL = MAX_MONEY * MAX_ORDER_QUANTITY * MAX_ORDER_ITEMS

# Plain decimal notation only: no exponents, underscores or non-ASCII digits.
_DECIMAL_TEXT = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_WHOLE_NUMBER_TEXT = re.compile(r"^-?[0-9]{1,9}$")
# Character classes, written so that Python's re and ECMAScript (OpenAPI's
# patterns) read them alike: the OpenAPI document describes text with them.
# Unicode's control characters (C0, DEL, C1) but the tab, line feed and carriage
# return that multi-line text holds: none is text a client means to store (a NUL
# ends a string in C, ESC starts a terminal escape).
CONTROL_CHARACTERS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
# What a single line may not hold besides those: Unicode's line and paragraph separators too.
LINE_BREAKS_AND_TAB = r"\t\n\r\u2028\u2029"
# What str.strip() takes off the ends of a text that is not a control character.
BLANKS = r" \t\n\r\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")
_LINE_BREAK_OR_TAB = re.compile(f"[{LINE_BREAKS_AND_TAB}]")


class Money(fields.Field):
    """Exact money: loads a JSON number or a decimal string, dumps "19.99".

    Never a binary float: a JSON number is read back through its shortest
    repr, which is exact for every amount with two decimals in range.
    """

    default_error_messages = {
        "invalid": "Must be a decimal amount like 19.99 (a number or a string).",
        "precision": "At most 2 decimal places.",
        "range": "Must be between 0 and {maximum}.",
    }

    def __init__(self, maximum=MAX_MONEY, **kwargs):
        """``maximum`` bounds one amount (a price); sums such as order totals pass a larger one."""
        super().__init__(**kwargs)
        self.maximum = maximum

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise self.make_error("invalid")
        text = (repr(value) if isinstance(value, float) else str(value)).strip()
        if not _DECIMAL_TEXT.match(text):
            raise self.make_error("invalid")
        amount = Decimal(text)
        if amount < 0 or amount > self.maximum:
            raise self.make_error("range", maximum=self.maximum)
        if amount != amount.quantize(CENT):
            raise self.make_error("precision")
        # abs(): "-0" is a valid amount, but it is zero, not "-0.00".
        return abs(amount.quantize(CENT))

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return str(Decimal(str(value)).quantize(CENT))

    def string_pattern(self):
        """The strings this field loads, as a regular expression (the OpenAPI document's).

        A maximum that is a power of ten keeps it readable: up to that many
        digits less one, or the maximum itself; "-0" is zero.
        """
        digits = len(str(int(self.maximum))) - 1
        if self.maximum != 10 ** digits:
            raise ValueError(f"no pattern for a maximum of {self.maximum}: only for a power of ten")
        amount = rf"-0+(?:\.0+)?|0*(?:[0-9]{{1,{digits}}}(?:\.[0-9]{{1,2}}0*)?|1{'0' * digits}(?:\.0+)?)"
        return rf"^[{BLANKS}]*(?:{amount})[{BLANKS}]*$"


class ObjectIdString(fields.String):
    """A MongoDB ObjectId given as its 24-character hex string."""

    default_error_messages = {"invalid_id": "Not a valid id."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_object_id(text):
            raise self.make_error("invalid_id")
        return text


class Reference(fields.String):
    """An id naming another service's record: any short string, ids in canonical form.

    ObjectId hex is case-insensitive; lower-casing it keeps one spelling per
    record, so what is stored under it is found again by the same id.
    """

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Length(min=1, max=64), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        return text.lower() if is_object_id(text) else text


class StrictString(fields.String):
    """Text that is stripped, so "  " counts as empty; one line unless ``multiline``.

    Control characters are refused in every string ``load`` takes (see
    ``_invalid_text``); a single line (a name, a city, a phone number) also
    refuses the tab and the line breaks that text may otherwise hold: in one,
    they would only break the line a log, a label or an address prints it on.
    """

    default_error_messages = {"multiline": "Must be one line: no tab or line break."}

    def __init__(self, multiline=False, **kwargs):
        super().__init__(**kwargs)
        self.multiline = multiline

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not self.multiline and _LINE_BREAK_OR_TAB.search(text):
            raise self.make_error("multiline")
        return text

    def pattern(self):
        """The strings this field loads, as a regular expression (the OpenAPI document's).

        Its length and its ``Regexp`` apply to the text stripped; a Regexp's text
        must begin and end with a character that is not blank.
        """
        regexps = [rule for rule in self.validators if isinstance(rule, validate.Regexp)]
        if regexps:
            text = regexps[0].regex.pattern.removeprefix("^").removesuffix("$")
        else:
            (length,) = [rule for rule in self.validators if isinstance(rule, validate.Length)]
            text = _stripped_text(self.multiline, length.min or 0, length.max)
        return f"^[{BLANKS}]*(?:{text})[{BLANKS}]*$"


def _stripped_text(multiline, min_length, max_length):
    """A regular expression of text with no blank at either end, ``min_length`` (0 or 1) to ``max_length`` long."""
    if min_length > 1 or max_length < 2:
        raise ValueError(f"no pattern for a length of {min_length} to {max_length}")
    inner = f"[^{CONTROL_CHARACTERS}]" if multiline else f"[^{CONTROL_CHARACTERS}{LINE_BREAKS_AND_TAB}]"
    end = f"[^{CONTROL_CHARACTERS}{BLANKS}]"
    text = f"{end}(?:{inner}{{0,{max_length - 2}}}{end})?"
    return text if min_length else f"(?:{text})?"


class StrictInteger(fields.Integer):
    """An integer that refuses true/false, 1.5 and "1" (JSON gives real ints)."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


def is_object_id(value):
    return isinstance(value, str) and len(value) == 24 and ObjectId.is_valid(value)


class Version(fields.Integer):
    """A record's version: 1 when created, one more with every change of what the API returns of it."""

    def __init__(self, **kwargs):
        super().__init__(
            validate=validate.Range(min=1),
            metadata={
                "readOnly": True,
                "description": "1 when created, one more with every change of the record (stock taken "
                               "or given back by orders included). The gateway sends it as the `ETag`; "
                               "`If-Match` makes a write apply only at the version read.",
            },
            **kwargs,
        )


class RecordSchema(Schema):
    """Base for documents the services store: refuses their read-only fields on input.

    ``id``, ``created_at``, ``updated_at`` and ``version`` are the service's to
    set. One in a body is an error naming the field, never silently dropped: a
    client must not believe it changed something that did not change. (An
    update accepts an ``id`` naming its own record: see ``load_changes``.)
    """

    READ_ONLY = ("id", "created_at", "updated_at", "version")

    id = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True, format="iso")
    updated_at = fields.DateTime(dump_only=True, format="iso")
    version = Version(dump_only=True)

    @pre_load
    def refuse_read_only(self, data, **kwargs):
        if isinstance(data, dict):
            sent = [name for name in self.READ_ONLY if name in data]
            if sent:
                raise ValidationError({name: ["Read-only: set by the service."] for name in sent})
        return data


class ItemsRequestSchema(Schema):
    """Base of a request with a list of ``items``, each naming a product at most once."""

    @validates_schema
    def each_product_once(self, data, **kwargs):
        ids = [item["product_id"] for item in data.get("items", [])]
        if len(ids) != len(set(ids)):
            raise ValidationError("Each product may appear only once.", "items")


class QueryInteger(fields.Integer):
    """A whole number given as an int (RPC) or as digits (a query string); never 2.5 or true."""

    def _validated(self, value):
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and _WHOLE_NUMBER_TEXT.match(value))
        ):
            raise self.make_error("invalid")
        return super()._validated(value)


class PageSchema(Schema):
    """Paging parameters of every list call; the gateway passes query strings."""

    class Meta:
        unknown = EXCLUDE

    page = QueryInteger(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    page_size = QueryInteger(
        load_default=DEFAULT_PAGE_SIZE, validate=validate.Range(min=1, max=MAX_PAGE_SIZE)
    )


def load(schema, data, **kwargs):
    """Validate ``data`` with ``schema`` or raise ValidationFailed with field errors.

    Every string in ``data``, keys included, must be text: this is the one
    door into every service, from HTTP or RPC, so no field of any schema
    stores a control character or a lone surrogate.
    """
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object.")
    broken = _invalid_text(data)
    if broken:
        raise ValidationFailed(details=broken)
    try:
        return schema.load(data, **kwargs)
    except ValidationError as exc:
        raise ValidationFailed(details=exc.normalized_messages()) from None


def _invalid_text(value):
    """Field errors for strings that are not text to store, or None.

    JSON's \\u escapes can spell a lone surrogate ("\\ud800"): valid JSON, but
    not text, and MongoDB cannot store it. They can spell a NUL or another
    control character too (see ``_CONTROL``).
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return ["Not valid text: it holds a lone UTF-16 surrogate."]
        control = _CONTROL.search(value)
        if control:
            return [f"Not valid text: it holds the control character U+{ord(control.group()):04X}."]
        return None
    if isinstance(value, dict):
        pairs = value.items()
    elif isinstance(value, list):
        pairs = enumerate(value)
    else:
        return None
    errors = {}
    for key, item in pairs:
        error = _invalid_text(key) or _invalid_text(item)
        if error:
            errors[key] = error
    return errors or None


def load_changes(schema, data, partial, record_id):
    """Fields for an update of ``record_id``: all editable ones, or with ``partial`` at least one.

    An ``id`` in ``data`` may name the record itself and is then left out (it
    changes nothing); one naming another record is refused.
    """
    if isinstance(data, dict) and "id" in data:
        if not _same_id(data["id"], str(record_id)):
            raise ValidationFailed(details={"id": [f"Must be {record_id}, the id of the record updated, or left out."]})
        data = {key: value for key, value in data.items() if key != "id"}
    fields = load(schema, data, partial=partial)
    if not fields:
        raise ValidationFailed("Nothing to update: give at least one field.")
    return fields


def _same_id(sent, record_id):
    # ObjectId hex names the same record in either case.
    if not isinstance(sent, str):
        return False
    return sent.lower() == record_id.lower() if is_object_id(sent) else sent == record_id


class PreconditionSchema(Schema):
    """The versions a record must be at for a write to apply (from HTTP ``If-Match``)."""

    # BSON integers have 64 bits.
    if_version = fields.List(StrictInteger(validate=validate.Range(min=1, max=2**63 - 1)), required=True)


_precondition = PreconditionSchema()


def expected_versions(if_version):
    """An RPC method's ``if_version`` (None, a version, or a list of them) as None or a list.

    An empty list is a precondition no version meets: the write is refused.
    """
    if if_version is None:
        return None
    versions = list(if_version) if isinstance(if_version, (list, tuple)) else [if_version]
    return load(_precondition, {"if_version": versions})["if_version"]


def given(**params):
    """The keyword arguments a caller actually passed (RPC methods default them to None)."""
    return {name: value for name, value in params.items() if value is not None}


def page_of(items, total, page):
    return {"items": items, "total": total, "page": page["page"], "page_size": page["page_size"]}
