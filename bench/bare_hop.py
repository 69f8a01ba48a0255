"""The bare hop: the least a nameko 2.14 HTTP request that makes one RPC call can cost.

`make bench` runs both services in one `nameko run` process (bench/bare_hop.yml)
and measures GET /hop beside the real system, so every figure of ours can be
read as a multiple of what nameko itself needs for an HTTP -> RPC -> reply.
Nothing else happens here on purpose: no validation, no database, no logging.
"""
from nameko.rpc import RpcProxy, rpc
from nameko.web.handlers import http


class HopGateway:
    name = "bare_hop_gateway"

    hop = RpcProxy("bare_hop")

    @http("GET", "/hop")
    def hop_once(self, request):
        return self.hop.constant()


class Hop:
    name = "bare_hop"

    @rpc
    def constant(self):
        return "hop"
