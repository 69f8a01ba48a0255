"""Start and stop the whole system on this machine: `make run`, `make up`, `make down`.

    python scripts/stack.py run    # foreground; Ctrl-C stops everything
    python scripts/stack.py up     # background; returns once GET /health is 200
    python scripts/stack.py down   # stops what `up` started, leaves no process

Every service runs as its own `nameko run` process. Unless MONGODB_CONNECTION_URL
is set, a SecantusDB server (a MongoDB wire-protocol server for development)
is started too, with its data under the run directory. RabbitMQ is expected
at AMQP_URI (default: the local broker).

Environment: GATEWAY_ADDRESS (127.0.0.1:8000), MONGO_PORT (27017),
MONGODB_CONNECTION_URL, AMQP_URI, RUN_DIR (.run), STARTUP_TIMEOUT (60 s).
"""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONFIG = ROOT / "config" / "config.yml"

# (name, module) of every service `nameko run` starts; the compose file and
# its tests read this list, so the two ways of running cannot drift apart.
SERVICES = [
    ("product", "product.service"),
    ("customers", "customers.service"),
    ("orders", "orders.service"),
    ("inventory", "inventory.service"),
    ("shipping", "shipping.service"),
    ("gateway", "gateway.service"),
]

DEFAULT_AMQP_URI = "pyamqp://guest:guest@127.0.0.1:5672/"


class StackError(Exception):
    pass


class Stack:
    def __init__(self, env=os.environ):
        self.run_dir = (ROOT / env.get("RUN_DIR", ".run")).resolve()
        self.pid_dir = self.run_dir / "pids"
        self.log_dir = self.run_dir / "logs"
        self.gateway_address = env.get("GATEWAY_ADDRESS", "127.0.0.1:8000")
        self.mongo_port = int(env.get("MONGO_PORT", "27017"))
        self.amqp_uri = env.get("AMQP_URI", DEFAULT_AMQP_URI)
        self.mongo_url = env.get("MONGODB_CONNECTION_URL")
        self.startup_timeout = float(env.get("STARTUP_TIMEOUT", "60"))
        self.base_env = dict(env)

    @property
    def gateway_url(self):
        return f"http://{self.gateway_address}"

    # starting

    def start(self):
        if self.running():
            raise StackError(f"already running (pids in {self.pid_dir}): run `make down` first")
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        _require_reachable(_amqp_host_port(self.amqp_uri), "RabbitMQ (AMQP_URI)")
        _require_free(self.gateway_address, "the gateway (GATEWAY_ADDRESS)")
        try:
            self.mongo_url = self.mongo_url or self.start_database()
            for name, _ in SERVICES:
                self.start_service(name)
            self._wait_until_healthy()
        except BaseException:
            _shield_from_interrupts()
            self.stop()
            raise

    def start_service(self, name):
        """Start one service's process (again, after it died or was killed)."""
        module = dict(SERVICES)[name]
        env = {
            **self.base_env,
            "AMQP_URI": self.amqp_uri,
            "MONGODB_CONNECTION_URL": self.mongo_url,
            "WEB_SERVER_ADDRESS": self.gateway_address,
        }
        self._spawn(name, [str(BIN / "nameko"), "run", "--config", str(CONFIG), module], env)

    def start_database(self):
        _require_free(f"127.0.0.1:{self.mongo_port}", "SecantusDB (MONGO_PORT)")
        data = self.run_dir / "mongo-data"
        data.mkdir(parents=True, exist_ok=True)
        command = [
            str(BIN / "secantusd-py"), "--standalone", "--host", "127.0.0.1",
            "--port", str(self.mongo_port), "--storage-path", str(data),
        ]
        self._spawn("secantusdb", command, self.base_env)
        _wait_for(
            lambda: _reachable(("127.0.0.1", self.mongo_port)),
            self.startup_timeout, "SecantusDB to accept connections", self._check_alive,
        )
        return f"mongodb://127.0.0.1:{self.mongo_port}/?serverSelectionTimeoutMS=2000&journal=true"

    def _spawn(self, name, command, env):
        log = open(self.log_dir / f"{name}.log", "ab")
        # A session of its own: Ctrl-C in `make run` reaches only this script,
        # which then stops the children in order.
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        (self.pid_dir / f"{name}.pid").write_text(str(process.pid))

    def _wait_until_healthy(self):
        _wait_for(self.healthy, self.startup_timeout, "GET /health to answer 200", self._check_alive)

    def healthy(self):
        try:
            with urllib.request.urlopen(f"{self.gateway_url}/health", timeout=3) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def _check_alive(self):
        for name, pid in self._pids():
            if not _alive(pid):
                log = self.log_dir / f"{name}.log"
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                raise StackError(f"{name} exited during startup; end of {log}:\n{tail}")

    # stopping

    def running(self):
        return any(_alive(pid) for _, pid in self._pids())

    def dead_processes(self):
        return [name for name, pid in self._pids() if not _alive(pid)]

    def stop(self, timeout=20):
        # Services first (all at once), the database last, so nothing loses its
        # store mid-request.
        processes = self._pids()
        services = [(name, pid) for name, pid in processes if name != "secantusdb"]
        database = [(name, pid) for name, pid in processes if name == "secantusdb"]
        for group in (services, database):
            _terminate([pid for _, pid in group], timeout)
            for name, _ in group:
                (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)

    def _pids(self):
        """The recorded processes that are still ours; stale pid files are removed.

        A pid file can outlive its process (a reboot, a kill -9), and the pid
        be reused by something else: only a process whose command line names
        this checkout's config or run directory is taken for ours.
        """
        if not self.pid_dir.exists():
            return []
        pids = []
        for path in sorted(self.pid_dir.glob("*.pid")):
            pid = int(path.read_text())
            if self._ours(pid):
                pids.append((path.stem, pid))
            else:
                path.unlink(missing_ok=True)
        return pids

    def _ours(self, pid):
        command = _command_line(pid)
        if command:
            return str(CONFIG) in command or str(self.run_dir) in command
        try:  # gone, or exited and not yet reaped: ours only if it is our child
            os.waitpid(pid, os.WNOHANG)
            return True
        except ChildProcessError:
            return False


def _terminate(pids, timeout):
    """SIGTERM each process group, wait for all together, SIGKILL what outlives ``timeout``."""
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)


def _signal_group(pid, signum):
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


def _alive(pid):
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished:
            return False
    except ChildProcessError:
        pass  # not our child (started by an earlier `make up`)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not _is_zombie(pid)


def _command_line(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _is_zombie(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _wait_for(condition, timeout, what, check=lambda: None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check()
        if condition():
            return
        time.sleep(0.2)
    raise StackError(f"gave up after {timeout:.0f} s waiting for {what}")


def _host_port(address):
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def _amqp_host_port(uri):
    parsed = urllib.parse.urlparse(uri)
    return parsed.hostname or "127.0.0.1", parsed.port or 5672


def _reachable(host_port):
    try:
        with socket.create_connection(host_port, timeout=1):
            return True
    except OSError:
        return False


def _require_reachable(host_port, what):
    if not _reachable(host_port):
        raise StackError(f"cannot reach {what} at {host_port[0]}:{host_port[1]}")


def _require_free(address, what):
    if _reachable(_host_port(address)):
        raise StackError(f"{address}, wanted by {what}, is already in use")


def run(stack):
    stack.start()
    _say(f"\nSales Management System is up.\n"
          f"  REST API:  {stack.gateway_url}   (try: curl {stack.gateway_url}/health)\n"
          f"  logs:      {stack.log_dir}/\n"
          f"Press Ctrl-C to stop.\n", flush=True)
    try:
        while True:
            dead = stack.dead_processes()
            if dead:
                _say(f"{', '.join(dead)} stopped unexpectedly; see {stack.log_dir}/", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        _shield_from_interrupts()
        _say("stopping...", flush=True)
        stack.stop()
    return 0


def _say(*args, **kwargs):
    # `make run | tee log` loses its reader on Ctrl-C; a failed print must not
    # cut the shutdown short and leave services running.
    try:
        print(*args, **kwargs)
    except OSError:
        pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _shield_from_interrupts():
    # Once stopping, a second Ctrl-C or SIGTERM must not cut it short and
    # leave services running.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def main(argv):
    command = argv[1] if len(argv) > 1 else ""
    stack = Stack()
    # SIGTERM (a CI runner, `kill`) stops like Ctrl-C: whatever was started is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if command == "run":
            return run(stack)
        if command == "up":
            stack.start()
            print(f"up: {stack.gateway_url} (logs in {stack.log_dir}/; `make down` stops it)")
            return 0
        if command == "down":
            stack.stop()
            print("down")
            return 0
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
