"""Work a worker leaves until its reply is on its way.

nameko sends an RPC reply (or HTTP response) before it calls the dependency
providers' ``worker_result`` hooks, so what ``AfterReply`` runs there cannot
delay the answer: an order is confirmed to its caller in time even when
announcing it to the broker is slow. The work still runs in the worker, with
its context (request id) and its dependencies.
"""
import logging
from weakref import WeakKeyDictionary

from nameko.extensions import DependencyProvider

log = logging.getLogger(__name__)


class AfterReply(DependencyProvider):
    """Injects ``defer(function, *args)``: call ``function(*args)`` once the reply is sent."""

    def setup(self):
        self.deferred = WeakKeyDictionary()

    def get_dependency(self, worker_ctx):
        tasks = self.deferred[worker_ctx] = []
        return lambda function, *args: tasks.append((function, args))

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        for function, args in self.deferred.pop(worker_ctx, []):
            try:
                function(*args)
            except Exception:  # the work was best effort by design; say so and go on
                log.exception("deferred %s failed", getattr(function, "__name__", function))
