"""Before tests that need RabbitMQ's management API: make sure it answers, or say in one line how to make it.

nameko's pytest fixtures (``rabbit_config``: a throw-away vhost per test)
create and delete vhosts through the management API, at ``--rabbit-ctl-uri``;
without it every test using them errors with ECONNREFUSED. When the broker
runs on this machine and only the plugin is off, it is switched on here
(``rabbitmq-plugins enable rabbitmq_management``); otherwise the run stops
before any test, with the one line that says what to do.
"""
import shutil
import socket
import subprocess
import time
from urllib.parse import urlparse

import requests
from requests.utils import get_auth_from_url, urldefragauth

PLUGIN = "rabbitmq_management"
ENABLE_COMMAND = f"rabbitmq-plugins enable {PLUGIN}"
ENABLE_TIMEOUT_SECONDS = 60
PROBE_TIMEOUT_SECONDS = 2
# Every nameko fixture that reaches the management API depends on this one.
API_FIXTURE = "rabbit_manager"

ANSWERS, UNREACHABLE = "answers", "unreachable"
RUN, ENABLE, STOP = "run", "enable", "stop"


def needs_management_api(items):
    """Whether any of the tests to run uses nameko's broker fixtures (unit tests do not)."""
    return any(API_FIXTURE in getattr(item, "fixturenames", ()) for item in items)


def api_url(api_uri):
    """The management API's address without its credentials, for messages."""
    return urldefragauth(api_uri)


def probe_api(api_uri):
    """ANSWERS; UNREACHABLE (nothing listens there: the plugin is off, or the broker down); or what came back."""
    # The request nameko's rabbit_manager fixture makes first.
    try:
        response = requests.get(f"{urldefragauth(api_uri)}/api/overview", auth=get_auth_from_url(api_uri),
                                timeout=PROBE_TIMEOUT_SECONDS)
    except requests.ConnectionError:
        return UNREACHABLE
    except requests.Timeout:
        return f"no answer within {PROBE_TIMEOUT_SECONDS} s"
    return ANSWERS if response.ok else f"HTTP {response.status_code}"


def broker_address(amqp_uri):
    parsed = urlparse(amqp_uri)
    return parsed.hostname or "localhost", parsed.port or 5672


def broker_listens(amqp_uri):
    try:
        with socket.create_connection(broker_address(amqp_uri), timeout=PROBE_TIMEOUT_SECONDS):
            return True
    except OSError:
        return False


def is_this_machine(api_uri):
    # rabbitmq-plugins changes the broker of the machine it runs on.
    return urlparse(api_uri).hostname in {"localhost", "127.0.0.1", "::1", socket.gethostname()}


def next_step(api, broker_up, local, enabler, api_uri, amqp_uri):
    """(RUN, None), (ENABLE, None), or (STOP, the one line saying what to do), from what was probed.

    ``api``: what ``probe_api`` found; ``broker_up``: whether the broker takes
    AMQP connections; ``local``: whether the API is this machine's;
    ``enabler``: the path of rabbitmq-plugins, or None.
    """
    url = api_url(api_uri)
    if api == ANSWERS:
        return RUN, None
    if api != UNREACHABLE:
        return STOP, (f"RabbitMQ's management API at {url} answered {api}: check the user and password "
                      f"(pytest --rabbit-ctl-uri)")
    if not broker_up:
        host, port = broker_address(amqp_uri)
        return STOP, (f"RabbitMQ is not running at {host}:{port} (pytest --amqp-uri): start it "
                      f"(`rabbitmq-server -detached` or `systemctl start rabbitmq-server`)")
    if not local:
        return STOP, (f"RabbitMQ's management API does not answer at {url} (pytest --rabbit-ctl-uri): "
                      f"run `{ENABLE_COMMAND}` on that host")
    if enabler is None:
        return STOP, (f"RabbitMQ's management API does not answer at {url}: run `{ENABLE_COMMAND}` "
                      f"(rabbitmq-plugins is not on this PATH)")
    return ENABLE, None


def enable(enabler, api_uri, timeout=ENABLE_TIMEOUT_SECONDS, probe=probe_api):
    """Switch the plugin on and wait until its API answers: None, or the one line saying why not."""
    deadline = time.monotonic() + timeout
    try:
        done = subprocess.run([enabler, "enable", PLUGIN], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"`{ENABLE_COMMAND}` did not finish within {timeout} s"
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        return (f"`{ENABLE_COMMAND}` failed (exit {done.returncode}{': ' + said[-1] if said else ''}): "
                f"run it as a user allowed to (root), then the tests again")
    while probe(api_uri) != ANSWERS:
        if time.monotonic() > deadline:
            return f"{PLUGIN} is enabled but its API at {api_url(api_uri)} did not answer within {timeout} s"
        time.sleep(0.5)
    return None


def ensure_management_api(amqp_uri, api_uri, say):
    """None once the API answers (the plugin switched on if that was all it took), else why it cannot."""
    api = probe_api(api_uri)
    enabler = shutil.which("rabbitmq-plugins")
    step, problem = next_step(api, broker_listens(amqp_uri), is_this_machine(api_uri), enabler, api_uri, amqp_uri)
    if step != ENABLE:
        return problem
    started = time.monotonic()
    say(f"RabbitMQ's management API does not answer at {api_url(api_uri)}: running `{ENABLE_COMMAND}`")
    problem = enable(enabler, api_uri)
    if problem is None:
        say(f"RabbitMQ's management API answers ({time.monotonic() - started:.1f} s)")
    return problem
