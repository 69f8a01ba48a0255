"""The error hierarchy every service raises and the gateway maps to HTTP.

Each class carries its HTTP status and a stable error code. Every subclass is
registered with nameko's exception registry, so an error raised inside a
service reaches the RPC caller as the same class (not a generic RemoteError),
and the gateway maps it once, by ``isinstance``.
"""
import json

from nameko.exceptions import get_module_path, registry


class ServiceError(Exception):
    """Base of all errors that are part of the API contract."""

    status = 500
    code = "INTERNAL_ERROR"
    default_message = "Internal server error."

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        registry[get_module_path(cls)] = cls

    def __init__(self, message=None, details=None):
        self.message = message or self.default_message
        # nameko stringifies every non-container exception argument on the
        # wire; carrying details as JSON keeps numbers and nulls intact.
        if isinstance(details, str):
            details = json.loads(details)
        self.details = details or {}
        super().__init__(self.message, json.dumps(self.details))

    def __str__(self):
        return self.message

    def to_dict(self):
        return {"error": self.code, "message": self.message, "details": self.details}


registry[get_module_path(ServiceError)] = ServiceError


class BadRequest(ServiceError):
    status = 400
    code = "BAD_REQUEST"
    default_message = "The request is malformed."


class ValidationFailed(BadRequest):
    code = "VALIDATION_FAILED"
    default_message = "The request has invalid fields."


class MalformedEvent(ValidationFailed):
    """An event whose payload breaks its contract: no retry could succeed (common/dead_letters.py)."""

    code = "MALFORMED_EVENT"
    default_message = "The event's payload does not match its schema."


class NotFound(ServiceError):
    status = 404
    code = "NOT_FOUND"
    default_message = "Not found."
    resource = "Record"

    @classmethod
    def for_id(cls, record_id):
        return cls(f"{cls.resource} {record_id} does not exist.", {"id": str(record_id)})


class RouteNotFound(NotFound):
    code = "ROUTE_NOT_FOUND"
    default_message = "No such route."


class ProductNotFound(NotFound):
    code = "PRODUCT_NOT_FOUND"
    default_message = "Product not found."
    resource = "Product"


class CustomerNotFound(NotFound):
    code = "CUSTOMER_NOT_FOUND"
    default_message = "Customer not found."
    resource = "Customer"


class OrderNotFound(NotFound):
    code = "ORDER_NOT_FOUND"
    default_message = "Order not found."
    resource = "Order"


class ShipmentNotFound(NotFound):
    code = "SHIPMENT_NOT_FOUND"
    default_message = "Shipment not found."
    resource = "Shipment"


class Unauthorized(ServiceError):
    """A request the gateway's API keys guard came without one (gateway/auth.py)."""

    status = 401
    code = "UNAUTHORIZED"
    default_message = "This request needs an API key: send Authorization: Bearer <key>."


class InvalidApiKey(Unauthorized):
    code = "INVALID_API_KEY"
    default_message = "The API key sent is not one the gateway takes."


class MethodNotAllowed(ServiceError):
    status = 405
    code = "METHOD_NOT_ALLOWED"
    default_message = "Method not allowed on this route."


class Conflict(ServiceError):
    status = 409
    code = "CONFLICT"
    default_message = "The request conflicts with the current state."


class EmailAlreadyExists(Conflict):
    code = "EMAIL_ALREADY_EXISTS"
    default_message = "A customer with this email already exists."


class InsufficientStock(Conflict):
    code = "INSUFFICIENT_STOCK"
    default_message = "Not enough stock."


class StockLimitExceeded(Conflict):
    code = "STOCK_LIMIT_EXCEEDED"
    default_message = "The stock would exceed its maximum."


class InvalidOrderTransition(Conflict):
    code = "INVALID_ORDER_TRANSITION"
    default_message = "The order cannot change to that status."


class OrderAlreadyShipped(InvalidOrderTransition):
    code = "ORDER_ALREADY_SHIPPED"
    default_message = "The order has already shipped."


class OrderCancelled(InvalidOrderTransition):
    code = "ORDER_CANCELLED"
    default_message = "The order was cancelled."


class Unprocessable(ServiceError):
    status = 422
    code = "UNPROCESSABLE"
    default_message = "The request refers to something that does not exist."


class UnknownCustomer(Unprocessable):
    code = "UNKNOWN_CUSTOMER"
    default_message = "The customer does not exist."


class UnknownProduct(Unprocessable):
    code = "UNKNOWN_PRODUCT"
    default_message = "A product does not exist."

    @classmethod
    def for_ids(cls, product_ids):
        return cls(f"Unknown products: {', '.join(product_ids)}.", {"product_ids": list(product_ids)})


class PreconditionFailed(ServiceError):
    """The record is not at a version the caller expected (HTTP If-Match); nothing was changed."""

    status = 412
    code = "PRECONDITION_FAILED"
    default_message = "The record is not at the version expected."

    @classmethod
    def for_version(cls, resource, record_id, version, expected):
        return cls(
            f"{resource} {record_id} is at version {version}, not one the request expected.",
            {"id": str(record_id), "version": version, "expected": list(expected)},
        )


class ServiceUnavailable(ServiceError):
    status = 503
    code = "SERVICE_UNAVAILABLE"
    default_message = "A service is unavailable; try again later."


class OutcomeUnknown(ServiceError):
    """A write was sent but not acknowledged in time: it may or may not have taken effect."""

    status = 504
    code = "OUTCOME_UNKNOWN"
    default_message = "The request may have taken effect; send it again with the same Idempotency-Key."


class PayloadTooLarge(ServiceError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The request body is too large."


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "The body must be sent as application/json."


# Refusals of the HTTP server itself, before any route runs (gateway/http.py).


class RequestTimeout(ServiceError):
    status = 408
    code = "REQUEST_TIMEOUT"
    default_message = "The request did not arrive in time."


class UriTooLong(ServiceError):
    status = 414
    code = "URI_TOO_LONG"
    default_message = "The request line is too long."


class HeaderFieldsTooLarge(ServiceError):
    status = 431
    code = "HEADER_FIELDS_TOO_LARGE"
    default_message = "The request headers are too large."


class NotImplementedByServer(ServiceError):
    status = 501
    code = "NOT_IMPLEMENTED"
    default_message = "The server does not support this feature of HTTP."


class HttpVersionNotSupported(ServiceError):
    status = 505
    code = "HTTP_VERSION_NOT_SUPPORTED"
    default_message = "The server speaks HTTP/1.0 and HTTP/1.1."


class ReservationClosed(Conflict):
    code = "RESERVATION_CLOSED"
    default_message = "The stock reservation for this order was already released."


class ReservationInProgress(ServiceUnavailable):
    code = "RESERVATION_IN_PROGRESS"
    default_message = "Stock for this order is being reserved by another call; try again later."


class IdempotencyKeyReused(Unprocessable):
    code = "IDEMPOTENCY_KEY_REUSED"
    default_message = "This Idempotency-Key was already used for a different request."
