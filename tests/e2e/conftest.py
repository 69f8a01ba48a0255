"""End-to-end fixtures: the real system, started as processes with `make up`.

The ``stack`` fixture gives the session a throw-away RabbitMQ vhost, starts
every service (and SecantusDB, unless MONGODB_CONNECTION_URL is set) with
`make up` on free ports under a temporary RUN_DIR, and yields the gateway's
base URL. At the end `make down` must stop every process it started.
``start_stack`` starts another system the same way, with settings of its own.
``own_stack`` does the same for one test module alone.
"""
import contextlib
import os
import signal
import subprocess
import types
import uuid
from pathlib import Path

import pytest
import requests

from support import ROOT, free_port, gone, group_members, supervised_pids, wait_until



MAKE_TIMEOUT_SECONDS = 120
REQUEST_TIMEOUT_SECONDS = 15


def _run_make(target, env):
    """Run `make <target>` in the project root; (returncode, output)."""
    process = subprocess.Popen(
        ["make", "--no-print-directory", target], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=MAKE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        # make and stack.py share this session; supervisord has its own
        # and is stopped by `make down` through its socket.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        output, _ = process.communicate()
        output = (output or b"") + f"\n[killed after {MAKE_TIMEOUT_SECONDS} s]".encode()
        return None, output.decode(errors="replace")
    return process.returncode, output.decode(errors="replace")


def _logs(run_dir):
    log_dir = Path(run_dir) / "logs"
    parts = []
    for log in sorted(log_dir.glob("*.log")) if log_dir.exists() else []:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        parts.append(f"--- {log.name} (last 40 lines) ---\n{tail}")
    return "\n".join(parts) or "(no logs)"


_started = {}


@pytest.fixture(scope="session")
def stack_info(stack):
    """How the running system was started: ``base_url``, ``amqp_uri`` (its vhost), ``run_dir``, ``mongo_url``."""
    return types.SimpleNamespace(**_started)


@contextlib.contextmanager
def running_system(rabbit_manager, run_dir, vhost_prefix, own_database=False, **settings):
    """The system started with `make up` on a vhost of its own, ``settings`` in its environment,
    and stopped with `make down` (which must stop every process it started).

    ``own_database``: a SecantusDB of its own even when MONGODB_CONNECTION_URL names a server.
    Yields how it was started: ``base_url``, ``amqp_uri``, ``run_dir``, ``mongo_url``.
    """
    vhost = f"{vhost_prefix}_{uuid.uuid4().hex[:12]}"
    rabbit_manager.create_vhost(vhost)
    rabbit_manager.set_vhost_permissions(vhost, "guest", ".*", ".*", ".*")
    gateway_address = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "RUN_DIR": str(run_dir),
        "GATEWAY_ADDRESS": gateway_address,
        "MONGO_PORT": str(free_port()),
        "AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}",
        **settings,
    }
    if own_database:
        env.pop("MONGODB_CONNECTION_URL", None)
    try:
        code, output = _run_make("up", env)
        pids = supervised_pids(run_dir)
        try:
            assert code == 0, (
                f"`make up` failed (exit {code}):\n{output}\n{_logs(run_dir)}"
            )
            yield types.SimpleNamespace(
                base_url=f"http://{gateway_address}", amqp_uri=env["AMQP_URI"], run_dir=run_dir,
                mongo_url=env.get("MONGODB_CONNECTION_URL") or f"mongodb://127.0.0.1:{env['MONGO_PORT']}",
            )
        finally:
            # Read before `make down`: supervisor may have started a process again meanwhile.
            pids = {**pids, **supervised_pids(run_dir)}
            code, output = _run_make("down", env)
            assert code == 0, f"`make down` failed (exit {code}):\n{output}\n{_logs(run_dir)}"
            assert pids, "`make up` left no supervisord answering"
            # A stopped process may linger a moment until its parent reaps it.
            wait_until(
                lambda: all(gone(pid) for pid in pids.values()), timeout=10, interval=0.1,
                message=f"the stack's processes to be gone after `make down`: "
                        f"{ {name: pid for name, pid in pids.items() if not gone(pid)} }",
            )
            leftovers = group_members(set(pids.values()))
            assert not leftovers, f"`make down` left processes behind: {leftovers}"
    finally:
        rabbit_manager.delete_vhost(vhost)


@pytest.fixture(scope="session")
def stack(rabbit_manager, tmp_path_factory):
    """The running system; yields the gateway's base URL ("http://127.0.0.1:<port>")."""
    # No API keys, whatever the shell running the tests has set (tests/e2e/test_api_keys.py has them).
    with running_system(rabbit_manager, tmp_path_factory.mktemp("stack"), "e2e",
                        GATEWAY_API_KEYS="", GATEWAY_AUTH_READS="false") as started:
        _started.update(vars(started))
        yield started.base_url


@pytest.fixture(scope="module")
def own_stack(rabbit_manager, tmp_path_factory):
    """A running system for one test module alone, whose data no other test sees: its base URL.

    For tests that write at random (the fuzzer), which could change or delete
    what other tests created.
    """
    with running_system(rabbit_manager, tmp_path_factory.mktemp("own-stack"), "own", own_database=True,
                        GATEWAY_API_KEYS="", GATEWAY_AUTH_READS="false") as started:
        yield started.base_url


@pytest.fixture(scope="session")
def http(stack):
    """A requests session whose paths are relative to the gateway: ``http.get("/health")``."""
    with _client(stack) as client:
        yield client


@pytest.fixture(scope="session")
def start_stack(rabbit_manager, tmp_path_factory):
    """``with start_stack(SETTING="value", ...) as started:`` a system of its own with these
    settings, for a module whose settings the shared ``stack`` must not have. ``started`` is
    as ``stack_info``, and ``started.http`` a client of it as ``http`` is."""

    @contextlib.contextmanager
    def start(**settings):
        with running_system(rabbit_manager, tmp_path_factory.mktemp("stack"), "e2e", **settings) as started, \
                _client(started.base_url) as client:
            started.http = client
            yield started

    return start


def _client(base_url):
    class Client(requests.Session):
        def request(self, method, url, *args, **kwargs):
            kwargs.setdefault("timeout", REQUEST_TIMEOUT_SECONDS)
            return super().request(method, base_url + url, *args, **kwargs)

    return Client()
