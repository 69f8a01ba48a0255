"""RPC as the services use it: errors are expected outcomes, calls time out.

nameko 2's RpcProxy waits forever for a reply, so one stopped service would
hang every caller. ``RpcClient`` gives each call a deadline (``RPC_TIMEOUT``
in the config, seconds) and sets the request message to expire at the same
moment, so a request nobody picked up in time is dropped by the broker rather
than executed after its caller has given up. A service that is down or too
slow surfaces as ``ServiceUnavailable``.
"""
import eventlet
from nameko.exceptions import UnknownService
from nameko.rpc import MethodProxy, RpcProxy, ServiceProxy
from nameko.rpc import rpc as nameko_rpc

from common.errors import ServiceError, ServiceUnavailable

DEFAULT_RPC_TIMEOUT = 5.0


def rpc(method):
    """nameko's ``@rpc``; a ServiceError is part of the API, logged without a traceback."""
    return nameko_rpc(expected_exceptions=ServiceError)(method)


class RpcClient(RpcProxy):
    """An RPC proxy whose calls time out.

    ``hops``: how many RPC calls of its own the target makes per call, each
    with its own deadline; the caller waits that many times RPC_TIMEOUT, so
    it never gives up on work that is still within its time.
    """

    def __init__(self, target_service, hops=1, **options):
        super().__init__(target_service, **options)
        self.hops = hops

    def get_dependency(self, worker_ctx):
        timeout = self.hops * float(self.container.config.get("RPC_TIMEOUT", DEFAULT_RPC_TIMEOUT))
        return _ServiceClient(
            worker_ctx,
            self.target_service,
            self.rpc_reply_listener,
            timeout=timeout,
            expiration=timeout,
            **self.options,
        )


class _ServiceClient(ServiceProxy):
    def __getattr__(self, name):
        return _MethodClient(
            self.worker_ctx, self.service_name, name, self.reply_listener, **self.options
        )


class _MethodClient(MethodProxy):
    def __init__(self, worker_ctx, service_name, method_name, reply_listener, timeout, **options):
        super().__init__(worker_ctx, service_name, method_name, reply_listener, **options)
        self.timeout = timeout

    def with_timeout(self, seconds):
        """The same method with a shorter deadline (the health check uses it)."""
        self.timeout = seconds
        return self

    def __call__(self, *args, **kwargs):
        unavailable = ServiceUnavailable(f"The {self.service_name} service is unavailable.")
        try:
            reply = self._call(*args, **kwargs)
        except UnknownService:
            raise unavailable from None
        deadline = eventlet.Timeout(self.timeout)
        try:
            return reply.result()
        except eventlet.Timeout as exc:
            if exc is not deadline:
                raise
            self._forget(reply)
            raise unavailable from None
        finally:
            deadline.cancel()

    def _forget(self, reply):
        # The reply listener keeps an event per outstanding call until its
        # reply arrives; an expired request never gets one.
        pending = self.reply_listener._reply_events
        for correlation_id, event in list(pending.items()):
            if event is reply.reply_event:
                del pending[correlation_id]
