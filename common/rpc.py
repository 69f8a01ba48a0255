"""RPC as the services use it: errors are expected outcomes, calls have deadlines.

nameko 2's RpcProxy waits forever for a reply, so one stopped service would
hang every caller. Each request gets one time budget, ``RPC_TIMEOUT``
(config, seconds): the gateway's ``RequestBudget`` sets its deadline when
the HTTP request arrives, and every call made on its behalf, and every call
those make in turn, shares that one deadline. ``RpcClient`` calls made
outside any request (``nameko shell``, a timer) get ``RPC_TIMEOUT`` from
now. The deadline travels with the call in nameko's context data
(``deadline``, epoch seconds), so the callee knows when its caller stops
waiting, and passes it on to its own calls. The request
message expires at the same moment, so a request nobody picked up in time is
dropped by the broker rather than executed after its caller has given up; one
that a busy service had already taken in but only gets to after the deadline
is refused unrun (``@rpc`` with ``CallDeadline``). A service that is down,
unknown or too slow, or a broker that cannot be reached, surfaces as
``ServiceUnavailable``.
"""
import functools
import inspect
import logging
import time

import eventlet
from eventlet.corolocal import local
from amqp.exceptions import AMQPError
from kombu.exceptions import KombuError
from nameko.constants import NON_PERSISTENT as TRANSIENT
from nameko.events import EventDispatcher as NamekoEventDispatcher
from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider
from nameko.messaging import QueueConsumer
from nameko.rpc import MethodProxy, Rpc, RpcProxy
from nameko.web.handlers import HttpRequestHandler

from common.errors import ServiceError, ServiceUnavailable

DEFAULT_RPC_TIMEOUT = 5.0
DEADLINE = "deadline"

# The running worker's inherited deadline, set by CallDeadline (each worker
# runs in a greenthread of its own).
_worker = local()

log = logging.getLogger(__name__)


def _survives_a_lost_connection(settle):
    """``QueueConsumer.ack_message`` / ``requeue_message``, ignoring a connection that is gone.

    nameko 2.14.1 ignores only amqp's ConnectionError there; a socket error
    (BrokenPipeError, ConnectionResetError) as the broker goes away ends the
    worker's or the reply listener's thread, which kills the whole service.
    On a lost connection the broker takes the message back by itself.
    """

    @functools.wraps(settle)
    def settle_unless_disconnected(self, message):
        try:
            settle(self, message)
        except (OSError, AMQPError, KombuError):
            log.info("the connection was lost before a message could be settled; the broker takes it back")

    return settle_unless_disconnected


# Patched once, here: every service's consumers (RPC, replies, events) settle through these.
QueueConsumer.ack_message = _survives_a_lost_connection(QueueConsumer.ack_message)
QueueConsumer.requeue_message = _survives_a_lost_connection(QueueConsumer.requeue_message)


def rpc(method):
    """nameko's ``@rpc``; a ServiceError is part of the API, logged without a traceback.

    In a service with a ``CallDeadline``, a call whose caller has already
    stopped waiting is refused with ServiceUnavailable before the method runs:
    the caller was told the call failed, so it must not take effect.
    """

    @functools.wraps(method)
    def run_in_time(self, *args, **kwargs):
        deadline = getattr(_worker, "deadline", None)
        if deadline is not None and time.time() > deadline:
            raise ServiceUnavailable("The call arrived after its caller stopped waiting.")
        return method(self, *args, **kwargs)

    # nameko checks the arguments of a call against the method's signature.
    run_in_time.__signature__ = inspect.signature(method)
    return _Rpc.decorator(expected_exceptions=ServiceError)(run_in_time)


class _Rpc(Rpc):
    """nameko's RPC entrypoint, surviving a reply it cannot send.

    nameko treats a failure to publish the reply as fatal: the exception ends
    the worker's thread and, with it, the whole service container, so a broker
    restart under load left services exited. The reply is lost either way (its
    caller sees a timeout); the service must live on, reconnect, and serve the
    next request. The request is still acknowledged if its channel is alive;
    if not, the broker delivers it again: within its deadline (later it is
    refused unrun), where placing an order is made safe by its idempotency key.
    """

    def handle_result(self, message, worker_ctx, result, exc_info):
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        except (KombuError, AMQPError, OSError):
            log.warning("the reply to %s could not be sent; its caller will time out", worker_ctx,
                        exc_info=True)
            self.rpc_consumer.queue_consumer.ack_message(message)
            return result, exc_info


def inherited_deadline(worker_ctx):
    """When the caller of an RPC or HTTP worker stops waiting (epoch seconds), or None.

    Only RPC calls and HTTP requests have a waiting caller: events are handled
    whenever they arrive, so a deadline they carried along means nothing to
    their handlers. (An HTTP client cannot set one: the gateway's
    RequestBudget does.)
    """
    deadline = worker_ctx.data.get(DEADLINE)
    if deadline is None or not isinstance(worker_ctx.entrypoint, (Rpc, HttpRequestHandler)):
        return None
    return float(deadline)


def rpc_timeout(config):
    return float(config.get("RPC_TIMEOUT", DEFAULT_RPC_TIMEOUT))


class RequestBudget(DependencyProvider):
    """Gives each request its deadline as it arrives: ``RPC_TIMEOUT`` for everything it causes."""

    def worker_setup(self, worker_ctx):
        worker_ctx.data[DEADLINE] = time.time() + rpc_timeout(self.container.config)


class CallDeadline(DependencyProvider):
    """The worker's ``inherited_deadline``; with it, ``@rpc`` refuses calls that come too late."""

    def worker_setup(self, worker_ctx):
        _worker.deadline = inherited_deadline(worker_ctx)

    def get_dependency(self, worker_ctx):
        return inherited_deadline(worker_ctx)


class EventDispatcher(NamekoEventDispatcher):
    """nameko's EventDispatcher, leaving out the deadline of the call that dispatches.

    nameko sends a worker's whole context data along with its events. But an
    event is handled whenever it arrives: its handlers have no caller waiting,
    and a passed deadline that they forwarded on their own calls (as a plain
    nameko RpcProxy would) would have those calls refused.
    """

    def get_message_headers(self, worker_ctx):
        headers = super().get_message_headers(worker_ctx)
        headers.pop(self._get_header_name(DEADLINE), None)
        return headers


class RpcClient(RpcProxy):
    """An RPC proxy whose calls have deadlines.

    ``cleanup``: methods that clean up after work that was given up (a
    release): they get their own full RPC_TIMEOUT, never the deadline of the
    call they run in, which may be about to pass or already past.
    """

    def __init__(self, target_service, cleanup=(), **options):
        super().__init__(target_service, **options)
        self.cleanup = frozenset(cleanup)

    def get_dependency(self, worker_ctx):
        return _ServiceClient(self, worker_ctx, rpc_timeout(self.container.config))


class _ServiceClient:
    def __init__(self, provider, worker_ctx, timeout):
        self._provider = provider
        self._worker_ctx = worker_ctx
        self._timeout = timeout

    def __getattr__(self, method_name):
        provider = self._provider
        return _MethodClient(
            self._worker_ctx, provider.target_service, method_name, provider.rpc_reply_listener,
            timeout=self._timeout,
            inherits_deadline=method_name not in provider.cleanup,
            options=provider.options,
        )


class _MethodClient:
    """``client.method(*args)``: one call with a deadline; every call is a separate _Call."""

    def __init__(self, worker_ctx, service_name, method_name, reply_listener, timeout,
                 inherits_deadline, options):
        self.worker_ctx = worker_ctx
        self.service_name = service_name
        self.method_name = method_name
        self.reply_listener = reply_listener
        self.timeout = timeout
        self.inherits_deadline = inherits_deadline
        self.options = options

    def with_timeout(self, seconds):
        """The same method with a shorter deadline (the health check uses it)."""
        self.timeout = seconds
        return self

    def __call__(self, *args, **kwargs):
        deadline = time.time() + self.timeout
        inherited = inherited_deadline(self.worker_ctx) if self.inherits_deadline else None
        if inherited is not None:
            deadline = min(deadline, inherited)
        call = _Call(self.worker_ctx, self.service_name, self.method_name,
                     _CallRecorder(self.reply_listener), deadline, **self.options)
        return call.run(args, kwargs)

    def call_async(self, *args, **kwargs):
        raise NotImplementedError("RpcClient calls are synchronous: each waits for its deadline.")


class _Call(MethodProxy):
    """One call: published with the deadline in its headers, awaited until the deadline."""

    def __init__(self, worker_ctx, service_name, method_name, recorder, deadline, **options):
        super().__init__(worker_ctx, service_name, method_name, recorder, **options)
        self.recorder = recorder
        self.deadline = deadline

    def get_message_headers(self, worker_ctx):
        headers = super().get_message_headers(worker_ctx)
        headers[self._get_header_name(DEADLINE)] = self.deadline
        return headers

    def run(self, args, kwargs):
        remaining = max(self.deadline - time.time(), 0.001)
        self.publisher.expiration = remaining
        # Not written to disk: a request the broker loses is already a
        # timeout for its caller, and it expires within seconds anyway.
        self.publisher.delivery_mode = TRANSIENT
        unavailable = ServiceUnavailable(f"The {self.service_name} service is unavailable.")
        # One timer for publishing and waiting: a slow broker counts against the deadline too.
        timeout = eventlet.Timeout(remaining)
        try:
            return self._call(*args, **kwargs).result()
        except (UnknownService, KombuError, AMQPError, OSError):
            self.recorder.forget()
            raise unavailable from None
        except eventlet.Timeout as exc:
            if exc is not timeout:
                raise
            self.recorder.forget()
            raise unavailable from None
        finally:
            timeout.cancel()


class _CallRecorder:
    """The shared reply listener, remembering the one call made through it.

    The listener keeps an event per outstanding call until its reply arrives;
    a call that failed or expired never gets one, so its event is dropped.
    """

    def __init__(self, listener):
        self._listener = listener
        self._correlation_id = None

    def __getattr__(self, name):
        return getattr(self._listener, name)

    def get_reply_event(self, correlation_id):
        self._correlation_id = correlation_id
        return self._listener.get_reply_event(correlation_id)

    def forget(self):
        if self._correlation_id is not None:
            self._listener._reply_events.pop(self._correlation_id, None)
