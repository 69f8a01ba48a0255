"""The cheap RPC every service answers so the gateway can report its health."""
from common.rpc import rpc


class HealthCheck:
    """Mixin for a service with a ``store``: ``ping`` succeeds only if its database answers."""

    @rpc
    def ping(self):
        self.store.ping()
        return "ok"
