"""Move a service's dead letters back to the queues they came from: `make replay-dead-letters SERVICE=inventory`.

    PYTHONPATH=. python scripts/replay_dead_letters.py inventory

Each event in ``<service>.dead-letters`` is published (persistent, with
publisher confirms) to the queue named by its ``dead-letter-queue`` header,
with the dead-letter headers and its attempt count gone, and only then
acknowledged in the dead-letter queue: a crash in between leaves it in both,
never in neither (the handlers are idempotent). At most as many events are
moved as the queue held at the start, so one that fails again and comes back
meanwhile waits for the next run. Prints how many it moved.

RabbitMQ at AMQP_URI, as for the services (default: the local broker).
"""
import argparse
import os
import sys

from kombu import Connection
from nameko.amqp.publish import get_producer

from common.dead_letters import SOURCE_QUEUE_HEADER, dead_letter_queue, publish_copy, queue_depth, without_own_headers
from common.order_events import ORDER_EVENT_CONSUMERS
from stack import DEFAULT_AMQP_URI


def replay(amqp_uri, service_name):
    """Move up to the current depth of the service's dead letters back; how many were moved."""
    dead_letters = dead_letter_queue(service_name)
    moved = 0
    with Connection(amqp_uri) as connection, get_producer(amqp_uri) as producer:
        depth = queue_depth(connection, dead_letters.name)
        queue = dead_letters(connection.channel())
        for _ in range(depth):
            message = queue.get(no_ack=False)
            if message is None:  # another replay took the rest
                break
            publish_copy(producer, message, message.headers[SOURCE_QUEUE_HEADER],
                         without_own_headers(message.headers))
            message.ack()
            moved += 1
    return moved


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=ORDER_EVENT_CONSUMERS)
    service_name = parser.parse_args(argv).service
    moved = replay(os.environ.get("AMQP_URI", DEFAULT_AMQP_URI), service_name)
    print(f"moved {moved} dead letter(s) from {dead_letter_queue(service_name).name} back to their queues")


if __name__ == "__main__":
    sys.exit(main())
