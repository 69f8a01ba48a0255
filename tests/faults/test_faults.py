"""Faults injected for real into the running system, under order load.

Each test places orders from several clients, breaks something (the broker,
a service, the database), repairs it or, for a killed process, waits for
supervisor to start it again, lets the clients send again what was
not answered finally (same Idempotency-Key), waits for the system to settle
and audits the databases: nothing lost, nothing doubled, nothing oversold,
no stock held for an order that is not confirmed. Each records a row of the
reliability report (tests/reliability.py).
"""
import os
import signal
import time

import pytest

from fault_load import Audit, OrderLoad, assert_nothing_broken
from reliability import record, scaled
from support import wait_until

RPC_DEADLINE_SECONDS = 5
# An answer during a fault comes within the deadline, plus what a loaded machine adds.
ANSWER_WITHIN_SECONDS = RPC_DEADLINE_SECONDS + 3
PRODUCTS = 3
INITIAL_STOCK = 100_000
SETTLE_SECONDS = 60  # the pending timeout (6 s here) plus sweeps, on a busy machine


@pytest.fixture
def shop(api):
    """A customer and products with plenty of stock: (customer_id, {product_id: initial stock})."""
    customer = api.post("/customers", json={"name": "Ada", "email": "ada@example.com"}).json()
    stock = {}
    for number in range(PRODUCTS):
        product = api.post("/products", json={"name": f"Lamp {number}", "price": "9.99",
                                              "stock": INITIAL_STOCK}).json()
        stock[product["id"]] = INITIAL_STOCK
    return customer["id"], stock


@pytest.fixture
def audit(system):
    audit = Audit(system.mongo_url)
    yield audit
    audit.close()


def placing(system, shop, clients=None):
    customer_id, stock = shop
    return OrderLoad(system.gateway_url, customer_id, stock, clients or scaled(6, 16))


def wait_for_orders(load, count, timeout=30):
    load.wait_for(lambda answers: sum(a.status == 201 for a in answers) >= count, timeout,
                  f"{count} orders placed")


def recovered_after(load, moment, timeout=60):
    """Seconds from ``moment`` until an order placed after it was answered 201."""
    def placed_after(answers):
        # Not what was merely answered after it: an order under way at a kill may still succeed.
        return [a.at for a in answers if a.status == 201 and a.at - a.seconds >= moment]

    load.wait_for(placed_after, timeout, "an order placed after the repair")
    return min(placed_after(load.all_answers())) - moment


def started_again(system, name, killed, timeout=60):
    """Wait for supervisor to run ``name`` again after ``killed`` (its pid) died; the new pid."""
    def new_pid():
        info = system.processes().get(name, {})
        return info.get("statename") == "RUNNING" and info["pid"] != killed and info["pid"]
    return wait_until(new_pid, timeout=timeout, interval=0.1, message=f"supervisor to start {name} again")


def finish(load, audit, shop, system, fault, action, recovery_seconds, untouched):
    """Retry what was not final, settle, audit, record; the findings.

    ``untouched``: name -> pid of the processes the fault was not aimed at. supervisor would
    hide a crash by starting the process again: a new pid is what shows it.
    """
    load.retry_unfinished()
    audit.wait_until_settled(SETTLE_SECONDS)
    findings = audit.findings(load, shop[1])
    now = system.pids()
    assert {name: now.get(name) for name in untouched} == untouched, "processes died and were started again"
    record(fault, action, load.sent(), load.client_errors(), lost=findings["lost"],
           doubled=findings["doubled"], oversold=findings["oversold"], recovery_seconds=recovery_seconds)
    assert_nothing_broken(findings)
    return findings


def test_broker_restart_under_load(system, shop, audit, private_broker):
    outage = scaled(3, 10)
    untouched = system.pids()
    with placing(system, shop) as load:
        wait_for_orders(load, 20)
        stopped = time.monotonic()
        private_broker.stop_app()
        # Let the outage be felt: clients are answered (503) while the broker is away.
        load.wait_for(lambda answers: sum(a.at > stopped and a.status == 503 for a in answers) >= 3
                      and time.monotonic() - stopped >= outage, outage + 30, "503s during the outage")
        private_broker.start_app()
        started = time.monotonic()
        recovery = recovered_after(load, started)
        wait_for_orders(load, len(load.placed()) + 5, timeout=60)
    during = [a for a in load.all_answers() if stopped <= a.at - a.seconds < started]
    assert during and all(a.status in (503, 201, 409) for a in during), {a.status for a in during}
    slowest = max(a.seconds for a in during)
    assert slowest < ANSWER_WITHIN_SECONDS, f"an answer during the outage took {slowest:.1f} s"

    finish(load, audit, shop, system, "broker restart under load",
           f"rabbitmqctl stop_app for {outage} s, then start_app; every service reconnects by itself",
           recovery, untouched)


def killed_and_started_again(system, name):
    """kill -9 of ``name``, then wait for supervisor to start it; when it was killed and the others' pids."""
    untouched = system.pids()
    pid = untouched.pop(name)
    killed = time.monotonic()
    os.killpg(pid, signal.SIGKILL)
    started_again(system, name, pid)
    return killed, untouched


# Nothing starts a killed process here but supervisor, and recovery is timed from the kill: it
# includes supervisor noticing the death and the new process starting, not only the reconnection.
@pytest.mark.parametrize("service", ["orders", "product"])
def test_a_service_killed_mid_order_and_restarted(system, shop, audit, service):
    with placing(system, shop) as load:
        wait_for_orders(load, 20)
        killed, untouched = killed_and_started_again(system, service)
        recovery = recovered_after(load, killed)
        wait_for_orders(load, len(load.placed()) + 5, timeout=60)

    finish(load, audit, shop, system, f"{service} killed mid-order",
           f"kill -9 of {service} under load; supervisor starts it again", recovery, untouched)


def test_database_stall_longer_than_the_deadline(system, shop, audit):
    stall = scaled(RPC_DEADLINE_SECONDS + 2, RPC_DEADLINE_SECONDS + 7)
    untouched = system.pids()
    database = untouched["secantusdb"]
    with placing(system, shop) as load:
        wait_for_orders(load, 20)
        stopped = time.monotonic()
        os.kill(database, signal.SIGSTOP)
        try:
            load.wait_for(lambda answers: time.monotonic() - stopped >= stall, stall + 5, "the stall")
        finally:
            os.kill(database, signal.SIGCONT)
        resumed = time.monotonic()
        recovery = recovered_after(load, resumed)
        wait_for_orders(load, len(load.placed()) + 5, timeout=60)

    # Answered while the database was stopped (a second in: what finished as it stopped may be a 201).
    during = [a for a in load.all_answers() if stopped + 1 <= a.at < resumed]
    assert during and all(a.status in (503, 504) for a in during), {a.status for a in during}
    slowest = max(a.seconds for a in load.all_answers() if a.at < resumed + 1 and a.at > stopped)
    assert slowest < ANSWER_WITHIN_SECONDS, f"an answer during the stall took {slowest:.1f} s"
    # Nothing a client was told failed takes effect once the database resumes.
    audit.wait_until_settled(SETTLE_SECONDS)
    told_unavailable = {key for key, answers in load.answers.items()
                        if answers[-1].status == 503 and all(a.status == 503 for a in answers)}
    took_effect = [o for o in audit.orders if o["status"] == "confirmed"
                   and o.get("idempotency", {}).get("key") in told_unavailable]
    assert not took_effect, f"{len(took_effect)} orders confirmed although their clients were told 503"

    finish(load, audit, shop, system, "database stall",
           f"kill -STOP of the database for {stall} s (longer than the {RPC_DEADLINE_SECONDS} s deadline), "
           f"then kill -CONT", recovery, untouched)


def test_database_killed_and_restarted_on_its_storage(system, shop, audit):
    with placing(system, shop) as load:
        wait_for_orders(load, 20)
        killed, untouched = killed_and_started_again(system, "secantusdb")
        recovery = recovered_after(load, killed)
        wait_for_orders(load, len(load.placed()) + 5, timeout=60)

    # Every order answered 201 before the kill is still there, confirmed (the audit's "lost").
    finish(load, audit, shop, system, "database killed",
           "kill -9 of the database under load; supervisor starts it again on the same storage", recovery,
           untouched)
