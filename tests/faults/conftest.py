"""Fault tests: the real processes, on a RabbitMQ node and a database of their own.

The faults are real: the broker's application is stopped and started, a
service is killed with SIGKILL, the database is stopped with SIGSTOP or
killed. So that no other test shares what is broken, the tests here start a
RabbitMQ node of their own (its own ports and data directory, no plugins;
each test gets a fresh vhost on it) and each test a system of its own
(scripts/stack.py, with its own SecantusDB).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
import requests

from support import ROOT, free_port, wait_until

sys.path.insert(0, str(ROOT / "scripts"))
import stack as stack_script  # noqa: E402

BROKER_START_SECONDS = 60


class PrivateBroker:
    """A RabbitMQ node started for these tests only; ``stop_app`` / ``start_app`` are the faults."""

    def __init__(self):
        self.node = f"faults-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        # RabbitMQ runs as its own user: its directory must be its own, outside pytest's private tmp.
        self.home = Path(tempfile.mkdtemp(prefix="faults-rabbit-"))
        (self.home / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        (self.home / "enabled_plugins").write_text("[].\n")
        shutil.chown(self.home, "rabbitmq", "rabbitmq")
        os.chmod(self.home, 0o755)
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONFIG_FILE": str(self.home / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.home / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.home / "log"),
            "RABBITMQ_PID_FILE": str(self.home / "rabbit.pid"),
            "RABBITMQ_DIST_PORT": str(free_port()),
        }

    def start(self):
        subprocess.run(["rabbitmq-server", "-detached"], env=self.env, check=True, capture_output=True)
        self.wait_until_up()

    def wait_until_up(self):
        wait_until(lambda: stack_script._reachable(("127.0.0.1", self.port)), timeout=BROKER_START_SECONDS,
                   interval=0.1, message=f"RabbitMQ node {self.node} to listen on {self.port}")

    def ctl(self, *args):
        subprocess.run(["rabbitmqctl", "-q", "-n", self.node, *args], env=self.env, check=True,
                       capture_output=True, timeout=60)

    def stop_app(self):
        self.ctl("stop_app")

    def start_app(self):
        self.ctl("start_app")
        self.wait_until_up()

    def new_vhost(self):
        vhost = f"faults_{uuid.uuid4().hex[:8]}"
        self.ctl("add_vhost", vhost)
        self.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        return f"pyamqp://guest:guest@127.0.0.1:{self.port}/{vhost}"

    def stop(self):
        try:
            self.ctl("stop")
        finally:
            shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="session")
def private_broker():
    if shutil.which("rabbitmq-server") is None:
        pytest.fail("the fault tests need rabbitmq-server on this machine, to start a node of their own")
    broker = PrivateBroker()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def system(private_broker, tmp_path):
    """The whole system, started for one test on the private broker: a scripts/stack.py ``Stack``.

    Short pending timeout and sweep retry, so that recovery happens within a test.
    """
    env = {
        **os.environ,
        "RUN_DIR": str(tmp_path / "run"),
        "GATEWAY_ADDRESS": f"127.0.0.1:{free_port()}",
        "MONGO_PORT": str(free_port()),
        "AMQP_URI": private_broker.new_vhost(),
        "PENDING_ORDER_TIMEOUT": "6",
        "SWEEP_RETRY_AFTER": "1",
    }
    env.pop("MONGODB_CONNECTION_URL", None)  # its own database, which a test may stop or kill
    system = stack_script.Stack(env)
    system.start()
    try:
        yield system
    finally:
        system.stop()
        logs = Path(env["RUN_DIR"]) / "logs"
        if os.environ.get("FAULT_LOGS"):  # keep them to read after a failure
            shutil.copytree(logs, Path(os.environ["FAULT_LOGS"]) / tmp_path.name, dirs_exist_ok=True)


@pytest.fixture
def api(system):
    """A requests session on the system's gateway: ``api.get("/health")``."""

    class Client(requests.Session):
        def request(self, method, url, *args, **kwargs):
            kwargs.setdefault("timeout", 30)
            return super().request(method, system.gateway_url + url, *args, **kwargs)

    with Client() as client:
        yield client

