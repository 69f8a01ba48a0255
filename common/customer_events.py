"""The customer events: a contract for any service that consumes them.

The customers service dispatches ``customer_deleted`` once a customer is
deleted, with payload ``{"id": "<customer id>"}``. Delivery is at least
once, and best effort: the deletion stands even if the event cannot be sent.
"""
CUSTOMERS_SERVICE = "customers"
CUSTOMER_DELETED = "customer_deleted"
