"""Poison events on the real RabbitMQ: bounded attempts, the dead-letter queue, the replay.

A test service consumes order_created through ``order_event_handler`` (as
inventory, product and shipping do) and fails on the events it is told to.
"""
import datetime
import sys
import threading
import time

import pytest
from kombu import Connection
from nameko.standalone.events import event_dispatcher

from common.dead_letters import REDELIVERY_PAUSE_SECONDS, dead_letter_queue, queue_depth
from common.errors import ServiceUnavailable
from common.order_events import ORDER_CREATED, ORDERS_SERVICE, OrderSchema, order_event_handler
from support import ROOT, wait_until

sys.path.insert(0, str(ROOT / "scripts"))
from replay_dead_letters import replay  # noqa: E402

SOURCE_QUEUE = "evt-orders-order_created--flaky.on_order_created"
DEAD_LETTERS = "flaky.dead-letters"
MOMENT = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)

# What the test service did: (order id, outcome) per call, in order; and what it must do.
calls = []
lock = threading.Lock()
failures = {}  # order id -> a function raising, or returning whether to raise


class Flaky:
    name = "flaky"

    @order_event_handler(ORDER_CREATED)
    def on_order_created(self, order):
        with lock:
            fail = failures.get(order["id"])
            error = fail(order["id"]) if fail else None
            calls.append((order["id"], "failed" if error else "handled"))
        if error:
            raise error


@pytest.fixture(autouse=True)
def clean_slate():
    calls.clear()
    failures.clear()


def order(order_id):
    return OrderSchema().dump({
        "id": order_id, "customer_id": "c-ada", "status": "confirmed",
        "items": [{"product_id": "5f00000000000000000000a1", "name": "Lamp", "unit_price": "10.00",
                   "quantity": 1, "line_total": "10.00"}],
        "total": "10.00", "created_at": MOMENT, "updated_at": MOMENT,
    })


@pytest.fixture
def amqp_uri(rabbit_config):
    return rabbit_config["AMQP_URI"]


@pytest.fixture
def start_flaky(container_factory, rabbit_config):
    def start(**config):
        container = container_factory(Flaky, {**rabbit_config, **config})
        container.start()
        return container

    return start


@pytest.fixture
def dispatch(rabbit_config):
    send = event_dispatcher(rabbit_config)
    return lambda payload: send(ORDERS_SERVICE, ORDER_CREATED, payload)


def depth(amqp_uri, queue_name):
    with Connection(amqp_uri) as connection:
        return queue_depth(connection, queue_name)


def dead_letters(amqp_uri):
    """Every message in the test service's dead-letter queue, left there (read unacknowledged)."""
    with Connection(amqp_uri) as connection:
        queue = dead_letter_queue("flaky")(connection.channel())
        found = []
        while (message := queue.get(no_ack=False)) is not None:
            found.append(message)
        return found  # the connection closes: the broker takes them back


def calls_for(order_id):
    return [outcome for called, outcome in calls if called == order_id]


def always(error):
    return lambda order_id: error


def test_the_dead_letter_queue_is_declared_durable_when_the_service_starts(start_flaky, rabbit_manager,
                                                                            rabbit_config):
    start_flaky()

    queue = rabbit_manager.get_queue(rabbit_config["vhost"], DEAD_LETTERS)
    assert queue["durable"] and not queue["auto_delete"]


def test_a_poison_event_is_dead_lettered_after_the_last_attempt_and_blocks_nothing(
        start_flaky, dispatch, amqp_uri):
    # Three poison events and a prefetch window of two (max_workers): given back
    # to the head of the queue, as a plain requeue does, they would hold the
    # window for ever and no event behind them would ever be handled.
    poison = [f"5f000000000000000000e{i:03d}" for i in range(3)]
    good = [f"5f000000000000000000f{i:03d}" for i in range(6)]
    for order_id in poison:
        failures[order_id] = always(RuntimeError(f"poison {order_id}"))
    start_flaky(EVENT_MAX_ATTEMPTS=3, max_workers=2)

    for order_id in poison + good:
        dispatch(order(order_id))

    wait_until(lambda: depth(amqp_uri, DEAD_LETTERS) == 3, timeout=60, message="three dead letters")
    assert {order_id: calls_for(order_id) for order_id in poison} == {order_id: ["failed"] * 3 for order_id in poison}
    assert {order_id: calls_for(order_id) for order_id in good} == {order_id: ["handled"] for order_id in good}
    last_good = max(index for index, (order_id, _) in enumerate(calls) if order_id in good)
    last_poison = max(index for index, (order_id, _) in enumerate(calls) if order_id in poison)
    assert last_good < last_poison, "the events behind the poison waited for it"
    assert depth(amqp_uri, SOURCE_QUEUE) == 0

    letters = {message.payload["id"]: message for message in dead_letters(amqp_uri)}
    assert set(letters) == set(poison)
    for order_id, message in letters.items():
        assert message.payload == order(order_id)
        assert message.properties["delivery_mode"] == 2
        headers = message.headers
        assert headers["event-attempts"] == 3
        assert headers["dead-letter-reason"] == f"RuntimeError: poison {order_id}"
        assert headers["dead-letter-queue"] == SOURCE_QUEUE
        assert (headers["dead-letter-exchange"], headers["dead-letter-routing-key"]) == ("orders.events",
                                                                                          ORDER_CREATED)
        at = datetime.datetime.fromisoformat(headers["dead-lettered-at"])
        assert abs(datetime.datetime.now(datetime.timezone.utc) - at) < datetime.timedelta(minutes=1)


def test_attempts_of_a_failing_event_are_spaced_by_the_pause(start_flaky, dispatch, amqp_uri):
    failing = "5f00000000000000000000e1"
    moments = []
    failures[failing] = lambda order_id: moments.append(time.monotonic()) or RuntimeError("poison")
    start_flaky(EVENT_MAX_ATTEMPTS=3)

    dispatch(order(failing))

    wait_until(lambda: depth(amqp_uri, DEAD_LETTERS) == 1, timeout=30, message="the dead letter")
    gaps = [later - earlier for earlier, later in zip(moments, moments[1:])]
    assert len(gaps) == 2 and min(gaps) >= REDELIVERY_PAUSE_SECONDS * 0.9, gaps


def test_a_service_unavailable_is_retried_past_the_attempts_and_never_dead_lettered(
        start_flaky, dispatch, amqp_uri):
    waiting = "5f00000000000000000000d1"
    refusals = []

    def database_away_three_times(order_id):
        if len(refusals) < 3:
            refusals.append(order_id)
            return ServiceUnavailable("The flaky database is unavailable.")
        return None

    failures[waiting] = database_away_three_times
    start_flaky(EVENT_MAX_ATTEMPTS=2)

    dispatch(order(waiting))

    wait_until(lambda: "handled" in calls_for(waiting), timeout=30, message="the event once the database is back")
    assert calls_for(waiting) == ["failed", "failed", "failed", "handled"]
    assert (depth(amqp_uri, DEAD_LETTERS), depth(amqp_uri, SOURCE_QUEUE)) == (0, 0)


def test_a_malformed_event_is_dead_lettered_at_once_not_dropped(start_flaky, dispatch, amqp_uri):
    start_flaky()
    malformed = {**order("5f00000000000000000000b1"), "status": "lost"}
    del malformed["customer_id"]

    dispatch(malformed)

    wait_until(lambda: depth(amqp_uri, DEAD_LETTERS) == 1, timeout=10, message="the dead letter")
    assert calls == []  # the handler never saw it
    [message] = dead_letters(amqp_uri)
    assert message.payload == malformed
    assert message.headers["event-attempts"] == 1
    reason = message.headers["dead-letter-reason"]
    assert reason.startswith("MalformedEvent: A malformed order_created event: ")
    assert "customer_id" in reason and "status" in reason
    assert depth(amqp_uri, SOURCE_QUEUE) == 0


def test_a_replay_moves_the_dead_letters_back_once_each_with_attempts_reset(start_flaky, dispatch, amqp_uri):
    # A malformed event comes back at once: only the depth read at the start stops a replay going round.
    start_flaky(EVENT_MAX_ATTEMPTS=2)
    malformed = {"id": "5f00000000000000000000b2"}
    fixed_later = "5f00000000000000000000e2"
    failures[fixed_later] = always(RuntimeError("a bug, fixed later"))
    dispatch(malformed)
    dispatch(order(fixed_later))
    wait_until(lambda: depth(amqp_uri, DEAD_LETTERS) == 2, timeout=30, message="two dead letters")
    assert calls_for(fixed_later) == ["failed", "failed"]
    del failures[fixed_later]  # the fix is deployed

    assert replay(amqp_uri, "flaky") == 2

    wait_until(lambda: "handled" in calls_for(fixed_later), timeout=10, message="the replayed event")
    # handled at its first attempt: the count starts again (two more failures would dead-letter it)
    assert calls_for(fixed_later) == ["failed", "failed", "handled"]
    wait_until(lambda: depth(amqp_uri, DEAD_LETTERS) == 1, timeout=10, message="the malformed one back")
    [message] = dead_letters(amqp_uri)
    assert message.payload == malformed and message.headers["event-attempts"] == 1
    assert depth(amqp_uri, SOURCE_QUEUE) == 0


def test_a_replay_of_an_empty_dead_letter_queue_moves_nothing(start_flaky, amqp_uri):
    start_flaky()

    assert replay(amqp_uri, "flaky") == 0
