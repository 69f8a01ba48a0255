"""What a measured window cost: CPU per process, database operations, calls between services.

Each probe takes a reading before and after the timed wrk run; the figures are
the differences, so nothing the harness does outside the window is counted.
"""
import collections
import importlib
import inspect
import json
import os
import time
from pathlib import Path

from pymongo import MongoClient

CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
OPCOUNTER_KINDS = ("insert", "query", "update", "delete", "getmore", "command")


# processes


def _stat(pid):
    """The fields of /proc/<pid>/stat after the command name (state is [0], ppid [1])."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _children():
    children = collections.defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            children[int(_stat(stat.parent.name)[1])].append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
    return children


def tree(pid, children=None):
    """``pid`` and every process below it."""
    children = _children() if children is None else children
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children.get(current, ()))
    return found


def cpu_seconds(pids):
    """CPU time (user + system) of each named process and everything below it.

    The children's fields (cutime, cstime) bring in helpers that exited and
    were reaped during the window; live ones are counted by their own line.
    """
    def ticks(pid):
        return sum(int(value) for value in _stat(pid)[11:15])  # utime stime cutime cstime

    return {name: total / CLOCK_TICKS_PER_SECOND for name, total in _summed_over_trees(pids, ticks).items()}


def wait_until_idle(pids, timeout=10.0, interval=0.2, busy_share=0.05):
    """Wait (at most ``timeout`` s) until the processes together use under ``busy_share`` of a core.

    A run's last requests and the events they set off are still being worked
    on when wrk stops; the next run must not be charged for them.
    """
    deadline = time.monotonic() + timeout
    before = sum(cpu_seconds(pids).values())
    while time.monotonic() < deadline:
        time.sleep(interval)
        now = sum(cpu_seconds(pids).values())
        # <=: CPU time comes in clock ticks (10 ms); one tick is idle noise.
        if now - before <= busy_share * interval + 1e-9:
            return
        before = now


def machine_busy_seconds():
    """CPU time the whole machine spent busy (every core, every process), from /proc/stat."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_SECOND


def resident_mb(pids):
    """Resident memory (VmRSS) of each named process and everything below it, in MiB."""
    def kilobytes(pid):
        status = Path(f"/proc/{pid}/status").read_text()
        return sum(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))

    return {name: total / 1024 for name, total in _summed_over_trees(pids, kilobytes).items()}


def _summed_over_trees(pids, read):
    """``read(pid)`` summed over each named process's tree; processes gone meanwhile count nothing."""
    children = _children()
    totals = {}
    for name, pid in pids.items():
        totals[name] = 0
        for member in tree(pid, children):
            try:
                totals[name] += read(member)
            except OSError:
                continue
    return totals


def rabbitmq_server():
    """The pid of the RabbitMQ server (the Erlang VM running it), or None.

    It serves every vhost on this machine: its figures include whatever else
    uses the broker during the window.
    """
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "beam.smp" and b"rabbit" in (comm.parent / "cmdline").read_bytes():
                return int(comm.parent.name)
        except OSError:
            continue
    return None


# database


class OpCounters:
    """SecantusDB's serverStatus opcounters, less what reading them costs.

    One connection, no background monitoring during the run (a heartbeat every
    ten minutes): the only commands of ours the server sees are the readings,
    whose own cost is measured once and taken off every window.
    """

    def __init__(self, url):
        self.client = MongoClient(
            url, directConnection=True, maxPoolSize=1, heartbeatFrequencyMS=600_000,
            serverMonitoringMode="poll",
        )
        readings = [self.read() for _ in range(4)]
        steps = [_difference(later, earlier) for earlier, later in zip(readings, readings[1:])]
        self.own_cost = {kind: min(step[kind] for step in steps) for kind in OPCOUNTER_KINDS}

    def read(self):
        counters = self.client.admin.command("serverStatus")["opcounters"]
        return {kind: int(counters.get(kind, 0)) for kind in OPCOUNTER_KINDS}

    def window(self, start, end):
        """Operations by kind between two readings, the readings' own excluded."""
        return {kind: count - self.own_cost[kind] for kind, count in _difference(end, start).items()}

    def close(self):
        self.client.close()


def _difference(end, start):
    return {kind: end[kind] - start[kind] for kind in OPCOUNTER_KINDS}


# calls between services


def entrypoint_kinds(services):
    """``{(service, method): "rpc" | "event" | "timer" | "http"}`` for every entrypoint.

    Read from the service classes themselves (nameko's entrypoint decorators),
    so a timer such as the orders sweeper is not taken for an RPC method.
    """
    from nameko.events import EventHandler
    from nameko.rpc import Rpc
    from nameko.timer import Timer

    def kind(entrypoint):
        for cls, name in ((Rpc, "rpc"), (EventHandler, "event"), (Timer, "timer")):
            if isinstance(entrypoint, cls):
                return name
        return "http"

    kinds = {}
    for service_name, module_name in services:
        module = importlib.import_module(module_name)
        for cls in vars(module).values():
            if not (inspect.isclass(cls) and getattr(cls, "name", None) == service_name):
                continue
            for method_name, member in inspect.getmembers(cls):
                for entrypoint in getattr(member, "nameko_entrypoints", ()):
                    kinds[(service_name, method_name)] = kind(entrypoint)
    return kinds


class CallLog:
    """Entrypoint calls that finished in a window, from the services' JSON logs.

    Every call ends with one log line carrying its ``entrypoint`` and
    ``outcome`` (common/observability.py); the log handler flushes each line,
    so the logs are exact and up to date when read.
    """

    def __init__(self, log_dir, kinds):
        self.log_dir = Path(log_dir)
        self.kinds = kinds
        self.services = sorted({service for service, _ in kinds})

    def mark(self):
        return {service: self._path(service).stat().st_size for service in self.services}

    def window(self, start, end):
        """Counter of "service.entrypoint" → calls finished between two marks."""
        calls = collections.Counter()
        for service in self.services:
            for line in self._complete_lines(self._path(service), start[service], end[service]):
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line that is not ours (a crash trace, say)
                if "entrypoint" in entry and "outcome" in entry:
                    calls[f"{entry['service']}.{entry['entrypoint']}"] += 1
        return calls

    def kind(self, call):
        service, _, method = call.partition(".")
        return self.kinds.get((service, method), "unknown")

    def _path(self, service):
        return self.log_dir / f"{service}.log"

    @staticmethod
    def _complete_lines(path, start, end):
        # Only lines that end inside the window: reading from one byte before
        # it shows whether the first piece is the tail of an earlier line.
        begin = max(start - 1, 0)
        with open(path, "rb") as log:
            log.seek(begin)
            pieces = log.read(end - begin).split(b"\n")[:-1]
        return pieces[1:] if start > 0 else pieces
