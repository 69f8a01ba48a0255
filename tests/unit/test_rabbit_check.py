"""What the test run does about RabbitMQ's management API before any test, without touching the broker."""
import sys
from types import SimpleNamespace

import pytest

import rabbit_check
from rabbit_check import ANSWERS, ENABLE, RUN, STOP, UNREACHABLE, enable, needs_management_api, next_step
from support import free_port

API = "http://guest:secret@localhost:15672"
AMQP = "pyamqp://guest:secret@localhost:5672/"
ENABLER = "/usr/sbin/rabbitmq-plugins"


def step(api=UNREACHABLE, broker_up=True, local=True, enabler=ENABLER, api_uri=API):
    return next_step(api, broker_up, local, enabler, api_uri, AMQP)


def test_an_api_that_answers_is_used_as_it_is():
    assert step(api=ANSWERS) == (RUN, None)
    assert step(api=ANSWERS, broker_up=False, local=False, enabler=None) == (RUN, None)


def test_the_plugin_is_switched_on_when_only_it_is_missing_here():
    assert step() == (ENABLE, None)


@pytest.mark.parametrize("probed, says", [
    ({"api": "HTTP 401"}, "answered HTTP 401: check the user and password (pytest --rabbit-ctl-uri)"),
    ({"broker_up": False}, "RabbitMQ is not running at localhost:5672 (pytest --amqp-uri): start it"),
    ({"local": False}, "run `rabbitmq-plugins enable rabbitmq_management` on that host"),
    ({"enabler": None}, "run `rabbitmq-plugins enable rabbitmq_management` (rabbitmq-plugins is not on this PATH)"),
])
def test_otherwise_the_run_stops_with_one_line_saying_what_to_do(probed, says):
    action, message = step(**probed)

    assert action == STOP
    assert says in message
    assert "\n" not in message
    assert "secret" not in message


def test_only_tests_using_nameko_broker_fixtures_need_the_api():
    unit = SimpleNamespace(fixturenames=["monkeypatch"])
    integration = SimpleNamespace(fixturenames=["start_services", "rabbit_config", "rabbit_manager"])
    doctest = SimpleNamespace()

    assert not needs_management_api([unit, doctest])
    assert needs_management_api([unit, integration])


def test_nothing_listening_there_is_unreachable():
    assert rabbit_check.probe_api(f"http://guest:guest@127.0.0.1:{free_port()}") == UNREACHABLE


def probes_answering_after(calls):
    seen = []

    def probe(api_uri):
        seen.append(api_uri)
        return ANSWERS if len(seen) >= calls else UNREACHABLE

    return probe


def script(tmp_path, body):
    path = tmp_path / "rabbitmq-plugins"
    path.write_text(f"#!{sys.executable}\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_enabling_waits_for_the_api_to_answer(tmp_path):
    enabler = script(tmp_path, "import sys; assert sys.argv[1:] == ['enable', 'rabbitmq_management']")

    assert enable(enabler, API, timeout=10, probe=probes_answering_after(3)) is None


def test_an_api_that_never_answers_is_given_up_at_the_deadline(tmp_path):
    message = enable(script(tmp_path, "pass"), API, timeout=0.5, probe=probes_answering_after(10 ** 6))

    assert message == ("rabbitmq_management is enabled but its API at http://localhost:15672 "
                       "did not answer within 0.5 s")


def test_a_failed_enable_says_why(tmp_path):
    enabler = script(tmp_path, "import sys; sys.exit('Error: unable to perform an operation on node')")

    message = enable(enabler, API, timeout=10, probe=probes_answering_after(1))

    assert message.startswith("`rabbitmq-plugins enable rabbitmq_management` failed "
                              "(exit 1: Error: unable to perform an operation on node)")
