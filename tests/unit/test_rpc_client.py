"""common/rpc.py's method clients, with the broker replaced where the test says so."""
import time
from types import SimpleNamespace
from unittest import mock

import eventlet
import pytest
from nameko.amqp.publish import Publisher
from nameko.rpc import ReplyListener

from common.errors import ServiceUnavailable
from common.rpc import _MethodClient


def method_client(timeout):
    container = SimpleNamespace(config={"AMQP_URI": "memory://", "RPC_TIMEOUT": timeout}, service_name="caller")
    worker_ctx = SimpleNamespace(container=container, data={}, entrypoint=None)
    worker_ctx.context_data = worker_ctx.data
    listener = ReplyListener()
    listener.routing_key = "replies"
    client = _MethodClient(worker_ctx, "callee", "method", listener, timeout=timeout,
                           inherits_deadline=True, options={})
    return client, listener


def test_a_call_gives_up_at_its_deadline_even_when_publishing_is_slow(monkeypatch):
    client, listener = method_client(timeout=1.0)
    # A publish that outlasts the deadline several times over: the call must
    # not wait for it (the margin is wide because test machines are noisy).
    monkeypatch.setattr(Publisher, "publish", lambda *args, **kwargs: eventlet.sleep(5))
    started = time.monotonic()

    with pytest.raises(ServiceUnavailable):
        client()

    assert time.monotonic() - started < 3
    assert listener._reply_events == {}


def test_concurrent_calls_through_one_method_client_keep_their_own_replies(monkeypatch):
    # Half a second between each step and the deadlines around it, so a
    # stalled test process does not reorder them.
    client, listener = method_client(timeout=1.0)
    published = []

    def publish(self, payload, **kwargs):
        published.append(kwargs["correlation_id"])
        eventlet.sleep(0.1)  # the broker's confirm

    monkeypatch.setattr(Publisher, "publish", publish)
    first = eventlet.spawn(client)  # gets no reply: times out at 1 s
    eventlet.sleep(0.1)
    second = eventlet.spawn(client)  # its reply arrives at ~0.6 s, within its time (~1.1 s)
    eventlet.sleep(0.5)
    message = SimpleNamespace(properties={"correlation_id": published[1]})
    listener.queue_consumer = mock.Mock()  # for the ack
    listener.handle_message({"result": "second's answer", "error": None}, message)

    with pytest.raises(ServiceUnavailable):
        first.wait()
    assert second.wait() == "second's answer"
    assert listener._reply_events == {}


def test_the_deadline_and_expiry_travel_with_the_message_which_is_not_persisted(monkeypatch):
    client, _ = method_client(timeout=2.0)
    sent = []
    monkeypatch.setattr(Publisher, "publish", lambda self, payload, **kwargs: sent.append(
        (self.expiration, self.delivery_mode, kwargs["extra_headers"])))
    started = time.time()

    with pytest.raises(ServiceUnavailable):
        client.with_timeout(0.2)()

    [(expiration, delivery_mode, headers)] = sent
    assert 0 < expiration <= 0.2
    assert delivery_mode == 1  # transient: the broker keeps it in memory only
    assert started + 0.1 < headers["nameko.deadline"] <= started + 0.3


def test_call_async_is_refused_plainly():
    client, _ = method_client(timeout=1.0)

    with pytest.raises(NotImplementedError):
        client.call_async()


def test_the_request_budget_gives_each_request_one_deadline_rpc_timeout_from_its_arrival():
    from common.rpc import DEADLINE, RequestBudget

    budget = RequestBudget()
    budget.container = SimpleNamespace(config={"RPC_TIMEOUT": 3})
    worker_ctx = SimpleNamespace(data={})
    before = time.time()

    budget.worker_setup(worker_ctx)

    assert before + 3 <= worker_ctx.data[DEADLINE] <= time.time() + 3


@pytest.mark.parametrize("kind", ["rpc", "http", "event"])
def test_an_inherited_deadline_counts_for_rpc_and_http_workers_only(kind):
    from nameko.events import EventHandler
    from nameko.rpc import Rpc
    from nameko.web.handlers import HttpRequestHandler

    from common.rpc import DEADLINE, inherited_deadline

    entrypoint = {
        "rpc": Rpc.__new__(Rpc), "http": HttpRequestHandler.__new__(HttpRequestHandler),
        "event": EventHandler.__new__(EventHandler),
    }[kind]
    worker_ctx = SimpleNamespace(data={DEADLINE: "1700000000.5"}, entrypoint=entrypoint)

    assert inherited_deadline(worker_ctx) == (None if kind == "event" else 1700000000.5)


def test_calls_in_one_request_share_its_deadline_however_many_there_are(monkeypatch):
    from common.rpc import DEADLINE

    container = SimpleNamespace(config={"AMQP_URI": "memory://"}, service_name="caller")
    deadline = time.time() + 0.3
    worker_ctx = SimpleNamespace(container=container, data={DEADLINE: deadline}, entrypoint=None)
    worker_ctx.context_data = worker_ctx.data
    from nameko.rpc import Rpc
    worker_ctx.entrypoint = Rpc.__new__(Rpc)
    listener = ReplyListener()
    listener.routing_key = "replies"
    monkeypatch.setattr(Publisher, "publish", lambda *args, **kwargs: None)

    started = time.time()
    for method in ("first", "second"):
        client = _MethodClient(worker_ctx, "callee", method, listener, timeout=10, inherits_deadline=True, options={})
        with pytest.raises(ServiceUnavailable):
            client()
    # Both calls together waited about the one 0.3 s budget, not 10 s (or 0.3 s) each.
    assert time.time() - started < 1
