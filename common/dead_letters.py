"""Poison events: a bounded number of attempts, then a dead-letter queue.

An event whose handler fails is, by the kind of failure:

- ``ServiceUnavailable`` (its database away, a service it needs down): not
  the event's fault, so it is retried without bound, after a pause, and
  never dead-lettered; it goes back to the queue (requeued);
- ``MalformedEvent`` (the payload breaks the contract): dead-lettered at once,
  as no retry could succeed;
- anything else: one attempt counted. Until ``EVENT_MAX_ATTEMPTS`` (config,
  default 5) it is tried again after a pause, as a copy with the count in its
  ``event-attempts`` header, published to the tail of its own queue (so the
  events behind it go first); after the last, it is moved to the service's
  ``<service>.dead-letters`` queue.

Either way a copy is published with publisher confirms (persistent, mandatory)
before the original is acknowledged: a crash between the two leaves the event
twice, which idempotent handlers absorb, never nowhere. The depth of each
dead-letter queue is in the gateway's ``GET /health``;
``make replay-dead-letters SERVICE=<service>`` (scripts/replay_dead_letters.py)
moves its events back to the queues they came from, their attempts reset.
"""
import datetime
import logging
from enum import Enum

from amqp.exceptions import AMQPError
from eventlet import sleep
from kombu import Queue
from kombu.common import maybe_declare
from kombu.exceptions import ChannelError, KombuError
from nameko.amqp.publish import UndeliverableMessage, get_connection, get_producer
from nameko.constants import AMQP_URI_CONFIG_KEY, PERSISTENT
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.standalone.events import get_event_exchange

from common.errors import MalformedEvent, ServiceUnavailable

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 5
# A failed handler holds on to its event this long before giving it back:
# RabbitMQ hands a returned event out again at once, and an event that keeps
# failing would otherwise spin at the broker's speed.
REDELIVERY_PAUSE_SECONDS = 1
REASON_MAX_CHARS = 300

ATTEMPTS_HEADER = "event-attempts"
REASON_HEADER = "dead-letter-reason"
SOURCE_QUEUE_HEADER = "dead-letter-queue"
EXCHANGE_HEADER = "dead-letter-exchange"
ROUTING_KEY_HEADER = "dead-letter-routing-key"
DEAD_LETTERED_AT_HEADER = "dead-lettered-at"
OWN_HEADERS = frozenset((ATTEMPTS_HEADER, REASON_HEADER, SOURCE_QUEUE_HEADER, EXCHANGE_HEADER,
                         ROUTING_KEY_HEADER, DEAD_LETTERED_AT_HEADER))

# What a broker that cannot take a publish raises through kombu and py-amqp.
PUBLISH_FAILURES = (KombuError, AMQPError, OSError, UndeliverableMessage)


class Decision(Enum):
    RETRY = "retry"  # back to the queue as it is, not counted
    COUNT = "count"  # one attempt more, a copy to the queue's tail
    DEAD_LETTER = "dead-letter"


def decide(error, attempts, max_attempts):
    """What becomes of an event whose handler raised ``error`` on its ``attempts``-th counted attempt."""
    if isinstance(error, ServiceUnavailable):
        return Decision.RETRY
    if isinstance(error, MalformedEvent) or attempts >= max_attempts:
        return Decision.DEAD_LETTER
    return Decision.COUNT


def dead_letter_queue_name(service_name):
    return f"{service_name}.dead-letters"


def dead_letter_queue(service_name):
    return Queue(dead_letter_queue_name(service_name), durable=True)


def attempts_so_far(headers):
    return int((headers or {}).get(ATTEMPTS_HEADER, 0))


def without_own_headers(headers):
    """The headers the event was dispatched with (the request id among them), without ours."""
    return {key: value for key, value in (headers or {}).items() if key not in OWN_HEADERS}


def reason(error):
    """The exception's class and message, short: a dead letter carries no traceback."""
    return f"{type(error).__name__}: {error}"[:REASON_MAX_CHARS]


def publish_copy(producer, message, queue_name, headers):
    """Publish ``message``'s body unchanged to ``queue_name`` (the default exchange), confirmed.

    ``producer`` must be on a connection with publisher confirms; mandatory
    turns a queue that does not exist into an error instead of a lost message.
    """
    try:
        producer.publish(
            message.body, exchange="", routing_key=queue_name, headers=headers,
            content_type=message.content_type, content_encoding=message.content_encoding,
            delivery_mode=PERSISTENT, mandatory=True, retry=True,
        )
    except ChannelError as exc:
        if "NO_ROUTE" in str(exc):
            raise UndeliverableMessage(queue_name) from exc
        raise


def queue_depth(connection, queue_name):
    """Messages ready in the queue (a passive declare: it creates nothing); 0 if it does not exist."""
    channel = connection.channel()
    try:
        return channel.queue_declare(queue=queue_name, passive=True).message_count
    except ChannelError:  # 404: never declared, so nothing was ever dead-lettered there
        return 0
    finally:
        if channel.is_open:
            channel.close()


class DeadLetteringEventHandler(EventHandler):
    """nameko's event handler entrypoint, with the attempts and the dead-letter queue described above."""

    def setup(self):
        super().setup()
        config = self.container.config
        self.amqp_uri = config[AMQP_URI_CONFIG_KEY]
        self.max_attempts = int(config.get("EVENT_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))
        self.dead_letters = dead_letter_queue(self.container.service_name)
        with get_connection(self.amqp_uri) as connection:
            maybe_declare(self.dead_letters, connection.default_channel)

    def unpack_message_headers(self, message):
        # Context data travels on with every call and event the handler makes:
        # an attempt count is this queue's business only.
        return without_own_headers(super().unpack_message_headers(message))

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return
        error = exc_info[1]
        attempts = attempts_so_far(message.headers) + 1
        decision = decide(error, attempts, self.max_attempts)
        if decision is not Decision.DEAD_LETTER:
            sleep(REDELIVERY_PAUSE_SECONDS)
        if decision is Decision.RETRY:
            self.queue_consumer.requeue_message(message)
            return
        headers = {**without_own_headers(message.headers), ATTEMPTS_HEADER: attempts}
        if decision is Decision.COUNT:
            queue_name = self.queue.name
        else:
            queue_name = self.dead_letters.name
            headers.update({
                REASON_HEADER: reason(error),
                SOURCE_QUEUE_HEADER: self.queue.name,
                EXCHANGE_HEADER: get_event_exchange(self.source_service, self.container.config).name,
                ROUTING_KEY_HEADER: self.event_type,
                DEAD_LETTERED_AT_HEADER: datetime.datetime.now(datetime.timezone.utc).isoformat(),
            })
        try:
            with get_producer(self.amqp_uri) as producer:
                publish_copy(producer, message, queue_name, headers)
        except PUBLISH_FAILURES:
            # Not copied: the original goes back as it is (or, on a lost
            # connection, the broker takes it back), uncounted but not lost.
            log.warning("could not move a failed %s event to %s; it goes back to its queue",
                        self.event_type, queue_name, exc_info=True)
            self.queue_consumer.requeue_message(message)
            return
        if decision is Decision.DEAD_LETTER:
            log.error("dead-lettered %s event of order %s to %s after %d attempt(s): %s",
                      self.event_type, _order_id(message), queue_name, attempts, headers[REASON_HEADER])
        self.queue_consumer.ack_message(message)


def _order_id(message):
    """The order an event names (order events are keyed on it with their type), or "?"."""
    payload = message.payload
    return payload.get("id", "?") if isinstance(payload, dict) else "?"


class DeadLetterDepths(DependencyProvider):
    """``depths(service_names)``: each service's dead-letter depth, straight from the broker.

    Over a connection of the service's own (pooled), not an RPC: the service
    whose events pile up may be the one stuck.
    """

    def get_dependency(self, worker_ctx):
        amqp_uri = self.container.config[AMQP_URI_CONFIG_KEY]

        def depths(service_names):
            with get_connection(amqp_uri) as connection:
                return {name: queue_depth(connection, dead_letter_queue_name(name)) for name in service_names}

        return depths
