"""Start and stop the whole system on this machine: `make run`, `make up`, `make down`, `make status`.

    python scripts/stack.py run     # foreground; Ctrl-C stops everything
    python scripts/stack.py up      # background; returns once GET /health is 200 and all run
    python scripts/stack.py down    # stops what `up` started, leaves no process
    python scripts/stack.py status  # every process and its state (supervisorctl status)

supervisor runs every service as its own `nameko run` process and starts
again any that dies. Unless MONGODB_CONNECTION_URL is set, it runs a
SecantusDB server (a MongoDB wire-protocol server for development) too, with
its data under the run directory. RabbitMQ is expected at AMQP_URI (default:
the local broker). This script writes supervisord's configuration into the
run directory (supervisord.conf; control socket supervisor.sock; logs in logs/).

Environment: GATEWAY_ADDRESS (127.0.0.1:8000), MONGO_PORT (27017),
MONGODB_CONNECTION_URL, AMQP_URI, RUN_DIR (.run), STARTUP_TIMEOUT (60 s).
"""
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xmlrpc.client
from pathlib import Path

from supervisor.xmlrpc import Faults, SupervisorTransport

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
DATABASE = "secantusdb"
# One supervisor group, so that supervisord stops the services all at once
# (it stops groups one after another), and before the database.
GROUP = "services"

DEFAULT_AMQP_URI = "pyamqp://guest:guest@127.0.0.1:5672/"

# A process that exits within STARTSECS of being started failed to start:
# supervisor tries STARTRETRIES more times (waiting 1, 2, ... s) before it
# gives up (FATAL). One that ran longer is started again at once, every time.
STARTSECS = 2
STARTRETRIES = 5
# nameko finishes its running workers on SIGTERM (each bounded by the RPC
# deadline) and SecantusDB needs 2-4 s to shut down; past this, SIGKILL.
STOPWAITSECS = 20
# The longest a path can be in a unix socket address (sun_path, less its NUL).
MAX_SOCKET_PATH = 107
# A process that exited before STARTSECS: waiting to be tried again, or given up on.
FAILED_STATES = {"BACKOFF", "FATAL"}


class StackError(Exception):
    pass


class Stack:
    def __init__(self, env=os.environ):
        self.run_dir = (ROOT / env.get("RUN_DIR", ".run")).resolve()
        self.log_dir = self.run_dir / "logs"
        self.config_path = self.run_dir / "supervisord.conf"
        self.socket_path = self.run_dir / "supervisor.sock"
        self.gateway_address = env.get("GATEWAY_ADDRESS", "127.0.0.1:8000")
        self.mongo_port = int(env.get("MONGO_PORT", "27017"))
        self.amqp_uri = env.get("AMQP_URI", DEFAULT_AMQP_URI)
        self.own_database = not env.get("MONGODB_CONNECTION_URL")
        self.mongo_url = env.get("MONGODB_CONNECTION_URL") or (
            f"mongodb://127.0.0.1:{self.mongo_port}/?serverSelectionTimeoutMS=2000&journal=true&retryWrites=false"
        )
        self.startup_timeout = float(env.get("STARTUP_TIMEOUT", "60"))
        self.base_env = dict(env)

    @property
    def gateway_url(self):
        return f"http://{self.gateway_address}"

    # starting

    def start(self, foreground=False):
        """Start supervisord and wait for GET /health; ``foreground``: its process (`make run`)."""
        if self.running():
            raise StackError(f"already running (supervisord on {self.socket_path}): run `make down` first")
        _require_reachable(_amqp_host_port(self.amqp_uri), "RabbitMQ (AMQP_URI)")
        _require_free(self.gateway_address, "the gateway (GATEWAY_ADDRESS)")
        if self.own_database:
            _require_free(f"127.0.0.1:{self.mongo_port}", "SecantusDB (MONGO_PORT)")
        self.write_config()
        supervisord = self._launch(foreground)
        try:
            self._wait_until_up(supervisord)
        except BaseException:
            _shield_from_interrupts()
            self.stop()
            raise
        return supervisord

    def write_config(self):
        if len(str(self.socket_path)) > MAX_SOCKET_PATH:
            raise StackError(f"{self.socket_path} is too long for a unix socket: set a shorter RUN_DIR")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        sections = [
            ("supervisord", {
                "logfile": self.log_dir / "supervisord.log", "logfile_maxbytes": 0,
                "pidfile": self.run_dir / "supervisord.pid", "directory": ROOT,
                # In the foreground supervisord would log to stdout too, which
                # `make run | tee` loses on Ctrl-C; `make run` says what matters itself.
                "silent": "true",
            }),
            ("unix_http_server", {"file": self.socket_path, "chmod": "0700"}),
            ("rpcinterface:supervisor",
             {"supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"}),
            ("supervisorctl", {"serverurl": f"unix://{self.socket_path}"}),
        ]
        if self.own_database:
            sections.append((f"program:{DATABASE}", self._program(DATABASE, self._database_command(), {}, 100)))
        services_env = {
            "AMQP_URI": self.amqp_uri, "MONGODB_CONNECTION_URL": self.mongo_url,
            "WEB_SERVER_ADDRESS": self.gateway_address,
        }
        sections.append((f"group:{GROUP}", {"programs": ",".join(name for name, _ in SERVICES), "priority": 200}))
        for name, module in SERVICES:
            command = [BIN / "nameko", "run", "--config", CONFIG, module]
            sections.append((f"program:{name}", self._program(name, command, services_env, 200)))
        self.config_path.write_text("".join(
            f"[{title}]\n" + "".join(f"{key}={_escaped(value)}\n" for key, value in options.items()) + "\n"
            for title, options in sections
        ))

    def _program(self, name, command, environment, priority):
        options = {
            "command": shlex.join(str(part) for part in command),
            "directory": ROOT, "priority": priority,
            "autostart": "true", "autorestart": "true",
            "startsecs": STARTSECS, "startretries": STARTRETRIES,
            "stopsignal": "TERM", "stopwaitsecs": STOPWAITSECS,
            # Whatever a program starts goes with it.
            "stopasgroup": "true", "killasgroup": "true",
            "redirect_stderr": "true",
            "stdout_logfile": self.log_dir / f"{name}.log", "stdout_logfile_maxbytes": 0,
        }
        if environment:
            options["environment"] = ",".join(f"{key}={_quoted(value)}" for key, value in environment.items())
        return options

    def _database_command(self):
        data = self.run_dir / "mongo-data"
        data.mkdir(parents=True, exist_ok=True)
        return [BIN / "secantusd-py", "--standalone", "--host", "127.0.0.1",
                "--port", self.mongo_port, "--storage-path", data]

    def _launch(self, foreground):
        command = [str(BIN / "supervisord"), "--configuration", str(self.config_path)]
        if foreground:
            # A session of its own: Ctrl-C in `make run` reaches only this
            # script, which then has supervisord stop everything in order.
            return subprocess.Popen([*command, "--nodaemon"], cwd=ROOT, env=self.base_env,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        # supervisord checks its configuration and opens its socket before it
        # forks into the background: what stops it is in this answer.
        result = subprocess.run(command, cwd=ROOT, env=self.base_env, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"supervisord did not start: {(result.stderr or result.stdout).strip()}")
        return None

    def start_service(self, name):
        """Start one service's process again (after `supervisorctl stop`); returns at once."""
        self._start_program(f"{GROUP}:{name}")

    def start_database(self):
        """Start the database again (after `supervisorctl stop`); its URL once it accepts connections."""
        self._start_program(DATABASE)
        _wait_for(lambda: _reachable(("127.0.0.1", self.mongo_port)), self.startup_timeout,
                  "SecantusDB to accept connections", lambda: self._check_started(None))
        return self.mongo_url

    def _start_program(self, name):
        try:
            self._supervisor().startProcess(name, False)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode != Faults.ALREADY_STARTED:
                raise StackError(f"supervisor cannot start {name}: {fault.faultString}") from None

    def _wait_until_up(self, supervisord):
        # /health can answer 200 before supervisor counts a process as started (it has to stay
        # up for startsecs): `up` returns when both hold, so `make status` right after is clean.
        _wait_for(lambda: self.healthy() and self._all_running(), self.startup_timeout,
                  "GET /health to answer 200 and supervisor to list every process RUNNING",
                  lambda: self._check_started(supervisord))

    def _all_running(self):
        states = [info["statename"] for info in self.processes().values()]
        return bool(states) and all(state == "RUNNING" for state in states)

    def healthy(self):
        try:
            with urllib.request.urlopen(f"{self.gateway_url}/health", timeout=3) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def _check_started(self, supervisord):
        if supervisord is not None and supervisord.poll() is not None:
            raise StackError(f"supervisord exited (status {supervisord.returncode}); "
                             f"see {self.log_dir / 'supervisord.log'}")
        for info in self.processes().values():
            if info["statename"] in FAILED_STATES:
                log = Path(info["stdout_logfile"])
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.exists() else ""
                raise StackError(f"{info['name']} exited during startup ({info['statename']}); "
                                 f"end of {log}:\n{tail}")

    # watching

    def _supervisor(self):
        transport = SupervisorTransport(serverurl=f"unix://{self.socket_path}")
        return xmlrpc.client.ServerProxy("http://localhost", transport=transport).supervisor

    def running(self):
        """Whether supervisord answers on this run directory's socket."""
        return self.supervisord_pid() is not None

    def supervisord_pid(self):
        if not self.socket_path.exists():
            return None
        try:
            return self._supervisor().getPID()
        except OSError:  # a socket left by a supervisord that was killed
            return None

    def processes(self):
        """name -> supervisor's process info (``statename``, ``pid``, ...); {} when nothing runs."""
        try:
            return {info["name"]: info for info in self._supervisor().getAllProcessInfo()}
        except OSError:
            return {}

    def pids(self):
        """name -> pid of every process supervisor has running."""
        return {name: info["pid"] for name, info in self.processes().items() if info["pid"]}

    # stopping

    def stop(self, timeout=STOPWAITSECS * 3):
        """Stop everything and supervisord; returns once no process of it is left."""
        supervisord = self.supervisord_pid()
        if supervisord is None:
            return
        pids = [*self.pids().values(), supervisord]
        try:
            # Stops the services first (all at once), the database last, so
            # nothing loses its store mid-request; then supervisord exits.
            self._supervisor().shutdown()
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(map(_alive, pids)):
            time.sleep(0.1)
        for pid in filter(_alive, pids):
            _kill_group(pid)


def _alive(pid):
    try:
        os.waitpid(pid, os.WNOHANG)  # reaped if it was our child (`make run`'s supervisord)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill_group(pid):
    # Every program runs in a process group of its own, supervisord in a session of its own.
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _escaped(value):
    # supervisord's configuration expands %(name)s.
    return str(value).replace("%", "%%")


def _quoted(value):
    # supervisord splits an environment line at commas outside quotes and has
    # no escape for a quote inside them.
    value = str(value)
    if '"' in value:
        raise StackError(f"cannot pass a value with a double quote to supervisord: {value}")
    return f'"{value}"'


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
    supervisord = stack.start(foreground=True)
    _say(f"\nSales Management System is up (supervisor starts again any process that dies).\n"
         f"  REST API:  {stack.gateway_url}   (try: curl {stack.gateway_url}/health)\n"
         f"  logs:      {stack.log_dir}/\n"
         f"  processes: make status\n"
         f"Press Ctrl-C to stop.\n", flush=True)
    try:
        code = supervisord.wait()
        _say(f"supervisord exited unexpectedly (status {code}); see {stack.log_dir}/", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        _shield_from_interrupts()
        _say("stopping...", flush=True)
        stack.stop()
    return 0


def status(stack):
    if not stack.running():
        print(f"not running (no supervisord on {stack.socket_path})")
        return 3  # what supervisorctl answers for a process that is not running
    return subprocess.call([str(BIN / "supervisorctl"), "--configuration", str(stack.config_path), "status"])


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
            print(f"up: {stack.gateway_url} (logs in {stack.log_dir}/; `make status` lists the processes, "
                  f"`make down` stops them)")
            return 0
        if command == "down":
            stack.stop()
            print("down")
            return 0
        if command == "status":
            return status(stack)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
