"""The product service's MongoDB queries, behind plain methods."""
import datetime
import uuid

from bson import Decimal128
from pymongo.errors import DuplicateKeyError

from common.errors import InsufficientStock, ProductNotFound, StockLimitExceeded
from common.storage import RecordStore, from_document, matching_text, now, object_id_or_none, version_guard
from product.reservation import ReservationState
from product.schemas import MAX_STOCK, SORT_FIELDS


class ProductStore(RecordStore):
    collection = "products"
    not_found = ProductNotFound
    # Reservation bookkeeping lives on the product document (it must change in
    # the same atomic update as the stock); the API never returns it.
    hidden = ("reservations",)

    @property
    def reservations(self):
        return self.db.reservations

    def create_indexes(self):
        self.create_sort_indexes(SORT_FIELDS)

    def to_stored(self, fields):
        if "price" in fields:
            return {**fields, "price": Decimal128(fields["price"])}
        return fields

    def get_many(self, product_ids):
        """The products among ``product_ids`` that exist, in one query."""
        return [from_document(d) for d in self.records.find({"_id": {"$in": _object_ids(product_ids)}},
                                                            self.projection)]

    def prices(self, product_ids):
        """``{product_id: {"name", "unit_price"}}`` for those of ``product_ids`` that exist, in one query."""
        found = self.records.find({"_id": {"$in": _object_ids(product_ids)}}, {"name": 1, "price": 1})
        return {str(d["_id"]): {"name": d["name"], "unit_price": d["price"].to_decimal()} for d in found}

    def adjust_stock(self, product_id, change, if_version=None):
        """Add ``change`` (negative: remove) to the stock, never below zero; the product after."""
        guard = {"stock": {"$gte": -change}} if change < 0 else {"stock": {"$lte": MAX_STOCK - change}}
        adjusted = self.records.update_one(
            {"_id": self._oid(product_id), **guard, **version_guard(if_version)},
            {"$inc": {"stock": change, "version": 1}, "$set": {"updated_at": now()}},
        )
        if not adjusted.modified_count:
            # ProductNotFound or PreconditionFailed first; else the stock was the reason.
            available = self.get(product_id, if_version)["stock"]
            if change > 0:
                raise StockLimitExceeded(
                    f"Adding {change} units would exceed the maximum stock of {MAX_STOCK}.",
                    {"product_id": str(product_id), "change": change, "available": available, "maximum": MAX_STOCK},
                )
            raise InsufficientStock(
                f"Cannot remove {-change} units: {available} in stock.",
                {"products": [{"product_id": str(product_id), "requested": -change, "available": available}]},
            )
        return self.get(product_id)

    def search(self, text, sort, page):
        return self.page(matching_text(text, ("name", "description")), sort, page)

    # The atomic steps of stock reservation; the rules are in product/reservation.py.

    def take_stock(self, product_id, order_id, quantity, name, unit_price):
        """Take ``quantity`` units for the order if the product is still ``name`` at ``unit_price``.

        True if the order now holds them (also if it already did).
        """
        oid = object_id_or_none(product_id)
        held = f"reservations.{order_id}"
        taken = self.records.update_one(
            {"_id": oid, "stock": {"$gte": quantity}, held: {"$exists": False},
             "name": name, "price": Decimal128(unit_price)},
            {"$inc": {"stock": -quantity, "version": 1}, "$set": {held: quantity}},
        )
        if taken.modified_count:
            return True
        return self.records.count_documents({"_id": oid, held: {"$exists": True}}, limit=1) == 1

    def return_stock(self, product_id, order_id, quantity):
        """Give back what the order holds of the product; a no-op if it holds nothing."""
        held = f"reservations.{order_id}"
        self.records.update_one(
            {"_id": object_id_or_none(product_id), held: quantity},
            {"$inc": {"stock": quantity, "version": 1}, "$unset": {held: ""}},
        )

    def forget_holding(self, product_id, order_id):
        """Remove the order's marker from the product, keeping the units it took off the stock."""
        held = f"reservations.{order_id}"
        self.records.update_one({"_id": object_id_or_none(product_id), held: {"$exists": True}},
                                {"$unset": {held: ""}})

    def product_state(self, product_id):
        """``{"stock", "name", "unit_price"}`` of the product, or None when it does not exist."""
        document = self.records.find_one({"_id": object_id_or_none(product_id)}, {"stock": 1, "name": 1, "price": 1})
        if document is None:
            return None
        return {"stock": document["stock"], "name": document["name"], "unit_price": document["price"].to_decimal()}

    def available_stock(self, product_id):
        """Units on hand, or None when the product does not exist."""
        document = self.records.find_one({"_id": object_id_or_none(product_id)}, {"stock": 1})
        return None if document is None else document["stock"]

    def open_reservation(self, order_id, items, lease_seconds):
        """The order's reservation record; with a ``lease`` if this call may work on it.

        A new record is created reserving, leased to this call; an existing
        one still reserving is leased to this call only once its lease ran
        out. ``lease`` is None when another call holds it.
        """
        moment = now()
        lease = {"id": uuid.uuid4().hex, "until": moment + datetime.timedelta(seconds=lease_seconds)}
        record = {"_id": order_id, "items": [_stored_item(item) for item in items],
                  "state": ReservationState.RESERVING.value, "lease": lease, "created_at": moment, "updated_at": moment}
        try:
            self.reservations.insert_one(record)
            return {**_reservation(record), "lease": lease}
        except DuplicateKeyError:
            pass
        claimed = self.reservations.update_one(
            {"_id": order_id, "state": ReservationState.RESERVING.value, "lease.until": {"$lt": moment}},
            {"$set": {"lease": lease, "updated_at": moment}},
        )
        return {**self.get_reservation(order_id), "lease": lease if claimed.modified_count else None}

    def close_reservation(self, order_id, lease, state, shortfall=None):
        """Move a reserving reservation this call holds the lease of to ``state``.

        False if it was no longer reserving, or another call took the lease over.
        """
        changes = {"state": state.value, "updated_at": now()}
        if shortfall is not None:
            changes["shortfall"] = shortfall
        result = self.reservations.update_one(
            {"_id": order_id, "state": ReservationState.RESERVING.value, "lease.id": lease["id"]}, {"$set": changes}
        )
        return result.modified_count == 1

    def reprice_reservation(self, order_id, lease, items):
        """Replace the items' prices of a reserving reservation this call holds the lease of; False if it lost it."""
        result = self.reservations.update_one(
            {"_id": order_id, "state": ReservationState.RESERVING.value, "lease.id": lease["id"]},
            {"$set": {"items": [_stored_item(item) for item in items], "updated_at": now()}},
        )
        return result.matched_count == 1

    def settle_reservation(self, order_id):
        """Mark a reserved (or already settled) reservation settled; False if it is neither."""
        settled = self.reservations.update_one(
            {"_id": order_id, "state": {"$in": [ReservationState.RESERVED.value, ReservationState.SETTLED.value]}},
            {"$set": {"state": ReservationState.SETTLED.value, "updated_at": now()}},
        )
        return settled.matched_count == 1

    def release_reservation(self, order_id):
        """Mark the reservation released (creating it if none exists); the record as it was before.

        A record's products and quantities never change once it exists (only
        a reprice changes its prices), so the one read before the update gives
        back exactly what the order may hold.
        """
        moment = now()
        before = self.get_reservation(order_id)
        if before is None:
            try:
                released = ReservationState.RELEASED.value
                self.reservations.insert_one({"_id": order_id, "items": [], "state": released,
                                              "created_at": moment, "updated_at": moment})
                return {"order_id": order_id, "items": [], "state": released}
            except DuplicateKeyError:
                # A concurrent reserve created the record first; now it exists.
                before = self.get_reservation(order_id)
        # A settled reservation stays settled: its units left with the order.
        self.reservations.update_one({"_id": order_id, "state": {"$ne": ReservationState.SETTLED.value}},
                                     {"$set": {"state": ReservationState.RELEASED.value, "updated_at": moment}})
        return before

    def get_reservation(self, order_id):
        return _reservation(self.reservations.find_one({"_id": order_id}))


def _reservation(record):
    """A reservation record as the rules see it; the lease is the store's own bookkeeping."""
    if record is None:
        return None
    reservation = {"order_id": record["_id"], **{k: v for k, v in record.items() if k not in ("_id", "lease")}}
    reservation["items"] = [_loaded_item(item) for item in record["items"]]
    return reservation


def _stored_item(item):
    if "unit_price" in item:
        return {**item, "unit_price": Decimal128(item["unit_price"])}
    return item


def _loaded_item(item):
    if isinstance(item.get("unit_price"), Decimal128):
        return {**item, "unit_price": item["unit_price"].to_decimal()}
    return item


def _object_ids(product_ids):
    return [oid for oid in map(object_id_or_none, product_ids) if oid is not None]
