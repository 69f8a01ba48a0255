"""What a bench run starts, and always stops again: vhosts, the system, the bare hop.

Each system gets a RabbitMQ vhost of its own (made and deleted through the
management API), free ports and a fresh run directory, so a bench run
neither disturbs nor is disturbed by `make up` or the tests. Stopping runs
on every way out (an error, Ctrl-C, SIGTERM), shielded from a second
interrupt that would leave processes behind.
"""
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MANAGEMENT_API = "http://127.0.0.1:15672/api"
MANAGEMENT_AUTH = ("guest", "guest")
BROKER = "pyamqp://guest:guest@127.0.0.1:5672/"
HOP_CONFIG = ROOT / "bench" / "bare_hop.yml"
STARTUP_TIMEOUT_SECONDS = 60


def _load_stack_module():
    # scripts/ is no package; load stack.py by path, as the deploy tests do.
    spec = importlib.util.spec_from_file_location("_stack_for_bench", ROOT / "scripts" / "stack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stack_module = _load_stack_module()
StackError = stack_module.StackError


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def uninterruptible(for_good=False):
    """Ignore Ctrl-C and SIGTERM while stopping; ``for_good`` once the run is ending anyway."""
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        if not for_good:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


@contextlib.contextmanager
def _stopped_on_exit(stop):
    """Run the body, then ``stop()``: undisturbed, and for good if the body failed."""
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        with uninterruptible(for_good=failed):
            stop()


@contextlib.contextmanager
def vhost(prefix):
    """A new RabbitMQ vhost for guest; yields its AMQP URI and deletes it at the end."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = f"{MANAGEMENT_API}/vhosts/{urllib.parse.quote(name, safe='')}"
    try:
        requests.put(url, auth=MANAGEMENT_AUTH, timeout=10).raise_for_status()
    except requests.RequestException as exc:
        raise StackError(f"cannot create a vhost through RabbitMQ's management API ({exc}); "
                         f"is rabbitmq_management enabled?") from None
    with _stopped_on_exit(lambda: requests.delete(url, auth=MANAGEMENT_AUTH, timeout=10)):
        requests.put(
            f"{MANAGEMENT_API}/permissions/{urllib.parse.quote(name, safe='')}/guest",
            json={"configure": ".*", "write": ".*", "read": ".*"}, auth=MANAGEMENT_AUTH, timeout=10,
        ).raise_for_status()
        yield BROKER + name


@dataclass
class System:
    """The running system: where to send requests and what to watch."""
    url: str
    mongo_url: str
    log_dir: Path
    pids: dict  # name -> pid of each process supervisor runs (supervisord itself left out)


@contextlib.contextmanager
def system(run_dir, amqp_uri):
    """Every service and a fresh SecantusDB, as `make up` starts them (scripts/stack.py)."""
    run_dir = Path(run_dir).resolve()
    mongo_port = free_port()
    env = {
        **os.environ, "RUN_DIR": str(run_dir), "GATEWAY_ADDRESS": f"127.0.0.1:{free_port()}",
        "MONGO_PORT": str(mongo_port), "AMQP_URI": amqp_uri, "LOG_FORMAT": "json",
    }
    # Always the bench's own database server: the counts need a fresh database
    # and its opcounters to ourselves.
    env.pop("MONGODB_CONNECTION_URL", None)
    stack = stack_module.Stack(env)
    stack.stop()  # whatever an interrupted earlier run left behind in this directory
    shutil.rmtree(run_dir, ignore_errors=True)
    stack.start()
    with _stopped_on_exit(stack.stop):
        yield System(
            url=stack.gateway_url, mongo_url=f"mongodb://127.0.0.1:{mongo_port}/",
            log_dir=run_dir / "logs", pids=stack.pids(),
        )


@dataclass
class BareHop:
    url: str
    pid: int


@contextlib.contextmanager
def bare_hop(run_dir, amqp_uri):
    """bench/bare_hop.py's two services in one `nameko run` process, on a free port."""
    run_dir = Path(run_dir).resolve()
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "AMQP_URI": amqp_uri, "WEB_SERVER_ADDRESS": address}
    with open(run_dir / "bare_hop.log", "ab") as log:
        process = subprocess.Popen(
            [str(BIN / "nameko"), "run", "--config", str(HOP_CONFIG), "bench.bare_hop"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches only the harness, which stops it
        )
    with _stopped_on_exit(lambda: _terminate(process)):
        url = f"http://{address}"
        _wait_until_answering(url + "/hop", process, run_dir / "bare_hop.log")
        yield BareHop(url=url, pid=process.pid)


def _wait_until_answering(url, process, log):
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"the bare hop exited during startup; see {log}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise StackError(f"the bare hop did not answer {url} within {STARTUP_TIMEOUT_SECONDS} s; see {log}")


def _terminate(process, timeout=15):
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            continue
