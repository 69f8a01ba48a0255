"""Request ids and structured logs, the same in every service.

A request id names one piece of work across services. The gateway takes it
from the ``X-Request-Id`` header (or makes one) and puts it in nameko's
context data, which nameko passes along with every RPC call and event the
worker makes, and so on downstream. A worker that starts without one (a
timer, a call from ``nameko shell``) gets a new one.

``WorkerLogging`` logs one line per entrypoint call, with its duration and
outcome, and tags every record logged during the call with the service,
entrypoint and request id (``WorkerContextFilter``). ``JsonFormatter`` writes
one JSON object per line; config/config.yml picks it or a text format with
``LOG_FORMAT``.
"""
import datetime
import json
import logging
import re
import time
import uuid

from eventlet.corolocal import local
from nameko.extensions import DependencyProvider

from common.errors import ServiceError

REQUEST_ID = "request_id"
REQUEST_ID_HEADER = "X-Request-Id"

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# What a worker is doing, per green thread (one worker runs in one green thread).
_worker = local()
log = logging.getLogger(__name__)


def new_request_id():
    return uuid.uuid4().hex


def accepted_request_id(value):
    """The client's request id if it is a sane token, else a new one."""
    if value and REQUEST_ID_PATTERN.match(value):
        return value
    return new_request_id()


class WorkerLogging(DependencyProvider):
    def worker_setup(self, worker_ctx):
        request_id = worker_ctx.data.get(REQUEST_ID)
        if not request_id:
            request_id = worker_ctx.data[REQUEST_ID] = new_request_id()
        _worker.context = {
            "service": worker_ctx.service_name,
            "entrypoint": worker_ctx.entrypoint.method_name,
            REQUEST_ID: request_id,
        }
        _worker.started = time.monotonic()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        duration_ms = round((time.monotonic() - getattr(_worker, "started", time.monotonic())) * 1000, 1)
        if exc_info is None:
            outcome = "ok"
        elif isinstance(exc_info[1], ServiceError):
            outcome = exc_info[1].code
        else:
            outcome = "error"
        log.info(
            "%s.%s %s in %.1f ms", worker_ctx.service_name, worker_ctx.entrypoint.method_name,
            outcome, duration_ms, extra={"duration_ms": duration_ms, "outcome": outcome},
        )

    def worker_teardown(self, worker_ctx):
        _worker.context = None


class WorkerContextFilter(logging.Filter):
    """Adds ``service``, ``entrypoint`` and ``request_id`` to every record ("-" outside a worker)."""

    def filter(self, record):
        context = getattr(_worker, "context", None) or {}
        for key in ("service", "entrypoint", REQUEST_ID):
            if not hasattr(record, key):
                setattr(record, key, context.get(key, "-"))
        return True


class JsonFormatter(logging.Formatter):
    FIELDS = ("service", "entrypoint", REQUEST_ID, "duration_ms", "outcome")

    def format(self, record):
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in self.FIELDS:
            value = getattr(record, field, None)
            if value not in (None, "-"):
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
