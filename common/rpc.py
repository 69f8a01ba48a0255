"""RPC as the services use it: errors are expected outcomes, calls have deadlines.

nameko 2's RpcProxy waits forever for a reply, so one stopped service would
hang every caller. ``RpcClient`` gives each call a deadline: ``RPC_TIMEOUT``
(config, seconds) from now, or sooner if the call is made on behalf of a
caller whose own deadline comes first. The deadline travels with the call in
nameko's context data (``deadline``, epoch seconds), so the callee knows when
its caller stops waiting, and passes it on to its own calls. The request
message expires at the same moment, so a request nobody picked up in time is
dropped by the broker rather than executed after its caller has given up. A
service that is down, unknown or too slow, or a broker that cannot be
reached, surfaces as ``ServiceUnavailable``.
"""
import time

import eventlet
from amqp.exceptions import AMQPError
from kombu.exceptions import KombuError
from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider
from nameko.rpc import MethodProxy, Rpc, RpcProxy, ServiceProxy
from nameko.rpc import rpc as nameko_rpc

from common.errors import ServiceError, ServiceUnavailable

DEFAULT_RPC_TIMEOUT = 5.0
DEADLINE = "deadline"


def rpc(method):
    """nameko's ``@rpc``; a ServiceError is part of the API, logged without a traceback."""
    return nameko_rpc(expected_exceptions=ServiceError)(method)


def inherited_deadline(worker_ctx):
    """When the caller of an RPC worker stops waiting (epoch seconds), or None.

    Only RPC calls have a waiting caller: events are handled whenever they
    arrive, so a deadline they carried along means nothing to their handlers.
    """
    deadline = worker_ctx.data.get(DEADLINE)
    if deadline is None or not isinstance(worker_ctx.entrypoint, Rpc):
        return None
    return float(deadline)


class CallDeadline(DependencyProvider):
    """The worker's ``inherited_deadline``."""

    def get_dependency(self, worker_ctx):
        return inherited_deadline(worker_ctx)


class RpcClient(RpcProxy):
    """An RPC proxy whose calls have deadlines.

    ``hops``: for methods that make RPC calls of their own in turn, how many,
    each with its own RPC_TIMEOUT: the caller waits that many times as long,
    so it does not give up on work that is still within its time.
    """

    def __init__(self, target_service, hops=None, **options):
        super().__init__(target_service, **options)
        self.hops = hops or {}

    def get_dependency(self, worker_ctx):
        timeout = float(self.container.config.get("RPC_TIMEOUT", DEFAULT_RPC_TIMEOUT))
        return _ServiceClient(
            worker_ctx, self.target_service, self.rpc_reply_listener,
            timeout=timeout, hops=self.hops, **self.options,
        )


class _ServiceClient(ServiceProxy):
    def __init__(self, worker_ctx, service_name, reply_listener, timeout, hops, **options):
        super().__init__(worker_ctx, service_name, reply_listener, **options)
        self.timeout = timeout
        self.hops = hops

    def __getattr__(self, name):
        return _MethodClient(
            self.worker_ctx, self.service_name, name, self.reply_listener,
            timeout=self.timeout * self.hops.get(name, 1), **self.options,
        )


class _MethodClient(MethodProxy):
    def __init__(self, worker_ctx, service_name, method_name, reply_listener, timeout, **options):
        self.calls = _CallRecorder(reply_listener)
        super().__init__(worker_ctx, service_name, method_name, self.calls, **options)
        self.timeout = timeout

    def with_timeout(self, seconds):
        """The same method with a shorter deadline (the health check uses it)."""
        self.timeout = seconds
        return self

    def get_message_headers(self, worker_ctx):
        headers = super().get_message_headers(worker_ctx)
        headers[self._get_header_name(DEADLINE)] = self.deadline
        return headers

    def __call__(self, *args, **kwargs):
        self.deadline = time.time() + self.timeout
        inherited = inherited_deadline(self.worker_ctx)
        if inherited is not None:
            self.deadline = min(self.deadline, inherited)
        remaining = max(self.deadline - time.time(), 0.001)
        self.publisher.expiration = remaining
        unavailable = ServiceUnavailable(f"The {self.service_name} service is unavailable.")
        try:
            reply = self._call(*args, **kwargs)
        except (UnknownService, KombuError, AMQPError, OSError):
            self.calls.forget()
            raise unavailable from None
        timeout = eventlet.Timeout(remaining)
        try:
            return reply.result()
        except eventlet.Timeout as exc:
            if exc is not timeout:
                raise
            self.calls.forget()
            raise unavailable from None
        finally:
            timeout.cancel()


class _CallRecorder:
    """The shared reply listener, remembering the call this method client made.

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
