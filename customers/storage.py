"""The customers service's MongoDB queries, behind plain methods."""
from pymongo.errors import DuplicateKeyError

from common.errors import CustomerNotFound, EmailAlreadyExists
from common.storage import RecordStore, matching_text

# Emails are unique ignoring case: the unique index is on this lower-cased
# copy, while the address is returned as the customer typed it.
EMAIL_KEY = "email_key"


class CustomerStore(RecordStore):
    collection = "customers"
    not_found = CustomerNotFound
    hidden = (EMAIL_KEY,)

    def create_indexes(self):
        self.records.create_index(EMAIL_KEY, unique=True)
        self.create_sort_indexes(["created_at"])

    def to_stored(self, fields):
        if "email" in fields:
            return {**fields, EMAIL_KEY: fields["email"].lower()}
        return fields

    def create(self, fields, claim=None):
        try:
            return super().create(fields, claim)
        except DuplicateKeyError:
            raise _email_taken(fields["email"]) from None

    def update(self, customer_id, fields, if_version=None):
        try:
            return super().update(customer_id, fields, if_version)
        except DuplicateKeyError:
            raise _email_taken(fields["email"]) from None

    def search(self, text, page):
        return self.page(matching_text(text, ("name", "email")), "-created_at", page)


def _email_taken(email):
    return EmailAlreadyExists(f"A customer with email {email} already exists.", {"email": email})
