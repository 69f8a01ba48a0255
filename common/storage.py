"""What every service's storage module builds on.

``Storage`` is the nameko dependency provider: nameko-mongodb's MongoDatabase
(one database per service, named after it, at ``MONGODB_CONNECTION_URL``)
that hands each worker the service's own store object instead of the raw
database, and prepares the database (the store's indexes) when the service starts.
"""
import datetime
import functools
import re
import time

import pymongo
from bson import Decimal128, ObjectId
from nameko_mongodb import MongoDatabase
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from common import idempotency
from common.errors import IdempotencyKeyReused, PreconditionFailed, ServiceUnavailable
from common.rpc import inherited_deadline, rpc_timeout
from common.schemas import is_object_id


CLEANUP_SECONDS = 1.0


class Storage(MongoDatabase):
    def __init__(self, store_cls):
        super().__init__(on_after_setup=self._prepare_store)
        self.store_cls = store_cls

    @staticmethod
    def _prepare_store(provider):
        provider.store_cls(provider.db).prepare()

    def get_dependency(self, worker_ctx):
        # A worker with a waiting caller gives the database until the caller's
        # deadline; one without (an event, a timer) gets RPC_TIMEOUT per call.
        deadline = inherited_deadline(worker_ctx)
        timeout = rpc_timeout(self.container.config)
        return _DatabaseOutageAsUnavailable(
            self.store_cls(self.db), self.container.service_name,
            (lambda: deadline - time.time()) if deadline is not None else (lambda: timeout),
        )


class _DatabaseOutageAsUnavailable:
    """The store, each of its calls bounded in time, and a database that cannot answer reported as ServiceUnavailable.

    Callers then see a 503 they can retry, not an internal error, and see it
    before their deadline: a stalled database must not hold a worker past the
    moment its caller gives up. (pymongo's timeout covers every operation a
    store method makes, and is sent to the server as maxTimeMS.)
    """

    def __init__(self, store, service_name, time_left):
        self._store = store
        self._service_name = service_name
        self._time_left = time_left

    def __getattr__(self, name):
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def guarded(*args, **kwargs):
            unavailable = ServiceUnavailable(f"The {self._service_name} database is unavailable.")
            # Past its deadline a worker still gets a moment per call to clean up
            # after itself (reject the order it gave up, at once rather than by the sweeper).
            time_left = max(self._time_left(), CLEANUP_SECONDS)
            try:
                with pymongo.timeout(time_left):
                    return attribute(*args, **kwargs)
            except ConnectionFailure:  # unreachable, or a network timeout
                raise unavailable from None
            except PyMongoError as exc:
                if exc.timeout:
                    raise unavailable from None
                raise

        return guarded


class Store:
    """Base of a service's store: plain methods over its own database."""

    def __init__(self, db):
        self.db = db

    def prepare(self):
        """Make the database ready for the service; idempotent, run at service start."""
        self.create_indexes()

    def create_indexes(self):
        """Indexes the store relies on."""

    def ping(self):
        self.db.command("ping")


class RecordStore(Store):
    """Create, read, update, delete and page through one collection of records.

    A subclass names its ``collection``, the NotFound error for a missing id,
    the ``hidden`` fields never returned, and may convert fields on their way
    in (``to_stored``).

    Every record has a ``version``: 1 when created, and one more (``$inc``, in
    the same update) with every change of what the API returns of it. A write
    given ``if_version`` (a list of versions) applies only while the record is
    at one of them, guarded in its own filter, and is otherwise refused with
    PreconditionFailed; telling that from a missing record costs a read on the
    refusal only.
    """

    collection = None
    not_found = None
    hidden = ()

    @property
    def records(self):
        return self.db[self.collection]

    @property
    def projection(self):
        return {field: 0 for field in (*self.hidden, idempotency.FIELD)}

    def to_stored(self, fields):
        return fields

    def prepare(self):
        super().prepare()
        # Records stored before versions existed start at 1.
        self.records.update_many({"version": {"$exists": False}}, {"$set": {"version": 1}})
        self.records.create_index(f"{idempotency.FIELD}.key", unique=True, sparse=True)

    def create(self, fields, claim=None):
        """The new record; with an idempotency ``claim``, the record an earlier create with its key made, if any."""
        return self.create_once(fields, claim)[0]

    def create_once(self, fields, claim=None):
        """``(record, True)`` for a new record; ``(record, False)`` for the one made earlier under ``claim``'s key.

        The unique index on the key decides between two creates with one key at
        the same moment; the earlier record is read only then, so a create costs
        one insert as before.
        """
        moment = now()
        document = {**self.to_stored(fields), "created_at": moment, "updated_at": moment, "version": 1}
        if claim is not None:
            document[idempotency.FIELD] = claim
        try:
            self.records.insert_one(document)
        except DuplicateKeyError:
            earlier = None if claim is None else self._claimed_by(claim)
            if earlier is None:  # another unique field (or the key's record is gone meanwhile)
                raise
            return earlier, False
        return from_document({k: v for k, v in document.items() if k not in self.projection}), True

    def _claimed_by(self, claim):
        """The record made under ``claim``'s key, if any; IdempotencyKeyReused if for another request."""
        earlier = self.records.find_one({f"{idempotency.FIELD}.key": claim["key"]},
                                        {field: 0 for field in self.hidden})
        if earlier is None:
            return None
        if earlier.pop(idempotency.FIELD)["fingerprint"] != claim["fingerprint"]:
            raise IdempotencyKeyReused(
                f"Idempotency-Key {claim['key']} was used for a different request; use a new key for a new "
                f"request.", {"idempotency_key": claim["key"], "id": str(earlier["_id"])},
            )
        return from_document(earlier)

    def get(self, record_id, if_version=None):
        """The record; PreconditionFailed if it is not at one of the versions ``if_version``."""
        record = self._found(self.records.find_one({"_id": self._oid(record_id)}, self.projection), record_id)
        if if_version is not None and record["version"] not in if_version:
            raise self._version_mismatch(record_id, record["version"], if_version)
        return record

    def update(self, record_id, fields, if_version=None):
        # update_one then a read, not a findAndModify: the development server
        # answers findAndModify by scanning the whole collection.
        updated = self.records.update_one(
            {"_id": self._oid(record_id), **version_guard(if_version)},
            {"$set": {**self.to_stored(fields), "updated_at": now()}, "$inc": {"version": 1}},
        )
        if not updated.matched_count:
            raise self._refusal(record_id, if_version)
        return self.get(record_id)

    def delete(self, record_id, if_version=None):
        """Delete the record; its id in canonical form."""
        oid = self._oid(record_id)
        if not self.records.delete_one({"_id": oid, **version_guard(if_version)}).deleted_count:
            raise self._refusal(record_id, if_version)
        return str(oid)

    def _refusal(self, record_id, if_version):
        """Why a write to the record, guarded by ``if_version``, matched nothing: NotFound or PreconditionFailed."""
        current = None if if_version is None else self.records.find_one(
            {"_id": object_id_or_none(record_id)}, {"version": 1}
        )
        if current is None:
            return self.not_found.for_id(record_id)
        return self._version_mismatch(record_id, current["version"], if_version)

    def _version_mismatch(self, record_id, version, if_version):
        return PreconditionFailed.for_version(self.not_found.resource, record_id, version, if_version)

    def page(self, query, sort, page):
        """One page of the records matching ``query``, sorted by ``sort`` ("-field" descends)."""
        direction = DESCENDING if sort.startswith("-") else ASCENDING
        skip, limit = page_bounds(page)
        cursor = (
            self.records.find(query, self.projection)
            .sort([(sort.lstrip("-"), direction), ("_id", direction)])
            .skip(skip)
            .limit(limit)
        )
        return [from_document(d) for d in cursor], self.records.count_documents(query)

    def create_sort_indexes(self, fields):
        for field in fields:
            self.records.create_index([(field, ASCENDING), ("_id", ASCENDING)])

    def _oid(self, record_id):
        oid = object_id_or_none(record_id)
        if oid is None:
            raise self.not_found.for_id(record_id)
        return oid

    def _found(self, document, record_id):
        if document is None:
            raise self.not_found.for_id(record_id)
        return from_document(document)


def version_guard(if_version):
    """The part of a write's filter that applies it only at one of the versions ``if_version`` (None: any)."""
    return {} if if_version is None else {"version": {"$in": list(if_version)}}


def now():
    # MongoDB keeps milliseconds; truncating here makes what we return equal
    # to what a later read returns.
    moment = datetime.datetime.now(datetime.timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def canonical_id(value):
    """An ObjectId hex string in lower case (the form ids are stored in); other values as they are."""
    return value.lower() if is_object_id(value) else value


def object_id_or_none(value):
    """The ObjectId for an id string, or None when it cannot be one."""
    return ObjectId(value) if is_object_id(value) else None


def from_document(document):
    """A stored document as the services return it: ``id`` string, aware UTC times."""
    if document is None:
        return None
    result = {key: _from_bson(value) for key, value in document.items() if key != "_id"}
    result["id"] = str(document["_id"])
    return result


def _from_bson(value):
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    if isinstance(value, dict):
        return {key: _from_bson(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_bson(item) for item in value]
    return value


def matching_text(text, fields):
    """A query for records whose ``fields`` contain ``text``, literally and ignoring case."""
    if not text:
        return {}
    pattern = {"$regex": re.escape(text), "$options": "i"}
    return {"$or": [{field: pattern} for field in fields]}


def page_bounds(page):
    return (page["page"] - 1) * page["page_size"], page["page_size"]
